//! Tracks: one ReplicaSet per track (blue-green colours, canary and stable),
//! owned by the app's anchor.

mod spec;
mod status;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use kube::runtime::events::EventType;
pub use spec::{
    DESIRED_REPLICAS, MAX_REPLICAS, REVISION, SCALE_DOWN_AT, TEMPLATE_HASH, TrackSpec,
    template_hash,
};
pub use status::TrackStatus;
pub(crate) use status::sort_tracks;

use super::app_ops::{AppOps, check_dns_label};
use super::error::{self, Error, from_kube};
use crate::manifest::labels::INSTANCE;

impl AppOps {
    /// The name of a track's ReplicaSet: `<app>-<track>`.
    #[must_use]
    pub fn track_replica_set(&self, track: &str) -> String {
        format!("{}-{track}", self.app)
    }

    fn check_track(&self, track: &str) -> Result<(), Error> {
        check_dns_label("track name", track, 63)?;
        check_dns_label("track ReplicaSet name", &self.track_replica_set(track), 63)
    }

    /// Creates a track's ReplicaSet, owned by the anchor, and records a
    /// `ScalingReplicaSet` Event.
    ///
    /// Idempotent: if the ReplicaSet exists with the same template hash it
    /// is returned as it is (its size untouched: scale it with
    /// [`scale_track`](Self::scale_track)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a bad track name; [`Error::NotFound`] when
    /// the anchor does not exist; [`Error::TrackTemplateMismatch`] when the
    /// ReplicaSet exists with another template; [`Error::Invalid`] when the
    /// API server refuses the template (nothing is stored);
    /// [`Error::Forbidden`], [`Error::NamespaceNotFound`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps, set: engine_ops_k8s::manifest::BlueGreenSet)
    /// # -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use engine_ops_k8s::cluster::TrackSpec;
    ///
    /// let spec = TrackSpec::from_pod_template("green", &set.pod_template, 3).revision(2);
    /// let green = ops.create_track(&spec).await?;
    /// assert_eq!(green.replica_set, "shop-green");
    /// # Ok(()) }
    /// ```
    pub async fn create_track(&self, spec: &TrackSpec) -> Result<TrackStatus, Error> {
        self.check_track(&spec.name)?;
        let anchor = self.read_anchor_ref().await?;
        let owner = OwnerReference {
            api_version: anchor.api_version.clone().unwrap_or_default(),
            kind: anchor.kind.clone().unwrap_or_default(),
            name: anchor.name.clone().unwrap_or_default(),
            uid: anchor.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let rs = spec.replica_set(&self.app, &self.namespace, owner);
        let name = self.track_replica_set(&spec.name);
        let api = self.api::<ReplicaSet>();
        let params = PostParams {
            dry_run: false,
            field_manager: Some(self.manager.clone()),
        };
        let created = match api.create(&params, &rs).await {
            Ok(rs) => rs,
            Err(e) if error::is_code(&e, 409) => {
                let t = self.target("get", "ReplicaSet", &name);
                let existing = api.get(&name).await.map_err(|e| from_kube(e, t))?;
                let wanted = spec.template_hash();
                let found = TrackStatus::from_replica_set(&existing);
                return match found {
                    Some(s) if s.template_hash == wanted && s.name == spec.name => Ok(s),
                    other => Err(Error::TrackTemplateMismatch {
                        object: t.object(),
                        existing: other.map_or_else(|| "(none)".to_owned(), |s| s.template_hash),
                        wanted,
                    }),
                };
            }
            Err(e) => return Err(from_kube(e, self.target("create", "ReplicaSet", &name))),
        };
        let status = TrackStatus::from_replica_set(&created).ok_or_else(|| Error::Invalid {
            object: error::object("ReplicaSet", &self.namespace, &name),
            message: "the stored ReplicaSet lost its track labels".to_owned(),
        })?;
        self.emit(
            EventType::Normal,
            "ScalingReplicaSet",
            "CreateTrack",
            format!(
                "Created replica set {name} (track {}, revision {}, template {}) with {} replicas",
                spec.name,
                spec.revision
                    .map_or_else(|| "-".to_owned(), |r| r.to_string()),
                status.template_hash,
                spec.replicas
            ),
            Some(super::events::related(
                "ReplicaSet",
                "apps/v1",
                &created.metadata,
            )),
        )
        .await;
        Ok(status)
    }

    /// Sets a track's size (absolute, so repeating it changes nothing),
    /// and the sizing annotations when given, in one merge patch; records a
    /// `ScalingReplicaSet` Event.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the track does not exist (create it first),
    /// [`Error::Forbidden`], [`Error::Invalid`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let blue = ops.scale_track("blue", 0, None).await?;
    /// assert_eq!(blue.spec_replicas, 0);
    /// # Ok(()) }
    /// ```
    pub async fn scale_track(
        &self,
        track: &str,
        replicas: u32,
        sizing: Option<(u32, u32)>,
    ) -> Result<TrackStatus, Error> {
        self.check_track(track)?;
        let name = self.track_replica_set(track);
        let mut patch = json!({"spec": {"replicas": replicas}});
        if let Some((d, m)) = sizing {
            patch["metadata"] = json!({"annotations": {
                DESIRED_REPLICAS: d.to_string(), MAX_REPLICAS: m.to_string(),
            }});
        }
        let rs = self.patch_track(&name, &patch).await?;
        let status = self.track_status(&name, &rs)?;
        self.emit(
            EventType::Normal,
            "ScalingReplicaSet",
            "ScaleTrack",
            format!("Scaled replica set {name} to {replicas}"),
            Some(super::events::related(
                "ReplicaSet",
                "apps/v1",
                &rs.metadata,
            )),
        )
        .await;
        Ok(status)
    }

    /// Gives a track a new revision number ([`REVISION`]), as the
    /// Deployment controller renumbers a ReplicaSet whose template became
    /// current again (after an undo, or a rollback to it). Absolute, so
    /// repeating it changes nothing.
    ///
    /// # Errors
    ///
    /// As [`scale_track`](Self::scale_track).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// let blue = ops.set_track_revision("blue", 3).await?;
    /// assert_eq!(blue.revision, Some(3));
    /// # Ok(()) }
    /// ```
    pub async fn set_track_revision(
        &self,
        track: &str,
        revision: u64,
    ) -> Result<TrackStatus, Error> {
        self.check_track(track)?;
        let name = self.track_replica_set(track);
        let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
        let rs = self.patch_track(&name, &patch).await?;
        self.track_status(&name, &rs)
    }

    /// Records (or with `None` clears) when a track is due to be scaled to
    /// zero ([`SCALE_DOWN_AT`]), visible to `kubectl` and to a restarted
    /// driver; records a `ScheduledScaleDown` Event.
    ///
    /// # Errors
    ///
    /// As [`scale_track`](Self::scale_track).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use k8s_openapi::jiff::{SignedDuration, Timestamp};
    ///
    /// let at = Timestamp::now() + SignedDuration::from_secs(30);
    /// let blue = ops.schedule_scale_down("blue", Some(at)).await?;
    /// assert!(blue.scale_down_at.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn schedule_scale_down(
        &self,
        track: &str,
        at: Option<Timestamp>,
    ) -> Result<TrackStatus, Error> {
        self.check_track(track)?;
        let name = self.track_replica_set(track);
        let value = at.map(|t| t.to_string());
        let patch = json!({"metadata": {"annotations": {SCALE_DOWN_AT: value}}});
        let rs = self.patch_track(&name, &patch).await?;
        let status = self.track_status(&name, &rs)?;
        let message = match at {
            Some(t) => format!("Replica set {name} scales down to 0 at {t}"),
            None => format!("Replica set {name} no longer scheduled to scale down"),
        };
        self.emit(
            EventType::Normal,
            "ScheduledScaleDown",
            "ScheduleScaleDown",
            message,
            Some(super::events::related(
                "ReplicaSet",
                "apps/v1",
                &rs.metadata,
            )),
        )
        .await;
        Ok(status)
    }

    /// Deletes a track's ReplicaSet (its pods follow, by garbage
    /// collection). Returns whether it existed; deleting a missing track
    /// is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] and the other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// ops.delete_track("blue").await?;
    /// assert!(!ops.delete_track("blue").await?); // already gone
    /// # Ok(()) }
    /// ```
    pub async fn delete_track(&self, track: &str) -> Result<bool, Error> {
        self.check_track(track)?;
        let name = self.track_replica_set(track);
        let api = self.api::<ReplicaSet>();
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if error::is_code(&e, 404) => return Ok(false),
            Err(e) => return Err(from_kube(e, self.target("delete", "ReplicaSet", &name))),
        }
        self.emit(
            EventType::Normal,
            "DeletedReplicaSet",
            "DeleteTrack",
            format!("Deleted replica set {name} (track {track})"),
            None,
        )
        .await;
        Ok(true)
    }

    /// One track, or `None` when it does not exist (one request).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the ReplicaSet exists but is not a track of
    /// this app; [`Error::Forbidden`] and the other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// if let Some(green) = ops.track("green").await? {
    ///     println!("green: {}/{} available", green.available, green.spec_replicas);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn track(&self, track: &str) -> Result<Option<TrackStatus>, Error> {
        self.check_track(track)?;
        let name = self.track_replica_set(track);
        let found = self
            .api::<ReplicaSet>()
            .get_opt(&name)
            .await
            .map_err(|e| from_kube(e, self.target("get", "ReplicaSet", &name)))?;
        found.map(|rs| self.track_status(&name, &rs)).transpose()
    }

    /// Every track of the app (its ReplicaSets with a template hash), oldest
    /// first, in one list request.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], [`Error::NamespaceNotFound`] and the other
    /// request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// for t in ops.tracks().await? {
    ///     println!("{} {}/{} available", t.name, t.available, t.spec_replicas);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn tracks(&self) -> Result<Vec<TrackStatus>, Error> {
        let params = ListParams::default().labels(&self.track_selector());
        let list = self
            .api::<ReplicaSet>()
            .list(&params)
            .await
            .map_err(|e| from_kube(e, self.target("list", "ReplicaSet", "")))?;
        Ok(sort_tracks(
            list.items.iter().filter_map(TrackStatus::from_replica_set),
        ))
    }

    /// The label selector of the app's tracks.
    pub(crate) fn track_selector(&self) -> String {
        format!("{INSTANCE}={},{TEMPLATE_HASH}", self.app)
    }

    async fn patch_track(
        &self,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<ReplicaSet, Error> {
        let params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..PatchParams::default()
        };
        self.api::<ReplicaSet>()
            .patch(name, &params, &Patch::Merge(patch))
            .await
            .map_err(
                |e| match from_kube(e, self.target("patch", "ReplicaSet", name)) {
                    Error::NotFound { object, .. } => Error::NotFound {
                        object,
                        hint: "the track does not exist; create it first".to_owned(),
                    },
                    other => other,
                },
            )
    }

    fn track_status(&self, name: &str, rs: &ReplicaSet) -> Result<TrackStatus, Error> {
        TrackStatus::from_replica_set(rs).ok_or_else(|| Error::NotFound {
            object: error::object("ReplicaSet", &self.namespace, name),
            hint: "it is not a track of this app (no track or template-hash label)".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cluster::mock;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use serde_json::Value;

    fn template() -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app.kubernetes.io/instance": "shop"}},
            "spec": {"containers": [{"name": "app", "image": "shop@sha256:1"}]},
        }))
        .unwrap()
    }

    fn stored(body: &Value) -> Value {
        let mut b = body.clone();
        b["metadata"]["resourceVersion"] = json!("20");
        b["metadata"]["generation"] = json!(1);
        b
    }

    #[tokio::test]
    async fn create_track_posts_an_owned_labelled_replica_set() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let spec = TrackSpec::new("green", template(), 3)
            .revision(2)
            .sizing(3, 4)
            .min_ready_seconds(5);
        let hash = spec.template_hash();
        let task = tokio::spawn(async move { ops.create_track(&spec).await });

        let get = mock::next(&mut server).await;
        get.expect("GET", "/api/v1/namespaces/prod/podtemplates/shop");
        get.ok(&mock::anchor("prod", "shop"));

        let post = mock::next(&mut server).await;
        post.expect("POST", "/apis/apps/v1/namespaces/prod/replicasets");
        assert_eq!(
            post.query.get("fieldManager").map(String::as_str),
            Some("engine-ops")
        );
        let b = &post.body;
        assert_eq!(b["metadata"]["name"], "shop-green");
        let owner = &b["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                &owner["kind"],
                &owner["name"],
                &owner["uid"],
                &owner["controller"]
            ),
            (
                &json!("PodTemplate"),
                &json!("shop"),
                &json!("anchor-uid"),
                &json!(true)
            )
        );
        let want = json!({"app.kubernetes.io/instance": "shop", "engine-ops.io/track": "green"});
        assert_eq!(b["spec"]["selector"]["matchLabels"], want);
        let pod_labels = &b["spec"]["template"]["metadata"]["labels"];
        assert_eq!(pod_labels["engine-ops.io/track"], "green");
        assert_eq!(pod_labels[TEMPLATE_HASH], json!(hash));
        assert_eq!(b["metadata"]["labels"][TEMPLATE_HASH], json!(hash));
        assert_eq!(b["metadata"]["annotations"][REVISION], "2");
        assert_eq!(b["metadata"]["annotations"][DESIRED_REPLICAS], "3");
        assert_eq!(b["metadata"]["annotations"][MAX_REPLICAS], "4");
        assert_eq!(
            (
                b["spec"]["replicas"].as_i64(),
                b["spec"]["minReadySeconds"].as_i64()
            ),
            (Some(3), Some(5))
        );
        let reply = stored(b);
        post.reply(201, &reply);

        let status = task.await.unwrap().unwrap();
        assert_eq!(
            (status.name.as_str(), status.revision, status.spec_replicas),
            ("green", Some(2), 3)
        );
    }

    #[tokio::test]
    async fn create_track_again_returns_the_existing_one_or_refuses_another_template() {
        for (existing_hash, ok) in [(None, true), (Some("0123456789abcdef"), false)] {
            let (client, mut server) = mock::pair();
            let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
            let spec = TrackSpec::new("green", template(), 3);
            let task = tokio::spawn(async move { ops.create_track(&spec).await });
            mock::next(&mut server)
                .await
                .ok(&mock::anchor("prod", "shop"));
            let post = mock::next(&mut server).await;
            let mut existing = stored(&post.body);
            if let Some(h) = existing_hash {
                existing["metadata"]["labels"][TEMPLATE_HASH] = json!(h);
            }
            post.fail(
                409,
                "AlreadyExists",
                "replicasets.apps \"shop-green\" already exists",
            );
            let get = mock::next(&mut server).await;
            get.expect(
                "GET",
                "/apis/apps/v1/namespaces/prod/replicasets/shop-green",
            );
            get.ok(&existing);
            let r = task.await.unwrap();
            assert_eq!(r.is_ok(), ok, "{r:?}");
            if !ok {
                assert!(matches!(r, Err(Error::TrackTemplateMismatch { .. })));
            }
        }
    }

    #[tokio::test]
    async fn scale_is_one_merge_patch_with_the_field_manager() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task = tokio::spawn(async move { ops.scale_track("blue", 0, Some((3, 4))).await });
        let patch = mock::next(&mut server).await;
        patch.expect(
            "PATCH",
            "/apis/apps/v1/namespaces/prod/replicasets/shop-blue",
        );
        assert_eq!(
            patch.content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        assert_eq!(
            patch.query.get("fieldManager").map(String::as_str),
            Some("engine-ops")
        );
        assert_eq!(
            patch.body,
            json!({"spec": {"replicas": 0}, "metadata": {"annotations": {DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"}}})
        );
        let rs = json!({"metadata": {"name": "shop-blue", "generation": 2,
            "labels": {"engine-ops.io/track": "blue", TEMPLATE_HASH: "ab"}},
            "spec": {"replicas": 0, "selector": {}}, "status": {"replicas": 3, "observedGeneration": 1}});
        patch.ok(&rs);
        let s = task.await.unwrap().unwrap();
        assert!(s.status_stale());
        assert_eq!((s.spec_replicas, s.replicas), (0, 3));
    }

    #[tokio::test]
    async fn scaling_a_missing_track_says_to_create_it() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task = tokio::spawn(async move { ops.scale_track("blue", 2, None).await });
        mock::next(&mut server).await.fail(
            404,
            "NotFound",
            "replicasets.apps \"shop-blue\" not found",
        );
        let e = task.await.unwrap().unwrap_err();
        assert_eq!(
            e.to_string(),
            "ReplicaSet prod/shop-blue not found: the track does not exist; create it first"
        );
    }

    #[tokio::test]
    async fn delete_is_idempotent() {
        let (client, mut server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap().events(None);
        let task = tokio::spawn(async move { ops.delete_track("blue").await });
        let del = mock::next(&mut server).await;
        del.expect(
            "DELETE",
            "/apis/apps/v1/namespaces/prod/replicasets/shop-blue",
        );
        assert_eq!(del.body["propagationPolicy"], "Background");
        del.fail(404, "NotFound", "gone");
        assert!(!task.await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn bad_track_names_are_refused_before_any_request() {
        let (client, _server) = mock::pair();
        let ops = AppOps::new(client, "prod", "shop").unwrap();
        for bad in ["", "Green", "a_b", "-x", &"x".repeat(60)] {
            assert!(
                matches!(ops.check_track(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        ops.check_track("green").unwrap();
    }
}
