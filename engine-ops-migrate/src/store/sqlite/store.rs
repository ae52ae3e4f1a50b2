//! [`SqliteStore`]: the store's state, and its [`StateStore`] protocol
//! (lock, load, begin, commit, abort, resolve). The run lock is in
//! `lock.rs`, the history table in `history.rs`, history rows in
//! `record.rs`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use super::queries::utc_text;
use crate::error::{Error, Result};
use crate::history::{History, InDoubt, ResolvedBy, Settlement, StepIntent};
use crate::migration::Direction;
use crate::store::ledger::Step;
use crate::store::session::Session;
use crate::store::sql::row::{BadRow, db_ms, db_version, if_applying, phase_str};
use crate::store::{LockProbe, StateStore};

/// Why an SQLite call failed, with rusqlite's error.
#[derive(Debug, thiserror::Error)]
#[error("{action}")]
pub(super) struct SqlError {
    pub(super) action: String,
    #[source]
    pub(super) source: rusqlite::Error,
}

/// The SQLite state store; see the [module docs](super).
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::StateStore;
/// use engine_ops_migrate::store::sqlite::SqliteStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mut store = SqliteStore::open(":memory:")?;
/// assert!(store.load().await?.applied.is_empty()); // never writes
/// # Ok::<_, engine_ops_migrate::Error>(())
/// # }).unwrap();
/// ```
pub struct SqliteStore {
    pub(super) describe: String,
    pub(super) conn: Connection,
    pub(super) table: String,
    pub(super) lock_path: Option<PathBuf>,
    /// The lock database's connection, holding `BEGIN IMMEDIATE` while locked.
    pub(super) lock: Option<Connection>,
    pub(super) locked: bool,
    /// The step protocol (lock, open step).
    pub(super) session: Session,
    /// Tells this store's lock from another instance's in the same process.
    pub(super) token: String,
    pub(super) lock_timeout: Duration,
    pub(super) lock_poll_max: Duration,
    pub(super) table_ready: bool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("store", &self.describe)
            .field("lock_path", &self.lock_path)
            .field("lock_timeout", &self.lock_timeout)
            .field("locked", &self.locked)
            .finish()
    }
}

impl SqliteStore {
    /// The run lock's database file (`None` for an in-memory database).
    #[must_use]
    pub fn lock_path(&self) -> Option<&Path> {
        self.lock_path.as_deref()
    }

    /// The connection migrations run with.
    #[must_use]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(super) fn err(&self, action: impl Into<String>, source: rusqlite::Error) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(SqlError {
                action: action.into(),
                source,
            }),
        }
    }

    pub(super) fn bad_row(&self, reason: String) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(BadRow(reason)),
        }
    }

    /// Rolls back a step transaction left open by a cancelled operation.
    pub(super) fn heal(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn
                .execute_batch("ROLLBACK")
                .map_err(|e| self.err("cannot roll back an abandoned step", e))?;
        }
        Ok(())
    }

    pub(super) fn end_tx(&self, commit: bool) -> Result<()> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        self.conn
            .execute_batch(sql)
            .map_err(|e| self.err(format!("cannot {}", sql.to_lowercase()), e))
    }

    /// Ends a step a cancelled operation left open: its transaction (or one
    /// a migration left open) is rolled back; a recorded intent stays in
    /// doubt.
    pub(super) fn abandon(&mut self) -> Result<()> {
        self.session.abandon();
        self.heal()
    }
}

#[async_trait::async_trait]
impl StateStore for SqliteStore {
    type Context = Connection;

    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn lock(&mut self) -> Result<()> {
        self.abandon()?;
        if !self.locked {
            self.take_lock().await?;
        }
        self.session.lock();
        if let Err(e) = self.ensure_table() {
            self.session.unlock();
            self.release()?;
            return Err(e);
        }
        Ok(())
    }

    async fn unlock(&mut self) -> Result<()> {
        let healed = self.abandon();
        self.session.unlock();
        self.release()?;
        healed
    }

    async fn probe_lock(&mut self) -> Result<LockProbe> {
        self.probe()
    }

    async fn load(&mut self) -> Result<History> {
        self.load_history()
    }

    fn context(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn undoes_on_abort(&self, intent: &StepIntent) -> bool {
        intent.transactional
    }

    async fn begin(&mut self, intent: &StepIntent) -> Result<()> {
        db_version(intent.version)?;
        self.session
            .check_begin(intent)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        let hidden = self.undoes_on_abort(intent);
        if hidden {
            self.heal()?;
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| self.err("cannot begin the step transaction (BEGIN IMMEDIATE); another writer holds the database longer than the busy timeout", e))?;
        } else {
            let started = db_ms(intent.started_at_ms);
            match intent.direction {
                Direction::Up => self.record(
                    intent.version,
                    Step::Begin(Direction::Up),
                    &[
                        ("name", "?2"),
                        ("checksum", "?3"),
                        ("phase", "?4"),
                        ("transactional", "0"),
                        ("started_at_ms", "?5"),
                    ],
                    params![
                        intent.name,
                        intent.checksum.to_hex(),
                        phase_str(intent.phase),
                        started
                    ],
                )?,
                Direction::Down => self.record(
                    intent.version,
                    Step::Begin(Direction::Down),
                    &[("started_at_ms", "?2")],
                    params![started],
                )?,
            }
        }
        self.session.begun(intent, hidden);
        Ok(())
    }

    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        db_version(intent.version)?;
        let step = self
            .session
            .end(intent, true)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        let finished = db_ms(finished_at_ms);
        let took = db_ms(duration_ms);
        let applied_at = utc_text("?2");
        if !step.hidden {
            return match intent.direction {
                Direction::Up => self.record(
                    intent.version,
                    Step::Finish(Direction::Up),
                    &[
                        ("applied_at_ms", "?2"),
                        ("applied_at", &applied_at),
                        ("execution_ms", "?3"),
                    ],
                    params![finished, took],
                ),
                Direction::Down => {
                    self.record(intent.version, Step::Finish(Direction::Down), &[], &[])
                }
            };
        }
        let recorded = match intent.direction {
            Direction::Up => {
                let applied_at = utc_text("?6");
                self.record(
                    intent.version,
                    Step::Commit(Direction::Up),
                    &[
                        ("name", "?2"),
                        ("checksum", "?3"),
                        ("phase", "?4"),
                        ("transactional", "1"),
                        ("started_at_ms", "?5"),
                        ("applied_at_ms", "?6"),
                        ("applied_at", &applied_at),
                        ("execution_ms", "?7"),
                    ],
                    params![
                        intent.name,
                        intent.checksum.to_hex(),
                        phase_str(intent.phase),
                        db_ms(intent.started_at_ms),
                        finished,
                        took
                    ],
                )
            }
            Direction::Down => self.record(intent.version, Step::Commit(Direction::Down), &[], &[]),
        };
        match recorded {
            Ok(()) => self.end_tx(true),
            Err(e) => {
                // The step's effects go with its transaction.
                let _ = self.end_tx(false);
                Err(e)
            }
        }
    }

    async fn abort(&mut self, intent: &StepIntent) -> Result<()> {
        db_version(intent.version)?;
        let step = self
            .session
            .end(intent, false)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        if step.hidden {
            return self.heal();
        }
        self.record(intent.version, Step::Undo(intent.direction), &[], &[])
    }

    async fn resolve(
        &mut self,
        doubt: &InDoubt,
        resolution: Settlement,
        by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()> {
        db_version(doubt.version)?;
        self.session
            .check_resolve(doubt.version, resolution)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        let by = by.as_str();
        match resolution {
            Settlement::Applied => {
                let applied_at_ms = if_applying("?2", "applied_at_ms");
                let applied_at = if_applying(&utc_text("?2"), "applied_at");
                let execution_ms = if_applying("0", "execution_ms");
                self.record(
                    doubt.version,
                    Step::Resolve(Settlement::Applied),
                    &[
                        ("applied_at_ms", &applied_at_ms),
                        ("applied_at", &applied_at),
                        ("execution_ms", &execution_ms),
                        ("resolved_by", "?3"),
                    ],
                    params![db_ms(at_ms), by],
                )
            }
            Settlement::NotApplied => self.record(
                doubt.version,
                Step::Resolve(Settlement::NotApplied),
                &[],
                &[],
            ),
        }
    }
}
