//! Blue-green: the candidate colour comes up beside the live one, is checked,
//! promoted, switched to when fully available, checked again, and the old colour
//! is kept for a delay during which traffic can go back in one action.

use super::{Clock, Cx, Verdict};
use crate::{BlueGreenStrategy, DeadlineAction, Phase, Promotion, Stage, TrackId};

pub(super) fn plan(cx: &mut Cx<'_>, b: &BlueGreenStrategy) {
    let n = cx.spec.replicas();
    cx.min_available = n;
    let target = cx.target_arc();

    let Some(stable) = cx.st.stable else {
        first_deployment(cx, &target);
        return;
    };
    let stable_template = cx.template_arc(stable);

    if cx.retry
        && cx.st.stage == Stage::Aborted
        && let Some(c) = cx.st.candidate
    {
        cx.st.aborted = false;
        cx.st.attempt += 1;
        cx.st.stage = Stage::Provisioning;
        cx.st.progress = None;
        if let Some(r) = cx.record_mut(c) {
            r.scale_down_at = None;
        }
        cx.explain.push(format!(
            "retry: attempt {} of revision {}",
            cx.st.attempt,
            cx.revision(c)
        ));
    }

    // A new target: supersede what is in flight, or go back to stable.
    let cand_template = cx
        .st
        .candidate
        .and_then(|c| cx.template_of(c))
        .map(str::to_owned);
    if cand_template.as_deref() != Some(&*target) {
        if target == stable_template {
            if cx.st.candidate.is_some()
                && cx.st.stage != Stage::Aborted
                && cx.st.stage != Stage::Idle
            {
                abort(cx, "the target template is the stable one again");
            }
        } else {
            if let Some(c) = cx.st.candidate
                && cx.st.stage != Stage::Idle
            {
                cx.stop_checks("superseded by a newer template");
                let now = cx.now;
                if let Some(r) = cx.record_mut(c) {
                    r.scale_down_at = Some(now);
                }
                cx.explain.push(format!(
                    "revision {} is superseded by `{target}`",
                    cx.revision(c)
                ));
            }
            start_candidate(cx, stable, &target);
        }
    }

    if cx.abort {
        abort(cx, "operator abort");
    }
    if cx.timed_out() && !cx.st.aborted && cx.spec.on_deadline() != DeadlineAction::Report {
        abort(cx, "progress deadline exceeded");
    }

    let keep: Vec<TrackId> = [Some(stable), cx.st.candidate]
        .into_iter()
        .flatten()
        .collect();
    cx.sweep(&keep);

    for _ in 0..8 {
        let stage = cx.st.stage;
        let Some(c) = cx.st.candidate.filter(|_| stage != Stage::Idle) else {
            idle(cx, stable);
            return;
        };
        if cx.st.paused && stage != Stage::Aborted {
            cx.sync_status(Some(c), false, Clock::Hold);
            cx.phase = Phase::Paused;
            cx.gate = Some("paused by operator; Resume continues the rollout".into());
            return;
        }
        cx.clock_hold(false);
        match stage {
            Stage::Provisioning => {
                let want = b.preview_replicas.unwrap_or(n).min(n);
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
                    cx.st.stage = Stage::AwaitingPromotion { since: cx.now };
                }
                Verdict::Failed(why) => abort(cx, &why),
                Verdict::Inconclusive(why) if !cx.promote => {
                    hold(
                        cx,
                        c,
                        format!("{why}: Promote to continue, Abort to roll back"),
                    );
                    return;
                }
                Verdict::Inconclusive(_) => {
                    cx.st.stage = Stage::AwaitingPromotion { since: cx.now }
                }
                Verdict::Pending => {
                    hold(cx, c, "pre-promotion checks are running".into());
                    cx.phase = Phase::Progressing;
                    return;
                }
            },
            Stage::AwaitingPromotion { since } => {
                let go = match b.promotion {
                    Promotion::Automatic => true,
                    Promotion::Manual => cx.promote,
                    Promotion::After(d) => {
                        if !cx.promote && cx.now < since + d {
                            cx.requeue_at(since + d);
                        }
                        cx.promote || cx.now >= since + d
                    }
                };
                if !go {
                    hold(cx, c, "waiting for promotion (Promote to switch)".into());
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
                    cx.switch_active(c, "the new colour is fully available and its gates passed");
                    cx.st.stage = Stage::PostPromotion;
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
                        hold(cx, c, "waiting to observe the switch".into());
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
                match cx.run_checks(&b.post_promotion, c, "post-promotion") {
                    Verdict::Passed => {
                        let until = cx.now + b.scale_down_delay;
                        cx.schedule_scale_down(
                            stable,
                            until,
                            "post-promotion checks passed; the old colour stays for rollback",
                        );
                        cx.st.stage = Stage::Draining { until };
                    }
                    Verdict::Inconclusive(_) if cx.promote => {
                        let until = cx.now + b.scale_down_delay;
                        cx.schedule_scale_down(
                            stable,
                            until,
                            "promoted past an inconclusive check",
                        );
                        cx.st.stage = Stage::Draining { until };
                    }
                    Verdict::Failed(why) => abort(cx, &why),
                    Verdict::Inconclusive(why) => {
                        hold(
                            cx,
                            c,
                            format!("{why}: Promote to keep the new colour, Abort to switch back"),
                        );
                        return;
                    }
                    Verdict::Pending => {
                        hold(
                            cx,
                            c,
                            "post-promotion checks are running; the old colour is kept".into(),
                        );
                        cx.phase = Phase::Progressing;
                        return;
                    }
                }
            }
            Stage::Draining { until } => {
                if cx.now < until {
                    cx.requeue_at(until);
                    hold(
                        cx,
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

fn first_deployment(cx: &mut Cx<'_>, target: &str) {
    let n = cx.spec.replicas();
    let (id, created) = match cx.track_with(target) {
        Some(id) => (id, false),
        None => (cx.new_record(target), true),
    };
    cx.st.candidate = Some(id);
    cx.ensure_size(
        id,
        n,
        "first deployment: nothing is live yet, so there is nothing to preview against",
    );
    cx.progress_new_track(created);
    if cx.o(id).is_some() && cx.avail_of(id) >= n {
        cx.st.stable = Some(id);
        cx.st.candidate = None;
        cx.st.stage = Stage::Idle;
        idle(cx, id);
        return;
    }
    wait_for_pods(cx, id, n);
}

fn start_candidate(cx: &mut Cx<'_>, stable: TrackId, target: &str) {
    let existing = cx.track_with(target).filter(|&t| t != stable);
    let id = existing.unwrap_or_else(|| cx.new_record(target));
    if existing.is_some() {
        cx.sync_revision(id);
    }
    if let Some(r) = cx.record_mut(id) {
        r.scale_down_at = None;
    }
    cx.st.candidate = Some(id);
    cx.st.stage = Stage::Provisioning;
    cx.st.attempt = 1;
    cx.st.aborted = false;
    cx.st.progress = None;
    cx.forget_checks();
    cx.progress_new_track(existing.is_none());
    cx.explain.push(format!(
        "new colour: revision {} (`{target}`)",
        cx.revision(id)
    ));
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
        Stage::Draining { until } if cx.now >= until => {
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
    cx.explain.push(format!("abort: {why}"));
    cx.stop_checks(why);
    cx.st.stage = Stage::Aborted;
    cx.st.aborted = true;
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
        let at = cx.now + b.abort_scale_down_delay;
        cx.schedule_scale_down(c, at, "aborted colour");
        if let Some(due) = cx.record(c).and_then(|r| r.scale_down_at) {
            if cx.now >= due {
                // A candidate whose creation never happened needs no scale-down.
                if cx.o(c).is_some() {
                    cx.ensure_size(c, 0, "the abort scale-down delay has elapsed");
                }
            } else {
                cx.requeue_at(due);
            }
        }
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
    cx.phase = if cx.st.aborted || cx.timed_out() {
        Phase::Degraded
    } else if cx.st.paused {
        cx.gate = Some("paused by operator; Resume continues".into());
        Phase::Paused
    } else if complete {
        Phase::Healthy
    } else {
        Phase::Progressing
    };
}

fn wait_for_pods(cx: &mut Cx<'_>, c: TrackId, want: u32) {
    cx.sync_status(Some(c), false, Clock::Evaluate);
    cx.explain.push(format!(
        "waiting for revision {}: {} of {want} available",
        cx.revision(c),
        cx.avail_of(c)
    ));
    cx.phase = if cx.timed_out() {
        Phase::Degraded
    } else {
        Phase::Progressing
    };
}

fn hold(cx: &mut Cx<'_>, c: TrackId, why: String) {
    cx.sync_status(Some(c), false, Clock::Hold);
    cx.gate = Some(why);
    cx.phase = Phase::Paused;
}
