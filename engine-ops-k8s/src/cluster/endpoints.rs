//! What a Service really sends traffic to: the pods its EndpointSlices list.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;

use super::app_ops::AppOps;
use super::error::{Error, from_kube};
use super::watch_cache::{Cache, classify_watch_error};
use crate::manifest::compat;

/// The label the EndpointSlice controller puts on a Service's slices.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The pods behind a Service, from its EndpointSlices.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::ServiceEndpoints;
/// use k8s_openapi::api::discovery::v1::EndpointSlice;
///
/// let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
///     "addressType": "IPv4", "metadata": {"name": "shop-x1"},
///     "endpoints": [
///         {"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "shop-blue-7fq2k"}},
///         {"addresses": ["10.0.0.2"], "conditions": {"ready": false}, "targetRef": {"kind": "Pod", "name": "shop-green-9x2lp"}},
///     ],
/// }))?;
/// let e = ServiceEndpoints::from_slices("shop", [&slice]);
/// assert_eq!(e.ready, ["shop-blue-7fq2k"]);
/// assert_eq!(e.ready_tracks("shop").into_iter().collect::<Vec<_>>(), ["blue"]);
/// assert!(e.serves_only("shop", "blue", 1));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServiceEndpoints {
    /// The Service.
    pub service: String,
    /// Pods whose endpoint is ready (traffic goes there), sorted.
    pub ready: Vec<String>,
    /// Pods listed but not ready, sorted.
    pub not_ready: Vec<String>,
}

impl ServiceEndpoints {
    /// The endpoints of `service` in `slices` (an endpoint listed in two
    /// slices during an update counts once; a missing `ready` condition
    /// counts as ready, as the API asks consumers to read it).
    #[must_use]
    pub fn from_slices<'a>(
        service: &str,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Self {
        let (mut ready, mut not_ready) = (BTreeSet::new(), BTreeSet::new());
        for e in slices.into_iter().flat_map(compat::endpoints) {
            let Some(pod) = e.target_ref.as_ref().and_then(|t| t.name.clone()) else {
                continue;
            };
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                not_ready.insert(pod);
            } else {
                ready.insert(pod);
            }
        }
        not_ready.retain(|p| !ready.contains(p));
        Self {
            service: service.to_owned(),
            ready: ready.into_iter().collect(),
            not_ready: not_ready.into_iter().collect(),
        }
    }

    /// The tracks of `app` whose pods are ready behind the Service (a
    /// track's pods are named `<app>-<track>-<suffix>` by the ReplicaSet
    /// controller); pods of anything else are reported as `""`.
    #[must_use]
    pub fn ready_tracks(&self, app: &str) -> BTreeSet<String> {
        self.ready
            .iter()
            .map(|pod| {
                pod.rsplit_once('-')
                    .and_then(|(rs, _)| rs.strip_prefix(app))
                    .and_then(|t| t.strip_prefix('-'))
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    /// Whether the Service sends traffic to exactly `track`'s pods, at
    /// least `min_ready` of them, and to no other pod.
    #[must_use]
    pub fn serves_only(&self, app: &str, track: &str, min_ready: usize) -> bool {
        self.ready.len() >= min_ready
            && self
                .ready_tracks(app)
                .into_iter()
                .eq(std::iter::once(track.to_owned()))
    }
}

impl AppOps {
    /// The pods behind Service `service` now (one list of its
    /// EndpointSlices).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], [`Error::NamespaceNotFound`] and the other
    /// request errors. A missing Service has no slices: empty endpoints.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let e = ops.endpoints("shop-preview").await?;
    /// println!("preview serves {:?}", e.ready_tracks("shop"));
    /// # Ok(()) }
    /// ```
    pub async fn endpoints(&self, service: &str) -> Result<ServiceEndpoints, Error> {
        let params = ListParams::default().labels(&format!("{SERVICE_NAME}={service}"));
        let list = self
            .api::<EndpointSlice>()
            .list(&params)
            .await
            .map_err(|e| from_kube(e, self.target("list", "EndpointSlice", "")))?;
        Ok(ServiceEndpoints::from_slices(service, &list.items))
    }

    /// Starts watching the EndpointSlices of Service `service` (see
    /// [`EndpointsWatch`]).
    #[must_use]
    pub fn watch_endpoints(&self, service: &str) -> EndpointsWatch {
        let config = watcher::Config::default().labels(&format!("{SERVICE_NAME}={service}"));
        EndpointsWatch {
            service: service.to_owned(),
            namespace: self.namespace.clone(),
            stream: watcher::watcher(self.api::<EndpointSlice>(), config)
                .default_backoff()
                .boxed(),
            cache: Cache::default(),
        }
    }
}

/// A watch of one Service's EndpointSlices, to wait until traffic really
/// reaches the pods a switch selected (the EndpointSlice controller
/// follows a selector change asynchronously).
///
/// # Examples
///
/// ```no_run
/// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
/// use engine_ops_k8s::cluster::{SwitchParams, TrafficTarget};
/// use std::time::Duration;
///
/// let mut slices = ops.watch_endpoints("shop");
/// slices.ready(Duration::from_secs(10)).await?;
/// ops.switch_traffic("shop", &TrafficTarget::track("blue"), &SwitchParams::new()).await?;
/// slices
///     .wait_until("shop to serve only blue", Duration::from_secs(10), |e| e.serves_only("shop", "blue", 3))
///     .await?;
/// # Ok(()) }
/// ```
pub struct EndpointsWatch {
    service: String,
    namespace: String,
    stream: BoxStream<'static, Result<watcher::Event<EndpointSlice>, watcher::Error>>,
    cache: Cache<EndpointSlice>,
}

impl std::fmt::Debug for EndpointsWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointsWatch")
            .field("service", &self.service)
            .field("ready", &self.cache.ready)
            .finish_non_exhaustive()
    }
}

impl EndpointsWatch {
    /// The endpoints as last seen (no request).
    #[must_use]
    pub fn endpoints(&self) -> ServiceEndpoints {
        ServiceEndpoints::from_slices(&self.service, self.cache.live.values())
    }

    /// Waits until the slices are listed, at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], [`Error::NamespaceNotFound`],
    /// [`Error::Timeout`].
    pub async fn ready(&mut self, timeout: Duration) -> Result<(), Error> {
        self.wait_until("its EndpointSlices to be listed", timeout, |_| true)
            .await
            .map(drop)
    }

    /// Waits until `done` holds for the endpoints, checking after every
    /// change, at most `timeout`; returns the endpoints that satisfied it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming `what` and the endpoints last seen;
    /// [`Error::Forbidden`], [`Error::NamespaceNotFound`].
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&ServiceEndpoints) -> bool,
    ) -> Result<ServiceEndpoints, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.cache.ready {
                let e = self.endpoints();
                if done(&e) {
                    return Ok(e);
                }
            }
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(n)) => n,
                Ok(None) | Err(_) => {
                    let seen = self.endpoints();
                    return Err(Error::Timeout {
                        what: format!(
                            "Service {}/{} {what} (ready: {:?}, not ready: {:?})",
                            self.namespace, self.service, seen.ready, seen.not_ready
                        ),
                        after: timeout,
                    });
                }
            };
            match next {
                Ok(event) => {
                    self.cache.apply(event);
                }
                Err(e) => {
                    let (mapped, refused) =
                        classify_watch_error("EndpointSlice", &self.namespace, e);
                    if refused {
                        return Err(mapped);
                    }
                    tracing::warn!(service = %self.service, error = %mapped, "watch failed; retrying");
                }
            }
        }
    }
}

/// Slices by name (the shape the watch cache keeps), for tests.
#[cfg(test)]
fn by_name(slices: Vec<EndpointSlice>) -> std::collections::BTreeMap<String, EndpointSlice> {
    slices
        .into_iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), s))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn slice(name: &str, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(
            json!({"addressType": "IPv4", "metadata": {"name": name}, "endpoints": endpoints}),
        )
        .unwrap()
    }

    fn ep(pod: &str, ready: Option<bool>) -> serde_json::Value {
        let mut e = json!({"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": pod}});
        if let Some(r) = ready {
            e["conditions"] = json!({"ready": r});
        }
        e
    }

    #[test]
    fn endpoints_count_once_across_slices_and_unknown_readiness_is_ready() {
        let slices = by_name(vec![
            slice(
                "a",
                json!([
                    ep("shop-blue-1", Some(true)),
                    ep("shop-green-1", Some(false))
                ]),
            ),
            slice(
                "b",
                json!([ep("shop-blue-1", Some(true)), ep("shop-blue-2", None)]),
            ),
        ]);
        let e = ServiceEndpoints::from_slices("shop", slices.values());
        assert_eq!(e.ready, ["shop-blue-1", "shop-blue-2"]);
        assert_eq!(e.not_ready, ["shop-green-1"]);
        assert!(e.serves_only("shop", "blue", 2));
        assert!(!e.serves_only("shop", "blue", 3));
        assert!(!e.serves_only("shop", "green", 0));
    }

    #[test]
    fn pods_of_other_workloads_are_not_a_track() {
        let slices = [slice(
            "a",
            json!([ep("shop-blue-1", Some(true)), ep("cart-7d9f-x", Some(true))]),
        )];
        let e = ServiceEndpoints::from_slices("shop", &slices);
        assert_eq!(
            e.ready_tracks("shop").into_iter().collect::<Vec<_>>(),
            ["", "blue"]
        );
        assert!(!e.serves_only("shop", "blue", 1));
        let empty = ServiceEndpoints::from_slices("shop", &[]);
        assert!(
            !empty.serves_only("shop", "blue", 0),
            "nothing served is not 'only blue'"
        );
    }
}
