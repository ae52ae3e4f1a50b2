//! Counting API requests: a tower layer for the client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::{Method, Request};
use tower_layer::Layer;
use tower_service::Service;

/// One kind of API request, as the API server's audit log names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct RequestCount {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection` (or the HTTP method for other paths).
    pub verb: String,
    /// The resource, with its subresource (`replicasets`, `pods/log`), or
    /// the path for non-resource requests (`/version`).
    pub resource: String,
    /// How many were sent.
    pub count: u64,
}

/// Counts the requests of every client built with its layer, by verb and
/// resource. Clones share the counts.
///
/// Put it on a client with kube's `ClientBuilder::with_layer`; watches are
/// counted once per watch request (a long-lived stream), as the API
/// server's request metrics do.
///
/// # Examples
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use engine_ops_k8s::cluster::RequestCounter;
/// use kube::client::ClientBuilder;
///
/// let counter = RequestCounter::new();
/// let config = kube::Config::infer().await?;
/// let client = ClientBuilder::try_from(config)?.with_layer(&counter.layer()).build();
/// client.apiserver_version().await?;
/// assert_eq!(counter.total(), 1);
/// for c in counter.counts() {
///     println!("{} {} {}", c.verb, c.resource, c.count);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl RequestCounter {
    /// A counter at zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer to put on a client's service stack.
    #[must_use]
    pub fn layer(&self) -> RequestCounterLayer {
        RequestCounterLayer {
            counter: self.clone(),
        }
    }

    /// Every kind of request sent so far, sorted by verb and resource.
    #[must_use]
    pub fn counts(&self) -> Vec<RequestCount> {
        self.lock()
            .iter()
            .map(|((verb, resource), count)| RequestCount {
                verb: verb.clone(),
                resource: resource.clone(),
                count: *count,
            })
            .collect()
    }

    /// All requests sent so far.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    /// Requests of `verb` (summed over resources).
    #[must_use]
    pub fn verb(&self, verb: &str) -> u64 {
        self.lock()
            .iter()
            .filter(|((v, _), _)| v == verb)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests that change something (create, update, patch, delete,
    /// deletecollection).
    #[must_use]
    pub fn writes(&self) -> u64 {
        ["create", "update", "patch", "delete", "deletecollection"]
            .iter()
            .map(|v| self.verb(v))
            .sum()
    }

    /// Starts again from zero.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), u64>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, method: &Method, path: &str, query: Option<&str>) {
        let key = classify(method, path, query);
        *self.lock().entry(key).or_insert(0) += 1;
    }
}

/// `(verb, resource)` of a request, by the API server's request-info rules.
fn classify(method: &Method, path: &str, query: Option<&str>) -> (String, String) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return (method.as_str().to_ascii_lowercase(), path.to_owned()),
    };
    let rest = match rest {
        ["namespaces", _ns, resource, more @ ..] => {
            let mut v = vec![*resource];
            v.extend_from_slice(more);
            v
        }
        other => other.to_vec(),
    };
    let (resource, name, sub) = (
        rest.first().copied().unwrap_or(""),
        rest.get(1),
        rest.get(2),
    );
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match (method, name.is_some()) {
        (&Method::GET, _) if watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        (m, _) => return (m.as_str().to_ascii_lowercase(), resource.to_owned()),
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_owned(),
    };
    (verb.to_owned(), resource)
}

/// The tower layer of a [`RequestCounter`].
#[derive(Debug, Clone)]
pub struct RequestCounterLayer {
    counter: RequestCounter,
}

impl<S> Layer<S> for RequestCounterLayer {
    type Service = RequestCounterService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestCounterService {
            inner,
            counter: self.counter.clone(),
        }
    }
}

/// The service of a [`RequestCounterLayer`]: counts, then forwards.
#[derive(Debug, Clone)]
pub struct RequestCounterService<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B> Service<Request<B>> for RequestCounterService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.counter.record(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_as_the_api_server_audits_them() {
        let c = |m: Method, p: &str, q: Option<&str>| classify(&m, p, q);
        let pair = |v: &str, r: &str| (v.to_owned(), r.to_owned());
        assert_eq!(
            c(
                Method::GET,
                "/apis/apps/v1/namespaces/p/replicasets",
                Some("labelSelector=a%3Db")
            ),
            pair("list", "replicasets")
        );
        assert_eq!(
            c(
                Method::GET,
                "/apis/apps/v1/namespaces/p/replicasets",
                Some("watch=true&resourceVersion=5")
            ),
            pair("watch", "replicasets")
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/p/services/shop", None),
            pair("get", "services")
        );
        assert_eq!(
            c(Method::PATCH, "/api/v1/namespaces/p/services/shop", None),
            pair("patch", "services")
        );
        assert_eq!(
            c(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/p/leases/shop-rollout",
                None
            ),
            pair("update", "leases")
        );
        assert_eq!(
            c(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/p/events",
                None
            ),
            pair("create", "events")
        );
        assert_eq!(
            c(
                Method::PATCH,
                "/apis/apps/v1/namespaces/p/deployments/shop/scale",
                None
            ),
            pair("patch", "deployments/scale")
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/p", None),
            pair("get", "namespaces")
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces", None),
            pair("list", "namespaces")
        );
        assert_eq!(c(Method::GET, "/version", None), pair("get", "/version"));
        assert_eq!(
            c(
                Method::DELETE,
                "/apis/apps/v1/namespaces/p/replicasets/x",
                None
            ),
            pair("delete", "replicasets")
        );
    }

    #[tokio::test]
    async fn the_layer_counts_every_call_of_every_clone() {
        let counter = RequestCounter::new();
        let svc = tower_layer::Layer::layer(
            &counter.layer(),
            tower_service_fn(|_req: Request<()>| async { Ok::<_, std::convert::Infallible>(()) }),
        );
        let mut a = svc.clone();
        let mut b = svc;
        for (s, m) in [(&mut a, Method::GET), (&mut b, Method::PATCH)] {
            let req = Request::builder()
                .method(m)
                .uri("/api/v1/namespaces/p/services/shop")
                .body(())
                .unwrap_or_default();
            let _ = s.call(req).await;
        }
        assert_eq!(
            (counter.total(), counter.writes(), counter.verb("get")),
            (2, 1, 1)
        );
        counter.reset();
        assert_eq!(counter.total(), 0);
    }

    /// A service from an async function (tower's `service_fn`, which this
    /// crate does not depend on).
    fn tower_service_fn<F, Fut>(f: F) -> FnService<F>
    where
        F: FnMut(Request<()>) -> Fut,
    {
        FnService(f)
    }

    #[derive(Clone)]
    struct FnService<F>(F);

    impl<F, Fut> Service<Request<()>> for FnService<F>
    where
        F: FnMut(Request<()>) -> Fut,
        Fut: std::future::Future<Output = Result<(), std::convert::Infallible>>,
    {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = Fut;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<()>) -> Fut {
            (self.0)(req)
        }
    }
}
