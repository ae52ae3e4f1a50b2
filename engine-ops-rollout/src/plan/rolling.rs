//! Rolling update and Recreate: a port of the Deployment controller's
//! `syncDeployment` / `rolloutRolling` / `rolloutRecreate` over tracks.

use super::candidate::PAUSED_GATE;
use super::effects::{Counted, Effects};
use super::progress::{Clock, clock_hold, progress_new_track, sync_status, timed_out};
use super::tracks::{
    cleanup_history, emit_create, emit_scale, sync_min_ready, sync_revision, undo,
};
use super::view::View;
use crate::decision::Phase;
use crate::math::{self, ScaleKind, TrackSizes};
use crate::observation::TrackId;
use crate::spec::{DeadlineAction, RollingStrategy};
use crate::state::RolloutState;

/// A rolling update with its strategy, or `Recreate` (`None`).
pub(super) fn plan(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    rolling: Option<&RollingStrategy>,
) {
    let n = v.replicas();
    let budget = v.budget;
    if let Some(r) = rolling
        && budget.both_zero_rule
        && n > 0
    {
        fx.explain(format!(
            "maxSurge {} and maxUnavailable {} both resolve to 0 for {n} replicas: using maxUnavailable 1",
            r.max_surge, r.max_unavailable
        ));
    }
    choose_target(v, state, fx);

    let target = state.target_or(v.spec);
    let mut sizes = working_set(v, state);
    let new_idx = sizes
        .iter()
        .position(|t| state.template_of(t.id) == Some(&*target));
    let new = new_idx.map(|i| sizes[i].id);
    if let Some(id) = new {
        sync_revision(state, fx, id);
        sync_min_ready(v, state, fx, id);
    }

    // syncDeployment step 2–3: paused → proportional scaling and history only.
    if state.paused {
        clock_hold(v, state, true);
        scale_proportionally(v, state, fx, &mut sizes, new_idx);
        let protected: Vec<TrackId> = new.into_iter().collect();
        cleanup_history(v, state, fx, &protected);
        sync_status(v, state, fx, new, false, Clock::CountsOnly);
        fx.set_phase(Phase::Paused);
        fx.set_gate(PAUSED_GATE.into());
        return;
    }
    clock_hold(v, state, false);

    // Step 5: a scaling event (replicas changed) → proportional scaling only.
    if math::is_scaling_event(&budget, &sizes) {
        scale_proportionally(v, state, fx, &mut sizes, new_idx);
        sync_status(v, state, fx, new, false, Clock::CountsOnly);
        fx.set_phase(phase(state, false));
        return;
    }

    if rolling.is_none() {
        recreate(v, state, fx, &mut sizes, new_idx, &target);
        return;
    }
    roll(v, state, fx, &mut sizes, new_idx, &target);
}

/// `scale`: a scaling event (or a pause) shares the replica change across
/// the tracks in proportion to their sizes.
fn scale_proportionally(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    sizes: &mut [TrackSizes],
    new_idx: Option<usize>,
) {
    let before = sizes.to_vec();
    if let Some(kind) = math::scale(&v.budget, sizes, new_idx, state.last_status.replicas) {
        emit_scales(v, state, fx, &before, sizes, kind);
    }
}

/// `rolloutRolling`: the new track is created or scaled up within the surge
/// budget; only if it was not, old tracks are scaled down (unhealthy pods
/// first) within the availability budget.
fn roll(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    sizes: &mut Vec<TrackSizes>,
    new_idx: Option<usize>,
    target: &str,
) {
    let n = v.replicas();
    let budget = v.budget;
    let new_idx = match new_idx {
        Some(i) => {
            progress_new_track(v, state, false);
            i
        }
        None => create_new_track(v, state, fx, sizes, target),
    };
    let new_id = sizes[new_idx].id;

    // reconcileNewReplicaSet
    if let Some(to) = math::reconcile_new(&budget, sizes, new_idx) {
        let from = sizes[new_idx].spec;
        let total: u32 = sizes.iter().map(|t| t.spec).sum();
        let why = if from > n {
            format!("new revision above the desired {n}")
        } else {
            format!(
                "surge room: min({} - {total}, {n} - {from}) = {}",
                budget.max_total(),
                to - from
            )
        };
        scale_to(v, state, fx, new_id, from, to, why);
        sync_status(v, state, fx, Some(new_id), false, Clock::Evaluate);
        fx.set_phase(phase(state, false));
        return;
    }

    // reconcileOldReplicaSets
    let avail: u32 = sizes.iter().map(|t| t.available).sum();
    let math::OldReconcile {
        changes,
        max_scaled_down,
        stale,
    } = math::reconcile_old(&budget, sizes, new_idx);
    if let Some(i) = stale {
        let t = sizes[i];
        fx.explain(format!(
            "old revision {} still reports {} available pods for spec {}: waiting for its status to catch up before scaling down",
            state.revision_of(t.id),
            t.available,
            t.spec
        ));
    }
    if !changes.is_empty() {
        for c in &changes {
            let why = old_scale_reason(c, avail, max_scaled_down, budget.min_available());
            scale_to(
                v,
                state,
                fx,
                sizes[c.index].id,
                c.from,
                sizes[c.index].spec,
                why,
            );
        }
        sync_status(v, state, fx, Some(new_id), false, Clock::Evaluate);
        fx.set_phase(phase(state, false));
        return;
    }

    let complete = is_complete(v, new_id);
    if complete {
        state.stable = Some(new_id);
        cleanup_history(v, state, fx, &[new_id]);
    } else if max_scaled_down <= 0 && sizes.iter().any(|t| t.id != new_id && t.spec > 0) {
        fx.explain(format!(
            "waiting: {} of revision {} unavailable, no old pod may go (maxScaledDown {max_scaled_down})",
            sizes[new_idx].spec.saturating_sub(sizes[new_idx].available),
            state.revision_of(new_id)
        ));
    }
    sync_status(v, state, fx, Some(new_id), complete, Clock::Evaluate);
    fx.set_phase(phase(state, complete));
}

/// Every pod is of the new track, and all of them are available.
fn is_complete(v: &View<'_>, new_id: TrackId) -> bool {
    let n = v.replicas();
    let status = v.status_counts(Some(new_id));
    status.updated == n && status.replicas == n && status.available == n
}

/// `rolloutRecreate`: every old track with pods goes to 0 (one decision);
/// while an old pod still exists or terminates nothing else happens; then the
/// new track is created at, or scaled to, the full count.
fn recreate(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    sizes: &mut Vec<TrackSizes>,
    new_idx: Option<usize>,
    target: &str,
) {
    let n = v.replicas();
    let new = new_idx.map(|i| sizes[i].id);
    let active_old: Vec<TrackSizes> = sizes
        .iter()
        .filter(|t| Some(t.id) != new && t.spec > 0)
        .copied()
        .collect();
    if !active_old.is_empty() {
        for t in &active_old {
            scale_to(
                v,
                state,
                fx,
                t.id,
                t.spec,
                0,
                "Recreate: every old pod goes before any new one starts".into(),
            );
        }
        sync_status(v, state, fx, new, false, Clock::Evaluate);
        fx.set_phase(phase(state, false));
        return;
    }
    // oldPodsRunning: pods of old tracks that exist or are still terminating.
    let running: u32 = state
        .tracks
        .iter()
        .filter(|t| Some(t.id) != new)
        .filter_map(|t| v.observed(t.id))
        .map(|o| o.replicas + o.terminating)
        .sum();
    if running > 0 {
        fx.explain(format!(
            "Recreate: waiting for {} of older revisions to be gone",
            Counted(running, "pod")
        ));
        sync_status(v, state, fx, new, false, Clock::Evaluate);
        fx.set_phase(phase(state, false));
        return;
    }
    let new_id = match new_idx {
        Some(i) => {
            progress_new_track(v, state, false);
            // scaleUpNewReplicaSetForRecreate
            let t = sizes[i];
            if t.spec != n {
                scale_to(
                    v,
                    state,
                    fx,
                    t.id,
                    t.spec,
                    n,
                    "Recreate: no old pod is left; the new revision takes every replica".into(),
                );
            }
            t.id
        }
        None => {
            let i = create_new_track(v, state, fx, sizes, target);
            sizes[i].id
        }
    };
    let complete = is_complete(v, new_id);
    if complete {
        state.stable = Some(new_id);
        cleanup_history(v, state, fx, &[new_id]);
    }
    sync_status(v, state, fx, Some(new_id), complete, Clock::Evaluate);
    fx.set_phase(phase(state, complete));
}

/// Operator commands and the progress deadline decide the target template:
/// `Retry` returns to the spec's, `Abort` (or the deadline's abort) to the
/// stable one, the deadline's undo to the previous revision.
fn choose_target(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects) {
    if v.commands.retry && state.aborted {
        state.aborted = false;
        state.target = state.spec_template.clone();
        state.progress = None;
        fx.explain("retry: rolling towards the spec's template again");
    }
    if v.commands.abort {
        abort(state, fx, "operator abort");
    }
    if !timed_out(state) || state.aborted {
        return;
    }
    match v.spec.on_deadline() {
        DeadlineAction::Report => {}
        DeadlineAction::Abort => abort(state, fx, "progress deadline exceeded"),
        DeadlineAction::Undo => match undo(state, fx, None) {
            Ok(()) => state.progress = None,
            Err(e) => fx.explain(format!("progress deadline exceeded, but cannot undo: {e}")),
        },
    }
}

/// `getNewReplicaSet` with creation: records a track for `target` (or reuses
/// one whose creation is pending), emits its creation at
/// `min(maxTotal - Σ spec, n)` replicas and returns its index in `sizes`.
fn create_new_track(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    sizes: &mut Vec<TrackSizes>,
    target: &str,
) -> usize {
    let budget = v.budget;
    let n = budget.replicas;
    let id = match state.track_with_template(target) {
        Some(pending) => pending,
        None => state.add_track(target),
    };
    let total: u64 = sizes.iter().map(|t| u64::from(t.spec)).sum();
    let replicas = math::new_rs_new_replicas(&budget, total, 0);
    let rev = state.revision_of(id);
    emit_create(
        v,
        state,
        fx,
        id,
        replicas,
        format!(
            "template `{target}` has no track: create revision {rev} with min({} - {total}, {n}) = {}",
            budget.max_total(),
            Counted(replicas, "replica")
        ),
    );
    sizes.push(TrackSizes {
        id,
        spec: replicas,
        available: 0,
        desired: Some(n),
        max: Some(budget.max_total()),
    });
    sizes.sort_by_key(|t| t.id);
    progress_new_track(v, state, true);
    sizes
        .iter()
        .position(|t| t.id == id)
        .unwrap_or(sizes.len() - 1)
}

/// Why `reconcileOldReplicaSets` scaled one old track: unavailable pods
/// removed within `maxScaledDown`, available ones within the availability budget.
fn old_scale_reason(
    c: &math::OldScale,
    avail: u32,
    max_scaled_down: i64,
    min_available: u32,
) -> String {
    match (c.unhealthy_removed, c.scaled_down) {
        (0, d) => format!(
            "{} removed ({avail} available, at least {min_available} must stay)",
            Counted(d, "pod")
        ),
        (u, 0) => format!(
            "{} removed (maxScaledDown {max_scaled_down})",
            Counted(u, "unavailable pod")
        ),
        (u, d) => format!(
            "{} removed (maxScaledDown {max_scaled_down}), then {d} more ({avail} available, at least {min_available} must stay)",
            Counted(u, "unavailable pod")
        ),
    }
}

/// Abort of a rolling update: the target becomes the stable revision's
/// template again, which rolls back like any other update.
fn abort(state: &mut RolloutState, fx: &mut Effects, why: &str) {
    let Some(stable) = state.stable else {
        fx.explain(format!(
            "{why}: no stable revision to return to; nothing aborted"
        ));
        return;
    };
    let Some(template) = state.track(stable).map(|r| r.template.clone()) else {
        return;
    };
    if state.target.as_deref() == Some(&*template) {
        if !state.aborted {
            fx.explain(format!(
                "{why}: already on the stable revision; nothing to abort"
            ));
        }
        return;
    }
    fx.explain(format!(
        "{why}: rolling back to stable revision {} (`{template}`)",
        state.revision_of(stable)
    ));
    state.target = Some(template);
    state.aborted = true;
    state.progress = None;
}

fn phase(state: &RolloutState, complete: bool) -> Phase {
    if state.aborted || timed_out(state) {
        Phase::Degraded
    } else if complete {
        Phase::Healthy
    } else {
        Phase::Progressing
    }
}

/// Observed live tracks, oldest first, as the arithmetic sees them (their
/// replica annotations as observed: what was planned but not written is
/// planned again).
fn working_set(v: &View<'_>, state: &RolloutState) -> Vec<TrackSizes> {
    state
        .tracks
        .iter()
        .filter(|t| !t.deleting)
        .filter_map(|t| {
            v.observed(t.id).map(|o| TrackSizes {
                id: t.id,
                spec: o.spec_replicas,
                available: o.available,
                desired: o.desired_replicas,
                max: o.max_replicas,
            })
        })
        .collect()
}

fn scale_to(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    id: TrackId,
    from: u32,
    to: u32,
    why: String,
) {
    let rev = state.revision_of(id);
    let reason = if from == to {
        format!("revision {rev} stays at {to}; its replica annotations change: {why}")
    } else {
        format!("scale revision {rev} from {from} to {to}: {why}")
    };
    emit_scale(v, fx, id, to, reason);
}

/// Emits the writes of a proportional scaling: every track whose size or
/// replica annotations changed.
fn emit_scales(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    before: &[TrackSizes],
    after: &[TrackSizes],
    kind: ScaleKind,
) {
    let n = v.replicas();
    for (b, a) in before.iter().zip(after) {
        // `scaleReplicaSet` writes when the size or an annotation changes.
        if (b.spec, b.desired, b.max) == (a.spec, a.desired, a.max) {
            continue;
        }
        let why = match kind {
            ScaleKind::Single => format!(
                "the only active revision takes all {}",
                Counted(n, "replica")
            ),
            ScaleKind::Saturated => {
                "the new revision is saturated; old revisions go to 0".to_owned()
            }
            ScaleKind::Proportional { delta } => format!(
                "replicas changed to {n}: {delta:+} pods shared in proportion to revision sizes"
            ),
        };
        scale_to(v, state, fx, a.id, b.spec, a.spec, why);
    }
}
