//! Which [`Stage`] may follow which, and the one function that changes it.
//!
//! Blue-green and canary rollouts are stage machines; rolling updates and
//! `Recreate` stay in [`Stage::Idle`]. Each strategy handles one stage per
//! function; a handler returns a [`Flow`] and the strategy's driver loop
//! applies it through [`enter`], which every other change of stage (a new
//! candidate, a retry, an abort, a completion, a change of strategy) goes
//! through too. [`may_follow`] is the transition table; debug builds check
//! every change against it.

use crate::state::{RolloutState, Stage};

/// What a stage handler decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Flow {
    /// Enter this stage and handle it in the same decision.
    Next(Stage),
    /// Enter this stage; it is handled in the next decision (what this one
    /// emitted must be observed first).
    NextDecision(Stage),
    /// The decision ends here: waiting for pods, a check, a timer, an
    /// operator or a write to be observed (or the rollout settled).
    Wait,
    /// Abort for this reason, then handle `Aborted` in the same decision.
    Abort(String),
}

/// Whether `to` may follow `from`:
///
/// ```text
/// blue-green: Provisioning → PrePromotion → AwaitingPromotion → ScalingUp → PostPromotion → Draining → Idle
/// canary:     Step 0 → Step 1 → … → Step n-1 → Promoting → Idle
/// any stage with a candidate in flight → Aborted
/// any stage → the strategy's first stage (a new candidate, a retry, or a stage the other strategy left)
/// any stage → Idle (done, rolled back, reset by a change of strategy, or the target is live already)
/// ```
pub(super) const fn may_follow(from: Stage, to: Stage) -> bool {
    use Stage::{
        Aborted, AwaitingPromotion, Draining, Idle, PostPromotion, PrePromotion, Promoting,
        Provisioning, ScalingUp, Step,
    };
    match (from, to) {
        (_, Idle | Provisioning | Step { index: 0, .. })
        | (Provisioning, PrePromotion)
        | (PrePromotion, AwaitingPromotion { .. })
        | (AwaitingPromotion { .. }, ScalingUp)
        | (ScalingUp, PostPromotion)
        | (PostPromotion, Draining { .. })
        | (Step { .. }, Promoting) => true,
        (Idle | Aborted, Aborted) => false,
        (_, Aborted) => true,
        (Step { index: i, .. }, Step { index: j, .. }) => j == i + 1,
        _ => false,
    }
}

/// Changes the stage: the only place the planner does.
pub(super) fn enter(state: &mut RolloutState, to: Stage) {
    debug_assert!(
        may_follow(state.stage, to),
        "stage {:?} may not be followed by {to:?}",
        state.stage
    );
    state.stage = to;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn forward_steps_one_at_a_time_and_abort_only_in_flight() {
        let t = Timestamp::ZERO;
        let step = |index| Stage::Step { index, since: t };
        assert!(may_follow(step(1), step(2)));
        assert!(!may_follow(step(1), step(3)));
        assert!(may_follow(step(3), step(0)), "a new candidate starts over");
        assert!(may_follow(Stage::ScalingUp, Stage::Aborted));
        assert!(!may_follow(Stage::Idle, Stage::Aborted));
        assert!(!may_follow(Stage::Aborted, Stage::Aborted));
        assert!(
            !may_follow(Stage::Provisioning, Stage::ScalingUp),
            "no skipped gate"
        );
        assert!(!may_follow(Stage::Aborted, Stage::PostPromotion));
        assert!(may_follow(Stage::Draining { until: t }, Stage::Idle));
    }
}
