//! A simulated cluster, a driver that runs the planner against it, and
//! [`preview()`]: what a rollout will do, shown before it runs.
//!
//! - [`World`] is the cluster: tracks of pods that become ready after a
//!   delay (and available `min_ready` later), the active and preview
//!   services, a traffic router and checks, with failures to inject (pods
//!   never ready, failing or hanging checks, a crash of the tool between two
//!   actions).
//! - [`Simulator`] runs the tool's loop against it (observe, plan, persist,
//!   execute, let time pass), one [`step`](Simulator::step) at a time or to
//!   the end.
//! - [`Preview`] is what a run did; it prints as a table.

mod driver;
mod preview;
mod world;

pub use self::driver::{Simulator, StepOutcome, preview};
pub use self::preview::{Preview, PreviewStep};
pub use self::world::{CheckBehaviour, TrackView, World};
