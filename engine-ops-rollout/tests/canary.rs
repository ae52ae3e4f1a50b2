//! Canary through the simulator: steps, pauses, analysis thresholds, abort order.

mod common;

use std::time::Duration;

use common::{active_template, live};
use engine_ops_rollout::{
    Action, CanaryStep, CanaryStrategy, CheckBehaviour, CheckSpec, Command, Phase, RolloutSpec,
    Simulator, Strategy, World,
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
            if let Action::ScaleTrack { replicas, track } = a.action
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

/// Examples of Argo Rollouts' `CalculateReplicaCountsForCanary` (new RS at 0,
/// stable fully available): the first decision's sizes. The fifth is its test
/// "add an extra replica to surge when the setWeight rounding adds another
/// instance" (its doc comment still shows the older rounding).
#[test]
fn argo_documented_basic_canary_counts() {
    use engine_ops_rollout::IntOrPercent::Count;
    // (replicas, weight, maxUnavailable, maxSurge) -> (new, stable)
    let cases = [
        ((10, 10, 1, 1), (1, 9)),
        ((10, 30, 0, 3), (3, 10)),
        ((10, 30, 5, 0), (0, 7)),
        ((10, 5, 1, 0), (1, 10)),
        ((1, 5, 0, 1), (1, 1)),
        ((1, 95, 0, 1), (1, 1)),
    ];
    for ((n, w, u, s), expected) in cases {
        let strategy = CanaryStrategy::new([CanaryStep::SetWeight(w), CanaryStep::Pause(None)])
            .budget(Count(s), Count(u));
        let v1 = canary("v1", n, strategy);
        let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
        sim.set_spec(v1.with_template("v2").expect("valid template"));
        sim.step().expect("planner step");
        let tracks = sim.world().tracks();
        let size = |t: &str| {
            tracks
                .iter()
                .find(|x| x.template == t)
                .map_or(0, |x| x.spec)
        };
        assert_eq!(
            (size("v2"), size("v1")),
            expected,
            "n={n} w={w} u={u} s={s}"
        );
    }
}

#[test]
fn a_superseded_replica_weighted_canary_is_drained_within_the_budget() {
    let strategy = CanaryStrategy::new([CanaryStep::SetWeight(40), CanaryStep::Pause(None)])
        .budget(
            engine_ops_rollout::IntOrPercent::Count(1),
            engine_ops_rollout::IntOrPercent::Count(1),
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
    let plan = engine_ops_rollout::preview(
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
