//! What the planner returns: a [`Decision`] with the new state, the
//! [`Action`]s to carry out with their reasons ([`PlannedAction`]), a
//! [`Phase`] and [`Condition`]s.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observation::{CheckRun, TrackId};
use crate::state::RolloutState;
use crate::time::Timestamp;

/// An absolute, idempotent instruction for the caller to carry out.
///
/// Applying an action twice has the same effect as applying it once; actions
/// never say "add one", always "set to N".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Create the track (if it does not exist yet) with this revision, template and size.
    ///
    /// Emitted again until the track is observed: a tool whose ReplicaSet
    /// name (from a template hash) collides with another template's derives a
    /// new name and creates it then, as the Deployment controller does with
    /// `collisionCount`.
    CreateTrack {
        /// New track id.
        track: TrackId,
        /// Its revision number.
        revision: u64,
        /// Its pod template.
        template: String,
        /// Its initial size.
        replicas: u32,
        /// `minReadySeconds` to copy onto it.
        min_ready: Duration,
        /// The `deployment.kubernetes.io/desired-replicas` annotation to write on it.
        desired_replicas: u32,
        /// The `deployment.kubernetes.io/max-replicas` annotation to write on it.
        max_replicas: u32,
    },
    /// Set the track's desired size and, in the same write, its
    /// desired-replicas and max-replicas annotations (the size may be
    /// unchanged when only the annotations are stale, as after a change of
    /// the rollout's replicas).
    ScaleTrack {
        /// The track.
        track: TrackId,
        /// Absolute size.
        replicas: u32,
        /// The `deployment.kubernetes.io/desired-replicas` annotation: the rollout's replicas.
        desired_replicas: u32,
        /// The `deployment.kubernetes.io/max-replicas` annotation: replicas + maxSurge.
        max_replicas: u32,
    },
    /// Set an existing track's `minReadySeconds` (only that field of the
    /// spec changed: the Deployment controller updates the current
    /// ReplicaSet instead of creating a new one).
    SetMinReady {
        /// The track.
        track: TrackId,
        /// Its new `minReadySeconds`.
        min_ready: Duration,
    },
    /// Record a new revision number on an existing track (it became current again, e.g. after undo).
    SetRevision {
        /// The track.
        track: TrackId,
        /// Its new revision.
        revision: u64,
    },
    /// Point the active (stable) service at the track.
    SetActive {
        /// The track.
        track: TrackId,
    },
    /// Point the preview service at the track, or at nothing.
    SetPreview {
        /// The track, or `None`.
        track: Option<TrackId>,
    },
    /// Send `weight` percent of traffic to the canary track.
    SetCanaryWeight {
        /// The canary track.
        track: TrackId,
        /// Percentage, 0–100.
        weight: u32,
    },
    /// Start a check run against a track.
    StartCheck {
        /// The run.
        run: CheckRun,
        /// The track under test.
        track: TrackId,
    },
    /// Stop a check run that is no longer needed.
    StopCheck {
        /// The run.
        run: CheckRun,
    },
    /// Record that the track will be scaled to zero at `at` (informational; the planner scales it then).
    ScheduleScaleDown {
        /// The track.
        track: TrackId,
        /// When.
        at: Timestamp,
    },
    /// Delete a track (an old revision beyond the history limit).
    DeleteTrack {
        /// The track.
        track: TrackId,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateTrack {
                track,
                revision,
                template,
                replicas,
                ..
            } => {
                write!(f, "create {track} rev {revision} `{template}` x{replicas}")
            }
            Self::ScaleTrack {
                track, replicas, ..
            } => write!(f, "scale {track} to {replicas}"),
            Self::SetRevision { track, revision } => write!(f, "set {track} revision {revision}"),
            Self::SetMinReady { track, min_ready } => {
                write!(f, "set {track} minReadySeconds {}", min_ready.as_secs_f64())
            }
            Self::SetActive { track } => write!(f, "switch active to {track}"),
            Self::SetPreview { track: Some(t) } => write!(f, "point preview at {t}"),
            Self::SetPreview { track: None } => write!(f, "clear preview"),
            Self::SetCanaryWeight { track, weight } => write!(f, "weight {weight}% to {track}"),
            Self::StartCheck { run, track } => write!(f, "start check {run} on {track}"),
            Self::StopCheck { run } => write!(f, "stop check {run}"),
            Self::ScheduleScaleDown { track, at } => {
                write!(f, "schedule {track} scale-down at {at}")
            }
            Self::DeleteTrack { track } => write!(f, "delete {track}"),
        }
    }
}

/// An action with the human-readable reason the planner chose it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannedAction {
    /// The action.
    pub action: Action,
    /// Why.
    pub reason: String,
}

/// Coarse phase of a rollout (Argo Rollouts' vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Phase {
    /// The current template is fully rolled out and serving.
    Healthy,
    /// Moving towards the current template.
    Progressing,
    /// Paused by an operator, or waiting at a manual gate.
    Paused,
    /// Aborted, or past its progress deadline.
    Degraded,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Paused => "Paused",
            Self::Degraded => "Degraded",
        })
    }
}

/// Condition kinds, after the Deployment and Rollout status conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConditionKind {
    /// Whether the rollout makes progress (absent when there is no deadline).
    Progressing,
    /// Whether at least `replicas - maxUnavailable` pods are available.
    Available,
    /// Whether the rollout was aborted.
    Aborted,
    /// Whether the rollout waits for an operator.
    Paused,
}

/// Truth value of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConditionStatus {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// Not known (e.g. Progressing while paused).
    Unknown,
}

/// A status condition with a machine-readable reason and a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Condition {
    /// Kind.
    pub kind: ConditionKind,
    /// Status.
    pub status: ConditionStatus,
    /// CamelCase reason, e.g. `ProgressDeadlineExceeded`.
    pub reason: Cow<'static, str>,
    /// Human-readable message.
    pub message: Cow<'static, str>,
}

/// The planner's answer to one observation.
///
/// # Examples
///
/// A rolling update waiting for its new pods: no action, and the decision says why.
///
/// ```
/// use engine_ops_rollout::{plan, Observation, Phase, RolloutSpec, RolloutState, Timestamp, TrackId, decision::{ConditionKind, ConditionStatus}, observation::TrackObs, state::AdoptedTrack};
///
/// let v2 = RolloutSpec::builder("app:v2", 10).build()?;
/// let state = RolloutState::adopt(&v2, [
///     AdoptedTrack::new(TrackId(0), 1, "app:v1"),
///     AdoptedTrack::new(TrackId(1), 2, "app:v2"),
/// ]);
/// // Old 8 available, new 5 asked for and none available yet: maxScaledDown is 0.
/// // Both carry the annotations of 10 replicas with maxSurge 3.
/// let obs = Observation::new(Timestamp::from_secs(30))
///     .with_track(TrackObs::new(TrackId(0), 8, 8, 8).with_annotations(10, 13))
///     .with_track(TrackObs::new(TrackId(1), 5, 0, 0).with_annotations(10, 13));
/// let d = plan(&v2, &state, &obs)?;
/// assert!(d.actions.is_empty());
/// assert_eq!(d.phase, Phase::Progressing);
/// assert!(d.explain.iter().any(|l| l.starts_with("waiting: 5 of revision 2 unavailable")));
/// let available = d.condition(ConditionKind::Available).expect("always present");
/// assert_eq!(available.status, ConditionStatus::True); // 8 >= 10 - 2
/// assert!(d.requeue_after.is_some()); // the progress deadline is watched
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Decision {
    /// State to persist **before** executing the actions.
    pub state: RolloutState,
    /// Actions to execute in order.
    pub actions: Vec<PlannedAction>,
    /// Phase after this decision.
    pub phase: Phase,
    /// Conditions after this decision.
    pub conditions: Vec<Condition>,
    /// Plan again after this long even if nothing is observed to change.
    pub requeue_after: Option<Duration>,
    /// Why the planner did (or did not do) what it did.
    pub explain: Vec<String>,
}

impl Decision {
    /// The condition of a kind, if present.
    #[must_use]
    pub fn condition(&self, kind: ConditionKind) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}
