use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, ETAG, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, request, response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::Changes;
use super::service::{is_json, problem_response, too_large};
use crate::body::VersionedBody;
use crate::problem::ProblemKind;

/// What a request being migrated carries from state to state.
pub(crate) struct Ctx {
    changes: Changes,
    chain: Vec<usize>,
}

impl Ctx {
    pub(crate) fn new(changes: Changes, chain: Vec<usize>) -> Self {
        Ctx { changes, chain }
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
            #[pin]
            body: ResBody,
            buf: Vec<u8>,
            parts: Option<response::Parts>,
            ctx: Option<Ctx>,
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

/// Sets the length of a rewritten body and drops what described the old bytes.
fn fix_headers(headers: &mut HeaderMap, len: usize) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.remove(TRANSFER_ENCODING);
    headers.remove(ETAG);
}

/// The outcome of reading one more frame into `buf`.
enum Read<E> {
    More,
    Done,
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
            Ok(data) if buf.len() + data.len() > max => Read::TooLarge,
            Ok(data) => {
                buf.extend_from_slice(&data);
                Read::More
            }
            // Trailers are not part of the JSON document.
            Err(_) => Read::More,
        },
        Some(Err(error)) => Read::Failed(error),
        None => Read::Done,
    })
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
                    let max = context.changes.max_body_bytes();
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
                        Read::Done => match serde_json::from_slice::<serde_json::Value>(buf) {
                            Err(error) => State::Ready {
                                response: Some(problem_response(
                                    ProblemKind::InvalidBody,
                                    StatusCode::BAD_REQUEST,
                                    format!(
                                        "the request body is not valid JSON ({error}): fix the body or its content type"
                                    ),
                                )),
                            },
                            Ok(mut value) => {
                                context.changes.upgrade(&context.chain, &mut value);
                                let bytes =
                                    Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
                                let (Some(mut parts), Some(mut service)) =
                                    (parts.take(), service.take())
                                else {
                                    unreachable!("request parts taken twice")
                                };
                                fix_headers(&mut parts.headers, bytes.len());
                                let request =
                                    Request::from_parts(parts, VersionedBody::full(bytes));
                                State::Inner {
                                    future: service.call(request),
                                    ctx: ctx.take(),
                                }
                            }
                        },
                    }
                }
                StateProj::Inner { future, ctx } => {
                    let response = ready!(future.poll(cx))?;
                    match ctx.take() {
                        Some(context)
                            if context.changes.has_downgrades(&context.chain)
                                && response.status().is_success()
                                && is_json(response.headers()) =>
                        {
                            let max = context.changes.max_body_bytes();
                            let (parts, body) = response.into_parts();
                            if body.size_hint().lower() > max as u64 {
                                State::Ready {
                                    response: Some(response_too_large(max)),
                                }
                            } else {
                                State::ReadResponse {
                                    body,
                                    buf: Vec::new(),
                                    parts: Some(parts),
                                    ctx: Some(context),
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
                } => {
                    let Some(context) = ctx.as_ref() else {
                        unreachable!("response context taken twice")
                    };
                    let max = context.changes.max_body_bytes();
                    match ready!(read_frame(body, buf, max, cx)) {
                        Read::More => continue,
                        Read::TooLarge => State::Ready {
                            response: Some(response_too_large(max)),
                        },
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
                            let bytes = match serde_json::from_slice::<serde_json::Value>(buf) {
                                Ok(mut value) => {
                                    context.changes.downgrade(&context.chain, &mut value);
                                    let bytes =
                                        Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
                                    fix_headers(&mut parts.headers, bytes.len());
                                    bytes
                                }
                                // Labelled JSON but is not: passed on as it came.
                                Err(_) => Bytes::from(std::mem::take(buf)),
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

fn response_too_large<B>(max: usize) -> Response<VersionedBody<B>> {
    problem_response(
        ProblemKind::BodyTooLarge,
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "the response body exceeds the {max}-byte cap for version migration: raise the cap or page the response"
        ),
    )
}
