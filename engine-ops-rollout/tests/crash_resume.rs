//! The tool is killed between any two actions: its state is serialised to JSON
//! at every decision, dropped and restored, and the rollout ends exactly where
//! an uninterrupted run ends.

mod common;

use std::time::Duration;

use common::{active_template, live};
use engine_ops_rollout::{
    BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckBehaviour, CheckSpec, Phase, RolloutSpec,
    RolloutState, Simulator, Strategy, World,
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
