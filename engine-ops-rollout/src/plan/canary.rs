//! Canary: weight steps, pauses and analysis gates; replica-weighted within the
//! surge / unavailable budget, or router-weighted beside a full-size stable.

use super::candidate::Retarget;
use super::{Clock, Counted, Cx, Verdict};
use crate::{Action, CanaryStep, CanaryStrategy, Fenceposts, Phase, Stage, Timestamp, TrackId};

pub(super) fn plan(cx: &mut Cx<'_>, c: &CanaryStrategy) {
    let n = cx.spec.replicas();
    let f = Fenceposts::resolve(n, c.max_surge, c.max_unavailable);
    cx.min_available = if c.traffic_routing {
        n
    } else {
        f.min_available()
    };
    let target = cx.target_arc();

    let Some(stable) = cx.st.stable else {
        let (id, live) = cx.deploy_first(
            &target,
            "first deployment: no stable revision to compare against",
        );
        if live {
            idle(cx, c, id);
        } else {
            cx.wait_for_pods(id);
        }
        return;
    };

    let step_zero = Stage::Step {
        index: 0,
        since: cx.obs.now,
    };
    if cx.retry_candidate(step_zero).is_some() {
        cx.explain
            .push(format!("retry: attempt {}, back to step 0", cx.st.attempt));
    }

    match cx.retarget(stable, &target) {
        Retarget::Unchanged => {}
        Retarget::BackToStable => abort(cx, "the target template is the stable one again"),
        Retarget::New { superseded } => {
            if let Some(old) = superseded {
                cx.retire_candidate(old);
                zero_weight(
                    cx,
                    old,
                    "superseded canary: traffic back to stable before it is scaled down",
                );
            }
            let id = cx.begin_candidate(stable, &target, step_zero);
            cx.explain.push(format!(
                "canary: revision {} (`{target}`) from step 0",
                cx.revision(id)
            ));
        }
    }

    if cx.abort {
        abort(cx, "operator abort");
    }
    if cx.deadline_aborts() {
        abort(cx, "progress deadline exceeded");
    }

    match cx.st.candidate {
        // Without a router, superseded canaries carry traffic in proportion to
        // their available pods: drain them within the budget.
        Some(cand) if !c.traffic_routing && cx.st.stage != Stage::Idle => {
            drain_older(cx, &f, stable, cand);
        }
        _ => cx.sweep_others(stable),
    }

    for _ in 0..(c.steps.len() + 6) {
        let stage = cx.st.stage;
        let Some(cand) = cx.st.candidate.filter(|_| stage != Stage::Idle) else {
            idle(cx, c, stable);
            return;
        };
        if cx.held_by_pause(cand) {
            return;
        }
        // The background analysis is honoured at every step, manual gates included.
        if !matches!(stage, Stage::Aborted)
            && cx.o(cand).is_some()
            && let Some(a) = &c.analysis
            && let Verdict::Failed(why) = cx.run_checks(std::slice::from_ref(a), cand, "background")
        {
            abort(cx, &why);
            continue;
        }
        match stage {
            Stage::Step { index, since } => {
                let Some(step) = c.steps.get(index) else {
                    cx.st.stage = Stage::Promoting;
                    cx.explain
                        .push("all steps passed: promoting the canary".into());
                    continue;
                };
                match run_step(cx, c, &f, [stable, cand], index, since, step) {
                    StepFlow::Wait => return,
                    StepFlow::Aborted => continue,
                    StepFlow::Done => {
                        cx.promote = false;
                        cx.explain.push(format!("step {index} done"));
                        cx.st.stage = Stage::Step {
                            index: index + 1,
                            since: cx.obs.now,
                        };
                    }
                }
            }
            Stage::Promoting => {
                if promote(cx, c, &f, stable, cand) {
                    return;
                }
                cx.wait_for_pods(cand);
                return;
            }
            Stage::Aborted => {
                aborted(cx, c, &f, stable, cand);
                return;
            }
            _ => {
                cx.st.stage = Stage::Step {
                    index: 0,
                    since: cx.obs.now,
                }
            }
        }
    }
    if let Some(cand) = cx.st.candidate {
        cx.wait_for_pods(cand);
    }
}

/// What one canary step decided.
enum StepFlow {
    /// The step is done: go to the next one.
    Done,
    /// The step waits (pods, a pause, a running analysis); the decision ends.
    Wait,
    /// The step's analysis failed and aborted the rollout.
    Aborted,
}

/// Runs step `index` (begun at `since`) of the canary `cand` beside `stable`.
fn run_step(
    cx: &mut Cx<'_>,
    c: &CanaryStrategy,
    f: &Fenceposts,
    [stable, cand]: [TrackId; 2],
    index: usize,
    since: Timestamp,
    step: &CanaryStep,
) -> StepFlow {
    match step {
        CanaryStep::SetWeight(w) => {
            if set_weight(cx, c, f, stable, cand, *w) {
                return StepFlow::Done;
            }
            cx.wait_for_pods(cand);
            StepFlow::Wait
        }
        CanaryStep::Pause(Some(d)) => {
            let until = since + *d;
            if cx.promote || cx.obs.now >= until {
                return StepFlow::Done;
            }
            cx.requeue_at(until);
            cx.hold(cand, format!("step {index}: pause until {until}"));
            cx.phase = Phase::Progressing;
            StepFlow::Wait
        }
        CanaryStep::Pause(None) => {
            if cx.promote {
                return StepFlow::Done;
            }
            cx.hold(cand, format!("step {index}: paused until Promote"));
            StepFlow::Wait
        }
        CanaryStep::Analysis(check) => {
            match cx.run_checks(std::slice::from_ref(check), cand, "step") {
                Verdict::Passed => StepFlow::Done,
                Verdict::Inconclusive(_) if cx.promote => StepFlow::Done,
                Verdict::Failed(why) => {
                    abort(cx, &why);
                    StepFlow::Aborted
                }
                Verdict::Inconclusive(why) => {
                    cx.hold(
                        cand,
                        format!("{why}: Promote to continue, Abort to roll back"),
                    );
                    StepFlow::Wait
                }
                Verdict::Pending => {
                    cx.hold(
                        cand,
                        format!("step {index}: analysis `{}` running", check.name),
                    );
                    cx.phase = Phase::Progressing;
                    StepFlow::Wait
                }
            }
        }
    }
}

/// Desired (canary, stable) replica counts for weight `w` without a router, as
/// Argo Rollouts' basic canary: both sides round up, so for 1–99 % neither is
/// empty (the total may be n + 1, paid for by one extra surge pod).
pub(crate) fn desired_counts(n: u32, w: u32) -> (u32, u32) {
    let n64 = u64::from(n);
    let w = u64::from(w.min(100));
    let canary = (n64 * w).div_ceil(100);
    let stable = (n64 * (100 - w)).div_ceil(100);
    (
        u32::try_from(canary).unwrap_or(n),
        u32::try_from(stable).unwrap_or(n),
    )
}

/// Routed: ceil(w·n/100) canary pods, at least one for w > 0.
fn routed_replicas(n: u32, w: u32) -> u32 {
    if w == 0 || n == 0 {
        return 0;
    }
    let c = (u64::from(n) * u64::from(w)).div_ceil(100);
    u32::try_from(c).unwrap_or(n).clamp(1, n)
}

/// Tracks other than stable and canary that still have pods (superseded canaries).
fn older(cx: &Cx<'_>, stable: TrackId, cand: TrackId) -> Vec<TrackId> {
    cx.st
        .tracks
        .iter()
        .filter(|t| !t.deleting && t.id != stable && t.id != cand && cx.spec_of(t.id) > 0)
        .map(|t| t.id)
        .collect()
}

/// Scales older tracks down, oldest first: pods that are not available at
/// once, available ones within `Σ available - (n - maxUnavailable)` (Argo's
/// `cleanupUnhealthyReplicas` and `scaleDownOldReplicaSetsForCanary`).
fn drain_older(cx: &mut Cx<'_>, f: &Fenceposts, stable: TrackId, cand: TrackId) {
    let available: u32 = cx.obs.tracks.iter().map(|t| t.available).sum();
    let mut budget = i64::from(available) - i64::from(f.min_available());
    for id in older(cx, stable, cand) {
        let (spec, avail) = (cx.spec_of(id), cx.avail_of(id).min(cx.spec_of(id)));
        let mut to = avail;
        if budget > 0 {
            let d = u32::try_from(i64::from(to).min(budget)).unwrap_or(0);
            to -= d;
            budget -= i64::from(d);
        }
        if to != spec {
            cx.ensure_size(
                id,
                to,
                "a superseded canary is drained within the availability budget",
            );
        }
    }
}

/// One step of Argo Rollouts' `CalculateReplicaCountsForCanary` (no router):
/// scale up within n + maxSurge (+1 when the weight does not divide n), stable
/// first; scale down within the availability budget, only once no older track
/// has pods. Returns true when both sides are at their desired counts and
/// available.
fn split(
    cx: &mut Cx<'_>,
    f: &Fenceposts,
    stable: TrackId,
    cand: TrackId,
    w: u32,
    why: &str,
) -> bool {
    let n = cx.spec.replicas();
    let (want_new, want_stable) = desired_counts(n, w);
    let (ss, cs) = (cx.spec_of(stable), cx.spec_of(cand));
    let (sa, ca) = (cx.avail_of(stable), cx.avail_of(cand));
    let older = older(cx, stable, cand);
    let older_total: u32 = older.iter().map(|&id| cx.spec_of(id)).sum();
    let older_available: u32 = older.iter().map(|&id| cx.avail_of(id)).sum();
    if cx.o(cand).is_some()
        && ss == want_stable
        && cs == want_new
        && sa == want_stable
        && ca == want_new
    {
        return older_available == 0;
    }
    let extra = u32::from((u64::from(n) * u64::from(w)) % 100 != 0);
    let max_allowed = i64::from(n) + i64::from(f.max_surge) + i64::from(extra);
    let mut scale_up = max_allowed - i64::from(ss + cs + older_total);
    let (mut stable_to, mut new_to) = (ss, cs);
    if ss < want_stable && scale_up > 0 {
        let gap = i64::from(want_stable - ss);
        if scale_up < gap {
            stable_to = ss + u32::try_from(scale_up).unwrap_or(0);
            scale_up = 0;
        } else {
            stable_to = want_stable;
            scale_up -= gap;
        }
    }
    if cs < want_new && scale_up > 0 {
        new_to = want_new.min(cs.saturating_add(u32::try_from(scale_up).unwrap_or(u32::MAX)));
    }
    if older_total == 0 {
        // GetReplicasForScaleDown: the side that shrinks counts only its available pods.
        let increasing = want_new >= cs;
        let count = |spec: u32, avail: u32, ignore_availability: bool| {
            if spec < avail || ignore_availability {
                spec
            } else {
                avail
            }
        };
        let total = i64::from(count(cs, ca, !increasing)) + i64::from(count(ss, sa, increasing));
        let mut down = total - i64::from(f.min_available());
        if down > 0 {
            if cs > want_new {
                let excess = i64::from(cs - want_new);
                if down > excess {
                    new_to = want_new;
                    down -= excess;
                } else {
                    new_to = cs - u32::try_from(down).unwrap_or(0);
                    down = 0;
                }
            }
            if ss > want_stable && down > 0 {
                let excess = i64::from(ss - want_stable);
                stable_to = if down > excess {
                    want_stable
                } else {
                    ss - u32::try_from(down).unwrap_or(0)
                };
            }
        }
    }
    cx.ensure_size(stable, stable_to, why);
    cx.ensure_size(cand, new_to, why);
    false
}

fn set_weight(
    cx: &mut Cx<'_>,
    c: &CanaryStrategy,
    f: &Fenceposts,
    stable: TrackId,
    cand: TrackId,
    w: u32,
) -> bool {
    let n = cx.spec.replicas();
    if !c.traffic_routing {
        let (ct, st) = desired_counts(n, w);
        return split(
            cx,
            f,
            stable,
            cand,
            w,
            &format!("weight {w}% carried by replicas: canary {ct}, stable {st}"),
        );
    }
    let need = routed_replicas(n, w);
    let t = cx.obs.traffic;
    let current = if t.canary == Some(cand) {
        t.canary_weight
    } else {
        0
    };
    if w < current {
        // Lower the weight before removing any canary pod.
        cx.act(
            Action::SetCanaryWeight {
                track: cand,
                weight: w,
            },
            format!("step lowers the canary weight from {current}% to {w}%"),
        );
        return false;
    }
    cx.ensure_size(
        stable,
        n,
        "the stable track keeps the full count while it takes traffic",
    );
    cx.ensure_size(
        cand,
        need,
        &format!(
            "weight {w}% needs ceil({w}·{n}/100) = {}",
            Counted(need, "canary pod")
        ),
    );
    if cx.o(cand).is_none() || cx.avail_of(cand) < need {
        return false;
    }
    let t = cx.obs.traffic;
    if t.canary != Some(cand) || t.canary_weight != w {
        cx.act(
            Action::SetCanaryWeight {
                track: cand,
                weight: w,
            },
            format!(
                "{} available (≥ {need}): send {w}% of traffic to revision {}",
                Counted(cx.avail_of(cand), "canary pod"),
                cx.revision(cand)
            ),
        );
        return false;
    }
    true
}

/// Promotion; true when this decision ended the rollout or emitted its step.
fn promote(
    cx: &mut Cx<'_>,
    c: &CanaryStrategy,
    f: &Fenceposts,
    stable: TrackId,
    cand: TrackId,
) -> bool {
    let n = cx.spec.replicas();
    if !c.traffic_routing {
        if split(
            cx,
            f,
            stable,
            cand,
            100,
            "promotion: the canary takes the full count",
        ) {
            finish(cx, stable, cand, None);
            idle(cx, c, cand);
            return true;
        }
        return false;
    }
    cx.ensure_size(cand, n, "promotion: the canary must reach the full count");
    if cx.avail_of(cand) < n {
        return false;
    }
    let t = cx.obs.traffic;
    if t.active != Some(cand) {
        if t.canary != Some(cand) || t.canary_weight != 100 {
            cx.act(
                Action::SetCanaryWeight {
                    track: cand,
                    weight: 100,
                },
                format!(
                    "promotion: all {} available, send it 100%",
                    Counted(n, "canary pod")
                ),
            );
        } else {
            cx.switch_active(cand, "promotion: the canary becomes the stable track");
        }
        cx.hold(cand, "promotion: shifting traffic".into());
        cx.phase = Phase::Progressing;
        return true;
    }
    let at = cx.obs.now + c.scale_down_delay;
    finish(cx, stable, cand, Some(at));
    idle(cx, c, cand);
    true
}

fn finish(cx: &mut Cx<'_>, old_stable: TrackId, cand: TrackId, scale_down_at: Option<Timestamp>) {
    cx.st.stable = Some(cand);
    cx.st.candidate = None;
    cx.st.stage = Stage::Idle;
    cx.forget_checks();
    cx.explain.push(format!(
        "revision {} is the stable revision",
        cx.revision(cand)
    ));
    if let Some(at) = scale_down_at {
        cx.schedule_scale_down(
            old_stable,
            at,
            "the previous stable revision is kept for a while after promotion",
        );
    }
}

fn abort(cx: &mut Cx<'_>, why: &str) {
    if matches!(cx.st.stage, Stage::Idle | Stage::Aborted) {
        if cx.st.stage == Stage::Idle {
            cx.explain
                .push(format!("{why}: nothing in flight to abort"));
        }
        return;
    }
    cx.mark_aborted(why);
}

fn zero_weight(cx: &mut Cx<'_>, cand: TrackId, why: &str) {
    let t = cx.obs.traffic;
    if t.canary == Some(cand) && t.canary_weight > 0 {
        cx.act(
            Action::SetCanaryWeight {
                track: cand,
                weight: 0,
            },
            why.to_owned(),
        );
    }
}

fn aborted(cx: &mut Cx<'_>, c: &CanaryStrategy, f: &Fenceposts, stable: TrackId, cand: TrackId) {
    let n = cx.spec.replicas();
    if c.traffic_routing {
        zero_weight(
            cx,
            cand,
            "abort: all traffic back to the stable revision first",
        );
        if cx.obs.traffic.active != Some(stable) && cx.avail_of(stable) >= n {
            cx.switch_active(
                stable,
                "abort: the stable service selects the stable revision",
            );
        }
        cx.ensure_size(stable, n, "abort: the stable revision serves everything");
        let t = cx.obs.traffic;
        let weight_gone = !(t.canary == Some(cand) && t.canary_weight > 0);
        if weight_gone {
            cx.scale_down_aborted(
                cand,
                c.abort_scale_down_delay,
                "aborted canary, at weight 0",
            );
        }
    } else {
        split(
            cx,
            f,
            stable,
            cand,
            0,
            "abort: capacity back to the stable revision within the budget",
        );
    }
    cx.sync_status(Some(stable), false, Clock::CountsOnly);
    cx.phase = Phase::Degraded;
}

fn idle(cx: &mut Cx<'_>, c: &CanaryStrategy, stable: TrackId) {
    let n = cx.spec.replicas();
    cx.ensure_size(stable, n, "the stable revision runs the desired count");
    if c.traffic_routing {
        if cx.obs.traffic.active != Some(stable) && cx.avail_of(stable) >= n {
            cx.switch_active(stable, "the stable service must select the stable revision");
        }
        if let Some(old) = cx.obs.traffic.canary
            && cx.obs.traffic.canary_weight > 0
            && cx.obs.traffic.active == Some(stable)
        {
            cx.act(
                Action::SetCanaryWeight {
                    track: old,
                    weight: 0,
                },
                "no canary in flight: weight back to 0".into(),
            );
        }
    }
    cx.sweep(&[stable]);
    cx.cleanup_history(&[stable]);
    let complete = cx.avail_of(stable) >= n;
    cx.sync_status(Some(stable), complete, Clock::Evaluate);
    cx.phase = cx.idle_phase(complete);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_counts_round_both_sides_up() {
        for n in 1..50 {
            for w in 1..100 {
                let (c, s) = desired_counts(n, w);
                assert!(c >= 1 && s >= 1, "n={n} w={w}");
                assert!(c + s == n || c + s == n + 1, "n={n} w={w}");
            }
        }
        assert_eq!(desired_counts(10, 20), (2, 8));
        assert_eq!(desired_counts(10, 25), (3, 8));
        assert_eq!(desired_counts(1, 5), (1, 1));
        assert_eq!(desired_counts(10, 0), (0, 10));
        assert_eq!(desired_counts(10, 100), (10, 0));
    }

    #[test]
    fn routed_replicas_round_up() {
        assert_eq!(routed_replicas(10, 5), 1);
        assert_eq!(routed_replicas(10, 25), 3);
        assert_eq!(routed_replicas(10, 100), 10);
    }
}
