use std::fmt::Display;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use super::Changes;
use super::future::{Ctx, ResponseFuture};
use crate::Resolution;
use crate::body::VersionedBody;
use crate::problem::{self, ProblemKind};

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

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// `application/json`, or any `+json` structured syntax suffix.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let essence = value
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    essence.eq_ignore_ascii_case(b"application/json")
        || (essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

pub(crate) fn problem_response<B>(
    kind: ProblemKind,
    status: StatusCode,
    detail: String,
) -> Response<VersionedBody<B>> {
    problem::response(
        status,
        problem::body_problem(kind, status, detail),
        VersionedBody::full,
    )
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
        let version = request
            .extensions()
            .get::<Resolution>()
            .map(Resolution::version);
        let Some(version) = version.filter(|v| self.changes.any_after(*v, request.uri().path()))
        else {
            // The head version, no change on this route, or no resolution:
            // nothing is buffered or touched.
            return ResponseFuture::passthrough(self.inner.call(request.map(VersionedBody::inner)));
        };
        let chain = self.changes.chain(version, Some(request.uri().path()));
        let upgrade = self.changes.has_upgrades(&chain);
        let ctx = Ctx::new(self.changes.clone(), chain);
        let max = self.changes.max_body_bytes();
        let has_body = !request.body().is_end_stream()
            && request
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .is_none_or(|v| v != "0");
        if upgrade && has_body && is_json(request.headers()) {
            if request.body().size_hint().lower() > max as u64 {
                return ResponseFuture::ready(too_large(max));
            }
            // The ready service goes into the future; a clone takes its place.
            let clone = self.inner.clone();
            let service = std::mem::replace(&mut self.inner, clone);
            let (parts, body) = request.into_parts();
            return ResponseFuture::read_request(parts, body, service, ctx);
        }
        ResponseFuture::call(self.inner.call(request.map(VersionedBody::inner)), ctx)
    }
}

pub(crate) fn too_large<B>(max: usize) -> Response<VersionedBody<B>> {
    problem_response(
        ProblemKind::BodyTooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body exceeds the {max}-byte cap for version migration: send a smaller body or use the latest version"
        ),
    )
}
