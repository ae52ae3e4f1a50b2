//! `examples/users_api.rs` and the same API written against the crate's
//! earlier surface (`tests/before/users_api.rs`), both served over loopback
//! and driven by a real hyper client: the rewrite keeps what clients see,
//! and says more where the earlier one had to improvise.

#[allow(dead_code)]
#[path = "../users_api.rs"]
mod after;
#[allow(dead_code)]
#[path = "before/users_api.rs"]
mod before;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

type Reply = (u16, http::HeaderMap, String);

async fn serve(app: axum::Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

async fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> anyhow::Result<Reply> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let response = client.request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8(body.to_vec())?,
    ))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn the_rewrite_answers_clients_as_the_original_did() -> anyhow::Result<()> {
    let before = serve(before::app()?).await?;
    let after = serve(after::app()?).await?;
    for addr in [before, after] {
        // v1 lists say `name`.
        let (status, headers, body) = send(addr, "GET", "/api/v1/users", "").await?;
        assert_eq!(status, 200);
        assert_eq!(json(&body)["data"][1]["name"], "Ada Lovelace");
        assert!(json(&body)["data"][0].get("full_name").is_none());
        assert_eq!(headers["deprecation"], "@1767225600");
        assert_eq!(headers["sunset"], "Fri, 01 Jan 2027 00:00:00 GMT");
        assert_eq!(
            headers["link"],
            "<https://example.com/changelog#v2>; rel=\"deprecation\", </api/v2>; rel=\"successor-version\""
        );
        // HEAD announces no other length than GET.
        let (_, head, _) = send(addr, "HEAD", "/api/v1/users", "").await?;
        if let Some(length) = head.get("content-length") {
            assert_eq!(length, body.len().to_string().as_str());
        }
        // v2 is the head: as the handler wrote it.
        let (_, _, body) = send(addr, "GET", "/api/v2/users", "").await?;
        assert_eq!(json(&body)["data"][0]["full_name"], "Ada Lovelace");
        // Requests go up: a v1 `name` reaches the handler as `full_name`.
        let (status, _, body) = send(addr, "POST", "/api/v1/users", r#"{"name":"Grace"}"#).await?;
        assert_eq!(
            (status, json(&body)),
            (201, json!({"id": 3, "name": "Grace"}))
        );
        // The avatar exists from v2 on.
        let (status, _, _) = send(addr, "GET", "/api/v1/users/1/avatar", "").await?;
        assert_eq!(status, 404);
        let (status, _, body) = send(addr, "GET", "/api/v2/users/1/avatar", "").await?;
        assert_eq!((status, json(&body)["id"].as_u64()), (200, Some(1)));
    }
    Ok(())
}

#[tokio::test]
async fn the_rewrite_says_more_where_the_original_improvised() -> anyhow::Result<()> {
    let after = serve(after::app()?).await?;
    // The handler's bytes and key order, the renamed key in its place.
    let (_, _, body) = send(after, "GET", "/api/v1/users", "").await?;
    assert_eq!(
        body,
        r#"{"data":[{"email":"ada@example.com","name":"Ada Lovelace","id":1},{"email":"ada@example.com","name":"Ada Lovelace","id":2}]}"#
    );
    // A typed problem that lists the route's versions, not a hand-made 404.
    let (status, headers, body) = send(after, "GET", "/api/v1/users/1/avatar", "").await?;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["api-supported-versions"], "2");
    let doc = json(&body);
    assert_eq!(
        doc["type"],
        "https://engine-ops.dev/problems/api-version/not-in-version"
    );
    assert_eq!(doc["supported"], json!(["2"]));
    Ok(())
}
