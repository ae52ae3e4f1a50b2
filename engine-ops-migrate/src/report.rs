//! Typed reports returned by the [`Migrator`](crate::Migrator); all
//! serialise to JSON.

use serde::{Deserialize, Serialize};

use crate::{Checksum, Direction, InDoubt, LockAttempt, Phase, Problem, Resolution, ResolvedBy};

/// One step executed by a run or a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepReport {
    /// Version.
    pub version: u64,
    /// Name.
    pub name: String,
    /// Phase.
    pub phase: Option<Phase>,
    /// Applied (`up`) or reverted (`down`).
    pub direction: Direction,
    /// Time spent in the migration and its validator, in milliseconds
    /// (every attempt and the pauses between them included).
    pub duration_ms: u64,
    /// The attempts that gave up waiting for a lock and were rolled back
    /// before the one that succeeded (see
    /// [`StepTimeouts`](crate::StepTimeouts)); empty when the first
    /// attempt went through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_retries: Vec<LockAttempt>,
}

/// A step in doubt that was settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResolvedStep {
    /// Version.
    pub version: u64,
    /// Name.
    pub name: String,
    /// The direction that had been interrupted.
    pub direction: Direction,
    /// The verdict.
    pub resolution: Resolution,
    /// Who gave it.
    pub by: ResolvedBy,
}

/// What [`Migrator::run`](crate::Migrator::run) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunReport {
    /// The store.
    pub store: String,
    /// The target version, if any.
    pub target: Option<u64>,
    /// Steps in doubt settled before the run (by their validators).
    pub resolved: Vec<ResolvedStep>,
    /// Steps applied, in order.
    pub applied: Vec<StepReport>,
    /// Declared migrations still pending afterwards (above the target, or
    /// of the phase the run left out).
    pub still_pending: usize,
    /// For [`run_contract`](crate::Migrator::run_contract): the caller's
    /// proof that the old version is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_proof: Option<crate::OldVersionGone>,
    /// Wall time of the whole run, lock wait included, in milliseconds.
    pub duration_ms: u64,
}

/// What [`Migrator::rollback`](crate::Migrator::rollback) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RollbackReport {
    /// The store.
    pub store: String,
    /// Steps in doubt settled before the rollback.
    pub resolved: Vec<ResolvedStep>,
    /// Steps reverted, newest first.
    pub reverted: Vec<StepReport>,
    /// Wall time, lock wait included, in milliseconds.
    pub duration_ms: u64,
}

/// The state of one migration in a [`StatusReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MigrationState {
    /// Applied, and the code matches the record.
    Applied,
    /// Applied, but the code's name or source changed since.
    Divergent,
    /// Applied, but no longer declared.
    Missing,
    /// Declared and not applied; a run would apply it.
    Pending,
    /// Declared, not applied, below the highest applied version.
    OutOfOrder,
    /// Started and never finished, and nobody holds the lock: a crash (or
    /// a failed undo) left it; a run refuses to go on until it is settled.
    InDoubt,
    /// Started and not finished while another migrator holds the lock: it
    /// is most likely running right now (see [`StatusReport::lock_holder`]).
    Running,
}

/// One row of a [`StatusReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusEntry {
    /// Version.
    pub version: u64,
    /// Name (declared, or recorded when no longer declared).
    pub name: String,
    /// Phase.
    pub phase: Option<Phase>,
    /// State.
    pub state: MigrationState,
    /// Checksum (declared, or recorded when no longer declared).
    pub checksum: Checksum,
    /// When it was applied, in milliseconds since the Unix epoch.
    pub applied_at_ms: Option<u64>,
    /// How long it took to apply, in milliseconds.
    pub duration_ms: Option<u64>,
    /// For steps in doubt (or running): the unfinished direction.
    pub in_doubt: Option<Direction>,
}

/// What [`Migrator::status`](crate::Migrator::status) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// The store.
    pub store: String,
    /// Every declared or recorded migration, ascending by version.
    pub entries: Vec<StatusEntry>,
    /// Every problem (see [`Plan::problems`](crate::Plan::problems));
    /// a running step is none.
    pub problems: Vec<Problem>,
    /// Who held the migration lock when unfinished steps were found: they
    /// are [`Running`](MigrationState::Running), not in doubt. `None` when
    /// nothing was unfinished or the lock was free.
    pub lock_holder: Option<String>,
}

impl StatusReport {
    /// How many entries are in `state`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use engine_ops_migrate::{MemoryStore, MigrationState, Migrator};
    ///
    /// let mut migrator = Migrator::<MemoryStore>::builder(MemoryStore::new()).build()?;
    /// let status = migrator.status().await?;
    /// assert_eq!(status.count(MigrationState::Pending), 0);
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn count(&self, state: MigrationState) -> usize {
        self.entries.iter().filter(|e| e.state == state).count()
    }
}

/// What [`Migrator::verify`](crate::Migrator::verify) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The store.
    pub store: String,
    /// Declared migrations whose checksums were computed.
    pub declared: usize,
    /// Recorded migrations compared.
    pub recorded: usize,
    /// Every problem, not just the first; a running step is none.
    pub problems: Vec<Problem>,
    /// Steps started and not finished while another migrator holds the
    /// lock: most likely running right now.
    pub running: Vec<InDoubt>,
    /// Who held the migration lock when [`running`](Self::running) steps
    /// were found.
    pub lock_holder: Option<String>,
}

impl VerifyReport {
    /// `true` when no problem was found.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}
