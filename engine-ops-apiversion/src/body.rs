//! The body type of responses (and, with transforms, requests) that this
//! crate may replace.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// Either the wrapped body, streamed untouched, or a body this crate
    /// produced in full (a problem document or a migrated JSON document),
    /// or the wrapped body after the part of it already read (a response too
    /// large to migrate, sent as it came).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::VersionedBody;
    /// use http_body::Body;
    ///
    /// let body = VersionedBody::full(bytes::Bytes::from_static(b"{}"));
    /// assert_eq!(body.size_hint().exact(), Some(2));
    /// # let _: VersionedBody<http_body_util::Empty<bytes::Bytes>> = body;
    /// ```
    pub struct VersionedBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { #[pin] body: Full<Bytes> },
        Prefixed { prefix: Option<Bytes>, body: Pin<Box<B>> },
    }
}

impl<B> VersionedBody<B> {
    /// Wraps a body that passes through untouched.
    pub fn inner(body: B) -> Self {
        VersionedBody {
            kind: Kind::Inner { body },
        }
    }

    /// A complete body of these bytes.
    pub fn full(bytes: Bytes) -> Self {
        VersionedBody {
            kind: Kind::Full {
                body: Full::new(bytes),
            },
        }
    }

    /// `prefix`, then the rest of `body`: a body partly read, sent on.
    #[cfg(feature = "transform")]
    pub(crate) fn prefixed(prefix: Bytes, body: Pin<Box<B>>) -> Self {
        VersionedBody {
            kind: Kind::Prefixed {
                prefix: (!prefix.is_empty()).then_some(prefix),
                body,
            },
        }
    }

    /// Whether this is the wrapped body (not one this crate produced).
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, Kind::Inner { .. })
    }

    /// The wrapped body, if this is one.
    pub fn get_ref(&self) -> Option<&B> {
        match &self.kind {
            Kind::Inner { body } => Some(body),
            Kind::Full { .. } | Kind::Prefixed { .. } => None,
        }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for VersionedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { body } => f.debug_tuple("VersionedBody::Inner").field(body).finish(),
            Kind::Full { body } => f.debug_tuple("VersionedBody::Full").field(body).finish(),
            Kind::Prefixed { prefix, body } => f
                .debug_struct("VersionedBody::Prefixed")
                .field("prefix", prefix)
                .field("body", body)
                .finish(),
        }
    }
}

impl<B> Default for VersionedBody<B>
where
    B: Default,
{
    fn default() -> Self {
        VersionedBody::inner(B::default())
    }
}

impl<B> Body for VersionedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { body } => body.poll_frame(cx).map_err(|never| match never {}),
            KindProj::Prefixed { prefix, body } => match prefix.take() {
                Some(prefix) => Poll::Ready(Some(Ok(Frame::data(prefix)))),
                None => body.as_mut().poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { body } => body.is_end_stream(),
            Kind::Prefixed { prefix, body } => prefix.is_none() && body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { body } => body.size_hint(),
            Kind::Prefixed { prefix, body } => {
                let read = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + read);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + read);
                }
                hint
            }
        }
    }
}
