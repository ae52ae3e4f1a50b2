//! What a state store records: applied steps, steps in doubt, and the
//! messages the migrator sends to a store while it executes a step.

use serde::{Deserialize, Serialize};

use crate::checksum::Checksum;
use crate::migration::{Direction, MigrationInfo};
use crate::phase::Phase;

/// A migration recorded as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppliedMigration {
    /// Version.
    pub version: u64,
    /// Name recorded when it was applied.
    pub name: String,
    /// Checksum recorded when it was applied.
    pub checksum: Checksum,
    /// Phase recorded when it was applied.
    pub phase: Option<Phase>,
    /// When the step finished, in milliseconds since the Unix epoch.
    pub applied_at_ms: u64,
    /// How long `up` plus `validate_up` took, in milliseconds.
    pub duration_ms: u64,
}

impl AppliedMigration {
    /// A record for `info`, applied at `applied_at_ms` in `duration_ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{AppliedMigration, MigrationInfo};
    ///
    /// let rec = AppliedMigration::new(&MigrationInfo::new(1, "a", b"a"), 1_700_000_000_000, 3);
    /// assert_eq!(rec.version, 1);
    /// ```
    #[must_use]
    pub fn new(info: &MigrationInfo, applied_at_ms: u64, duration_ms: u64) -> Self {
        Self {
            version: info.version,
            name: info.name.clone(),
            checksum: info.checksum,
            phase: info.phase,
            applied_at_ms,
            duration_ms,
        }
    }
}

/// A step that started and never finished (a crash between its intent record
/// and its completion record): its effects may or may not be present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InDoubt {
    /// Version.
    pub version: u64,
    /// Name recorded in the intent.
    pub name: String,
    /// Checksum recorded in the intent.
    pub checksum: Checksum,
    /// Phase recorded in the intent.
    pub phase: Option<Phase>,
    /// Whether the interrupted step was applying or reverting.
    pub direction: Direction,
    /// When the step started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

impl InDoubt {
    /// A step of `info` in `direction` that started at `started_at_ms` and
    /// never finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{Direction, InDoubt, MigrationInfo};
    ///
    /// let d = InDoubt::new(&MigrationInfo::new(4, "a", b"a"), Direction::Up, 0);
    /// assert_eq!(d.version, 4);
    /// ```
    #[must_use]
    pub fn new(info: &MigrationInfo, direction: Direction, started_at_ms: u64) -> Self {
        Self {
            version: info.version,
            name: info.name.clone(),
            checksum: info.checksum,
            phase: info.phase,
            direction,
            started_at_ms,
        }
    }

    /// The in-doubt state an unfinished `intent` leaves.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{Direction, InDoubt, MigrationInfo, StepIntent};
    ///
    /// let i = StepIntent::new(&MigrationInfo::new(4, "a", b"a"), Direction::Down, 9);
    /// assert_eq!(InDoubt::from_intent(&i).direction, Direction::Down);
    /// ```
    #[must_use]
    pub fn from_intent(intent: &StepIntent) -> Self {
        Self {
            version: intent.version,
            name: intent.name.clone(),
            checksum: intent.checksum,
            phase: intent.phase,
            direction: intent.direction,
            started_at_ms: intent.started_at_ms,
        }
    }
}

/// Everything a store knows: what is applied and what is in doubt.
///
/// A version appears at most once across both lists in a well-formed store;
/// [`plan()`](crate::plan()) reports duplicates if a backend returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct History {
    /// Applied migrations, ascending by version.
    pub applied: Vec<AppliedMigration>,
    /// Steps in doubt, ascending by version.
    pub in_doubt: Vec<InDoubt>,
}

impl History {
    /// A history from its parts; both lists are sorted by version.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::History;
    ///
    /// assert!(History::new(vec![], vec![]).applied.is_empty());
    /// ```
    #[must_use]
    pub fn new(mut applied: Vec<AppliedMigration>, mut in_doubt: Vec<InDoubt>) -> Self {
        applied.sort_by_key(|a| a.version);
        in_doubt.sort_by_key(|d| d.version);
        Self { applied, in_doubt }
    }
}

/// The step the migrator is about to execute, handed to
/// [`StateStore::begin`](crate::StateStore::begin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepIntent {
    /// Applying or reverting.
    pub direction: Direction,
    /// Version.
    pub version: u64,
    /// Name.
    pub name: String,
    /// Checksum of the declared source.
    pub checksum: Checksum,
    /// Phase.
    pub phase: Option<Phase>,
    /// Whether the migration allows a backend transaction around the step.
    pub transactional: bool,
    /// When the step starts, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

impl StepIntent {
    /// The intent to run `info` in `direction`, starting at `started_at_ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{Direction, MigrationInfo, StepIntent};
    ///
    /// let i = StepIntent::new(&MigrationInfo::new(1, "a", b"a"), Direction::Up, 0);
    /// assert!(i.transactional);
    /// ```
    #[must_use]
    pub fn new(info: &MigrationInfo, direction: Direction, started_at_ms: u64) -> Self {
        Self {
            direction,
            version: info.version,
            name: info.name.clone(),
            checksum: info.checksum,
            phase: info.phase,
            transactional: info.transactional,
            started_at_ms,
        }
    }
}

/// How a step in doubt was settled: its effects are there (applied) or not.
///
/// Given to [`Migrator::resolve`](crate::migrator::Migrator::resolve) by an
/// operator, or decided by the migration's validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Settlement {
    /// The migration's effects are present: record it as applied.
    Applied,
    /// The migration's effects are absent: record it as not applied.
    NotApplied,
}

/// Who settled a step in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResolvedBy {
    /// The migration's own `validate_up` / `validate_down`.
    Validation,
    /// An operator, through [`Migrator::resolve`](crate::Migrator::resolve).
    Operator,
}

impl ResolvedBy {
    /// Its serialised name (`validation`, `operator`), as the SQL stores
    /// write it in their history tables.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Operator => "operator",
        }
    }
}

/// What a store records for one migration version, as named by
/// [`Error::Refused`](crate::Error::Refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordState {
    /// No record: never applied, or reverted.
    NotApplied,
    /// Recorded as applied.
    Applied,
    /// A step in this direction started and has not finished.
    InDoubt(Direction),
}

impl std::fmt::Display for RecordState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotApplied => f.write_str("not applied"),
            Self::Applied => f.write_str("applied"),
            Self::InDoubt(direction) => {
                write!(
                    f,
                    "in doubt (its {direction} step started and never finished)"
                )
            }
        }
    }
}

/// A change a store was asked to record for one migration version, as
/// named by [`Error::Refused`](crate::Error::Refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordChange {
    /// The start of a step ([`StateStore::begin`](crate::StateStore::begin)).
    Begin(Direction),
    /// The successful end of a step ([`StateStore::commit`](crate::StateStore::commit)).
    Commit(Direction),
    /// The end of a step whose effects were undone ([`StateStore::abort`](crate::StateStore::abort)).
    Abort(Direction),
    /// The settlement of a step in doubt ([`StateStore::resolve`](crate::StateStore::resolve)).
    Resolve(Settlement),
}

impl std::fmt::Display for RecordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Begin(d) => write!(f, "the start of the {d} step"),
            Self::Commit(d) => write!(f, "the end of the {d} step"),
            Self::Abort(d) => write!(f, "the undoing of the {d} step"),
            Self::Resolve(Settlement::Applied) => f.write_str("a settlement as applied"),
            Self::Resolve(Settlement::NotApplied) => f.write_str("a settlement as not applied"),
        }
    }
}
