//! One step through the store's protocol (see [`StateStore`]): begin, run
//! the migration and its validator (again after each lock timeout the
//! store retries), then commit, or undo and abort; and what a failed step
//! does to the rest of its run ([`RollbackPolicy`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::operations::Migrator;
use super::progress::{Observer, Progress, emit_to};
use crate::error::{Error, Result};
use crate::history::StepIntent;
use crate::migration::{BoxError, Direction, Migration, MigrationInfo, Validation};
use crate::plan::check::RollbackPolicy;
use crate::report::StepReport;
use crate::retry::LockAttempt;
use crate::store::StateStore;
use crate::time::{millis, now_ms};

/// How a failed step is undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undo {
    /// The store discards it with its transaction.
    Transaction,
    /// The migration's `down` (and `validate_down`) compensates.
    Down,
    /// It cannot be undone, for this reason: it is left in doubt.
    Impossible(&'static str),
}

/// How a step going `direction` that failed is undone, when the store
/// `undoes_on_abort` (or not) and the migration is `reversible` (or not).
/// Pure.
fn undo_of(undoes_on_abort: bool, direction: Direction, reversible: bool) -> Undo {
    match direction {
        _ if undoes_on_abort => Undo::Transaction,
        Direction::Down => Undo::Impossible("a failed down cannot be compensated by this store"),
        Direction::Up if !reversible => Undo::Impossible(
            "the migration is irreversible, so there is no down to compensate with",
        ),
        Direction::Up => Undo::Down,
    }
}

/// The attempts of a step's body besides how the last one ended: those
/// that gave up waiting for a lock.
struct Attempts {
    lock_retries: Vec<LockAttempt>,
    /// The lock retry schedule ran out.
    exhausted: bool,
    /// Every attempt and the pauses between them.
    duration: Duration,
}

/// Runs the step's body and its validator; `Err` is the failure cause.
async fn run_checked<C: Send + ?Sized>(
    migration: &dyn Migration<C>,
    ctx: &mut C,
    direction: Direction,
) -> std::result::Result<(), BoxError> {
    let check = match direction {
        Direction::Up => {
            migration.up(ctx).await?;
            migration.validate_up(ctx).await?
        }
        Direction::Down => {
            migration.down(ctx).await?;
            migration.validate_down(ctx).await?
        }
    };
    match check {
        Validation::Passed | Validation::NotChecked => Ok(()),
        Validation::Failed { reason } => {
            Err(format!("validate_{direction} failed: {reason}").into())
        }
    }
}

/// Runs the body of the open step `intent` until it succeeds, fails, or
/// the store stops retrying its lock timeouts (see
/// [`StateStore::retry_step`]). `Ok(Err(cause))`: the last attempt failed.
async fn attempt<S: StateStore>(
    store: &mut S,
    migration: &dyn Migration<S::Context>,
    observer: Option<&Arc<dyn Observer>>,
    intent: &StepIntent,
) -> Result<(std::result::Result<(), BoxError>, Attempts)> {
    let clock = Instant::now();
    let mut lock_retries: Vec<LockAttempt> = Vec::new();
    let mut exhausted = false;
    let outcome = loop {
        let attempt_clock = Instant::now();
        let Err(cause) = run_checked(migration, store.context(), intent.direction).await else {
            break Ok(());
        };
        let may_retry = store.undoes_on_abort(intent) || migration.retry_safe();
        let Some(attempt) = store
            .retry_step(intent, &cause, attempt_clock.elapsed(), may_retry)
            .await?
        else {
            break Err(cause);
        };
        let pause = attempt.pause_ms;
        lock_retries.push(attempt.clone());
        emit_to(
            observer,
            Progress::LockTimeout {
                version: intent.version,
                name: intent.name.clone(),
                direction: intent.direction,
                attempt,
            },
        );
        match pause {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => {
                exhausted = true;
                break Err(cause);
            }
        }
    };
    let attempts = Attempts {
        lock_retries,
        exhausted,
        duration: clock.elapsed(),
    };
    Ok((outcome, attempts))
}

impl<S: StateStore> Migrator<S> {
    /// Runs the declared migration `i` one step in `direction` through the
    /// store protocol (see [`StateStore`]).
    pub(super) async fn execute(&mut self, i: usize, direction: Direction) -> Result<StepReport> {
        let info = match self.infos.get(i) {
            Some(info) if info.version == self.migrations[i].version() => info.clone(),
            _ => MigrationInfo::of(&*self.migrations[i]),
        };
        let intent = StepIntent::new(&info, direction, now_ms());
        self.emit(Progress::Started {
            version: info.version,
            name: info.name.clone(),
            direction,
        });
        self.store.begin(&intent).await?;
        let migration: &dyn Migration<S::Context> = &*self.migrations[i];
        let (outcome, attempts) =
            attempt(&mut self.store, migration, self.observer.as_ref(), &intent).await?;
        match outcome {
            Ok(()) => {
                let duration = attempts.duration;
                self.store
                    .commit(&intent, now_ms(), millis(duration))
                    .await?;
                self.emit(Progress::Finished {
                    version: info.version,
                    name: info.name.clone(),
                    direction,
                    duration,
                });
                Ok(StepReport {
                    version: info.version,
                    name: info.name,
                    phase: info.phase,
                    direction,
                    duration_ms: millis(duration),
                    lock_retries: attempts.lock_retries,
                })
            }
            Err(cause) => Err(self.fail(i, &info, &intent, cause, attempts).await),
        }
    }

    /// After the step `intent` of the declared migration `i` failed with
    /// `cause`: undoes it (see [`undo_of`]), ends it, and says how.
    async fn fail(
        &mut self,
        i: usize,
        info: &MigrationInfo,
        intent: &StepIntent,
        cause: BoxError,
        attempts: Attempts,
    ) -> Error {
        let direction = intent.direction;
        self.emit(Progress::Failed {
            version: info.version,
            name: info.name.clone(),
            direction,
            error: cause.to_string(),
        });
        let migration: &dyn Migration<S::Context> = &*self.migrations[i];
        let undo_failed = |source: BoxError, cause: &BoxError| Error::UndoFailed {
            version: info.version,
            name: info.name.clone(),
            direction,
            cause: cause.to_string(),
            source,
        };
        let undone = match undo_of(
            self.store.undoes_on_abort(intent),
            direction,
            migration.reversible(),
        ) {
            Undo::Transaction => "its transaction was rolled back",
            Undo::Impossible(why) => return undo_failed(why.into(), &cause),
            Undo::Down => {
                if let Err(down_err) =
                    run_checked(migration, self.store.context(), Direction::Down).await
                {
                    return undo_failed(down_err, &cause);
                }
                "its down ran"
            }
        };
        if let Err(e) = self.store.abort(intent).await {
            return e;
        }
        if attempts.exhausted {
            return Error::LockRetriesExhausted {
                version: info.version,
                name: info.name.clone(),
                direction,
                undone: undone.to_owned(),
                attempts: attempts.lock_retries,
            };
        }
        let undone = match attempts.lock_retries.len() {
            0 => undone.to_owned(),
            n => format!("{undone}, after {n} attempt(s) that timed out on a lock"),
        };
        Error::StepFailed {
            version: info.version,
            name: info.name.clone(),
            direction,
            undone,
            source: cause,
        }
    }

    /// Applies the declared migrations `steps`, in order; a failure stops
    /// the run, after the [`RollbackPolicy`] undid what it says.
    pub(super) async fn apply(&mut self, steps: &[usize]) -> Result<Vec<StepReport>> {
        let mut applied: Vec<StepReport> = Vec::with_capacity(steps.len());
        for &i in steps {
            match self.execute(i, Direction::Up).await {
                Ok(step) => applied.push(step),
                Err(err) => return Err(self.after_failure(err, &applied).await),
            }
        }
        Ok(applied)
    }

    /// Applies the [`RollbackPolicy`] after a failed step.
    async fn after_failure(&mut self, err: Error, applied: &[StepReport]) -> Error {
        if self.options.policy != RollbackPolicy::WholeRun || applied.is_empty() {
            return err;
        }
        let Error::StepFailed {
            version,
            name,
            direction,
            undone,
            source,
        } = err
        else {
            return err;
        };
        let mut reverted = Vec::new();
        for step in applied.iter().rev() {
            let Some(i) = self.rules().index_of(step.version) else {
                break;
            };
            match self.execute(i, Direction::Down).await {
                Ok(_) => reverted.push(step.version.to_string()),
                Err(revert_err) => {
                    return Error::StepFailed {
                        version,
                        name,
                        direction,
                        undone: format!(
                            "{undone}; reverting the run stopped after {} step(s) because: {revert_err}",
                            reverted.len()
                        ),
                        source,
                    };
                }
            }
        }
        Error::StepFailed {
            version,
            name,
            direction,
            undone: format!(
                "{undone}; the whole run was rolled back (reverted {})",
                reverted.join(", ")
            ),
            source,
        }
    }

    /// Reverts the declared migrations `steps`, in order; a failure stops
    /// the rollback.
    pub(super) async fn revert(&mut self, steps: &[usize]) -> Result<Vec<StepReport>> {
        let mut reverted = Vec::with_capacity(steps.len());
        for &i in steps {
            reverted.push(self.execute(i, Direction::Down).await?);
        }
        Ok(reverted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_is_undone_by_the_transaction_else_by_down_if_there_is_one() {
        for d in [Direction::Up, Direction::Down] {
            assert_eq!(undo_of(true, d, false), Undo::Transaction);
        }
        assert_eq!(undo_of(false, Direction::Up, true), Undo::Down);
        assert!(matches!(
            undo_of(false, Direction::Up, false),
            Undo::Impossible(why) if why.contains("irreversible")
        ));
        assert!(matches!(
            undo_of(false, Direction::Down, true),
            Undo::Impossible(why) if why.contains("a failed down cannot be compensated")
        ));
    }
}
