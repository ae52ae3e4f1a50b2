//! The RFC 9110 `Accept` parser: the highest-q member that names a version
//! (a media-type parameter or a vendor type), and a tie when two members
//! name different versions at that q. It knows nothing of sources or
//! policies: it returns tokens.

use super::swar::{Positions, contains_ignore_case};
use crate::version::Scheme;

/// One pass over an `Accept` value (an RFC 9110 §5.6.1 list of media
/// ranges with parameters, §5.6.4 quoted strings): calls `visit` with each
/// member's media range, its q-value in thousandths (0 when malformed: the
/// member is unusable) and the value of parameter `param`, if present.
///
/// The general parser, byte by byte; [`offer_value`] sends most values to
/// [`scan_param_unquoted`] instead, which gives the same answers faster.
#[inline(never)]
pub(super) fn scan_accept<'a>(
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
pub(super) fn parse_q(value: &[u8]) -> Option<u16> {
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
pub(super) struct Best<'a> {
    pub(super) q: u16,
    pub(super) token: &'a [u8],
    pub(super) tie: Option<&'a [u8]>,
}

/// Whether two tokens name different versions (or, unparsed, differ),
/// trimmed as sources trim them.
#[cold]
fn differ(scheme: Scheme, a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (a.trim_ascii(), b.trim_ascii());
    match (scheme.parse_bytes(a), scheme.parse_bytes(b)) {
        (Some(a), Some(b)) => a != b,
        (None, None) => a != b,
        _ => true,
    }
}

/// Offers one `Accept` member to the running best (higher q wins; `q=0`
/// never counts). Another version at the best q is remembered as a tie:
/// the order of list members carries no meaning (RFC 9110 §12.5.1), so
/// two versions equally preferred are as ambiguous as two header lines.
#[inline(always)]
pub(super) fn offer<'a>(
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
pub(super) fn offer_value<'a>(
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
