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

/// The expand / contract phase a migration belongs to.
///
/// Expand steps are safe to run while the previous application version is
/// still serving (they only add); contract steps remove what the old version
/// needs and run only after it is gone. The migrator records the phase and
/// reports it; scheduling phases around a rollout is the caller's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Adds schema or data that both the old and the new application accept.
    Expand,
    /// Removes what only the old application needed.
    Contract,
}

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
