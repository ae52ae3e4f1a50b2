//! The versioning policy: declared versions, their lifecycle, the sources a
//! version is read from, and what to do when it is missing or contested.
//!
//! A [`Policy`] is built once by [`PolicyBuilder::build`], which validates
//! everything and precomputes every response header value, so that resolving
//! a request and stamping its response never format or allocate.
//!
//! A policy is configured with [`VersionSpec`]s (a version, its deprecation
//! and sunset dates, their [`Link`]s), [`Source`]s, a [`Conflict`] and a
//! [`Missing`] rule, and optionally a [`VersionReader`], a
//! [`DefaultSelector`] and a [`Clock`]; a version's [`Lifecycle`] at an
//! instant follows from its dates.

// This file is the public face (`Policy`, `PolicyBuilder`); the vocabulary
// is in source.rs, spec.rs, link.rs and clock.rs; what a build produces,
// and what every other part of the crate reads, is compiled.rs.

mod clock;
pub(crate) mod compiled;
mod link;
mod source;
mod spec;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderName, Method};

pub(crate) use clock::Now;
pub use clock::{Clock, ManualClock, SystemClock};
use compiled::{CompiledPolicy, Settings, SourceConfig};
pub use link::Link;
pub(crate) use link::is_tchar;
pub use source::{Conflict, DefaultSelector, Lifecycle, Missing, Source, VersionReader};
pub use spec::VersionSpec;

use crate::error::{ConfigError, VersionError};
use crate::headers;
use crate::problem;
use crate::resolution::Resolution;
use crate::route_versions::RouteVersionsLayer;
use crate::usage::UsageSnapshot;
use crate::version::{Scheme, Version};

/// A validated, immutable versioning policy. Cheap to clone (one `Arc`).
///
/// Build one with [`Policy::builder`]; use it with [`resolve`](crate::resolve)
/// directly or through [`ApiVersionLayer`](crate::ApiVersionLayer).
#[derive(Clone)]
pub struct Policy {
    pub(crate) inner: Arc<CompiledPolicy>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("scheme", &self.inner.scheme)
            .field("versions", &self.versions().collect::<Vec<_>>())
            .field("sources", &self.inner.sources)
            .field("conflict", &self.inner.conflict)
            .field("missing", &self.inner.missing)
            .field("neutral", &self.inner.neutral)
            .field("neutral_endpoints", &self.inner.neutral_endpoints)
            .field("selector", &self.inner.selector)
            .field("enforce_sunset", &self.inner.enforce_sunset)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Starts a policy whose versions are written in `scheme`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::{Missing, Policy, Scheme, Version};
    ///
    /// let policy = Policy::builder(Scheme::Integer)
    ///     .version(Version::int(1))
    ///     .version(Version::int(2))
    ///     .path_source("/api")
    ///     .header_source()
    ///     .on_missing(Missing::Latest)
    ///     .build()?;
    /// assert_eq!(policy.latest(), Version::int(2));
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    pub fn builder(scheme: Scheme) -> PolicyBuilder {
        PolicyBuilder {
            settings: Settings {
                scheme,
                specs: Vec::new(),
                sources: Vec::new(),
                conflict: Conflict::Reject,
                missing: Missing::Reject,
                neutral: Vec::new(),
                neutral_endpoints: Vec::new(),
                selector: None,
                enforce_sunset: false,
                clock: Arc::new(SystemClock),
            },
        }
    }

    /// The declared versions, ascending.
    pub fn versions(&self) -> impl DoubleEndedIterator<Item = Version> + ExactSizeIterator + '_ {
        self.inner.entries.iter().map(|e| e.version)
    }

    /// The highest declared version (the "head" that handlers speak),
    /// pre-releases included.
    #[must_use]
    pub fn latest(&self) -> Version {
        self.inner
            .entries
            .last()
            .map(|e| e.version)
            .unwrap_or(Version::int(0))
    }

    /// The policy's scheme.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.inner.scheme
    }

    /// The current instant according to the policy's clock.
    #[must_use]
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// When a declared version is (or was) deprecated, if it has a date.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::{Policy, Scheme, Version, VersionSpec};
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let policy = Policy::builder(Scheme::Integer)
    ///     .version(VersionSpec::new(Version::int(1)).deprecated("2026-01-01"))
    ///     .header_source()
    ///     .build()?;
    /// assert_eq!(
    ///     policy.deprecation(Version::int(1)),
    ///     Some(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    /// );
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    #[must_use]
    pub fn deprecation(&self, version: Version) -> Option<SystemTime> {
        self.entry_index(version)
            .and_then(|i| self.inner.entries[i].deprecation)
    }

    /// When a declared version is (or was) sunset, if it has a date.
    #[must_use]
    pub fn sunset(&self, version: Version) -> Option<SystemTime> {
        self.entry_index(version)
            .and_then(|i| self.inner.entries[i].sunset)
    }

    /// A version's lifecycle at `now`, or `None` if it is not declared.
    #[must_use]
    pub fn lifecycle(&self, version: Version, now: SystemTime) -> Option<Lifecycle> {
        self.entry_index(version)
            .map(|i| self.inner.entries[i].lifecycle(now))
    }

    /// The versions deprecated (and not yet sunset, or sunset) at `now`, ascending.
    pub fn deprecated_versions(&self, now: SystemTime) -> impl Iterator<Item = Version> + '_ {
        self.inner
            .entries
            .iter()
            .filter(move |e| e.lifecycle(now) != Lifecycle::Active)
            .map(|e| e.version)
    }

    /// A snapshot of the usage counters (requests by version, source and
    /// outcome) recorded by the layer since start-up.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::{Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
    /// let snapshot = policy.usage();
    /// assert_eq!(snapshot.total(), 0);
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    #[must_use]
    pub fn usage(&self) -> UsageSnapshot {
        self.inner.usage.snapshot(&self.inner.versions)
    }

    /// Stamps response headers the way the layer does: discovery headers
    /// always, and with a resolution the served `api-version`, `Deprecation`,
    /// `Sunset` and `Link` (appended); `Vary` is merged. For servers that do
    /// not use tower.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::{resolve, Policy, Scheme, Version};
    ///
    /// let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
    /// let (parts, ()) = http::Request::get("/").header("x-api-version", "1").body(())?.into_parts();
    /// let resolution = resolve(&parts, &policy)?;
    /// let mut headers = http::HeaderMap::new();
    /// policy.stamp(&mut headers, Some(&resolution));
    /// assert_eq!(headers["api-version"], "1");
    /// assert_eq!(headers["vary"], "x-api-version");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stamp(&self, headers: &mut http::HeaderMap, resolution: Option<&Resolution>) {
        headers::stamp(&self.inner, headers, resolution, None);
    }

    /// The RFC 9457 problem response for a resolution error, with its
    /// discovery headers, as the layer answers it. For servers that do not
    /// use tower.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::{resolve, Policy, Scheme, Version};
    ///
    /// let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
    /// let (parts, ()) = http::Request::get("/").header("x-api-version", "7").body(())?.into_parts();
    /// let error = resolve(&parts, &policy).expect_err("7 is not declared");
    /// let response = policy.problem(&error);
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(response.headers()["content-type"], "application/problem+json");
    /// let doc: serde_json::Value = serde_json::from_slice(response.body())?;
    /// assert_eq!(doc["requested"], "7");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn problem(&self, error: &VersionError) -> http::Response<bytes::Bytes> {
        let now = self.inner.clock.now();
        let doc = error.problem_document(self.versions(), self.deprecated_versions(now));
        let mut response = problem::response(error.status(), doc, |bytes| bytes);
        headers::stamp(&self.inner, response.headers_mut(), None, Some(now));
        if let VersionError::Sunset { version, .. } = error
            && let Some(index) = self.entry_index(*version)
        {
            // The 410 says when the version went and where to go instead.
            headers::stamp_lifecycle(&self.inner.entries[index], response.headers_mut());
        }
        response
    }

    /// A layer for a route served from `version` on: the route was added in
    /// that version (see [`route_versions`](crate::route_versions)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRouteVersions`] when `version` is not declared.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::{Policy, Scheme, Version};
    /// let policy = Policy::builder(Scheme::Integer)
    ///     .version(Version::int(1)).version(Version::int(2)).version(Version::int(3))
    ///     .header_source()
    ///     .build()?;
    /// assert_eq!(policy.route_since(Version::int(2))?.versions(), [Version::int(2), Version::int(3)]);
    /// assert!(policy.route_since(Version::int(4)).is_err());
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    pub fn route_since(&self, version: Version) -> Result<RouteVersionsLayer, ConfigError> {
        self.route_versions(
            [version],
            |v| v >= version,
            format!("from version {version} on"),
        )
    }

    /// A layer for a route served at the versions before `version`: the
    /// route was removed in that version, and older clients keep it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRouteVersions`] when `version` is not declared
    /// or is the lowest one (the route would never be served).
    pub fn route_before(&self, version: Version) -> Result<RouteVersionsLayer, ConfigError> {
        self.route_versions(
            [version],
            |v| v < version,
            format!("before version {version}"),
        )
    }

    /// A layer for a route served at exactly these versions (ASP.NET's
    /// `MapToApiVersion`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRouteVersions`] when a version is not declared
    /// or none is given.
    pub fn route_only(
        &self,
        versions: impl IntoIterator<Item = Version>,
    ) -> Result<RouteVersionsLayer, ConfigError> {
        let named: Vec<Version> = versions.into_iter().collect();
        let list = named
            .iter()
            .map(Version::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        self.route_versions(
            named.clone(),
            |v| named.contains(&v),
            format!("at version {list} only"),
        )
    }

    fn route_versions(
        &self,
        named: impl IntoIterator<Item = Version>,
        serves: impl Fn(Version) -> bool,
        description: String,
    ) -> Result<RouteVersionsLayer, ConfigError> {
        if let Some(version) = named
            .into_iter()
            .find(|v| self.inner.versions.binary_search(v).is_err())
        {
            return Err(ConfigError::InvalidRouteVersions {
                reason: format!("version {version} is not declared by the policy"),
            });
        }
        let served: Vec<Version> = self.versions().filter(|&v| serves(v)).collect();
        if served.is_empty() {
            return Err(ConfigError::InvalidRouteVersions {
                reason: format!("a route served {description} is served at no declared version"),
            });
        }
        Ok(RouteVersionsLayer::new(served, description))
    }

    pub(crate) fn entry_index(&self, version: Version) -> Option<usize> {
        self.inner.entry_index(version)
    }
}

/// Builds a [`Policy`]; every check is deferred to [`PolicyBuilder::build`].
///
/// Sources are consulted in the order they are added.
#[derive(Debug)]
#[must_use]
pub struct PolicyBuilder {
    settings: Settings,
}

/// The default header source name.
pub const DEFAULT_HEADER: &str = "x-api-version";
/// The default query parameter name.
pub const DEFAULT_QUERY: &str = "api_version";
/// The default media-type parameter name.
pub const DEFAULT_MEDIA_TYPE_PARAM: &str = "version";

impl PolicyBuilder {
    /// Declares a version, with or without lifecycle (`Version` or [`VersionSpec`]).
    pub fn version(mut self, spec: impl Into<VersionSpec>) -> Self {
        self.settings.specs.push(spec.into());
        self
    }

    /// Reads the version from the path segment after `prefix`: with
    /// `"/api"`, `/api/v2/optimize` carries `v2`. Use `"/"` for the first
    /// segment. A segment that does not look like a version (`/api/orders`)
    /// carries none; one that does but is malformed (`/api/v2x`) is invalid.
    pub fn path_source(mut self, prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        let config = if !prefix.starts_with('/') {
            Err(ConfigError::invalid_name(
                "path prefix",
                prefix,
                "it must start with '/'",
            ))
        } else if trimmed
            .bytes()
            .any(|b| matches!(b, b'?' | b'#') || b.is_ascii_whitespace())
        {
            Err(ConfigError::invalid_name(
                "path prefix",
                prefix,
                "it must be a plain path",
            ))
        } else {
            Ok(SourceConfig::Path {
                prefix: trimmed.into(),
            })
        };
        self.settings.sources.push(config);
        self
    }

    /// Reads the version from the `X-API-Version` header.
    pub fn header_source(self) -> Self {
        self.header_source_named(DEFAULT_HEADER)
    }

    /// Reads the version from the named header (case-insensitive).
    pub fn header_source_named(mut self, name: &str) -> Self {
        let config = HeaderName::from_bytes(name.as_bytes())
            .map(|name| SourceConfig::Header { name })
            .map_err(|_| {
                ConfigError::invalid_name("header name", name, "it is not a valid HTTP field name")
            });
        self.settings.sources.push(config);
        self
    }

    /// Reads the version from the `api_version` query parameter.
    pub fn query_source(self) -> Self {
        self.query_source_named(DEFAULT_QUERY)
    }

    /// Reads the version from the named query parameter (matched ASCII
    /// case-insensitively).
    pub fn query_source_named(mut self, name: &str) -> Self {
        let config = if name.is_empty()
            || name
                .bytes()
                .any(|b| b"&=#+% ".contains(&b) || b.is_ascii_control())
        {
            Err(ConfigError::invalid_name(
                "query parameter",
                name,
                "it must be non-empty, without '&', '=', '#', '+', '%' or spaces",
            ))
        } else {
            Ok(SourceConfig::Query { name: name.into() })
        };
        self.settings.sources.push(config);
        self
    }

    /// Reads the version from `Accept`: the `version` media-type parameter
    /// (`application/json; version=2`), ranked by q-value.
    pub fn media_type_source(self) -> Self {
        self.media_type_source_with(DEFAULT_MEDIA_TYPE_PARAM, None)
    }

    /// Reads the version from `Accept` with a custom parameter name and,
    /// optionally, vendor types `application/vnd.<vendor>.v2+json`.
    pub fn media_type_source_with(mut self, param: &str, vendor: Option<&str>) -> Self {
        let config = if param.is_empty()
            || !param.bytes().all(is_tchar)
            || param.eq_ignore_ascii_case("q")
        {
            Err(ConfigError::invalid_name(
                "media-type parameter",
                param,
                "it must be a token other than 'q'",
            ))
        } else if let Some(vendor) =
            vendor.filter(|v| v.is_empty() || !v.bytes().all(|b| is_tchar(b) && b != b'+'))
        {
            Err(ConfigError::invalid_name(
                "vendor name",
                vendor,
                "it must be a non-empty token without '+'",
            ))
        } else {
            Ok(SourceConfig::MediaType {
                param: param.to_ascii_lowercase().into(),
                vendor: vendor.map(|v| format!("vnd.{}.", v.to_ascii_lowercase()).into()),
            })
        };
        self.settings.sources.push(config);
        self
    }

    /// Reads the version with an application's [`VersionReader`] (a cookie,
    /// a subdomain), consulted in the order added like the built-in sources.
    pub fn reader(mut self, reader: impl VersionReader) -> Self {
        let name = reader.name();
        let config =
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                Err(ConfigError::invalid_name(
                    "reader name",
                    name,
                    "it must be non-empty lowercase ASCII letters or '-'",
                ))
            } else if matches!(
                name,
                "path" | "header" | "query" | "media-type" | "selector"
            ) {
                Err(ConfigError::invalid_name(
                    "reader name",
                    name,
                    "it names a built-in source: choose another",
                ))
            } else {
                Ok(SourceConfig::Custom {
                    reader: Arc::new(reader),
                })
            };
        self.settings.sources.push(config);
        self
    }

    /// Chooses the version of requests that carry none, per request (see
    /// [`DefaultSelector`]); [`Missing`] applies when it returns `None`.
    pub fn default_selector(mut self, selector: impl DefaultSelector) -> Self {
        self.settings.selector = Some(Arc::new(selector));
        self
    }

    /// How disagreeing sources are settled ([`Conflict::Reject`] by default).
    pub fn on_conflict(mut self, conflict: Conflict) -> Self {
        self.settings.conflict = conflict;
        self
    }

    /// What a request without a version gets ([`Missing::Reject`] by default).
    pub fn on_missing(mut self, missing: Missing) -> Self {
        self.settings.missing = missing;
        self
    }

    /// Marks a path prefix as version-neutral (matched on whole segments:
    /// `/health` covers `/health` and `/health/ready`, not `/healthz`). A
    /// missing, invalid, unsupported, ambiguous or sunset version never fails
    /// there; the request gets the fallback version, marked neutral.
    ///
    /// CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) are
    /// always neutral: browsers send them without custom headers.
    pub fn neutral_path(mut self, prefix: &str) -> Self {
        self.settings.neutral.push(prefix.to_owned());
        self
    }

    /// Marks one endpoint as version-neutral: `method` (`None` for any) on
    /// the routed path `pattern`, in axum's syntax (`/users/{id}/avatar`,
    /// `/files/{*rest}`), matched whole against the path the router sees
    /// (after a path version segment is removed). `HEAD` matches a `GET`
    /// endpoint. Like [`neutral_path`](Self::neutral_path), a missing or
    /// bad version never fails there.
    pub fn neutral_endpoint(mut self, method: Option<Method>, pattern: &str) -> Self {
        self.settings
            .neutral_endpoints
            .push((method, pattern.to_owned()));
        self
    }

    /// Answer 410 Gone (the `sunset` problem) for versions past their
    /// sunset, with the version's `Sunset`, `Deprecation` and `Link`
    /// (successor included) so the client learns when and where to go. Off by
    /// default: such versions are served with their headers.
    pub fn enforce_sunset(mut self, enforce: bool) -> Self {
        self.settings.enforce_sunset = enforce;
        self
    }

    /// The clock lifecycle dates are judged against ([`SystemClock`] by default).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }

    /// Validates the policy and precomputes its header values.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for: no versions, a duplicate version, a version of
    /// another scheme, a default that is not declared, a lifecycle date that
    /// does not read as a date, a sunset at or before its deprecation, a date
    /// outside 1970..=9999, an unusable link (or its type or title), no
    /// source, a source added twice (readers by name), an invalid source or
    /// reader name, a neutral path or endpoint pattern that can never match,
    /// or a preferred source that is not configured.
    pub fn build(self) -> Result<Policy, ConfigError> {
        Ok(Policy {
            inner: Arc::new(CompiledPolicy::compile(self.settings)?),
        })
    }
}
