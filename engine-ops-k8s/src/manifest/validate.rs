//! Checks shared by the builder and by sets read back from YAML, so that a
//! value is judged the same way whichever way it arrives. The rules are the
//! API server's (`k8s.io/apimachinery/pkg/util/validation`), applied before
//! anything is sent.

use super::Error;

/// A DNS-1123 label: 1..=`max` of `[a-z0-9-]`, alphanumeric at both ends.
/// With `rfc1035`, it must also start with a letter (Service names).
pub(crate) fn dns_label(field: &str, value: &str, max: usize, rfc1035: bool) -> Result<(), Error> {
    let fail = |reason: &str| Error::InvalidName {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
        max_len: max,
    };
    if value.is_empty() {
        return Err(fail("it is empty"));
    }
    if value.len() > max {
        return Err(fail(&format!("it is {} characters long", value.len())));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(fail(&format!("{c:?} is not allowed")));
    }
    let first = value.as_bytes()[0];
    if rfc1035 && !first.is_ascii_lowercase() {
        return Err(fail("it must start with a letter, as it names a Service"));
    }
    if first == b'-' {
        return Err(fail("it starts with '-'"));
    }
    if value.ends_with('-') {
        return Err(fail("it ends with '-'"));
    }
    Ok(())
}

/// An IANA service name (container and Service port names): 1..=15 of
/// `[a-z0-9-]`, at least one letter, no leading, trailing or double '-'.
pub(crate) fn port_name(field: &str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 15
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && value.chars().any(|c| c.is_ascii_lowercase())
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "port name {value:?} is not an IANA service name; use 1 to 15 lowercase letters, \
                 digits and single '-' (at least one letter, no '-' at either end), e.g. \"http\""
            ),
        ))
    }
}

/// A TCP/UDP port number.
pub(crate) fn port(field: &str, value: i64) -> Result<u16, Error> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::PortOutOfRange {
            field: field.to_owned(),
            port: value,
        })
}

/// An HTTP probe path.
pub(crate) fn probe_path(field: &str, path: &str) -> Result<(), Error> {
    if !path.starts_with('/') {
        return Err(Error::ProbePath {
            field: field.to_owned(),
            path: path.to_owned(),
        });
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("probe path {path:?} contains whitespace; percent-encode it"),
        ));
    }
    Ok(())
}

/// Digest algorithms an OCI image reference may name, with their hex length.
const DIGESTS: [(&str, usize); 2] = [("sha256", 64), ("sha512", 128)];

/// An image reference. Returns whether it is pinned by digest; refuses a
/// reference without one unless `allow_tag`.
pub(crate) fn image(field: &str, image: &str, allow_tag: bool) -> Result<bool, Error> {
    let fail = |reason: &str| Error::InvalidImage {
        field: field.to_owned(),
        image: image.to_owned(),
        reason: reason.to_owned(),
    };
    if image.is_empty() {
        return Err(fail("it is empty"));
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail("it contains whitespace"));
    }
    let Some((name, digest)) = image.split_once('@') else {
        return if allow_tag {
            Ok(false)
        } else {
            Err(Error::MutableImage {
                field: field.to_owned(),
                image: image.to_owned(),
            })
        };
    };
    if name.is_empty() {
        return Err(fail("the repository name before '@' is empty"));
    }
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(fail(
            "the digest has no algorithm; write @sha256:<64 hex digits>",
        ));
    };
    let Some((_, len)) = DIGESTS.iter().find(|(a, _)| *a == algorithm) else {
        return Err(fail(&format!(
            "digest algorithm {algorithm:?} is not sha256 or sha512"
        )));
    };
    if hex.len() != *len
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(fail(&format!(
            "the {algorithm} digest must be {len} lowercase hex digits"
        )));
    }
    Ok(true)
}

/// A Kubernetes resource quantity (`250m`, `1.5Gi`, `1e3`), by the
/// grammar of `k8s.io/apimachinery/pkg/api/resource`.
pub(crate) fn quantity(field: &str, value: &str) -> Result<(), Error> {
    let fail = || {
        Error::invalid(
            field,
            format!(
                "{value:?} is not a Kubernetes quantity; write a number with an optional suffix \
                 such as 250m, 0.5, 256Mi or 1Gi"
            ),
        )
    };
    let s = value.strip_prefix(['+', '-']).unwrap_or(value);
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let mut parts = number.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    if frac.is_some_and(|f| f.contains('.')) || (whole.is_empty() && frac.unwrap_or("").is_empty())
    {
        return Err(fail());
    }
    const SUFFIXES: [&str; 13] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G",
    ];
    let ok = SUFFIXES.contains(&suffix)
        || matches!(suffix, "T" | "P" | "E")
        || suffix
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    if ok { Ok(()) } else { Err(fail()) }
}

/// A label or annotation key: an optional DNS-subdomain prefix and '/', then
/// a name of 1..=63 `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub(crate) fn qualified_name(field: &str, key: &str) -> Result<(), Error> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.')
                .all(|part| dns_label(field, part, 63, false).is_ok())
    });
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{key:?} is not a valid key; use an optional DNS prefix and '/' (example.com/) \
                 then 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter \
                 or digit"
            ),
        ))
    }
}

/// A label value: empty, or 1..=63 `[A-Za-z0-9._-]`, alphanumeric at both
/// ends.
pub(crate) fn label_value(field: &str, value: &str) -> Result<(), Error> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{value:?} is not a valid label value; use at most 63 letters, digits, '-', '_' \
                 or '.', starting and ending with a letter or digit"
            ),
        ))
    }
}

/// An environment variable name: non-empty, printable, no '='.
pub(crate) fn env_name(field: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('=') || name.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::invalid(
            field,
            format!("{name:?} is not a valid environment variable name; use e.g. LOG_LEVEL"),
        ));
    }
    Ok(())
}

/// A ConfigMap key: 1..=253 of `[-._a-zA-Z0-9]`, not `.` or `..`.
pub(crate) fn config_key(field: &str, key: &str) -> Result<(), Error> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{key:?} is not a valid ConfigMap key; use 1 to 253 letters, digits, '-', '_' or \
                 '.'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "shop", "shop-2", "a1", &"a".repeat(63)] {
            assert!(dns_label("n", ok, 63, true).is_ok(), "{ok}");
        }
        for bad in ["", "Shop", "-a", "a-", "a_b", "a.b", "1a", &"a".repeat(64)] {
            assert!(dns_label("n", bad, 63, true).is_err(), "{bad}");
        }
        assert!(dns_label("n", "1a", 63, false).is_ok());
    }

    #[test]
    fn quantities() {
        for ok in [
            "1", "250m", "0.5", ".5", "1.", "1Gi", "128Mi", "1e3", "1E-2", "+1", "-1", "2k", "3T",
        ] {
            assert!(quantity("q", ok).is_ok(), "{ok}");
        }
        for bad in ["", "m", "1.2.3", "1 Gi", "1gi", "1Kb", "1e", "abc", "."] {
            assert!(quantity("q", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images() {
        let d = "a".repeat(64);
        assert_eq!(
            image("i", &format!("reg.io/shop@sha256:{d}"), false).ok(),
            Some(true)
        );
        assert_eq!(
            image("i", &format!("shop:v1@sha256:{d}"), false).ok(),
            Some(true)
        );
        assert!(matches!(
            image("i", "shop:v1", false),
            Err(Error::MutableImage { .. })
        ));
        assert_eq!(image("i", "shop:v1", true).ok(), Some(false));
        assert!(image("i", "shop@sha256:abc", false).is_err());
        assert!(image("i", &format!("shop@md5:{d}"), false).is_err());
        assert!(image("i", &format!("shop@sha256:{}", "A".repeat(64)), false).is_err());
        assert!(image("i", &format!("@sha256:{d}"), false).is_err());
    }

    #[test]
    fn keys_and_values() {
        for ok in ["app", "example.com/team", "a.b-c_d", "engine-ops.io/track"] {
            assert!(qualified_name("k", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "-a",
            "Example.com/a",
            "a/b/c",
            &"a".repeat(64),
        ] {
            assert!(qualified_name("k", bad).is_err(), "{bad}");
        }
        assert!(label_value("v", "").is_ok());
        assert!(label_value("v", "v1.2_3-x").is_ok());
        assert!(label_value("v", "-x").is_err());
        assert!(label_value("v", "a b").is_err());
        assert!(port_name("p", "http").is_ok());
        for bad in ["", "80", "a--b", "-a", "toolongportname1", "HTTP"] {
            assert!(port_name("p", bad).is_err(), "{bad}");
        }
        assert!(port("p", 0).is_err());
        assert!(port("p", 65_536).is_err());
        assert_eq!(port("p", 65_535).ok(), Some(65_535));
    }
}
