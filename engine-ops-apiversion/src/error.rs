//! Errors: [`ConfigError`] from [`PolicyBuilder::build`](crate::PolicyBuilder::build)
//! and [`ChangesBuilder::build`](crate::transform::ChangesBuilder::build), and
//! [`VersionError`] from [`resolve()`](crate::resolve).
//!
//! They are two enums because they answer to two audiences: a `ConfigError`
//! is the operator's mistake, found once at start-up; a `VersionError` is the
//! client's, rendered as an RFC 9457 problem on every bad request.

use std::time::SystemTime;

use http::StatusCode;
use serde_json::{Value, json};

use crate::policy::Source;
use crate::problem::ProblemKind;
use crate::version::Version;

/// A policy or change set that cannot be built. Returned once, at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No version was declared.
    #[error("no api version is declared: add at least one with `PolicyBuilder::version`")]
    NoVersions,
    /// The same version was declared twice.
    #[error("api version {version} is declared twice: declare each version once")]
    DuplicateVersion {
        /// The repeated version.
        version: Version,
    },
    /// A version does not belong to the policy's scheme.
    #[error("api version {version} is not a {scheme} version: use one scheme for every version")]
    SchemeMismatch {
        /// The offending version.
        version: Version,
        /// The policy's scheme name.
        scheme: &'static str,
    },
    /// A date that does not exist on the calendar.
    #[error("{year:04}-{month:02}-{day:02} is not a calendar date: check the month and day")]
    InvalidDate {
        /// Year.
        year: u16,
        /// Month.
        month: u8,
        /// Day.
        day: u8,
    },
    /// A version status suffix that cannot be used.
    #[error(
        "version status {status:?} of {version} is not usable: use 1 to 6 ASCII letters or digits starting with a letter (`beta`, `rc1`), on a major.minor version"
    )]
    InvalidStatus {
        /// The version it was meant for.
        version: Version,
        /// The rejected status.
        status: String,
    },
    /// A lifecycle date given as text that does not read as a date.
    #[error(
        "the {what} date of api version {version} ({value:?}) is not a date: write 2027-01-01, an RFC 3339 timestamp (2027-01-01T00:00:00Z) or an HTTP-date, from 1970 on"
    )]
    InvalidLifecycleDate {
        /// The version.
        version: Version,
        /// `deprecation` or `sunset`.
        what: &'static str,
        /// The rejected text.
        value: String,
    },
    /// The fixed default version is not among the declared versions.
    #[error("default api version {version} is not declared: declare it or choose another default")]
    DefaultNotSupported {
        /// The default.
        version: Version,
    },
    /// A version's sunset comes before (or at) its deprecation.
    #[error(
        "api version {version} is sunset before it is deprecated: move the sunset after the deprecation date"
    )]
    SunsetBeforeDeprecation {
        /// The version.
        version: Version,
    },
    /// A `Link` target is not a usable URI.
    #[error(
        "the {rel} link of api version {version} ({link:?}) is not usable: give an absolute http(s) URI or a path starting with '/'"
    )]
    InvalidLink {
        /// The version.
        version: Version,
        /// The link relation (`deprecation`, `sunset`, `successor-version`).
        rel: &'static str,
        /// The rejected link.
        link: String,
    },
    /// No source was configured, so no request could ever carry a version.
    #[error("no version source is configured: add a path, header, query or media-type source")]
    NoSource,
    /// A source was configured twice.
    #[error("the {source_kind} source is configured twice: configure each source once")]
    DuplicateSource {
        /// The source.
        source_kind: Source,
    },
    /// The conflict policy prefers a source that is not configured.
    #[error(
        "the conflict policy prefers the {source_kind} source, which is not configured: configure it or prefer a configured source"
    )]
    PreferredSourceMissing {
        /// The source.
        source_kind: Source,
    },
    /// A name (header, query parameter, media-type parameter, vendor, path
    /// prefix, reader name, neutral endpoint pattern, link type or title) is
    /// unusable.
    #[error("{what} {value:?} is not valid: {reason}")]
    InvalidName {
        /// What the name is for.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A per-route version set names a version the policy does not declare,
    /// or serves no declared version.
    #[error("the route's versions are unusable: {reason}")]
    InvalidRouteVersions {
        /// Why.
        reason: String,
    },
    /// A change set was built for a policy with other versions than the
    /// layer's.
    #[error(
        "the changes were built for a policy with versions {changes:?}, the layer's declares {policy:?}: build the changes from the layer's policy"
    )]
    ChangesForAnotherPolicy {
        /// The layer's versions.
        policy: Vec<String>,
        /// The versions the changes were built for.
        changes: Vec<String>,
    },
    /// A transform change was registered at a version the policy does not know,
    /// or with a route scope that is not an absolute path.
    #[error("change {description:?} is invalid: {reason}")]
    InvalidChange {
        /// The change's description.
        description: String,
        /// Why.
        reason: String,
    },
}

/// Why a request's version could not be resolved. Each maps to one RFC 9457
/// problem type (see [`ProblemKind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The request carries no version and the policy rejects missing versions.
    #[error("the request carries no api version: send one")]
    Missing,
    /// A source carries a value that is not a version of the policy's scheme.
    #[error(
        "the {found_in} carries {requested:?}, which is not a valid api version: send one of the supported versions"
    )]
    Invalid {
        /// Where the value was found.
        found_in: Source,
        /// The value as sent (lossy UTF-8, trimmed; at most 64 bytes, then `…`).
        requested: String,
    },
    /// A well-formed version that the policy does not support.
    #[error(
        "api version {requested:?} (from the {found_in}) is not supported: send one of the supported versions"
    )]
    Unsupported {
        /// Where the value was found.
        found_in: Source,
        /// The value as sent (at most 64 bytes, then `…`).
        requested: String,
    },
    /// Two explicit values disagree (two sources, or one repeated header).
    #[error(
        "the {first} asks for {first_value:?} but the {second} asks for {second_value:?}: send one version"
    )]
    Ambiguous {
        /// The first source.
        first: Source,
        /// Its value (at most 64 bytes, then `…`).
        first_value: String,
        /// The disagreeing source.
        second: Source,
        /// Its value (at most 64 bytes, then `…`).
        second_value: String,
    },
    /// The version's sunset has passed and the policy enforces sunsets.
    #[error("api version {version} was sunset at {}: move to a supported version", httpdate::fmt_http_date(*sunset))]
    Sunset {
        /// The version.
        version: Version,
        /// When it was sunset.
        sunset: SystemTime,
        /// Where the version was found (`None` when it was the default).
        found_in: Option<Source>,
    },
}

impl ConfigError {
    /// [`ConfigError::InvalidName`] for `value`, used as `what`.
    pub(crate) fn invalid_name(what: &'static str, value: &str, reason: &'static str) -> Self {
        ConfigError::InvalidName {
            what,
            value: value.to_owned(),
            reason,
        }
    }
}

impl VersionError {
    /// The problem type this error is answered with.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::VersionError;
    /// use engine_ops_apiversion::problem::ProblemKind;
    /// assert_eq!(VersionError::Missing.kind(), ProblemKind::Missing);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ProblemKind {
        match self {
            VersionError::Missing => ProblemKind::Missing,
            VersionError::Invalid { .. } => ProblemKind::Invalid,
            VersionError::Unsupported { .. } => ProblemKind::Unsupported,
            VersionError::Ambiguous { .. } => ProblemKind::Ambiguous,
            VersionError::Sunset { .. } => ProblemKind::Sunset,
        }
    }

    /// The HTTP status: 410 for [`VersionError::Sunset`], 400 otherwise.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            VersionError::Sunset { .. } => StatusCode::GONE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The RFC 9457 problem document: `type`, `title`, `status`, `detail`,
    /// plus `requested`, `source`, `supported` and `deprecated` (and
    /// `sunset` for a version gone).
    pub(crate) fn problem_document(
        &self,
        supported: impl Iterator<Item = Version>,
        deprecated: impl Iterator<Item = Version>,
    ) -> Value {
        let kind = self.kind();
        let mut doc = json!({
            "type": kind.type_uri(),
            "title": kind.title(),
            "status": self.status().as_u16(),
            "detail": self.to_string(),
            "supported": supported.map(|v| v.to_string()).collect::<Vec<_>>(),
            "deprecated": deprecated.map(|v| v.to_string()).collect::<Vec<_>>(),
        });
        let (requested, source) = match self {
            VersionError::Missing => (None, None),
            VersionError::Invalid {
                found_in,
                requested,
            }
            | VersionError::Unsupported {
                found_in,
                requested,
            } => (Some(json!(requested)), Some(found_in.as_str())),
            VersionError::Ambiguous {
                first,
                first_value,
                second,
                second_value,
            } => (
                Some(json!([
                    { "source": first.as_str(), "value": first_value },
                    { "source": second.as_str(), "value": second_value },
                ])),
                None,
            ),
            VersionError::Sunset {
                version,
                sunset,
                found_in,
            } => {
                if let Some(map) = doc.as_object_mut() {
                    map.insert("sunset".into(), httpdate::fmt_http_date(*sunset).into());
                }
                (
                    Some(json!(version.to_string())),
                    found_in.map(|s| s.as_str()),
                )
            }
        };
        if let Some(map) = doc.as_object_mut() {
            if let Some(requested) = requested {
                map.insert("requested".into(), requested);
            }
            if let Some(source) = source {
                map.insert("source".into(), source.into());
            }
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_thing_and_what_to_do() {
        let unsupported = VersionError::Unsupported {
            found_in: Source::Header,
            requested: "9".to_owned(),
        };
        assert_eq!(
            unsupported.to_string(),
            "api version \"9\" (from the header) is not supported: send one of the supported versions"
        );
        let invalid = VersionError::Invalid {
            found_in: Source::Query,
            requested: "two".to_owned(),
        };
        assert_eq!(
            invalid.to_string(),
            "the query string carries \"two\", which is not a valid api version: send one of the supported versions"
        );
        let link = ConfigError::InvalidLink {
            version: Version::int(1),
            rel: "successor-version",
            link: "v2".to_owned(),
        };
        assert_eq!(
            link.to_string(),
            "the successor-version link of api version 1 (\"v2\") is not usable: give an absolute http(s) URI or a path starting with '/'"
        );
        let preferred = ConfigError::PreferredSourceMissing {
            source_kind: Source::MediaType,
        };
        assert!(
            preferred
                .to_string()
                .ends_with("configure it or prefer a configured source")
        );
    }
}
