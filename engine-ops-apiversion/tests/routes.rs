//! Per-route versions and neutral endpoints in an axum router, and the
//! wirings that must fail loudly instead of silently.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use engine_ops_apiversion::usage::Outcome;
use engine_ops_apiversion::{
    ApiVersionLayer, ConfigError, Missing, Policy, Scheme, Source, Version,
};
use http::{Method, Request, StatusCode};
use tower::{Layer, ServiceExt};

fn policy() -> Policy {
    Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .version(Version::int(3))
        .path_source("/api")
        .header_source()
        .on_missing(Missing::Latest)
        .neutral_endpoint(Some(Method::GET), "/api/files/{id}/thumbnail")
        .build()
        .expect("valid policy")
}

/// `/api/users` at every version, `/api/users/{id}/avatar` added in v2,
/// `/api/legacy` removed in v2, `/api/beta` at v3 only.
fn routes(policy: &Policy) -> Router {
    Router::new()
        .route(
            "/api/users",
            get(|| async { "users" }).post(|| async { "created" }),
        )
        .route(
            "/api/users/{id}/avatar",
            get(|| async { "avatar" })
                .route_layer(policy.route_since(Version::int(2)).expect("declared")),
        )
        .route(
            "/api/legacy",
            get(|| async { "legacy" })
                .route_layer(policy.route_before(Version::int(2)).expect("declared")),
        )
        .route(
            "/api/beta",
            post(|| async { "beta" })
                .route_layer(policy.route_only([Version::int(3)]).expect("declared")),
        )
        .route("/api/files/{id}/thumbnail", get(|| async { "thumb" }))
}

async fn call(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, String) {
    let policy = policy();
    let app = ApiVersionLayer::new(policy.clone()).layer(routes(&policy));
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (status, headers, body) = common::collect(response).await;
    (
        status,
        headers,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

#[tokio::test]
async fn a_route_added_later_answers_older_versions_with_a_problem_not_a_page() {
    let (status, headers, body) = call(Method::GET, "/api/v1/users/7/avatar", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/problem+json");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["type"], common::problem_type("not-in-version"));
    assert_eq!(doc["requested"], "1");
    assert_eq!(doc["supported"], serde_json::json!(["2", "3"]));
    assert!(
        doc["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/api/users/7/avatar") && d.contains("from version 2 on")),
        "{doc}"
    );
    // The route's versions are advertised, not the whole API's.
    assert_eq!(headers["api-supported-versions"], "2, 3");
    assert_eq!(headers["api-version"], "1");
    for uri in ["/api/v2/users/7/avatar", "/api/v3/users/7/avatar"] {
        let (status, headers, body) = call(Method::GET, uri, &[]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "avatar"), "{uri}");
        assert_eq!(headers["api-supported-versions"], "2, 3");
    }
}

#[tokio::test]
async fn a_route_removed_later_keeps_serving_older_versions() {
    let (status, _, body) = call(Method::GET, "/api/v1/legacy", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "legacy"));
    let (status, headers, _) = call(Method::GET, "/api/legacy", &[("x-api-version", "2")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["api-supported-versions"], "1");
    // Without a version the default (the latest) no longer has it either.
    let (status, _, _) = call(Method::GET, "/api/legacy", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = call(Method::POST, "/api/v3/beta", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "beta"));
    let (status, _, _) = call(Method::POST, "/api/v2/beta", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Routes without a layer serve every version, with the API's list.
    let (status, headers, _) = call(Method::GET, "/api/v1/users", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["api-supported-versions"], "1, 2, 3");
}

#[tokio::test]
async fn neutral_endpoints_never_fail_on_the_version_but_their_siblings_do() {
    for headers in [
        vec![("x-api-version", "garbage")],
        vec![("x-api-version", "9")],
    ] {
        let (status, _, body) = call(Method::GET, "/api/files/1/thumbnail", &headers).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "thumb"),
            "{headers:?}"
        );
        // HEAD is the GET endpoint.
        let (status, _, _) = call(Method::HEAD, "/api/files/1/thumbnail", &headers).await;
        assert_eq!(status, StatusCode::OK);
        // Another method, or another path, is not neutral.
        let (status, _, _) = call(Method::POST, "/api/files/1/thumbnail", &headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = call(Method::GET, "/api/files/1", &headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Matched on the routed path: with a version segment too.
    let (status, _, _) = call(Method::GET, "/api/v9/files/1/thumbnail", &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_per_route_check_without_the_versioning_layer_is_a_loud_500() {
    let policy = policy();
    let response = routes(&policy)
        .oneshot(
            Request::get("/api/users/7/avatar")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let (status, _, body) = common::collect(response).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(doc["type"], common::problem_type("misconfigured"));
}

#[test]
#[should_panic(expected = "ApiVersionLayer was added to an axum route")]
fn the_versioning_layer_after_routing_is_refused_at_start_up() {
    let policy = policy();
    // `Router::layer` runs after routing: `/api/v1/users` would never match.
    let _app: Router = routes(&policy).layer(ApiVersionLayer::new(policy));
}

#[test]
fn after_routing_is_fine_when_versions_never_rewrite_paths() {
    let policy = Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .header_source()
        .build()
        .expect("valid policy");
    let _app: Router = Router::new()
        .route("/users", get(|| async { "users" }))
        .layer(ApiVersionLayer::new(policy));
}

#[test]
fn per_route_versions_must_be_declared_and_served() {
    let policy = policy();
    for result in [
        policy.route_since(Version::int(4)),
        policy.route_before(Version::int(1)),
        policy.route_only([]),
        policy.route_only([Version::int(2), Version::int(7)]),
    ] {
        assert!(
            matches!(result, Err(ConfigError::InvalidRouteVersions { .. })),
            "{result:?}"
        );
    }
    assert_eq!(
        policy
            .route_before(Version::int(3))
            .expect("valid")
            .versions(),
        [Version::int(1), Version::int(2)]
    );
}

#[tokio::test]
async fn neutral_endpoint_usage_is_counted_as_neutral() {
    let policy = policy();
    let app = ApiVersionLayer::new(policy.clone()).layer(routes(&policy));
    let response = app
        .oneshot(
            Request::get("/api/files/1/thumbnail")
                .header("x-api-version", "nope")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let usage = policy.usage();
    assert_eq!(usage.for_outcome(Outcome::Neutral), 1);
    assert!(
        usage
            .records()
            .iter()
            .all(|r| r.source != Some(Source::Path))
    );
}
