//! The headers the versioning layer writes on every response: their names
//! here, their values precomputed when the policy is built and stamped by
//! the layer (or by [`Policy::stamp`](crate::Policy::stamp)).

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use http::header::{LINK, VARY};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::policy::compiled::{CompiledPolicy, VersionEntry};
use crate::resolution::Resolution;
use crate::version::Version;

/// `api-supported-versions`: every declared version (ASP.NET's name).
pub const API_SUPPORTED_VERSIONS: HeaderName = HeaderName::from_static("api-supported-versions");
/// `api-deprecated-versions`: the versions deprecated at the time of the response.
pub const API_DEPRECATED_VERSIONS: HeaderName = HeaderName::from_static("api-deprecated-versions");
/// `api-version`: the version that served the request (the matched one, not
/// the requested spelling).
pub const API_VERSION: HeaderName = HeaderName::from_static("api-version");
/// `Deprecation` (RFC 9745), as `@<unix-seconds>`.
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// `Sunset` (RFC 8594), as an IMF-fixdate.
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// Stamps discovery headers (always), the echo and lifecycle headers (when a
/// version was resolved) and `Vary`. Appends to `Link` and `Vary`, never
/// replacing what the handler set.
pub(crate) fn stamp(
    inner: &CompiledPolicy,
    headers: &mut HeaderMap,
    resolution: Option<&Resolution>,
    now: Option<SystemTime>,
) {
    headers.insert(API_SUPPORTED_VERSIONS, inner.supported_value.clone());
    if let Some(deprecated) = deprecated_value(inner, now) {
        headers.insert(API_DEPRECATED_VERSIONS, deprecated.clone());
    }
    if let Some(resolution) = resolution.filter(|r| !(r.is_neutral() && r.is_defaulted()))
        && let Some(entry) = inner.entries.get(resolution.index)
    {
        headers.insert(API_VERSION, entry.echo.clone());
        stamp_lifecycle(entry, headers);
    }
    merge_vary(inner, headers);
}

/// `Deprecation`, `Sunset` and `Link` (appended) of one version.
pub(crate) fn stamp_lifecycle(entry: &VersionEntry, headers: &mut HeaderMap) {
    if let Some(value) = &entry.deprecation_value {
        headers.insert(DEPRECATION, value.clone());
    }
    if let Some(value) = &entry.sunset_value {
        headers.insert(SUNSET, value.clone());
    }
    if let Some(value) = &entry.link_value {
        headers.append(LINK, value.clone());
    }
}

/// Put in a response's extensions by an inner layer of this crate when the
/// body is not at the requested version (a response too large to migrate
/// goes out as the handler wrote it): `api-version` then names the version
/// the body is in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServedAt(pub(crate) Version);

/// Put in a response's extensions by a per-route layer: the versions that
/// route serves, for `api-supported-versions`.
#[derive(Debug, Clone)]
pub(crate) struct RouteSupported(pub(crate) HeaderValue);

/// What the layers inside the versioning layer asked to be stamped
/// differently, applied after [`stamp`].
pub(crate) fn apply_markers(
    inner: &CompiledPolicy,
    extensions: &http::Extensions,
    headers: &mut HeaderMap,
) {
    if let Some(RouteSupported(value)) = extensions.get::<RouteSupported>() {
        headers.insert(API_SUPPORTED_VERSIONS, value.clone());
    }
    if let Some(ServedAt(version)) = extensions.get::<ServedAt>()
        && let Ok(index) = inner.versions.binary_search(version)
    {
        headers.insert(API_VERSION, inner.entries[index].echo.clone());
    }
}

/// The `api-deprecated-versions` value in force, reading the clock only
/// while a deprecation date is still ahead.
fn deprecated_value(inner: &CompiledPolicy, now: Option<SystemTime>) -> Option<&HeaderValue> {
    let values = &inner.deprecated_values;
    let (last_from, last) = values.last()?;
    if values.len() == 1 || inner.deprecated_settled.load(Ordering::Relaxed) {
        return last.as_ref();
    }
    let now = now.unwrap_or_else(|| inner.clock.now());
    if now >= *last_from {
        inner.deprecated_settled.store(true, Ordering::Relaxed);
        return last.as_ref();
    }
    let in_force = values.partition_point(|(from, _)| *from <= now);
    in_force.checked_sub(1).and_then(|i| values[i].1.as_ref())
}

/// Adds the `Vary` tokens the response does not already list; nothing if it
/// varies on `*`. A separate field line is equivalent to a comma-joined one
/// (RFC 9110 §5.3), so existing lines are left as they are.
fn merge_vary(inner: &CompiledPolicy, headers: &mut HeaderMap) {
    if inner.vary_tokens.is_empty() {
        return;
    }
    let mut missing = (1usize << inner.vary_tokens.len()) - 1;
    for value in headers.get_all(VARY) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token == b"*" {
                return;
            }
            for (i, name) in inner.vary_tokens.iter().enumerate() {
                if token.eq_ignore_ascii_case(name.as_str().as_bytes()) {
                    missing &= !(1 << i);
                }
            }
        }
    }
    if let Some(Some(value)) = inner.vary_values.get(missing) {
        headers.append(VARY, value.clone());
    }
}
