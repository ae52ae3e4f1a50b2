//! Reading a response body up to a cap, keeping what was read and the rest
//! of the body when it goes over.
//!
//! `http_body_util`'s `Limited` + `collect()` reads request bodies, whose
//! overflow is answered 413 and discarded. A response over its cap is sent
//! on as the handler wrote it (its status must reach the client), so the
//! bytes already read and the body still unread are both needed, and
//! `Collect` owns both and gives neither back: this future does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::Body;

/// What reading a body up to its cap gave.
pub(crate) enum Capped<B: Body> {
    /// The whole body, within the cap (trailers are not kept: they are not
    /// part of a JSON document).
    Complete(Bytes),
    /// Over the cap: every byte read (the frame that crossed the cap
    /// included) and the body after them.
    Over {
        /// The bytes read.
        read: Bytes,
        /// The rest of the body, unread.
        rest: Pin<Box<B>>,
    },
    /// The body failed.
    Failed(B::Error),
}

/// Reads `body` until it ends, fails, or holds more than `max` bytes.
pub(crate) struct ReadCapped<B> {
    /// `None` once the future has completed.
    body: Option<Pin<Box<B>>>,
    chunks: Vec<Bytes>,
    len: usize,
    max: usize,
}

impl<B> ReadCapped<B> {
    /// A reader of `body` with the cap `max`.
    pub(crate) fn new(body: B, max: usize) -> Self {
        ReadCapped {
            body: Some(Box::pin(body)),
            chunks: Vec::new(),
            len: 0,
            max,
        }
    }

    /// The chunks read so far, as one `Bytes` (not copied when there is one).
    fn take_read(&mut self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.pop().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(self.len);
                for chunk in self.chunks.drain(..) {
                    all.extend_from_slice(&chunk);
                }
                all.freeze()
            }
        }
    }
}

impl<B: Body<Data = Bytes>> Future for ReadCapped<B> {
    type Output = Capped<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Capped<B>> {
        // Every field is `Unpin` (the body is boxed).
        let this = self.get_mut();
        loop {
            let Some(body) = this.body.as_mut() else {
                panic!("ReadCapped polled after completion");
            };
            let frame = ready!(body.as_mut().poll_frame(cx));
            let outcome = match frame {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.len += data.len();
                    this.chunks.push(data);
                    if this.len <= this.max {
                        continue;
                    }
                    None
                }
                Some(Err(error)) => Some(Capped::Failed(error)),
                None => Some(Capped::Complete(this.take_read())),
            };
            let Some(rest) = this.body.take() else {
                panic!("ReadCapped polled after completion");
            };
            return Poll::Ready(outcome.unwrap_or_else(|| Capped::Over {
                read: this.take_read(),
                rest,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::Waker;

    use http_body::Frame;
    use http_body_util::BodyExt;

    use super::*;

    /// A body of data frames, always ready; `None` in the list is a failure.
    struct Pieces(VecDeque<Option<&'static str>>);

    impl Body for Pieces {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready(self.0.pop_front().map(|piece| match piece {
                Some(text) => Ok(Frame::data(Bytes::from_static(text.as_bytes()))),
                None => Err("reset"),
            }))
        }
    }

    fn body(pieces: &[Option<&'static str>]) -> Pieces {
        Pieces(pieces.iter().copied().collect())
    }

    fn now<F: Future>(future: F) -> F::Output {
        let mut cx = Context::from_waker(Waker::noop());
        match std::pin::pin!(future).poll(&mut cx) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the test bodies are always ready"),
        }
    }

    #[test]
    fn a_body_within_the_cap_is_read_whole() {
        let Capped::Complete(bytes) = now(ReadCapped::new(body(&[Some("{\"a\":"), Some("1}")]), 7))
        else {
            panic!("within the cap");
        };
        assert_eq!(bytes, "{\"a\":1}");
        let Capped::Complete(bytes) = now(ReadCapped::new(body(&[]), 0)) else {
            panic!("empty");
        };
        assert!(bytes.is_empty());
    }

    #[test]
    fn a_body_over_the_cap_gives_back_what_was_read_and_the_rest() {
        let pieces = [Some("ab"), Some("cd"), Some("ef"), Some("gh")];
        let Capped::Over { read, rest } = now(ReadCapped::new(body(&pieces), 3)) else {
            panic!("over the cap");
        };
        assert_eq!(read, "abcd");
        assert_eq!(
            now(rest.collect()).map(|c| c.to_bytes()),
            Ok(Bytes::from("efgh"))
        );
    }

    #[test]
    fn a_failing_body_reports_its_error() {
        let Capped::Failed(error) = now(ReadCapped::new(body(&[Some("ab"), None]), 10)) else {
            panic!("failed");
        };
        assert_eq!(error, "reset");
    }
}
