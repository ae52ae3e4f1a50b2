//! The paths of items that left the crate root for their module, kept so
//! that code written against the flat root still compiles, with a warning
//! naming the new path. Hidden from the docs.

#![allow(missing_docs)]

use crate::{decision, observation, sim, spec, state};

#[deprecated(note = "moved to `engine_ops_rollout::decision::Condition`")]
pub type Condition = decision::Condition;

#[deprecated(note = "moved to `engine_ops_rollout::decision::ConditionKind`")]
pub type ConditionKind = decision::ConditionKind;

#[deprecated(note = "moved to `engine_ops_rollout::decision::ConditionStatus`")]
pub type ConditionStatus = decision::ConditionStatus;

#[deprecated(note = "moved to `engine_ops_rollout::decision::PlannedAction`")]
pub type PlannedAction = decision::PlannedAction;

#[deprecated(note = "moved to `engine_ops_rollout::observation::CheckObs`")]
pub type CheckObs = observation::CheckObs;

#[deprecated(note = "moved to `engine_ops_rollout::observation::CheckRun`")]
pub type CheckRun = observation::CheckRun;

#[deprecated(note = "moved to `engine_ops_rollout::observation::CheckStatus`")]
pub type CheckStatus = observation::CheckStatus;

#[deprecated(note = "moved to `engine_ops_rollout::observation::TrackObs`")]
pub type TrackObs = observation::TrackObs;

#[deprecated(note = "moved to `engine_ops_rollout::observation::TrafficObs`")]
pub type TrafficObs = observation::TrafficObs;

#[deprecated(note = "moved to `engine_ops_rollout::sim::CheckBehaviour`")]
pub type CheckBehaviour = sim::CheckBehaviour;

#[deprecated(note = "moved to `engine_ops_rollout::sim::Preview`")]
pub type Preview = sim::Preview;

#[deprecated(note = "moved to `engine_ops_rollout::sim::PreviewStep`")]
pub type PreviewStep = sim::PreviewStep;

#[deprecated(note = "moved to `engine_ops_rollout::sim::Simulator`")]
pub type Simulator = sim::Simulator;

#[deprecated(note = "moved to `engine_ops_rollout::sim::StepOutcome`")]
pub type StepOutcome = sim::StepOutcome;

#[deprecated(note = "moved to `engine_ops_rollout::sim::TrackView`")]
pub type TrackView = sim::TrackView;

#[deprecated(note = "moved to `engine_ops_rollout::sim::World`")]
pub type World = sim::World;

#[deprecated(note = "moved to `engine_ops_rollout::spec::BlueGreenStrategy`")]
pub type BlueGreenStrategy = spec::BlueGreenStrategy;

#[deprecated(note = "moved to `engine_ops_rollout::spec::CanaryStep`")]
pub type CanaryStep = spec::CanaryStep;

#[deprecated(note = "moved to `engine_ops_rollout::spec::CanaryStrategy`")]
pub type CanaryStrategy = spec::CanaryStrategy;

#[deprecated(note = "moved to `engine_ops_rollout::spec::CheckSpec`")]
pub type CheckSpec = spec::CheckSpec;

#[deprecated(note = "moved to `engine_ops_rollout::spec::DeadlineAction`")]
pub type DeadlineAction = spec::DeadlineAction;

#[deprecated(note = "moved to `engine_ops_rollout::spec::Fenceposts`")]
pub type Fenceposts = spec::Fenceposts;

#[deprecated(note = "moved to `engine_ops_rollout::spec::IntOrPercent`")]
pub type IntOrPercent = spec::IntOrPercent;

#[deprecated(note = "moved to `engine_ops_rollout::spec::Promotion`")]
pub type Promotion = spec::Promotion;

#[deprecated(note = "moved to `engine_ops_rollout::spec::RollingStrategy`")]
pub type RollingStrategy = spec::RollingStrategy;

#[deprecated(note = "moved to `engine_ops_rollout::spec::RolloutSpecBuilder`")]
pub type RolloutSpecBuilder = spec::RolloutSpecBuilder;

#[deprecated(note = "moved to `engine_ops_rollout::state::AdoptedTrack`")]
pub type AdoptedTrack = state::AdoptedTrack;

#[deprecated(note = "moved to `engine_ops_rollout::state::Progress`")]
pub type Progress = state::Progress;

#[deprecated(note = "moved to `engine_ops_rollout::state::ProgressReason`")]
pub type ProgressReason = state::ProgressReason;

#[deprecated(note = "moved to `engine_ops_rollout::state::StatusCounts`")]
pub type StatusCounts = state::StatusCounts;

#[deprecated(note = "moved to `engine_ops_rollout::state::SwitchRecord`")]
pub type SwitchRecord = state::SwitchRecord;

#[deprecated(note = "moved to `engine_ops_rollout::state::TrackRecord`")]
pub type TrackRecord = state::TrackRecord;

#[deprecated(note = "renamed `engine_ops_rollout::sim::Preview`")]
pub type Plan = sim::Preview;

#[deprecated(note = "renamed `engine_ops_rollout::sim::PreviewStep`")]
pub type PlanStep = sim::PreviewStep;

#[deprecated(note = "moved to `engine_ops_rollout::state::STATE_VERSION`")]
pub const STATE_VERSION: u32 = state::STATE_VERSION;

/// # Errors
///
/// As [`sim::preview`].
#[deprecated(note = "moved to `engine_ops_rollout::sim::preview`")]
pub fn preview(
    spec: &spec::RolloutSpec,
    state: &state::RolloutState,
    world: &sim::World,
) -> Result<sim::Preview, crate::error::Error> {
    sim::preview(spec, state, world)
}
