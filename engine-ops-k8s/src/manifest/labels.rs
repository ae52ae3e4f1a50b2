//! Labels and annotations: the Kubernetes recommended labels
//! (`app.kubernetes.io/*`) plus the track label of engine-ops.
//!
//! Selectors use exactly two keys: [`INSTANCE`] (the application's name,
//! unique within a namespace) and [`TRACK`] (`rolling`, `blue` or `green`).
//! Two selectors of one namespace can therefore select a common pod only if
//! they belong to the same application *and* the same track: the rolling
//! Deployment never adopts a blue or green pod, and two applications never
//! see each other's pods.

use std::collections::BTreeMap;

/// `app.kubernetes.io/name`: the application's name.
pub const NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the application's name, unique in its
/// namespace; one of the two selector keys.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/version`: the version the caller gave (never in a
/// selector).
pub const VERSION: &str = "app.kubernetes.io/version";
/// `app.kubernetes.io/component`.
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// `app.kubernetes.io/part-of`.
pub const PART_OF: &str = "app.kubernetes.io/part-of";
/// `app.kubernetes.io/managed-by`: always [`MANAGER`].
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`] (also the field manager engine-ops applies with).
pub const MANAGER: &str = "engine-ops";
/// `engine-ops.io/track`: which track a pod belongs to; the second selector key.
pub const TRACK: &str = "engine-ops.io/track";
/// The [`TRACK`] value of the pods of a rolling Deployment.
pub const ROLLING_TRACK: &str = "rolling";
/// Pod-template annotation: hex SHA-256 of the configuration data, so that
/// a configuration change changes the template and rolls the pods.
pub const CONFIG_CHECKSUM: &str = "engine-ops.io/config-sha256";
/// Pod-template annotation recording that a mutable image tag was accepted
/// on purpose (`allowed`).
pub const MUTABLE_IMAGE: &str = "engine-ops.io/mutable-image";
/// `kubernetes.io/change-cause`: shown by `kubectl rollout history`.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// Annotation on the blue-green PodTemplate: the fixed replica count of a
/// track (absent when an autoscaler owns the count).
pub const REPLICAS: &str = "engine-ops.io/replicas";

/// Whether `key` is one that engine-ops sets itself.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.starts_with("app.kubernetes.io/") || key.starts_with("engine-ops.io/")
}

/// Whether two `matchLabels` selectors can both select one pod: they can
/// unless some key they share has different values.
#[must_use]
pub fn selectors_overlap(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.iter().all(|(k, v)| b.get(k).is_none_or(|w| w == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn overlap() {
        let app = sel(&[("app", "engine-ops")]);
        let blue = sel(&[(INSTANCE, "shop"), (TRACK, "blue")]);
        let green = sel(&[(INSTANCE, "shop"), (TRACK, "green")]);
        let other = sel(&[(INSTANCE, "cart"), (TRACK, "blue")]);
        // The original's `app: engine-ops` matched the blue pods too.
        assert!(selectors_overlap(
            &app,
            &sel(&[("app", "engine-ops"), ("color", "blue")])
        ));
        assert!(!selectors_overlap(&blue, &green));
        assert!(!selectors_overlap(&blue, &other));
        assert!(selectors_overlap(&blue, &blue));
        assert!(selectors_overlap(&sel(&[(INSTANCE, "shop")]), &blue));
    }
}
