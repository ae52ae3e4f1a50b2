//! The caller's rollout state, kept in an annotation of the anchor and saved
//! by compare-and-swap.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::app_ops::AppOps;
use super::error::{self, Error, from_kube};

/// Anchor annotation holding the rollout state as JSON.
pub const STATE_ANNOTATION: &str = "engine-ops.io/rollout-state";
/// Anchor annotation counting the saves of the rollout state: the
/// compare-and-swap's witness, so that an unrelated change of the anchor
/// (a label, a re-apply) does not count as a lost race, and a state
/// written back to an earlier value does (no ABA).
pub const STATE_SEQ_ANNOTATION: &str = "engine-ops.io/rollout-state-seq";

/// Saves retried after unrelated changes of the anchor.
const MAX_SAVES: u32 = 5;

/// The rollout state as loaded, with what a compare-and-swap needs.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::StoredState;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
///
/// let meta: ObjectMeta = serde_json::from_value(serde_json::json!({
///     "name": "shop", "resourceVersion": "77",
///     "annotations": {"engine-ops.io/rollout-state": "{\"stage\":\"idle\"}",
///                     "engine-ops.io/rollout-state-seq": "4"},
/// }))?;
/// let s = StoredState::from_meta("PodTemplate prod/shop", &meta);
/// assert_eq!(s.seq(), 4);
/// let v: serde_json::Value = s.value()?.expect("a state");
/// assert_eq!(v["stage"], "idle");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    object: String,
    raw: Option<String>,
    seq: u64,
    resource_version: String,
}

impl StoredState {
    /// The state found in an anchor's metadata (`object` names the anchor
    /// in errors).
    #[must_use]
    pub fn from_meta(object: impl Into<String>, meta: &ObjectMeta) -> Self {
        let annotations = meta.annotations.as_ref();
        Self {
            object: object.into(),
            raw: annotations.and_then(|a| a.get(STATE_ANNOTATION)).cloned(),
            seq: annotations
                .and_then(|a| a.get(STATE_SEQ_ANNOTATION))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
        }
    }

    /// The state read as `T`, or `None` when nothing was saved yet.
    ///
    /// # Errors
    ///
    /// [`Error::StateDecode`] when the annotation is not a `T`.
    pub fn value<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.raw
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|source| Error::StateDecode {
                object: self.object.clone(),
                annotation: STATE_ANNOTATION.to_owned(),
                source,
            })
    }

    /// The state's JSON as stored, if any.
    #[must_use]
    pub fn raw(&self) -> Option<&str> {
        self.raw.as_deref()
    }

    /// How many times the state was saved (0: never).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The anchor's `resourceVersion` when the state was read.
    #[must_use]
    pub fn resource_version(&self) -> &str {
        &self.resource_version
    }
}

impl AppOps {
    /// Reads the rollout state from the anchor (one request).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the anchor does not exist, and the other
    /// request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let stored = ops.load_state().await?;
    /// let state: Option<serde_json::Value> = stored.value()?;
    /// # Ok(()) }
    /// ```
    pub async fn load_state(&self) -> Result<StoredState, Error> {
        let t = self.anchor_target("get");
        let o = self
            .anchor_api()
            .get(self.anchor_name())
            .await
            .map_err(|e| from_kube(e, t))?;
        Ok(StoredState::from_meta(t.object(), &o.metadata))
    }

    /// Saves `value` as the rollout state if nobody saved one since
    /// `loaded` was read: one merge patch with `loaded`'s
    /// `resourceVersion` as precondition. If the anchor changed in another
    /// way meanwhile (the state's save count is unchanged), the save is
    /// retried against the new `resourceVersion`.
    ///
    /// # Errors
    ///
    /// [`Error::StateConflict`] when another writer saved a state since
    /// `loaded` (nothing is written: re-load and re-plan);
    /// [`Error::NotFound`], [`Error::Invalid`] (e.g. the annotations
    /// exceed the API server's 256 KiB limit), [`Error::Forbidden`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let loaded = ops.load_state().await?;
    /// match ops.save_state(&loaded, &serde_json::json!({"stage": "switching"})).await {
    ///     Ok(saved) => assert_eq!(saved.seq(), loaded.seq() + 1),
    ///     Err(e) if e.is_conflict() => { /* another driver saved first: re-plan */ }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn save_state<T: Serialize>(
        &self,
        loaded: &StoredState,
        value: &T,
    ) -> Result<StoredState, Error> {
        let t = self.anchor_target("patch");
        let raw = serde_json::to_string(value).map_err(|source| Error::StateEncode {
            object: t.object(),
            source,
        })?;
        let next = loaded.seq + 1;
        let params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..PatchParams::default()
        };
        let api = self.anchor_api();
        let mut rv = loaded.resource_version.clone();
        for attempt in 1..=MAX_SAVES {
            let patch = json!({"metadata": {
                "resourceVersion": rv,
                "annotations": {STATE_ANNOTATION: raw, STATE_SEQ_ANNOTATION: next.to_string()},
            }});
            match api
                .patch(self.anchor_name(), &params, &Patch::Merge(&patch))
                .await
            {
                Ok(o) => return Ok(StoredState::from_meta(t.object(), &o.metadata)),
                Err(e) if error::is_code(&e, 409) && attempt < MAX_SAVES => {
                    let now = self.load_state().await?;
                    if now.seq != loaded.seq {
                        return Err(Error::StateConflict {
                            object: t.object(),
                            expected: loaded.seq,
                            found: now.seq,
                        });
                    }
                    tracing::debug!(app = %self.app, attempt, "anchor changed, state did not: saving again");
                    rv = now.resource_version;
                }
                Err(e) => return Err(from_kube(e, t)),
            }
        }
        Err(Error::Conflict {
            object: t.object(),
            message: format!(
                "the state save lost {MAX_SAVES} races in a row to other changes of the object"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cluster::mock;
    use serde_json::Value;

    fn anchor(rv: &str, seq: u64, state: &str) -> Value {
        let mut a = mock::anchor("prod", "shop");
        a["metadata"]["resourceVersion"] = json!(rv);
        a["metadata"]["annotations"] =
            json!({STATE_ANNOTATION: state, STATE_SEQ_ANNOTATION: seq.to_string()});
        a
    }

    fn loaded(rv: &str, seq: u64) -> StoredState {
        StoredState {
            object: "PodTemplate prod/shop".into(),
            raw: Some("{}".into()),
            seq,
            resource_version: rv.into(),
        }
    }

    #[tokio::test]
    async fn save_is_a_merge_patch_with_the_precondition_and_the_next_sequence_number() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task =
            tokio::spawn(async move { ops.save_state(&loaded("10", 3), &json!({"a": 1})).await });
        let p = mock::next(&mut server).await;
        p.expect("PATCH", "/api/v1/namespaces/prod/podtemplates/shop");
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
            json!({"metadata": {"resourceVersion": "10", "annotations": {
                STATE_ANNOTATION: "{\"a\":1}", STATE_SEQ_ANNOTATION: "4"}}})
        );
        p.ok(&anchor("11", 4, "{\"a\":1}"));
        let s = task.await.unwrap().unwrap();
        assert_eq!((s.seq(), s.resource_version()), (4, "11"));
    }

    #[tokio::test]
    async fn a_lost_race_is_a_state_conflict_and_an_unrelated_change_is_retried() {
        for (found_seq, conflict) in [(4, true), (3, false)] {
            let (client, mut server) = mock::pair();
            let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
            let task =
                tokio::spawn(async move { ops.save_state(&loaded("10", 3), &json!(1)).await });
            mock::next(&mut server)
                .await
                .fail(409, "Conflict", "the object has been modified");
            let get = mock::next(&mut server).await;
            get.expect("GET", "/api/v1/namespaces/prod/podtemplates/shop");
            get.ok(&anchor("12", found_seq, "{}"));
            if conflict {
                let e = task.await.unwrap().unwrap_err();
                assert!(
                    matches!(
                        e,
                        Error::StateConflict {
                            expected: 3,
                            found: 4,
                            ..
                        }
                    ),
                    "{e}"
                );
                assert!(
                    server.next_request().await.is_none(),
                    "nothing written after the conflict"
                );
            } else {
                let p = mock::next(&mut server).await;
                assert_eq!(p.body["metadata"]["resourceVersion"], "12");
                p.ok(&anchor("13", 4, "1"));
                assert_eq!(task.await.unwrap().unwrap().seq(), 4);
            }
        }
    }

    #[test]
    fn an_unreadable_state_names_the_object_and_annotation() {
        let s = StoredState {
            object: "PodTemplate prod/shop".into(),
            raw: Some("{not json".into()),
            seq: 1,
            resource_version: "1".into(),
        };
        let e = s.value::<Value>().unwrap_err();
        assert!(e.to_string().starts_with(
            "PodTemplate prod/shop: the rollout state in annotation engine-ops.io/rollout-state cannot be read"
        ));
    }
}
