//! One driver at a time: a `coordination.k8s.io/v1` Lease per app.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::app_ops::AppOps;
use super::error::{self, Error, from_kube};
use crate::manifest::labels::{INSTANCE, MANAGED_BY, MANAGER};

/// How to hold an app's Lease, for [`AppOps::acquire_lease`].
///
/// Defaults: a 15 s lease, renewed every 5 s, no wait when another driver
/// holds it.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::LeaseParams;
/// use std::time::Duration;
///
/// // Wait up to 10 minutes for another CI job to finish.
/// let p = LeaseParams::new(format!("ci-job-4711@{}", std::process::id()))
///     .wait(Duration::from_secs(600));
/// assert_eq!(p.holder(), format!("ci-job-4711@{}", std::process::id()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct LeaseParams {
    holder: String,
    duration: Duration,
    wait: Duration,
    renew_every: Option<Duration>,
}

impl LeaseParams {
    /// Hold the lease as `holder`: an identity unique to this process (a CI
    /// job id, host and pid). A process that finds the lease held by its own
    /// identity takes it at once, so a restarted driver resumes without
    /// waiting for its crashed predecessor's lease to expire; two live
    /// processes must therefore never share an identity.
    pub fn new(holder: impl Into<String>) -> Self {
        Self {
            holder: holder.into(),
            duration: Duration::from_secs(15),
            wait: Duration::ZERO,
            renew_every: None,
        }
    }

    /// How long the lease lasts without renewal (whole seconds, at least
    /// 1): how long a crashed holder blocks others.
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }

    /// How long to wait for another holder to release or lose the lease
    /// before giving up with [`Error::LeaseHeld`] (default: not at all).
    pub fn wait(mut self, d: Duration) -> Self {
        self.wait = d;
        self
    }

    /// How often to renew (default: a third of the duration).
    pub fn renew_every(mut self, d: Duration) -> Self {
        self.renew_every = Some(d);
        self
    }

    /// The holder identity.
    #[must_use]
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// A lease this process holds, shared by its [`LeaseGuard`] and its
/// renewal task.
#[derive(Debug)]
struct HeldLease {
    api: Api<Lease>,
    /// The Lease's name.
    name: String,
    /// `Lease <namespace>/<name>`, for errors.
    object: String,
    /// Our holder identity.
    holder: String,
    /// The lease duration we write.
    seconds: i32,
    /// Write options (the field manager).
    post: PostParams,
    /// The Lease as last written by us: the next write's precondition.
    last: tokio::sync::Mutex<Lease>,
}

/// A held Lease: renewed in the background until released or dropped.
///
/// Dropping it stops the renewal without releasing, as a crash does: the
/// lease expires after its duration. Call [`release`](Self::release) to
/// hand it over at once.
#[derive(Debug)]
pub struct LeaseGuard {
    shared: Arc<HeldLease>,
    lost: watch::Receiver<Option<String>>,
    task: JoinHandle<()>,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// The holder of a lease if it is held and unexpired at `now`, with the
/// time it has left.
fn live_holder(lease: &Lease, now: Timestamp) -> Option<(String, Duration)> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let ends =
        renewed + SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    let left = now.duration_until(ends);
    (left.is_positive()).then(|| (holder, left.unsigned_abs()))
}

impl AppOps {
    /// The name of the app's Lease: `<app>-rollout`.
    #[must_use]
    pub fn lease_name(&self) -> String {
        format!("{}-rollout", self.app)
    }

    /// Acquires the app's Lease, so that no other driver acts on the app
    /// meanwhile: creates it, takes it over when it is free, expired (a
    /// crashed holder) or held by this same identity, and otherwise waits,
    /// on a watch of the Lease, up to [`LeaseParams::wait`] for it to be
    /// released or to expire. Each write has a `resourceVersion`
    /// precondition, so of two drivers racing exactly one wins.
    ///
    /// Expiry is judged against this machine's clock (the holder's renew
    /// time plus the lease's duration), as Kubernetes node leases are.
    ///
    /// # Errors
    ///
    /// [`Error::LeaseHeld`] naming the holder when the wait runs out;
    /// [`Error::Forbidden`] and the other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use engine_ops_k8s::cluster::{Error, LeaseParams};
    ///
    /// match ops.acquire_lease(&LeaseParams::new("ci-job-4711")).await {
    ///     Ok(lease) => {
    ///         // ... act, calling lease.check()? before each action ...
    ///         lease.release().await?;
    ///     }
    ///     Err(Error::LeaseHeld { holder, .. }) => eprintln!("{holder} is deploying this app"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn acquire_lease(&self, params: &LeaseParams) -> Result<LeaseGuard, Error> {
        let api: Api<Lease> = self.api();
        let name = self.lease_name();
        let object = error::object("Lease", &self.namespace, &name);
        let deadline = tokio::time::Instant::now() + params.wait;
        let post = PostParams {
            dry_run: false,
            field_manager: Some(self.manager.clone()),
        };
        loop {
            let found = api
                .get_opt(&name)
                .await
                .map_err(|e| from_kube(e, self.target("get", "Lease", &name)))?;
            let attempt = match &found {
                None => {
                    let lease = self.new_lease(&name, params);
                    api.create(&post, &lease).await
                }
                Some(lease) => match live_holder(lease, Timestamp::now()) {
                    Some((holder, left)) if holder != params.holder => {
                        let remaining =
                            deadline.saturating_duration_since(tokio::time::Instant::now());
                        if remaining.is_zero() {
                            return Err(Error::LeaseHeld {
                                lease: object,
                                holder,
                                expires_in: left,
                            });
                        }
                        tracing::info!(lease = %name, %holder, ?left, "lease held: waiting");
                        let rv = lease.metadata.resource_version.clone();
                        let changed =
                            await_condition(api.clone(), &name, move |l: Option<&Lease>| {
                                l.is_none_or(|l| l.metadata.resource_version != rv)
                            });
                        let bound = remaining.min(left + Duration::from_millis(20));
                        let _ = tokio::time::timeout(bound, changed).await;
                        continue;
                    }
                    _ => {
                        let taken = self.take_over(lease, params);
                        api.replace(&name, &post, &taken).await
                    }
                },
            };
            match attempt {
                Ok(lease) => return Ok(self.hold(api, name, object, params, lease)),
                // Another driver won this round (create or replace): look again.
                Err(e) if error::is_code(&e, 409) => {}
                Err(e) => return Err(from_kube(e, self.target("update", "Lease", &name))),
            }
        }
    }

    fn new_lease(&self, name: &str, params: &LeaseParams) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(self.namespace.clone()),
                labels: Some(
                    [
                        (INSTANCE.to_owned(), self.app.clone()),
                        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(params.holder.clone()),
                lease_duration_seconds: Some(params.seconds()),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        }
    }

    /// `lease` (free, expired or already ours) taken by `params.holder`;
    /// keeps its `resourceVersion` as the precondition.
    fn take_over(&self, lease: &Lease, params: &LeaseParams) -> Lease {
        let mut l = lease.clone();
        let spec = l.spec.get_or_insert_with(LeaseSpec::default);
        let ours = spec.holder_identity.as_deref() == Some(params.holder.as_str());
        let had_holder = spec
            .holder_identity
            .as_deref()
            .is_some_and(|h| !h.is_empty());
        if !ours {
            spec.acquire_time = Some(now());
            if had_holder {
                spec.lease_transitions =
                    Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
            }
        }
        spec.holder_identity = Some(params.holder.clone());
        spec.lease_duration_seconds = Some(params.seconds());
        spec.renew_time = Some(now());
        l
    }

    fn hold(
        &self,
        api: Api<Lease>,
        name: String,
        object: String,
        params: &LeaseParams,
        lease: Lease,
    ) -> LeaseGuard {
        let (tx, rx) = watch::channel(None);
        let shared = Arc::new(HeldLease {
            api,
            name,
            object,
            holder: params.holder.clone(),
            seconds: params.seconds(),
            post: PostParams {
                dry_run: false,
                field_manager: Some(self.manager.clone()),
            },
            last: tokio::sync::Mutex::new(lease),
        });
        let every = params
            .renew_every
            .unwrap_or(Duration::from_secs(u64::from(params.seconds().unsigned_abs())) / 3)
            .max(Duration::from_millis(100));
        let task = tokio::spawn(renew_loop(Arc::clone(&shared), every, tx));
        LeaseGuard {
            shared,
            lost: rx,
            task,
        }
    }
}

/// Renews until the lease is lost; reports the loss once.
async fn renew_loop(shared: Arc<HeldLease>, every: Duration, lost: watch::Sender<Option<String>>) {
    let mut last_ok = tokio::time::Instant::now();
    let lifetime = Duration::from_secs(u64::from(shared.seconds.unsigned_abs()));
    loop {
        tokio::time::sleep(every).await;
        match renew(&shared).await {
            Ok(()) => last_ok = tokio::time::Instant::now(),
            Err(Error::LeaseLost { why, .. }) => {
                let _ = lost.send(Some(why));
                return;
            }
            Err(e) => {
                tracing::warn!(lease = %shared.name, error = %e, "lease renewal failed");
                if last_ok.elapsed() >= lifetime {
                    let _ = lost.send(Some(format!(
                        "not renewed for {}s: {e}",
                        lifetime.as_secs()
                    )));
                    return;
                }
            }
        }
    }
}

/// One renewal: the stored lease with a new renew time, under its
/// `resourceVersion`; re-read once on a conflict.
async fn renew(shared: &HeldLease) -> Result<(), Error> {
    let mut last = shared.last.lock().await;
    for _ in 0..2 {
        let holder = last.spec.as_ref().and_then(|s| s.holder_identity.clone());
        if holder.as_deref() != Some(shared.holder.as_str()) {
            return Err(Error::LeaseLost {
                lease: shared.object.clone(),
                holder: shared.holder.clone(),
                why: format!("now held by {:?}", holder.unwrap_or_default()),
            });
        }
        let mut next = last.clone();
        if let Some(s) = next.spec.as_mut() {
            s.renew_time = Some(now());
        }
        match shared.api.replace(&shared.name, &shared.post, &next).await {
            Ok(l) => {
                *last = l;
                return Ok(());
            }
            Err(e) if error::is_code(&e, 409) || error::is_code(&e, 404) => {
                match shared.api.get_opt(&shared.name).await {
                    Ok(Some(l)) => *last = l,
                    Ok(None) => {
                        return Err(Error::LeaseLost {
                            lease: shared.object.clone(),
                            holder: shared.holder.clone(),
                            why: "the Lease was deleted".to_owned(),
                        });
                    }
                    Err(e) => return Err(error::from_kube(e, lease_target(shared, "get"))),
                }
            }
            Err(e) => return Err(error::from_kube(e, lease_target(shared, "update"))),
        }
    }
    Err(Error::Conflict {
        object: shared.object.clone(),
        message: "the renewal lost two races in a row".to_owned(),
    })
}

fn lease_target<'a>(shared: &'a HeldLease, verb: &'a str) -> error::Target<'a> {
    error::Target {
        verb,
        kind: "Lease",
        namespace: shared.api.namespace().unwrap_or_default(),
        name: &shared.name,
    }
}

impl LeaseGuard {
    /// The holder identity.
    #[must_use]
    pub fn holder(&self) -> &str {
        &self.shared.holder
    }

    /// The Lease's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// `Ok` while the lease is held; call it before each action.
    ///
    /// # Errors
    ///
    /// [`Error::LeaseLost`] once a renewal found another holder, the Lease
    /// deleted, or could not renew within the lease's duration.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// # let lease = ops.acquire_lease(&engine_ops_k8s::cluster::LeaseParams::new("me")).await?;
    /// lease.check()?;
    /// ops.scale_track("blue", 0, None).await?;
    /// # Ok(()) }
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        match self.lost.borrow().as_ref() {
            None => Ok(()),
            Some(why) => Err(self.lost_error(why)),
        }
    }

    /// Resolves when the lease is lost (for `tokio::select!` around a long
    /// wait); never resolves while it is held.
    pub async fn lost(&self) -> Error {
        let mut rx = self.lost.clone();
        loop {
            if let Some(why) = rx.borrow_and_update().as_ref() {
                return self.lost_error(why);
            }
            if rx.changed().await.is_err() {
                // The renewal task ended without reporting: it was aborted.
                std::future::pending::<()>().await;
            }
        }
    }

    fn lost_error(&self, why: &str) -> Error {
        Error::LeaseLost {
            lease: self.shared.object.clone(),
            holder: self.shared.holder.clone(),
            why: why.to_owned(),
        }
    }

    /// Renews now (the background task renews on its own).
    ///
    /// # Errors
    ///
    /// [`Error::LeaseLost`] when another identity holds it now, and the
    /// request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(lease: engine_ops_k8s::cluster::LeaseGuard) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// lease.renew().await?;
    /// # Ok(()) }
    /// ```
    pub async fn renew(&self) -> Result<(), Error> {
        self.check()?;
        renew(&self.shared).await
    }

    /// Stops renewing and frees the lease (empty holder, as client-go's
    /// leader election releases), so the next driver acquires it at once.
    /// A lease already taken by another identity is left alone.
    ///
    /// # Errors
    ///
    /// The request errors; the lease then expires after its duration.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let lease = ops.acquire_lease(&engine_ops_k8s::cluster::LeaseParams::new("me")).await?;
    /// lease.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn release(self) -> Result<(), Error> {
        self.task.abort();
        let shared = &self.shared;
        let mut last = shared.last.lock().await;
        for _ in 0..2 {
            if last
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                != Some(shared.holder.as_str())
            {
                return Ok(());
            }
            let mut freed = last.clone();
            if let Some(s) = freed.spec.as_mut() {
                s.holder_identity = None;
                s.renew_time = Some(now());
                s.lease_duration_seconds = Some(1);
            }
            match shared.api.replace(&shared.name, &shared.post, &freed).await {
                Ok(_) => return Ok(()),
                Err(e) if error::is_code(&e, 409) => match shared.api.get_opt(&shared.name).await {
                    Ok(Some(l)) => *last = l,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(error::from_kube(e, lease_target(shared, "get"))),
                },
                Err(e) if error::is_code(&e, 404) => return Ok(()),
                Err(e) => return Err(error::from_kube(e, lease_target(shared, "update"))),
            }
        }
        Err(Error::Conflict {
            object: shared.object.clone(),
            message: "the release lost two races in a row".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cluster::mock;
    use serde_json::json;

    fn lease(holder: &str, renewed: Timestamp, seconds: i32, rv: &str) -> serde_json::Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "shop-rollout", "namespace": "prod", "resourceVersion": rv},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                     "renewTime": MicroTime(renewed), "acquireTime": MicroTime(renewed),
                     "leaseTransitions": 2},
        })
    }

    #[test]
    fn a_lease_is_live_until_renew_time_plus_duration() {
        let t = Timestamp::from_second(1_000_000).unwrap();
        let l: Lease = serde_json::from_value(lease("a", t, 15, "1")).unwrap();
        let at = |s: i64| t + SignedDuration::from_secs(s);
        assert_eq!(
            live_holder(&l, at(5)),
            Some(("a".to_owned(), Duration::from_secs(10)))
        );
        assert_eq!(live_holder(&l, at(15)), None);
        let free: Lease = serde_json::from_value(lease("", t, 15, "1")).unwrap();
        assert_eq!(live_holder(&free, at(0)), None);
    }

    #[tokio::test]
    async fn a_missing_lease_is_created_naming_the_holder() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap();
        let task = tokio::spawn(async move {
            ops.acquire_lease(&LeaseParams::new("ci-1"))
                .await
                .map(|g| g.holder().to_owned())
        });
        let get = mock::next(&mut server).await;
        get.expect(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/prod/leases/shop-rollout",
        );
        get.fail(
            404,
            "NotFound",
            "leases.coordination.k8s.io \"shop-rollout\" not found",
        );
        let post = mock::next(&mut server).await;
        post.expect(
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/prod/leases",
        );
        assert_eq!(post.body["spec"]["holderIdentity"], "ci-1");
        assert_eq!(post.body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(post.body["metadata"]["labels"][INSTANCE], "shop");
        let reply = {
            let mut b = post.body.clone();
            b["metadata"]["resourceVersion"] = json!("5");
            b
        };
        post.reply(201, &reply);
        assert_eq!(task.await.unwrap().unwrap(), "ci-1");
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_with_its_resource_version_as_precondition() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap();
        let task = tokio::spawn(async move {
            ops.acquire_lease(&LeaseParams::new("ci-2"))
                .await
                .map(|_| ())
        });
        let stale = Timestamp::now() - SignedDuration::from_secs(60);
        mock::next(&mut server)
            .await
            .ok(&lease("ci-1", stale, 15, "8"));
        let put = mock::next(&mut server).await;
        put.expect(
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/prod/leases/shop-rollout",
        );
        assert_eq!(put.body["metadata"]["resourceVersion"], "8");
        assert_eq!(put.body["spec"]["holderIdentity"], "ci-2");
        assert_eq!(put.body["spec"]["leaseTransitions"], 3);
        let reply = put.body.clone();
        put.ok(&reply);
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_live_lease_of_another_holder_is_refused_naming_it() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap();
        let task = tokio::spawn(async move {
            ops.acquire_lease(&LeaseParams::new("ci-2"))
                .await
                .map(|_| ())
        });
        mock::next(&mut server)
            .await
            .ok(&lease("ci-1", Timestamp::now(), 15, "8"));
        let e = task.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::LeaseHeld { holder, .. } if holder == "ci-1"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("Lease prod/shop-rollout is held by \"ci-1\""),
            "{e}"
        );
    }
}
