//! Version values and the schemes that parse them.

use std::fmt;
use std::num::NonZeroU64;

use crate::error::ConfigError;

/// How version tokens are written, chosen once per [`Policy`](crate::Policy).
///
/// Matching is exact: a token either parses to a version of the scheme or it
/// is invalid; there is no prefix matching (`11` never matches `1`) and no
/// rounding to a nearby supported version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Integers: `1`, `v1`, `V1`. Leading zeros are rejected (`01` is invalid).
    Integer,
    /// `major.minor`: `1.2`, `v1.2`, and `1` which means `1.0`.
    MajorMinor,
    /// Calendar dates `YYYY-MM-DD` (Stripe style), validated: `2024-02-30` is invalid.
    Date,
}

impl Scheme {
    /// Parses a token (already trimmed or not) into a version of this scheme.
    ///
    /// Returns `None` when the token is not a valid version of the scheme.
    /// Never allocates.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::{Scheme, Version};
    ///
    /// assert_eq!(Scheme::Integer.parse("v2"), Some(Version::int(2)));
    /// assert_eq!(Scheme::MajorMinor.parse("1"), Some(Version::major_minor(1, 0)));
    /// assert_eq!(Scheme::Date.parse("2024-02-30"), None);
    /// assert_eq!(Scheme::Integer.parse("11x"), None);
    /// ```
    #[must_use]
    pub fn parse(self, token: &str) -> Option<Version> {
        self.parse_bytes(token.as_bytes())
    }

    /// Like [`Scheme::parse`], over raw bytes (header values need not be UTF-8).
    #[must_use]
    pub fn parse_bytes(self, token: &[u8]) -> Option<Version> {
        let token = token.trim_ascii();
        match self {
            Scheme::Integer => parse_uint(strip_v(token)).map(Version::int),
            Scheme::MajorMinor => {
                let token = strip_v(token);
                match token.iter().position(|&b| b == b'.') {
                    None => parse_uint(token).map(|major| Version::major_minor(major, 0)),
                    Some(dot) => {
                        let major = parse_uint(&token[..dot])?;
                        let minor = parse_uint(&token[dot + 1..])?;
                        Some(Version::major_minor(major, minor))
                    }
                }
            }
            Scheme::Date => parse_date(token),
        }
    }

    /// Whether a path segment is an *attempt* at a version (so that a path
    /// source reports it as invalid instead of ignoring it).
    ///
    /// `v2`, `v2x` and `2` are attempts; `orders` is not, so `/api/orders`
    /// simply carries no version.
    pub(crate) fn looks_like_version(self, segment: &[u8]) -> bool {
        match segment {
            [b'v' | b'V', d, ..] if self != Scheme::Date => d.is_ascii_digit(),
            [d, ..] => d.is_ascii_digit(),
            [] => false,
        }
    }

    /// The name used in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scheme::Integer => "integer",
            Scheme::MajorMinor => "major.minor",
            Scheme::Date => "date",
        }
    }
}

fn strip_v(token: &[u8]) -> &[u8] {
    match token {
        [b'v' | b'V', rest @ ..] => rest,
        _ => token,
    }
}

/// Parses a non-empty run of ASCII digits without a leading zero (except `0`)
/// into a `u32`.
fn parse_uint(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    fixed_digits(digits)
}

/// ASCII digits (any number of them, leading zeros allowed; at most 9 in
/// every caller) into a `u32`.
fn fixed_digits(digits: &[u8]) -> Option<u32> {
    let mut value: u32 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

fn parse_date(token: &[u8]) -> Option<Version> {
    if token.len() != 10 || token[4] != b'-' || token[7] != b'-' {
        return None;
    }
    let year = u16::try_from(fixed_digits(&token[0..4])?).ok()?;
    let month = u8::try_from(fixed_digits(&token[5..7])?).ok()?;
    let day = u8::try_from(fixed_digits(&token[8..10])?).ok()?;
    Version::date(year, month, day).ok()
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// One API version: an integer, a `major.minor` pair, or a calendar date.
///
/// Versions are small `Copy` values, ordered within their scheme (`1 < 2`,
/// `1.2 < 1.10`, `2024-01-31 < 2024-06-01`). A [`Policy`](crate::Policy) only
/// holds versions of one [`Scheme`].
///
/// `Display` writes the canonical form: `2`, `1.0`, `2024-06-01`.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::Version;
///
/// assert!(Version::int(1) < Version::int(2));
/// assert!(Version::major_minor(1, 2) < Version::major_minor(1, 10));
/// assert_eq!(Version::date(2024, 6, 1)?.to_string(), "2024-06-01");
/// assert!(Version::date(2023, 2, 29).is_err());
/// # Ok::<(), engine_ops_apiversion::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU64);

// Packed into one non-zero word so that versions copy and compare as
// integers (and `Option<Version>` is one word too): the scheme (never 0) in
// the top two bits, then the fields from most to least
// significant, so integer order is version order within a scheme. Parsed
// numbers have at most 9 digits (< 2^30); larger constructor arguments are
// masked to 31 bits.
const TAG_SHIFT: u32 = 62;
const INT: u64 = 1;
const MAJOR_MINOR: u64 = 2;
const DATE: u64 = 3;
const FIELD: u64 = (1 << 31) - 1;

impl Version {
    /// Every packed value has a non-zero scheme tag in its top bits.
    const fn pack(bits: u64) -> Self {
        match NonZeroU64::new(bits) {
            Some(bits) => Version(bits),
            None => Version(NonZeroU64::MAX),
        }
    }

    /// An integer version (`v2` on the wire). Values above 2^31 - 1 are
    /// truncated to 31 bits.
    #[must_use]
    pub const fn int(n: u32) -> Self {
        Version::pack((INT << TAG_SHIFT) | (n as u64 & FIELD))
    }

    /// A `major.minor` version. Each part above 2^31 - 1 is truncated to 31 bits.
    #[must_use]
    pub const fn major_minor(major: u32, minor: u32) -> Self {
        Version::pack(
            (MAJOR_MINOR << TAG_SHIFT) | ((major as u64 & FIELD) << 31) | (minor as u64 & FIELD),
        )
    }

    /// A date version, validated as a real calendar date (years 1..=9999).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidDate`] when the day does not exist (`2023-02-29`,
    /// month 13, day 0, year 0).
    pub fn date(year: u16, month: u8, day: u8) -> Result<Self, ConfigError> {
        if year == 0 || year > 9999 || day == 0 || day > days_in_month(year, month) {
            return Err(ConfigError::InvalidDate { year, month, day });
        }
        Ok(Version::pack(
            (DATE << TAG_SHIFT)
                | (u64::from(year) << 16)
                | (u64::from(month) << 8)
                | u64::from(day),
        ))
    }

    /// The scheme this version belongs to.
    #[must_use]
    pub const fn scheme(&self) -> Scheme {
        match self.0.get() >> TAG_SHIFT {
            INT => Scheme::Integer,
            MAJOR_MINOR => Scheme::MajorMinor,
            _ => Scheme::Date,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0.get();
        match self.scheme() {
            Scheme::Integer => write!(f, "{}", v & FIELD),
            Scheme::MajorMinor => write!(f, "{}.{}", (v >> 31) & FIELD, v & FIELD),
            Scheme::Date => write!(
                f,
                "{:04}-{:02}-{:02}",
                (v >> 16) & 0xffff,
                (v >> 8) & 0xff,
                v & 0xff
            ),
        }
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_accept_optional_v_and_reject_garbage() {
        assert_eq!(Scheme::Integer.parse("1"), Some(Version::int(1)));
        assert_eq!(Scheme::Integer.parse(" V12 "), Some(Version::int(12)));
        for bad in [
            "",
            "v",
            "01",
            "1.0",
            "-1",
            "+1",
            "1a",
            "vv1",
            "9999999999",
            "v 1",
        ] {
            assert_eq!(Scheme::Integer.parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn major_minor_treats_major_alone_as_dot_zero() {
        assert_eq!(
            Scheme::MajorMinor.parse("1"),
            Scheme::MajorMinor.parse("1.0")
        );
        assert_eq!(
            Scheme::MajorMinor.parse("v2.5"),
            Some(Version::major_minor(2, 5))
        );
        for bad in ["1.", ".1", "1.2.3", "1..2", "a.b", "1.02"] {
            assert_eq!(Scheme::MajorMinor.parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dates_are_real_calendar_dates() {
        assert!(Scheme::Date.parse("2024-02-29").is_some());
        assert_eq!(Scheme::Date.parse("2023-02-29"), None);
        assert_eq!(Scheme::Date.parse("1900-02-29"), None);
        assert!(Scheme::Date.parse("2000-02-29").is_some());
        for bad in [
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "0000-01-01",
            "2024-6-01",
            "v2024-06-01",
        ] {
            assert_eq!(Scheme::Date.parse(bad), None, "{bad:?}");
        }
        let a = Version::date(2023, 12, 31).expect("valid");
        let b = Version::date(2024, 1, 1).expect("valid");
        assert!(a < b);
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (scheme, token, shown) in [
            (Scheme::Integer, "v7", "7"),
            (Scheme::MajorMinor, "3", "3.0"),
            (Scheme::Date, "2024-06-01", "2024-06-01"),
        ] {
            let v = scheme.parse(token).expect("parses");
            assert_eq!(v.to_string(), shown);
            assert_eq!(scheme.parse(&v.to_string()), Some(v));
            assert_eq!(v.scheme(), scheme);
        }
    }

    #[test]
    fn versions_are_one_word_even_when_optional() {
        assert_eq!(std::mem::size_of::<Option<Version>>(), 8);
        assert!(Version::int(u32::MAX) > Version::int(0));
        assert!(Version::major_minor(2, 0) > Version::major_minor(1, 99));
    }

    #[test]
    fn version_attempts_are_recognised() {
        assert!(Scheme::Integer.looks_like_version(b"v2"));
        assert!(Scheme::Integer.looks_like_version(b"2x"));
        assert!(!Scheme::Integer.looks_like_version(b"orders"));
        assert!(!Scheme::Integer.looks_like_version(b"v"));
        assert!(!Scheme::Date.looks_like_version(b"v2"));
    }
}
