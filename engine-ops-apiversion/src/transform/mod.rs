//! Version-change transforms (feature `transform`): Stripe/Cadwyn-style
//! chains that let handlers speak only the newest ("head") version.
//!
//! A [`Change`] is registered at the version that introduced it and says,
//! as data, what changed: a field [renamed](Change::renamed),
//! [added](Change::added) with a default, or [removed](Change::removed),
//! at JSON Pointer paths that reach into lists (`/data/*/name`). Declared
//! once, each operation *upgrades* request bodies from the version before
//! it and *downgrades* response bodies to that version. A request at v1
//! served by a v3 handler goes v1→v2→v3 on the way in and v3→v2→v1 on the
//! way out. Closures over `serde_json::Value` cover what data cannot say.
//!
//! A change applies everywhere, or to the [endpoints](Change::endpoint)
//! (method + path pattern) and [route prefixes](Change::routes) it names;
//! a pattern that can never match a routed path is a start-up error.
//! [`Changes::changelog`] renders the set as Markdown and as data.
//!
//! # Values keep their bytes
//!
//! Bodies are never round-tripped through `serde_json::Value`. A JSON body
//! is validated once and kept as text; only the objects and arrays a
//! change's path walks into are split, and only the members a change names
//! are rewritten. Every other value leaves byte for byte as the handler
//! wrote it: `123456789012345678901234567890` stays that (through `f64` it
//! would be `1.2345678901234568e29`), `0.1000000000000000055511151231257827`
//! keeps its digits, keys keep their order, strings their escapes, and a
//! pretty-printed body its layout. A body no change touches is not rewritten
//! at all, so its `Content-Length` and `ETag` stand.
//!
//! This is done inside the crate on purpose. `serde_json`'s
//! `arbitrary_precision` and `preserve_order` features would also keep
//! numbers and order, but cargo unifies features across a build: enabling
//! them here would change how every other crate in the application parses
//! and orders JSON. Only `raw_value` (additive: it adds a type and changes
//! nothing else) is enabled.
//!
//! Closures see a `Value` of the subtree they are registered for
//! ([`Change::upgrade_request_at`]); what they leave equal keeps its text
//! and order, what they change is written by `serde_json`.
//!
//! # Over HTTP
//!
//! [`TransformLayer`] applies a [`Changes`] set. Place it *inside*
//! [`ApiVersionLayer`](crate::ApiVersionLayer) (or build both at once with
//! [`ApiVersionLayer::with_changes`](crate::ApiVersionLayer::with_changes)):
//! it reads the [`Resolution`](crate::Resolution) that layer put in the
//! extensions, and answers 500 (`misconfigured`) to a request without one,
//! rather than serve old clients the head shape silently.
//!
//! - At the head version (or with no change on the route) nothing is buffered
//!   or touched: bodies stream through.
//! - Otherwise a JSON body (`application/json` or `*/*+json`) is buffered up
//!   to its cap and migrated; when its text changed, `Content-Length` is set
//!   to the new length and an `ETag` is removed (it described other bytes).
//! - A request body over the request cap answers 413, one that is not JSON
//!   400, both as RFC 9457 problems, before the handler runs; non-JSON
//!   bodies pass through untouched.
//! - Successful (2xx) responses are downgraded; error bodies only by changes
//!   that [opt in](Change::migrate_errors).
//! - A response over the response cap is never turned into an error: the
//!   handler ran (a `POST` created something) and its status must reach the
//!   client. It is sent as the handler wrote it, at the head version, with
//!   `api-version` naming the head, so a client can tell; the event is logged
//!   at warn level. Raise the cap or page the response.
//! - A `HEAD` response at a migrated version carries no `Content-Length`
//!   or `ETag`: the handler's describe the head version's body, and the
//!   migrated length is only known by producing it (RFC 9110 §9.3.2 allows
//!   omitting fields determined while generating content).
//!
//! The same chains work outside HTTP: [`Changes::migrate_response_json`]
//! renders a webhook or queue payload at a subscriber's version.
//!
//! # What it does not do
//!
//! Streaming bodies (NDJSON, SSE) are not migrated frame by frame; they pass
//! through when their media type is not JSON. Headers, status codes and query
//! parameters are not migrated.
//!
//! # Example
//!
//! ```
//! use engine_ops_apiversion::transform::{Change, Changes};
//! use engine_ops_apiversion::{Policy, Scheme, Version};
//!
//! let policy = Policy::builder(Scheme::Integer)
//!     .version(Version::int(1))
//!     .version(Version::int(2))
//!     .header_source()
//!     .build()?;
//! let changes = Changes::builder(&policy)
//!     .change(Change::new(Version::int(2), "`name` was renamed `full_name`").renamed("/name", "full_name"))
//!     .build()?;
//! let head = r#"[{"full_name": "Ada", "balance": 123456789012345678901234567890}, null, 3]"#;
//! let v1 = changes.migrate_response_json(head, Version::int(1))?;
//! assert_eq!(v1, r#"[{"name": "Ada", "balance": 123456789012345678901234567890}, null, 3]"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod buffer;
mod capped;
mod change;
mod changelog;
mod changes;
mod doc;
mod future;
pub mod json;
mod layer;
mod pointer;
mod problems;
mod service;

pub use change::{Change, Operation};
pub use changelog::{Changelog, ChangelogEntry, ChangelogVersion};
pub use changes::{Changes, ChangesBuilder, DEFAULT_MAX_REQUEST_BODY, DEFAULT_MAX_RESPONSE_BODY};
pub use future::ResponseFuture;
pub use layer::TransformLayer;
pub use service::Transform;
