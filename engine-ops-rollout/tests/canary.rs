//! Canary through the simulator: steps, pauses, analysis thresholds, abort order.

mod common;

use std::time::Duration;

use common::{active_template, live};
use engine_ops_rollout::{
    Action, Command, Phase, RolloutSpec, Strategy,
    sim::{CheckBehaviour, Simulator, World},
    spec::{CanaryStep, CanaryStrategy, CheckSpec},
};

fn canary(template: &str, n: u32, strategy: CanaryStrategy) -> RolloutSpec {
    RolloutSpec::builder(template, n)
        .strategy(Strategy::Canary(strategy))
        .build()
        .expect("valid spec")
}

fn steps() -> Vec<CanaryStep> {
    vec![
        CanaryStep::SetWeight(20),
        CanaryStep::Pause(Some(Duration::from_secs(60))),
        CanaryStep::Analysis(CheckSpec::new("error-rate")),
        CanaryStep::SetWeight(50),
    ]
}

#[test]
fn replica_weighted_canary_holds_the_split_then_promotes() {
    let v1 = canary("v1", 10, CanaryStrategy::new(steps()));
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let mut saw_split = false;
    loop {
        let out = sim.step().expect("planner step");
        let l = live(&sim);
        if l == vec![("v1".to_owned(), 8, 8), ("v2".to_owned(), 2, 2)] {
            saw_split = true;
        }
        let available: u32 = l.iter().map(|t| t.2).sum();
        let total: u32 = l.iter().map(|t| t.1).sum();
        assert!(
            available >= 10 || out.decision.actions.is_empty() || total > 10,
            "maxUnavailable 0 broken: {l:?}"
        );
        assert!(total <= 13, "maxSurge 25% broken: {l:?}");
        if out.settled {
            break;
        }
    }
    assert!(saw_split, "20% of 10 replicas is 2 canary + 8 stable");
    assert_eq!(live(&sim), vec![("v2".to_owned(), 10, 10)]);
}

#[test]
fn routed_canary_raises_weight_only_over_available_pods() {
    let v1 = canary("v1", 10, CanaryStrategy::new(steps()).traffic_routing(true));
    let mut sim = Simulator::deployed(v1.clone(), World::new().ready_after(Duration::from_secs(9)))
        .expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let mut weights = Vec::new();
    loop {
        let obs = sim.observe();
        let out = sim.step().expect("planner step");
        for a in &out.decision.actions {
            if let Action::SetCanaryWeight { track, weight } = a.action {
                let avail = obs
                    .tracks
                    .iter()
                    .find(|t| t.track == track)
                    .map_or(0, |t| t.available);
                assert!(
                    weight * 10 <= 100 * avail,
                    "weight {weight}% with {avail}/10 canary pods available"
                );
                weights.push(weight);
            }
            if let Action::ScaleTrack {
                replicas, track, ..
            } = a.action
                && Some(track) == obs.traffic.active
            {
                assert!(
                    replicas >= 10,
                    "the stable track lost capacity while serving"
                );
            }
        }
        if out.settled {
            break;
        }
    }
    assert_eq!(weights, vec![20, 50, 100, 0]);
    assert_eq!(active_template(&sim).as_deref(), Some("v2"));
    assert_eq!(live(&sim), vec![("v2".to_owned(), 10, 10)]);
}

#[test]
fn background_analysis_threshold_aborts_with_weight_zero_before_scale_down() {
    let strategy = CanaryStrategy::new([CanaryStep::SetWeight(30), CanaryStep::Pause(None)])
        .traffic_routing(true)
        .analysis(CheckSpec::new("latency").failure_threshold(3));
    let v1 = canary("v1", 10, strategy);
    let world = World::new().check_for(
        "latency",
        "v2",
        CheckBehaviour::FailEvery(Duration::from_secs(10)),
    );
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    // The threshold is reached while the manual pause waits (flagger#1801).
    assert_eq!(plan.phase, Phase::Degraded, "{plan}");
    let acts = common::actions(&plan);
    let zero = acts
        .iter()
        .position(|a| matches!(a, Action::SetCanaryWeight { weight: 0, .. }))
        .expect("present");
    let down = acts
        .iter()
        .position(|a| matches!(a, Action::ScaleTrack { replicas: 0, .. }))
        .expect("present");
    assert!(zero < down, "weight 0 comes before any scale-down: {plan}");
    assert!(plan.steps.iter().any(|s| {
        s.explain
            .iter()
            .any(|e| e.contains("failure threshold (3 of 3)"))
    }));
    assert_eq!(live(&sim), vec![("v1".to_owned(), 10, 10)]);
}

#[test]
fn indefinite_pause_waits_for_promote() {
    let v1 = canary(
        "v1",
        4,
        CanaryStrategy::new([CanaryStep::SetWeight(25), CanaryStep::Pause(None)]),
    );
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Paused);
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 3, 3), ("v2".to_owned(), 1, 1)]
    );
    sim.command(Command::Promote);
    assert_eq!(sim.run().expect("simulation settles").phase, Phase::Healthy);
    assert_eq!(live(&sim), vec![("v2".to_owned(), 4, 4)]);
}

#[test]
fn failed_step_analysis_aborts_replica_weighted_canary_back_to_stable() {
    let v1 = canary("v1", 10, CanaryStrategy::new(steps()));
    let world = World::new().check_for("error-rate", "v2", CheckBehaviour::Fail);
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    assert_eq!(live(&sim), vec![("v1".to_owned(), 10, 10)]);
    assert!(sim.state().is_aborted());
}

#[test]
fn a_new_template_mid_canary_restarts_at_step_zero() {
    let v1 = canary("v1", 10, CanaryStrategy::new(steps()).traffic_routing(true));
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    while sim.world().traffic().canary_weight != 20 {
        sim.step().expect("planner step");
    }
    sim.set_spec(v1.with_template("v3").expect("valid template"));
    let out = sim.step().expect("planner step");
    let first = &out.decision.actions[0].action;
    assert!(
        matches!(first, Action::SetCanaryWeight { weight: 0, .. }),
        "weight 0 first: {first}"
    );
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy);
    assert_eq!(live(&sim), vec![("v3".to_owned(), 10, 10)]);
}

#[test]
fn operator_abort_of_a_routed_canary_puts_all_traffic_on_stable_in_one_decision() {
    let v1 = canary("v1", 10, CanaryStrategy::new(steps()).traffic_routing(true));
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    while sim.world().traffic().canary_weight != 20 {
        sim.step().expect("planner step");
    }
    sim.command(Command::Abort);
    sim.step().expect("planner step");
    assert_eq!(sim.world().traffic().canary_weight, 0);
    assert_eq!(active_template(&sim).as_deref(), Some("v1"));
}

#[test]
fn a_superseded_replica_weighted_canary_is_drained_within_the_budget() {
    let strategy = CanaryStrategy::new([CanaryStep::SetWeight(40), CanaryStep::Pause(None)])
        .budget(
            engine_ops_rollout::spec::IntOrPercent::Count(1),
            engine_ops_rollout::spec::IntOrPercent::Count(1),
        );
    let v1 = canary("v1", 10, strategy);
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    sim.run().expect("simulation settles"); // paused at 40 %
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 6, 6), ("v2".to_owned(), 4, 4)]
    );
    sim.set_spec(v1.with_template("v3").expect("valid template"));
    loop {
        let out = sim.step().expect("planner step");
        let available: u32 = sim.world().tracks().iter().map(|t| t.available).sum();
        assert!(
            available >= 9,
            "availability fell to {available} while draining v2"
        );
        if out.settled {
            break;
        }
    }
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 6, 6), ("v3".to_owned(), 4, 4)]
    );
}

/// The preview table keeps its columns aligned even where a cell is long
/// (a canary weight beside the live revision).
#[test]
fn the_preview_table_columns_line_up() {
    let v1 = canary("v1", 10, CanaryStrategy::new(steps()).traffic_routing(true));
    let sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    let plan = engine_ops_rollout::sim::preview(
        &v1.with_template("v2").expect("valid template"),
        sim.state(),
        sim.world(),
    )
    .expect("preview settles");
    let table = plan.to_string();
    let lines: Vec<&str> = table.lines().collect();
    let header = lines[0];
    let reason_at = header.find("reason").expect("a reason column");
    let after_at = header.find("after (avail/spec)").expect("an after column");
    assert!(lines.len() > 8, "{table}");
    for line in &lines[1..lines.len() - 1] {
        // Every row has the after cell and the reason where the header puts them.
        let after = line.get(after_at..).expect("row reaches the after column");
        assert!(after.starts_with('r'), "after cell misplaced: {line}");
        let before_reason = line
            .get(..reason_at)
            .expect("row reaches the reason column");
        assert!(
            before_reason.ends_with("  "),
            "columns run together: {line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("live=r1 r2@20%")),
        "{table}"
    );
}

// ----- replica-weighted canary: Argo Rollouts' current basic-canary arithmetic -----

fn basic(
    template: &str,
    n: u32,
    steps: Vec<CanaryStep>,
    surge: u32,
    unavailable: u32,
) -> RolloutSpec {
    use engine_ops_rollout::spec::IntOrPercent::Count;
    canary(
        template,
        n,
        CanaryStrategy::new(steps).budget(Count(surge), Count(unavailable)),
    )
}

/// Sizes the decision sets, in order.
fn scales(d: &engine_ops_rollout::Decision) -> Vec<(engine_ops_rollout::TrackId, u32)> {
    d.actions
        .iter()
        .filter_map(|a| match a.action {
            Action::ScaleTrack {
                track, replicas, ..
            } => Some((track, replicas)),
            _ => None,
        })
        .collect()
}

/// Runs to the end, asserting after every executed action that the desired
/// total stays within `max_total` and that no action took available pods
/// below `min_available` (or below what was available before it).
fn run_within_budget(sim: &mut Simulator, max_total: u32, min_available: u32) {
    loop {
        let before: u32 = sim.world().tracks().iter().map(|t| t.available).sum();
        let out = sim.step().expect("planner step");
        let step = sim.steps().last().expect("a step").clone();
        let mut floor = before.min(min_available);
        for (tracks, _) in &step.after_each_action {
            let total: u32 = tracks.iter().map(|t| t.spec).sum();
            let available: u32 = tracks.iter().map(|t| t.available).sum();
            assert!(
                total <= max_total,
                "desired total {total} above {max_total}: {tracks:?}"
            );
            assert!(
                available >= floor,
                "{available} available after an action, below {floor}: {tracks:?}"
            );
            floor = floor.min(available.max(min_available));
        }
        if out.settled {
            break;
        }
    }
}

/// Argo Rollouts' `TestCanaryRolloutScaleDownOldRsDontScaleDownTooMuch`: 4
/// replicas, maxSurge 1, maxUnavailable 0, two older ReplicaSets at 5 (all
/// available) and the stable one at 5 with none available. Only one older set
/// may go (the newest revision first); the other keeps 4 so that 4 pods stay
/// available.
#[test]
fn older_sets_are_drained_within_the_availability_budget() {
    use engine_ops_rollout::{
        Observation, RolloutState, Timestamp, TrackId, observation::TrackObs, plan,
        state::AdoptedTrack,
    };
    let spec = basic("v3", 4, vec![], 1, 0);
    let state = RolloutState::adopt(
        &spec,
        [
            AdoptedTrack::new(TrackId(0), 1, "v1"),
            AdoptedTrack::new(TrackId(1), 2, "v2"),
            AdoptedTrack::new(TrackId(2), 3, "v3"),
        ],
    );
    // Every ReplicaSet carries the annotations of 4 replicas (maxSurge 1).
    let obs = Observation::new(Timestamp::ZERO)
        .with_track(TrackObs::new(TrackId(0), 5, 5, 5).with_annotations(4, 5))
        .with_track(TrackObs::new(TrackId(1), 5, 5, 5).with_annotations(4, 5))
        .with_track(TrackObs::new(TrackId(2), 5, 0, 0).with_annotations(4, 5));
    let d = plan(&spec, &state, &obs).expect("plan");
    assert_eq!(
        scales(&d),
        vec![(TrackId(1), 0), (TrackId(0), 4)],
        "{:#?}",
        d.actions
    );
}

/// 4 replicas, maxSurge 100 %, maxUnavailable 0, weight 100 %: the canary
/// runs 4 pods that never become available beside the 4 stable ones. Then
/// replicas drop to 3: the stable side shrinks first and 3 pods stay
/// available throughout (Argo keeps stable 3 and canary 3).
#[test]
fn a_replica_drop_mid_canary_keeps_the_available_budget() {
    let v1 = basic(
        "v1",
        4,
        vec![CanaryStep::SetWeight(100), CanaryStep::Pause(None)],
        4,
        0,
    );
    let mut sim =
        Simulator::deployed(v1.clone(), World::new().pods_never_ready("v2")).expect("v1 deploys");
    let v2 = v1.with_template("v2").expect("valid template");
    sim.set_spec(v2.clone());
    sim.run().expect("settles");
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 4, 4), ("v2".to_owned(), 4, 0)]
    );
    sim.set_spec(v2.with_replicas(3).expect("valid spec"));
    run_within_budget(&mut sim, 8, 3);
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 3, 3), ("v2".to_owned(), 3, 0)]
    );
}

/// Argo's "scale canary to zero on < 50 weight without surge" and "do not
/// round past maxSurge with uneven setWeight divisor": without surge the
/// desired total never goes above the replicas.
#[test]
fn a_replica_weighted_canary_never_exceeds_max_surge() {
    for (n, w, at_pause) in [(1, 49, [1, 0]), (10, 5, [9, 1])] {
        let v1 = basic(
            "v1",
            n,
            vec![CanaryStep::SetWeight(w), CanaryStep::Pause(None)],
            0,
            1,
        );
        let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
        sim.set_spec(v1.with_template("v2").expect("valid template"));
        run_within_budget(&mut sim, n, n - 1);
        let tracks = sim.world().tracks();
        let sizes: Vec<u32> = tracks.iter().map(|t| t.spec).collect();
        assert_eq!(sizes, at_pause, "n={n} w={w}");
        sim.command(Command::Promote);
        run_within_budget(&mut sim, n, n - 1);
        assert_eq!(live(&sim), vec![("v2".to_owned(), n, n)], "n={n} w={w}");
    }
}

/// Older canaries are drained newest revision first (Argo sorts them with
/// `sort.Reverse(ReplicaSetsByRevisionNumber)`), within Σ available − (n − maxUnavailable).
#[test]
fn older_canaries_drain_newest_revision_first() {
    use engine_ops_rollout::{
        Observation, RolloutState, Timestamp, TrackId, observation::TrackObs, plan,
        state::AdoptedTrack,
    };
    let steps = vec![CanaryStep::SetWeight(20), CanaryStep::Pause(None)];
    let v1 = basic("v1", 10, steps, 0, 2);
    let at = |obs: &[(u64, u32, u32)]| {
        obs.iter().fold(
            Observation::new(Timestamp::ZERO),
            |o, &(id, spec, avail)| {
                o.with_track(
                    TrackObs::new(TrackId(id), spec, avail, avail).with_annotations(10, 10),
                )
            },
        )
    };
    let mut state = RolloutState::adopt(&v1, [AdoptedTrack::new(TrackId(0), 1, "v1")]);
    let mut seen = vec![(0, 10, 10)];
    for (i, v) in ["v2", "v3", "v4"].into_iter().enumerate() {
        let spec = v1.with_template(v).expect("valid template");
        state = plan(&spec, &state, &at(&seen)).expect("plan").state;
        seen.push((i as u64 + 1, 0, 0));
    }
    let v4 = v1.with_template("v4").expect("valid template");
    let d = plan(
        &v4,
        &state,
        &at(&[(0, 6, 6), (1, 2, 2), (2, 2, 2), (3, 0, 0)]),
    )
    .expect("plan");
    // 10 available, at least 8 must stay: revision 3 (v3) goes, revision 2 (v2) stays.
    assert_eq!(scales(&d), vec![(TrackId(2), 0)], "{:#?}", d.actions);
}

/// A template reverted to the stable one mid-canary is a rollback, not an
/// abort (as in Argo Rollouts): the stable track stays stable and becomes the
/// newest revision, the canary is drained as an older set within the budget,
/// and the rollout ends Healthy, not Degraded.
#[test]
fn a_template_reverted_to_stable_drains_the_canary_and_ends_healthy() {
    let v1 = basic(
        "v1",
        10,
        vec![CanaryStep::SetWeight(40), CanaryStep::Pause(None)],
        1,
        1,
    );
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    sim.run().expect("paused at 40 %");
    assert_eq!(
        live(&sim),
        vec![("v1".to_owned(), 6, 6), ("v2".to_owned(), 4, 4)]
    );
    sim.set_spec(v1.clone());
    let out = sim.step().expect("planner step");
    assert!(
        out.decision
            .condition(engine_ops_rollout::decision::ConditionKind::Aborted)
            .is_none(),
        "a revert is not an abort: {:?}",
        out.decision.explain
    );
    run_within_budget(&mut sim, 11, 9);
    let end = sim.steps().last().expect("a step").phase;
    assert_eq!(end, Phase::Healthy);
    assert!(!sim.state().is_aborted());
    assert_eq!(live(&sim), vec![("v1".to_owned(), 10, 10)]);
    let v1_revision = sim
        .world()
        .tracks()
        .iter()
        .find(|t| t.template == "v1")
        .map(|t| t.revision);
    assert_eq!(
        v1_revision,
        Some(3),
        "the stable track is the newest revision again"
    );
}
