//! Where a version is read from, what to do when sources disagree or carry
//! none, and the lifecycle a version is in: the policy's vocabulary.

use std::fmt;

use crate::version::Version;

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
/// another setting, and [version-neutral routes](super::PolicyBuilder::neutral_path)
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
/// subdomain, a custom scheme. Added with [`PolicyBuilder::reader`](super::PolicyBuilder::reader) and
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
/// use engine_ops_apiversion::{resolve, Policy, Scheme, Source, Version};
/// use engine_ops_apiversion::policy::VersionReader;
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
/// [`PolicyBuilder::default_selector`](super::PolicyBuilder::default_selector); consulted only when no source carries
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
/// use engine_ops_apiversion::{resolve, Policy, Scheme, Source, Version};
/// use engine_ops_apiversion::policy::DefaultSelector;
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
    /// assert_eq!(engine_ops_apiversion::policy::Lifecycle::Deprecated.as_str(), "deprecated");
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
