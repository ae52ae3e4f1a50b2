//! Plain SQL migrations, and what the database stores share.
//!
//! [`SqlMigration`] is a migration written as SQL text. It runs on the
//! PostgreSQL store (feature `postgres`, context `PgContext`), on the
//! SQLite store (feature `sqlite`, context `rusqlite::Connection`), and on
//! [`AnyStore`](crate::AnyStore) (context `dyn SqlContext`). Write them in
//! code, load them from a directory with [`load_dir`](crate::load_dir), or
//! embed a directory at compile time with [`embed!`](crate::embed).
//!
//! # Examples
//!
//! ```
//! use engine_ops_migrate::store::sql::SqlMigration;
//!
//! let create = SqlMigration::new(1, "create_users", "CREATE TABLE users (id bigint PRIMARY KEY)")
//!     .down("DROP TABLE users");
//! // A step that cannot run inside a transaction gets an intent record
//! // before it runs and a completion record after.
//! let index = SqlMigration::new(2, "users_id_idx", "DROP INDEX CONCURRENTLY IF EXISTS users_id_idx")
//!     .then("CREATE INDEX CONCURRENTLY users_id_idx ON users (id)")
//!     .down("DROP INDEX CONCURRENTLY IF EXISTS users_id_idx")
//!     .no_transaction()
//!     .validate_up("SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('users_id_idx')), false)");
//! assert!(!index.is_transactional());
//! # let _ = create;
//! ```

mod context;
mod migration;
pub(crate) mod row;

pub use context::SqlContext;
pub(crate) use context::sealed;
pub use migration::SqlMigration;
