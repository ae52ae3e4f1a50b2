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

// The row codec below serves the database stores; without them only
// `SqlMigration` and `SqlContext` are used.
#![cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]

use std::fmt;

use super::ledger::{Refusal, RowChange, RowState, Step};
use crate::{AppliedMigration, Checksum, Direction, Error, History, InDoubt, Phase, Result};

/// The layout of the history tables this build writes and reads.
pub(crate) const LAYOUT: u32 = 1;

pub(crate) fn phase_str(phase: Option<Phase>) -> Option<&'static str> {
    match phase {
        Some(Phase::Expand) => Some("expand"),
        Some(Phase::Contract) => Some("contract"),
        None => None,
    }
}

pub(crate) fn parse_phase(s: Option<&str>) -> std::result::Result<Option<Phase>, String> {
    match s {
        None => Ok(None),
        Some("expand") => Ok(Some(Phase::Expand)),
        Some("contract") => Ok(Some(Phase::Contract)),
        Some(other) => Err(format!("unknown phase {other:?}")),
    }
}

/// Database integers are signed 64-bit: versions above `i64::MAX` do not fit.
pub(crate) fn db_version(version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::InvalidConfig {
        reason: format!(
            "migration version {version} does not fit the history table's 64-bit signed version column; use versions up to {}",
            i64::MAX
        ),
    })
}

pub(crate) fn db_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

pub(crate) fn from_db_ms(ms: Option<i64>) -> u64 {
    ms.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// Quotes an SQL identifier (PostgreSQL and SQLite share the rule).
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What a store reports when its history table has another layout than
/// [`LAYOUT`]; `found` is the layout it read.
pub(crate) fn unsupported_layout(found: impl fmt::Display) -> String {
    format!("history table layout {found} (this build reads layout {LAYOUT})")
}

/// `state IN ('a', 'b')` for the row states `from`.
fn state_in(from: &[RowState]) -> String {
    let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("state IN ({})", states.join(", "))
}

/// The statement that records `step` for one version of `table` (quoted):
/// whether it inserts, updates or deletes the row, the states it may start
/// from and the state it leaves all come from the ledger's table
/// ([`Step::row_change`]); `version` is the version's placeholder and
/// `columns` the dialect's other columns as `(column, value expression)`.
/// An update or delete that changes no row, or an insert that finds one,
/// is a refusal (see [`refusal`]).
pub(crate) fn record_sql(
    table: &str,
    step: Step,
    version: &str,
    columns: &[(&str, &str)],
) -> String {
    match step.row_change() {
        RowChange::Insert(to) => {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let values: Vec<&str> = columns.iter().map(|(_, v)| *v).collect();
            let sep = if columns.is_empty() { "" } else { ", " };
            format!(
                "INSERT INTO {table} (version, state{sep}{}) VALUES ({version}, '{}'{sep}{})",
                names.join(", "),
                to.as_str(),
                values.join(", ")
            )
        }
        RowChange::Update { from, to } => {
            let sets: String = columns
                .iter()
                .map(|(c, v)| format!(", {c} = {v}"))
                .collect();
            format!(
                "UPDATE {table} SET state = '{}'{sets} WHERE version = {version} AND {}",
                to.as_str(),
                state_in(from)
            )
        }
        RowChange::Delete { from } => format!(
            "DELETE FROM {table} WHERE version = {version} AND {}",
            state_in(from)
        ),
    }
}

/// `CASE WHEN state = 'applying' THEN {then} ELSE {column} END`: a column
/// that settling a step in doubt sets for an interrupted `up` and keeps for
/// an interrupted `down` (whose applied record is still there).
pub(crate) fn if_applying(then: &str, column: &str) -> String {
    format!(
        "CASE WHEN state = '{}' THEN {then} ELSE {column} END",
        RowState::Applying.as_str()
    )
}

/// The query that reads one version's state, to name it in a refusal
/// (`version`: its placeholder).
pub(crate) fn state_sql(table: &str, version: &str) -> String {
    format!("SELECT state FROM {table} WHERE version = {version}")
}

/// The refusal of `step` for `version`, whose row state column reads
/// `state` (`None`: no row); `Err` for a state this build does not know.
pub(crate) fn refusal(
    version: u64,
    step: Step,
    state: Option<&str>,
) -> std::result::Result<Refusal, String> {
    let row = match state {
        None => None,
        Some(text) => Some(RowState::parse(text).ok_or_else(|| {
            format!(
                "history row for version {version} has unknown state {text:?}; restore the row from a backup or fix it by hand"
            )
        })?),
    };
    Ok(Refusal::new(version, step, row))
}

/// A history row's checksum as the query returned it.
pub(crate) enum StoredChecksum<'a> {
    /// The column as stored: SHA-256 hex.
    Hex(&'a str),
    /// Already decoded (by the server).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Digest(Checksum),
}

/// One history row, with the columns both databases store.
pub(crate) struct StoredRow<'a> {
    pub(crate) version: i64,
    pub(crate) name: String,
    pub(crate) checksum: StoredChecksum<'a>,
    pub(crate) phase: Option<&'a str>,
    pub(crate) state: &'a str,
    pub(crate) started_at_ms: u64,
    pub(crate) applied_at_ms: u64,
    pub(crate) duration_ms: u64,
}

/// Turns history rows into a [`History`]: applied rows and steps in doubt,
/// checked the same way for every database.
#[derive(Default)]
pub(crate) struct HistoryRows {
    applied: Vec<AppliedMigration>,
    in_doubt: Vec<InDoubt>,
}

impl HistoryRows {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            applied: Vec::with_capacity(rows),
            in_doubt: Vec::new(),
        }
    }

    /// Adds one row. `Err` says why the row cannot be read (for a
    /// [`BadRow`]).
    pub(crate) fn push(&mut self, row: StoredRow<'_>) -> std::result::Result<(), String> {
        let StoredRow {
            version,
            name,
            checksum,
            phase,
            state,
            started_at_ms,
            applied_at_ms,
            duration_ms,
        } = row;
        let bad = |what: String| {
            format!(
                "history row for version {version} {what}; restore the row from a backup or fix it by hand"
            )
        };
        let version = u64::try_from(version).map_err(|_| bad("has a negative version".into()))?;
        let checksum = match checksum {
            StoredChecksum::Digest(c) => c,
            StoredChecksum::Hex(text) => text.parse().map_err(|_| {
                bad(format!(
                    "has checksum {text:?}, which is not a SHA-256 hex digest"
                ))
            })?,
        };
        let phase = parse_phase(phase).map_err(bad)?;
        let direction = match RowState::parse(state) {
            Some(RowState::Applied) => {
                self.applied.push(AppliedMigration {
                    version,
                    name,
                    checksum,
                    phase,
                    applied_at_ms,
                    duration_ms,
                });
                return Ok(());
            }
            Some(RowState::Applying) => Direction::Up,
            Some(RowState::Reverting) => Direction::Down,
            None => return Err(bad(format!("has unknown state {state:?}"))),
        };
        self.in_doubt.push(InDoubt {
            version,
            name,
            checksum,
            phase,
            direction,
            started_at_ms,
        });
        Ok(())
    }

    pub(crate) fn finish(self) -> History {
        History::new(self.applied, self.in_doubt)
    }
}

/// A history table row that this build cannot read.
#[derive(Debug)]
pub(crate) struct BadRow(pub(crate) String);

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRow {}

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
    version: u64,
    name: String,
    up: Vec<String>,
    down: Vec<String>,
    validate_up: Option<String>,
    validate_down: Option<String>,
    reversible: bool,
    transactional: bool,
    phase: Option<Phase>,
    source: String,
    /// Set by [`create_index_concurrently`](Self::create_index_concurrently).
    index: Option<ConcurrentIndex>,
}

/// A `CREATE INDEX CONCURRENTLY` step that is safe to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConcurrentIndex {
    /// The index name as a string literal (`'app.users_email_idx'`).
    literal: String,
    /// `DROP INDEX CONCURRENTLY IF EXISTS <name>`.
    drop: String,
}

impl ConcurrentIndex {
    /// Whether the index exists and is valid: `Some(true)` valid,
    /// `Some(false)` an invalid leftover, `None` absent.
    fn state_query(&self) -> String {
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

/// A database context a [`SqlMigration`] can run on: the PostgreSQL step
/// context (`PgContext`, feature `postgres`), a SQLite
/// `rusqlite::Connection` (feature `sqlite`), or `dyn SqlContext`, which
/// [`AnyStore`](crate::AnyStore) hands out whatever the database.
///
/// A migration written in Rust for any database implements
/// `Migration<AnyContext>` ([`AnyContext`](crate::AnyContext) is `dyn
/// SqlContext`) and reaches the driver through [`postgres`](Self::postgres)
/// or [`sqlite`](Self::sqlite).
///
/// Sealed: the backends of this crate implement it.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{AnyContext, BoxError, Migration};
///
/// struct Backfill;
///
/// #[engine_ops_migrate::async_trait]
/// impl Migration<AnyContext> for Backfill {
///     fn version(&self) -> u64 { 4 }
///     fn name(&self) -> &str { "backfill" }
///     fn source(&self) -> &[u8] { b"UPDATE users SET email = lower(email)" }
///     async fn up(&self, db: &mut AnyContext) -> Result<(), BoxError> {
///         if let Some(pg) = db.postgres() {
///             pg.execute("UPDATE users SET email = lower(email)", &[]).await?;
///             return Ok(());
///         }
///         db.execute_batch("UPDATE users SET email = lower(email)").await
///     }
///     async fn down(&self, _db: &mut AnyContext) -> Result<(), BoxError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait SqlContext: Send + sealed::Sealed {
    /// Sends `sql` (one or more statements) as one request.
    ///
    /// # Errors
    ///
    /// The database's error.
    async fn execute_batch(&mut self, sql: &str) -> Result<(), crate::BoxError>;

    /// Runs `query`, which returns one row with one boolean column (or NULL).
    ///
    /// # Errors
    ///
    /// The database's error, or a query that returns no row.
    async fn query_flag(&mut self, query: &str) -> Result<Option<bool>, crate::BoxError>;

    /// The PostgreSQL step context, when the migration runs on PostgreSQL.
    #[cfg(feature = "postgres")]
    fn postgres(&mut self) -> Option<&mut super::postgres::PgContext> {
        None
    }

    /// The SQLite connection, when the migration runs on SQLite.
    #[cfg(feature = "sqlite")]
    fn sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        None
    }
}

pub(crate) mod sealed {
    /// Keeps [`SqlContext`](super::SqlContext) to this crate's backends.
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for super::postgres::PgContext {}

#[cfg(feature = "postgres")]
#[async_trait::async_trait]
impl SqlContext for super::postgres::PgContext {
    async fn execute_batch(&mut self, sql: &str) -> Result<(), crate::BoxError> {
        self.batch_execute(sql).await?;
        Ok(())
    }

    async fn query_flag(&mut self, query: &str) -> Result<Option<bool>, crate::BoxError> {
        Ok(self.query_one(query, &[]).await?.try_get(0)?)
    }

    fn postgres(&mut self) -> Option<&mut super::postgres::PgContext> {
        Some(self)
    }
}

#[cfg(feature = "sqlite")]
impl sealed::Sealed for rusqlite::Connection {}

#[cfg(feature = "sqlite")]
#[async_trait::async_trait]
impl SqlContext for rusqlite::Connection {
    async fn execute_batch(&mut self, sql: &str) -> Result<(), crate::BoxError> {
        rusqlite::Connection::execute_batch(self, sql)?;
        Ok(())
    }

    async fn query_flag(&mut self, query: &str) -> Result<Option<bool>, crate::BoxError> {
        Ok(self.query_row(query, [], |r| r.get(0))?)
    }

    fn sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        Some(self)
    }
}

/// Runs a post-condition query, if there is one.
async fn check<C: SqlContext + ?Sized>(
    ctx: &mut C,
    query: Option<&str>,
) -> Result<crate::Validation, crate::BoxError> {
    let Some(query) = query else {
        return Ok(crate::Validation::NotChecked);
    };
    let holds = ctx.query_flag(query).await?;
    Ok(crate::Validation::check(
        holds == Some(true),
        format!("post-condition `{query}` returned {holds:?}"),
    ))
}

#[async_trait::async_trait]
impl<C: SqlContext + ?Sized> crate::Migration<C> for SqlMigration {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source(&self) -> &[u8] {
        self.source.as_bytes()
    }
    fn phase(&self) -> Option<Phase> {
        self.phase
    }
    fn reversible(&self) -> bool {
        self.reversible
    }
    fn transactional(&self) -> bool {
        self.transactional
    }
    fn retry_safe(&self) -> bool {
        self.index.is_some()
    }
    fn as_sql(&self) -> Option<&SqlMigration> {
        Some(self)
    }
    async fn up(&self, ctx: &mut C) -> Result<(), crate::BoxError> {
        if let Some(index) = &self.index {
            // A failed earlier attempt (or run) may have left the index
            // behind: an invalid one is dropped, a valid one kept.
            match ctx.query_flag(&index.state_query()).await? {
                Some(true) => return Ok(()),
                Some(false) => {
                    tracing::info!(version = self.version, drop = %index.drop, "dropping an invalid index left by a failed build");
                    ctx.execute_batch(&index.drop).await?;
                }
                None => {}
            }
        }
        for batch in &self.up {
            ctx.execute_batch(batch).await?;
        }
        Ok(())
    }
    async fn down(&self, ctx: &mut C) -> Result<(), crate::BoxError> {
        if !self.reversible {
            return Err(format!("migration {} ({}) has no down", self.version, self.name).into());
        }
        for batch in &self.down {
            ctx.execute_batch(batch).await?;
        }
        Ok(())
    }
    async fn validate_up(&self, ctx: &mut C) -> Result<crate::Validation, crate::BoxError> {
        check(ctx, self.validate_up.as_deref()).await
    }
    async fn validate_down(&self, ctx: &mut C) -> Result<crate::Validation, crate::BoxError> {
        check(ctx, self.validate_down.as_deref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_and_unknown_ones_are_rejected() {
        for p in [None, Some(Phase::Expand), Some(Phase::Contract)] {
            assert_eq!(parse_phase(phase_str(p)), Ok(p));
        }
        assert!(parse_phase(Some("sideways")).is_err());
    }

    fn row<'a>(
        version: i64,
        checksum: &'a str,
        phase: Option<&'a str>,
        state: &'a str,
    ) -> StoredRow<'a> {
        StoredRow {
            version,
            name: "m".into(),
            checksum: StoredChecksum::Hex(checksum),
            phase,
            state,
            started_at_ms: 5,
            applied_at_ms: 7,
            duration_ms: 2,
        }
    }

    #[test]
    fn rows_become_applied_or_in_doubt_and_bad_rows_are_named() {
        let hex = Checksum::of_source(b"m").to_hex();
        let mut rows = HistoryRows::with_capacity(3);
        rows.push(row(3, &hex, None, "reverting"))
            .expect("reverting");
        rows.push(row(1, &hex, Some("expand"), "applied"))
            .expect("applied");
        rows.push(StoredRow {
            checksum: StoredChecksum::Digest(Checksum::of_source(b"m")),
            ..row(2, "", None, "applying")
        })
        .expect("applying");
        let history = rows.finish();
        assert_eq!(history.applied.len(), 1);
        assert_eq!(history.applied[0].phase, Some(Phase::Expand));
        assert_eq!(history.applied[0].applied_at_ms, 7);
        let doubts: Vec<_> = history
            .in_doubt
            .iter()
            .map(|d| (d.version, d.direction, d.started_at_ms))
            .collect();
        assert_eq!(doubts, [(2, Direction::Up, 5), (3, Direction::Down, 5)]);

        let err = |r| HistoryRows::default().push(r).expect_err("bad row");
        assert!(err(row(-1, &hex, None, "applied")).contains("negative version"));
        assert!(err(row(4, "zz", None, "applied")).contains("version 4 has checksum \"zz\""));
        assert!(err(row(4, &hex, Some("sideways"), "applied")).contains("sideways"));
        assert!(err(row(4, &hex, None, "gone")).contains("unknown state \"gone\""));
    }

    /// Every statement rendered from the ledger's table, run on a real
    /// table from every row state: it changes the row exactly when the
    /// table admits that state, and leaves the state the table says.
    #[cfg(feature = "sqlite")]
    #[test]
    fn record_statements_do_what_the_ledger_table_says() {
        use super::super::ledger::Step;
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        conn.execute_batch("CREATE TABLE h (version INTEGER PRIMARY KEY, state TEXT NOT NULL)")
            .expect("table");
        let rows = [
            None,
            Some(RowState::Applied),
            Some(RowState::Applying),
            Some(RowState::Reverting),
        ];
        for step in Step::ALL {
            let change = step.row_change();
            let sql = record_sql("h", step, "?1", &[]);
            for row in rows {
                conn.execute("DELETE FROM h", []).expect("clear");
                if let Some(state) = row {
                    conn.execute(
                        "INSERT INTO h VALUES (1, ?1)",
                        rusqlite::params![state.as_str()],
                    )
                    .expect("seed");
                }
                let changed = conn.execute(&sql, rusqlite::params![1]).unwrap_or(0);
                assert_eq!(changed == 1, change.admits(row), "{sql} from {row:?}");
                let after: Option<String> = conn
                    .query_row(&state_sql("h", "?1"), rusqlite::params![1], |r| r.get(0))
                    .ok();
                let expected = if change.admits(row) {
                    change.result()
                } else {
                    row
                };
                assert_eq!(
                    after.as_deref().and_then(RowState::parse),
                    expected,
                    "{sql} from {row:?}"
                );
                let refused = refusal(1, step, after.as_deref()).expect("known state");
                assert_eq!(refused.version, 1);
            }
        }
    }

    #[test]
    fn record_statements_take_their_guards_from_the_ledger_table() {
        use super::super::ledger::Step;
        let sql = |step| record_sql("t", step, "$1", &[("started_at", "$2")]);
        assert_eq!(
            sql(Step::Begin(Direction::Up)),
            "INSERT INTO t (version, state, started_at) VALUES ($1, 'applying', $2)"
        );
        assert_eq!(
            sql(Step::Begin(Direction::Down)),
            "UPDATE t SET state = 'reverting', started_at = $2 WHERE version = $1 AND state IN ('applied')"
        );
        assert_eq!(
            record_sql("t", Step::Resolve(crate::Resolution::NotApplied), "$1", &[]),
            "DELETE FROM t WHERE version = $1 AND state IN ('applying', 'reverting')"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            unsupported_layout(9),
            format!("history table layout 9 (this build reads layout {LAYOUT})")
        );
    }

    #[test]
    fn versions_above_i64_are_refused() {
        assert_eq!(db_version(7).ok(), Some(7));
        assert!(matches!(
            db_version(u64::MAX),
            Err(Error::InvalidConfig { .. })
        ));
    }

    #[test]
    fn the_checksum_source_covers_every_up_batch() {
        let one = SqlMigration::new(1, "a", "SELECT 1");
        let two = one.clone().then("SELECT 2");
        assert_eq!(one.source, "SELECT 1");
        assert_eq!(two.source, "SELECT 1\nSELECT 2");
        assert_eq!(two.clone().down("x").source, two.source);
    }
}
