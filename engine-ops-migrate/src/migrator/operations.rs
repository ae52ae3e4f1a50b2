//! [`Migrator`]: what each operation does, in order. A run, a rollback
//! and an operator's settlement take the store's lock, load the history,
//! check it ([`plan::check`](crate::plan::check), pure), settle the steps
//! in doubt ([`plan::settle`](crate::plan::settle), pure, with the
//! migrations' validators), execute the steps ([`execute`](super::execute)),
//! and release the lock; `status` and `verify` only read.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::progress::{Observer, Progress, emit_to};
use crate::error::{Error, Result};
use crate::history::{InDoubt, ResolvedBy, Settlement};
use crate::migration::{BoxError, Direction, Migration, MigrationInfo, Validation};
use crate::phase::OldVersionGone;
use crate::plan::check::{Options, PhaseRun, Rollback, Rules};
use crate::plan::settle::{self, Verdict};
use crate::plan::status::{status_report, verify_report};
use crate::plan::{Plan, plan_owned};
use crate::report::{ResolvedStep, RollbackReport, RunReport, StatusReport, VerifyReport};
use crate::store::{LockProbe, StateStore};
use crate::time::{millis, now_ms};

pub(super) type BoxedMigration<C> = Box<dyn Migration<C>>;

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
/// [`RollbackPolicy::WholeRun`](crate::RollbackPolicy::WholeRun) the steps applied earlier in the run are
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
    pub(super) store: S,
    pub(super) migrations: Vec<BoxedMigration<S::Context>>,
    /// Checksummed descriptions of `migrations` (same order), computed once
    /// by [`MigratorBuilder::build`](crate::MigratorBuilder::build): migrations cannot change afterwards.
    pub(super) infos: Vec<MigrationInfo>,
    pub(super) options: Options,
    pub(super) observer: Option<Arc<dyn Observer>>,
    /// The linter's report on the SQL migrations (with a lint policy).
    #[cfg(feature = "lint")]
    pub(super) lint: Option<crate::lint::LintReport>,
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

/// The linter's report on the SQL migrations among `migrations`.
#[cfg(feature = "lint")]
pub(super) fn lint_migrations<C: Send + ?Sized>(
    migrations: &[BoxedMigration<C>],
) -> crate::lint::LintReport {
    let sql: Vec<crate::store::sql::SqlMigration> = migrations
        .iter()
        .filter_map(|m| m.as_sql().cloned())
        .collect();
    crate::lint::lint(&sql)
}

impl<S: StateStore> Migrator<S> {
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
    /// # use engine_ops_migrate::{Error, MemoryStore, Migrator, Settlement};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut migrator = Migrator::builder(MemoryStore::new()).build()?;
    /// let err = migrator.resolve(4, Settlement::Applied).await.unwrap_err();
    /// assert!(matches!(err, Error::NotInDoubt { version: 4, .. }));
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn resolve(&mut self, version: u64, resolution: Settlement) -> Result<InDoubt> {
        self.store.lock().await?;
        let result = self.resolve_locked(version, resolution).await;
        let unlocked = self.store.unlock().await;
        let doubt = result?;
        unlocked?;
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
        let plan = self.load_plan().await?;
        Ok(self.rules().dry_run(plan, target))
    }

    /// Every declared and recorded migration with its state. Read only.
    ///
    /// An unfinished step is [`Running`](crate::MigrationState::Running) (and no
    /// problem) while another migrator holds the lock, and
    /// [`InDoubt`](crate::MigrationState::InDoubt) otherwise: the store's lock is
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
        Ok(status_report(
            self.store.describe(),
            &self.infos,
            plan,
            lock_holder,
        ))
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
        Ok(verify_report(
            self.store.describe(),
            self.infos.len(),
            &plan,
            lock_holder,
            self.options.allow_out_of_order,
        ))
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

    /// What the pure checks need to know about this migrator.
    pub(super) fn rules(&self) -> Rules<'_> {
        Rules {
            declared: &self.infos,
            options: &self.options,
            #[cfg(feature = "lint")]
            lint: self.lint.as_ref(),
        }
    }

    pub(super) fn emit(&self, event: Progress) {
        emit_to(self.observer.as_ref(), event);
    }

    /// A run: lock, then (under the lock) load, check, settle and execute,
    /// then unlock.
    async fn run_inner(
        &mut self,
        target: Option<u64>,
        phase: PhaseRun,
        proof: Option<OldVersionGone>,
    ) -> Result<RunReport> {
        self.rules().check_target(target)?;
        let started = Instant::now();
        self.store.lock().await?;
        let result = self.run_locked(target, &phase, started).await;
        let unlocked = self.store.unlock().await;
        let mut report = result?;
        unlocked?;
        report.contract_proof = proof;
        Ok(report)
    }

    async fn run_locked(
        &mut self,
        target: Option<u64>,
        phase: &PhaseRun,
        started: Instant,
    ) -> Result<RunReport> {
        let (run, resolved) = self
            .load_and_settle(
                |rules, plan| rules.refuse_run(plan),
                |rules, plan| rules.run_steps(plan, target, phase),
            )
            .await?;
        #[cfg(feature = "lint")]
        self.warn_lint(&run.steps);
        let applied = self.apply(&run.steps).await?;
        Ok(RunReport {
            store: self.store.describe(),
            target,
            resolved,
            still_pending: run.plan.above_target.len() + run.plan.pending.len() - applied.len(),
            applied,
            contract_proof: None,
            duration_ms: millis(started.elapsed()),
        })
    }

    async fn rollback_locked(
        &mut self,
        request: Rollback,
        started: Instant,
    ) -> Result<RollbackReport> {
        let (steps, resolved) = self
            .load_and_settle(
                |rules, plan| rules.refuse_rollback(plan, request),
                |rules, plan| rules.rollback_steps(&plan, request),
            )
            .await?;
        let reverted = self.revert(&steps).await?;
        Ok(RollbackReport {
            store: self.store.describe(),
            resolved,
            reverted,
            duration_ms: millis(started.elapsed()),
        })
    }

    /// Loads the history and checks it: `refuse` on the plan as read, then
    /// the steps in doubt are decided by their validators and `check` runs
    /// on the plan as if they were settled. Only then are the settlements
    /// recorded (and `check` runs again on the history as recorded), so a
    /// refused operation writes nothing.
    async fn load_and_settle<T>(
        &mut self,
        refuse: impl Fn(&Rules<'_>, &Plan) -> Result<()>,
        check: impl Fn(&Rules<'_>, Plan) -> Result<T>,
    ) -> Result<(T, Vec<ResolvedStep>)> {
        let history = self.store.load().await?;
        // Kept only when steps in doubt may be settled (the usual history
        // is moved into the plan, not copied).
        let kept = (!history.in_doubt.is_empty()).then(|| history.clone());
        let first = plan_owned(&self.infos, history);
        refuse(&self.rules(), &first)?;
        let settlements = self.decide_in_doubt(&first).await?;
        if settlements.is_empty() {
            return Ok((check(&self.rules(), first)?, Vec::new()));
        }
        let settled = settle::settled_plan(
            &self.infos,
            kept.unwrap_or_default(),
            &settlements,
            now_ms(),
        );
        check(&self.rules(), settled)?;
        let resolved = self.record_settlements(settlements).await?;
        let recorded = self.load_plan().await?;
        Ok((check(&self.rules(), recorded)?, resolved))
    }

    /// Decides the steps in doubt of `plan` with their validators, without
    /// recording anything (see [`plan::settle`](crate::plan::settle) for
    /// the table).
    async fn decide_in_doubt(&mut self, plan: &Plan) -> Result<Vec<(InDoubt, Settlement)>> {
        let mut out = Vec::new();
        for doubt in &plan.in_doubt {
            let i = self.rules().index_of(doubt.version);
            let mut verdict = settle::start(doubt.direction, i.is_some());
            let settlement = loop {
                match verdict {
                    Verdict::Settled(settlement) => break settlement,
                    Verdict::Refuse(detail) => {
                        return Err(Error::InDoubt {
                            version: doubt.version,
                            name: doubt.name.clone(),
                            direction: doubt.direction,
                            detail,
                        });
                    }
                    Verdict::Check(validator) => {
                        verdict = match i {
                            Some(i) => {
                                let answer = self.validate(i, validator).await;
                                settle::after(doubt.direction, validator, answer.as_ref())
                            }
                            None => settle::start(doubt.direction, false),
                        };
                    }
                }
            };
            out.push((doubt.clone(), settlement));
        }
        Ok(out)
    }

    /// Runs the `validator` of the declared migration `i`, outside any step.
    async fn validate(
        &mut self,
        i: usize,
        validator: Direction,
    ) -> std::result::Result<Validation, BoxError> {
        let migration: &dyn Migration<S::Context> = &*self.migrations[i];
        let ctx = self.store.context();
        match validator {
            Direction::Up => migration.validate_up(ctx).await,
            Direction::Down => migration.validate_down(ctx).await,
        }
    }

    /// Records `settlements` (from [`decide_in_doubt`](Self::decide_in_doubt)).
    async fn record_settlements(
        &mut self,
        settlements: Vec<(InDoubt, Settlement)>,
    ) -> Result<Vec<ResolvedStep>> {
        let mut out = Vec::with_capacity(settlements.len());
        for (doubt, resolution) in settlements {
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

    async fn resolve_locked(&mut self, version: u64, resolution: Settlement) -> Result<InDoubt> {
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

    /// Logs the linter's findings on the migrations about to run (any lint
    /// policy but `Off`; `Deny` refused errors already).
    #[cfg(feature = "lint")]
    fn warn_lint(&self, steps: &[usize]) {
        let Some(report) = &self.lint else {
            return;
        };
        if self.options.lint_policy == crate::lint::LintPolicy::Off {
            return;
        }
        for &i in steps {
            let version = self.infos[i].version;
            let Some(m) = report.migration(version) else {
                continue;
            };
            for f in &m.findings {
                tracing::warn!(version, rule = %f.rule, line = f.line, "lint: {}", f.message);
            }
        }
    }

    /// Loads the history and plans against the declared migrations.
    async fn load_plan(&mut self) -> Result<Plan> {
        let history = self.store.load().await?;
        Ok(plan_owned(&self.infos, history))
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
}
