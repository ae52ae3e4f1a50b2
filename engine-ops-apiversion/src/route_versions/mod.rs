//! Per-route versions: which versions one route is served at, checked after
//! routing: [`RouteVersionsLayer`] → [`RouteVersions`] → [`ResponseFuture`].
//!
//! The equivalent of ASP.NET's `[ApiVersion]`/`[MapToApiVersion]` on one
//! endpoint. A route added in v2 answers a v1 request with a 404
//! `not-in-version` problem that lists the versions it is served at, instead
//! of serving v1 clients silently; a route removed in v2 keeps serving v1
//! and answers v2 with the same problem. Responses of the route advertise
//! its versions in `api-supported-versions`.
//!
//! Build the layer from the policy ([`Policy::route_since`](crate::Policy::route_since),
//! [`Policy::route_before`](crate::Policy::route_before),
//! [`Policy::route_only`](crate::Policy::route_only)), so a version the
//! policy does not declare is a start-up error, and attach it to the route,
//! in axum with `route_layer`:
//!
//! ```
//! use axum::{Router, routing::get};
//! use engine_ops_apiversion::{Policy, Scheme, Version};
//!
//! let policy = Policy::builder(Scheme::Integer)
//!     .version(Version::int(1))
//!     .version(Version::int(2))
//!     .path_source("/api")
//!     .build()?;
//! let routes: Router = Router::new()
//!     .route("/api/users", get(|| async { "[]" }))
//!     // Added in v2.
//!     .route("/api/users/{id}/avatar", get(|| async { "png" }).route_layer(policy.route_since(Version::int(2))?))
//!     // Removed in v2.
//!     .route("/api/legacy", get(|| async { "old" }).route_layer(policy.route_before(Version::int(2))?));
//! # Ok::<(), engine_ops_apiversion::ConfigError>(())
//! ```
//!
//! The check reads the [`Resolution`](crate::Resolution) that
//! [`ApiVersionLayer`](crate::ApiVersionLayer) put in the request's
//! extensions, so the versioning layer must wrap the router. A request that
//! arrives without one is answered 500 (`misconfigured`) and logged at
//! error level: that is a wiring mistake, and serving the route at every
//! version instead would hide it. Version-neutral requests pass.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RouteVersionsLayer;
pub use service::RouteVersions;
