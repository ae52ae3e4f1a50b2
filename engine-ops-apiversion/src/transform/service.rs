use std::fmt::Display;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::buffer::{RequestBody, request_body};
use super::change::Target;
use super::changes::Changes;
use super::future::{Ctx, ResponseFuture};
use super::problems::too_large;
use crate::body::VersionedBody;
use crate::macros::inner_service_accessors;
use crate::problem;
use crate::resolution::Resolution;

/// The transform service. See the [module docs](super).
#[derive(Debug, Clone)]
#[must_use]
pub struct Transform<S> {
    inner: S,
    changes: Changes,
}

impl<S> Transform<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, changes: Changes) -> Self {
        Transform { inner, changes }
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Transform<S>
where
    S: Service<Request<VersionedBody<ReqBody>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body<Data = Bytes>,
    ReqBody::Error: Display,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Display,
{
    type Response = Response<VersionedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, S::Future, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(version) = request
            .extensions()
            .get::<Resolution>()
            .map(Resolution::version)
        else {
            // Serving the head shape to every version would be silent and
            // wrong: the versioning layer is missing or inside this one.
            tracing::error!(
                path = request.uri().path(),
                "the transform layer got a request without a resolution: put ApiVersionLayer outside it"
            );
            return ResponseFuture::ready(problem::misconfigured(
                "version transforms are configured, but the request did not pass the versioning layer first: put ApiVersionLayer outside TransformLayer",
                VersionedBody::full,
            ));
        };
        let (method, path) = (request.method(), request.uri().path());
        if !self.changes.any_after(version, method, path) {
            // The head version, or no change on this endpoint: nothing is
            // buffered or touched.
            return ResponseFuture::passthrough(self.inner.call(request.map(VersionedBody::inner)));
        }
        let chain = self.changes.chain(version, Target::Request(method, path));
        let upgrades = self.changes.has_upgrades(&chain);
        let ctx = Ctx::new(self.changes.clone(), chain, method == Method::HEAD);
        let max = self.changes.max_request_bytes();
        match request_body(upgrades, request.headers(), request.body(), max) {
            RequestBody::Stream => {}
            RequestBody::TooLarge => return ResponseFuture::ready(too_large(max)),
            RequestBody::Collect => {
                // The ready service goes into the future; a clone takes its place.
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                let (parts, body) = request.into_parts();
                return ResponseFuture::collect_request(parts, body, service, ctx);
            }
        }
        ResponseFuture::call(self.inner.call(request.map(VersionedBody::inner)), ctx)
    }
}
