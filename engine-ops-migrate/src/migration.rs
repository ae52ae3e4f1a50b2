//! The [`Migration`] trait and the plain data that describes a migration.

use serde::{Deserialize, Serialize};

use crate::checksum::Checksum;
use crate::phase::Phase;
use crate::store::sql::SqlMigration;

/// The error type migrations return from `up`, `down` and the validators.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Which way a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// Applying (`up`).
    Up,
    /// Reverting (`down`).
    Down,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Up => "up",
            Self::Down => "down",
        })
    }
}

/// The answer of a post-condition check ([`Migration::validate_up`] /
/// [`Migration::validate_down`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validation {
    /// The post-condition holds: the step's effects are present (for `up`) or
    /// gone (for `down`).
    Passed,
    /// The post-condition does not hold.
    Failed {
        /// What was found instead, for the error message.
        reason: String,
    },
    /// The migration has no check. After a step this counts as passing; for
    /// a step left in doubt by a crash it means "cannot decide", so the
    /// migrator refuses to guess.
    NotChecked,
}

impl Validation {
    /// A failed check with a reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::Validation;
    ///
    /// let v = Validation::failed("column users.email is missing");
    /// assert!(matches!(v, Validation::Failed { .. }));
    /// ```
    #[must_use]
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.into(),
        }
    }

    /// [`Validation::Passed`] when `holds` is true, else a failure with `reason`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::Validation;
    ///
    /// assert_eq!(Validation::check(true, "unused"), Validation::Passed);
    /// assert_eq!(Validation::check(false, "gone"), Validation::failed("gone"));
    /// ```
    #[must_use]
    pub fn check(holds: bool, reason: impl Into<String>) -> Self {
        if holds {
            Self::Passed
        } else {
            Self::failed(reason)
        }
    }
}

/// One migration: a versioned, named, checksummed change with its inverse.
///
/// `C` is the context the state store hands to the step: for the file and
/// memory stores it is whatever the application passes in (its own handle,
/// or `()`); database backends hand in their transaction; the store
/// [`connect`](crate::connect) opens hands in
/// [`AnyContext`](crate::AnyContext) (any database). The trait is object safe, so a migrator holds
/// `Box<dyn Migration<C>>`, and a `Box` of a migration is a migration.
///
/// # Identity
///
/// [`version`](Self::version) orders migrations numerically (never as
/// strings) and must be unique. [`source`](Self::source) is the text the
/// checksum covers: the SQL a migration runs, or for a code migration the
/// bytes of its own source (for example `include_bytes!("m0003.rs")`). The
/// version, the name and the checksum are recorded when a step is applied
/// and compared on every later run, so a renamed or edited migration is
/// reported as divergent.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{BoxError, Migration, Validation};
///
/// /// Adds a key to an in-memory "schema".
/// struct AddEmail;
///
/// #[async_trait::async_trait]
/// impl Migration<Vec<String>> for AddEmail {
///     fn version(&self) -> u64 { 2 }
///     fn name(&self) -> &str { "add_email" }
///     fn source(&self) -> &[u8] { b"ALTER TABLE users ADD COLUMN email text;" }
///     async fn up(&self, schema: &mut Vec<String>) -> Result<(), BoxError> {
///         schema.push("users.email".into());
///         Ok(())
///     }
///     async fn down(&self, schema: &mut Vec<String>) -> Result<(), BoxError> {
///         schema.retain(|c| c != "users.email");
///         Ok(())
///     }
///     async fn validate_up(&self, schema: &mut Vec<String>) -> Result<Validation, BoxError> {
///         Ok(Validation::check(schema.iter().any(|c| c == "users.email"), "users.email missing"))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Migration<C: Send + ?Sized>: Send + Sync {
    /// The version; migrations run in ascending numeric order.
    fn version(&self) -> u64;

    /// A short human name, recorded and compared with the version.
    fn name(&self) -> &str;

    /// The bytes the checksum covers (CRLF is normalised to LF).
    fn source(&self) -> &[u8];

    /// The expand / contract phase, if the migration declares one.
    fn phase(&self) -> Option<Phase> {
        None
    }

    /// Whether `down` can undo `up`. Irreversible migrations return `false`
    /// (their `down` is then never called); a rollback that would cross one
    /// is refused before anything runs.
    fn reversible(&self) -> bool {
        true
    }

    /// Whether the step may run inside a backend transaction (default
    /// `true`). Database backends run a transactional step, its validation
    /// and its history record in one transaction; a non-transactional step
    /// (for statements such as `CREATE INDEX CONCURRENTLY`) gets an intent
    /// record first and a completion record after, like every step of the
    /// file store.
    fn transactional(&self) -> bool {
        true
    }

    /// Whether `up` may run again after an attempt of a non-transactional
    /// step failed on a lock timeout (default `false`): it cleans up what
    /// a failed attempt left, as the
    /// [`create_index_concurrently`](crate::SqlMigration::create_index_concurrently)
    /// helper does. A transactional step is always retried (its
    /// transaction is rolled back first), whatever this says.
    fn retry_safe(&self) -> bool {
        false
    }

    /// The SQL migration this is, if it is one: the linter and
    /// `lint::LintPolicy` (feature `lint`) check it.
    fn as_sql(&self) -> Option<&SqlMigration> {
        None
    }

    /// Applies the change.
    ///
    /// # Errors
    ///
    /// Any error stops the run; the migrator then undoes the step (the
    /// backend's transaction, or `down`) and reports this error as the cause.
    async fn up(&self, ctx: &mut C) -> Result<(), BoxError>;

    /// Undoes the change. Irreversible migrations also set
    /// [`reversible`](Self::reversible) to `false` and return an error here.
    ///
    /// # Errors
    ///
    /// Any error stops the rollback and is reported as its cause.
    async fn down(&self, ctx: &mut C) -> Result<(), BoxError>;

    /// Checks that the effects of `up` are present. Runs after `up`, before
    /// the step is recorded, and decides steps left in doubt by a crash
    /// (see [`Migrator`](crate::Migrator)). Defaults to
    /// [`Validation::NotChecked`].
    ///
    /// # Errors
    ///
    /// An error counts as a failed check after `up`; for a step in doubt it
    /// stops the run.
    async fn validate_up(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        let _ = ctx;
        Ok(Validation::NotChecked)
    }

    /// Checks that the effects of `up` are gone. Runs after `down`, before
    /// the revert is recorded. Defaults to [`Validation::NotChecked`].
    ///
    /// # Errors
    ///
    /// An error counts as a failed check.
    async fn validate_down(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        let _ = ctx;
        Ok(Validation::NotChecked)
    }
}

/// A boxed migration is a migration, so
/// [`MigratorBuilder::migrations`](crate::MigratorBuilder::migrations) takes
/// `Box<dyn Migration<C>>`s and plain migrations alike.
#[async_trait::async_trait]
impl<C: Send + ?Sized, M: Migration<C> + ?Sized> Migration<C> for Box<M> {
    fn version(&self) -> u64 {
        (**self).version()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn source(&self) -> &[u8] {
        (**self).source()
    }
    fn phase(&self) -> Option<Phase> {
        (**self).phase()
    }
    fn reversible(&self) -> bool {
        (**self).reversible()
    }
    fn transactional(&self) -> bool {
        (**self).transactional()
    }
    fn retry_safe(&self) -> bool {
        (**self).retry_safe()
    }
    fn as_sql(&self) -> Option<&SqlMigration> {
        (**self).as_sql()
    }
    async fn up(&self, ctx: &mut C) -> Result<(), BoxError> {
        (**self).up(ctx).await
    }
    async fn down(&self, ctx: &mut C) -> Result<(), BoxError> {
        (**self).down(ctx).await
    }
    async fn validate_up(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        (**self).validate_up(ctx).await
    }
    async fn validate_down(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        (**self).validate_down(ctx).await
    }
}

/// The declared facts about a migration that the pure [`plan()`](crate::plan())
/// needs: everything except the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MigrationInfo {
    /// Version (unique, ordered numerically).
    pub version: u64,
    /// Name.
    pub name: String,
    /// Checksum of the source.
    pub checksum: Checksum,
    /// Phase, if declared.
    pub phase: Option<Phase>,
    /// Whether `down` undoes `up`.
    pub reversible: bool,
    /// Whether the step may run inside a backend transaction.
    pub transactional: bool,
}

impl MigrationInfo {
    /// Describes a migration from its parts, hashing `source`.
    ///
    /// Reversible and transactional default to `true`; see the `with_*`
    /// methods.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{Checksum, MigrationInfo};
    ///
    /// let info = MigrationInfo::new(1, "create_users", b"CREATE TABLE users ();");
    /// assert_eq!(info.checksum, Checksum::of_source(b"CREATE TABLE users ();"));
    /// ```
    #[must_use]
    pub fn new(version: u64, name: impl Into<String>, source: &[u8]) -> Self {
        Self {
            version,
            name: name.into(),
            checksum: Checksum::of_source(source),
            phase: None,
            reversible: true,
            transactional: true,
        }
    }

    /// Describes a [`Migration`], hashing its source.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{BoxError, Migration, MigrationInfo};
    /// # struct M;
    /// # #[async_trait::async_trait]
    /// # impl Migration<()> for M {
    /// #     fn version(&self) -> u64 { 7 }
    /// #     fn name(&self) -> &str { "m" }
    /// #     fn source(&self) -> &[u8] { b"m" }
    /// #     async fn up(&self, _: &mut ()) -> Result<(), BoxError> { Ok(()) }
    /// #     async fn down(&self, _: &mut ()) -> Result<(), BoxError> { Ok(()) }
    /// # }
    /// let info = MigrationInfo::of(&M);
    /// assert_eq!(info.version, 7);
    /// ```
    #[must_use]
    pub fn of<C: Send + ?Sized>(migration: &(impl Migration<C> + ?Sized)) -> Self {
        Self {
            version: migration.version(),
            name: migration.name().to_owned(),
            checksum: Checksum::of_source(migration.source()),
            phase: migration.phase(),
            reversible: migration.reversible(),
            transactional: migration.transactional(),
        }
    }

    /// Sets the phase.
    #[must_use]
    pub fn with_phase(mut self, phase: Option<Phase>) -> Self {
        self.phase = phase;
        self
    }

    /// Marks the migration (ir)reversible.
    #[must_use]
    pub fn with_reversible(mut self, reversible: bool) -> Self {
        self.reversible = reversible;
        self
    }

    /// Marks the migration (non-)transactional.
    #[must_use]
    pub fn with_transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }
}
