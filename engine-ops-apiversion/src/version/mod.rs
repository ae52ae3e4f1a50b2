//! Version values and the schemes that parse them.

use std::fmt;
use std::num::NonZeroU64;

mod checked;

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
    /// `major.minor[-status]`: `1.2`, `v1.2`, `1` which means `1.0`, and
    /// pre-release versions with a status suffix: `2.0-beta`, `3.1-rc1`
    /// (see [`Version::with_status`]). Major and minor are at most 32767.
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
                let (number, status) = match token.iter().position(|&b| b == b'-') {
                    Some(dash) => (&token[..dash], Some(pack_status(&token[dash + 1..])?)),
                    None => (token, None),
                };
                let (major, minor) = match number.iter().position(|&b| b == b'.') {
                    None => (parse_uint(number)?, 0),
                    Some(dot) => (parse_uint(&number[..dot])?, parse_uint(&number[dot + 1..])?),
                };
                if major > MM_FIELD as u32 || minor > MM_FIELD as u32 {
                    return None;
                }
                let version = Version::major_minor(major, minor);
                Some(match status {
                    Some(status) => version.set_status(status),
                    None => version,
                })
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
    Version::try_date(year, month, day)
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
// integers have at most 9 digits (< 2^30); larger constructor arguments are
// masked to 31 bits.
//
// `major.minor[-status]`: major (15 bits), minor (15 bits), then 32 bits of
// status: a status of up to six letters and digits in base 37 (digit 0 pads
// the end, so shorter sorts first and the order is the ASCII order of the
// lowercase text), or all ones for "no status", which sorts a release after
// its pre-releases (`2.0-beta < 2.0-rc1 < 2.0`).
const TAG_SHIFT: u32 = 62;
const INT: u64 = 1;
const MAJOR_MINOR: u64 = 2;
const DATE: u64 = 3;
const FIELD: u64 = (1 << 31) - 1;
const MM_FIELD: u64 = (1 << 15) - 1;
const MM_MAJOR_SHIFT: u32 = 47;
const MM_MINOR_SHIFT: u32 = 32;
const NO_STATUS: u64 = u32::MAX as u64;
/// The longest status suffix.
const STATUS_LEN: usize = 6;

/// The base-37 digit of a status character: `0-9` → 1..=10, `a-z` (either
/// case) → 11..=36.
fn status_digit(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0') + 1),
        b'a'..=b'z' => Some(u64::from(b - b'a') + 11),
        b'A'..=b'Z' => Some(u64::from(b - b'A') + 11),
        _ => None,
    }
}

/// Packs a status (1..=6 ASCII letters and digits, starting with a letter).
fn pack_status(status: &[u8]) -> Option<u64> {
    if status.is_empty() || status.len() > STATUS_LEN || !status[0].is_ascii_alphabetic() {
        return None;
    }
    let mut packed = 0;
    for i in 0..STATUS_LEN {
        let digit = match status.get(i) {
            Some(&b) => status_digit(b)?,
            None => 0,
        };
        packed = packed * 37 + digit;
    }
    Some(packed)
}

/// The status suffix of a pre-release version (`beta` in `2.0-beta`):
/// lowercase ASCII letters and digits, at most six.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{Scheme, Version};
///
/// let beta = Scheme::MajorMinor.parse("2.0-Beta").expect("valid");
/// assert_eq!(beta.status().map(|s| s.to_string()).as_deref(), Some("beta"));
/// assert!(beta < Version::major_minor(2, 0));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionStatus {
    bytes: [u8; STATUS_LEN],
    len: u8,
}

impl VersionStatus {
    /// The status text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VersionStatus({:?})", self.as_str())
    }
}

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

    /// A `major.minor` version without a status. Each part above 32767 is
    /// truncated to 15 bits.
    #[must_use]
    pub const fn major_minor(major: u32, minor: u32) -> Self {
        Version::pack(
            (MAJOR_MINOR << TAG_SHIFT)
                | ((major as u64 & MM_FIELD) << MM_MAJOR_SHIFT)
                | ((minor as u64 & MM_FIELD) << MM_MINOR_SHIFT)
                | NO_STATUS,
        )
    }

    /// This version with a status suffix, or `None` when the status is not
    /// usable or the version is not `major.minor`: [`Version::with_status`]
    /// says why.
    fn try_with_status(self, status: &[u8]) -> Option<Self> {
        match pack_status(status) {
            Some(packed) if self.scheme() == Scheme::MajorMinor => Some(self.set_status(packed)),
            _ => None,
        }
    }

    const fn set_status(self, packed: u64) -> Self {
        Version::pack((self.0.get() & !NO_STATUS) | packed)
    }

    /// The status suffix of a pre-release `major.minor` version.
    #[must_use]
    pub fn status(&self) -> Option<VersionStatus> {
        if self.scheme() != Scheme::MajorMinor {
            return None;
        }
        let mut packed = self.0.get() & NO_STATUS;
        if packed == NO_STATUS {
            return None;
        }
        let mut bytes = [0u8; STATUS_LEN];
        for i in (0..STATUS_LEN).rev() {
            bytes[i] = match packed % 37 {
                0 => 0,
                d @ 1..=10 => b'0' + (d - 1) as u8,
                d => b'a' + (d - 11) as u8,
            };
            packed /= 37;
        }
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(STATUS_LEN);
        Some(VersionStatus {
            bytes,
            len: len as u8,
        })
    }

    /// Whether this is a release (no status suffix).
    #[must_use]
    pub fn is_stable(&self) -> bool {
        self.status().is_none()
    }

    /// A date version, or `None` when the day does not exist:
    /// [`Version::date`] says why.
    fn try_date(year: u16, month: u8, day: u8) -> Option<Self> {
        if year == 0 || year > 9999 || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Version::pack(
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
            Scheme::MajorMinor => {
                write!(
                    f,
                    "{}.{}",
                    (v >> MM_MAJOR_SHIFT) & MM_FIELD,
                    (v >> MM_MINOR_SHIFT) & MM_FIELD
                )?;
                match self.status() {
                    Some(status) => write!(f, "-{status}"),
                    None => Ok(()),
                }
            }
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
        for bad in [
            "1.",
            ".1",
            "1.2.3",
            "1..2",
            "a.b",
            "1.02",
            "32768.0",
            "1.32768",
            "1.0-",
            "1.0-1beta",
            "1.0-beta-2",
            "1.0-betagamma",
            "1.0-be ta",
            "1.0-b.1",
        ] {
            assert_eq!(Scheme::MajorMinor.parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Scheme::MajorMinor.parse("32767.32767"),
            Some(Version::major_minor(32767, 32767))
        );
    }

    #[test]
    fn statuses_sort_before_their_release_and_round_trip() {
        let parse = |token: &str| Scheme::MajorMinor.parse(token).expect(token);
        let ordered = [
            "1.9",
            "2.0-alpha",
            "2.0-alpha2",
            "2.0-beta",
            "2.0-rc1",
            "2.0-rc10",
            "2.0-rc2",
            "2.0",
            "2.1-a",
            "2.1",
        ];
        for pair in ordered.windows(2) {
            assert!(parse(pair[0]) < parse(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        for token in ordered {
            assert_eq!(parse(token).to_string(), token);
        }
        assert_eq!(parse("v2-BETA"), parse("2.0-beta"));
        assert_eq!(parse("2.0-zzzzzz").to_string(), "2.0-zzzzzz");
        assert_eq!(parse("2.0-a00000").to_string(), "2.0-a00000");
        assert!(parse("2.0").is_stable());
        assert!(!parse("2.0-beta").is_stable());
        assert_eq!(
            Version::major_minor(2, 0).with_status("Beta"),
            Ok(parse("2.0-beta"))
        );
        for bad in ["", "1rc", "toolong7", "b-1"] {
            assert!(
                Version::major_minor(2, 0).with_status(bad).is_err(),
                "{bad}"
            );
        }
        assert!(Version::int(2).with_status("beta").is_err());
        assert_eq!(Scheme::Integer.parse("2-beta"), None);
        assert_eq!(Version::int(2).status(), None);
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
