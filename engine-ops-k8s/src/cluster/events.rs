//! Kubernetes Events about the app, recorded on its anchor as the Deployment
//! controller records them on a Deployment.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::events::{Event, EventType};

use super::app_ops::AppOps;
use super::error::{Error, from_kube};

/// A reference to a touched object, for an Event's `related` field.
pub(crate) fn related(kind: &str, api_version: &str, meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: None,
        field_path: None,
    }
}

impl AppOps {
    /// Records a Kubernetes Event about the app (on its anchor object, so
    /// `kubectl describe` and `kubectl events` show it), e.g. the driver's
    /// `RolloutAborted`. `reason` is a short CamelCase word, `message` a
    /// sentence; repeats of one event are folded into a series.
    ///
    /// Does nothing when Events are disabled ([`AppOps::events`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the anchor does not exist,
    /// [`Error::Forbidden`] without the right to create events, and the
    /// other request errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(ops: engine_ops_k8s::cluster::AppOps) -> Result<(), engine_ops_k8s::cluster::Error> {
    /// use engine_ops_k8s::cluster::EventType;
    ///
    /// ops.record_event(EventType::Warning, "RolloutAborted", "post-promotion check failed: traffic is back on blue")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn record_event(
        &self,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        self.publish(kind, reason, reason, message.to_owned(), None)
            .await
    }

    /// Records an Event about an operation that already succeeded: a failure
    /// to record it is logged, not returned (the operation's effect stands,
    /// as with the Deployment controller's event broadcaster).
    pub(crate) async fn emit(
        &self,
        kind: EventType,
        reason: &str,
        action: &str,
        message: String,
        related: Option<ObjectReference>,
    ) {
        if let Err(e) = self.publish(kind, reason, action, message, related).await {
            tracing::warn!(app = %self.app, namespace = %self.namespace, reason, error = %e, "event not recorded");
        }
    }

    async fn publish(
        &self,
        kind: EventType,
        reason: &str,
        action: &str,
        message: String,
        related: Option<ObjectReference>,
    ) -> Result<(), Error> {
        let Some(recorder) = &self.recorder else {
            return Ok(());
        };
        let regarding = self.anchor_ref().await?;
        let event = Event {
            type_: kind,
            reason: reason.to_owned(),
            note: Some(message),
            action: action.to_owned(),
            secondary: related,
        };
        recorder
            .publish(&event, &regarding)
            .await
            .map_err(|e| from_kube(e, self.target("create", "Event", "")))
    }
}
