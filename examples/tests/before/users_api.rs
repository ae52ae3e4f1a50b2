//! A users API at versions 1 and 2, written without the newer crate features.
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Extension, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::{Router, routing::get};
use engine_ops_apiversion::transform::{Change, Changes, TransformLayer, json as edits};
use engine_ops_apiversion::{
    ApiVersionLayer, Missing, Policy, Resolution, Scheme, Version, VersionSpec,
};
use serde_json::{Value, json};
use tower::ServiceBuilder;

const JAN_2026: u64 = 1_767_225_600; // v1 deprecated
const JAN_2027: u64 = 1_798_761_600; // v1 sunset

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

/// Added in v2: v1 clients must not get it.
async fn avatar(Extension(resolution): Extension<Resolution>, Path(id): Path<u64>) -> Response {
    if resolution.version() < Version::int(2) {
        let problem = json!({ "title": "not available at this version", "status": 404 });
        return (StatusCode::NOT_FOUND, Json(problem)).into_response();
    }
    Json(json!({ "id": id, "url": format!("https://cdn.example.com/{id}.png") })).into_response()
}

pub(crate) fn app() -> anyhow::Result<Router> {
    let v1 = VersionSpec::new(Version::int(1))
        .deprecated_at(UNIX_EPOCH + Duration::from_secs(JAN_2026))
        .sunset_at(UNIX_EPOCH + Duration::from_secs(JAN_2027))
        .deprecation_link("https://example.com/changelog#v2")
        .successor_link("/api/v2");
    let policy = Policy::builder(Scheme::Integer)
        .version(v1)
        .version(Version::int(2))
        .path_source("/api")
        .header_source()
        .on_missing(Missing::Latest)
        .build()?;
    // One user or `{"data": [...]}`: the closures must reach both shapes.
    let rename = |body: &mut Value, from: &str, to: &str| {
        if let Some(data) = body.get_mut("data") {
            edits::rename_field(data, from, to);
        }
        edits::rename_field(body, from, to);
    };
    let changes = Changes::builder(&policy)
        .change(
            Change::new(Version::int(2), "`name` was renamed `full_name`")
                .routes(["/api/users"])
                .upgrade_request(move |body| rename(body, "name", "full_name"))
                .downgrade_response(move |body| rename(body, "full_name", "name")),
        )
        .build()?;
    let routes = Router::new()
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{id}/avatar", get(avatar));
    // The versioning must wrap the router: `Router::layer` runs after
    // routing. `fallback_service` turns the stack into what axum::serve takes.
    Ok(Router::new().fallback_service(
        ServiceBuilder::new()
            .layer(ApiVersionLayer::new(policy))
            .layer(TransformLayer::new(changes))
            .service(routes),
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app()?).await?;
    Ok(())
}
