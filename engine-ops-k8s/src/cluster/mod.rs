//! Cluster operations for one application, on a [`kube::Client`]: what a
//! rollout driver needs to carry out a planner's decisions.
//!
//! [`AppOps`] is scoped to one application (a name in a namespace) and
//! gives:
//!
//! - **Tracks** ([`TrackSpec`], [`TrackStatus`]): one ReplicaSet per track
//!   (blue-green colours, canary and stable), made from the manifest's pod
//!   template, labelled with the track and a [`template_hash`], owned by the
//!   app's [`Anchor`] object so that deleting the app deletes them; created,
//!   scaled and deleted idempotently; observed with spec and status counts
//!   and `observedGeneration` against `generation` (a stale status shows).
//! - **Rolling** ([`DeploymentRollout`]): a native Deployment applied with
//!   server-side apply, its status judged by `kubectl rollout status`'s rule
//!   (`ProgressDeadlineExceeded` is a failure), `kubectl rollout undo` to
//!   the previous or a named revision, pause, resume and history.
//! - **Traffic** ([`TrafficTarget`], [`SwitchParams`]): a Service's selector
//!   pointed at a track in one request with a `resourceVersion`
//!   precondition; a conflict is re-read and retried only while the
//!   switch's intent still holds; a selector owned by another field manager
//!   is refused unless taken over on purpose; optionally, a target track
//!   without enough available pods is refused. What the Service really
//!   serves, from its EndpointSlices ([`ServiceEndpoints`],
//!   [`EndpointsWatch`]).
//! - **State** ([`StoredState`]): the caller's rollout state (any serde
//!   value) in an annotation of the anchor, saved by compare-and-swap: a
//!   lost race is [`Error::StateConflict`], never a silent overwrite.
//! - **One driver at a time** ([`LeaseParams`], [`LeaseGuard`]): a
//!   `coordination.k8s.io/v1` Lease per app, acquired with a bounded wait,
//!   renewed in the background, released; a crashed holder's lease expires;
//!   the loser's [`Error::LeaseHeld`] names the holder.
//! - **Waiting** ([`AppWatch`]): watches of the app's ReplicaSets, Services,
//!   Deployments and anchor (kube-runtime's watcher) whose events wake the
//!   driver, a cached [`AppSnapshot`] to observe without further requests,
//!   and bounded waits; never a sleep-poll loop.
//! - **Events**: a Kubernetes Event for every track creation, scale,
//!   deletion and traffic switch (reason and message, as the Deployment
//!   controller records `ScalingReplicaSet`), and [`AppOps::record_event`]
//!   for the driver's own (an abort).
//! - **Counting** ([`RequestCounter`]): a tower layer for the client that
//!   counts API requests by verb and resource.
//!
//! Every operation is idempotent or says why it is not: absolute sizes,
//! switches to a target, creates that accept an identical existing object.
//! Errors are [`Error`] variants naming the object and what to do.
//!
//! # The driver loop
//!
//! ```no_run
//! use engine_ops_k8s::cluster::{AppOps, LeaseParams, SwitchParams, TrafficTarget};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), engine_ops_k8s::cluster::Error> {
//! let client = kube::Client::try_default().await.map_err(|source| {
//!     engine_ops_k8s::cluster::Error::Request { object: "kubeconfig".into(), source }
//! })?;
//! let ops = AppOps::new(client, "prod", "shop")?;
//! ops.preflight(&["shop", "shop-preview"]).await?;
//! let lease = ops.acquire_lease(&LeaseParams::new("ci-job-4711")).await?;
//! let mut watch = ops.watch();
//! loop {
//!     watch.ready(Duration::from_secs(30)).await?;
//!     let snapshot = watch.snapshot();
//!     let state = snapshot.state.clone().expect("the anchor exists");
//!     // ... map snapshot.tracks / snapshot.services into the planner's
//!     // observation, plan, then persist its state *before* acting:
//!     let state = ops.save_state(&state, &serde_json::json!({"stage": "switching"})).await?;
//!     lease.check()?;
//!     let active = snapshot.service("shop").expect("observed");
//!     ops.switch_traffic(
//!         "shop",
//!         &TrafficTarget::track("green"),
//!         &SwitchParams::new().observed(active).reason("promoted revision 2"),
//!     )
//!     .await?;
//!     # let _ = state;
//!     // Sleep until something changes (or the planner's requeue time).
//!     watch.changed(Duration::from_secs(30)).await?;
//!     # break;
//! }
//! lease.release().await?;
//! # Ok(()) }
//! ```
//!
//! # RBAC
//!
//! What the identity needs in the app's namespace (a Role):
//!
//! | API group | resources | verbs |
//! |---|---|---|
//! | `apps` | `replicasets` | get, list, watch, create, patch, delete |
//! | `apps` | `deployments` | get, list, watch, create (a first apply), patch |
//! | `""` (core) | `services`, `podtemplates` (the anchor's kind) | get, list, watch, patch |
//! | `discovery.k8s.io` | `endpointslices` | list, watch |
//! | `coordination.k8s.io` | `leases` | get, list, watch, create, update |
//! | `events.k8s.io` | `events` | create, patch |
//!
//! and, optionally, `get` on the namespace (cluster scope) for
//! [`AppOps::preflight`].

mod count;
mod endpoints;
mod error;
mod events;
mod lease;
mod rolling;
mod state;
mod track;
mod traffic;
mod watch;

#[cfg(test)]
mod mock;

use std::sync::{Arc, OnceLock};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::events::Recorder;
use kube::{Client, Resource};

pub use count::{RequestCount, RequestCounter, RequestCounterLayer, RequestCounterService};
pub use endpoints::{EndpointsWatch, ServiceEndpoints};
pub use error::Error;
pub use kube::runtime::events::{EventType, Reporter};
pub use lease::{LeaseGuard, LeaseParams};
pub use rolling::{Applied, DeploymentRollout, Revision, RolloutVerdict, Undo};
pub use state::{STATE_ANNOTATION, STATE_SEQ_ANNOTATION, StoredState};
pub use track::{
    DESIRED_REPLICAS, MAX_REPLICAS, REVISION, SCALE_DOWN_AT, TEMPLATE_HASH, TrackSpec, TrackStatus,
    template_hash,
};
pub use traffic::{ServiceStatus, SwitchParams, Switched, TrafficTarget};
pub use watch::{AppSnapshot, AppWatch, Woke};

use crate::manifest::labels::{INSTANCE, MANAGER};
use error::{Target, from_kube};

/// The object of an application that holds its rollout state and owns its
/// tracks: deleting it deletes the tracks (garbage collection).
///
/// By default the blue-green set's `PodTemplate` named like the app; a
/// rolling app uses its `Deployment`; any namespaced kind can serve.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::Anchor;
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// let bg = Anchor::pod_template();
/// assert_eq!(bg.kind(), "PodTemplate");
/// let custom = Anchor::of::<ConfigMap>("shop-rollout");
/// assert_eq!(custom.name("shop"), "shop-rollout");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    resource: ApiResource,
    name: Option<String>,
}

impl Anchor {
    /// The `v1 PodTemplate` named like the app (the blue-green set's).
    #[must_use]
    pub fn pod_template() -> Self {
        Self {
            resource: ApiResource::erase::<k8s_openapi::api::core::v1::PodTemplate>(&()),
            name: None,
        }
    }

    /// The `apps/v1 Deployment` named like the app (the rolling set's).
    #[must_use]
    pub fn deployment() -> Self {
        Self {
            resource: ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
            name: None,
        }
    }

    /// An object of kind `K` named `name`.
    #[must_use]
    pub fn of<K>(name: impl Into<String>) -> Self
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Self {
            resource: ApiResource::erase::<K>(&()),
            name: Some(name.into()),
        }
    }

    /// The anchor's kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.resource.kind
    }

    /// The anchor's name for the app `app`.
    #[must_use]
    pub fn name<'a>(&'a self, app: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(app)
    }
}

/// The cluster operations on one application: a name in a namespace.
///
/// Cheap to clone (the client and the event recorder are shared). Writes
/// use the field manager `engine-ops` unless told otherwise
/// ([`field_manager`](Self::field_manager)).
///
/// # Examples
///
/// ```no_run
/// use engine_ops_k8s::cluster::{Anchor, AppOps, Reporter};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?;
/// // A rolling app keeps its state on its Deployment.
/// let ops = AppOps::new(client, "prod", "shop")?
///     .anchor(Anchor::deployment())
///     .events(Some(Reporter { controller: "engine-ops".into(), instance: Some("ci-job-4711".into()) }));
/// assert_eq!(ops.anchor_object(), "Deployment prod/shop");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AppOps {
    client: Client,
    namespace: String,
    app: String,
    manager: String,
    anchor: Anchor,
    recorder: Option<Recorder>,
    anchor_ref: Arc<OnceLock<ObjectReference>>,
}

impl std::fmt::Debug for AppOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOps")
            .field("namespace", &self.namespace)
            .field("app", &self.app)
            .field("manager", &self.manager)
            .field("anchor", &self.anchor)
            .field("events", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

/// Longest app name: the manifests' limit, so that `<app>-<track>` and
/// `<app>-preview` stay valid names.
const MAX_APP: usize = crate::manifest::MAX_NAME_LEN;

impl AppOps {
    /// Operations on `app` in `namespace` through `client`, with the
    /// default [`Anchor`] (the PodTemplate named like the app) and Events
    /// recorded as `engine-ops`.
    ///
    /// Sends nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] when `namespace` or `app` is not a DNS label
    /// (see [`check_names`](Self::check_names)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use engine_ops_k8s::cluster::AppOps;
    ///
    /// let ops = AppOps::new(kube::Client::try_default().await?, "prod", "shop")?;
    /// assert_eq!(ops.anchor_object(), "PodTemplate prod/shop");
    /// # Ok(()) }
    /// ```
    pub fn new(
        client: Client,
        namespace: impl Into<String>,
        app: impl Into<String>,
    ) -> Result<Self, Error> {
        let (namespace, app) = (namespace.into(), app.into());
        Self::check_names(&namespace, &app)?;
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.to_owned(),
                instance: None,
            },
        );
        Ok(Self {
            client,
            namespace,
            app,
            manager: MANAGER.to_owned(),
            anchor: Anchor::pod_template(),
            recorder: Some(recorder),
            anchor_ref: Arc::default(),
        })
    }

    /// Checks a namespace and app name as [`new`](Self::new) does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] naming which of the two is wrong and why.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_k8s::cluster::{AppOps, Error};
    ///
    /// assert!(AppOps::check_names("prod", "shop").is_ok());
    /// let e = AppOps::check_names("prod", "Shop").unwrap_err();
    /// assert!(matches!(e, Error::InvalidName { what: "app name", .. }));
    /// ```
    pub fn check_names(namespace: &str, app: &str) -> Result<(), Error> {
        label("namespace", namespace, 63)?;
        label("app name", app, MAX_APP)
    }

    /// Writes with this field manager instead of `engine-ops`.
    #[must_use]
    pub fn field_manager(mut self, manager: impl Into<String>) -> Self {
        self.manager = manager.into();
        self
    }

    /// Keeps the state in, and hangs the tracks and Events on, this object.
    #[must_use]
    pub fn anchor(mut self, anchor: Anchor) -> Self {
        self.anchor = anchor;
        self.anchor_ref = Arc::default();
        self
    }

    /// Records Kubernetes Events as `reporter` (its `controller`, e.g.
    /// `engine-ops`, and `instance`, e.g. the CI job), or none at all with
    /// `None`.
    #[must_use]
    pub fn events(mut self, reporter: Option<Reporter>) -> Self {
        self.recorder = reporter.map(|r| Recorder::new(self.client.clone(), r));
        self
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The application's name.
    #[must_use]
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The field manager of every write.
    #[must_use]
    pub fn manager(&self) -> &str {
        &self.manager
    }

    /// The anchor object's kind and name.
    #[must_use]
    pub fn anchor_object(&self) -> String {
        error::object(
            self.anchor.kind(),
            &self.namespace,
            self.anchor.name(&self.app),
        )
    }

    /// Checks, before anything is changed, that the namespace, the anchor
    /// and each of `services` exist, so that bad input is refused with a
    /// clear error and nothing written. The namespace check is skipped when
    /// the identity may not read namespaces.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`], [`Error::NotFound`] naming the missing
    /// object, [`Error::Forbidden`], or another error of the requests.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// ops.preflight(&["shop", "shop-preview"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn preflight(&self, services: &[&str]) -> Result<(), Error> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces.get_opt(&self.namespace).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Error::NamespaceNotFound {
                    namespace: self.namespace.clone(),
                });
            }
            Err(e) if error::is_code(&e, 403) => {}
            Err(e) => {
                return Err(from_kube(
                    e,
                    Target {
                        verb: "get",
                        kind: "Namespace",
                        namespace: &self.namespace,
                        name: &self.namespace,
                    },
                ));
            }
        }
        self.read_anchor_ref().await?;
        let api: Api<k8s_openapi::api::core::v1::Service> = self.api();
        for s in services {
            let t = self.target("get", "Service", s);
            match api.get_opt(s).await.map_err(|e| from_kube(e, t))? {
                Some(_) => {}
                None => {
                    return Err(Error::NotFound {
                        object: t.object(),
                        hint: "apply the app's manifests (its Services) first, or fix the name"
                            .to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(crate) fn anchor_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &self.anchor.resource)
    }

    pub(crate) fn anchor_name(&self) -> &str {
        self.anchor.name(&self.app)
    }

    pub(crate) fn anchor_target<'a>(&'a self, verb: &'a str) -> Target<'a> {
        Target {
            verb,
            kind: self.anchor.kind(),
            namespace: &self.namespace,
            name: self.anchor_name(),
        }
    }

    pub(crate) fn target<'a>(&'a self, verb: &'a str, kind: &'a str, name: &'a str) -> Target<'a> {
        Target {
            verb,
            kind,
            namespace: &self.namespace,
            name,
        }
    }

    /// The label selector of every object of the app.
    pub(crate) fn instance_selector(&self) -> String {
        format!("{INSTANCE}={}", self.app)
    }

    /// A reference to the anchor (with its uid, so `kubectl describe`
    /// shows the Events), read once.
    pub(crate) async fn anchor_ref(&self) -> Result<ObjectReference, Error> {
        if let Some(r) = self.anchor_ref.get() {
            return Ok(r.clone());
        }
        self.read_anchor_ref().await
    }

    /// A reference to the anchor as it is now (a recreated anchor has a new
    /// uid: an owner reference to the old one would have the garbage
    /// collector delete what it owns).
    pub(crate) async fn read_anchor_ref(&self) -> Result<ObjectReference, Error> {
        let t = self.anchor_target("get");
        let o = self
            .anchor_api()
            .get_opt(self.anchor_name())
            .await
            .map_err(|e| from_kube(e, t))?
            .ok_or_else(|| Error::NotFound {
                object: t.object(),
                hint: "apply the app's manifests first: this object holds the rollout state and \
                       owns the tracks"
                    .to_owned(),
            })?;
        let r = o.object_ref(&self.anchor.resource);
        let _ = self.anchor_ref.set(r.clone());
        Ok(r)
    }
}

/// A DNS-1123 label of at most `max` characters.
pub(crate) fn label(what: &'static str, value: &str, max: usize) -> Result<(), Error> {
    crate::manifest::validate::dns_label(what, value, max, false).map_err(|e| {
        let why = match e {
            crate::manifest::Error::InvalidName { reason, .. } => reason,
            other => other.to_string(),
        };
        Error::InvalidName {
            what,
            value: value.to_owned(),
            why: format!(
                "{why}; use 1 to {max} lowercase letters, digits and '-', alphanumeric at both ends"
            ),
        }
    })
}
