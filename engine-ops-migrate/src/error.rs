//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

use crate::{BoxError, Checksum, Direction, LockAttempt, RecordChange, RecordState};

/// The last attempt and the distinct blocking sessions of all attempts.
fn describe_attempts(attempts: &[LockAttempt]) -> String {
    let mut pids: Vec<i32> = attempts
        .iter()
        .flat_map(|a| a.blockers.iter().map(|b| b.pid))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let last = attempts
        .last()
        .map_or_else(String::new, |a| format!("last {a}"));
    if pids.is_empty() {
        return last;
    }
    let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
    format!("blocking backend pid(s) {}; {last}", pids.join(", "))
}

/// Errors returned by the [`Migrator`](crate::Migrator) and the state stores.
///
/// Every variant about a migration names it (version and name) and says what
/// the operator can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two declared migrations share a version.
    #[error(
        "version {version} is declared twice ({first} and {second}); give each migration its own version"
    )]
    Duplicate {
        /// The shared version.
        version: u64,
        /// Name of the first migration with it.
        first: String,
        /// Name of the second migration with it.
        second: String,
    },

    /// The store's history lists a version twice (a damaged or hand-edited store).
    #[error(
        "version {version} is recorded twice in the state store; repair the store before migrating"
    )]
    DuplicateRecord {
        /// The version.
        version: u64,
    },

    /// An applied migration's name or source changed since it was applied.
    #[error(
        "migration {version} ({declared_name}) changed after it was applied (recorded name {recorded_name:?}, checksum {recorded_checksum}; declared checksum {declared_checksum}); restore its source, or add a new migration instead of editing this one, or opt in with MigratorBuilder::dangerous_allow_divergent({version})"
    )]
    Divergent {
        /// Version.
        version: u64,
        /// Name in the code.
        declared_name: String,
        /// Name in the store.
        recorded_name: String,
        /// Checksum of the code's source.
        declared_checksum: Checksum,
        /// Checksum in the store.
        recorded_checksum: Checksum,
    },

    /// An applied migration is no longer declared.
    #[error(
        "migration {version} ({name}) was applied but is no longer declared; deploy a build that declares it, or opt in with MigratorBuilder::allow_missing({version})"
    )]
    Missing {
        /// Version.
        version: u64,
        /// Name as recorded.
        name: String,
    },

    /// A declared migration sits below the highest applied version and was never applied.
    #[error(
        "migration {version} ({name}) was never applied but a higher version {highest_applied} already was; renumber it above {highest_applied} or opt in with MigratorBuilder::allow_out_of_order(true)"
    )]
    OutOfOrder {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Highest applied version.
        highest_applied: u64,
    },

    /// A step started and never finished, and its validator cannot tell
    /// whether its effects are present.
    #[error(
        "migration {version} ({name}) is in doubt: its {direction} step started and never finished ({detail}); inspect the target and call Migrator::resolve({version}, Resolution::Applied or Resolution::NotApplied)"
    )]
    InDoubt {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// The interrupted direction.
        direction: Direction,
        /// Why it could not be settled automatically.
        detail: String,
    },

    /// A step failed; the step was undone and the run stopped.
    #[error(
        "migration {version} ({name}) failed during {direction} and was undone ({undone}); fix the migration and run again"
    )]
    StepFailed {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// The failing direction.
        direction: Direction,
        /// How it was undone, and which earlier steps were rolled back too.
        undone: String,
        /// The migration's error or failed check.
        #[source]
        source: BoxError,
    },

    /// Every attempt of a step gave up waiting for a lock (its
    /// [`LockRetry`](crate::LockRetry) schedule ran out); the step was
    /// undone, so the schema and the history are as before it.
    #[error(
        "migration {version} ({name}) could not take its locks during {direction}: {} attempt(s) timed out and it was undone ({undone}); {}; let the blocking sessions finish (or end them), or run again with a longer lock retry schedule",
        attempts.len(),
        describe_attempts(attempts)
    )]
    LockRetriesExhausted {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// The direction.
        direction: Direction,
        /// How it was undone.
        undone: String,
        /// Every attempt: its lock timeout, wait, SQLSTATE and the
        /// sessions that held the locks.
        attempts: Vec<LockAttempt>,
    },

    /// A run would apply a contract migration without proof that the old
    /// application version is gone (see
    /// [`MigratorBuilder::require_contract_proof`](crate::MigratorBuilder::require_contract_proof)).
    #[error(
        "migration {version} ({name}) is a contract migration and removes what the previous application version may still use; run the expand migrations with Migrator::run_expand before the rollout, and this one with Migrator::run_contract once the old version is gone"
    )]
    ContractNeedsProof {
        /// Version.
        version: u64,
        /// Name.
        name: String,
    },

    /// A contract run found an expand migration pending before the
    /// contract migrations.
    #[error(
        "contract migration {contract_version} ({contract_name}) comes after the pending expand migration {version} ({name}); run Migrator::run_expand first"
    )]
    ExpandPending {
        /// The first pending expand migration.
        version: u64,
        /// Its name.
        name: String,
        /// The first pending contract migration.
        contract_version: u64,
        /// Its name.
        contract_name: String,
    },

    /// The linter found errors in a migration about to run, under
    /// [`LintPolicy::Deny`](https://docs.rs/engine-ops-migrate/latest/engine_ops_migrate/lint/enum.LintPolicy.html)
    /// (feature `lint`); nothing ran.
    #[error(
        "migration {version} ({name}) was not run: the linter found {findings}; change it as each finding says, or silence a finding with `-- engine-ops: allow(rule) reason=\"...\"` before the statement"
    )]
    LintRefused {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// The error findings, rendered.
        findings: String,
    },

    /// A step failed and could not be undone; it is left in doubt.
    #[error(
        "migration {version} ({name}) failed during {direction} ({cause}) and could not be undone, so it is left in doubt; inspect the target, then call Migrator::resolve({version}, ..)"
    )]
    UndoFailed {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// The failing direction.
        direction: Direction,
        /// The original failure.
        cause: String,
        /// Why the undo failed.
        #[source]
        source: BoxError,
    },

    /// A rollback would cross an irreversible migration.
    #[error(
        "migration {version} ({name}) is irreversible, so the rollback was refused before anything ran; roll back to {version} or later only"
    )]
    Irreversible {
        /// Version.
        version: u64,
        /// Name.
        name: String,
    },

    /// A target version ([`Migrator::run_to`](crate::Migrator::run_to),
    /// [`Rollback::To`](crate::Rollback::To)) that no declared (or, for a
    /// rollback, recorded) migration has.
    #[error(
        "there is no migration {version} ({}); nothing was changed; give the version of a declared migration (a rollback also takes 0: before the first)",
        declared_range(*.lowest, *.highest)
    )]
    UnknownVersion {
        /// The version asked for.
        version: u64,
        /// The lowest declared version.
        lowest: Option<u64>,
        /// The highest declared version.
        highest: Option<u64>,
    },

    /// A rollback asked for more steps than are applied.
    #[error(
        "cannot roll back {requested} migrations: only {applied} are applied; ask for {applied} or fewer"
    )]
    RollbackTooFar {
        /// Steps asked for.
        requested: usize,
        /// Steps applied.
        applied: usize,
    },

    /// [`Migrator::resolve`](crate::Migrator::resolve) was called for a version that is not in doubt.
    #[error(
        "migration {version} is not in doubt; nothing to resolve (run `status` to see the in-doubt steps)"
    )]
    NotInDoubt {
        /// Version.
        version: u64,
    },

    /// The lock stayed taken for the whole wait.
    #[error(
        "timed out after {} waiting for the migration lock {lock}; another migrator is running (wait for it to finish, or wait longer with a larger lock timeout)",
        human_duration(*.waited)
    )]
    LockTimeout {
        /// The lock (a lock file path, or a database lock key), and who
        /// holds it when the store can tell.
        lock: String,
        /// How long the migrator waited.
        waited: Duration,
    },

    /// An I/O operation on a store file failed.
    #[error("cannot {operation} {path}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The state file is damaged: a committed record fails its check, does
    /// not parse, or does not follow from the records before it.
    #[error(
        "state file {path} is damaged at line {line}: {reason}; nothing was changed; restore the file from a backup or repair that line by hand"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// The state store was written in a format (a journal format, a
    /// history table layout) this build does not know, probably by a newer
    /// version.
    #[error(
        "state store {store} has format {found:?}, which this build does not know; use a newer engine-ops-migrate"
    )]
    UnsupportedFormat {
        /// The store.
        store: String,
        /// The format found.
        found: String,
    },

    /// A state store refused to record a change that does not follow from
    /// the migration's recorded state (for example the end of a step that
    /// was never begun, or a revert of a migration that is not applied).
    #[error(
        "state store {store} refused to record {change} for migration {version}, which is {state}; nothing was recorded; the store was changed by another program or by hand, or its StateStore methods were called out of order (use the Migrator)"
    )]
    Refused {
        /// The store.
        store: String,
        /// The migration's version.
        version: u64,
        /// What the store records for it.
        state: RecordState,
        /// The change it refused.
        change: RecordChange,
    },

    /// A state store method was called against the step protocol (see
    /// [`store`](crate::store)): a write without the lock, a second step
    /// while one is open, or the end of a step that is not the open one.
    #[error(
        "state store {store} refused to record {change} for migration {version}: {problem}; nothing was recorded; drive stores through the Migrator, or call them in the order lock, begin, commit or abort, unlock"
    )]
    ProtocolViolation {
        /// The store.
        store: String,
        /// The migration's version.
        version: u64,
        /// The change it refused.
        change: RecordChange,
        /// What is out of order.
        problem: String,
    },

    /// The state store holds something engine-ops-migrate did not create
    /// (another tool's table of the same name).
    #[error(
        "state store {store} holds {found}, which engine-ops-migrate did not create; nothing was changed; choose another history table name (or state file) for the migrations"
    )]
    ForeignStore {
        /// The store.
        store: String,
        /// What it found.
        found: String,
    },

    /// A configuration value is invalid.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },

    /// A database URL that [`connect`](crate::connect) cannot open: an
    /// unknown scheme, an empty path, a backend this build leaves out.
    #[error("cannot open the database URL {url}: {reason}")]
    BadUrl {
        /// The URL, its password hidden.
        url: String,
        /// What is wrong and what to give instead.
        reason: String,
    },

    /// A backend-specific failure (database connection, query, ...).
    #[error("state store {store} failed")]
    Backend {
        /// The store.
        store: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

fn declared_range(lowest: Option<u64>, highest: Option<u64>) -> String {
    match (lowest, highest) {
        (Some(l), Some(h)) if l == h => format!("the only declared version is {l}"),
        (Some(l), Some(h)) => format!("the declared versions go from {l} to {h}"),
        _ => "no migration is declared".into(),
    }
}

/// A duration for people: whole milliseconds below 10 s (`2001 ms`),
/// tenths of a second above (`61.3 s`).
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
