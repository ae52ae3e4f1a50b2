//! What blue-green and canary share: one candidate track beside a stable one,
//! started, superseded, retried, aborted and held at gates the same way.

use super::{Clock, Cx};
use crate::{DeadlineAction, Phase, Stage, TrackId};

/// Gate message while an operator pause holds a rollout.
pub(super) const PAUSED_GATE: &str = "paused by operator; Resume continues the rollout";

/// How the target template relates to the candidate in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retarget {
    /// The candidate (or the idle stable track) already holds the target.
    Unchanged,
    /// The target is the stable template again while a candidate is in
    /// flight or aborted.
    BackToStable,
    /// A new template: start a candidate for it, retiring the one in flight (if any).
    New {
        /// The candidate it replaces.
        superseded: Option<TrackId>,
    },
}

impl Cx<'_> {
    /// Classifies the target against the candidate in flight and the stable track.
    pub(super) fn retarget(&self, stable: TrackId, target: &str) -> Retarget {
        let candidate = self.st.candidate;
        if candidate.and_then(|c| self.template_of(c)) == Some(target) {
            return Retarget::Unchanged;
        }
        let in_flight = self.st.stage != Stage::Idle;
        if self.template_of(stable).unwrap_or_default() == target {
            if candidate.is_some() && in_flight {
                return Retarget::BackToStable;
            }
            return Retarget::Unchanged;
        }
        Retarget::New {
            superseded: candidate.filter(|_| in_flight),
        }
    }

    /// A superseded candidate: its checks stop and it is scaled down at once.
    pub(super) fn retire_candidate(&mut self, old: TrackId) {
        self.stop_checks("superseded by a newer template");
        let now = self.obs.now;
        if let Some(r) = self.record_mut(old) {
            r.scale_down_at = Some(now);
        }
    }

    /// Makes the track of `target` (an existing one other than `stable`, or a
    /// new record) the candidate, starting at `stage` with attempt 1.
    pub(super) fn begin_candidate(
        &mut self,
        stable: TrackId,
        target: &str,
        stage: Stage,
    ) -> TrackId {
        let existing = self.track_with(target).filter(|&t| t != stable);
        let id = existing.unwrap_or_else(|| self.new_record(target));
        if existing.is_some() {
            self.sync_revision(id);
        }
        if let Some(r) = self.record_mut(id) {
            r.scale_down_at = None;
        }
        self.st.candidate = Some(id);
        self.st.stage = stage;
        self.st.attempt = 1;
        self.st.aborted = false;
        self.st.progress = None;
        self.forget_checks();
        self.progress_new_track(existing.is_none());
        id
    }

    /// `Retry` after an abort: the same candidate again from `stage`, with the
    /// next attempt number. Returns the candidate when it was retried.
    pub(super) fn retry_candidate(&mut self, stage: Stage) -> Option<TrackId> {
        if !self.retry || self.st.stage != Stage::Aborted {
            return None;
        }
        let c = self.st.candidate?;
        self.st.aborted = false;
        self.st.attempt += 1;
        self.st.stage = stage;
        self.st.progress = None;
        if let Some(r) = self.record_mut(c) {
            r.scale_down_at = None;
        }
        Some(c)
    }

    /// Nothing is live yet: the target's track is brought up at full size.
    /// Returns it, and whether it is fully available (it is then the stable one).
    pub(super) fn deploy_first(&mut self, target: &str, why: &str) -> (TrackId, bool) {
        let n = self.spec.replicas();
        let (id, created) = match self.track_with(target) {
            Some(id) => (id, false),
            None => (self.new_record(target), true),
        };
        self.st.candidate = Some(id);
        self.ensure_size(id, n, why);
        self.progress_new_track(created);
        let live = self.o(id).is_some() && self.avail_of(id) >= n;
        if live {
            self.st.stable = Some(id);
            self.st.candidate = None;
            self.st.stage = Stage::Idle;
        }
        (id, live)
    }

    /// Whether the progress deadline passed and the spec says to abort then.
    pub(super) fn deadline_aborts(&self) -> bool {
        self.timed_out() && !self.st.aborted && self.spec.on_deadline() != DeadlineAction::Report
    }

    /// Scales down every track but the stable one and the candidate (once due).
    pub(super) fn sweep_others(&mut self, stable: TrackId) {
        let keep: Vec<TrackId> = [Some(stable), self.st.candidate]
            .into_iter()
            .flatten()
            .collect();
        self.sweep(&keep);
    }

    /// Enters `Aborted`: explains, stops the checks; the strategy's `Aborted`
    /// stage then puts traffic and capacity back.
    pub(super) fn mark_aborted(&mut self, why: &str) {
        self.explain.push(format!("abort: {why}"));
        self.stop_checks(why);
        self.st.stage = Stage::Aborted;
        self.st.aborted = true;
    }

    /// Schedules the aborted candidate's scale-down `delay` from now and
    /// carries it out once due (a candidate never created needs none).
    pub(super) fn scale_down_aborted(&mut self, c: TrackId, delay: std::time::Duration, why: &str) {
        let at = self.obs.now + delay;
        self.schedule_scale_down(c, at, why);
        if let Some(due) = self.record(c).and_then(|r| r.scale_down_at) {
            if self.obs.now >= due {
                if self.o(c).is_some() {
                    self.ensure_size(c, 0, "the abort scale-down delay has elapsed");
                }
            } else {
                self.requeue_at(due);
            }
        }
    }

    /// An operator pause holds a candidate in flight (not an aborted one):
    /// true when this decision stops here.
    pub(super) fn held_by_pause(&mut self, c: TrackId) -> bool {
        if self.st.paused && self.st.stage != Stage::Aborted {
            self.sync_status(Some(c), false, Clock::Hold);
            self.phase = Phase::Paused;
            self.gate = Some(PAUSED_GATE.into());
            return true;
        }
        self.clock_hold(false);
        false
    }

    /// Waits at a gate (checks running, a manual promotion, a pause step):
    /// the deadline does not run.
    pub(super) fn hold(&mut self, c: TrackId, why: String) {
        self.sync_status(Some(c), false, Clock::Hold);
        self.gate = Some(why);
        self.phase = Phase::Paused;
    }

    /// Waits for the candidate's pods: the deadline runs.
    pub(super) fn wait_for_pods(&mut self, c: TrackId) {
        self.sync_status(Some(c), false, Clock::Evaluate);
        self.phase = if self.timed_out() {
            Phase::Degraded
        } else {
            Phase::Progressing
        };
    }

    /// Phase with nothing in flight: degraded after an abort or a timeout,
    /// paused by an operator, healthy once `complete`.
    pub(super) fn idle_phase(&mut self, complete: bool) -> Phase {
        if self.st.aborted || self.timed_out() {
            Phase::Degraded
        } else if self.st.paused {
            self.gate = Some("paused by operator; Resume continues".into());
            Phase::Paused
        } else if complete {
            Phase::Healthy
        } else {
            Phase::Progressing
        }
    }
}
