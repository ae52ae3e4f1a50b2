//! Policy features through the public API: custom readers, the per-request
//! default selector, lifecycle dates written as dates, Link attributes and
//! pre-release versions.

use std::time::{Duration, UNIX_EPOCH};

use engine_ops_apiversion::policy::{DefaultSelector, Link, VersionReader};
use engine_ops_apiversion::usage::Outcome;
use engine_ops_apiversion::{
    ApiVersionLayer, ConfigError, Conflict, Missing, Policy, Scheme, Source, Version, VersionError,
    VersionSpec, resolve,
};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};

/// The version in a `version` cookie.
#[derive(Debug)]
struct Cookie;

impl VersionReader for Cookie {
    fn name(&self) -> &'static str {
        "cookie"
    }

    fn read<'a>(&'a self, parts: &'a Parts) -> Option<&'a [u8]> {
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .flat_map(|line| line.as_bytes().split(|&b| b == b';'))
            .find_map(|pair| pair.trim_ascii().strip_prefix(b"version="))
    }
}

/// An API key's pinned version, as an authentication layer would leave it.
#[derive(Debug, Clone, Copy)]
struct Pinned(Version);

#[derive(Debug)]
struct ByApiKey;

impl DefaultSelector for ByApiKey {
    fn select(&self, parts: &Parts) -> Option<Version> {
        parts.extensions.get::<Pinned>().map(|p| p.0)
    }
}

fn policy() -> Policy {
    Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .version(Version::int(3))
        .header_source()
        .reader(Cookie)
        .default_selector(ByApiKey)
        .on_missing(Missing::Latest)
        .build()
        .expect("valid policy")
}

fn parts(headers: &[(&str, &str)], pin: Option<u32>) -> Parts {
    let mut request = Request::get("/orders");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (mut parts, ()) = request.body(()).expect("request").into_parts();
    if let Some(pin) = pin {
        parts.extensions.insert(Pinned(Version::int(pin)));
    }
    parts
}

#[test]
fn custom_readers_are_sources_like_the_others() {
    let policy = policy();
    let resolution =
        resolve(&parts(&[("cookie", "a=b; version=v2")], None), &policy).expect("resolves");
    assert_eq!(resolution.version(), Version::int(2));
    assert_eq!(resolution.source(), Some(Source::Custom("cookie")));
    assert!(!resolution.is_defaulted());
    // Conflicts with other sources follow the policy.
    let err = resolve(
        &parts(&[("cookie", "version=1"), ("x-api-version", "2")], None),
        &policy,
    )
    .expect_err("they disagree");
    assert!(matches!(
        err,
        VersionError::Ambiguous {
            first: Source::Header,
            second: Source::Custom("cookie"),
            ..
        }
    ));
    // Malformed and unsupported values name the reader.
    let err = resolve(&parts(&[("cookie", "version=two")], None), &policy).expect_err("bad");
    assert_eq!(
        err.to_string(),
        "the cookie carries \"two\", which is not a valid api version: send one of the supported versions"
    );
    let err = resolve(&parts(&[("cookie", "version=9")], None), &policy).expect_err("unknown");
    assert!(matches!(
        err,
        VersionError::Unsupported {
            found_in: Source::Custom("cookie"),
            ..
        }
    ));
}

#[test]
fn the_selector_picks_a_default_per_request_and_explicit_versions_override_it() {
    let policy = policy();
    let pinned = resolve(&parts(&[], Some(1)), &policy).expect("resolves");
    assert_eq!(pinned.version(), Version::int(1));
    assert_eq!(pinned.source(), Some(Source::Selector));
    assert!(pinned.is_defaulted());
    let explicit = resolve(&parts(&[("x-api-version", "3")], Some(1)), &policy).expect("resolves");
    assert_eq!(
        (explicit.version(), explicit.source()),
        (Version::int(3), Some(Source::Header))
    );
    // No pin: the `Missing` rule.
    let unpinned = resolve(&parts(&[], None), &policy).expect("resolves");
    assert_eq!(
        (unpinned.version(), unpinned.source()),
        (Version::int(3), None)
    );
    // A pin to a version the policy no longer declares is an error, not a
    // silent upgrade.
    let err = resolve(&parts(&[], Some(9)), &policy).expect_err("undeclared");
    assert!(matches!(
        err,
        VersionError::Unsupported {
            found_in: Source::Selector,
            ref requested,
        } if requested == "9"
    ));
}

#[tokio::test]
async fn usage_counts_readers_and_the_selector_apart() {
    let policy = policy();
    let service = ApiVersionLayer::new(policy.clone()).layer(service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(
            http_body_util::Empty::<bytes::Bytes>::new(),
        ))
    }));
    for (cookie, pin) in [(Some("version=2"), None), (None, Some(1)), (None, Some(1))] {
        let mut request = Request::get("/orders");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let mut request = request.body(()).expect("request");
        if let Some(pin) = pin {
            request.extensions_mut().insert(Pinned(Version::int(pin)));
        }
        let response = service.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let usage = policy.usage();
    let count = |source| {
        usage
            .records()
            .iter()
            .filter(|r| r.source == Some(source) && r.outcome == Outcome::Active)
            .map(|r| r.count)
            .sum::<u64>()
    };
    assert_eq!(count(Source::Custom("cookie")), 1);
    assert_eq!(count(Source::Selector), 2);
}

#[test]
fn reader_names_must_be_usable_and_unique() {
    #[derive(Debug)]
    struct Named(&'static str);
    impl VersionReader for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn read<'a>(&'a self, _: &'a Parts) -> Option<&'a [u8]> {
            None
        }
    }
    let base = || Policy::builder(Scheme::Integer).version(Version::int(1));
    for name in ["", "Cookie", "has space", "header"] {
        let err = base().reader(Named(name)).build().expect_err(name);
        assert!(
            matches!(
                err,
                ConfigError::InvalidName {
                    what: "reader name",
                    ..
                }
            ),
            "{name}: {err:?}"
        );
    }
    let err = base()
        .reader(Named("cookie"))
        .reader(Named("cookie"))
        .build()
        .expect_err("twice");
    assert!(matches!(
        err,
        ConfigError::DuplicateSource {
            source_kind: Source::Custom("cookie")
        }
    ));
    // A reader can be preferred, like any source.
    base()
        .reader(Named("cookie"))
        .header_source()
        .on_conflict(Conflict::Prefer(Source::Custom("cookie")))
        .build()
        .expect("valid");
}

#[test]
fn lifecycle_dates_are_read_as_dates() {
    let policy = Policy::builder(Scheme::Integer)
        .version(
            VersionSpec::new(Version::int(1))
                .deprecated("2026-01-01")
                .sunset("Fri, 01 Jan 2027 00:00:00 GMT"),
        )
        .version(
            VersionSpec::new(Version::int(2))
                .deprecated("2027-06-30T12:00:00+02:00")
                .sunset("2028-01-01T00:00:00Z"),
        )
        .version(Version::int(3))
        .header_source()
        .build()
        .expect("valid");
    let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(policy.deprecation(Version::int(1)), at(1_767_225_600));
    assert_eq!(policy.sunset(Version::int(1)), at(1_798_761_600));
    assert_eq!(policy.deprecation(Version::int(2)), at(1_814_349_600));
    assert_eq!(policy.sunset(Version::int(2)), at(1_830_297_600));
    let mut headers = http::HeaderMap::new();
    let resolution = resolve(&parts(&[("x-api-version", "1")], None), &policy).expect("resolves");
    policy.stamp(&mut headers, Some(&resolution));
    assert_eq!(headers["deprecation"], "@1767225600");
    assert_eq!(headers["sunset"], "Fri, 01 Jan 2027 00:00:00 GMT");

    for (deprecated, sunset) in [("2026-02-30", "2027-01-01"), ("2026-01-01", "next year")] {
        let err = Policy::builder(Scheme::Integer)
            .version(
                VersionSpec::new(Version::int(1))
                    .deprecated(deprecated)
                    .sunset(sunset),
            )
            .header_source()
            .build()
            .expect_err("not a date");
        assert!(
            matches!(err, ConfigError::InvalidLifecycleDate { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("write 2027-01-01"), "{err}");
    }
    let err = Policy::builder(Scheme::Integer)
        .version(
            VersionSpec::new(Version::int(1))
                .deprecated("2027-01-01")
                .sunset("2026-12-31"),
        )
        .header_source()
        .build()
        .expect_err("sunset first");
    assert!(matches!(err, ConfigError::SunsetBeforeDeprecation { .. }));
}

#[test]
fn links_carry_type_and_title() {
    let policy = Policy::builder(Scheme::Integer)
        .version(
            VersionSpec::new(Version::int(1))
                .deprecated("2026-01-01")
                .deprecation_link(
                    Link::new("https://example.com/v2-guide")
                        .media_type("text/html")
                        .title("Moving to \"v2\""),
                )
                .sunset_link(Link::new("https://example.com/sunset").title("Fin de vie"))
                .successor_link(
                    Link::new("/api/v2")
                        .media_type("application/json")
                        .title("Version 2 — ¡nueva!"),
                ),
        )
        .version(Version::int(2))
        .header_source()
        .build()
        .expect("valid");
    let mut headers = http::HeaderMap::new();
    let resolution = resolve(&parts(&[("x-api-version", "1")], None), &policy).expect("resolves");
    policy.stamp(&mut headers, Some(&resolution));
    assert_eq!(
        headers["link"],
        "<https://example.com/v2-guide>; rel=\"deprecation\"; type=\"text/html\"; title=\"Moving to \\\"v2\\\"\", \
         <https://example.com/sunset>; rel=\"sunset\"; title=\"Fin de vie\", \
         </api/v2>; rel=\"successor-version\"; type=\"application/json\"; title*=UTF-8''Version%202%20%E2%80%94%20%C2%A1nueva!"
    );
    for bad in [
        Link::new("/x").media_type("text"),
        Link::new("/x").media_type("text/html; charset=utf-8"),
        Link::new("/x").title("two\nlines"),
    ] {
        let err = Policy::builder(Scheme::Integer)
            .version(VersionSpec::new(Version::int(1)).successor_link(bad))
            .header_source()
            .build()
            .expect_err("unusable");
        assert!(matches!(err, ConfigError::InvalidName { .. }), "{err:?}");
    }
}

#[test]
fn pre_release_versions_are_served_but_never_the_default() {
    let mm = |token: &str| Scheme::MajorMinor.parse(token).expect(token);
    let policy = Policy::builder(Scheme::MajorMinor)
        .version(mm("1.0"))
        .version(mm("2.0"))
        .version(mm("2.1-beta"))
        .header_source()
        .on_missing(Missing::Latest)
        .build()
        .expect("valid");
    assert_eq!(policy.latest(), mm("2.1-beta"));
    let unversioned = resolve(
        &parts(&[], None),
        &Policy::builder(Scheme::MajorMinor)
            .version(mm("1.0"))
            .version(mm("2.1-beta"))
            .header_source()
            .on_missing(Missing::Latest)
            .build()
            .expect("valid"),
    )
    .expect("resolves");
    assert_eq!(unversioned.version(), mm("1.0"));
    let beta = resolve(&parts(&[("x-api-version", "2.1-BETA")], None), &policy).expect("resolves");
    assert_eq!(beta.version().to_string(), "2.1-beta");
    let mut headers = http::HeaderMap::new();
    policy.stamp(&mut headers, Some(&beta));
    assert_eq!(headers["api-supported-versions"], "1.0, 2.0, 2.1-beta");
    assert_eq!(headers["api-version"], "2.1-beta");
    // `2.1` is not `2.1-beta`: matching stays exact.
    assert!(matches!(
        resolve(&parts(&[("x-api-version", "2.1")], None), &policy),
        Err(VersionError::Unsupported { .. })
    ));
    assert!(matches!(
        resolve(&parts(&[("x-api-version", "2.1-rc")], None), &policy),
        Err(VersionError::Unsupported { .. })
    ));
}
