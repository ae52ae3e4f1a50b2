//! engine-ops-rollout: rolling, blue-green and canary rollouts as pure planners.

mod decision;
mod error;
mod math;
mod observation;
mod plan;
mod sim;
mod spec;
mod state;
mod time;

pub use decision::{
    Action, Condition, ConditionKind, ConditionStatus, Decision, Phase, PlannedAction,
};
pub use error::Error;
pub use observation::{
    CheckObs, CheckRun, CheckStatus, Command, Observation, TrackId, TrackObs, TrafficObs,
};
pub use plan::plan;
pub use sim::{CheckBehaviour, Plan, PlanStep, Simulator, StepOutcome, TrackView, World, preview};
pub use spec::{
    BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckSpec, DeadlineAction, Fenceposts,
    IntOrPercent, Promotion, RollingStrategy, RolloutSpec, RolloutSpecBuilder, Strategy,
};
pub use state::{
    Progress, ProgressReason, RolloutState, STATE_VERSION, Stage, StatusCounts, SwitchRecord,
    TrackRecord,
};
pub use time::Timestamp;
