//! Code written against the flat crate root of the first release still
//! compiles (with deprecation warnings naming the new paths) and means the
//! same thing: the old names are aliases of the items in their modules.

#![allow(deprecated)]

use engine_ops_rollout::{
    BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckBehaviour, CheckSpec, IntOrPercent, Plan,
    PlanStep, RolloutSpec, STATE_VERSION, Simulator, Strategy, TrackObs, World, preview, sim, spec,
    state,
};

#[test]
fn old_root_names_are_the_items_of_their_modules() {
    let strategy = BlueGreenStrategy::new().pre_promotion(CheckSpec::new("smoke"));
    let _: &spec::BlueGreenStrategy = &strategy;
    assert_eq!(IntOrPercent::Percent(25), spec::IntOrPercent::Percent(25));
    assert_eq!(
        CanaryStrategy::new([CanaryStep::SetWeight(10)]).steps,
        [spec::CanaryStep::SetWeight(10)]
    );
    assert_eq!(STATE_VERSION, state::STATE_VERSION);
    let obs: engine_ops_rollout::observation::TrackObs =
        TrackObs::new(engine_ops_rollout::TrackId(0), 1, 1, 1);
    assert_eq!(obs.available, 1);
}

#[test]
fn the_old_preview_function_and_plan_type_give_the_same_preview()
-> Result<(), engine_ops_rollout::Error> {
    let v1 = RolloutSpec::builder("app:v1", 4)
        .strategy(Strategy::BlueGreen(BlueGreenStrategy::new()))
        .build()?;
    let world = World::new().check("smoke", CheckBehaviour::Pass);
    let live = Simulator::deployed(v1.clone(), world)?;
    let v2 = v1.with_template("app:v2")?;
    let old: Plan = preview(&v2, live.state(), live.world())?;
    let new: sim::Preview = sim::preview(&v2, live.state(), live.world())?;
    assert_eq!(old, new);
    let steps: &[PlanStep] = &old.steps;
    assert!(!steps.is_empty());
    assert_eq!(old.to_string(), new.to_string());
    Ok(())
}
