//! Blue-green through the simulator: gates, promotion, switch safety, rollback.

mod common;

use std::time::Duration;

use common::{active_template, live};
use engine_ops_rollout::{
    Action, Command, Phase, RolloutSpec, Stage, Strategy, Timestamp,
    sim::{CheckBehaviour, Simulator, World},
    spec::{BlueGreenStrategy, CheckSpec, DeadlineAction, Promotion},
};

fn bg(template: &str, n: u32, strategy: BlueGreenStrategy) -> RolloutSpec {
    RolloutSpec::builder(template, n)
        .strategy(Strategy::BlueGreen(strategy))
        .build()
        .expect("valid spec")
}

fn gated() -> BlueGreenStrategy {
    BlueGreenStrategy::new()
        .preview_replicas(2)
        .pre_promotion(CheckSpec::new("smoke"))
        .post_promotion(CheckSpec::new("error-rate"))
}

/// Runs to the end; every SetActive must target a track whose pods are all
/// available at that moment, and there must be one. Returns the last phase.
fn assert_switches_safe(sim: &mut Simulator) -> Phase {
    let n = sim.spec().replicas();
    let mut switched = 0;
    loop {
        let obs = sim.observe();
        let out = sim.step().expect("planner step");
        for a in &out.decision.actions {
            if let Action::SetActive { track } = a.action {
                let avail = obs
                    .tracks
                    .iter()
                    .find(|t| t.track == track)
                    .map_or(0, |t| t.available);
                assert!(avail >= n, "switched to {track} with {avail}/{n} available");
                switched += 1;
            }
        }
        if out.settled {
            assert!(switched > 0, "no switch happened");
            return out.decision.phase;
        }
    }
}

#[test]
fn gated_rollout_previews_checks_switches_and_drains() {
    let v1 = bg("v1", 4, gated());
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy, "{plan}");
    let acts: Vec<Action> = common::actions(&plan);
    let pos = |f: &dyn Fn(&Action) -> bool| acts.iter().position(f).expect("action present");
    let create = pos(&|a| matches!(a, Action::CreateTrack { replicas: 2, .. }));
    let smoke = pos(&|a| matches!(a, Action::StartCheck { run, .. } if run.name == "smoke"));
    let full = pos(&|a| matches!(a, Action::ScaleTrack { replicas: 4, .. }));
    let switch = pos(&|a| matches!(a, Action::SetActive { .. }));
    let post = pos(&|a| matches!(a, Action::StartCheck { run, .. } if run.name == "error-rate"));
    let drain = pos(&|a| matches!(a, Action::ScaleTrack { replicas: 0, .. }));
    assert!(
        create < smoke && smoke < full && full < switch && switch < post && post < drain,
        "{plan}"
    );
    assert_eq!(active_template(&sim).as_deref(), Some("v2"));
    assert_eq!(live(&sim), vec![("v2".to_owned(), 4, 4)]);
    let last = sim.state().switches().last().expect("present");
    assert_eq!((last.from_revision, last.to_revision), (Some(1), 2));
}

#[test]
fn failed_smoke_test_never_switches_and_tears_the_preview_down() {
    let v1 = bg("v1", 4, gated());
    let world = World::new().check_for("smoke", "v2", CheckBehaviour::Fail);
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    assert!(
        !common::actions(&plan)
            .iter()
            .any(|a| matches!(a, Action::SetActive { .. })),
        "{plan}"
    );
    assert_eq!(active_template(&sim).as_deref(), Some("v1"));
    assert_eq!(live(&sim), vec![("v1".to_owned(), 4, 4)]);
    assert!(sim.state().is_aborted());
    assert_eq!(sim.state().stage(), Stage::Aborted);
}

#[test]
fn failed_post_promotion_check_switches_back_in_one_action_and_records_it() {
    let v1 = bg("v1", 4, gated());
    let world = World::new().check_for("error-rate", "v2", CheckBehaviour::Fail);
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    let rollback = plan
        .steps
        .iter()
        .find(|s| {
            s.actions
                .iter()
                .any(|a| a.reason.starts_with("switch traffic") && a.reason.contains("rollback"))
        })
        .expect("a rollback step");
    assert_eq!(
        rollback
            .actions
            .iter()
            .filter(|a| matches!(a.action, Action::SetActive { .. }))
            .count(),
        1,
        "rollback is one switch"
    );
    let revs: Vec<(Option<u64>, u64)> = sim
        .state()
        .switches()
        .iter()
        .map(|s| (s.from_revision, s.to_revision))
        .collect();
    assert_eq!(revs, vec![(None, 1), (Some(1), 2), (Some(2), 1)]);
    assert_eq!(active_template(&sim).as_deref(), Some("v1"));
    assert_eq!(live(&sim), vec![("v1".to_owned(), 4, 4)]);
}

#[test]
fn switch_waits_until_the_new_colour_is_fully_available() {
    let v1 = bg("v1", 6, gated());
    let mut sim = Simulator::deployed(v1.clone(), World::new().ready_after(Duration::from_secs(7)))
        .expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    assert_eq!(assert_switches_safe(&mut sim), Phase::Healthy);
    assert_eq!(active_template(&sim).as_deref(), Some("v2"));
}

#[test]
fn manual_promotion_waits_for_promote() {
    let v1 = bg(
        "v1",
        3,
        BlueGreenStrategy::new().promotion(Promotion::Manual),
    );
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Paused);
    assert!(
        plan.waiting_for
            .as_deref()
            .unwrap_or_default()
            .contains("Promote"),
        "{plan}"
    );
    assert_eq!(active_template(&sim).as_deref(), Some("v1"));
    sim.command(Command::Promote);
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy);
    assert_eq!(active_template(&sim).as_deref(), Some("v2"));
}

#[test]
fn auto_promotion_timer_delays_the_switch() {
    let v1 = bg(
        "v1",
        3,
        BlueGreenStrategy::new().promotion(Promotion::After(Duration::from_secs(120))),
    );
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    let start = sim.world().now();
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    let switched_at = plan
        .steps
        .iter()
        .find(|s| {
            s.actions
                .iter()
                .any(|a| matches!(a.action, Action::SetActive { .. }))
        })
        .expect("present")
        .at;
    // ready after 5 s, then 120 s of timer.
    assert!(
        switched_at.saturating_since(start) >= Duration::from_secs(125),
        "{plan}"
    );
}

/// v1 (3 replicas, old colour kept 300 s after the switch) updated to v2 and
/// stopped once v2 is live and v1 is still up.
fn draining() -> Simulator {
    let v1 = bg(
        "v1",
        3,
        BlueGreenStrategy::new().scale_down_delay(Duration::from_secs(300)),
    );
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    while !matches!(sim.state().stage(), Stage::Draining { .. }) {
        sim.step().expect("planner step");
    }
    assert_eq!(active_template(&sim).as_deref(), Some("v2"));
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 3, 3), ("v2".to_owned(), 3, 3)]
    );
    sim
}

fn switches(out: &engine_ops_rollout::sim::StepOutcome) -> usize {
    out.decision
        .actions
        .iter()
        .filter(|a| matches!(a.action, Action::SetActive { .. }))
        .count()
}

#[test]
fn abort_while_draining_switches_back_instantly() {
    let mut sim = draining();
    sim.command(Command::Abort);
    let out = sim.step().expect("planner step");
    assert_eq!(switches(&out), 1, "{:?}", out.decision.actions);
    assert_eq!(active_template(&sim).as_deref(), Some("v1"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    assert_eq!(live(&sim), vec![("v1".to_owned(), 3, 3)]);
}

#[test]
fn undo_while_the_old_colour_is_up_is_one_switch() {
    let mut sim = draining();
    sim.command(Command::Undo { to_revision: None });
    let out = sim.step().expect("planner step");
    assert_eq!(switches(&out), 1, "{:?}", out.decision.actions);
    assert_eq!(
        active_template(&sim).as_deref(),
        Some("v1"),
        "{:?}",
        out.decision.explain
    );
}

#[test]
fn pods_never_ready_with_deadline_abort_never_touch_traffic() {
    let v1 = RolloutSpec::builder("v1", 3)
        .strategy(Strategy::BlueGreen(BlueGreenStrategy::new()))
        .progress_deadline(Some(Duration::from_secs(90)))
        .on_deadline(DeadlineAction::Abort)
        .build()
        .expect("valid spec");
    let mut sim =
        Simulator::deployed(v1.clone(), World::new().pods_never_ready("v2")).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    assert!(plan.finished_at >= Timestamp::from_secs(90));
    assert!(
        !common::actions(&plan)
            .iter()
            .any(|a| matches!(a, Action::SetActive { .. }))
    );
    assert_eq!(live(&sim), vec![("v1".to_owned(), 3, 3)]);
}

#[test]
fn retry_after_abort_runs_the_checks_again() {
    let v1 = bg(
        "v1",
        2,
        BlueGreenStrategy::new().pre_promotion(CheckSpec::new("smoke")),
    );
    let world = World::new().check_for("smoke", "v2", CheckBehaviour::Inconclusive);
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Paused, "inconclusive waits: {plan}");
    sim.command(Command::Abort);
    assert_eq!(
        sim.run().expect("simulation settles").phase,
        Phase::Degraded
    );
    sim.command(Command::Retry);
    let plan = sim.run().expect("simulation settles");
    assert!(
        common::actions(&plan)
            .iter()
            .any(|a| matches!(a, Action::StartCheck { run, .. } if run.attempt == 2)),
        "{plan}"
    );
    sim.command(Command::Promote);
    assert_eq!(sim.run().expect("simulation settles").phase, Phase::Healthy);
}

#[test]
fn a_newer_template_after_the_switch_supersedes_the_candidate_safely() {
    let v1 = bg("v1", 3, gated());
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    while sim.state().stage() != Stage::PostPromotion {
        sim.step().expect("planner step");
    }
    sim.set_spec(v1.with_template("v3").expect("valid template"));
    assert_eq!(assert_switches_safe(&mut sim), Phase::Healthy);
    assert_eq!(active_template(&sim).as_deref(), Some("v3"));
    assert_eq!(live(&sim), vec![("v3".to_owned(), 3, 3)]);
    let last = sim.state().switches().last().expect("a switch to v3");
    assert_eq!((last.from_revision, last.to_revision), (Some(2), 3));
}

#[test]
fn going_back_to_the_stable_template_mid_rollout_aborts_to_it() {
    let v1 = bg("v1", 3, gated());
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    while sim.state().stage() != Stage::PostPromotion {
        sim.step().expect("planner step");
    }
    sim.set_spec(v1.clone());
    sim.step().expect("planner step");
    assert_eq!(
        active_template(&sim).as_deref(),
        Some("v1"),
        "one decision puts traffic back"
    );
    sim.run().expect("simulation settles");
    assert_eq!(live(&sim), vec![("v1".to_owned(), 3, 3)]);
}

#[test]
fn abort_before_the_candidate_was_ever_created_creates_nothing() {
    use engine_ops_rollout::{Command as Cmd, Timestamp as T, plan};
    let v1 = bg("v1", 3, gated());
    let sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    let v2 = v1.with_template("v2").expect("valid template");
    // The tool persisted this decision, then died before creating the track.
    let first = plan(&v2, sim.state(), &sim.observe()).expect("plan");
    assert!(matches!(
        first.actions[0].action,
        Action::CreateTrack { .. }
    ));
    let mut state = first.state;
    let mut obs = sim.observe().with_command(Cmd::Abort);
    for _ in 0..3 {
        let d = plan(&v2, &state, &obs).expect("plan");
        assert!(
            !d.actions.iter().any(|a| matches!(
                a.action,
                Action::CreateTrack { .. } | Action::ScaleTrack { .. }
            )),
            "{:?}",
            d.actions
        );
        assert_eq!(d.phase, Phase::Degraded);
        state = d.state;
        obs = sim.observe();
        obs.now = T::from_secs(3600);
    }
}
