//! The versioning policy: declared versions, their lifecycle, the sources a
//! version is read from, and what to do when it is missing or contested.
//!
//! A [`Policy`] is built once by [`PolicyBuilder::build`], which validates
//! everything and precomputes every response header value, so that resolving
//! a request and stamping its response never format or allocate.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue, Method};

use crate::error::ConfigError;
use crate::link::Link;
use crate::route::{Endpoint, Pattern};
use crate::route_versions::RouteVersionsLayer;
use crate::usage::Usage;
use crate::version::{Scheme, Version};

/// Where a version was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Source {
    /// A path segment after the configured prefix (`/api/v2/optimize`).
    Path,
    /// A request header (`X-API-Version` by default).
    Header,
    /// A query parameter (`api_version` by default).
    Query,
    /// A media-type parameter or vendor type in `Accept`.
    MediaType,
    /// A [`VersionReader`] of the application's (a cookie, a subdomain, an
    /// API key's pinned version), by its [name](VersionReader::name).
    Custom(&'static str),
    /// The per-request [`DefaultSelector`], consulted when no source carries
    /// a version.
    Selector,
}

impl Source {
    /// A short lowercase name: `path`, `header`, `query`, `media-type`,
    /// `selector`, or a custom reader's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(engine_ops_apiversion::Source::MediaType.as_str(), "media-type");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Path => "path",
            Source::Header => "header",
            Source::Query => "query",
            Source::MediaType => "media-type",
            Source::Custom(name) => name,
            Source::Selector => "selector",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Path => "path",
            Source::Header => "header",
            Source::Query => "query string",
            Source::MediaType => "media type",
            Source::Custom(name) => name,
            Source::Selector => "default selector",
        })
    }
}

/// What to do when two explicit sources carry different versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conflict {
    /// Every configured source is read; two that disagree are a
    /// [`VersionError::Ambiguous`](crate::VersionError::Ambiguous) (400). The default.
    Reject,
    /// The first source (in configured order) that carries a value wins;
    /// later sources are not consulted.
    FirstWins,
    /// The named source wins when it carries a value; otherwise the first
    /// source in order that does.
    Prefer(Source),
}

/// What a request without any version gets.
///
/// This is the only "required" switch: a version is required exactly when
/// this is [`Missing::Reject`]. Choosing a default never silently changes
/// another setting, and [version-neutral routes](PolicyBuilder::neutral_path)
/// are a separate, per-route knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// Answer 400 with the `missing` problem. The default.
    Reject,
    /// Serve this (declared) version, marked as defaulted.
    Default(Version),
    /// Serve the highest declared *release* (a version without a status
    /// suffix such as `-beta`; the highest version if all have one), marked
    /// as defaulted.
    Latest,
}

/// Reads a version from wherever the application keeps it: a cookie, a
/// subdomain, a custom scheme. Added with [`PolicyBuilder::reader`] and
/// consulted in order with the built-in sources, under the same conflict
/// policy; its value is parsed by the policy's scheme, so a malformed or
/// unsupported one is answered like any other (400, with the reader's name
/// as the `source`).
///
/// For a version chosen *when the request carries none* (an account's
/// pinned version, as Stripe does), use a [`DefaultSelector`] instead: an
/// explicit version from a source still overrides it.
///
/// # Examples
///
/// A subdomain reader: `v2.api.example.com` carries `v2`.
///
/// ```
/// use engine_ops_apiversion::{resolve, Policy, Scheme, Source, Version, VersionReader};
///
/// #[derive(Debug)]
/// struct Subdomain;
///
/// impl VersionReader for Subdomain {
///     fn name(&self) -> &'static str {
///         "subdomain"
///     }
///     fn read<'a>(&'a self, parts: &'a http::request::Parts) -> Option<&'a [u8]> {
///         let host = parts.headers.get(http::header::HOST)?.as_bytes();
///         let label = host.split(|&b| b == b'.').next()?;
///         label.starts_with(b"v").then_some(label)
///     }
/// }
///
/// let policy = Policy::builder(Scheme::Integer)
///     .version(Version::int(1))
///     .version(Version::int(2))
///     .reader(Subdomain)
///     .build()?;
/// let (parts, ()) = http::Request::get("/orders").header("host", "v2.api.example.com").body(())?.into_parts();
/// let resolution = resolve(&parts, &policy)?;
/// assert_eq!(resolution.version(), Version::int(2));
/// assert_eq!(resolution.source(), Some(Source::Custom("subdomain")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait VersionReader: fmt::Debug + Send + Sync + 'static {
    /// A short lowercase name, unique in the policy (`cookie`,
    /// `subdomain`): it appears in problems, usage records and tracing.
    fn name(&self) -> &'static str;

    /// The version token this request carries, as sent (trimmed and parsed
    /// by the policy's scheme), or `None` when it carries none. It may
    /// borrow from the request or from the reader.
    fn read<'a>(&'a self, parts: &'a http::request::Parts) -> Option<&'a [u8]>;
}

/// Chooses the version of a request that carries none, per request: the
/// caller's pinned version (Stripe pins an account to the version current at
/// its first request), a tenant's setting, a client's user agent. Set with
/// [`PolicyBuilder::default_selector`]; consulted only when no source carries
/// a version, before [`Missing`] applies (which it does when the selector
/// returns `None`).
///
/// It is synchronous, as resolution is: look the pin up in middleware
/// placed *before* the versioning layer (authentication usually loads the
/// account anyway) and read it here from the request extensions.
///
/// A selected version is served marked as defaulted, with
/// [`Source::Selector`]; one the policy does not declare is answered as
/// unsupported, and one past an enforced sunset as gone.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{resolve, DefaultSelector, Policy, Scheme, Source, Version};
///
/// /// Put in the extensions by the authentication middleware.
/// #[derive(Clone, Copy)]
/// struct PinnedVersion(Version);
///
/// #[derive(Debug)]
/// struct Pinned;
///
/// impl DefaultSelector for Pinned {
///     fn select(&self, parts: &http::request::Parts) -> Option<Version> {
///         parts.extensions.get::<PinnedVersion>().map(|pin| pin.0)
///     }
/// }
///
/// let policy = Policy::builder(Scheme::Integer)
///     .version(Version::int(1))
///     .version(Version::int(2))
///     .header_source()
///     .default_selector(Pinned)
///     .build()?;
/// let (mut parts, ()) = http::Request::get("/orders").body(())?.into_parts();
/// parts.extensions.insert(PinnedVersion(Version::int(1)));
/// let resolution = resolve(&parts, &policy)?;
/// assert_eq!((resolution.version(), resolution.source()), (Version::int(1), Some(Source::Selector)));
/// assert!(resolution.is_defaulted());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait DefaultSelector: fmt::Debug + Send + Sync + 'static {
    /// The version for a request that carries none, or `None` to let
    /// [`Missing`] decide.
    fn select(&self, parts: &http::request::Parts) -> Option<Version>;
}

/// A version's lifecycle at the instant a request is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lifecycle {
    /// Neither deprecated nor sunset (it may carry a future deprecation date).
    Active,
    /// Its deprecation date has passed.
    Deprecated,
    /// Its sunset date has passed (served only when sunsets are not enforced,
    /// or on a neutral route).
    Sunset,
}

impl Lifecycle {
    /// `active`, `deprecated` or `sunset`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(engine_ops_apiversion::Lifecycle::Deprecated.as_str(), "deprecated");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Deprecated => "deprecated",
            Lifecycle::Sunset => "sunset",
        }
    }
}

/// The source of "now" for lifecycle decisions. Injectable so tests and
/// simulations can move time.
///
/// The clock is read only when a decision depends on it. Time is assumed to
/// move forward: once the clock has been seen past the last deprecation
/// date, the `api-deprecated-versions` value is no longer re-evaluated.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; share it (`Arc`) between the policy
/// and the test that drives it.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use engine_ops_apiversion::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(60));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: SystemTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

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
    version: Version,
    deprecation: Option<When>,
    sunset: Option<When>,
    deprecation_link: Option<Link>,
    sunset_link: Option<Link>,
    successor_link: Option<Link>,
}

/// A lifecycle instant, given as an instant or as text read at build time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    At(SystemTime),
    Text(String),
}

impl When {
    fn instant(&self, version: Version, what: &'static str) -> Result<SystemTime, ConfigError> {
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

/// A configured source with its precomputed names.
#[derive(Debug, Clone)]
pub(crate) enum SourceConfig {
    Path {
        prefix: Box<str>,
    },
    Header {
        name: HeaderName,
    },
    Query {
        name: Box<str>,
    },
    MediaType {
        param: Box<str>,
        vendor: Option<Box<str>>,
    },
    Custom {
        reader: Arc<dyn VersionReader>,
    },
}

impl SourceConfig {
    pub(crate) fn kind(&self) -> Source {
        match self {
            SourceConfig::Path { .. } => Source::Path,
            SourceConfig::Header { .. } => Source::Header,
            SourceConfig::Query { .. } => Source::Query,
            SourceConfig::MediaType { .. } => Source::MediaType,
            SourceConfig::Custom { reader } => Source::Custom(reader.name()),
        }
    }
}

/// A declared version with its precomputed response headers.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) version: Version,
    pub(crate) deprecation: Option<SystemTime>,
    pub(crate) sunset: Option<SystemTime>,
    pub(crate) echo: HeaderValue,
    pub(crate) deprecation_value: Option<HeaderValue>,
    pub(crate) sunset_value: Option<HeaderValue>,
    pub(crate) link_value: Option<HeaderValue>,
}

impl Entry {
    pub(crate) fn lifecycle(&self, now: SystemTime) -> Lifecycle {
        match (self.sunset, self.deprecation) {
            (Some(sunset), _) if sunset <= now => Lifecycle::Sunset,
            (_, Some(deprecation)) if deprecation <= now => Lifecycle::Deprecated,
            _ => Lifecycle::Active,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) scheme: Scheme,
    /// Sorted ascending, unique.
    pub(crate) entries: Vec<Entry>,
    /// `entries[i].version`, packed: a request's version is looked up here,
    /// within a cache line or two, not across the entries' header values.
    pub(crate) versions: Box<[Version]>,
    pub(crate) sources: Vec<SourceConfig>,
    pub(crate) conflict: Conflict,
    pub(crate) missing: Missing,
    /// Index into `entries` of the version used when missing (or on neutral routes).
    pub(crate) fallback: usize,
    pub(crate) neutral: Vec<Box<str>>,
    /// Version-neutral endpoints (method + pattern), matched on the routed path.
    pub(crate) neutral_endpoints: Vec<Endpoint>,
    pub(crate) selector: Option<Arc<dyn DefaultSelector>>,
    pub(crate) enforce_sunset: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) supported_value: HeaderValue,
    /// `(from, value)`, sorted by `from`: the `api-deprecated-versions` value
    /// in force from that instant on (`None` while nothing is deprecated).
    pub(crate) deprecated_values: Vec<(SystemTime, Option<HeaderValue>)>,
    /// Set once the clock has been seen past the last entry of
    /// `deprecated_values`: from then on the value is fixed and the clock is
    /// not read for it.
    pub(crate) deprecated_settled: AtomicBool,
    /// Tokens for `Vary` (lowercase), at most two.
    pub(crate) vary_tokens: Vec<HeaderName>,
    /// `vary_values[mask]`: the `Vary` value listing the tokens whose bit is set.
    pub(crate) vary_values: Vec<Option<HeaderValue>>,
    pub(crate) usage: Usage,
}

/// A validated, immutable versioning policy. Cheap to clone (one `Arc`).
///
/// Build one with [`Policy::builder`]; use it with [`resolve`](crate::resolve)
/// directly or through [`ApiVersionLayer`](crate::ApiVersionLayer).
#[derive(Clone)]
pub struct Policy {
    pub(crate) inner: Arc<Inner>,
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
    pub fn usage(&self) -> crate::usage::UsageSnapshot {
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
    pub fn stamp(&self, headers: &mut http::HeaderMap, resolution: Option<&crate::Resolution>) {
        crate::headers::stamp(&self.inner, headers, resolution, None);
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
    pub fn problem(&self, error: &crate::VersionError) -> http::Response<bytes::Bytes> {
        let now = self.inner.clock.now();
        let doc = error.problem_document(self.versions(), self.deprecated_versions(now));
        let mut response = crate::problem::response(error.status(), doc, |bytes| bytes);
        crate::headers::stamp(&self.inner, response.headers_mut(), None, Some(now));
        if let crate::VersionError::Sunset { version, .. } = error
            && let Some(index) = self.entry_index(*version)
        {
            // The 410 says when the version went and where to go instead.
            crate::headers::stamp_lifecycle(&self.inner.entries[index], response.headers_mut());
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
        self.inner
            .entries
            .binary_search_by(|e| e.version.cmp(&version))
            .ok()
    }
}

/// Builds a [`Policy`]; every check is deferred to [`PolicyBuilder::build`].
///
/// Sources are consulted in the order they are added.
#[derive(Debug)]
#[must_use]
pub struct PolicyBuilder {
    scheme: Scheme,
    specs: Vec<VersionSpec>,
    sources: Vec<Result<SourceConfig, ConfigError>>,
    conflict: Conflict,
    missing: Missing,
    neutral: Vec<String>,
    neutral_endpoints: Vec<(Option<Method>, String)>,
    selector: Option<Arc<dyn DefaultSelector>>,
    enforce_sunset: bool,
    clock: Arc<dyn Clock>,
}

/// The default header source name.
pub const DEFAULT_HEADER: &str = "x-api-version";
/// The default query parameter name.
pub const DEFAULT_QUERY: &str = "api_version";
/// The default media-type parameter name.
pub const DEFAULT_MEDIA_TYPE_PARAM: &str = "version";

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::InvalidName {
        what,
        value: value.to_owned(),
        reason,
    }
}

impl PolicyBuilder {
    /// Declares a version, with or without lifecycle (`Version` or [`VersionSpec`]).
    pub fn version(mut self, spec: impl Into<VersionSpec>) -> Self {
        self.specs.push(spec.into());
        self
    }

    /// Reads the version from the path segment after `prefix`: with
    /// `"/api"`, `/api/v2/optimize` carries `v2`. Use `"/"` for the first
    /// segment. A segment that does not look like a version (`/api/orders`)
    /// carries none; one that does but is malformed (`/api/v2x`) is invalid.
    pub fn path_source(mut self, prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        let config = if !prefix.starts_with('/') {
            Err(invalid("path prefix", prefix, "it must start with '/'"))
        } else if trimmed
            .bytes()
            .any(|b| matches!(b, b'?' | b'#') || b.is_ascii_whitespace())
        {
            Err(invalid("path prefix", prefix, "it must be a plain path"))
        } else {
            Ok(SourceConfig::Path {
                prefix: trimmed.into(),
            })
        };
        self.sources.push(config);
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
            .map_err(|_| invalid("header name", name, "it is not a valid HTTP field name"));
        self.sources.push(config);
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
            Err(invalid(
                "query parameter",
                name,
                "it must be non-empty, without '&', '=', '#', '+', '%' or spaces",
            ))
        } else {
            Ok(SourceConfig::Query { name: name.into() })
        };
        self.sources.push(config);
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
            Err(invalid(
                "media-type parameter",
                param,
                "it must be a token other than 'q'",
            ))
        } else if let Some(vendor) =
            vendor.filter(|v| v.is_empty() || !v.bytes().all(|b| is_tchar(b) && b != b'+'))
        {
            Err(invalid(
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
        self.sources.push(config);
        self
    }

    /// Reads the version with an application's [`VersionReader`] (a cookie,
    /// a subdomain), consulted in the order added like the built-in sources.
    pub fn reader(mut self, reader: impl VersionReader) -> Self {
        let name = reader.name();
        let config =
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                Err(invalid(
                    "reader name",
                    name,
                    "it must be non-empty lowercase ASCII letters or '-'",
                ))
            } else if matches!(
                name,
                "path" | "header" | "query" | "media-type" | "selector"
            ) {
                Err(invalid(
                    "reader name",
                    name,
                    "it names a built-in source: choose another",
                ))
            } else {
                Ok(SourceConfig::Custom {
                    reader: Arc::new(reader),
                })
            };
        self.sources.push(config);
        self
    }

    /// Chooses the version of requests that carry none, per request (see
    /// [`DefaultSelector`]); [`Missing`] applies when it returns `None`.
    pub fn default_selector(mut self, selector: impl DefaultSelector) -> Self {
        self.selector = Some(Arc::new(selector));
        self
    }

    /// How disagreeing sources are settled ([`Conflict::Reject`] by default).
    pub fn on_conflict(mut self, conflict: Conflict) -> Self {
        self.conflict = conflict;
        self
    }

    /// What a request without a version gets ([`Missing::Reject`] by default).
    pub fn on_missing(mut self, missing: Missing) -> Self {
        self.missing = missing;
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
        self.neutral.push(prefix.to_owned());
        self
    }

    /// Marks one endpoint as version-neutral: `method` (`None` for any) on
    /// the routed path `pattern`, in axum's syntax (`/users/{id}/avatar`,
    /// `/files/{*rest}`), matched whole against the path the router sees
    /// (after a path version segment is removed). `HEAD` matches a `GET`
    /// endpoint. Like [`neutral_path`](Self::neutral_path), a missing or
    /// bad version never fails there.
    pub fn neutral_endpoint(mut self, method: Option<Method>, pattern: &str) -> Self {
        self.neutral_endpoints.push((method, pattern.to_owned()));
        self
    }

    /// Answer 410 Gone (the `sunset` problem) for versions past their
    /// sunset, with the version's `Sunset`, `Deprecation` and `Link`
    /// (successor included) so the client learns when and where to go. Off by
    /// default: such versions are served with their headers.
    pub fn enforce_sunset(mut self, enforce: bool) -> Self {
        self.enforce_sunset = enforce;
        self
    }

    /// The clock lifecycle dates are judged against ([`SystemClock`] by default).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
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
        let sources = self.sources.into_iter().collect::<Result<Vec<_>, _>>()?;
        if sources.is_empty() {
            return Err(ConfigError::NoSource);
        }
        for (i, s) in sources.iter().enumerate() {
            if sources[..i].iter().any(|o| o.kind() == s.kind()) {
                return Err(ConfigError::DuplicateSource {
                    source_kind: s.kind(),
                });
            }
        }
        if let Conflict::Prefer(preferred) = self.conflict
            && !sources.iter().any(|s| s.kind() == preferred)
        {
            return Err(ConfigError::PreferredSourceMissing {
                source_kind: preferred,
            });
        }
        let mut neutral = Vec::with_capacity(self.neutral.len());
        for prefix in &self.neutral {
            if !prefix.starts_with('/') || prefix.bytes().any(|b| matches!(b, b'?' | b'#')) {
                return Err(invalid(
                    "neutral path",
                    prefix,
                    "it must be a plain path starting with '/'",
                ));
            }
            neutral.push(prefix.trim_end_matches('/').into());
        }
        let mut neutral_endpoints = Vec::with_capacity(self.neutral_endpoints.len());
        for (method, pattern) in &self.neutral_endpoints {
            let parsed = Pattern::parse(pattern)
                .map_err(|reason| invalid("neutral endpoint", pattern, reason))?;
            neutral_endpoints.push(Endpoint {
                method: method.clone(),
                pattern: parsed,
            });
        }

        let mut specs = self.specs;
        if specs.is_empty() {
            return Err(ConfigError::NoVersions);
        }
        specs.sort_by_key(|s| s.version);
        for pair in specs.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(ConfigError::DuplicateVersion {
                    version: pair[0].version,
                });
            }
        }
        let mut entries = Vec::with_capacity(specs.len());
        for spec in &specs {
            entries.push(entry(self.scheme, spec)?);
        }

        let fallback = match self.missing {
            Missing::Default(version) => entries
                .binary_search_by(|e| e.version.cmp(&version))
                .map_err(|_| ConfigError::DefaultNotSupported { version })?,
            Missing::Reject | Missing::Latest => entries
                .iter()
                .rposition(|e| e.version.is_stable())
                .unwrap_or(entries.len() - 1),
        };

        let supported_value = list_value(entries.iter().map(|e| e.version));
        let deprecated_values = deprecated_breakpoints(&entries);
        let mut vary_tokens = Vec::new();
        for s in &sources {
            match s {
                SourceConfig::Header { name } => vary_tokens.push(name.clone()),
                SourceConfig::MediaType { .. } => vary_tokens.push(http::header::ACCEPT),
                SourceConfig::Path { .. }
                | SourceConfig::Query { .. }
                | SourceConfig::Custom { .. } => {}
            }
        }
        let vary_values = (0..(1usize << vary_tokens.len()))
            .map(|mask| {
                let joined = vary_tokens
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, t)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                (!joined.is_empty()).then(|| header_value(joined))
            })
            .collect();
        let mut usage_sources: Vec<Source> = sources.iter().map(SourceConfig::kind).collect();
        if self.selector.is_some() {
            usage_sources.push(Source::Selector);
        }
        let usage = Usage::new(entries.len(), usage_sources);
        Ok(Policy {
            inner: Arc::new(Inner {
                scheme: self.scheme,
                versions: entries.iter().map(|e| e.version).collect(),
                entries,
                sources,
                conflict: self.conflict,
                missing: self.missing,
                fallback,
                neutral,
                neutral_endpoints,
                selector: self.selector,
                enforce_sunset: self.enforce_sunset,
                clock: self.clock,
                supported_value,
                deprecated_values,
                deprecated_settled: AtomicBool::new(false),
                vary_tokens,
                vary_values,
                usage,
            }),
        })
    }
}

/// A header value from text built only of visible ASCII (versions, dates,
/// validated URIs, header names), which `HeaderValue` always accepts.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn list_value(versions: impl Iterator<Item = Version>) -> HeaderValue {
    header_value(
        versions
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn deprecated_breakpoints(entries: &[Entry]) -> Vec<(SystemTime, Option<HeaderValue>)> {
    let mut instants: Vec<SystemTime> = entries
        .iter()
        .filter_map(|e| e.deprecation.or(e.sunset))
        .collect();
    instants.sort();
    instants.dedup();
    let mut values = vec![(UNIX_EPOCH, None)];
    for at in instants {
        let deprecated: Vec<Version> = entries
            .iter()
            .filter(|e| e.lifecycle(at) != Lifecycle::Active)
            .map(|e| e.version)
            .collect();
        values.push((
            at,
            (!deprecated.is_empty()).then(|| list_value(deprecated.into_iter())),
        ));
    }
    values
}

const MAX_HTTP_DATE: Duration = Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59Z

fn check_instant(version: Version, at: Option<SystemTime>) -> Result<Option<u64>, ConfigError> {
    match at {
        None => Ok(None),
        Some(at) => match at.duration_since(UNIX_EPOCH) {
            Ok(since) if since <= MAX_HTTP_DATE => Ok(Some(since.as_secs())),
            _ => Err(invalid(
                "lifecycle date",
                &format!("{at:?} of version {version}"),
                "it must fall between 1970 and 9999",
            )),
        },
    }
}

fn check_link(version: Version, rel: &'static str, link: &Link) -> Result<(), ConfigError> {
    let bad = || ConfigError::InvalidLink {
        version,
        rel,
        link: link.uri.clone(),
    };
    let uri: http::Uri = link.uri.parse().map_err(|_| bad())?;
    let absolute = matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some();
    let path_only =
        uri.scheme().is_none() && link.uri.starts_with('/') && !link.uri.starts_with("//");
    if !(absolute || path_only) {
        return Err(bad());
    }
    if let Some(media_type) = &link.media_type
        && !Link::media_type_is_valid(media_type)
    {
        return Err(invalid(
            "link media type",
            media_type,
            "it must be type/subtype, both tokens (text/html)",
        ));
    }
    if let Some(title) = &link.title
        && !Link::title_is_valid(title)
    {
        return Err(invalid(
            "link title",
            title,
            "it must not contain control characters",
        ));
    }
    Ok(())
}

fn entry(scheme: Scheme, spec: &VersionSpec) -> Result<Entry, ConfigError> {
    let version = spec.version;
    if version.scheme() != scheme {
        return Err(ConfigError::SchemeMismatch {
            version,
            scheme: scheme.name(),
        });
    }
    let deprecation = spec
        .deprecation
        .as_ref()
        .map(|when| when.instant(version, "deprecation"))
        .transpose()?;
    let sunset = spec
        .sunset
        .as_ref()
        .map(|when| when.instant(version, "sunset"))
        .transpose()?;
    let deprecation_secs = check_instant(version, deprecation)?;
    check_instant(version, sunset)?;
    if let (Some(deprecation), Some(sunset)) = (deprecation, sunset)
        && sunset <= deprecation
    {
        return Err(ConfigError::SunsetBeforeDeprecation { version });
    }
    let mut links = Vec::new();
    for (rel, link) in [
        ("deprecation", &spec.deprecation_link),
        ("sunset", &spec.sunset_link),
        ("successor-version", &spec.successor_link),
    ] {
        if let Some(link) = link {
            check_link(version, rel, link)?;
            links.push(link.render(rel));
        }
    }
    Ok(Entry {
        version,
        deprecation,
        sunset,
        echo: header_value(version.to_string()),
        deprecation_value: deprecation_secs.map(|secs| header_value(format!("@{secs}"))),
        sunset_value: sunset.map(|at| header_value(httpdate::fmt_http_date(at))),
        link_value: (!links.is_empty()).then(|| header_value(links.join(", "))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn base() -> PolicyBuilder {
        Policy::builder(Scheme::Integer).header_source()
    }

    #[test]
    fn build_rejects_each_invalid_configuration() {
        type Check = fn(&ConfigError) -> bool;
        let cases: Vec<(PolicyBuilder, Check)> = vec![
            (base(), |e| matches!(e, ConfigError::NoVersions)),
            (
                base().version(Version::int(1)).version(Version::int(1)),
                |e| matches!(e, ConfigError::DuplicateVersion { .. }),
            ),
            (base().version(Version::major_minor(1, 0)), |e| {
                matches!(e, ConfigError::SchemeMismatch { .. })
            }),
            (
                base()
                    .version(Version::int(1))
                    .on_missing(Missing::Default(Version::int(3))),
                |e| matches!(e, ConfigError::DefaultNotSupported { .. }),
            ),
            (
                base().version(
                    VersionSpec::new(Version::int(1))
                        .deprecated_at(at(200))
                        .sunset_at(at(100)),
                ),
                |e| matches!(e, ConfigError::SunsetBeforeDeprecation { .. }),
            ),
            (
                base().version(VersionSpec::new(Version::int(1)).deprecation_link("not a uri")),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidLink {
                            rel: "deprecation",
                            ..
                        }
                    )
                },
            ),
            (
                base().version(VersionSpec::new(Version::int(1)).successor_link("ftp://x/y")),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidLink {
                            rel: "successor-version",
                            ..
                        }
                    )
                },
            ),
            (
                Policy::builder(Scheme::Integer).version(Version::int(1)),
                |e| matches!(e, ConfigError::NoSource),
            ),
            (base().header_source().version(Version::int(1)), |e| {
                matches!(
                    e,
                    ConfigError::DuplicateSource {
                        source_kind: Source::Header
                    }
                )
            }),
            (
                base()
                    .version(Version::int(1))
                    .on_conflict(Conflict::Prefer(Source::Query)),
                |e| matches!(e, ConfigError::PreferredSourceMissing { .. }),
            ),
            (
                Policy::builder(Scheme::Integer)
                    .header_source_named("bad header")
                    .version(Version::int(1)),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidName {
                            what: "header name",
                            ..
                        }
                    )
                },
            ),
            (
                Policy::builder(Scheme::Integer)
                    .path_source("api")
                    .version(Version::int(1)),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidName {
                            what: "path prefix",
                            ..
                        }
                    )
                },
            ),
            (
                Policy::builder(Scheme::Integer)
                    .query_source_named("a&b")
                    .version(Version::int(1)),
                |e| matches!(e, ConfigError::InvalidName { .. }),
            ),
            (
                Policy::builder(Scheme::Integer)
                    .media_type_source_with("q", None)
                    .version(Version::int(1)),
                |e| matches!(e, ConfigError::InvalidName { .. }),
            ),
            (
                base().version(Version::int(1)).neutral_path("health"),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidName {
                            what: "neutral path",
                            ..
                        }
                    )
                },
            ),
        ];
        for (i, (builder, check)) in cases.into_iter().enumerate() {
            let err = builder.build().expect_err("must be rejected");
            assert!(check(&err), "case {i}: unexpected {err:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn build_precomputes_rfc_header_values() {
        let policy = base()
            .version(
                VersionSpec::new(Version::int(1))
                    .deprecated_at(at(1_717_200_000))
                    .sunset_at(at(1_735_689_600))
                    .deprecation_link("https://example.com/deprecation")
                    .sunset_link("https://example.com/sunset")
                    .successor_link("/api/v2"),
            )
            .version(Version::int(2))
            .build()
            .expect("valid");
        let v1 = &policy.inner.entries[0];
        assert_eq!(v1.deprecation_value.as_ref().expect("set"), "@1717200000");
        assert_eq!(
            v1.sunset_value.as_ref().expect("set"),
            "Wed, 01 Jan 2025 00:00:00 GMT"
        );
        assert_eq!(
            v1.link_value.as_ref().expect("set"),
            "<https://example.com/deprecation>; rel=\"deprecation\", <https://example.com/sunset>; rel=\"sunset\", </api/v2>; rel=\"successor-version\""
        );
        assert_eq!(policy.inner.supported_value, "1, 2");
        assert_eq!(
            policy.inner.vary_values[1].as_ref().expect("set"),
            "x-api-version"
        );
    }

    #[test]
    fn lifecycle_follows_the_clock() {
        let clock = Arc::new(ManualClock::new(at(10)));
        let policy = base()
            .version(
                VersionSpec::new(Version::int(1))
                    .deprecated_at(at(100))
                    .sunset_at(at(200)),
            )
            .version(Version::int(2))
            .clock(Arc::clone(&clock))
            .build()
            .expect("valid");
        let v1 = Version::int(1);
        assert_eq!(policy.lifecycle(v1, policy.now()), Some(Lifecycle::Active));
        clock.set(at(100));
        assert_eq!(
            policy.lifecycle(v1, policy.now()),
            Some(Lifecycle::Deprecated)
        );
        assert_eq!(
            policy.deprecated_versions(policy.now()).collect::<Vec<_>>(),
            vec![v1]
        );
        clock.advance(Duration::from_secs(100));
        assert_eq!(policy.lifecycle(v1, policy.now()), Some(Lifecycle::Sunset));
        assert_eq!(policy.lifecycle(Version::int(9), policy.now()), None);
    }

    #[test]
    fn defaults_pick_the_declared_fallback() {
        let fixed = base()
            .version(Version::int(1))
            .version(Version::int(2))
            .on_missing(Missing::Default(Version::int(1)))
            .build()
            .expect("valid");
        assert_eq!(fixed.inner.fallback, 0);
        let latest = base()
            .version(Version::int(2))
            .version(Version::int(1))
            .build()
            .expect("valid");
        assert_eq!(latest.inner.fallback, 1);
        assert_eq!(latest.latest(), Version::int(2));
    }
}
