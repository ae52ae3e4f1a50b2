//! The tool is killed between any two actions: its state is serialised to JSON
//! at every decision, dropped and restored, and the rollout ends exactly where
//! an uninterrupted run ends.

mod common;

use std::time::Duration;

use common::{active_template, live};
use engine_ops_rollout::{
    Phase, RolloutSpec, RolloutState, Strategy,
    sim::{CheckBehaviour, Simulator, World},
    spec::{BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckSpec},
};

type Outcome = (Vec<(String, u32, u32)>, Option<String>, Phase, Vec<u64>);

fn run(
    v1: &RolloutSpec,
    world: World,
    crash_after: Option<u64>,
    restart_delay: Duration,
) -> (Outcome, u64, usize) {
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    let base = sim.world().actions_applied();
    if let Some(k) = crash_after {
        *sim.world_mut() = sim.world().clone().crash_after_action(base + k);
    }
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let mut crashes = 0;
    let mut phase = Phase::Progressing;
    for _ in 0..10_000 {
        let out = sim.step().expect("planner step");
        if out.executed < out.decision.actions.len() {
            crashes += 1;
            // The tool comes back a while later; the world went on meanwhile.
            let later = sim.world().now() + restart_delay;
            sim.world_mut().advance_to(later);
        }
        // Persist, "kill" the tool, restore: only the JSON survives.
        let json = serde_json::to_string(sim.state()).expect("present");
        let restored: RolloutState = serde_json::from_str(&json).expect("state deserialises");
        assert_eq!(
            &restored,
            sim.state(),
            "state must survive a JSON round trip"
        );
        sim.restore(restored);
        phase = out.decision.phase;
        if out.settled {
            break;
        }
    }
    let revisions = sim.state().revisions();
    let applied = sim.world().actions_applied() - base;
    (
        (live(&sim), active_template(&sim), phase, revisions),
        applied,
        crashes,
    )
}

/// Returns how many crash points interrupted a decision (lost at least one action).
fn check_every_crash_point(v1: &RolloutSpec, world: &World) -> usize {
    let (reference, total, _) = run(v1, world.clone(), None, Duration::ZERO);
    assert!(total >= 4, "scenario too small: {total} actions");
    let mut interrupted = 0;
    for k in 1..total {
        for delay in [Duration::ZERO, Duration::from_secs(7)] {
            let (outcome, _, crashes) = run(v1, world.clone(), Some(k), delay);
            assert_eq!(
                outcome, reference,
                "crash after action {k} of {total} (restart after {delay:?}) changed the end state"
            );
            interrupted += crashes;
        }
    }
    interrupted
}

#[test]
fn rolling_resumes_after_a_crash_between_any_two_actions() {
    let v1 = RolloutSpec::builder("v1", 10).build().expect("valid spec");
    let interrupted = check_every_crash_point(&v1, &World::new());
    assert!(interrupted > 0, "no crash point interrupted a decision");
}

#[test]
fn blue_green_resumes_after_a_crash_between_any_two_actions() {
    let strategy = BlueGreenStrategy::new()
        .preview_replicas(2)
        .pre_promotion(CheckSpec::new("smoke"))
        .post_promotion(CheckSpec::new("error-rate"));
    let v1 = RolloutSpec::builder("v1", 4)
        .strategy(Strategy::BlueGreen(strategy))
        .build()
        .expect("valid spec");
    check_every_crash_point(&v1, &World::new());
    // And when the post-promotion check fails, the rollback survives crashes too.
    let interrupted = check_every_crash_point(
        &v1,
        &World::new().check_for("error-rate", "v2", CheckBehaviour::Fail),
    );
    assert!(
        interrupted > 0,
        "the rollback decision has several actions; a crash must split it"
    );
}

#[test]
fn canary_resumes_after_a_crash_between_any_two_actions() {
    let steps = [
        CanaryStep::SetWeight(20),
        CanaryStep::Pause(Some(Duration::from_secs(30))),
        CanaryStep::Analysis(CheckSpec::new("error-rate")),
        CanaryStep::SetWeight(60),
    ];
    let routed = RolloutSpec::builder("v1", 10)
        .strategy(Strategy::Canary(
            CanaryStrategy::new(steps.clone()).traffic_routing(true),
        ))
        .build()
        .expect("valid spec");
    check_every_crash_point(&routed, &World::new());
    let replicas = RolloutSpec::builder("v1", 10)
        .strategy(Strategy::Canary(CanaryStrategy::new(steps)))
        .build()
        .expect("valid spec");
    check_every_crash_point(&replicas, &World::new());
}

#[test]
fn a_state_from_another_layout_version_is_refused() {
    let v1 = RolloutSpec::builder("v1", 2).build().expect("valid spec");
    let sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    let json = serde_json::to_string(sim.state()).expect("state serialises");
    assert!(json.contains("\"version\":1"), "{json}");
    let future: RolloutState =
        serde_json::from_str(&json.replace("\"version\":1", "\"version\":99"))
            .expect("state deserialises");
    let err = engine_ops_rollout::plan(&v1, &future, &sim.observe()).expect_err("must be refused");
    assert_eq!(
        err,
        engine_ops_rollout::Error::UnsupportedStateVersion {
            found: 99,
            supported: 1
        }
    );
    assert!(err.to_string().contains("migrate or discard"), "{err}");
}

/// Restores the persisted state from its JSON, as a restarted tool does.
fn restart(sim: &mut Simulator) {
    let json = serde_json::to_string(sim.state()).expect("state serialises");
    sim.restore(serde_json::from_str(&json).expect("state deserialises"));
}

/// Arms a crash of the tool right after the next action it applies.
fn crash_after_next_action(sim: &mut Simulator) {
    let next = sim.world().actions_applied() + 1;
    *sim.world_mut() = sim.world().clone().crash_after_action(next);
}

/// Replicas 10 → 5 in the middle of a rolling update: the proportional
/// scaling is two `ScaleTrack` actions. The tool dies after the first; after
/// the restart the second is emitted again (the planner reads the
/// desired-replicas / max-replicas annotations from the observed tracks,
/// not from what it once planned), and the desired total never stays above
/// 5 + maxSurge 2.
#[test]
fn a_proportional_scale_lost_in_a_crash_is_emitted_again() {
    let v1 = RolloutSpec::builder("v1", 10).build().expect("valid spec");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    let v2 = v1.with_template("v2").expect("valid template");
    sim.set_spec(v2.clone());
    // Run until nothing is left to do before the new pods become ready
    // (old 8, new 5: 13 desired).
    while sim.world().tracks().iter().map(|t| t.spec).sum::<u32>() < 13 {
        sim.step().expect("planner step");
    }
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 8, 8), ("v2".to_owned(), 5, 0)]
    );
    sim.set_spec(v2.with_replicas(5).expect("valid spec"));
    crash_after_next_action(&mut sim);
    let out = sim.step().expect("planner step");
    assert_eq!(out.executed, 1, "the crash split the proportional scaling");
    assert!(out.decision.actions.len() >= 2);
    restart(&mut sim);
    let first = sim.step().expect("planner step after the restart");
    assert!(
        !first.decision.actions.is_empty(),
        "the lost resize must be emitted again"
    );
    loop {
        let total: u32 = sim.world().tracks().iter().map(|t| t.spec).sum();
        assert!(
            total <= 7,
            "desired total {total} above 5 + 2: {:?}",
            live(&sim)
        );
        if sim.step().expect("planner step").settled {
            break;
        }
    }
    assert_eq!(live(&sim), vec![("v2".to_owned(), 5, 5)]);
}

/// An abort stops two running checks; the tool dies after the first
/// `StopCheck`. After the restart the second is stopped too: no check of an
/// aborted rollout keeps running.
#[test]
fn a_stop_check_lost_in_a_crash_is_emitted_again() {
    let strategy = CanaryStrategy::new([
        CanaryStep::SetWeight(50),
        CanaryStep::Analysis(CheckSpec::new("step")),
    ])
    .traffic_routing(true)
    .analysis(CheckSpec::new("background").failure_threshold(1_000));
    let v1 = RolloutSpec::builder("v1", 4)
        .strategy(Strategy::Canary(strategy))
        .build()
        .expect("valid spec");
    let world = World::new().check("step", CheckBehaviour::Hang).check(
        "background",
        CheckBehaviour::FailEvery(Duration::from_secs(10)),
    );
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    while sim.world().observe().checks.len() < 2 {
        sim.step().expect("planner step");
    }
    sim.command(engine_ops_rollout::Command::Abort);
    crash_after_next_action(&mut sim);
    let out = sim.step().expect("planner step");
    let stops = out
        .decision
        .actions
        .iter()
        .filter(|a| matches!(a.action, engine_ops_rollout::Action::StopCheck { .. }))
        .count();
    assert_eq!((out.executed, stops), (1, 2), "{:#?}", out.decision.actions);
    restart(&mut sim);
    sim.set_max_decisions(10_000);
    sim.run().expect("the aborted rollout settles");
    assert_eq!(
        sim.world().observe().checks,
        vec![],
        "a check of the aborted rollout still runs"
    );
    assert_eq!(live(&sim), vec![("v1".to_owned(), 4, 4)]);
}

/// `Abort` arrives in the same observation as a new template: the abort
/// applies to the new template's canary, which is never created; the
/// superseded canary is drained, traffic stays on stable.
#[test]
fn abort_and_a_new_template_in_one_observation() {
    let bg = BlueGreenStrategy::new()
        .promotion(engine_ops_rollout::spec::Promotion::Manual)
        .abort_scale_down_delay(Duration::from_secs(5));
    let v1 = RolloutSpec::builder("v1", 4)
        .strategy(Strategy::BlueGreen(bg))
        .build()
        .expect("valid spec");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    sim.run().expect("waits for promotion");
    sim.set_spec(v1.with_template("v3").expect("valid template"));
    sim.command(engine_ops_rollout::Command::Abort);
    let plan = sim.run().expect("the blue-green abort settles");
    assert_eq!(plan.phase, Phase::Degraded, "{plan}");
    assert_eq!(live(&sim), vec![("v1".to_owned(), 4, 4)]);
    assert_eq!(active_template(&sim).as_deref(), Some("v1"));

    for routed in [true, false] {
        let strategy = CanaryStrategy::new([CanaryStep::SetWeight(20), CanaryStep::Pause(None)])
            .traffic_routing(routed);
        let v1 = RolloutSpec::builder("v1", 10)
            .strategy(Strategy::Canary(strategy))
            .build()
            .expect("valid spec");
        let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
        sim.set_spec(v1.with_template("v2").expect("valid template"));
        sim.run().expect("paused at 20 %");
        sim.set_spec(v1.with_template("v3").expect("valid template"));
        sim.command(engine_ops_rollout::Command::Abort);
        let plan = sim.run().expect("the abort settles");
        assert_eq!(plan.phase, Phase::Degraded, "routed {routed}: {plan}");
        assert!(sim.state().is_aborted());
        assert_eq!(
            live(&sim),
            vec![("v1".to_owned(), 10, 10)],
            "routed {routed}"
        );
        assert!(
            !sim.world().tracks().iter().any(|t| t.template == "v3"),
            "the aborted template's track was created"
        );
        assert_eq!(sim.world().traffic().canary_weight, 0);
    }
}

// ----- a crash after every action of scripted rollouts -----

/// What happens to the rollout, at a time after the update starts.
#[derive(Debug, Clone)]
enum Ev {
    /// The spec changes (template, replicas, ...).
    Spec(RolloutSpec),
    /// An operator command.
    Command(engine_ops_rollout::Command),
}

/// The end of a scripted run: live tracks, the active template, the phase,
/// the revisions, and the checks still running.
type End = (
    Vec<(String, u32, u32)>,
    Option<String>,
    Phase,
    Vec<u64>,
    Vec<engine_ops_rollout::observation::CheckObs>,
);

/// Deploys `v1` in `world`, then plays `script` (seconds after the start,
/// event); the tool crashes right after its `crash`-th action and restarts
/// from its persisted JSON. Returns the end, the actions applied and the
/// decisions a crash interrupted.
fn scripted(
    v1: &RolloutSpec,
    world: &World,
    script: &[(u64, Ev)],
    crash: Option<u64>,
) -> (End, u64, usize) {
    let mut sim = Simulator::deployed(v1.clone(), world.clone()).expect("v1 deploys");
    let base = sim.world().actions_applied();
    if let Some(k) = crash {
        *sim.world_mut() = sim.world().clone().crash_after_action(base + k);
    }
    let start = sim.world().now();
    let mut pending: Vec<(u64, Ev)> = script.to_vec();
    let mut crashes = 0;
    let mut phase = Phase::Progressing;
    for _ in 0..20_000 {
        // Events due by now, in order; the spec changes before the decision.
        while let Some((at, _)) = pending.first()
            && start + Duration::from_secs(*at) <= sim.world().now()
        {
            let (_, ev) = pending.remove(0);
            match ev {
                Ev::Spec(spec) => sim.set_spec(spec),
                Ev::Command(c) => sim.command(c),
            }
        }
        let out = sim.step().expect("planner step");
        if out.executed < out.decision.actions.len() {
            crashes += 1;
        }
        let json = serde_json::to_string(sim.state()).expect("state serialises");
        sim.restore(serde_json::from_str(&json).expect("state deserialises"));
        phase = out.decision.phase;
        if out.settled {
            // Nothing happens by itself any more: on to the next event. (A
            // crash splits a decision but never moves the clock, so every run
            // meets the events at the same world times.)
            match pending.first() {
                Some((at, _)) => sim.world_mut().advance_to(start + Duration::from_secs(*at)),
                None => break,
            }
        }
    }
    assert!(pending.is_empty(), "the script did not play out");
    let applied = sim.world().actions_applied() - base;
    let end = (
        live(&sim),
        active_template(&sim),
        phase,
        sim.state().revisions(),
        sim.world().observe().checks,
    );
    (end, applied, crashes)
}

/// Runs `script` uninterrupted, then with a crash after each of its actions:
/// every run ends exactly where the uninterrupted one does. Returns how many
/// decisions a crash interrupted (lost at least one action of); a
/// replica-weighted canary resizes one track per decision, so only its
/// decisions with a check, a weight or a revision can be split.
fn crash_after_every_action(v1: &RolloutSpec, world: &World, script: &[(u64, Ev)]) -> usize {
    let (reference, total, _) = scripted(v1, world, script, None);
    assert!(total >= 4, "scenario too small: {total} actions");
    let mut interrupted = 0;
    for k in 1..=total {
        let (end, _, crashes) = scripted(v1, world, script, Some(k));
        assert_eq!(
            end, reference,
            "a crash after action {k} of {total} changed the end state"
        );
        interrupted += crashes;
    }
    interrupted
}

fn canary_spec(n: u32, strategy: CanaryStrategy) -> RolloutSpec {
    RolloutSpec::builder("v1", n)
        .strategy(Strategy::Canary(strategy))
        .build()
        .expect("valid spec")
}

#[test]
fn replica_changes_survive_a_crash_after_any_action() {
    let mut interrupted = 0;
    use engine_ops_rollout::spec::IntOrPercent::Count;
    // Rolling: 10 -> 5 mid-update, then 5 -> 12.
    let v1 = RolloutSpec::builder("v1", 10).build().expect("valid spec");
    let v2 = v1.with_template("v2").expect("valid template");
    let script = [
        (0, Ev::Spec(v2.clone())),
        (6, Ev::Spec(v2.with_replicas(5).expect("valid spec"))),
        (14, Ev::Spec(v2.with_replicas(12).expect("valid spec"))),
    ];
    interrupted += crash_after_every_action(&v1, &World::new(), &script);
    // Replica-weighted canary: 10 -> 4 at the 40 % step.
    let steps = [
        CanaryStep::SetWeight(40),
        CanaryStep::Pause(Some(Duration::from_secs(20))),
    ];
    let c1 = canary_spec(10, CanaryStrategy::new(steps).budget(Count(2), Count(1)));
    let c2 = c1.with_template("v2").expect("valid template");
    let script = [
        (0, Ev::Spec(c2.clone())),
        (12, Ev::Spec(c2.with_replicas(4).expect("valid spec"))),
    ];
    interrupted += crash_after_every_action(&c1, &World::new(), &script);
    // Recreate: 6 -> 3 while the old pods go.
    let r1 = RolloutSpec::builder("v1", 6)
        .strategy(Strategy::Recreate)
        .build()
        .expect("valid spec");
    let r2 = r1.with_template("v2").expect("valid template");
    let script = [
        (0, Ev::Spec(r2.clone())),
        (1, Ev::Spec(r2.with_replicas(3).expect("valid spec"))),
        (20, Ev::Spec(r2.with_replicas(5).expect("valid spec"))),
        (30, Ev::Spec(r1.with_replicas(5).expect("valid spec"))),
    ];
    interrupted += crash_after_every_action(&r1, &World::new(), &script);
    assert!(interrupted > 0, "no crash point interrupted a decision");
}

#[test]
fn pauses_survive_a_crash_after_any_action() {
    let mut interrupted = 0;
    use engine_ops_rollout::Command::{Pause, Resume};
    // Rolling: paused mid-update, scaled while paused, resumed.
    let v1 = RolloutSpec::builder("v1", 8).build().expect("valid spec");
    let v2 = v1.with_template("v2").expect("valid template");
    let script = [
        (0, Ev::Spec(v2.clone())),
        (3, Ev::Command(Pause)),
        (4, Ev::Spec(v2.with_replicas(12).expect("valid spec"))),
        (30, Ev::Command(Resume)),
    ];
    interrupted += crash_after_every_action(&v1, &World::new(), &script);
    // Routed canary: paused at a step, resumed.
    let steps = [CanaryStep::SetWeight(25), CanaryStep::SetWeight(50)];
    let c1 = canary_spec(4, CanaryStrategy::new(steps).traffic_routing(true));
    let script = [
        (0, Ev::Spec(c1.with_template("v2").expect("valid template"))),
        (6, Ev::Command(Pause)),
        (40, Ev::Command(Resume)),
    ];
    interrupted += crash_after_every_action(&c1, &World::new(), &script);
    assert!(interrupted > 0, "no crash point interrupted a decision");
}

#[test]
fn undo_survives_a_crash_after_any_action() {
    let mut interrupted = 0;
    use engine_ops_rollout::Command::Undo;
    let v1 = RolloutSpec::builder("v1", 6).build().expect("valid spec");
    let script = [
        (0, Ev::Spec(v1.with_template("v2").expect("valid template"))),
        (
            40,
            Ev::Spec(v1.with_template("v3").expect("valid template")),
        ),
        (46, Ev::Command(Undo { to_revision: None })),
    ];
    interrupted += crash_after_every_action(&v1, &World::new(), &script);
    // Blue-green: undo while the previous colour is still up.
    let bg = BlueGreenStrategy::new().scale_down_delay(Duration::from_secs(60));
    let b1 = RolloutSpec::builder("v1", 3)
        .strategy(Strategy::BlueGreen(bg))
        .build()
        .expect("valid spec");
    let script = [
        (0, Ev::Spec(b1.with_template("v2").expect("valid template"))),
        (20, Ev::Command(Undo { to_revision: None })),
    ];
    interrupted += crash_after_every_action(&b1, &World::new(), &script);
    assert!(interrupted > 0, "no crash point interrupted a decision");
}

#[test]
fn aborts_survive_a_crash_after_any_action() {
    let mut interrupted = 0;
    use engine_ops_rollout::Command::{Abort, Retry};
    use engine_ops_rollout::spec::IntOrPercent::Count;
    let steps = vec![
        CanaryStep::SetWeight(30),
        CanaryStep::Pause(Some(Duration::from_secs(30))),
        CanaryStep::SetWeight(60),
    ];
    for c1 in [
        canary_spec(
            10,
            CanaryStrategy::new(steps.clone()).budget(Count(1), Count(1)),
        ),
        canary_spec(10, CanaryStrategy::new(steps.clone()).traffic_routing(true)),
    ] {
        let script = [
            (0, Ev::Spec(c1.with_template("v2").expect("valid template"))),
            (12, Ev::Command(Abort)),
            (50, Ev::Command(Retry)),
            (55, Ev::Command(Abort)),
        ];
        interrupted += crash_after_every_action(&c1, &World::new(), &script);
    }
    // Rolling: abort mid-update goes back to the stable template.
    let v1 = RolloutSpec::builder("v1", 10).build().expect("valid spec");
    let script = [
        (0, Ev::Spec(v1.with_template("v2").expect("valid template"))),
        (6, Ev::Command(Abort)),
    ];
    interrupted += crash_after_every_action(&v1, &World::new(), &script);
    // Abort together with a new template.
    let script = [
        (0, Ev::Spec(v1.with_template("v2").expect("valid template"))),
        (6, Ev::Spec(v1.with_template("v3").expect("valid template"))),
        (6, Ev::Command(Abort)),
    ];
    interrupted += crash_after_every_action(&v1, &World::new(), &script);
    assert!(interrupted > 0, "no crash point interrupted a decision");
}

#[test]
fn checks_survive_a_crash_after_any_action() {
    let mut interrupted = 0;
    use engine_ops_rollout::Command::Abort;
    // Canary with a step analysis and a background analysis that never
    // decide; the operator aborts while both run: both are stopped.
    let strategy = CanaryStrategy::new([
        CanaryStep::SetWeight(50),
        CanaryStep::Analysis(CheckSpec::new("step")),
    ])
    .traffic_routing(true)
    .analysis(CheckSpec::new("background").failure_threshold(1_000));
    let c1 = canary_spec(4, strategy);
    let world = World::new().check("step", CheckBehaviour::Hang).check(
        "background",
        CheckBehaviour::FailEvery(Duration::from_secs(10)),
    );
    let script = [
        (0, Ev::Spec(c1.with_template("v2").expect("valid template"))),
        (20, Ev::Command(Abort)),
    ];
    interrupted += crash_after_every_action(&c1, &world, &script);
    // Blue-green: smoke test passes, the post-promotion check fails: back to v1.
    let bg = BlueGreenStrategy::new()
        .pre_promotion(CheckSpec::new("smoke"))
        .post_promotion(CheckSpec::new("errors"));
    let b1 = RolloutSpec::builder("v1", 3)
        .strategy(Strategy::BlueGreen(bg))
        .build()
        .expect("valid spec");
    let world = World::new().check_for("errors", "v2", CheckBehaviour::Fail);
    let script = [(0, Ev::Spec(b1.with_template("v2").expect("valid template")))];
    interrupted += crash_after_every_action(&b1, &world, &script);
    assert!(interrupted > 0, "no crash point interrupted a decision");
}
