//! The decision: from request parts to a [`Resolution`] or a [`VersionError`].

use std::time::SystemTime;

use super::resolved::{PathRewrite, Resolution};
use super::sources::{Clash, Found, read_path, read_source, segment_prefix};
use crate::error::VersionError;
use crate::policy::compiled::{CompiledPolicy, SourceConfig};
use crate::policy::{Conflict, Lifecycle, Missing, Now, Policy, Source};

#[cold]
fn ambiguous(first: Source, a: &Found<'_>, second: Source, b: &Found<'_>) -> VersionError {
    VersionError::Ambiguous {
        first,
        first_value: a.raw_string(),
        second,
        second_value: b.raw_string(),
    }
}

#[cold]
fn invalid(found_in: Source, found: &Found<'_>) -> VersionError {
    VersionError::Invalid {
        found_in,
        requested: found.raw_string(),
    }
}

/// Resolves the version of a request from its parts, against `policy`, at
/// the policy clock's current instant.
///
/// Pure apart from reading the clock (and only when a version has lifecycle
/// dates); no allocation on success.
///
/// # Errors
///
/// A [`VersionError`] when the version is missing (and required), invalid,
/// unsupported, ambiguous, or sunset with enforcement on. Never on a
/// [neutral route](crate::PolicyBuilder::neutral_path).
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{resolve, Policy, Scheme, Version, VersionError};
///
/// let policy = Policy::builder(Scheme::Integer)
///     .version(Version::int(1))
///     .header_source()
///     .query_source()
///     .build()?;
/// let (parts, ()) = http::Request::get("/things?api_version=1")
///     .header("x-api-version", "2")
///     .body(())?
///     .into_parts();
/// assert!(matches!(resolve(&parts, &policy), Err(VersionError::Ambiguous { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve(parts: &http::request::Parts, policy: &Policy) -> Result<Resolution, VersionError> {
    resolve_with(parts, policy, Now::Clock(&*policy.inner.clock))
}

/// [`resolve`] at an explicit instant (for tests and simulations).
///
/// # Errors
///
/// As [`resolve`].
///
/// # Examples
///
/// ```
/// # use engine_ops_apiversion::{resolve_at, Policy, Scheme, Version, VersionSpec};
/// # use engine_ops_apiversion::policy::Lifecycle;
/// use std::time::{Duration, UNIX_EPOCH};
/// let policy = Policy::builder(Scheme::Integer)
///     .version(VersionSpec::new(Version::int(1)).deprecated_at(UNIX_EPOCH + Duration::from_secs(100)))
///     .header_source()
///     .build()?;
/// let (parts, ()) = http::Request::get("/").header("x-api-version", "1").body(())?.into_parts();
/// let later = UNIX_EPOCH + Duration::from_secs(101);
/// assert_eq!(resolve_at(&parts, &policy, later)?.lifecycle(), Lifecycle::Deprecated);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve_at(
    parts: &http::request::Parts,
    policy: &Policy,
    now: SystemTime,
) -> Result<Resolution, VersionError> {
    resolve_with(parts, policy, Now::At(now))
}

pub(crate) fn resolve_with(
    parts: &http::request::Parts,
    policy: &Policy,
    now: Now<'_>,
) -> Result<Resolution, VersionError> {
    let inner = &*policy.inner;
    let path = parts.uri.path();
    // CORS preflights never carry custom headers, so they are neutral too.
    let neutral = inner
        .neutral
        .iter()
        .any(|prefix| segment_prefix(path, prefix))
        || (parts.method == http::Method::OPTIONS
            && parts
                .headers
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD))
        || (!inner.neutral_endpoints.is_empty() && neutral_endpoint(inner, parts));
    // `neutral` goes in, so the resolution is built once, in place: copying
    // it out to change one flag would read bytes just written one by one.
    let result = resolve_explicit(inner, parts, now, neutral);
    if neutral && result.is_err() {
        // The version segment still goes, so the router finds the route.
        return Ok(fallback(inner, now, true, path_rewrite(inner, path)));
    }
    result
}

/// The rewrite removing the path's version segment, if it has one.
#[cold]
fn path_rewrite(inner: &CompiledPolicy, path: &str) -> Option<PathRewrite> {
    inner.sources.iter().find_map(|source| match source {
        SourceConfig::Path { prefix } => read_path(path, prefix, inner.scheme).1,
        _ => None,
    })
}

/// Whether the request is for a neutral endpoint, matched on the path the
/// router will see (without a path version segment).
#[cold]
fn neutral_endpoint(inner: &CompiledPolicy, parts: &http::request::Parts) -> bool {
    let path = parts.uri.path();
    let routed = match path_rewrite(inner, path) {
        Some(rewrite) => std::borrow::Cow::Owned(rewrite.apply(path)),
        None => std::borrow::Cow::Borrowed(path),
    };
    inner
        .neutral_endpoints
        .iter()
        .any(|endpoint| endpoint.matches(&parts.method, &routed))
}

fn fallback(
    inner: &CompiledPolicy,
    now: Now<'_>,
    neutral: bool,
    rewrite: Option<PathRewrite>,
) -> Resolution {
    let entry = &inner.entries[inner.fallback];
    Resolution {
        version: entry.version,
        index: inner.fallback,
        source: None,
        defaulted: true,
        neutral,
        lifecycle: entry.lifecycle_at(now),
        rewrite,
    }
}

/// The value the sources carry, under the conflict policy, and the
/// source it came from; the version it names is then checked by
/// [`serve`].
fn resolve_explicit(
    inner: &CompiledPolicy,
    parts: &http::request::Parts,
    now: Now<'_>,
    neutral: bool,
) -> Result<Resolution, VersionError> {
    let (uri, headers) = (&parts.uri, &parts.headers);
    let scheme = inner.scheme;
    // The path is always scanned, whatever the conflict policy, so its
    // version segment is stripped even when another source wins.
    let mut rewrite = None;
    let mut path_found = None;
    for source in &inner.sources {
        if let SourceConfig::Path { prefix } = source {
            (path_found, rewrite) = read_path(uri.path(), prefix, scheme);
        }
    }
    // The chosen value and where it came from, kept apart so that neither
    // carries padding through the loop. The source is a reference, turned
    // into a `Source` (which may hold a reader's name) only when needed.
    let mut chosen: Option<Found<'_>> = None;
    let mut chosen_at: Option<&SourceConfig> = None;
    match inner.conflict {
        Conflict::Reject => {
            for source in &inner.sources {
                // The path's value is at hand: taking it apart from the other
                // sources keeps it in registers, out of their result's slot.
                let read = match source {
                    SourceConfig::Path { .. } => path_found,
                    _ => match read_source(source, parts, uri, headers, scheme, path_found) {
                        Ok(found) => found,
                        Err(Clash(a, b)) => {
                            return Err(ambiguous(source.kind(), &a, source.kind(), &b));
                        }
                    },
                };
                let Some(found) = read else {
                    continue;
                };
                if found.version.is_none() {
                    return Err(invalid(source.kind(), &found));
                }
                match chosen {
                    None => {
                        chosen = Some(found);
                        chosen_at = Some(source);
                    }
                    Some(first) if !first.same_as(&found) => {
                        let first_from = chosen_at.map_or(Source::Path, SourceConfig::kind);
                        return Err(ambiguous(first_from, &first, source.kind(), &found));
                    }
                    Some(_) => {}
                }
            }
        }
        Conflict::FirstWins | Conflict::Prefer(_) => {
            let preferred = match inner.conflict {
                Conflict::Prefer(preferred) => Some(preferred),
                _ => None,
            };
            let first = preferred.and_then(|p| inner.sources.iter().find(|s| s.kind() == p));
            let rest = inner
                .sources
                .iter()
                .filter(|s| preferred.is_none_or(|p| s.kind() != p));
            for source in first.into_iter().chain(rest) {
                let read = match source {
                    SourceConfig::Path { .. } => Ok(path_found),
                    _ => read_source(source, parts, uri, headers, scheme, path_found),
                };
                match read {
                    Ok(Some(found)) => {
                        (chosen, chosen_at) = (Some(found), Some(source));
                        break;
                    }
                    Ok(None) => {}
                    Err(Clash(a, b)) => {
                        return Err(ambiguous(source.kind(), &a, source.kind(), &b));
                    }
                }
            }
        }
    }
    serve(inner, parts, now, neutral, rewrite, chosen, chosen_at)
}

/// The version of the chosen value (the selector's, or the default, when no
/// source carried one), checked against the declared versions and the
/// lifecycle. Inlined: its arguments stay in the registers
/// [`resolve_explicit`] holds them in.
#[inline(always)]
fn serve(
    inner: &CompiledPolicy,
    parts: &http::request::Parts,
    now: Now<'_>,
    neutral: bool,
    rewrite: Option<PathRewrite>,
    chosen: Option<Found<'_>>,
    chosen_at: Option<&SourceConfig>,
) -> Result<Resolution, VersionError> {
    let defaulted = chosen.is_none();
    let found = match chosen {
        Some(found) => found,
        None => match inner.selector.as_ref().and_then(|s| s.select(parts)) {
            Some(version) => Found {
                version: Some(version),
                raw: b"",
            },
            None => {
                return match inner.missing {
                    Missing::Reject => Err(VersionError::Missing),
                    Missing::Default(_) | Missing::Latest => {
                        Ok(fallback(inner, now, neutral, rewrite))
                    }
                };
            }
        },
    };
    // No source carried it: the selector chose it.
    let chosen_from = chosen_at.map_or(Source::Selector, SourceConfig::kind);
    let Some(version) = found.version else {
        return Err(invalid(chosen_from, &found));
    };
    let Ok(index) = inner.versions.binary_search(&version) else {
        return Err(VersionError::Unsupported {
            found_in: chosen_from,
            requested: found.raw_string(),
        });
    };
    let entry = &inner.entries[index];
    let lifecycle = entry.lifecycle_at(now);
    if lifecycle == Lifecycle::Sunset
        && inner.enforce_sunset
        && let Some(sunset) = entry.sunset
    {
        return Err(VersionError::Sunset {
            version,
            sunset,
            found_in: Some(chosen_from),
        });
    }
    Ok(Resolution {
        version,
        index,
        source: Some(chosen_from),
        defaulted,
        neutral,
        lifecycle,
        rewrite,
    })
}
