use tower_layer::Layer;

use super::ApiVersion;
use crate::Policy;

/// Applies API version negotiation to a service. See the [module docs](super).
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{ApiVersionLayer, Policy, Scheme, Version};
///
/// let policy = Policy::builder(Scheme::Integer).version(Version::int(1)).header_source().build()?;
/// let layer = ApiVersionLayer::new(policy).rewrite_path(false);
/// # let _ = layer;
/// # Ok::<(), engine_ops_apiversion::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiVersionLayer {
    policy: Policy,
    rewrite_path: bool,
}

impl ApiVersionLayer {
    /// A layer enforcing `policy`, with path rewriting on.
    pub fn new(policy: Policy) -> Self {
        ApiVersionLayer {
            policy,
            rewrite_path: true,
        }
    }

    /// Whether to strip the version segment from the path before calling the
    /// inner service (on by default; it only matters with a path source).
    pub fn rewrite_path(mut self, rewrite: bool) -> Self {
        self.rewrite_path = rewrite;
        self
    }

    /// The policy, e.g. to read [`Policy::usage`].
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl<S> Layer<S> for ApiVersionLayer {
    type Service = ApiVersion<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiVersion::new(inner, self.policy.clone()).rewrite_path(self.rewrite_path)
    }
}
