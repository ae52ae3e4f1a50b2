//! Rolling: a native Deployment applied with server-side apply, judged by
//! `kubectl rollout status`'s rule, undone as `kubectl rollout undo` does.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::wait::await_condition;
use serde_json::json;

use super::app_ops::AppOps;
use super::error::{self, Error, from_kube};
use crate::manifest::compat;

mod status;

pub use status::{DeploymentRollout, RolloutVerdict};
use status::{REVISION, count, revision_of};

/// The label the Deployment controller adds to its ReplicaSets' pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotations `kubectl rollout undo` keeps from the Deployment instead of
/// copying them from the ReplicaSet.
const UNDO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];
/// What a server-side apply stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// `metadata.generation` after the apply: wait for the controller to
    /// observe at least this one.
    pub generation: i64,
    /// `metadata.resourceVersion` after the apply.
    pub resource_version: String,
}

/// The outcome of [`AppOps::undo_deployment`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Undo {
    /// The revision the Deployment was at.
    pub from: Option<u64>,
    /// The revision whose template it rolls back to.
    pub to: u64,
    /// The current template already matched that revision: nothing was
    /// written (kubectl's "skipped rollback").
    pub skipped: bool,
    /// The generation to wait for (after the write, or the current one).
    pub generation: i64,
}

/// How many times an undo reads the Deployment again when only its
/// bookkeeping (status, `resourceVersion`) moved under the patch.
const UNDO_ATTEMPTS: u32 = 5;

/// One undo attempt's outcome.
enum UndoAttempt {
    /// Written, or nothing to write.
    Done(Undo),
    /// The `resourceVersion` test failed but the spec is unchanged.
    Moved,
}

/// One revision of a Deployment (one of its ReplicaSets).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revision {
    /// The revision number.
    pub revision: u64,
    /// The ReplicaSet's name.
    pub replica_set: String,
    /// `kubernetes.io/change-cause`, if any.
    pub change_cause: Option<String>,
    /// The containers' images.
    pub images: Vec<String>,
    /// The ReplicaSet's `spec.replicas`.
    pub replicas: u32,
    /// Its available pods.
    pub available: u32,
    /// When it was created.
    pub created: Option<Timestamp>,
}

/// Whether a server-side apply conflict names only `manager` (its updates,
/// as opposed to its applies). The API server quotes the managers and
/// nothing else: `conflict with "m" using v1: .spec.x`, or `conflicts
/// with "m"\n- .spec.x\n- .spec.y`, or one `- "m"` line per manager.
fn only_conflicts_with(e: &kube::Error, manager: &str) -> bool {
    let Some(s) = error::status(e) else {
        return false;
    };
    let quoted: Vec<&str> = s.message.split('"').skip(1).step_by(2).collect();
    !quoted.is_empty() && quoted.iter().all(|m| *m == manager)
}

/// The ReplicaSet of revision `to` (or of the previous revision, kubectl's
/// `LastRevision`: the second-highest), with its number.
fn pick_revision<'a>(
    owned: &'a [ReplicaSet],
    to: Option<u64>,
    object: &str,
) -> Result<(u64, &'a ReplicaSet), Error> {
    let by_revision: BTreeMap<u64, &ReplicaSet> = owned
        .iter()
        .filter_map(|rs| Some((revision_of(&rs.metadata)?, rs)))
        .collect();
    let known: Vec<u64> = by_revision.keys().copied().collect();
    let missing = |revision| Error::RevisionNotFound {
        object: object.to_owned(),
        revision,
        known: known.clone(),
    };
    let target = match to {
        Some(r) => r,
        None => known
            .iter()
            .rev()
            .nth(1)
            .copied()
            .ok_or_else(|| missing(0))?,
    };
    let rs = by_revision.get(&target).ok_or_else(|| missing(target))?;
    Ok((target, rs))
}

/// The Deployment's annotations after rolling back to `rs`, as `kubectl
/// rollout undo` computes them: the skip list's from the Deployment, every
/// other one from the ReplicaSet.
fn undo_annotations(d: &Deployment, rs: &ReplicaSet) -> BTreeMap<String, String> {
    let mine = d.metadata.annotations.clone().unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = UNDO_SKIP
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), mine.get(*k)?.clone())))
        .collect();
    for (k, v) in rs.metadata.annotations.iter().flatten() {
        if !UNDO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    annotations
}

/// A template without the controller's `pod-template-hash` label.
fn without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

impl AppOps {
    fn deployment_name<'a>(&'a self, name: Option<&'a str>) -> &'a str {
        name.unwrap_or(&self.app)
    }

    /// Applies a Deployment with server-side apply as this client's field
    /// manager (`engine-ops`), in the app's namespace. Without `force`, a
    /// field another manager owns is a conflict naming it. Fields last
    /// written by this manager's own updates ([`undo_deployment`](Self::undo_deployment),
    /// [`pause_deployment`](Self::pause_deployment)) are taken back
    /// without `force`: the next deploy after an undo is meant to replace
    /// it.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] (field conflict; the message names the other
    /// managers and fields), [`Error::Invalid`] (nothing is stored),
    /// [`Error::NamespaceNotFound`], [`Error::Forbidden`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps, set: engine_ops_k8s::manifest::RollingSet)
    /// # -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use std::time::Duration;
    ///
    /// let applied = ops.apply_deployment(&set.deployment, false).await?;
    /// let done = ops.wait_deployment(None, Some(applied.generation), Duration::from_secs(600)).await?;
    /// println!("revision {:?} rolled out", done.revision);
    /// # Ok(()) }
    /// ```
    pub async fn apply_deployment(
        &self,
        deployment: &Deployment,
        force: bool,
    ) -> Result<Applied, Error> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let mut d = deployment.clone();
        d.metadata.namespace = Some(self.namespace.clone());
        d.metadata.managed_fields = None;
        d.metadata.resource_version = None;
        d.status = None;
        let api = self.api::<Deployment>();
        let mut params = PatchParams::apply(&self.manager);
        params.force = force;
        let stored = match api.patch(&name, &params, &Patch::Apply(&d)).await {
            Ok(d) => d,
            // Our own earlier update (an undo, a pause) owns the fields: the
            // apply is meant to replace it.
            Err(e) if error::is_code(&e, 409) && only_conflicts_with(&e, &self.manager) => {
                params.force = true;
                api.patch(&name, &params, &Patch::Apply(&d))
                    .await
                    .map_err(|e| from_kube(e, self.target("apply", "Deployment", &name)))?
            }
            Err(e) => return Err(from_kube(e, self.target("apply", "Deployment", &name))),
        };
        Ok(Applied {
            generation: stored.metadata.generation.unwrap_or(0),
            resource_version: stored.metadata.resource_version.unwrap_or_default(),
        })
    }

    /// Reads a Deployment (`None`: the one named like the app) and judges
    /// its rollout.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] and the other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let r = ops.deployment_rollout(None, None).await?;
    /// println!("{}/{:?} updated, {:?}", r.updated, r.desired, r.verdict);
    /// # Ok(()) }
    /// ```
    pub async fn deployment_rollout(
        &self,
        name: Option<&str>,
        min_generation: Option<i64>,
    ) -> Result<DeploymentRollout, Error> {
        let d = self.get_deployment(self.deployment_name(name)).await?;
        Ok(DeploymentRollout::from_deployment(&d, min_generation))
    }

    /// Waits, on a watch of the Deployment, until its rollout is complete
    /// (see [`DeploymentRollout::from_deployment`]) or failed, at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::ProgressDeadlineExceeded`] when it failed;
    /// [`Error::Timeout`] naming what it still waited for; [`Error::NotFound`]
    /// when it does not exist at the timeout; [`Error::Watch`].
    ///
    /// # Examples
    ///
    /// See [`apply_deployment`](Self::apply_deployment).
    pub async fn wait_deployment(
        &self,
        name: Option<&str>,
        min_generation: Option<i64>,
        timeout: Duration,
    ) -> Result<DeploymentRollout, Error> {
        let name = self.deployment_name(name);
        let done = move |d: Option<&Deployment>| {
            d.is_some_and(|d| {
                !matches!(
                    DeploymentRollout::from_deployment(d, min_generation).verdict,
                    RolloutVerdict::Waiting(_)
                )
            })
        };
        let object = error::object("Deployment", &self.namespace, name);
        match tokio::time::timeout(timeout, await_condition(self.api(), name, done)).await {
            Ok(Ok(Some(d))) => {
                let r = DeploymentRollout::from_deployment(&d, min_generation);
                match r.verdict {
                    RolloutVerdict::Failed(message) => {
                        Err(Error::ProgressDeadlineExceeded { object, message })
                    }
                    _ => Ok(r),
                }
            }
            Ok(Ok(None)) => Err(Error::NotFound {
                object,
                hint: "it was deleted while waiting".to_owned(),
            }),
            Ok(Err(kube::runtime::wait::Error::ProbeFailed(source))) => Err(Error::Watch {
                what: object,
                source,
            }),
            Err(_) => {
                let what = match self.deployment_rollout(Some(name), min_generation).await {
                    Ok(last) => match last.verdict {
                        RolloutVerdict::Waiting(m) => format!("{object} to roll out (last: {m})"),
                        v => format!("{object} to roll out (last: {v:?})"),
                    },
                    Err(e @ Error::NotFound { .. }) => return Err(e),
                    Err(_) => format!("{object} to roll out"),
                };
                Err(Error::Timeout {
                    what,
                    after: timeout,
                })
            }
        }
    }

    /// Pauses (`true`) or resumes (`false`) a Deployment's rollout, as
    /// `kubectl rollout pause` / `resume` do (a merge patch of
    /// `spec.paused`; repeating it changes nothing).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] and the other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// ops.pause_deployment(None, true).await?;
    /// ops.pause_deployment(None, false).await?;
    /// # Ok(()) }
    /// ```
    pub async fn pause_deployment(
        &self,
        name: Option<&str>,
        paused: bool,
    ) -> Result<DeploymentRollout, Error> {
        let name = self.deployment_name(name);
        let params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..PatchParams::default()
        };
        let d = self
            .api::<Deployment>()
            .patch(
                name,
                &params,
                &Patch::Merge(json!({"spec": {"paused": paused}})),
            )
            .await
            .map_err(|e| from_kube(e, self.target("patch", "Deployment", name)))?;
        Ok(DeploymentRollout::from_deployment(
            &d,
            d.metadata.generation,
        ))
    }

    /// The Deployment's revisions (its ReplicaSets), oldest first, as
    /// `kubectl rollout history` lists them.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] and the other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// for r in ops.deployment_history(None).await? {
    ///     println!("{} {}", r.revision, r.change_cause.as_deref().unwrap_or("<none>"));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn deployment_history(&self, name: Option<&str>) -> Result<Vec<Revision>, Error> {
        let d = self.get_deployment(self.deployment_name(name)).await?;
        let owned = self.owned_replica_sets(&d).await?;
        let mut v: Vec<Revision> = owned
            .iter()
            .filter_map(|rs| {
                let spec = compat::spec_ref(&rs.spec);
                let template = spec.and_then(|s| s.template.as_ref());
                Some(Revision {
                    revision: revision_of(&rs.metadata)?,
                    replica_set: rs.metadata.name.clone().unwrap_or_default(),
                    change_cause: rs
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(crate::manifest::labels::CHANGE_CAUSE))
                        .cloned(),
                    images: template
                        .and_then(|t| t.spec.as_ref())
                        .map(|s| {
                            s.containers
                                .iter()
                                .filter_map(|c| c.image.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                    replicas: count(spec.and_then(|s| s.replicas)),
                    available: count(rs.status.as_ref().and_then(|s| s.available_replicas)),
                    created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                })
            })
            .collect();
        v.sort_by_key(|r| r.revision);
        Ok(v)
    }

    /// Rolls a Deployment back to `to_revision`, or to the previous one
    /// with `None`, the way `kubectl rollout undo` does: the revision's pod
    /// template (without `pod-template-hash`) and annotations are written
    /// back, and the Deployment controller rolls forward to them under the
    /// usual surge and unavailability rules. Unlike kubectl, the write
    /// carries a `resourceVersion` test, so a concurrent change of the
    /// spec is a conflict instead of being overwritten; when only the
    /// controller's bookkeeping moved (a rollout in progress updates the
    /// status all the time), the undo reads the Deployment again and
    /// retries, up to 5 times. Records a `DeploymentRollback` Event.
    ///
    /// # Errors
    ///
    /// [`Error::DeploymentPaused`] (resume first), [`Error::RevisionNotFound`]
    /// (the message lists the revisions kept), [`Error::Conflict`] (another
    /// writer changed the spec, or the Deployment kept changing),
    /// [`Error::NotFound`], [`Error::Forbidden`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use std::time::Duration;
    ///
    /// let undo = ops.undo_deployment(None, Some(1)).await?;
    /// if !undo.skipped {
    ///     ops.wait_deployment(None, Some(undo.generation), Duration::from_secs(600)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn undo_deployment(
        &self,
        name: Option<&str>,
        to_revision: Option<u64>,
    ) -> Result<Undo, Error> {
        let name = self.deployment_name(name);
        let object = error::object("Deployment", &self.namespace, name);
        let mut attempt = 1;
        loop {
            match self.undo_once(name, to_revision, &object).await? {
                UndoAttempt::Done(undo) => return Ok(undo),
                // Only the controller's bookkeeping moved (a rollout in
                // progress updates the Deployment's status all the time):
                // read it again and pick the revision again.
                UndoAttempt::Moved if attempt < UNDO_ATTEMPTS => attempt += 1,
                UndoAttempt::Moved => {
                    return Err(Error::Conflict {
                        object,
                        message: format!(
                            "it kept changing while rolling back ({UNDO_ATTEMPTS} attempts); try again"
                        ),
                    });
                }
            }
        }
    }

    /// One undo: read, pick the revision, patch under a `resourceVersion`
    /// test. [`UndoAttempt::Moved`] when the test failed but the spec is
    /// the one that was read (another attempt may succeed).
    async fn undo_once(
        &self,
        name: &str,
        to_revision: Option<u64>,
        object: &str,
    ) -> Result<UndoAttempt, Error> {
        let object = object.to_owned();
        let d = self.get_deployment(name).await?;
        let spec = compat::spec_ref(&d.spec);
        if spec.and_then(|s| s.paused).unwrap_or(false) {
            return Err(Error::DeploymentPaused { object });
        }
        let owned = self.owned_replica_sets(&d).await?;
        let (target, rs) = pick_revision(&owned, to_revision, &object)?;
        let template = compat::spec_ref(&rs.spec)
            .and_then(|s| s.template.as_ref())
            .map(without_hash)
            .unwrap_or_default();
        let current = spec.map(|s| without_hash(&s.template)).unwrap_or_default();
        let from = revision_of(&d.metadata);
        let generation = d.metadata.generation.unwrap_or(0);
        if template == current {
            return Ok(UndoAttempt::Done(Undo {
                from,
                to: target,
                skipped: true,
                generation,
            }));
        }
        let annotations = undo_annotations(&d, rs);
        let patch = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": d.metadata.resource_version},
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]);
        let patch: Patch<()> =
            Patch::Json(serde_json::from_value(patch).map_err(|e| Error::Invalid {
                object: object.clone(),
                message: format!("the rollback patch could not be built: {e}"),
            })?);
        let params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..PatchParams::default()
        };
        let stored = match self.api::<Deployment>().patch(name, &params, &patch).await {
            Ok(d) => d,
            Err(e) => {
                let refused = from_kube(e, self.target("patch", "Deployment", name));
                // A failed `test` op is answered 422 with no detail: if the
                // Deployment moved on, that was it.
                if matches!(refused, Error::Invalid { .. }) {
                    let now = self.get_deployment(name).await?;
                    if now.metadata.resource_version != d.metadata.resource_version {
                        if now.metadata.generation == d.metadata.generation {
                            return Ok(UndoAttempt::Moved);
                        }
                        return Err(Error::Conflict {
                            object,
                            message: "its spec was changed by another writer while rolling back"
                                .to_owned(),
                        });
                    }
                }
                return Err(refused);
            }
        };
        self.emit(
            EventType::Normal,
            "DeploymentRollback",
            "UndoDeployment",
            format!("Rolled back deployment {name} to revision {target}"),
            Some(super::events::related(
                "Deployment",
                "apps/v1",
                &stored.metadata,
            )),
        )
        .await;
        Ok(UndoAttempt::Done(Undo {
            from,
            to: target,
            skipped: false,
            generation: stored.metadata.generation.unwrap_or(0),
        }))
    }

    async fn get_deployment(&self, name: &str) -> Result<Deployment, Error> {
        self.api::<Deployment>()
            .get(name)
            .await
            .map_err(|e| from_kube(e, self.target("get", "Deployment", name)))
    }

    /// The ReplicaSets the Deployment controls (by controller uid).
    async fn owned_replica_sets(&self, d: &Deployment) -> Result<Vec<ReplicaSet>, Error> {
        let selector = compat::spec_ref(&d.spec)
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let list = self
            .api::<ReplicaSet>()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| from_kube(e, self.target("list", "ReplicaSet", "")))?;
        let uid = d.metadata.uid.clone();
        Ok(list
            .items
            .into_iter()
            .filter(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
            })
            .collect())
    }
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cluster::mock;
    use serde_json::Value;

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
    fn only_our_own_updates_are_taken_back_without_force() {
        let conflict = |m: &str| {
            kube::Error::Api(Box::new(
                kube::core::Status::failure(m, "Conflict").with_code(409),
            ))
        };
        for (message, ours) in [
            (
                "Apply failed with 1 conflict: conflict with \"engine-ops\" using apps/v1: .spec.template",
                true,
            ),
            (
                "Apply failed with 2 conflicts: conflicts with \"engine-ops\"\n- .spec.template\n- .spec.paused",
                true,
            ),
            (
                "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas",
                false,
            ),
            (
                "Apply failed with 2 conflicts: conflicts with\n- \"engine-ops\"\n  - .a\n- \"helm\"\n  - .b",
                false,
            ),
            ("the object has been modified", false),
        ] {
            assert_eq!(
                only_conflicts_with(&conflict(message), "engine-ops"),
                ours,
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn apply_is_server_side_with_the_field_manager_and_no_force() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let d = deployment(0, 0, json!({}));
        let task = tokio::spawn(async move { ops.apply_deployment(&d, false).await });
        let p = mock::next(&mut server).await;
        p.expect("PATCH", "/apis/apps/v1/namespaces/prod/deployments/shop");
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("engine-ops")
        );
        assert_eq!(p.query.get("force"), None);
        assert_eq!(p.body["metadata"]["namespace"], "prod");
        assert!(p.body.get("status").is_none());
        let mut stored = p.body.clone();
        stored["metadata"]["generation"] = json!(7);
        p.ok(&stored);
        assert_eq!(task.await.unwrap().unwrap().generation, 7);
    }

    #[tokio::test]
    async fn undo_patches_template_and_annotations_under_a_resource_version_test() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task = tokio::spawn(async move { ops.undo_deployment(None, None).await });
        let get = mock::next(&mut server).await;
        get.expect("GET", "/apis/apps/v1/namespaces/prod/deployments/shop");
        get.ok(&json!({
            "metadata": {"name": "shop", "uid": "d-uid", "resourceVersion": "50", "generation": 3,
                "annotations": {REVISION: "2", "kubernetes.io/change-cause": "v2", "other": "x"}},
            "spec": {"selector": {"matchLabels": {"app": "shop"}},
                     "template": {"metadata": {"labels": {"app": "shop"}}, "spec": {"containers": [{"name": "a", "image": "v2"}]}}},
        }));
        let list = mock::next(&mut server).await;
        list.expect("GET", "/apis/apps/v1/namespaces/prod/replicasets");
        assert_eq!(
            list.query.get("labelSelector").map(String::as_str),
            Some("app%3Dshop")
        );
        let rs = |rev: &str, image: &str, owner: &str| {
            json!({
                "metadata": {"name": format!("shop-{rev}"), "annotations": {REVISION: rev, "kubernetes.io/change-cause": image},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop", "uid": owner, "controller": true}]},
                "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "shop", POD_TEMPLATE_HASH: "h"}},
                                                      "spec": {"containers": [{"name": "a", "image": image}]}}},
            })
        };
        list.ok(&json!({"apiVersion": "v1", "kind": "List", "metadata": {},
            "items": [rs("1", "v1", "d-uid"), rs("2", "v2", "d-uid"), rs("9", "foreign", "other-uid")]}));
        let p = mock::next(&mut server).await;
        p.expect("PATCH", "/apis/apps/v1/namespaces/prod/deployments/shop");
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/json-patch+json")
        );
        assert_eq!(
            p.body[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "50"})
        );
        assert_eq!(p.body[1]["path"], "/spec/template");
        assert_eq!(
            p.body[1]["value"]["metadata"]["labels"],
            json!({"app": "shop"})
        );
        assert_eq!(p.body[1]["value"]["spec"]["containers"][0]["image"], "v1");
        assert_eq!(
            p.body[2]["value"],
            json!({REVISION: "2", "kubernetes.io/change-cause": "v1"})
        );
        p.ok(&json!({"metadata": {"name": "shop", "generation": 4}, "spec": {"selector": {}, "template": {}}}));
        let undo = task.await.unwrap().unwrap();
        assert_eq!(
            (undo.from, undo.to, undo.skipped, undo.generation),
            (Some(2), 1, false, 4)
        );
    }

    /// The Deployment as the undo tests read it: at revision 2, with
    /// `resourceVersion` `rv` and `generation`.
    fn undo_deployment_at(rv: &str, generation: i64) -> serde_json::Value {
        json!({
            "metadata": {"name": "shop", "uid": "d-uid", "resourceVersion": rv, "generation": generation,
                "annotations": {REVISION: "2"}},
            "spec": {"selector": {"matchLabels": {"app": "shop"}},
                     "template": {"metadata": {"labels": {"app": "shop"}}, "spec": {"containers": [{"name": "a", "image": "v2"}]}}},
        })
    }

    /// Answers the undo's GET and ReplicaSet list (revisions 1 and 2), then
    /// returns its PATCH.
    async fn undo_reads(server: &mut mock::Server, rv: &str, generation: i64) -> mock::Seen {
        let get = mock::next(server).await;
        get.expect("GET", "/apis/apps/v1/namespaces/prod/deployments/shop");
        get.ok(&undo_deployment_at(rv, generation));
        let list = mock::next(server).await;
        list.expect("GET", "/apis/apps/v1/namespaces/prod/replicasets");
        let rs = |rev: &str, image: &str| {
            json!({
                "metadata": {"name": format!("shop-{rev}"), "annotations": {REVISION: rev},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop", "uid": "d-uid", "controller": true}]},
                "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "shop", POD_TEMPLATE_HASH: "h"}},
                                                      "spec": {"containers": [{"name": "a", "image": image}]}}},
            })
        };
        list.ok(&json!({"apiVersion": "v1", "kind": "List", "metadata": {},
            "items": [rs("1", "v1"), rs("2", "v2")]}));
        let patch = mock::next(server).await;
        patch.expect("PATCH", "/apis/apps/v1/namespaces/prod/deployments/shop");
        patch
    }

    #[tokio::test]
    async fn an_undo_under_a_moving_status_reads_again_and_retries() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task = tokio::spawn(async move { ops.undo_deployment(None, None).await });
        let p = undo_reads(&mut server, "50", 3).await;
        assert_eq!(p.body[0]["value"], "50");
        p.fail(422, "Invalid", "");
        // The controller wrote the status: a new resourceVersion, the same
        // generation. The undo starts over from a fresh read.
        let check = mock::next(&mut server).await;
        check.expect("GET", "/apis/apps/v1/namespaces/prod/deployments/shop");
        check.ok(&undo_deployment_at("51", 3));
        let p = undo_reads(&mut server, "52", 3).await;
        assert_eq!(p.body[0]["value"], "52");
        assert_eq!(p.body[1]["value"]["spec"]["containers"][0]["image"], "v1");
        p.ok(&json!({"metadata": {"name": "shop", "generation": 4}, "spec": {"selector": {}, "template": {}}}));
        let undo = task.await.unwrap().unwrap();
        assert_eq!((undo.to, undo.skipped, undo.generation), (1, false, 4));
    }

    #[tokio::test]
    async fn an_undo_whose_spec_changed_under_it_is_a_conflict() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task = tokio::spawn(async move { ops.undo_deployment(None, None).await });
        undo_reads(&mut server, "50", 3)
            .await
            .fail(422, "Invalid", "");
        let check = mock::next(&mut server).await;
        check.ok(&undo_deployment_at("51", 4));
        let e = task.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::Conflict { message, .. } if message.contains("spec was changed")),
            "{e}"
        );
    }
}
