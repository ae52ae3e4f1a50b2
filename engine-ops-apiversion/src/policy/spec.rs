//! A declared version and its lifecycle, as given to the builder.

use std::time::SystemTime;

use super::link::Link;
use crate::error::ConfigError;
use crate::version::Version;

/// One declared version and its lifecycle: deprecation and sunset instants
/// and the links published with them.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{Version, VersionSpec};
///
/// let v1 = VersionSpec::new(Version::int(1))
///     .deprecated("2024-06-01")
///     .sunset("2025-01-01T00:00:00Z")
///     .deprecation_link("https://example.com/docs/v1-deprecation")
///     .successor_link("/api/v2");
/// # let _ = v1;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct VersionSpec {
    pub(super) version: Version,
    pub(super) deprecation: Option<When>,
    pub(super) sunset: Option<When>,
    pub(super) deprecation_link: Option<Link>,
    pub(super) sunset_link: Option<Link>,
    pub(super) successor_link: Option<Link>,
}

/// A lifecycle instant, given as an instant or as text read at build time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum When {
    At(SystemTime),
    Text(String),
}

impl When {
    /// The instant, reading text as a date; `what` names it in the error.
    pub(super) fn instant(
        &self,
        version: Version,
        what: &'static str,
    ) -> Result<SystemTime, ConfigError> {
        match self {
            When::At(at) => Ok(*at),
            When::Text(text) => {
                crate::date::parse_instant(text).ok_or_else(|| ConfigError::InvalidLifecycleDate {
                    version,
                    what,
                    value: text.clone(),
                })
            }
        }
    }
}

impl VersionSpec {
    /// A version with no lifecycle dates or links.
    pub fn new(version: Version) -> Self {
        VersionSpec {
            version,
            deprecation: None,
            sunset: None,
            deprecation_link: None,
            sunset_link: None,
            successor_link: None,
        }
    }

    /// The instant the version is (or will be) deprecated. Sent as
    /// `Deprecation: @<unix-seconds>` (RFC 9745) from the start, even before
    /// that instant (a future date announces the deprecation).
    pub fn deprecated_at(mut self, at: SystemTime) -> Self {
        self.deprecation = Some(When::At(at));
        self
    }

    /// The deprecation date as text: `2026-01-01` (midnight UTC), an RFC
    /// 3339 timestamp (`2026-01-01T09:00:00+01:00`) or an HTTP-date
    /// (`Thu, 01 Jan 2026 00:00:00 GMT`). Read when the policy is built.
    pub fn deprecated(mut self, date: &str) -> Self {
        self.deprecation = Some(When::Text(date.to_owned()));
        self
    }

    /// The instant the version stops being served (RFC 8594 `Sunset`).
    pub fn sunset_at(mut self, at: SystemTime) -> Self {
        self.sunset = Some(When::At(at));
        self
    }

    /// The sunset date as text, in the forms [`VersionSpec::deprecated`] reads.
    pub fn sunset(mut self, date: &str) -> Self {
        self.sunset = Some(When::Text(date.to_owned()));
        self
    }

    /// A human-readable page about the deprecation (`Link; rel="deprecation"`):
    /// a URI, or a [`Link`] with a media type and title.
    pub fn deprecation_link(mut self, link: impl Into<Link>) -> Self {
        self.deprecation_link = Some(link.into());
        self
    }

    /// A page about the sunset (`Link; rel="sunset"`).
    pub fn sunset_link(mut self, link: impl Into<Link>) -> Self {
        self.sunset_link = Some(link.into());
        self
    }

    /// The replacement (`Link; rel="successor-version"`, RFC 5829).
    pub fn successor_link(mut self, link: impl Into<Link>) -> Self {
        self.successor_link = Some(link.into());
        self
    }
}

impl From<Version> for VersionSpec {
    fn from(version: Version) -> Self {
        VersionSpec::new(version)
    }
}
