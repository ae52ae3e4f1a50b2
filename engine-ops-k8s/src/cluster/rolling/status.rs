//! A Deployment's rollout judged by `kubectl rollout status`'s rule.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::manifest::compat;

/// `deployment.kubernetes.io/revision`.
pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";

/// Where a Deployment's rollout stands, by `kubectl rollout status`'s rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RolloutVerdict {
    /// Not done yet; the message says what it waits for, in kubectl's words.
    Waiting(String),
    /// Every replica is updated and available, no old one is left, and the
    /// controller has seen the generation asked for.
    Complete,
    /// `Progressing` is False with reason `ProgressDeadlineExceeded`.
    Failed(String),
}

/// A Deployment's rollout status.
///
/// # Examples
///
/// The controller has not yet seen the generation just written, so a status
/// that looks complete is not:
///
/// ```
/// use engine_ops_k8s::cluster::{DeploymentRollout, RolloutVerdict};
/// use k8s_openapi::api::apps::v1::Deployment;
///
/// let d: Deployment = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "shop", "generation": 4},
///     "spec": {"replicas": 3, "selector": {}, "template": {}},
///     "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
/// }))?;
/// let r = DeploymentRollout::from_deployment(&d, Some(4));
/// assert!(matches!(r.verdict, RolloutVerdict::Waiting(ref m) if m.contains("spec update")));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeploymentRollout {
    /// The Deployment's name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// `spec.replicas` (absent when an autoscaler owns it and has not set it).
    pub desired: Option<u32>,
    /// `status.replicas`.
    pub replicas: u32,
    /// `status.updatedReplicas`.
    pub updated: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    /// `status.availableReplicas`.
    pub available: u32,
    /// `spec.paused`.
    pub paused: bool,
    /// The Deployment's revision annotation.
    pub revision: Option<u64>,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// The verdict.
    pub verdict: RolloutVerdict,
}

pub(super) fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

pub(super) fn revision_of(meta: &ObjectMeta) -> Option<u64> {
    meta.annotations.as_ref()?.get(REVISION)?.parse().ok()
}

impl DeploymentRollout {
    /// The status of `d`, judged as `kubectl rollout status` does, and not
    /// complete before the controller observed `min_generation` (the
    /// generation returned by our own write, see [`Applied`](super::Applied)).
    #[must_use]
    pub fn from_deployment(d: &Deployment, min_generation: Option<i64>) -> Self {
        let name = d.metadata.name.clone().unwrap_or_default();
        let spec = compat::spec_ref(&d.spec);
        let st = d.status.clone().unwrap_or_default();
        let generation = d.metadata.generation.unwrap_or(0);
        let observed = st.observed_generation.unwrap_or(0);
        let desired = spec.and_then(|s| s.replicas).map(|n| count(Some(n)));
        let (replicas, updated, available) = (
            count(st.replicas),
            count(st.updated_replicas),
            count(st.available_replicas),
        );
        let paused = spec.and_then(|s| s.paused).unwrap_or(false);
        let deadline = st.conditions.iter().flatten().find(|c| {
            compat::text(&c.type_) == "Progressing"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        let waiting = |m: String| RolloutVerdict::Waiting(m);
        let verdict = if generation > observed || min_generation.is_some_and(|g| observed < g) {
            waiting("waiting for the deployment spec update to be observed".to_owned())
        } else if let Some(c) = deadline {
            RolloutVerdict::Failed(c.message.clone().unwrap_or_default())
        } else if let Some(n) = desired.filter(|n| updated < *n) {
            waiting(format!(
                "{updated} out of {n} new replicas have been updated"
            ))
        } else if replicas > updated {
            waiting(format!(
                "{} old replicas are pending termination",
                replicas - updated
            ))
        } else if available < updated {
            waiting(format!(
                "{available} of {updated} updated replicas are available"
            ))
        } else {
            RolloutVerdict::Complete
        };
        let verdict = match verdict {
            RolloutVerdict::Waiting(m) if paused => {
                waiting(format!("{m} (paused: resume to continue)"))
            }
            v => v,
        };
        Self {
            name,
            generation,
            observed_generation: observed,
            desired,
            replicas,
            updated,
            ready: count(st.ready_replicas),
            available,
            paused,
            revision: revision_of(&d.metadata),
            resource_version: d.metadata.resource_version.clone().unwrap_or_default(),
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::{Value, json};

    fn deployment(generation: i64, observed: i64, status: Value) -> Deployment {
        let mut s = status;
        s["observedGeneration"] = json!(observed);
        serde_json::from_value(json!({
            "metadata": {"name": "shop", "generation": generation},
            "spec": {"replicas": 4, "selector": {}, "template": {}},
            "status": s,
        }))
        .unwrap()
    }

    #[test]
    fn the_verdict_follows_kubectl_rollout_status() {
        let v = |d: &Deployment| DeploymentRollout::from_deployment(d, None).verdict;
        let w = |m: &str| RolloutVerdict::Waiting(m.to_owned());
        assert_eq!(
            v(&deployment(2, 1, json!({}))),
            w("waiting for the deployment spec update to be observed")
        );
        assert_eq!(
            v(&deployment(
                2,
                2,
                json!({"replicas": 5, "updatedReplicas": 2})
            )),
            w("2 out of 4 new replicas have been updated")
        );
        assert_eq!(
            v(&deployment(
                2,
                2,
                json!({"replicas": 5, "updatedReplicas": 4})
            )),
            w("1 old replicas are pending termination")
        );
        assert_eq!(
            v(&deployment(
                2,
                2,
                json!({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 3})
            )),
            w("3 of 4 updated replicas are available")
        );
        assert_eq!(
            v(&deployment(
                2,
                2,
                json!({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 4})
            )),
            RolloutVerdict::Complete
        );
        let failed = deployment(
            2,
            2,
            json!({"replicas": 4, "updatedReplicas": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"shop-1\" has timed out progressing."}]}),
        );
        assert_eq!(
            v(&failed),
            RolloutVerdict::Failed("ReplicaSet \"shop-1\" has timed out progressing.".into())
        );
        // Complete counts but a generation we wrote that is not yet observed.
        let done = deployment(
            2,
            2,
            json!({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 4}),
        );
        assert!(matches!(
            DeploymentRollout::from_deployment(&done, Some(3)).verdict,
            RolloutVerdict::Waiting(_)
        ));
    }
}
