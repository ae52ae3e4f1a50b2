//! What one decision says, apart from the new state: the actions with their
//! reasons, the explanations, the phase, the gate it waits at and when to look
//! again. Strategy code only adds to it; [`plan()`](super::plan()) turns it
//! into the [`Decision`](crate::decision::Decision).

use std::fmt;
use std::time::Duration;

use crate::decision::{Action, Phase, PlannedAction};
use crate::observation::TrackId;
use crate::time::Timestamp;

/// The output sink of one decision.
#[derive(Debug)]
pub(super) struct Effects {
    now: Timestamp,
    actions: Vec<PlannedAction>,
    explain: Vec<String>,
    phase: Phase,
    gate: Option<String>,
    requeue: Option<Duration>,
}

impl Effects {
    /// An empty decision at `now`, `Progressing` until a strategy says otherwise.
    pub(super) const fn new(now: Timestamp) -> Self {
        Self {
            now,
            actions: Vec::new(),
            explain: Vec::new(),
            phase: Phase::Progressing,
            gate: None,
            requeue: None,
        }
    }

    /// Emits an action, unless this decision already holds the same one.
    pub(super) fn act(&mut self, action: Action, reason: String) {
        if self.actions.iter().any(|a| a.action == action) {
            return;
        }
        self.actions.push(PlannedAction { action, reason });
    }

    /// Adds a line to [`Decision::explain`](crate::decision::Decision::explain).
    pub(super) fn explain(&mut self, line: impl Into<String>) {
        self.explain.push(line.into());
    }

    /// Asks to be planned again within `d` (the earliest request wins).
    pub(super) fn requeue_in(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    /// Asks to be planned again at `at` (at once if it has passed).
    pub(super) fn requeue_at(&mut self, at: Timestamp) {
        self.requeue_in(at.saturating_since(self.now));
    }

    /// Sets the phase the decision reports.
    pub(super) const fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// Says which gate the rollout waits at (reported as the `Paused` condition).
    pub(super) fn set_gate(&mut self, why: String) {
        self.gate = Some(why);
    }

    /// The actions emitted so far, in order.
    pub(super) fn actions(&self) -> &[PlannedAction] {
        &self.actions
    }

    /// Whether this decision scales `track` up from nothing or to more pods.
    pub(super) fn scales_up(&self, track: TrackId) -> bool {
        self.actions.iter().any(|a| {
            matches!(a.action, Action::ScaleTrack { track: t, replicas, .. } if t == track && replicas > 0)
        })
    }

    /// Tracks this decision creates.
    pub(super) fn created(&self) -> impl Iterator<Item = TrackId> + '_ {
        self.actions.iter().filter_map(|a| match a.action {
            Action::CreateTrack { track, .. } => Some(track),
            _ => None,
        })
    }

    /// The parts the decision is made of.
    pub(super) fn into_parts(self) -> Parts {
        Parts {
            actions: self.actions,
            explain: self.explain,
            phase: self.phase,
            gate: self.gate,
            requeue: self.requeue,
        }
    }
}

/// [`Effects`] taken apart to build the decision.
#[derive(Debug)]
pub(super) struct Parts {
    pub(super) actions: Vec<PlannedAction>,
    pub(super) explain: Vec<String>,
    pub(super) phase: Phase,
    pub(super) gate: Option<String>,
    pub(super) requeue: Option<Duration>,
}

/// A count and its noun, plural unless the count is 1 (`1 pod`, `3 pods`),
/// for reasons and explanations.
pub(super) struct Counted(pub(super) u32, pub(super) &'static str);

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.0, self.1)
    }
}
