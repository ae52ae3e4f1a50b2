//! [`SqlMigration`]: a migration written as SQL text, and its builder
//! methods. How it runs on a database is in `context.rs`.

use crate::phase::Phase;

/// A migration written as SQL.
///
/// - `up` is one or more *batches*; each batch is sent to the database as
///   one request (several statements separated by `;` are fine). Add batches
///   with [`then`](Self::then).
/// - `down` (added with [`down`](Self::down)) makes it reversible; without
///   one the migration is irreversible.
/// - [`validate_up`](Self::validate_up) / [`validate_down`](Self::validate_down)
///   take a query that returns one row with one boolean column: `true` means
///   the post-condition holds. The migrator runs them after the step (inside
///   its transaction) and uses them to settle a step left in doubt by a crash.
/// - [`no_transaction`](Self::no_transaction) opts the migration out of the
///   step transaction, for statements that cannot run in one
///   (`CREATE INDEX CONCURRENTLY`, `VACUUM`). On PostgreSQL a batch with
///   several statements runs in one implicit transaction, so put such a
///   statement alone in its batch.
///
/// The checksum covers the `up` batches (joined by newlines).
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{Migration, store::sql::SqlMigration};
///
/// let m = SqlMigration::new(3, "add_email", "ALTER TABLE users ADD COLUMN email text")
///     .down("ALTER TABLE users DROP COLUMN email");
/// # #[cfg(feature = "sqlite")]
/// assert!(Migration::<rusqlite::Connection>::reversible(&m));
/// # let _ = m;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMigration {
    pub(super) version: u64,
    pub(super) name: String,
    pub(super) up: Vec<String>,
    pub(super) down: Vec<String>,
    pub(super) validate_up: Option<String>,
    pub(super) validate_down: Option<String>,
    pub(super) reversible: bool,
    pub(super) transactional: bool,
    pub(super) phase: Option<Phase>,
    pub(super) source: String,
    /// Set by [`create_index_concurrently`](Self::create_index_concurrently).
    pub(super) index: Option<ConcurrentIndex>,
}

/// A `CREATE INDEX CONCURRENTLY` step that is safe to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConcurrentIndex {
    /// The index name as a string literal (`'app.users_email_idx'`).
    pub(super) literal: String,
    /// `DROP INDEX CONCURRENTLY IF EXISTS <name>`.
    pub(super) drop: String,
}

impl ConcurrentIndex {
    /// Whether the index exists and is valid: `Some(true)` valid,
    /// `Some(false)` an invalid leftover, `None` absent.
    pub(super) fn state_query(&self) -> String {
        format!(
            "SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass({}))",
            self.literal
        )
    }
}

impl SqlMigration {
    /// A transactional, irreversible migration running `up`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::sql::SqlMigration;
    ///
    /// let m = SqlMigration::new(1, "create_users", "CREATE TABLE users (id int)");
    /// assert_eq!(m.version(), 1);
    /// ```
    #[must_use]
    pub fn new(version: u64, name: impl Into<String>, up: impl Into<String>) -> Self {
        let up = up.into();
        Self {
            version,
            name: name.into(),
            source: up.clone(),
            up: vec![up],
            down: Vec::new(),
            validate_up: None,
            validate_down: None,
            reversible: false,
            transactional: true,
            phase: None,
            index: None,
        }
    }

    /// A non-transactional migration that builds an index with `CREATE
    /// INDEX CONCURRENTLY` (writes go on while it builds) and is safe to
    /// retry (PostgreSQL only). `index` is the index name (schema-qualified
    /// if needed, quoted as SQL needs it), `on` the rest of the statement:
    /// `"users (email)"`, `"users USING gin (tags) WHERE deleted_at IS
    /// NULL"`.
    ///
    /// A failed `CREATE INDEX CONCURRENTLY` (a lock timeout, a unique
    /// violation, a cancelled build) leaves an *invalid* index behind, which
    /// `CREATE INDEX … IF NOT EXISTS` then silently accepts. This step does
    /// not: its `up` first reads `pg_index.indisvalid`; an invalid leftover
    /// is dropped (`DROP INDEX CONCURRENTLY IF EXISTS`, its own request),
    /// a valid index is kept, and only then is the index built, the
    /// statement alone in its request. Its `validate_up` checks
    /// `indisvalid`, so a crash mid-build leaves the step in doubt and the
    /// next run settles it as not applied (and builds the index again),
    /// never as applied over an invalid index. It is
    /// [`retry_safe`](crate::Migration::retry_safe): a lock timeout under
    /// the store's [`StepTimeouts`](crate::StepTimeouts) retries it. Its
    /// `down` is `DROP INDEX CONCURRENTLY IF EXISTS`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::SqlMigration;
    ///
    /// let m = SqlMigration::create_index_concurrently(4, "users_email_idx", "users_email_idx", "users (email)");
    /// assert!(!m.is_transactional());
    /// assert_eq!(m.up_batches(), ["CREATE INDEX CONCURRENTLY users_email_idx ON users (email)"]);
    /// assert_eq!(m.down_batches(), ["DROP INDEX CONCURRENTLY IF EXISTS users_email_idx"]);
    /// ```
    #[must_use]
    pub fn create_index_concurrently(
        version: u64,
        name: impl Into<String>,
        index: &str,
        on: &str,
    ) -> Self {
        Self::index_step(version, name.into(), "INDEX", index, on)
    }

    /// [`create_index_concurrently`](Self::create_index_concurrently) for
    /// a `UNIQUE` index (which a later `ALTER TABLE … ADD CONSTRAINT …
    /// UNIQUE USING INDEX` can turn into a constraint without a scan).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::SqlMigration;
    ///
    /// let m = SqlMigration::create_unique_index_concurrently(5, "users_email_key", "users_email_key", "users (email)");
    /// assert_eq!(m.up_batches(), ["CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)"]);
    /// ```
    #[must_use]
    pub fn create_unique_index_concurrently(
        version: u64,
        name: impl Into<String>,
        index: &str,
        on: &str,
    ) -> Self {
        Self::index_step(version, name.into(), "UNIQUE INDEX", index, on)
    }

    fn index_step(version: u64, name: String, kind: &str, index: &str, on: &str) -> Self {
        let create = format!("CREATE {kind} CONCURRENTLY {index} ON {on}");
        let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {index}");
        let literal = format!("'{}'", index.replace('\'', "''"));
        Self {
            version,
            name,
            source: create.clone(),
            up: vec![create],
            down: vec![drop.clone()],
            validate_up: Some(format!(
                "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass({literal})), false)"
            )),
            validate_down: Some(format!("SELECT to_regclass({literal}) IS NULL")),
            reversible: true,
            transactional: false,
            phase: None,
            index: Some(ConcurrentIndex { literal, drop }),
        }
    }

    /// A migration read from a file: `source` is the whole up file (what
    /// the checksum covers), `up` its batches.
    pub(crate) fn from_file(version: u64, name: String, source: String, up: Vec<String>) -> Self {
        Self {
            version,
            name,
            up,
            down: Vec::new(),
            validate_up: None,
            validate_down: None,
            reversible: false,
            transactional: true,
            phase: None,
            source,
            index: None,
        }
    }

    /// Makes the migration reversible with `down` batches (none: reverting
    /// changes nothing but the history).
    pub(crate) fn with_down(mut self, down: Vec<String>) -> Self {
        self.down = down;
        self.reversible = true;
        self
    }

    /// Adds another `up` batch, sent after the previous ones.
    #[must_use]
    pub fn then(mut self, sql: impl Into<String>) -> Self {
        self.up.push(sql.into());
        self.source = self.up.join("\n");
        self
    }

    /// Adds a `down` batch (the first call makes the migration reversible).
    #[must_use]
    pub fn down(mut self, sql: impl Into<String>) -> Self {
        self.down.push(sql.into());
        self.reversible = true;
        self
    }

    /// Sets the post-condition of `up`: a query returning one boolean.
    #[must_use]
    pub fn validate_up(mut self, query: impl Into<String>) -> Self {
        self.validate_up = Some(query.into());
        self
    }

    /// Sets the post-condition of `down`: a query returning one boolean.
    #[must_use]
    pub fn validate_down(mut self, query: impl Into<String>) -> Self {
        self.validate_down = Some(query.into());
        self
    }

    /// Runs the migration outside any transaction (see the type docs).
    #[must_use]
    pub fn no_transaction(mut self) -> Self {
        self.transactional = false;
        self
    }

    /// Declares the expand / contract phase.
    #[must_use]
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the migration runs in the step transaction.
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// Whether it has a `down` (an empty one counts: reverting it changes
    /// nothing but the history).
    #[must_use]
    pub fn is_reversible(&self) -> bool {
        self.reversible
    }

    /// The expand / contract phase, if declared.
    #[must_use]
    pub fn declared_phase(&self) -> Option<Phase> {
        self.phase
    }

    /// The text the checksum covers.
    #[must_use]
    pub fn source_text(&self) -> &str {
        &self.source
    }

    /// The `up` batches, in the order they are sent.
    #[must_use]
    pub fn up_batches(&self) -> &[String] {
        &self.up
    }

    /// The `down` batches.
    #[must_use]
    pub fn down_batches(&self) -> &[String] {
        &self.down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_source_covers_every_up_batch() {
        let one = SqlMigration::new(1, "a", "SELECT 1");
        let two = one.clone().then("SELECT 2");
        assert_eq!(one.source, "SELECT 1");
        assert_eq!(two.source, "SELECT 1\nSELECT 2");
        assert_eq!(two.clone().down("x").source, two.source);
    }
}
