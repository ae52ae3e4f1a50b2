//! Transforms over a real loopback server (axum on hyper) driven by a real
//! HTTP client (hyper-util's), as a client of the API sees them: lengths on
//! the wire, bytes of numbers, statuses of unsafe methods.
#![cfg(feature = "transform")]

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use engine_ops_apiversion::transform::{Change, Changes, TransformLayer, json as edits};
use engine_ops_apiversion::{ApiVersionLayer, Policy, Scheme, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::ServiceBuilder;

/// What the head (v2) handler writes, exactly: numbers no `f64` holds,
/// lexemes `serde_json` would respell (`2.50`, `1e2`), keys out of
/// alphabetical order, spaces after separators.
const HEAD_USER: &str = r#"{"zeta": 1, "total": 123456789012345678901234567890, "rate": 0.1000000000000000055511151231257827, "alpha": [1.0, 2.50, 1e2, -0.0], "profile": {"full_name": "Ada"}}"#;

fn policy() -> Policy {
    Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .path_source("/api")
        .build()
        .expect("valid policy")
}

/// v2 renamed `profile.full_name` (was `name`): written as a closure over
/// `serde_json::Value`, the way the change API has always allowed.
fn changes(policy: &Policy, max: usize) -> Changes {
    Changes::builder(policy)
        .change(
            Change::new(Version::int(2), "`profile.name` became `profile.full_name`")
                .upgrade_request(|v| {
                    if let Some(profile) = v.get_mut("profile") {
                        edits::rename_field(profile, "name", "full_name");
                    }
                })
                .downgrade_response(|v| {
                    if let Some(profile) = v.get_mut("profile") {
                        edits::rename_field(profile, "full_name", "name");
                    }
                }),
        )
        .max_body_bytes(max)
        .build()
        .expect("valid changes")
}

/// A JSON response with an ETag, as a handler with caching would write it.
fn json(status: StatusCode, body: String) -> impl IntoResponse {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ETAG, "\"head-v2\""),
        ],
        body,
    )
}

async fn serve(max: usize) -> SocketAddr {
    let policy = policy();
    let changes = changes(&policy, max);
    let routes = Router::new()
        .route(
            "/api/users/{id}",
            get(|| async { json(StatusCode::OK, HEAD_USER.to_owned()) }),
        )
        // Creates a user and answers with its (large) record: the handler
        // runs, whatever happens to the response after it.
        .route(
            "/api/users",
            axum::routing::post(|| async {
                let history = vec!["x".repeat(100); 40];
                let body = serde_json::json!({"profile": {"full_name": "Ada"}, "history": history});
                json(StatusCode::CREATED, body.to_string())
            }),
        );
    let app = ServiceBuilder::new()
        .layer(ApiVersionLayer::new(policy))
        .layer(TransformLayer::new(changes))
        .service(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback_service(app))
            .await
            .expect("serve");
    });
    addr
}

/// One request over a fresh connection: status, headers, body bytes.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}

#[tokio::test]
async fn head_at_a_migrated_version_announces_no_other_length_than_get() {
    let addr = serve(1 << 20).await;
    for path in ["/api/v1/users/1", "/api/v2/users/1"] {
        let (status, get_headers, get_body) = send(addr, "GET", path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            get_headers[header::CONTENT_LENGTH],
            get_body.len().to_string().as_str()
        );
        let (status, head_headers, head_body) = send(addr, "HEAD", path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(head_body.is_empty());
        // RFC 9110 §9.3.2 / §8.6: a HEAD response may omit Content-Length,
        // but must not announce another length than the GET's.
        if let Some(length) = head_headers.get(header::CONTENT_LENGTH) {
            assert_eq!(length, get_body.len().to_string().as_str(), "{path}");
        }
        // Nor another validator: the GET at v1 has none (its bytes changed).
        assert_eq!(
            head_headers.get(header::ETAG),
            get_headers.get(header::ETAG),
            "{path}"
        );
        assert_eq!(head_headers["api-version"], get_headers["api-version"]);
    }
}

#[tokio::test]
async fn numbers_key_order_and_spacing_survive_migration() {
    let addr = serve(1 << 20).await;
    let (status, _, v2) = send(addr, "GET", "/api/v2/users/1", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v2, HEAD_USER.as_bytes());
    let (status, headers, v1) = send(addr, "GET", "/api/v1/users/1", "").await;
    assert_eq!(status, StatusCode::OK);
    // Exactly the handler's bytes, but for the one renamed key.
    assert_eq!(
        String::from_utf8_lossy(&v1),
        HEAD_USER.replace("\"full_name\"", "\"name\"")
    );
    assert_eq!(
        headers[header::CONTENT_LENGTH],
        v1.len().to_string().as_str()
    );
}

#[tokio::test]
async fn a_response_over_the_cap_keeps_the_status_of_the_action_that_ran() {
    // 1 KiB: the v1 request (tiny) is well within it, the handler's answer is not.
    let addr = serve(1024).await;
    let (status, headers, body) = send(
        addr,
        "POST",
        "/api/v1/users",
        r#"{"profile": {"name": "Ada"}}"#,
    )
    .await;
    // The user was created: the client must learn that, not a 500.
    assert_eq!(status, StatusCode::CREATED);
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("the handler's JSON");
    assert_eq!(
        doc["profile"]["full_name"], "Ada",
        "the request was upgraded"
    );
    // The body is the handler's, at the head version, and says so.
    assert_eq!(headers["api-version"], "2");
    assert_eq!(doc["history"].as_array().map(Vec::len), Some(40));
}
