//! The persisted state of one rollout ([`RolloutState`]) and what it
//! records: the [`Stage`], the tracks, the traffic switches and the
//! `Progressing` condition; [`RolloutState::adopt`] starts from tracks that
//! already exist.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::observation::{CheckRun, TrackId};
use crate::time::Timestamp;

/// Version of the serialised [`RolloutState`] layout written by this build.
pub const STATE_VERSION: u32 = 1;

/// Where a blue-green or canary rollout stands. Rolling updates stay in
/// [`Stage::Idle`] and are driven by replica counts alone, as the Deployment
/// controller is.
///
/// The stages, in the order a rollout visits them:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Nothing in flight: the stable track serves everything.
    #[default]
    Idle,
    /// Blue-green: the candidate colour is being brought up beside the live one,
    /// at its preview size, and the preview service points at it.
    Provisioning,
    /// Blue-green: the candidate is up; pre-promotion checks (smoke tests) run against it.
    PrePromotion,
    /// Blue-green: checks passed; waiting for the promotion timer or a `Promote`.
    AwaitingPromotion {
        /// When the wait began (the timer's origin).
        since: Timestamp,
    },
    /// Blue-green: the candidate is scaled to the full count; the switch waits for all of it to be available.
    ScalingUp,
    /// Blue-green: traffic was switched to the candidate; post-promotion checks run
    /// while the old colour stays at full size.
    PostPromotion,
    /// Blue-green: checks passed; the old colour is kept until `until`, still able to take traffic back.
    Draining {
        /// When the old colour is scaled to zero.
        until: Timestamp,
    },
    /// Canary: executing step `index` of the spec's steps.
    Step {
        /// Index into the steps.
        index: usize,
        /// When the step began (timed pauses count from here).
        since: Timestamp,
    },
    /// Canary: all steps passed; the canary is scaled to the full count and takes over.
    Promoting,
    /// Aborted: all traffic is back on the stable track; the candidate is scaled down after its delay.
    /// Stays here until `Retry` or a new template.
    Aborted,
}

/// What the planner remembers about one track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrackRecord {
    /// The track.
    pub id: TrackId,
    /// Its revision (`deployment.kubernetes.io/revision`).
    pub revision: u64,
    /// Its pod template.
    pub template: Arc<str>,
    /// When it is due to be scaled to zero.
    pub scale_down_at: Option<Timestamp>,
    /// Whether it has ever been observed (false: its creation may still be pending).
    pub observed: bool,
    /// Whether its deletion was requested.
    pub deleting: bool,
}

/// One traffic switch: what was live before and what became live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SwitchRecord {
    /// When the switch was decided.
    pub at: Timestamp,
    /// Track that was live before (if any).
    pub from: Option<TrackId>,
    /// Its revision.
    pub from_revision: Option<u64>,
    /// Track made live.
    pub to: TrackId,
    /// Its revision.
    pub to_revision: u64,
    /// Why.
    pub reason: String,
}

/// Why the progress clock stands where it does (the `Progressing` condition's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProgressReason {
    /// A new track was created.
    NewReplicaSetCreated,
    /// An existing track became the target.
    FoundNewReplicaSet,
    /// Counts moved forward.
    ReplicaSetUpdated,
    /// The rollout completed.
    NewReplicaSetAvailable,
    /// No progress within the deadline.
    ProgressDeadlineExceeded,
    /// Paused, or waiting at a gate: the deadline does not run.
    DeploymentPaused,
    /// Resumed: the deadline restarts from here.
    DeploymentResumed,
}

/// The `Progressing` condition as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Progress {
    /// Reason.
    pub reason: ProgressReason,
    /// When it was last updated (the deadline counts from here).
    pub last_update: Timestamp,
}

/// Status counts as of the previous decision (to detect progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusCounts {
    /// Σ pods that exist.
    pub replicas: u32,
    /// Pods of the target track.
    pub updated: u32,
    /// Σ ready pods.
    pub ready: u32,
    /// Σ available pods.
    pub available: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CheckRecord {
    pub(crate) run: CheckRun,
    pub(crate) started_at: Timestamp,
    pub(crate) stopped: bool,
}

/// The planner's memory of one rollout: serialisable, versioned, and the only
/// thing a tool must persist to resume after a crash.
///
/// Persist [`Decision::state`](crate::decision::Decision::state) **before** executing the
/// decision's actions: the planner is level-triggered, so actions lost in a crash
/// are emitted again from the state and the next observation.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{RolloutState, Stage};
///
/// let state = RolloutState::new();
/// assert_eq!(state.stage(), Stage::Idle);
/// assert!(state.tracks().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutState {
    pub(crate) version: u32,
    pub(crate) next_track: u64,
    pub(crate) tracks: Vec<TrackRecord>,
    pub(crate) strategy: Option<Cow<'static, str>>,
    pub(crate) spec_template: Option<Arc<str>>,
    pub(crate) target: Option<Arc<str>>,
    pub(crate) stable: Option<TrackId>,
    pub(crate) candidate: Option<TrackId>,
    pub(crate) stage: Stage,
    pub(crate) paused: bool,
    pub(crate) aborted: bool,
    pub(crate) attempt: u32,
    pub(crate) progress: Option<Progress>,
    pub(crate) last_status: StatusCounts,
    pub(crate) checks: Vec<CheckRecord>,
    /// A `Promote` arrived in a decision that ended before judging its gate
    /// (a replica-weighted canary resizing first): it waits for the gate.
    #[serde(default)]
    pub(crate) promote_pending: bool,
    pub(crate) switches: Vec<SwitchRecord>,
}

/// Switch records kept (oldest dropped first).
pub(crate) const SWITCH_HISTORY: usize = 32;

impl RolloutState {
    /// The state of a rollout that has deployed nothing yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            version: STATE_VERSION,
            next_track: 0,
            tracks: Vec::new(),
            strategy: None,
            spec_template: None,
            target: None,
            stable: None,
            candidate: None,
            stage: Stage::Idle,
            paused: false,
            aborted: false,
            attempt: 1,
            progress: None,
            last_status: StatusCounts {
                replicas: 0,
                updated: 0,
                ready: 0,
                available: 0,
            },
            checks: Vec::new(),
            promote_pending: false,
            switches: Vec::new(),
        }
    }

    /// Version of the layout this state was written with.
    #[must_use]
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// Known tracks, oldest first.
    #[must_use]
    pub fn tracks(&self) -> &[TrackRecord] {
        &self.tracks
    }

    /// The record of a track.
    #[must_use]
    pub fn track(&self, id: TrackId) -> Option<&TrackRecord> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// The track known to be good: traffic returns here on abort.
    #[must_use]
    pub const fn stable(&self) -> Option<TrackId> {
        self.stable
    }

    /// The blue-green or canary candidate in flight.
    #[must_use]
    pub const fn candidate(&self) -> Option<TrackId> {
        self.candidate
    }

    /// The template being rolled towards (the spec's, or an undo's).
    #[must_use]
    pub fn target_template(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// Current stage.
    #[must_use]
    pub const fn stage(&self) -> Stage {
        self.stage
    }

    /// Whether an operator paused the rollout.
    #[must_use]
    pub const fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether the rollout was aborted (until `Retry` or a new template).
    #[must_use]
    pub const fn is_aborted(&self) -> bool {
        self.aborted
    }

    /// The persisted `Progressing` condition.
    #[must_use]
    pub const fn progress(&self) -> Option<Progress> {
        self.progress
    }

    /// Every traffic switch, oldest first (the last 32).
    #[must_use]
    pub fn switches(&self) -> &[SwitchRecord] {
        &self.switches
    }

    /// Revisions still recorded (live tracks), ascending.
    #[must_use]
    pub fn revisions(&self) -> Vec<u64> {
        let mut r: Vec<u64> = self
            .tracks
            .iter()
            .filter(|t| !t.deleting)
            .map(|t| t.revision)
            .collect();
        r.sort_unstable();
        r
    }

    /// The record of a track, to change it.
    pub(crate) fn track_mut(&mut self, id: TrackId) -> Option<&mut TrackRecord> {
        self.tracks.iter_mut().find(|t| t.id == id)
    }

    /// A track's revision (0 for a track not recorded).
    pub(crate) fn revision_of(&self, id: TrackId) -> u64 {
        self.track(id).map_or(0, |r| r.revision)
    }

    /// A track's template.
    pub(crate) fn template_of(&self, id: TrackId) -> Option<&str> {
        self.track(id).map(|r| &*r.template)
    }

    /// The oldest live track holding `template` (the Deployment controller's
    /// `FindNewReplicaSet`).
    pub(crate) fn track_with_template(&self, template: &str) -> Option<TrackId> {
        self.tracks
            .iter()
            .find(|t| !t.deleting && &*t.template == template)
            .map(|t| t.id)
    }

    /// The highest revision of a live track (0 when there is none).
    pub(crate) fn max_revision(&self) -> u64 {
        self.tracks
            .iter()
            .filter(|t| !t.deleting)
            .map(|t| t.revision)
            .max()
            .unwrap_or(0)
    }

    /// The template being rolled towards: the target (the spec's, or an
    /// undo's or abort's), or else the spec's.
    pub(crate) fn target_or(&self, spec: &crate::spec::RolloutSpec) -> Arc<str> {
        self.target
            .clone()
            .unwrap_or_else(|| Arc::from(spec.template()))
    }

    /// Records a new track for `template` with the next id and revision
    /// max + 1; nothing creates it yet.
    pub(crate) fn add_track(&mut self, template: &str) -> TrackId {
        let id = TrackId(self.next_track);
        self.next_track += 1;
        let revision = self.max_revision() + 1;
        self.tracks.push(TrackRecord {
            id,
            revision,
            template: Arc::from(template),
            scale_down_at: None,
            observed: false,
            deleting: false,
        });
        id
    }

    pub(crate) fn check_version(&self) -> Result<(), Error> {
        if self.version == STATE_VERSION {
            Ok(())
        } else {
            Err(Error::UnsupportedStateVersion {
                found: self.version,
                supported: STATE_VERSION,
            })
        }
    }
}

/// A track that already exists outside the planner (a ReplicaSet found in a
/// cluster, or one in a recorded world), for [`RolloutState::adopt`].
///
/// Its replica annotations are not part of it: the planner reads them from
/// each observation ([`TrackObs::desired_replicas`](crate::observation::TrackObs::desired_replicas)).
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{TrackId, state::AdoptedTrack};
///
/// // A ReplicaSet with the revision 1 annotation.
/// let rs = AdoptedTrack::new(TrackId(0), 1, "app:v1");
/// assert_eq!(rs.revision, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdoptedTrack {
    /// Its id (keep ids in creation order: older tracks get lower ids).
    pub id: TrackId,
    /// Its revision.
    pub revision: u64,
    /// Its template.
    pub template: String,
}

impl AdoptedTrack {
    /// A track with its revision and template.
    #[must_use]
    pub fn new(id: TrackId, revision: u64, template: impl Into<String>) -> Self {
        Self {
            id,
            revision,
            template: template.into(),
        }
    }
}

impl RolloutState {
    /// The state of a rollout whose tracks already exist and whose current
    /// template is `spec`'s: the track holding that template (the newest, if
    /// several) becomes the stable one. Use it to plan for a Deployment found in
    /// a cluster, or to replay a recorded world through [`plan()`](crate::plan::plan()).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_rollout::{plan, Observation, RolloutSpec, RolloutState, Timestamp, TrackId, observation::TrackObs, state::AdoptedTrack};
    ///
    /// let v1 = RolloutSpec::builder("app:v1", 10).build()?;
    /// let state = RolloutState::adopt(&v1, [AdoptedTrack::new(TrackId(7), 3, "app:v1")]);
    /// let obs = Observation::new(Timestamp::ZERO)
    ///     .with_track(TrackObs::new(TrackId(7), 10, 10, 10).with_annotations(10, 13));
    /// let d = plan(&v1.with_template("app:v2")?, &state, &obs)?;
    /// assert!(d.actions.iter().any(|a| a.reason.contains("create revision 4")));
    /// # Ok::<(), engine_ops_rollout::Error>(())
    /// ```
    #[must_use]
    pub fn adopt(
        spec: &crate::spec::RolloutSpec,
        tracks: impl IntoIterator<Item = AdoptedTrack>,
    ) -> Self {
        let mut state = Self::new();
        for t in tracks {
            state.next_track = state.next_track.max(t.id.0 + 1);
            state.tracks.push(TrackRecord {
                id: t.id,
                revision: t.revision,
                template: Arc::from(t.template),
                scale_down_at: None,
                observed: true,
                deleting: false,
            });
        }
        state.tracks.sort_by_key(|t| t.id);
        let template: Arc<str> = Arc::from(spec.template());
        state.stable = state
            .tracks
            .iter()
            .rev()
            .find(|t| t.template == template)
            .map(|t| t.id);
        state.spec_template = Some(template.clone());
        state.target = Some(template);
        state
    }
}

impl Default for RolloutState {
    fn default() -> Self {
        Self::new()
    }
}
