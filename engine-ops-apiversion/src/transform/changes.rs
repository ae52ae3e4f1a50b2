//! The change set: [`Changes`], built by [`ChangesBuilder`] against a
//! policy, and the migrations it runs over request and response bodies.

use std::fmt;
use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::change::{Change, Target, run};
use super::changelog::Changelog;
use super::doc::{self, Node};
use crate::error::ConfigError;
use crate::policy::Policy;
use crate::policy::compiled::SourceConfig;
use crate::route::{Pattern, Segment};
use crate::version::{Scheme, Version};

/// The default cap on a request body buffered for migration: 1 MiB.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 1 << 20;
/// The default cap on a response body buffered for migration: 8 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 8 << 20;

struct ChangesInner {
    /// Sorted by version, stable (registration order within a version).
    changes: Vec<Change>,
    max_request: usize,
    max_response: usize,
    policy: Policy,
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
            .field("max_request_bytes", &self.inner.max_request)
            .field("max_response_bytes", &self.inner.max_response)
            .finish()
    }
}

/// Builds [`Changes`], validated against the policy's versions.
#[must_use]
#[derive(Debug)]
pub struct ChangesBuilder {
    policy: Policy,
    changes: Vec<Change>,
    max_request: usize,
    max_response: usize,
}

impl Changes {
    /// Starts a change set for `policy`'s versions.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::{transform::Changes, Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
    /// let changes = Changes::builder(&policy).max_request_bytes(64 * 1024).build()?;
    /// assert_eq!(changes.len(), 0);
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    pub fn builder(policy: &Policy) -> ChangesBuilder {
        ChangesBuilder {
            policy: policy.clone(),
            changes: Vec::new(),
            max_request: DEFAULT_MAX_REQUEST_BODY,
            max_response: DEFAULT_MAX_RESPONSE_BODY,
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

    /// The registered changes, oldest version first (see also
    /// [`Changes::changelog`]).
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.inner.changes.iter()
    }

    /// The cap on buffered request bodies.
    #[must_use]
    pub fn max_request_bytes(&self) -> usize {
        self.inner.max_request
    }

    /// The cap on buffered response bodies.
    #[must_use]
    pub fn max_response_bytes(&self) -> usize {
        self.inner.max_response
    }

    /// The policy the set was built for.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Indices of the changes after `version` that apply to `target`,
    /// ascending.
    pub(crate) fn chain(&self, version: Version, target: Target<'_>) -> Vec<usize> {
        let start = self.inner.changes.partition_point(|c| c.version <= version);
        (start..self.inner.changes.len())
            .filter(|&i| self.inner.changes[i].applies(target))
            .collect()
    }

    /// Whether any change applies to a request at `version` (allocation-free:
    /// the head path of the layer).
    pub(crate) fn any_after(&self, version: Version, method: &Method, path: &str) -> bool {
        let start = self.inner.changes.partition_point(|c| c.version <= version);
        self.inner.changes[start..]
            .iter()
            .any(|c| c.applies(Target::Request(method, path)))
    }

    pub(crate) fn has_upgrades(&self, chain: &[usize]) -> bool {
        chain
            .iter()
            .any(|&i| self.inner.changes[i].upgrades_requests())
    }

    /// Whether a response (an error when `error`) has anything to undo.
    pub(crate) fn has_downgrades(&self, chain: &[usize], error: bool) -> bool {
        chain.iter().any(|&i| {
            let change = &self.inner.changes[i];
            change.downgrades_responses() && (!error || change.migrate_errors)
        })
    }

    /// Brings `node` up the chain (a request).
    fn upgrade<'a>(&'a self, chain: &[usize], node: &mut Node<'a>) -> bool {
        let changes = &self.inner.changes;
        run(
            chain.iter().flat_map(|&i| changes[i].upgrade_actions()),
            node,
        )
    }

    /// Brings `node` down the chain (a response; an error one takes only
    /// the changes that migrate errors).
    fn downgrade<'a>(&'a self, chain: &[usize], node: &mut Node<'a>, error: bool) -> bool {
        let changes = &self.inner.changes;
        run(
            chain
                .iter()
                .rev()
                .map(|&i| &changes[i])
                .filter(|change| !error || change.migrate_errors)
                .flat_map(Change::downgrade_actions),
            node,
        )
    }

    /// Migrates a JSON body: `None` when it is not JSON, `Some(None)` when
    /// nothing changed (the bytes stay as they are), otherwise the new text.
    pub(crate) fn migrate_bytes(
        &self,
        bytes: &[u8],
        chain: &[usize],
        direction: Direction,
    ) -> Option<Option<Vec<u8>>> {
        let text = doc::validate(bytes).ok()?;
        let mut node = Node::Raw(text);
        let changed = match direction {
            Direction::Request => self.upgrade(chain, &mut node),
            Direction::Response { error } => self.downgrade(chain, &mut node, error),
        };
        if !changed {
            return Some(None);
        }
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
        node.write_document(bytes, &mut out);
        Some(Some(out))
    }

    /// Renders a head-version document at `to`, applying every change that
    /// is not scoped to routes or endpoints, newest first. For webhooks,
    /// queues and jobs. A `Value` holds numbers as `serde_json` reads them;
    /// to keep their text, use [`Changes::migrate_response_json`].
    ///
    /// # Examples
    ///
    /// See the [module docs](super).
    #[must_use]
    pub fn migrate_response(&self, value: Value, to: Version) -> Value {
        self.migrate_value(value, to, Target::Unscoped, false)
    }

    /// Like [`Changes::migrate_response`], with the changes scoped to the
    /// routed `path` too (endpoints of any method).
    #[must_use]
    pub fn migrate_response_for(&self, path: &str, value: Value, to: Version) -> Value {
        self.migrate_value(value, to, Target::Path(path), false)
    }

    /// Brings a document written at `from` up to the head version (the
    /// request direction), with the changes scoped to `path` too.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::transform::{Change, Changes};
    /// # use engine_ops_apiversion::{Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).version(Version::int(2)).header_source().build()?;
    /// let changes = Changes::builder(&policy)
    ///     .change(Change::new(Version::int(2), "rename").renamed("/a", "b"))
    ///     .build()?;
    /// let head = changes.migrate_request_for("/x", serde_json::json!({"a": 1}), Version::int(1));
    /// assert_eq!(head, serde_json::json!({"b": 1}));
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    #[must_use]
    pub fn migrate_request_for(&self, path: &str, value: Value, from: Version) -> Value {
        self.migrate_value(value, from, Target::Path(path), true)
    }

    fn migrate_value(&self, value: Value, version: Version, target: Target<'_>, up: bool) -> Value {
        let chain = self.chain(version, target);
        let mut node = Node::Value(value);
        if up {
            self.upgrade(&chain, &mut node);
        } else {
            self.downgrade(&chain, &mut node, false);
        }
        node.into_value()
    }

    /// Renders a head-version JSON text at `to` (unscoped changes only, as
    /// [`Changes::migrate_response`]), keeping the bytes of every value no
    /// change names: numbers, key order, escapes and whitespace.
    ///
    /// # Errors
    ///
    /// The `serde_json` error when `json` is not one JSON document.
    ///
    /// # Examples
    ///
    /// ```
    /// # use engine_ops_apiversion::transform::{Change, Changes};
    /// # use engine_ops_apiversion::{Policy, Scheme, Version};
    /// # let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).version(Version::int(2)).header_source().build()?;
    /// let changes = Changes::builder(&policy)
    ///     .change(Change::new(Version::int(2), "`name` became `full_name`").renamed("/name", "full_name"))
    ///     .build()?;
    /// let v1 = changes.migrate_response_json(r#"{"total": 1e400, "full_name": "Ada"}"#, Version::int(1))?;
    /// assert_eq!(v1, r#"{"total": 1e400, "name": "Ada"}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn migrate_response_json(
        &self,
        json: &str,
        to: Version,
    ) -> Result<String, serde_json::Error> {
        let text = doc::validate(json.as_bytes())?;
        let chain = self.chain(to, Target::Unscoped);
        let mut node = Node::Raw(text);
        if !self.downgrade(&chain, &mut node, false) {
            return Ok(json.to_owned());
        }
        let mut out = Vec::with_capacity(json.len());
        node.write_document(json.as_bytes(), &mut out);
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// The changelog: versions newest first with their lifecycle dates and
    /// changes, as data or Markdown.
    ///
    /// # Examples
    ///
    /// See [`Changelog`].
    #[must_use]
    pub fn changelog(&self) -> Changelog {
        Changelog::new(self.policy(), &self.inner.changes)
    }
}

/// Which way a body goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    /// Up, from the client's version to the head.
    Request,
    /// Down, to the client's version; `error` for 4xx/5xx responses.
    Response { error: bool },
}

impl ChangesBuilder {
    /// Registers a change.
    pub fn change(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }

    /// Caps the request bodies buffered for migration
    /// ([`DEFAULT_MAX_REQUEST_BODY`] by default). A request over it is
    /// answered 413 before the handler runs.
    pub fn max_request_bytes(mut self, max: usize) -> Self {
        self.max_request = max;
        self
    }

    /// Caps the response bodies buffered for migration
    /// ([`DEFAULT_MAX_RESPONSE_BODY`] by default). A response over it is
    /// sent as the handler wrote it, at the head version, with its status
    /// and an `api-version` naming the head: the handler ran and its
    /// outcome must reach the client, so it is never turned into an error.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response = max;
        self
    }

    /// Sets both caps.
    pub fn max_body_bytes(self, max: usize) -> Self {
        self.max_request_bytes(max).max_response_bytes(max)
    }

    /// Validates and freezes the set.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidChange`] when a change is registered at a version
    /// the policy does not declare, at the lowest declared version (there is
    /// nothing before it to migrate from), has a path that is not a JSON
    /// Pointer to a field, or has a route or endpoint pattern that can never
    /// match a routed path: malformed (`users`, `/a/{id`, `/{*rest}/x`), or
    /// naming a version segment the path source removes before routing
    /// (`/api/v1/users` with a `/api` path source).
    pub fn build(self) -> Result<Changes, ConfigError> {
        let versions: Vec<Version> = self.policy.versions().collect();
        let lowest = versions.first().copied();
        let path_prefixes: Vec<&str> = self
            .policy
            .inner
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceConfig::Path { prefix } => Some(&**prefix),
                _ => None,
            })
            .collect();
        let scheme = self.policy.scheme();
        for change in &self.changes {
            let reason = if !versions.contains(&change.version) {
                Some(format!(
                    "version {} is not declared by the policy",
                    change.version
                ))
            } else if Some(change.version) == lowest {
                Some(format!(
                    "version {} is the lowest declared version, so no older shape exists",
                    change.version
                ))
            } else if let Some(problem) = change.problems.first() {
                Some(problem.clone())
            } else {
                change
                    .routes
                    .iter()
                    .chain(change.endpoints.iter().map(|e| &e.pattern))
                    .find_map(|pattern| {
                        path_prefixes.iter().find_map(|prefix| {
                            version_segment(pattern, prefix, scheme).map(|segment| {
                                format!(
                                    "{pattern} names the version segment {segment:?}, which is removed from {prefix}/... paths before routing, so it can never match: write the pattern without it"
                                )
                            })
                        })
                    })
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
                max_request: self.max_request,
                max_response: self.max_response,
                policy: self.policy,
            }),
        })
    }
}

/// The segment of `pattern` right after the path prefix, if it looks like
/// a version (the path source reads and removes exactly that segment).
fn version_segment<'p>(pattern: &'p Pattern, prefix: &str, scheme: Scheme) -> Option<&'p str> {
    let prefix_segments: Vec<&str> = prefix
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .collect();
    let segments = pattern.segments();
    let matches_prefix = prefix_segments.len() < segments.len()
        && prefix_segments
            .iter()
            .zip(segments)
            .all(|(expected, actual)| matches!(actual, Segment::Literal(l) if **l == **expected));
    match segments.get(prefix_segments.len()) {
        Some(Segment::Literal(segment))
            if matches_prefix && scheme.looks_like_version(segment.as_bytes()) =>
        {
            Some(segment)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .version(Version::int(2))
            .version(Version::int(3))
            .path_source("/api")
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
    fn routes_and_endpoints_scope_changes() {
        let changes = Changes::builder(&policy())
            .change(tracer(2).routes(["/users/{id}"]))
            .change(tracer(3).endpoint(Method::GET, "/orders/{id}"))
            .build()
            .expect("valid");
        let at = |path| changes.migrate_response_for(path, json!({"trail": []}), Version::int(1));
        assert_eq!(at("/users/7"), json!({"trail": ["down2"]}));
        assert_eq!(at("/users/7/posts"), json!({"trail": ["down2"]}));
        assert_eq!(at("/users"), json!({"trail": []}));
        assert_eq!(at("/orders/9"), json!({"trail": ["down3"]}));
        assert_eq!(at("/orders/9/lines"), json!({"trail": []}));
        // Scoped changes are left out when no route is given.
        assert_eq!(
            changes.migrate_response(json!({"trail": []}), Version::int(1)),
            json!({"trail": []})
        );
        assert!(changes.any_after(Version::int(1), &Method::GET, "/orders/1"));
        assert!(changes.any_after(Version::int(1), &Method::HEAD, "/orders/1"));
        assert!(!changes.any_after(Version::int(2), &Method::POST, "/orders/1"));
        assert!(!changes.any_after(Version::int(3), &Method::GET, "/orders/1"));
    }

    #[test]
    fn operations_apply_both_ways_through_lists() {
        let changes = Changes::builder(&policy())
            .change(
                Change::new(Version::int(2), "renamed, added, removed")
                    .renamed("/data/*/name", "full_name")
                    .added("/data/nickname", "none")
                    .removed("/legacy", 0),
            )
            .build()
            .expect("valid");
        let v1 = json!({"data": [{"name": "Ada"}, {"name": "Alan", "nickname": "A"}], "legacy": 7});
        let head = changes.migrate_request_for("/x", v1, Version::int(1));
        assert_eq!(
            head,
            json!({"data": [{"full_name": "Ada", "nickname": "none"}, {"full_name": "Alan", "nickname": "A"}]})
        );
        let back = changes.migrate_response(head, Version::int(1));
        assert_eq!(
            back,
            json!({"data": [{"name": "Ada"}, {"name": "Alan"}], "legacy": 0})
        );
    }

    #[test]
    fn json_text_keeps_everything_no_change_names() {
        let changes = Changes::builder(&policy())
            .change(Change::new(Version::int(2), "rename").renamed("/data/*/name", "full_name"))
            .build()
            .expect("valid");
        let head = "\n{\n  \"data\": [\n    {\"full_name\": \"Ada\", \"n\": 1e400},\n    {\"id\": 2.50}\n  ]\n}\n";
        let v1 = changes
            .migrate_response_json(head, Version::int(1))
            .expect("json");
        assert_eq!(v1, head.replace("full_name", "name"));
        // Nothing to change: the same text.
        assert_eq!(
            changes
                .migrate_response_json(head, Version::int(2))
                .expect("json"),
            head
        );
        assert!(
            changes
                .migrate_response_json("{\"a\":", Version::int(1))
                .is_err()
        );
    }

    #[test]
    fn build_rejects_changes_that_can_never_apply() {
        let cases = [
            tracer(9),
            tracer(1),
            tracer(2).routes(["api"]),
            tracer(2).endpoint(Method::GET, "/users/{id"),
            tracer(2).endpoint(Method::GET, "/api/v1/users"),
            tracer(2).routes(["/api/v2"]),
            tracer(2).renamed("name", "x"),
            tracer(2).renamed("", "x"),
            tracer(2).renamed("/a/*", "x"),
            tracer(2).renamed("/a", "a"),
            tracer(2).renamed("/a", ""),
            tracer(2).added("/a~2", 1),
            tracer(2).upgrade_request_at("x", |_| {}),
        ];
        for (i, change) in cases.into_iter().enumerate() {
            let err = Changes::builder(&policy())
                .change(change)
                .build()
                .expect_err("invalid");
            assert!(
                matches!(err, ConfigError::InvalidChange { .. }),
                "case {i}: {err:?}"
            );
        }
        let err = Changes::builder(&policy())
            .change(tracer(2).endpoint(Method::GET, "/api/v1/users"))
            .build()
            .expect_err("invalid");
        assert!(err.to_string().contains("version segment \"v1\""), "{err}");
        // Routes that do not put a version after the prefix are fine.
        Changes::builder(&policy())
            .change(
                tracer(2)
                    .endpoint(Method::GET, "/api/users/{id}")
                    .routes(["/apiv1", "/v1"]),
            )
            .build()
            .expect("valid");
    }
}
