//! What one decision reads: the spec, the observation, the operator's
//! one-shot commands and the replica budget of the strategy. Nothing here
//! changes during a decision.

use crate::observation::{Observation, TrackId, TrackObs, TrafficObs};
use crate::spec::{Fenceposts, RolloutSpec, Strategy};
use crate::state::StatusCounts;
use crate::time::Timestamp;

/// The one-shot operator commands of this decision (pause, resume and undo
/// change the persisted state instead, when they are taken).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Commands {
    /// `Promote`, or one carried over from a decision that ended before its
    /// gate was judged.
    pub(super) promote: bool,
    /// `Abort`.
    pub(super) abort: bool,
    /// `Retry`.
    pub(super) retry: bool,
}

/// The read-only inputs of one decision.
#[derive(Debug)]
pub(super) struct View<'a> {
    /// The desired spec.
    pub(super) spec: &'a RolloutSpec,
    /// What the caller observed.
    pub(super) obs: &'a Observation,
    /// The one-shot commands.
    pub(super) commands: Commands,
    /// The replica budget the strategy works within (see [`budget_of`]).
    pub(super) budget: Fenceposts,
}

/// The replica budget of a strategy: a rolling update's or a
/// replica-weighted canary's maxSurge and maxUnavailable, resolved for the
/// spec's replicas; none for `Recreate`, blue-green and a routed canary,
/// which keep every pod available and write `n` as both replica
/// annotations. Every created or resized track is annotated with
/// `budget.replicas` and `budget.max_total()`, and the `Available`
/// condition asks for `budget.min_available()` pods.
pub(super) fn budget_of(spec: &RolloutSpec) -> Fenceposts {
    let n = spec.replicas();
    match spec.strategy() {
        Strategy::Rolling(r) => Fenceposts::resolve(n, r.max_surge, r.max_unavailable),
        Strategy::Canary(c) if !c.traffic_routing => {
            Fenceposts::resolve(n, c.max_surge, c.max_unavailable)
        }
        Strategy::Recreate | Strategy::BlueGreen(_) | Strategy::Canary(_) => {
            Fenceposts::recreate(n)
        }
    }
}

impl<'a> View<'a> {
    pub(super) fn new(spec: &'a RolloutSpec, obs: &'a Observation, commands: Commands) -> Self {
        Self {
            spec,
            obs,
            commands,
            budget: budget_of(spec),
        }
    }

    /// The time of the observation (the planner has no clock of its own).
    pub(super) const fn now(&self) -> Timestamp {
        self.obs.now
    }

    /// Desired replicas.
    pub(super) const fn replicas(&self) -> u32 {
        self.spec.replicas()
    }

    /// Where the services and the router send traffic.
    pub(super) const fn traffic(&self) -> TrafficObs {
        self.obs.traffic
    }

    /// The observed state of a track, if it exists.
    pub(super) fn observed(&self, id: TrackId) -> Option<&'a TrackObs> {
        self.obs.track(id)
    }

    /// The track's observed `spec.replicas` (0 when it does not exist).
    pub(super) fn spec_replicas(&self, id: TrackId) -> u32 {
        self.observed(id).map_or(0, |t| t.spec_replicas)
    }

    /// The track's available pods (0 when it does not exist).
    pub(super) fn available(&self, id: TrackId) -> u32 {
        self.observed(id).map_or(0, |t| t.available)
    }

    /// Status counts over every observed track, `new` being the updated one.
    pub(super) fn status_counts(&self, new: Option<TrackId>) -> StatusCounts {
        let mut c = StatusCounts::default();
        for t in &self.obs.tracks {
            c.replicas += t.replicas;
            c.ready += t.ready;
            c.available += t.available;
        }
        c.updated = new.and_then(|n| self.observed(n)).map_or(0, |t| t.replicas);
        c
    }
}
