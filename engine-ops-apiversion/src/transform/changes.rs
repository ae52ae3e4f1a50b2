//! The change model: [`Change`], [`Changes`], [`ChangesBuilder`], and the
//! chains a request and its response go through.

use std::fmt;
use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::doc::{self, Node};
use super::pointer::{Pointer, Token};
use crate::error::ConfigError;
use crate::policy::compiled::SourceConfig;
use crate::route::{Endpoint, Pattern, Segment};
use crate::{Policy, Version};

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// One declared edit of a [`Change`], as data: what a changelog shows and
/// what the change does in both directions.
///
/// Paths are JSON Pointers (RFC 6901) to the field, in the shape of the
/// version *before* the change for [`Operation::Renamed`] and
/// [`Operation::Removed`], and of the change's version for
/// [`Operation::Added`]. On an array, `*` (or any member name) visits every
/// element, so `/data/*/name`, `/data/name` and, for a list body, `/name`
/// all reach the `name` of each element of a list.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Operation {
    /// The field at `path` is called `to` from this version on. Requests
    /// rename it forward, responses back.
    Renamed {
        /// The field in the older shape.
        path: String,
        /// Its name in this version.
        to: String,
    },
    /// The field at `path` exists from this version on. Requests from older
    /// clients get `default` where they lack it; older responses lose it.
    Added {
        /// The new field.
        path: String,
        /// Its value for requests that predate it.
        default: Value,
    },
    /// The field at `path` no longer exists from this version on. Older
    /// requests' values are dropped; older responses get `default`.
    Removed {
        /// The field in the older shape.
        path: String,
        /// Its value in responses to older clients.
        default: Value,
    },
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Renamed { path, to } => write!(f, "`{path}` was renamed `{to}`"),
            Operation::Added { path, default } => {
                write!(f, "`{path}` was added (older requests get `{default}`)")
            }
            Operation::Removed { path, default } => {
                write!(f, "`{path}` was removed (older responses get `{default}`)")
            }
        }
    }
}

/// An [`Operation`] compiled: the parent path, and every name and value
/// already written as JSON, so applying it allocates nothing.
struct Step {
    parent: Box<[Token]>,
    field: Box<str>,
    field_json: Box<str>,
    kind: StepKind,
}

enum StepKind {
    Rename { to: Box<str>, to_json: Box<str> },
    Add { default_json: Box<str> },
    Remove { default_json: Box<str> },
}

/// A name written as a JSON string.
fn json_string(name: &str) -> Box<str> {
    Value::String(name.to_owned()).to_string().into()
}

impl Step {
    fn compile(operation: &Operation) -> Result<Step, String> {
        let (path, kind) = match operation {
            Operation::Renamed { path, to } => {
                if to.is_empty() {
                    return Err(format!("the new name of {path:?} is empty"));
                }
                (
                    path,
                    StepKind::Rename {
                        to: to.as_str().into(),
                        to_json: json_string(to),
                    },
                )
            }
            Operation::Added { path, default } => (
                path,
                StepKind::Add {
                    default_json: default.to_string().into(),
                },
            ),
            Operation::Removed { path, default } => (
                path,
                StepKind::Remove {
                    default_json: default.to_string().into(),
                },
            ),
        };
        let pointer = Pointer::parse(path)?;
        let Some((parent, field)) = pointer.split_last() else {
            return Err(format!(
                "path {path:?} names the whole document: point at a field (\"/name\")"
            ));
        };
        if *field == Token::Every {
            return Err(format!(
                "path {path:?} ends in '*': point at a field (\"/data/*/name\")"
            ));
        }
        if let StepKind::Rename { to, .. } = &kind
            && **to == *field.key()
        {
            return Err(format!("path {path:?} is renamed to its own name"));
        }
        Ok(Step {
            parent: parent.into(),
            field: field.key().into(),
            field_json: json_string(field.key()),
            kind,
        })
    }

    /// Applies the step forward (a request from the older version) or back
    /// (a response to it).
    fn apply<'a>(&'a self, node: &mut Node<'a>, forward: bool) -> bool {
        let field = &*self.field;
        node.for_each_object(&self.parent, &mut |object| match (&self.kind, forward) {
            (StepKind::Rename { to, to_json }, true) => object.rename(field, to, to_json),
            (StepKind::Rename { to, .. }, false) => object.rename(to, field, &self.field_json),
            (StepKind::Add { default_json }, true) | (StepKind::Remove { default_json }, false) => {
                object.insert_default(field, &self.field_json, default_json)
            }
            (StepKind::Add { .. }, false) | (StepKind::Remove { .. }, true) => object.remove(field),
        })
    }
}

/// One breaking change, registered at the version that introduced it.
///
/// A change holds declared [`Operation`]s (renames, additions with a
/// default, removals, at JSON Pointer paths), applied to requests going up
/// and responses going down, and optionally `serde_json::Value` closures
/// for what data cannot say. It applies to every route, or to the routes
/// and endpoints it names.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::Change;
/// use engine_ops_apiversion::Version;
/// use http::Method;
///
/// let change = Change::new(Version::int(2), "users: `name` became `full_name`, `nickname` was added")
///     .endpoint(Method::GET, "/api/users/{id}")
///     .endpoint(Method::GET, "/api/users")
///     .endpoint(Method::POST, "/api/users")
///     .renamed("/name", "full_name")
///     .added("/nickname", serde_json::Value::Null);
/// assert_eq!(change.operations().len(), 2);
/// ```
#[must_use]
pub struct Change {
    version: Version,
    description: String,
    routes: Vec<Pattern>,
    endpoints: Vec<Endpoint>,
    operations: Vec<Operation>,
    steps: Vec<Step>,
    upgrades: Vec<(Pointer, Edit)>,
    downgrades: Vec<(Pointer, Edit)>,
    migrate_errors: bool,
    /// Inputs that can never work, reported by [`ChangesBuilder::build`].
    problems: Vec<String>,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("version", &self.version)
            .field("description", &self.description)
            .field("routes", &self.routes)
            .field(
                "endpoints",
                &self
                    .endpoints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("operations", &self.operations)
            .field("request_edits", &self.upgrades.len())
            .field("response_edits", &self.downgrades.len())
            .field("migrate_errors", &self.migrate_errors)
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
            endpoints: Vec::new(),
            operations: Vec::new(),
            steps: Vec::new(),
            upgrades: Vec::new(),
            downgrades: Vec::new(),
            migrate_errors: false,
            problems: Vec::new(),
        }
    }

    /// Limits the change to these routes, for every method: path patterns
    /// matched on whole segments as prefixes, where `{name}` or `*` matches
    /// any one segment and `{*rest}` the rest (`/api/users/{id}` covers
    /// `/api/users/7` and `/api/users/7/posts`). Without routes or
    /// endpoints a change applies everywhere.
    pub fn routes<I, T>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        for route in routes {
            match Pattern::parse(route.as_ref()) {
                Ok(pattern) => self.routes.push(pattern),
                Err(reason) => self.problems.push(format!(
                    "route {:?} can never match: {reason}",
                    route.as_ref()
                )),
            }
        }
        self
    }

    /// Limits the change to one endpoint (this and any other endpoints or
    /// routes given): `method` on exactly the routed path `pattern`, in
    /// axum's syntax (`/api/users/{id}`); `HEAD` matches a `GET` endpoint.
    /// The path is the one the router sees, without a path version segment;
    /// a pattern that can never match one is a start-up error.
    pub fn endpoint(mut self, method: Method, pattern: &str) -> Self {
        match Pattern::parse(pattern) {
            Ok(pattern) => self.endpoints.push(Endpoint {
                method: Some(method),
                pattern,
            }),
            Err(reason) => self.problems.push(format!(
                "endpoint {method} {pattern:?} can never match: {reason}"
            )),
        }
        self
    }

    fn operation(mut self, operation: Operation) -> Self {
        match Step::compile(&operation) {
            Ok(step) => self.steps.push(step),
            Err(reason) => self.problems.push(reason),
        }
        self.operations.push(operation);
        self
    }

    /// The field at `path` (a JSON Pointer in the older shape) is called
    /// `to` from this version on: renamed forward in requests and back in
    /// responses. Its value keeps its bytes.
    pub fn renamed(self, path: &str, to: &str) -> Self {
        self.operation(Operation::Renamed {
            path: path.to_owned(),
            to: to.to_owned(),
        })
    }

    /// The field at `path` exists from this version on: older requests get
    /// `default` where they lack it, older responses lose it.
    pub fn added(self, path: &str, default: impl Into<Value>) -> Self {
        self.operation(Operation::Added {
            path: path.to_owned(),
            default: default.into(),
        })
    }

    /// The field at `path` (in the older shape) no longer exists from this
    /// version on: dropped from older requests, given `default` in older
    /// responses.
    pub fn removed(self, path: &str, default: impl Into<Value>) -> Self {
        self.operation(Operation::Removed {
            path: path.to_owned(),
            default: default.into(),
        })
    }

    /// How to turn a request body of the previous version into this one,
    /// for what [operations](Operation) cannot say. The closure sees the
    /// whole document as a `serde_json::Value`; values it leaves equal keep
    /// their bytes and order, values it changes are written by `serde_json`
    /// (numbers through `f64` when they fit no integer). A part of a body
    /// that no `Value` can hold (a number such as `1e400`) is not given to
    /// it: the closure is skipped there and a warning logged. Prefer
    /// [`Change::upgrade_request_at`] to hand it only what it changes, and
    /// operations where they can say it.
    pub fn upgrade_request(self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.upgrade_request_at("", edit)
    }

    /// [`Change::upgrade_request`] on the values at `path` (a JSON Pointer;
    /// on arrays `*` or a member name visits every element).
    pub fn upgrade_request_at(
        mut self,
        path: &str,
        edit: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> Self {
        match Pointer::parse(path) {
            Ok(pointer) => self.upgrades.push((pointer, Arc::new(edit))),
            Err(reason) => self.problems.push(reason),
        }
        self
    }

    /// How to turn a response body of this version into the previous one,
    /// for what [operations](Operation) cannot say; as
    /// [`Change::upgrade_request`], in the other direction.
    pub fn downgrade_response(self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.downgrade_response_at("", edit)
    }

    /// [`Change::downgrade_response`] on the values at `path`.
    pub fn downgrade_response_at(
        mut self,
        path: &str,
        edit: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> Self {
        match Pointer::parse(path) {
            Ok(pointer) => self.downgrades.push((pointer, Arc::new(edit))),
            Err(reason) => self.problems.push(reason),
        }
        self
    }

    /// Also migrates error responses (4xx and 5xx with a JSON body): for a
    /// change to the shape of error documents, or to fields they share with
    /// successes. Off by default: an error body is usually the same at every
    /// version, and migrating it could hide what went wrong.
    pub fn migrate_errors(mut self) -> Self {
        self.migrate_errors = true;
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

    /// The declared operations, in order.
    #[must_use]
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Where the change applies: `METHOD /pattern` for endpoints,
    /// `/pattern/…` for route prefixes; empty when it applies everywhere.
    pub fn scope(&self) -> impl Iterator<Item = String> + '_ {
        self.endpoints
            .iter()
            .map(ToString::to_string)
            .chain(self.routes.iter().map(|r| format!("{r}/…")))
    }

    /// Whether it migrates error responses too.
    #[must_use]
    pub fn migrates_errors(&self) -> bool {
        self.migrate_errors
    }

    /// Whether it has closures for requests and for responses.
    pub(crate) fn has_custom_edits(&self) -> (bool, bool) {
        (!self.upgrades.is_empty(), !self.downgrades.is_empty())
    }

    fn is_scoped(&self) -> bool {
        !(self.routes.is_empty() && self.endpoints.is_empty())
    }

    fn applies(&self, target: Target<'_>) -> bool {
        if !self.is_scoped() {
            return true;
        }
        let (method, path) = match target {
            Target::Unscoped => return false,
            Target::Path(path) => (None, path),
            Target::Request(method, path) => (Some(method), path),
        };
        self.routes.iter().any(|r| r.matches_prefix(path))
            || self.endpoints.iter().any(|e| match method {
                Some(method) => e.matches(method, path),
                None => e.pattern.matches(path),
            })
    }

    fn upgrades_requests(&self) -> bool {
        !self.steps.is_empty() || !self.upgrades.is_empty()
    }

    fn downgrades_responses(&self) -> bool {
        !self.steps.is_empty() || !self.downgrades.is_empty()
    }

    /// What a request goes through at this change: operations in order,
    /// then closures.
    fn upgrade_actions(&self) -> impl Iterator<Item = Action<'_>> {
        self.steps
            .iter()
            .map(|step| Action::Step(step, true))
            .chain(self.upgrades.iter().map(|(p, e)| Action::Edit(p, &**e)))
    }

    /// What a response goes through: closures, then operations undone in
    /// reverse order.
    fn downgrade_actions(&self) -> impl Iterator<Item = Action<'_>> {
        self.downgrades
            .iter()
            .rev()
            .map(|(p, e)| Action::Edit(p, &**e))
            .chain(
                self.steps
                    .iter()
                    .rev()
                    .map(|step| Action::Step(step, false)),
            )
    }
}

/// One thing done to a document.
enum Action<'a> {
    /// An operation, forward (request) or back (response).
    Step(&'a Step, bool),
    /// A closure on the values at a path.
    Edit(&'a Pointer, &'a (dyn Fn(&mut Value) + Send + Sync)),
}

/// Closures in a row on one path, run together.
type Batch<'a> = Option<(&'a Pointer, Vec<&'a dyn Fn(&mut Value)>)>;

/// Applies `actions` in order. Closures in a row on the same path share one
/// `Value` of that subtree: parsed once, compared with its text once.
fn run<'a>(actions: impl Iterator<Item = Action<'a>>, node: &mut Node<'a>) -> bool {
    let mut changed = false;
    let mut batch: Batch<'a> = None;
    let flush = |batch: &mut Batch<'a>, node: &mut Node<'a>| {
        batch.take().is_some_and(|(pointer, edits)| {
            node.visit(pointer.tokens(), &mut |target| target.edit(&edits))
        })
    };
    for action in actions {
        match action {
            Action::Edit(pointer, edit) => match &mut batch {
                Some((same, edits)) if *same == pointer => edits.push(edit),
                _ => {
                    changed |= flush(&mut batch, node);
                    batch = Some((pointer, vec![edit]));
                }
            },
            Action::Step(step, forward) => {
                changed |= flush(&mut batch, node);
                changed |= step.apply(node, forward);
            }
        }
    }
    changed | flush(&mut batch, node)
}

/// Which changes a migration takes.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// Only changes that apply everywhere.
    Unscoped,
    /// Changes for this routed path, whatever the method.
    Path(&'a str),
    /// Changes for this method and routed path.
    Request(&'a Method, &'a str),
}

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
    /// See [`Changelog`](super::Changelog).
    #[must_use]
    pub fn changelog(&self) -> super::Changelog {
        super::Changelog::new(self)
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
fn version_segment<'p>(
    pattern: &'p Pattern,
    prefix: &str,
    scheme: crate::Scheme,
) -> Option<&'p str> {
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
    use crate::Scheme;
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
