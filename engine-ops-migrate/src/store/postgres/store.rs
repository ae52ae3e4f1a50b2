//! [`PostgresStore`]: the store's state, and its [`StateStore`] protocol
//! (lock, load, begin, commit, abort, retry after a lock timeout,
//! resolve). Reading the history is in `history.rs`, the lock in
//! `lock.rs`, writing rows in `record.rs`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::types::Type;

use super::conn::{Conn, Link, PgError, open};
use super::context::PgContext;
use super::step_limits;
use super::types::pg_time;
use crate::error::{Error, Result};
use crate::history::{History, InDoubt, ResolvedBy, Settlement, StepIntent};
use crate::migration::{BoxError, Direction};
use crate::retry::{Blocker, LockAttempt, StepTimeouts};
use crate::store::ledger::Step;
use crate::store::session::Session;
use crate::store::sql::row::{BadRow, db_ms, db_version, if_applying, phase_str};
use crate::store::{LockProbe, StateStore};

/// The PostgreSQL state store; see the [module docs](super).
///
/// # Examples
///
/// ```no_run
/// use engine_ops_migrate::StateStore;
/// use engine_ops_migrate::store::postgres::PostgresStore;
///
/// # async fn demo() -> Result<(), engine_ops_migrate::Error> {
/// let mut store = PostgresStore::connect("postgres://app:secret@localhost/app").await?;
/// let history = store.load().await?; // one round trip, never writes
/// println!("{} applied", history.applied.len());
/// # Ok(())
/// # }
/// ```
pub struct PostgresStore {
    pub(super) describe: String,
    pub(super) server: String,
    pub(super) config: tokio_postgres::Config,
    pub(super) link: Link,
    pub(super) schema: String,
    pub(super) table: String,
    pub(super) qualified: String,
    pub(super) lock_key: (i32, i32),
    pub(super) lock_timeout: Duration,
    pub(super) lock_poll_max: Duration,
    /// The time limits of each step.
    pub(super) timeouts: StepTimeouts,
    /// `server_version_num` (150018 for 15.18).
    pub(super) server_version: u32,
    /// The open step's attempt (from 0).
    pub(super) attempt: usize,
    /// Whether [`retry_step`](StateStore::retry_step) already rolled the
    /// open step's transaction back.
    pub(super) step_rolled_back: bool,
    /// Whether a non-transactional step's session limits are set.
    pub(super) session_limits: bool,
    pub(super) ctx: PgContext,
    pub(super) round_trips: Arc<AtomicU64>,
    /// Whether this session holds the advisory lock.
    pub(super) locked: bool,
    /// The step protocol (lock, open step; an open transactional step is
    /// an open transaction).
    pub(super) session: Session,
    /// Whether the history table was checked (or created) under the lock.
    pub(super) table_ready: bool,
    /// The prepared `INSERT` of an applied row (per connection).
    pub(super) insert_applied: Option<tokio_postgres::Statement>,
    /// The prepared catalog query (per connection).
    pub(super) catalog_stmt: Option<tokio_postgres::Statement>,
    /// The prepared history query (per connection, once the table exists).
    pub(super) rows_stmt: Option<tokio_postgres::Statement>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("server", &self.server)
            .field("table", &self.qualified)
            .field("lock_key", &self.lock_key)
            .field("lock_timeout", &self.lock_timeout)
            .field("locked", &self.locked)
            .finish()
    }
}

impl PostgresStore {
    /// The schema-qualified, quoted history table name.
    #[must_use]
    pub fn history_table(&self) -> &str {
        &self.qualified
    }

    /// The advisory lock key `(classid, objid)` as `pg_locks` shows it
    /// (derived from the history table's schema and name).
    #[must_use]
    pub fn lock_key(&self) -> (i32, i32) {
        self.lock_key
    }

    /// How many requests the store (and migrations through [`PgContext`])
    /// have waited for since it was opened; pipelined requests count once.
    #[must_use]
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    pub(super) fn err(&self, action: impl Into<String>, source: tokio_postgres::Error) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(PgError {
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

    pub(super) fn conn(&self) -> &Conn {
        &self.ctx.conn
    }

    /// Reconnects if the connection died (killed by a guard, or lost).
    /// The server released everything the dead session held: the lock and
    /// an open step's transaction.
    pub(super) async fn heal(&mut self) -> Result<()> {
        if self.conn().is_dead() {
            self.conn().kill();
            let (conn, _, _) =
                open(&self.config, &self.server, &self.round_trips, &self.link).await?;
            self.ctx = PgContext::new(conn);
            self.insert_applied = None;
            self.catalog_stmt = None;
            self.rows_stmt = None;
            self.locked = false;
            self.session.unlock();
            self.table_ready = false;
            self.session_limits = false;
        }
        Ok(())
    }

    /// Ends a step a cancelled operation left open: its transaction is
    /// rolled back; a recorded intent stays in doubt.
    pub(super) async fn abandon(&mut self) -> Result<()> {
        self.reset_session_limits().await?;
        let Some(step) = self.session.abandon() else {
            return Ok(());
        };
        if step.hidden
            && !self.ctx.pending_begin.swap(false, Ordering::SeqCst)
            && !self.conn().is_dead()
        {
            self.conn()
                .guarded(self.conn().client.batch_execute("ROLLBACK"))
                .await
                .map_err(|e| self.err("cannot roll back an abandoned step", e))?;
        }
        Ok(())
    }

    /// Puts attempt `attempt`'s time limits in force on the session (a
    /// non-transactional step), if any are configured.
    pub(super) async fn set_session_limits(&mut self, attempt: usize) -> Result<()> {
        let Some(sql) = step_limits::session_sql(&self.timeouts, attempt, self.server_version)
        else {
            return Ok(());
        };
        self.conn()
            .guarded(self.conn().client.batch_execute(&sql))
            .await
            .map_err(|e| self.err("cannot set the step's time limits", e))?;
        self.session_limits = true;
        Ok(())
    }

    /// Takes a non-transactional step's session limits back off.
    pub(super) async fn reset_session_limits(&mut self) -> Result<()> {
        if !self.session_limits || self.conn().is_dead() {
            self.session_limits = false;
            return Ok(());
        }
        self.session_limits = false;
        let sql = step_limits::reset_sql(&self.timeouts, self.server_version);
        self.conn()
            .guarded(self.conn().client.batch_execute(&sql))
            .await
            .map_err(|e| self.err("cannot reset the step's time limits", e))
    }

    /// The sessions an attempt that waited `waited` most likely queued
    /// behind (see [`step_limits::BLOCKERS_SQL`]). A failure to read them
    /// is logged, not raised: the step's outcome does not depend on it.
    pub(super) async fn read_blockers(&self, waited: Duration) -> Vec<Blocker> {
        let rows = self
            .conn()
            .guarded(self.conn().client.query_typed(
                step_limits::BLOCKERS_SQL,
                &[(&waited.as_secs_f64(), Type::FLOAT8)],
            ))
            .await;
        match rows {
            Ok(rows) => step_limits::blockers(&rows),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the sessions that blocked the step");
                Vec::new()
            }
        }
    }

    /// Sends the step's deferred `BEGIN` if no request did yet.
    pub(super) async fn flush_begin(&self) -> Result<()> {
        if !self.ctx.pending_begin.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.ctx
            .run(async { Ok(()) })
            .await
            .map_err(|e| self.err("cannot begin the step transaction", e))
    }
}

#[async_trait::async_trait]
impl StateStore for PostgresStore {
    type Context = PgContext;

    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn lock(&mut self) -> Result<()> {
        self.heal().await?;
        self.abandon().await?;
        if !self.locked {
            self.take_lock().await?;
        }
        self.session.lock();
        // The lock is ours from here: release it on every error path.
        if let Err(e) = self.ensure_table().await {
            self.session.unlock();
            self.release().await?;
            return Err(e);
        }
        Ok(())
    }

    async fn unlock(&mut self) -> Result<()> {
        // A failed rollback ends the session in `release` at the latest.
        let _ = self.abandon().await;
        self.session.unlock();
        self.release().await
    }

    async fn probe_lock(&mut self) -> Result<LockProbe> {
        self.heal().await?;
        if self.locked {
            // This store holds it (a cancelled operation left it so):
            // nobody else can, and nothing of this store is running.
            return Ok(LockProbe::Free);
        }
        Ok(match self.holder().await? {
            Some(holder) => LockProbe::Held { holder },
            None => LockProbe::Free,
        })
    }

    async fn load(&mut self) -> Result<History> {
        self.heal().await?;
        self.load_history().await
    }

    fn context(&mut self) -> &mut PgContext {
        &mut self.ctx
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
        self.attempt = 0;
        self.step_rolled_back = false;
        if hidden {
            // Sent with the step's first request (or its commit): one round
            // trip less per step. The attempt's time limits go with it.
            self.ctx.begin_sql = step_limits::begin_sql(&self.timeouts, 0, self.server_version);
            self.ctx.pending_begin.store(true, Ordering::SeqCst);
        } else {
            let started = pg_time(intent.started_at_ms);
            match intent.direction {
                Direction::Up => {
                    let checksum = intent.checksum.to_hex();
                    let phase = phase_str(intent.phase);
                    self.record(
                        intent.version,
                        Step::Begin(Direction::Up),
                        &[
                            ("name", "$2"),
                            ("checksum", "$3"),
                            ("phase", "$4"),
                            ("transactional", "false"),
                            ("started_at", "$5"),
                        ],
                        &[
                            (&intent.name, Type::TEXT),
                            (&checksum, Type::TEXT),
                            (&phase, Type::TEXT),
                            (&started, Type::TIMESTAMPTZ),
                        ],
                    )
                    .await?;
                }
                Direction::Down => {
                    self.record(
                        intent.version,
                        Step::Begin(Direction::Down),
                        &[("started_at", "$2")],
                        &[(&started, Type::TIMESTAMPTZ)],
                    )
                    .await?;
                }
            }
        }
        self.session.begun(intent, hidden);
        if !hidden && let Err(e) = self.set_session_limits(0).await {
            // The intent is recorded: end the step as not run.
            let _ = self.session.end(intent, false);
            let _ = self
                .record(intent.version, Step::Undo(intent.direction), &[], &[])
                .await;
            return Err(e);
        }
        Ok(())
    }

    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        let version = db_version(intent.version)?;
        let step = self
            .session
            .end(intent, true)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        let finished = pg_time(finished_at_ms);
        let took = db_ms(duration_ms);
        if !step.hidden {
            self.reset_session_limits().await?;
            return match intent.direction {
                Direction::Up => {
                    self.record(
                        intent.version,
                        Step::Finish(Direction::Up),
                        &[("applied_at", "$2"), ("execution_ms", "$3")],
                        &[(&finished, Type::TIMESTAMPTZ), (&took, Type::INT8)],
                    )
                    .await
                }
                Direction::Down => {
                    self.record(intent.version, Step::Finish(Direction::Down), &[], &[])
                        .await
                }
            };
        }
        match intent.direction {
            Direction::Up => self.commit_applied(intent, version, finished, took).await,
            Direction::Down => self.commit_reverted(intent, version).await,
        }
    }

    async fn abort(&mut self, intent: &StepIntent) -> Result<()> {
        db_version(intent.version)?;
        let step = self
            .session
            .end(intent, false)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        if step.hidden {
            if self.ctx.pending_begin.swap(false, Ordering::SeqCst)
                || std::mem::take(&mut self.step_rolled_back)
            {
                // Nothing was sent, or a lock timeout's retry already
                // rolled it back: there is no transaction to roll back.
                return Ok(());
            }
            if self.conn().is_dead() {
                // The server rolled the transaction back when the session ended.
                return Ok(());
            }
            return self
                .conn()
                .guarded(self.conn().client.batch_execute("ROLLBACK"))
                .await
                .map_err(|e| self.err("cannot roll back the failed step", e));
        }
        self.reset_session_limits().await?;
        self.record(intent.version, Step::Undo(intent.direction), &[], &[])
            .await
    }

    async fn retry_step(
        &mut self,
        intent: &StepIntent,
        cause: &BoxError,
        elapsed: Duration,
        may_retry: bool,
    ) -> Result<Option<LockAttempt>> {
        let Some(schedule) = self.timeouts.lock_schedule().cloned() else {
            return Ok(None);
        };
        let Some(sqlstate) = step_limits::lock_timeout_state(cause) else {
            return Ok(None);
        };
        let hidden = self.undoes_on_abort(intent);
        if hidden && !self.ctx.pending_begin.swap(false, Ordering::SeqCst) {
            // Roll the attempt back now: its history row goes with it, and
            // the blockers can only be read outside the failed transaction.
            self.conn()
                .guarded(self.conn().client.batch_execute("ROLLBACK"))
                .await
                .map_err(|e| self.err("cannot roll back the step after a lock timeout", e))?;
            self.step_rolled_back = true;
        }
        let blockers = self.read_blockers(elapsed).await;
        let this = schedule.attempt(self.attempt).flatten();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()))
            ^ u64::from(std::process::id()) << 32
            ^ intent.version;
        let pause = if may_retry {
            schedule.pause_after(self.attempt, seed)
        } else {
            None
        };
        let record = LockAttempt::new(
            u32::try_from(self.attempt + 1).unwrap_or(u32::MAX),
            this.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            sqlstate,
            blockers,
            pause.map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX)),
        );
        if pause.is_none() {
            // Exhausted: the migrator ends the step; a non-transactional
            // step's compensation runs without the limits.
            if !hidden {
                self.reset_session_limits().await?;
            }
            return Ok(Some(record));
        }
        self.attempt += 1;
        if hidden {
            self.step_rolled_back = false;
            self.ctx.begin_sql =
                step_limits::begin_sql(&self.timeouts, self.attempt, self.server_version);
            self.ctx.pending_begin.store(true, Ordering::SeqCst);
        } else {
            self.set_session_limits(self.attempt).await?;
        }
        Ok(Some(record))
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
                let at = pg_time(at_ms);
                let applied_at = if_applying("$2", "applied_at");
                let execution_ms = if_applying("0", "execution_ms");
                self.record(
                    doubt.version,
                    Step::Resolve(Settlement::Applied),
                    &[
                        ("applied_at", &applied_at),
                        ("execution_ms", &execution_ms),
                        ("resolved_by", "$3"),
                    ],
                    &[(&at, Type::TIMESTAMPTZ), (&by, Type::TEXT)],
                )
                .await
            }
            Settlement::NotApplied => {
                self.record(
                    doubt.version,
                    Step::Resolve(Settlement::NotApplied),
                    &[],
                    &[],
                )
                .await
            }
        }
    }
}
