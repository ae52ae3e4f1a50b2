//! The SQLite state store (feature `sqlite`, on rusqlite with SQLite
//! bundled).
//!
//! [`SqliteStore`] keeps the history in a table of the migrated database and
//! hands every migration its [`rusqlite::Connection`], inside the step's
//! transaction.
//!
//! # Guarantees
//!
//! - **One transaction per migration.** `BEGIN IMMEDIATE`, the migration's
//!   `up`, its `validate_up`, the history row and `COMMIT` run on one
//!   connection: they commit together or not at all. A failing step is
//!   rolled back; nothing of it stays in the schema or the history.
//!   `BEGIN IMMEDIATE` takes the database's write lock up front, waiting up
//!   to [`busy_timeout`](SqliteStoreBuilder::busy_timeout) for other writers
//!   (the application itself, say), so a step never fails half-way on a
//!   lock upgrade.
//! - **A run-wide lock that cannot leak.** SQLite cannot hold its write lock
//!   across the commits of a run, so the run lock is a `BEGIN IMMEDIATE`
//!   transaction on a sibling lock database (`<database>.<table>.lock`),
//!   polled without blocking up to
//!   [`lock_timeout`](SqliteStoreBuilder::lock_timeout). SQLite's file locks
//!   belong to the connection and the process: `unlock`, dropping the store,
//!   a panic that drops it, or the death of the process releases it. The
//!   holder commits its identity (process id, program, host, since when) in
//!   the lock database before it keeps the lock, so a migrator that times
//!   out, and a reader that finds a step unfinished while the lock is held
//!   (running, not in doubt), name it. An in-memory database (`:memory:`)
//!   is private to its connection and needs no lock file.
//! - **Non-transactional migrations** (for `VACUUM`, or for steps that must
//!   commit part by part): an intent row (`state = 'applying'`) is committed
//!   first and completed after. A crash in between leaves the step in doubt
//!   until `validate_up` settles it or an operator calls
//!   [`Migrator::resolve`](crate::Migrator::resolve).
//! - A step transaction abandoned by a cancelled run is rolled back on the
//!   store's next call.
//!
//! The store calls SQLite synchronously inside its async methods (rusqlite
//! is synchronous); only the wait for the run lock sleeps asynchronously.
//!
//! # The history table
//!
//! Default `engine_ops_migrations`, in the `main` database; set it with
//! [`history_table`](SqliteStoreBuilder::history_table). It is created the
//! first time the lock is taken, together with `<table>_layout`, a one-row
//! table holding the layout version (`1`). A table with an unknown layout,
//! or an existing table without the layout table, is refused with
//! [`Error::UnsupportedFormat`] (an unknown layout) or
//! [`Error::ForeignStore`] (not ours) and left untouched. Columns: `version`
//! (primary key), `name`, `checksum`, `phase`, `state` (`applied`,
//! `applying`, `reverting`), `transactional`, `started_at_ms`,
//! `applied_at_ms`, `applied_at` (UTC text), `execution_ms`, `resolved_by`.
//!
//! # Examples
//!
//! ```
//! use engine_ops_migrate::Migrator;
//! use engine_ops_migrate::store::sql::SqlMigration;
//! use engine_ops_migrate::store::sqlite::SqliteStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::builder(dir.path().join("app.db")).open()?;
//! let mut migrator = Migrator::builder(store)
//!     .migration(SqlMigration::new(1, "create_users", "CREATE TABLE users (id INTEGER PRIMARY KEY)")
//!         .down("DROP TABLE users"))
//!     .build()?;
//! let report = migrator.run().await?;
//! assert_eq!(report.applied.len(), 1);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use super::LockProbe;
use super::holder::{Holder, UNKNOWN_HOLDER, new_token};
use super::ledger::{RowChange, Session, Step};
use super::lock_wait::LockWait;
use super::sql::SqlContext;
use super::sql::row::{
    BadRow, HistoryRows, LAYOUT, StoredChecksum, StoredRow, db_ms, db_version, from_db_ms, ident,
    if_applying, phase_str, record_sql, refusal, state_sql, unsupported_layout,
};
use crate::{
    Direction, Error, History, InDoubt, Resolution, ResolvedBy, Result, StateStore, StepIntent,
};

/// Why an SQLite call failed, with rusqlite's error.
#[derive(Debug, thiserror::Error)]
#[error("{action}")]
struct SqlError {
    action: String,
    #[source]
    source: rusqlite::Error,
}

/// Builds a [`SqliteStore`]; see [`SqliteStore::builder`].
#[derive(Debug)]
#[must_use = "call open() to open the store"]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    table: String,
    lock_timeout: Duration,
    busy_timeout: Duration,
    lock_poll_max: Duration,
}

impl SqliteStoreBuilder {
    /// Sets the history table (default `engine_ops_migrations`).
    pub fn history_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How long [`lock`](StateStore::lock) waits for another migrator
    /// (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long a step's `BEGIN IMMEDIATE` (and every statement) waits for
    /// other writers of the database (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The longest pause between two attempts to take the run lock (default
    /// 50 ms; the pause starts at 2 ms and doubles, with jitter).
    pub fn lock_poll_max(mut self, interval: Duration) -> Self {
        self.lock_poll_max = interval;
        self
    }

    /// Checks the settings and opens the database (creating the file if it
    /// does not exist). Nothing is written: the history table is created
    /// when the lock is first taken.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for bad settings; [`Error::Backend`] when the
    /// file cannot be opened or is not an SQLite database.
    pub fn open(self) -> Result<SqliteStore> {
        if self.table.is_empty() || self.table.contains('\0') {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "the history table name {:?} must be non-empty and without NUL",
                    self.table
                ),
            });
        }
        if self.lock_poll_max.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "the lock poll interval must be above zero".into(),
            });
        }
        let memory = self.path.as_os_str() == ":memory:";
        let describe = format!(
            "sqlite:{} table {}",
            self.path.display(),
            ident(&self.table)
        );
        let backend = |action: String, source| Error::Backend {
            store: describe.clone(),
            source: Box::new(SqlError { action, source }),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            backend(
                format!(
                    "cannot open SQLite database {}; check that its directory exists and is writable",
                    self.path.display()
                ),
                e,
            )
        })?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| backend("cannot set the busy timeout".into(), e))?;
        // Reading the schema proves the file is a database (SQLite opens
        // files lazily).
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| {
            backend(
                format!("{} is not a readable SQLite database", self.path.display()),
                e,
            )
        })?;
        let lock_path = (!memory).then(|| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{}.lock", self.table));
            PathBuf::from(name)
        });
        Ok(SqliteStore {
            describe,
            conn,
            table: self.table,
            lock_path,
            lock: None,
            locked: false,
            session: Session::default(),
            token: new_token(),
            lock_timeout: self.lock_timeout,
            lock_poll_max: self.lock_poll_max,
            table_ready: false,
        })
    }
}

/// The SQLite state store; see the [module docs](self).
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
    describe: String,
    conn: Connection,
    table: String,
    lock_path: Option<PathBuf>,
    /// The lock database's connection, holding `BEGIN IMMEDIATE` while locked.
    lock: Option<Connection>,
    locked: bool,
    /// The step protocol (lock, open step).
    session: Session,
    /// Tells this store's lock from another instance's in the same process.
    token: String,
    lock_timeout: Duration,
    lock_poll_max: Duration,
    table_ready: bool,
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

enum TableState {
    Missing,
    Ours,
}

impl SqliteStore {
    /// Starts building a store on the database file at `path` (`:memory:`
    /// for a private in-memory database).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::sqlite::SqliteStore;
    ///
    /// let store = SqliteStore::builder(":memory:")
    ///     .history_table("schema_history")
    ///     .open()?;
    /// assert!(store.lock_path().is_none());
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// ```
    pub fn builder(path: impl Into<PathBuf>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.into(),
            table: "engine_ops_migrations".into(),
            lock_timeout: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
            lock_poll_max: Duration::from_millis(50),
        }
    }

    /// Opens a store at `path` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`SqliteStoreBuilder::open`].
    ///
    /// # Examples
    ///
    /// See [`SqliteStore`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        Self::builder(path).open()
    }

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

    fn err(&self, action: impl Into<String>, source: rusqlite::Error) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(SqlError {
                action: action.into(),
                source,
            }),
        }
    }

    fn bad_row(&self, reason: String) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(BadRow(reason)),
        }
    }

    fn layout_table(&self) -> String {
        format!("{}_layout", self.table)
    }

    /// Rolls back a step transaction left open by a cancelled operation.
    fn heal(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn
                .execute_batch("ROLLBACK")
                .map_err(|e| self.err("cannot roll back an abandoned step", e))?;
        }
        Ok(())
    }

    fn table_state(&self) -> Result<TableState> {
        let found: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?1, ?2)",
            )
            .and_then(|mut st| {
                st.query_map(params![self.table, self.layout_table()], |r| r.get(0))?
                    .collect()
            })
            .map_err(|e| self.err("cannot read the schema", e))?;
        let has_table = found.contains(&self.table);
        let has_layout = found.iter().any(|n| *n == self.layout_table());
        match (has_table, has_layout) {
            (false, false) => Ok(TableState::Missing),
            (true, true) => {
                let layout: Option<i64> = self
                    .conn
                    .query_row(
                        &format!("SELECT max(layout) FROM {}", ident(&self.layout_table())),
                        [],
                        |r| r.get(0),
                    )
                    .map_err(|e| self.err("cannot read the history layout", e))?;
                match layout {
                    Some(n) if n == i64::from(LAYOUT) => Ok(TableState::Ours),
                    other => Err(Error::UnsupportedFormat {
                        store: self.describe.clone(),
                        found: unsupported_layout(
                            other.map_or_else(|| "missing".to_owned(), |n| n.to_string()),
                        ),
                    }),
                }
            }
            _ => Err(Error::ForeignStore {
                store: self.describe.clone(),
                found: format!(
                    "a table {} without its layout table {}",
                    ident(&self.table),
                    ident(&self.layout_table())
                ),
            }),
        }
    }

    fn ensure_table(&mut self) -> Result<()> {
        if self.table_ready {
            return Ok(());
        }
        if let TableState::Missing = self.table_state()? {
            let t = ident(&self.table);
            let l = ident(&self.layout_table());
            let sql = format!(
                "BEGIN IMMEDIATE;
                 CREATE TABLE {t} (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    checksum TEXT NOT NULL,
                    phase TEXT CHECK (phase IN ('expand', 'contract')),
                    state TEXT NOT NULL CHECK (state IN ('applied', 'applying', 'reverting')),
                    transactional INTEGER NOT NULL,
                    started_at_ms INTEGER NOT NULL,
                    applied_at_ms INTEGER,
                    applied_at TEXT,
                    execution_ms INTEGER,
                    resolved_by TEXT
                 );
                 CREATE TABLE {l} (layout INTEGER NOT NULL);
                 INSERT INTO {l} (layout) VALUES ({LAYOUT});
                 COMMIT;"
            );
            if let Err(e) = self.conn.execute_batch(&sql) {
                let _ = self.heal();
                return Err(self.err(format!("cannot create the history table {t}"), e));
            }
        }
        self.table_ready = true;
        Ok(())
    }

    async fn take_lock(&mut self) -> Result<()> {
        let Some(path) = self.lock_path.clone() else {
            self.locked = true;
            return Ok(());
        };
        let lock = match self.lock.take() {
            Some(c) => c,
            None => {
                let c = Connection::open(&path).map_err(|e| {
                    self.err(
                        format!("cannot open the lock database {}", path.display()),
                        e,
                    )
                })?;
                c.busy_timeout(Duration::ZERO)
                    .map_err(|e| self.err("cannot set up the lock database", e))?;
                c
            }
        };
        let mut wait = LockWait::start(self.lock_timeout, self.lock_poll_max, 0);
        let mut records_left = 3;
        loop {
            match lock.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => {
                    let ours = recorded_holder(&lock).is_some_and(|h| h.token == self.token);
                    if ours || records_left == 0 {
                        self.lock = Some(lock);
                        self.locked = true;
                        return Ok(());
                    }
                    // Record who holds it (what others read is what is
                    // committed), then take it again at once.
                    records_left -= 1;
                    record_holder(&lock, &Holder::me(&self.token));
                    continue;
                }
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
                Err(e) => {
                    return Err(self.err(format!("cannot lock {}", path.display()), e));
                }
            }
            if let Err(waited) = wait.pause().await {
                let holder = recorded_holder(&lock)
                    .map_or_else(|| UNKNOWN_HOLDER.to_owned(), |h| h.describe());
                self.lock = Some(lock);
                return Err(Error::LockTimeout {
                    lock: format!("{} (BEGIN IMMEDIATE), held by {holder}", path.display()),
                    waited,
                });
            }
        }
    }

    fn release(&mut self) -> Result<()> {
        if !self.locked {
            return Ok(());
        }
        self.locked = false;
        let stuck = self.lock.as_ref().is_some_and(|lock| {
            if lock.is_autocommit() {
                return false;
            }
            // Clear the holder's identity as the lock goes (no such table:
            // nothing recorded; roll back instead).
            if lock
                .execute_batch(&format!("DELETE FROM {HOLDER_TABLE}; COMMIT"))
                .is_err()
                && !lock.is_autocommit()
            {
                let _ = lock.execute_batch("ROLLBACK");
            }
            !lock.is_autocommit()
        });
        if stuck {
            // Closing the connection releases its file locks for sure.
            self.lock = None;
        }
        Ok(())
    }

    fn read_history(&self) -> Result<History> {
        let sql = format!(
            "SELECT version, name, checksum, phase, state, started_at_ms, applied_at_ms, execution_ms \
               FROM {} ORDER BY version",
            ident(&self.table)
        );
        type RawRow = (
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<RawRow> = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?
                .collect()
            })
            .map_err(|e| {
                self.err(
                    format!("cannot read the history table {}", ident(&self.table)),
                    e,
                )
            })?;
        let mut out = HistoryRows::with_capacity(rows.len());
        for (version, name, checksum, phase, state, started, applied_at, took) in rows {
            out.push(StoredRow {
                version,
                name,
                checksum: StoredChecksum::Hex(&checksum),
                phase: phase.as_deref(),
                state: &state,
                started_at_ms: from_db_ms(started),
                applied_at_ms: from_db_ms(applied_at),
                duration_ms: from_db_ms(took),
            })
            .map_err(|reason| self.bad_row(reason))?;
        }
        Ok(out.finish())
    }

    /// Runs the statement recording `step` for `version` (see
    /// [`record_sql`]): `columns` are its other columns, `params` its
    /// parameters after the version (`?2`, `?3`, ...). A statement that
    /// changes no row (or an insert that finds one) is a refusal naming the
    /// row's state.
    fn record(
        &self,
        version: u64,
        step: Step,
        columns: &[(&str, &str)],
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<()> {
        let db_v = db_version(version)?;
        let sql = record_sql(&ident(&self.table), step, "?1", columns);
        let mut all: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(params.len() + 1);
        all.push(&db_v);
        all.extend_from_slice(params);
        match self.conn.execute(&sql, all.as_slice()) {
            Ok(1) => Ok(()),
            Ok(_) => Err(self.refused(version, step)),
            Err(e)
                if matches!(step.row_change(), RowChange::Insert(_))
                    && e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) =>
            {
                Err(self.refused(version, step))
            }
            Err(e) => Err(self.err(
                format!("cannot record {} for migration {version}", step.change()),
                e,
            )),
        }
    }

    /// The refusal of `step` for `version`, naming the row's state.
    fn refused(&self, version: u64, step: Step) -> Error {
        let state: rusqlite::Result<Option<String>> = db_version(version)
            .map_err(|_| rusqlite::Error::QueryReturnedNoRows)
            .and_then(|v| {
                self.conn
                    .query_row(&state_sql(&ident(&self.table), "?1"), params![v], |r| {
                        r.get(0)
                    })
                    .optional()
            });
        match state {
            Ok(state) => match refusal(version, step, state.as_deref()) {
                Ok(r) => r.into_error(self.describe.clone()),
                Err(reason) => self.bad_row(reason),
            },
            Err(e) => self.err(
                format!("cannot read the state of migration {version} to report a refused change"),
                e,
            ),
        }
    }

    fn end_tx(&self, commit: bool) -> Result<()> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        self.conn
            .execute_batch(sql)
            .map_err(|e| self.err(format!("cannot {}", sql.to_lowercase()), e))
    }

    /// Ends a step a cancelled operation left open: its transaction (or one
    /// a migration left open) is rolled back; a recorded intent stays in
    /// doubt.
    fn abandon(&mut self) -> Result<()> {
        self.session.abandon();
        self.heal()
    }
}

impl crate::store::sql::sealed::Sealed for Connection {}

#[async_trait::async_trait]
impl SqlContext for Connection {
    async fn execute_batch(&mut self, sql: &str) -> Result<(), crate::migration::BoxError> {
        Connection::execute_batch(self, sql)?;
        Ok(())
    }

    async fn query_flag(
        &mut self,
        query: &str,
    ) -> Result<Option<bool>, crate::migration::BoxError> {
        Ok(self.query_row(query, [], |r| r.get(0))?)
    }

    fn sqlite(&mut self) -> Option<&mut Connection> {
        Some(self)
    }
}

/// The lock database's table naming the holder (one row).
const HOLDER_TABLE: &str = "engine_ops_lock_holder";

/// The holder recorded in the lock database, if it can be read now.
fn recorded_holder(lock: &Connection) -> Option<Holder> {
    lock.query_row(
        &format!("SELECT line FROM {HOLDER_TABLE} WHERE id = 1"),
        [],
        |r| r.get::<_, String>(0),
    )
    .ok()
    .and_then(|line| Holder::parse(&line))
}

/// Commits `holder` in the lock database, inside the `BEGIN IMMEDIATE`
/// the caller holds (which ends). Best effort: only messages use it.
fn record_holder(lock: &Connection, holder: &Holder) {
    let recorded = lock
        .execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {HOLDER_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), line TEXT NOT NULL)"
        ))
        .and_then(|()| {
            lock.execute(
                &format!("INSERT OR REPLACE INTO {HOLDER_TABLE} (id, line) VALUES (1, ?1)"),
                params![holder.to_line()],
            )
        })
        .and_then(|_| lock.execute_batch("COMMIT"));
    if recorded.is_err() && !lock.is_autocommit() {
        let _ = lock.execute_batch("ROLLBACK");
    }
}

/// The UTC text of a Unix time in milliseconds given by `param`.
fn utc_text(param: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%fZ', {param} / 1000.0, 'unixepoch')")
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
        let Some(path) = self.lock_path.clone() else {
            // An in-memory database is private to this store.
            return Ok(LockProbe::Free);
        };
        if self.locked {
            // This store holds it (a cancelled operation left it so):
            // nobody else can, and nothing of this store is running.
            return Ok(LockProbe::Free);
        }
        // Never creates the lock database: none, no holder.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let probe = match Connection::open_with_flags(&path, flags) {
            Ok(c) => c,
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) => {
                return Ok(LockProbe::Free);
            }
            Err(e) => {
                return Err(self.err(
                    format!("cannot open the lock database {}", path.display()),
                    e,
                ));
            }
        };
        probe
            .busy_timeout(Duration::ZERO)
            .map_err(|e| self.err("cannot set up the lock database", e))?;
        match probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK") {
            Ok(()) => Ok(LockProbe::Free),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                // The holder's record is committed; wait a moment for a
                // commit in progress.
                let _ = probe.busy_timeout(Duration::from_millis(100));
                Ok(LockProbe::Held {
                    holder: recorded_holder(&probe)
                        .map_or_else(|| UNKNOWN_HOLDER.to_owned(), |h| h.describe()),
                })
            }
            Err(e) => Err(self.err(format!("cannot probe the lock {}", path.display()), e)),
        }
    }

    async fn load(&mut self) -> Result<History> {
        // Inside an open step the history is read in its transaction;
        // otherwise a transaction left open by a migration is rolled back.
        if self.session.open_step().is_none() {
            self.heal()?;
        }
        match self.table_state()? {
            TableState::Missing => Ok(History::default()),
            TableState::Ours => self.read_history(),
        }
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
        resolution: Resolution,
        by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()> {
        db_version(doubt.version)?;
        self.session
            .check_resolve(doubt.version, resolution)
            .map_err(|v| v.into_error(self.describe.clone()))?;
        let by = match by {
            ResolvedBy::Validation => "validation",
            ResolvedBy::Operator => "operator",
        };
        match resolution {
            Resolution::Applied => {
                let applied_at_ms = if_applying("?2", "applied_at_ms");
                let applied_at = if_applying(&utc_text("?2"), "applied_at");
                let execution_ms = if_applying("0", "execution_ms");
                self.record(
                    doubt.version,
                    Step::Resolve(Resolution::Applied),
                    &[
                        ("applied_at_ms", &applied_at_ms),
                        ("applied_at", &applied_at),
                        ("execution_ms", &execution_ms),
                        ("resolved_by", "?3"),
                    ],
                    params![db_ms(at_ms), by],
                )
            }
            Resolution::NotApplied => self.record(
                doubt.version,
                Step::Resolve(Resolution::NotApplied),
                &[],
                &[],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_beside_the_database_and_names_the_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::builder(dir.path().join("app.db"))
            .history_table("hist")
            .open()
            .expect("open");
        assert_eq!(
            store.lock_path(),
            Some(dir.path().join("app.db.hist.lock").as_path())
        );
        assert!(
            SqliteStore::open(":memory:")
                .expect("memory")
                .lock_path()
                .is_none()
        );
    }

    #[test]
    fn bad_settings_are_refused_before_opening() {
        let err = SqliteStore::builder(":memory:")
            .history_table("")
            .open()
            .expect_err("empty name");
        assert!(matches!(err, Error::InvalidConfig { .. }));
        let err = SqliteStore::builder(":memory:")
            .lock_poll_max(Duration::ZERO)
            .open()
            .expect_err("zero poll");
        assert!(matches!(err, Error::InvalidConfig { .. }));
    }
}
