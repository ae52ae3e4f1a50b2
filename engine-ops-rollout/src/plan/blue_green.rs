//! Blue-green: the candidate colour comes up beside the live one, is checked,
//! promoted, switched to when fully available, checked again, and the old colour
//! is kept for a delay during which traffic can go back in one action.

use super::candidate::Retarget;
use super::{Clock, Cx, Verdict};
use crate::{BlueGreenStrategy, Phase, Promotion, Stage, TrackId};

pub(super) fn plan(cx: &mut Cx<'_>, b: &BlueGreenStrategy) {
    let n = cx.spec.replicas();
    cx.min_available = n;
    let target = cx.target_arc();

    let Some(stable) = cx.st.stable else {
        let (id, live) = cx.deploy_first(
            &target,
            "first deployment: nothing is live yet, so there is nothing to preview against",
        );
        if live {
            idle(cx, id);
        } else {
            wait_for_pods(cx, id, n);
        }
        return;
    };

    if let Some(c) = cx.retry_candidate(Stage::Provisioning) {
        cx.explain.push(format!(
            "retry: attempt {} of revision {}",
            cx.st.attempt,
            cx.revision(c)
        ));
    }

    // A new target: supersede what is in flight, or go back to stable.
    match cx.retarget(stable, &target) {
        Retarget::Unchanged => {}
        Retarget::BackToStable => abort(cx, "the target template is the stable one again"),
        Retarget::New { superseded } => {
            if let Some(c) = superseded {
                cx.retire_candidate(c);
                cx.explain.push(format!(
                    "revision {} is superseded by `{target}`",
                    cx.revision(c)
                ));
            }
            let live = cx.obs.traffic.active;
            match cx
                .track_with(&target)
                .filter(|&t| Some(t) == live && t != stable)
            {
                // The target's colour already takes all traffic (an undo to
                // it, or a template changed back while the next colour was
                // provisioned): it becomes the stable colour at once, never
                // a candidate brought up again from its preview size.
                Some(id) => {
                    cx.sync_revision(id);
                    cx.st.stable = Some(id);
                    cx.st.candidate = None;
                    cx.st.stage = Stage::Idle;
                    cx.st.aborted = false;
                    cx.forget_checks();
                    cx.explain.push(format!(
                        "revision {} (`{target}`) already takes all traffic: it is the stable colour (fast-track)",
                        cx.revision(id)
                    ));
                    idle(cx, id);
                    return;
                }
                None => {
                    let id = cx.begin_candidate(stable, &target, Stage::Provisioning);
                    cx.explain.push(format!(
                        "new colour: revision {} (`{target}`)",
                        cx.revision(id)
                    ));
                }
            }
        }
    }

    // The current track (the candidate, or the stable one when nothing is
    // in flight) runs with the spec's minReadySeconds.
    let current = cx.st.candidate.unwrap_or(stable);
    cx.sync_min_ready(current);

    if cx.abort {
        abort(cx, "operator abort");
    }
    if cx.deadline_aborts() {
        abort(cx, "progress deadline exceeded");
    }
    cx.sweep_others(stable);

    for _ in 0..8 {
        let stage = cx.st.stage;
        let Some(c) = cx.st.candidate.filter(|_| stage != Stage::Idle) else {
            idle(cx, stable);
            return;
        };
        if cx.held_by_pause(c) {
            return;
        }
        match stage {
            Stage::Provisioning => {
                // A colour that still takes all traffic (a retry before the
                // abort could switch back) keeps the full count.
                let want = if cx.obs.traffic.active == Some(c) {
                    n
                } else {
                    b.preview_replicas.unwrap_or(n).min(n)
                };
                cx.ensure_size(c, want, "bring the new colour up beside the live one");
                if cx.o(c).is_some() {
                    cx.set_preview(
                        Some(c),
                        "the preview service shows the new colour before any switch",
                    );
                }
                if cx.o(c).is_some() && cx.avail_of(c) >= want {
                    cx.st.stage = Stage::PrePromotion;
                    continue;
                }
                wait_for_pods(cx, c, want);
                return;
            }
            Stage::PrePromotion => match cx.run_checks(&b.pre_promotion, c, "pre-promotion") {
                Verdict::Passed => {
                    cx.st.stage = Stage::AwaitingPromotion { since: cx.obs.now };
                }
                Verdict::Failed(why) => abort(cx, &why),
                Verdict::Inconclusive(why) if !cx.promote => {
                    cx.hold(c, format!("{why}: Promote to continue, Abort to roll back"));
                    return;
                }
                Verdict::Inconclusive(_) => {
                    cx.st.stage = Stage::AwaitingPromotion { since: cx.obs.now }
                }
                Verdict::Pending => {
                    cx.hold(c, "pre-promotion checks are running".into());
                    cx.phase = Phase::Progressing;
                    return;
                }
            },
            Stage::AwaitingPromotion { since } => {
                let go = match b.promotion {
                    Promotion::Automatic => true,
                    Promotion::Manual => cx.promote,
                    Promotion::After(d) => {
                        if !cx.promote && cx.obs.now < since + d {
                            cx.requeue_at(since + d);
                        }
                        cx.promote || cx.obs.now >= since + d
                    }
                };
                if !go {
                    cx.hold(c, "waiting for promotion (Promote to switch)".into());
                    if matches!(b.promotion, Promotion::After(_)) {
                        cx.phase = Phase::Progressing;
                    }
                    return;
                }
                cx.explain
                    .push(format!("revision {} promoted", cx.revision(c)));
                cx.st.stage = Stage::ScalingUp;
            }
            Stage::ScalingUp => {
                cx.ensure_size(
                    c,
                    n,
                    "promotion: the new colour must reach the full count before the switch",
                );
                if cx.avail_of(c) >= n {
                    cx.st.stage = Stage::PostPromotion;
                    if cx.obs.traffic.active == Some(c) {
                        // Already live (a retry before the abort switched back).
                        continue;
                    }
                    cx.switch_active(c, "the new colour is fully available and its gates passed");
                    cx.sync_status(Some(c), false, Clock::Hold);
                    return;
                }
                wait_for_pods(cx, c, n);
                return;
            }
            Stage::PostPromotion => {
                if cx.obs.traffic.active != Some(c) {
                    if cx.avail_of(c) >= n {
                        cx.switch_active(
                            c,
                            "the new colour is fully available and its gates passed",
                        );
                        cx.hold(c, "waiting to observe the switch".into());
                        cx.phase = Phase::Progressing;
                    } else {
                        abort(
                            cx,
                            "the new colour lost availability before the switch took effect",
                        );
                        continue;
                    }
                    return;
                }
                let keep_old_because = match cx.run_checks(&b.post_promotion, c, "post-promotion") {
                    Verdict::Passed => {
                        "post-promotion checks passed; the old colour stays for rollback"
                    }
                    Verdict::Inconclusive(_) if cx.promote => "promoted past an inconclusive check",
                    Verdict::Failed(why) => {
                        abort(cx, &why);
                        continue;
                    }
                    Verdict::Inconclusive(why) => {
                        cx.hold(
                            c,
                            format!("{why}: Promote to keep the new colour, Abort to switch back"),
                        );
                        return;
                    }
                    Verdict::Pending => {
                        cx.hold(
                            c,
                            "post-promotion checks are running; the old colour is kept".into(),
                        );
                        cx.phase = Phase::Progressing;
                        return;
                    }
                };
                let until = cx.obs.now + b.scale_down_delay;
                cx.schedule_scale_down(stable, until, keep_old_because);
                cx.st.stage = Stage::Draining { until };
            }
            Stage::Draining { until } => {
                if cx.obs.now < until {
                    cx.requeue_at(until);
                    cx.hold(
                        c,
                        format!("old colour kept until {until} for an instant rollback"),
                    );
                    cx.phase = Phase::Progressing;
                    return;
                }
                cx.ensure_size(
                    stable,
                    0,
                    "the scale-down delay after the switch has elapsed",
                );
                if cx.spec_of(stable) == 0 {
                    cx.st.stable = Some(c);
                    cx.st.candidate = None;
                    cx.st.stage = Stage::Idle;
                    cx.forget_checks();
                    if let Some(r) = cx.record_mut(stable) {
                        r.scale_down_at = None;
                    }
                    idle(cx, c);
                    return;
                }
                cx.sync_status(Some(c), false, Clock::Hold);
                cx.phase = Phase::Progressing;
                return;
            }
            Stage::Aborted => {
                aborted(cx, b, stable, c);
                return;
            }
            _ => {
                // A stage of another strategy (the spec's strategy changed): start over.
                cx.st.stage = Stage::Provisioning;
            }
        }
    }
}

/// Marks the rollout aborted; the `Aborted` stage then puts traffic back.
fn abort(cx: &mut Cx<'_>, why: &str) {
    match cx.st.stage {
        Stage::Idle | Stage::Aborted => {
            if cx.st.candidate.is_none() || cx.st.stage == Stage::Idle {
                cx.explain
                    .push(format!("{why}: nothing in flight to abort"));
            }
            return;
        }
        Stage::Draining { until } if cx.obs.now >= until => {
            cx.explain.push(format!(
                "{why}: the old colour is already being scaled down, nothing to abort; Undo rolls back"
            ));
            return;
        }
        _ => {}
    }
    if let Some(s) = cx.st.stable
        && let Some(r) = cx.record_mut(s)
    {
        r.scale_down_at = None;
    }
    cx.mark_aborted(why);
}

fn aborted(cx: &mut Cx<'_>, b: &BlueGreenStrategy, stable: TrackId, c: TrackId) {
    let n = cx.spec.replicas();
    if cx.obs.traffic.active != Some(stable) {
        if cx.avail_of(stable) >= n {
            cx.switch_active(
                stable,
                "rollback: the stable colour is up, traffic goes back to it",
            );
        } else {
            cx.ensure_size(
                stable,
                n,
                "rollback: the stable colour must be fully available before traffic returns",
            );
        }
    } else {
        cx.ensure_size(stable, n, "the stable colour serves all traffic");
    }
    cx.set_preview(None, "the aborted colour is no longer previewed");
    if cx.obs.traffic.active == Some(stable) || cx.obs.traffic.active.is_none() {
        cx.scale_down_aborted(c, b.abort_scale_down_delay, "aborted colour");
    }
    cx.sync_status(Some(stable), false, Clock::CountsOnly);
    cx.phase = Phase::Degraded;
}

fn idle(cx: &mut Cx<'_>, stable: TrackId) {
    let n = cx.spec.replicas();
    cx.ensure_size(stable, n, "the live colour runs the desired count");
    if cx.obs.traffic.active != Some(stable) && cx.avail_of(stable) >= n {
        cx.switch_active(stable, "the active service must select the live colour");
    }
    if cx.obs.traffic.preview.is_some() {
        cx.set_preview(None, "nothing to preview");
    }
    cx.sweep(&[stable]);
    cx.cleanup_history(&[stable]);
    let complete = cx.avail_of(stable) >= n && cx.obs.traffic.active == Some(stable);
    cx.sync_status(Some(stable), complete, Clock::Evaluate);
    cx.phase = cx.idle_phase(complete);
}

/// Waits for the colour's pods, saying how many are available.
fn wait_for_pods(cx: &mut Cx<'_>, c: TrackId, want: u32) {
    cx.wait_for_pods(c);
    cx.explain.push(format!(
        "waiting for revision {}: {} of {want} available",
        cx.revision(c),
        cx.avail_of(c)
    ));
}
