//! The Deployment controller's `Progressing` condition and progress deadline
//! (`syncRolloutStatus`, `syncDeploymentStatus`, `checkPausedConditions`,
//! `requeueStuckDeployment`), for every strategy.

use std::borrow::Cow;
use std::time::Duration;

use super::effects::Effects;
use super::view::View;
use crate::decision::{Condition, ConditionKind, ConditionStatus};
use crate::observation::TrackId;
use crate::spec::DeadlineAction;
use crate::state::{Progress, ProgressReason, RolloutState, StatusCounts};

/// How the progress clock is treated in one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clock {
    /// `syncRolloutStatus`: detect progress, completion and timeouts.
    Evaluate,
    /// `syncDeploymentStatus`: record counts only (scaling events, pause).
    CountsOnly,
    /// Waiting at a gate or paused: the deadline does not run.
    Hold,
}

/// `SetDeploymentCondition`: the same status and reason leave the condition
/// (and its time) untouched.
fn set_progress(v: &View<'_>, state: &mut RolloutState, reason: ProgressReason) {
    let same = state
        .progress
        .is_some_and(|p| status_of(p.reason) == status_of(reason) && p.reason == reason);
    if !same {
        state.progress = Some(Progress {
            reason,
            last_update: v.now(),
        });
    }
}

/// The new track was created (or found) this decision.
pub(super) fn progress_new_track(v: &View<'_>, state: &mut RolloutState, created: bool) {
    if v.spec.progress_deadline().is_none() {
        return;
    }
    if created {
        set_progress(v, state, ProgressReason::NewReplicaSetCreated);
    } else if state.progress.is_none() {
        set_progress(v, state, ProgressReason::FoundNewReplicaSet);
    }
}

/// Whether the persisted condition says the deadline was exceeded.
pub(super) fn timed_out(state: &RolloutState) -> bool {
    state
        .progress
        .is_some_and(|p| p.reason == ProgressReason::ProgressDeadlineExceeded)
}

/// `checkPausedConditions`, generalised to gates: holding stops the deadline,
/// releasing restarts it.
pub(super) fn clock_hold(v: &View<'_>, state: &mut RolloutState, hold: bool) {
    if v.spec.progress_deadline().is_none() || timed_out(state) {
        return;
    }
    let paused = state
        .progress
        .is_some_and(|p| p.reason == ProgressReason::DeploymentPaused);
    if hold && !paused {
        set_progress(v, state, ProgressReason::DeploymentPaused);
    } else if !hold && paused {
        set_progress(v, state, ProgressReason::DeploymentResumed);
    }
}

/// `syncRolloutStatus` (Evaluate) or `syncDeploymentStatus` (CountsOnly /
/// Hold): records the counts, with `new` as the updated track, and moves the
/// progress clock.
pub(super) fn sync_status(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    new: Option<TrackId>,
    complete: bool,
    clock: Clock,
) {
    let status = v.status_counts(new);
    match (v.spec.progress_deadline(), clock) {
        (None, _) => state.progress = None,
        (Some(_), Clock::Hold) => clock_hold(v, state, true),
        (Some(_), Clock::CountsOnly) => {}
        (Some(deadline), Clock::Evaluate) => {
            let already = status.replicas == status.updated
                && state
                    .progress
                    .is_some_and(|p| p.reason == ProgressReason::NewReplicaSetAvailable);
            if !already {
                detect_progress(v, state, fx, status, complete, deadline);
            }
            requeue_stuck(v, state, fx, complete, deadline);
        }
    }
    state.last_status = status;
    // Pods that are ready but not yet available become available within min_ready.
    let min_ready = v.spec.min_ready();
    if !min_ready.is_zero() && v.obs.tracks.iter().any(|t| t.ready > t.available) {
        fx.requeue_in(min_ready);
    }
}

/// `syncRolloutStatus`'s condition update: complete, progressing (counts
/// moved since the last decision), or past the deadline.
fn detect_progress(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    status: StatusCounts,
    complete: bool,
    deadline: Duration,
) {
    let old = state.last_status;
    let progressing = status.updated > old.updated
        || i64::from(status.replicas) - i64::from(status.updated)
            < i64::from(old.replicas) - i64::from(old.updated)
        || status.ready > old.ready
        || status.available > old.available;
    if complete {
        set_progress(v, state, ProgressReason::NewReplicaSetAvailable);
        return;
    }
    if progressing {
        state.progress = Some(Progress {
            reason: ProgressReason::ReplicaSetUpdated,
            last_update: v.now(),
        });
        return;
    }
    let Some(p) = state.progress else { return };
    let past_deadline = p.reason != ProgressReason::NewReplicaSetAvailable
        && p.reason != ProgressReason::ProgressDeadlineExceeded
        && p.last_update + deadline < v.now();
    if past_deadline {
        set_progress(v, state, ProgressReason::ProgressDeadlineExceeded);
        fx.explain(format!(
            "no progress for {} s: progress deadline exceeded",
            deadline.as_secs_f64()
        ));
        if v.spec.on_deadline() != DeadlineAction::Report {
            fx.requeue_in(Duration::ZERO);
        }
    }
}

/// `requeueStuckDeployment`: look again just after the deadline would pass.
fn requeue_stuck(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    complete: bool,
    deadline: Duration,
) {
    let Some(p) = state.progress else { return };
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
    let due = p.last_update + deadline + Duration::from_secs(1);
    if due > v.now() {
        fx.requeue_at(due);
    } else {
        fx.requeue_in(Duration::from_secs(1));
    }
}

/// The `Progressing` condition a persisted [`Progress`] reports.
pub(super) fn condition(p: Progress) -> Condition {
    Condition {
        kind: ConditionKind::Progressing,
        status: status_of(p.reason),
        reason: Cow::Borrowed(reason_name(p.reason)),
        message: Cow::Borrowed(message(p.reason)),
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

const fn reason_name(r: ProgressReason) -> &'static str {
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

const fn message(r: ProgressReason) -> &'static str {
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
