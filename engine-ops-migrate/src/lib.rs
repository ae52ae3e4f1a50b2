//! Checksummed, versioned migrations with automatic rollback, run by a
//! [`Migrator`] against a [`StateStore`]; the embedded default store is a
//! crash-safe, append-only JSON-lines journal ([`FileStore`]).
//!
//! # Start-up
//!
//! A service that runs its SQL migrations (a `migrations/` directory of
//! `0001_create_users.up.sql`, `0001_create_users.down.sql`,
//! `0002_add_email.sql`, ...; see [`source`]) when it starts, with several
//! replicas starting at once: they take turns on the store's lock, and
//! exactly one applies each migration.
//!
//! ```no_run
//! use engine_ops_migrate::{Migrator, connect, embed};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! // postgres://…?sslmode=verify-full, sqlite:app.db, or a journal path
//! let store = connect(&std::env::var("DATABASE_URL")?).await?;
//! let mut migrator = Migrator::builder(store).migrations(embed!("tests/fixtures/migrations")).build()?;
//! migrator.run().await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`embed!`] checks the directory when the crate compiles (a compile
//! error names the file that breaks a rule) and puts the SQL in the
//! binary; add a one-line `build.rs`,
//! `fn main() { println!("cargo::rerun-if-changed=migrations"); }`, so
//! that cargo also rebuilds when a migration is added. [`connect`] opens
//! the store the URL names (features `postgres`, `sqlite`), with TLS for
//! PostgreSQL from `sslmode`.
//!
//! # Overview
//!
//! - A [`Migration<C>`](Migration) has a numeric version, a name, the source
//!   bytes its [`Checksum`] covers (SHA-256, CRLF normalised to LF), `up`,
//!   `down` (or [`reversible`](Migration::reversible) `false`), optional
//!   post-conditions [`validate_up`](Migration::validate_up) /
//!   [`validate_down`](Migration::validate_down), an optional expand /
//!   contract [`Phase`] and a [`transactional`](Migration::transactional)
//!   flag. `C` is the context the store hands to each step: the
//!   application's own handle for the file store, a transaction for a
//!   database backend.
//! - [`plan`] is pure (no I/O): from the declared migrations and a
//!   [`History`] it finds pending, applied, divergent (name or checksum
//!   changed), missing, out-of-order, in-doubt and duplicate versions.
//! - [`Migrator`] executes: [`run`](Migrator::run) /
//!   [`run_to`](Migrator::run_to), [`rollback`](Migrator::rollback),
//!   [`status`](Migrator::status), [`verify`](Migrator::verify) (every
//!   problem, not only the first), [`plan`](Migrator::plan) (dry run) and
//!   [`resolve`](Migrator::resolve) (an operator settles a step in doubt).
//!   Each returns a typed report that serialises to JSON. It refuses to run
//!   over divergent, missing, out-of-order or in-doubt migrations unless
//!   told otherwise for that version.
//! - A failed step (an error from `up`, or `validate_up` not passing) is
//!   undone (by the store's transaction, or by `down`) and the run stops
//!   with an error naming the migration and the cause;
//!   [`RollbackPolicy::WholeRun`] also reverts the earlier steps of the run.
//! - [`StateStore`] is the backend seam. Its step protocol (begin → run →
//!   commit / abort) lets a database make a step and its record atomic, and
//!   lets a store without transactions write an intent record first, so a
//!   crash leaves a step *in doubt* (reported, then settled by the
//!   migration's validator or an operator), never silently lost or applied
//!   twice.
//! - Stores: [`FileStore`] (journal with self-checking lines, fsync per
//!   step, cross-process lock with a bounded wait; see [`store::file`]) and
//!   [`MemoryStore`] (tests; optionally transactional).
//!
//! # What it does not do
//!
//! - It does not parse or run SQL: a migration's `up` does whatever it does
//!   with its context; [`source`](Migration::source) only feeds the checksum.
//! - Migrations in Rust are listed by the application; SQL migrations come
//!   from a directory ([`load_dir`], [`embed!`]) or are built in code
//!   ([`SqlMigration`]).
//! - The file store cannot make a step's effects and its record atomic (the
//!   effects live elsewhere); it makes the gap visible as *in doubt*
//!   instead. The database backends (see the feature flags) do make a
//!   transactional step and its history row atomic.
//! - It does not schedule expand and contract phases around a rollout; it
//!   records and reports them.
//! - The file store cannot tell a journal whose last whole records were
//!   removed (or an older backup) from a shorter valid one; see its
//!   [limits](store::file#limits-by-design) and the remedies there.
//!
//! # Example
//!
//! ```
//! use engine_ops_migrate::{BoxError, FileStore, Migration, Migrator, Validation};
//! use std::collections::BTreeSet;
//!
//! /// The application's "database" for this example: a set of table names.
//! type Db = BTreeSet<String>;
//!
//! struct CreateTable(u64, &'static str);
//!
//! #[async_trait::async_trait]
//! impl Migration<Db> for CreateTable {
//!     fn version(&self) -> u64 { self.0 }
//!     fn name(&self) -> &str { self.1 }
//!     fn source(&self) -> &[u8] { self.1.as_bytes() }
//!     async fn up(&self, db: &mut Db) -> Result<(), BoxError> {
//!         db.insert(self.1.to_owned());
//!         Ok(())
//!     }
//!     async fn down(&self, db: &mut Db) -> Result<(), BoxError> {
//!         db.remove(self.1);
//!         Ok(())
//!     }
//!     async fn validate_up(&self, db: &mut Db) -> Result<Validation, BoxError> {
//!         Ok(Validation::check(db.contains(self.1), "table missing"))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = FileStore::builder(dir.path().join("migrations.jsonl"))
//!     .context(Db::new())
//!     .build()?;
//! let mut migrator = Migrator::builder(store)
//!     .migration(CreateTable(1, "users"))
//!     .migration(CreateTable(2, "orders"))
//!     .build()?;
//!
//! let report = migrator.run().await?;
//! assert_eq!(report.applied.len(), 2);
//! assert!(migrator.verify().await?.is_ok());
//! println!("{}", serde_json::to_string_pretty(&migrator.status().await?)?);
//!
//! let rolled_back = migrator.rollback(engine_ops_migrate::Rollback::Last(1)).await?;
//! assert_eq!(rolled_back.reverted[0].name, "orders");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Feature flags
//!
//! The file and memory stores, [`SqlMigration`], [`load_dir`] and
//! [`connect`] are always built.
//!
//! - `macros` (default): [`embed!`], from the `engine-ops-migrate-macros`
//!   crate.
//! - `postgres`: `PostgresStore` on tokio-postgres (history table,
//!   one transaction per migration, session advisory lock on a dedicated
//!   connection), TLS through rustls with ring; `tokio_postgres`
//!   re-exported.
//! - `sqlite`: `SqliteStore` on rusqlite with SQLite bundled (history
//!   table, `BEGIN IMMEDIATE` per migration, a run lock that dies with its
//!   connection or process); `rusqlite` re-exported.

mod checksum;
mod error;
mod history;
#[cfg(feature = "lint")]
pub mod lint;
mod migration;
mod migrator;
mod phase;
mod plan;
mod report;
mod retry;
pub mod source;
pub mod store;

/// Re-export of [`async_trait::async_trait`], the attribute that
/// [`Migration`] and [`StateStore`] implementations need.
pub use async_trait::async_trait;
pub use checksum::{Checksum, ParseChecksumError};
pub use error::{Error, Result};
pub use history::{
    AppliedMigration, History, InDoubt, RecordChange, RecordState, Resolution, ResolvedBy,
    StepIntent,
};
pub use migration::{BoxError, Direction, Migration, MigrationInfo, Phase, Validation};
pub use migrator::{Migrator, MigratorBuilder, Observer, Progress, Rollback, RollbackPolicy};
pub use phase::OldVersionGone;
pub use plan::{Divergence, Duplicate, MigrationRef, Plan, Problem, plan};
pub use report::{
    MigrationState, ResolvedStep, RollbackReport, RunReport, StatusEntry, StatusReport, StepReport,
    VerifyReport,
};
pub use retry::{Blocker, FinalAttempt, LockAttempt, LockRetry, StepTimeouts};
pub use source::{SourceError, load_dir};
pub use store::any::{AnyContext, AnyStore, ConnectOptions, NoDatabase, connect, connect_with};
pub use store::file::{FileStore, FileStoreBuilder, JOURNAL_FORMAT, JournalSummary};
pub use store::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use store::postgres::{PgContext, PostgresStore, PostgresStoreBuilder};
pub use store::sql::{SqlContext, SqlMigration};
#[cfg(feature = "sqlite")]
pub use store::sqlite::{SqliteStore, SqliteStoreBuilder};
pub use store::{LockProbe, StateStore};

/// The PostgreSQL driver the `postgres` store runs on, for migrations
/// written in Rust (through [`PgContext`]) without a direct dependency at a
/// matching version.
#[cfg(feature = "postgres")]
pub use tokio_postgres;

/// The SQLite driver the `sqlite` store runs on, for migrations written in
/// Rust (on its `Connection`) without a direct dependency at a matching
/// version.
#[cfg(feature = "sqlite")]
pub use rusqlite;

/// Embeds a directory of SQL migrations at compile time (feature `macros`,
/// on by default).
///
/// `embed!("migrations")` reads the directory (relative to the crate's
/// `Cargo.toml`; `embed!()` means `"migrations"`) when the crate compiles,
/// checks it by the rules of [`source`] (names, pairs, versions,
/// directives: a broken rule is a compile error naming the file), and
/// expands to the `Vec<SqlMigration>` that [`load_dir`] would return at run
/// time. The binary carries the SQL; nothing is read at run time.
///
/// - Editing or removing a file rebuilds the crate (the texts are
///   `include_str!`-ed).
/// - Adding a file: cargo cannot see a directory grow without a build
///   script. Add `build.rs` beside `Cargo.toml`:
///   `fn main() { println!("cargo::rerun-if-changed=migrations"); }`.
///   A debug build started after its directory changed panics with a
///   message saying what changed, instead of silently running an old list.
/// - The expansion names `::engine_ops_migrate`: depend on it under that
///   name.
///
/// # Examples
///
/// Start-up of a service: replicas starting at once take turns on the
/// store's lock, and exactly one applies each migration.
///
/// ```no_run
/// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
/// let store = engine_ops_migrate::connect(&std::env::var("DATABASE_URL")?).await?;
/// engine_ops_migrate::Migrator::builder(store)
///     .migrations(engine_ops_migrate::embed!("tests/fixtures/migrations"))
///     .build()?
///     .run()
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// The list is plain data:
///
/// ```
/// let migrations = engine_ops_migrate::embed!("tests/fixtures/migrations");
/// let versions: Vec<u64> = migrations.iter().map(|m| m.version()).collect();
/// assert_eq!(versions, [1, 2, 3]);
/// assert!(!migrations[2].is_transactional()); // `-- engine-ops: no-transaction`
/// ```
#[cfg(feature = "macros")]
pub use engine_ops_migrate_macros::embed;
