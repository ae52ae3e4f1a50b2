use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::VersionedBody;
use crate::headers::RouteSupported;

pin_project! {
    /// The response future of [`RouteVersions`](super::RouteVersions): the
    /// route's future, whose response is marked with the route's versions,
    /// or a ready problem.
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
            supported: Option<RouteSupported>,
        },
        Ready {
            response: Option<Response<VersionedBody<B>>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F, supported: RouteSupported) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                supported: Some(supported),
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
            StateProj::Inner { future, supported } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(supported) = supported.take() {
                    response.extensions_mut().insert(supported);
                }
                Poll::Ready(Ok(response.map(VersionedBody::inner)))
            }
            StateProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("RouteVersions ResponseFuture polled after completion"),
            },
        }
    }
}
