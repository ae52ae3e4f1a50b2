//! Differences between the Kubernetes versions k8s-openapi models, so that
//! the crate builds for every version the application picks:
//!
//! | field | up to | from |
//! |---|---|---|
//! | HorizontalPodAutoscaler `spec` | 1.35: `Option<T>` | 1.36: `T` |
//! | EndpointSlice `endpoints` | 1.35: `Vec<T>` | 1.36: `Option<Vec<T>>` |
//! | Deployment and ReplicaSet `spec` | 1.36: `Option<T>` | 1.37: `T` |
//! | Deployment condition `type`, `status` | 1.36: `String` | 1.37: `Option<String>` |

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};

k8s_openapi::k8s_if_ge_1_37! {
    /// The type of a Deployment's or ReplicaSet's `spec`.
    pub(crate) type Spec<T> = T;

    /// Wraps a Deployment or ReplicaSet spec for the object's field.
    pub(crate) fn spec<T>(s: T) -> Spec<T> {
        s
    }

    /// A Deployment's or ReplicaSet's spec, if present.
    pub(crate) fn spec_ref<T>(s: &Spec<T>) -> Option<&T> {
        Some(s)
    }

    /// A Deployment condition's `type` or `status` (empty if unset).
    pub(crate) fn text(s: &Option<String>) -> &str {
        s.as_deref().unwrap_or("")
    }
}

k8s_openapi::k8s_if_le_1_36! {
    /// The type of a Deployment's or ReplicaSet's `spec`.
    pub(crate) type Spec<T> = Option<T>;

    /// Wraps a Deployment or ReplicaSet spec for the object's field.
    pub(crate) fn spec<T>(s: T) -> Spec<T> {
        Some(s)
    }

    /// A Deployment's or ReplicaSet's spec, if present.
    pub(crate) fn spec_ref<T>(s: &Spec<T>) -> Option<&T> {
        s.as_ref()
    }

    /// A Deployment condition's `type` or `status`.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn text(s: &String) -> &str {
        s
    }
}

k8s_openapi::k8s_if_ge_1_36! {
    /// The type of a HorizontalPodAutoscaler's `spec`.
    pub(crate) type HpaSpec<T> = T;

    /// Wraps an autoscaler spec for the object's field.
    pub(crate) fn hpa_spec<T>(s: T) -> HpaSpec<T> {
        s
    }

    /// An autoscaler's spec, if present.
    pub(crate) fn hpa_spec_ref<T>(s: &HpaSpec<T>) -> Option<&T> {
        Some(s)
    }

    /// An EndpointSlice's endpoints.
    pub(crate) fn endpoints(s: &EndpointSlice) -> &[Endpoint] {
        s.endpoints.as_deref().unwrap_or_default()
    }
}

k8s_openapi::k8s_if_le_1_35! {
    /// The type of a HorizontalPodAutoscaler's `spec`.
    pub(crate) type HpaSpec<T> = Option<T>;

    /// Wraps an autoscaler spec for the object's field.
    pub(crate) fn hpa_spec<T>(s: T) -> HpaSpec<T> {
        Some(s)
    }

    /// An autoscaler's spec, if present.
    pub(crate) fn hpa_spec_ref<T>(s: &HpaSpec<T>) -> Option<&T> {
        s.as_ref()
    }

    /// An EndpointSlice's endpoints.
    pub(crate) fn endpoints(s: &EndpointSlice) -> &[Endpoint] {
        &s.endpoints
    }
}
