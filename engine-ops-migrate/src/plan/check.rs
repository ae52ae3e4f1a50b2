//! Whether a run or a rollback may start, and which steps it executes: the
//! [`Migrator`](crate::Migrator)'s refusals, decided before anything is
//! written.
//!
//! Pure: a [`Rules`] (the declared migrations and the migrator's options)
//! and a [`Plan`] in, the steps or the refusal out. The migrator calls
//! these on the plan as it was read and again as if its steps in doubt
//! were settled, so a refused run or rollback writes nothing.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::migration::MigrationInfo;
use crate::phase::Phase;
use crate::plan::{Divergence, Plan};

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

/// How far a [`Migrator::rollback`](crate::Migrator::rollback) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rollback {
    /// Revert the last `n` applied migrations (highest versions first).
    Last(usize),
    /// Revert every applied migration above this version, newest first.
    To(u64),
}

/// The migrator's settings that decide refusals (set on its builder).
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    #[cfg(feature = "lint")]
    pub(crate) lint_policy: crate::lint::LintPolicy,
    pub(crate) policy: RollbackPolicy,
    pub(crate) contract_needs_proof: bool,
    pub(crate) allow_out_of_order: bool,
    pub(crate) allow_missing: BTreeSet<u64>,
    pub(crate) allow_divergent: BTreeSet<u64>,
}

/// Which pending migrations a run applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PhaseRun {
    /// Every pending migration (with `contract_needs_proof`: refused when
    /// one is a contract migration).
    All { contract_needs_proof: bool },
    /// Pending expand (and unphased) migrations, up to the first contract one.
    Expand,
    /// Pending contract migrations, up to the first expand one; refused
    /// while an expand migration is pending before them.
    Contract,
}

/// What the checks know about the migrator: its declared migrations (in
/// version order, unique), its options and its linter's report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) declared: &'a [MigrationInfo],
    pub(crate) options: &'a Options,
    #[cfg(feature = "lint")]
    pub(crate) lint: Option<&'a crate::lint::LintReport>,
}

/// A run's steps: the plan it was checked on, and the indexes (into the
/// declared migrations) of the steps it applies, in order.
#[derive(Debug)]
pub(crate) struct RunSteps {
    pub(crate) plan: Plan,
    pub(crate) steps: Vec<usize>,
}

impl From<&Divergence> for Error {
    fn from(d: &Divergence) -> Self {
        Error::Divergent {
            version: d.version,
            declared_name: d.declared_name.clone(),
            recorded_name: d.recorded_name.clone(),
            declared_checksum: d.declared_checksum,
            recorded_checksum: d.recorded_checksum,
        }
    }
}

impl Rules<'_> {
    /// The index of the declared migration `version`.
    pub(crate) fn index_of(&self, version: u64) -> Option<usize> {
        self.declared
            .binary_search_by_key(&version, |m| m.version)
            .ok()
    }

    /// [`Error::UnknownVersion`] for `version`.
    pub(crate) fn unknown_version(&self, version: u64) -> Error {
        Error::UnknownVersion {
            version,
            lowest: self.declared.first().map(|i| i.version),
            highest: self.declared.last().map(|i| i.version),
        }
    }

    /// A run's target must be declared (checked before the lock is taken).
    pub(crate) fn check_target(&self, target: Option<u64>) -> Result<(), Error> {
        match target {
            Some(t) if self.index_of(t).is_none() => Err(self.unknown_version(t)),
            _ => Ok(()),
        }
    }

    /// What stops any run, whatever it would apply: recorded or declared
    /// duplicates, divergent migrations and missing ones (each unless opted
    /// in for that version).
    pub(crate) fn refuse_run(&self, plan: &Plan) -> Result<(), Error> {
        if let Some(d) = plan.duplicates.first() {
            return Err(Error::DuplicateRecord { version: d.version });
        }
        if let Some(d) = plan
            .divergent
            .iter()
            .find(|d| !self.options.allow_divergent.contains(&d.version))
        {
            return Err(d.into());
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

    /// The steps a run executes, in order, or why it may not start: the
    /// checks that depend on what is applied (out of order, the phase, the
    /// lint policy, a `WholeRun` over an irreversible step).
    pub(crate) fn run_steps(
        &self,
        plan: Plan,
        target: Option<u64>,
        phase: &PhaseRun,
    ) -> Result<RunSteps, Error> {
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
        let pending: Vec<(u64, &str, Option<Phase>)> = plan
            .pending
            .iter()
            .map(|m| (m.version, m.name.as_str(), m.phase))
            .collect();
        let take = select(&pending, phase)?;
        #[cfg(feature = "lint")]
        self.check_lint(plan.pending.iter().take(take).map(|m| m.version))?;
        let steps: Vec<usize> = plan
            .pending
            .iter()
            .take(take)
            .filter_map(|m| self.index_of(m.version))
            .collect();
        if self.options.policy == RollbackPolicy::WholeRun
            && let Some(&i) = steps.iter().find(|&&i| !self.declared[i].reversible)
        {
            let m = &self.declared[i];
            return Err(Error::InvalidConfig {
                reason: format!(
                    "RollbackPolicy::WholeRun needs every step of the run to be reversible, but migration {} ({}) is not; use RollbackPolicy::FailedStep or run up to {} first",
                    m.version, m.name, m.version
                ),
            });
        }
        Ok(RunSteps { plan, steps })
    }

    /// The linter's refusal of the migrations about to run, under
    /// [`LintPolicy::Deny`](crate::lint::LintPolicy::Deny).
    #[cfg(feature = "lint")]
    fn check_lint(&self, versions: impl Iterator<Item = u64>) -> Result<(), Error> {
        use crate::lint::{LintPolicy, Severity};
        let Some(report) = self.lint else {
            return Ok(());
        };
        if self.options.lint_policy != LintPolicy::Deny {
            return Ok(());
        }
        for version in versions {
            let Some(m) = report.migration(version) else {
                continue;
            };
            if m.has_errors() {
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
        }
        Ok(())
    }

    /// What stops a rollback before its steps are chosen: duplicate
    /// records, and a [`Rollback::To`] version that is neither declared
    /// nor recorded (other than 0).
    pub(crate) fn refuse_rollback(&self, plan: &Plan, request: Rollback) -> Result<(), Error> {
        if let Some(d) = plan.duplicates.iter().find(|d| d.recorded) {
            return Err(Error::DuplicateRecord { version: d.version });
        }
        if let Rollback::To(v) = request {
            let recorded = plan.applied.iter().any(|a| a.version == v)
                || plan.in_doubt.iter().any(|d| d.version == v);
            if v != 0 && self.index_of(v).is_none() && !recorded {
                return Err(self.unknown_version(v));
            }
        }
        Ok(())
    }

    /// The steps a rollback reverts, newest first, or why it may not
    /// start: each must be declared, unchanged (or opted in) and
    /// reversible.
    pub(crate) fn rollback_steps(
        &self,
        plan: &Plan,
        request: Rollback,
    ) -> Result<Vec<usize>, Error> {
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
                return Err(d.into());
            }
            if !self.declared[i].reversible {
                return Err(Error::Irreversible {
                    version: rec.version,
                    name: rec.name.clone(),
                });
            }
            steps.push(i);
        }
        Ok(steps)
    }

    /// What a dry run ([`Migrator::plan`](crate::Migrator::plan)) shows:
    /// out-of-order migrations scheduled when allowed, limited to `target`.
    pub(crate) fn dry_run(&self, plan: Plan, target: Option<u64>) -> Plan {
        let mut plan = plan;
        if self.options.allow_out_of_order {
            plan = plan.allow_out_of_order();
        }
        if let Some(t) = target {
            plan = plan.with_target(t);
        }
        plan
    }
}

/// The steps of `pending` (version, name, phase, in order) a run of kind
/// `run` applies: how many, from the start.
fn select(pending: &[(u64, &str, Option<Phase>)], run: &PhaseRun) -> Result<usize, Error> {
    let is_contract = |p: &Option<Phase>| *p == Some(Phase::Contract);
    match run {
        PhaseRun::All {
            contract_needs_proof: true,
        } => match pending.iter().find(|m| is_contract(&m.2)) {
            Some(&(version, name, _)) => Err(Error::ContractNeedsProof {
                version,
                name: name.to_owned(),
            }),
            None => Ok(pending.len()),
        },
        PhaseRun::All { .. } => Ok(pending.len()),
        PhaseRun::Expand => Ok(pending.iter().take_while(|m| !is_contract(&m.2)).count()),
        PhaseRun::Contract => {
            let Some(first) = pending.iter().position(|m| is_contract(&m.2)) else {
                return Ok(0);
            };
            if first > 0 {
                let (version, name, _) = pending[0];
                let (contract_version, contract_name, _) = pending[first];
                return Err(Error::ExpandPending {
                    version,
                    name: name.to_owned(),
                    contract_version,
                    contract_name: contract_name.to_owned(),
                });
            }
            Ok(pending.iter().take_while(|m| is_contract(&m.2)).count())
        }
    }
}

#[cfg(test)]
mod tests;
