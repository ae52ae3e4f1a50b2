use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use tower_layer::Layer;

use super::service::{RouteVersions, Served};
use crate::version::Version;

/// The versions one route is served at, as a layer for that route. Build
/// it with [`Policy::route_since`](crate::Policy::route_since),
/// [`Policy::route_before`](crate::Policy::route_before) or
/// [`Policy::route_only`](crate::Policy::route_only); see the
/// [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct RouteVersionsLayer {
    pub(crate) inner: Arc<Served>,
}

impl fmt::Debug for RouteVersionsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteVersionsLayer")
            .field("versions", &self.inner.versions)
            .finish()
    }
}

impl RouteVersionsLayer {
    pub(crate) fn new(versions: Vec<Version>, description: String) -> Self {
        let list = versions
            .iter()
            .map(Version::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        RouteVersionsLayer {
            inner: Arc::new(Served {
                header: HeaderValue::from_str(&list).unwrap_or(HeaderValue::from_static("")),
                versions: versions.into(),
                description,
            }),
        }
    }

    /// The versions the route is served at, ascending.
    #[must_use]
    pub fn versions(&self) -> &[Version] {
        &self.inner.versions
    }
}

impl<S> Layer<S> for RouteVersionsLayer {
    type Service = RouteVersions<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteVersions {
            inner,
            served: Arc::clone(&self.inner),
        }
    }
}
