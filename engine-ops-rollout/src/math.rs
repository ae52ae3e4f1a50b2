//! The Deployment controller's replica arithmetic (rolling scale-up and
//! scale-down, proportional scaling), over a slice of tracks sorted oldest
//! first.
//!
//! Each function mirrors one Go function of `pkg/controller/deployment`; names
//! are kept so the two can be read side by side.

use crate::{Fenceposts, TrackId};

/// One track as the arithmetic sees it: spec size, available pods and the
/// `desired-replicas` / `max-replicas` annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct W {
    pub(crate) id: TrackId,
    pub(crate) spec: u32,
    pub(crate) available: u32,
    pub(crate) desired: Option<u32>,
    pub(crate) max: Option<u32>,
}

impl W {
    /// `scaleReplicaSet`: set the size and stamp the annotations.
    fn set(&mut self, f: &Fenceposts, spec: u32) {
        self.spec = spec;
        self.desired = Some(f.replicas);
        self.max = Some(f.max_total());
    }
}

/// `NewRSNewReplicas` for the rolling strategy.
pub(crate) fn new_rs_new_replicas(f: &Fenceposts, total_spec: u64, new_spec: u32) -> u32 {
    let max_total = u64::from(f.max_total());
    if total_spec >= max_total {
        return new_spec;
    }
    let up = (max_total - total_spec).min(u64::from(f.replicas.saturating_sub(new_spec)));
    new_spec + u32::try_from(up).unwrap_or(u32::MAX)
}

/// `reconcileNewReplicaSet`: the new size of the new track, if it changes.
pub(crate) fn reconcile_new(f: &Fenceposts, ws: &[W], new: usize) -> Option<u32> {
    let n = f.replicas;
    let cur = ws[new].spec;
    if cur == n {
        return None;
    }
    if cur > n {
        return Some(n);
    }
    let total: u64 = ws.iter().map(|w| u64::from(w.spec)).sum();
    let next = new_rs_new_replicas(f, total, cur);
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
pub(crate) fn reconcile_old(f: &Fenceposts, ws: &mut [W], new: usize) -> OldReconcile {
    let mut out = OldReconcile {
        changes: Vec::new(),
        max_scaled_down: 0,
        stale: None,
    };
    let old_total: i64 = ws
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != new)
        .map(|(_, w)| i64::from(w.spec))
        .sum();
    if old_total == 0 {
        return out;
    }
    let all_total: i64 = ws.iter().map(|w| i64::from(w.spec)).sum();
    let min_available = i64::from(f.min_available());
    let new_unavailable = i64::from(ws[new].spec) - i64::from(ws[new].available);
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
    for i in 0..ws.len() {
        if i == new {
            continue;
        }
        if cleaned >= max_scaled_down {
            break;
        }
        let w = ws[i];
        if w.spec == 0 || w.available == w.spec {
            continue;
        }
        if w.available > w.spec {
            // More available than asked for: the status still counts pods of an
            // earlier scale-down. Go computes a negative count here, returns
            // "got invalid request to scale down" and reconcileOldReplicaSets
            // scales nothing further this sync (earlier cleanups stand), so the
            // doomed pods are never counted as available for the scale-down.
            out.stale = Some(i);
            return out;
        }
        let k = (max_scaled_down - cleaned).min(i64::from(w.spec - w.available));
        let k = u32::try_from(k).unwrap_or(0);
        ws[i].set(f, w.spec - k);
        cleaned += i64::from(k);
        note(&mut out, i, w.spec, k, 0);
    }
    // scaleDownOldReplicaSetsForRollingUpdate: bounded by available pods.
    let available: i64 = ws.iter().map(|w| i64::from(w.available)).sum();
    if available > min_available {
        let budget = available - min_available;
        let mut done: i64 = 0;
        #[allow(clippy::needless_range_loop)] // indices are reported back to the caller
        for i in 0..ws.len() {
            if i == new {
                continue;
            }
            if done >= budget {
                break;
            }
            let w = ws[i];
            if w.spec == 0 {
                continue;
            }
            let d = i64::from(w.spec).min(budget - done);
            let d = u32::try_from(d).unwrap_or(0);
            ws[i].set(f, w.spec - d);
            done += i64::from(d);
            note(&mut out, i, w.spec, 0, d);
        }
    }
    out
}

/// `isScalingEvent`: an active track whose `desired-replicas` differs from `n`.
pub(crate) fn is_scaling_event(f: &Fenceposts, ws: &[W]) -> bool {
    ws.iter()
        .any(|w| w.spec > 0 && w.desired.is_some_and(|d| d != f.replicas))
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
    f: &Fenceposts,
    ws: &mut [W],
    new: Option<usize>,
    status_replicas: u32,
) -> Option<ScaleKind> {
    let n = f.replicas;
    // FindActiveOrLatest
    let active: Vec<usize> = (0..ws.len()).filter(|&i| ws[i].spec > 0).collect();
    let single = match active.len() {
        0 => new.or_else(|| (!ws.is_empty()).then(|| ws.len() - 1)),
        1 => Some(active[0]),
        _ => None,
    };
    if active.len() <= 1 {
        let i = single?;
        if ws[i].spec == n {
            return None;
        }
        ws[i].set(f, n);
        return Some(ScaleKind::Single);
    }
    if let Some(ni) = new {
        let w = ws[ni];
        if w.spec == n && w.desired == Some(n) && w.available == n {
            for &i in &active {
                if i != ni {
                    ws[i].set(f, 0);
                }
            }
            return Some(ScaleKind::Saturated);
        }
    }
    let allowed = if n > 0 { i64::from(f.max_total()) } else { 0 };
    let total: i64 = active.iter().map(|&i| i64::from(ws[i].spec)).sum();
    let delta = allowed - total;
    let mut order = active;
    if delta > 0 {
        // ReplicaSetsBySizeNewer: larger first, newer first on ties.
        order.sort_by(|&a, &b| ws[b].spec.cmp(&ws[a].spec).then(ws[b].id.cmp(&ws[a].id)));
    } else if delta < 0 {
        // ReplicaSetsBySizeOlder: larger first, older first on ties.
        order.sort_by(|&a, &b| ws[b].spec.cmp(&ws[a].spec).then(ws[a].id.cmp(&ws[b].id)));
    }
    let mut added: i64 = 0;
    let mut sizes: Vec<i64> = Vec::with_capacity(order.len());
    for &i in &order {
        let w = ws[i];
        if delta == 0 {
            sizes.push(i64::from(w.spec));
            continue;
        }
        let prop = proportion(f, &w, delta, added, status_replicas);
        sizes.push(i64::from(w.spec) + prop);
        added += prop;
    }
    if delta != 0 {
        sizes[0] = (sizes[0] + delta - added).max(0);
    }
    for (k, &i) in order.iter().enumerate() {
        let s = u32::try_from(sizes[k].max(0)).unwrap_or(u32::MAX);
        ws[i].set(f, s);
    }
    Some(ScaleKind::Proportional { delta })
}

/// `GetReplicaSetProportion` with `getReplicaSetFraction`.
fn proportion(f: &Fenceposts, w: &W, delta: i64, added: i64, status_replicas: u32) -> i64 {
    if w.spec == 0 || delta == 0 || delta == added {
        return 0;
    }
    let spec = i64::from(w.spec);
    let fraction = if f.replicas == 0 {
        -spec
    } else {
        let max_now = i64::from(f.max_total());
        let mut before = i64::from(w.max.unwrap_or(0));
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
    use crate::IntOrPercent;

    fn w(id: u64, spec: u32, available: u32, max: Option<u32>) -> W {
        W {
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
        let f = Fenceposts::resolve(15, IntOrPercent::Count(3), IntOrPercent::Count(0));
        let mut ws = [w(0, 8, 8, Some(13)), w(1, 5, 0, Some(13))];
        let kind = scale(&f, &mut ws, Some(1), 13);
        assert_eq!(kind, Some(ScaleKind::Proportional { delta: 5 }));
        assert_eq!((ws[0].spec, ws[1].spec), (11, 7));
    }

    #[test]
    fn old_scale_down_waits_while_an_old_status_still_counts_removed_pods() {
        // Recorded from kube-controller-manager v1.35.4: old asked for 7 but
        // still reports 8 available; the controller scales nothing until the
        // old status catches up (counting the 8 would take old to 4 and leave
        // 4 + 3 = 7 available, below 10 - 2).
        let f = Fenceposts::resolve(10, IntOrPercent::Percent(25), IntOrPercent::Percent(25));
        let mut ws = [w(0, 7, 8, None), w(1, 6, 3, None)];
        let out = reconcile_old(&f, &mut ws, 1);
        assert_eq!(out.max_scaled_down, 2);
        assert!(out.changes.is_empty());
        assert_eq!(out.stale, Some(0));
        assert_eq!(ws[0].spec, 7);
        // Once the status caught up (7 available), the scale-down goes ahead.
        let mut ws = [w(0, 7, 7, None), w(1, 6, 6, None)];
        let out = reconcile_old(&f, &mut ws, 1);
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.stale, None);
        assert_eq!(ws[0].spec, 2);
    }

    #[test]
    fn old_scale_down_is_bounded_by_availability() {
        let f = Fenceposts::resolve(10, IntOrPercent::Percent(25), IntOrPercent::Percent(25));
        let mut ws = [w(0, 8, 8, None), w(1, 5, 5, None)];
        let out = reconcile_old(&f, &mut ws, 1);
        assert_eq!(out.max_scaled_down, 5);
        assert_eq!(ws[0].spec, 3);
        assert_eq!(out.changes[0].scaled_down, 5);
    }
}
