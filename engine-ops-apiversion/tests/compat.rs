//! Code written against the crate's earlier flat root keeps compiling: the
//! types and constants that moved into modules are deprecated aliases of
//! the same items, and the traits are still re-exported there.
#![allow(deprecated)]

use std::time::UNIX_EPOCH;

use engine_ops_apiversion::{headers, policy, problem, usage, version};

#[test]
fn the_flat_root_paths_name_the_same_items() {
    let lifecycle: engine_ops_apiversion::Lifecycle = policy::Lifecycle::Deprecated;
    assert_eq!(lifecycle, policy::Lifecycle::Deprecated);
    assert!(matches!(
        engine_ops_apiversion::Outcome::Gone,
        usage::Outcome::Gone
    ));
    assert_eq!(
        engine_ops_apiversion::ProblemKind::Missing.type_uri(),
        problem::ProblemKind::Missing.type_uri()
    );
    let snapshot: usage::UsageSnapshot = engine_ops_apiversion::UsageSnapshot::default();
    assert_eq!(snapshot.total(), 0);
    let link: policy::Link = engine_ops_apiversion::Link::new("/api/v2");
    assert_eq!(link.uri(), "/api/v2");
    let clock: policy::ManualClock = engine_ops_apiversion::ManualClock::new(UNIX_EPOCH);
    let _: &dyn engine_ops_apiversion::Clock = &clock;
    let _: &dyn policy::Clock = &engine_ops_apiversion::SystemClock;
    let status: Option<version::VersionStatus> = engine_ops_apiversion::Version::major_minor(2, 0)
        .with_status("beta")
        .expect("a status")
        .status();
    let _: Option<engine_ops_apiversion::VersionStatus> = status;
    for (old, new) in [
        (
            engine_ops_apiversion::API_SUPPORTED_VERSIONS,
            headers::API_SUPPORTED_VERSIONS,
        ),
        (
            engine_ops_apiversion::API_DEPRECATED_VERSIONS,
            headers::API_DEPRECATED_VERSIONS,
        ),
        (engine_ops_apiversion::API_VERSION, headers::API_VERSION),
        (engine_ops_apiversion::DEPRECATION, headers::DEPRECATION),
        (engine_ops_apiversion::SUNSET, headers::SUNSET),
    ] {
        assert_eq!(old, new);
    }
    for (old, new) in [
        (engine_ops_apiversion::PROBLEM_JSON, problem::PROBLEM_JSON),
        (
            engine_ops_apiversion::DEFAULT_HEADER,
            policy::DEFAULT_HEADER,
        ),
        (engine_ops_apiversion::DEFAULT_QUERY, policy::DEFAULT_QUERY),
        (
            engine_ops_apiversion::DEFAULT_MEDIA_TYPE_PARAM,
            policy::DEFAULT_MEDIA_TYPE_PARAM,
        ),
    ] {
        assert_eq!(old, new);
    }
}

/// The reader and selector traits, implemented through their old paths.
#[derive(Debug)]
struct Fixed;

impl engine_ops_apiversion::VersionReader for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn read<'a>(&'a self, _: &'a http::request::Parts) -> Option<&'a [u8]> {
        Some(b"2")
    }
}

impl engine_ops_apiversion::DefaultSelector for Fixed {
    fn select(&self, _: &http::request::Parts) -> Option<engine_ops_apiversion::Version> {
        None
    }
}

#[test]
fn the_flat_root_traits_are_the_module_traits() {
    use engine_ops_apiversion::{Policy, Scheme, Version, resolve};
    let policy = Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .reader(Fixed)
        .default_selector(Fixed)
        .build()
        .expect("valid");
    let (parts, ()) = http::Request::get("/")
        .body(())
        .expect("request")
        .into_parts();
    let resolution = resolve(&parts, &policy).expect("resolves");
    let _: Option<engine_ops_apiversion::PathRewrite> = resolution.rewrite();
    assert_eq!(resolution.version(), Version::int(2));
    let layer: engine_ops_apiversion::RouteVersionsLayer =
        policy.route_since(Version::int(2)).expect("declared");
    assert_eq!(layer.versions(), [Version::int(2)]);
    let service: engine_ops_apiversion::ApiVersion<()> =
        engine_ops_apiversion::versioning::ApiVersion::new((), policy);
    assert_eq!(service.policy().latest(), Version::int(2));
}
