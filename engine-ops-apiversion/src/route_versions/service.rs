use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use super::ResponseFuture;
use crate::body::VersionedBody;
use crate::headers::RouteSupported;
use crate::macros::inner_service_accessors;
use crate::problem::{self, ProblemKind, echo};
use crate::resolution::Resolution;
use crate::version::Version;

/// What a route serves, precomputed.
pub(crate) struct Served {
    /// Ascending, all declared by the policy.
    pub(crate) versions: Box<[Version]>,
    /// `api-supported-versions` for this route.
    pub(crate) header: HeaderValue,
    /// For problems: "from 2 on", "before 2", "at 1, 3".
    pub(crate) description: String,
}

/// The per-route check. See the [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct RouteVersions<S> {
    pub(super) inner: S,
    pub(super) served: Arc<Served>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RouteVersions<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteVersions")
            .field("inner", &self.inner)
            .field("versions", &self.served.versions)
            .finish()
    }
}

impl<S> RouteVersions<S> {
    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RouteVersions<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<VersionedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let supported = RouteSupported(self.served.header.clone());
        match request.extensions().get::<Resolution>() {
            Some(resolution)
                if resolution.is_neutral()
                    || self.served.versions.contains(&resolution.version()) =>
            {
                ResponseFuture::inner(self.inner.call(request), supported)
            }
            Some(resolution) => {
                let mut response =
                    not_in_version(&self.served, resolution.version(), request.uri().path());
                response.extensions_mut().insert(supported);
                ResponseFuture::ready(response)
            }
            None => {
                tracing::error!(
                    path = request.uri().path(),
                    "a per-route version check ran without a resolution: the versioning layer must wrap the router"
                );
                ResponseFuture::ready(problem::misconfigured(
                    "this route checks api versions, but the request did not pass the versioning layer: wrap the whole router with ApiVersionLayer",
                    VersionedBody::full,
                ))
            }
        }
    }
}

#[cold]
fn not_in_version<B>(served: &Served, version: Version, path: &str) -> Response<VersionedBody<B>> {
    let status = StatusCode::NOT_FOUND;
    let mut doc = problem::body_problem(
        ProblemKind::NotInVersion,
        status,
        format!(
            "{} is not available at api version {version}: it is served {}; send one of those versions",
            echo(path.as_bytes()),
            served.description
        ),
    );
    if let Some(map) = doc.as_object_mut() {
        map.insert("requested".into(), version.to_string().into());
        map.insert(
            "supported".into(),
            served
                .versions
                .iter()
                .map(|v| serde_json::Value::from(v.to_string()))
                .collect(),
        );
    }
    problem::response(status, doc, VersionedBody::full)
}
