//! Unit tests of the decision and its parsers (the whole crate's behaviour
//! is tested in `tests/`).

use super::accept::{offer, offer_value, parse_q, scan_accept};
use super::swar::{Positions, contains_ignore_case};
use crate::error::VersionError;
use crate::policy::{Conflict, Lifecycle, Missing, Policy, PolicyBuilder, Source, VersionSpec};
use crate::resolution::{Resolution, resolve, resolve_at};
use crate::version::{Scheme, Version};
use http::Uri;
use std::time::{Duration, UNIX_EPOCH};

fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::get(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(()).expect("valid request").into_parts().0
}

fn all_sources() -> PolicyBuilder {
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
    let v =
        |accept: &str| resolve(&parts("/a", &[("accept", accept)]), &policy).map(|r| r.version());
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
