//! What a resolved request carries: the [`Resolution`] (put in the request
//! extensions by the layer) and the [`PathRewrite`] that removes a path's
//! version segment.

use http::Uri;

use crate::policy::{Lifecycle, Source};
use crate::version::Version;

/// The outcome of a successful resolution; inserted into request extensions
/// by the layer, so handlers can read it.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{resolve, Policy, Scheme, Source, Version};
///
/// let policy = Policy::builder(Scheme::Integer)
///     .version(Version::int(1))
///     .version(Version::int(2))
///     .path_source("/api")
///     .build()?;
/// let (parts, ()) = http::Request::get("/api/v2/optimize").body(())?.into_parts();
/// let resolution = resolve(&parts, &policy)?;
/// assert_eq!(resolution.version(), Version::int(2));
/// assert_eq!(resolution.source(), Some(Source::Path));
/// assert_eq!(resolution.rewritten_path(parts.uri.path()).as_deref(), Some("/api/optimize"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub(super) version: Version,
    /// Where `version` is in the policy's declared versions.
    pub(crate) index: usize,
    pub(super) source: Option<Source>,
    pub(super) defaulted: bool,
    pub(super) neutral: bool,
    pub(super) lifecycle: Lifecycle,
    pub(super) rewrite: Option<PathRewrite>,
}

impl Resolution {
    /// The matched (served) version.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// Where it came from: [`Source::Selector`] when the per-request
    /// [`DefaultSelector`](crate::policy::DefaultSelector) chose it, `None` when the
    /// policy's fixed default or latest version was used.
    #[must_use]
    pub fn source(&self) -> Option<Source> {
        self.source
    }

    /// Whether the request carried no version and got a default (the
    /// selector's or the policy's).
    #[must_use]
    pub fn is_defaulted(&self) -> bool {
        self.defaulted
    }

    /// Whether the route is version-neutral (its version is informative only).
    #[must_use]
    pub fn is_neutral(&self) -> bool {
        self.neutral
    }

    /// The version's lifecycle when the request was resolved.
    #[must_use]
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// The path rewrite that removes the version segment, if the path carried
    /// one. Its offsets refer to the path as received: behind
    /// [`ApiVersionLayer`](crate::ApiVersionLayer) the request's path has
    /// already been rewritten.
    #[must_use]
    pub fn rewrite(&self) -> Option<PathRewrite> {
        self.rewrite
    }

    /// The request path without its version segment, if there was one.
    /// Allocates; call it only when the path must change.
    #[must_use]
    pub fn rewritten_path(&self, path: &str) -> Option<String> {
        self.rewrite.map(|r| r.apply(path))
    }
}

/// Removes the version segment from a path: `/api/v2/optimize` →
/// `/api/optimize`, `/v2` → `/`. Holds byte offsets into the path that was
/// resolved; apply it to that same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRewrite {
    start: usize,
    end: usize,
}

impl PathRewrite {
    /// The rewrite removing bytes `start..end` of the path.
    pub(super) fn new(start: usize, end: usize) -> Self {
        PathRewrite { start, end }
    }

    /// The byte range of the removed `/<version>` segment.
    #[must_use]
    pub fn removed(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// The rewritten path.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::{resolve, Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(2)).path_source("/").build()?;
    /// let (parts, ()) = http::Request::get("/v2").body(())?.into_parts();
    /// let rewrite = resolve(&parts, &policy)?.rewrite().expect("path carried a version");
    /// assert_eq!(rewrite.apply("/v2"), "/");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn apply(&self, path: &str) -> String {
        let (head, tail) = (
            path.get(..self.start).unwrap_or(path),
            path.get(self.end..).unwrap_or(""),
        );
        let mut out = String::with_capacity(path.len());
        out.push_str(head);
        out.push_str(tail);
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// The URI with the rewritten path and the same query (and scheme and
    /// authority, if any).
    ///
    /// # Errors
    ///
    /// [`http::Error`] if the rebuilt URI does not parse (it always does for a
    /// URI that parsed before and had a segment removed).
    pub fn apply_to_uri(&self, uri: &Uri) -> Result<Uri, http::Error> {
        let path = self.apply(uri.path());
        let path_and_query = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(path_and_query.parse()?);
        Ok(Uri::from_parts(parts)?)
    }
}
