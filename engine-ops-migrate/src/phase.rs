//! Expand and contract runs: which pending migrations a run may apply
//! while the previous application version still serves, and the proof a
//! contract run needs that it no longer does.
//!
//! During a rolling or blue-green deploy the old and the new version run
//! against one database. Expand migrations ([`Phase::Expand`], and
//! migrations without a phase) only add what both versions accept; they
//! run before the new version rolls out
//! ([`Migrator::run_expand`](crate::Migrator::run_expand)). Contract
//! migrations ([`Phase::Contract`]) remove what the old version still
//! uses; they run only once it is gone
//! ([`Migrator::run_contract`](crate::Migrator::run_contract)), and the
//! caller says so with an [`OldVersionGone`] it builds from its rollout.

use serde::{Deserialize, Serialize};

use crate::{Error, Phase};

/// The caller's statement that no instance of the previous application
/// version serves any more, so contract migrations may remove what it
/// used. The migrator cannot check it: build it from what your rollout
/// observed (for example a rollout planner's decision that the new version
/// is fully promoted and the old track has no replicas), and say what in
/// `evidence`; it is logged and returned in the run's report.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::OldVersionGone;
///
/// let proof = OldVersionGone::attest("api 1.4.2", "rollout api: promoted to 1.5.0, old track 0/0 ready");
/// assert_eq!(proof.old_version(), "api 1.4.2");
/// assert!(proof.to_string().contains("0/0 ready"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldVersionGone {
    old_version: String,
    evidence: String,
}

impl OldVersionGone {
    /// States that `old_version` no longer serves, because of `evidence`.
    #[must_use]
    pub fn attest(old_version: impl Into<String>, evidence: impl Into<String>) -> Self {
        Self {
            old_version: old_version.into(),
            evidence: evidence.into(),
        }
    }

    /// The version that is gone.
    #[must_use]
    pub fn old_version(&self) -> &str {
        &self.old_version
    }

    /// Why the caller says so.
    #[must_use]
    pub fn evidence(&self) -> &str {
        &self.evidence
    }
}

impl std::fmt::Display for OldVersionGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is gone: {}", self.old_version, self.evidence)
    }
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

/// The steps of `pending` (version, name, phase, in order) a run of kind
/// `run` applies: how many, from the start. Pure.
pub(crate) fn select(
    pending: &[(u64, &str, Option<Phase>)],
    run: &PhaseRun,
) -> Result<usize, Error> {
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
mod tests {
    use super::*;

    const E: Option<Phase> = Some(Phase::Expand);
    const C: Option<Phase> = Some(Phase::Contract);

    #[test]
    fn expand_stops_before_the_first_contract_and_contract_before_the_next_expand() {
        let pending = [
            (1, "a", E),
            (2, "b", None),
            (3, "c", C),
            (4, "d", C),
            (5, "e", E),
        ];
        assert_eq!(select(&pending, &PhaseRun::Expand).ok(), Some(2));
        assert!(matches!(
            select(&pending, &PhaseRun::Contract),
            Err(Error::ExpandPending {
                version: 1,
                contract_version: 3,
                ..
            })
        ));
        assert_eq!(select(&pending[2..], &PhaseRun::Contract).ok(), Some(2));
        assert_eq!(select(&pending[4..], &PhaseRun::Contract).ok(), Some(0));
        assert_eq!(select(&pending[2..], &PhaseRun::Expand).ok(), Some(0));
        assert!(matches!(
            select(
                &pending,
                &PhaseRun::All {
                    contract_needs_proof: true
                }
            ),
            Err(Error::ContractNeedsProof { version: 3, .. })
        ));
        assert_eq!(
            select(
                &pending,
                &PhaseRun::All {
                    contract_needs_proof: false
                }
            )
            .ok(),
            Some(5)
        );
    }
}
