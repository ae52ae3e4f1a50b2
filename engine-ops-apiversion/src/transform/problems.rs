//! What the transform answers (413, 400, 502 problems) and how it fixes the
//! headers of a body it rewrote: the leaf the service and its future use.

use http::header::{CONTENT_LENGTH, ETAG, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::VersionedBody;
use crate::problem::{self, ProblemKind};

/// A problem response with only the standard members.
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

/// The 413 for a request body over the cap.
pub(crate) fn too_large<B>(max: usize) -> Response<VersionedBody<B>> {
    problem_response(
        ProblemKind::BodyTooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body exceeds the {max}-byte cap for version migration: send a smaller body or use the latest version"
        ),
    )
}

/// Sets the length of a rewritten body and drops what described the old bytes.
pub(crate) fn fix_headers(headers: &mut HeaderMap, len: usize) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.remove(TRANSFER_ENCODING);
    headers.remove(ETAG);
}

/// A `HEAD` response at a migrated version: the handler's length and tag
/// describe the head version's body, and the migrated one's are unknown.
pub(crate) fn fix_head_headers(headers: &mut HeaderMap) {
    headers.remove(CONTENT_LENGTH);
    headers.remove(ETAG);
}
