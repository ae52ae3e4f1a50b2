//! [`MigratorBuilder`]: the declared migrations and the options of a
//! [`Migrator`].

use std::fmt;
use std::sync::Arc;

use super::operations::{BoxedMigration, Migrator};
use super::progress::Observer;
use crate::error::{Error, Result};
use crate::migration::{Migration, MigrationInfo};
use crate::plan::check::{Options, RollbackPolicy};
use crate::store::StateStore;

/// Builds a [`Migrator`]; see [`Migrator::builder`].
#[must_use = "call build() to get a Migrator"]
pub struct MigratorBuilder<S: StateStore> {
    pub(super) store: S,
    pub(super) migrations: Vec<BoxedMigration<S::Context>>,
    pub(super) options: Options,
    pub(super) observer: Option<Arc<dyn Observer>>,
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
            .then(|| super::operations::lint_migrations(&self.migrations));
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
}
