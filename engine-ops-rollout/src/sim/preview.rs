//! What a simulated run did, and how it prints as a table.

use std::fmt;
use std::time::Duration;

use super::world::TrackView;
use crate::decision::{Action, Phase, PlannedAction};
use crate::observation::{TrackId, TrafficObs};
use crate::time::Timestamp;

/// One decision as the simulator executed it: a step of a [`Preview`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviewStep {
    /// Decision number, from 1.
    pub decision: u64,
    /// When it was made.
    pub at: Timestamp,
    /// Phase after it.
    pub phase: Phase,
    /// Actions executed.
    pub actions: Vec<PlannedAction>,
    /// Actions lost because the tool crashed (injected failure).
    pub lost_to_crash: usize,
    /// The planner's explanations.
    pub explain: Vec<String>,
    /// Tracks after the actions.
    pub tracks: Vec<TrackView>,
    /// Traffic after the actions.
    pub traffic: TrafficObs,
    /// Tracks and traffic right after each executed action, in order.
    pub after_each_action: Vec<(Vec<TrackView>, TrafficObs)>,
}

/// What a rollout did in a simulation run to its end: the steps that did
/// something, the phase it ended in and how long it took; it prints as a
/// table (one row per action, with the sizes right after it and the reason).
///
/// Returned by [`preview`](crate::sim::preview()) and
/// [`Simulator::run`](crate::sim::Simulator::run). It is not a decision of
/// the planner ([`plan()`](crate::plan::plan()) returns one
/// [`Decision`](crate::decision::Decision)); it is the record of many.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preview {
    /// Decisions that did something (and the last one).
    pub steps: Vec<PreviewStep>,
    /// Phase at the end.
    pub phase: Phase,
    /// When the simulation started.
    pub started_at: Timestamp,
    /// When it settled.
    pub finished_at: Timestamp,
    /// Decisions made (including those without actions).
    pub decisions: u64,
    /// Why it stopped: settled, or waiting for an operator.
    pub waiting_for: Option<String>,
}

impl Preview {
    /// Simulated duration.
    #[must_use]
    pub const fn duration(&self) -> Duration {
        self.finished_at.saturating_since(self.started_at)
    }

    /// Every executed action with its step, in order.
    pub fn actions(&self) -> impl Iterator<Item = (&PreviewStep, &PlannedAction)> {
        self.steps
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
    }
}

fn sizes(tracks: &[TrackView], traffic: TrafficObs) -> String {
    let mut out = String::new();
    for t in tracks {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("r{}:{}/{}", t.revision, t.available, t.spec));
    }
    let rev = |id: TrackId| {
        tracks
            .iter()
            .find(|t| t.track == id)
            .map_or(0, |t| t.revision)
    };
    if let Some(a) = traffic.active {
        out.push_str(&format!(" live=r{}", rev(a)));
    }
    if let Some(c) = traffic.canary
        && traffic.canary_weight > 0
    {
        out.push_str(&format!(" r{}@{}%", rev(c), traffic.canary_weight));
    }
    out
}

/// An action in terms of revisions (`r2`) rather than track ids, for tables.
fn describe(action: &Action, tracks: &[TrackView]) -> String {
    let r = |id: TrackId| {
        tracks
            .iter()
            .find(|t| t.track == id)
            .map_or_else(|| format!("{id}"), |t| format!("r{}", t.revision))
    };
    match action {
        Action::CreateTrack {
            revision, replicas, ..
        } => format!("create r{revision} x{replicas}"),
        Action::ScaleTrack {
            track, replicas, ..
        } => format!("scale {} to {replicas}", r(*track)),
        Action::SetRevision { track, revision } => format!("relabel {} as r{revision}", r(*track)),
        Action::SetMinReady { track, min_ready } => {
            format!("{} minReady {} s", r(*track), min_ready.as_secs_f64())
        }
        Action::SetActive { track } => format!("switch live to {}", r(*track)),
        Action::SetPreview { track: Some(t) } => format!("preview {}", r(*t)),
        Action::SetPreview { track: None } => "clear preview".to_owned(),
        Action::SetCanaryWeight { track, weight } => format!("weight {weight}% to {}", r(*track)),
        Action::StartCheck { run, track } => format!("start {} on {}", run.name, r(*track)),
        Action::StopCheck { run } => format!("stop {}", run.name),
        Action::ScheduleScaleDown { track, at } => format!("{} down at {at}", r(*track)),
        Action::DeleteTrack { track } => format!("delete {}", r(*track)),
    }
}

/// One line of a [`Preview`] table: an executed action, or the note of a crash.
enum Line<'a> {
    Action {
        at: String,
        action: String,
        after: String,
        reason: &'a str,
    },
    Crash {
        at: String,
        lost: usize,
    },
}

impl fmt::Display for Preview {
    /// A table: one row per action, with the time, the action, the track sizes
    /// right after it (`r<revision>:<available>/<spec>`, the live revision, a
    /// canary weight) and the reason. Columns are as wide as their longest cell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for s in &self.steps {
            for (i, a) in s.actions.iter().enumerate() {
                let after = s
                    .after_each_action
                    .get(i)
                    .map_or_else(|| sizes(&s.tracks, s.traffic), |(t, tr)| sizes(t, *tr));
                lines.push(Line::Action {
                    at: s.at.to_string(),
                    action: describe(&a.action, &s.tracks),
                    after,
                    reason: &a.reason,
                });
            }
            if s.lost_to_crash > 0 {
                lines.push(Line::Crash {
                    at: s.at.to_string(),
                    lost: s.lost_to_crash,
                });
            }
        }
        let (header_action, header_after) = ("action", "after (avail/spec)");
        let width = |cell: fn(&Line<'_>) -> Option<usize>, header: &str| {
            lines
                .iter()
                .filter_map(cell)
                .fold(header.chars().count(), usize::max)
        };
        let wa = width(
            |l| match l {
                Line::Action { action, .. } => Some(action.chars().count()),
                Line::Crash { .. } => None,
            },
            header_action,
        );
        let wf = width(
            |l| match l {
                Line::Action { after, .. } => Some(after.chars().count()),
                Line::Crash { .. } => None,
            },
            header_after,
        );
        writeln!(
            f,
            "{:>3}  {:>9}  {header_action:<wa$}  {header_after:<wf$}  reason",
            "#", "at"
        )?;
        let mut row = 0;
        for line in &lines {
            match line {
                Line::Action {
                    at,
                    action,
                    after,
                    reason,
                } => {
                    row += 1;
                    writeln!(
                        f,
                        "{row:>3}  {at:>9}  {action:<wa$}  {after:<wf$}  {reason}"
                    )?;
                }
                Line::Crash { at, lost } => writeln!(
                    f,
                    "{:>3}  {at:>9}  (tool crashed: {lost} action(s) lost, resumed from the persisted state)",
                    ""
                )?,
            }
        }
        write!(
            f,
            "=> {} after {:.1} s of simulated time, {} decisions",
            self.phase,
            self.duration().as_secs_f64(),
            self.decisions
        )?;
        if let Some(w) = &self.waiting_for {
            write!(f, "; waiting: {w}")?;
        }
        Ok(())
    }
}
