//! A track as observed: [`TrackStatus`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::jiff::Timestamp;

use super::spec::{DESIRED_REPLICAS, MAX_REPLICAS, REVISION, SCALE_DOWN_AT, TEMPLATE_HASH};
use crate::manifest::compat;
use crate::manifest::labels::TRACK;

fn to_u32(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// A track as observed: its ReplicaSet's spec, status and annotations.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::TrackStatus;
/// use k8s_openapi::api::apps::v1::ReplicaSet;
///
/// let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "shop-green", "generation": 3, "resourceVersion": "7",
///         "labels": {"engine-ops.io/track": "green", "engine-ops.io/template-hash": "00ff"},
///         "annotations": {"engine-ops.io/revision": "2"}},
///     "spec": {"replicas": 5, "selector": {}},
///     "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 2, "observedGeneration": 2},
/// }))?;
/// let t = TrackStatus::from_replica_set(&rs).expect("a track");
/// assert_eq!((t.name.as_str(), t.revision, t.spec_replicas, t.available), ("green", Some(2), 5, 2));
/// assert!(t.status_stale()); // the status predates the scale to 5
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackStatus {
    /// The track's name (`engine-ops.io/track`).
    pub name: String,
    /// The ReplicaSet's name.
    pub replica_set: String,
    /// [`REVISION`], if set.
    pub revision: Option<u64>,
    /// [`TEMPLATE_HASH`].
    pub template_hash: String,
    /// `spec.replicas`: the size last asked for.
    pub spec_replicas: u32,
    /// `status.replicas`: pods that exist.
    pub replicas: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    /// `status.availableReplicas` (ready for `minReadySeconds`).
    pub available: u32,
    /// `status.terminatingReplicas`, where the API server reports it.
    pub terminating: Option<u32>,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// [`DESIRED_REPLICAS`], if set.
    pub desired_replicas: Option<u32>,
    /// [`MAX_REPLICAS`], if set.
    pub max_replicas: Option<u32>,
    /// [`SCALE_DOWN_AT`], if set and readable.
    pub scale_down_at: Option<Timestamp>,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
    /// The ReplicaSet is being deleted.
    pub deleting: bool,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// Every annotation of the ReplicaSet.
    pub annotations: BTreeMap<String, String>,
}

impl TrackStatus {
    /// The status of a track's ReplicaSet, or `None` if `rs` is not one
    /// (no track or template-hash label).
    #[must_use]
    pub fn from_replica_set(rs: &ReplicaSet) -> Option<Self> {
        let meta = &rs.metadata;
        let labels = meta.labels.as_ref()?;
        let name = labels.get(TRACK)?.clone();
        let template_hash = labels.get(TEMPLATE_HASH)?.clone();
        let annotations = meta.annotations.clone().unwrap_or_default();
        let number = |k: &str| annotations.get(k).and_then(|v| v.parse::<u64>().ok());
        let spec = compat::spec_ref(&rs.spec);
        let status = rs.status.as_ref();
        Some(Self {
            name,
            replica_set: meta.name.clone().unwrap_or_default(),
            revision: number(REVISION),
            template_hash,
            spec_replicas: to_u32(spec.and_then(|s| s.replicas)),
            replicas: status.map_or(0, |s| to_u32(Some(s.replicas))),
            ready: to_u32(status.and_then(|s| s.ready_replicas)),
            available: to_u32(status.and_then(|s| s.available_replicas)),
            terminating: status
                .and_then(|s| s.terminating_replicas)
                .map(|n| to_u32(Some(n))),
            generation: meta.generation.unwrap_or(0),
            observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
            desired_replicas: number(DESIRED_REPLICAS).and_then(|n| u32::try_from(n).ok()),
            max_replicas: number(MAX_REPLICAS).and_then(|n| u32::try_from(n).ok()),
            scale_down_at: annotations.get(SCALE_DOWN_AT).and_then(|v| v.parse().ok()),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            deleting: meta.deletion_timestamp.is_some(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            annotations,
        })
    }

    /// Whether the status is older than the spec (`observedGeneration`
    /// below `generation`): its counts may not reflect the last scale.
    #[must_use]
    pub fn status_stale(&self) -> bool {
        self.observed_generation < self.generation
    }
}

/// Tracks oldest first (creation time, then name).
pub(crate) fn sort_tracks(tracks: impl Iterator<Item = TrackStatus>) -> Vec<TrackStatus> {
    let mut v: Vec<TrackStatus> = tracks.collect();
    v.sort_by(|a, b| (a.created, &a.replica_set).cmp(&(b.created, &b.replica_set)));
    v
}
