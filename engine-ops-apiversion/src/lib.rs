//! API version negotiation for [tower] services: read the version a client
//! asks for, serve it or answer with a precise problem, announce deprecation
//! and sunset the way the RFCs say, and (optionally) let handlers speak only
//! the newest version while older clients keep their shapes.
//!
//! # Overview
//!
//! - **[`Policy`]**: built once by [`Policy::builder`]; [`PolicyBuilder::build`]
//!   validates it (duplicate versions, a default that is not declared, a
//!   sunset before its deprecation, bad link URIs, no source, …) and
//!   precomputes every response header value.
//! - **Schemes** ([`Scheme`]): integers (`1`, `v1`), `major.minor` (`1` ≡ `1.0`,
//!   with pre-release statuses: `2.0-beta` < `2.0`) and calendar dates
//!   (`2024-06-01`, validated). Matching is exact.
//! - **Sources** ([`Source`]), each optional, consulted in the order added: a
//!   path segment after a prefix (`/api/v2/orders`), a header (`X-API-Version`),
//!   a query parameter (`api_version`), and `Accept` (`application/json;
//!   version=2`, `application/vnd.acme.v2+json`, an RFC 9110 list with
//!   q-values, `q=0` excluded), and any [`VersionReader`] of yours (a cookie,
//!   a subdomain). Values are trimmed; a repeated header or parameter with
//!   different values, or two versions at the same highest q, is ambiguous.
//! - **Conflicts** ([`Conflict`]): reject disagreeing sources (the default),
//!   first wins, or prefer one source.
//! - **Missing versions** ([`Missing`]): reject (the default), a fixed
//!   default, or the latest release, after a per-request [`DefaultSelector`]
//!   (an account's pinned version) if you set one;
//!   [version-neutral routes](PolicyBuilder::neutral_path) and
//!   [endpoints](PolicyBuilder::neutral_endpoint) (health, metrics, docs)
//!   and CORS preflights never fail.
//! - **Lifecycle**: deprecation and sunset dates written as dates
//!   (`"2027-01-01"`, RFC 3339, HTTP-dates), [`Link`](policy::Link)s with `type` and
//!   `title`.
//! - **[`resolve()`]** ([`resolution`]): the sans-IO core, `&http::request::Parts` → [`Resolution`]
//!   (version, source, defaulted, [`Lifecycle`](policy::Lifecycle), optional
//!   [`PathRewrite`](resolution::PathRewrite)) or
//!   [`VersionError`]. No body, no I/O, no allocation on success.
//!   Servers without tower pair it with [`Policy::stamp`] and
//!   [`Policy::problem`] to answer exactly as the layer does.
//! - **[`ApiVersionLayer`]** ([`versioning`]): the tower middleware, generic over
//!   request and response bodies. It puts the [`Resolution`] in the request
//!   extensions, strips the version segment from the path, answers errors
//!   with RFC 9457 `application/problem+json` (400; 410 after an enforced
//!   sunset) and stamps every response, errors included, with
//!   `api-supported-versions`, `api-deprecated-versions`, the served
//!   `api-version`, `Vary`, and for versions with a lifecycle RFC 9745
//!   `Deprecation: @<seconds>`, RFC 8594 `Sunset` and RFC 8288 `Link`
//!   (`deprecation`, `sunset`, `successor-version`), appended to the handler's.
//! - **Per-route versions** ([`route_versions`]): a route added in v2 or
//!   removed in v2, attached with axum's `route_layer`
//!   ([`Policy::route_since`], [`Policy::route_before`],
//!   [`Policy::route_only`]): other versions get a 404 problem listing the
//!   route's versions.
//! - **Usage**: [`Policy::usage`] counts requests by version, source and
//!   [`Outcome`](usage::Outcome); the layer records `api.version*` fields on the current
//!   `tracing` span. "Who still calls v1?" has an answer.
//! - **Transforms** (feature `transform`, [`transform`]): Stripe-style
//!   version changes declared as data (renames, additions, removals at JSON
//!   Pointer paths) and applied both ways: requests upgraded to the head
//!   version, responses downgraded to the client's, keyed on method + path,
//!   and only when a change applies. Every byte no change names is kept
//!   (numbers, key order). A [changelog](transform::Changes::changelog) in
//!   Markdown and JSON; usable outside HTTP
//!   ([`transform::Changes::migrate_response_json`]).
//!
//! # Modules
//!
//! The root holds what a first server needs: [`Policy`] and its builder's
//! arguments, [`Version`], [`resolve()`] and its [`Resolution`],
//! [`ApiVersionLayer`] and the two errors. The rest is in modules:
//!
//! | Module | What it holds |
//! |---|---|
//! | [`policy`] | [`Policy`], [`PolicyBuilder`], [`VersionSpec`], [`Source`], [`Conflict`], [`Missing`], [`Lifecycle`](policy::Lifecycle), [`Link`](policy::Link), the clocks, and the [`VersionReader`] and [`DefaultSelector`] extension points |
//! | [`resolution`] | the sans-IO core: [`resolve()`], [`resolve_at()`], [`Resolution`], [`PathRewrite`](resolution::PathRewrite) |
//! | [`versioning`] | the tower middleware: [`ApiVersionLayer`], [`ApiVersion`](versioning::ApiVersion), its future |
//! | [`route_versions`] | per-route versions: [`RouteVersionsLayer`](route_versions::RouteVersionsLayer) |
//! | [`transform`] | version changes and the layer that applies them (feature `transform`) |
//! | [`version`] | [`Version`], [`Scheme`], [`VersionStatus`](version::VersionStatus) |
//! | [`headers`] | the names of the headers the layer writes |
//! | [`problem`] | [`ProblemKind`](problem::ProblemKind): the RFC 9457 problem types |
//! | [`usage`] | [`UsageSnapshot`](usage::UsageSnapshot), [`Outcome`](usage::Outcome) |
//!
//! The earlier flat paths (`engine_ops_apiversion::Lifecycle` and the like)
//! still compile; those of types and constants are deprecated and name the
//! module the item moved to.
//!
//! # Vocabulary
//!
//! - **Version**: a value of the policy's [`Scheme`]; *declared* when the
//!   policy lists it. The **head** is the highest declared version: the
//!   one handlers speak when transforms are on.
//! - **Source**: where a request carries its version (a path segment, a
//!   header, a query parameter, `Accept`, a reader of yours). A
//!   **selector** chooses one for a request that carries none.
//! - **Resolution**: deciding the version a request is served at.
//!   [`resolve()`] does it and returns a [`Resolution`], which is
//!   *defaulted* when no source carried a version and *neutral* on a route
//!   that serves every version.
//! - **Lifecycle**: a declared version is *active*, *deprecated* (its
//!   deprecation date passed: still served, and announced) or *sunset*
//!   (past its sunset date: still served, unless sunsets are enforced, then
//!   answered 410).
//! - **Problem**: an RFC 9457 error document; its
//!   [`ProblemKind`](problem::ProblemKind) is its stable type.
//! - **Outcome**: how one request's resolution ended, as the usage counters
//!   count it ([`Outcome`](usage::Outcome)): a lifecycle for a served
//!   request, or the reason it was refused.
//! - **Change**, **chain**, **upgrade**, **downgrade**: a
//!   [`Change`](transform::Change) is registered at the version that
//!   introduced it. A request at an older version is *upgraded* to the head
//!   through the *chain* of changes after its version, and its response
//!   *downgraded* back through the same chain in reverse.
//! - **Cap**: the most bytes of a body buffered to migrate it, one for
//!   requests and one for responses.
//!
//! How the source is laid out (which file decides what, and how to check
//! that files import downwards only) is described in `ARCHITECTURE.md` in
//! the repository.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use bytes::Bytes;
//! use engine_ops_apiversion::{ApiVersionLayer, Missing, Policy, Resolution, Scheme, Version, VersionSpec};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::builder(Scheme::Integer)
//!     .version(
//!         VersionSpec::new(Version::int(1))
//!             .deprecated_at(UNIX_EPOCH + Duration::from_secs(1_717_200_000))
//!             .successor_link("/api/v2"),
//!     )
//!     .version(Version::int(2))
//!     .path_source("/api")
//!     .header_source()
//!     .on_missing(Missing::Latest)
//!     .neutral_path("/health")
//!     .build()?;
//!
//! let app = ApiVersionLayer::new(policy.clone()).layer(service_fn(|req: Request<Full<Bytes>>| async move {
//!     // Handlers see `/api/orders` for `/api/v1/orders`, and the resolution.
//!     let version = req.extensions().get::<Resolution>().map(|r| r.version().to_string());
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(format!(
//!         "{} at v{}",
//!         req.uri().path(),
//!         version.unwrap_or_default()
//!     )))))
//! }));
//!
//! let response = app.clone().oneshot(Request::get("/api/v1/orders").body(Full::default())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["deprecation"], "@1717200000");
//! assert_eq!(response.headers()["link"], "</api/v2>; rel=\"successor-version\"");
//!
//! let response = app.oneshot(Request::get("/api/v7/orders").body(Full::default())?).await?;
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! assert_eq!(response.headers()["api-supported-versions"], "1, 2");
//! assert_eq!(policy.usage().total(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # With axum
//!
//! The versioning layer must see the request *before* routing, so that
//! `/api/v1/users` is routed as `/api/users`: wrap the whole `Router`, and
//! give `axum::serve` that service through a router of its own:
//!
//! ```no_run
//! # #[cfg(feature = "transform")]
//! # async fn run(policy: engine_ops_apiversion::Policy, changes: engine_ops_apiversion::transform::Changes) -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use engine_ops_apiversion::{ApiVersionLayer, Version};
//! use tower::Layer;
//!
//! let routes = Router::new()
//!     .route("/api/users", get(|| async { "[]" }))
//!     .route("/api/users/{id}/avatar", get(|| async { "png" }).route_layer(policy.route_since(Version::int(2))?));
//! let app = ApiVersionLayer::new(policy).with_changes(changes)?.layer(routes);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, Router::new().fallback_service(app)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! `Router::layer` would run the layer after routing, where every
//! path-versioned request has already missed its route: the layer refuses
//! that placement with a panic when the router is built (it recognises
//! axum's per-route service type). A [`TransformLayer`](transform::TransformLayer)
//! or a per-route check reached without the versioning layer answers 500
//! (`misconfigured`) and logs an error instead of serving every version
//! alike. `examples/users_api.rs` and `examples/versioned_api.rs` in the
//! repository are complete servers.
//!
//! # What it does not do
//!
//! - It does not route: one router serves every version (the path is
//!   rewritten and the version is in the extensions). Routes can be limited
//!   to versions; per-version handlers, if you need them, branch on
//!   [`Resolution::version`].
//! - No OpenAPI generation, no client-side layer, no tonic/actix adapters, no
//!   range/baseline matching (`1.2+`) and no rounding to a nearby version.
//! - Transforms migrate JSON bodies only (not headers, status codes, query
//!   parameters, NDJSON/SSE streams); error responses only when a change opts
//!   in.
//! - It is not allocation-free per request, because the layer hands the
//!   [`Resolution`] to handlers in the request extensions, and
//!   `http::Extensions` boxes every value it holds (and, on a request's first
//!   insert, its map and the map's table). On a request whose extensions are
//!   empty, as hyper delivers them, that is 3 allocations; on one that
//!   already holds a value, 1. In front of an axum `Router` (which fills
//!   every routed request's extensions itself) the layer adds 2: the value's
//!   box and a table growth, its entry being the fourth. Resolution and
//!   header stamping allocate nothing; rewriting a path that carried a
//!   version allocates the new URI.
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `transform` | yes | [`transform`]: [`transform::Changes`], [`transform::TransformLayer`] (JSON bodies; enables `serde_json`'s additive `raw_value` feature, never `arbitrary_precision` or `preserve_order`) |
//!
//! The core always depends on `http`, `http-body`, `http-body-util`, `bytes`,
//! `tower-layer`, `tower-service`, `pin-project-lite`, `httpdate`, `tracing`,
//! `thiserror` and `serde_json` (problem documents are JSON).
//!
//! [tower]: https://docs.rs/tower

// The crate docs link to the `transform` module, which only exists with its feature.
#![cfg_attr(not(feature = "transform"), allow(rustdoc::broken_intra_doc_links))]

mod body;
mod date;
mod deprecated;
mod error;
pub mod headers;
mod macros;
pub mod policy;
pub mod problem;
pub mod resolution;
mod route;
pub mod route_versions;
#[cfg(feature = "transform")]
pub mod transform;
pub mod usage;
pub mod version;
pub mod versioning;

pub use body::VersionedBody;
#[allow(deprecated)]
pub use deprecated::*;
pub use error::{ConfigError, VersionError};
pub use policy::{Conflict, Missing, Policy, PolicyBuilder, Source, VersionSpec};
pub use resolution::{Resolution, resolve, resolve_at};
pub use version::{Scheme, Version};
pub use versioning::ApiVersionLayer;
