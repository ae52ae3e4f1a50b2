//! The decision: from request parts to a [`Resolution`] or a [`VersionError`].

use std::time::SystemTime;

use http::header::ACCEPT;
use http::{HeaderMap, HeaderName, Uri};

use super::resolved::{PathRewrite, Resolution};
use crate::error::VersionError;
use crate::policy::compiled::{CompiledPolicy, SourceConfig};
use crate::policy::{Conflict, Lifecycle, Missing, Now, Policy, Source, VersionReader};
use crate::problem::echo;
use crate::version::{Scheme, Version};

/// The longest value decoded for parsing; longer values are never valid
/// versions anyway.
const RAW_CAP: usize = 48;

/// A value found in a source, borrowed from the request. Two words without
/// padding (the source travels beside it), so it moves cheaply through the
/// resolution loop.
#[derive(Clone, Copy)]
struct Found<'a> {
    version: Option<Version>,
    /// As sent (trimmed, not percent-decoded), for error messages.
    raw: &'a [u8],
}

impl<'a> Found<'a> {
    #[inline]
    fn new(scheme: Scheme, token: &'a [u8]) -> Self {
        let raw = token.trim_ascii();
        Found {
            version: scheme.parse_bytes(raw),
            raw,
        }
    }

    /// The value for a problem document or error, bounded (see [`echo`]).
    fn raw_string(&self) -> String {
        match self.version {
            // A reader or selector may give a version without text.
            Some(version) if self.raw.is_empty() => version.to_string(),
            _ => echo(self.raw),
        }
    }

    #[inline]
    fn same_as(&self, other: &Found<'_>) -> bool {
        match (self.version, other.version) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.raw == other.raw,
            _ => false,
        }
    }
}

/// Two values of one source that disagree: a repeated header or parameter,
/// a comma-separated list in one field, or two versions at the same highest
/// q-value in `Accept`.
struct Clash<'a>(Found<'a>, Found<'a>);

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
/// # use engine_ops_apiversion::{resolve_at, Lifecycle, Policy, Scheme, Version, VersionSpec};
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

/// The value(s) one source carries.
#[inline(always)]
fn read_source<'a>(
    source: &'a SourceConfig,
    parts: &'a http::request::Parts,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    scheme: Scheme,
    path_found: Option<Found<'a>>,
) -> Result<Option<Found<'a>>, Clash<'a>> {
    match source {
        SourceConfig::Path { .. } => Ok(path_found),
        SourceConfig::Header { name } => read_header(headers, name, scheme),
        SourceConfig::Query { name } => match uri.query() {
            Some(query) => read_query(query, name.as_bytes(), scheme),
            None => Ok(None),
        },
        SourceConfig::MediaType { param, vendor } => read_media_type(
            headers,
            param.as_bytes(),
            vendor.as_deref().map(str::as_bytes),
            scheme,
        ),
        SourceConfig::Custom { reader } => Ok(read_custom(&**reader, parts, scheme)),
    }
}

/// The value an application's reader finds. Out of line: a dynamic call in
/// the resolution loop would keep the other sources' values in memory.
#[inline(never)]
fn read_custom<'a>(
    reader: &'a dyn VersionReader,
    parts: &'a http::request::Parts,
    scheme: Scheme,
) -> Option<Found<'a>> {
    reader
        .read(parts)
        .filter(|token| !token.trim_ascii().is_empty())
        .map(|token| Found::new(scheme, token))
}

/// Whether `path` starts with `prefix` on a segment boundary.
fn segment_prefix(path: &str, prefix: &str) -> bool {
    path.as_bytes()
        .strip_prefix(prefix.as_bytes())
        .is_some_and(|rest| rest.first().is_none_or(|&b| b == b'/'))
}

// Always inlined: called out of line, its pair of options would come back
// through memory and stall the resolution loop on store forwarding.
#[inline(always)]
fn read_path<'a>(
    path: &'a str,
    prefix: &str,
    scheme: Scheme,
) -> (Option<Found<'a>>, Option<PathRewrite>) {
    // Bytes, not `str` patterns: single-byte searches stay cheap.
    let Some(rest) = path.as_bytes().strip_prefix(prefix.as_bytes()) else {
        return (None, None);
    };
    let Some(after) = rest.strip_prefix(b"/") else {
        return (None, None);
    };
    let segment = after.split(|&b| b == b'/').next().unwrap_or_default();
    if !scheme.looks_like_version(segment) {
        return (None, None);
    }
    let start = prefix.len();
    let end = start + 1 + segment.len();
    (
        Some(Found::new(scheme, segment)),
        Some(PathRewrite::new(start, end)),
    )
}

/// Every value of every field line, split on commas: all must agree.
#[inline]
fn read_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    scheme: Scheme,
) -> Result<Option<Found<'a>>, Clash<'a>> {
    let mut first: Option<Found<'a>> = None;
    for value in headers.get_all(name) {
        for part in value.as_bytes().split(|&b| b == b',') {
            if part.trim_ascii().is_empty() {
                continue;
            }
            let found = Found::new(scheme, part);
            match &first {
                None => first = Some(found),
                Some(f) if !f.same_as(&found) => return Err(Clash(*f, found)),
                Some(_) => {}
            }
        }
    }
    Ok(first)
}

/// Scans `a=1&api_version=v2`; a repeated parameter must agree with itself.
#[inline]
fn read_query<'a>(
    query: &'a str,
    name: &[u8],
    scheme: Scheme,
) -> Result<Option<Found<'a>>, Clash<'a>> {
    let mut first: Option<Found<'a>> = None;
    for pair in query.as_bytes().split(|&b| b == b'&') {
        // Most pairs are some other parameter: compare the key before
        // looking for the value.
        let Some(value) = pair
            .get(..name.len())
            .filter(|key| key.eq_ignore_ascii_case(name))
            .and_then(|_| match &pair[name.len()..] {
                [] => Some(&[][..]),
                [b'=', value @ ..] => Some(value),
                _ => None,
            })
        else {
            continue;
        };
        let found = if value.iter().any(|&b| b == b'%' || b == b'+') {
            let mut buf = [0u8; RAW_CAP];
            match percent_decode(value, &mut buf) {
                Some(decoded) if decoded.trim_ascii().is_empty() => continue,
                Some(decoded) => Found {
                    version: scheme.parse_bytes(decoded),
                    raw: value.trim_ascii(),
                },
                None => Found {
                    version: None,
                    raw: value.trim_ascii(),
                },
            }
        } else if value.trim_ascii().is_empty() {
            continue;
        } else {
            Found::new(scheme, value)
        };
        match &first {
            None => first = Some(found),
            Some(f) if !f.same_as(&found) => return Err(Clash(*f, found)),
            Some(_) => {}
        }
    }
    Ok(first)
}

/// Decodes `%XX` and `+` into `buf`; `None` for values too long for it
/// (which can never be versions).
fn percent_decode<'b>(value: &[u8], buf: &'b mut [u8; RAW_CAP]) -> Option<&'b [u8]> {
    let mut out = 0;
    let mut i = 0;
    while i < value.len() {
        if out == RAW_CAP {
            return None;
        }
        let b = match (
            value[i],
            value.get(i + 1).copied().and_then(hex),
            value.get(i + 2).copied().and_then(hex),
        ) {
            (b'+', _, _) => b' ',
            (b'%', Some(high), Some(low)) => {
                i += 2;
                high * 16 + low
            }
            (b, _, _) => b,
        };
        buf[out] = b;
        out += 1;
        i += 1;
    }
    Some(&buf[..out])
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One pass over an `Accept` value (an RFC 9110 §5.6.1 list of media
/// ranges with parameters, §5.6.4 quoted strings): calls `visit` with each
/// member's media range, its q-value in thousandths (0 when malformed: the
/// member is unusable) and the value of parameter `param`, if present.
///
/// The general parser, byte by byte; [`offer_value`] sends most values to
/// [`scan_param_unquoted`] instead, which gives the same answers faster.
#[inline(never)]
fn scan_accept<'a>(
    bytes: &'a [u8],
    param: &[u8],
    mut visit: impl FnMut(&'a [u8], u16, Option<&'a [u8]>),
) {
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        let start = i;
        while i < n && !matches!(bytes[i], b';' | b',') {
            i += 1;
        }
        let range = bytes[start..i].trim_ascii();
        let mut q = 1000;
        let mut token = None;
        while i < n && bytes[i] == b';' {
            i += 1;
            let key_start = i;
            while i < n && !matches!(bytes[i], b'=' | b';' | b',') {
                i += 1;
            }
            let key = bytes[key_start..i].trim_ascii();
            if i == n || bytes[i] != b'=' {
                continue;
            }
            i += 1;
            while i < n && matches!(bytes[i], b' ' | b'\t') {
                i += 1;
            }
            let value = if i < n && bytes[i] == b'"' {
                i += 1;
                let value_start = i;
                while i < n && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                // An unterminated quoted string keeps its quote, so it
                // can never parse as a version.
                let value = if i < n {
                    &bytes[value_start..i]
                } else {
                    &bytes[value_start - 1..]
                };
                while i < n && !matches!(bytes[i], b';' | b',') {
                    i += 1;
                }
                value
            } else {
                let value_start = i;
                while i < n && !matches!(bytes[i], b';' | b',') {
                    i += 1;
                }
                bytes[value_start..i].trim_ascii()
            };
            if key.eq_ignore_ascii_case(b"q") {
                q = parse_q(value).unwrap_or(0);
            } else if key.eq_ignore_ascii_case(param) {
                token = Some(value);
            }
        }
        visit(range, q, token);
        i += 1; // the ',' (or past the end)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of the eight at `base` (zero-padded past the
/// end) that equals `b` once OR-ed with `fold` (`0x20` in every byte folds
/// ASCII letters to lowercase; 0 compares exactly). Exact: no addition
/// carries across a byte.
#[inline(always)]
fn byte_mask(bytes: &[u8], base: usize, b: u8, fold: u64) -> u64 {
    let tail = bytes.get(base..).unwrap_or_default();
    let word = match tail.first_chunk::<8>() {
        Some(chunk) => u64::from_le_bytes(*chunk),
        // Assembled in a register: copying into a stack buffer and loading
        // it back would stall on store forwarding.
        None => tail
            .iter()
            .rev()
            .fold(0, |word, &b| (word << 8) | u64::from(b)),
    };
    let v = (word | fold) ^ (ONES * u64::from(b));
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// The positions of one byte value in a byte string, in order, found eight
/// bytes at a time (SWAR).
struct Positions<'a> {
    bytes: &'a [u8],
    byte: u8,
    fold: u64,
    base: usize,
    mask: u64,
}

impl<'a> Positions<'a> {
    /// Positions of `byte`.
    #[inline(always)]
    fn new(bytes: &'a [u8], byte: u8) -> Self {
        Positions::folded(bytes, byte, 0)
    }

    /// Positions of the ASCII letter `lower`, in either case.
    #[inline(always)]
    fn ignore_case(bytes: &'a [u8], lower: u8) -> Self {
        debug_assert!(lower.is_ascii_lowercase());
        Positions::folded(bytes, lower, ONES * 0x20)
    }

    #[inline(always)]
    fn folded(bytes: &'a [u8], byte: u8, fold: u64) -> Self {
        Positions {
            bytes,
            byte,
            fold,
            base: 0,
            mask: byte_mask(bytes, 0, byte, fold),
        }
    }
}

impl Iterator for Positions<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 8;
            if self.base >= self.bytes.len() {
                return None;
            }
            self.mask = byte_mask(self.bytes, self.base, self.byte, self.fold);
        }
        let at = self.base + (self.mask.trailing_zeros() / 8) as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Whether `haystack` contains `needle` (lowercase, starting with a
/// letter), ASCII case-insensitively: candidates are the positions of its
/// first letter, found eight bytes at a time.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if !first.is_ascii_lowercase() {
        return haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    Positions::ignore_case(haystack, first).any(|at| {
        haystack
            .get(at + 1..at + needle.len())
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(rest))
    })
}

/// The q-value of the member `member` (its parameters after the media
/// range; the last `q` wins, a malformed one is 0).
fn member_q(member: &[u8]) -> u16 {
    let mut q = 1000;
    for parameter in member.split(|&b| b == b';').skip(1) {
        let Some(eq) = parameter.iter().position(|&b| b == b'=') else {
            continue;
        };
        if parameter[..eq].trim_ascii().eq_ignore_ascii_case(b"q") {
            q = parse_q(parameter[eq + 1..].trim_ascii()).unwrap_or(0);
        }
    }
    q
}

/// [`scan_accept`] restricted to the `param` parameter, for a value with no
/// quoted string and no vendor type: calls `visit` with the q-value and
/// token of each member that carries `param`, in order.
///
/// Instead of walking every member, it finds the `=` bytes (SWAR) and keeps
/// those that end a `;<ows>param<ows>` name; only a member holding one is
/// parsed further, for its q-value. Without quoted strings every `;` opens
/// a parameter and every `,` ends a member, so this sees what
/// [`scan_accept`] sees.
#[inline(always)]
fn scan_param_unquoted<'a>(bytes: &'a [u8], param: &[u8], mut visit: impl FnMut(u16, &'a [u8])) {
    // The member found last (start, end), its token, and whether it holds
    // another `=` (so maybe a `q`), not yet reported: a later `param` in the
    // same member replaces its token.
    let mut pending: Option<(usize, usize, &'a [u8], bool)> = None;
    // A member whose only `=` is its `param`'s has no q-value: 1.
    let q = |start: usize, end: usize, other: bool| {
        if other {
            member_q(&bytes[start..end])
        } else {
            1000
        }
    };
    let mut previous_eq = None;
    for eq in Positions::new(bytes, b'=') {
        let before = previous_eq.replace(eq);
        if let Some((_, end, _, other)) = &mut pending
            && eq < *end
        {
            *other = true;
        }
        let name = bytes[..eq].trim_ascii_end();
        let Some(name_start) = name.len().checked_sub(param.len()) else {
            continue;
        };
        if !name[name_start..].eq_ignore_ascii_case(param)
            || name[..name_start].trim_ascii_end().last() != Some(&b';')
        {
            continue;
        }
        let value_end = bytes[eq + 1..]
            .iter()
            .position(|&b| b == b';' || b == b',')
            .map_or(bytes.len(), |i| eq + 1 + i);
        let token = bytes[eq + 1..value_end].trim_ascii();
        let start = bytes[..name_start]
            .iter()
            .rposition(|&b| b == b',')
            .map_or(0, |i| i + 1);
        match &mut pending {
            Some((pending_start, _, pending_token, _)) if *pending_start == start => {
                *pending_token = token;
            }
            _ => {
                if let Some((start, end, token, other)) = pending {
                    visit(q(start, end, other), token);
                }
                let end = bytes[value_end..]
                    .iter()
                    .position(|&b| b == b',')
                    .map_or(bytes.len(), |i| value_end + i);
                let other = before.is_some_and(|before| before >= start);
                pending = Some((start, end, token, other));
            }
        }
    }
    if let Some((start, end, token, other)) = pending {
        visit(q(start, end, other), token);
    }
}

/// `application/vnd.<vendor>.<version>[+suffix]` → `<version>`; `prefix` is
/// `vnd.<vendor>.` in lowercase.
#[inline]
fn vendor_version<'a>(range: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (ty, subtype) = range.split_at_checked(b"application/".len())?;
    if !ty.eq_ignore_ascii_case(b"application/")
        || subtype.len() <= prefix.len()
        || !subtype[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        return None;
    }
    let rest = &subtype[prefix.len()..];
    rest.split(|&b| b == b'+').next()
}

/// Parses an RFC 9110 qvalue into thousandths: `0`, `0.5`, `1`, `1.000`.
fn parse_q(value: &[u8]) -> Option<u16> {
    match value {
        [b'1'] | [b'1', b'.'] => Some(1000),
        [b'1', b'.', zeros @ ..] if zeros.len() <= 3 && zeros.iter().all(|&b| b == b'0') => {
            Some(1000)
        }
        [b'0'] | [b'0', b'.'] => Some(0),
        [b'0', b'.', digits @ ..] if digits.len() <= 3 && digits.iter().all(u8::is_ascii_digit) => {
            let mut q = 0u16;
            for i in 0..3 {
                q = q * 10 + digits.get(i).map_or(0, |d| u16::from(d - b'0'));
            }
            Some(q)
        }
        _ => None,
    }
}

/// The running best `Accept` member: its q-value, its token, and a token
/// of another version at the same q-value, if one was seen.
#[derive(Clone, Copy)]
struct Best<'a> {
    q: u16,
    token: &'a [u8],
    tie: Option<&'a [u8]>,
}

/// Whether two tokens name different versions (or, unparsed, differ).
#[cold]
fn differ(scheme: Scheme, a: &[u8], b: &[u8]) -> bool {
    !Found::new(scheme, a).same_as(&Found::new(scheme, b))
}

/// Offers one `Accept` member to the running best (higher q wins; `q=0`
/// never counts). Another version at the best q is remembered as a tie:
/// the order of list members carries no meaning (RFC 9110 §12.5.1), so
/// two versions equally preferred are as ambiguous as two header lines.
#[inline(always)]
fn offer<'a>(
    best: &mut Option<Best<'a>>,
    scheme: Scheme,
    vendor: Option<&[u8]>,
    range: &'a [u8],
    q: u16,
    value: Option<&'a [u8]>,
) {
    if q == 0 || best.is_some_and(|best| q < best.q) {
        return;
    }
    let Some(token) = value.or_else(|| vendor.and_then(|v| vendor_version(range, v))) else {
        return;
    };
    match best {
        Some(best) if q == best.q => {
            if best.tie.is_none() && differ(scheme, best.token, token) {
                best.tie = Some(token);
            }
        }
        _ => {
            *best = Some(Best {
                q,
                token,
                tie: None,
            });
        }
    }
}

/// Offers every member of one `Accept` field value. Most values (`*/*`,
/// `application/json`, a browser's list) name no version: those without a
/// quoted string or the vendor prefix take [`scan_param_unquoted`], which
/// looks only at the `=` bytes; the rest take the general parser.
#[inline]
fn offer_value<'a>(
    best: &mut Option<Best<'a>>,
    scheme: Scheme,
    bytes: &'a [u8],
    param: &[u8],
    vendor: Option<&[u8]>,
) {
    if bytes.contains(&b'"') || vendor.is_some_and(|v| contains_ignore_case(bytes, v)) {
        scan_accept(bytes, param, |range, q, value| {
            offer(best, scheme, vendor, range, q, value);
        });
    } else {
        scan_param_unquoted(bytes, param, |q, token| {
            offer(best, scheme, None, &[], q, Some(token));
        });
    }
}

/// The version of the highest-q `Accept` member that names one; `q=0`
/// members never count, and two different versions at the highest q are a
/// clash. Only the winner's token is parsed.
#[inline]
fn read_media_type<'a>(
    headers: &'a HeaderMap,
    param: &[u8],
    vendor: Option<&[u8]>,
    scheme: Scheme,
) -> Result<Option<Found<'a>>, Clash<'a>> {
    let mut best: Option<Best<'a>> = None;
    for value in headers.get_all(ACCEPT) {
        offer_value(&mut best, scheme, value.as_bytes(), param, vendor);
    }
    match best {
        None => Ok(None),
        Some(Best {
            token,
            tie: Some(tie),
            ..
        }) => Err(Clash(Found::new(scheme, token), Found::new(scheme, tie))),
        Some(Best { token, .. }) => Ok(Some(Found::new(scheme, token))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::VersionSpec;
    use std::time::{Duration, UNIX_EPOCH};

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::get(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).expect("valid request").into_parts().0
    }

    fn all_sources() -> crate::PolicyBuilder {
        Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .version(Version::int(2))
            .version(Version::int(3))
            .path_source("/api")
            .header_source()
            .query_source()
            .media_type_source_with("version", Some("engine-ops"))
    }

    fn ok(policy: &Policy, uri: &str, headers: &[(&str, &str)]) -> Resolution {
        resolve(&parts(uri, headers), policy).expect("resolves")
    }

    fn err(policy: &Policy, uri: &str, headers: &[(&str, &str)]) -> VersionError {
        resolve(&parts(uri, headers), policy).expect_err("fails")
    }

    #[test]
    fn every_source_yields_its_version() {
        let policy = all_sources().build().expect("valid");
        let r = ok(&policy, "/api/v2/optimize", &[]);
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(2), Some(Source::Path))
        );
        assert_eq!(
            r.rewritten_path("/api/v2/optimize").as_deref(),
            Some("/api/optimize")
        );
        let r = ok(&policy, "/api/optimize", &[("x-api-version", " v3 ")]);
        assert_eq!(
            (r.version(), r.source(), r.rewrite()),
            (Version::int(3), Some(Source::Header), None)
        );
        let r = ok(&policy, "/api/optimize?x=1&API_VERSION=%76%31", &[]);
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(1), Some(Source::Query))
        );
        let r = ok(
            &policy,
            "/api/optimize",
            &[("accept", "application/json; version=2")],
        );
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(2), Some(Source::MediaType))
        );
        let r = ok(
            &policy,
            "/api/optimize",
            &[("accept", "application/vnd.engine-ops.v3+json")],
        );
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(3), Some(Source::MediaType))
        );
        assert!(!r.is_defaulted());
    }

    #[test]
    fn path_source_handles_mounts_and_trailing_segments() {
        let policy = all_sources().build().expect("valid");
        assert_eq!(
            ok(&policy, "/api/v1", &[])
                .rewritten_path("/api/v1")
                .as_deref(),
            Some("/api")
        );
        assert_eq!(
            ok(&policy, "/api/v1/", &[])
                .rewritten_path("/api/v1/")
                .as_deref(),
            Some("/api/")
        );
        // Not under the prefix, or not a version-looking segment: no version.
        assert!(matches!(
            err(&policy, "/apix/v1/a", &[]),
            VersionError::Missing
        ));
        assert!(matches!(
            err(&policy, "/api/orders", &[]),
            VersionError::Missing
        ));
        assert!(matches!(
            err(&policy, "/api/v2x/a", &[]),
            VersionError::Invalid {
                found_in: Source::Path,
                ..
            }
        ));
        let root = Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .path_source("/")
            .build()
            .expect("valid");
        assert_eq!(
            ok(&root, "/v1/x?y=1", &[])
                .rewritten_path("/v1/x")
                .as_deref(),
            Some("/x")
        );
        let rewrite = ok(&root, "/v1/x?y=1", &[]).rewrite().expect("rewrite");
        let uri: Uri = "http://h/v1/x?y=1".parse().expect("uri");
        assert_eq!(
            rewrite.apply_to_uri(&uri).expect("uri").to_string(),
            "http://h/x?y=1"
        );
    }

    #[test]
    fn matching_is_exact() {
        let policy = all_sources().build().expect("valid");
        assert!(matches!(
            err(&policy, "/a", &[("x-api-version", "11")]),
            VersionError::Unsupported { found_in: Source::Header, ref requested } if requested == "11"
        ));
        assert!(matches!(
            err(&policy, "/a", &[("x-api-version", "1.0")]),
            VersionError::Invalid { .. }
        ));
        assert!(matches!(
            err(&policy, "/api/v25/a", &[]),
            VersionError::Unsupported { .. }
        ));
    }

    #[test]
    fn conflicts_follow_the_policy() {
        let headers = [("x-api-version", "1")];
        let reject = all_sources().build().expect("valid");
        let e = err(&reject, "/api/v2/a", &headers);
        assert!(
            matches!(
                e,
                VersionError::Ambiguous {
                    first: Source::Path,
                    second: Source::Header,
                    ..
                }
            ),
            "{e:?}"
        );
        // Agreeing sources are fine, and the first in order is reported.
        assert_eq!(
            ok(&reject, "/api/v1/a?api_version=1", &headers).source(),
            Some(Source::Path)
        );
        // An invalid value in any source is reported under Reject.
        assert!(matches!(
            err(&reject, "/api/v1/a?api_version=zz", &[]),
            VersionError::Invalid {
                found_in: Source::Query,
                ..
            }
        ));

        let first = all_sources()
            .on_conflict(Conflict::FirstWins)
            .build()
            .expect("valid");
        let r = ok(&first, "/api/v2/a", &headers);
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(2), Some(Source::Path))
        );
        assert!(r.rewrite().is_some());

        let prefer = all_sources()
            .on_conflict(Conflict::Prefer(Source::Header))
            .build()
            .expect("valid");
        let r = ok(&prefer, "/api/v2/a", &headers);
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(1), Some(Source::Header))
        );
        // The path segment is still stripped when another source wins.
        assert_eq!(r.rewritten_path("/api/v2/a").as_deref(), Some("/api/a"));
        assert_eq!(ok(&prefer, "/api/v2/a", &[]).source(), Some(Source::Path));
    }

    #[test]
    fn large_header_maps_are_read_the_same() {
        let policy = all_sources().build().expect("valid");
        let filler: Vec<(String, String)> = (0..12)
            .map(|i| (format!("x-filler-{i}"), "v".to_owned()))
            .collect();
        let mut headers: Vec<(&str, &str)> = filler
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.push(("x-api-version", "2"));
        headers.push(("accept", "application/json; version=2"));
        let r = ok(&policy, "/a", &headers);
        assert_eq!(
            (r.version(), r.source()),
            (Version::int(2), Some(Source::Header))
        );
        headers.push(("x-api-version", "3"));
        assert!(matches!(
            err(&policy, "/a", &headers),
            VersionError::Ambiguous { .. }
        ));
    }

    #[test]
    fn repeated_values_must_agree() {
        let policy = all_sources().build().expect("valid");
        assert_eq!(
            ok(
                &policy,
                "/a",
                &[("x-api-version", "1"), ("x-api-version", "v1")]
            )
            .version(),
            Version::int(1)
        );
        assert!(matches!(
            err(
                &policy,
                "/a",
                &[("x-api-version", "1"), ("x-api-version", "2")]
            ),
            VersionError::Ambiguous {
                first: Source::Header,
                second: Source::Header,
                ..
            }
        ));
        assert!(matches!(
            err(&policy, "/a", &[("x-api-version", "v1, v2")]),
            VersionError::Ambiguous { .. }
        ));
        assert!(matches!(
            err(&policy, "/a?api_version=1&api_version=2", &[]),
            VersionError::Ambiguous { .. }
        ));
        assert_eq!(
            ok(&policy, "/a?api_version=1&api_version=1", &[]).version(),
            Version::int(1)
        );
        // An empty header is no version at all.
        assert!(matches!(
            err(&policy, "/a", &[("x-api-version", "  ")]),
            VersionError::Missing
        ));
    }

    #[test]
    fn accept_is_an_rfc_9110_list_with_q_values() {
        let policy = all_sources().build().expect("valid");
        let v = |accept: &str| {
            resolve(&parts("/a", &[("accept", accept)]), &policy).map(|r| r.version())
        };
        assert_eq!(
            v("text/html, application/json;version=2;q=0.9, */*;q=0.1"),
            Ok(Version::int(2))
        );
        assert_eq!(
            v("application/json;version=1;q=0.5, application/json;version=3;q=0.8"),
            Ok(Version::int(3))
        );
        // Two versions at the same q are ambiguous, like two header lines;
        // the same version twice is not.
        assert!(matches!(
            v("application/json;version=1, application/json;version=3"),
            Err(VersionError::Ambiguous {
                first: Source::MediaType,
                second: Source::MediaType,
                ..
            })
        ));
        assert_eq!(
            v("application/json;version=1, application/vnd.engine-ops.v1+json"),
            Ok(Version::int(1))
        );
        assert_eq!(
            v(
                "application/json;version=1;q=0.5, application/json;version=3;q=0.5, application/json;version=2;q=0.6"
            ),
            Ok(Version::int(2))
        );
        assert_eq!(
            v("application/json;version=3;q=0, application/json;version=2;q=0.1"),
            Ok(Version::int(2))
        );
        assert_eq!(v("application/json; Version=\"2\""), Ok(Version::int(2)));
        assert_eq!(
            v("application/vnd.engine-ops.v1+json; q=0.9"),
            Ok(Version::int(1))
        );
        assert_eq!(
            v("application/json; version=3; q=0"),
            Err(VersionError::Missing)
        );
        assert_eq!(
            v("text/plain; foo=\"a,version=2\""),
            Err(VersionError::Missing)
        );
        assert_eq!(
            v(r#"text/plain; foo="a\",version=2", application/json;version=1"#),
            Ok(Version::int(1))
        );
        assert_eq!(v("*/*"), Err(VersionError::Missing));
        for malformed in [
            "application/json;version",
            ";;;,,,",
            "application/json; version=\"2",
            "application/json; version=\"2\\",
            "application/json; q=; version=2",
            ", ,application/json ;",
        ] {
            assert!(
                matches!(
                    v(malformed),
                    Err(VersionError::Missing | VersionError::Invalid { .. })
                ),
                "{malformed}"
            );
        }
        assert_eq!(
            v(" , application/json ; version = 2 ; q = 0.5 "),
            Ok(Version::int(2))
        );
        assert!(matches!(
            v("application/json;version=x"),
            Err(VersionError::Invalid { .. })
        ));
    }

    #[test]
    fn missing_versions_follow_the_missing_knob() {
        let reject = all_sources().build().expect("valid");
        assert_eq!(err(&reject, "/api/a", &[]), VersionError::Missing);
        let latest = all_sources()
            .on_missing(Missing::Latest)
            .build()
            .expect("valid");
        let r = ok(&latest, "/api/a", &[]);
        assert_eq!(
            (r.version(), r.is_defaulted(), r.source()),
            (Version::int(3), true, None)
        );
        let fixed = all_sources()
            .on_missing(Missing::Default(Version::int(2)))
            .build()
            .expect("valid");
        assert_eq!(ok(&fixed, "/api/a", &[]).version(), Version::int(2));
        // A default never hides a bad version (versionist#86).
        assert!(matches!(
            err(&fixed, "/api/a", &[("x-api-version", "9")]),
            VersionError::Unsupported { .. }
        ));
    }

    #[test]
    fn neutral_routes_never_fail() {
        let policy = all_sources()
            .neutral_path("/health")
            .neutral_path("/docs/")
            .build()
            .expect("valid");
        for (uri, headers) in [
            ("/health", vec![]),
            ("/health/ready", vec![("x-api-version", "garbage")]),
            (
                "/docs",
                vec![("x-api-version", "1"), ("x-api-version", "2")],
            ),
        ] {
            let r = ok(&policy, uri, &headers);
            assert!(r.is_neutral() && r.is_defaulted(), "{uri}");
        }
        // CORS preflights are neutral wherever they go.
        let mut preflight = parts("/api/orders", &[("access-control-request-method", "POST")]);
        preflight.method = http::Method::OPTIONS;
        assert!(resolve(&preflight, &policy).is_ok_and(|r| r.is_neutral()));
        preflight.headers.clear();
        assert_eq!(resolve(&preflight, &policy), Err(VersionError::Missing));
        let r = ok(&policy, "/health", &[("x-api-version", "1")]);
        assert_eq!(
            (r.version(), r.is_neutral(), r.is_defaulted()),
            (Version::int(1), true, false)
        );
        assert_eq!(err(&policy, "/healthz", &[]), VersionError::Missing);
    }

    #[test]
    fn sunset_is_enforced_only_when_asked() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let spec = VersionSpec::new(Version::int(1))
            .deprecated_at(at(100))
            .sunset_at(at(200));
        let lenient = all_sources().version(spec.clone()).build();
        assert!(lenient.is_err(), "v1 declared twice");
        let build = |enforce| {
            Policy::builder(Scheme::Integer)
                .version(spec.clone())
                .version(Version::int(2))
                .header_source()
                .enforce_sunset(enforce)
                .build()
                .expect("valid")
        };
        let p = parts("/", &[("x-api-version", "1")]);
        assert_eq!(
            resolve_at(&p, &build(false), at(150)).map(|r| r.lifecycle()),
            Ok(Lifecycle::Deprecated)
        );
        assert_eq!(
            resolve_at(&p, &build(false), at(250)).map(|r| r.lifecycle()),
            Ok(Lifecycle::Sunset)
        );
        assert!(matches!(
            resolve_at(&p, &build(true), at(250)),
            Err(VersionError::Sunset { .. })
        ));
        assert_eq!(
            resolve_at(&p, &build(true), at(50)).map(|r| r.lifecycle()),
            Ok(Lifecycle::Active)
        );
    }

    #[test]
    fn dates_and_major_minor_resolve() {
        let dates = Policy::builder(Scheme::Date)
            .version(Version::date(2024, 6, 1).expect("date"))
            .version(Version::date(2025, 1, 15).expect("date"))
            .path_source("/")
            .header_source()
            .build()
            .expect("valid");
        assert_eq!(
            ok(&dates, "/2024-06-01/x", &[]).version().to_string(),
            "2024-06-01"
        );
        assert!(matches!(
            err(&dates, "/2024-02-30/x", &[]),
            VersionError::Invalid { .. }
        ));
        assert!(matches!(
            err(&dates, "/x", &[("x-api-version", "2024-06-02")]),
            VersionError::Unsupported { .. }
        ));
        let mm = Policy::builder(Scheme::MajorMinor)
            .version(Version::major_minor(1, 0))
            .version(Version::major_minor(1, 1))
            .header_source()
            .query_source()
            .build()
            .expect("valid");
        assert_eq!(
            ok(&mm, "/x?api_version=1", &[("x-api-version", "1.0")]).version(),
            Version::major_minor(1, 0)
        );
    }

    /// The winning q-value, token and tie of one `Accept` value.
    type Winner = Option<(u16, Vec<u8>, Option<Vec<u8>>)>;

    /// The [`Winner`] of one `Accept` value: through [`offer_value`]
    /// (`fast`), or through the general parser alone.
    fn best_of(fast: bool, value: &[u8], vendor: Option<&[u8]>) -> Winner {
        let mut best = None;
        let scheme = Scheme::Integer;
        if fast {
            offer_value(&mut best, scheme, value, b"version", vendor);
        } else {
            scan_accept(value, b"version", |range, q, token| {
                offer(&mut best, scheme, vendor, range, q, token);
            });
        }
        best.map(|b| (b.q, b.token.to_vec(), b.tie.map(<[u8]>::to_vec)))
    }

    #[test]
    fn positions_are_found_across_words() {
        let value = b"text/html;q=0.8, application/json; version=2, */*;q=0.1,";
        for byte in [b'=', b',', b';'] {
            let expected: Vec<usize> = value
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == byte)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(Positions::new(value, byte).collect::<Vec<_>>(), expected);
        }
        assert_eq!(Positions::new(b"", b'=').next(), None);
        assert_eq!(Positions::new(b"abcdefgh", b'=').next(), None);
        assert_eq!(Positions::new(b"abcdefgh=", b'=').collect::<Vec<_>>(), [8]);
        // Bytes one off `=` (`<`, `>`), high bytes and NUL padding are not `=`.
        assert_eq!(
            Positions::new(b"<>\x80\xff\xbd\x3c\x00\x01=", b'=').collect::<Vec<_>>(),
            [8]
        );
    }

    #[test]
    fn case_insensitive_search_finds_needles() {
        assert!(contains_ignore_case(
            b"application/VND.ACME.v2",
            b"vnd.acme."
        ));
        assert!(contains_ignore_case(b"vv", b"v"));
        assert!(contains_ignore_case(b"abc", b""));
        assert!(!contains_ignore_case(b"application/vnd.acm", b"vnd.acme."));
        assert!(!contains_ignore_case(b"vnd.acmx.vnd.acm", b"vnd.acme."));
        // `V` and `v` are the only bytes that fold to `v`.
        assert!(!contains_ignore_case(
            b"\x56\x16\x36\xd6nd.acme.",
            b"vnd.acme."
        ));
        assert!(contains_ignore_case(b"\x16\x36\xd6Vnd.acme.", b"vnd.acme."));
        assert!(contains_ignore_case(b"ab.x+1", b".x+"));
        assert!(!contains_ignore_case(b"ab.x+1", b".y+"));
    }

    #[test]
    fn fast_and_general_accept_parsing_agree_on_examples() {
        let vendor = Some(&b"vnd.engine-ops."[..]);
        for value in [
            "text/html;q=0.8, application/json; version=2, */*;q=0.1",
            " , application/json ; version = 2 ; q = 0.5 ",
            "application/json;version=a=b;q=1,,",
            "application/json;version=1;version=3;q=0.5, a;version=2;q=0.4",
            "application/json;version;q=0.5,text/plain;=3;version=",
            "a=b;version=1,c;q=0;version=2",
            "x;q=0.5;version=1, y;version=2;q=0.5, z;q=0.9;xversion=3",
            "version=2, a;version=3",
            "application/vnd.engine-ops.v3+json;q=0.5, application/json;version=2",
            "text/plain; foo=\"a,version=2\", application/json;version=1",
            ";;;,,,",
            "",
        ] {
            assert_eq!(
                best_of(true, value.as_bytes(), vendor),
                best_of(false, value.as_bytes(), vendor),
                "{value}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4096))]

        /// Whatever path [`offer_value`] takes, it finds what the general
        /// parser finds.
        #[test]
        fn fast_and_general_accept_parsing_agree(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    ",", ";", "=", ";version=", ";q=", " ", "\t", "\"", "\\", "q", "Q", "0",
                    "1", ".", "5", "version", "VERSION", "application/json", "*/*", "v2", "x",
                    "application/vnd.engine-ops.v3+json", "application/VND.Engine-Ops.",
                ]),
                0..16,
            ),
            vendor in proptest::bool::ANY,
        ) {
            let value = pieces.concat();
            let vendor = vendor.then_some(&b"vnd.engine-ops."[..]);
            proptest::prop_assert_eq!(
                best_of(true, value.as_bytes(), vendor),
                best_of(false, value.as_bytes(), vendor)
            );
        }
    }

    #[test]
    fn q_values_parse_per_rfc_9110() {
        assert_eq!(parse_q(b"1"), Some(1000));
        assert_eq!(parse_q(b"1.000"), Some(1000));
        assert_eq!(parse_q(b"0.5"), Some(500));
        assert_eq!(parse_q(b"0.125"), Some(125));
        assert_eq!(parse_q(b"0"), Some(0));
        for bad in [&b"1.5"[..], b"0.1234", b"2", b"", b"-1", b"0.a"] {
            assert_eq!(parse_q(bad), None);
        }
    }
}
