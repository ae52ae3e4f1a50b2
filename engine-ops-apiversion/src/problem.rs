//! RFC 9457 problem details for rejected requests: the problem types, and
//! the documents and responses built from them.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

/// The media type of every problem this crate writes.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable problem types this crate answers with. Their `type` URIs are
/// identifiers (RFC 9457 §3.1.1): clients match on them, and they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// No version and one is required (400).
    Missing,
    /// A value that is not a version (400).
    Invalid,
    /// A version that is not supported (400).
    Unsupported,
    /// Sources that disagree (400).
    Ambiguous,
    /// A version past its sunset, with enforcement on (410).
    Sunset,
    /// A request body to migrate that is not valid JSON (400).
    InvalidBody,
    /// A request body to migrate that exceeds the request cap (413). A
    /// response over the response cap is never an error: it is sent as the
    /// handler wrote it, labelled with its version.
    BodyTooLarge,
    /// A body that failed while being read for migration (400 for a request,
    /// 502 for a response).
    BodyFailed,
    /// The route exists, but not at the requested version (404): it was
    /// added later or removed earlier. The problem lists the versions it is
    /// served at.
    NotInVersion,
    /// The layers are wired so that a version check could not run: the
    /// request reached a per-route check or a transform without passing the
    /// versioning layer (500). A deployment error, never the client's.
    Misconfigured,
}

impl ProblemKind {
    /// The `type` URI, e.g. `https://engine-ops.dev/problems/api-version/missing`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::problem::ProblemKind;
    /// assert!(ProblemKind::Ambiguous.type_uri().ends_with("/ambiguous"));
    /// ```
    #[must_use]
    pub const fn type_uri(self) -> &'static str {
        match self {
            ProblemKind::Missing => "https://engine-ops.dev/problems/api-version/missing",
            ProblemKind::Invalid => "https://engine-ops.dev/problems/api-version/invalid",
            ProblemKind::Unsupported => "https://engine-ops.dev/problems/api-version/unsupported",
            ProblemKind::Ambiguous => "https://engine-ops.dev/problems/api-version/ambiguous",
            ProblemKind::Sunset => "https://engine-ops.dev/problems/api-version/sunset",
            ProblemKind::InvalidBody => "https://engine-ops.dev/problems/api-version/invalid-body",
            ProblemKind::BodyTooLarge => {
                "https://engine-ops.dev/problems/api-version/body-too-large"
            }
            ProblemKind::BodyFailed => "https://engine-ops.dev/problems/api-version/body-failed",
            ProblemKind::NotInVersion => {
                "https://engine-ops.dev/problems/api-version/not-in-version"
            }
            ProblemKind::Misconfigured => {
                "https://engine-ops.dev/problems/api-version/misconfigured"
            }
        }
    }

    /// The short human title.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            ProblemKind::Missing => "API version missing",
            ProblemKind::Invalid => "API version invalid",
            ProblemKind::Unsupported => "API version unsupported",
            ProblemKind::Ambiguous => "API version ambiguous",
            ProblemKind::Sunset => "API version sunset",
            ProblemKind::InvalidBody => "Body is not valid JSON",
            ProblemKind::BodyTooLarge => "Body too large to migrate",
            ProblemKind::BodyFailed => "Body could not be migrated",
            ProblemKind::NotInVersion => "Route not available at this API version",
            ProblemKind::Misconfigured => "API versioning misconfigured",
        }
    }
}

/// A problem response with a complete JSON body and its `Content-Length`.
pub(crate) fn response<B>(
    status: StatusCode,
    body: serde_json::Value,
    wrap: impl FnOnce(Bytes) -> B,
) -> Response<B> {
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let mut response = Response::new(wrap(bytes.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}

/// The 500 answered when the layers are wired so that a version check
/// cannot run (logged by the caller).
#[cold]
pub(crate) fn misconfigured<B>(detail: &str, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    response(
        status,
        body_problem(ProblemKind::Misconfigured, status, detail.to_owned()),
        wrap,
    )
}

/// A problem document with only the standard members.
pub(crate) fn body_problem(
    kind: ProblemKind,
    status: StatusCode,
    detail: String,
) -> serde_json::Value {
    serde_json::json!({
        "type": kind.type_uri(),
        "title": kind.title(),
        "status": status.as_u16(),
        "detail": detail,
    })
}

/// The longest part of a client's value echoed in errors and problems.
pub(crate) const ECHO_MAX: usize = 64;

/// `raw` as lossy UTF-8, cut after [`ECHO_MAX`] bytes (on a character
/// boundary) with `…` appended when longer: a client's 64 KB header must
/// not come back twice in a 400.
#[cold]
pub(crate) fn echo(raw: &[u8]) -> String {
    if raw.len() <= ECHO_MAX {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let text = String::from_utf8_lossy(&raw[..ECHO_MAX]);
    // A multi-byte character cut in two became U+FFFD at the end: drop it.
    let mut text = text.trim_end_matches('\u{FFFD}').to_owned();
    text.push('…');
    text
}
