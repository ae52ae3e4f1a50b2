//! Version-change transforms (feature `transform`): Stripe/Cadwyn-style chains
//! that let handlers speak only the newest ("head") version.
//!
//! A [`Change`] is registered at the version that introduced it. It
//! *upgrades* request bodies from the version before it and *downgrades*
//! response bodies to that version. A request at v1 served by a v3 handler
//! goes v1→v2→v3 on the way in and v3→v2→v1 on the way out.
//!
//! [`TransformLayer`] applies a [`Changes`] set over HTTP. Place it *inside*
//! [`ApiVersionLayer`](crate::ApiVersionLayer): it reads the
//! [`Resolution`](crate::Resolution) that layer put in the extensions.
//!
//! - At the head version (or with no change on the route) nothing is buffered
//!   or touched: bodies stream through.
//! - Otherwise a JSON body (`application/json` or `*/*+json`) is buffered up to
//!   the cap, parsed once, passed through the chain, serialised once, and
//!   `Content-Length` is set to the new length (an `ETag` is removed: it
//!   described the other bytes).
//! - A request body over the cap answers 413, one that is not JSON answers
//!   400, both as RFC 9457 problems; non-JSON bodies pass through untouched.
//! - Only successful (2xx) responses are downgraded; error bodies pass through.
//! - Values no change names (arrays, nulls, scalars, other fields) are never
//!   touched: a change receives the parsed document and edits what it means to.
//!
//! The same chains work outside HTTP: [`Changes::migrate_response`] renders a
//! webhook or queue payload at a subscriber's version.
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
//! use engine_ops_apiversion::transform::{json, Change, Changes};
//! use engine_ops_apiversion::{Policy, Scheme, Version};
//! use serde_json::json;
//!
//! let policy = Policy::builder(Scheme::Integer)
//!     .version(Version::int(1))
//!     .version(Version::int(2))
//!     .header_source()
//!     .build()?;
//! let changes = Changes::builder(&policy)
//!     .change(
//!         Change::new(Version::int(2), "`name` was renamed `full_name`")
//!             .upgrade_request(|body| json::rename_field(body, "name", "full_name"))
//!             .downgrade_response(|body| json::rename_field(body, "full_name", "name")),
//!     )
//!     .build()?;
//! let v1 = changes.migrate_response(json!([{ "full_name": "Ada" }, null, 3]), Version::int(1));
//! assert_eq!(v1, json!([{ "name": "Ada" }, null, 3]));
//! # Ok::<(), engine_ops_apiversion::ConfigError>(())
//! ```

mod future;
pub mod json;
mod layer;
mod service;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

pub use future::ResponseFuture;
pub use layer::TransformLayer;
pub use service::Transform;

use crate::error::ConfigError;
use crate::{Policy, Version};

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// One breaking change, registered at the version that introduced it.
#[must_use]
pub struct Change {
    version: Version,
    description: String,
    routes: Vec<Box<str>>,
    upgrade: Option<Edit>,
    downgrade: Option<Edit>,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("version", &self.version)
            .field("description", &self.description)
            .field("routes", &self.routes)
            .field("upgrades_requests", &self.upgrade.is_some())
            .field("downgrades_responses", &self.downgrade.is_some())
            .finish()
    }
}

impl Change {
    /// A change introduced at `version`, described for changelogs.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::{transform::Change, Version};
    /// let change = Change::new(Version::int(3), "prices are objects").routes(["/api/items"]);
    /// assert_eq!(change.description(), "prices are objects");
    /// ```
    pub fn new(version: Version, description: &str) -> Self {
        Change {
            version,
            description: description.to_owned(),
            routes: Vec::new(),
            upgrade: None,
            downgrade: None,
        }
    }

    /// Limits the change to these routes: path patterns matched on whole
    /// segments as prefixes, where `*` or `{name}` matches any one segment
    /// (`/api/users/{id}` covers `/api/users/7` and `/api/users/7/posts`).
    /// Without routes a change applies everywhere.
    pub fn routes<I, T>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.routes.extend(
            routes
                .into_iter()
                .map(|r| r.as_ref().trim_end_matches('/').into()),
        );
        self
    }

    /// How to turn a request body of the previous version into this one.
    pub fn upgrade_request(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.upgrade = Some(Arc::new(edit));
        self
    }

    /// How to turn a response body of this version into the previous one.
    pub fn downgrade_response(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.downgrade = Some(Arc::new(edit));
        self
    }

    /// The version that introduced the change.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The human description.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    fn applies_to(&self, path: &str) -> bool {
        self.routes.is_empty()
            || self
                .routes
                .iter()
                .any(|pattern| route_matches(pattern, path))
    }
}

/// Segment-wise prefix match with one-segment wildcards.
fn route_matches(pattern: &str, path: &str) -> bool {
    let mut path_segments = path.split('/');
    for expected in pattern.split('/') {
        match path_segments.next() {
            Some(actual)
                if expected == "*" || (expected.starts_with('{') && expected.ends_with('}')) =>
            {
                if actual.is_empty() {
                    return false;
                }
            }
            Some(actual) if actual == expected => {}
            _ => return false,
        }
    }
    true
}

/// The default cap on a body buffered for migration: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

struct ChangesInner {
    /// Sorted by version, stable (registration order within a version).
    changes: Vec<Change>,
    max_body: usize,
}

/// A validated set of changes. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Changes {
    inner: Arc<ChangesInner>,
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes")
            .field("changes", &self.inner.changes)
            .field("max_body", &self.inner.max_body)
            .finish()
    }
}

/// Builds [`Changes`], validated against the policy's versions.
#[must_use]
#[derive(Debug)]
pub struct ChangesBuilder {
    versions: Vec<Version>,
    changes: Vec<Change>,
    max_body: usize,
}

impl Changes {
    /// Starts a change set for `policy`'s versions.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::{transform::Changes, Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
    /// let changes = Changes::builder(&policy).max_body_bytes(64 * 1024).build()?;
    /// assert_eq!(changes.len(), 0);
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    pub fn builder(policy: &Policy) -> ChangesBuilder {
        ChangesBuilder {
            versions: policy.versions().collect(),
            changes: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// How many changes are registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.changes.len()
    }

    /// Whether no change is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.changes.is_empty()
    }

    /// The registered changes, oldest version first: a changelog.
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.inner.changes.iter()
    }

    /// The cap on buffered bodies.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body
    }

    /// Indices of the changes between `version` (exclusive) and the head
    /// that apply to `path`, ascending.
    pub(crate) fn chain(&self, version: Version, path: Option<&str>) -> Vec<usize> {
        let start = self.inner.changes.partition_point(|c| c.version <= version);
        (start..self.inner.changes.len())
            .filter(|&i| {
                let change = &self.inner.changes[i];
                match path {
                    Some(path) => change.applies_to(path),
                    None => change.routes.is_empty(),
                }
            })
            .collect()
    }

    /// Whether any change applies to a request at `version` on `path`
    /// (allocation-free: the head path of the layer).
    pub(crate) fn any_after(&self, version: Version, path: &str) -> bool {
        let start = self.inner.changes.partition_point(|c| c.version <= version);
        self.inner.changes[start..]
            .iter()
            .any(|c| c.applies_to(path))
    }

    pub(crate) fn upgrade(&self, chain: &[usize], value: &mut Value) {
        for &i in chain {
            if let Some(edit) = &self.inner.changes[i].upgrade {
                edit(value);
            }
        }
    }

    pub(crate) fn downgrade(&self, chain: &[usize], value: &mut Value) {
        for &i in chain.iter().rev() {
            if let Some(edit) = &self.inner.changes[i].downgrade {
                edit(value);
            }
        }
    }

    pub(crate) fn has_upgrades(&self, chain: &[usize]) -> bool {
        chain
            .iter()
            .any(|&i| self.inner.changes[i].upgrade.is_some())
    }

    pub(crate) fn has_downgrades(&self, chain: &[usize]) -> bool {
        chain
            .iter()
            .any(|&i| self.inner.changes[i].downgrade.is_some())
    }

    /// Renders a head-version document at `to`, applying every change that
    /// is not scoped to routes, newest first. For webhooks, queues and jobs.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    #[must_use]
    pub fn migrate_response(&self, mut value: Value, to: Version) -> Value {
        self.downgrade(&self.chain(to, None), &mut value);
        value
    }

    /// Like [`Changes::migrate_response`], with the changes scoped to `path` too.
    #[must_use]
    pub fn migrate_response_for(&self, path: &str, mut value: Value, to: Version) -> Value {
        self.downgrade(&self.chain(to, Some(path)), &mut value);
        value
    }

    /// Brings a document written at `from` up to the head version (the
    /// request direction), with the changes scoped to `path` too.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::transform::{json, Change, Changes};
    /// # use engine_ops_apiversion::{Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).version(Version::int(2)).header_source().build()?;
    /// let changes = Changes::builder(&policy)
    ///     .change(Change::new(Version::int(2), "rename").upgrade_request(|v| json::rename_field(v, "a", "b")))
    ///     .build()?;
    /// let head = changes.migrate_request_for("/x", serde_json::json!({"a": 1}), Version::int(1));
    /// assert_eq!(head, serde_json::json!({"b": 1}));
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    #[must_use]
    pub fn migrate_request_for(&self, path: &str, mut value: Value, from: Version) -> Value {
        self.upgrade(&self.chain(from, Some(path)), &mut value);
        value
    }
}

impl ChangesBuilder {
    /// Registers a change.
    pub fn change(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }

    /// Caps the bodies buffered for migration ([`DEFAULT_MAX_BODY`] by default).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Validates and freezes the set.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidChange`] when a change is registered at a version
    /// the policy does not declare, at the lowest declared version (there is
    /// nothing before it to migrate from), or with a route that does not
    /// start with `/`.
    pub fn build(self) -> Result<Changes, ConfigError> {
        let lowest = self.versions.first().copied();
        for change in &self.changes {
            let reason = if !self.versions.contains(&change.version) {
                Some(format!(
                    "version {} is not declared by the policy",
                    change.version
                ))
            } else if Some(change.version) == lowest {
                Some(format!(
                    "version {} is the lowest declared version, so no older shape exists",
                    change.version
                ))
            } else {
                change
                    .routes
                    .iter()
                    .find(|r| !r.starts_with('/'))
                    .map(|r| format!("route {r:?} must start with '/'"))
            };
            if let Some(reason) = reason {
                return Err(ConfigError::InvalidChange {
                    description: change.description.clone(),
                    reason,
                });
            }
        }
        let mut changes = self.changes;
        changes.sort_by_key(|c| c.version);
        Ok(Changes {
            inner: Arc::new(ChangesInner {
                changes,
                max_body: self.max_body,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scheme;
    use serde_json::json;

    fn policy() -> Policy {
        Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .version(Version::int(2))
            .version(Version::int(3))
            .header_source()
            .build()
            .expect("valid")
    }

    /// Each step appends its name to `trail`, so order is observable.
    fn tracer(version: u32) -> Change {
        Change::new(Version::int(version), "trace")
            .upgrade_request(move |v| push(v, format!("up{version}")))
            .downgrade_response(move |v| push(v, format!("down{version}")))
    }

    fn push(value: &mut Value, step: String) {
        if let Some(trail) = value.get_mut("trail").and_then(Value::as_array_mut) {
            trail.push(step.into());
        }
    }

    #[test]
    fn chains_run_forward_in_and_backward_out() {
        let changes = Changes::builder(&policy())
            .change(tracer(3))
            .change(tracer(2))
            .build()
            .expect("valid");
        let up = changes.migrate_request_for("/x", json!({"trail": []}), Version::int(1));
        assert_eq!(up, json!({"trail": ["up2", "up3"]}));
        let down = changes.migrate_response(json!({"trail": []}), Version::int(1));
        assert_eq!(down, json!({"trail": ["down3", "down2"]}));
        let down = changes.migrate_response(json!({"trail": []}), Version::int(2));
        assert_eq!(down, json!({"trail": ["down3"]}));
        assert_eq!(
            changes.migrate_response(json!({"trail": []}), Version::int(3)),
            json!({"trail": []})
        );
    }

    #[test]
    fn routes_scope_changes() {
        let changes = Changes::builder(&policy())
            .change(tracer(2).routes(["/api/users/{id}"]))
            .change(tracer(3).routes(["/api/orders"]))
            .build()
            .expect("valid");
        let at = |path| changes.migrate_response_for(path, json!({"trail": []}), Version::int(1));
        assert_eq!(at("/api/users/7"), json!({"trail": ["down2"]}));
        assert_eq!(at("/api/users/7/posts"), json!({"trail": ["down2"]}));
        assert_eq!(at("/api/users"), json!({"trail": []}));
        assert_eq!(at("/api/orders/9"), json!({"trail": ["down3"]}));
        assert_eq!(at("/api/ordersx"), json!({"trail": []}));
        // Route-scoped changes are left out when no route is given.
        assert_eq!(
            changes.migrate_response(json!({"trail": []}), Version::int(1)),
            json!({"trail": []})
        );
        assert!(changes.any_after(Version::int(1), "/api/orders"));
        assert!(!changes.any_after(Version::int(3), "/api/orders"));
    }

    #[test]
    fn build_rejects_unusable_changes() {
        for change in [tracer(9), tracer(1), tracer(2).routes(["api"])] {
            let err = Changes::builder(&policy())
                .change(change)
                .build()
                .expect_err("invalid");
            assert!(matches!(err, ConfigError::InvalidChange { .. }), "{err:?}");
        }
    }
}
