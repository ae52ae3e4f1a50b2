//! A users API at versions 1 and 2: v1 (deprecated 2026-01-01, sunset
//! 2027-01-01) calls `full_name` `name`; the avatar route exists from v2 on.
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Json;
use axum::{Router, routing::get};
use engine_ops_apiversion::transform::{Change, Changes};
use engine_ops_apiversion::{ApiVersionLayer, Missing, Policy, Scheme, Version, VersionSpec};
use serde_json::{Value, json};
use tower::Layer;

async fn list_users() -> Json<Value> {
    let user = |id| json!({ "id": id, "full_name": "Ada Lovelace", "email": "ada@example.com" });
    Json(json!({ "data": [user(1), user(2)] }))
}

async fn create_user(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({ "id": 3, "full_name": body["full_name"] })),
    )
}

async fn avatar(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "url": format!("https://cdn.example.com/{id}.png") }))
}

pub(crate) fn app() -> anyhow::Result<Router> {
    let v1 = VersionSpec::new(Version::int(1))
        .deprecated("2026-01-01")
        .sunset("2027-01-01")
        .deprecation_link("https://example.com/changelog#v2")
        .successor_link("/api/v2");
    let policy = Policy::builder(Scheme::Integer)
        .version(v1)
        .version(Version::int(2))
        .path_source("/api")
        .header_source()
        .on_missing(Missing::Latest)
        .build()?;
    let changes = Changes::builder(&policy)
        .change(
            Change::new(Version::int(2), "`name` was renamed `full_name`")
                .routes(["/api/users"])
                .renamed("/name", "full_name")
                .renamed("/data/*/name", "full_name"),
        )
        .build()?;
    let since_v2 = policy.route_since(Version::int(2))?;
    let routes = Router::new()
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{id}/avatar", get(avatar).route_layer(since_v2));
    let app = ApiVersionLayer::new(policy)
        .with_changes(changes)?
        .layer(routes);
    // axum::serve takes a Router: the versioned stack is its only service.
    Ok(Router::new().fallback_service(app))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app()?).await?;
    Ok(())
}
