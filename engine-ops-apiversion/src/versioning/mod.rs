//! The tower middleware: [`ApiVersionLayer`] → [`ApiVersion`] → [`ResponseFuture`].
//!
//! For each request it:
//!
//! 1. resolves the version with [`resolve`](crate::resolve) (sans-IO, no allocation);
//! 2. on failure, answers at once with an RFC 9457 `application/problem+json`
//!    (400, or 410 for an enforced sunset) that lists the requested and the
//!    supported versions; the inner service is not called;
//! 3. on success, removes the version segment from the path (when the path
//!    carried one and rewriting is on), inserts the [`Resolution`](crate::Resolution)
//!    into the request extensions (the layer's only allocations on the
//!    happy path besides a path rewrite: `http::Extensions` boxes each value,
//!    and its map too on a request's first insert; see the crate docs), counts the request (see
//!    [`Policy::usage`](crate::Policy::usage)) and records `tracing` fields on
//!    the current span;
//! 4. stamps every response, errors included, with `api-supported-versions`,
//!    `api-deprecated-versions`, the served `api-version`, `Vary` (for header and
//!    media-type sources, merged with the handler's), and for a version with a
//!    lifecycle `Deprecation`, `Sunset` and `Link` (appended to the handler's).
//!
//! Header values are precomputed when the policy is built; stamping clones
//! them (a reference-count increment).
//!
//! # Tracing
//!
//! The layer records these fields on [`tracing::Span::current`]; declare them
//! (as `tracing::field::Empty`) on your request span to see them:
//! `api.version`, `api.version.source`, `api.version.defaulted`,
//! `api.version.lifecycle`, `api.version.outcome`.
//!
//! # Where to put it in axum
//!
//! axum runs `Router::layer` middleware *after* routing, so a path rewrite
//! there comes too late. Wrap the whole router instead
//! (`ApiVersionLayer::new(policy).layer(router)`, or
//! [`ApiVersionLayer::with_changes`] with transforms) and serve that
//! service (`Router::new().fallback_service(app)` gives `axum::serve` the
//! type it takes). With a path source, the layer panics when axum applies
//! it to a route, so the wrong placement fails at start-up rather than
//! answer 404 to every `/api/v1/...` request.
//!
//! # Example
//!
//! ```
//! use engine_ops_apiversion::{ApiVersionLayer, Missing, Policy, Resolution, Scheme, Version};
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::builder(Scheme::Integer)
//!     .version(Version::int(1))
//!     .version(Version::int(2))
//!     .path_source("/api")
//!     .header_source()
//!     .on_missing(Missing::Latest)
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(ApiVersionLayer::new(policy))
//!     .service(service_fn(|req: Request<Full<Bytes>>| async move {
//!         let version = req.extensions().get::<Resolution>().map(|r| r.version());
//!         let body = format!("{} at {version:?}", req.uri().path());
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
//!     }));
//! let response = service.oneshot(Request::get("/api/v1/orders").body(Full::default())?).await?;
//! assert_eq!(response.headers()["api-version"], "1");
//! assert_eq!(response.headers()["api-supported-versions"], "1, 2");
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::ApiVersionLayer;
pub use service::ApiVersion;
