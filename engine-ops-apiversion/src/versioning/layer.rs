use tower_layer::Layer;

use super::ApiVersion;
#[cfg(feature = "transform")]
use crate::error::ConfigError;
use crate::policy::Policy;
use crate::policy::compiled::SourceConfig;

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

    /// This layer with `changes` applied inside it: one layer that
    /// negotiates, then migrates, in the only order that works
    /// (`ApiVersion<Transform<S>>`). The one way to wire both.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ChangesForAnotherPolicy`]
    /// when `changes` were built for a policy with other versions.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::transform::{Change, Changes};
    /// use engine_ops_apiversion::{ApiVersionLayer, Policy, Scheme, Version};
    /// use tower::Layer;
    ///
    /// let policy = Policy::builder(Scheme::Integer)
    ///     .version(Version::int(1))
    ///     .version(Version::int(2))
    ///     .path_source("/api")
    ///     .build()?;
    /// let changes = Changes::builder(&policy)
    ///     .change(Change::new(Version::int(2), "`name` became `full_name`").renamed("/name", "full_name"))
    ///     .build()?;
    /// let router: axum::Router = axum::Router::new().route("/api/users", axum::routing::get(|| async { "[]" }));
    /// let app = ApiVersionLayer::new(policy).with_changes(changes)?.layer(router);
    /// # let _ = app;
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    #[cfg(feature = "transform")]
    pub fn with_changes(
        self,
        changes: crate::transform::Changes,
    ) -> Result<tower_layer::Stack<crate::transform::TransformLayer, ApiVersionLayer>, ConfigError>
    {
        if !changes.policy().versions().eq(self.policy.versions()) {
            return Err(ConfigError::ChangesForAnotherPolicy {
                policy: self.policy.versions().map(|v| v.to_string()).collect(),
                changes: changes.policy().versions().map(|v| v.to_string()).collect(),
            });
        }
        Ok(tower_layer::Stack::new(
            crate::transform::TransformLayer::new(changes),
            self,
        ))
    }
}

/// Refuses the wiring that would silently answer 404 to every
/// path-versioned request: this layer on an axum route (`Router::layer`,
/// `route_layer`, `MethodRouter::layer`), which runs after routing, when
/// `/api/v1/users` has already failed to match `/api/users`. axum applies
/// such a layer to each route while the router is built, so this panics
/// there, at start-up. Recognised by the service's type name (axum's
/// `Route`), so only where that name says so.
fn check_placement<S>(policy: &Policy, rewrite_path: bool) {
    let has_path_source = policy
        .inner
        .sources
        .iter()
        .any(|s| matches!(s, SourceConfig::Path { .. }));
    if rewrite_path && has_path_source && is_axum_route(std::any::type_name::<S>()) {
        panic!(
            "ApiVersionLayer was added to an axum route (Router::layer, Router::route_layer or MethodRouter::layer). \
             axum runs those after routing, so a path carrying a version (/api/v1/...) never matches a route and answers 404. \
             Wrap the whole router instead: `let app = ApiVersionLayer::new(policy).layer(router);` and serve `app` \
             (or turn path rewriting off if versions never appear in paths)."
        );
    }
}

/// Whether a type name is axum's per-route service type, `Route<E>`.
fn is_axum_route(name: &str) -> bool {
    name.strip_prefix("axum::routing::route::Route")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('<'))
}

impl<S> Layer<S> for ApiVersionLayer {
    type Service = ApiVersion<S>;

    fn layer(&self, inner: S) -> Self::Service {
        check_placement::<S>(&self.policy, self.rewrite_path);
        ApiVersion::new(inner, self.policy.clone()).rewrite_path(self.rewrite_path)
    }
}
