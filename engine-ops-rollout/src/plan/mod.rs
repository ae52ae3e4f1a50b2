//! The planner: one pure function for every strategy.

mod blue_green;
mod canary;
mod candidate;
mod rolling;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::state::{CheckRecord, SWITCH_HISTORY};
use crate::{
    Action, CheckObs, CheckRun, CheckSpec, CheckStatus, Command, Condition, ConditionKind,
    ConditionStatus, Decision, Error, Observation, Phase, PlannedAction, Progress, ProgressReason,
    RolloutSpec, RolloutState, StatusCounts, Strategy, SwitchRecord, Timestamp, TrackId, TrackObs,
    TrackRecord,
};

/// Decides what to do next: the spec, the persisted state and an observation
/// in; the new state, absolute actions with reasons, a phase, conditions and
/// when to look again out.
///
/// `plan` is pure and deterministic (time comes only from `obs.now`) and
/// level-triggered: call it after every observed change, or when
/// [`Decision::requeue_after`] elapses. Persist [`Decision::state`] before
/// executing [`Decision::actions`] in order; re-planning after they took effect
/// either emits the next step or nothing.
///
/// Rolling decisions follow the Kubernetes Deployment controller's
/// `syncDeployment` exactly: a scaling event is handled proportionally, otherwise
/// the new track is scaled up, and only if it was not, old tracks are scaled
/// down (unhealthy pods first).
///
/// # Errors
///
/// - [`Error::UnsupportedStateVersion`] for a state from another layout version;
/// - [`Error::UnknownTrack`] / [`Error::DuplicateTrack`] for an observation that
///   does not match the state;
/// - [`Error::UndoWhilePaused`], [`Error::NoPreviousRevision`],
///   [`Error::UnknownRevision`] for an `Undo` command that cannot be honoured.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{plan, Action, Observation, RolloutSpec, RolloutState, Timestamp};
///
/// let spec = RolloutSpec::builder("app:v1", 3).build()?;
/// let first = plan(&spec, &RolloutState::new(), &Observation::new(Timestamp::ZERO))?;
/// // Nothing exists yet: the first track is created at full size.
/// assert!(matches!(first.actions[0].action, Action::CreateTrack { replicas: 3, .. }));
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
pub fn plan(
    spec: &RolloutSpec,
    state: &RolloutState,
    obs: &Observation,
) -> Result<Decision, Error> {
    state.check_version()?;
    let mut cx = Cx::new(spec, state.clone(), obs);
    cx.reconcile_records()?;
    cx.detect_changes();
    cx.take_commands()?;
    match spec.strategy() {
        Strategy::Rolling(r) => rolling::plan(&mut cx, Some(r)),
        Strategy::Recreate => rolling::plan(&mut cx, None),
        Strategy::BlueGreen(b) => blue_green::plan(&mut cx, b),
        Strategy::Canary(c) => canary::plan(&mut cx, c),
    }
    cx.stop_unwanted_checks();
    Ok(cx.finish())
}

/// A count and its noun, plural unless the count is 1 (`1 pod`, `3 pods`).
pub(crate) struct Counted(pub(crate) u32, pub(crate) &'static str);

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.0, self.1)
    }
}

/// How the progress clock is treated in one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// `syncRolloutStatus`: detect progress, completion and timeouts.
    Evaluate,
    /// `syncDeploymentStatus`: record counts only (scaling events, pause).
    CountsOnly,
    /// Waiting at a gate or paused: the deadline does not run.
    Hold,
}

/// Verdict over a list of checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pending,
    Passed,
    Failed(String),
    Inconclusive(String),
}

pub(crate) struct Cx<'a> {
    pub(crate) spec: &'a RolloutSpec,
    pub(crate) obs: &'a Observation,
    pub(crate) st: RolloutState,
    actions: Vec<PlannedAction>,
    pub(crate) explain: Vec<String>,
    pub(crate) phase: Phase,
    pub(crate) min_available: u32,
    /// The desired-replicas and max-replicas annotations every create and
    /// resize writes: the replicas and replicas + maxSurge of the strategy.
    pub(crate) stamp: (u32, u32),
    pub(crate) gate: Option<String>,
    requeue: Option<Duration>,
    pub(crate) promote: bool,
    pub(crate) abort: bool,
    pub(crate) retry: bool,
}

impl<'a> Cx<'a> {
    fn new(spec: &'a RolloutSpec, st: RolloutState, obs: &'a Observation) -> Self {
        Self {
            spec,
            obs,
            st,
            actions: Vec::new(),
            explain: Vec::new(),
            phase: Phase::Progressing,
            min_available: spec.replicas(),
            stamp: (spec.replicas(), spec.replicas()),
            gate: None,
            requeue: None,
            promote: false,
            abort: false,
            retry: false,
        }
    }

    /// Matches observed tracks with records: drops vanished and deleted tracks,
    /// repeats lost deletions, refuses unknown tracks.
    fn reconcile_records(&mut self) -> Result<(), Error> {
        for (i, t) in self.obs.tracks.iter().enumerate() {
            if self.obs.tracks[..i].iter().any(|o| o.track == t.track) {
                return Err(Error::DuplicateTrack { track: t.track });
            }
            if self.st.track(t.track).is_none() {
                return Err(Error::UnknownTrack { track: t.track });
            }
        }
        let obs = self.obs;
        let mut i = 0;
        while i < self.st.tracks.len() {
            let id = self.st.tracks[i].id;
            let seen = obs.track(id).is_some();
            let rec = &mut self.st.tracks[i];
            if seen {
                rec.observed = true;
                if rec.deleting {
                    self.actions.push(PlannedAction {
                        action: Action::DeleteTrack { track: id },
                        reason: format!(
                            "revision {} is beyond the history limit (deletion repeated)",
                            rec.revision
                        ),
                    });
                }
                i += 1;
            } else if rec.deleting || rec.observed {
                if !rec.deleting {
                    self.explain.push(format!(
                        "track {id} (revision {}) no longer exists; forgetting it",
                        rec.revision
                    ));
                }
                self.st.tracks.remove(i);
                if self.st.stable == Some(id) {
                    self.st.stable = None;
                }
                if self.st.candidate == Some(id) {
                    self.st.candidate = None;
                }
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn detect_changes(&mut self) {
        let name = self.spec.strategy().name();
        if self.st.strategy.as_deref() != Some(name) {
            if let Some(old) = &self.st.strategy {
                self.explain.push(format!(
                    "strategy changed from {old} to {name}; stage reset"
                ));
                self.st.stage = crate::Stage::Idle;
                self.st.candidate = None;
            }
            self.st.strategy = Some(Cow::Borrowed(name));
        }
        if self.st.spec_template.as_deref() != Some(self.spec.template()) {
            if self.st.spec_template.is_some() {
                self.explain
                    .push(format!("template changed to `{}`", self.spec.template()));
            }
            let t: Arc<str> = Arc::from(self.spec.template());
            self.st.spec_template = Some(t.clone());
            self.st.target = Some(t);
            self.st.aborted = false;
        }
    }

    fn take_commands(&mut self) -> Result<(), Error> {
        self.promote = std::mem::take(&mut self.st.promote_pending);
        for c in &self.obs.commands {
            match *c {
                Command::Pause => {
                    if !self.st.paused {
                        self.explain.push("paused by operator".into());
                    }
                    self.st.paused = true;
                }
                Command::Resume => {
                    if self.st.paused {
                        self.explain.push("resumed by operator".into());
                    }
                    self.st.paused = false;
                }
                Command::Promote => self.promote = true,
                Command::Abort => self.abort = true,
                Command::Retry => self.retry = true,
                Command::Undo { to_revision } => self.undo(to_revision)?,
            }
        }
        Ok(())
    }

    /// `kubectl rollout undo [--to-revision]`: a roll-forward to an old template.
    pub(crate) fn undo(&mut self, to: Option<u64>) -> Result<(), Error> {
        if self.st.paused {
            return Err(Error::UndoWhilePaused);
        }
        let revisions = self.st.revisions();
        let rev = match to {
            Some(r) if r > 0 => r,
            _ => {
                if revisions.len() < 2 {
                    return Err(Error::NoPreviousRevision);
                }
                revisions[revisions.len() - 2]
            }
        };
        let Some(rec) = self
            .st
            .tracks
            .iter()
            .find(|t| !t.deleting && t.revision == rev)
        else {
            return Err(Error::UnknownRevision { revision: rev });
        };
        if self.st.target.as_deref() == Some(&*rec.template) {
            self.explain.push(format!(
                "skipped rollback (current template already matches revision {rev})"
            ));
        } else {
            self.explain.push(format!(
                "undo: rolling back to revision {rev} (`{}`)",
                rec.template
            ));
            self.st.target = Some(rec.template.clone());
            self.st.aborted = false;
        }
        Ok(())
    }

    // ----- queries -----

    pub(crate) fn target_arc(&self) -> Arc<str> {
        self.st
            .target
            .clone()
            .unwrap_or_else(|| Arc::from(self.spec.template()))
    }

    pub(crate) fn record(&self, id: TrackId) -> Option<&TrackRecord> {
        self.st.tracks.iter().find(|t| t.id == id)
    }

    pub(crate) fn record_mut(&mut self, id: TrackId) -> Option<&mut TrackRecord> {
        self.st.tracks.iter_mut().find(|t| t.id == id)
    }

    pub(crate) fn revision(&self, id: TrackId) -> u64 {
        self.record(id).map_or(0, |r| r.revision)
    }

    pub(crate) fn template_of(&self, id: TrackId) -> Option<&str> {
        self.record(id).map(|r| &*r.template)
    }

    pub(crate) fn o(&self, id: TrackId) -> Option<&'a TrackObs> {
        self.obs.track(id)
    }

    pub(crate) fn spec_of(&self, id: TrackId) -> u32 {
        self.o(id).map_or(0, |t| t.spec_replicas)
    }

    pub(crate) fn avail_of(&self, id: TrackId) -> u32 {
        self.o(id).map_or(0, |t| t.available)
    }

    /// Oldest live track holding `template` (the controller's `FindNewReplicaSet`).
    pub(crate) fn track_with(&self, template: &str) -> Option<TrackId> {
        self.st
            .tracks
            .iter()
            .find(|t| !t.deleting && &*t.template == template)
            .map(|t| t.id)
    }

    pub(crate) fn max_revision(&self) -> u64 {
        self.st
            .tracks
            .iter()
            .filter(|t| !t.deleting)
            .map(|t| t.revision)
            .max()
            .unwrap_or(0)
    }

    // ----- actions -----

    pub(crate) fn act(&mut self, action: Action, reason: String) {
        if self.actions.iter().any(|a| a.action == action) {
            return;
        }
        self.actions.push(PlannedAction { action, reason });
    }

    /// The decision ends before its gates are judged: a `Promote` it carries
    /// waits for the next one.
    pub(crate) fn defer_promote(&mut self) {
        self.st.promote_pending = self.promote;
    }

    /// Actions emitted so far in this decision.
    pub(crate) fn actions_len(&self) -> usize {
        self.actions.len()
    }

    pub(crate) fn requeue_in(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    pub(crate) fn requeue_at(&mut self, at: Timestamp) {
        let d = at.saturating_since(self.obs.now);
        self.requeue_in(d);
    }

    /// Records a new track for `template` (revision = max + 1); emits nothing.
    pub(crate) fn new_record(&mut self, template: &str) -> TrackId {
        let id = TrackId(self.st.next_track);
        self.st.next_track += 1;
        let revision = self.max_revision() + 1;
        self.st.tracks.push(TrackRecord {
            id,
            revision,
            template: Arc::from(template),
            scale_down_at: None,
            observed: false,
            deleting: false,
        });
        id
    }

    /// Emits `CreateTrack` for a recorded track that is not observed yet.
    pub(crate) fn emit_create(&mut self, id: TrackId, replicas: u32, reason: String) {
        let (revision, template) = match self.record(id) {
            Some(r) => (r.revision, r.template.to_string()),
            None => return,
        };
        self.act(
            Action::CreateTrack {
                track: id,
                revision,
                template,
                replicas,
                min_ready: self.spec.min_ready(),
                desired_replicas: self.stamp.0,
                max_replicas: self.stamp.1,
            },
            reason,
        );
    }

    /// Emits `ScaleTrack` to `replicas`, stamping the strategy's annotations.
    pub(crate) fn emit_scale(&mut self, id: TrackId, replicas: u32, reason: String) {
        self.act(
            Action::ScaleTrack {
                track: id,
                replicas,
                desired_replicas: self.stamp.0,
                max_replicas: self.stamp.1,
            },
            reason,
        );
    }

    /// Makes sure the track exists with `replicas` (creating it or scaling it).
    pub(crate) fn ensure_size(&mut self, id: TrackId, replicas: u32, why: &str) {
        match self.o(id) {
            None => {
                let rev = self.revision(id);
                self.emit_create(
                    id,
                    replicas,
                    format!(
                        "create revision {rev} with {}: {why}",
                        Counted(replicas, "replica")
                    ),
                );
            }
            Some(t) if t.spec_replicas != replicas => {
                let (from, rev) = (t.spec_replicas, self.revision(id));
                self.emit_scale(
                    id,
                    replicas,
                    format!("scale revision {rev} from {from} to {replicas}: {why}"),
                );
            }
            Some(_) => {}
        }
    }

    /// Like [`ensure_size`](Self::ensure_size), but also writes when only the
    /// track's desired-replicas annotation is stale (Argo Rollouts'
    /// `scaleReplicaSetAndRecordEvent`). Returns true when the size changes.
    pub(crate) fn ensure_size_and_stamp(&mut self, id: TrackId, replicas: u32, why: &str) -> bool {
        match self.o(id) {
            Some(t) if t.spec_replicas == replicas && t.desired_replicas != Some(self.stamp.0) => {
                let rev = self.revision(id);
                let n = self.stamp.0;
                self.emit_scale(
                    id,
                    replicas,
                    format!("revision {rev} stays at {replicas}; its desired-replicas annotation becomes {n}"),
                );
                false
            }
            Some(t) if t.spec_replicas == replicas => false,
            _ => {
                self.ensure_size(id, replicas, why);
                true
            }
        }
    }

    /// Emits `SetActive` when the active service does not select `id` yet, and records the switch.
    pub(crate) fn switch_active(&mut self, id: TrackId, reason: &str) {
        if self.obs.traffic.active == Some(id) {
            return;
        }
        let from = self.obs.traffic.active;
        let to_revision = self.revision(id);
        let from_revision = from.map(|f| self.revision(f));
        let desc = from_revision.map_or_else(String::new, |r| format!("from revision {r} "));
        self.act(
            Action::SetActive { track: id },
            format!("switch traffic {desc}to revision {to_revision}: {reason}"),
        );
        if self.st.switches.last().is_none_or(|s| s.to != id) {
            self.st.switches.push(SwitchRecord {
                at: self.obs.now,
                from,
                from_revision,
                to: id,
                to_revision,
                reason: reason.to_owned(),
            });
            if self.st.switches.len() > SWITCH_HISTORY {
                self.st.switches.remove(0);
            }
        }
    }

    pub(crate) fn set_preview(&mut self, id: Option<TrackId>, reason: &str) {
        if self.obs.traffic.preview != id {
            self.act(Action::SetPreview { track: id }, reason.to_owned());
        }
    }

    /// Sets (once) and announces the track's scale-down time.
    pub(crate) fn schedule_scale_down(&mut self, id: TrackId, at: Timestamp, why: &str) {
        if self.o(id).is_none() {
            // Never created (or gone): nothing to scale down.
            return;
        }
        let rev = self.revision(id);
        let Some(r) = self.record_mut(id) else { return };
        if r.scale_down_at.is_some() {
            return;
        }
        r.scale_down_at = Some(at);
        self.act(
            Action::ScheduleScaleDown { track: id, at },
            format!("keep revision {rev} until {at}, then scale it to 0: {why}"),
        );
    }

    /// `cleanupDeployment`: delete the oldest old tracks beyond the history limit,
    /// never one with pods, a stale status or a protected one.
    pub(crate) fn cleanup_history(&mut self, protected: &[TrackId]) {
        let Some(limit) = self.spec.revision_history_limit() else {
            return;
        };
        let mut old: Vec<(u64, TrackId)> = self
            .st
            .tracks
            .iter()
            .filter(|t| !t.deleting && !protected.contains(&t.id) && self.obs.track(t.id).is_some())
            .map(|t| (t.revision, t.id))
            .collect();
        let diff = old.len().saturating_sub(limit as usize);
        if diff == 0 {
            return;
        }
        old.sort_unstable();
        for &(rev, id) in &old[..diff] {
            let t = self.o(id);
            if t.is_some_and(|t| t.spec_replicas != 0 || t.replicas != 0 || t.status_stale) {
                continue;
            }
            // Never delete a track this very decision scales up (the controller
            // would, from its stale list; we do not).
            let scaled_up = self
                .actions
                .iter()
                .any(|a| matches!(a.action, Action::ScaleTrack { track, replicas, .. } if track == id && replicas > 0));
            if scaled_up {
                continue;
            }
            if let Some(r) = self.record_mut(id) {
                r.deleting = true;
            }
            self.act(
                Action::DeleteTrack { track: id },
                format!("revision {rev} is beyond the history limit of {limit}"),
            );
        }
    }

    /// `getAllReplicaSetsAndSyncRevision`: a track that becomes the target again
    /// gets revision max(old) + 1.
    pub(crate) fn sync_revision(&mut self, id: TrackId) {
        let max_old = self
            .st
            .tracks
            .iter()
            .filter(|t| !t.deleting && t.id != id)
            .map(|t| t.revision)
            .max();
        if let Some(m) = max_old
            && self.revision(id) <= m
        {
            let revision = m + 1;
            let old_rev = self.revision(id);
            if let Some(rec) = self.record_mut(id) {
                rec.revision = revision;
            }
            self.act(
                Action::SetRevision { track: id, revision },
                format!("revision {old_rev} is the target again (undo or abort): it becomes revision {revision}"),
            );
        }
    }

    /// `getNewReplicaSet`: the current track gets the spec's `minReadySeconds`
    /// when only that changed (no new revision for it).
    pub(crate) fn sync_min_ready(&mut self, id: TrackId) {
        let want = self.spec.min_ready();
        let Some(have) = self.o(id).and_then(|t| t.min_ready) else {
            return;
        };
        if have != want {
            let rev = self.revision(id);
            self.act(
                Action::SetMinReady {
                    track: id,
                    min_ready: want,
                },
                format!(
                    "revision {rev} runs with minReadySeconds {} s, the spec asks for {} s",
                    have.as_secs_f64(),
                    want.as_secs_f64()
                ),
            );
        }
    }

    /// Scales down tracks that are neither `keep`: those already scheduled once
    /// their time has come, others (superseded candidates) at once.
    pub(crate) fn sweep(&mut self, keep: &[TrackId]) {
        let ids: Vec<TrackId> = self
            .st
            .tracks
            .iter()
            .filter(|t| !t.deleting && !keep.contains(&t.id))
            .map(|t| t.id)
            .collect();
        for id in ids {
            if self.spec_of(id) == 0 {
                if let Some(r) = self.record_mut(id) {
                    r.scale_down_at = None;
                }
                continue;
            }
            let t = self.obs.traffic;
            if t.active == Some(id) || (t.canary == Some(id) && t.canary_weight > 0) {
                continue;
            }
            let due = self.record(id).and_then(|r| r.scale_down_at);
            match due {
                Some(at) if at > self.obs.now => self.requeue_at(at),
                Some(_) => self.ensure_size(id, 0, "its scale-down time has come"),
                None => self.ensure_size(id, 0, "it is neither stable nor the current candidate"),
            }
        }
    }

    // ----- checks -----

    /// Starts missing runs of `checks` against `track` and folds their results.
    pub(crate) fn run_checks(
        &mut self,
        checks: &[CheckSpec],
        track: TrackId,
        label: &str,
    ) -> Verdict {
        let revision = self.revision(track);
        let attempt = self.st.attempt;
        let mut verdict = Verdict::Passed;
        for c in checks {
            let run = CheckRun::new(c.name.clone(), revision, attempt);
            let (started_at, stopped) = match self.st.checks.iter().find(|r| r.run == run) {
                Some(r) => (r.started_at, r.stopped),
                None => {
                    self.st.checks.push(CheckRecord {
                        run: run.clone(),
                        started_at: self.obs.now,
                        stopped: false,
                    });
                    (self.obs.now, false)
                }
            };
            let seen: Option<&CheckObs> = self.obs.check(&run);
            if seen.is_none() && !stopped {
                self.act(
                    Action::StartCheck {
                        run: run.clone(),
                        track,
                    },
                    format!("{label} check `{}` gates revision {revision}", c.name),
                );
            }
            let (status, failures) =
                seen.map_or((CheckStatus::Running, 0), |s| (s.status, s.failures));
            let this = if status == CheckStatus::Failed {
                Verdict::Failed(format!("{label} check `{}` failed", c.name))
            } else if failures >= c.failure_threshold {
                Verdict::Failed(format!(
                    "{label} check `{}` reached its failure threshold ({failures} of {})",
                    c.name, c.failure_threshold
                ))
            } else if status == CheckStatus::Passed {
                Verdict::Passed
            } else if let Some(t) = c.timeout
                && self.obs.now >= started_at + t
            {
                Verdict::Failed(format!(
                    "{label} check `{}` gave no verdict within {} s",
                    c.name,
                    t.as_secs_f64()
                ))
            } else if status == CheckStatus::Inconclusive {
                Verdict::Inconclusive(format!("{label} check `{}` is inconclusive", c.name))
            } else {
                if let Some(t) = c.timeout {
                    self.requeue_at(started_at + t);
                }
                Verdict::Pending
            };
            verdict = match (verdict, this) {
                (f @ Verdict::Failed(_), _) | (_, f @ Verdict::Failed(_)) => f,
                (i @ Verdict::Inconclusive(_), _) | (_, i @ Verdict::Inconclusive(_)) => i,
                (Verdict::Pending, _) | (_, Verdict::Pending) => Verdict::Pending,
                (Verdict::Passed, Verdict::Passed) => Verdict::Passed,
            };
        }
        verdict
    }

    /// Stops every started run that has no final result yet.
    pub(crate) fn stop_checks(&mut self, why: &str) {
        let mut stops = Vec::new();
        for r in &mut self.st.checks {
            if r.stopped {
                continue;
            }
            let running = self
                .obs
                .check(&r.run)
                .is_none_or(|c| c.status == CheckStatus::Running);
            r.stopped = true;
            if running {
                stops.push(r.run.clone());
            }
        }
        for run in stops {
            self.act(
                Action::StopCheck { run: run.clone() },
                format!("stop check {run}: {why}"),
            );
        }
    }

    /// Stops every observed run still running that this rollout no longer
    /// wants (stopped, or forgotten once the rollout settled): a `StopCheck`
    /// lost in a crash is emitted again.
    fn stop_unwanted_checks(&mut self) {
        let unwanted: Vec<CheckRun> = self
            .obs
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Running)
            .filter(|c| !self.st.checks.iter().any(|r| r.run == c.run && !r.stopped))
            .map(|c| c.run.clone())
            .collect();
        for run in unwanted {
            self.act(
                Action::StopCheck { run: run.clone() },
                format!("stop check {run}: it still runs, and this rollout no longer needs it"),
            );
        }
    }

    /// Forgets check records (keeps the state small once a rollout settles).
    pub(crate) fn forget_checks(&mut self) {
        self.st.checks.clear();
    }

    // ----- status and progress (syncRolloutStatus) -----

    pub(crate) fn counts(&self, new: Option<TrackId>) -> StatusCounts {
        let mut c = StatusCounts::default();
        for t in &self.obs.tracks {
            c.replicas += t.replicas;
            c.ready += t.ready;
            c.available += t.available;
        }
        c.updated = new.and_then(|n| self.o(n)).map_or(0, |t| t.replicas);
        c
    }

    fn set_progress(&mut self, reason: ProgressReason) {
        // SetDeploymentCondition: same status and reason leave the condition untouched.
        let same = self
            .st
            .progress
            .is_some_and(|p| status_of(p.reason) == status_of(reason) && p.reason == reason);
        if !same {
            self.st.progress = Some(Progress {
                reason,
                last_update: self.obs.now,
            });
        }
    }

    /// The new track was created (or found) this decision.
    pub(crate) fn progress_new_track(&mut self, created: bool) {
        if self.spec.progress_deadline().is_none() {
            return;
        }
        if created {
            self.set_progress(ProgressReason::NewReplicaSetCreated);
        } else if self.st.progress.is_none() {
            self.set_progress(ProgressReason::FoundNewReplicaSet);
        }
    }

    /// Whether the persisted condition says the deadline was exceeded.
    pub(crate) fn timed_out(&self) -> bool {
        self.st
            .progress
            .is_some_and(|p| p.reason == ProgressReason::ProgressDeadlineExceeded)
    }

    /// `checkPausedConditions`, generalised to gates.
    pub(crate) fn clock_hold(&mut self, hold: bool) {
        if self.spec.progress_deadline().is_none() || self.timed_out() {
            return;
        }
        let paused = self
            .st
            .progress
            .is_some_and(|p| p.reason == ProgressReason::DeploymentPaused);
        if hold && !paused {
            self.set_progress(ProgressReason::DeploymentPaused);
        } else if !hold && paused {
            self.set_progress(ProgressReason::DeploymentResumed);
        }
    }

    /// `syncRolloutStatus` (Evaluate) or `syncDeploymentStatus` (CountsOnly / Hold).
    pub(crate) fn sync_status(&mut self, new: Option<TrackId>, complete: bool, clock: Clock) {
        let status = self.counts(new);
        match (self.spec.progress_deadline(), clock) {
            (None, _) => self.st.progress = None,
            (Some(_), Clock::Hold) => self.clock_hold(true),
            (Some(_), Clock::CountsOnly) => {}
            (Some(pds), Clock::Evaluate) => {
                let cur = self.st.progress;
                let already = status.replicas == status.updated
                    && cur.is_some_and(|p| p.reason == ProgressReason::NewReplicaSetAvailable);
                if !already {
                    self.detect_progress(status, complete, pds);
                }
                self.requeue_stuck(complete, pds);
            }
        }
        self.st.last_status = status;
        // Pods that are ready but not yet available become available within min_ready.
        let min_ready = self.spec.min_ready();
        if !min_ready.is_zero() && self.obs.tracks.iter().any(|t| t.ready > t.available) {
            self.requeue_in(min_ready);
        }
    }

    /// `syncRolloutStatus`'s condition update: complete, progressing (counts
    /// moved since the last decision), or past the deadline.
    fn detect_progress(&mut self, status: StatusCounts, complete: bool, pds: Duration) {
        let old = self.st.last_status;
        let progressing = status.updated > old.updated
            || i64::from(status.replicas) - i64::from(status.updated)
                < i64::from(old.replicas) - i64::from(old.updated)
            || status.ready > old.ready
            || status.available > old.available;
        if complete {
            self.set_progress(ProgressReason::NewReplicaSetAvailable);
            return;
        }
        if progressing {
            self.st.progress = Some(Progress {
                reason: ProgressReason::ReplicaSetUpdated,
                last_update: self.obs.now,
            });
            return;
        }
        let Some(p) = self.st.progress else { return };
        let timed_out = p.reason != ProgressReason::NewReplicaSetAvailable
            && p.reason != ProgressReason::ProgressDeadlineExceeded
            && p.last_update + pds < self.obs.now;
        if timed_out {
            self.set_progress(ProgressReason::ProgressDeadlineExceeded);
            self.explain.push(format!(
                "no progress for {} s: progress deadline exceeded",
                pds.as_secs_f64()
            ));
            if self.spec.on_deadline() != crate::DeadlineAction::Report {
                self.requeue_in(Duration::ZERO);
            }
        }
    }

    /// `requeueStuckDeployment`: look again just after the deadline would pass.
    fn requeue_stuck(&mut self, complete: bool, pds: Duration) {
        let Some(p) = self.st.progress else { return };
        if complete
            || matches!(
                p.reason,
                ProgressReason::ProgressDeadlineExceeded
                    | ProgressReason::NewReplicaSetAvailable
                    | ProgressReason::DeploymentPaused
            )
        {
            return;
        }
        let due = p.last_update + pds + Duration::from_secs(1);
        if due > self.obs.now {
            self.requeue_at(due);
        } else {
            self.requeue_in(Duration::from_secs(1));
        }
    }

    fn finish(mut self) -> Decision {
        // Forget records of tracks that were never created and are no longer
        // wanted (e.g. a candidate superseded before its creation happened).
        let created: Vec<TrackId> = self
            .actions
            .iter()
            .filter_map(|a| match a.action {
                Action::CreateTrack { track, .. } => Some(track),
                _ => None,
            })
            .collect();
        let (candidate, target) = (self.st.candidate, self.st.target.clone());
        self.st.tracks.retain(|t| {
            t.observed
                || created.contains(&t.id)
                || Some(t.id) == candidate
                || Some(&t.template) == target.as_ref()
        });
        let mut conditions = Vec::new();
        if let Some(p) = self.st.progress {
            conditions.push(Condition {
                kind: ConditionKind::Progressing,
                status: status_of(p.reason),
                reason: Cow::Borrowed(progress_reason(p.reason)),
                message: Cow::Borrowed(progress_message(p.reason)),
            });
        }
        let available: u32 = self.obs.tracks.iter().map(|t| t.available).sum();
        let ok = available >= self.min_available;
        conditions.push(Condition {
            kind: ConditionKind::Available,
            status: if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason: if ok {
                "MinimumReplicasAvailable"
            } else {
                "MinimumReplicasUnavailable"
            }
            .into(),
            message: format!("{available} available, {} required", self.min_available).into(),
        });
        if self.st.aborted {
            conditions.push(Condition {
                kind: ConditionKind::Aborted,
                status: ConditionStatus::True,
                reason: "RolloutAborted".into(),
                message: "traffic and capacity are back on the stable revision; Retry or a new template continues"
                    .into(),
            });
        }
        if self.st.paused || self.gate.is_some() {
            conditions.push(Condition {
                kind: ConditionKind::Paused,
                status: ConditionStatus::True,
                reason: if self.st.paused {
                    "PausedByOperator"
                } else {
                    "WaitingAtGate"
                }
                .into(),
                message: self.gate.clone().map_or(
                    Cow::Borrowed("paused by operator; Resume continues"),
                    Cow::Owned,
                ),
            });
        }
        Decision {
            state: self.st,
            actions: self.actions,
            phase: self.phase,
            conditions,
            requeue_after: self.requeue,
            explain: self.explain,
        }
    }
}

const fn status_of(r: ProgressReason) -> ConditionStatus {
    match r {
        ProgressReason::ProgressDeadlineExceeded => ConditionStatus::False,
        ProgressReason::DeploymentPaused | ProgressReason::DeploymentResumed => {
            ConditionStatus::Unknown
        }
        _ => ConditionStatus::True,
    }
}

const fn progress_reason(r: ProgressReason) -> &'static str {
    match r {
        ProgressReason::NewReplicaSetCreated => "NewReplicaSetCreated",
        ProgressReason::FoundNewReplicaSet => "FoundNewReplicaSet",
        ProgressReason::ReplicaSetUpdated => "ReplicaSetUpdated",
        ProgressReason::NewReplicaSetAvailable => "NewReplicaSetAvailable",
        ProgressReason::ProgressDeadlineExceeded => "ProgressDeadlineExceeded",
        ProgressReason::DeploymentPaused => "DeploymentPaused",
        ProgressReason::DeploymentResumed => "DeploymentResumed",
    }
}

const fn progress_message(r: ProgressReason) -> &'static str {
    match r {
        ProgressReason::NewReplicaSetCreated => "created a new track",
        ProgressReason::FoundNewReplicaSet => "found the new track",
        ProgressReason::ReplicaSetUpdated => "the new track is progressing",
        ProgressReason::NewReplicaSetAvailable => "the new track has successfully progressed",
        ProgressReason::ProgressDeadlineExceeded => "the new track has timed out progressing",
        ProgressReason::DeploymentPaused => "paused: the progress deadline does not run",
        ProgressReason::DeploymentResumed => "resumed: the progress deadline restarts",
    }
}
