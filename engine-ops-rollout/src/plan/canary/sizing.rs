//! Sizing a canary without a traffic router: the weight is carried by replica
//! counts, with Argo Rollouts' arithmetic ([`crate::basic_canary`]). Every
//! decision first sizes the tracks for the weight in force, whatever the step.

use std::time::Duration;

use crate::basic_canary::{self, Other, Pair, Rs};
use crate::observation::TrackId;
use crate::plan::effects::{Counted, Effects};
use crate::plan::tracks::{ensure_size, ensure_size_and_stamp};
use crate::plan::view::View;
use crate::spec::{CanaryStep, CanaryStrategy};
use crate::state::{RolloutState, Stage};

/// The weight in force at a stage without a router: the last `SetWeight` at
/// or before the current step (0 before the first), 100 once the steps are
/// done, 0 after an abort (Argo's `GetCurrentSetWeight`).
pub(super) fn effective_weight(c: &CanaryStrategy, stage: Stage) -> u32 {
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
pub(super) fn scaling_event(v: &View<'_>, tracks: [TrackId; 2]) -> bool {
    let n = v.replicas();
    tracks.iter().any(|&id| {
        v.observed(id)
            .is_some_and(|t| t.spec_replicas > 0 && t.desired_replicas.is_some_and(|d| d != n))
    })
}

/// A track as the arithmetic sees it, if it exists.
fn rs(v: &View<'_>, id: TrackId) -> Option<Rs> {
    v.observed(id).map(|t| Rs {
        spec: t.spec_replicas,
        replicas: t.replicas,
        available: t.available,
    })
}

/// Whether a replica-weighted `SetWeight(weight)` step is done: the counts
/// are those Argo's arithmetic settles on, the canary's pods all available,
/// the stable's all created and no older track with an available pod
/// (`AtDesiredReplicaCountsForCanary`).
pub(super) fn at_desired(
    v: &View<'_>,
    state: &RolloutState,
    stable: TrackId,
    cand: TrackId,
    weight: u32,
) -> bool {
    let pair = Pair {
        new: rs(v, cand),
        stable: rs(v, stable),
        stable_is_new: false,
    };
    let others: Vec<Rs> = state
        .tracks
        .iter()
        .filter(|t| !t.deleting && t.id != stable && t.id != cand)
        .filter_map(|t| rs(v, t.id))
        .collect();
    basic_canary::at_desired(&v.budget, weight, pair, &others)
}

/// What one sizing pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sized {
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
pub(super) struct Pass {
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
    pub(super) fn reconcile(
        &mut self,
        v: &View<'_>,
        state: &RolloutState,
        fx: &mut Effects,
        stable: TrackId,
        cand: Option<TrackId>,
        weight: u32,
    ) -> Sized {
        if self.wrote {
            fx.requeue_in(Duration::ZERO);
            return Sized::Deferred;
        }
        let sized = size_tracks(v, state, fx, stable, cand, weight);
        self.wrote = sized == Sized::Wrote;
        sized
    }
}

/// One sizing pass (see [`Pass::reconcile`]).
fn size_tracks(
    v: &View<'_>,
    state: &RolloutState,
    fx: &mut Effects,
    stable: TrackId,
    cand: Option<TrackId>,
    weight: u32,
) -> Sized {
    let budget = &v.budget;
    let new_id = cand.unwrap_or(stable);
    let pair = Pair {
        new: rs(v, new_id),
        stable: rs(v, stable),
        stable_is_new: cand.is_none(),
    };
    let others: Vec<Other> = state
        .tracks
        .iter()
        .filter(|t| !t.deleting && t.id != stable && Some(t.id) != cand)
        .filter_map(|t| {
            rs(v, t.id).map(|rs| Other {
                id: t.id,
                revision: t.revision,
                rs,
            })
        })
        .collect();
    let others_spec: u64 = others.iter().map(|o| u64::from(o.rs.spec)).sum();
    let (new_count, stable_count) = basic_canary::replica_counts(budget, weight, pair, others_spec);
    let n = budget.replicas;
    let what = if cand.is_none() {
        format!("the stable revision takes all {}", Counted(n, "replica"))
    } else {
        let (c, s) = basic_canary::approximate_weighted_counts(n, weight, budget.max_surge);
        format!("weight {weight}% carried by replicas (canary {c}, stable {s})")
    };
    let why = format!(
        "{what}; at most {} desired, at least {} available",
        budget.max_total(),
        budget.min_available()
    );
    let mut wrote = Sized::Unchanged;
    let mut write = |fx: &mut Effects, id: TrackId, count: u32| {
        let before = fx.actions().len();
        let resized = ensure_size_and_stamp(v, state, fx, id, count, &why);
        if fx.actions().len() > before {
            wrote = Sized::Wrote;
        }
        resized
    };
    if cand.is_some() && pair.stable.is_some() && write(fx, stable, stable_count) {
        return Sized::Wrote;
    }
    if pair.new.is_some() && write(fx, new_id, new_count) {
        return Sized::Wrote;
    }
    let active: Vec<Other> = others.into_iter().filter(|o| o.rs.spec > 0).collect();
    if active.is_empty() {
        return wrote;
    }
    let available: u64 = v.obs.tracks.iter().map(|t| u64::from(t.available)).sum();
    let drained = basic_canary::scale_down_others(budget, &active, available);
    if let Some(id) = drained.stale {
        fx.explain(format!(
            "older revision {} still reports more available pods than its spec: waiting for its status before draining further",
            state.revision_of(id)
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
                budget.min_available()
            )
        };
        ensure_size(v, state, fx, s.id, s.to, &why);
        wrote = Sized::Wrote;
    }
    wrote
}
