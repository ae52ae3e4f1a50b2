//! Helpers shared by the integration tests.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;

/// The stable RFC 9457 `type` URI of a problem `kind` (`missing`,
/// `body-too-large`, ...), spelled out here so that a changed URI fails.
pub(crate) fn problem_type(kind: &str) -> String {
    format!("https://engine-ops.dev/problems/api-version/{kind}")
}

/// A response's status, headers and whole body.
pub(crate) async fn collect<B>(response: Response<B>) -> (StatusCode, HeaderMap, Bytes)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}
