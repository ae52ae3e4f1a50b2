//! The Deployment controller's replica arithmetic (rolling scale-up and
//! scale-down, proportional scaling), over a slice of tracks sorted oldest
//! first.
//!
//! Each function mirrors one Go function of `pkg/controller/deployment`; names
//! are kept so the two can be read side by side.

use crate::observation::TrackId;
use crate::spec::Fenceposts;

/// One track as the arithmetic sees it: spec size, available pods and the
/// `desired-replicas` / `max-replicas` annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrackSizes {
    pub(crate) id: TrackId,
    pub(crate) spec: u32,
    pub(crate) available: u32,
    pub(crate) desired: Option<u32>,
    pub(crate) max: Option<u32>,
}

impl TrackSizes {
    /// `scaleReplicaSet`: set the size and stamp the annotations.
    fn set(&mut self, budget: &Fenceposts, spec: u32) {
        self.spec = spec;
        self.desired = Some(budget.replicas);
        self.max = Some(budget.max_total());
    }
}

/// `NewRSNewReplicas` for the rolling strategy.
pub(crate) fn new_rs_new_replicas(budget: &Fenceposts, total_spec: u64, new_spec: u32) -> u32 {
    let max_total = u64::from(budget.max_total());
    if total_spec >= max_total {
        return new_spec;
    }
    let up = (max_total - total_spec).min(u64::from(budget.replicas.saturating_sub(new_spec)));
    new_spec + u32::try_from(up).unwrap_or(u32::MAX)
}

/// `reconcileNewReplicaSet`: the new size of the new track, if it changes.
pub(crate) fn reconcile_new(budget: &Fenceposts, sizes: &[TrackSizes], new: usize) -> Option<u32> {
    let n = budget.replicas;
    let cur = sizes[new].spec;
    if cur == n {
        return None;
    }
    if cur > n {
        return Some(n);
    }
    let total: u64 = sizes.iter().map(|t| u64::from(t.spec)).sum();
    let next = new_rs_new_replicas(budget, total, cur);
    (next != cur).then_some(next)
}

/// What `reconcileOldReplicaSets` did to one old track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OldScale {
    pub(crate) index: usize,
    pub(crate) from: u32,
    pub(crate) unhealthy_removed: u32,
    pub(crate) scaled_down: u32,
}

/// What `reconcileOldReplicaSets` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OldReconcile {
    /// One entry per old track whose size changed (empty when none did).
    pub(crate) changes: Vec<OldScale>,
    /// `maxScaledDown`.
    pub(crate) max_scaled_down: i64,
    /// The old track whose status reports more available pods than its spec:
    /// the scale-down stopped there (Go's "invalid request to scale down").
    pub(crate) stale: Option<usize>,
}

/// `reconcileOldReplicaSets` = `cleanupUnhealthyReplicas` then
/// `scaleDownOldReplicaSetsForRollingUpdate`. Mutates the old tracks' sizes
/// and returns what changed.
pub(crate) fn reconcile_old(
    budget: &Fenceposts,
    sizes: &mut [TrackSizes],
    new: usize,
) -> OldReconcile {
    let mut out = OldReconcile {
        changes: Vec::new(),
        max_scaled_down: 0,
        stale: None,
    };
    let old_total: i64 = sizes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != new)
        .map(|(_, t)| i64::from(t.spec))
        .sum();
    if old_total == 0 {
        return out;
    }
    let all_total: i64 = sizes.iter().map(|t| i64::from(t.spec)).sum();
    let min_available = i64::from(budget.min_available());
    let new_unavailable = i64::from(sizes[new].spec) - i64::from(sizes[new].available);
    let max_scaled_down = all_total - min_available - new_unavailable;
    out.max_scaled_down = max_scaled_down;
    if max_scaled_down <= 0 {
        return out;
    }
    let note = |out: &mut OldReconcile, index: usize, from: u32, unhealthy: u32, down: u32| {
        let out = &mut out.changes;
        if let Some(o) = out.iter_mut().find(|o| o.index == index) {
            o.unhealthy_removed += unhealthy;
            o.scaled_down += down;
        } else {
            out.push(OldScale {
                index,
                from,
                unhealthy_removed: unhealthy,
                scaled_down: down,
            });
        }
    };
    // cleanupUnhealthyReplicas: oldest first, only pods that are not available.
    let mut cleaned: i64 = 0;
    #[allow(clippy::needless_range_loop)] // indices are reported back to the caller
    for i in 0..sizes.len() {
        if i == new {
            continue;
        }
        if cleaned >= max_scaled_down {
            break;
        }
        let t = sizes[i];
        if t.spec == 0 || t.available == t.spec {
            continue;
        }
        if t.available > t.spec {
            // More available than asked for: the status still counts pods of an
            // earlier scale-down. Go computes a negative count here, returns
            // "got invalid request to scale down" and reconcileOldReplicaSets
            // scales nothing further this sync (earlier cleanups stand), so the
            // doomed pods are never counted as available for the scale-down.
            out.stale = Some(i);
            return out;
        }
        let k = (max_scaled_down - cleaned).min(i64::from(t.spec - t.available));
        let k = u32::try_from(k).unwrap_or(0);
        sizes[i].set(budget, t.spec - k);
        cleaned += i64::from(k);
        note(&mut out, i, t.spec, k, 0);
    }
    // scaleDownOldReplicaSetsForRollingUpdate: bounded by available pods.
    let available: i64 = sizes.iter().map(|t| i64::from(t.available)).sum();
    if available > min_available {
        let room = available - min_available;
        let mut done: i64 = 0;
        #[allow(clippy::needless_range_loop)] // indices are reported back to the caller
        for i in 0..sizes.len() {
            if i == new {
                continue;
            }
            if done >= room {
                break;
            }
            let t = sizes[i];
            if t.spec == 0 {
                continue;
            }
            let d = i64::from(t.spec).min(room - done);
            let d = u32::try_from(d).unwrap_or(0);
            sizes[i].set(budget, t.spec - d);
            done += i64::from(d);
            note(&mut out, i, t.spec, 0, d);
        }
    }
    out
}

/// `isScalingEvent`: an active track whose `desired-replicas` differs from `n`.
pub(crate) fn is_scaling_event(budget: &Fenceposts, sizes: &[TrackSizes]) -> bool {
    sizes
        .iter()
        .any(|t| t.spec > 0 && t.desired.is_some_and(|d| d != budget.replicas))
}

/// How `scale` resolved a scaling event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScaleKind {
    /// One active track (or none: the newest) takes all replicas.
    Single,
    /// The new track is saturated: old ones go to zero.
    Saturated,
    /// Proportional distribution of `delta` pods.
    Proportional { delta: i64 },
}

/// `scale` (proportional scaling). `new` is the new track if it exists;
/// `status_replicas` is the rollout's last recorded `status.replicas`
/// (the fallback for a missing `max-replicas` annotation).
pub(crate) fn scale(
    budget: &Fenceposts,
    sizes: &mut [TrackSizes],
    new: Option<usize>,
    status_replicas: u32,
) -> Option<ScaleKind> {
    let n = budget.replicas;
    // FindActiveOrLatest
    let active: Vec<usize> = (0..sizes.len()).filter(|&i| sizes[i].spec > 0).collect();
    let single = match active.len() {
        0 => new.or_else(|| (!sizes.is_empty()).then(|| sizes.len() - 1)),
        1 => Some(active[0]),
        _ => None,
    };
    if active.len() <= 1 {
        let i = single?;
        if sizes[i].spec == n {
            return None;
        }
        sizes[i].set(budget, n);
        return Some(ScaleKind::Single);
    }
    if let Some(ni) = new {
        let t = sizes[ni];
        if t.spec == n && t.desired == Some(n) && t.available == n {
            for &i in &active {
                if i != ni {
                    sizes[i].set(budget, 0);
                }
            }
            return Some(ScaleKind::Saturated);
        }
    }
    let allowed = if n > 0 {
        i64::from(budget.max_total())
    } else {
        0
    };
    let total: i64 = active.iter().map(|&i| i64::from(sizes[i].spec)).sum();
    let delta = allowed - total;
    let mut order = active;
    if delta > 0 {
        // ReplicaSetsBySizeNewer: larger first, newer first on ties.
        order.sort_by(|&a, &b| {
            sizes[b]
                .spec
                .cmp(&sizes[a].spec)
                .then(sizes[b].id.cmp(&sizes[a].id))
        });
    } else if delta < 0 {
        // ReplicaSetsBySizeOlder: larger first, older first on ties.
        order.sort_by(|&a, &b| {
            sizes[b]
                .spec
                .cmp(&sizes[a].spec)
                .then(sizes[a].id.cmp(&sizes[b].id))
        });
    }
    let mut added: i64 = 0;
    let mut new_sizes: Vec<i64> = Vec::with_capacity(order.len());
    for &i in &order {
        let t = sizes[i];
        if delta == 0 {
            new_sizes.push(i64::from(t.spec));
            continue;
        }
        let prop = proportion(budget, &t, delta, added, status_replicas);
        new_sizes.push(i64::from(t.spec) + prop);
        added += prop;
    }
    if delta != 0 {
        new_sizes[0] = (new_sizes[0] + delta - added).max(0);
    }
    for (k, &i) in order.iter().enumerate() {
        let s = u32::try_from(new_sizes[k].max(0)).unwrap_or(u32::MAX);
        sizes[i].set(budget, s);
    }
    Some(ScaleKind::Proportional { delta })
}

/// `GetReplicaSetProportion` with `getReplicaSetFraction`.
fn proportion(
    budget: &Fenceposts,
    t: &TrackSizes,
    delta: i64,
    added: i64,
    status_replicas: u32,
) -> i64 {
    if t.spec == 0 || delta == 0 || delta == added {
        return 0;
    }
    let spec = i64::from(t.spec);
    let fraction = if budget.replicas == 0 {
        -spec
    } else {
        let max_now = i64::from(budget.max_total());
        let mut before = i64::from(t.max.unwrap_or(0));
        if before == 0 {
            before = i64::from(status_replicas);
            if before == 0 {
                before = spec;
            }
        }
        // math.Round: half away from zero (all terms are positive here).
        let num = spec * max_now;
        (2 * num + before) / (2 * before) - spec
    };
    let allowed = delta - added;
    if delta > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::IntOrPercent;

    fn t(id: u64, spec: u32, available: u32, max: Option<u32>) -> TrackSizes {
        TrackSizes {
            id: TrackId(id),
            spec,
            available,
            desired: Some(10),
            max,
        }
    }

    #[test]
    fn documented_proportional_example() {
        // n 10 -> 15, maxSurge 3: old 8 / new 5 become 11 / 7.
        let budget = Fenceposts::resolve(15, IntOrPercent::Count(3), IntOrPercent::Count(0));
        let mut sizes = [t(0, 8, 8, Some(13)), t(1, 5, 0, Some(13))];
        let kind = scale(&budget, &mut sizes, Some(1), 13);
        assert_eq!(kind, Some(ScaleKind::Proportional { delta: 5 }));
        assert_eq!((sizes[0].spec, sizes[1].spec), (11, 7));
    }

    #[test]
    fn old_scale_down_waits_while_an_old_status_still_counts_removed_pods() {
        // Recorded from kube-controller-manager v1.35.4: old asked for 7 but
        // still reports 8 available; the controller scales nothing until the
        // old status catches up (counting the 8 would take old to 4 and leave
        // 4 + 3 = 7 available, below 10 - 2).
        let budget = Fenceposts::resolve(10, IntOrPercent::Percent(25), IntOrPercent::Percent(25));
        let mut sizes = [t(0, 7, 8, None), t(1, 6, 3, None)];
        let out = reconcile_old(&budget, &mut sizes, 1);
        assert_eq!(out.max_scaled_down, 2);
        assert!(out.changes.is_empty());
        assert_eq!(out.stale, Some(0));
        assert_eq!(sizes[0].spec, 7);
        // Once the status caught up (7 available), the scale-down goes ahead.
        let mut sizes = [t(0, 7, 7, None), t(1, 6, 6, None)];
        let out = reconcile_old(&budget, &mut sizes, 1);
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.stale, None);
        assert_eq!(sizes[0].spec, 2);
    }

    #[test]
    fn old_scale_down_is_bounded_by_availability() {
        let budget = Fenceposts::resolve(10, IntOrPercent::Percent(25), IntOrPercent::Percent(25));
        let mut sizes = [t(0, 8, 8, None), t(1, 5, 5, None)];
        let out = reconcile_old(&budget, &mut sizes, 1);
        assert_eq!(out.max_scaled_down, 5);
        assert_eq!(sizes[0].spec, 3);
        assert_eq!(out.changes[0].scaled_down, 5);
    }
}
