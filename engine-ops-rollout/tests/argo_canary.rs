//! The replica-weighted canary against Argo Rollouts' current basic canary.
//!
//! The first half of this file is a port, written for this test from the Go
//! source of Argo Rollouts (`utils/replicaset/canary.go`,
//! `utils/replicaset/replicaset.go`, `rollout/canary.go`,
//! `rollout/replicaset.go`, `rollout/sync.go`, `rollout/context.go`), of what
//! its controller does for a canary without a traffic router: the replica
//! arithmetic (`CalculateReplicaCountsForBasicCanary` and its helpers,
//! `AtDesiredReplicaCountsForCanary`) and the sync around it (the new
//! ReplicaSet created at 0, `reconcileCanaryReplicaSets`: stable, then new,
//! then the other ReplicaSets with `cleanupUnhealthyReplicas` and
//! `scaleDownOldReplicaSetsForCanary`; scaling events; pause, abort, promote
//! and the step index). It keeps Go's shapes: `int32` counts, `float64` where
//! Go rounds, ReplicaSets named by creation order, a rollout status with
//! `stableRS`, `currentPodHash`, `currentStepIndex`, `abort` and a pause
//! condition. It shares no code with the crate.
//!
//! The port reproduces Argo's own test tables (fixed cases below:
//! `TestApproximateWeightedNewStableReplicaCounts`,
//! `TestCalculateReplicaCountsForCanary` without traffic routing,
//! `TestCalculateReplicaCountsForNewDeployment`, `TestGetReplicasForScaleDown`,
//! `TestAtDesiredReplicaCountsForCanary`, and the controller tests
//! `TestCanaryRolloutScaleDownOldRsDontScaleDownTooMuch`,
//! `TestCanaryRolloutScaleDownOldRs`, `TestCanaryRolloutScaleDownStableToMatchWeight`,
//! `TestCanaryRolloutScaleUpNewReplicaWithCorrectWeight`,
//! `TestCanaryRolloutCreateNewReplicaWithCorrectWeight`, `TestGradualShiftToNewStable`,
//! `TestRollBackToStable`). The planner's first resize from each table row is
//! checked against the table too.
//!
//! The second half runs both, the port and the planner, on the same random
//! worlds (pods becoming available or failing, statuses lagging their
//! ReplicaSets' specs, replica changes, new templates, templates reverted to
//! stable, aborts, retries, promotions, operator pauses) and requires, after
//! every sync, the same ReplicaSet writes in the same order, the same
//! revisions, the same stable track and the same abort state.
//!
//! Where the two differ by design, the world avoids it (said at the event):
//! an abort is honoured while the operator has paused the rollout (Argo halts
//! all scaling), and a `Promote` only passes a pause (Argo's plugin skips a
//! step that is not paused).

use std::collections::BTreeMap;

use engine_ops_rollout::{
    Action, Command, Decision, Observation, RolloutSpec, RolloutState, Strategy, Timestamp,
    TrackId,
    observation::TrackObs,
    plan,
    spec::{CanaryStep, CanaryStrategy, IntOrPercent},
    state::AdoptedTrack,
};
use proptest::prelude::*;
use proptest::strategy::Strategy as PropStrategy;

// ================================================================ the port

/// `intstr.GetScaledValueFromIntOrPercent`.
fn get_scaled_value(v: IntOrPercent, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrPercent::Count(c) => c as i32,
        IntOrPercent::Percent(p) => {
            let x = f64::from(p as i32) * f64::from(total) / 100.0;
            if round_up {
                x.ceil() as i32
            } else {
                x.floor() as i32
            }
        }
        _ => unreachable!("only counts and percentages exist"),
    }
}

/// A step of the port: the two kinds the differential uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoStep {
    SetWeight(i32),
    /// `pause: {}`: until promoted.
    Pause,
}

#[derive(Debug, Clone, Default)]
struct GoStatus {
    stable_rs: String,
    current_pod_hash: String,
    current_step_index: Option<i32>,
    abort: bool,
    /// A `CanaryPauseStep` pause condition is present.
    pause_condition: bool,
    controller_pause: bool,
}

#[derive(Debug, Clone)]
struct GoRollout {
    replicas: i32,
    template: String,
    steps: Vec<GoStep>,
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    paused: bool,
    status: GoStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GoRs {
    /// Creation order: stands for `creationTimestamp` (and the name).
    name: u64,
    /// Pod-template hash: the template itself.
    hash: String,
    revision: i64,
    spec: i32,
    status_replicas: i32,
    available: i32,
    desired_annotation: Option<i32>,
}

/// `resolveFenceposts`.
fn resolve_fenceposts(r: &GoRollout) -> (i32, i32) {
    let surge = get_scaled_value(r.max_surge, r.replicas, true);
    let mut unavailable = get_scaled_value(r.max_unavailable, r.replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `MaxSurge` (canary).
fn go_max_surge(r: &GoRollout) -> i32 {
    resolve_fenceposts(r).0
}

/// `MaxUnavailable` (canary).
fn go_max_unavailable(r: &GoRollout) -> i32 {
    if r.replicas == 0 {
        return 0;
    }
    let (_, u) = resolve_fenceposts(r);
    if u > r.replicas { r.replicas } else { u }
}

/// `floorCeilingTied`.
fn floor_ceiling_tied(desired_weight: i32, max_weight: i32, total_replicas: i32) -> bool {
    let x = f64::from(total_replicas) * (f64::from(desired_weight) / f64::from(max_weight));
    let frac = x - x.trunc();
    frac == 0.5
}

/// `weightDelta`.
fn weight_delta(desired_weight: i32, max_weight: i32, canary: i32, total: i32) -> f64 {
    let actual = f64::from(canary * max_weight) / f64::from(total);
    (actual - f64::from(desired_weight)).abs()
}

/// `approximateWeightedCanaryStableReplicaCounts`.
fn approximate_weighted_canary_stable_replica_counts(
    spec_replicas: i32,
    desired_weight: i32,
    max_weight: i32,
    max_surge: i32,
) -> (i32, i32) {
    if spec_replicas == 0 {
        return (0, 0);
    }
    let ceil = (f64::from(spec_replicas * desired_weight) / f64::from(max_weight)).ceil() as i32;
    let floor = (f64::from(spec_replicas * desired_weight) / f64::from(max_weight)).floor() as i32;
    let tied = floor_ceiling_tied(desired_weight, max_weight, spec_replicas);
    let zero_allowed = desired_weight == max_weight
        || desired_weight == 0
        || (spec_replicas == 1 && max_surge == 0);
    // (canary, total)
    let mut options: Vec<(i32, i32)> = Vec::new();
    if ceil < spec_replicas || zero_allowed {
        options.push((ceil, spec_replicas));
    }
    if !tied && (floor != 0 || zero_allowed) {
        options.push((floor, spec_replicas));
    }
    if max_surge > 0 {
        options.push((ceil, spec_replicas + 1));
        let surge_is_tied = floor_ceiling_tied(desired_weight, max_weight, spec_replicas + 1);
        if !surge_is_tied && (floor != 0 || zero_allowed) {
            options.push((floor, spec_replicas + 1));
        }
    }
    if options.is_empty() {
        return (0, spec_replicas);
    }
    let mut best = options[0];
    let mut best_delta = weight_delta(desired_weight, max_weight, best.0, best.1);
    for &curr in &options[1..] {
        let d = weight_delta(desired_weight, max_weight, curr.0, curr.1);
        if d < best_delta {
            best = curr;
            best_delta = d;
        }
    }
    (best.0, best.1 - best.0)
}

/// `GetReplicasForScaleDown`.
fn get_replicas_for_scale_down(rs: Option<&GoRs>, ignore_availability: bool) -> i32 {
    let Some(rs) = rs else { return 0 };
    if rs.spec < rs.available {
        return rs.spec;
    }
    if ignore_availability {
        return rs.spec;
    }
    rs.available
}

/// `calculateScaleDownReplicaCount`.
fn calculate_scale_down_replica_count(
    drain_rs: Option<&GoRs>,
    desire_rs_replica_count: i32,
    scale_down_count: i32,
    drain_rs_replica_count: i32,
) -> i32 {
    match drain_rs {
        Some(rs) if rs.spec > desire_rs_replica_count => {
            desire_rs_replica_count.max(rs.spec - scale_down_count)
        }
        _ => drain_rs_replica_count,
    }
}

/// `adjustReplicaWithinLimits`.
fn adjust_replica_within_limits(
    drain_rs: Option<&GoRs>,
    adjust_rs: Option<&GoRs>,
    mut drain_count: i32,
    mut adjust_count: i32,
    max_allowed: i32,
    min_available: i32,
) -> (i32, i32) {
    let mut extra_available_adjust_rs = 0;
    let mut total_available = 0;
    let mut over_the_limit = 0.max(adjust_count + drain_count - max_allowed);
    if let Some(d) = drain_rs {
        total_available += d.available.min(drain_count);
    }
    if let Some(a) = adjust_rs {
        adjust_count -= over_the_limit;
        total_available += a.available.min(adjust_count);
        extra_available_adjust_rs = 0.max(a.available - adjust_count);
        let more_to_need = 0.max(min_available - total_available);
        adjust_count += extra_available_adjust_rs.min(more_to_need);
        over_the_limit = 0.max(adjust_count + drain_count - max_allowed);
        drain_count -= over_the_limit;
    }
    let _ = extra_available_adjust_rs;
    (drain_count, adjust_count)
}

/// `CheckStableRSExists`.
fn check_stable_rs_exists(new_rs: Option<&GoRs>, stable_rs: Option<&GoRs>) -> bool {
    match (new_rs, stable_rs) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(n), Some(s)) => n.name != s.name,
    }
}

/// `GetCurrentCanaryStep`: the step and its index (`None` when past the end).
fn get_current_canary_step(r: &GoRollout) -> (Option<GoStep>, Option<i32>) {
    if r.steps.is_empty() {
        return (None, None);
    }
    let index = r.status.current_step_index.unwrap_or(0);
    (r.steps.get(index as usize).copied(), Some(index))
}

/// `GetCurrentSetWeight`.
fn get_current_set_weight(r: &GoRollout) -> i32 {
    if r.status.abort {
        return 0;
    }
    let (step, index) = get_current_canary_step(r);
    if step.is_none() {
        return 100;
    }
    let index = index.unwrap_or(0);
    for i in (0..=index).rev() {
        if let GoStep::SetWeight(w) = r.steps[i as usize] {
            return w;
        }
    }
    0
}

/// `GetCanaryReplicasOrWeight` (no `setCanaryScale`, no `promoteFull`).
fn get_canary_weight(r: &GoRollout) -> i32 {
    if r.status.stable_rs.is_empty() || r.status.current_pod_hash == r.status.stable_rs {
        return 100;
    }
    get_current_set_weight(r)
}

/// `CalculateReplicaCountsForBasicCanary`: (new, stable).
fn calculate_replica_counts_for_basic_canary(
    r: &GoRollout,
    new_rs: Option<&GoRs>,
    stable_rs: Option<&GoRs>,
    old_rss: &[&GoRs],
) -> (i32, i32) {
    calculate_with_weight(r, get_canary_weight(r), new_rs, stable_rs, old_rss)
}

fn calculate_with_weight(
    r: &GoRollout,
    desired_weight: i32,
    new_rs: Option<&GoRs>,
    stable_rs: Option<&GoRs>,
    old_rss: &[&GoRs],
) -> (i32, i32) {
    let rollout_spec_replica = r.replicas;
    let max_surge = go_max_surge(r);
    let (mut desired_new, mut desired_stable) = approximate_weighted_canary_stable_replica_counts(
        rollout_spec_replica,
        desired_weight,
        100,
        max_surge,
    );
    let mut stable_count = 0;
    let mut new_count = new_rs.map_or(0, |n| n.spec);
    let scale_stable = check_stable_rs_exists(new_rs, stable_rs);
    if scale_stable {
        stable_count = stable_rs.map_or(0, |s| s.spec);
    } else {
        desired_new = rollout_spec_replica;
        desired_stable = 0;
    }
    let max_allowed = rollout_spec_replica + max_surge;
    let mut all: Vec<&GoRs> = old_rss.to_vec();
    if let Some(n) = new_rs {
        all.push(n);
    }
    if scale_stable && let Some(s) = stable_rs {
        all.push(s);
    }
    let total: i32 = all.iter().map(|rs| rs.spec).sum();
    let mut scale_up = max_allowed - total;
    if scale_stable
        && let Some(s) = stable_rs
        && s.spec < desired_stable
        && scale_up > 0
    {
        if s.spec + scale_up < desired_stable {
            stable_count = s.spec + scale_up;
            scale_up = 0;
        } else {
            stable_count = desired_stable;
            scale_up -= desired_stable - s.spec;
        }
    }
    if let Some(n) = new_rs
        && n.spec < desired_new
        && scale_up > 0
    {
        new_count = if n.spec + scale_up < desired_new {
            n.spec + scale_up
        } else {
            desired_new
        };
    }
    if old_rss.iter().map(|rs| rs.spec).sum::<i32>() > 0 {
        return (new_count, stable_count);
    }
    let min_available = rollout_spec_replica - go_max_unavailable(r);
    let is_increasing = new_rs.is_none_or(|n| desired_new >= n.spec);
    let to_scale_down = get_replicas_for_scale_down(new_rs, !is_increasing)
        + get_replicas_for_scale_down(stable_rs, is_increasing);
    if to_scale_down <= min_available {
        return (new_count, stable_count);
    }
    let scale_down_count = to_scale_down - min_available;
    if !is_increasing {
        new_count =
            calculate_scale_down_replica_count(new_rs, desired_new, scale_down_count, new_count);
        (new_count, stable_count) = adjust_replica_within_limits(
            new_rs,
            stable_rs,
            new_count,
            stable_count,
            max_allowed,
            min_available,
        );
    } else if scale_stable {
        stable_count = calculate_scale_down_replica_count(
            stable_rs,
            desired_stable,
            scale_down_count,
            stable_count,
        );
        (stable_count, new_count) = adjust_replica_within_limits(
            stable_rs,
            new_rs,
            stable_count,
            new_count,
            max_allowed,
            min_available,
        );
    }
    (new_count, stable_count)
}

/// `AtDesiredReplicaCountsForCanary` without traffic routing.
fn at_desired_replica_counts_for_canary(
    r: &GoRollout,
    new_rs: Option<&GoRs>,
    stable_rs: Option<&GoRs>,
    older_rss: &[&GoRs],
) -> bool {
    let (desired_new, desired_stable) =
        calculate_replica_counts_for_basic_canary(r, new_rs, stable_rs, older_rss);
    // ReplicaProgressThresholdMet without a threshold = allDesiredAreAvailable.
    let new_ok = new_rs.is_some_and(|n| desired_new == n.spec && desired_new == n.available);
    if !new_ok {
        return false;
    }
    // allDesiredAreCreated
    let stable_ok =
        stable_rs.is_some_and(|s| desired_stable == s.spec && desired_stable == s.status_replicas);
    if !stable_ok {
        return false;
    }
    older_rss.iter().map(|rs| rs.available).sum::<i32>() == 0
}

/// One write of a sync: ReplicaSet `name` set to `size` replicas (the size
/// may be unchanged when only its desired-replicas annotation was stale).
type Write = (u64, i32);

/// Argo Rollouts' controller for one rollout, over its ReplicaSets.
#[derive(Debug, Clone, Default)]
struct ArgoController {
    rss: Vec<GoRs>,
    next_name: u64,
    /// How often each path of interest ran (for the coverage figures).
    seen: BTreeMap<&'static str, usize>,
}

impl ArgoController {
    fn saw(&mut self, what: &'static str) {
        *self.seen.entry(what).or_default() += 1;
    }
}

impl ArgoController {
    fn idx(&self, name: u64) -> usize {
        self.rss
            .iter()
            .position(|r| r.name == name)
            .expect("present")
    }

    fn get(&self, name: Option<u64>) -> Option<&GoRs> {
        name.map(|n| &self.rss[self.idx(n)])
    }

    /// `FindNewReplicaSet`: the oldest ReplicaSet of the rollout's template.
    fn find_new(&self, r: &GoRollout) -> Option<u64> {
        let mut v: Vec<&GoRs> = self.rss.iter().collect();
        v.sort_by_key(|rs| rs.name);
        v.into_iter()
            .find(|rs| rs.hash == r.template)
            .map(|rs| rs.name)
    }

    /// `GetStableRS`.
    fn find_stable(&self, r: &GoRollout) -> Option<u64> {
        if r.status.stable_rs.is_empty() {
            return None;
        }
        self.rss
            .iter()
            .find(|rs| rs.hash == r.status.stable_rs)
            .map(|rs| rs.name)
    }

    /// `scaleReplicaSetAndRecordEvent`: writes the size and the
    /// desired-replicas annotation; true when the size changed.
    fn scale(&mut self, name: u64, size: i32, r: &GoRollout, writes: &mut Vec<Write>) -> bool {
        let i = self.idx(name);
        let rs = &mut self.rss[i];
        let size_change = rs.spec != size;
        let ann = rs.desired_annotation != Some(r.replicas);
        if !size_change && !ann {
            return false;
        }
        rs.spec = size;
        rs.desired_annotation = Some(r.replicas);
        writes.push((name, size));
        size_change
    }

    /// `reconcileCanaryReplicaSets`; true when it scaled.
    fn reconcile_canary_replica_sets(
        &mut self,
        r: &GoRollout,
        new: Option<u64>,
        stable: Option<u64>,
        others: &[u64],
        writes: &mut Vec<Write>,
    ) -> bool {
        // haltProgress
        if r.paused {
            return false;
        }
        // reconcileCanaryStableReplicaSet
        if check_stable_rs_exists(self.get(new), self.get(stable)) {
            let older: Vec<&GoRs> = others.iter().map(|&o| &self.rss[self.idx(o)]).collect();
            let (_, desired_stable) = calculate_replica_counts_for_basic_canary(
                r,
                self.get(new),
                self.get(stable),
                &older,
            );
            let s = stable.expect("exists");
            if self.scale(s, desired_stable, r, writes) {
                return true;
            }
        }
        // reconcileNewReplicaSet (NewRSNewReplicas)
        if let Some(n) = new {
            let older: Vec<&GoRs> = others.iter().map(|&o| &self.rss[self.idx(o)]).collect();
            let (desired_new, _) = calculate_replica_counts_for_basic_canary(
                r,
                self.get(new),
                self.get(stable),
                &older,
            );
            if self.scale(n, desired_new, r, writes) {
                return true;
            }
        }
        // reconcileOtherReplicaSets
        let active: Vec<u64> = others
            .iter()
            .copied()
            .filter(|&o| self.rss[self.idx(o)].spec > 0)
            .collect();
        if active.is_empty() {
            return false;
        }
        self.scale_down_old_replica_sets_for_canary(r, &active, writes) > 0
    }

    /// `scaleDownOldReplicaSetsForCanary`.
    fn scale_down_old_replica_sets_for_canary(
        &mut self,
        r: &GoRollout,
        old: &[u64],
        writes: &mut Vec<Write>,
    ) -> i32 {
        let total_scaled_down = match self.cleanup_unhealthy_replicas(r, old, writes) {
            Ok(n) => n,
            Err(()) => {
                self.saw("cleanup stopped at a stale status");
                return 0;
            }
        };
        let available: i32 = self.rss.iter().map(|rs| rs.available).sum();
        let min_available = r.replicas - go_max_unavailable(r);
        let mut max_scale_down = available - min_available;
        if max_scale_down <= 0 {
            return 0;
        }
        // sort.Reverse(ReplicaSetsByRevisionNumber)
        let mut sorted = old.to_vec();
        sorted.sort_by(|&a, &b| {
            let (ra, rb) = (&self.rss[self.idx(a)], &self.rss[self.idx(b)]);
            (rb.revision, rb.name).cmp(&(ra.revision, ra.name))
        });
        let mut total = total_scaled_down;
        for name in sorted {
            if max_scale_down <= 0 {
                break;
            }
            let spec = self.rss[self.idx(name)].spec;
            if spec == 0 {
                continue;
            }
            let desired = if spec > max_scale_down {
                spec - max_scale_down
            } else {
                0
            };
            if spec == desired {
                continue;
            }
            self.scale(name, desired, r, writes);
            self.saw("older ReplicaSet drained within the budget");
            let scale_down_count = spec - desired;
            max_scale_down -= scale_down_count;
            total += scale_down_count;
        }
        total
    }

    /// `cleanupUnhealthyReplicas` (oldest first).
    fn cleanup_unhealthy_replicas(
        &mut self,
        r: &GoRollout,
        old: &[u64],
        writes: &mut Vec<Write>,
    ) -> Result<i32, ()> {
        let mut sorted = old.to_vec();
        sorted.sort_unstable();
        let mut total = 0;
        for name in sorted {
            let rs = self.rss[self.idx(name)].clone();
            if rs.spec == 0 || rs.spec == rs.available {
                continue;
            }
            let scaled_down = rs.spec - rs.available;
            let new_count = rs.available;
            if new_count > rs.spec {
                return Err(());
            }
            self.scale(name, new_count, r, writes);
            self.saw("unavailable pods of an older ReplicaSet removed");
            total += scaled_down;
        }
        Ok(total)
    }

    /// One sync of the rollout (`syncHandler` → `newRolloutContext` →
    /// `reconcile`). Returns the size writes, in order.
    fn sync(&mut self, r: &mut GoRollout) -> Vec<Write> {
        let mut writes = Vec::new();
        // newRolloutContext: create the new ReplicaSet at 0 if missing.
        let mut new = self.find_new(r);
        if new.is_none() {
            let max_old = self.rss.iter().map(|rs| rs.revision).max().unwrap_or(0);
            let name = self.next_name;
            self.next_name += 1;
            self.rss.push(GoRs {
                name,
                hash: r.template.clone(),
                revision: max_old + 1,
                spec: 0,
                status_replicas: 0,
                available: 0,
                desired_annotation: Some(r.replicas),
            });
            writes.push((name, 0));
            new = Some(name);
        }
        let stable = self.find_stable(r);
        let others: Vec<u64> = self
            .rss
            .iter()
            .map(|rs| rs.name)
            .filter(|&n| Some(n) != new && Some(n) != stable)
            .collect();
        // getAllReplicaSetsAndSyncRevision: the new ReplicaSet's revision.
        let new_name = new.expect("created");
        let max_old = self
            .rss
            .iter()
            .filter(|rs| rs.name != new_name)
            .map(|rs| rs.revision)
            .max()
            .unwrap_or(0);
        let i = self.idx(new_name);
        if self.rss[i].revision < max_old + 1 {
            self.rss[i].revision = max_old + 1;
        }
        // isScalingEvent → syncReplicasOnly
        let scaling_event = [new, stable].into_iter().flatten().any(|n| {
            let rs = &self.rss[self.idx(n)];
            rs.spec > 0 && rs.desired_annotation.is_some_and(|d| d != r.replicas)
        });
        if scaling_event {
            self.saw("scaling event");
            self.reconcile_canary_replica_sets(r, new, stable, &others, &mut writes);
            return writes;
        }
        // rolloutCanary: PodTemplateOrStepsChanged → status reset only.
        let new_hash = self.rss[self.idx(new_name)].hash.clone();
        if r.status.current_pod_hash != new_hash {
            r.status.current_pod_hash = new_hash.clone();
            r.status.abort = false;
            r.status.pause_condition = false;
            r.status.controller_pause = false;
            r.status.current_step_index = if r.steps.is_empty() { None } else { Some(0) };
            if !r.steps.is_empty() && r.status.stable_rs == new_hash {
                self.saw("template reverted to stable");
                // "Rollback to stable ReplicaSets": skip the steps.
                r.status.current_step_index = Some(r.steps.len() as i32);
            }
            return writes;
        }
        // The status is judged on the objects read at the start of the sync
        // (`c.newRS`, `c.stableRS`, `c.otherRSs` are not refreshed by the
        // writes, which go to copies).
        let read = self.rss.clone();
        let scaled = self.reconcile_canary_replica_sets(r, new, stable, &others, &mut writes);
        let pre = ArgoController {
            rss: read,
            next_name: self.next_name,
            seen: BTreeMap::new(),
        };
        // reconcileCanaryPause (only when nothing was scaled): the pause
        // condition is added to the new status; this sync still judges the
        // step with the status it read.
        let (had_condition, had_controller_pause) =
            (r.status.pause_condition, r.status.controller_pause);
        let mut add_condition = false;
        if !scaled
            && !r.paused
            && let (Some(GoStep::Pause), Some(_)) = get_current_canary_step(r)
            && !had_condition
            && !had_controller_pause
        {
            add_condition = true;
        }
        // syncRolloutStatusCanary
        self.sync_status(
            r,
            &pre,
            new,
            stable,
            &others,
            had_condition,
            had_controller_pause,
            add_condition,
        );
        writes
    }

    /// `syncRolloutStatusCanary` on the objects read at the start of the sync.
    #[allow(clippy::too_many_arguments)]
    fn sync_status(
        &self,
        r: &mut GoRollout,
        pre: &ArgoController,
        new: Option<u64>,
        stable: Option<u64>,
        others: &[u64],
        had_condition: bool,
        had_controller_pause: bool,
        add_condition: bool,
    ) {
        let stable_rs = pre.get(stable);
        let new_rs = pre.get(new);
        let step_count = r.steps.len() as i32;
        // shouldFullPromote
        let promote = match stable_rs {
            None => true,
            Some(_) => {
                let aborted = r.status.abort;
                let available = new_rs.map_or(0, |n| n.available);
                let (_, index) = get_current_canary_step(r);
                let completed = step_count == 0 || index == Some(step_count);
                let fast_rollback = r.status.stable_rs == r.status.current_pod_hash;
                !aborted && available >= r.replicas && (fast_rollback || completed)
            }
        };
        if promote {
            r.status.pause_condition = false;
            r.status.controller_pause = false;
            r.status.abort = false;
            r.status.current_step_index = if step_count > 0 {
                Some(step_count)
            } else {
                None
            };
            r.status.stable_rs = r.status.current_pod_hash.clone();
            return;
        }
        if r.status.abort {
            if step_count > 0 {
                r.status.current_step_index =
                    Some(if r.status.stable_rs == r.status.current_pod_hash {
                        step_count
                    } else {
                        0
                    });
            }
            // CalculatePauseStatus: an aborted status keeps no pause condition.
            r.status.pause_condition = false;
            r.status.controller_pause = false;
            return;
        }
        if add_condition {
            r.status.pause_condition = true;
            r.status.controller_pause = true;
        }
        // completedCurrentCanaryStep
        if r.paused {
            if !r.status.pause_condition {
                r.status.controller_pause = false;
            }
            return;
        }
        let (step, index) = get_current_canary_step(r);
        let done = match step {
            Some(GoStep::Pause) => had_controller_pause && !had_condition,
            Some(GoStep::SetWeight(_)) => {
                let older: Vec<&GoRs> = others.iter().map(|&o| &pre.rss[pre.idx(o)]).collect();
                at_desired_replica_counts_for_canary(r, new_rs, stable_rs, &older)
            }
            None => false,
        };
        if done {
            r.status.current_step_index = Some(index.unwrap_or(0) + 1);
            r.status.pause_condition = false;
        }
        // Without pause conditions the persisted status has no controller pause.
        if !r.status.pause_condition {
            r.status.controller_pause = false;
        }
    }
}

// ================================================================ Argo's tables

fn rs(name: u64, spec: i32, available: i32) -> GoRs {
    GoRs {
        name,
        hash: format!("h{name}"),
        revision: name as i64 + 1,
        spec,
        status_replicas: spec,
        available,
        desired_annotation: None,
    }
}

fn rollout(
    replicas: i32,
    weight: i32,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
) -> GoRollout {
    GoRollout {
        replicas,
        template: "canary".into(),
        steps: vec![GoStep::SetWeight(weight)],
        max_surge: surge,
        max_unavailable: unavailable,
        paused: false,
        status: GoStatus {
            stable_rs: "stable".into(),
            current_pod_hash: "canary".into(),
            ..GoStatus::default()
        },
    }
}

use IntOrPercent::{Count as I, Percent as P};

/// (replicas, weight, maxSurge) and the expected (canary, stable).
type ApproximateRow = ((i32, i32, i32), (i32, i32));

/// `TestApproximateWeightedNewStableReplicaCounts`.
const APPROXIMATE: &[ApproximateRow] = &[
    ((0, 0, 0), (0, 0)),
    ((0, 50, 0), (0, 0)),
    ((0, 100, 0), (0, 0)),
    ((0, 0, 1), (0, 0)),
    ((0, 50, 1), (0, 0)),
    ((0, 100, 1), (0, 0)),
    ((1, 0, 0), (0, 1)),
    ((1, 1, 0), (0, 1)),
    ((1, 49, 0), (0, 1)),
    ((1, 50, 0), (1, 0)),
    ((1, 99, 0), (1, 0)),
    ((1, 100, 0), (1, 0)),
    ((1, 0, 1), (0, 1)),
    ((1, 1, 1), (1, 1)),
    ((1, 49, 1), (1, 1)),
    ((1, 50, 1), (1, 1)),
    ((1, 99, 1), (1, 1)),
    ((1, 100, 1), (1, 0)),
    ((2, 0, 0), (0, 2)),
    ((2, 1, 0), (1, 1)),
    ((2, 50, 0), (1, 1)),
    ((2, 99, 0), (1, 1)),
    ((2, 100, 0), (2, 0)),
    ((2, 0, 1), (0, 2)),
    ((2, 1, 1), (1, 2)),
    ((2, 50, 1), (1, 1)),
    ((2, 99, 1), (2, 1)),
    ((2, 100, 1), (2, 0)),
    ((3, 10, 0), (1, 2)),
    ((3, 25, 0), (1, 2)),
    ((3, 33, 0), (1, 2)),
    ((3, 34, 0), (1, 2)),
    ((3, 49, 0), (1, 2)),
    ((3, 50, 0), (2, 1)),
    ((3, 10, 1), (1, 3)),
    ((3, 25, 1), (1, 3)),
    ((3, 33, 1), (1, 2)),
    ((3, 34, 1), (1, 2)),
    ((3, 49, 1), (2, 2)),
    ((3, 50, 1), (2, 2)),
    ((10, 0, 1), (0, 10)),
    ((10, 1, 0), (1, 9)),
    ((10, 14, 0), (1, 9)),
    ((10, 15, 0), (2, 8)),
    ((10, 16, 0), (2, 8)),
    ((10, 99, 0), (9, 1)),
    ((10, 100, 1), (10, 0)),
    ((10, 0, 1), (0, 10)),
    ((10, 1, 1), (1, 10)),
    ((10, 18, 1), (2, 9)),
    ((10, 19, 1), (2, 9)),
    ((10, 20, 1), (2, 8)),
    ((10, 23, 1), (2, 8)),
    ((10, 24, 1), (3, 8)),
    ((10, 25, 1), (3, 8)),
    ((10, 99, 1), (10, 1)),
    ((10, 100, 1), (10, 0)),
];

/// One row of `TestCalculateReplicaCountsForCanary` without traffic routing.
struct Row {
    name: &'static str,
    replicas: i32,
    weight: i32,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    promote_full: bool,
    stable: (i32, i32),
    canary: (i32, i32),
    older: Option<(i32, i32)>,
    expected_stable: i32,
    expected_canary: i32,
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { name: "Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas", replicas: 10, weight: 100, surge: I(3), unavailable: I(0), promote_full: false, stable: (7, 8), canary: (6, 3), older: None, expected_stable: 7, expected_canary: 6 },
    Row { name: "Use max surge int to scale up canary", replicas: 10, weight: 20, surge: I(2), unavailable: I(0), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 10, expected_canary: 2 },
    Row { name: "Use max surge percentage to scale up canary", replicas: 10, weight: 20, surge: P(20), unavailable: I(0), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 10, expected_canary: 2 },
    Row { name: "Scale down extra stable replicas", replicas: 10, weight: 20, surge: P(20), unavailable: I(0), promote_full: false, stable: (10, 10), canary: (2, 2), older: None, expected_stable: 8, expected_canary: 2 },
    Row { name: "Do not go past max surge", replicas: 10, weight: 30, surge: I(2), unavailable: I(0), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 10, expected_canary: 2 },
    Row { name: "Use max unavailable int to scale down stableRS", replicas: 10, weight: 20, surge: I(0), unavailable: I(2), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 8, expected_canary: 0 },
    Row { name: "Use max surge percentage to scale down stableRS", replicas: 10, weight: 20, surge: I(0), unavailable: P(20), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 8, expected_canary: 0 },
    Row { name: "Do not go past max unavailable", replicas: 10, weight: 30, surge: I(0), unavailable: I(2), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 8, expected_canary: 0 },
    Row { name: "Use Max Surge and Max Unavailable", replicas: 10, weight: 50, surge: I(2), unavailable: I(1), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 9, expected_canary: 2 },
    Row { name: "Scale canaryRS to zero on setWeight of 0%", replicas: 10, weight: 0, surge: I(1), unavailable: I(1), promote_full: false, stable: (10, 10), canary: (1, 1), older: None, expected_stable: 10, expected_canary: 0 },
    Row { name: "Scale stable to zero on setWeight of 100%", replicas: 10, weight: 100, surge: I(1), unavailable: I(1), promote_full: false, stable: (1, 1), canary: (10, 10), older: None, expected_stable: 0, expected_canary: 10 },
    Row { name: "Do not scale canaryRS down to zero on non-zero weight", replicas: 1, weight: 20, surge: I(1), unavailable: I(0), promote_full: false, stable: (1, 1), canary: (0, 0), older: None, expected_stable: 1, expected_canary: 1 },
    Row { name: "Do not scale canaryRS down to zero on non-100 weight", replicas: 1, weight: 90, surge: I(1), unavailable: I(0), promote_full: false, stable: (1, 1), canary: (0, 0), older: None, expected_stable: 1, expected_canary: 1 },
    Row { name: "Scale canaryRS to zero on <50 weight without surge", replicas: 1, weight: 49, surge: I(0), unavailable: I(1), promote_full: false, stable: (1, 1), canary: (0, 0), older: None, expected_stable: 1, expected_canary: 0 },
    Row { name: "Scale stableRS down to zero on >=50 weight without surge", replicas: 1, weight: 51, surge: I(0), unavailable: I(1), promote_full: false, stable: (1, 1), canary: (0, 0), older: None, expected_stable: 0, expected_canary: 0 },
    Row { name: "Scale canaryRS to one on >=50 weight without surge and stable replicas", replicas: 1, weight: 51, surge: I(0), unavailable: I(1), promote_full: false, stable: (0, 0), canary: (0, 0), older: None, expected_stable: 0, expected_canary: 1 },
    Row { name: "Scale up Stable before canaryRS", replicas: 10, weight: 30, surge: I(1), unavailable: I(0), promote_full: false, stable: (1, 1), canary: (0, 0), older: Some((3, 3)), expected_stable: 7, expected_canary: 1 },
    Row { name: "Scale down canaryRS and stable", replicas: 10, weight: 30, surge: I(0), unavailable: I(3), promote_full: false, stable: (8, 5), canary: (4, 4), older: None, expected_stable: 7, expected_canary: 3 },
    Row { name: "Scale down stable and canary available", replicas: 10, weight: 100, surge: I(1), unavailable: I(0), promote_full: false, stable: (10, 2), canary: (10, 8), older: None, expected_stable: 2, expected_canary: 9 },
    Row { name: "Do not scale down canaryRS or stable when older RS count >= scaleDownCount", replicas: 10, weight: 30, surge: I(0), unavailable: I(1), promote_full: false, stable: (8, 6), canary: (4, 2), older: Some((3, 3)), expected_stable: 8, expected_canary: 4 },
    Row { name: "Do not round past maxSurge with uneven setWeight divisor", replicas: 10, weight: 5, surge: I(0), unavailable: I(1), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 9, expected_canary: 0 },
    Row { name: "Do not round past maxSurge with uneven setWeight divisor (part 2)", replicas: 10, weight: 5, surge: I(0), unavailable: I(1), promote_full: false, stable: (9, 9), canary: (0, 0), older: None, expected_stable: 9, expected_canary: 1 },
    Row { name: "Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas", replicas: 10, weight: 10, surge: P(0), unavailable: P(0), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 9, expected_canary: 0 },
    Row { name: "Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas", replicas: 10, weight: 20, surge: P(20), unavailable: I(0), promote_full: false, stable: (10, 10), canary: (0, 0), older: None, expected_stable: 10, expected_canary: 2 },
    Row { name: "honor maxSurge during scale up when stableRS unavailable", replicas: 4, weight: 100, surge: I(1), unavailable: I(0), promote_full: false, stable: (4, 1), canary: (0, 0), older: None, expected_stable: 4, expected_canary: 1 },
    Row { name: "scale down to maxunavailable without exceeding maxSurge", replicas: 3, weight: 99, surge: I(0), unavailable: I(2), promote_full: false, stable: (3, 3), canary: (0, 0), older: None, expected_stable: 1, expected_canary: 0 },
    Row { name: "scale down to maxunavailable without exceeding maxSurge (part 2)", replicas: 3, weight: 99, surge: I(0), unavailable: I(2), promote_full: false, stable: (1, 1), canary: (0, 0), older: None, expected_stable: 1, expected_canary: 2 },
    Row { name: "honor maxUnavailable during scale down stableRS unavailable", replicas: 4, weight: 100, surge: I(1), unavailable: I(0), promote_full: false, stable: (4, 1), canary: (1, 1), older: None, expected_stable: 3, expected_canary: 1 },
    Row { name: "honor maxUnavailable when aborting or reducing weight part 1", replicas: 4, weight: 0, surge: I(1), unavailable: I(0), promote_full: false, stable: (0, 0), canary: (4, 4), older: None, expected_stable: 1, expected_canary: 4 },
    Row { name: "honor maxUnavailable when aborting or reducing weight part 2", replicas: 4, weight: 0, surge: I(1), unavailable: I(0), promote_full: false, stable: (1, 0), canary: (4, 4), older: None, expected_stable: 1, expected_canary: 4 },
    Row { name: "honor maxUnavailable when aborting or reducing weight part 3", replicas: 4, weight: 0, surge: I(1), unavailable: I(0), promote_full: false, stable: (1, 1), canary: (4, 4), older: None, expected_stable: 1, expected_canary: 3 },
    Row { name: "promote full does not consider weight", replicas: 4, weight: 1, surge: I(4), unavailable: I(4), promote_full: true, stable: (4, 4), canary: (0, 0), older: None, expected_stable: 0, expected_canary: 4 },
    Row { name: "promote full still honors maxSurge/maxUnavailable", replicas: 4, weight: 1, surge: I(3), unavailable: I(0), promote_full: true, stable: (4, 4), canary: (0, 0), older: None, expected_stable: 4, expected_canary: 3 },
];

/// The row's world: stable (name 0), canary (name 1), older (name 2).
fn row_world(row: &Row) -> (GoRollout, GoRs, GoRs, Option<GoRs>) {
    let r = rollout(row.replicas, row.weight, row.surge, row.unavailable);
    let mut stable = rs(0, row.stable.0, row.stable.1);
    stable.hash = "stable".into();
    let mut canary = rs(1, row.canary.0, row.canary.1);
    canary.hash = "canary".into();
    let older = row.older.map(|(s, a)| rs(2, s, a));
    (r, stable, canary, older)
}

/// `promoteFull` makes `GetCanaryReplicasOrWeight` return the full weight.
fn row_weight(row: &Row) -> i32 {
    if row.promote_full { 100 } else { row.weight }
}

#[test]
fn the_port_reproduces_argos_tables() {
    for &((n, w, s), expected) in APPROXIMATE {
        assert_eq!(
            approximate_weighted_canary_stable_replica_counts(n, w, 100, s),
            expected,
            "approximate: replicas {n}, weight {w}, surge {s}"
        );
    }
    for row in ROWS {
        let (r, stable, canary, older) = row_world(row);
        let older: Vec<&GoRs> = older.iter().collect();
        let got = calculate_with_weight(&r, row_weight(row), Some(&canary), Some(&stable), &older);
        assert_eq!(
            got,
            (row.expected_canary, row.expected_stable),
            "{}",
            row.name
        );
    }
    // TestCalculateReplicaCountsForNewDeployment: the stable is the new one.
    let r = rollout(10, 10, I(0), I(1));
    let same = rs(0, 10, 0);
    assert_eq!(
        calculate_replica_counts_for_basic_canary(&r, Some(&same), Some(&same), &[]),
        (10, 0)
    );
    // TestGetReplicasForScaleDown
    assert_eq!(get_replicas_for_scale_down(None, false), 0);
    assert_eq!(get_replicas_for_scale_down(Some(&rs(0, 3, 5)), false), 3);
    assert_eq!(get_replicas_for_scale_down(Some(&rs(0, 3, 2)), true), 3);
    assert_eq!(get_replicas_for_scale_down(Some(&rs(0, 3, 2)), false), 2);
    // TestAtDesiredReplicaCountsForCanary (its setCanaryScale is ignored without a router).
    let at = |w: i32, new: (i32, i32, i32), stable: (i32, i32, i32)| {
        let r = rollout(4, w, I(1), I(1));
        let mut n = rs(1, new.0, new.1);
        n.status_replicas = new.2;
        let mut s = rs(0, stable.0, stable.1);
        s.status_replicas = stable.2;
        at_desired_replica_counts_for_canary(&r, Some(&n), Some(&s), &[])
    };
    assert!(
        at(50, (2, 2, 2), (2, 2, 2)),
        "at desired counts and availability"
    );
    assert!(
        !at(50, (2, 1, 2), (2, 2, 2)),
        "new replicaset not available"
    );
    assert!(
        !at(75, (3, 3, 3), (2, 2, 2)),
        "stable replicaset not at its count"
    );
    assert!(
        at(75, (3, 3, 1), (1, 0, 1)),
        "stable counted, not its availability"
    );
    assert!(!at(50, (2, 2, 2), (2, 2, 3)), "status lags spec.replicas");
}

// ------------------------------------------------ Argo's controller tests, on the port

/// A rollout whose ReplicaSets `rss` exist, synced once: the writes.
fn controller_case(r: &mut GoRollout, rss: Vec<GoRs>) -> Vec<Write> {
    let next_name = rss.len() as u64;
    let mut c = ArgoController {
        rss,
        next_name,
        ..ArgoController::default()
    };
    c.sync(r)
}

fn go_rs(name: u64, hash: &str, revision: i64, spec: i32, available: i32, desired: i32) -> GoRs {
    GoRs {
        name,
        hash: hash.into(),
        revision,
        spec,
        status_replicas: spec,
        available,
        desired_annotation: Some(desired),
    }
}

fn go_rollout(
    n: i32,
    steps: Vec<GoStep>,
    index: Option<i32>,
    surge: i32,
    unavailable: i32,
    template: &str,
    stable: &str,
) -> GoRollout {
    GoRollout {
        replicas: n,
        template: template.into(),
        steps,
        max_surge: I(surge as u32),
        max_unavailable: I(unavailable as u32),
        paused: false,
        status: GoStatus {
            stable_rs: stable.into(),
            current_pod_hash: template.into(),
            current_step_index: index,
            ..GoStatus::default()
        },
    }
}

#[test]
fn the_port_reproduces_argos_controller_tests() {
    use GoStep::SetWeight;
    // TestCanaryRolloutScaleDownOldRsDontScaleDownTooMuch: both old sets
    // fully available; the newest goes to 0, the older to 4.
    let mut r = go_rollout(4, vec![], None, 1, 0, "r3", "r3");
    let w = controller_case(
        &mut r,
        vec![
            go_rs(0, "r1", 1, 5, 5, 4),
            go_rs(1, "r2", 2, 5, 5, 4),
            go_rs(2, "r3", 3, 5, 0, 4),
        ],
    );
    assert_eq!(w, vec![(1, 0), (0, 4)]);
    // TestCanaryRolloutScaleDownOldRs: stable r1 9/9, the interrupted r2 1/1 goes to 0.
    let mut r = go_rollout(10, vec![SetWeight(10)], Some(0), 1, 0, "r3", "r1");
    let w = controller_case(
        &mut r,
        vec![
            go_rs(0, "r1", 1, 9, 9, 10),
            go_rs(1, "r2", 2, 1, 1, 10),
            go_rs(2, "r3", 3, 1, 1, 10),
        ],
    );
    assert_eq!(w, vec![(1, 0)]);
    // TestCanaryRolloutScaleDownStableToMatchWeight: 10 % without surge, stable 10 -> 9.
    let mut r = go_rollout(10, vec![SetWeight(10)], Some(0), 0, 1, "r2", "r1");
    let w = controller_case(
        &mut r,
        vec![go_rs(0, "r1", 1, 10, 10, 10), go_rs(1, "r2", 2, 0, 0, 10)],
    );
    assert_eq!(w, vec![(0, 9)]);
    // TestCanaryRolloutScaleUpNewReplicaWithCorrectWeight: 40 % of 5, new 1 -> 2.
    let mut r = go_rollout(5, vec![SetWeight(40)], Some(0), 0, 1, "r2", "r1");
    let w = controller_case(
        &mut r,
        vec![go_rs(0, "r1", 1, 3, 3, 5), go_rs(1, "r2", 2, 1, 1, 5)],
    );
    assert_eq!(w, vec![(1, 2)]);
    // TestCanaryRolloutCreateNewReplicaWithCorrectWeight: created at 0, then 1.
    let mut r = go_rollout(10, vec![SetWeight(10)], Some(0), 1, 0, "r2", "r1");
    r.status.current_pod_hash = "r1".into();
    let mut c = ArgoController {
        rss: vec![go_rs(0, "r1", 1, 10, 10, 10)],
        next_name: 1,
        ..ArgoController::default()
    };
    assert_eq!(c.sync(&mut r), vec![(1, 0)]);
    assert_eq!(c.sync(&mut r), vec![(1, 1)]);
    // TestGradualShiftToNewStable: steps done, stable 9/9 -> 6 beside new 4/4.
    let mut r = go_rollout(10, vec![SetWeight(10)], Some(1), 3, 0, "r2", "r1");
    let w = controller_case(
        &mut r,
        vec![go_rs(0, "r1", 1, 9, 9, 10), go_rs(1, "r2", 2, 4, 4, 10)],
    );
    assert_eq!(w, vec![(0, 6)]);
    // TestRollBackToStable: back to r1's template: revision 1 becomes 3, steps skipped.
    let mut r = go_rollout(10, vec![SetWeight(10)], Some(0), 1, 0, "r1", "r1");
    r.status.current_pod_hash = "r2".into();
    let mut c = ArgoController {
        rss: vec![go_rs(0, "r1", 1, 9, 9, 10), go_rs(1, "r2", 2, 1, 1, 10)],
        next_name: 2,
        ..ArgoController::default()
    };
    assert_eq!(c.sync(&mut r), vec![]);
    assert_eq!(c.rss[0].revision, 3);
    assert_eq!(r.status.current_step_index, Some(1));
}

// ------------------------------------------------ the same tables, on the planner

const V1: &str = "stable";
const V2: &str = "canary";

fn canary_spec(
    template: &str,
    n: u32,
    steps: Vec<CanaryStep>,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
) -> RolloutSpec {
    RolloutSpec::builder(template, n)
        .strategy(Strategy::Canary(
            CanaryStrategy::new(steps).budget(surge, unavailable),
        ))
        .revision_history_limit(None)
        .progress_deadline(None)
        .build()
        .expect("valid spec")
}

/// Tracks (id, spec, available) annotated, as Argo's test ReplicaSets are,
/// with the rollout's `n` replicas.
fn obs(n: u32, tracks: &[(u64, u32, u32)]) -> Observation {
    tracks.iter().fold(
        Observation::new(Timestamp::ZERO),
        |o, &(id, spec, available)| {
            o.with_track(
                TrackObs::new(TrackId(id), spec, available, available).with_annotations(n, n),
            )
        },
    )
}

/// The planner with stable `V1` (track 0) and canary `V2` (track 1) in
/// flight, at step `index` of `steps` (past the end: promoting), with an
/// older track 2 (`V0`, revision 0's successor) when `older`.
fn planner_in_flight(
    n: u32,
    steps: &[CanaryStep],
    done: usize,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
) -> (RolloutSpec, RolloutState) {
    let v1 = canary_spec(V1, n, steps.to_vec(), surge, unavailable);
    let v2 = canary_spec(V2, n, steps.to_vec(), surge, unavailable);
    let mut state = RolloutState::adopt(&v1, [AdoptedTrack::new(TrackId(0), 1, V1)]);
    // The canary's track is created (at 0) ...
    let d = plan(&v2, &state, &obs(n, &[(0, n, n)])).expect("plan");
    state = d.state;
    // ... and each step passed with an observation at Argo's desired counts.
    for step in steps.iter().take(done) {
        let w = match step {
            CanaryStep::SetWeight(w) => *w,
            _ => unreachable!("only weights"),
        };
        let go = GoRollout {
            replicas: n as i32,
            template: V2.into(),
            steps: vec![GoStep::SetWeight(w as i32)],
            max_surge: surge,
            max_unavailable: unavailable,
            paused: false,
            status: GoStatus {
                stable_rs: V1.into(),
                current_pod_hash: V2.into(),
                current_step_index: Some(0),
                ..GoStatus::default()
            },
        };
        // Argo's fixed point for this weight from a full stable: iterate syncs.
        let mut c = ArgoController {
            rss: vec![
                go_rs(0, V1, 1, n as i32, n as i32, n as i32),
                go_rs(1, V2, 2, 0, 0, n as i32),
            ],
            next_name: 2,
            ..ArgoController::default()
        };
        let mut g = go.clone();
        for _ in 0..40 {
            if g.status.current_step_index != Some(0) {
                break;
            }
            c.sync(&mut g);
            for r in &mut c.rss {
                r.status_replicas = r.spec;
                r.available = r.spec;
            }
        }
        assert_eq!(g.status.current_step_index, Some(1), "Argo passes the step");
        let (s, k) = (c.rss[0].spec as u32, c.rss[1].spec as u32);
        let d = plan(&v2, &state, &obs(n, &[(0, s, s), (1, k, k)])).expect("plan");
        state = d.state;
    }
    (v2, state)
}

fn resizes(d: &Decision) -> Vec<(u64, u32)> {
    d.actions
        .iter()
        .filter_map(|a| match a.action {
            Action::ScaleTrack {
                track, replicas, ..
            } => Some((track.0, replicas)),
            Action::CreateTrack {
                track, replicas, ..
            } => Some((track.0, replicas)),
            _ => None,
        })
        .collect()
}

/// Each basic row of `TestCalculateReplicaCountsForCanary`, seen by the
/// planner at the row's step: its first resize is the table's (the stable
/// count if it changes, else the canary count, else nothing while an older
/// track still has pods).
#[test]
fn the_planner_makes_the_first_resize_of_each_table_row() {
    let mut checked = 0;
    for row in ROWS {
        // Argo's validation refuses a rollout whose maxSurge and
        // maxUnavailable are both zero (here: both 0 %), as the spec does;
        // the row is the arithmetic's (checked on the port above).
        if matches!((row.surge, row.unavailable), (P(0) | I(0), P(0) | I(0))) {
            continue;
        }
        let n = row.replicas as u32;
        // A pause after the weight keeps it in force (promote-full rows pass
        // their only step: 100 % from then on).
        let (steps, done) = if row.promote_full {
            (vec![CanaryStep::SetWeight(row.weight as u32)], 1)
        } else {
            (
                vec![
                    CanaryStep::SetWeight(row.weight as u32),
                    CanaryStep::Pause(None),
                ],
                0,
            )
        };
        let (spec, mut state) = planner_in_flight(n, &steps, done, row.surge, row.unavailable);
        let mut tracks = vec![
            (0, row.stable.0 as u32, row.stable.1 as u32),
            (1, row.canary.0 as u32, row.canary.1 as u32),
        ];
        if let Some((s, a)) = row.older {
            // An older track: a template that came between (not yet known to the state).
            let v0 = canary_spec("older", n, steps.clone(), row.surge, row.unavailable);
            let d = plan(&v0, &state, &obs(n, &tracks)).expect("plan");
            let d =
                plan(&spec, &d.state, &obs(n, &[tracks[0], tracks[1], (2, 0, 0)])).expect("plan");
            state = d.state;
            tracks.push((2, s as u32, a as u32));
        }
        let d = plan(&spec, &state, &obs(n, &tracks)).expect("plan");
        let expected: Vec<(u64, u32)> = if row.expected_stable != row.stable.0 {
            vec![(0, row.expected_stable as u32)]
        } else if row.expected_canary != row.canary.0 {
            vec![(1, row.expected_canary as u32)]
        } else {
            vec![]
        };
        let got: Vec<(u64, u32)> = resizes(&d).into_iter().filter(|&(t, _)| t < 2).collect();
        assert_eq!(
            got.first().copied(),
            expected.first().copied(),
            "{}: {:#?}",
            row.name,
            d.actions
        );
        checked += 1;
    }
    assert_eq!(checked, ROWS.len() - 1);
}

/// Argo's controller tests, on the planner.
#[test]
fn the_planner_reproduces_argos_controller_tests() {
    // TestCanaryRolloutScaleDownOldRsDontScaleDownTooMuch
    let spec = canary_spec("r3", 4, vec![], I(1), I(0));
    let state = RolloutState::adopt(
        &spec,
        [
            AdoptedTrack::new(TrackId(0), 1, "r1"),
            AdoptedTrack::new(TrackId(1), 2, "r2"),
            AdoptedTrack::new(TrackId(2), 3, "r3"),
        ],
    );
    let d = plan(&spec, &state, &obs(4, &[(0, 5, 5), (1, 5, 5), (2, 5, 0)])).expect("plan");
    assert_eq!(resizes(&d), vec![(1, 0), (0, 4)]);
    // TestCanaryRolloutScaleDownStableToMatchWeight
    let (spec, state) = planner_in_flight(10, &[CanaryStep::SetWeight(10)], 0, I(0), I(1));
    let d = plan(&spec, &state, &obs(10, &[(0, 10, 10), (1, 0, 0)])).expect("plan");
    assert_eq!(resizes(&d), vec![(0, 9)]);
    // TestCanaryRolloutScaleUpNewReplicaWithCorrectWeight
    let (spec, state) = planner_in_flight(5, &[CanaryStep::SetWeight(40)], 0, I(0), I(1));
    let d = plan(&spec, &state, &obs(5, &[(0, 3, 3), (1, 1, 1)])).expect("plan");
    assert_eq!(resizes(&d), vec![(1, 2)]);
    // TestCanaryRolloutCreateNewReplicaWithCorrectWeight: created at 0, then 1.
    let v1 = canary_spec(V1, 10, vec![CanaryStep::SetWeight(10)], I(1), I(0));
    let v2 = canary_spec(V2, 10, vec![CanaryStep::SetWeight(10)], I(1), I(0));
    let state = RolloutState::adopt(&v1, [AdoptedTrack::new(TrackId(0), 1, V1)]);
    let d = plan(&v2, &state, &obs(10, &[(0, 10, 10)])).expect("plan");
    assert_eq!(resizes(&d), vec![(1, 0)]);
    let d = plan(&v2, &d.state, &obs(10, &[(0, 10, 10), (1, 0, 0)])).expect("plan");
    assert_eq!(resizes(&d), vec![(1, 1)]);
    // TestGradualShiftToNewStable: steps done, stable 9 -> 6.
    let (spec, state) = planner_in_flight(10, &[CanaryStep::SetWeight(10)], 1, I(3), I(0));
    let d = plan(&spec, &state, &obs(10, &[(0, 9, 9), (1, 4, 4)])).expect("plan");
    assert_eq!(resizes(&d), vec![(0, 6)]);
}

// ================================================================ the differential

/// A world event.
#[derive(Debug, Clone)]
enum Event {
    /// Both sides run until they have nothing more to write.
    Sync,
    /// Every ReplicaSet's status catches up with its spec (removed pods go,
    /// unavailable ones first).
    Settle,
    Available {
        pick: usize,
        count: u32,
    },
    Unavailable {
        pick: usize,
        count: u32,
    },
    AllAvailable,
    Replicas(u32),
    NewTemplate,
    RevertToStable,
    Abort,
    Retry,
    Promote,
    Pause,
    Resume,
}

fn event() -> impl PropStrategy<Value = Event> {
    prop_oneof![
        10 => Just(Event::Sync),
        3 => Just(Event::Settle),
        5 => (0usize..8, 1u32..6).prop_map(|(pick, count)| Event::Available { pick, count }),
        1 => (0usize..8, 1u32..4).prop_map(|(pick, count)| Event::Unavailable { pick, count }),
        2 => Just(Event::AllAvailable),
        1 => (0u32..16).prop_map(Event::Replicas),
        2 => Just(Event::NewTemplate),
        1 => Just(Event::RevertToStable),
        1 => Just(Event::Abort),
        1 => Just(Event::Retry),
        2 => Just(Event::Promote),
        1 => Just(Event::Pause),
        1 => Just(Event::Resume),
    ]
}

fn weight() -> impl PropStrategy<Value = u32> {
    prop_oneof![
        prop::sample::select(vec![
            0u32, 1, 5, 10, 14, 20, 25, 33, 49, 50, 51, 75, 99, 100
        ]),
        0u32..=100,
    ]
}

fn budget() -> impl PropStrategy<Value = (IntOrPercent, IntOrPercent)> {
    let v = prop_oneof![
        (0u32..4).prop_map(IntOrPercent::Count),
        (0u32..=100).prop_map(IntOrPercent::Percent)
    ];
    (v.clone(), v).prop_map(|(s, u)| {
        let zero = |x: IntOrPercent| matches!(x, IntOrPercent::Count(0) | IntOrPercent::Percent(0));
        if zero(s) && zero(u) {
            (s, IntOrPercent::Count(1))
        } else {
            (s, u)
        }
    })
}

#[derive(Debug, Clone)]
struct Case {
    n: u32,
    steps: Vec<CanaryStep>,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    events: Vec<Event>,
}

fn case() -> impl PropStrategy<Value = Case> {
    let step = prop_oneof![
        3 => weight().prop_map(CanaryStep::SetWeight),
        1 => Just(CanaryStep::Pause(None)),
    ];
    (
        1u32..14,
        prop::collection::vec(step, 1..5),
        budget(),
        prop::collection::vec(event(), 1..70),
    )
        .prop_map(|(n, steps, (surge, unavailable), events)| Case {
            n,
            steps,
            surge,
            unavailable,
            events,
        })
}

/// A ReplicaSet written twice in one sync (its unavailable pods removed,
/// then drained within the budget) is one resize in the planner: the final
/// size, where the first write was.
fn merge_writes(writes: Vec<Write>) -> Vec<Write> {
    let mut out: Vec<Write> = Vec::with_capacity(writes.len());
    for (name, size) in writes {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(w) => w.1 = size,
            None => out.push((name, size)),
        }
    }
    out
}

/// One ReplicaSet of the shared world (the planner's track `id` is the port's name).
#[derive(Debug, Clone, PartialEq, Eq)]
struct WorldRs {
    id: u64,
    template: String,
    spec: u32,
    replicas: u32,
    available: u32,
    /// The desired-replicas annotation.
    desired: Option<u32>,
}

/// The planner's side: its spec, persisted state and commands not yet delivered.
struct Planner {
    spec: RolloutSpec,
    state: RolloutState,
    commands: Vec<Command>,
}

/// What the two sides did in one sync.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    writes: Vec<(u64, u32)>,
    revisions: BTreeMap<u64, u64>,
    stable: Option<u64>,
    aborted: bool,
}

struct Differential {
    world: Vec<WorldRs>,
    argo: ArgoController,
    rollout: GoRollout,
    planner: Planner,
    version: u32,
    /// Syncs compared, and writes compared in them.
    syncs: usize,
    writes: usize,
    /// Events that took effect, and outcomes seen (for the coverage figures).
    seen: BTreeMap<&'static str, usize>,
    last_stable: Option<u64>,
}

impl Differential {
    fn saw(&mut self, what: &'static str) {
        *self.seen.entry(what).or_default() += 1;
    }

    fn new(c: &Case) -> Self {
        let go_steps = c
            .steps
            .iter()
            .map(|s| match s {
                CanaryStep::SetWeight(w) => GoStep::SetWeight(*w as i32),
                _ => GoStep::Pause,
            })
            .collect();
        let n = c.n;
        let rollout = GoRollout {
            replicas: n as i32,
            template: "v1".into(),
            steps: go_steps,
            max_surge: c.surge,
            max_unavailable: c.unavailable,
            paused: false,
            status: GoStatus {
                stable_rs: "v1".into(),
                current_pod_hash: "v1".into(),
                current_step_index: Some(c.steps.len() as i32),
                ..GoStatus::default()
            },
        };
        let argo = ArgoController {
            rss: vec![GoRs {
                name: 0,
                hash: "v1".into(),
                revision: 1,
                spec: n as i32,
                status_replicas: n as i32,
                available: n as i32,
                desired_annotation: Some(n as i32),
            }],
            next_name: 1,
            ..ArgoController::default()
        };
        let spec = canary_spec("v1", n, c.steps.clone(), c.surge, c.unavailable);
        let state = RolloutState::adopt(&spec, [AdoptedTrack::new(TrackId(0), 1, "v1")]);
        Self {
            world: vec![WorldRs {
                id: 0,
                template: "v1".into(),
                spec: n,
                replicas: n,
                available: n,
                desired: Some(n),
            }],
            argo,
            rollout,
            planner: Planner {
                spec,
                state,
                commands: Vec::new(),
            },
            version: 1,
            syncs: 0,
            writes: 0,
            seen: BTreeMap::new(),
            last_stable: Some(0),
        }
    }

    /// Argo's `isScalingEvent` would hold at the next sync.
    fn scaling_event_pending(&self) -> bool {
        let r = &self.rollout;
        let stable = self.argo.find_stable(r);
        let current = self
            .argo
            .rss
            .iter()
            .find(|rs| rs.hash == r.status.current_pod_hash)
            .map(|rs| rs.name);
        [stable, current].into_iter().flatten().any(|n| {
            let rs = &self.argo.rss[self.argo.idx(n)];
            rs.spec > 0 && rs.desired_annotation.is_some_and(|d| d != r.replicas)
        })
    }

    fn in_flight(&self) -> bool {
        self.rollout.status.stable_rs != self.rollout.status.current_pod_hash
            || self.rollout.status.stable_rs != self.rollout.template
    }

    /// The port runs syncs until one writes nothing and changes no status.
    fn argo_fixpoint(&mut self) -> Outcome {
        let mut writes = Vec::new();
        for _ in 0..30 {
            // The world's statuses, as the informer shows them.
            for w in &self.world {
                if let Some(rs) = self.argo.rss.iter_mut().find(|r| r.name == w.id) {
                    rs.status_replicas = w.replicas as i32;
                    rs.available = w.available as i32;
                }
            }
            let before = (self.argo.rss.clone(), format!("{:?}", self.rollout.status));
            let w = merge_writes(self.argo.sync(&mut self.rollout));
            for &(name, size) in &w {
                let rs = self
                    .argo
                    .rss
                    .iter()
                    .find(|r| r.name == name)
                    .expect("written");
                let desired = rs.desired_annotation.map(|d| d as u32);
                match self.world.iter_mut().find(|x| x.id == name) {
                    Some(x) => {
                        x.spec = size as u32;
                        x.desired = desired;
                    }
                    None => self.world.push(WorldRs {
                        id: name,
                        template: rs.hash.clone(),
                        spec: size as u32,
                        replicas: 0,
                        available: 0,
                        desired,
                    }),
                }
                writes.push((name, size as u32));
            }
            if before == (self.argo.rss.clone(), format!("{:?}", self.rollout.status)) {
                break;
            }
        }
        let stable_hash = self.rollout.status.stable_rs.clone();
        Outcome {
            writes,
            revisions: self
                .argo
                .rss
                .iter()
                .map(|r| (r.name, r.revision as u64))
                .collect(),
            stable: self
                .argo
                .rss
                .iter()
                .find(|r| r.hash == stable_hash)
                .map(|r| r.name),
            aborted: self.rollout.status.abort,
        }
    }

    /// The planner decides until a decision has no action and changes nothing.
    fn planner_fixpoint(&mut self, world: &mut Vec<WorldRs>) -> Outcome {
        let mut writes = Vec::new();
        let mut revisions: BTreeMap<u64, u64> = BTreeMap::new();
        for _ in 0..30 {
            let mut o = Observation::new(Timestamp::ZERO);
            for w in world.iter() {
                let mut t = TrackObs::new(TrackId(w.id), w.spec, w.available, w.available)
                    .with_replicas(w.replicas);
                t.desired_replicas = w.desired;
                o = o.with_track(t);
            }
            for c in self.planner.commands.drain(..) {
                o = o.with_command(c);
            }
            let d = plan(&self.planner.spec, &self.planner.state, &o).expect("plan");
            let changed = d.state != self.planner.state;
            for a in &d.actions {
                match &a.action {
                    Action::CreateTrack {
                        track,
                        replicas,
                        template,
                        desired_replicas,
                        ..
                    } => {
                        if !world.iter().any(|w| w.id == track.0) {
                            world.push(WorldRs {
                                id: track.0,
                                template: template.clone(),
                                spec: *replicas,
                                replicas: 0,
                                available: 0,
                                desired: Some(*desired_replicas),
                            });
                        }
                        writes.push((track.0, *replicas));
                    }
                    Action::ScaleTrack {
                        track,
                        replicas,
                        desired_replicas,
                        ..
                    } => {
                        let w = world
                            .iter_mut()
                            .find(|w| w.id == track.0)
                            .expect("scaled track exists");
                        w.spec = *replicas;
                        w.desired = Some(*desired_replicas);
                        writes.push((track.0, *replicas));
                    }
                    Action::SetRevision { .. } => {}
                    other => panic!("a replica-weighted canary emitted {other}"),
                }
            }
            let idle = d.actions.is_empty() && !changed;
            self.planner.state = d.state;
            if idle {
                break;
            }
        }
        for t in self.planner.state.tracks() {
            revisions.insert(t.id.0, t.revision);
        }
        Outcome {
            writes,
            revisions,
            stable: self.planner.state.stable().map(|t| t.0),
            aborted: self.planner.state.is_aborted(),
        }
    }

    fn sync(&mut self) -> Result<(), TestCaseError> {
        if self.world.iter().any(|w| w.available > w.spec) {
            self.saw("a status still counting removed pods");
        }
        let mut planner_world = self.world.clone();
        let ours = self.planner_fixpoint(&mut planner_world);
        let argo = self.argo_fixpoint();
        // Revisions of tracks that exist on both sides (the planner forgets none here).
        let argo_revisions: BTreeMap<u64, u64> = argo.revisions.clone();
        prop_assert_eq!(
            &ours.writes,
            &argo.writes,
            "writes differ; world before: {:?}",
            self.world
        );
        prop_assert_eq!(&ours.revisions, &argo_revisions, "revisions differ");
        prop_assert_eq!(ours.stable, argo.stable, "stable track differs");
        prop_assert_eq!(ours.aborted, argo.aborted, "abort state differs");
        prop_assert_eq!(&planner_world, &self.world, "worlds diverged");
        self.syncs += 1;
        self.writes += argo.writes.len();
        if argo.stable != self.last_stable {
            self.saw("a canary became stable");
        }
        self.last_stable = argo.stable;
        if argo.writes.len() > 1 {
            self.saw("a sync with several writes");
        }
        Ok(())
    }

    fn pick(&mut self, pick: usize) -> Option<&mut WorldRs> {
        let len = self.world.len();
        if len == 0 {
            None
        } else {
            self.world.get_mut(pick % len)
        }
    }

    fn apply(&mut self, e: &Event) -> Result<(), TestCaseError> {
        let paused = self.rollout.paused;
        match e {
            Event::Sync => self.sync()?,
            Event::Settle => {
                for w in &mut self.world {
                    w.replicas = w.spec;
                    w.available = w.available.min(w.spec);
                }
            }
            Event::Available { pick, count } => {
                if let Some(w) = self.pick(*pick) {
                    w.replicas = w.spec;
                    w.available = (w.available.min(w.spec) + count).min(w.spec);
                }
            }
            Event::Unavailable { pick, count } => {
                if let Some(w) = self.pick(*pick) {
                    w.available = w.available.saturating_sub(*count);
                }
            }
            Event::AllAvailable => {
                for w in &mut self.world {
                    w.replicas = w.spec;
                    w.available = w.spec;
                }
            }
            Event::Replicas(n) => {
                self.saw("replicas changed");
                self.rollout.replicas = *n as i32;
                self.planner.spec = self.planner.spec.with_replicas(*n).expect("valid spec");
            }
            Event::NewTemplate => {
                self.version += 1;
                let t = format!("v{}", self.version);
                self.rollout.template = t.clone();
                self.planner.spec = self.planner.spec.with_template(t).expect("valid spec");
            }
            Event::RevertToStable => {
                let t = self.rollout.status.stable_rs.clone();
                self.rollout.template = t.clone();
                self.planner.spec = self.planner.spec.with_template(t).expect("valid spec");
            }
            // Argo halts all scaling while paused, an abort included; the
            // planner honours an abort at once. Not compared.
            Event::Abort if !paused && self.in_flight() && !self.rollout.status.abort => {
                self.saw("abort");
                self.rollout.status.abort = true;
                self.planner.commands.push(Command::Abort);
            }
            Event::Retry if !paused && self.rollout.status.abort => {
                self.saw("retry");
                self.rollout.status.abort = false;
                self.planner.commands.push(Command::Retry);
            }
            // Promote passes a pause (Argo's plugin would skip any other step).
            Event::Promote if self.rollout.status.pause_condition && !paused => {
                self.saw("promote at a pause");
                self.rollout.status.pause_condition = false;
                self.planner.commands.push(Command::Promote);
            }
            Event::Pause if !paused && !self.rollout.status.abort => {
                self.saw("operator pause");
                self.rollout.paused = true;
                self.planner.commands.push(Command::Pause);
            }
            Event::Resume if paused => {
                self.rollout.paused = false;
                self.planner.commands.push(Command::Resume);
            }
            _ => {}
        }
        Ok(())
    }
}

fn run(c: &Case) -> Result<(usize, usize), TestCaseError> {
    run_counting(c).map(|d| (d.syncs, d.writes))
}

fn run_counting(c: &Case) -> Result<Differential, TestCaseError> {
    let mut d = Differential::new(c);
    for e in std::iter::once(&Event::Sync)
        .chain(&c.events)
        .chain(std::iter::once(&Event::Sync))
    {
        // A template change meets a synced rollout, and none while a scaling
        // event is pending (replicas changed, not yet applied: possible while
        // paused): Argo's first sync of the new template is then a scaling
        // event that sizes the new canary with the previous rollout's step
        // (often 100 %), before the next sync resets it to step 0; the
        // planner starts the new canary at step 0 at once.
        if matches!(e, Event::NewTemplate | Event::RevertToStable) {
            d.apply(&Event::Sync)?;
            if d.scaling_event_pending() {
                continue;
            }
        }
        d.apply(e)?;
        // A template change or a command is synced at once: Argo applies a
        // command to the status it finds (a later template change clears an
        // abort), the planner to the template of the observation that carries
        // it; and Argo sizes a new canary in the sync that creates it only
        // when the replicas changed too, with the previous canary's step.
        // Replica changes and pod events accumulate between syncs.
        let control = matches!(
            e,
            Event::NewTemplate
                | Event::RevertToStable
                | Event::Abort
                | Event::Retry
                | Event::Promote
                | Event::Pause
                | Event::Resume
        );
        if control {
            d.apply(&Event::Sync)?;
        }
    }
    Ok(d)
}

proptest! {
    // 2,000 cases unless PROPTEST_CASES asks for more.
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(2_000), ..ProptestConfig::default() })]

    /// The planner writes exactly what Argo Rollouts' controller writes.
    #[test]
    fn the_planner_sizes_a_basic_canary_as_argo_rollouts_does(c in case()) {
        run(&c)?;
    }
}

/// The random worlds reach what the comparison is for: scaling events,
/// aborts, retries, promotions at pauses, reverted templates, older sets
/// drained and their unavailable pods removed, statuses still counting
/// removed pods, syncs with several writes. Prints the figures.
#[test]
fn the_random_worlds_cover_argos_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let cases = case();
    let (mut syncs, mut writes) = (0, 0);
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let runs = 500;
    for _ in 0..runs {
        let c = cases.new_tree(&mut runner).expect("generates").current();
        let d = run_counting(&c).unwrap_or_else(|e| panic!("{e}\n{c:#?}"));
        syncs += d.syncs;
        writes += d.writes;
        for (k, v) in d.seen.iter().chain(d.argo.seen.iter()) {
            *seen.entry(k).or_default() += v;
        }
    }
    println!("{runs} worlds: {syncs} syncs compared, {writes} ReplicaSet writes matched");
    for (k, v) in &seen {
        println!("  {v:>6}  {k}");
    }
    for what in [
        "scaling event",
        "abort",
        "retry",
        "promote at a pause",
        "template reverted to stable",
        "older ReplicaSet drained within the budget",
        "unavailable pods of an older ReplicaSet removed",
        "cleanup stopped at a stale status",
        "a status still counting removed pods",
        "a canary became stable",
        "a sync with several writes",
        "operator pause",
    ] {
        assert!(
            seen.get(what).copied().unwrap_or(0) > 0,
            "no world reached: {what}"
        );
    }
}
