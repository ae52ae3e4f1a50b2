//! How a step in doubt is settled by its migration's own validators: the
//! decision table of the [`Migrator`](crate::Migrator#steps-in-doubt)
//! docs.
//!
//! | interrupted | asks first | answer | then |
//! |---|---|---|---|
//! | any | (the migration is no longer declared) | | refuse |
//! | `up` | `validate_up` | passed | applied |
//! | | | failed | not applied |
//! | | | not checked, or an error | refuse |
//! | `down` | `validate_down` | passed | not applied |
//! | | | failed or not checked | ask `validate_up` |
//! | | | an error | refuse |
//! | | `validate_up` (after `validate_down`) | passed | applied |
//! | | | failed or not checked | refuse |
//! | | | an error | refuse |
//!
//! Pure: [`start`] and [`after`] say which validator to run next, or the
//! verdict; the migrator runs the validators. [`settled_plan`] is the plan
//! a history gives once settlements are recorded, so a run or rollback is
//! checked as if they were before anything is written.

use crate::history::{History, InDoubt, Settlement};
use crate::migration::{BoxError, Direction, MigrationInfo, Validation};
use crate::plan::{Plan, plan_owned};
use crate::store::ledger::{Ledger, Transition};

/// What to do next for a step in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Run this direction's validator (`validate_up` / `validate_down`)
    /// and call [`after`] with its answer.
    Check(Direction),
    /// Settle the step so.
    Settled(Settlement),
    /// The validators cannot decide: stop with
    /// [`Error::InDoubt`](crate::Error::InDoubt) and this detail, for an
    /// operator to settle it.
    Refuse(String),
}

/// The first move for a step interrupted while going `interrupted`;
/// `declared` says whether its migration is still declared.
pub(crate) fn start(interrupted: Direction, declared: bool) -> Verdict {
    if !declared {
        return Verdict::Refuse("it is no longer declared, so it cannot be checked".into());
    }
    Verdict::Check(interrupted)
}

/// The next move after the `checked` validator answered `answer`, for a
/// step interrupted while going `interrupted`.
pub(crate) fn after(
    interrupted: Direction,
    checked: Direction,
    answer: Result<&Validation, &BoxError>,
) -> Verdict {
    let answer = match answer {
        Ok(validation) => validation,
        Err(e) => return Verdict::Refuse(format!("validate_{checked} failed: {e}")),
    };
    match (interrupted, checked, answer) {
        (Direction::Up, Direction::Up, Validation::Passed) => Verdict::Settled(Settlement::Applied),
        (Direction::Up, Direction::Up, Validation::Failed { .. }) => {
            Verdict::Settled(Settlement::NotApplied)
        }
        (Direction::Up, _, _) => {
            Verdict::Refuse("the migration has no validate_up to decide".into())
        }
        (Direction::Down, Direction::Down, Validation::Passed) => {
            Verdict::Settled(Settlement::NotApplied)
        }
        (Direction::Down, Direction::Down, _) => Verdict::Check(Direction::Up),
        (Direction::Down, Direction::Up, Validation::Passed) => {
            Verdict::Settled(Settlement::Applied)
        }
        (Direction::Down, Direction::Up, _) => {
            Verdict::Refuse("neither validate_down nor validate_up passed".into())
        }
    }
}

/// The plan `history` gives against `declared` once `settlements` (each
/// for a step in doubt of this history) are recorded at `at_ms`.
pub(crate) fn settled_plan(
    declared: &[MigrationInfo],
    history: History,
    settlements: &[(InDoubt, Settlement)],
    at_ms: u64,
) -> Plan {
    let mut ledger = Ledger::from_history(history);
    for (doubt, settlement) in settlements {
        // Each settlement is for a step in doubt of this very history, which
        // the ledger accepts.
        let _ = ledger.apply(Transition::Resolve {
            version: doubt.version,
            resolution: *settlement,
            at_ms,
        });
    }
    plan_owned(declared, ledger.history())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Direction = Direction::Up;
    const DOWN: Direction = Direction::Down;

    /// Plays the table with validators that answer `up` and `down`, as the
    /// migrator does; returns the verdict and the validators asked.
    fn settle_with(
        interrupted: Direction,
        up: &Result<Validation, BoxError>,
        down: &Result<Validation, BoxError>,
    ) -> (Verdict, Vec<Direction>) {
        let mut asked = Vec::new();
        let mut verdict = start(interrupted, true);
        while let Verdict::Check(v) = verdict {
            assert!(asked.len() < 2, "a validator is asked at most once");
            asked.push(v);
            let answer = if v == UP { up } else { down };
            verdict = after(interrupted, v, answer.as_ref());
        }
        (verdict, asked)
    }

    fn failed() -> Result<Validation, BoxError> {
        Ok(Validation::failed("absent"))
    }

    fn error() -> Result<Validation, BoxError> {
        Err("connection lost".into())
    }

    #[test]
    fn an_interrupted_up_is_settled_by_validate_up_alone() {
        let down = Ok(Validation::Passed);
        assert_eq!(
            settle_with(UP, &Ok(Validation::Passed), &down),
            (Verdict::Settled(Settlement::Applied), vec![UP])
        );
        assert_eq!(
            settle_with(UP, &failed(), &down),
            (Verdict::Settled(Settlement::NotApplied), vec![UP])
        );
        assert_eq!(
            settle_with(UP, &Ok(Validation::NotChecked), &down),
            (
                Verdict::Refuse("the migration has no validate_up to decide".into()),
                vec![UP]
            )
        );
        assert_eq!(
            settle_with(UP, &error(), &down),
            (
                Verdict::Refuse("validate_up failed: connection lost".into()),
                vec![UP]
            )
        );
    }

    #[test]
    fn an_interrupted_down_asks_validate_down_then_validate_up() {
        assert_eq!(
            settle_with(DOWN, &error(), &Ok(Validation::Passed)),
            (Verdict::Settled(Settlement::NotApplied), vec![DOWN]),
            "validate_up is not asked once validate_down passed"
        );
        for down in [failed(), Ok(Validation::NotChecked)] {
            assert_eq!(
                settle_with(DOWN, &Ok(Validation::Passed), &down),
                (Verdict::Settled(Settlement::Applied), vec![DOWN, UP])
            );
            for up in [failed(), Ok(Validation::NotChecked)] {
                assert_eq!(
                    settle_with(DOWN, &up, &down),
                    (
                        Verdict::Refuse("neither validate_down nor validate_up passed".into()),
                        vec![DOWN, UP]
                    )
                );
            }
            assert_eq!(
                settle_with(DOWN, &error(), &down),
                (
                    Verdict::Refuse("validate_up failed: connection lost".into()),
                    vec![DOWN, UP]
                )
            );
        }
        assert_eq!(
            settle_with(DOWN, &Ok(Validation::Passed), &error()),
            (
                Verdict::Refuse("validate_down failed: connection lost".into()),
                vec![DOWN]
            )
        );
    }

    #[test]
    fn a_step_no_longer_declared_is_refused_without_asking() {
        for d in [UP, DOWN] {
            assert_eq!(
                start(d, false),
                Verdict::Refuse("it is no longer declared, so it cannot be checked".into())
            );
        }
    }

    #[test]
    fn the_settled_plan_is_the_plan_of_the_settled_history() {
        let declared: Vec<MigrationInfo> = (1..=3)
            .map(|v| MigrationInfo::new(v, format!("m{v}"), b"x"))
            .collect();
        let applied = crate::history::AppliedMigration::new(&declared[0], 1, 1);
        let up = InDoubt::new(&declared[1], UP, 5);
        let history = History::new(vec![applied], vec![up.clone()]);
        let p = settled_plan(
            &declared,
            history.clone(),
            &[(up.clone(), Settlement::Applied)],
            9,
        );
        assert!(p.in_doubt.is_empty());
        assert_eq!(
            p.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(p.pending.len(), 1);
        let p = settled_plan(&declared, history, &[(up, Settlement::NotApplied)], 9);
        assert_eq!(
            p.pending.iter().map(|m| m.version).collect::<Vec<_>>(),
            [2, 3]
        );
    }
}
