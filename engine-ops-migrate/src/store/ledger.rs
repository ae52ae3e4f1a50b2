//! The one model of what a migration's history record may become, shared
//! by every store.
//!
//! Per version a store records one of: nothing (*not applied*), an
//! *applied* record, an *applying* record (an `up` step started and has not
//! finished: in doubt), or a *reverting* record (the applied record plus the
//! start of a `down` step that has not finished: in doubt). Every store call
//! that writes is one [`Transition`]:
//!
//! | call | transition | from | to |
//! |---|---|---|---|
//! | `begin` (a step the store cannot undo) | begin up | nothing | applying |
//! | | begin down | applied | reverting |
//! | `commit` of such a step | finish up | applying | applied |
//! | | finish down | reverting | nothing |
//! | `abort` of such a step | undo up | applying | nothing |
//! | | undo down | reverting | applied |
//! | `commit` of a step run in a transaction | commit up | nothing | applied |
//! | | commit down | applied | nothing |
//! | `resolve` | resolve applied | applying or reverting | applied |
//! | | resolve not applied | applying or reverting | nothing |
//!
//! [`Step::row_change`] is that table: the SQL stores render the state
//! guards of their statements from it. [`Ledger::apply`] refuses what the
//! table refuses and computes the new record; the file and memory stores
//! keep their history in a [`Ledger`]. A refusal names the version, its
//! state and the change.
//!
//! The step protocol around the records (the lock, one step at a time) is
//! the [session](super::session)'s concern.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::history::{
    AppliedMigration, History, InDoubt, RecordChange, RecordState, Settlement, StepIntent,
};
use crate::migration::Direction;

/// The state column of a history row (the SQL stores' name for a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowState {
    /// Applied.
    Applied,
    /// An `up` step started and has not finished.
    Applying,
    /// A `down` step started and has not finished.
    Reverting,
}

// Row states are the SQL stores' representation.
#[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
impl RowState {
    pub(crate) const ALL: [Self; 3] = [Self::Applied, Self::Applying, Self::Reverting];

    /// The value stored in the state column.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Applying => "applying",
            Self::Reverting => "reverting",
        }
    }

    /// Reads a stored state column.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The state a caller sees for a row state (`None`: no row).
pub(crate) fn record_state(row: Option<RowState>) -> RecordState {
    match row {
        None => RecordState::NotApplied,
        Some(RowState::Applied) => RecordState::Applied,
        Some(RowState::Applying) => RecordState::InDoubt(Direction::Up),
        Some(RowState::Reverting) => RecordState::InDoubt(Direction::Down),
    }
}

/// What a transition does to a version's row (the table in the module
/// docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowChange {
    /// There must be no row; one in this state is added.
    Insert(RowState),
    /// The row must be in one of `from`; it moves to `to`.
    Update {
        from: &'static [RowState],
        to: RowState,
    },
    /// The row must be in one of `from`; it goes.
    Delete { from: &'static [RowState] },
}

impl RowChange {
    /// Whether the change may start from `row` (`None`: no row).
    pub(crate) fn admits(self, row: Option<RowState>) -> bool {
        match (self, row) {
            (Self::Insert(_), None) => true,
            (Self::Update { from, .. } | Self::Delete { from }, Some(s)) => from.contains(&s),
            _ => false,
        }
    }

    /// The row state it leaves (`None`: no row).
    #[cfg(test)]
    pub(crate) fn result(self) -> Option<RowState> {
        match self {
            Self::Insert(to) | Self::Update { to, .. } => Some(to),
            Self::Delete { .. } => None,
        }
    }
}

/// A transition without its data: a row of the table in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The intent of a step the store cannot undo is recorded.
    Begin(Direction),
    /// That step finished.
    Finish(Direction),
    /// That step was undone.
    Undo(Direction),
    /// A step run in a transaction committed together with its record.
    Commit(Direction),
    /// A step in doubt was settled.
    Resolve(Settlement),
}

impl Step {
    /// Every transition, for exhaustive tests.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 10] = [
        Self::Begin(Direction::Up),
        Self::Begin(Direction::Down),
        Self::Finish(Direction::Up),
        Self::Finish(Direction::Down),
        Self::Undo(Direction::Up),
        Self::Undo(Direction::Down),
        Self::Commit(Direction::Up),
        Self::Commit(Direction::Down),
        Self::Resolve(Settlement::Applied),
        Self::Resolve(Settlement::NotApplied),
    ];

    /// The table: from which row states, to which.
    pub(crate) fn row_change(self) -> RowChange {
        use RowState::{Applied, Applying, Reverting};
        const IN_DOUBT: &[RowState] = &[Applying, Reverting];
        match self {
            Self::Begin(Direction::Up) => RowChange::Insert(Applying),
            Self::Begin(Direction::Down) => RowChange::Update {
                from: &[Applied],
                to: Reverting,
            },
            Self::Finish(Direction::Up) => RowChange::Update {
                from: &[Applying],
                to: Applied,
            },
            Self::Finish(Direction::Down) => RowChange::Delete { from: &[Reverting] },
            Self::Undo(Direction::Up) => RowChange::Delete { from: &[Applying] },
            Self::Undo(Direction::Down) => RowChange::Update {
                from: &[Reverting],
                to: Applied,
            },
            Self::Commit(Direction::Up) => RowChange::Insert(Applied),
            Self::Commit(Direction::Down) => RowChange::Delete { from: &[Applied] },
            Self::Resolve(Settlement::Applied) => RowChange::Update {
                from: IN_DOUBT,
                to: Applied,
            },
            Self::Resolve(Settlement::NotApplied) => RowChange::Delete { from: IN_DOUBT },
        }
    }

    /// The store call this transition records, as errors name it.
    pub(crate) fn change(self) -> RecordChange {
        match self {
            Self::Begin(d) => RecordChange::Begin(d),
            Self::Finish(d) | Self::Commit(d) => RecordChange::Commit(d),
            Self::Undo(d) => RecordChange::Abort(d),
            Self::Resolve(r) => RecordChange::Resolve(r),
        }
    }
}

/// One change of one version's record, with its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    /// `begin` of a step the store cannot undo: its intent is recorded
    /// before it runs.
    Begin(StepIntent),
    /// `commit` of such a step.
    Finish {
        direction: Direction,
        version: u64,
        at_ms: u64,
        duration_ms: u64,
    },
    /// `abort` of such a step, after its effects were undone.
    Undo { direction: Direction, version: u64 },
    /// `commit` of a step the store ran in a transaction: effects and record
    /// land together.
    Commit {
        intent: StepIntent,
        at_ms: u64,
        duration_ms: u64,
    },
    /// `resolve` of a step in doubt.
    Resolve {
        version: u64,
        resolution: Settlement,
        at_ms: u64,
    },
}

impl Transition {
    pub(crate) fn version(&self) -> u64 {
        match self {
            Self::Begin(intent) | Self::Commit { intent, .. } => intent.version,
            Self::Finish { version, .. }
            | Self::Undo { version, .. }
            | Self::Resolve { version, .. } => *version,
        }
    }

    pub(crate) fn step(&self) -> Step {
        match self {
            Self::Begin(intent) => Step::Begin(intent.direction),
            Self::Finish { direction, .. } => Step::Finish(*direction),
            Self::Undo { direction, .. } => Step::Undo(*direction),
            Self::Commit { intent, .. } => Step::Commit(intent.direction),
            Self::Resolve { resolution, .. } => Step::Resolve(*resolution),
        }
    }
}

/// A transition the current record does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) version: u64,
    pub(crate) state: RecordState,
    pub(crate) change: RecordChange,
}

impl Refusal {
    /// The refusal of `step` for `version`, whose row is in `row`.
    pub(crate) fn new(version: u64, step: Step, row: Option<RowState>) -> Self {
        Self {
            version,
            state: record_state(row),
            change: step.change(),
        }
    }

    pub(crate) fn into_error(self, store: impl Into<String>) -> Error {
        Error::Refused {
            store: store.into(),
            version: self.version,
            state: self.state,
            change: self.change,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it records {} for migration {}, which is {}",
            self.change, self.version, self.state
        )
    }
}

/// One version's record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    Applied(AppliedMigration),
    /// An `up` step started and has not finished.
    Applying(InDoubt),
    /// A `down` step of an applied migration started and has not finished.
    Reverting {
        applied: AppliedMigration,
        started_at_ms: u64,
    },
}

impl Record {
    fn row_state(&self) -> RowState {
        match self {
            Self::Applied(_) => RowState::Applied,
            Self::Applying(_) => RowState::Applying,
            Self::Reverting { .. } => RowState::Reverting,
        }
    }
}

/// Every version's record: the history of the file and memory stores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    records: BTreeMap<u64, Record>,
}

impl Ledger {
    /// A ledger holding `history`. A step in doubt while reverting keeps no
    /// finish time or duration of its applied record (0), since a
    /// [`History`] does not carry them.
    pub(crate) fn from_history(history: History) -> Self {
        let mut records = BTreeMap::new();
        for a in history.applied {
            records.insert(a.version, Record::Applied(a));
        }
        for d in history.in_doubt {
            let record = match d.direction {
                Direction::Up => Record::Applying(d),
                Direction::Down => Record::Reverting {
                    started_at_ms: d.started_at_ms,
                    applied: AppliedMigration {
                        version: d.version,
                        name: d.name,
                        checksum: d.checksum,
                        phase: d.phase,
                        applied_at_ms: 0,
                        duration_ms: 0,
                    },
                },
            };
            records.insert(record_version(&record), record);
        }
        Self { records }
    }

    /// The row state of `version` (`None`: not applied).
    pub(crate) fn row_state(&self, version: u64) -> Option<RowState> {
        self.records.get(&version).map(Record::row_state)
    }

    /// Applies `transition`, or refuses it and changes nothing.
    pub(crate) fn apply(&mut self, transition: Transition) -> Result<(), Refusal> {
        let version = transition.version();
        let step = transition.step();
        let row = self.row_state(version);
        if !step.row_change().admits(row) {
            return Err(Refusal::new(version, step, row));
        }
        let prior = self.records.remove(&version);
        let next = match (transition, prior) {
            (Transition::Begin(intent), None) if intent.direction == Direction::Up => {
                Some(Record::Applying(InDoubt::from_intent(&intent)))
            }
            (Transition::Begin(intent), Some(Record::Applied(applied)))
                if intent.direction == Direction::Down =>
            {
                Some(Record::Reverting {
                    applied,
                    started_at_ms: intent.started_at_ms,
                })
            }
            (
                Transition::Finish {
                    direction: Direction::Up,
                    at_ms,
                    duration_ms,
                    ..
                },
                Some(Record::Applying(d)),
            ) => Some(Record::Applied(AppliedMigration {
                version: d.version,
                name: d.name,
                checksum: d.checksum,
                phase: d.phase,
                applied_at_ms: at_ms,
                duration_ms,
            })),
            (
                Transition::Finish {
                    direction: Direction::Down,
                    ..
                },
                Some(Record::Reverting { .. }),
            )
            | (
                Transition::Undo {
                    direction: Direction::Up,
                    ..
                },
                Some(Record::Applying(_)),
            )
            | (
                Transition::Resolve {
                    resolution: Settlement::NotApplied,
                    ..
                },
                Some(Record::Applying(_) | Record::Reverting { .. }),
            ) => None,
            (
                Transition::Undo {
                    direction: Direction::Down,
                    ..
                }
                | Transition::Resolve {
                    resolution: Settlement::Applied,
                    ..
                },
                Some(Record::Reverting { applied, .. }),
            ) => Some(Record::Applied(applied)),
            (
                Transition::Commit {
                    intent,
                    at_ms,
                    duration_ms,
                },
                None,
            ) if intent.direction == Direction::Up => Some(Record::Applied(AppliedMigration {
                version: intent.version,
                name: intent.name,
                checksum: intent.checksum,
                phase: intent.phase,
                applied_at_ms: at_ms,
                duration_ms,
            })),
            (Transition::Commit { intent, .. }, Some(Record::Applied(_)))
                if intent.direction == Direction::Down =>
            {
                None
            }
            (
                Transition::Resolve {
                    resolution: Settlement::Applied,
                    at_ms,
                    ..
                },
                Some(Record::Applying(d)),
            ) => Some(Record::Applied(AppliedMigration {
                version: d.version,
                name: d.name,
                checksum: d.checksum,
                phase: d.phase,
                applied_at_ms: at_ms,
                duration_ms: 0,
            })),
            // The table admitted a record this match does not handle: the
            // two disagree (the tests below rule this out). Refuse.
            (_, prior) => {
                if let Some(p) = prior {
                    self.records.insert(version, p);
                }
                return Err(Refusal::new(version, step, row));
            }
        };
        if let Some(record) = next {
            self.records.insert(version, record);
        }
        Ok(())
    }

    /// The history: applied records and steps in doubt. A step in doubt
    /// while reverting carries the applied record's name, checksum and
    /// phase (what is recorded, whatever the code now says).
    pub(crate) fn history(&self) -> History {
        let mut applied = Vec::new();
        let mut in_doubt = Vec::new();
        for record in self.records.values() {
            match record {
                Record::Applied(a) => applied.push(a.clone()),
                Record::Applying(d) => in_doubt.push(d.clone()),
                Record::Reverting {
                    applied: a,
                    started_at_ms,
                } => in_doubt.push(InDoubt {
                    version: a.version,
                    name: a.name.clone(),
                    checksum: a.checksum,
                    phase: a.phase,
                    direction: Direction::Down,
                    started_at_ms: *started_at_ms,
                }),
            }
        }
        History { applied, in_doubt }
    }
}

fn record_version(record: &Record) -> u64 {
    match record {
        Record::Applied(a) | Record::Reverting { applied: a, .. } => a.version,
        Record::Applying(d) => d.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Checksum;
    use crate::migration::MigrationInfo;
    use crate::phase::Phase;

    fn intent(version: u64, direction: Direction, variant: bool) -> StepIntent {
        let info = if variant {
            MigrationInfo::new(version, "renamed", b"edited").with_phase(Some(Phase::Expand))
        } else {
            MigrationInfo::new(version, format!("m{version}"), b"x")
        };
        StepIntent::new(&info, direction, 7)
    }

    fn transition(step: Step, version: u64) -> Transition {
        match step {
            Step::Begin(d) => Transition::Begin(intent(version, d, true)),
            Step::Finish(direction) => Transition::Finish {
                direction,
                version,
                at_ms: 11,
                duration_ms: 3,
            },
            Step::Undo(direction) => Transition::Undo { direction, version },
            Step::Commit(d) => Transition::Commit {
                intent: intent(version, d, true),
                at_ms: 11,
                duration_ms: 3,
            },
            Step::Resolve(resolution) => Transition::Resolve {
                version,
                resolution,
                at_ms: 13,
            },
        }
    }

    /// A ledger whose version 1 is in `row` (`None`: not applied).
    fn ledger_with(row: Option<RowState>) -> Ledger {
        let mut ledger = Ledger::default();
        let applied = Transition::Commit {
            intent: intent(1, Direction::Up, false),
            at_ms: 5,
            duration_ms: 2,
        };
        match row {
            None => {}
            Some(RowState::Applied) => ledger.apply(applied).expect("commit"),
            Some(RowState::Applying) => ledger
                .apply(Transition::Begin(intent(1, Direction::Up, false)))
                .expect("begin up"),
            Some(RowState::Reverting) => {
                ledger.apply(applied).expect("commit");
                ledger
                    .apply(Transition::Begin(intent(1, Direction::Down, true)))
                    .expect("begin down");
            }
        }
        assert_eq!(ledger.row_state(1), row);
        ledger
    }

    #[test]
    fn the_ledger_does_exactly_what_the_table_says() {
        let rows = [
            None,
            Some(RowState::Applied),
            Some(RowState::Applying),
            Some(RowState::Reverting),
        ];
        for step in Step::ALL {
            let change = step.row_change();
            for row in rows {
                let mut ledger = ledger_with(row);
                let before = ledger.clone();
                let result = ledger.apply(transition(step, 1));
                if change.admits(row) {
                    assert_eq!(result, Ok(()), "{step:?} from {row:?}");
                    assert_eq!(
                        ledger.row_state(1),
                        change.result(),
                        "{step:?} from {row:?}"
                    );
                } else {
                    let refusal = result.expect_err("refused");
                    assert_eq!(refusal, Refusal::new(1, step, row), "{step:?} from {row:?}");
                    assert_eq!(ledger, before, "a refusal changes nothing");
                }
            }
        }
    }

    #[test]
    fn a_reverting_record_keeps_the_applied_record_and_shows_what_is_recorded() {
        let mut ledger = ledger_with(Some(RowState::Reverting));
        let doubt = &ledger.history().in_doubt[0];
        assert_eq!(doubt.direction, Direction::Down);
        assert_eq!(doubt.name, "m1", "the recorded name, not the intent's");
        assert_eq!(doubt.checksum, Checksum::of_source(b"x"));
        assert_eq!(doubt.started_at_ms, 7);
        ledger
            .apply(transition(Step::Resolve(Settlement::Applied), 1))
            .expect("resolve");
        let applied = &ledger.history().applied[0];
        assert_eq!((applied.applied_at_ms, applied.duration_ms), (5, 2));
    }

    #[test]
    fn an_up_step_settled_as_applied_is_applied_at_the_settlement() {
        let mut ledger = ledger_with(Some(RowState::Applying));
        ledger
            .apply(transition(Step::Resolve(Settlement::Applied), 1))
            .expect("resolve");
        let applied = &ledger.history().applied[0];
        assert_eq!((applied.applied_at_ms, applied.duration_ms), (13, 0));
    }

    #[test]
    fn row_states_round_trip_through_their_column_values() {
        for s in RowState::ALL {
            assert_eq!(RowState::parse(s.as_str()), Some(s));
        }
        assert_eq!(RowState::parse("gone"), None);
    }
}
