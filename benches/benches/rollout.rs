//! Benchmarks of engine-ops-rollout, each against a baseline measured in the
//! same run:
//!
//! - `rollout/decision/{rolling_10_revisions,blue_green,canary}/{10,100000}`:
//!   one planner decision mid-rollout, at 10 and at 100,000 replicas. The
//!   10-replica case is the baseline: the planner's cost must not depend on
//!   the replica count (goal: under 2 µs and a ratio near 1.0). A second
//!   baseline, `state_clone_baseline`, copies the 10-revision state: the floor
//!   of any decision, which returns a new state.
//! - `rollout/simulate/rolling_10000`: a whole simulated rolling update of
//!   10,000 replicas (25 % / 25 %) to completion, with throughput in decisions,
//!   so criterion prints the cost per decision; its baseline is one decision.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine_ops_rollout::{
    Observation, RolloutSpec, RolloutState, Stage, Strategy, plan,
    sim::{Simulator, World},
    spec::{BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckSpec},
};

fn with_template(spec: &RolloutSpec, v: u32) -> RolloutSpec {
    spec.with_template(format!("app:v{v}"))
        .expect("valid template")
}

/// A rolling update to v11 after ten earlier revisions (the history keeps 10),
/// stopped at a decision that scales something.
fn rolling_state(n: u32) -> (RolloutSpec, RolloutState, Observation) {
    let v1 = RolloutSpec::builder("app:v1", n)
        .build()
        .expect("valid spec");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("deploys");
    for v in 2..=10 {
        sim.set_spec(with_template(&v1, v));
        sim.run().expect("settles");
    }
    let target = with_template(&v1, 11);
    sim.set_spec(target.clone());
    sim.step().expect("first step");
    loop {
        let obs = sim.observe();
        let d = plan(&target, sim.state(), &obs).expect("plans");
        if !d.actions.is_empty() && sim.world().tracks().iter().all(|t| t.available == t.spec) {
            assert!(sim.state().tracks().len() >= 10, "ten revisions recorded");
            return (target, sim.state().clone(), obs);
        }
        sim.step().expect("step");
    }
}

fn gated_state(
    spec: RolloutSpec,
    done: impl Fn(&RolloutState) -> bool,
) -> (RolloutSpec, RolloutState, Observation) {
    let mut sim = Simulator::deployed(spec.clone(), World::new()).expect("deploys");
    let target = with_template(&spec, 2);
    sim.set_spec(target.clone());
    while !done(sim.state()) {
        sim.step().expect("step");
    }
    (target, sim.state().clone(), sim.observe())
}

fn blue_green_state(n: u32) -> (RolloutSpec, RolloutState, Observation) {
    let bg = BlueGreenStrategy::new()
        .pre_promotion(CheckSpec::new("smoke"))
        .post_promotion(CheckSpec::new("error-rate"));
    let spec = RolloutSpec::builder("app:v1", n)
        .strategy(Strategy::BlueGreen(bg))
        .build()
        .expect("valid spec");
    gated_state(spec, |s| s.stage() == Stage::PostPromotion)
}

fn canary_state(n: u32) -> (RolloutSpec, RolloutState, Observation) {
    let canary = CanaryStrategy::new([
        CanaryStep::SetWeight(10),
        CanaryStep::Pause(Some(Duration::from_secs(60))),
        CanaryStep::Analysis(CheckSpec::new("error-rate")),
        CanaryStep::SetWeight(50),
    ])
    .traffic_routing(true)
    .analysis(CheckSpec::new("latency").failure_threshold(3));
    let spec = RolloutSpec::builder("app:v1", n)
        .strategy(Strategy::Canary(canary))
        .build()
        .expect("valid spec");
    gated_state(spec, |s| matches!(s.stage(), Stage::Step { index: 2, .. }))
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollout/decision");
    type Build = fn(u32) -> (RolloutSpec, RolloutState, Observation);
    let cases: [(&str, Build); 3] = [
        ("rolling_10_revisions", rolling_state),
        ("blue_green", blue_green_state),
        ("canary", canary_state),
    ];
    for (name, build) in cases {
        for n in [10u32, 100_000] {
            let (spec, state, obs) = build(n);
            if n == 10 && name == "rolling_10_revisions" {
                // Baseline: copying the state a decision must return.
                group.bench_function("state_clone_baseline", |b| {
                    b.iter(|| black_box(&state).clone())
                });
            }
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    plan(black_box(&spec), black_box(&state), black_box(&obs)).expect("plans")
                });
            });
        }
    }
    group.finish();
}

fn simulate(c: &mut Criterion) {
    let v1 = RolloutSpec::builder("app:v1", 10_000)
        .build()
        .expect("valid spec");
    let live = Simulator::deployed(v1.clone(), World::new()).expect("deploys");
    let v2 = with_template(&v1, 2);
    let mut probe = live.clone();
    probe.set_spec(v2.clone());
    let decisions = probe.run().expect("settles").decisions;
    eprintln!("rollout/simulate/rolling_10000: {decisions} decisions per rollout");
    let mut group = c.benchmark_group("rollout/simulate");
    group.throughput(Throughput::Elements(decisions));
    group.bench_function("rolling_10000", |b| {
        b.iter_batched(
            || {
                let mut sim = live.clone();
                sim.set_spec(v2.clone());
                sim
            },
            |mut sim| sim.run().expect("settles"),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, decisions, simulate);
criterion_main!(benches);
