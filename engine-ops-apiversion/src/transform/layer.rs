use tower_layer::Layer;

use super::{Changes, Transform};

/// Applies a [`Changes`] set to request and response bodies. See the
/// [module docs](super).
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::{Changes, TransformLayer};
/// use engine_ops_apiversion::{ApiVersionLayer, Policy, Scheme, Version};
/// use tower::ServiceBuilder;
///
/// let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
/// let changes = Changes::builder(&policy).build()?;
/// let stack = ServiceBuilder::new()
///     .layer(ApiVersionLayer::new(policy))
///     .layer(TransformLayer::new(changes));
/// # let _ = stack;
/// # Ok::<(), engine_ops_apiversion::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TransformLayer {
    changes: Changes,
}

impl TransformLayer {
    /// A layer applying `changes`.
    pub fn new(changes: Changes) -> Self {
        TransformLayer { changes }
    }
}

impl<S> Layer<S> for TransformLayer {
    type Service = Transform<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Transform::new(inner, self.changes.clone())
    }
}
