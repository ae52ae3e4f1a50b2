//! Rolling update and Recreate: a port of the Deployment controller's
//! `syncDeployment` / `rolloutRolling` / `rolloutRecreate` over tracks.

use super::candidate::PAUSED_GATE;
use super::{Clock, Counted, Cx};
use crate::math::{self, ScaleKind, W};
use crate::{DeadlineAction, Fenceposts, Phase, RollingStrategy, TrackId};

/// A rolling update with its strategy, or `Recreate` (`None`).
pub(super) fn plan(cx: &mut Cx<'_>, rolling: Option<&RollingStrategy>) {
    let n = cx.spec.replicas();
    let f = match rolling {
        Some(r) => Fenceposts::resolve(n, r.max_surge, r.max_unavailable),
        None => Fenceposts::recreate(n),
    };
    cx.min_available = f.min_available();
    cx.stamp = (f.replicas, f.max_total());
    if let Some(r) = rolling
        && f.both_zero_rule
        && n > 0
    {
        cx.explain.push(format!(
            "maxSurge {} and maxUnavailable {} both resolve to 0 for {n} replicas: using maxUnavailable 1",
            r.max_surge, r.max_unavailable
        ));
    }
    choose_target(cx);

    let target = cx.target_arc();
    let mut ws = working_set(cx);
    let new_idx = ws
        .iter()
        .position(|w| cx.template_of(w.id) == Some(&*target));
    if let Some(i) = new_idx {
        cx.sync_revision(ws[i].id);
        cx.sync_min_ready(ws[i].id);
    }

    // syncDeployment step 2–3: paused → proportional scaling and history only.
    if cx.st.paused {
        cx.clock_hold(true);
        let before = ws.clone();
        if let Some(kind) = math::scale(&f, &mut ws, new_idx, cx.st.last_status.replicas) {
            emit_scale(cx, &before, &ws, kind);
        }
        let protected: Vec<TrackId> = new_idx.map(|i| ws[i].id).into_iter().collect();
        cx.cleanup_history(&protected);
        let new = new_idx.map(|i| ws[i].id);
        cx.sync_status(new, false, Clock::CountsOnly);
        cx.phase = Phase::Paused;
        cx.gate = Some(PAUSED_GATE.into());
        return;
    }
    cx.clock_hold(false);

    // Step 5: a scaling event (replicas changed) → proportional scaling only.
    if math::is_scaling_event(&f, &ws) {
        let before = ws.clone();
        if let Some(kind) = math::scale(&f, &mut ws, new_idx, cx.st.last_status.replicas) {
            emit_scale(cx, &before, &ws, kind);
        }
        let new = new_idx.map(|i| ws[i].id);
        cx.sync_status(new, false, Clock::CountsOnly);
        cx.phase = phase(cx, false);
        return;
    }

    if rolling.is_none() {
        recreate(cx, &f, &mut ws, new_idx, &target);
        return;
    }

    let new_idx = match new_idx {
        Some(i) => {
            cx.progress_new_track(false);
            i
        }
        None => create_new_track(cx, &f, &mut ws, &target),
    };
    let new_id = ws[new_idx].id;

    // reconcileNewReplicaSet
    if let Some(to) = math::reconcile_new(&f, &ws, new_idx) {
        let from = ws[new_idx].spec;
        let total: u32 = ws.iter().map(|w| w.spec).sum();
        let why = if from > n {
            format!("new revision above the desired {n}")
        } else {
            format!(
                "surge room: min({} - {total}, {n} - {from}) = {}",
                f.max_total(),
                to - from
            )
        };
        scale_to(cx, new_id, from, to, why);
        ws[new_idx].spec = to;
        ws[new_idx].desired = Some(n);
        ws[new_idx].max = Some(f.max_total());
        cx.sync_status(Some(new_id), false, Clock::Evaluate);
        cx.phase = phase(cx, false);
        return;
    }

    // reconcileOldReplicaSets
    let avail: u32 = ws.iter().map(|w| w.available).sum();
    let math::OldReconcile {
        changes,
        max_scaled_down,
        stale,
    } = math::reconcile_old(&f, &mut ws, new_idx);
    if let Some(i) = stale {
        let w = ws[i];
        cx.explain.push(format!(
            "old revision {} still reports {} available pods for spec {}: waiting for its status to catch up before scaling down",
            cx.revision(w.id),
            w.available,
            w.spec
        ));
    }
    if !changes.is_empty() {
        for c in &changes {
            let why = old_scale_reason(c, avail, max_scaled_down, f.min_available());
            scale_to(cx, ws[c.index].id, c.from, ws[c.index].spec, why);
        }
        cx.sync_status(Some(new_id), false, Clock::Evaluate);
        cx.phase = phase(cx, false);
        return;
    }

    let status = cx.counts(Some(new_id));
    let complete = status.updated == n && status.replicas == n && status.available == n;
    if complete {
        cx.st.stable = Some(new_id);
        cx.cleanup_history(&[new_id]);
    } else if max_scaled_down <= 0 && ws.iter().any(|w| w.id != new_id && w.spec > 0) {
        cx.explain.push(format!(
            "waiting: {} of revision {} unavailable, no old pod may go (maxScaledDown {max_scaled_down})",
            ws[new_idx].spec.saturating_sub(ws[new_idx].available),
            cx.revision(new_id)
        ));
    }
    cx.sync_status(Some(new_id), complete, Clock::Evaluate);
    cx.phase = phase(cx, complete);
}

/// `rolloutRecreate`: every old track with pods goes to 0 (one decision);
/// while an old pod still exists or terminates nothing else happens; then the
/// new track is created at, or scaled to, the full count.
fn recreate(
    cx: &mut Cx<'_>,
    f: &Fenceposts,
    ws: &mut Vec<W>,
    new_idx: Option<usize>,
    target: &str,
) {
    let n = f.replicas;
    let new = new_idx.map(|i| ws[i].id);
    let active_old: Vec<W> = ws
        .iter()
        .filter(|w| Some(w.id) != new && w.spec > 0)
        .copied()
        .collect();
    if !active_old.is_empty() {
        for w in &active_old {
            scale_to(
                cx,
                w.id,
                w.spec,
                0,
                "Recreate: every old pod goes before any new one starts".into(),
            );
        }
        cx.sync_status(new, false, Clock::Evaluate);
        cx.phase = phase(cx, false);
        return;
    }
    // oldPodsRunning: pods of old tracks that exist or are still terminating.
    let running: u32 = cx
        .st
        .tracks
        .iter()
        .filter(|t| Some(t.id) != new)
        .filter_map(|t| cx.o(t.id))
        .map(|o| o.replicas + o.terminating)
        .sum();
    if running > 0 {
        cx.explain.push(format!(
            "Recreate: waiting for {} of older revisions to be gone",
            Counted(running, "pod")
        ));
        cx.sync_status(new, false, Clock::Evaluate);
        cx.phase = phase(cx, false);
        return;
    }
    let new_id = match new_idx {
        Some(i) => {
            cx.progress_new_track(false);
            // scaleUpNewReplicaSetForRecreate
            let w = ws[i];
            if w.spec != n {
                scale_to(
                    cx,
                    w.id,
                    w.spec,
                    n,
                    "Recreate: no old pod is left; the new revision takes every replica".into(),
                );
                ws[i].spec = n;
            }
            w.id
        }
        None => {
            let i = create_new_track(cx, f, ws, target);
            ws[i].id
        }
    };
    let status = cx.counts(Some(new_id));
    let complete = status.updated == n && status.replicas == n && status.available == n;
    if complete {
        cx.st.stable = Some(new_id);
        cx.cleanup_history(&[new_id]);
    }
    cx.sync_status(Some(new_id), complete, Clock::Evaluate);
    cx.phase = phase(cx, complete);
}

/// Operator commands and the progress deadline decide the target template:
/// `Retry` returns to the spec's, `Abort` (or the deadline's abort) to the
/// stable one, the deadline's undo to the previous revision.
fn choose_target(cx: &mut Cx<'_>) {
    if cx.retry && cx.st.aborted {
        cx.st.aborted = false;
        cx.st.target = cx.st.spec_template.clone();
        cx.st.progress = None;
        cx.explain
            .push("retry: rolling towards the spec's template again".into());
    }
    if cx.abort {
        abort(cx, "operator abort");
    }
    if !cx.timed_out() || cx.st.aborted {
        return;
    }
    match cx.spec.on_deadline() {
        DeadlineAction::Report => {}
        DeadlineAction::Abort => abort(cx, "progress deadline exceeded"),
        DeadlineAction::Undo => match cx.undo(None) {
            Ok(()) => cx.st.progress = None,
            Err(e) => cx
                .explain
                .push(format!("progress deadline exceeded, but cannot undo: {e}")),
        },
    }
}

/// `getNewReplicaSet` with creation: records a track for `target` (or reuses
/// one whose creation is pending), emits its creation at
/// `min(maxTotal - Σ spec, n)` replicas and returns its index in `ws`.
fn create_new_track(cx: &mut Cx<'_>, f: &Fenceposts, ws: &mut Vec<W>, target: &str) -> usize {
    let n = f.replicas;
    let id = match cx.track_with(target) {
        Some(pending) => pending,
        None => cx.new_record(target),
    };
    let total: u64 = ws.iter().map(|w| u64::from(w.spec)).sum();
    let replicas = math::new_rs_new_replicas(f, total, 0);
    let rev = cx.revision(id);
    cx.emit_create(
        id,
        replicas,
        format!(
            "template `{target}` has no track: create revision {rev} with min({} - {total}, {n}) = {}",
            f.max_total(),
            Counted(replicas, "replica")
        ),
    );
    ws.push(W {
        id,
        spec: replicas,
        available: 0,
        desired: Some(n),
        max: Some(f.max_total()),
    });
    ws.sort_by_key(|w| w.id);
    cx.progress_new_track(true);
    ws.iter().position(|w| w.id == id).unwrap_or(ws.len() - 1)
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

fn abort(cx: &mut Cx<'_>, why: &str) {
    let Some(stable) = cx.st.stable else {
        cx.explain.push(format!(
            "{why}: no stable revision to return to; nothing aborted"
        ));
        return;
    };
    let Some(template) = cx.record(stable).map(|r| r.template.clone()) else {
        return;
    };
    if cx.st.target.as_deref() == Some(&*template) {
        if !cx.st.aborted {
            cx.explain.push(format!(
                "{why}: already on the stable revision; nothing to abort"
            ));
        }
        return;
    }
    cx.explain.push(format!(
        "{why}: rolling back to stable revision {} (`{template}`)",
        cx.revision(stable)
    ));
    cx.st.target = Some(template);
    cx.st.aborted = true;
    cx.st.progress = None;
}

fn phase(cx: &Cx<'_>, complete: bool) -> Phase {
    if cx.st.aborted || cx.timed_out() {
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
fn working_set(cx: &Cx<'_>) -> Vec<W> {
    cx.st
        .tracks
        .iter()
        .filter(|t| !t.deleting)
        .filter_map(|t| {
            cx.o(t.id).map(|o| W {
                id: t.id,
                spec: o.spec_replicas,
                available: o.available,
                desired: o.desired_replicas,
                max: o.max_replicas,
            })
        })
        .collect()
}

fn scale_to(cx: &mut Cx<'_>, id: TrackId, from: u32, to: u32, why: String) {
    let rev = cx.revision(id);
    let reason = if from == to {
        format!("revision {rev} stays at {to}; its replica annotations change: {why}")
    } else {
        format!("scale revision {rev} from {from} to {to}: {why}")
    };
    cx.emit_scale(id, to, reason);
}

fn emit_scale(cx: &mut Cx<'_>, before: &[W], after: &[W], kind: ScaleKind) {
    let n = cx.spec.replicas();
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
        scale_to(cx, a.id, b.spec, a.spec, why);
    }
}
