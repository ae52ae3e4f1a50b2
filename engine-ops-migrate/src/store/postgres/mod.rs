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
//! - **Cheap status.** [`load`](crate::StateStore::load) is one round trip (one
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
//!   [`Error::LockRetriesExhausted`](crate::Error::LockRetriesExhausted), naming every attempt and the blocking
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
//! marker, is refused with [`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat) or
//! [`Error::ForeignStore`](crate::Error::ForeignStore) and left untouched.
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

mod builder;
mod conn;
mod context;
mod history;
mod lock;
mod queries;
mod record;
mod sql_context;
mod step_limits;
mod store;
mod tls;
mod types;

pub use builder::PostgresStoreBuilder;
pub use context::PgContext;
pub use store::PostgresStore;
pub use tls::SslMode;
