//! Argo Rollouts' replica arithmetic for a canary without a traffic router
//! (its "basic canary"): `CalculateReplicaCountsForBasicCanary` and its
//! helpers, `AtDesiredReplicaCountsForCanary`, and the scale-down of older
//! ReplicaSets (`cleanupUnhealthyReplicas`, `scaleDownOldReplicaSetsForCanary`),
//! as Argo Rollouts computes them since it honours maxSurge (v1.2) and as of
//! its current release.
//!
//! Each function mirrors one Go function; names are kept so the two can be
//! read side by side. Where Go computes in `float64` (rounding the weighted
//! count, detecting a tie, comparing weight deltas) this code does too, with
//! the same operations in the same order, so ties resolve exactly as they do
//! in Argo Rollouts (exact rational arithmetic differs from it in a few
//! hundred (replicas, weight) pairs below 2,000 replicas).

use crate::observation::TrackId;
use crate::spec::Fenceposts;

/// The weight that means "everything" (Argo's default `maxTrafficWeight`).
const MAX_WEIGHT: i64 = 100;

/// One ReplicaSet as the arithmetic sees it: `spec.replicas`,
/// `status.replicas` and `status.availableReplicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rs {
    pub(crate) spec: u32,
    pub(crate) replicas: u32,
    pub(crate) available: u32,
}

impl Rs {
    fn spec(self) -> i64 {
        i64::from(self.spec)
    }

    fn available(self) -> i64 {
        i64::from(self.available)
    }
}

/// The canary and its stable track as `CalculateReplicaCountsForBasicCanary`
/// receives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair {
    /// The canary (`newRS`): the track of the current template, if it exists.
    pub(crate) new: Option<Rs>,
    /// The stable track (`stableRS`), if there is one.
    pub(crate) stable: Option<Rs>,
    /// The stable track is the canary's track (`newRS.Name == stableRS.Name`):
    /// nothing is in flight, so the stable track gets every replica.
    pub(crate) stable_is_new: bool,
}

impl Pair {
    /// `CheckStableRSExists`: a stable track other than the canary's.
    fn scale_stable(&self) -> Option<Rs> {
        self.stable.filter(|_| !self.stable_is_new)
    }
}

/// `floorCeilingTied`: the weighted count lies exactly halfway between two
/// whole numbers (as `float64` computes it).
fn floor_ceiling_tied(weight: i64, total: i64) -> bool {
    #[allow(clippy::cast_precision_loss)] // replica counts and weights are far below 2^53
    let x = total as f64 * (weight as f64 / MAX_WEIGHT as f64);
    x.fract() == 0.5
}

/// `weightDelta`: how far `canary` of `total` pods is from the weight.
fn weight_delta(weight: i64, canary: i64, total: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // replica counts and weights are far below 2^53
    let actual = (canary * MAX_WEIGHT) as f64 / total as f64;
    #[allow(clippy::cast_precision_loss)]
    (actual - weight as f64).abs()
}

/// `approximateWeightedCanaryStableReplicaCounts`: the (canary, stable)
/// counts closest to `weight`, over `n` pods or, when surge is allowed,
/// `n + 1`. For weights 1–99 neither side is 0 unless `n` is 1 without surge;
/// a tie keeps the larger canary.
pub(crate) fn approximate_weighted_counts(n: u32, weight: u32, max_surge: u32) -> (u32, u32) {
    let (n, weight) = (i64::from(n), i64::from(weight.min(100)));
    if n == 0 {
        return (0, 0);
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let (ceil, floor) = {
        let x = (n * weight) as f64 / MAX_WEIGHT as f64;
        (x.ceil() as i64, x.floor() as i64)
    };
    let tied = floor_ceiling_tied(weight, n);
    let zero_allowed = weight == MAX_WEIGHT || weight == 0 || (n == 1 && max_surge == 0);
    let mut options: Vec<(i64, i64)> = Vec::with_capacity(4);
    if ceil < n || zero_allowed {
        options.push((ceil, n));
    }
    if !tied && (floor != 0 || zero_allowed) {
        options.push((floor, n));
    }
    if max_surge > 0 {
        options.push((ceil, n + 1));
        if !floor_ceiling_tied(weight, n + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, n + 1));
        }
    }
    let Some(&first) = options.first() else {
        return (0, to_u32(n));
    };
    let mut best = first;
    let mut best_delta = weight_delta(weight, first.0, first.1);
    for &option in &options[1..] {
        let delta = weight_delta(weight, option.0, option.1);
        if delta < best_delta {
            best = option;
            best_delta = delta;
        }
    }
    (to_u32(best.0), to_u32(best.1 - best.0))
}

/// `GetReplicasForScaleDown`: the pods of a track that count for a
/// scale-down: its available pods, or its spec when availability is ignored
/// (the side that grows), and never more than its spec (pods of an earlier
/// scale-down still reported available are not counted).
fn replicas_for_scale_down(rs: Option<Rs>, ignore_availability: bool) -> i64 {
    match rs {
        None => 0,
        Some(rs) if rs.spec < rs.available || ignore_availability => rs.spec(),
        Some(rs) => rs.available(),
    }
}

/// `calculateScaleDownReplicaCount`: the draining side moves towards its
/// desired count by at most `scale_down`.
fn scale_down_replica_count(drain: Option<Rs>, desired: i64, scale_down: i64, count: i64) -> i64 {
    match drain {
        Some(rs) if rs.spec() > desired => desired.max(rs.spec() - scale_down),
        _ => count,
    }
}

/// `adjustReplicaWithinLimits`: brings the two counts within `max_allowed`,
/// taking from the adjusted side first but giving it back what the
/// availability floor needs, then from the draining side.
fn adjust_within_limits(
    drain: Option<Rs>,
    adjust: Option<Rs>,
    mut drain_count: i64,
    mut adjust_count: i64,
    max_allowed: i64,
    min_available: i64,
) -> (i64, i64) {
    let mut over = (adjust_count + drain_count - max_allowed).max(0);
    let mut total_available = 0;
    if let Some(d) = drain {
        total_available += d.available().min(drain_count);
    }
    if let Some(a) = adjust {
        adjust_count -= over;
        total_available += a.available().min(adjust_count);
        let extra_available = (a.available() - adjust_count).max(0);
        let more_needed = (min_available - total_available).max(0);
        adjust_count += extra_available.min(more_needed);
        over = (adjust_count + drain_count - max_allowed).max(0);
        drain_count -= over;
    }
    (drain_count, adjust_count)
}

/// `CalculateReplicaCountsForBasicCanary`: the (canary, stable) sizes for the
/// next sync at `weight`, given the older tracks' total spec. Scale-ups stay
/// within `n + maxSurge` (stable first); while older tracks have pods nothing
/// is scaled down here (they go first); otherwise one side shrinks within the
/// availability budget and the other is adjusted to stay within both limits.
pub(crate) fn replica_counts(
    budget: &Fenceposts,
    weight: u32,
    pair: Pair,
    others_spec: u64,
) -> (u32, u32) {
    let n = i64::from(budget.replicas);
    let surge = i64::from(budget.max_surge);
    let (desired_new, desired_stable) =
        approximate_weighted_counts(budget.replicas, weight, budget.max_surge);
    let (mut desired_new, mut desired_stable) = (i64::from(desired_new), i64::from(desired_stable));
    let mut stable_count = 0;
    let mut new_count = pair.new.map_or(0, Rs::spec);
    let scale_stable = pair.scale_stable();
    match scale_stable {
        Some(s) => stable_count = s.spec(),
        None => {
            desired_new = n;
            desired_stable = 0;
        }
    }
    let max_allowed = n + surge;
    let others = i64::try_from(others_spec).unwrap_or(i64::MAX);
    let total = others + new_count + scale_stable.map_or(0, Rs::spec);
    let mut scale_up = max_allowed - total;
    if let Some(s) = scale_stable
        && s.spec() < desired_stable
        && scale_up > 0
    {
        if s.spec() + scale_up < desired_stable {
            stable_count = s.spec() + scale_up;
            scale_up = 0;
        } else {
            stable_count = desired_stable;
            scale_up -= desired_stable - s.spec();
        }
    }
    if let Some(new) = pair.new
        && new.spec() < desired_new
        && scale_up > 0
    {
        new_count = (new.spec() + scale_up).min(desired_new);
    }
    if others > 0 {
        return (to_u32(new_count), to_u32(stable_count));
    }
    let min_available = n - i64::from(budget.max_unavailable);
    let increasing = pair.new.is_none_or(|new| desired_new >= new.spec());
    let to_scale_down = replicas_for_scale_down(pair.new, !increasing)
        + replicas_for_scale_down(pair.stable, increasing);
    if to_scale_down <= min_available {
        return (to_u32(new_count), to_u32(stable_count));
    }
    let scale_down = to_scale_down - min_available;
    if !increasing {
        new_count = scale_down_replica_count(pair.new, desired_new, scale_down, new_count);
        (new_count, stable_count) = adjust_within_limits(
            pair.new,
            pair.stable,
            new_count,
            stable_count,
            max_allowed,
            min_available,
        );
    } else if scale_stable.is_some() {
        stable_count =
            scale_down_replica_count(pair.stable, desired_stable, scale_down, stable_count);
        (stable_count, new_count) = adjust_within_limits(
            pair.stable,
            pair.new,
            stable_count,
            new_count,
            max_allowed,
            min_available,
        );
    }
    (to_u32(new_count), to_u32(stable_count))
}

/// `AtDesiredReplicaCountsForCanary` without a router: the canary holds and
/// has available exactly its desired count, the stable track holds and runs
/// exactly its desired count, and no older track has an available pod.
pub(crate) fn at_desired(budget: &Fenceposts, weight: u32, pair: Pair, others: &[Rs]) -> bool {
    let others_spec: u64 = others.iter().map(|o| u64::from(o.spec)).sum();
    let (new, stable) = replica_counts(budget, weight, pair, others_spec);
    let new_done = pair
        .new
        .is_some_and(|r| r.spec == new && r.available == new);
    let stable_done = pair
        .stable
        .is_some_and(|r| r.spec == stable && r.replicas == stable);
    new_done && stable_done && others.iter().all(|o| o.available == 0)
}

/// One older track for [`scale_down_others`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Other {
    pub(crate) id: TrackId,
    pub(crate) revision: u64,
    pub(crate) rs: Rs,
}

/// What [`scale_down_others`] decided for one older track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OtherScale {
    pub(crate) id: TrackId,
    pub(crate) from: u32,
    pub(crate) to: u32,
    /// True for `cleanupUnhealthyReplicas` (only pods that are not available).
    pub(crate) unhealthy: bool,
}

/// What [`scale_down_others`] decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Drained {
    /// The resizes, in the order Argo writes them.
    pub(crate) writes: Vec<OtherScale>,
    /// The older track whose status reports more available pods than its
    /// spec, where the cleanup stopped.
    pub(crate) stale: Option<TrackId>,
}

/// The scale-down of older tracks (neither stable nor canary) with pods:
/// `cleanupUnhealthyReplicas` (oldest first, every pod that is not
/// available), then `scaleDownOldReplicaSetsForCanary` (newest revision
/// first, within `Σ available − (n − maxUnavailable)` over every track).
///
/// `others` are the older tracks with pods in creation order (oldest first);
/// `total_available` counts every track's available pods. When an older
/// track reports more available pods than its spec (its status still counts
/// pods of an earlier scale-down), Argo's cleanup fails there and nothing
/// further is scaled down in that sync: the cleanups before it stand.
pub(crate) fn scale_down_others(
    budget: &Fenceposts,
    others: &[Other],
    total_available: u64,
) -> Drained {
    let mut out = Drained::default();
    let mut specs: Vec<u32> = others.iter().map(|o| o.rs.spec).collect();
    for (i, o) in others.iter().enumerate() {
        if o.rs.spec == 0 || o.rs.spec == o.rs.available {
            continue;
        }
        if o.rs.available > o.rs.spec {
            out.stale = Some(o.id);
            return out;
        }
        specs[i] = o.rs.available;
        out.writes.push(OtherScale {
            id: o.id,
            from: o.rs.spec,
            to: o.rs.available,
            unhealthy: true,
        });
    }
    let min_available = i64::from(budget.replicas) - i64::from(budget.max_unavailable);
    let mut max_scale_down = i64::try_from(total_available).unwrap_or(i64::MAX) - min_available;
    if max_scale_down <= 0 {
        return out;
    }
    // sort.Reverse(ReplicaSetsByRevisionNumber): highest revision first, the
    // later-created first among equal revisions.
    let mut order: Vec<usize> = (0..others.len()).collect();
    order.sort_by(|&a, &b| {
        (others[b].revision, others[b].id).cmp(&(others[a].revision, others[a].id))
    });
    for i in order {
        if max_scale_down <= 0 {
            break;
        }
        let spec = i64::from(specs[i]);
        if spec == 0 {
            continue;
        }
        let desired = if spec > max_scale_down {
            spec - max_scale_down
        } else {
            0
        };
        if desired == spec {
            continue;
        }
        let to = to_u32(desired);
        match out.writes.iter_mut().find(|s| s.id == others[i].id) {
            Some(s) => {
                s.to = to;
                s.unhealthy = false;
            }
            None => out.writes.push(OtherScale {
                id: others[i].id,
                from: specs[i],
                to,
                unhealthy: false,
            }),
        }
        max_scale_down -= spec - desired;
    }
    out
}

/// A computed count as a replica count (never negative).
fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::IntOrPercent::Count;

    #[test]
    fn ties_follow_float64_as_argo_computes_them() {
        // 25 replicas at 14 %: exactly 3.5, but 25 · 0.14 is 3.5000000000000004
        // in float64, so Argo sees no tie and compares both roundings.
        assert!(!floor_ceiling_tied(14, 25));
        assert!(floor_ceiling_tied(50, 3));
    }

    #[test]
    fn surge_first_then_shrink() {
        let budget = Fenceposts::resolve(10, Count(1), Count(0));
        let stable = Rs {
            spec: 10,
            replicas: 10,
            available: 10,
        };
        let pair = Pair {
            new: Some(Rs {
                spec: 0,
                replicas: 0,
                available: 0,
            }),
            stable: Some(stable),
            stable_is_new: false,
        };
        // 10 % of 10 with one surge pod: one canary first, stable untouched.
        assert_eq!(replica_counts(&budget, 10, pair, 0), (1, 10));
    }
}
