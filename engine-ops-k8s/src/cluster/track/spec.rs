//! What a track's ReplicaSet should hold: [`TrackSpec`], [`template_hash`]
//! and the labels and annotations engine-ops puts on it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{PodTemplate, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use sha2::{Digest as _, Sha256};

use crate::manifest::compat;
use crate::manifest::labels::{INSTANCE, REPLICAS, TRACK};

/// ReplicaSet and pod label: the [`template_hash`] of the track's pod
/// template (equal for two tracks running the same template).
pub const TEMPLATE_HASH: &str = "engine-ops.io/template-hash";
/// ReplicaSet annotation: the track's revision number.
pub const REVISION: &str = "engine-ops.io/revision";
/// ReplicaSet annotation: the rollout's desired replica count when the
/// track was last sized (as the Deployment controller's
/// `deployment.kubernetes.io/desired-replicas`).
pub const DESIRED_REPLICAS: &str = "engine-ops.io/desired-replicas";
/// ReplicaSet annotation: desired replicas plus the surge when the track was
/// last sized (as `deployment.kubernetes.io/max-replicas`).
pub const MAX_REPLICAS: &str = "engine-ops.io/max-replicas";
/// ReplicaSet annotation: when the track is due to be scaled to zero
/// (RFC 3339), as Argo Rollouts' `scale-down-deadline`.
pub const SCALE_DOWN_AT: &str = "engine-ops.io/scale-down-at";

/// Hex characters of SHA-256 kept in a template hash.
const HASH_LEN: usize = 16;

/// The hash of a pod template: the first 16 hex digits of the SHA-256 of
/// its JSON, without the track and template-hash labels, so that the same
/// template on two tracks hashes alike (a rollback to it is recognisable).
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::template_hash;
/// use k8s_openapi::api::core::v1::PodTemplateSpec;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
///
/// let mut blue = PodTemplateSpec::default();
/// let mut green = blue.clone();
/// green.metadata = Some(ObjectMeta {
///     labels: Some([("engine-ops.io/track".to_owned(), "green".to_owned())].into()),
///     ..Default::default()
/// });
/// assert_eq!(template_hash(&blue), template_hash(&green));
/// blue.metadata = Some(ObjectMeta {
///     labels: Some([("version".to_owned(), "2".to_owned())].into()),
///     ..Default::default()
/// });
/// assert_ne!(template_hash(&blue), template_hash(&green));
/// assert_eq!(template_hash(&blue).len(), 16);
/// ```
#[must_use]
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let mut t = template.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(labels) = m.labels.as_mut() {
            labels.remove(TRACK);
            labels.remove(TEMPLATE_HASH);
        }
        if m.labels.as_ref().is_some_and(BTreeMap::is_empty) {
            m.labels = None;
        }
    }
    if t.metadata
        .as_ref()
        .is_some_and(|m| *m == ObjectMeta::default())
    {
        t.metadata = None;
    }
    // k8s-openapi serialises fields in a fixed order and maps sorted.
    let bytes = serde_json::to_vec(&t).unwrap_or_default();
    let mut h = hex::encode(Sha256::digest(&bytes));
    h.truncate(HASH_LEN);
    h
}

/// What a track's ReplicaSet should hold, for [`AppOps::create_track`](crate::cluster::AppOps::create_track).
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::TrackSpec;
/// use engine_ops_k8s::manifest::{App, BlueGreen, Port, Probe, Track};
///
/// let app = App::builder("shop", "prod", format!("shop@sha256:{}", "0".repeat(64)))
///     .port(Port::new("http", 8080))
///     .readiness(Probe::http("/ready"))
///     .replicas(3)
///     .build()?;
/// let set = BlueGreen::new(Track::Blue).render(&app)?;
/// let green = TrackSpec::from_pod_template("green", &set.pod_template, 3)
///     .revision(2)
///     .sizing(3, 3);
/// assert_eq!(green.name(), "green");
/// # Ok::<(), engine_ops_k8s::manifest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct TrackSpec {
    pub(super) name: String,
    template: PodTemplateSpec,
    pub(super) replicas: u32,
    pub(super) revision: Option<u64>,
    min_ready_seconds: u32,
    sizing: Option<(u32, u32)>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl TrackSpec {
    /// Track `name` (the `engine-ops.io/track` label value, a DNS label)
    /// running `template` with `replicas` pods.
    pub fn new(name: impl Into<String>, template: PodTemplateSpec, replicas: u32) -> Self {
        Self {
            name: name.into(),
            template,
            replicas,
            revision: None,
            min_ready_seconds: 0,
            sizing: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Track `name` from a `v1 PodTemplate` object (the blue-green set's):
    /// its template, and its labels and annotations on the ReplicaSet
    /// (without the fixed replica count annotation, which the track's size
    /// replaces).
    pub fn from_pod_template(
        name: impl Into<String>,
        pod_template: &PodTemplate,
        replicas: u32,
    ) -> Self {
        let mut s = Self::new(
            name,
            pod_template.template.clone().unwrap_or_default(),
            replicas,
        );
        s.labels = pod_template.metadata.labels.clone().unwrap_or_default();
        s.annotations = pod_template
            .metadata
            .annotations
            .clone()
            .unwrap_or_default();
        s.annotations.remove(REPLICAS);
        s
    }

    /// The track's revision ([`REVISION`] annotation).
    pub fn revision(mut self, revision: u64) -> Self {
        self.revision = Some(revision);
        self
    }

    /// Seconds a pod must be ready to count as available.
    pub fn min_ready_seconds(mut self, seconds: u32) -> Self {
        self.min_ready_seconds = seconds;
        self
    }

    /// The [`DESIRED_REPLICAS`] and [`MAX_REPLICAS`] annotations.
    pub fn sizing(mut self, desired: u32, max: u32) -> Self {
        self.sizing = Some((desired, max));
        self
    }

    /// An extra annotation on the ReplicaSet (e.g. the driver's own track
    /// id).
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The track's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pod template's [`template_hash`].
    #[must_use]
    pub fn template_hash(&self) -> String {
        template_hash(&self.template)
    }

    /// The ReplicaSet this spec gives for `app`, owned by `owner`.
    pub(super) fn replica_set(
        &self,
        app: &str,
        namespace: &str,
        owner: OwnerReference,
    ) -> ReplicaSet {
        let hash = self.template_hash();
        let selector = BTreeMap::from([
            (INSTANCE.to_owned(), app.to_owned()),
            (TRACK.to_owned(), self.name.clone()),
        ]);
        let mut template = self.template.clone();
        let pod_labels = template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        pod_labels.extend(selector.clone());
        pod_labels.insert(TEMPLATE_HASH.to_owned(), hash.clone());
        let mut labels = self.labels.clone();
        labels.extend(selector.clone());
        labels.insert(TEMPLATE_HASH.to_owned(), hash);
        let mut annotations = self.annotations.clone();
        if let Some(r) = self.revision {
            annotations.insert(REVISION.to_owned(), r.to_string());
        }
        if let Some((d, m)) = self.sizing {
            annotations.insert(DESIRED_REPLICAS.to_owned(), d.to_string());
            annotations.insert(MAX_REPLICAS.to_owned(), m.to_string());
        }
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{app}-{}", self.name)),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                annotations: Some(annotations),
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
            spec: compat::spec(ReplicaSetSpec {
                replicas: Some(to_i32(self.replicas)),
                min_ready_seconds: Some(to_i32(self.min_ready_seconds)),
                selector: LabelSelector {
                    match_labels: Some(selector),
                    match_expressions: None,
                },
                template: Some(template),
            }),
            status: None,
        }
    }
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
