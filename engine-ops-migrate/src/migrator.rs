//! The [`Migrator`]: runs, reverts, checks and reports migrations on a
//! [`StateStore`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::phase::PhaseRun;
use crate::report::{
    MigrationState, ResolvedStep, RollbackReport, RunReport, StatusEntry, StatusReport, StepReport,
    VerifyReport,
};
use crate::store::ledger::{Ledger, Transition};
use crate::{
    BoxError, Direction, Error, History, InDoubt, LockAttempt, LockProbe, Migration, MigrationInfo,
    OldVersionGone, Plan, Resolution, ResolvedBy, Result, StateStore, StepIntent, Validation,
};

/// What happens to the earlier steps of a run when a step fails.
///
/// The failed step itself is always undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RollbackPolicy {
    /// Undo only the failed step; steps applied earlier in the run stay
    /// applied (the default).
    #[default]
    FailedStep,
    /// Undo the failed step, then revert every step applied earlier in the
    /// same run, newest first. A run under this policy refuses to start if
    /// one of its steps is irreversible.
    WholeRun,
}

/// How far a [`Migrator::rollback`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rollback {
    /// Revert the last `n` applied migrations (highest versions first).
    Last(usize),
    /// Revert every applied migration above this version, newest first.
    To(u64),
}

/// A progress event, sent to the [`Observer`] and to `tracing`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// A step is about to run.
    Started {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
    },
    /// A step finished and was recorded.
    Finished {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
        /// Time in the migration and its validator.
        duration: Duration,
    },
    /// A step failed (it is undone next, if it can be).
    Failed {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
        /// The failure.
        error: String,
    },
    /// An attempt of a step gave up waiting for a lock and was rolled
    /// back; [`LockAttempt::pause_ms`] says when the next one starts (none:
    /// the schedule is exhausted and the step fails).
    LockTimeout {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
        /// The attempt: its lock timeout, wait, SQLSTATE and blockers.
        attempt: LockAttempt,
    },
    /// A step in doubt was settled.
    Resolved(ResolvedStep),
}

/// Receives [`Progress`] events; any `Fn(&Progress) + Send + Sync` is one.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{MemoryStore, Migrator, Progress};
///
/// let migrator = Migrator::<MemoryStore>::builder(MemoryStore::new())
///     .observer(|event: &Progress| {
///         if let Progress::Finished { version, name, duration, .. } = event {
///             println!("{version} {name} {duration:?}");
///         }
///     })
///     .build();
/// assert!(migrator.is_ok());
/// ```
pub trait Observer: Send + Sync {
    /// Called for each event, in order.
    fn on_progress(&self, event: &Progress);
}

impl<F: Fn(&Progress) + Send + Sync> Observer for F {
    fn on_progress(&self, event: &Progress) {
        self(event);
    }
}

#[derive(Debug, Clone, Default)]
struct Options {
    #[cfg(feature = "lint")]
    lint_policy: crate::lint::LintPolicy,
    policy: RollbackPolicy,
    contract_needs_proof: bool,
    allow_out_of_order: bool,
    allow_missing: BTreeSet<u64>,
    allow_divergent: BTreeSet<u64>,
}

type BoxedMigration<C> = Box<dyn Migration<C>>;

/// Builds a [`Migrator`]; see [`Migrator::builder`].
#[must_use = "call build() to get a Migrator"]
pub struct MigratorBuilder<S: StateStore> {
    store: S,
    migrations: Vec<BoxedMigration<S::Context>>,
    options: Options,
    observer: Option<Arc<dyn Observer>>,
}

impl<S: StateStore + fmt::Debug> fmt::Debug for MigratorBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigratorBuilder")
            .field("store", &self.store)
            .field("migrations", &self.migrations.len())
            .field("options", &self.options)
            .finish()
    }
}

impl<S: StateStore> MigratorBuilder<S> {
    /// Adds a migration.
    pub fn migration(mut self, migration: impl Migration<S::Context> + 'static) -> Self {
        self.migrations.push(Box::new(migration));
        self
    }

    /// Adds migrations: boxed ones (`Box<dyn Migration<_>>`) or plain ones,
    /// such as the `SqlMigration`s of [`embed!`](crate::embed) or
    /// [`load_dir`](crate::load_dir).
    pub fn migrations<M: Migration<S::Context> + 'static>(
        mut self,
        migrations: impl IntoIterator<Item = M>,
    ) -> Self {
        self.migrations.extend(
            migrations
                .into_iter()
                .map(|m| Box::new(m) as BoxedMigration<S::Context>),
        );
        self
    }

    /// Sets what a failed step undoes (default [`RollbackPolicy::FailedStep`]).
    pub fn rollback_policy(mut self, policy: RollbackPolicy) -> Self {
        self.options.policy = policy;
        self
    }

    /// Applies migrations declared below the highest applied version instead
    /// of refusing to run (default `false`).
    pub fn allow_out_of_order(mut self, allow: bool) -> Self {
        self.options.allow_out_of_order = allow;
        self
    }

    /// Lets runs proceed although `version` is applied but no longer
    /// declared (for example after deploying an older build).
    pub fn allow_missing(mut self, version: u64) -> Self {
        self.options.allow_missing.insert(version);
        self
    }

    /// Lets runs proceed although the applied migration `version` changed
    /// since it was applied.
    ///
    /// # Warning
    ///
    /// The store then records one source while the code holds another;
    /// prefer restoring the source or adding a new migration.
    pub fn dangerous_allow_divergent(mut self, version: u64) -> Self {
        self.options.allow_divergent.insert(version);
        self
    }

    /// Makes [`run`](Migrator::run) and [`run_to`](Migrator::run_to)
    /// refuse, before anything runs, when a contract migration is pending
    /// in their range ([`Error::ContractNeedsProof`]), so that only
    /// [`run_contract`](Migrator::run_contract), with its proof, applies
    /// one (default `false`: `run` ignores phases).
    pub fn require_contract_proof(mut self, require: bool) -> Self {
        self.options.contract_needs_proof = require;
        self
    }

    /// Sets what [`run`](Migrator::run) (and every run) does with the
    /// linter's findings on the SQL migrations about to run (feature
    /// `lint`; default [`Off`](crate::lint::LintPolicy::Off)). The
    /// migrations are linted once, when the migrator is built.
    #[cfg(feature = "lint")]
    pub fn lint_policy(mut self, policy: crate::lint::LintPolicy) -> Self {
        self.options.lint_policy = policy;
        self
    }

    /// Sends progress events to `observer`.
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Checks the declared migrations and builds the migrator.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] when two migrations share a version.
    pub fn build(mut self) -> Result<Migrator<S>> {
        self.migrations.sort_by_key(|m| m.version());
        for pair in self.migrations.windows(2) {
            if pair[0].version() == pair[1].version() {
                return Err(Error::Duplicate {
                    version: pair[0].version(),
                    first: pair[0].name().to_owned(),
                    second: pair[1].name().to_owned(),
                });
            }
        }
        // Migrations are immutable from here on: hash every source once.
        let infos = self
            .migrations
            .iter()
            .map(|m| MigrationInfo::of(&**m))
            .collect();
        #[cfg(feature = "lint")]
        let lint = (self.options.lint_policy != crate::lint::LintPolicy::Off)
            .then(|| lint_migrations(&self.migrations));
        Ok(Migrator {
            store: self.store,
            migrations: self.migrations,
            infos,
            options: self.options,
            observer: self.observer,
            #[cfg(feature = "lint")]
            lint,
        })
    }
}

/// Runs migrations against a [`StateStore`].
///
/// # Operations
///
/// | method | lock | changes the store |
/// |---|---|---|
/// | [`run`](Self::run) / [`run_to`](Self::run_to) | whole run | yes |
/// | [`rollback`](Self::rollback) | whole rollback | yes |
/// | [`resolve`](Self::resolve) | yes | yes |
/// | [`status`](Self::status), [`verify`](Self::verify) | no (probed, without waiting, when a step is unfinished) | never |
/// | [`plan`](Self::plan) | no | never |
///
/// # Refusals
///
/// `run` refuses, before running anything, when the store has divergent
/// migrations (changed name or source), missing ones (applied, no longer
/// declared), out-of-order ones (never applied, below the highest applied)
/// or duplicate records, unless the builder opted in for that version. The
/// error names the migration and the way out. A refused run or rollback
/// writes nothing, not even the settlement of a step in doubt (below): it
/// is checked as if its steps in doubt were settled first.
///
/// # Steps in doubt
///
/// A crash between a step's intent record and its completion (possible on
/// stores without transactions, and for non-transactional steps on
/// databases) leaves the step *in doubt*. `status` and `verify` show it
/// (as *running* instead while another migrator holds the lock).
/// `run` and `rollback` first try to settle it with the migration's own
/// validators:
///
/// - interrupted `up`: `validate_up` [`Passed`](Validation::Passed) → the
///   step is recorded as applied and not run again;
///   [`Failed`](Validation::Failed) → it is recorded as not applied and, for
///   `run`, applied again from the start (its `down` is **not** called
///   first: `validate_up` said the effects are not there, so a migration
///   whose `up` can stop half-way must either detect partial effects in
///   `validate_up` or make `up` idempotent);
/// - interrupted `down`: `validate_down` passed → recorded as reverted;
///   else `validate_up` passed → still applied;
/// - anything else ([`NotChecked`](Validation::NotChecked), an error, a
///   migration no longer declared): the operation stops with
///   [`Error::InDoubt`] and nothing runs until an operator calls
///   [`resolve`](Self::resolve).
///
/// # Failed steps
///
/// When `up` returns an error or `validate_up` fails, the step is undone: by
/// the store's transaction where it has one for the step, otherwise by the
/// migration's `down` (then `validate_down`). The run then stops with
/// [`Error::StepFailed`], which names the migration and carries the cause.
/// If the step cannot be undone (irreversible, or `down` fails too) it is
/// left in doubt and the error is [`Error::UndoFailed`]. With
/// [`RollbackPolicy::WholeRun`] the steps applied earlier in the run are
/// then reverted too, newest first.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{BoxError, MemoryStore, Migration, Migrator};
///
/// struct CreateUsers;
///
/// #[async_trait::async_trait]
/// impl Migration<Vec<&'static str>> for CreateUsers {
///     fn version(&self) -> u64 { 1 }
///     fn name(&self) -> &str { "create_users" }
///     fn source(&self) -> &[u8] { b"CREATE TABLE users (id bigint primary key);" }
///     async fn up(&self, db: &mut Vec<&'static str>) -> Result<(), BoxError> {
///         db.push("users");
///         Ok(())
///     }
///     async fn down(&self, db: &mut Vec<&'static str>) -> Result<(), BoxError> {
///         db.retain(|t| *t != "users");
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut migrator = Migrator::builder(MemoryStore::with_context(Vec::new()))
///     .migration(CreateUsers)
///     .build()?;
/// let report = migrator.run().await?;
/// assert_eq!(report.applied.len(), 1);
/// assert_eq!(migrator.store().context_ref(), &["users"]);
/// assert!(migrator.run().await?.applied.is_empty()); // idempotent
/// # Ok::<_, engine_ops_migrate::Error>(())
/// # }).unwrap();
/// ```
pub struct Migrator<S: StateStore> {
    store: S,
    migrations: Vec<BoxedMigration<S::Context>>,
    /// Checksummed descriptions of `migrations` (same order), computed once
    /// by [`MigratorBuilder::build`]: migrations cannot change afterwards.
    infos: Vec<MigrationInfo>,
    options: Options,
    observer: Option<Arc<dyn Observer>>,
    /// The linter's report on the SQL migrations (with a lint policy).
    #[cfg(feature = "lint")]
    lint: Option<crate::lint::LintReport>,
}

impl<S: StateStore + fmt::Debug> fmt::Debug for Migrator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("store", &self.store)
            .field("migrations", &self.migrations.len())
            .field("options", &self.options)
            .finish()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sends `event` to `tracing` and the observer.
fn emit_to(observer: Option<&Arc<dyn Observer>>, event: Progress) {
    match &event {
        Progress::Started {
            version,
            name,
            direction,
        } => {
            tracing::debug!(version, name = %name, %direction, "migration step started");
        }
        Progress::Finished {
            version,
            name,
            direction,
            duration,
        } => {
            tracing::info!(version, name = %name, %direction, duration_ms = millis(*duration), "migration step finished");
        }
        Progress::Failed {
            version,
            name,
            direction,
            error,
        } => {
            tracing::warn!(version, name = %name, %direction, error = %error, "migration step failed");
        }
        Progress::LockTimeout {
            version,
            name,
            direction,
            attempt,
        } => {
            tracing::warn!(
                version,
                name = %name,
                %direction,
                attempt = attempt.attempt,
                lock_timeout_ms = attempt.lock_timeout_ms,
                waited_ms = attempt.waited_ms,
                sqlstate = %attempt.sqlstate,
                blockers = ?attempt.blockers.iter().map(|b| b.pid).collect::<Vec<_>>(),
                pause_ms = attempt.pause_ms,
                "migration step gave up waiting for a lock: {attempt}"
            );
        }
        Progress::Resolved(r) => {
            tracing::info!(version = r.version, name = %r.name, resolution = ?r.resolution, by = ?r.by, "in-doubt step settled");
        }
    }
    if let Some(observer) = observer {
        observer.on_progress(&event);
    }
}

/// The linter's report on the SQL migrations among `migrations`.
#[cfg(feature = "lint")]
fn lint_migrations<C: Send + ?Sized>(migrations: &[BoxedMigration<C>]) -> crate::lint::LintReport {
    let sql: Vec<crate::SqlMigration> = migrations
        .iter()
        .filter_map(|m| m.as_sql().cloned())
        .collect();
    crate::lint::lint(&sql)
}

/// Runs the step's body and its validator; `Err` is the failure cause.
async fn run_checked<C: Send + ?Sized>(
    migration: &dyn Migration<C>,
    ctx: &mut C,
    direction: Direction,
) -> std::result::Result<(), BoxError> {
    let check = match direction {
        Direction::Up => {
            migration.up(ctx).await?;
            migration.validate_up(ctx).await?
        }
        Direction::Down => {
            migration.down(ctx).await?;
            migration.validate_down(ctx).await?
        }
    };
    match check {
        Validation::Passed | Validation::NotChecked => Ok(()),
        Validation::Failed { reason } => {
            Err(format!("validate_{direction} failed: {reason}").into())
        }
    }
}

impl<S: StateStore> Migrator<S> {
    /// Starts building a migrator over `store`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{MemoryStore, Migrator, RollbackPolicy};
    ///
    /// let migrator = Migrator::builder(MemoryStore::new())
    ///     .rollback_policy(RollbackPolicy::WholeRun)
    ///     .build()
    ///     .expect("no duplicate versions");
    /// # let _ = migrator;
    /// ```
    pub fn builder(store: S) -> MigratorBuilder<S> {
        MigratorBuilder {
            store,
            migrations: Vec::new(),
            options: Options::default(),
            observer: None,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (for example to reach its context).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Takes the store back.
    #[must_use]
    pub fn into_store(self) -> S {
        self.store
    }

    /// The declared migrations, ascending by version, with the checksums
    /// of their sources computed once when the migrator was built.
    #[must_use]
    pub fn declared(&self) -> &[MigrationInfo] {
        &self.infos
    }

    fn emit(&self, event: Progress) {
        emit_to(self.observer.as_ref(), event);
    }

    fn index_of(&self, version: u64) -> Option<usize> {
        self.migrations
            .binary_search_by_key(&version, |m| m.version())
            .ok()
    }

    /// Loads the history and plans against the declared migrations.
    async fn load_plan(&mut self) -> Result<Plan> {
        let history = self.store.load().await?;
        Ok(crate::plan::plan_owned(&self.infos, history))
    }

    /// [`load_plan`](Self::load_plan) for readers, which take no lock: tells
    /// steps that are running (another migrator holds the lock) from steps
    /// a crash left in doubt. Returns the plan and, when its unfinished
    /// steps are running, who holds the lock.
    ///
    /// A step is in doubt only if the lock was free after it was read and
    /// it was still unfinished, unchanged, when read again: a migrator that
    /// took the lock in between would have settled or finished it.
    async fn observe(&mut self) -> Result<(Plan, Option<String>)> {
        let mut plan = self.load_plan().await?;
        for _ in 0..3 {
            if plan.in_doubt.is_empty() {
                return Ok((plan, None));
            }
            match self.store.probe_lock().await? {
                LockProbe::Held { holder } => return Ok((plan, Some(holder))),
                LockProbe::Free => {
                    let again = self.load_plan().await?;
                    if again.in_doubt == plan.in_doubt {
                        return Ok((again, None));
                    }
                    // Changed under us: a migrator came and went; look again.
                    plan = again;
                }
                _ => return Ok((plan, None)),
            }
        }
        Ok((
            plan,
            Some("another migrator (the history changed while it was read)".into()),
        ))
    }

    /// Applies every pending migration, in version order.
    ///
    /// # Errors
    ///
    /// See the [type docs](Self): refusals ([`Error::Divergent`],
    /// [`Error::Missing`], [`Error::OutOfOrder`], [`Error::InDoubt`],
    /// [`Error::DuplicateRecord`]), failed steps ([`Error::StepFailed`],
    /// [`Error::UndoFailed`]), [`Error::LockTimeout`] and store errors.
    ///
    /// # Examples
    ///
    /// See [`Migrator`].
    pub async fn run(&mut self) -> Result<RunReport> {
        let all = PhaseRun::All {
            contract_needs_proof: self.options.contract_needs_proof,
        };
        self.run_inner(None, all, None).await
    }

    /// Applies the pending expand migrations ([`Phase::Expand`](crate::Phase::Expand)
    /// and migrations without a phase), in order, up to the first pending
    /// contract migration: what may run while the previous application
    /// version still serves, before a rollout.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{MemoryStore, Migrator, OldVersionGone, Phase, SqlMigration};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # #[cfg(feature = "sqlite")] {
    /// let mut migrator = Migrator::builder(engine_ops_migrate::SqliteStore::builder(":memory:").open()?)
    ///     .migration(SqlMigration::new(1, "users", "CREATE TABLE users (id int, name text)"))
    ///     .migration(SqlMigration::new(2, "add_full_name", "ALTER TABLE users ADD COLUMN full_name text").phase(Phase::Expand))
    ///     .migration(SqlMigration::new(3, "drop_name", "ALTER TABLE users DROP COLUMN name").phase(Phase::Contract))
    ///     .require_contract_proof(true)
    ///     .build()?;
    /// // Before the rollout: everything up to the contract migration.
    /// assert_eq!(migrator.run_expand().await?.applied.len(), 2);
    /// // `run` would apply the contract migration: refused.
    /// assert!(migrator.run().await.is_err());
    /// // After the rollout, with what it observed:
    /// let gone = OldVersionGone::attest("app v1", "rollout app: v2 promoted, v1 track scaled to 0");
    /// let report = migrator.run_contract(gone).await?;
    /// assert_eq!(report.applied[0].version, 3);
    /// # }
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn run_expand(&mut self) -> Result<RunReport> {
        self.run_inner(None, PhaseRun::Expand, None).await
    }

    /// Applies the pending contract migrations ([`Phase::Contract`](crate::Phase::Contract)),
    /// in order, up to the next pending expand migration, once the caller
    /// proves that the previous application version is gone. The proof is
    /// logged and returned in the report.
    ///
    /// # Errors
    ///
    /// [`Error::ExpandPending`] (before anything runs) when an expand
    /// migration is pending before them; otherwise as [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// See [`run_expand`](Self::run_expand).
    pub async fn run_contract(&mut self, proof: OldVersionGone) -> Result<RunReport> {
        tracing::info!(old_version = %proof.old_version(), evidence = %proof.evidence(), "contract run: the old version is gone");
        self.run_inner(None, PhaseRun::Contract, Some(proof)).await
    }

    /// Applies pending migrations up to and including `target`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownVersion`] (before the lock is taken) when no
    /// declared migration has version `target`; otherwise as
    /// [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{BoxError, Error, MemoryStore, Migration, Migrator};
    /// # struct Step(u64);
    /// # #[async_trait::async_trait]
    /// # impl Migration<()> for Step {
    /// #     fn version(&self) -> u64 { self.0 }
    /// #     fn name(&self) -> &str { "step" }
    /// #     fn source(&self) -> &[u8] { b"step" }
    /// #     async fn up(&self, _: &mut ()) -> Result<(), BoxError> { Ok(()) }
    /// #     async fn down(&self, _: &mut ()) -> Result<(), BoxError> { Ok(()) }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut migrator = Migrator::builder(MemoryStore::new())
    ///     .migrations((1..=4).map(|v| Box::new(Step(v)) as Box<dyn Migration<()>>))
    ///     .build()?;
    /// let report = migrator.run_to(3).await?;
    /// assert_eq!((report.applied.len(), report.still_pending), (3, 1));
    /// // A version no migration has is refused before anything runs.
    /// let err = migrator.run_to(7).await.unwrap_err();
    /// assert!(matches!(err, Error::UnknownVersion { version: 7, .. }));
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn run_to(&mut self, target: u64) -> Result<RunReport> {
        let all = PhaseRun::All {
            contract_needs_proof: self.options.contract_needs_proof,
        };
        self.run_inner(Some(target), all, None).await
    }

    async fn run_inner(
        &mut self,
        target: Option<u64>,
        phase: PhaseRun,
        proof: Option<OldVersionGone>,
    ) -> Result<RunReport> {
        if let Some(t) = target
            && self.index_of(t).is_none()
        {
            return Err(self.unknown_version(t));
        }
        let started = Instant::now();
        self.store.lock().await?;
        let result = self.run_locked(target, &phase, started).await;
        let unlocked = self.store.unlock().await;
        let mut report = result?;
        unlocked?;
        report.contract_proof = proof;
        Ok(report)
    }

    fn refuse(&self, plan: &Plan) -> Result<()> {
        if let Some(d) = plan.duplicates.first() {
            return Err(Error::DuplicateRecord { version: d.version });
        }
        if let Some(d) = plan
            .divergent
            .iter()
            .find(|d| !self.options.allow_divergent.contains(&d.version))
        {
            return Err(Error::Divergent {
                version: d.version,
                declared_name: d.declared_name.clone(),
                recorded_name: d.recorded_name.clone(),
                declared_checksum: d.declared_checksum,
                recorded_checksum: d.recorded_checksum,
            });
        }
        if let Some(m) = plan
            .missing
            .iter()
            .find(|m| !self.options.allow_missing.contains(&m.version))
        {
            return Err(Error::Missing {
                version: m.version,
                name: m.name.clone(),
            });
        }
        Ok(())
    }

    /// Applies the lint policy to the migrations about to run. Pure.
    #[cfg(feature = "lint")]
    fn check_lint(&self, versions: impl Iterator<Item = u64>) -> Result<()> {
        use crate::lint::{LintPolicy, Severity};
        let Some(report) = &self.lint else {
            return Ok(());
        };
        for version in versions {
            let Some(m) = report.migration(version) else {
                continue;
            };
            match self.options.lint_policy {
                LintPolicy::Deny if m.has_errors() => {
                    let errors: Vec<String> = m
                        .findings
                        .iter()
                        .filter(|f| f.severity == Severity::Error)
                        .map(|f| format!("{} on line {} ({})", f.rule, f.line, f.message))
                        .collect();
                    return Err(Error::LintRefused {
                        version,
                        name: m.name.clone(),
                        findings: errors.join("; "),
                    });
                }
                LintPolicy::Off => {}
                _ => {
                    for f in &m.findings {
                        tracing::warn!(version, rule = %f.rule, line = f.line, "lint: {}", f.message);
                    }
                }
            }
        }
        Ok(())
    }

    /// The linter's report on the declared SQL migrations (feature
    /// `lint`; pure, no database); see [`lint`](crate::lint).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{MemoryStore, Migrator, SqlMigration};
    ///
    /// let migrator = Migrator::builder(MemoryStore::<engine_ops_migrate::NoDatabase>::with_context(Default::default()))
    ///     .migration(SqlMigration::new(1, "rename", "ALTER TABLE users RENAME COLUMN name TO full_name"))
    ///     .build()?;
    /// assert!(migrator.lint().has_errors());
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// ```
    #[cfg(feature = "lint")]
    #[must_use]
    pub fn lint(&self) -> crate::lint::LintReport {
        match &self.lint {
            Some(report) => report.clone(),
            None => lint_migrations(&self.migrations),
        }
    }

    /// [`Error::UnknownVersion`] for `version`.
    fn unknown_version(&self, version: u64) -> Error {
        Error::UnknownVersion {
            version,
            lowest: self.infos.first().map(|i| i.version),
            highest: self.infos.last().map(|i| i.version),
        }
    }

    /// The steps a run executes, in order, or why it may not start: the
    /// checks that depend on what is applied (out of order, a `WholeRun`
    /// over an irreversible step). Pure.
    fn check_run(
        &self,
        plan: Plan,
        target: Option<u64>,
        phase: &PhaseRun,
    ) -> Result<(Plan, Vec<usize>)> {
        let mut plan = plan;
        if self.options.allow_out_of_order {
            plan = plan.allow_out_of_order();
        } else if let Some(m) = plan.out_of_order.first() {
            return Err(Error::OutOfOrder {
                version: m.version,
                name: m.name.clone(),
                highest_applied: plan.highest_applied().unwrap_or(0),
            });
        }
        if let Some(t) = target {
            plan = plan.with_target(t);
        }
        let pending: Vec<(u64, &str, Option<crate::Phase>)> = plan
            .pending
            .iter()
            .map(|m| (m.version, m.name.as_str(), m.phase))
            .collect();
        let take = crate::phase::select(&pending, phase)?;
        #[cfg(feature = "lint")]
        self.check_lint(plan.pending.iter().take(take).map(|m| m.version))?;
        let steps: Vec<usize> = plan
            .pending
            .iter()
            .take(take)
            .filter_map(|m| self.index_of(m.version))
            .collect();
        if self.options.policy == RollbackPolicy::WholeRun
            && let Some(&i) = steps.iter().find(|&&i| !self.migrations[i].reversible())
        {
            let m = &self.migrations[i];
            return Err(Error::InvalidConfig {
                reason: format!(
                    "RollbackPolicy::WholeRun needs every step of the run to be reversible, but migration {} ({}) is not; use RollbackPolicy::FailedStep or run up to {} first",
                    m.version(),
                    m.name(),
                    m.version()
                ),
            });
        }
        Ok((plan, steps))
    }

    async fn run_locked(
        &mut self,
        target: Option<u64>,
        phase: &PhaseRun,
        started: Instant,
    ) -> Result<RunReport> {
        let history = self.store.load().await?;
        // Kept only when steps in doubt may be settled (the usual history
        // is moved into the plan, not copied).
        let kept = (!history.in_doubt.is_empty()).then(|| history.clone());
        let first = crate::plan::plan_owned(&self.infos, history);
        self.refuse(&first)?;
        // Decide the steps in doubt, and check the run as if they were
        // settled, before anything is written: a refused run writes nothing.
        let decisions = self.decide_in_doubt(&first).await?;
        if decisions.is_empty() {
            let (plan, steps) = self.check_run(first, target, phase)?;
            return self
                .run_steps(plan, steps, Vec::new(), target, started)
                .await;
        }
        self.check_run(
            self.settled_plan(kept.unwrap_or_default(), &decisions),
            target,
            phase,
        )?;
        let resolved = self.record_decisions(decisions).await?;
        let settled = self.load_plan().await?;
        let (plan, steps) = self.check_run(settled, target, phase)?;
        self.run_steps(plan, steps, resolved, target, started).await
    }

    async fn run_steps(
        &mut self,
        plan: Plan,
        steps: Vec<usize>,
        resolved: Vec<ResolvedStep>,
        target: Option<u64>,
        started: Instant,
    ) -> Result<RunReport> {
        let mut applied: Vec<StepReport> = Vec::with_capacity(steps.len());
        for &i in &steps {
            match self.execute(i, Direction::Up).await {
                Ok(step) => applied.push(step),
                Err(err) => return Err(self.after_failure(err, &applied).await),
            }
        }
        Ok(RunReport {
            store: self.store.describe(),
            target,
            resolved,
            applied,
            still_pending: plan.above_target.len() + plan.pending.len() - steps.len(),
            contract_proof: None,
            duration_ms: millis(started.elapsed()),
        })
    }

    /// Applies the [`RollbackPolicy`] after a failed step.
    async fn after_failure(&mut self, err: Error, applied: &[StepReport]) -> Error {
        if self.options.policy != RollbackPolicy::WholeRun || applied.is_empty() {
            return err;
        }
        let Error::StepFailed {
            version,
            name,
            direction,
            undone,
            source,
        } = err
        else {
            return err;
        };
        let mut reverted = Vec::new();
        for step in applied.iter().rev() {
            let Some(i) = self.index_of(step.version) else {
                break;
            };
            match self.execute(i, Direction::Down).await {
                Ok(_) => reverted.push(step.version.to_string()),
                Err(revert_err) => {
                    return Error::StepFailed {
                        version,
                        name,
                        direction,
                        undone: format!(
                            "{undone}; reverting the run stopped after {} step(s) because: {revert_err}",
                            reverted.len()
                        ),
                        source,
                    };
                }
            }
        }
        Error::StepFailed {
            version,
            name,
            direction,
            undone: format!(
                "{undone}; the whole run was rolled back (reverted {})",
                reverted.join(", ")
            ),
            source,
        }
    }

    /// Runs one step through the store protocol (see [`StateStore`]).
    async fn execute(&mut self, i: usize, direction: Direction) -> Result<StepReport> {
        let info = match self.infos.get(i) {
            Some(info) if info.version == self.migrations[i].version() => info.clone(),
            _ => MigrationInfo::of(&*self.migrations[i]),
        };
        let intent = StepIntent::new(&info, direction, now_ms());
        self.emit(Progress::Started {
            version: info.version,
            name: info.name.clone(),
            direction,
        });
        let Self {
            store,
            migrations,
            observer,
            ..
        } = self;
        let migration: &dyn Migration<S::Context> = &*migrations[i];
        store.begin(&intent).await?;
        let clock = Instant::now();
        // Attempts that gave up waiting for a lock; the store rolls each
        // back and sets up the next (see StateStore::retry_step).
        let mut lock_retries: Vec<LockAttempt> = Vec::new();
        let mut exhausted = false;
        let outcome = loop {
            let attempt_clock = Instant::now();
            let Err(cause) = run_checked(migration, store.context(), direction).await else {
                break Ok(());
            };
            let may_retry = store.undoes_on_abort(&intent) || migration.retry_safe();
            let Some(attempt) = store
                .retry_step(&intent, &cause, attempt_clock.elapsed(), may_retry)
                .await?
            else {
                break Err(cause);
            };
            let pause = attempt.pause_ms;
            lock_retries.push(attempt.clone());
            emit_to(
                observer.as_ref(),
                Progress::LockTimeout {
                    version: info.version,
                    name: info.name.clone(),
                    direction,
                    attempt,
                },
            );
            match pause {
                Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                None => {
                    exhausted = true;
                    break Err(cause);
                }
            }
        };
        let duration = clock.elapsed();
        let cause = match outcome {
            Ok(()) => {
                store.commit(&intent, now_ms(), millis(duration)).await?;
                self.emit(Progress::Finished {
                    version: info.version,
                    name: info.name.clone(),
                    direction,
                    duration,
                });
                return Ok(StepReport {
                    version: info.version,
                    name: info.name,
                    phase: info.phase,
                    direction,
                    duration_ms: millis(duration),
                    lock_retries,
                });
            }
            Err(cause) => cause,
        };
        self.emit(Progress::Failed {
            version: info.version,
            name: info.name.clone(),
            direction,
            error: cause.to_string(),
        });
        let Self {
            store, migrations, ..
        } = self;
        let migration: &dyn Migration<S::Context> = &*migrations[i];
        let undo_failed = |source: BoxError, cause: &BoxError| Error::UndoFailed {
            version: info.version,
            name: info.name.clone(),
            direction,
            cause: cause.to_string(),
            source,
        };
        let undone = if store.undoes_on_abort(&intent) {
            "its transaction was rolled back"
        } else {
            match direction {
                Direction::Down => {
                    return Err(undo_failed(
                        "a failed down cannot be compensated by this store".into(),
                        &cause,
                    ));
                }
                Direction::Up if !migration.reversible() => {
                    return Err(undo_failed(
                        "the migration is irreversible, so there is no down to compensate with"
                            .into(),
                        &cause,
                    ));
                }
                Direction::Up => {
                    if let Err(down_err) =
                        run_checked(migration, store.context(), Direction::Down).await
                    {
                        return Err(undo_failed(down_err, &cause));
                    }
                    "its down ran"
                }
            }
        };
        store.abort(&intent).await?;
        if exhausted {
            return Err(Error::LockRetriesExhausted {
                version: info.version,
                name: info.name,
                direction,
                undone: undone.to_owned(),
                attempts: lock_retries,
            });
        }
        let undone = match lock_retries.len() {
            0 => undone.to_owned(),
            n => format!("{undone}, after {n} attempt(s) that timed out on a lock"),
        };
        Err(Error::StepFailed {
            version: info.version,
            name: info.name,
            direction,
            undone,
            source: cause,
        })
    }

    /// Decides the steps in doubt of `plan` with their validators, without
    /// recording anything (see the type docs for the rules).
    async fn decide_in_doubt(&mut self, plan: &Plan) -> Result<Vec<(InDoubt, Resolution)>> {
        let mut out = Vec::new();
        for doubt in &plan.in_doubt {
            let refuse = |detail: String| Error::InDoubt {
                version: doubt.version,
                name: doubt.name.clone(),
                direction: doubt.direction,
                detail,
            };
            let Some(i) = self.index_of(doubt.version) else {
                return Err(refuse(
                    "it is no longer declared, so it cannot be checked".into(),
                ));
            };
            let Self {
                store, migrations, ..
            } = self;
            let migration: &dyn Migration<S::Context> = &*migrations[i];
            let ctx = store.context();
            let resolution = match doubt.direction {
                Direction::Up => match migration.validate_up(ctx).await {
                    Ok(Validation::Passed) => Resolution::Applied,
                    Ok(Validation::Failed { .. }) => Resolution::NotApplied,
                    Ok(Validation::NotChecked) => {
                        return Err(refuse("the migration has no validate_up to decide".into()));
                    }
                    Err(e) => return Err(refuse(format!("validate_up failed: {e}"))),
                },
                Direction::Down => match migration.validate_down(ctx).await {
                    Ok(Validation::Passed) => Resolution::NotApplied,
                    Ok(_) => match migration.validate_up(ctx).await {
                        Ok(Validation::Passed) => Resolution::Applied,
                        Ok(_) => {
                            return Err(refuse(
                                "neither validate_down nor validate_up passed".into(),
                            ));
                        }
                        Err(e) => return Err(refuse(format!("validate_up failed: {e}"))),
                    },
                    Err(e) => return Err(refuse(format!("validate_down failed: {e}"))),
                },
            };
            out.push((doubt.clone(), resolution));
        }
        Ok(out)
    }

    /// The plan `history` gives once `decisions` are recorded. Pure.
    fn settled_plan(&self, history: History, decisions: &[(InDoubt, Resolution)]) -> Plan {
        let mut ledger = Ledger::from_history(history);
        for (doubt, resolution) in decisions {
            // Each decision is for a step in doubt of this very history.
            let _ = ledger.apply(Transition::Resolve {
                version: doubt.version,
                resolution: *resolution,
                at_ms: now_ms(),
            });
        }
        crate::plan::plan_owned(&self.infos, ledger.history())
    }

    /// Records `decisions` (from [`decide_in_doubt`](Self::decide_in_doubt)).
    async fn record_decisions(
        &mut self,
        decisions: Vec<(InDoubt, Resolution)>,
    ) -> Result<Vec<ResolvedStep>> {
        let mut out = Vec::with_capacity(decisions.len());
        for (doubt, resolution) in decisions {
            self.store
                .resolve(&doubt, resolution, ResolvedBy::Validation, now_ms())
                .await?;
            let step = ResolvedStep {
                version: doubt.version,
                name: doubt.name,
                direction: doubt.direction,
                resolution,
                by: ResolvedBy::Validation,
            };
            self.emit(Progress::Resolved(step.clone()));
            out.push(step);
        }
        Ok(out)
    }

    /// Reverts applied migrations, newest first.
    ///
    /// Everything is checked before anything is written: steps in doubt
    /// are decided by their validators, and the rollback is checked as if
    /// they were settled (each migration to revert must be declared,
    /// unchanged or opted in, and reversible); only then are the
    /// settlements recorded and the first `down` run.
    ///
    /// # Errors
    ///
    /// [`Error::Irreversible`], [`Error::Missing`], [`Error::Divergent`],
    /// [`Error::RollbackTooFar`], [`Error::UnknownVersion`] (for
    /// [`Rollback::To`] a version neither declared nor recorded, other than
    /// 0), [`Error::InDoubt`], a failed `down`
    /// ([`Error::StepFailed`] / [`Error::UndoFailed`]),
    /// [`Error::LockTimeout`] and store errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{MemoryStore, Migrator, Rollback};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut migrator = Migrator::builder(MemoryStore::new()).build()?;
    /// let report = migrator.rollback(Rollback::To(0)).await?;
    /// assert!(report.reverted.is_empty());
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn rollback(&mut self, request: Rollback) -> Result<RollbackReport> {
        let started = Instant::now();
        self.store.lock().await?;
        let result = self.rollback_locked(request, started).await;
        let unlocked = self.store.unlock().await;
        let report = result?;
        unlocked?;
        Ok(report)
    }

    /// The steps a rollback reverts, newest first, or why it may not
    /// start: each must be declared, unchanged (or opted in) and
    /// reversible. Pure.
    fn check_rollback(&self, plan: &Plan, request: Rollback) -> Result<Vec<usize>> {
        let to_revert: Vec<_> = match request {
            Rollback::Last(n) => {
                if n > plan.applied.len() {
                    return Err(Error::RollbackTooFar {
                        requested: n,
                        applied: plan.applied.len(),
                    });
                }
                plan.rollback_order().take(n).collect()
            }
            Rollback::To(v) => plan
                .rollback_order()
                .take_while(|a| a.version > v)
                .collect(),
        };
        let mut steps = Vec::with_capacity(to_revert.len());
        for rec in to_revert {
            let Some(i) = self.index_of(rec.version) else {
                return Err(Error::Missing {
                    version: rec.version,
                    name: rec.name.clone(),
                });
            };
            if let Some(d) = plan.divergent.iter().find(|d| d.version == rec.version)
                && !self.options.allow_divergent.contains(&d.version)
            {
                return Err(Error::Divergent {
                    version: d.version,
                    declared_name: d.declared_name.clone(),
                    recorded_name: d.recorded_name.clone(),
                    declared_checksum: d.declared_checksum,
                    recorded_checksum: d.recorded_checksum,
                });
            }
            if !self.migrations[i].reversible() {
                return Err(Error::Irreversible {
                    version: rec.version,
                    name: rec.name.clone(),
                });
            }
            steps.push(i);
        }
        Ok(steps)
    }

    async fn rollback_locked(
        &mut self,
        request: Rollback,
        started: Instant,
    ) -> Result<RollbackReport> {
        let history = self.store.load().await?;
        let kept = (!history.in_doubt.is_empty()).then(|| history.clone());
        let first = crate::plan::plan_owned(&self.infos, history);
        if let Some(d) = first.duplicates.iter().find(|d| d.recorded) {
            return Err(Error::DuplicateRecord { version: d.version });
        }
        if let Rollback::To(v) = request {
            let recorded = |v: u64| {
                first.applied.iter().any(|a| a.version == v)
                    || first.in_doubt.iter().any(|d| d.version == v)
            };
            if v != 0 && self.index_of(v).is_none() && !recorded(v) {
                return Err(self.unknown_version(v));
            }
        }
        // Decide the steps in doubt, and check the rollback as if they were
        // settled, before anything is written.
        let decisions = self.decide_in_doubt(&first).await?;
        let (resolved, steps) = if decisions.is_empty() {
            (Vec::new(), self.check_rollback(&first, request)?)
        } else {
            self.check_rollback(
                &self.settled_plan(kept.unwrap_or_default(), &decisions),
                request,
            )?;
            let resolved = self.record_decisions(decisions).await?;
            let plan = self.load_plan().await?;
            (resolved, self.check_rollback(&plan, request)?)
        };
        let mut reverted = Vec::with_capacity(steps.len());
        for i in steps {
            reverted.push(self.execute(i, Direction::Down).await?);
        }
        Ok(RollbackReport {
            store: self.store.describe(),
            resolved,
            reverted,
            duration_ms: millis(started.elapsed()),
        })
    }

    /// Settles a step in doubt by an operator's verdict, after inspecting
    /// the target by hand. Returns the step as it was in doubt.
    ///
    /// # Errors
    ///
    /// [`Error::NotInDoubt`] when `version` is not in doubt,
    /// [`Error::LockTimeout`] and store errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{Error, MemoryStore, Migrator, Resolution};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut migrator = Migrator::builder(MemoryStore::new()).build()?;
    /// let err = migrator.resolve(4, Resolution::Applied).await.unwrap_err();
    /// assert!(matches!(err, Error::NotInDoubt { version: 4, .. }));
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn resolve(&mut self, version: u64, resolution: Resolution) -> Result<InDoubt> {
        self.store.lock().await?;
        let result = self.resolve_locked(version, resolution).await;
        let unlocked = self.store.unlock().await;
        let doubt = result?;
        unlocked?;
        Ok(doubt)
    }

    async fn resolve_locked(&mut self, version: u64, resolution: Resolution) -> Result<InDoubt> {
        let history = self.store.load().await?;
        let doubt = history
            .in_doubt
            .into_iter()
            .find(|d| d.version == version)
            .ok_or(Error::NotInDoubt { version })?;
        self.store
            .resolve(&doubt, resolution, ResolvedBy::Operator, now_ms())
            .await?;
        self.emit(Progress::Resolved(ResolvedStep {
            version,
            name: doubt.name.clone(),
            direction: doubt.direction,
            resolution,
            by: ResolvedBy::Operator,
        }));
        Ok(doubt)
    }

    /// What a run would do, and every problem in its way, without taking
    /// the lock or changing anything (a dry run).
    ///
    /// # Errors
    ///
    /// Store errors while reading.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{MemoryStore, Migrator};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut migrator = Migrator::builder(MemoryStore::new()).build()?;
    /// let plan = migrator.plan(None).await?;
    /// assert!(plan.pending.is_empty());
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn plan(&mut self, target: Option<u64>) -> Result<Plan> {
        let mut plan = self.load_plan().await?;
        if self.options.allow_out_of_order {
            plan = plan.allow_out_of_order();
        }
        if let Some(t) = target {
            plan = plan.with_target(t);
        }
        Ok(plan)
    }

    /// Every declared and recorded migration with its state. Read only.
    ///
    /// An unfinished step is [`Running`](MigrationState::Running) (and no
    /// problem) while another migrator holds the lock, and
    /// [`InDoubt`](MigrationState::InDoubt) otherwise: the store's lock is
    /// probed without waiting ([`StateStore::probe_lock`]).
    ///
    /// # Errors
    ///
    /// Store errors while reading.
    ///
    /// # Examples
    ///
    /// See [`StatusReport::count`](crate::StatusReport::count).
    pub async fn status(&mut self) -> Result<StatusReport> {
        let (plan, lock_holder) = self.observe().await?;
        let running = lock_holder.is_some();
        let doubt_state = if running {
            MigrationState::Running
        } else {
            MigrationState::InDoubt
        };
        let mut problems = plan.problems();
        if running {
            problems.retain(|p| !matches!(p, crate::Problem::InDoubt(_)));
        }
        let Plan {
            applied,
            divergent,
            missing,
            out_of_order,
            in_doubt,
            ..
        } = plan;
        // Every list of the plan is sorted by version.
        let has = |list: &[u64], v: u64| list.binary_search(&v).is_ok();
        let divergent: Vec<u64> = divergent.iter().map(|d| d.version).collect();
        let out_of_order: Vec<u64> = out_of_order.iter().map(|m| m.version).collect();
        let doubt_of = |v: u64| {
            in_doubt
                .binary_search_by_key(&v, |x| x.version)
                .ok()
                .map(|k| &in_doubt[k])
        };
        let mut entries = Vec::with_capacity(self.infos.len() + missing.len());
        let mut applied = applied.into_iter().peekable();
        for d in &self.infos {
            // Records below `d` are not declared: they are in `missing`.
            while applied.next_if(|a| a.version < d.version).is_some() {}
            let rec = applied.next_if(|a| a.version == d.version);
            let doubt = doubt_of(d.version);
            let state = if has(&divergent, d.version) {
                MigrationState::Divergent
            } else if doubt.is_some() {
                doubt_state
            } else if rec.is_some() {
                MigrationState::Applied
            } else if has(&out_of_order, d.version) {
                MigrationState::OutOfOrder
            } else {
                MigrationState::Pending
            };
            let (applied_at_ms, duration_ms, name) = match rec {
                // The usual case: the record's name is the declared one, so
                // it is moved into the entry rather than copied.
                Some(r) if r.name == d.name => (Some(r.applied_at_ms), Some(r.duration_ms), r.name),
                Some(r) => (Some(r.applied_at_ms), Some(r.duration_ms), d.name.clone()),
                None => (None, None, d.name.clone()),
            };
            entries.push(StatusEntry {
                version: d.version,
                name,
                phase: d.phase,
                state,
                checksum: d.checksum,
                applied_at_ms,
                duration_ms,
                in_doubt: doubt.map(|x| x.direction),
            });
        }
        for m in missing {
            entries.push(StatusEntry {
                version: m.version,
                name: m.name,
                phase: m.phase,
                state: MigrationState::Missing,
                checksum: m.checksum,
                applied_at_ms: Some(m.applied_at_ms),
                duration_ms: Some(m.duration_ms),
                in_doubt: None,
            });
        }
        for x in &in_doubt {
            if self.index_of(x.version).is_none() {
                entries.push(StatusEntry {
                    version: x.version,
                    name: x.name.clone(),
                    phase: x.phase,
                    state: doubt_state,
                    checksum: x.checksum,
                    applied_at_ms: None,
                    duration_ms: None,
                    in_doubt: Some(x.direction),
                });
            }
        }
        entries.sort_by_key(|e| e.version);
        Ok(StatusReport {
            store: self.store.describe(),
            entries,
            problems,
            lock_holder,
        })
    }

    /// Compares every declared checksum (computed from the sources when the
    /// migrator was built) and name with the whole history; reports every
    /// problem, not just the first. Read only. An unfinished step is a
    /// problem (in doubt) only when nobody holds the lock; while another
    /// migrator holds it, the step is listed as
    /// [`running`](VerifyReport::running) instead.
    ///
    /// # Errors
    ///
    /// Store errors while reading (a damaged store is an error, not a
    /// report).
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_migrate::{MemoryStore, Migrator};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut migrator = Migrator::builder(MemoryStore::new()).build()?;
    /// assert!(migrator.verify().await?.is_ok());
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn verify(&mut self) -> Result<VerifyReport> {
        let (plan, lock_holder) = self.observe().await?;
        let mut problems = plan.problems();
        if self.options.allow_out_of_order {
            problems.retain(|p| !matches!(p, crate::Problem::OutOfOrder { .. }));
        }
        let running = if lock_holder.is_some() {
            problems.retain(|p| !matches!(p, crate::Problem::InDoubt(_)));
            plan.in_doubt.clone()
        } else {
            Vec::new()
        };
        Ok(VerifyReport {
            store: self.store.describe(),
            declared: self.infos.len(),
            recorded: plan.applied.len() + plan.in_doubt.len(),
            problems,
            running,
            lock_holder,
        })
    }
}
