//! What every strategy does to tracks: create, resize, switch traffic,
//! schedule and carry out scale-downs, keep the revision history and undo.
//! Each function emits an absolute action (once per decision) and records
//! what the state must remember.

use super::effects::{Counted, Effects};
use super::view::View;
use crate::decision::Action;
use crate::error::Error;
use crate::observation::TrackId;
use crate::state::{RolloutState, SWITCH_HISTORY, SwitchRecord};
use crate::time::Timestamp;

/// Emits `CreateTrack` for a recorded track that is not observed yet, with
/// the budget's replica annotations.
pub(super) fn emit_create(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    id: TrackId,
    replicas: u32,
    reason: String,
) {
    let Some(r) = state.track(id) else { return };
    fx.act(
        Action::CreateTrack {
            track: id,
            revision: r.revision,
            template: r.template.to_string(),
            replicas,
            min_ready: v.spec.min_ready(),
            desired_replicas: v.budget.replicas,
            max_replicas: v.budget.max_total(),
        },
        reason,
    );
}

/// Emits `ScaleTrack` to `replicas`, with the budget's replica annotations.
pub(super) fn emit_scale(
    v: &View<'_>,
    fx: &mut Effects,
    id: TrackId,
    replicas: u32,
    reason: String,
) {
    fx.act(
        Action::ScaleTrack {
            track: id,
            replicas,
            desired_replicas: v.budget.replicas,
            max_replicas: v.budget.max_total(),
        },
        reason,
    );
}

/// Makes sure the track exists with `replicas` (creating it or scaling it).
pub(super) fn ensure_size(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    id: TrackId,
    replicas: u32,
    why: &str,
) {
    let rev = state.revision_of(id);
    match v.observed(id) {
        None => emit_create(
            v,
            state,
            fx,
            id,
            replicas,
            format!(
                "create revision {rev} with {}: {why}",
                Counted(replicas, "replica")
            ),
        ),
        Some(t) if t.spec_replicas != replicas => emit_scale(
            v,
            fx,
            id,
            replicas,
            format!(
                "scale revision {rev} from {} to {replicas}: {why}",
                t.spec_replicas
            ),
        ),
        Some(_) => {}
    }
}

/// Like [`ensure_size`], but also writes when only the track's
/// desired-replicas annotation is stale (Argo Rollouts'
/// `scaleReplicaSetAndRecordEvent`). Returns true when the size changes.
pub(super) fn ensure_size_and_stamp(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    id: TrackId,
    replicas: u32,
    why: &str,
) -> bool {
    let desired = v.budget.replicas;
    match v.observed(id) {
        Some(t) if t.spec_replicas == replicas && t.desired_replicas != Some(desired) => {
            let rev = state.revision_of(id);
            emit_scale(
                v,
                fx,
                id,
                replicas,
                format!(
                    "revision {rev} stays at {replicas}; its desired-replicas annotation becomes {desired}"
                ),
            );
            false
        }
        Some(t) if t.spec_replicas == replicas => false,
        _ => {
            ensure_size(v, state, fx, id, replicas, why);
            true
        }
    }
}

/// Emits `SetActive` when the active service does not select `id` yet, and
/// records the switch.
pub(super) fn switch_active(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    id: TrackId,
    reason: &str,
) {
    let from = v.traffic().active;
    if from == Some(id) {
        return;
    }
    let to_revision = state.revision_of(id);
    let from_revision = from.map(|f| state.revision_of(f));
    let desc = from_revision.map_or_else(String::new, |r| format!("from revision {r} "));
    fx.act(
        Action::SetActive { track: id },
        format!("switch traffic {desc}to revision {to_revision}: {reason}"),
    );
    if state.switches.last().is_none_or(|s| s.to != id) {
        state.switches.push(SwitchRecord {
            at: v.now(),
            from,
            from_revision,
            to: id,
            to_revision,
            reason: reason.to_owned(),
        });
        if state.switches.len() > SWITCH_HISTORY {
            state.switches.remove(0);
        }
    }
}

/// Emits `SetPreview` when the preview service does not select `id` yet.
pub(super) fn set_preview(v: &View<'_>, fx: &mut Effects, id: Option<TrackId>, reason: &str) {
    if v.traffic().preview != id {
        fx.act(Action::SetPreview { track: id }, reason.to_owned());
    }
}

/// Sets (once) and announces the track's scale-down time.
pub(super) fn schedule_scale_down(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    id: TrackId,
    at: Timestamp,
    why: &str,
) {
    if v.observed(id).is_none() {
        // Never created (or gone): nothing to scale down.
        return;
    }
    let Some(r) = state.track_mut(id) else { return };
    if r.scale_down_at.is_some() {
        return;
    }
    r.scale_down_at = Some(at);
    let rev = r.revision;
    fx.act(
        Action::ScheduleScaleDown { track: id, at },
        format!("keep revision {rev} until {at}, then scale it to 0: {why}"),
    );
}

/// `cleanupDeployment`: delete the oldest old tracks beyond the history limit,
/// never one with pods, a stale status or a protected one.
pub(super) fn cleanup_history(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    protected: &[TrackId],
) {
    let Some(limit) = v.spec.revision_history_limit() else {
        return;
    };
    let mut old: Vec<(u64, TrackId)> = state
        .tracks
        .iter()
        .filter(|t| !t.deleting && !protected.contains(&t.id) && v.observed(t.id).is_some())
        .map(|t| (t.revision, t.id))
        .collect();
    let excess = old.len().saturating_sub(limit as usize);
    if excess == 0 {
        return;
    }
    old.sort_unstable();
    for &(rev, id) in &old[..excess] {
        let t = v.observed(id);
        if t.is_some_and(|t| t.spec_replicas != 0 || t.replicas != 0 || t.status_stale) {
            continue;
        }
        // Never delete a track this very decision scales up (the controller
        // would, from its stale list; we do not).
        if fx.scales_up(id) {
            continue;
        }
        if let Some(r) = state.track_mut(id) {
            r.deleting = true;
        }
        fx.act(
            Action::DeleteTrack { track: id },
            format!("revision {rev} is beyond the history limit of {limit}"),
        );
    }
}

/// `getAllReplicaSetsAndSyncRevision`: a track that becomes the target again
/// gets revision max(old) + 1.
pub(super) fn sync_revision(state: &mut RolloutState, fx: &mut Effects, id: TrackId) {
    let max_old = state
        .tracks
        .iter()
        .filter(|t| !t.deleting && t.id != id)
        .map(|t| t.revision)
        .max();
    let old_rev = state.revision_of(id);
    if let Some(m) = max_old
        && old_rev <= m
    {
        let revision = m + 1;
        if let Some(rec) = state.track_mut(id) {
            rec.revision = revision;
        }
        fx.act(
            Action::SetRevision { track: id, revision },
            format!(
                "revision {old_rev} is the target again (undo or abort): it becomes revision {revision}"
            ),
        );
    }
}

/// `getNewReplicaSet`: the current track gets the spec's `minReadySeconds`
/// when only that changed (no new revision for it).
pub(super) fn sync_min_ready(v: &View<'_>, state: &RolloutState, fx: &mut Effects, id: TrackId) {
    let want = v.spec.min_ready();
    let Some(have) = v.observed(id).and_then(|t| t.min_ready) else {
        return;
    };
    if have != want {
        let rev = state.revision_of(id);
        fx.act(
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
pub(super) fn sweep(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, keep: &[TrackId]) {
    let ids: Vec<TrackId> = state
        .tracks
        .iter()
        .filter(|t| !t.deleting && !keep.contains(&t.id))
        .map(|t| t.id)
        .collect();
    for id in ids {
        if v.spec_replicas(id) == 0 {
            if let Some(r) = state.track_mut(id) {
                r.scale_down_at = None;
            }
            continue;
        }
        let t = v.traffic();
        if t.active == Some(id) || (t.canary == Some(id) && t.canary_weight > 0) {
            continue;
        }
        match state.track(id).and_then(|r| r.scale_down_at) {
            Some(at) if at > v.now() => fx.requeue_at(at),
            Some(_) => ensure_size(v, state, fx, id, 0, "its scale-down time has come"),
            None => ensure_size(
                v,
                state,
                fx,
                id,
                0,
                "it is neither stable nor the current candidate",
            ),
        }
    }
}

/// `kubectl rollout undo [--to-revision]`: a roll-forward to an old template
/// (`None`: the previous revision).
pub(super) fn undo(
    state: &mut RolloutState,
    fx: &mut Effects,
    to: Option<u64>,
) -> Result<(), Error> {
    if state.paused {
        return Err(Error::UndoWhilePaused);
    }
    let revisions = state.revisions();
    let rev = match to {
        Some(r) if r > 0 => r,
        _ => {
            if revisions.len() < 2 {
                return Err(Error::NoPreviousRevision);
            }
            revisions[revisions.len() - 2]
        }
    };
    let Some(rec) = state
        .tracks
        .iter()
        .find(|t| !t.deleting && t.revision == rev)
    else {
        return Err(Error::UnknownRevision { revision: rev });
    };
    if state.target.as_deref() == Some(&*rec.template) {
        fx.explain(format!(
            "skipped rollback (current template already matches revision {rev})"
        ));
    } else {
        fx.explain(format!(
            "undo: rolling back to revision {rev} (`{}`)",
            rec.template
        ));
        state.target = Some(rec.template.clone());
        state.aborted = false;
    }
    Ok(())
}
