//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use engine_ops_rollout::{
    Action,
    sim::{Preview, Simulator, TrackView},
};

/// (template, spec, available) of every track with pods.
pub fn live(sim: &Simulator) -> Vec<(String, u32, u32)> {
    sim.world()
        .tracks()
        .into_iter()
        .filter(|t| t.spec > 0)
        .map(|t| (t.template, t.spec, t.available))
        .collect()
}

/// Template of the track the active service selects.
pub fn active_template(sim: &Simulator) -> Option<String> {
    let a = sim.world().traffic().active?;
    sim.world()
        .tracks()
        .into_iter()
        .find(|t| t.track == a)
        .map(|t| t.template)
}

pub fn track<'a>(tracks: &'a [TrackView], template: &str) -> Option<&'a TrackView> {
    tracks.iter().find(|t| t.template == template)
}

/// Actions of a plan, in order.
pub fn actions(plan: &Preview) -> Vec<Action> {
    plan.actions().map(|(_, a)| a.action.clone()).collect()
}
