//! Watching an app: kube-runtime watchers of its ReplicaSets, Services,
//! Deployments and anchor, a cache to observe from, and bounded waits.

use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{DynamicObject, ListParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};

use super::app_ops::AppOps;
use super::error::{Error, from_kube};
use super::snapshot::AppSnapshot;
use super::watch_cache::{Cache, classify_watch_error};

/// Why [`AppWatch::changed`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Woke {
    /// These objects changed (`Kind name`, each once, in the order first
    /// seen; `Kind (relisted)` after a lost watch was listed again).
    Changed(Vec<String>),
    /// Nothing changed within the timeout (time to look again anyway, e.g.
    /// the planner's requeue time).
    TimedOut,
}

/// One watch event of one of the four watches.
enum Update {
    ReplicaSet(Event<ReplicaSet>),
    Service(Event<Service>),
    Deployment(Event<Deployment>),
    Anchor(Event<DynamicObject>),
}

/// Watches of one app: its ReplicaSets, Services and Deployments (by the
/// `app.kubernetes.io/instance` label) and its anchor, through
/// kube-runtime's watcher (list, then watch, re-listing with backoff when
/// a watch is lost). Wakes a driver when something changes, and keeps the
/// objects so that observing them costs no request.
///
/// Created by [`AppOps::watch`]; sends nothing until awaited.
///
/// # Examples
///
/// ```no_run
/// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
/// use engine_ops_k8s::cluster::Woke;
/// use std::time::Duration;
///
/// let mut watch = ops.watch();
/// watch.ready(Duration::from_secs(30)).await?;
/// loop {
///     let snapshot = watch.snapshot();
///     println!("{} tracks", snapshot.tracks.len());
///     match watch.changed(Duration::from_secs(10)).await? {
///         Woke::Changed(what) => println!("changed: {what:?}"),
///         _ => break, // nothing changed: time to look again anyway
///     }
/// }
/// # Ok(()) }
/// ```
pub struct AppWatch {
    app: String,
    anchor_object: String,
    stream: SelectAll<BoxStream<'static, Result<Update, (&'static str, watcher::Error)>>>,
    replica_sets: Cache<ReplicaSet>,
    services: Cache<Service>,
    deployments: Cache<Deployment>,
    anchor: Cache<DynamicObject>,
    namespace: String,
    anchor_kind: String,
    last_error: Option<String>,
}

impl std::fmt::Debug for AppWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWatch")
            .field("app", &self.app)
            .field("namespace", &self.namespace)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

fn boxed<K>(
    stream: impl futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
    kind: &'static str,
    wrap: fn(Event<K>) -> Update,
) -> BoxStream<'static, Result<Update, (&'static str, watcher::Error)>>
where
    K: Send + 'static,
{
    stream
        .map(move |r| r.map(wrap).map_err(|e| (kind, e)))
        .boxed()
}

impl AppOps {
    /// Starts watching the app (see [`AppWatch`]).
    #[must_use]
    pub fn watch(&self) -> AppWatch {
        let by_label = watcher::Config::default().labels(&self.instance_selector());
        let anchor =
            watcher::Config::default().fields(&format!("metadata.name={}", self.anchor_name()));
        let mut stream = SelectAll::new();
        stream.push(boxed(
            watcher::watcher(self.api::<ReplicaSet>(), by_label.clone()).default_backoff(),
            "ReplicaSet",
            Update::ReplicaSet,
        ));
        stream.push(boxed(
            watcher::watcher(self.api::<Service>(), by_label.clone()).default_backoff(),
            "Service",
            Update::Service,
        ));
        stream.push(boxed(
            watcher::watcher(self.api::<Deployment>(), by_label).default_backoff(),
            "Deployment",
            Update::Deployment,
        ));
        stream.push(boxed(
            watcher::watcher(self.anchor_api(), anchor).default_backoff(),
            "anchor",
            Update::Anchor,
        ));
        AppWatch {
            app: self.app.clone(),
            anchor_object: self.anchor_object(),
            stream,
            replica_sets: Cache::default(),
            services: Cache::default(),
            deployments: Cache::default(),
            anchor: Cache::default(),
            namespace: self.namespace.clone(),
            anchor_kind: self.anchor.kind().to_owned(),
            last_error: None,
        }
    }

    /// Observes the app with one request per kind (list ReplicaSets,
    /// Services and Deployments, get the anchor), without a watch.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], [`Error::NamespaceNotFound`] and the other
    /// request errors (a missing anchor is `state: None`, not an error).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let s = ops.snapshot().await?;
    /// if let Some(active) = s.service("shop") {
    ///     println!("shop selects {:?}", active.target);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn snapshot(&self) -> Result<AppSnapshot, Error> {
        let params = ListParams::default().labels(&self.instance_selector());
        let list_err = |kind: &'static str| move |e| from_kube(e, self.target("list", kind, ""));
        let rs = self
            .api::<ReplicaSet>()
            .list(&params)
            .await
            .map_err(list_err("ReplicaSet"))?;
        let svc = self
            .api::<Service>()
            .list(&params)
            .await
            .map_err(list_err("Service"))?;
        let dep = self
            .api::<Deployment>()
            .list(&params)
            .await
            .map_err(list_err("Deployment"))?;
        let anchor = self
            .anchor_api()
            .get_opt(self.anchor_name())
            .await
            .map_err(|e| from_kube(e, self.anchor_target("get")))?;
        Ok(AppSnapshot::build(
            &self.app,
            &self.anchor_object(),
            rs.items.iter(),
            svc.items.iter(),
            dep.items.iter(),
            anchor.as_ref(),
        ))
    }
}

impl AppWatch {
    fn is_ready(&self) -> bool {
        self.replica_sets.ready
            && self.services.ready
            && self.deployments.ready
            && self.anchor.ready
    }

    /// The objects as last seen (no request).
    #[must_use]
    pub fn snapshot(&self) -> AppSnapshot {
        AppSnapshot::build(
            &self.app,
            &self.anchor_object,
            self.replica_sets.live.values(),
            self.services.live.values(),
            self.deployments.live.values(),
            self.anchor.live.values().next(),
        )
    }

    /// Waits until every watch has listed its objects, at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] or [`Error::NamespaceNotFound`] when a list is
    /// refused; [`Error::Timeout`] (with the last transient error, such as
    /// an unreachable server).
    pub async fn ready(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_ready() {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(r) => {
                    r?;
                }
                Err(_) => {
                    let last = self
                        .last_error
                        .as_deref()
                        .map_or_else(String::new, |e| format!(" (last error: {e})"));
                    return Err(Error::Timeout {
                        what: format!("the watches of app {} to list its objects{last}", self.app),
                        after: timeout,
                    });
                }
            }
        }
        Ok(())
    }

    /// Waits until something of the app changes (after [`ready`](Self::ready)),
    /// at most `timeout`; then takes every change already delivered, so the
    /// [`snapshot`](Self::snapshot) is as fresh as the watches are.
    ///
    /// # Errors
    ///
    /// Refusals ([`Error::Forbidden`], [`Error::NamespaceNotFound`]); a
    /// watch that fails otherwise is retried with backoff.
    pub async fn changed(&mut self, timeout: Duration) -> Result<Woke, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changed = Vec::new();
        loop {
            let waited = if self.is_ready() && !changed.is_empty() {
                match self.next().now_or_never() {
                    Some(r) => r,
                    None => return Ok(Woke::Changed(changed)),
                }
            } else {
                match tokio::time::timeout_at(deadline, self.next()).await {
                    Ok(r) => r,
                    Err(_) if changed.is_empty() || !self.is_ready() => return Ok(Woke::TimedOut),
                    Err(_) => return Ok(Woke::Changed(changed)),
                }
            };
            if let Some(what) = waited?
                && self.is_ready()
                && !changed.contains(&what)
            {
                changed.push(what);
            }
        }
    }

    /// Waits until `done` holds for the [`snapshot`](Self::snapshot),
    /// checking now and after every change, at most `timeout`; returns the
    /// snapshot that satisfied it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming `what`; the errors of
    /// [`changed`](Self::changed).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(mut watch: engine_ops_k8s::cluster::AppWatch) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use std::time::Duration;
    ///
    /// let s = watch
    ///     .wait_until("track green to have 3 available pods", Duration::from_secs(60), |s| {
    ///         s.track("green").is_some_and(|t| t.available >= 3)
    ///     })
    ///     .await?;
    /// # let _ = s;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&AppSnapshot) -> bool,
    ) -> Result<AppSnapshot, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.ready(timeout).await?;
        loop {
            let s = self.snapshot();
            if done(&s) {
                return Ok(s);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            }
            self.changed(left).await?;
        }
    }

    /// The next event, applied to the caches: `Some("Kind name")` for a
    /// change worth reporting.
    async fn next(&mut self) -> Result<Option<String>, Error> {
        loop {
            let Some(item) = self.stream.next().await else {
                // The watchers never end; an empty set only if all were dropped.
                return Err(Error::Timeout {
                    what: format!("the watches of app {} (they ended)", self.app),
                    after: Duration::ZERO,
                });
            };
            let (kind, name) = match item {
                Ok(Update::ReplicaSet(e)) => ("ReplicaSet", self.replica_sets.apply(e)),
                Ok(Update::Service(e)) => ("Service", self.services.apply(e)),
                Ok(Update::Deployment(e)) => ("Deployment", self.deployments.apply(e)),
                Ok(Update::Anchor(e)) => (self.anchor_kind.as_str(), self.anchor.apply(e)),
                Err((kind, e)) => match self.watch_error(kind, e) {
                    Some(err) => return Err(err),
                    None => continue,
                },
            };
            return Ok(name.map(|n| format!("{kind} {n}")));
        }
    }

    /// A watch error that retrying will not fix (a refusal); others are
    /// logged and kept for a timeout's message, and the watcher retries
    /// with backoff.
    fn watch_error(&mut self, kind: &'static str, e: watcher::Error) -> Option<Error> {
        let (mapped, refused) = classify_watch_error(kind, &self.namespace, e);
        if refused {
            return Some(mapped);
        }
        tracing::warn!(app = %self.app, error = %mapped, "watch failed; retrying with backoff");
        let source =
            std::error::Error::source(&mapped).map_or_else(String::new, |s| format!(": {s}"));
        self.last_error = Some(format!("{mapped}{source}"));
        None
    }
}
