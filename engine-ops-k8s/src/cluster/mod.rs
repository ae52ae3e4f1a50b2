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

mod anchor;
mod app_ops;
mod count;
mod endpoints;
mod error;
mod events;
mod lease;
mod rolling;
mod snapshot;
mod state;
mod track;
mod traffic;
mod watch;
mod watch_cache;

#[cfg(test)]
mod mock;

pub use anchor::Anchor;
pub use app_ops::AppOps;
pub use count::{RequestCount, RequestCounter, RequestCounterLayer, RequestCounterService};
pub use endpoints::{EndpointsWatch, ServiceEndpoints};
pub use error::Error;
pub use kube::runtime::events::{EventType, Reporter};
pub use lease::{LeaseGuard, LeaseParams};
pub use rolling::{Applied, DeploymentRollout, Revision, RolloutVerdict, Undo};
pub use snapshot::AppSnapshot;
pub use state::{STATE_ANNOTATION, STATE_SEQ_ANNOTATION, StoredState};
pub use track::{
    DESIRED_REPLICAS, MAX_REPLICAS, REVISION, SCALE_DOWN_AT, TEMPLATE_HASH, TrackSpec, TrackStatus,
    template_hash,
};
pub use traffic::{ServiceStatus, SwitchParams, Switched, TrafficTarget};
pub use watch::{AppWatch, Woke};
