//! [`AppSnapshot`]: what one look at an app shows (tracks, Services,
//! Deployments, the stored state), built from watched or listed objects
//! without a request.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::DynamicObject;

use super::rolling::DeploymentRollout;
use super::state::StoredState;
use super::track::{TrackStatus, sort_tracks};
use super::traffic::ServiceStatus;

/// What an [`AppWatch`](super::AppWatch) or
/// [`AppOps::snapshot`](super::AppOps::snapshot) saw of the app.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AppSnapshot {
    /// The tracks, oldest first.
    pub tracks: Vec<TrackStatus>,
    /// The app's Services (labelled `app.kubernetes.io/instance: <app>`),
    /// by name.
    pub services: Vec<ServiceStatus>,
    /// The app's Deployments, judged with no generation floor.
    pub deployments: Vec<DeploymentRollout>,
    /// The rollout state in the anchor; `None` when the anchor does not
    /// exist.
    pub state: Option<StoredState>,
}

impl AppSnapshot {
    /// The track named `name`.
    #[must_use]
    pub fn track(&self, name: &str) -> Option<&TrackStatus> {
        self.tracks.iter().find(|t| t.name == name)
    }

    /// The Service named `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&ServiceStatus> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The Deployment named `name`.
    #[must_use]
    pub fn deployment(&self, name: &str) -> Option<&DeploymentRollout> {
        self.deployments.iter().find(|d| d.name == name)
    }

    pub(super) fn build<'a>(
        app: &str,
        anchor_object: &str,
        replica_sets: impl Iterator<Item = &'a ReplicaSet>,
        services: impl Iterator<Item = &'a Service>,
        deployments: impl Iterator<Item = &'a Deployment>,
        anchor: Option<&DynamicObject>,
    ) -> Self {
        Self {
            tracks: sort_tracks(replica_sets.filter_map(TrackStatus::from_replica_set)),
            services: services
                .map(|s| ServiceStatus::from_service(s, app))
                .collect(),
            deployments: deployments
                .map(|d| DeploymentRollout::from_deployment(d, None))
                .collect(),
            state: anchor.map(|a| StoredState::from_meta(anchor_object, &a.metadata)),
        }
    }
}
