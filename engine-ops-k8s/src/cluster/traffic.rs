//! Traffic: a Service's selector pointed at a track in one request.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::{Map, Value, json};

use super::app_ops::{AppOps, check_dns_label};
use super::error::{self, Error, from_kube};
use super::track::TrackStatus;
use crate::manifest::labels::{INSTANCE, TRACK};

/// What a Service selects: one track of the app, or every track (a
/// replica-weighted canary without a traffic router).
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::TrafficTarget;
///
/// let green = TrafficTarget::track("green");
/// assert_eq!(green.to_string(), "track green");
/// assert_eq!(green.selector("shop").len(), 2);
/// assert_eq!(TrafficTarget::AllTracks.selector("shop").len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrafficTarget {
    /// The pods of one track:
    /// `{app.kubernetes.io/instance: <app>, engine-ops.io/track: <track>}`.
    Track(String),
    /// The pods of every track of the app: `{app.kubernetes.io/instance: <app>}`.
    AllTracks,
}

impl TrafficTarget {
    /// The pods of track `name`.
    #[must_use]
    pub fn track(name: impl Into<String>) -> Self {
        Self::Track(name.into())
    }

    /// The Service selector of this target for `app`.
    #[must_use]
    pub fn selector(&self, app: &str) -> BTreeMap<String, String> {
        let mut s = BTreeMap::from([(INSTANCE.to_owned(), app.to_owned())]);
        if let Self::Track(t) = self {
            s.insert(TRACK.to_owned(), t.clone());
        }
        s
    }

    /// The target a selector means for `app`, if it is one.
    #[must_use]
    pub fn from_selector(app: &str, selector: &BTreeMap<String, String>) -> Option<Self> {
        if selector.get(INSTANCE).map(String::as_str) != Some(app) {
            return None;
        }
        match (selector.len(), selector.get(TRACK)) {
            (1, None) => Some(Self::AllTracks),
            (2, Some(t)) => Some(Self::Track(t.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for TrafficTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Track(t) => write!(f, "track {t}"),
            Self::AllTracks => f.write_str("all tracks"),
        }
    }
}

/// A Service as observed: its selector, what it means, who owns it.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::{ServiceStatus, TrafficTarget};
/// use k8s_openapi::api::core::v1::Service;
///
/// let svc: Service = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "shop", "resourceVersion": "41", "managedFields": [
///         {"manager": "helm", "operation": "Apply", "fieldsType": "FieldsV1",
///          "fieldsV1": {"f:spec": {"f:selector": {}}}}]},
///     "spec": {"selector": {"app.kubernetes.io/instance": "shop", "engine-ops.io/track": "blue"}},
/// }))?;
/// let s = ServiceStatus::from_service(&svc, "shop");
/// assert_eq!(s.target, Some(TrafficTarget::track("blue")));
/// assert_eq!(s.selector_managers, ["helm"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStatus {
    /// The Service's name.
    pub name: String,
    /// `spec.selector`.
    pub selector: BTreeMap<String, String>,
    /// What the selector means for the app, when it is a [`TrafficTarget`].
    pub target: Option<TrafficTarget>,
    /// `metadata.resourceVersion` (the switch's precondition).
    pub resource_version: String,
    /// Field managers that own `spec.selector` (from `managedFields`).
    pub selector_managers: Vec<String>,
}

impl ServiceStatus {
    /// The status of `service` for `app`.
    #[must_use]
    pub fn from_service(service: &Service, app: &str) -> Self {
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let mut managers: Vec<String> = service
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|m| m.subresource.as_deref().unwrap_or("").is_empty())
            .filter(|m| {
                m.fields_v1
                    .as_ref()
                    .and_then(|f| f.0.get("f:spec"))
                    .and_then(|s| s.get("f:selector"))
                    .is_some()
            })
            .filter_map(|m| m.manager.clone())
            .collect();
        managers.sort();
        managers.dedup();
        Self {
            name: service.metadata.name.clone().unwrap_or_default(),
            target: TrafficTarget::from_selector(app, &selector),
            selector,
            resource_version: service
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default(),
            selector_managers: managers,
        }
    }
}

/// How to switch, for [`AppOps::switch_traffic`].
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::SwitchParams;
///
/// let p = SwitchParams::new().reason("post-promotion check failed").max_attempts(3);
/// # let _ = p;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SwitchParams {
    observed: Option<ServiceStatus>,
    take_over: bool,
    reason: Option<String>,
    max_attempts: Option<u32>,
    require_available: Option<u32>,
    observed_track: Option<TrackStatus>,
}

impl SwitchParams {
    /// Read the Service first, refuse a selector owned by another manager,
    /// retry a conflict up to 5 times while the intent holds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start from this observation of the Service (e.g. from an
    /// [`AppSnapshot`](super::AppSnapshot)) instead of reading it: the
    /// switch is then exactly one request unless the observation is stale.
    pub fn observed(mut self, service: &ServiceStatus) -> Self {
        self.observed = Some(service.clone());
        self
    }

    /// Why the switch happens (in the Event's message).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Attempts before a conflict is returned (at least 1; default 5).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// Refuse to switch to a track unless at least `min` of its pods are
    /// available, it is asked to keep at least `min`, and its status is
    /// current ([`Error::TrackNotReady`] otherwise): a safety net under the
    /// planner, so that no switch, whatever its cause, sends traffic to a
    /// track that cannot take it. Checked against
    /// [`observed_track`](Self::observed_track), or a fresh read of the
    /// track (one request). Not applied to [`TrafficTarget::AllTracks`].
    pub fn require_available(mut self, min: u32) -> Self {
        self.require_available = Some(min);
        self
    }

    /// The target track as observed, for
    /// [`require_available`](Self::require_available) without a read
    /// (a stale observation is read again).
    pub fn observed_track(mut self, track: &TrackStatus) -> Self {
        self.observed_track = Some(track.clone());
        self
    }

    /// Switch even when another field manager owns the selector.
    ///
    /// # Warning
    ///
    /// The other tool (Helm, Argo CD, `kubectl apply --server-side`) will
    /// put its own selector back on its next apply or sync, moving traffic
    /// without this driver knowing. Take over only after moving the Service
    /// out of that tool's hands.
    pub fn dangerous_take_over(mut self) -> Self {
        self.take_over = true;
        self
    }
}

/// The outcome of [`AppOps::switch_traffic`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Switched {
    /// The Service.
    pub service: String,
    /// Its selector before.
    pub from: BTreeMap<String, String>,
    /// Its selector now.
    pub to: BTreeMap<String, String>,
    /// Whether this switch wrote the selector (false: the Service already
    /// selected the target, or another writer pointed it there meanwhile).
    pub changed: bool,
    /// Write attempts made (more than 1 after conflicts).
    pub attempts: u32,
    /// The Service's `resourceVersion` after the switch.
    pub resource_version: String,
}

fn describe(app: &str, selector: &BTreeMap<String, String>) -> String {
    match TrafficTarget::from_selector(app, selector) {
        Some(t) => t.to_string(),
        None if selector.is_empty() => "nothing (no selector)".to_owned(),
        None => format!("{selector:?}"),
    }
}

/// The merge patch that turns `from` into `to` under a `resourceVersion`
/// precondition (keys of `from` missing in `to` are deleted with `null`).
fn switch_patch(
    resource_version: &str,
    from: &BTreeMap<String, String>,
    to: &BTreeMap<String, String>,
) -> Value {
    let mut selector = Map::new();
    for k in from.keys().filter(|k| !to.contains_key(*k)) {
        selector.insert(k.clone(), Value::Null);
    }
    for (k, v) in to {
        selector.insert(k.clone(), Value::String(v.clone()));
    }
    json!({"metadata": {"resourceVersion": resource_version}, "spec": {"selector": selector}})
}

/// What one attempt of a switch does with the Service as it is now.
#[derive(Debug, PartialEq)]
enum SwitchStep {
    /// The Service already selects the target: nothing to write.
    AlreadyThere,
    /// The Service selects neither what the switch started from nor the
    /// target: someone else moved the traffic, the intent no longer holds.
    Moved,
    /// Other field managers own the selector (they are named) and taking it
    /// over was not asked for.
    Owned(Vec<String>),
    /// Send this merge patch.
    Patch(Value),
}

/// The decision of one switch attempt: `current` is the Service as read,
/// `start` the selector the switch started from, `want` the target's.
fn next_step(
    current: &ServiceStatus,
    start: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
    manager: &str,
    take_over: bool,
) -> SwitchStep {
    if current.selector == *want {
        return SwitchStep::AlreadyThere;
    }
    if current.selector != *start {
        return SwitchStep::Moved;
    }
    let others: Vec<String> = current
        .selector_managers
        .iter()
        .filter(|m| *m != manager)
        .cloned()
        .collect();
    if !others.is_empty() && !take_over {
        return SwitchStep::Owned(others);
    }
    SwitchStep::Patch(switch_patch(
        &current.resource_version,
        &current.selector,
        want,
    ))
}

/// Why a track cannot take traffic that needs `min` available pods, or
/// `None` when it can.
fn capacity_shortfall(status: &TrackStatus, min: u32) -> Option<&'static str> {
    if status.status_stale() {
        Some("its status is older than its spec")
    } else if status.spec_replicas < min {
        Some("it is asked to run fewer pods")
    } else if status.available < min {
        Some("not enough of its pods are available")
    } else {
        None
    }
}

impl AppOps {
    /// Points Service `service` at `target` in one merge patch whose
    /// `resourceVersion` precondition makes it atomic: clients see either
    /// the old selector or the new one, never a mix and never nothing.
    ///
    /// On a conflict the Service is read again: if it still selects what the
    /// switch started from (someone changed something else), the switch is
    /// retried; if it already selects `target`, the switch is done; if it
    /// selects something else, the intent no longer holds and
    /// [`Error::TrafficMoved`] is returned. A selector owned by another
    /// field manager is refused ([`Error::SelectorOwned`]) unless
    /// [`SwitchParams::dangerous_take_over`]. Records a `SwitchedTraffic`
    /// Event.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (the Service does not exist),
    /// [`Error::TrackNotReady`] (with [`SwitchParams::require_available`]),
    /// [`Error::SelectorOwned`], [`Error::TrafficMoved`], [`Error::Conflict`]
    /// after `max_attempts`, [`Error::Forbidden`], [`Error::InvalidName`] for
    /// a bad track name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use engine_ops_k8s::cluster::{SwitchParams, TrafficTarget};
    ///
    /// let s = ops
    ///     .switch_traffic("shop", &TrafficTarget::track("blue"), &SwitchParams::new().reason("rollback"))
    ///     .await?;
    /// println!("{} now selects {:?}", s.service, s.to);
    /// # Ok(()) }
    /// ```
    pub async fn switch_traffic(
        &self,
        service: &str,
        target: &TrafficTarget,
        params: &SwitchParams,
    ) -> Result<Switched, Error> {
        if let TrafficTarget::Track(t) = target {
            check_dns_label("track name", t, 63)?;
            if let Some(min) = params.require_available {
                self.check_capacity(t, min, params.observed_track.as_ref())
                    .await?;
            }
        }
        let mut current = match &params.observed {
            Some(s) if s.name == service => s.clone(),
            _ => self.service_status(service).await?,
        };
        let start = current.selector.clone();
        let want = target.selector(&self.app);
        let api = self.api::<Service>();
        let patch_params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..PatchParams::default()
        };
        let max = params.max_attempts.unwrap_or(5);
        for attempt in 1..=max {
            let patch = match next_step(&current, &start, &want, &self.manager, params.take_over) {
                SwitchStep::AlreadyThere => {
                    return Ok(Switched {
                        service: service.to_owned(),
                        from: start,
                        to: want,
                        changed: false,
                        attempts: attempt - 1,
                        resource_version: current.resource_version,
                    });
                }
                SwitchStep::Moved => {
                    return Err(Error::TrafficMoved {
                        object: error::object("Service", &self.namespace, service),
                        expected: describe(&self.app, &start),
                        found: describe(&self.app, &current.selector),
                    });
                }
                SwitchStep::Owned(managers) => {
                    return Err(Error::SelectorOwned {
                        object: error::object("Service", &self.namespace, service),
                        managers,
                        manager: self.manager.clone(),
                    });
                }
                SwitchStep::Patch(patch) => patch,
            };
            match api
                .patch(service, &patch_params, &Patch::Merge(&patch))
                .await
            {
                Ok(svc) => {
                    let after = ServiceStatus::from_service(&svc, &self.app);
                    let why = params
                        .reason
                        .as_deref()
                        .map_or_else(String::new, |r| format!(": {r}"));
                    self.emit(
                        EventType::Normal,
                        "SwitchedTraffic",
                        "SwitchTraffic",
                        format!(
                            "Switched Service {service} from {} to {}{why}",
                            describe(&self.app, &start),
                            describe(&self.app, &after.selector)
                        ),
                        Some(super::events::related("Service", "v1", &svc.metadata)),
                    )
                    .await;
                    return Ok(Switched {
                        service: service.to_owned(),
                        from: start,
                        to: after.selector,
                        changed: true,
                        attempts: attempt,
                        resource_version: after.resource_version,
                    });
                }
                Err(e) if error::is_code(&e, 409) && attempt < max => {
                    tracing::debug!(
                        service,
                        attempt,
                        "switch conflict: reading the Service again"
                    );
                    current = self.service_status(service).await?;
                }
                Err(e) => return Err(from_kube(e, self.target("patch", "Service", service))),
            }
        }
        Err(Error::Conflict {
            object: error::object("Service", &self.namespace, service),
            message: format!("the switch lost {max} races in a row"),
        })
    }

    /// Refuses a switch to `track` unless it can serve `min` pods now.
    async fn check_capacity(
        &self,
        track: &str,
        min: u32,
        observed: Option<&TrackStatus>,
    ) -> Result<(), Error> {
        let fresh;
        let status = match observed.filter(|t| t.name == track && !t.status_stale()) {
            Some(t) => t,
            None => {
                fresh = self.track(track).await?;
                fresh.as_ref().ok_or_else(|| Error::NotFound {
                    object: error::object(
                        "ReplicaSet",
                        &self.namespace,
                        &self.track_replica_set(track),
                    ),
                    hint: "there is no such track to send traffic to; create it first".to_owned(),
                })?
            }
        };
        let why = capacity_shortfall(status, min);
        match why {
            None => Ok(()),
            Some(why) => Err(Error::TrackNotReady {
                object: error::object("ReplicaSet", &self.namespace, &status.replica_set),
                available: status.available,
                desired: status.spec_replicas,
                required: min,
                why: why.to_owned(),
            }),
        }
    }

    /// Reads a Service's selector, owners and `resourceVersion`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it does not exist, and the other request
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let s = ops.service_status("shop").await?;
    /// println!("shop selects {:?}", s.target);
    /// # Ok(()) }
    /// ```
    pub async fn service_status(&self, service: &str) -> Result<ServiceStatus, Error> {
        let t = self.target("get", "Service", service);
        let svc = self
            .api::<Service>()
            .get(service)
            .await
            .map_err(|e| match from_kube(e, t) {
                Error::NotFound { object, .. } => Error::NotFound {
                    object,
                    hint: "apply the app's Services first, or fix the Service name".to_owned(),
                },
                other => other,
            })?;
        Ok(ServiceStatus::from_service(&svc, &self.app))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cluster::mock;

    fn status(track: &str, managers: &[&str]) -> ServiceStatus {
        let target = TrafficTarget::track(track);
        ServiceStatus {
            name: "shop".to_owned(),
            selector: target.selector("shop"),
            target: Some(target),
            resource_version: "7".to_owned(),
            selector_managers: managers.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    #[test]
    fn a_switch_attempt_patches_only_from_where_it_started() {
        let blue = TrafficTarget::track("blue").selector("shop");
        let green = TrafficTarget::track("green").selector("shop");
        let on_blue = status("blue", &["engine-ops"]);
        match next_step(&on_blue, &blue, &green, "engine-ops", false) {
            SwitchStep::Patch(p) => {
                assert_eq!(p["metadata"]["resourceVersion"], "7");
                assert_eq!(p["spec"]["selector"][TRACK], "green");
            }
            other => panic!("expected a patch, got {other:?}"),
        }
        // Already on the target: nothing to write, whoever owns it.
        let on_green = status("green", &["helm"]);
        assert_eq!(
            next_step(&on_green, &blue, &green, "engine-ops", false),
            SwitchStep::AlreadyThere
        );
        // Someone moved the traffic elsewhere since the switch started.
        let on_red = status("red", &["engine-ops"]);
        assert_eq!(
            next_step(&on_red, &blue, &green, "engine-ops", false),
            SwitchStep::Moved
        );
        // Owned by another manager: refused, unless taken over.
        let helm_blue = status("blue", &["engine-ops", "helm"]);
        assert_eq!(
            next_step(&helm_blue, &blue, &green, "engine-ops", false),
            SwitchStep::Owned(vec!["helm".to_owned()])
        );
        assert!(matches!(
            next_step(&helm_blue, &blue, &green, "engine-ops", true),
            SwitchStep::Patch(_)
        ));
    }

    #[test]
    fn a_track_takes_traffic_only_with_enough_available_pods_and_a_fresh_status() {
        let rs = serde_json::from_value(json!({
            "metadata": {"name": "shop-green", "generation": 2,
                         "labels": {TRACK: "green", "engine-ops.io/template-hash": "00ff"}},
            "spec": {"replicas": 3, "selector": {}},
            "status": {"replicas": 3, "availableReplicas": 2, "observedGeneration": 2}
        }))
        .unwrap();
        let mut t = TrackStatus::from_replica_set(&rs).expect("a track");
        assert_eq!(capacity_shortfall(&t, 2), None);
        assert_eq!(
            capacity_shortfall(&t, 3),
            Some("not enough of its pods are available")
        );
        assert_eq!(
            capacity_shortfall(&t, 4),
            Some("it is asked to run fewer pods")
        );
        t.observed_generation = 1;
        assert_eq!(
            capacity_shortfall(&t, 1),
            Some("its status is older than its spec")
        );
    }

    fn service(rv: &str, track: &str, manager: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "shop", "namespace": "prod", "resourceVersion": rv,
                "managedFields": [{"manager": manager, "operation": "Apply", "apiVersion": "v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:selector": {}}}}]},
            "spec": {"selector": {INSTANCE: "shop", TRACK: track}},
        })
    }

    fn ops(client: kube::Client) -> AppOps {
        AppOps::new(client, "prod", "shop").unwrap().events(None)
    }

    #[tokio::test]
    async fn an_observed_switch_is_one_merge_patch_with_the_precondition() {
        let (client, mut server) = mock::pair();
        let observed = ServiceStatus::from_service(
            &serde_json::from_value(service("41", "blue", "engine-ops")).unwrap(),
            "shop",
        );
        let ops = ops(client);
        let task = tokio::spawn(async move {
            ops.switch_traffic(
                "shop",
                &TrafficTarget::track("green"),
                &SwitchParams::new().observed(&observed),
            )
            .await
        });
        let p = mock::next(&mut server).await;
        p.expect("PATCH", "/api/v1/namespaces/prod/services/shop");
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("engine-ops")
        );
        assert_eq!(
            p.body,
            json!({"metadata": {"resourceVersion": "41"},
                   "spec": {"selector": {INSTANCE: "shop", TRACK: "green"}}})
        );
        p.ok(&service("42", "green", "engine-ops"));
        let s = task.await.unwrap().unwrap();
        assert_eq!(
            (s.changed, s.attempts, s.resource_version.as_str()),
            (true, 1, "42")
        );
    }

    #[tokio::test]
    async fn all_tracks_deletes_the_track_key() {
        let from = TrafficTarget::track("blue").selector("shop");
        let p = switch_patch("7", &from, &TrafficTarget::AllTracks.selector("shop"));
        assert_eq!(
            p["spec"]["selector"],
            json!({INSTANCE: "shop", TRACK: null})
        );
    }

    #[tokio::test]
    async fn a_conflict_is_retried_while_the_intent_holds_and_refused_once_traffic_moved() {
        // (selector found on re-read, expected outcome)
        for (reread, retried) in [("blue", true), ("canary", false)] {
            let (client, mut server) = mock::pair();
            let ops = ops(client);
            let task = tokio::spawn(async move {
                ops.switch_traffic("shop", &TrafficTarget::track("green"), &SwitchParams::new())
                    .await
            });
            let get = mock::next(&mut server).await;
            get.expect("GET", "/api/v1/namespaces/prod/services/shop");
            get.ok(&service("41", "blue", "engine-ops"));
            let p = mock::next(&mut server).await;
            assert_eq!(p.body["metadata"]["resourceVersion"], "41");
            p.fail(409, "Conflict", "the object has been modified");
            mock::next(&mut server)
                .await
                .ok(&service("43", reread, "engine-ops"));
            if retried {
                let p = mock::next(&mut server).await;
                assert_eq!(p.body["metadata"]["resourceVersion"], "43");
                p.ok(&service("44", "green", "engine-ops"));
                let s = task.await.unwrap().unwrap();
                assert_eq!(s.attempts, 2);
            } else {
                let e = task.await.unwrap().unwrap_err();
                assert!(
                    matches!(&e, Error::TrafficMoved { found, .. } if found == "track canary"),
                    "{e}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_selector_owned_by_another_manager_is_refused_without_a_write() {
        let (client, mut server) = mock::pair();
        let ops = ops(client);
        let task = tokio::spawn(async move {
            ops.switch_traffic("shop", &TrafficTarget::track("green"), &SwitchParams::new())
                .await
        });
        mock::next(&mut server)
            .await
            .ok(&service("41", "blue", "helm"));
        let e = task.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::SelectorOwned { managers, .. } if managers == &["helm"]),
            "{e}"
        );
        // No second request was sent: the server sees the client gone.
        assert!(server.next_request().await.is_none());
    }

    #[tokio::test]
    async fn a_track_short_of_available_pods_is_refused_before_any_write() {
        let (client, mut server) = mock::pair();
        let ops = ops(client);
        let task = tokio::spawn(async move {
            ops.switch_traffic(
                "shop",
                &TrafficTarget::track("green"),
                &SwitchParams::new().require_available(3),
            )
            .await
        });
        let get = mock::next(&mut server).await;
        get.expect(
            "GET",
            "/apis/apps/v1/namespaces/prod/replicasets/shop-green",
        );
        get.ok(&json!({
            "metadata": {"name": "shop-green", "generation": 2,
                "labels": {TRACK: "green", "engine-ops.io/template-hash": "ab"}},
            "spec": {"replicas": 3, "selector": {}},
            "status": {"replicas": 3, "availableReplicas": 2, "observedGeneration": 2},
        }));
        let e = task.await.unwrap().unwrap_err();
        assert!(
            matches!(
                &e,
                Error::TrackNotReady {
                    available: 2,
                    required: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(server.next_request().await.is_none(), "no write");
    }

    #[tokio::test]
    async fn already_on_target_sends_nothing_more() {
        let (client, mut server) = mock::pair();
        let ops = ops(client);
        let task = tokio::spawn(async move {
            ops.switch_traffic("shop", &TrafficTarget::track("green"), &SwitchParams::new())
                .await
        });
        mock::next(&mut server)
            .await
            .ok(&service("41", "green", "helm"));
        let s = task.await.unwrap().unwrap();
        assert!(!s.changed);
        assert!(server.next_request().await.is_none());
    }
}
