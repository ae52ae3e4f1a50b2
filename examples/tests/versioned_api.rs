//! End to end: the `versioned_api` example served over loopback, driven by a
//! real hyper client. Covers every source, conflicts, defaults, neutral
//! routes, errors, headers and transforms.

#[allow(dead_code)]
#[path = "../versioned_api.rs"]
mod versioned_api;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use engine_ops_apiversion::policy::ManualClock;
use serde_json::Value;
use versioned_api::{MAX_BODY, send, spawn};

/// 2026-01-01T00:00:00Z, the example's v1 deprecation date.
const V1_DEPRECATED: u64 = 1_767_225_600;
/// 2027-01-01T00:00:00Z, the example's v1 sunset date.
const V1_SUNSET: u64 = 1_798_761_600;

type Result<T = ()> = anyhow::Result<T>;

/// A clock between v1's deprecation and its sunset.
fn mid_deprecation() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(V1_DEPRECATED + 86_400),
    ))
}

struct Server {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(clock: Arc<ManualClock>) -> Result<Self> {
        let (addr, task) = spawn("127.0.0.1:0", clock).await?;
        Ok(Server { addr, task })
    }

    async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, http::HeaderMap, String)> {
        let (status, headers, body) = send(self.addr, "GET", path, headers, "").await?;
        Ok((status.as_u16(), headers, body))
    }

    async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, http::HeaderMap, String)> {
        let (status, headers, body) = send(self.addr, "POST", path, headers, body).await?;
        Ok((status.as_u16(), headers, body))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn values(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("<binary>").to_owned())
        .collect()
}

#[tokio::test]
async fn every_source_selects_the_version() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    /// Path, headers, expected version, expected source.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: [Case<'_>; 6] = [
        ("/api/v1/version", vec![], "1", "path"),
        ("/api/version", vec![("x-api-version", "v1")], "1", "header"),
        (
            "/api/version",
            vec![("X-Api-Version", " 1 ")],
            "1",
            "header",
        ),
        ("/api/version?api_version=1", vec![], "1", "query"),
        (
            "/api/version",
            vec![("accept", "text/html;q=0.9, application/json; version=1")],
            "1",
            "media-type",
        ),
        (
            "/api/version",
            vec![("accept", "application/vnd.engine-ops.v1+json")],
            "1",
            "media-type",
        ),
    ];
    for (path, headers, version, source) in cases {
        let (status, response_headers, body) = server.get(path, &headers).await?;
        assert_eq!(status, 200, "{path} {headers:?}: {body}");
        let doc = json(&body);
        assert_eq!(
            (doc["version"].as_str(), doc["source"].as_str()),
            (Some(version), Some(source)),
            "{path}"
        );
        assert_eq!(doc["defaulted"], false);
        assert_eq!(values(&response_headers, "api-version"), [version]);
    }
    Ok(())
}

#[tokio::test]
async fn conflicts_are_rejected_and_agreement_is_accepted() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let (status, headers, body) = server
        .get("/api/v1/version", &[("x-api-version", "2")])
        .await?;
    assert_eq!(status, 400);
    assert_eq!(
        values(&headers, "content-type"),
        ["application/problem+json"]
    );
    let doc = json(&body);
    assert_eq!(
        doc["type"],
        "https://engine-ops.dev/problems/api-version/ambiguous"
    );
    assert_eq!(doc["supported"], serde_json::json!(["1", "2"]));

    // A repeated header with different values is a conflict, not a garbled value.
    let (status, _, body) = server
        .get(
            "/api/version",
            &[("x-api-version", "1"), ("x-api-version", "2")],
        )
        .await?;
    assert_eq!(status, 400);
    assert_eq!(
        json(&body)["type"],
        "https://engine-ops.dev/problems/api-version/ambiguous"
    );

    let (status, _, body) = server
        .get("/api/v2/version?api_version=2", &[("x-api-version", "v2")])
        .await?;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["source"], "path");
    Ok(())
}

#[tokio::test]
async fn a_missing_version_gets_the_latest() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let (status, headers, body) = server.get("/api/version", &[]).await?;
    assert_eq!(status, 200);
    let doc = json(&body);
    assert_eq!(
        (doc["version"].as_str(), doc["defaulted"].as_bool()),
        (Some("2"), Some(true))
    );
    assert_eq!(doc["lifecycle"], "active");
    // The default is the head, so unversioned traffic is not flagged deprecated.
    assert!(headers.get("deprecation").is_none());
    assert_eq!(values(&headers, "api-version"), ["2"]);
    Ok(())
}

#[tokio::test]
async fn neutral_routes_never_fail() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    for headers in [
        vec![],
        vec![("x-api-version", "garbage")],
        vec![("x-api-version", "1"), ("x-api-version", "9")],
    ] {
        let (status, response_headers, body) = server.get("/health", &headers).await?;
        assert_eq!((status, body.as_str()), (200, "ok"), "{headers:?}");
        assert_eq!(
            values(&response_headers, "api-supported-versions"),
            ["1, 2"]
        );
    }
    let (status, _, body) = server.get("/metrics?api_version=zzz", &[]).await?;
    assert_eq!(status, 200);
    assert!(json(&body)["total"].as_u64().is_some());
    Ok(())
}

#[tokio::test]
async fn errors_are_problems_listing_versions_with_discovery_headers() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let cases = [
        ("/api/v9/users/1", vec![], "unsupported", "v9"),
        (
            "/api/users/1",
            vec![("x-api-version", "1.5")],
            "invalid",
            "1.5",
        ),
        ("/api/users/1?api_version=11", vec![], "unsupported", "11"),
        (
            "/api/users/1",
            vec![("accept", "application/vnd.engine-ops.vx+json")],
            "invalid",
            "vx",
        ),
    ];
    for (path, headers, kind, requested) in cases {
        let (status, response_headers, body) = server.get(path, &headers).await?;
        assert_eq!(status, 400, "{path}");
        let doc = json(&body);
        assert_eq!(
            doc["type"],
            format!("https://engine-ops.dev/problems/api-version/{kind}"),
            "{path}"
        );
        assert_eq!(doc["requested"], requested, "{path}");
        assert_eq!(doc["supported"], serde_json::json!(["1", "2"]));
        assert_eq!(doc["deprecated"], serde_json::json!(["1"]));
        assert_eq!(
            values(&response_headers, "api-supported-versions"),
            ["1, 2"]
        );
        assert_eq!(values(&response_headers, "api-deprecated-versions"), ["1"]);
        assert_eq!(values(&response_headers, "vary"), ["x-api-version, accept"]);
        assert_eq!(
            values(&response_headers, "content-length"),
            [body.len().to_string()]
        );
    }
    Ok(())
}

#[tokio::test]
async fn deprecated_versions_carry_lifecycle_headers() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let (status, headers, _) = server.get("/api/v1/users/1", &[]).await?;
    assert_eq!(status, 200);
    assert_eq!(values(&headers, "deprecation"), ["@1767225600"]);
    assert_eq!(
        values(&headers, "sunset"),
        ["Fri, 01 Jan 2027 00:00:00 GMT"]
    );
    assert_eq!(
        values(&headers, "link"),
        [
            "<https://engine-ops.dev/changelog#v2>; rel=\"deprecation\"; type=\"text/html\"; title=\"Moving to v2\", </api/v2>; rel=\"successor-version\""
        ]
    );
    assert_eq!(values(&headers, "api-deprecated-versions"), ["1"]);
    assert!(headers.get("warning").is_none());

    let (_, headers, _) = server.get("/api/v2/users/1", &[]).await?;
    assert!(
        headers.get("deprecation").is_none()
            && headers.get("sunset").is_none()
            && headers.get("link").is_none()
    );
    assert_eq!(values(&headers, "vary"), ["x-api-version, accept"]);
    Ok(())
}

#[tokio::test]
async fn sunset_versions_are_gone() -> Result {
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(V1_SUNSET + 1),
    ));
    let server = Server::start(clock).await?;
    let (status, headers, body) = server.get("/api/v1/users/1", &[]).await?;
    assert_eq!(status, 410);
    let doc = json(&body);
    assert_eq!(
        doc["type"],
        "https://engine-ops.dev/problems/api-version/sunset"
    );
    assert_eq!(doc["sunset"], "Fri, 01 Jan 2027 00:00:00 GMT");
    assert_eq!(values(&headers, "api-supported-versions"), ["1, 2"]);
    let (status, _, _) = server.get("/api/v2/users/1", &[]).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn v1_shapes_come_from_the_change() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let (_, v2_headers, v2) = server.get("/api/v2/users/1", &[]).await?;
    let (_, v1_headers, v1) = server.get("/api/v1/users/1", &[]).await?;
    let (v2, v1) = (json(&v2), json(&v1));
    assert_eq!(v2["full_name"], "Ada Lovelace");
    assert_eq!(v1["name"], "Ada Lovelace");
    assert!(v1.get("full_name").is_none());
    // Everything the change does not name survives: arrays, nulls, falsy values.
    for field in ["id", "email", "tags", "manager", "active"] {
        assert_eq!(v1[field], v2[field], "{field}");
    }
    assert_eq!(
        values(&v1_headers, "content-length"),
        [serde_json::to_string(&v1)?.len().to_string()]
    );
    assert_eq!(values(&v2_headers, "content-type"), ["application/json"]);

    // Lists: the rename reaches every element.
    let (_, _, list) = server.get("/api/users", &[("x-api-version", "1")]).await?;
    let list = json(&list);
    assert!(
        list.as_array().is_some_and(
            |users| users.len() == 2 && users.iter().all(|u| u["name"] == "Ada Lovelace")
        )
    );

    // Requests go up: a v1 client's `name` reaches the v2 handler as `full_name`.
    let (status, _, created) = server
        .post(
            "/api/v1/users",
            &[("content-type", "application/json")],
            r#"{"name":"Grace Hopper","email":null}"#,
        )
        .await?;
    assert_eq!(status, 201);
    let created = json(&created);
    assert_eq!(
        (created["name"].as_str(), created.get("full_name")),
        (Some("Grace Hopper"), None)
    );
    assert_eq!(created["email"], Value::Null);

    // The same body at v2 is the head shape: passed through untouched, and the
    // handler rejects the v1 field name.
    let (status, _, _) = server
        .post(
            "/api/v2/users",
            &[("content-type", "application/json")],
            r#"{"name":"Grace Hopper"}"#,
        )
        .await?;
    assert_eq!(status, 422);
    Ok(())
}

#[tokio::test]
async fn transform_errors_and_pass_through() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let json_type = [("content-type", "application/json")];
    let (status, headers, body) = server
        .post("/api/v1/users", &json_type, "{\"name\": ")
        .await?;
    assert_eq!(status, 400);
    assert_eq!(
        values(&headers, "content-type"),
        ["application/problem+json"]
    );
    assert_eq!(
        json(&body)["type"],
        "https://engine-ops.dev/problems/api-version/invalid-body"
    );

    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY));
    let (status, _, body) = server.post("/api/v1/users", &json_type, &big).await?;
    assert_eq!(status, 413);
    assert_eq!(
        json(&body)["type"],
        "https://engine-ops.dev/problems/api-version/body-too-large"
    );

    // Not JSON: passed through untouched at v1.
    let (status, headers, body) = server.get("/api/v1/report", &[]).await?;
    assert_eq!(status, 200);
    assert_eq!(body, "name,full_name\nnot,json\n");
    assert_eq!(values(&headers, "api-version"), ["1"]);

    // A handler's own error body is not downgraded.
    let (status, _, body) = server.get("/api/v1/users/0", &[]).await?;
    assert_eq!(status, 404);
    assert!(json(&body).get("full_name").is_some());
    Ok(())
}

#[tokio::test]
async fn usage_shows_who_still_calls_v1() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    server.get("/api/v1/users/1", &[]).await?;
    server
        .get("/api/users/1", &[("x-api-version", "1")])
        .await?;
    server.get("/api/users/1", &[]).await?;
    server.get("/api/v7/users/1", &[]).await?;
    let (_, _, body) = server.get("/metrics", &[]).await?;
    let doc = json(&body);
    let count = |version: Option<&str>, source: Option<&str>, outcome: &str| -> u64 {
        doc["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["version"].as_str() == version
                    && r["source"].as_str() == source
                    && r["outcome"] == outcome
            })
            .filter_map(|r| r["count"].as_u64())
            .sum()
    };
    assert_eq!(count(Some("1"), Some("path"), "deprecated"), 1);
    assert_eq!(count(Some("1"), Some("header"), "deprecated"), 1);
    assert_eq!(count(Some("2"), None, "active"), 1);
    assert_eq!(count(None, Some("path"), "unsupported"), 1);
    Ok(())
}

#[tokio::test]
async fn the_avatar_route_exists_from_v2_on() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let (status, headers, body) = server.get("/api/v1/users/1/avatar", &[]).await?;
    assert_eq!(status, 404);
    assert_eq!(
        json(&body)["type"],
        "https://engine-ops.dev/problems/api-version/not-in-version"
    );
    assert_eq!(values(&headers, "api-supported-versions"), ["2"]);
    let (status, _, body) = server
        .get("/api/users/1/avatar", &[("x-api-version", "2")])
        .await?;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["id"], 1);
    Ok(())
}

#[tokio::test]
async fn the_changelog_is_served_as_markdown_and_data() -> Result {
    let server = Server::start(mid_deprecation()).await?;
    let (status, headers, body) = server.get("/changelog", &[]).await?;
    assert_eq!(status, 200);
    assert_eq!(
        values(&headers, "content-type"),
        ["text/markdown; charset=utf-8"]
    );
    assert!(
        body.contains("## Version 2\n\n- **users: `name` was renamed `full_name`** (`/api/users/…`)\n  - `/name` was renamed `full_name`\n"),
        "{body}"
    );
    assert!(
        body.contains("## Version 1\n\nDeprecated 2026-01-01. Sunset 2027-01-01.\n"),
        "{body}"
    );
    let (_, _, body) = server.get("/changelog?format=json", &[]).await?;
    let data = json(&body);
    assert_eq!(data["versions"][1]["deprecated"], "2026-01-01");
    assert_eq!(
        data["versions"][0]["changes"][0]["operations"][0],
        serde_json::json!({"op": "renamed", "path": "/name", "to": "full_name"})
    );
    Ok(())
}
