//! The PostgreSQL state store (feature `postgres`, on tokio-postgres).
//!
//! [`PostgresStore`] keeps the history in a table of the migrated database
//! and hands every migration a [`PgContext`]: the store's own connection,
//! inside the step's transaction.
//!
//! # Guarantees
//!
//! - **One transaction per migration.** `BEGIN`, the migration's `up`, its
//!   `validate_up` and the history row's `INSERT … ; COMMIT` run on one
//!   connection in one transaction: they commit together or not at all. A
//!   failing step is rolled back by the database; nothing of it stays in the
//!   schema or the history. The `BEGIN` travels with the step's first
//!   statement and the history row (a prepared `INSERT`) with the `COMMIT`,
//!   pipelined: a one-statement step costs two round trips and one commit.
//! - **A lock that cannot leak.** The store opens its own connection (never
//!   a pooled one) and takes a *session* advisory lock on it with
//!   `pg_try_advisory_lock`, polled with backoff up to
//!   [`lock_timeout`](PostgresStoreBuilder::lock_timeout); the wait happens
//!   outside any transaction, so an instance waiting for the lock never holds
//!   a snapshot that another instance's `CREATE INDEX CONCURRENTLY` would wait
//!   for. The lock is released by `pg_advisory_unlock` at the end of every
//!   operation, error paths included. If a request of the store or of a
//!   migration (through [`PgContext`]) is abandoned half-way (a cancelled
//!   future, a panic unwinding through it), a guard cancels the running query
//!   and closes the connection, and the server drops the lock and rolls back
//!   the open transaction; dropping the store does the same. The connection
//!   also asks the server to notice a vanished client during long statements
//!   (`client_connection_check_interval`, PostgreSQL 14+). The lock key is
//!   derived from the history table's schema and name, so two applications
//!   with their own tables in one database do not block each other. The
//!   session's `application_name` is `engine-ops-migrate` unless the URL or
//!   [`application_name`](PostgresStoreBuilder::application_name) says
//!   otherwise; a migrator that times out, and a reader that finds a step
//!   unfinished while the lock is held (running, not in doubt: read from
//!   `pg_locks`, nothing taken), name the holding session.
//! - **Non-transactional migrations** ([`Migration::transactional`] `false`,
//!   for `CREATE INDEX CONCURRENTLY` or `ALTER TYPE … ADD VALUE`): an intent
//!   row (`state = 'applying'`) is committed before the step and turned into
//!   `applied` after it. A crash in between leaves the row in doubt: `status`
//!   shows it and `run` refuses to go on until the migration's `validate_up`
//!   settles it or an operator calls [`Migrator::resolve`].
//! - **Cheap status.** [`load`](StateStore::load) is one round trip (one
//!   prepared statement returns the layout marker and the rows, from one
//!   snapshot) whatever the number of applied migrations, once it is
//!   prepared on the connection (the first read checks the catalog and
//!   prepares it). An applied row arrives as five values (version, name,
//!   the checksum's 32 bytes decoded by the server, finish time, duration)
//!   plus NULLs for an absent phase and for what only a step in doubt
//!   carries, so its cost still grows with the history (about 0.6 µs per
//!   row on loopback).
//!
//! # Lock-safe steps
//!
//! A statement that waits for a lock queues every later query of the table
//! behind it: an `ALTER TABLE` waiting for a five-second report makes every
//! `SELECT` of that table wait too. So each step runs under
//! [`step_timeouts`](PostgresStoreBuilder::step_timeouts) (default: GitLab's
//! `with_lock_retries` schedule, see [`LockRetry`](crate::LockRetry)):
//!
//! - Each attempt of a transactional step starts with `BEGIN; SET LOCAL
//!   lock_timeout = …` (and `statement_timeout`, and `transaction_timeout`
//!   on PostgreSQL 17+, when set), sent with the step's first statement.
//!   `SET LOCAL` ends with the transaction, so the limits are set again in
//!   every attempt and never leak to the next step.
//! - When a statement gives up waiting (SQLSTATE `55P03`), the whole step
//!   transaction is rolled back, history row included; the store reads the
//!   sessions that held locks on user tables for at least as long as the
//!   attempt waited (`pg_locks` joined to `pg_stat_activity`: pid, lock
//!   mode, table, transaction age, state, `application_name`, the start of
//!   the query), and the step runs again after the schedule's pause. The
//!   attempts are in the [`StepReport`](crate::StepReport)'s `lock_retries`,
//!   in [`Progress::LockTimeout`](crate::Progress::LockTimeout) events and
//!   in `tracing` (warn level).
//! - When the schedule runs out the step fails with
//!   [`Error::LockRetriesExhausted`], naming every attempt and the blocking
//!   pids; the schema and the history are as before the step. One last
//!   attempt without a lock timeout happens only with
//!   [`FinalAttempt::WithoutTimeout`](crate::FinalAttempt::WithoutTimeout).
//! - A non-transactional step gets the limits as session settings for its
//!   duration (reset when it ends). It is retried only if its migration is
//!   [`retry_safe`](crate::Migration::retry_safe), as
//!   [`SqlMigration::create_index_concurrently`](crate::SqlMigration::create_index_concurrently)
//!   is; otherwise a lock timeout fails it at once (it is undone by its
//!   `down`, as any failed non-transactional step).
//!
//! The time between attempts is spent outside any transaction: nothing is
//! held while the store pauses.
//!
//! # The history table
//!
//! Default `engine_ops_migrations` in the connection's `current_schema()`
//! (usually `public`; set `search_path` in the URL's `options` to change
//! it); set it with
//! [`history_table`](PostgresStoreBuilder::history_table). It is created
//! (with its schema) the first time the lock is taken, and carries its
//! layout version in its table comment (`engine-ops-migrate history layout
//! 1`). A table with an unknown layout, or an existing table without the
//! marker, is refused with [`Error::UnsupportedFormat`] or
//! [`Error::ForeignStore`] and left untouched.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `version` | `bigint` primary key | the migration's version |
//! | `name` | `text` | its name when applied |
//! | `checksum` | `text` | SHA-256 hex of its source |
//! | `phase` | `text` null | `expand` / `contract` |
//! | `state` | `text` | `applied`, `applying` or `reverting` (the last two: in doubt) |
//! | `transactional` | `boolean` | whether the step ran in a transaction |
//! | `started_at` | `timestamptz` | when the step started |
//! | `applied_at` | `timestamptz` null | when it finished |
//! | `execution_ms` | `bigint` null | time in `up` and `validate_up` |
//! | `installed_by` | `text` | `current_user` |
//! | `resolved_by` | `text` null | `operator` or `validation` for settled doubts |
//!
//! # Examples
//!
//! ```no_run
//! use engine_ops_migrate::Migrator;
//! use engine_ops_migrate::store::postgres::PostgresStore;
//! use engine_ops_migrate::store::sql::SqlMigration;
//!
//! # async fn demo() -> Result<(), engine_ops_migrate::Error> {
//! let store = PostgresStore::builder("postgres://app:secret@localhost/app")
//!     .history_table("app", "schema_history")
//!     .lock_timeout(std::time::Duration::from_secs(30))
//!     .connect()
//!     .await?;
//! let mut migrator = Migrator::builder(store)
//!     .migration(SqlMigration::new(1, "create_users", "CREATE TABLE users (id bigint PRIMARY KEY)")
//!         .down("DROP TABLE users"))
//!     .migration(SqlMigration::new(2, "users_id_idx", "CREATE INDEX CONCURRENTLY users_id_idx ON users (id)")
//!         .down("DROP INDEX CONCURRENTLY users_id_idx")
//!         .no_transaction())
//!     .build()?;
//! let report = migrator.run().await?;
//! println!("applied {} migrations", report.applied.len());
//! # Ok(())
//! # }
//! ```
//!
//! # TLS
//!
//! Through rustls (with ring), set by `sslmode` in the URL with libpq's
//! meanings (see [`SslMode`]): `disable`; `prefer` (the default: TLS when
//! the server offers it, certificate not checked); `require` (TLS or
//! nothing, certificate not checked); `verify-ca` (the chain must lead to
//! a trusted root); `verify-full` (and name the host). The roots are the
//! PEM file `sslrootcert=PATH`, else the system's (`sslrootcert=system`
//! says so explicitly); libpq instead reads `~/.postgresql/root.crt`. As
//! in libpq, `require` with an `sslrootcert` checks the chain. Client
//! certificates (`sslcert`, `sslkey`) are not supported. A refused
//! handshake is an error saying why (unknown authority, wrong host name,
//! expired, TLS off on the server) and what to set.
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine_ops_migrate::Error> {
//! use engine_ops_migrate::store::postgres::PostgresStore;
//! let store = PostgresStore::connect(
//!     "postgres://app:secret@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
//! )
//! .await?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
//!
//! [`Migration::transactional`]: crate::Migration::transactional
//! [`Migrator::resolve`]: crate::Migrator::resolve

mod lock_retry;
mod tls;

pub use tls::SslMode;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, ToStatement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::LockProbe;
use super::ledger::{Refusal, RowChange, RowState, Session, Step};
use super::sql::{
    BadRow, HistoryRows, LAYOUT, StoredChecksum, StoredRow, db_ms, db_version, from_db_ms, ident,
    if_applying, phase_str, record_sql, refusal, state_sql, unsupported_layout,
};
use crate::{
    BoxError, Checksum, Direction, Error, History, InDoubt, LockAttempt, Resolution, ResolvedBy,
    Result, StateStore, StepIntent, StepTimeouts,
};

/// The first half of every lock key: "EOMG" (engine-ops migrate).
const LOCK_CLASS: i32 = 0x454F_4D47;
const LAYOUT_MARKER: &str = "engine-ops-migrate history layout ";

/// Why a database request failed, with the underlying tokio-postgres error.
#[derive(Debug, thiserror::Error)]
#[error("{action}")]
struct PgError {
    action: String,
    #[source]
    source: tokio_postgres::Error,
}

struct Conn {
    client: Client,
    /// The TLS connector the connection was made with (`None`: plain), for
    /// the cancel request.
    tls: Option<MakeRustlsConnect>,
    task: tokio::task::AbortHandle,
    killed: AtomicBool,
    round_trips: Arc<AtomicU64>,
}

impl Conn {
    /// Cancels whatever the server runs for this connection and closes it:
    /// the server then releases the session lock and rolls back any open
    /// transaction. Safe to call from `Drop`.
    fn kill(&self) {
        if self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let token = self.client.cancel_token();
            let tls = self.tls.clone();
            handle.spawn(async move {
                let _ = match tls {
                    Some(tls) => token.cancel_query(tls).await,
                    None => token.cancel_query(NoTls).await,
                };
            });
        }
        self.task.abort();
    }

    fn is_dead(&self) -> bool {
        self.killed.load(Ordering::SeqCst) || self.client.is_closed()
    }

    /// Runs one request; if the future is dropped before it finishes, the
    /// connection is killed (see [`kill`](Self::kill)).
    async fn guarded<F: Future>(&self, request: F) -> F::Output {
        struct InFlight<'a>(&'a Conn, bool);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.kill();
                }
            }
        }
        let mut flight = InFlight(self, true);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let out = request.await;
        flight.1 = false;
        out
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closing the socket ends the session: the server releases the lock
        // and rolls back. Cancel first only if the store died mid-request.
        self.task.abort();
    }
}

/// The context PostgreSQL migrations run with: the store's connection,
/// inside the step's transaction (or outside any, for a non-transactional
/// step and for validators settling a step in doubt).
///
/// Its request methods mirror [`tokio_postgres::Client`]'s and add a guard:
/// if a request's future is dropped before it completes (the run was
/// cancelled, or a panic unwound through it), the running query is
/// cancelled and the connection closed, so the server rolls the step back
/// and releases the migration lock at once. [`client`](Self::client) gives
/// the raw client for everything else (without that guard).
///
/// Do not end the step's transaction yourself (`COMMIT`, `ROLLBACK`): the
/// store commits the history row with it.
///
/// # Examples
///
/// ```no_run
/// use engine_ops_migrate::{BoxError, Migration, Validation};
/// use engine_ops_migrate::store::postgres::PgContext;
///
/// struct Backfill;
///
/// #[async_trait::async_trait]
/// impl Migration<PgContext> for Backfill {
///     fn version(&self) -> u64 { 7 }
///     fn name(&self) -> &str { "backfill_emails" }
///     fn source(&self) -> &[u8] { include_bytes!("postgres.rs") }
///     async fn up(&self, db: &mut PgContext) -> Result<(), BoxError> {
///         db.execute("UPDATE users SET email = lower(email) WHERE email <> lower(email)", &[]).await?;
///         Ok(())
///     }
///     async fn down(&self, _db: &mut PgContext) -> Result<(), BoxError> {
///         Ok(())
///     }
///     async fn validate_up(&self, db: &mut PgContext) -> Result<Validation, BoxError> {
///         let row = db.query_one("SELECT count(*) FROM users WHERE email <> lower(email)", &[]).await?;
///         Ok(Validation::check(row.get::<_, i64>(0) == 0, "upper-case emails remain"))
///     }
/// }
/// ```
pub struct PgContext {
    conn: Conn,
    /// A transactional step's `BEGIN` not sent yet: it goes out with the
    /// step's first request, in the same round trip.
    pending_begin: AtomicBool,
    /// What the deferred `BEGIN` sends: `BEGIN` and the attempt's `SET
    /// LOCAL` time limits.
    begin_sql: String,
}

impl fmt::Debug for PgContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgContext")
            .field("closed", &self.conn.is_dead())
            .finish()
    }
}

impl PgContext {
    fn new(conn: Conn) -> Self {
        Self {
            conn,
            pending_begin: AtomicBool::new(false),
            begin_sql: "BEGIN".into(),
        }
    }

    /// Runs `request` under the cancellation guard, preceded in the same
    /// round trip by the step's deferred `BEGIN` if it is still pending.
    /// (A request is written to the connection when its future is first
    /// polled, and [`join2`] polls `BEGIN` first.)
    async fn run<T>(
        &self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        if self.pending_begin.swap(false, Ordering::SeqCst) {
            let (begun, out) = self
                .conn
                .guarded(join2(
                    self.conn.client.batch_execute(&self.begin_sql),
                    request,
                ))
                .await;
            begun?;
            out
        } else {
            self.conn.guarded(request).await
        }
    }

    /// The raw client, for everything the methods below do not cover.
    /// Requests through it have no cancellation guard. Awaiting this first
    /// sends the step's deferred `BEGIN`, so the client is inside the step's
    /// transaction.
    ///
    /// # Errors
    ///
    /// The database's error for `BEGIN`.
    pub async fn client(&self) -> Result<&Client, tokio_postgres::Error> {
        if self.pending_begin.load(Ordering::SeqCst) {
            self.run(async { Ok(()) }).await?;
        }
        Ok(&self.conn.client)
    }

    /// [`Client::batch_execute`]: runs one or more statements, separated by
    /// `;`, as one request (simple query protocol).
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.run(self.conn.client.batch_execute(sql)).await
    }

    /// [`Client::execute`]: runs one statement with parameters, returns the
    /// number of rows it changed.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn execute<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.execute(statement, params)).await
    }

    /// [`Client::query`]: runs a query, returns its rows.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.query(statement, params)).await
    }

    /// [`Client::query_one`]: runs a query that returns exactly one row.
    ///
    /// # Errors
    ///
    /// The database's error, or not exactly one row.
    pub async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.query_one(statement, params))
            .await
    }

    /// [`Client::query_opt`]: runs a query that returns at most one row.
    ///
    /// # Errors
    ///
    /// The database's error, or more than one row.
    pub async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.query_opt(statement, params))
            .await
    }
}

/// Builds a [`PostgresStore`]; see [`PostgresStore::builder`].
#[must_use = "call connect() to open the store"]
pub struct PostgresStoreBuilder {
    config: std::result::Result<tokio_postgres::Config, String>,
    tls: tls::TlsSettings,
    schema: Option<String>,
    table: String,
    lock_timeout: Duration,
    poll_max: Duration,
    application_name: Option<String>,
    step_timeouts: StepTimeouts,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("server", &self.config.as_ref().map(describe_config))
            .field("tls", &self.tls.describe())
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock_poll_max", &self.poll_max)
            .field("application_name", &self.application_name)
            .field("step_timeouts", &self.step_timeouts)
            .finish()
    }
}

fn describe_config(config: &tokio_postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{}:{}/{}",
        config.get_user().unwrap_or(""),
        host,
        port,
        config.get_dbname().unwrap_or("")
    )
}

/// Milliseconds since the Unix epoch of a `timestamptz` (0 for NULL or
/// earlier).
fn unix_ms(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn check_ident(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 63 || name.contains('\0') {
        return Err(Error::InvalidConfig {
            reason: format!(
                "the history table's {what} {name:?} must be 1 to 63 bytes without NUL (PostgreSQL truncates longer names)"
            ),
        });
    }
    Ok(())
}

impl PostgresStoreBuilder {
    /// Sets the history table (default: `engine_ops_migrations` in the
    /// connection's `current_schema()`, the first existing schema of its
    /// `search_path`, resolved once at connect). Names are used as given
    /// (quoted), so `"App"` and `"app"` differ.
    pub fn history_table(mut self, schema: impl Into<String>, table: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self.table = table.into();
        self
    }

    /// Sets the history table's name, keeping the default schema (the
    /// connection's `current_schema()`).
    pub fn history_table_name(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How long [`lock`](StateStore::lock) waits for another migrator
    /// (default 60 s). This is the store's own advisory lock; the locks a
    /// step's statements take are limited by
    /// [`step_timeouts`](Self::step_timeouts).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The time limits of each step (default [`StepTimeouts::default`]:
    /// GitLab's lock retry schedule, no statement limit): see
    /// [lock-safe steps](self#lock-safe-steps).
    pub fn step_timeouts(mut self, limits: StepTimeouts) -> Self {
        self.step_timeouts = limits;
        self
    }

    /// The `application_name` of the store's session, which
    /// `pg_stat_activity` shows and this store names when another
    /// migrator waits for its lock or reads its steps as running. Default:
    /// the URL's `application_name`, else `engine-ops-migrate`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// How the store uses TLS (default: the URL's `sslmode`, else
    /// [`SslMode::Prefer`]); see [TLS](self#tls).
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.tls.mode = mode;
        self
    }

    /// The PEM file of the certificate authorities that `verify-ca` and
    /// `verify-full` trust (default: the URL's `sslrootcert`, else the
    /// system's roots).
    pub fn ssl_root_cert(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.root_cert = Some(path.into());
        self
    }

    /// The longest pause between two attempts to take the lock (default
    /// 100 ms; the pause starts at 2 ms and doubles, with jitter).
    pub fn lock_poll_max(mut self, interval: Duration) -> Self {
        self.poll_max = interval;
        self
    }

    /// Checks the settings and opens the store's connection. Nothing is
    /// written: the history table is created when the lock is first taken.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an unparsable URL or bad settings
    /// (including TLS settings: an unknown `sslmode`, an unreadable
    /// `sslrootcert`); [`Error::Backend`] when the server cannot be reached,
    /// refuses the credentials, or the TLS handshake fails (the message
    /// says why).
    pub async fn connect(self) -> Result<PostgresStore> {
        let mut config = self
            .config
            .map_err(|reason| Error::InvalidConfig { reason })?;
        let tls = self
            .tls
            .connector(&mut config)
            .map_err(|reason| Error::InvalidConfig { reason })?;
        match self.application_name {
            Some(name) => {
                config.application_name(&name);
            }
            None if config.get_application_name().is_none() => {
                config.application_name("engine-ops-migrate");
            }
            None => {}
        }
        if let Some(schema) = &self.schema {
            check_ident("schema", schema)?;
        }
        check_ident("table", &self.table)?;
        if self.poll_max.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "the lock poll interval must be above zero".into(),
            });
        }
        self.step_timeouts
            .check()
            .map_err(|reason| Error::InvalidConfig { reason })?;
        let server = describe_config(&config);
        let round_trips = Arc::new(AtomicU64::new(0));
        let link = Link {
            tls,
            settings: self.tls,
        };
        let (conn, current_schema, server_version) =
            open(&config, &server, &round_trips, &link).await?;
        let schema = match self.schema.or(current_schema) {
            Some(schema) => schema,
            None => {
                return Err(Error::InvalidConfig {
                    reason: format!(
                        "no schema for the history table: the search_path of {server} names no existing schema; set one with PostgresStoreBuilder::history_table"
                    ),
                });
            }
        };
        let mut digest = Sha256::new();
        digest.update(b"engine-ops-migrate\0");
        digest.update(schema.as_bytes());
        digest.update(b"\0");
        digest.update(self.table.as_bytes());
        let hash = digest.finalize();
        let lock_key = (
            LOCK_CLASS,
            i32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]),
        );
        let qualified = format!("{}.{}", ident(&schema), ident(&self.table));
        Ok(PostgresStore {
            describe: format!("{server} table {qualified}"),
            server,
            config,
            link,
            schema,
            table: self.table,
            qualified,
            lock_key,
            lock_timeout: self.lock_timeout,
            poll_max: self.poll_max,
            timeouts: self.step_timeouts,
            server_version,
            attempt: 0,
            step_rolled_back: false,
            session_limits: false,
            ctx: PgContext::new(conn),
            round_trips,
            locked: false,
            session: Session::default(),
            table_ready: false,
            insert_applied: None,
            catalog_stmt: None,
            rows_stmt: None,
        })
    }
}

/// How the store reaches the server: its TLS connector and settings.
struct Link {
    tls: Option<MakeRustlsConnect>,
    settings: tls::TlsSettings,
}

/// Connects and spawns the connection's task.
async fn connect_with<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> std::result::Result<(Client, tokio::task::AbortHandle), tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "migration store connection ended");
        }
    })
    .abort_handle();
    Ok((client, task))
}

async fn open(
    config: &tokio_postgres::Config,
    server: &str,
    round_trips: &Arc<AtomicU64>,
    link: &Link,
) -> Result<(Conn, Option<String>, u32)> {
    let backend = |action: String, source| Error::Backend {
        store: server.to_owned(),
        source: Box::new(PgError { action, source }),
    };
    let connected = match &link.tls {
        Some(tls) => connect_with(config, tls.clone()).await,
        None => connect_with(config, NoTls).await,
    };
    let (client, task) = connected.map_err(|e| {
        let host = config.get_hosts().first().map_or_else(String::new, |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        });
        let action = match tls::explain(&e, &link.settings, &host) {
            Some(why) => format!("cannot connect to PostgreSQL at {server}: {why}"),
            None => format!(
                "cannot connect to PostgreSQL at {server} ({}); check the URL, that the server is running, and the user name and password",
                link.settings.describe()
            ),
        };
        backend(action, e)
    })?;
    let conn = Conn {
        client,
        tls: link.tls.clone(),
        task,
        killed: AtomicBool::new(false),
        round_trips: round_trips.clone(),
    };
    // Let the server notice a vanished client during a long statement
    // (PostgreSQL 14+; ignored by older servers), and learn the schema
    // unqualified names resolve to: one round trip.
    let messages = conn
        .guarded(conn.client.simple_query(
            "DO $$ BEGIN PERFORM set_config('client_connection_check_interval', '1000', false); \
             EXCEPTION WHEN undefined_object THEN NULL; END $$; \
             SELECT current_schema(), current_setting('server_version_num')",
        ))
        .await
        .map_err(|e| backend("cannot set up the migration session".into(), e))?;
    let row = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let schema = row.and_then(|r| r.get(0)).map(str::to_owned);
    let version = row
        .and_then(|r| r.get(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((conn, schema, version))
}

/// Polls `a` then `b` until both finish. `a` is always polled first, so its
/// request is written to the connection before `b`'s (pipelining in order).
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let mut out_a = None;
    let mut out_b = None;
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => std::task::Poll::Ready((x, y)),
            (x, y) => {
                out_a = x;
                out_b = y;
                std::task::Poll::Pending
            }
        }
    })
    .await
}

/// The PostgreSQL state store; see the [module docs](self).
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
    describe: String,
    server: String,
    config: tokio_postgres::Config,
    link: Link,
    schema: String,
    table: String,
    qualified: String,
    lock_key: (i32, i32),
    lock_timeout: Duration,
    poll_max: Duration,
    /// The time limits of each step.
    timeouts: StepTimeouts,
    /// `server_version_num` (150018 for 15.18).
    server_version: u32,
    /// The open step's attempt (from 0).
    attempt: usize,
    /// Whether [`retry_step`](StateStore::retry_step) already rolled the
    /// open step's transaction back.
    step_rolled_back: bool,
    /// Whether a non-transactional step's session limits are set.
    session_limits: bool,
    ctx: PgContext,
    round_trips: Arc<AtomicU64>,
    /// Whether this session holds the advisory lock.
    locked: bool,
    /// The step protocol (lock, open step; an open transactional step is
    /// an open transaction).
    session: Session,
    /// Whether the history table was checked (or created) under the lock.
    table_ready: bool,
    /// The prepared `INSERT` of an applied row (per connection).
    insert_applied: Option<tokio_postgres::Statement>,
    /// The prepared catalog query (per connection).
    catalog_stmt: Option<tokio_postgres::Statement>,
    /// The prepared history query (per connection, once the table exists).
    rows_stmt: Option<tokio_postgres::Statement>,
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

/// What the catalog says about the history table.
enum TableState {
    Missing { schema_exists: bool },
    Ours,
}

impl PostgresStore {
    /// Starts building a store for the database at `url` (a
    /// `postgres://user:password@host:port/db?…` URL or a `key=value`
    /// connection string), with TLS as its `sslmode` says (see
    /// [TLS](self#tls)).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::postgres::PostgresStore;
    ///
    /// let builder = PostgresStore::builder("postgres://app@localhost/app")
    ///     .history_table("app", "schema_history");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        let (config, tls) = match tls::split(url) {
            Ok((rest, tls)) => (
                tokio_postgres::Config::from_str(&rest).map_err(|e| {
                    format!("cannot parse the PostgreSQL URL ({e}); expected postgres://user:password@host:port/database")
                }),
                tls,
            ),
            Err(reason) => (
                Err(format!("cannot use the PostgreSQL URL: {reason}")),
                tls::TlsSettings::default(),
            ),
        };
        let mut builder = Self::builder_with(config);
        builder.tls = tls;
        builder
    }

    /// Starts building a store from a tokio-postgres configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::postgres::PostgresStore;
    ///
    /// let mut config = tokio_postgres::Config::new();
    /// config.host("localhost").user("app").dbname("app");
    /// let builder = PostgresStore::builder_from_config(config);
    /// # let _ = builder;
    /// ```
    pub fn builder_from_config(config: tokio_postgres::Config) -> PostgresStoreBuilder {
        let tls = tls::TlsSettings::of_config(&config);
        let mut builder = Self::builder_with(Ok(config));
        builder.tls = tls;
        builder
    }

    fn builder_with(
        config: std::result::Result<tokio_postgres::Config, String>,
    ) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            config,
            tls: tls::TlsSettings::default(),
            schema: None,
            table: "engine_ops_migrations".into(),
            lock_timeout: Duration::from_secs(60),
            poll_max: Duration::from_millis(100),
            application_name: None,
            step_timeouts: StepTimeouts::default(),
        }
    }

    /// Opens a store at `url` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::connect`].
    ///
    /// # Examples
    ///
    /// See [`PostgresStore`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

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

    fn err(&self, action: impl Into<String>, source: tokio_postgres::Error) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(PgError {
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

    fn conn(&self) -> &Conn {
        &self.ctx.conn
    }

    /// Reconnects if the connection died (killed by a guard, or lost).
    /// The server released everything the dead session held: the lock and
    /// an open step's transaction.
    async fn heal(&mut self) -> Result<()> {
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
    async fn abandon(&mut self) -> Result<()> {
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
    async fn set_session_limits(&mut self, attempt: usize) -> Result<()> {
        let Some(sql) = lock_retry::session_sql(&self.timeouts, attempt, self.server_version)
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
    async fn reset_session_limits(&mut self) -> Result<()> {
        if !self.session_limits || self.conn().is_dead() {
            self.session_limits = false;
            return Ok(());
        }
        self.session_limits = false;
        let sql = lock_retry::reset_sql(&self.timeouts, self.server_version);
        self.conn()
            .guarded(self.conn().client.batch_execute(&sql))
            .await
            .map_err(|e| self.err("cannot reset the step's time limits", e))
    }

    /// The sessions an attempt that waited `waited` most likely queued
    /// behind (see [`lock_retry::BLOCKERS_SQL`]). A failure to read them
    /// is logged, not raised: the step's outcome does not depend on it.
    async fn read_blockers(&self, waited: Duration) -> Vec<crate::Blocker> {
        let rows = self
            .conn()
            .guarded(self.conn().client.query_typed(
                lock_retry::BLOCKERS_SQL,
                &[(&waited.as_secs_f64(), Type::FLOAT8)],
            ))
            .await;
        match rows {
            Ok(rows) => lock_retry::blockers(&rows),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the sessions that blocked the step");
                Vec::new()
            }
        }
    }

    /// Sends the step's deferred `BEGIN` if no request did yet.
    async fn flush_begin(&self) -> Result<()> {
        if !self.ctx.pending_begin.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.ctx
            .run(async { Ok(()) })
            .await
            .map_err(|e| self.err("cannot begin the step transaction", e))
    }

    fn catalog_sql() -> &'static str {
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
                (SELECT coalesce(d.description, '') FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   LEFT JOIN pg_description d ON d.objoid = c.oid \
                        AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 \
                  WHERE n.nspname = $1 AND c.relname = $2)"
    }

    /// The history query, `$1` the quoted, qualified table name: one row
    /// with a NULL version carrying the table's comment (the layout marker;
    /// absent when the table has no comment), then every history row
    /// (unordered: [`History::new`] sorts). Layout and rows come from one
    /// statement, so from one snapshot and in one request.
    ///
    /// Shaped for the common row (applied, no phase): the checksum comes as
    /// its 32 bytes (the server decodes the hex; the client need not), and
    /// the state and start time, which only a step in doubt needs, come as
    /// NULL for applied rows (a NULL costs the server no conversion and the
    /// wire four bytes). A checksum that is not hex makes the server refuse
    /// the query; [`load`](StateStore::load) then reads the rows as stored
    /// ([`rows_text_sql`](Self::rows_text_sql)) to name the bad row.
    fn rows_sql(&self) -> String {
        let applied = RowState::Applied.as_str();
        format!(
            "SELECT NULL::int8, d.description, NULL::bytea, NULL::text, NULL::text, \
                    NULL::timestamptz, NULL::timestamptz, NULL::int8 \
               FROM pg_description d \
              WHERE d.objoid = to_regclass($1) \
                AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 \
             UNION ALL \
             SELECT version, name, decode(checksum, 'hex'), phase, \
                    NULLIF(state, '{applied}'), \
                    CASE WHEN state <> '{applied}' THEN started_at END, \
                    applied_at, execution_ms \
               FROM {}",
            self.qualified
        )
    }

    /// The history query with the columns as stored, for diagnostics.
    fn rows_text_sql(&self) -> String {
        format!(
            "SELECT version, name, checksum, phase, state, started_at, applied_at, execution_ms \
               FROM {}",
            self.qualified
        )
    }

    /// Prepares (once per connection) the catalog query.
    async fn catalog_stmt(&mut self) -> Result<tokio_postgres::Statement> {
        if let Some(st) = &self.catalog_stmt {
            return Ok(st.clone());
        }
        let st = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .prepare_typed(Self::catalog_sql(), &[Type::TEXT, Type::TEXT]),
            )
            .await
            .map_err(|e| self.err("cannot read the catalog", e))?;
        self.catalog_stmt = Some(st.clone());
        Ok(st)
    }

    /// The table's state from the catalog: whether its schema exists and
    /// its comment (`None`: no such table; empty: a table without comment).
    fn table_state(&self, schema_exists: bool, comment: Option<String>) -> Result<TableState> {
        let Some(comment) = comment else {
            return Ok(TableState::Missing { schema_exists });
        };
        let layout = comment
            .strip_prefix(LAYOUT_MARKER)
            .and_then(|n| n.trim().parse::<u32>().ok());
        match layout {
            Some(LAYOUT) => Ok(TableState::Ours),
            Some(n) => Err(Error::UnsupportedFormat {
                store: self.describe.clone(),
                found: unsupported_layout(n),
            }),
            None => Err(Error::ForeignStore {
                store: self.describe.clone(),
                found: format!(
                    "a table without the engine-ops-migrate layout marker in its comment ({comment:?})"
                ),
            }),
        }
    }

    async fn catalog(&mut self) -> Result<TableState> {
        let st = self.catalog_stmt().await?;
        let row = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .query_one(&st, &[&self.schema, &self.table]),
            )
            .await
            .map_err(|e| self.err("cannot read the catalog", e))?;
        self.table_state(row.get(0), row.get(1))
    }

    /// Creates the history table if it is missing, checks its layout
    /// otherwise. Called with the lock held.
    async fn ensure_table(&mut self) -> Result<()> {
        if self.table_ready {
            return Ok(());
        }
        if let TableState::Missing { schema_exists } = self.catalog().await? {
            let q = &self.qualified;
            let create_schema = if schema_exists {
                String::new()
            } else {
                format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident(&self.schema))
            };
            let sql = format!(
                "{create_schema}CREATE TABLE {q} (
                    version bigint PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    phase text CHECK (phase IN ('expand', 'contract')),
                    state text NOT NULL CHECK (state IN ('applied', 'applying', 'reverting')),
                    transactional boolean NOT NULL,
                    started_at timestamptz NOT NULL,
                    applied_at timestamptz,
                    execution_ms bigint,
                    installed_by text NOT NULL DEFAULT current_user,
                    resolved_by text
                );
                COMMENT ON TABLE {q} IS '{LAYOUT_MARKER}{LAYOUT}';"
            );
            self.conn()
                .guarded(self.conn().client.batch_execute(&sql))
                .await
                .map_err(|e| {
                    self.err(
                        format!("cannot create the history table {q}; grant CREATE on the database or schema, or create it by hand"),
                        e,
                    )
                })?;
        }
        self.table_ready = true;
        Ok(())
    }

    async fn release(&mut self) -> Result<()> {
        if !self.locked {
            return Ok(());
        }
        self.locked = false;
        let (k1, k2) = self.lock_key;
        let unlocked = self
            .conn()
            .guarded(self.conn().client.query_typed_one(
                "SELECT pg_advisory_unlock($1, $2)",
                &[(&k1, Type::INT4), (&k2, Type::INT4)],
            ))
            .await;
        match unlocked {
            Ok(row) if row.get::<_, bool>(0) => Ok(()),
            Ok(_) => {
                // Not held by this session any more (the session was reset by
                // hand?): end the session so nothing can linger.
                self.conn().kill();
                Ok(())
            }
            Err(e) => {
                // Closing the session releases the lock for sure.
                tracing::warn!(error = %e, "unlock failed; closing the migration connection instead");
                self.conn().kill();
                Ok(())
            }
        }
    }

    /// The session holding the lock (`backend pid 123 (application
    /// "migrate", from 10.0.0.7, connected 4 s ago)`), read from `pg_locks`
    /// without taking it; `None` when nobody holds it.
    async fn holder(&self) -> Result<Option<String>> {
        let (k1, k2) = self.lock_key;
        let class = i64::from(k1.cast_unsigned());
        let obj = i64::from(k2.cast_unsigned());
        let row = self
            .conn()
            .guarded(self.conn().client.query_typed_opt(
                "SELECT l.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
                        coalesce(extract(epoch FROM now() - a.backend_start)::int8, 0) \
                   FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
                  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                    AND l.classid::int8 = $1 AND l.objid::int8 = $2 LIMIT 1",
                &[(&class, Type::INT8), (&obj, Type::INT8)],
            ))
            .await
            .map_err(|e| self.err("cannot read who holds the migration lock", e))?;
        Ok(row.map(|r| {
            format!(
                "backend pid {} (application {:?}, from {}, connected {} s ago)",
                r.get::<_, i32>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, i64>(3)
            )
        }))
    }

    /// [`holder`](Self::holder) for messages.
    async fn holder_text(&self) -> String {
        match self.holder().await {
            Ok(Some(holder)) => format!(", held by {holder}"),
            _ => String::new(),
        }
    }

    async fn take_lock(&mut self) -> Result<()> {
        let (k1, k2) = self.lock_key;
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        // Jitter from the lock key and the clock: waiters started together
        // do not poll in lock step.
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
        let mut jitter =
            (u64::from(k2.cast_unsigned()) ^ u64::from(std::process::id()) << 32 ^ clock) | 1;
        let mut reported = false;
        loop {
            let got = self
                .conn()
                .guarded(self.conn().client.query_typed_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[(&k1, Type::INT4), (&k2, Type::INT4)],
                ))
                .await
                .map_err(|e| self.err("cannot take the migration lock", e))?;
            if got.get::<_, bool>(0) {
                self.locked = true;
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= self.lock_timeout {
                let holder = self.holder_text().await;
                return Err(Error::LockTimeout {
                    lock: format!("advisory lock ({k1}, {k2}) of {}{holder}", self.describe),
                    waited,
                });
            }
            if !reported && waited >= Duration::from_secs(1) {
                reported = true;
                let holder = self.holder_text().await;
                tracing::info!(
                    lock = %format!("({k1}, {k2})"),
                    table = %self.qualified,
                    "waiting for the migration lock{holder}"
                );
            }
            jitter ^= jitter << 13;
            jitter ^= jitter >> 7;
            jitter ^= jitter << 17;
            let spread = u64::try_from(pause.as_micros()).unwrap_or(1).max(1);
            let sleep = (pause / 2 + Duration::from_micros(jitter % spread))
                .min(self.lock_timeout.saturating_sub(waited));
            tokio::time::sleep(sleep).await;
            pause = (pause * 2).min(self.poll_max);
        }
    }

    /// Decodes rows of [`rows_sql`](Self::rows_sql) (`text == false`: the
    /// layout row first checked, the checksum as bytes, state and start time
    /// NULL for applied rows) or of [`rows_text_sql`](Self::rows_text_sql)
    /// (`text == true`). `None`: a checksum of the first kind is not 32
    /// bytes; decode the rows as stored to name it.
    fn decode(&self, rows: &[Row], text: bool) -> Result<Option<History>> {
        if !text {
            // Found wherever the server put it (a parallel plan may not put
            // it first); no such row: the table has no comment.
            let comment = rows
                .iter()
                .find(|r| r.get::<_, Option<i64>>(0).is_none())
                .map_or_else(String::new, |r| r.get(1));
            self.table_state(true, Some(comment))?;
        }
        let mut out = HistoryRows::with_capacity(rows.len());
        for r in rows {
            if !text && r.get::<_, Option<i64>>(0).is_none() {
                continue;
            }
            let (checksum, state) = if text {
                (StoredChecksum::Hex(r.get(2)), r.get(4))
            } else {
                let Ok(digest) = <[u8; 32]>::try_from(r.get::<_, &[u8]>(2)) else {
                    return Ok(None);
                };
                (
                    StoredChecksum::Digest(Checksum::from_bytes(digest)),
                    r.get::<_, Option<&str>>(4)
                        .unwrap_or(RowState::Applied.as_str()),
                )
            };
            out.push(StoredRow {
                version: r.get(0),
                name: r.get(1),
                checksum,
                phase: r.get(3),
                state,
                started_at_ms: unix_ms(r.get(5)),
                applied_at_ms: unix_ms(r.get(6)),
                duration_ms: from_db_ms(r.get(7)),
            })
            .map_err(|reason| self.bad_row(reason))?;
        }
        Ok(Some(out.finish()))
    }

    /// Decodes rows of the history query, or reads them again as stored
    /// when a checksum in them is not 32 bytes (to name the row).
    async fn decode_or_reread(&mut self, rows: &[Row]) -> Result<History> {
        match self.decode(rows, false)? {
            Some(history) => Ok(history),
            None => self.load_text().await,
        }
    }

    /// After the history query failed on `error`, which says a checksum is
    /// not hex: checks the layout, then reads the rows as stored to name
    /// the bad one.
    async fn reread(&mut self, error: &tokio_postgres::Error) -> Result<History> {
        tracing::debug!(%error, "history query refused a checksum; reading the rows as stored");
        if let TableState::Missing { .. } = self.catalog().await? {
            return Ok(History::default());
        }
        self.load_text().await
    }

    /// Reads the rows as stored and decodes them (the slow path, for a row
    /// the fast query cannot carry).
    async fn load_text(&self) -> Result<History> {
        let sql = self.rows_text_sql();
        let rows = self
            .conn()
            .guarded(self.conn().client.query(&sql, &[]))
            .await
            .map_err(|e| {
                self.err(
                    format!("cannot read the history table {}", self.qualified),
                    e,
                )
            })?;
        match self.decode(&rows, true)? {
            Some(history) => Ok(history),
            None => Err(self.bad_row("the history table changed while it was read".into())),
        }
    }

    /// Runs the statement recording `step` for `version` (see
    /// [`record_sql`]) outside a step transaction: `columns` are its other
    /// columns, `params` its parameters after the version (`$2`, `$3`,
    /// ...). A statement that changes no row (or an insert that finds one)
    /// is a refusal naming the row's state.
    async fn record(
        &self,
        version: u64,
        step: Step,
        columns: &[(&str, &str)],
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<()> {
        let db_v = db_version(version)?;
        let sql = record_sql(&self.qualified, step, "$1", columns);
        let mut all: Vec<(&(dyn ToSql + Sync), Type)> = Vec::with_capacity(params.len() + 1);
        all.push((&db_v, Type::INT8));
        all.extend_from_slice(params);
        let changed = self
            .conn()
            .guarded(self.conn().client.execute_typed(&sql, &all))
            .await;
        match changed {
            Ok(1) => Ok(()),
            Ok(_) => Err(self.refused(version, step).await),
            Err(e) if is_conflict(step, &e) => Err(self.refused(version, step).await),
            Err(e) => Err(self.err(
                format!("cannot record {} for migration {version}", step.change()),
                e,
            )),
        }
    }

    /// The refusal of `step` for `version`, naming the row's state (read
    /// outside any step transaction).
    async fn refused(&self, version: u64, step: Step) -> Error {
        let Ok(db_v) = db_version(version) else {
            return Refusal::new(version, step, None).into_error(self.describe.clone());
        };
        let sql = state_sql(&self.qualified, "$1");
        let row = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .query_typed_opt(&sql, &[(&db_v, Type::INT8)]),
            )
            .await;
        match row {
            Ok(row) => {
                let state: Option<String> = row.map(|r| r.get(0));
                match refusal(version, step, state.as_deref()) {
                    Ok(r) => r.into_error(self.describe.clone()),
                    Err(reason) => self.bad_row(reason),
                }
            }
            Err(e) => self.err(
                format!("cannot read the state of migration {version} to report a refused change"),
                e,
            ),
        }
    }
}

/// Whether `e` is an insert finding its row already there.
fn is_conflict(step: Step, e: &tokio_postgres::Error) -> bool {
    matches!(step.row_change(), RowChange::Insert(_))
        && e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A Unix time in milliseconds as a `timestamptz` parameter.
fn pg_time(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
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
        if let Some(st) = self.rows_stmt.clone() {
            // Steady state: one prepared statement reads the layout marker
            // and every row, one request whatever the number of rows.
            let rows = self
                .conn()
                .guarded(self.conn().client.query(&st, &[&self.qualified]))
                .await;
            match rows {
                Ok(rows) => return self.decode_or_reread(&rows).await,
                Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => {
                    return self.reread(&e).await;
                }
                // Dropped, or replaced by a table of another shape: the
                // catalog says what it is now.
                Err(_) => self.rows_stmt = None,
            }
        }
        if let TableState::Missing { .. } = self.catalog().await? {
            return Ok(History::default());
        }
        // First read on this connection: prepare the history query (it can
        // only be prepared once the table exists).
        let sql = self.rows_sql();
        let client = &self.conn().client;
        let rows = match self
            .conn()
            .guarded(client.prepare_typed(&sql, &[Type::TEXT]))
            .await
        {
            Ok(st) => {
                let rows = self
                    .conn()
                    .guarded(client.query(&st, &[&self.qualified]))
                    .await;
                self.rows_stmt = Some(st);
                rows
            }
            Err(e) => Err(e),
        };
        match rows {
            Ok(rows) => self.decode_or_reread(&rows).await,
            Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => self.reread(&e).await,
            Err(e) => {
                self.rows_stmt = None;
                Err(self.err(
                    format!("cannot read the history table {}", self.qualified),
                    e,
                ))
            }
        }
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
            self.ctx.begin_sql = lock_retry::begin_sql(&self.timeouts, 0, self.server_version);
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
            Direction::Up => {
                self.flush_begin().await?;
                if self.insert_applied.is_none() {
                    let sql = record_sql(
                        &self.qualified,
                        Step::Commit(Direction::Up),
                        "$1",
                        &[
                            ("name", "$2"),
                            ("checksum", "$3"),
                            ("phase", "$4"),
                            ("transactional", "true"),
                            ("started_at", "$5"),
                            ("applied_at", "$6"),
                            ("execution_ms", "$7"),
                        ],
                    );
                    let stmt = self
                        .conn()
                        .guarded(self.conn().client.prepare_typed(
                            &sql,
                            &[
                                Type::INT8,
                                Type::TEXT,
                                Type::TEXT,
                                Type::TEXT,
                                Type::TIMESTAMPTZ,
                                Type::TIMESTAMPTZ,
                                Type::INT8,
                            ],
                        ))
                        .await
                        .map_err(|e| self.err("cannot prepare the history insert", e))?;
                    self.insert_applied = Some(stmt);
                }
                let Some(stmt) = &self.insert_applied else {
                    return Err(self.bad_row("insert statement missing".into()));
                };
                let checksum = intent.checksum.to_hex();
                let phase = phase_str(intent.phase);
                let started = pg_time(intent.started_at_ms);
                let params: [&(dyn ToSql + Sync); 7] = [
                    &version,
                    &intent.name,
                    &checksum,
                    &phase,
                    &started,
                    &finished,
                    &took,
                ];
                // The row and COMMIT in one round trip. If the INSERT fails,
                // the server turns the COMMIT into a rollback, so the step's
                // effects go with it.
                let client = &self.conn().client;
                let (inserted, committed) = self
                    .conn()
                    .guarded(join2(
                        client.execute(stmt, &params),
                        client.batch_execute("COMMIT"),
                    ))
                    .await;
                match inserted {
                    Err(e) if is_conflict(Step::Commit(Direction::Up), &e) => {
                        return Err(self
                            .refused(intent.version, Step::Commit(Direction::Up))
                            .await);
                    }
                    Err(e) => {
                        return Err(self.err(
                            format!(
                                "cannot record migration {} ({}); its transaction was rolled back",
                                intent.version, intent.name
                            ),
                            e,
                        ));
                    }
                    Ok(_) => {}
                }
                committed.map_err(|e| {
                    self.err(
                        format!(
                            "cannot commit migration {} ({}); check the history table to see whether it was applied",
                            intent.version, intent.name
                        ),
                        e,
                    )
                })?;
            }
            Direction::Down => {
                self.flush_begin().await?;
                let sql = record_sql(&self.qualified, Step::Commit(Direction::Down), "$1", &[]);
                let deleted = self
                    .conn()
                    .guarded(
                        self.conn()
                            .client
                            .execute_typed(&sql, &[(&version, Type::INT8)]),
                    )
                    .await;
                let ok = matches!(deleted, Ok(1));
                let end = if ok { "COMMIT" } else { "ROLLBACK" };
                let ended = self
                    .conn()
                    .guarded(self.conn().client.batch_execute(end))
                    .await;
                match deleted {
                    Err(e) => {
                        return Err(self.err(
                            format!(
                                "cannot record the revert of migration {}; its transaction was rolled back",
                                intent.version
                            ),
                            e,
                        ));
                    }
                    Ok(1) => {}
                    Ok(_) => {
                        // The revert's effects went with the rollback.
                        return Err(self
                            .refused(intent.version, Step::Commit(Direction::Down))
                            .await);
                    }
                }
                ended.map_err(|e| self.err("cannot commit the revert", e))?;
            }
        }
        Ok(())
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
        let Some(sqlstate) = lock_retry::lock_timeout_state(cause) else {
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
                lock_retry::begin_sql(&self.timeouts, self.attempt, self.server_version);
            self.ctx.pending_begin.store(true, Ordering::SeqCst);
        } else {
            self.set_session_limits(self.attempt).await?;
        }
        Ok(Some(record))
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
                let at = pg_time(at_ms);
                let applied_at = if_applying("$2", "applied_at");
                let execution_ms = if_applying("0", "execution_ms");
                self.record(
                    doubt.version,
                    Step::Resolve(Resolution::Applied),
                    &[
                        ("applied_at", &applied_at),
                        ("execution_ms", &execution_ms),
                        ("resolved_by", "$3"),
                    ],
                    &[(&at, Type::TIMESTAMPTZ), (&by, Type::TEXT)],
                )
                .await
            }
            Resolution::NotApplied => {
                self.record(
                    doubt.version,
                    Step::Resolve(Resolution::NotApplied),
                    &[],
                    &[],
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_to_unix_milliseconds() {
        assert_eq!(unix_ms(None), 0);
        assert_eq!(
            unix_ms(Some(UNIX_EPOCH + Duration::from_millis(1_234))),
            1_234
        );
    }

    #[test]
    fn long_or_empty_identifiers_are_refused() {
        assert!(check_ident("table", "").is_err());
        assert!(check_ident("table", &"x".repeat(64)).is_err());
        assert!(check_ident("table", &"x".repeat(63)).is_ok());
    }

    #[tokio::test]
    async fn a_bad_url_is_a_configuration_error_before_any_io() {
        let err = PostgresStore::connect("postgres://[::1")
            .await
            .expect_err("unparsable");
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }

    #[test]
    fn the_description_names_the_server_without_the_password() {
        let config = tokio_postgres::Config::from_str("postgres://u:secret@db.example:6543/app")
            .expect("valid url");
        let text = describe_config(&config);
        assert_eq!(text, "postgres://u@db.example:6543/app");
    }
}
