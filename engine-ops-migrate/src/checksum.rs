//! SHA-256 checksums of migration sources, insensitive to CRLF line endings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The SHA-256 digest of a migration's source bytes, with every CRLF pair
/// normalised to LF before hashing.
///
/// A Windows checkout or an editor that rewrites line endings therefore does
/// not report drift, while any other edit (including a lone `\r`, a BOM or a
/// change of whitespace) does. Displayed, parsed and serialised as 64
/// lowercase hex digits.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::Checksum;
///
/// let unix = Checksum::of_source(b"CREATE TABLE t (id int);\n");
/// let windows = Checksum::of_source(b"CREATE TABLE t (id int);\r\n");
/// assert_eq!(unix, windows);
/// assert_ne!(unix, Checksum::of_source(b"CREATE TABLE t (id bigint);\n"));
/// assert_eq!(unix.to_string().len(), 64);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// Hashes `source` with CRLF normalised to LF.
    ///
    /// Runs without allocating: the bytes between carriage returns are fed to
    /// the hasher as slices.
    #[must_use]
    pub fn of_source(source: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        // Fast path: most sources have no carriage return at all, and
        // `contains` on bytes is a word-at-a-time memchr.
        if !source.contains(&b'\r') {
            hasher.update(source);
            return Self(hasher.finalize().into());
        }
        let mut rest = source;
        while let Some(cr) = rest.iter().position(|&b| b == b'\r') {
            if rest.get(cr + 1) == Some(&b'\n') {
                // Drop the `\r` of a CRLF pair; the `\n` starts the next slice.
                hasher.update(&rest[..cr]);
                rest = &rest[cr + 1..];
            } else {
                hasher.update(&rest[..=cr]);
                rest = &rest[cr + 1..];
            }
        }
        hasher.update(rest);
        Self(hasher.finalize().into())
    }

    /// Wraps a raw 32-byte digest (for backends that store bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::Checksum;
    ///
    /// let c = Checksum::of_source(b"x");
    /// assert_eq!(Checksum::from_bytes(*c.as_bytes()), c);
    /// ```
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32-byte digest.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.to_hex())
    }
}

/// The text given to [`Checksum::from_str`] was not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checksum {text:?} is not 64 hex digits (a SHA-256 digest)")]
pub struct ParseChecksumError {
    /// The rejected text.
    pub text: String,
}

impl FromStr for Checksum {
    type Err = ParseChecksumError;

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`ParseChecksumError`] when the text is not exactly 64 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0_u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ParseChecksumError { text: s.to_owned() })?;
        Ok(Self(out))
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0_u8; 64];
        // Cannot fail: the buffer is exactly twice the digest length.
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_sha(bytes: &[u8]) -> Checksum {
        Checksum(Sha256::digest(bytes).into())
    }

    #[test]
    fn crlf_is_normalised_and_lone_cr_is_kept() {
        assert_eq!(Checksum::of_source(b"a\r\nb\r\n"), plain_sha(b"a\nb\n"));
        assert_eq!(Checksum::of_source(b"a\rb"), plain_sha(b"a\rb"));
        assert_eq!(Checksum::of_source(b"a\r\r\nb\r"), plain_sha(b"a\r\nb\r"));
        assert_eq!(Checksum::of_source(b""), plain_sha(b""));
        assert_ne!(Checksum::of_source(b"a\n"), Checksum::of_source(b"a \n"));
    }

    #[test]
    fn hex_round_trip_and_json() {
        let c = Checksum::of_source(b"select 1");
        let parsed: Checksum = c.to_string().parse().expect("parses");
        assert_eq!(parsed, c);
        let json = serde_json::to_string(&c).expect("serialises");
        assert_eq!(json, format!("\"{c}\""));
        let back: Checksum = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, c);
        assert!("abc".parse::<Checksum>().is_err());
    }
}
