//! What the caller reports to the planner: one [`Observation`] per
//! decision, with a [`TrackObs`] per track, the [`TrafficObs`], a
//! [`CheckObs`] per check run and the operator's [`Command`]s.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Identity of a track: one ReplicaSet (or Deployment) holding one pod template.
///
/// Ids are assigned by the planner in creation order, so a lower id is an older
/// track (the controller's `creationTimestamp` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackId(pub u64);

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Identity of one run of a check: its name, the revision it checks and the attempt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckRun {
    /// The check's name from the spec.
    pub name: String,
    /// The revision under test.
    pub revision: u64,
    /// 1 for the first attempt, incremented by each `Retry`.
    pub attempt: u32,
}

impl CheckRun {
    /// A run key.
    #[must_use]
    pub fn new(name: impl Into<String>, revision: u64, attempt: u32) -> Self {
        Self {
            name: name.into(),
            revision,
            attempt,
        }
    }
}

impl fmt::Display for CheckRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@r{}#{}", self.name, self.revision, self.attempt)
    }
}

/// Observed replica counts of one track (a ReplicaSet's spec and status).
///
/// # Examples
///
/// A ReplicaSet asked for 7 pods whose status was written before that change
/// (`status.observedGeneration < metadata.generation`) and still counts 8:
///
/// ```
/// use engine_ops_rollout::{TrackId, observation::TrackObs};
///
/// let rs = TrackObs::new(TrackId(0), 7, 8, 8) // spec.replicas, readyReplicas, availableReplicas
///     .with_replicas(8) // status.replicas
///     .with_status_stale(true);
/// assert!(rs.available > rs.spec_replicas && rs.status_stale);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrackObs {
    /// The track.
    pub track: TrackId,
    /// `spec.replicas`: the size last asked for.
    pub spec_replicas: u32,
    /// `status.replicas`: pods that exist.
    pub replicas: u32,
    /// Pods that are ready.
    pub ready: u32,
    /// Pods ready for at least `min_ready`.
    pub available: u32,
    /// The status does not reflect the latest spec yet (a ReplicaSet's
    /// `status.observedGeneration` below its `metadata.generation`). Such a
    /// track is never deleted on the strength of its zero counts, as the
    /// Deployment controller's `cleanupDeployment` refuses.
    #[serde(default)]
    pub status_stale: bool,
    /// The `deployment.kubernetes.io/desired-replicas` annotation: the
    /// rollout's replicas when the track was last scaled (`None` if absent).
    /// A track whose annotation differs from the spec's replicas marks a
    /// scaling event, as it does for the Deployment controller; the planner
    /// reads it here, never from its own memory, so a resize lost in a crash
    /// is emitted again.
    #[serde(default)]
    pub desired_replicas: Option<u32>,
    /// The `deployment.kubernetes.io/max-replicas` annotation: replicas +
    /// maxSurge when the track was last scaled (`None` if absent); the base
    /// of proportional scaling.
    #[serde(default)]
    pub max_replicas: Option<u32>,
    /// The track's `spec.minReadySeconds` (`None` if not reported). When it
    /// differs from the spec's, the planner writes the spec's onto the
    /// current track ([`Action::SetMinReady`](crate::decision::Action::SetMinReady)).
    #[serde(default)]
    pub min_ready: Option<Duration>,
    /// Pods that are terminating (`status.terminatingReplicas`, reported by
    /// Kubernetes 1.35 and later; 0 if unknown). A `Recreate` rollout waits
    /// until no old pod is left, terminating ones included.
    #[serde(default)]
    pub terminating: u32,
}

impl TrackObs {
    /// A track whose pods all exist (`replicas == spec_replicas`).
    #[must_use]
    pub const fn new(track: TrackId, spec_replicas: u32, ready: u32, available: u32) -> Self {
        Self {
            track,
            spec_replicas,
            replicas: spec_replicas,
            ready,
            available,
            status_stale: false,
            desired_replicas: None,
            max_replicas: None,
            min_ready: None,
            terminating: 0,
        }
    }

    /// Sets the track's `minReadySeconds`.
    #[must_use]
    pub const fn with_min_ready(mut self, min_ready: Duration) -> Self {
        self.min_ready = Some(min_ready);
        self
    }

    /// Sets the pods that are terminating.
    #[must_use]
    pub const fn with_terminating(mut self, terminating: u32) -> Self {
        self.terminating = terminating;
        self
    }

    /// Sets the desired-replicas and max-replicas annotations the track carries.
    #[must_use]
    pub const fn with_annotations(mut self, desired_replicas: u32, max_replicas: u32) -> Self {
        self.desired_replicas = Some(desired_replicas);
        self.max_replicas = Some(max_replicas);
        self
    }

    /// Sets `status.replicas` (pods that exist, e.g. while some still terminate).
    #[must_use]
    pub const fn with_replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// Marks the status as older than the spec (`observedGeneration < generation`).
    #[must_use]
    pub const fn with_status_stale(mut self, stale: bool) -> Self {
        self.status_stale = stale;
        self
    }
}

/// Where traffic goes, as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrafficObs {
    /// Track selected by the active (stable) service.
    pub active: Option<TrackId>,
    /// Track selected by the preview service.
    pub preview: Option<TrackId>,
    /// Track receiving the canary weight.
    pub canary: Option<TrackId>,
    /// Percentage of traffic the router sends to `canary`.
    pub canary_weight: u32,
}

/// Status of one check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// Started, no verdict yet.
    Running,
    /// Passed.
    Passed,
    /// Failed.
    Failed,
    /// Neither passed nor failed; waits for an operator.
    Inconclusive,
}

/// Observed status of a check run, with its count of failed measurements.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckObs {
    /// The run.
    pub run: CheckRun,
    /// Its status.
    pub status: CheckStatus,
    /// Failed measurements so far (compared with the check's failure threshold).
    pub failures: u32,
}

impl CheckObs {
    /// A check observation.
    #[must_use]
    pub const fn new(run: CheckRun, status: CheckStatus, failures: u32) -> Self {
        Self {
            run,
            status,
            failures,
        }
    }
}

/// An operator command, delivered once in the observation that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Pass a manual gate (manual promotion, indefinite pause, inconclusive analysis).
    Promote,
    /// Abort the rollout: traffic and capacity go back to the stable revision.
    Abort,
    /// After an abort: try the same template again (check attempts are renumbered).
    Retry,
    /// Stop advancing. A rolling or Recreate update still applies replica
    /// changes proportionally (the Deployment controller's `sync`); a
    /// replica-weighted canary resizes nothing until `Resume`, as Argo
    /// Rollouts halts while paused.
    Pause,
    /// Continue after `Pause`; the progress deadline restarts.
    Resume,
    /// Roll to an older revision: `None` is the previous one.
    Undo {
        /// The revision to return to.
        to_revision: Option<u64>,
    },
}

/// Everything the planner learns about the world in one decision.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{Command, Observation, Timestamp, TrackId, observation::TrackObs};
///
/// let obs = Observation::new(Timestamp::from_secs(5))
///     .with_track(TrackObs::new(TrackId(0), 10, 10, 10))
///     .with_command(Command::Pause);
/// assert_eq!(obs.tracks.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Observation {
    /// Current time.
    pub now: Timestamp,
    /// Every existing track of this rollout.
    pub tracks: Vec<TrackObs>,
    /// Traffic targets.
    pub traffic: TrafficObs,
    /// Status of started check runs.
    pub checks: Vec<CheckObs>,
    /// Operator commands received since the last decision.
    pub commands: Vec<Command>,
}

impl Observation {
    /// An observation at `now` with no tracks, traffic, checks or commands.
    #[must_use]
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            ..Self::default()
        }
    }

    /// Adds a track.
    #[must_use]
    pub fn with_track(mut self, track: TrackObs) -> Self {
        self.tracks.push(track);
        self
    }

    /// Sets the traffic targets.
    #[must_use]
    pub const fn with_traffic(mut self, traffic: TrafficObs) -> Self {
        self.traffic = traffic;
        self
    }

    /// Adds a check status.
    #[must_use]
    pub fn with_check(mut self, check: CheckObs) -> Self {
        self.checks.push(check);
        self
    }

    /// Adds a command.
    #[must_use]
    pub fn with_command(mut self, command: Command) -> Self {
        self.commands.push(command);
        self
    }

    pub(crate) fn track(&self, id: TrackId) -> Option<&TrackObs> {
        self.tracks.iter().find(|t| t.track == id)
    }

    pub(crate) fn check(&self, run: &CheckRun) -> Option<&CheckObs> {
        self.checks.iter().find(|c| &c.run == run)
    }
}
