//! One change: [`Change`] and its [`Operation`]s, compiled into steps, and
//! how a chain of changes is run over a document.

use std::fmt;
use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::doc::Node;
use super::pointer::{Pointer, Token};
use crate::route::{Endpoint, Pattern};
use crate::version::Version;

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
pub(super) struct Step {
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
    pub(super) version: Version,
    pub(super) description: String,
    pub(super) routes: Vec<Pattern>,
    pub(super) endpoints: Vec<Endpoint>,
    operations: Vec<Operation>,
    steps: Vec<Step>,
    upgrades: Vec<(Pointer, Edit)>,
    downgrades: Vec<(Pointer, Edit)>,
    pub(super) migrate_errors: bool,
    /// Inputs that can never work, reported by
    /// [`ChangesBuilder::build`](super::ChangesBuilder::build).
    pub(super) problems: Vec<String>,
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

    pub(super) fn applies(&self, target: Target<'_>) -> bool {
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

    pub(super) fn upgrades_requests(&self) -> bool {
        !self.steps.is_empty() || !self.upgrades.is_empty()
    }

    pub(super) fn downgrades_responses(&self) -> bool {
        !self.steps.is_empty() || !self.downgrades.is_empty()
    }

    /// What a request goes through at this change: operations in order,
    /// then closures.
    pub(super) fn upgrade_actions(&self) -> impl Iterator<Item = Action<'_>> {
        self.steps
            .iter()
            .map(|step| Action::Step(step, true))
            .chain(self.upgrades.iter().map(|(p, e)| Action::Edit(p, &**e)))
    }

    /// What a response goes through: closures, then operations undone in
    /// reverse order.
    pub(super) fn downgrade_actions(&self) -> impl Iterator<Item = Action<'_>> {
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
pub(super) enum Action<'a> {
    /// An operation, forward (request) or back (response).
    Step(&'a Step, bool),
    /// A closure on the values at a path.
    Edit(&'a Pointer, &'a (dyn Fn(&mut Value) + Send + Sync)),
}

/// Closures in a row on one path, run together.
type Batch<'a> = Option<(&'a Pointer, Vec<&'a dyn Fn(&mut Value)>)>;

/// Applies `actions` in order. Closures in a row on the same path share one
/// `Value` of that subtree: parsed once, compared with its text once.
pub(super) fn run<'a>(actions: impl Iterator<Item = Action<'a>>, node: &mut Node<'a>) -> bool {
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
