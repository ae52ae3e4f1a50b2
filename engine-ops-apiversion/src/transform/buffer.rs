//! Whether a body is buffered for migration: for a request before the
//! handler runs, for a response after it. Pure: headers and size hints in,
//! a verdict out.

use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body::Body;

/// What happens to a request body at a version older than the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestBody {
    /// Sent to the handler untouched: no change upgrades requests, there is
    /// no body, or it is not JSON.
    Stream,
    /// Collected (up to the request cap) and migrated.
    Collect,
    /// Answered 413 at once: the body says it is larger than the cap.
    TooLarge,
}

/// The verdict for a request with these `headers` and `body`: `upgrades`
/// when a change in the chain upgrades requests, `max` the request cap.
pub(crate) fn request_body(
    upgrades: bool,
    headers: &HeaderMap,
    body: &impl Body,
    max: usize,
) -> RequestBody {
    let has_body = !body.is_end_stream() && headers.get(CONTENT_LENGTH).is_none_or(|v| v != "0");
    if !(upgrades && has_body && is_json(headers)) {
        RequestBody::Stream
    } else if body.size_hint().lower() > max as u64 {
        RequestBody::TooLarge
    } else {
        RequestBody::Collect
    }
}

/// What happens to a response body at a version older than the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseBody {
    /// Sent untouched: no change downgrades it (an error response, unless a
    /// change migrates errors), or it is not JSON.
    Stream,
    /// The response to a `HEAD` request: no body to migrate, and the
    /// handler's `Content-Length` and `ETag` describe another one.
    Head,
    /// Sent as the handler wrote it, at the head version: the body says it
    /// is larger than the cap.
    Unmigrated,
    /// Collected (up to the response cap) and migrated.
    Collect,
}

/// The verdict for a response with these `headers` and `body`:
/// `downgrades` when a change in the chain downgrades it, `head` for the
/// response to a `HEAD` request, `max` the response cap.
pub(crate) fn response_body(
    downgrades: bool,
    head: bool,
    headers: &HeaderMap,
    body: &impl Body,
    max: usize,
) -> ResponseBody {
    if !(downgrades && is_json(headers)) {
        ResponseBody::Stream
    } else if head {
        ResponseBody::Head
    } else if body.size_hint().lower() > max as u64 {
        ResponseBody::Unmigrated
    } else {
        ResponseBody::Collect
    }
}

/// `application/json`, or any `+json` structured syntax suffix.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{Empty, Full};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn bytes(n: usize) -> Full<Bytes> {
        Full::new(Bytes::from(vec![b' '; n]))
    }

    #[test]
    fn requests_are_collected_only_when_a_json_body_is_upgraded() {
        let json = headers(&[("content-type", "application/vnd.api+json; charset=utf-8")]);
        assert_eq!(
            request_body(true, &json, &bytes(10), 100),
            RequestBody::Collect
        );
        assert_eq!(
            request_body(true, &json, &bytes(100), 100),
            RequestBody::Collect
        );
        assert_eq!(
            request_body(true, &json, &bytes(101), 100),
            RequestBody::TooLarge
        );
        assert_eq!(
            request_body(false, &json, &bytes(10), 100),
            RequestBody::Stream
        );
        assert_eq!(
            request_body(true, &json, &Empty::<Bytes>::new(), 100),
            RequestBody::Stream
        );
        let empty = headers(&[
            ("content-type", "application/json"),
            ("content-length", "0"),
        ]);
        // The header says there is none, whatever the body type says.
        assert_eq!(
            request_body(true, &empty, &bytes(10), 100),
            RequestBody::Stream
        );
        let text = headers(&[("content-type", "text/plain")]);
        assert_eq!(
            request_body(true, &text, &bytes(1000), 100),
            RequestBody::Stream
        );
    }

    #[test]
    fn responses_are_collected_only_when_a_json_body_is_downgraded() {
        let json = headers(&[("content-type", "application/json")]);
        assert_eq!(
            response_body(true, false, &json, &bytes(100), 100),
            ResponseBody::Collect
        );
        assert_eq!(
            response_body(true, false, &json, &bytes(101), 100),
            ResponseBody::Unmigrated
        );
        assert_eq!(
            response_body(true, true, &json, &bytes(101), 100),
            ResponseBody::Head
        );
        assert_eq!(
            response_body(false, false, &json, &bytes(1), 100),
            ResponseBody::Stream
        );
        let none = HeaderMap::new();
        assert_eq!(
            response_body(true, false, &none, &bytes(1), 100),
            ResponseBody::Stream
        );
        assert!(!is_json(&headers(&[("content-type", "json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            " Application/JSON ;x=1"
        )])));
    }
}
