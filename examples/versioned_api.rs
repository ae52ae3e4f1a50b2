//! An axum server with API versions 1 and 2, one set of handlers.
//!
//! - v2 is the head: handlers speak only v2 (`full_name`).
//! - v1 is deprecated (since 2026-01-01, sunset 2027-01-01, successor `/api/v2`);
//!   its shape (`name`) is produced by one declared change, in both
//!   directions; bodies keep every byte the change does not name.
//! - `/api/users/{id}/avatar` exists from v2 on: v1 gets a 404 problem.
//! - The version comes from the path (`/api/v1/users/1`), the `X-API-Version`
//!   header, the `api_version` query parameter, or `Accept`
//!   (`application/json; version=1`, `application/vnd.engine-ops.v1+json`).
//! - `/health`, `/metrics` and `/changelog` are version-neutral; `/metrics`
//!   shows the usage counters (who still calls v1?), `/changelog` the
//!   changes in Markdown (`?format=json` for data).
//!
//! The versioning layer wraps the *whole* router: axum runs `Router::layer`
//! middleware after routing, when a path rewrite would come too late (the
//! layer refuses that placement at start-up).
//!
//! ```text
//! cargo run -p engine-ops-examples --example versioned_api            # serve on 127.0.0.1:3000
//! cargo run -p engine-ops-examples --example versioned_api -- --demo  # scripted requests, then exit
//! ```

use axum::Router;
use axum::extract::{Extension, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use engine_ops_apiversion::policy::{Clock, Link};
use engine_ops_apiversion::transform::{Change, Changes};
use engine_ops_apiversion::{
    ApiVersionLayer, Missing, Policy, Resolution, Scheme, Version, VersionSpec,
};
use serde_json::{Value, json};
use tower::Layer;

/// Request bodies larger than this are not migrated (413); responses
/// larger than it are sent at v2, labelled so.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// The versioning policy of the example.
pub(crate) fn policy(clock: impl Clock) -> anyhow::Result<Policy> {
    let v1 = VersionSpec::new(Version::int(1))
        .deprecated("2026-01-01")
        .sunset("2027-01-01")
        .deprecation_link(
            Link::new("https://engine-ops.dev/changelog#v2")
                .media_type("text/html")
                .title("Moving to v2"),
        )
        .successor_link("/api/v2");
    Ok(Policy::builder(Scheme::Integer)
        .version(v1)
        .version(Version::int(2))
        .path_source("/api")
        .header_source()
        .query_source()
        .media_type_source_with("version", Some("engine-ops"))
        .on_missing(Missing::Latest)
        .neutral_path("/health")
        .neutral_path("/metrics")
        .neutral_path("/changelog")
        .enforce_sunset(true)
        .clock(clock)
        .build()?)
}

/// The one change between v1 and v2: `name` became `full_name` on users
/// (a user, or each user of a list), declared once for both directions.
pub(crate) fn changes(policy: &Policy) -> anyhow::Result<Changes> {
    Ok(Changes::builder(policy)
        .change(
            Change::new(Version::int(2), "users: `name` was renamed `full_name`")
                .routes(["/api/users"])
                .renamed("/name", "full_name"),
        )
        .max_body_bytes(MAX_BODY)
        .build()?)
}

/// The whole application: versioning around the router, as one `Router`
/// that `axum::serve` accepts.
pub(crate) fn app(clock: impl Clock) -> anyhow::Result<Router> {
    let policy = policy(clock)?;
    let changes = changes(&policy)?;
    let metrics_policy = policy.clone();
    let changelog = changes.changelog();
    let routes = Router::new()
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{id}", get(get_user))
        .route(
            "/api/users/{id}/avatar",
            get(avatar).route_layer(policy.route_since(Version::int(2))?),
        )
        .route("/api/version", get(version))
        .route("/api/report", get(report))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(move || metrics(metrics_policy.clone())))
        .route(
            "/changelog",
            get(
                move |Query(query): Query<Vec<(String, String)>>| async move {
                    if query.iter().any(|(k, v)| k == "format" && v == "json") {
                        Json(changelog.to_json()).into_response()
                    } else {
                        let markdown = [("content-type", "text/markdown; charset=utf-8")];
                        (markdown, changelog.to_markdown()).into_response()
                    }
                },
            ),
        );
    // ApiVersion → Transform → Router: the router sees the rewritten path.
    let versioned = ApiVersionLayer::new(policy)
        .with_changes(changes)?
        .layer(routes);
    // An outer router with no routes of its own hands every request to the
    // versioned stack; this only gives `axum::serve` the type it wants.
    Ok(Router::new().fallback_service(versioned))
}

fn user(id: u64) -> Value {
    json!({
        "id": id,
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "tags": ["math", null, 1815],
        "manager": null,
        "active": false,
    })
}

async fn list_users() -> Json<Value> {
    Json(json!([user(1), user(2)]))
}

async fn get_user(Path(id): Path<u64>) -> impl IntoResponse {
    if id == 0 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no user 0", "full_name": null })),
        );
    }
    (StatusCode::OK, Json(user(id)))
}

/// Handlers only know v2: a v1 client's `name` arrives here as `full_name`.
async fn create_user(Json(body): Json<Value>) -> impl IntoResponse {
    match body.get("full_name").and_then(Value::as_str) {
        Some(full_name) => (
            StatusCode::CREATED,
            Json(json!({ "id": 3, "full_name": full_name, "email": body.get("email").cloned() })),
        ),
        None => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": "`full_name` is required" })),
        ),
    }
}

/// Added in v2 (see the route's `route_since`).
async fn avatar(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "url": format!("https://cdn.engine-ops.dev/avatars/{id}.png") }))
}

async fn version(Extension(resolution): Extension<Resolution>) -> Json<Value> {
    Json(json!({
        "version": resolution.version().to_string(),
        "source": resolution.source().map(|s| s.as_str()),
        "defaulted": resolution.is_defaulted(),
        "lifecycle": resolution.lifecycle().as_str(),
    }))
}

async fn report() -> &'static str {
    "name,full_name\nnot,json\n"
}

async fn metrics(policy: Policy) -> Json<Value> {
    let usage = policy.usage();
    let records: Vec<Value> = usage
        .records()
        .iter()
        .map(|r| {
            json!({
                "version": r.version.map(|v| v.to_string()),
                "source": r.source.map(|s| s.as_str()),
                "outcome": r.outcome.as_str(),
                "count": r.count,
            })
        })
        .collect();
    Json(json!({ "total": usage.total(), "records": records }))
}

/// Sends one request over a real connection and returns status, headers and body.
pub(crate) async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(StatusCode, axum::http::HeaderMap, String)> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(bytes::Bytes::from(body.to_owned())))?;
    let response = client.request(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// Binds `addr` (use port 0 for any) and serves the app in the background.
pub(crate) async fn spawn(
    addr: &str,
    clock: impl Clock,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = app(clock)?;
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("server stopped: {error}");
        }
    });
    Ok((local, server))
}

async fn demo() -> anyhow::Result<()> {
    let (addr, server) = spawn("127.0.0.1:0", engine_ops_apiversion::policy::SystemClock).await?;
    let json = ("content-type", "application/json");
    /// Method, path, headers, body.
    type Step<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let script: Vec<Step<'_>> = vec![
        ("GET", "/api/v2/users/1", vec![], ""),
        ("GET", "/api/v1/users/1", vec![], ""),
        ("GET", "/api/users/1", vec![("x-api-version", "1")], ""),
        ("GET", "/api/users/1?api_version=2", vec![], ""),
        (
            "GET",
            "/api/users/1",
            vec![("accept", "application/vnd.engine-ops.v1+json")],
            "",
        ),
        (
            "POST",
            "/api/v1/users",
            vec![json],
            r#"{"name": "Grace Hopper"}"#,
        ),
        ("GET", "/api/v1/users/1", vec![("x-api-version", "2")], ""),
        ("GET", "/api/v9/users/1", vec![], ""),
        ("GET", "/api/v1/users/1/avatar", vec![], ""),
        ("GET", "/health", vec![("x-api-version", "garbage")], ""),
        ("GET", "/metrics", vec![], ""),
        ("GET", "/changelog", vec![], ""),
    ];
    for (method, path, headers, body) in script {
        let (status, response_headers, response_body) =
            send(addr, method, path, &headers, body).await?;
        println!("{method} {path} {headers:?}\n  -> {status}");
        for name in [
            "api-version",
            "api-supported-versions",
            "api-deprecated-versions",
            "deprecation",
            "sunset",
            "link",
            "vary",
            "content-type",
        ] {
            for value in response_headers.get_all(name) {
                println!("     {name}: {}", value.to_str().unwrap_or("<binary>"));
            }
        }
        println!("     {response_body}\n");
    }
    server.abort();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--demo") {
        return demo().await;
    }
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let (local, server) = spawn(&addr, engine_ops_apiversion::policy::SystemClock).await?;
    println!("versioned_api listening on http://{local} (try /api/v1/users/1 and /api/v2/users/1)");
    tokio::select! {
        _ = server => {}
        _ = tokio::signal::ctrl_c() => println!("shutting down"),
    }
    Ok(())
}
