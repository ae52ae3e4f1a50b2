//! Canary: weight steps, pauses and analysis gates; replica-weighted within the
//! surge / unavailable budget, or router-weighted beside a full-size stable.

use std::time::Duration;

use super::candidate::Retarget;
use super::{Clock, Counted, Cx, Verdict};
use crate::basic_canary::{self, Other, Pair, Rs};
use crate::{Action, CanaryStep, CanaryStrategy, Fenceposts, Phase, Stage, Timestamp, TrackId};

pub(super) fn plan(cx: &mut Cx<'_>, c: &CanaryStrategy) {
    let n = cx.spec.replicas();
    let f = Fenceposts::resolve(n, c.max_surge, c.max_unavailable);
    cx.min_available = if c.traffic_routing {
        n
    } else {
        f.min_available()
    };
    cx.stamp = if c.traffic_routing {
        (n, n)
    } else {
        (n, f.max_total())
    };
    let target = cx.target_arc();

    let Some(mut stable) = cx.st.stable else {
        let (id, live) = cx.deploy_first(
            &target,
            "first deployment: no stable revision to compare against",
        );
        if live {
            idle(cx, c, &f, id, &mut Pass::default());
        } else {
            cx.wait_for_pods(id);
        }
        return;
    };

    // A routed canary whose promotion already switched the active service
    // serves all traffic: it is the stable track before anything else is
    // decided (a new or reverted template must not treat it as a candidate).
    if c.traffic_routing
        && cx.st.stage == Stage::Promoting
        && let Some(cand) = cx.st.candidate
        && cx.obs.traffic.active == Some(cand)
    {
        let at = cx.obs.now + c.scale_down_delay;
        finish(cx, stable, cand, Some(at));
        stable = cand;
    }

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
        Retarget::BackToStable => revert_to_stable(cx, stable),
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

    if c.traffic_routing {
        cx.sweep_others(stable);
    }

    let mut pass = Pass::default();
    for _ in 0..(c.steps.len() + 6) {
        if let Stage::Step { index, .. } = cx.st.stage
            && index >= c.steps.len()
        {
            // Past the last step: promoting (sized for 100 % and judged in
            // the same iteration, as Argo does in one sync).
            cx.st.stage = Stage::Promoting;
            cx.explain
                .push("all steps passed: promoting the canary".into());
        }
        let stage = cx.st.stage;
        let Some(cand) = cx.st.candidate.filter(|_| stage != Stage::Idle) else {
            idle(cx, c, &f, stable, &mut pass);
            return;
        };
        if !c.traffic_routing && stage != Stage::Aborted && cx.o(cand).is_none() {
            // Argo Rollouts creates the canary's ReplicaSet at 0 (even while
            // paused) and sizes it in a later sync (the stable side may have
            // to move first).
            let rev = cx.revision(cand);
            cx.emit_create(
                cand,
                0,
                format!("create revision {rev} at 0: its size follows from the step's weight"),
            );
            if !cx.held_by_pause(cand) {
                cx.wait_for_pods(cand);
            }
            cx.defer_promote();
            return;
        }
        if !c.traffic_routing
            && cx.st.paused
            && stage == Stage::Promoting
            && cx.o(cand).is_some_and(|t| t.available >= n)
            && !scaling_event(cx, n, [stable, cand])
        {
            // Argo promotes a canary whose steps are done and whose pods are
            // all available even while paused (unless the replicas changed:
            // that sync only sizes, and sizing waits for Resume); nothing is
            // resized until Resume.
            finish(cx, stable, cand, None);
            idle(cx, c, &f, cand, &mut pass);
            return;
        }
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
        // Without a router, every decision first sizes the tracks for the
        // weight in force (Argo's `reconcileCanaryReplicaSets`), whatever the step.
        if !c.traffic_routing {
            // A decision that finds the stable or canary track annotated with
            // other replicas than the spec's only sizes (Argo's scaling event:
            // `syncReplicasOnly`); otherwise the step is judged after sizing,
            // on what was observed before this decision's resize.
            let scaling = scaling_event(cx, n, [stable, cand]);
            match pass.reconcile(cx, &f, stable, Some(cand), effective_weight(c, stage)) {
                Sized::Deferred => {
                    cx.defer_promote();
                    return;
                }
                _ if scaling => {
                    if stage == Stage::Aborted {
                        aborted_status(cx, stable);
                    } else {
                        cx.wait_for_pods(cand);
                    }
                    cx.defer_promote();
                    return;
                }
                Sized::Wrote | Sized::Unchanged => {}
            }
        }
        match stage {
            Stage::Step { index, since } => {
                let Some(step) = c.steps.get(index) else {
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
                if promote(cx, c, &f, stable, cand, &mut pass) {
                    return;
                }
                cx.wait_for_pods(cand);
                return;
            }
            Stage::Aborted => {
                aborted(cx, c, stable, cand);
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

/// The weight in force at a stage without a router: the last `SetWeight` at
/// or before the current step (0 before the first), 100 once the steps are
/// done, 0 after an abort (Argo's `GetCurrentSetWeight`).
fn effective_weight(c: &CanaryStrategy, stage: Stage) -> u32 {
    match stage {
        Stage::Step { index, .. } if index < c.steps.len() => c.steps[..=index]
            .iter()
            .rev()
            .find_map(|s| match s {
                CanaryStep::SetWeight(w) => Some(*w),
                _ => None,
            })
            .unwrap_or(0),
        Stage::Aborted => 0,
        _ => 100,
    }
}

/// Argo's `isScalingEvent`: the stable or canary track has pods and its
/// desired-replicas annotation names other replicas than the spec's.
fn scaling_event(cx: &Cx<'_>, n: u32, tracks: [TrackId; 2]) -> bool {
    tracks.iter().any(|&id| {
        cx.o(id)
            .is_some_and(|t| t.spec_replicas > 0 && t.desired_replicas.is_some_and(|d| d != n))
    })
}

/// What one sizing pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sized {
    /// Nothing written.
    Unchanged,
    /// A track was written (resized, or its annotation stamped); the step is
    /// still judged, on the observation, as Argo judges it in the same sync.
    Wrote,
    /// An earlier pass of this decision wrote; sizing again must see those
    /// writes first: the decision ends and asks to be planned again at once.
    Deferred,
}

/// The sizing passes of one decision (replica-weighted only).
#[derive(Debug, Default)]
struct Pass {
    /// A pass of this decision emitted a write.
    wrote: bool,
}

impl Pass {
    /// Argo Rollouts' `reconcileCanaryReplicaSets` without a router: the
    /// stable track first, then the canary (`cand`, or the stable track itself
    /// when nothing is in flight), then the older tracks (unavailable pods
    /// first, then newest revision first within the availability budget);
    /// the first of the three whose size changes ends the pass (a stale
    /// desired-replicas annotation alone is stamped on the way).
    fn reconcile(
        &mut self,
        cx: &mut Cx<'_>,
        f: &Fenceposts,
        stable: TrackId,
        cand: Option<TrackId>,
        weight: u32,
    ) -> Sized {
        if self.wrote {
            cx.requeue_in(Duration::ZERO);
            return Sized::Deferred;
        }
        let sized = self.pass(cx, f, stable, cand, weight);
        self.wrote = sized == Sized::Wrote;
        sized
    }

    fn pass(
        &mut self,
        cx: &mut Cx<'_>,
        f: &Fenceposts,
        stable: TrackId,
        cand: Option<TrackId>,
        weight: u32,
    ) -> Sized {
        let rs = |cx: &Cx<'_>, id: TrackId| {
            cx.o(id).map(|t| Rs {
                spec: t.spec_replicas,
                replicas: t.replicas,
                available: t.available,
            })
        };
        let new_id = cand.unwrap_or(stable);
        let pair = Pair {
            new: rs(cx, new_id),
            stable: rs(cx, stable),
            stable_is_new: cand.is_none(),
        };
        let others: Vec<Other> = cx
            .st
            .tracks
            .iter()
            .filter(|t| !t.deleting && t.id != stable && Some(t.id) != cand)
            .filter_map(|t| {
                rs(cx, t.id).map(|rs| Other {
                    id: t.id,
                    revision: t.revision,
                    rs,
                })
            })
            .collect();
        let others_spec: u64 = others.iter().map(|o| u64::from(o.rs.spec)).sum();
        let (new_count, stable_count) = basic_canary::replica_counts(f, weight, pair, others_spec);
        let n = f.replicas;
        let what = if cand.is_none() {
            format!("the stable revision takes all {}", Counted(n, "replica"))
        } else {
            let (c, s) = basic_canary::approximate_weighted_counts(n, weight, f.max_surge);
            format!("weight {weight}% carried by replicas (canary {c}, stable {s})")
        };
        let why = format!(
            "{what}; at most {} desired, at least {} available",
            f.max_total(),
            f.min_available()
        );
        let mut wrote = Sized::Unchanged;
        let mut write = |cx: &mut Cx<'_>, id: TrackId, count: u32| {
            let before = cx.actions_len();
            let resized = cx.ensure_size_and_stamp(id, count, &why);
            if cx.actions_len() > before {
                wrote = Sized::Wrote;
            }
            resized
        };
        if cand.is_some() && pair.stable.is_some() && write(cx, stable, stable_count) {
            return Sized::Wrote;
        }
        if pair.new.is_some() && write(cx, new_id, new_count) {
            return Sized::Wrote;
        }
        let active: Vec<Other> = others.into_iter().filter(|o| o.rs.spec > 0).collect();
        if active.is_empty() {
            return wrote;
        }
        let available: u64 = cx.obs.tracks.iter().map(|t| u64::from(t.available)).sum();
        let drained = basic_canary::scale_down_others(f, &active, available);
        if let Some(id) = drained.stale {
            cx.explain.push(format!(
                "older revision {} still reports more available pods than its spec: waiting for its status before draining further",
                cx.revision(id)
            ));
        }
        for s in &drained.writes {
            let why = if s.unhealthy {
                format!(
                    "an older revision: its {} removed",
                    Counted(s.from - s.to, "unavailable pod")
                )
            } else {
                format!(
                    "an older revision, drained newest first within the budget ({available} available, at least {} must stay)",
                    f.min_available()
                )
            };
            cx.ensure_size(s.id, s.to, &why);
            wrote = Sized::Wrote;
        }
        wrote
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

/// Routed: ceil(w·n/100) canary pods, at least one for w > 0.
fn routed_replicas(n: u32, w: u32) -> u32 {
    if w == 0 || n == 0 {
        return 0;
    }
    let c = (u64::from(n) * u64::from(w)).div_ceil(100);
    u32::try_from(c).unwrap_or(n).clamp(1, n)
}

/// Whether a `SetWeight(w)` step is done.
///
/// Without a router: the counts are those Argo's arithmetic settles on for
/// `w`, the canary's pods all available, the stable's all created and no
/// older track with an available pod (`AtDesiredReplicaCountsForCanary`);
/// the sizing pass before the step already moved the tracks towards them.
/// With a router: the canary has `ceil(w·n/100)` available pods beside a
/// full-size stable, then the router's weight is set to `w`.
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
        let rs = |id: TrackId| {
            cx.o(id).map(|t| Rs {
                spec: t.spec_replicas,
                replicas: t.replicas,
                available: t.available,
            })
        };
        let pair = Pair {
            new: rs(cand),
            stable: rs(stable),
            stable_is_new: false,
        };
        let others: Vec<Rs> = cx
            .st
            .tracks
            .iter()
            .filter(|t| !t.deleting && t.id != stable && t.id != cand)
            .filter_map(|t| rs(t.id))
            .collect();
        return basic_canary::at_desired(f, w, pair, &others);
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
///
/// Without a router the tracks were sized for 100 % before this (the canary
/// grows, the stable side shrinks, within the budget); once every desired
/// canary pod is available the canary becomes the stable track (Argo's
/// `shouldFullPromote`) and the previous stable one is drained as an older
/// track.
fn promote(
    cx: &mut Cx<'_>,
    c: &CanaryStrategy,
    f: &Fenceposts,
    stable: TrackId,
    cand: TrackId,
    pass: &mut Pass,
) -> bool {
    let n = cx.spec.replicas();
    if !c.traffic_routing {
        if cx.o(cand).is_some() && cx.avail_of(cand) >= n {
            finish(cx, stable, cand, None);
            idle(cx, c, f, cand, pass);
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
    idle(cx, c, f, cand, pass);
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

/// The template is the stable one again while a canary is in flight (or
/// aborted): a rollback, not an abort, as Argo Rollouts treats it. The stable
/// track stays stable and becomes the newest revision, the canary's traffic
/// goes back first (with a router), and the canary is drained as an older
/// track (without a router: within the budget, newest revision first). The
/// rollout then completes as Healthy.
fn revert_to_stable(cx: &mut Cx<'_>, stable: TrackId) {
    let Some(old) = cx.st.candidate else { return };
    let rev = cx.revision(old);
    cx.retire_candidate(old);
    zero_weight(
        cx,
        old,
        "template reverted to the stable revision: traffic back to stable before the canary is drained",
    );
    cx.st.candidate = None;
    cx.st.stage = Stage::Idle;
    cx.st.aborted = false;
    cx.sync_revision(stable);
    cx.explain.push(format!(
        "template reverted to the stable revision {}: a rollback, not an abort; revision {rev} is drained",
        cx.revision(stable)
    ));
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

/// Aborted: without a router the sizing pass for weight 0 already brought
/// capacity back to the stable track; with one, the weight goes to 0 first.
fn aborted(cx: &mut Cx<'_>, c: &CanaryStrategy, stable: TrackId, cand: TrackId) {
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
        if weight_gone && cx.o(cand).is_some() {
            cx.scale_down_aborted(
                cand,
                c.abort_scale_down_delay,
                "aborted canary, at weight 0",
            );
        }
    }
    aborted_status(cx, stable);
}

fn aborted_status(cx: &mut Cx<'_>, stable: TrackId) {
    cx.sync_status(Some(stable), false, Clock::CountsOnly);
    cx.phase = Phase::Degraded;
}

/// Nothing in flight: the stable track runs the desired count. Without a
/// router older tracks are drained by the sizing pass (Argo with the stable
/// track as its new one); with one they are swept once their traffic is gone.
fn idle(cx: &mut Cx<'_>, c: &CanaryStrategy, f: &Fenceposts, stable: TrackId, pass: &mut Pass) {
    let n = cx.spec.replicas();
    if c.traffic_routing {
        cx.ensure_size(stable, n, "the stable revision runs the desired count");
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
        cx.sweep(&[stable]);
    } else if cx.o(stable).is_some() && !cx.st.paused {
        // Argo halts every resize while the rollout is paused.
        pass.reconcile(cx, f, stable, None, 100);
    }
    cx.cleanup_history(&[stable]);
    let others_drained = cx
        .obs
        .tracks
        .iter()
        .all(|t| t.track == stable || (t.spec_replicas == 0 && t.available == 0));
    let complete = cx.avail_of(stable) >= n && (c.traffic_routing || others_drained);
    // While paused (nothing is resized) the progress deadline does not run.
    let clock = if cx.st.paused && !complete {
        Clock::Hold
    } else {
        Clock::Evaluate
    };
    cx.sync_status(Some(stable), complete, clock);
    cx.phase = cx.idle_phase(complete);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_replicas_round_up() {
        assert_eq!(routed_replicas(10, 5), 1);
        assert_eq!(routed_replicas(10, 25), 3);
        assert_eq!(routed_replicas(10, 100), 10);
    }
}
