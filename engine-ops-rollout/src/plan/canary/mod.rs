//! Canary: weight steps, pauses and analysis gates; replica-weighted within the
//! surge / unavailable budget ([`sizing`]), or router-weighted beside a
//! full-size stable.
//!
//! [`plan`] settles what is outside the stage machine (the first deployment,
//! a routed promotion already switched, a retry, a new or reverted target, an
//! operator or deadline abort), then runs the stage machine: what every stage
//! passes first ([`before_stage`]: creation at 0, a paused promotion, an
//! operator pause, the background analysis, the sizing pass), then one
//! handler per [`Stage`], each returning the [`Flow`] the driver applies (see
//! [`super::stage`] for which stage may follow which).

mod sizing;

use self::sizing::{Pass, Sized, at_desired, effective_weight, scaling_event};
use super::candidate::{
    Retarget, begin_candidate, deadline_aborts, deploy_first, held_by_pause, hold, idle_phase,
    mark_aborted, retarget, retire_candidate, retry_candidate, scale_down_aborted, sweep_others,
    wait_for_pods,
};
use super::checks::{Verdict, forget_checks, run_checks};
use super::effects::{Counted, Effects};
use super::progress::{Clock, sync_status};
use super::stage::{Flow, enter};
use super::tracks::{
    cleanup_history, emit_create, ensure_size, schedule_scale_down, sweep, switch_active,
    sync_min_ready, sync_revision,
};
use super::view::View;
use crate::decision::{Action, Phase};
use crate::observation::TrackId;
use crate::spec::{CanaryStep, CanaryStrategy};
use crate::state::{RolloutState, Stage};
use crate::time::Timestamp;

/// The most stage changes one decision makes: a decision never enters a
/// stage twice, so the longest walk is a stage left by another strategy →
/// `Step 0` → one hop per step → `Promoting` (entered with the hop past the
/// last step) → `Idle`, plus the pass that ends the decision: the number of
/// steps + 3. Six leaves room to spare; running out would be a bug (a cycle
/// in the stage graph), and debug builds assert it does not happen.
fn max_stage_hops(c: &CanaryStrategy) -> usize {
    c.steps.len() + 6
}

/// The stable track and the canary beside it.
#[derive(Debug, Clone, Copy)]
struct Tracks {
    stable: TrackId,
    cand: TrackId,
}

/// The canary strategy's decision.
pub(super) fn plan(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, c: &CanaryStrategy) {
    let target = state.target_or(v.spec);

    let Some(stable) = state.stable else {
        let (id, live) = deploy_first(
            v,
            state,
            fx,
            &target,
            "first deployment: no stable revision to compare against",
        );
        if live {
            idle(v, state, fx, c, id, &mut Pass::default());
        } else {
            wait_for_pods(v, state, fx, id);
        }
        return;
    };
    let stable = settle_target(v, state, fx, c, stable, &target);

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

    if c.traffic_routing {
        sweep_others(v, state, fx, stable);
    }
    run_stages(v, state, fx, c, stable);
}

/// A routed canary whose promotion already switched the active service
/// becomes the stable track; then a retry, a new target or a target reverted
/// to the stable one. Returns the stable track.
fn settle_target(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    mut stable: TrackId,
    target: &str,
) -> TrackId {
    // The promoted canary serves all traffic: it is the stable track before
    // anything else is decided (a new or reverted template must not treat it
    // as a candidate).
    if c.traffic_routing
        && state.stage == Stage::Promoting
        && let Some(cand) = state.candidate
        && v.traffic().active == Some(cand)
    {
        let at = v.now() + c.scale_down_delay;
        finish(v, state, fx, stable, cand, Some(at));
        enter(state, Stage::Idle);
        stable = cand;
    }

    let step_zero = Stage::Step {
        index: 0,
        since: v.now(),
    };
    if retry_candidate(v, state, step_zero).is_some() {
        fx.explain(format!("retry: attempt {}, back to step 0", state.attempt));
    }

    match retarget(state, stable, target) {
        Retarget::Unchanged => {}
        Retarget::BackToStable => revert_to_stable(v, state, fx, stable),
        Retarget::New { superseded } => {
            if let Some(old) = superseded {
                retire_candidate(v, state, fx, old);
                zero_weight(
                    v,
                    fx,
                    old,
                    "superseded canary: traffic back to stable before it is scaled down",
                );
            }
            let id = begin_candidate(v, state, fx, stable, target, step_zero);
            fx.explain(format!(
                "canary: revision {} (`{target}`) from step 0",
                state.revision_of(id)
            ));
        }
    }
    stable
}

/// The stage machine: what every stage passes first, then the handler of
/// the current stage; applies the [`Flow`] returned until one ends the
/// decision.
fn run_stages(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    stable: TrackId,
) {
    let mut promote = v.commands.promote;
    let mut pass = Pass::default();
    for _ in 0..max_stage_hops(c) {
        if let Stage::Step { index, .. } = state.stage
            && index >= c.steps.len()
        {
            // Past the last step: promoting (sized for 100 % and judged in
            // the same pass, as Argo does in one sync).
            enter(state, Stage::Promoting);
            fx.explain("all steps passed: promoting the canary");
        }
        let stage = state.stage;
        let Some(cand) = state.candidate.filter(|_| stage != Stage::Idle) else {
            // Nothing in flight (or the canary just became the stable track).
            idle(v, state, fx, c, state.stable.unwrap_or(stable), &mut pass);
            return;
        };
        let t = Tracks { stable, cand };
        let flow = match before_stage(v, state, fx, c, t, &mut pass, promote) {
            Some(flow) => flow,
            None => match stage {
                Stage::Step { index, since } => step(v, state, fx, c, t, promote, (index, since)),
                Stage::Promoting => promoting(v, state, fx, c, t),
                Stage::Aborted => {
                    aborted(v, state, fx, c, t);
                    Flow::Wait
                }
                // A stage of another strategy (the spec's strategy changed): start over.
                _ => Flow::Next(Stage::Step {
                    index: 0,
                    since: v.now(),
                }),
            },
        };
        match flow {
            Flow::Next(next) => {
                // A `Promote` passes one gate: the next step needs its own.
                if matches!((stage, next), (Stage::Step { .. }, Stage::Step { .. })) {
                    promote = false;
                }
                enter(state, next);
            }
            Flow::NextDecision(next) => return enter(state, next),
            Flow::Abort(why) => abort(v, state, fx, &why),
            Flow::Wait => return,
        }
    }
    debug_assert!(
        false,
        "the canary ran out of stage hops: a cycle in the stage graph"
    );
    if let Some(cand) = state.candidate {
        wait_for_pods(v, state, fx, cand);
    }
}

/// What every stage of an in-flight canary passes before its handler: the
/// creation of a replica-weighted canary at 0, the promotion of a paused
/// canary whose steps are done, an operator pause, the background analysis
/// and, without a router, the sizing pass for the weight in force. Returns
/// the flow when the decision ends (or aborts) here.
fn before_stage(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    Tracks { stable, cand }: Tracks,
    pass: &mut Pass,
    promote: bool,
) -> Option<Flow> {
    let stage = state.stage;
    let replica_weighted = !c.traffic_routing;
    if replica_weighted && stage != Stage::Aborted && v.observed(cand).is_none() {
        // Argo Rollouts creates the canary's ReplicaSet at 0 (even while
        // paused) and sizes it in a later sync (the stable side may have
        // to move first).
        let rev = state.revision_of(cand);
        emit_create(
            v,
            state,
            fx,
            cand,
            0,
            format!("create revision {rev} at 0: its size follows from the step's weight"),
        );
        if !held_by_pause(v, state, fx, cand) {
            wait_for_pods(v, state, fx, cand);
        }
        defer_promote(state, promote);
        return Some(Flow::Wait);
    }
    if replica_weighted
        && state.paused
        && stage == Stage::Promoting
        && v.observed(cand)
            .is_some_and(|t| t.available >= v.replicas())
        && !scaling_event(v, [stable, cand])
    {
        // Argo promotes a canary whose steps are done and whose pods are
        // all available even while paused (unless the replicas changed:
        // that sync only sizes, and sizing waits for Resume); nothing is
        // resized until Resume.
        finish(v, state, fx, stable, cand, None);
        return Some(Flow::Next(Stage::Idle));
    }
    if held_by_pause(v, state, fx, cand) {
        return Some(Flow::Wait);
    }
    // The background analysis is honoured at every step, manual gates included.
    if stage != Stage::Aborted
        && v.observed(cand).is_some()
        && let Some(a) = &c.analysis
        && let Verdict::Failed(why) =
            run_checks(v, state, fx, std::slice::from_ref(a), cand, "background")
    {
        return Some(Flow::Abort(why));
    }
    if replica_weighted {
        // A decision that finds the stable or canary track annotated with
        // other replicas than the spec's only sizes (Argo's scaling event:
        // `syncReplicasOnly`); otherwise the step is judged after sizing,
        // on what was observed before this decision's resize.
        let scaling = scaling_event(v, [stable, cand]);
        match pass.reconcile(v, state, fx, stable, Some(cand), effective_weight(c, stage)) {
            Sized::Deferred => {
                defer_promote(state, promote);
                return Some(Flow::Wait);
            }
            _ if scaling => {
                if stage == Stage::Aborted {
                    aborted_status(v, state, fx, stable);
                } else {
                    wait_for_pods(v, state, fx, cand);
                }
                defer_promote(state, promote);
                return Some(Flow::Wait);
            }
            Sized::Wrote | Sized::Unchanged => {}
        }
    }
    None
}

/// The decision ends before its gates are judged: a `Promote` it carries
/// waits for the next one.
const fn defer_promote(state: &mut RolloutState, promote: bool) {
    state.promote_pending = promote;
}

/// `Step` `index` (begun at `since`): a weight, a timed or manual pause, or
/// an analysis; done, it hands over to the next step.
fn step(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    t: Tracks,
    promote: bool,
    (index, since): (usize, Timestamp),
) -> Flow {
    let Some(step) = c.steps.get(index) else {
        // Past the last step (the driver turns that into Promoting first).
        return Flow::Next(Stage::Promoting);
    };
    let cand = t.cand;
    let done = match step {
        CanaryStep::SetWeight(w) => {
            let done = set_weight(v, state, fx, c, t, *w);
            if !done {
                wait_for_pods(v, state, fx, cand);
            }
            done
        }
        CanaryStep::Pause(Some(d)) => {
            let until = since + *d;
            let done = promote || v.now() >= until;
            if !done {
                fx.requeue_at(until);
                hold(
                    v,
                    state,
                    fx,
                    cand,
                    format!("step {index}: pause until {until}"),
                );
                fx.set_phase(Phase::Progressing);
            }
            done
        }
        CanaryStep::Pause(None) => {
            if !promote {
                hold(
                    v,
                    state,
                    fx,
                    cand,
                    format!("step {index}: paused until Promote"),
                );
            }
            promote
        }
        CanaryStep::Analysis(check) => {
            match run_checks(v, state, fx, std::slice::from_ref(check), cand, "step") {
                Verdict::Passed => true,
                Verdict::Inconclusive(_) if promote => true,
                Verdict::Failed(why) => return Flow::Abort(why),
                Verdict::Inconclusive(why) => {
                    hold(
                        v,
                        state,
                        fx,
                        cand,
                        format!("{why}: Promote to continue, Abort to roll back"),
                    );
                    false
                }
                Verdict::Pending => {
                    hold(
                        v,
                        state,
                        fx,
                        cand,
                        format!("step {index}: analysis `{}` running", check.name),
                    );
                    fx.set_phase(Phase::Progressing);
                    false
                }
            }
        }
    };
    if !done {
        return Flow::Wait;
    }
    fx.explain(format!("step {index} done"));
    Flow::Next(Stage::Step {
        index: index + 1,
        since: v.now(),
    })
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
/// `w` ([`at_desired`]); the sizing pass before the step already moved the
/// tracks towards them. With a router: the canary has `ceil(w·n/100)`
/// available pods beside a full-size stable, then the router's weight is
/// set to `w`.
fn set_weight(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    Tracks { stable, cand }: Tracks,
    w: u32,
) -> bool {
    if !c.traffic_routing {
        return at_desired(v, state, stable, cand, w);
    }
    let n = v.replicas();
    let need = routed_replicas(n, w);
    let t = v.traffic();
    let current = if t.canary == Some(cand) {
        t.canary_weight
    } else {
        0
    };
    if w < current {
        // Lower the weight before removing any canary pod.
        fx.act(
            Action::SetCanaryWeight {
                track: cand,
                weight: w,
            },
            format!("step lowers the canary weight from {current}% to {w}%"),
        );
        return false;
    }
    ensure_size(
        v,
        state,
        fx,
        stable,
        n,
        "the stable track keeps the full count while it takes traffic",
    );
    ensure_size(
        v,
        state,
        fx,
        cand,
        need,
        &format!(
            "weight {w}% needs ceil({w}·{n}/100) = {}",
            Counted(need, "canary pod")
        ),
    );
    if v.observed(cand).is_none() || v.available(cand) < need {
        return false;
    }
    if t.canary != Some(cand) || t.canary_weight != w {
        fx.act(
            Action::SetCanaryWeight {
                track: cand,
                weight: w,
            },
            format!(
                "{} available (≥ {need}): send {w}% of traffic to revision {}",
                Counted(v.available(cand), "canary pod"),
                state.revision_of(cand)
            ),
        );
        return false;
    }
    true
}

/// `Promoting`: the canary takes over once all of it is available.
///
/// Without a router the tracks were sized for 100 % before this (the canary
/// grows, the stable side shrinks, within the budget); once every desired
/// canary pod is available the canary becomes the stable track (Argo's
/// `shouldFullPromote`) and the previous stable one is drained as an older
/// track. With a router the canary reaches the full count, gets 100 % of the
/// traffic, then the active service; the previous stable track is kept for
/// the scale-down delay.
fn promoting(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    Tracks { stable, cand }: Tracks,
) -> Flow {
    let n = v.replicas();
    if !c.traffic_routing {
        if v.observed(cand).is_some() && v.available(cand) >= n {
            finish(v, state, fx, stable, cand, None);
            return Flow::Next(Stage::Idle);
        }
        wait_for_pods(v, state, fx, cand);
        return Flow::Wait;
    }
    ensure_size(
        v,
        state,
        fx,
        cand,
        n,
        "promotion: the canary must reach the full count",
    );
    if v.available(cand) < n {
        wait_for_pods(v, state, fx, cand);
        return Flow::Wait;
    }
    let t = v.traffic();
    if t.active == Some(cand) {
        let at = v.now() + c.scale_down_delay;
        finish(v, state, fx, stable, cand, Some(at));
        return Flow::Next(Stage::Idle);
    }
    if t.canary != Some(cand) || t.canary_weight != 100 {
        fx.act(
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
        switch_active(
            v,
            state,
            fx,
            cand,
            "promotion: the canary becomes the stable track",
        );
    }
    hold(v, state, fx, cand, "promotion: shifting traffic".into());
    fx.set_phase(Phase::Progressing);
    Flow::Wait
}

/// The canary becomes the stable track (the caller moves the stage to
/// `Idle`); the previous stable track is kept until `scale_down_at`, if given.
fn finish(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    old_stable: TrackId,
    cand: TrackId,
    scale_down_at: Option<Timestamp>,
) {
    state.stable = Some(cand);
    state.candidate = None;
    forget_checks(state);
    fx.explain(format!(
        "revision {} is the stable revision",
        state.revision_of(cand)
    ));
    if let Some(at) = scale_down_at {
        schedule_scale_down(
            v,
            state,
            fx,
            old_stable,
            at,
            "the previous stable revision is kept for a while after promotion",
        );
    }
}

/// Aborts the canary in flight (nothing to do when none is).
fn abort(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, why: &str) {
    if matches!(state.stage, Stage::Idle | Stage::Aborted) {
        if state.stage == Stage::Idle {
            fx.explain(format!("{why}: nothing in flight to abort"));
        }
        return;
    }
    mark_aborted(v, state, fx, why);
}

/// The template is the stable one again while a canary is in flight (or
/// aborted): a rollback, not an abort, as Argo Rollouts treats it. The stable
/// track stays stable and becomes the newest revision, the canary's traffic
/// goes back first (with a router), and the canary is drained as an older
/// track (without a router: within the budget, newest revision first). The
/// rollout then completes as Healthy.
fn revert_to_stable(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, stable: TrackId) {
    let Some(old) = state.candidate else { return };
    let rev = state.revision_of(old);
    retire_candidate(v, state, fx, old);
    zero_weight(
        v,
        fx,
        old,
        "template reverted to the stable revision: traffic back to stable before the canary is drained",
    );
    state.candidate = None;
    enter(state, Stage::Idle);
    state.aborted = false;
    sync_revision(state, fx, stable);
    fx.explain(format!(
        "template reverted to the stable revision {}: a rollback, not an abort; revision {rev} is drained",
        state.revision_of(stable)
    ));
}

/// With a router, takes the canary's weight back to 0 (when it has any).
fn zero_weight(v: &View<'_>, fx: &mut Effects, cand: TrackId, why: &str) {
    let t = v.traffic();
    if t.canary == Some(cand) && t.canary_weight > 0 {
        fx.act(
            Action::SetCanaryWeight {
                track: cand,
                weight: 0,
            },
            why.to_owned(),
        );
    }
}

/// `Aborted`: without a router the sizing pass for weight 0 already brought
/// capacity back to the stable track; with one, the weight goes to 0 first,
/// then the canary is scaled down after its delay.
fn aborted(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    Tracks { stable, cand }: Tracks,
) {
    let n = v.replicas();
    if c.traffic_routing {
        zero_weight(
            v,
            fx,
            cand,
            "abort: all traffic back to the stable revision first",
        );
        if v.traffic().active != Some(stable) && v.available(stable) >= n {
            switch_active(
                v,
                state,
                fx,
                stable,
                "abort: the stable service selects the stable revision",
            );
        }
        ensure_size(
            v,
            state,
            fx,
            stable,
            n,
            "abort: the stable revision serves everything",
        );
        let t = v.traffic();
        let weight_gone = !(t.canary == Some(cand) && t.canary_weight > 0);
        if weight_gone && v.observed(cand).is_some() {
            scale_down_aborted(
                v,
                state,
                fx,
                cand,
                c.abort_scale_down_delay,
                "aborted canary, at weight 0",
            );
        }
    }
    aborted_status(v, state, fx, stable);
}

fn aborted_status(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, stable: TrackId) {
    sync_status(v, state, fx, Some(stable), false, Clock::CountsOnly);
    fx.set_phase(Phase::Degraded);
}

/// Nothing in flight: the stable track runs the desired count. Without a
/// router older tracks are drained by the sizing pass (Argo with the stable
/// track as its new one); with one they are swept once their traffic is gone.
fn idle(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    c: &CanaryStrategy,
    stable: TrackId,
    pass: &mut Pass,
) {
    let n = v.replicas();
    if c.traffic_routing {
        ensure_size(
            v,
            state,
            fx,
            stable,
            n,
            "the stable revision runs the desired count",
        );
        let t = v.traffic();
        if t.active != Some(stable) && v.available(stable) >= n {
            switch_active(
                v,
                state,
                fx,
                stable,
                "the stable service must select the stable revision",
            );
        }
        if let Some(old) = t.canary
            && t.canary_weight > 0
            && t.active == Some(stable)
        {
            fx.act(
                Action::SetCanaryWeight {
                    track: old,
                    weight: 0,
                },
                "no canary in flight: weight back to 0".into(),
            );
        }
        sweep(v, state, fx, &[stable]);
    } else if v.observed(stable).is_some() && !state.paused {
        // Argo halts every resize while the rollout is paused.
        pass.reconcile(v, state, fx, stable, None, 100);
    }
    cleanup_history(v, state, fx, &[stable]);
    let others_drained = v
        .obs
        .tracks
        .iter()
        .all(|t| t.track == stable || (t.spec_replicas == 0 && t.available == 0));
    let complete = v.available(stable) >= n && (c.traffic_routing || others_drained);
    // While paused (nothing is resized) the progress deadline does not run.
    let clock = if state.paused && !complete {
        Clock::Hold
    } else {
        Clock::Evaluate
    };
    sync_status(v, state, fx, Some(stable), complete, clock);
    idle_phase(state, fx, complete);
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
