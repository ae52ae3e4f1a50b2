use std::fmt::Display;
use std::future::{Future, Ready, ready as ready_now};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response, StatusCode, request, response};
use http_body::Body;
use http_body_util::combinators::{Collect, MapErr};
use http_body_util::{BodyExt, Collected, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::buffer::{ResponseBody, response_body};
use super::capped::{Capped, ReadCapped};
use super::changes::{Changes, Direction};
use super::problems::{fix_head_headers, fix_headers, problem_response, too_large};
use crate::body::VersionedBody;
use crate::headers::ServedAt;
use crate::problem::ProblemKind;

/// What a request being migrated carries from state to state.
pub(crate) struct Ctx {
    changes: Changes,
    chain: Vec<usize>,
    /// A `HEAD` request: its response has no body to migrate.
    head: bool,
}

impl Ctx {
    pub(crate) fn new(changes: Changes, chain: Vec<usize>, head: bool) -> Self {
        Ctx {
            changes,
            chain,
            head,
        }
    }
}

/// A request body collected up to the request cap by `http_body_util`
/// (`Limited` + `collect()`), its error turned into text first: `Limited`
/// boxes the errors of the body it wraps.
type CollectRequest<B> = Collect<Limited<MapErr<B, ErrorText<<B as Body>::Error>>>>;

type ErrorText<E> = fn(E) -> String;

fn error_text<E: Display>(error: E) -> String {
    error.to_string()
}

pin_project! {
    /// A future, and what comes back with its output (what the next state
    /// needs and the future does not hold).
    struct With<F, T> {
        #[pin]
        future: F,
        value: Option<T>,
    }
}

impl<F, T> With<F, T> {
    fn new(future: F, value: T) -> Self {
        With {
            future,
            value: Some(value),
        }
    }
}

impl<F: Future, T> Future for With<F, T> {
    type Output = (F::Output, T);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        match this.value.take() {
            Some(value) => Poll::Ready((output, value)),
            None => panic!("transform ResponseFuture polled after completion"),
        }
    }
}

pin_project! {
    /// The response future of [`Transform`](super::Transform).
    pub struct ResponseFuture<S, F, ReqBody, ResBody>
    where
        ReqBody: Body,
    {
        #[pin]
        state: State<S, F, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqBody, ResBody>
    where
        ReqBody: Body,
    {
        /// Collecting a request body to migrate; the handler is called with
        /// it when it is complete.
        Request {
            #[pin]
            read: With<CollectRequest<ReqBody>, (request::Parts, S, Ctx)>,
        },
        /// The handler's future; `ctx` is `None` when nothing is migrated.
        Inner {
            #[pin]
            future: F,
            ctx: Option<Ctx>,
        },
        /// Reading a response body to migrate (`bool`: an error response).
        Response {
            #[pin]
            read: With<ReadCapped<ResBody>, (response::Parts, Ctx, bool)>,
        },
        /// A response decided without the handler, or after it.
        Ready {
            response: Ready<Response<VersionedBody<ResBody>>>,
        },
    }
}

impl<S, F, ReqBody: Body, ResBody> std::fmt::Debug for ResponseFuture<S, F, ReqBody, ResBody> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Request { .. } => "Request",
            State::Inner { .. } => "Inner",
            State::Response { .. } => "Response",
            State::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, F, ReqBody: Body, ResBody> ResponseFuture<S, F, ReqBody, ResBody> {
    /// The handler's future, its response passed on untouched.
    pub(crate) fn passthrough(future: F) -> Self {
        ResponseFuture {
            state: State::Inner { future, ctx: None },
        }
    }

    /// The handler's future, its response migrated as `ctx` says.
    pub(crate) fn call(future: F, ctx: Ctx) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                ctx: Some(ctx),
            },
        }
    }

    /// A response decided without the handler.
    pub(crate) fn ready(response: Response<VersionedBody<ResBody>>) -> Self {
        ResponseFuture {
            state: State::ready(response),
        }
    }

    /// Collects the request body (up to the request cap), then migrates it
    /// and calls `service`.
    pub(crate) fn collect_request(
        parts: request::Parts,
        body: ReqBody,
        service: S,
        ctx: Ctx,
    ) -> Self
    where
        ReqBody::Error: Display,
    {
        let max = ctx.changes.max_request_bytes();
        let collect = Limited::new(body.map_err(error_text as ErrorText<_>), max).collect();
        ResponseFuture {
            state: State::Request {
                read: With::new(collect, (parts, service, ctx)),
            },
        }
    }
}

impl<S, F, ReqBody: Body, ResBody> State<S, F, ReqBody, ResBody> {
    fn ready(response: Response<VersionedBody<ResBody>>) -> Self {
        State::Ready {
            response: ready_now(response),
        }
    }
}

impl<S, F, ReqBody, ResBody, E> Future for ResponseFuture<S, F, ReqBody, ResBody>
where
    S: Service<
            Request<VersionedBody<ReqBody>>,
            Response = Response<ResBody>,
            Future = F,
            Error = E,
        >,
    F: Future<Output = Result<Response<ResBody>, E>>,
    ReqBody: Body<Data = Bytes>,
    ReqBody::Error: Display,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Display,
{
    type Output = Result<Response<VersionedBody<ResBody>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Request { read } => {
                    let (collected, (parts, service, ctx)) = ready!(read.poll(cx));
                    request_collected(collected, parts, service, ctx)
                }
                StateProj::Inner { future, ctx } => {
                    let response = ready!(future.poll(cx))?;
                    match ctx.take() {
                        Some(ctx) => response_arrived(response, ctx),
                        None => return Poll::Ready(Ok(response.map(VersionedBody::inner))),
                    }
                }
                StateProj::Response { read } => {
                    let (read, (parts, ctx, error)) = ready!(read.poll(cx));
                    State::ready(response_read(read, parts, &ctx, error))
                }
                StateProj::Ready { response } => return Pin::new(response).poll(cx).map(Ok),
            };
            self.as_mut().project().state.set(next);
        }
    }
}

/// A request body collected: over the cap (413), failed (400), not JSON
/// (400), or migrated and handed to the service.
fn request_collected<S, F, ReqBody, ResBody>(
    collected: Result<Collected<Bytes>, Box<dyn std::error::Error + Send + Sync>>,
    mut parts: request::Parts,
    mut service: S,
    ctx: Ctx,
) -> State<S, F, ReqBody, ResBody>
where
    S: Service<Request<VersionedBody<ReqBody>>, Response = Response<ResBody>, Future = F>,
    ReqBody: Body,
{
    let bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return State::ready(too_large(ctx.changes.max_request_bytes()));
        }
        Err(error) => {
            return State::ready(problem_response(
                ProblemKind::BodyFailed,
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {error}"),
            ));
        }
    };
    let body = match ctx
        .changes
        .migrate_bytes(&bytes, &ctx.chain, Direction::Request)
    {
        None => {
            return State::ready(problem_response(
                ProblemKind::InvalidBody,
                StatusCode::BAD_REQUEST,
                format!(
                    "the request body is not valid JSON ({}): fix the body or its content type",
                    super::doc::validate(&bytes)
                        .err()
                        .map_or_else(String::new, |e| e.to_string())
                ),
            ));
        }
        Some(Some(text)) => {
            fix_headers(&mut parts.headers, text.len());
            Bytes::from(text)
        }
        // Nothing changed: the bytes (and their length) are as sent.
        Some(None) => bytes,
    };
    let request = Request::from_parts(parts, VersionedBody::full(body));
    State::Inner {
        future: service.call(request),
        ctx: Some(ctx),
    }
}

/// The handler's response: passed on, its `HEAD` headers fixed, sent
/// unmigrated (over the cap by its size hint), or read to be migrated.
fn response_arrived<S, F, ReqBody, ResBody>(
    response: Response<ResBody>,
    ctx: Ctx,
) -> State<S, F, ReqBody, ResBody>
where
    ReqBody: Body,
    ResBody: Body,
{
    let error = !response.status().is_success();
    let max = ctx.changes.max_response_bytes();
    let verdict = response_body(
        ctx.changes.has_downgrades(&ctx.chain, error),
        ctx.head,
        response.headers(),
        response.body(),
        max,
    );
    let (mut parts, body) = response.into_parts();
    match verdict {
        ResponseBody::Stream => {
            State::ready(Response::from_parts(parts, VersionedBody::inner(body)))
        }
        ResponseBody::Head => {
            fix_head_headers(&mut parts.headers);
            State::ready(Response::from_parts(parts, VersionedBody::inner(body)))
        }
        ResponseBody::Unmigrated => {
            State::ready(unmigrated(parts, VersionedBody::inner(body), &ctx.changes))
        }
        ResponseBody::Collect => State::Response {
            read: With::new(ReadCapped::new(body, max), (parts, ctx, error)),
        },
    }
}

/// A response body read: over the cap (sent on as it came), failed (502),
/// or migrated (when JSON and something changed; as it came otherwise).
fn response_read<B>(
    read: Capped<B>,
    mut parts: response::Parts,
    ctx: &Ctx,
    error: bool,
) -> Response<VersionedBody<B>>
where
    B: Body,
    B::Error: Display,
{
    match read {
        Capped::Over { read, rest } => {
            unmigrated(parts, VersionedBody::prefixed(read, rest), &ctx.changes)
        }
        Capped::Failed(failure) => problem_response(
            ProblemKind::BodyFailed,
            StatusCode::BAD_GATEWAY,
            format!("the response body failed before it could be migrated: {failure}"),
        ),
        Capped::Complete(bytes) => {
            let body =
                match ctx
                    .changes
                    .migrate_bytes(&bytes, &ctx.chain, Direction::Response { error })
                {
                    Some(Some(text)) => {
                        fix_headers(&mut parts.headers, text.len());
                        Bytes::from(text)
                    }
                    // Unchanged, or labelled JSON but is not: passed on as it came.
                    Some(None) | None => bytes,
                };
            Response::from_parts(parts, VersionedBody::full(body))
        }
    }
}

/// A response sent as the handler wrote it, at the head version, because
/// it is over the response cap: its status stands (the handler ran), and
/// `api-version` names the head so the client can tell.
fn unmigrated<B>(
    mut parts: response::Parts,
    body: VersionedBody<B>,
    changes: &Changes,
) -> Response<VersionedBody<B>> {
    let head = changes.policy().latest();
    tracing::warn!(
        status = parts.status.as_u16(),
        max = changes.max_response_bytes(),
        head = %head,
        "a response over the migration cap was sent at the head version: raise the response cap or page the response"
    );
    parts.extensions.insert(ServedAt(head));
    Response::from_parts(parts, body)
}
