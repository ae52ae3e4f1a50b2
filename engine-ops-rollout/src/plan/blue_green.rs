//! Blue-green: the candidate colour comes up beside the live one, is checked,
//! promoted, switched to when fully available, checked again, and the old colour
//! is kept for a delay during which traffic can go back in one action.
//!
//! [`plan`] settles what is outside the stage machine (the first deployment,
//! a retry, a new or reverted target, an operator or deadline abort), then
//! runs the stage machine: one handler per [`Stage`], each returning the
//! [`Flow`] the driver applies (see [`super::stage`] for which stage may
//! follow which).

use super::candidate::{
    Retarget, begin_candidate, deadline_aborts, deploy_first, held_by_pause, hold, idle_phase,
    mark_aborted, retarget, retire_candidate, retry_candidate, scale_down_aborted, sweep_others,
    wait_for_pods,
};
use super::checks::{Verdict, forget_checks, run_checks};
use super::effects::Effects;
use super::progress::{Clock, sync_status};
use super::stage::{Flow, enter};
use super::tracks::{
    cleanup_history, ensure_size, schedule_scale_down, set_preview, sweep, switch_active,
    sync_min_ready, sync_revision,
};
use super::view::View;
use crate::decision::Phase;
use crate::observation::TrackId;
use crate::spec::{BlueGreenStrategy, Promotion};
use crate::state::{RolloutState, Stage};
use crate::time::Timestamp;

/// The most stage changes one decision makes. A decision never enters a
/// stage twice (no hop goes back), so the longest walk is a stage left by
/// another strategy → `Provisioning` → `PrePromotion` → `AwaitingPromotion`
/// → `ScalingUp` → `PostPromotion` → `Draining` → `Idle`: seven hops, and the
/// eighth pass handles `Idle` and ends the decision. Running out of hops
/// would be a bug (a cycle in the stage graph); debug builds assert it does
/// not happen.
const MAX_STAGE_HOPS: usize = 8;

/// The blue-green strategy's decision.
pub(super) fn plan(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
) {
    let n = v.replicas();
    let target = state.target_or(v.spec);

    let Some(stable) = state.stable else {
        let (id, live) = deploy_first(
            v,
            state,
            fx,
            &target,
            "first deployment: nothing is live yet, so there is nothing to preview against",
        );
        if live {
            idle(v, state, fx, id);
        } else {
            wait_for_colour(v, state, fx, id, n);
        }
        return;
    };

    if let Some(c) = retry_candidate(v, state, Stage::Provisioning) {
        fx.explain(format!(
            "retry: attempt {} of revision {}",
            state.attempt,
            state.revision_of(c)
        ));
    }

    // A new target: supersede what is in flight, or go back to stable.
    match retarget(state, stable, &target) {
        Retarget::Unchanged => {}
        Retarget::BackToStable => {
            abort(v, state, fx, "the target template is the stable one again")
        }
        Retarget::New { superseded } => {
            if let Some(c) = superseded {
                retire_candidate(v, state, fx, c);
                fx.explain(format!(
                    "revision {} is superseded by `{target}`",
                    state.revision_of(c)
                ));
            }
            let live = v.traffic().active;
            match state
                .track_with_template(&target)
                .filter(|&t| Some(t) == live && t != stable)
            {
                Some(id) => {
                    fast_track(v, state, fx, id, &target);
                    return;
                }
                None => {
                    let id = begin_candidate(v, state, fx, stable, &target, Stage::Provisioning);
                    fx.explain(format!(
                        "new colour: revision {} (`{target}`)",
                        state.revision_of(id)
                    ));
                }
            }
        }
    }

    // The current track (the candidate, or the stable one when nothing is
    // in flight) runs with the spec's minReadySeconds.
    let current = state.candidate.unwrap_or(stable);
    sync_min_ready(v, state, fx, current);

    if v.commands.abort {
        abort(v, state, fx, "operator abort");
    }
    if deadline_aborts(v, state) {
        abort(v, state, fx, "progress deadline exceeded");
    }
    sweep_others(v, state, fx, stable);
    run_stages(v, state, fx, b, stable);
}

/// The stage machine: handles the current stage, applies the [`Flow`] it
/// returns, until one ends the decision.
fn run_stages(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
    stable: TrackId,
) {
    for _ in 0..MAX_STAGE_HOPS {
        let stage = state.stage;
        let Some(c) = state.candidate.filter(|_| stage != Stage::Idle) else {
            // Nothing in flight (or the candidate just became the stable colour).
            idle(v, state, fx, state.stable.unwrap_or(stable));
            return;
        };
        if held_by_pause(v, state, fx, c) {
            return;
        }
        let flow = match stage {
            Stage::Provisioning => provisioning(v, state, fx, b, c),
            Stage::PrePromotion => pre_promotion(v, state, fx, b, c),
            Stage::AwaitingPromotion { since } => awaiting_promotion(v, state, fx, b, c, since),
            Stage::ScalingUp => scaling_up(v, state, fx, c),
            Stage::PostPromotion => post_promotion(v, state, fx, b, stable, c),
            Stage::Draining { until } => draining(v, state, fx, stable, c, until),
            Stage::Aborted => {
                aborted(v, state, fx, b, stable, c);
                Flow::Wait
            }
            // A stage of another strategy (the spec's strategy changed): start over.
            Stage::Idle | Stage::Step { .. } | Stage::Promoting => Flow::Next(Stage::Provisioning),
        };
        match flow {
            Flow::Next(next) => enter(state, next),
            Flow::NextDecision(next) => return enter(state, next),
            Flow::Abort(why) => abort(v, state, fx, &why),
            Flow::Wait => return,
        }
    }
    debug_assert!(
        false,
        "blue-green ran out of stage hops: a cycle in the stage graph"
    );
}

/// The target's colour already takes all traffic (an undo to it, or a
/// template changed back while the next colour was provisioned): it becomes
/// the stable colour at once, never a candidate brought up again from its
/// preview size.
fn fast_track(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, id: TrackId, target: &str) {
    sync_revision(state, fx, id);
    state.stable = Some(id);
    state.candidate = None;
    enter(state, Stage::Idle);
    state.aborted = false;
    forget_checks(state);
    fx.explain(format!(
        "revision {} (`{target}`) already takes all traffic: it is the stable colour (fast-track)",
        state.revision_of(id)
    ));
    idle(v, state, fx, id);
}

/// `Provisioning`: the new colour comes up beside the live one at its
/// preview size, and the preview service shows it.
fn provisioning(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
    c: TrackId,
) -> Flow {
    let n = v.replicas();
    // A colour that still takes all traffic (a retry before the abort could
    // switch back) keeps the full count.
    let want = if v.traffic().active == Some(c) {
        n
    } else {
        b.preview_replicas.unwrap_or(n).min(n)
    };
    ensure_size(
        v,
        state,
        fx,
        c,
        want,
        "bring the new colour up beside the live one",
    );
    if v.observed(c).is_some() {
        set_preview(
            v,
            fx,
            Some(c),
            "the preview service shows the new colour before any switch",
        );
    }
    if v.observed(c).is_some() && v.available(c) >= want {
        return Flow::Next(Stage::PrePromotion);
    }
    wait_for_colour(v, state, fx, c, want);
    Flow::Wait
}

/// `PrePromotion`: the smoke tests gate promotion; a failure aborts, an
/// inconclusive result waits for `Promote` or `Abort`.
fn pre_promotion(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
    c: TrackId,
) -> Flow {
    let awaiting = Stage::AwaitingPromotion { since: v.now() };
    match run_checks(v, state, fx, &b.pre_promotion, c, "pre-promotion") {
        Verdict::Passed => Flow::Next(awaiting),
        Verdict::Failed(why) => Flow::Abort(why),
        Verdict::Inconclusive(_) if v.commands.promote => Flow::Next(awaiting),
        Verdict::Inconclusive(why) => {
            hold(
                v,
                state,
                fx,
                c,
                format!("{why}: Promote to continue, Abort to roll back"),
            );
            Flow::Wait
        }
        Verdict::Pending => {
            hold(v, state, fx, c, "pre-promotion checks are running".into());
            fx.set_phase(Phase::Progressing);
            Flow::Wait
        }
    }
}

/// `AwaitingPromotion` (since `since`): promotion is automatic, manual or
/// timed.
fn awaiting_promotion(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
    c: TrackId,
    since: Timestamp,
) -> Flow {
    let promote = v.commands.promote;
    let go = match b.promotion {
        Promotion::Automatic => true,
        Promotion::Manual => promote,
        Promotion::After(d) => {
            if !promote && v.now() < since + d {
                fx.requeue_at(since + d);
            }
            promote || v.now() >= since + d
        }
    };
    if !go {
        hold(
            v,
            state,
            fx,
            c,
            "waiting for promotion (Promote to switch)".into(),
        );
        if matches!(b.promotion, Promotion::After(_)) {
            fx.set_phase(Phase::Progressing);
        }
        return Flow::Wait;
    }
    fx.explain(format!("revision {} promoted", state.revision_of(c)));
    Flow::Next(Stage::ScalingUp)
}

/// `ScalingUp`: the new colour reaches the full count; once all of it is
/// available traffic switches to it.
fn scaling_up(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, c: TrackId) -> Flow {
    let n = v.replicas();
    ensure_size(
        v,
        state,
        fx,
        c,
        n,
        "promotion: the new colour must reach the full count before the switch",
    );
    if v.available(c) < n {
        wait_for_colour(v, state, fx, c, n);
        return Flow::Wait;
    }
    if v.traffic().active == Some(c) {
        // Already live (a retry before the abort switched back).
        return Flow::Next(Stage::PostPromotion);
    }
    switch_active(
        v,
        state,
        fx,
        c,
        "the new colour is fully available and its gates passed",
    );
    sync_status(v, state, fx, Some(c), false, Clock::Hold);
    // The switch must be observed before the post-promotion checks start.
    Flow::NextDecision(Stage::PostPromotion)
}

/// `PostPromotion`: once the switch is observed, the post-promotion checks
/// run while the old colour stays at full size; a failure switches back.
fn post_promotion(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
    stable: TrackId,
    c: TrackId,
) -> Flow {
    let n = v.replicas();
    if v.traffic().active != Some(c) {
        if v.available(c) < n {
            return Flow::Abort(
                "the new colour lost availability before the switch took effect".into(),
            );
        }
        switch_active(
            v,
            state,
            fx,
            c,
            "the new colour is fully available and its gates passed",
        );
        hold(v, state, fx, c, "waiting to observe the switch".into());
        fx.set_phase(Phase::Progressing);
        return Flow::Wait;
    }
    let keep_old_because = match run_checks(v, state, fx, &b.post_promotion, c, "post-promotion") {
        Verdict::Passed => "post-promotion checks passed; the old colour stays for rollback",
        Verdict::Inconclusive(_) if v.commands.promote => "promoted past an inconclusive check",
        Verdict::Failed(why) => return Flow::Abort(why),
        Verdict::Inconclusive(why) => {
            hold(
                v,
                state,
                fx,
                c,
                format!("{why}: Promote to keep the new colour, Abort to switch back"),
            );
            return Flow::Wait;
        }
        Verdict::Pending => {
            hold(
                v,
                state,
                fx,
                c,
                "post-promotion checks are running; the old colour is kept".into(),
            );
            fx.set_phase(Phase::Progressing);
            return Flow::Wait;
        }
    };
    let until = v.now() + b.scale_down_delay;
    schedule_scale_down(v, state, fx, stable, until, keep_old_because);
    Flow::Next(Stage::Draining { until })
}

/// `Draining` (until `until`): the old colour is kept for an instant
/// rollback, then scaled to zero; once it is, the new colour is the stable one.
fn draining(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    stable: TrackId,
    c: TrackId,
    until: Timestamp,
) -> Flow {
    if v.now() < until {
        fx.requeue_at(until);
        hold(
            v,
            state,
            fx,
            c,
            format!("old colour kept until {until} for an instant rollback"),
        );
        fx.set_phase(Phase::Progressing);
        return Flow::Wait;
    }
    ensure_size(
        v,
        state,
        fx,
        stable,
        0,
        "the scale-down delay after the switch has elapsed",
    );
    if v.spec_replicas(stable) != 0 {
        sync_status(v, state, fx, Some(c), false, Clock::Hold);
        fx.set_phase(Phase::Progressing);
        return Flow::Wait;
    }
    state.stable = Some(c);
    state.candidate = None;
    forget_checks(state);
    if let Some(r) = state.track_mut(stable) {
        r.scale_down_at = None;
    }
    Flow::Next(Stage::Idle)
}

/// Marks the rollout aborted; the `Aborted` stage then puts traffic back.
fn abort(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, why: &str) {
    match state.stage {
        Stage::Idle | Stage::Aborted => {
            if state.candidate.is_none() || state.stage == Stage::Idle {
                fx.explain(format!("{why}: nothing in flight to abort"));
            }
            return;
        }
        Stage::Draining { until } if v.now() >= until => {
            fx.explain(format!(
                "{why}: the old colour is already being scaled down, nothing to abort; Undo rolls back"
            ));
            return;
        }
        _ => {}
    }
    if let Some(s) = state.stable
        && let Some(r) = state.track_mut(s)
    {
        r.scale_down_at = None;
    }
    mark_aborted(v, state, fx, why);
}

/// `Aborted`: traffic goes back to the stable colour once it is fully
/// available, then the aborted colour is scaled down after its delay.
fn aborted(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    b: &BlueGreenStrategy,
    stable: TrackId,
    c: TrackId,
) {
    let n = v.replicas();
    if v.traffic().active == Some(stable) {
        ensure_size(
            v,
            state,
            fx,
            stable,
            n,
            "the stable colour serves all traffic",
        );
    } else if v.available(stable) >= n {
        switch_active(
            v,
            state,
            fx,
            stable,
            "rollback: the stable colour is up, traffic goes back to it",
        );
    } else {
        ensure_size(
            v,
            state,
            fx,
            stable,
            n,
            "rollback: the stable colour must be fully available before traffic returns",
        );
    }
    set_preview(v, fx, None, "the aborted colour is no longer previewed");
    let active = v.traffic().active;
    if active == Some(stable) || active.is_none() {
        scale_down_aborted(v, state, fx, c, b.abort_scale_down_delay, "aborted colour");
    }
    sync_status(v, state, fx, Some(stable), false, Clock::CountsOnly);
    fx.set_phase(Phase::Degraded);
}

/// Nothing in flight: the live colour runs the desired count and takes the
/// traffic; other colours are swept and the history is trimmed.
fn idle(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, stable: TrackId) {
    let n = v.replicas();
    ensure_size(
        v,
        state,
        fx,
        stable,
        n,
        "the live colour runs the desired count",
    );
    if v.traffic().active != Some(stable) && v.available(stable) >= n {
        switch_active(
            v,
            state,
            fx,
            stable,
            "the active service must select the live colour",
        );
    }
    if v.traffic().preview.is_some() {
        set_preview(v, fx, None, "nothing to preview");
    }
    sweep(v, state, fx, &[stable]);
    cleanup_history(v, state, fx, &[stable]);
    let complete = v.available(stable) >= n && v.traffic().active == Some(stable);
    sync_status(v, state, fx, Some(stable), complete, Clock::Evaluate);
    idle_phase(state, fx, complete);
}

/// Waits for the colour's pods, saying how many are available.
fn wait_for_colour(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: TrackId,
    want: u32,
) {
    wait_for_pods(v, state, fx, c);
    fx.explain(format!(
        "waiting for revision {}: {} of {want} available",
        state.revision_of(c),
        v.available(c)
    ));
}
