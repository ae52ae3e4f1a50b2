//! What the driver keeps in the app's anchor between runs
//! ([`DriverState`]), and how planner tracks are named on the cluster.

use std::collections::BTreeMap;

use engine_ops_rollout::observation::CheckObs;
use engine_ops_rollout::{RolloutSpec, RolloutState, TrackId};
use serde::{Deserialize, Serialize};

/// Layout version of [`DriverState`].
pub const FORMAT: u32 = 1;

/// Finished check results kept in the state.
pub const KEEP_CHECKS: usize = 16;

/// Revision images kept in the state (as many as switches are).
pub const KEEP_IMAGES: usize = 32;

/// The rollout's persisted state (JSON in the anchor's
/// `engine-ops.io/rollout-state` annotation, saved by compare-and-swap
/// before every decision's actions run): the spec last deployed, the
/// planner's memory and the verdicts of finished checks (so a restarted
/// driver does not run a check again whose verdict it already had).
///
/// Check commands are not part of it: anyone who may write the annotation
/// could otherwise make the next driver run a command of their choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverState {
    /// [`FORMAT`].
    pub format: u32,
    /// The spec last deployed; its template is the pod template's hash.
    pub spec: RolloutSpec,
    /// The image of that template (for people).
    pub image: String,
    /// The planner's memory.
    pub planner: RolloutState,
    /// Verdicts of finished check runs.
    #[serde(default)]
    pub checks: Vec<CheckObs>,
    /// The image of each revision created (the last [`KEEP_IMAGES`]), for
    /// `history` once a revision's ReplicaSet is gone.
    #[serde(default)]
    pub images: BTreeMap<u64, String>,
}

impl DriverState {
    /// Records the image of `revision`, forgetting the oldest beyond
    /// [`KEEP_IMAGES`].
    pub fn record_image(&mut self, revision: u64, image: String) {
        self.images.insert(revision, image);
        while self.images.len() > KEEP_IMAGES {
            self.images.pop_first();
        }
    }

    /// A fresh state for `spec` (nothing deployed).
    #[must_use]
    pub fn new(spec: RolloutSpec, image: String, planner: RolloutState) -> Self {
        Self {
            format: FORMAT,
            spec,
            image,
            planner,
            checks: Vec::new(),
            images: BTreeMap::new(),
        }
    }
}

/// The track name (`engine-ops.io/track` label; the ReplicaSet is
/// `<app>-<name>`) of a planner track: `t<id>`.
#[must_use]
pub fn track_name(id: TrackId) -> String {
    format!("t{}", id.0)
}

/// The planner track a track name stands for, if it is one of ours.
#[must_use]
pub fn track_id(name: &str) -> Option<TrackId> {
    let digits = name.strip_prefix('t')?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok().map(TrackId)
}

/// The track name a Service selects to serve nothing (the preview Service
/// when nothing is previewed). No planner track has it.
pub const NO_TRACK: &str = "none";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_names_round_trip_and_others_are_not_ours() {
        for id in [0, 1, 9, 10, 12345] {
            assert_eq!(track_id(&track_name(TrackId(id))), Some(TrackId(id)));
        }
        for other in [
            "", "t", "t01", "blue", "green", "rolling", NO_TRACK, "tx", "t-1",
        ] {
            assert_eq!(track_id(other), None, "{other}");
        }
    }
}
