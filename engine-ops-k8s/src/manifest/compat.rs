//! Differences between the Kubernetes versions k8s-openapi models: from
//! 1.37 the `spec` of a Deployment, ReplicaSet and HorizontalPodAutoscaler
//! is required (`T`), before it is optional (`Option<T>`); and a
//! Deployment condition's `type` and `status` become optional. The rest of
//! the crate goes through these helpers so that it builds for every
//! version the application picks.

k8s_openapi::k8s_if_ge_1_37! {
    /// The type of a required-from-1.37 `spec`.
    pub(crate) type Spec<T> = T;

    /// Wraps a spec for the object's field.
    pub(crate) fn spec<T>(s: T) -> Spec<T> {
        s
    }

    /// The spec, if present.
    pub(crate) fn spec_ref<T>(s: &Spec<T>) -> Option<&T> {
        Some(s)
    }

    /// A Deployment condition's `type` or `status` (empty if unset).
    pub(crate) fn text(s: &Option<String>) -> &str {
        s.as_deref().unwrap_or("")
    }
}

k8s_openapi::k8s_if_le_1_36! {
    /// The type of a required-from-1.37 `spec`.
    pub(crate) type Spec<T> = Option<T>;

    /// Wraps a spec for the object's field.
    pub(crate) fn spec<T>(s: T) -> Spec<T> {
        Some(s)
    }

    /// The spec, if present.
    pub(crate) fn spec_ref<T>(s: &Spec<T>) -> Option<&T> {
        s.as_ref()
    }

    /// A Deployment condition's `type` or `status`.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn text(s: &String) -> &str {
        s
    }
}
