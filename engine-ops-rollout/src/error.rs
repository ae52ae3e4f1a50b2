//! The one error type of this crate.

use crate::observation::TrackId;

/// Errors returned by spec construction, [`plan()`](crate::plan::plan()) and the
/// [`Simulator`](crate::sim::Simulator).
///
/// Every message names the thing at fault and what to do about it.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{Error, RolloutSpec, Strategy, spec::{IntOrPercent, RollingStrategy}};
///
/// let err = RolloutSpec::builder("app:v1", 4)
///     .strategy(Strategy::Rolling(RollingStrategy::new(
///         IntOrPercent::Percent(150), // maxSurge above 100 % is fine
///         IntOrPercent::Percent(101),
///     )))
///     .build()
///     .expect_err("maxUnavailable 101 % is refused");
/// assert!(matches!(&err, Error::InvalidSpec { field, .. } if field == "strategy.rolling.max_unavailable"));
/// assert_eq!(
///     err.to_string(),
///     "invalid rollout spec: `strategy.rolling.max_unavailable` (101%) must not be greater than 100% \
///      (as the API server refuses `spec.strategy.rollingUpdate.maxUnavailable`); use at most 100% or an absolute count"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A spec field holds a value the planner refuses.
    #[error("invalid rollout spec: `{field}` {reason}")]
    InvalidSpec {
        /// Path of the offending field, e.g. `strategy.rolling.max_surge`.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A value such as `"25%"` could not be parsed.
    #[error("cannot parse `{input}` as a count or a percentage: {reason}")]
    Parse {
        /// The text that was given.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// An undo named a revision that is not in the history.
    #[error(
        "unable to find revision {revision} in the rollout history; pick one of the recorded revisions"
    )]
    UnknownRevision {
        /// The requested revision.
        revision: u64,
    },
    /// An undo to the previous revision was asked for, but there is only one.
    #[error("no previous revision to undo to; the history holds a single revision")]
    NoPreviousRevision,
    /// Undo was requested while the rollout is paused (as `kubectl rollout undo` refuses).
    #[error("cannot undo a paused rollout; resume it first")]
    UndoWhilePaused,
    /// The observation reports a track the state does not know.
    #[error(
        "the observation reports track {track}, which this rollout state never created; observe only the tracks of this rollout or restore its state"
    )]
    UnknownTrack {
        /// The unknown track.
        track: TrackId,
    },
    /// The observation reports the same track twice.
    #[error("the observation reports track {track} twice; report each track once")]
    DuplicateTrack {
        /// The repeated track.
        track: TrackId,
    },
    /// A persisted state was written by an incompatible version of this crate.
    #[error(
        "rollout state version {found} is not supported (this build reads version {supported}); migrate or discard the persisted state"
    )]
    UnsupportedStateVersion {
        /// Version found in the state.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The simulator did not settle within its decision budget.
    #[error(
        "the simulation did not settle within {decisions} decisions; raise the limit or look for a rollout that cannot progress"
    )]
    SimulationLimit {
        /// Decisions made before giving up.
        decisions: u64,
    },
    /// A recording of `kubectl` watch events cannot be replayed.
    #[error(
        "cannot replay the recording at event {event}: {reason}; record it with `kubectl get deploy NAME -w -o json --output-watch-events` and `kubectl get rs -w -o json --output-watch-events`, or with tools/k8s-testenv/record"
    )]
    InvalidRecording {
        /// Index of the offending event (or JSON value) in the text.
        event: usize,
        /// What is wrong.
        reason: String,
    },
    /// The simulator was asked to apply an action to a track it does not have.
    #[error(
        "the simulated cluster has no track {track}; create it before scaling or switching to it"
    )]
    SimulatedTrackMissing {
        /// The missing track.
        track: TrackId,
    },
}
