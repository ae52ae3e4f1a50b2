use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response, StatusCode, request, response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::Changes;
use super::changes::Direction;
use super::problems::{fix_head_headers, fix_headers, is_json, problem_response, too_large};
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

pin_project! {
    /// The response future of [`Transform`](super::Transform).
    pub struct ResponseFuture<S, F, ReqBody, ResBody> {
        #[pin]
        state: State<S, F, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqBody, ResBody> {
        ReadRequest {
            #[pin]
            body: ReqBody,
            buf: Vec<u8>,
            parts: Option<request::Parts>,
            service: Option<S>,
            ctx: Option<Ctx>,
        },
        Inner {
            #[pin]
            future: F,
            ctx: Option<Ctx>,
        },
        ReadResponse {
            // Boxed, not pinned in place: a body over the cap moves on into
            // the response after the part already read.
            body: Option<Pin<Box<ResBody>>>,
            buf: Vec<u8>,
            parts: Option<response::Parts>,
            ctx: Option<Ctx>,
            error: bool,
        },
        Ready {
            response: Option<Response<VersionedBody<ResBody>>>,
        },
    }
}

impl<S, F, ReqBody, ResBody> std::fmt::Debug for ResponseFuture<S, F, ReqBody, ResBody> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::ReadRequest { .. } => "ReadRequest",
            State::Inner { .. } => "Inner",
            State::ReadResponse { .. } => "ReadResponse",
            State::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, F, ReqBody, ResBody> ResponseFuture<S, F, ReqBody, ResBody> {
    pub(crate) fn passthrough(future: F) -> Self {
        ResponseFuture {
            state: State::Inner { future, ctx: None },
        }
    }

    pub(crate) fn call(future: F, ctx: Ctx) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                ctx: Some(ctx),
            },
        }
    }

    pub(crate) fn ready(response: Response<VersionedBody<ResBody>>) -> Self {
        ResponseFuture {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn read_request(parts: request::Parts, body: ReqBody, service: S, ctx: Ctx) -> Self {
        ResponseFuture {
            state: State::ReadRequest {
                body,
                buf: Vec::new(),
                parts: Some(parts),
                service: Some(service),
                ctx: Some(ctx),
            },
        }
    }
}

/// The outcome of reading one more frame into `buf`.
enum Read<E> {
    More,
    Done,
    /// `buf` went over the cap; it holds everything read so far.
    TooLarge,
    Failed(E),
}

fn read_frame<B>(
    body: Pin<&mut B>,
    buf: &mut Vec<u8>,
    max: usize,
    cx: &mut Context<'_>,
) -> Poll<Read<B::Error>>
where
    B: Body<Data = Bytes>,
{
    Poll::Ready(match ready!(body.poll_frame(cx)) {
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => {
                buf.extend_from_slice(&data);
                if buf.len() > max {
                    Read::TooLarge
                } else {
                    Read::More
                }
            }
            // Trailers are not part of the JSON document.
            Err(_) => Read::More,
        },
        Some(Err(error)) => Read::Failed(error),
        None => Read::Done,
    })
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
                StateProj::ReadRequest {
                    body,
                    buf,
                    parts,
                    service,
                    ctx,
                } => {
                    let Some(context) = ctx.as_ref() else {
                        unreachable!("request context taken twice")
                    };
                    let max = context.changes.max_request_bytes();
                    match ready!(read_frame(body, buf, max, cx)) {
                        Read::More => continue,
                        Read::TooLarge => State::Ready {
                            response: Some(too_large(max)),
                        },
                        Read::Failed(error) => State::Ready {
                            response: Some(problem_response(
                                ProblemKind::BodyFailed,
                                StatusCode::BAD_REQUEST,
                                format!("the request body could not be read: {error}"),
                            )),
                        },
                        Read::Done => {
                            match context.changes.migrate_bytes(
                                buf,
                                &context.chain,
                                Direction::Request,
                            ) {
                                None => State::Ready {
                                    response: Some(problem_response(
                                        ProblemKind::InvalidBody,
                                        StatusCode::BAD_REQUEST,
                                        format!(
                                            "the request body is not valid JSON ({}): fix the body or its content type",
                                            super::doc::validate(buf)
                                                .err()
                                                .map_or_else(String::new, |e| e.to_string())
                                        ),
                                    )),
                                },
                                Some(migrated) => {
                                    let (Some(mut parts), Some(mut service)) =
                                        (parts.take(), service.take())
                                    else {
                                        unreachable!("request parts taken twice")
                                    };
                                    let bytes = match migrated {
                                        Some(text) => {
                                            fix_headers(&mut parts.headers, text.len());
                                            Bytes::from(text)
                                        }
                                        // Nothing changed: the bytes (and
                                        // their length) are as sent.
                                        None => Bytes::from(std::mem::take(buf)),
                                    };
                                    let request =
                                        Request::from_parts(parts, VersionedBody::full(bytes));
                                    State::Inner {
                                        future: service.call(request),
                                        ctx: ctx.take(),
                                    }
                                }
                            }
                        }
                    }
                }
                StateProj::Inner { future, ctx } => {
                    let response = ready!(future.poll(cx))?;
                    let error = !response.status().is_success();
                    match ctx.take() {
                        Some(context)
                            if context.changes.has_downgrades(&context.chain, error)
                                && is_json(response.headers()) =>
                        {
                            let max = context.changes.max_response_bytes();
                            let (mut parts, body) = response.into_parts();
                            if context.head {
                                fix_head_headers(&mut parts.headers);
                                State::Ready {
                                    response: Some(Response::from_parts(
                                        parts,
                                        VersionedBody::inner(body),
                                    )),
                                }
                            } else if body.size_hint().lower() > max as u64 {
                                State::Ready {
                                    response: Some(unmigrated(
                                        parts,
                                        VersionedBody::inner(body),
                                        &context.changes,
                                    )),
                                }
                            } else {
                                State::ReadResponse {
                                    body: Some(Box::pin(body)),
                                    buf: Vec::new(),
                                    parts: Some(parts),
                                    ctx: Some(context),
                                    error,
                                }
                            }
                        }
                        _ => return Poll::Ready(Ok(response.map(VersionedBody::inner))),
                    }
                }
                StateProj::ReadResponse {
                    body,
                    buf,
                    parts,
                    ctx,
                    error,
                } => {
                    let (Some(context), Some(reading)) = (ctx.as_ref(), body.as_mut()) else {
                        unreachable!("response context taken twice")
                    };
                    let max = context.changes.max_response_bytes();
                    match ready!(read_frame(reading.as_mut(), buf, max, cx)) {
                        Read::More => continue,
                        Read::TooLarge => {
                            let (Some(parts), Some(rest)) = (parts.take(), body.take()) else {
                                unreachable!("response parts taken twice")
                            };
                            let read = Bytes::from(std::mem::take(buf));
                            State::Ready {
                                response: Some(unmigrated(
                                    parts,
                                    VersionedBody::prefixed(read, rest),
                                    &context.changes,
                                )),
                            }
                        }
                        Read::Failed(error) => State::Ready {
                            response: Some(problem_response(
                                ProblemKind::BodyFailed,
                                StatusCode::BAD_GATEWAY,
                                format!(
                                    "the response body failed before it could be migrated: {error}"
                                ),
                            )),
                        },
                        Read::Done => {
                            let Some(mut parts) = parts.take() else {
                                unreachable!("response parts taken twice")
                            };
                            let bytes = match context.changes.migrate_bytes(
                                buf,
                                &context.chain,
                                Direction::Response { error: *error },
                            ) {
                                Some(Some(text)) => {
                                    fix_headers(&mut parts.headers, text.len());
                                    Bytes::from(text)
                                }
                                // Unchanged, or labelled JSON but is not:
                                // passed on as it came.
                                Some(None) | None => Bytes::from(std::mem::take(buf)),
                            };
                            State::Ready {
                                response: Some(Response::from_parts(
                                    parts,
                                    VersionedBody::full(bytes),
                                )),
                            }
                        }
                    }
                }
                StateProj::Ready { response } => match response.take() {
                    Some(response) => return Poll::Ready(Ok(response)),
                    None => panic!("transform ResponseFuture polled after completion"),
                },
            };
            self.as_mut().project().state.set(next);
        }
    }
}
