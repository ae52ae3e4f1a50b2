//! Plans shown before they run, then a simulated rollback.
//!
//! Prints the previewed plans of a blue-green, a rolling (10 replicas, 25 % / 25 %)
//! and a canary rollout as tables of steps with reasons, then runs a blue-green
//! in the simulator whose smoke test fails after the switch, and shows the
//! automatic rollback and the recorded switches.
//!
//! Run with `cargo run -p engine-ops-examples --example rollout_preview`.

use std::time::Duration;

use engine_ops_rollout::{
    RolloutSpec, Strategy,
    sim::{CheckBehaviour, Simulator, World, preview},
    spec::{
        BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckSpec, IntOrPercent, Promotion,
        RollingStrategy,
    },
};

fn main() -> anyhow::Result<()> {
    // A cluster where pods take 8 s to become ready and checks take 20 s.
    let world = World::new()
        .ready_after(Duration::from_secs(8))
        .check_duration(Duration::from_secs(20));

    // --- blue-green: preview at 2 replicas, smoke test, then post-switch check.
    let blue_green = BlueGreenStrategy::new()
        .preview_replicas(2)
        .pre_promotion(CheckSpec::new("smoke").timeout(Duration::from_secs(120)))
        .post_promotion(CheckSpec::new("error-rate"))
        .promotion(Promotion::Automatic)
        .scale_down_delay(Duration::from_secs(60));
    let bg_v1 = RolloutSpec::builder("engine-ops@sha256:1111", 4)
        .strategy(Strategy::BlueGreen(blue_green))
        .build()?;
    let live = Simulator::deployed(bg_v1.clone(), world.clone())?;
    let plan = preview(
        &bg_v1.with_template("engine-ops@sha256:2222")?,
        live.state(),
        live.world(),
    )?;
    println!("== blue-green preview (4 replicas, preview 2) ==\n{plan}\n");

    // --- rolling: 10 replicas, 25 % / 25 % (the Deployment controller's arithmetic).
    let rolling = RolloutSpec::builder("engine-ops@sha256:1111", 10)
        .strategy(Strategy::Rolling(RollingStrategy::new(
            IntOrPercent::Percent(25),
            IntOrPercent::Percent(25),
        )))
        .build()?;
    let live = Simulator::deployed(rolling.clone(), world.clone())?;
    let plan = preview(
        &rolling.with_template("engine-ops@sha256:2222")?,
        live.state(),
        live.world(),
    )?;
    println!("== rolling preview (10 replicas, maxSurge 25%, maxUnavailable 25%) ==\n{plan}\n");

    // --- canary with a traffic router: 10 % → pause → analysis → 50 %.
    let canary = CanaryStrategy::new([
        CanaryStep::SetWeight(10),
        CanaryStep::Pause(Some(Duration::from_secs(60))),
        CanaryStep::Analysis(CheckSpec::new("error-rate")),
        CanaryStep::SetWeight(50),
        CanaryStep::Pause(Some(Duration::from_secs(60))),
    ])
    .traffic_routing(true)
    .analysis(CheckSpec::new("latency").failure_threshold(3));
    let canary_v1 = RolloutSpec::builder("engine-ops@sha256:1111", 10)
        .strategy(Strategy::Canary(canary))
        .build()?;
    let live = Simulator::deployed(canary_v1.clone(), world.clone())?;
    let plan = preview(
        &canary_v1.with_template("engine-ops@sha256:2222")?,
        live.state(),
        live.world(),
    )?;
    println!("== canary preview (10 replicas, routed) ==\n{plan}\n");

    // --- a blue-green whose smoke test fails after the switch: automatic rollback.
    let smoke_after_switch = BlueGreenStrategy::new()
        .post_promotion(CheckSpec::new("smoke"))
        .scale_down_delay(Duration::from_secs(60))
        .abort_scale_down_delay(Duration::from_secs(30));
    let v1 = RolloutSpec::builder("engine-ops@sha256:1111", 4)
        .strategy(Strategy::BlueGreen(smoke_after_switch))
        .build()?;
    let failing = world.check_for("smoke", "engine-ops@sha256:2222", CheckBehaviour::Fail);
    let mut sim = Simulator::deployed(v1.clone(), failing)?;
    sim.set_spec(v1.with_template("engine-ops@sha256:2222")?);
    let run = sim.run()?;
    println!("== simulated blue-green, smoke test fails after the switch ==\n{run}\n");
    println!("recorded switches (what was live before each):");
    for s in sim.state().switches() {
        let from = s
            .from_revision
            .map_or_else(|| "nothing".to_owned(), |r| format!("revision {r}"));
        println!(
            "  {}  {from} -> revision {}  ({})",
            s.at, s.to_revision, s.reason
        );
    }
    let active = sim.world().traffic().active;
    let live_rev = sim
        .world()
        .tracks()
        .into_iter()
        .find(|t| Some(t.track) == active)
        .map(|t| t.revision);
    println!(
        "traffic is on revision {} again; phase {}",
        live_rev.unwrap_or_default(),
        run.phase
    );
    Ok(())
}
