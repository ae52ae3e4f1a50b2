//! Reading a rolling app's Deployment and its ReplicaSets the way its
//! controller sees them: revisions, template identities, the planner's
//! spec of the Deployment, and what the newest revision's pods wait for.

use std::time::Duration;

use engine_ops_k8s::cluster::{Anchor, AppOps, Reporter, template_hash};
use engine_ops_k8s::manifest;
use engine_ops_rollout::spec::{IntOrPercent, RollingStrategy};
use engine_ops_rollout::{RolloutSpec, Strategy};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::Api;

use super::connect::Connection;
use super::exit::{CliError, CliResult};

/// The Deployment controller's ReplicaSet revision annotation.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// A budget of the Deployment (`maxSurge`, `maxUnavailable`) as the
/// planner's, `default` when unset or unreadable.
#[must_use]
pub fn from_k8s(v: Option<&IntOrString>, default: IntOrPercent) -> IntOrPercent {
    match v {
        Some(IntOrString::Int(n)) => IntOrPercent::Count(u32::try_from(*n).unwrap_or(0)),
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|n| n.parse().ok())
            .map_or(default, IntOrPercent::Percent),
        None => default,
    }
}

/// A pod template's identity, without the controller's `pod-template-hash`
/// label (equal for a Deployment and the ReplicaSet made from it).
#[must_use]
pub fn identity(t: Option<&PodTemplateSpec>) -> String {
    let mut t = t.cloned().unwrap_or_default();
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove("pod-template-hash");
    }
    template_hash(&t)
}

/// A count of the API (`Option<i32>`) as `u32` (absent or negative: 0).
#[must_use]
pub fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// The rolling app's operations (its anchor is the Deployment).
///
/// # Errors
///
/// Exit 2 for a bad app name.
pub fn ops_for(conn: &Connection, name: &str, holder: &str) -> CliResult<AppOps> {
    Ok(AppOps::new(conn.client.clone(), &conn.namespace, name)
        .map_err(CliError::before_acting)?
        .anchor(Anchor::deployment())
        .events(Some(Reporter {
            controller: "engine-ops".into(),
            instance: Some(holder.to_owned()),
        })))
}

/// The Deployment's ReplicaSets now (one list request).
///
/// # Errors
///
/// Exit 1 with the API server's refusal.
pub async fn replica_sets(ops: &AppOps) -> CliResult<Vec<ReplicaSet>> {
    let api: Api<ReplicaSet> = Api::namespaced(ops.client().clone(), ops.namespace());
    let params = kube::api::ListParams::default().labels(&rolling_selector(ops.app()));
    Ok(api.list(&params).await.map_err(CliError::failed)?.items)
}

/// The label selector of the rolling app's ReplicaSets.
#[must_use]
pub fn rolling_selector(app: &str) -> String {
    format!(
        "{}={app},{}={}",
        manifest::labels::INSTANCE,
        manifest::labels::TRACK,
        manifest::labels::ROLLING_TRACK
    )
}

/// The planner's spec of a Deployment.
#[must_use]
pub fn spec_of(d: &Deployment, template: &str) -> Option<RolloutSpec> {
    let s = d.spec.as_ref()?;
    let ru = s.strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
    let surge = from_k8s(
        ru.and_then(|r| r.max_surge.as_ref()),
        IntOrPercent::Percent(25),
    );
    let unavailable = from_k8s(
        ru.and_then(|r| r.max_unavailable.as_ref()),
        IntOrPercent::Percent(25),
    );
    RolloutSpec::builder(template, count(s.replicas.or(Some(1))))
        .strategy(Strategy::Rolling(RollingStrategy::new(surge, unavailable)))
        .min_ready(Duration::from_secs(u64::from(count(s.min_ready_seconds))))
        .progress_deadline(
            s.progress_deadline_seconds
                .map(|p| Duration::from_secs(u64::from(count(Some(p))))),
        )
        .revision_history_limit(s.revision_history_limit.map(|r| count(Some(r))))
        .build()
        .ok()
}

/// What the newest revision's pods that are not ready wait for, from
/// their conditions and container states (one list request): e.g.
/// `3 pod(s) of revision 2 not ready: 3 × Unschedulable: 0/3 nodes are
/// available: 3 Insufficient cpu`. `None` when it cannot be read or every
/// pod is ready.
pub async fn pods_not_ready(ops: &AppOps) -> Option<String> {
    use k8s_openapi::api::core::v1::Pod;
    let sets = replica_sets(ops).await.ok()?;
    let revision = |rs: &k8s_openapi::api::apps::v1::ReplicaSet| {
        rs.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .and_then(|r| r.parse::<u64>().ok())
    };
    let newest = sets.iter().max_by_key(|rs| revision(rs))?;
    let hash = newest
        .metadata
        .labels
        .as_ref()?
        .get("pod-template-hash")?
        .clone();
    let api: kube::Api<Pod> = kube::Api::namespaced(ops.client().clone(), ops.namespace());
    let params = kube::api::ListParams::default().labels(&format!(
        "{}={},pod-template-hash={hash}",
        engine_ops_k8s::manifest::labels::INSTANCE,
        ops.app()
    ));
    let pods = api.list(&params).await.ok()?.items;
    let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut waiting = 0;
    for p in &pods {
        let st = p.status.clone().unwrap_or_default();
        let conditions = st.conditions.unwrap_or_default();
        let ready = conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        waiting += 1;
        let container = st
            .container_statuses
            .iter()
            .flatten()
            .find_map(|c| c.state.as_ref()?.waiting.as_ref())
            .map(|w| {
                format!(
                    "{}: {}",
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                )
            });
        let condition = conditions
            .iter()
            .find(|c| c.status == "False" && c.reason.is_some())
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )
            });
        let why = condition
            .or(container)
            .unwrap_or_else(|| "not ready (no reason reported)".to_owned());
        *reasons
            .entry(why.trim_end_matches([' ', ':']).to_owned())
            .or_default() += 1;
    }
    if waiting == 0 {
        return (pods.is_empty() && newest.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0)
            .then(|| {
                format!(
                    "no pod of revision {} exists (ReplicaSet {}: see its events, e.g. a quota)",
                    revision(newest).unwrap_or(0),
                    newest.metadata.name.clone().unwrap_or_default()
                )
            });
    }
    let list: Vec<String> = reasons
        .iter()
        .map(|(why, n)| format!("{n} × {why}"))
        .collect();
    Some(format!(
        "{waiting} pod(s) of revision {} not ready: {}",
        revision(newest).unwrap_or(0),
        list.join("; ")
    ))
}
