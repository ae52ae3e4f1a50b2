//! Usage counters: requests by version, source and outcome.
//!
//! The counters are a fixed table of atomics sized at build time, so recording
//! is one relaxed `fetch_add` and never allocates or locks. They answer the
//! question a sunset depends on: who still calls v1? Read them with
//! [`Policy::usage`](crate::Policy::usage).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::VersionError;
use crate::policy::{Lifecycle, Source};
use crate::resolution::Resolution;
use crate::version::Version;

/// The outcome of one request's version resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Outcome {
    /// Served an active version.
    Active,
    /// Served a deprecated version.
    Deprecated,
    /// Served a version past its sunset (enforcement off).
    Sunset,
    /// A neutral route, served whatever the version said.
    Neutral,
    /// Rejected: no version.
    Missing,
    /// Rejected: malformed version.
    Invalid,
    /// Rejected: well-formed but unsupported version.
    Unsupported,
    /// Rejected: sources disagree.
    Ambiguous,
    /// Rejected: sunset enforced (410).
    Gone,
}

const OUTCOMES: [Outcome; 9] = [
    Outcome::Active,
    Outcome::Deprecated,
    Outcome::Sunset,
    Outcome::Neutral,
    Outcome::Missing,
    Outcome::Invalid,
    Outcome::Unsupported,
    Outcome::Ambiguous,
    Outcome::Gone,
];

impl Outcome {
    /// A lowercase name for logs and metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(engine_ops_apiversion::usage::Outcome::Gone.as_str(), "gone");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Active => "active",
            Outcome::Deprecated => "deprecated",
            Outcome::Sunset => "sunset",
            Outcome::Neutral => "neutral",
            Outcome::Missing => "missing",
            Outcome::Invalid => "invalid",
            Outcome::Unsupported => "unsupported",
            Outcome::Ambiguous => "ambiguous",
            Outcome::Gone => "gone",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One non-zero counter of a [`UsageSnapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsageRecord {
    /// The served version (`None` when rejected before a declared version was found).
    pub version: Option<Version>,
    /// Where the version came from (`None` when defaulted or absent).
    pub source: Option<Source>,
    /// What happened.
    pub outcome: Outcome,
    /// How many requests.
    pub count: u64,
}

/// The counters at one instant, from [`Policy::usage`](crate::Policy::usage).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageSnapshot {
    records: Vec<UsageRecord>,
}

impl UsageSnapshot {
    /// Every non-zero counter, ordered by version, source (in the policy's
    /// order, the selector last, then none), outcome.
    #[must_use]
    pub fn records(&self) -> &[UsageRecord] {
        &self.records
    }

    /// All requests counted.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.records.iter().map(|r| r.count).sum()
    }

    /// Requests served at `version`, whatever the source or outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::Version;
    /// # use engine_ops_apiversion::usage::UsageSnapshot;
    /// assert_eq!(UsageSnapshot::default().for_version(Version::int(1)), 0);
    /// ```
    #[must_use]
    pub fn for_version(&self, version: Version) -> u64 {
        self.records
            .iter()
            .filter(|r| r.version == Some(version))
            .map(|r| r.count)
            .sum()
    }

    /// Requests with the given outcome.
    #[must_use]
    pub fn for_outcome(&self, outcome: Outcome) -> u64 {
        self.records
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.count)
            .sum()
    }
}

/// `(versions + 1) × (sources + 1) × 9 outcomes` atomics; version slot 0
/// is "none", the last source slot is "no source".
#[derive(Debug)]
pub(crate) struct Usage {
    /// The policy's sources in order (and the selector, if any).
    sources: Box<[Source]>,
    counters: Box<[AtomicU64]>,
}

impl Usage {
    pub(crate) fn new(versions: usize, sources: Vec<Source>) -> Self {
        let len = (versions + 1) * (sources.len() + 1) * OUTCOMES.len();
        Usage {
            sources: sources.into(),
            counters: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, version: Option<usize>, source: Option<Source>, outcome: Outcome) -> usize {
        let width = self.sources.len() + 1;
        let v = version.map_or(0, |i| i + 1);
        // A handful of sources: a scan is as fast as any lookup.
        let s = source
            .and_then(|source| self.sources.iter().position(|&s| s == source))
            .unwrap_or(width - 1);
        (v * width + s) * OUTCOMES.len() + outcome.index()
    }

    pub(crate) fn record(
        &self,
        versions: &[Version],
        result: &Result<Resolution, VersionError>,
    ) -> Outcome {
        let (version, source, outcome) = match result {
            Ok(r) => {
                let outcome = if r.is_neutral() {
                    Outcome::Neutral
                } else {
                    match r.lifecycle() {
                        Lifecycle::Active => Outcome::Active,
                        Lifecycle::Deprecated => Outcome::Deprecated,
                        Lifecycle::Sunset => Outcome::Sunset,
                    }
                };
                (Some(r.index), r.source(), outcome)
            }
            Err(e) => match e {
                VersionError::Missing => (None, None, Outcome::Missing),
                VersionError::Invalid { found_in, .. } => (None, Some(*found_in), Outcome::Invalid),
                VersionError::Unsupported { found_in, .. } => {
                    (None, Some(*found_in), Outcome::Unsupported)
                }
                VersionError::Ambiguous { first, .. } => (None, Some(*first), Outcome::Ambiguous),
                VersionError::Sunset {
                    version, found_in, ..
                } => (
                    versions.binary_search(version).ok(),
                    *found_in,
                    Outcome::Gone,
                ),
            },
        };
        if let Some(counter) = self.counters.get(self.slot(version, source, outcome)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    pub(crate) fn snapshot(&self, versions: &[Version]) -> UsageSnapshot {
        let mut records = Vec::new();
        let sources = self.sources.iter().copied().map(Some).chain([None]);
        for v in 0..=versions.len() {
            for source in sources.clone() {
                for outcome in OUTCOMES {
                    let version = v.checked_sub(1);
                    let count = self
                        .counters
                        .get(self.slot(version, source, outcome))
                        .map_or(0, |c| c.load(Ordering::Relaxed));
                    if count > 0 {
                        records.push(UsageRecord {
                            version: version.and_then(|i| versions.get(i)).copied(),
                            source,
                            outcome,
                            count,
                        });
                    }
                }
            }
        }
        UsageSnapshot { records }
    }
}
