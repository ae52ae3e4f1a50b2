//! The source readers: the value(s) a request carries in its path, a
//! header, the query string, `Accept` or an application's reader, as
//! [`Found`] values borrowed from the request, or a [`Clash`] when one
//! source disagrees with itself.

use http::header::ACCEPT;
use http::{HeaderMap, HeaderName, Uri};

use super::accept::{Best, offer_value};
use super::resolved::PathRewrite;
use crate::policy::VersionReader;
use crate::policy::compiled::SourceConfig;
use crate::problem::echo;
use crate::version::{Scheme, Version};

/// The longest value decoded for parsing; longer values are never valid
/// versions anyway.
const RAW_CAP: usize = 48;

/// A value found in a source, borrowed from the request. Two words without
/// padding (the source travels beside it), so it moves cheaply through the
/// resolution loop.
#[derive(Clone, Copy)]
pub(super) struct Found<'a> {
    pub(super) version: Option<Version>,
    /// As sent (trimmed, not percent-decoded), for error messages.
    pub(super) raw: &'a [u8],
}

impl<'a> Found<'a> {
    #[inline]
    pub(super) fn new(scheme: Scheme, token: &'a [u8]) -> Self {
        let raw = token.trim_ascii();
        Found {
            version: scheme.parse_bytes(raw),
            raw,
        }
    }

    /// The value for a problem document or error, bounded (see [`echo`]).
    pub(super) fn raw_string(&self) -> String {
        match self.version {
            // A reader or selector may give a version without text.
            Some(version) if self.raw.is_empty() => version.to_string(),
            _ => echo(self.raw),
        }
    }

    #[inline]
    pub(super) fn same_as(&self, other: &Found<'_>) -> bool {
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
pub(super) struct Clash<'a>(pub(super) Found<'a>, pub(super) Found<'a>);

/// The value(s) one source carries.
#[inline(always)]
pub(super) fn read_source<'a>(
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
pub(super) fn segment_prefix(path: &str, prefix: &str) -> bool {
    path.as_bytes()
        .strip_prefix(prefix.as_bytes())
        .is_some_and(|rest| rest.first().is_none_or(|&b| b == b'/'))
}

// Always inlined: called out of line, its pair of options would come back
// through memory and stall the resolution loop on store forwarding.
#[inline(always)]
pub(super) fn read_path<'a>(
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
