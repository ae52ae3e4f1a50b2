//! The simulated cluster: tracks of pods that become ready after a delay,
//! services, a traffic router and checks, with failure injection.

use std::time::Duration;

use crate::decision::Action;
use crate::error::Error;
use crate::observation::{
    CheckObs, CheckRun, CheckStatus, Observation, TrackId, TrackObs, TrafficObs,
};
use crate::time::Timestamp;

/// How a simulated check behaves once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckBehaviour {
    /// Passes after the world's check duration.
    Pass,
    /// Fails after the world's check duration.
    Fail,
    /// Is inconclusive after the world's check duration.
    Inconclusive,
    /// Keeps running and records one failed measurement every interval.
    FailEvery(Duration),
    /// Runs forever without a verdict.
    Hang,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cohort {
    ready_at: Option<Timestamp>,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SimTrack {
    id: TrackId,
    revision: u64,
    template: String,
    min_ready: Duration,
    spec: u32,
    cohorts: Vec<Cohort>,
    scale_down_at: Option<Timestamp>,
    /// The desired-replicas and max-replicas annotations last written.
    annotations: (u32, u32),
}

impl SimTrack {
    fn counts(&self, now: Timestamp) -> (u32, u32, u32) {
        let (mut replicas, mut ready, mut available) = (0, 0, 0);
        for c in &self.cohorts {
            replicas += c.count;
            if let Some(r) = c.ready_at {
                if r <= now {
                    ready += c.count;
                }
                if r + self.min_ready <= now {
                    available += c.count;
                }
            }
        }
        (replicas, ready, available)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SimCheck {
    run: CheckRun,
    template: String,
    started: Timestamp,
    stopped: bool,
}

/// What one track of the simulated cluster looks like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TrackView {
    /// The track.
    pub track: TrackId,
    /// Its revision.
    pub revision: u64,
    /// Its template.
    pub template: String,
    /// Desired size.
    pub spec: u32,
    /// Ready pods.
    pub ready: u32,
    /// Available pods.
    pub available: u32,
}

/// A fake cluster: tracks of pods that become ready after a delay (and
/// available `min_ready` later), services, a traffic router and checks, with
/// failure injection.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::sim::{CheckBehaviour, World};
///
/// let world = World::new()
///     .ready_after(Duration::from_secs(10))
///     .pods_never_ready("app:broken")
///     .check("smoke", CheckBehaviour::Fail)
///     .crash_after_action(3);
/// assert!(world.tracks().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    now: Timestamp,
    tracks: Vec<SimTrack>,
    traffic: TrafficObs,
    checks: Vec<SimCheck>,
    ready_after: Duration,
    check_duration: Duration,
    never_ready: Vec<String>,
    behaviours: Vec<(String, Option<String>, CheckBehaviour)>,
    crash_after: Vec<u64>,
    applied: u64,
}

impl World {
    /// An empty cluster at `Timestamp::ZERO`: pods ready 5 s after creation,
    /// checks decide after 30 s and pass.
    #[must_use]
    pub fn new() -> Self {
        Self {
            now: Timestamp::ZERO,
            tracks: Vec::new(),
            traffic: TrafficObs::default(),
            checks: Vec::new(),
            ready_after: Duration::from_secs(5),
            check_duration: Duration::from_secs(30),
            never_ready: Vec::new(),
            behaviours: Vec::new(),
            crash_after: Vec::new(),
            applied: 0,
        }
    }

    /// Sets how long a new pod takes to become ready.
    #[must_use]
    pub const fn ready_after(mut self, d: Duration) -> Self {
        self.ready_after = d;
        self
    }

    /// Sets how long a check takes to reach its verdict.
    #[must_use]
    pub const fn check_duration(mut self, d: Duration) -> Self {
        self.check_duration = d;
        self
    }

    /// Pods of this template never become ready.
    #[must_use]
    pub fn pods_never_ready(mut self, template: impl Into<String>) -> Self {
        self.never_ready.push(template.into());
        self
    }

    /// Every run of the named check behaves like this.
    #[must_use]
    pub fn check(mut self, name: impl Into<String>, behaviour: CheckBehaviour) -> Self {
        self.behaviours.push((name.into(), None, behaviour));
        self
    }

    /// Runs of the named check against `template` behave like this (takes precedence).
    #[must_use]
    pub fn check_for(
        mut self,
        name: impl Into<String>,
        template: impl Into<String>,
        behaviour: CheckBehaviour,
    ) -> Self {
        self.behaviours
            .insert(0, (name.into(), Some(template.into()), behaviour));
        self
    }

    /// The tool crashes right after applying its `k`-th action (counted from 1
    /// over the world's life): the rest of that decision's actions are lost and
    /// the tool resumes from its persisted state.
    #[must_use]
    pub fn crash_after_action(mut self, k: u64) -> Self {
        self.crash_after.push(k);
        self
    }

    /// Current simulated time.
    #[must_use]
    pub const fn now(&self) -> Timestamp {
        self.now
    }

    /// Actions applied so far.
    #[must_use]
    pub const fn actions_applied(&self) -> u64 {
        self.applied
    }

    /// Moves the clock forward (never backward).
    pub fn advance_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    /// Tracks, oldest first.
    #[must_use]
    pub fn tracks(&self) -> Vec<TrackView> {
        self.tracks
            .iter()
            .map(|t| {
                let (_, ready, available) = t.counts(self.now);
                TrackView {
                    track: t.id,
                    revision: t.revision,
                    template: t.template.clone(),
                    spec: t.spec,
                    ready,
                    available,
                }
            })
            .collect()
    }

    /// Traffic targets.
    #[must_use]
    pub const fn traffic(&self) -> TrafficObs {
        self.traffic
    }

    /// Where each track is due to be scaled down, as announced by the planner.
    #[must_use]
    pub fn scheduled_scale_downs(&self) -> Vec<(TrackId, Timestamp)> {
        self.tracks
            .iter()
            .filter_map(|t| t.scale_down_at.map(|at| (t.id, at)))
            .collect()
    }

    fn behaviour(&self, run: &CheckRun, template: &str) -> CheckBehaviour {
        self.behaviours
            .iter()
            .find(|(n, t, _)| *n == run.name && t.as_deref().is_none_or(|t| t == template))
            .map_or(CheckBehaviour::Pass, |(_, _, b)| *b)
    }

    /// The observation the planner would receive now (without commands).
    #[must_use]
    pub fn observe(&self) -> Observation {
        let mut obs = Observation::new(self.now).with_traffic(self.traffic);
        for t in &self.tracks {
            let (replicas, ready, available) = t.counts(self.now);
            let (desired, max) = t.annotations;
            obs = obs.with_track(
                TrackObs::new(t.id, t.spec, ready, available)
                    .with_replicas(replicas)
                    .with_annotations(desired, max)
                    .with_min_ready(t.min_ready),
            );
        }
        for c in self.checks.iter().filter(|c| !c.stopped) {
            let elapsed = self.now.saturating_since(c.started);
            let done = elapsed >= self.check_duration;
            let (status, failures) = match self.behaviour(&c.run, &c.template) {
                CheckBehaviour::Pass if done => (CheckStatus::Passed, 0),
                CheckBehaviour::Fail if done => (CheckStatus::Failed, 1),
                CheckBehaviour::Inconclusive if done => (CheckStatus::Inconclusive, 0),
                CheckBehaviour::FailEvery(d) if !d.is_zero() => {
                    let n = elapsed.as_millis() / d.as_millis().max(1);
                    (CheckStatus::Running, u32::try_from(n).unwrap_or(u32::MAX))
                }
                _ => (CheckStatus::Running, 0),
            };
            obs = obs.with_check(CheckObs::new(c.run.clone(), status, failures));
        }
        obs
    }

    /// The next time something observable changes by itself, if ever.
    #[must_use]
    pub fn next_event(&self) -> Option<Timestamp> {
        let now = self.now;
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for t in &self.tracks {
            for c in &t.cohorts {
                if let Some(r) = c.ready_at {
                    consider(r);
                    consider(r + t.min_ready);
                }
            }
        }
        for c in self.checks.iter().filter(|c| !c.stopped) {
            match self.behaviour(&c.run, &c.template) {
                CheckBehaviour::Hang => {}
                CheckBehaviour::FailEvery(d) if !d.is_zero() => {
                    let elapsed = now.saturating_since(c.started).as_millis();
                    let step = d.as_millis().max(1);
                    let k = elapsed / step + 1;
                    let ms = u64::try_from(k * step).unwrap_or(u64::MAX);
                    consider(c.started + Duration::from_millis(ms));
                }
                _ => consider(c.started + self.check_duration),
            }
        }
        next
    }

    /// Whether the tool crashes right after the action just applied
    /// ([`crash_after_action`](Self::crash_after_action)).
    pub(super) fn crashes_now(&self) -> bool {
        self.crash_after.contains(&self.applied)
    }

    fn track_mut(&mut self, id: TrackId) -> Result<&mut SimTrack, Error> {
        self.tracks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(Error::SimulatedTrackMissing { track: id })
    }

    fn resize(&mut self, id: TrackId, replicas: u32) -> Result<(), Error> {
        let now = self.now;
        let ready_after = self.ready_after;
        let Self {
            tracks,
            never_ready,
            ..
        } = self;
        let t = tracks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(Error::SimulatedTrackMissing { track: id })?;
        let have: u32 = t.cohorts.iter().map(|c| c.count).sum();
        if replicas > have {
            let ready_at = (!never_ready.contains(&t.template)).then(|| now + ready_after);
            t.cohorts.push(Cohort {
                ready_at,
                count: replicas - have,
            });
        } else if replicas < have {
            // The ReplicaSet controller deletes pods that are not ready first, newest first.
            t.cohorts.sort_by_key(|c| {
                std::cmp::Reverse(c.ready_at.map_or(u64::MAX, Timestamp::as_millis))
            });
            let mut remove = have - replicas;
            for c in &mut t.cohorts {
                let k = c.count.min(remove);
                c.count -= k;
                remove -= k;
            }
            t.cohorts.retain(|c| c.count > 0);
            t.cohorts
                .sort_by_key(|c| c.ready_at.map_or(u64::MAX, Timestamp::as_millis));
        }
        t.spec = replicas;
        Ok(())
    }

    /// Executes one action.
    ///
    /// # Errors
    ///
    /// [`Error::SimulatedTrackMissing`] when the action names a track that does not exist.
    pub fn apply(&mut self, action: &Action) -> Result<(), Error> {
        self.applied += 1;
        match action {
            Action::CreateTrack {
                track,
                revision,
                template,
                replicas,
                min_ready,
                desired_replicas,
                max_replicas,
            } => {
                if !self.tracks.iter().any(|t| t.id == *track) {
                    self.tracks.push(SimTrack {
                        id: *track,
                        revision: *revision,
                        template: template.clone(),
                        min_ready: *min_ready,
                        spec: 0,
                        cohorts: Vec::new(),
                        scale_down_at: None,
                        annotations: (*desired_replicas, *max_replicas),
                    });
                    self.tracks.sort_by_key(|t| t.id);
                    self.resize(*track, *replicas)?;
                }
            }
            Action::ScaleTrack {
                track,
                replicas,
                desired_replicas,
                max_replicas,
            } => {
                self.track_mut(*track)?.annotations = (*desired_replicas, *max_replicas);
                self.resize(*track, *replicas)?;
            }
            Action::SetRevision { track, revision } => self.track_mut(*track)?.revision = *revision,
            Action::SetMinReady { track, min_ready } => {
                self.track_mut(*track)?.min_ready = *min_ready
            }
            Action::SetActive { track } => {
                self.track_mut(*track)?;
                self.traffic.active = Some(*track);
            }
            Action::SetPreview { track } => self.traffic.preview = *track,
            Action::SetCanaryWeight { track, weight } => {
                self.track_mut(*track)?;
                self.traffic.canary = Some(*track);
                self.traffic.canary_weight = *weight;
            }
            Action::StartCheck { run, track } => {
                let template = self.track_mut(*track)?.template.clone();
                if !self.checks.iter().any(|c| &c.run == run) {
                    self.checks.push(SimCheck {
                        run: run.clone(),
                        template,
                        started: self.now,
                        stopped: false,
                    });
                }
            }
            Action::StopCheck { run } => {
                for c in self.checks.iter_mut().filter(|c| &c.run == run) {
                    c.stopped = true;
                }
            }
            Action::ScheduleScaleDown { track, at } => {
                self.track_mut(*track)?.scale_down_at = Some(*at)
            }
            Action::DeleteTrack { track } => self.tracks.retain(|t| t.id != *track),
        }
        Ok(())
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}
