//! What blue-green and canary share: one candidate track beside a stable one,
//! started, superseded, retried, aborted and held at gates the same way.

use std::time::Duration;

use super::checks::{forget_checks, stop_checks};
use super::effects::Effects;
use super::progress::{Clock, clock_hold, progress_new_track, sync_status, timed_out};
use super::tracks::{ensure_size, schedule_scale_down, sweep, sync_revision};
use super::view::View;
use crate::decision::Phase;
use crate::observation::TrackId;
use crate::spec::DeadlineAction;
use crate::state::{RolloutState, Stage};

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

/// Classifies the target against the candidate in flight and the stable track.
pub(super) fn retarget(state: &RolloutState, stable: TrackId, target: &str) -> Retarget {
    let candidate = state.candidate;
    if candidate.and_then(|c| state.template_of(c)) == Some(target) {
        return Retarget::Unchanged;
    }
    let in_flight = state.stage != Stage::Idle;
    if state.template_of(stable).unwrap_or_default() == target {
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
pub(super) fn retire_candidate(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    old: TrackId,
) {
    stop_checks(v, state, fx, "superseded by a newer template");
    if let Some(r) = state.track_mut(old) {
        r.scale_down_at = Some(v.now());
    }
}

/// Makes the track of `target` (an existing one other than `stable`, or a
/// new record) the candidate, starting at `first` with attempt 1.
pub(super) fn begin_candidate(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    stable: TrackId,
    target: &str,
    first: Stage,
) -> TrackId {
    let existing = state.track_with_template(target).filter(|&t| t != stable);
    let id = existing.unwrap_or_else(|| state.add_track(target));
    if existing.is_some() {
        sync_revision(state, fx, id);
    }
    if let Some(r) = state.track_mut(id) {
        r.scale_down_at = None;
    }
    state.candidate = Some(id);
    state.stage = first;
    state.attempt = 1;
    state.aborted = false;
    state.progress = None;
    forget_checks(state);
    progress_new_track(v, state, existing.is_none());
    id
}

/// `Retry` after an abort: the same candidate again from `first`, with the
/// next attempt number. Returns the candidate when it was retried.
pub(super) fn retry_candidate(
    v: &View<'_>,
    state: &mut RolloutState,
    first: Stage,
) -> Option<TrackId> {
    if !v.commands.retry || state.stage != Stage::Aborted {
        return None;
    }
    let c = state.candidate?;
    state.aborted = false;
    state.attempt += 1;
    state.stage = first;
    state.progress = None;
    if let Some(r) = state.track_mut(c) {
        r.scale_down_at = None;
    }
    Some(c)
}

/// Nothing is live yet: the target's track is brought up at full size.
/// Returns it, and whether it is fully available (it is then the stable one).
pub(super) fn deploy_first(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    target: &str,
    why: &str,
) -> (TrackId, bool) {
    let n = v.replicas();
    let (id, created) = match state.track_with_template(target) {
        Some(id) => (id, false),
        None => (state.add_track(target), true),
    };
    state.candidate = Some(id);
    ensure_size(v, state, fx, id, n, why);
    progress_new_track(v, state, created);
    let live = v.observed(id).is_some() && v.available(id) >= n;
    if live {
        state.stable = Some(id);
        state.candidate = None;
        state.stage = Stage::Idle;
    }
    (id, live)
}

/// Whether the progress deadline passed and the spec says to abort then.
pub(super) fn deadline_aborts(v: &View<'_>, state: &RolloutState) -> bool {
    timed_out(state) && !state.aborted && v.spec.on_deadline() != DeadlineAction::Report
}

/// Scales down every track but the stable one and the candidate (once due).
pub(super) fn sweep_others(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    stable: TrackId,
) {
    let keep: Vec<TrackId> = [Some(stable), state.candidate]
        .into_iter()
        .flatten()
        .collect();
    sweep(v, state, fx, &keep);
}

/// Enters `Aborted`: explains, stops the checks; the strategy's `Aborted`
/// stage then puts traffic and capacity back.
pub(super) fn mark_aborted(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, why: &str) {
    fx.explain(format!("abort: {why}"));
    stop_checks(v, state, fx, why);
    state.stage = Stage::Aborted;
    state.aborted = true;
}

/// Schedules the aborted candidate's scale-down `delay` from now and
/// carries it out once due (a candidate never created needs none).
pub(super) fn scale_down_aborted(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: TrackId,
    delay: Duration,
    why: &str,
) {
    schedule_scale_down(v, state, fx, c, v.now() + delay, why);
    if let Some(due) = state.track(c).and_then(|r| r.scale_down_at) {
        if v.now() >= due {
            if v.observed(c).is_some() {
                ensure_size(v, state, fx, c, 0, "the abort scale-down delay has elapsed");
            }
        } else {
            fx.requeue_at(due);
        }
    }
}

/// An operator pause holds a candidate in flight (not an aborted one):
/// true when this decision stops here.
pub(super) fn held_by_pause(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: TrackId,
) -> bool {
    if state.paused && state.stage != Stage::Aborted {
        sync_status(v, state, fx, Some(c), false, Clock::Hold);
        fx.set_phase(Phase::Paused);
        fx.set_gate(PAUSED_GATE.into());
        return true;
    }
    clock_hold(v, state, false);
    false
}

/// Waits at a gate (checks running, a manual promotion, a pause step):
/// the deadline does not run.
pub(super) fn hold(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: TrackId,
    why: String,
) {
    sync_status(v, state, fx, Some(c), false, Clock::Hold);
    fx.set_gate(why);
    fx.set_phase(Phase::Paused);
}

/// Waits for the candidate's pods: the deadline runs.
pub(super) fn wait_for_pods(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, c: TrackId) {
    sync_status(v, state, fx, Some(c), false, Clock::Evaluate);
    fx.set_phase(if timed_out(state) {
        Phase::Degraded
    } else {
        Phase::Progressing
    });
}

/// Phase with nothing in flight: degraded after an abort or a timeout,
/// paused by an operator, healthy once `complete`.
pub(super) fn idle_phase(state: &RolloutState, fx: &mut Effects, complete: bool) {
    let phase = if state.aborted || timed_out(state) {
        Phase::Degraded
    } else if state.paused {
        fx.set_gate("paused by operator; Resume continues".into());
        Phase::Paused
    } else if complete {
        Phase::Healthy
    } else {
        Phase::Progressing
    };
    fx.set_phase(phase);
}
