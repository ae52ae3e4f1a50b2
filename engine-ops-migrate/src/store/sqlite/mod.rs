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
//! [`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat) (an unknown layout) or
//! [`Error::ForeignStore`](crate::Error::ForeignStore) (not ours) and left untouched. Columns: `version`
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

mod builder;
mod history;
mod lock;
mod queries;
mod record;
mod sql_context;
mod store;

pub use builder::SqliteStoreBuilder;
pub use store::SqliteStore;
