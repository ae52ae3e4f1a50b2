use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::VersionedBody;
use crate::headers;
use crate::policy::Policy;
use crate::resolution::Resolution;

pin_project! {
    /// The response future of [`ApiVersion`](super::ApiVersion): either the
    /// inner service's future, whose response gets stamped, or a ready
    /// problem response.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner {
            #[pin]
            future: F,
            policy: Policy,
            resolution: Resolution,
        },
        Ready {
            response: Option<Response<VersionedBody<B>>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F, policy: Policy, resolution: Resolution) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                policy,
                resolution,
            },
        }
    }

    pub(crate) fn ready(response: Response<VersionedBody<B>>) -> Self {
        ResponseFuture {
            state: State::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "Inner",
            State::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<VersionedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner {
                future,
                policy,
                resolution,
            } => {
                let response = ready!(future.poll(cx))?;
                let (mut parts, body) = response.into_parts();
                headers::stamp(&policy.inner, &mut parts.headers, Some(resolution), None);
                headers::apply_markers(&policy.inner, &parts.extensions, &mut parts.headers);
                Poll::Ready(Ok(Response::from_parts(parts, VersionedBody::inner(body))))
            }
            StateProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}
