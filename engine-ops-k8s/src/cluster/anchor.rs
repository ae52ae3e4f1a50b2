//! [`Anchor`]: which object of an application holds its rollout state and
//! owns its tracks.

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::ApiResource;

/// The object of an application that holds its rollout state and owns its
/// tracks: deleting it deletes the tracks (garbage collection).
///
/// By default the blue-green set's `PodTemplate` named like the app; a
/// rolling app uses its `Deployment`; any namespaced kind can serve.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::cluster::Anchor;
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// let bg = Anchor::pod_template();
/// assert_eq!(bg.kind(), "PodTemplate");
/// let custom = Anchor::of::<ConfigMap>("shop-rollout");
/// assert_eq!(custom.name("shop"), "shop-rollout");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub(super) resource: ApiResource,
    name: Option<String>,
}

impl Anchor {
    /// The `v1 PodTemplate` named like the app (the blue-green set's).
    #[must_use]
    pub fn pod_template() -> Self {
        Self {
            resource: ApiResource::erase::<k8s_openapi::api::core::v1::PodTemplate>(&()),
            name: None,
        }
    }

    /// The `apps/v1 Deployment` named like the app (the rolling set's).
    #[must_use]
    pub fn deployment() -> Self {
        Self {
            resource: ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
            name: None,
        }
    }

    /// An object of kind `K` named `name`.
    #[must_use]
    pub fn of<K>(name: impl Into<String>) -> Self
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Self {
            resource: ApiResource::erase::<K>(&()),
            name: Some(name.into()),
        }
    }

    /// The anchor's kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.resource.kind
    }

    /// The anchor's name for the app `app`.
    #[must_use]
    pub fn name<'a>(&'a self, app: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(app)
    }
}
