//! Checks (smoke tests, analyses): started once per revision and attempt,
//! judged from what the caller reports, stopped when no longer wanted.

use super::effects::Effects;
use super::view::View;
use crate::decision::Action;
use crate::observation::{CheckObs, CheckRun, CheckStatus, TrackId};
use crate::spec::CheckSpec;
use crate::state::{CheckRecord, RolloutState};

/// The verdict over a list of checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// At least one check has no verdict yet (and none failed).
    Pending,
    /// Every check passed.
    Passed,
    /// A check failed, reached its failure threshold or timed out: why.
    Failed(String),
    /// A check was inconclusive (and none failed): why.
    Inconclusive(String),
}

/// Starts missing runs of `checks` against `track` and folds their results:
/// a failure wins over an inconclusive result, which wins over a pending one.
pub(super) fn run_checks(
    v: &View<'_>,
    state: &mut RolloutState,
    fx: &mut Effects,
    checks: &[CheckSpec],
    track: TrackId,
    label: &str,
) -> Verdict {
    let revision = state.revision_of(track);
    let attempt = state.attempt;
    let mut verdict = Verdict::Passed;
    for c in checks {
        let run = CheckRun::new(c.name.clone(), revision, attempt);
        let (started_at, stopped) = match state.checks.iter().find(|r| r.run == run) {
            Some(r) => (r.started_at, r.stopped),
            None => {
                state.checks.push(CheckRecord {
                    run: run.clone(),
                    started_at: v.now(),
                    stopped: false,
                });
                (v.now(), false)
            }
        };
        let seen: Option<&CheckObs> = v.obs.check(&run);
        if seen.is_none() && !stopped {
            fx.act(
                Action::StartCheck {
                    run: run.clone(),
                    track,
                },
                format!("{label} check `{}` gates revision {revision}", c.name),
            );
        }
        let (status, failures) = seen.map_or((CheckStatus::Running, 0), |s| (s.status, s.failures));
        let this = if status == CheckStatus::Failed {
            Verdict::Failed(format!("{label} check `{}` failed", c.name))
        } else if failures >= c.failure_threshold {
            Verdict::Failed(format!(
                "{label} check `{}` reached its failure threshold ({failures} of {})",
                c.name, c.failure_threshold
            ))
        } else if status == CheckStatus::Passed {
            Verdict::Passed
        } else if let Some(t) = c.timeout
            && v.now() >= started_at + t
        {
            Verdict::Failed(format!(
                "{label} check `{}` gave no verdict within {} s",
                c.name,
                t.as_secs_f64()
            ))
        } else if status == CheckStatus::Inconclusive {
            Verdict::Inconclusive(format!("{label} check `{}` is inconclusive", c.name))
        } else {
            if let Some(t) = c.timeout {
                fx.requeue_at(started_at + t);
            }
            Verdict::Pending
        };
        verdict = match (verdict, this) {
            (f @ Verdict::Failed(_), _) | (_, f @ Verdict::Failed(_)) => f,
            (i @ Verdict::Inconclusive(_), _) | (_, i @ Verdict::Inconclusive(_)) => i,
            (Verdict::Pending, _) | (_, Verdict::Pending) => Verdict::Pending,
            (Verdict::Passed, Verdict::Passed) => Verdict::Passed,
        };
    }
    verdict
}

/// Stops every started run that has no final result yet.
pub(super) fn stop_checks(v: &View<'_>, state: &mut RolloutState, fx: &mut Effects, why: &str) {
    let mut stops = Vec::new();
    for r in &mut state.checks {
        if r.stopped {
            continue;
        }
        let running = v
            .obs
            .check(&r.run)
            .is_none_or(|c| c.status == CheckStatus::Running);
        r.stopped = true;
        if running {
            stops.push(r.run.clone());
        }
    }
    for run in stops {
        fx.act(
            Action::StopCheck { run: run.clone() },
            format!("stop check {run}: {why}"),
        );
    }
}

/// Stops every observed run still running that this rollout no longer
/// wants (stopped, or forgotten once the rollout settled): a `StopCheck`
/// lost in a crash is emitted again.
pub(super) fn stop_unwanted_checks(v: &View<'_>, state: &RolloutState, fx: &mut Effects) {
    let unwanted = v
        .obs
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Running)
        .filter(|c| !state.checks.iter().any(|r| r.run == c.run && !r.stopped));
    for c in unwanted {
        fx.act(
            Action::StopCheck { run: c.run.clone() },
            format!(
                "stop check {}: it still runs, and this rollout no longer needs it",
                c.run
            ),
        );
    }
}

/// Forgets check records (keeps the state small once a rollout settles).
pub(super) fn forget_checks(state: &mut RolloutState) {
    state.checks.clear();
}
