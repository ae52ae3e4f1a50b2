//! Transforms through the layers, driven with `ServiceExt::oneshot`.
#![cfg(feature = "transform")]

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use engine_ops_apiversion::transform::{Change, Changes, TransformLayer, json};
use engine_ops_apiversion::{ApiVersionLayer, Policy, Scheme, Version, VersionedBody};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

fn policy() -> Policy {
    Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .version(Version::int(3))
        .header_source()
        .build()
        .expect("valid policy")
}

/// v2 renamed `name` to `full_name`; v3 turned `price` (a number) into
/// `{amount, currency}`, only on `/orders`.
fn changes(max: usize) -> Changes {
    changes_capped(max, max)
}

/// [`changes`] with a request cap and a response cap of their own.
fn changes_capped(max_request: usize, max_response: usize) -> Changes {
    Changes::builder(&policy())
        .change(
            Change::new(Version::int(2), "`name` became `full_name`")
                .upgrade_request(|v| json::rename_field(v, "name", "full_name"))
                .downgrade_response(|v| json::rename_field(v, "full_name", "name")),
        )
        .change(
            Change::new(Version::int(3), "`price` became an object")
                .routes(["/orders"])
                .upgrade_request(|v| {
                    json::for_each_object(v, |o| {
                        if let Some(price) = o.remove("price") {
                            o.insert("price".into(), json!({"amount": price, "currency": "EUR"}));
                        }
                    })
                })
                .downgrade_response(|v| {
                    json::for_each_object(v, |o| {
                        if let Some(amount) = o
                            .get_mut("price")
                            .and_then(|p| p.get_mut("amount"))
                            .map(Value::take)
                        {
                            o.insert("price".into(), amount);
                        }
                    })
                }),
        )
        .max_request_bytes(max_request)
        .max_response_bytes(max_response)
        .build()
        .expect("valid changes")
}

/// The head (v3) handler: echoes the JSON it got, adding `seen_streaming`
/// (whether the body reached it untouched) and an ETag. `/text` answers
/// plain text; `/fail` a 422 JSON error in the head shape.
async fn handler(
    request: Request<VersionedBody<Full<Bytes>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let untouched = request.body().is_inner();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let mut response = if path == "/text" {
        let mut r = Response::new(Full::new(body));
        r.headers_mut()
            .insert("content-type", "text/plain".parse().expect("value"));
        r
    } else {
        let mut doc: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        if let Value::Object(map) = &mut doc {
            map.insert("untouched".into(), untouched.into());
            map.insert(
                "length_header".into(),
                headers
                    .get("content-length")
                    .map(|v| v.to_str().unwrap_or(""))
                    .into(),
            );
        }
        let mut r = Response::new(Full::new(Bytes::from(
            serde_json::to_vec(&doc).expect("json"),
        )));
        r.headers_mut()
            .insert("content-type", "application/json".parse().expect("value"));
        r.headers_mut()
            .insert("etag", "\"abc\"".parse().expect("value"));
        if path == "/fail" {
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        r
    };
    response
        .headers_mut()
        .insert("x-path", path.parse().expect("value"));
    Ok(response)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    untouched: bool,
}

async fn call(
    version: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    max: usize,
) -> Answer {
    let service = ServiceBuilder::new()
        .layer(ApiVersionLayer::new(policy()))
        .layer(TransformLayer::new(changes(max)))
        .service(service_fn(handler));
    let mut request = Request::post(path).header("x-api-version", version);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    // ApiVersion wraps Transform's body: inner-of-inner means untouched.
    let untouched = response
        .body()
        .get_ref()
        .is_some_and(VersionedBody::is_inner);
    let (status, headers, body) = common::collect(response).await;
    Answer {
        status,
        headers,
        body,
        untouched,
    }
}

/// [`call`] with a JSON body and no size cap to speak of.
async fn call_json(version: &str, path: &str, body: &str) -> Answer {
    call(version, path, Some("application/json"), body, 1 << 20).await
}

fn doc(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body).expect("json body")
}

/// A response's status and JSON body.
async fn status_and_json<B>(response: Response<B>) -> (StatusCode, Value)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (status, _, body) = common::collect(response).await;
    (status, serde_json::from_slice(&body).expect("json"))
}

#[tokio::test]
async fn v1_goes_up_the_chain_and_back_down() {
    let body = r#"{"name": "Ada", "price": 10, "tags": [1, null, "x"], "note": null, "zero": 0}"#;
    let answer = call_json("1", "/orders", body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = doc(&answer);
    // The handler saw the v3 shape (upgraded, re-serialised with a fixed length)...
    assert_eq!(doc["untouched"], false);
    assert!(!answer.untouched, "the response was rewritten");
    // ...and the client gets the v1 shape back, everything else intact.
    assert_eq!(doc["name"], "Ada");
    assert!(doc.get("full_name").is_none());
    assert_eq!(doc["price"], 10);
    assert_eq!(doc["tags"], json!([1, null, "x"]));
    assert_eq!(doc["note"], Value::Null);
    assert_eq!(doc["zero"], 0);
    assert_eq!(
        answer.headers["content-length"],
        answer.body.len().to_string().as_str()
    );
    assert!(answer.headers.get("etag").is_none());
    assert_eq!(answer.headers["api-version"], "1");
}

#[tokio::test]
async fn the_handler_sees_the_head_shape() {
    let changes = changes(1 << 20);
    let head = changes.migrate_request_for(
        "/orders",
        json!({"name": "Ada", "price": 10}),
        Version::int(1),
    );
    assert_eq!(
        head,
        json!({"full_name": "Ada", "price": {"amount": 10, "currency": "EUR"}})
    );
    // The request Content-Length the handler saw matches the rewritten body.
    let answer = call_json("1", "/orders", r#"{"name":"Ada","price":10}"#).await;
    let expected = serde_json::to_vec(&head).expect("json").len().to_string();
    assert_eq!(doc(&answer)["length_header"], expected);
}

#[tokio::test]
async fn route_scoped_changes_apply_only_on_their_routes() {
    let answer = call_json("2", "/orders", r#"{"full_name":"Ada","price":10}"#).await;
    assert_eq!(doc(&answer)["price"], 10);
    // On another route only the unscoped change would apply, and v2 is past it:
    // nothing to do, so nothing is buffered.
    let answer = call_json("2", "/users", r#"{"full_name":"Ada","price":10}"#).await;
    assert_eq!(doc(&answer)["untouched"], true);
    assert!(answer.untouched);
    assert!(answer.headers.get("etag").is_some());
}

#[tokio::test]
async fn the_head_version_is_never_buffered() {
    let answer = call_json("3", "/orders", r#"{"full_name":"Ada"}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(doc(&answer)["untouched"], true);
    assert!(answer.untouched);
    assert_eq!(answer.headers["etag"], "\"abc\"");
}

#[tokio::test]
async fn oversized_bodies_answer_413() {
    let body = format!(r#"{{"name": "{}"}}"#, "x".repeat(200));
    let answer = call("1", "/orders", Some("application/json"), &body, 100).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(doc(&answer)["type"], common::problem_type("body-too-large"));
    // Discovery headers are still stamped by the outer layer.
    assert_eq!(answer.headers["api-supported-versions"], "1, 2, 3");
}

#[tokio::test]
async fn invalid_json_answers_a_400_problem() {
    let answer = call_json("1", "/orders", "{not json").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let doc = doc(&answer);
    assert_eq!(doc["type"], common::problem_type("invalid-body"));
    assert_eq!(doc["status"], 400);
}

#[tokio::test]
async fn non_json_bodies_pass_through() {
    let answer = call("1", "/text", Some("text/plain"), "name: Ada", 1 << 20).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "name: Ada");
    assert_eq!(answer.headers["x-path"], "/text");
}

#[tokio::test]
async fn vendor_json_types_are_migrated() {
    let answer = call(
        "1",
        "/orders",
        Some("application/vnd.acme+json; charset=utf-8"),
        r#"{"name":"Ada"}"#,
        1 << 20,
    )
    .await;
    assert_eq!(doc(&answer)["name"], "Ada");
    assert_eq!(doc(&answer)["untouched"], false);
}

#[tokio::test]
async fn error_responses_are_not_downgraded() {
    let answer = call_json("1", "/fail", r#"{"name":"Ada"}"#).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The request was upgraded (the handler saw full_name) and the error body
    // is returned in the head shape, untouched.
    assert_eq!(doc(&answer)["full_name"], "Ada");
    assert!(answer.untouched);
}

#[tokio::test]
async fn top_level_arrays_and_scalars_survive() {
    let answer = call_json("1", "/orders", r#"[{"name":"A","price":1},null,7,"s"]"#).await;
    // The handler wraps nothing for non-objects: it echoes the array as is.
    assert_eq!(
        doc(&answer),
        json!([{"name": "A", "price": 1}, null, 7, "s"])
    );
}

#[test]
fn migrate_response_renders_payloads_outside_http() {
    let changes = changes(1 << 20);
    let head = json!({"full_name": "Ada", "price": {"amount": 10, "currency": "EUR"}});
    // Unscoped: only the v2 rename applies.
    assert_eq!(
        changes.migrate_response(head.clone(), Version::int(1)),
        json!({"name": "Ada", "price": {"amount": 10, "currency": "EUR"}})
    );
    assert_eq!(
        changes.migrate_response_for("/orders", head, Version::int(1)),
        json!({"name": "Ada", "price": 10})
    );
    assert_eq!(
        changes.iter().map(|c| c.description()).collect::<Vec<_>>(),
        ["`name` became `full_name`", "`price` became an object"]
    );
}

#[tokio::test]
async fn requests_without_a_resolution_are_refused_loudly() {
    // TransformLayer outside ApiVersionLayer (or without it): serving the
    // head shape to every client would be silent and wrong.
    let service = ServiceBuilder::new()
        .layer(TransformLayer::new(changes(1 << 20)))
        .layer(ApiVersionLayer::new(policy()))
        .service(service_fn(handler));
    let request = Request::post("/orders")
        .header("x-api-version", "1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"name":"Ada"}"#)))
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    let (status, doc) = status_and_json(response).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(doc["type"], common::problem_type("misconfigured"));
    assert!(
        doc["detail"]
            .as_str()
            .is_some_and(|d| d.contains("put ApiVersionLayer outside TransformLayer")),
        "{doc}"
    );
}

/// A streamed body with no size hint, optionally failing after its chunks.
struct Chunks {
    chunks: std::collections::VecDeque<Bytes>,
    fail: bool,
}

impl Chunks {
    fn new(chunks: &[&str], fail: bool) -> Self {
        Chunks {
            chunks: chunks.iter().map(|c| Bytes::from(c.to_string())).collect(),
            fail,
        }
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(match self.chunks.pop_front() {
            Some(chunk) => Some(Ok(http_body::Frame::data(chunk))),
            None if self.fail => {
                self.fail = false;
                Some(Err(std::io::Error::other("connection reset")))
            }
            None => None,
        })
    }
}

async fn streamed_request(chunks: &[&str], fail: bool, max: usize) -> (StatusCode, Value) {
    streamed_request_capped(chunks, fail, max, max).await
}

/// A v1 request whose body comes in `chunks`, echoed by the handler.
async fn streamed_request_capped(
    chunks: &[&str],
    fail: bool,
    max_request: usize,
    max_response: usize,
) -> (StatusCode, Value) {
    let service = ServiceBuilder::new()
        .layer(ApiVersionLayer::new(policy()))
        .layer(TransformLayer::new(changes_capped(
            max_request,
            max_response,
        )))
        .service(service_fn(
            |request: Request<VersionedBody<Chunks>>| async move {
                let body = request
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string());
                let text = body
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default();
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().expect("value"));
                Ok::<_, Infallible>(response)
            },
        ));
    let request = Request::post("/orders")
        .header("x-api-version", "1")
        .header("content-type", "application/json")
        .body(Chunks::new(chunks, fail))
        .expect("request");
    status_and_json(service.oneshot(request).await.expect("infallible")).await
}

#[tokio::test]
async fn streamed_request_bodies_are_capped_while_reading() {
    let (status, doc) = streamed_request(
        &[r#"{"name":""#, "xxxxxxxxxxxxxxxxxxxx", r#""}"#],
        false,
        1 << 20,
    )
    .await;
    // Buffered across chunks, upgraded, echoed, downgraded: v1 in, v1 out.
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, json!({"name": "xxxxxxxxxxxxxxxxxxxx"}));
    let (status, doc) = streamed_request(
        &[r#"{"name":""#, "xxxxxxxxxxxxxxxxxxxx", r#""}"#],
        false,
        16,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(doc["type"], common::problem_type("body-too-large"));
}

#[tokio::test]
async fn failing_request_bodies_answer_a_400_problem() {
    let (status, doc) = streamed_request(&[r#"{"name":"#], true, 1 << 20).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(doc["type"], common::problem_type("body-failed"));
    assert!(
        doc["detail"]
            .as_str()
            .is_some_and(|d| d.contains("connection reset"))
    );
}

async fn streamed_response(
    chunks: &'static [&'static str],
    fail: bool,
    max: usize,
) -> (StatusCode, Value) {
    let service = ServiceBuilder::new()
        .layer(ApiVersionLayer::new(policy()))
        .layer(TransformLayer::new(changes(max)))
        .service(service_fn(
            move |_: Request<VersionedBody<Full<Bytes>>>| async move {
                let mut response = Response::new(Chunks::new(chunks, fail));
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().expect("value"));
                Ok::<_, Infallible>(response)
            },
        ));
    let request = Request::get("/orders")
        .header("x-api-version", "1")
        .body(Full::default())
        .expect("request");
    status_and_json(service.oneshot(request).await.expect("infallible")).await
}

#[tokio::test]
async fn streamed_responses_are_migrated_or_sent_as_written() {
    let (status, doc) = streamed_response(
        &[r#"{"full_name":"#, r#""Ada","price":{"amount":1}}"#],
        false,
        1 << 20,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, json!({"name": "Ada", "price": 1}));

    // Over the cap after the first chunk: what was read and the rest go out
    // as the handler wrote them, at the head version, with its status.
    let (status, doc) = streamed_response(&[r#"{"full_name":"#, r#""Ada"}"#], false, 8).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, json!({"full_name": "Ada"}));

    let (status, doc) = streamed_response(&[r#"{"full_name":"#], true, 1 << 20).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(doc["type"], common::problem_type("body-failed"));
}

/// Every split of a body into two frames (an empty frame first or last
/// included), at the cap and one byte under it: a cap counts the bytes of
/// the body, whatever its frames. Request and response caps apart.
#[tokio::test]
async fn caps_hold_to_the_byte_whatever_the_frames() {
    let v1 = r#"{"name":"Ada Lovelace"}"#;
    for split in 0..=v1.len() {
        let chunks = [&v1[..split], &v1[split..]];
        let (status, doc) = streamed_request_capped(&chunks, false, v1.len(), 1 << 20).await;
        assert_eq!(
            (status, &doc),
            (StatusCode::OK, &json!({"name": "Ada Lovelace"})),
            "split at {split}"
        );
        let (status, doc) = streamed_request_capped(&chunks, false, v1.len() - 1, 1 << 20).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "split at {split}");
        assert_eq!(doc["type"], common::problem_type("body-too-large"));
    }

    let head = r#"{"full_name":"Ada Lovelace"}"#;
    for split in 0..=head.len() {
        let chunks = vec![head[..split].to_owned(), head[split..].to_owned()];
        let respond = |max: usize| {
            let chunks = chunks.clone();
            let service = ServiceBuilder::new()
                .layer(ApiVersionLayer::new(policy()))
                .layer(TransformLayer::new(changes_capped(1 << 20, max)))
                .service(service_fn(move |_: Request<VersionedBody<Full<Bytes>>>| {
                    let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
                    let mut response = Response::new(Chunks::new(&chunks, false));
                    *response.status_mut() = StatusCode::CREATED;
                    response
                        .headers_mut()
                        .insert("content-type", "application/json".parse().expect("value"));
                    async move { Ok::<_, Infallible>(response) }
                }));
            let request = Request::post("/users")
                .header("x-api-version", "1")
                .body(Full::default())
                .expect("request");
            async move {
                let response = service.oneshot(request).await.expect("infallible");
                let version = response.headers()["api-version"].clone();
                let (status, doc) = status_and_json(response).await;
                (status, version, doc)
            }
        };
        // At the cap: migrated to v1.
        let (status, version, doc) = respond(head.len()).await;
        assert_eq!(
            (status, version.to_str().ok(), doc),
            (
                StatusCode::CREATED,
                Some("1"),
                json!({"name": "Ada Lovelace"})
            ),
            "split at {split}"
        );
        // One byte under: sent as the handler wrote it, with its status, at
        // the head version.
        let (status, version, doc) = respond(head.len() - 1).await;
        assert_eq!(
            (status, version.to_str().ok(), doc),
            (
                StatusCode::CREATED,
                Some("3"),
                json!({"full_name": "Ada Lovelace"})
            ),
            "split at {split}"
        );
    }
}

/// v2 (data, both ways): `name` became `full_name`, `nickname` was added,
/// `legacy_id` removed, declared once per body shape: the list endpoint's
/// `{"data": [...]}` and the single-user endpoints. v3: error documents'
/// `message` became `detail` (opted into error migration).
fn data_changes() -> Changes {
    Changes::builder(&policy())
        .change(
            Change::new(Version::int(2), "users list: renamed, added, removed")
                .endpoint(http::Method::GET, "/users")
                .renamed("/data/*/name", "full_name")
                .added("/data/*/nickname", Value::Null)
                .removed("/data/*/legacy_id", 0),
        )
        .change(
            Change::new(Version::int(2), "user: renamed, added, removed")
                .endpoint(http::Method::POST, "/users")
                .endpoint(http::Method::GET, "/users/{id}")
                .renamed("/name", "full_name")
                .added("/nickname", Value::Null)
                .removed("/legacy_id", 0),
        )
        .change(
            Change::new(Version::int(3), "errors: `message` became `detail`")
                .renamed("/message", "detail")
                .migrate_errors(),
        )
        .build()
        .expect("valid changes")
}

/// A head (v3) handler answering fixed text per route, and echoing what it
/// was sent on POST.
async fn fixed(
    request: Request<VersionedBody<Full<Bytes>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let sent = body.collect().await.expect("body").to_bytes();
    let (status, text): (u16, Bytes) = match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/users") => (
            200,
            Bytes::from_static(
                br#"{"data": [{"id": 1, "full_name": "Ada", "nickname": "A", "balance": 1e400}, {"id": 2, "full_name": "Alan", "nickname": null}], "next": null}"#,
            ),
        ),
        ("GET", "/users/1") => (200, Bytes::from_static(br#"{"full_name":"Ada","nickname":"A"}"#)),
        ("POST", "/users") => (201, sent),
        ("PUT", "/users") => (200, sent),
        ("GET", "/missing") => (404, Bytes::from_static(br#"{"detail":"no such thing","full_name":null}"#)),
        _ => (200, Bytes::from_static(br#"{"full_name":"untouched","nickname":"n"}"#)),
    };
    let mut response = Response::new(Full::new(text));
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("value"));
    response
        .headers_mut()
        .insert("etag", "\"v3\"".parse().expect("value"));
    Ok(response)
}

async fn call_fixed(method: &str, path: &str, version: &str, body: &'static str) -> Answer {
    let service = ApiVersionLayer::new(policy())
        .with_changes(data_changes())
        .expect("same policy")
        .layer(service_fn(fixed));
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("x-api-version", version)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    let untouched = response
        .body()
        .get_ref()
        .is_some_and(VersionedBody::is_inner);
    let (status, headers, body) = common::collect(response).await;
    Answer {
        status,
        headers,
        body,
        untouched,
    }
}

fn text(answer: &Answer) -> &str {
    std::str::from_utf8(&answer.body).expect("utf-8")
}

#[tokio::test]
async fn declared_operations_reach_into_lists_and_keep_every_other_byte() {
    let answer = call_fixed("GET", "/users", "1", "").await;
    assert_eq!(answer.status, StatusCode::OK);
    // Renamed in place, added field dropped, removed field restored with
    // its default; `1e400` (no f64 holds it) and the spacing kept.
    assert_eq!(
        text(&answer),
        r#"{"data": [{"id": 1, "name": "Ada", "balance": 1e400, "legacy_id": 0}, {"id": 2, "name": "Alan", "legacy_id": 0}], "next": null}"#
    );
    assert_eq!(
        answer.headers["content-length"],
        answer.body.len().to_string().as_str()
    );
    assert!(answer.headers.get("etag").is_none());
    let single = call_fixed("GET", "/users/1", "1", "").await;
    assert_eq!(text(&single), r#"{"name":"Ada","legacy_id":0}"#);
    // At v2 the users change is behind: only the v3 error change remains,
    // and it does not touch this success body, whose bytes and validators
    // then stand.
    let v2 = call_fixed("GET", "/users/1", "2", "").await;
    assert_eq!(text(&v2), r#"{"full_name":"Ada","nickname":"A"}"#);
    assert_eq!(v2.headers["etag"], "\"v3\"");
}

#[tokio::test]
async fn requests_go_up_with_the_same_declaration() {
    let answer = call_fixed(
        "POST",
        "/users",
        "1",
        r#"{"name": "Grace", "legacy_id": 12, "big": 123456789012345678901234567890}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    // The handler echoed what it was sent (the head shape) and the echo came
    // back down: round trip exact but for the dropped legacy field, whose
    // default stands in.
    assert_eq!(
        text(&answer),
        r#"{"name": "Grace", "big": 123456789012345678901234567890, "legacy_id": 0}"#
    );
}

#[tokio::test]
async fn changes_keyed_on_an_endpoint_leave_other_methods_alone() {
    // PUT /users is not one of the change's endpoints: the handler sees the
    // body as sent, and the answer is not renamed either.
    let answer = call_fixed("PUT", "/users", "1", r#"{"name":"Grace"}"#).await;
    assert_eq!(text(&answer), r#"{"name":"Grace"}"#);
    let other = call_fixed("GET", "/elsewhere", "1", "").await;
    assert_eq!(text(&other), r#"{"full_name":"untouched","nickname":"n"}"#);
    // The v3 change applies everywhere but names nothing in this body: the
    // bytes, and the validator describing them, stand.
    assert_eq!(other.headers["etag"], "\"v3\"");
    assert_eq!(other.headers.get("content-length"), None);
    let head = call_fixed("GET", "/elsewhere", "3", "").await;
    assert!(head.untouched, "at the head nothing is even buffered");
}

#[tokio::test]
async fn error_bodies_are_migrated_only_by_changes_that_opt_in() {
    let answer = call_fixed("GET", "/missing", "2", "").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        text(&answer),
        r#"{"message":"no such thing","full_name":null}"#
    );
    // At v1 the users change (not opted in) would rename `full_name`; it does not.
    let v1 = call_fixed("GET", "/missing", "1", "").await;
    assert_eq!(text(&v1), r#"{"message":"no such thing","full_name":null}"#);
}

#[test]
fn changes_for_another_policy_are_refused() {
    let other = Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .header_source()
        .build()
        .expect("valid policy");
    let err = ApiVersionLayer::new(other)
        .with_changes(data_changes())
        .expect_err("versions differ");
    assert!(
        err.to_string()
            .contains("build the changes from the layer's policy"),
        "{err}"
    );
}

#[test]
fn the_changelog_is_markdown_and_data() {
    let changelog = data_changes().changelog();
    let markdown = changelog.to_markdown();
    assert!(
        markdown.starts_with("# API changelog\n\n## Version 3\n"),
        "{markdown}"
    );
    assert!(markdown.contains("- **errors: `message` became `detail`**\n  - `/message` was renamed `detail`\n  - error responses are migrated too\n"), "{markdown}");
    assert!(
        markdown
            .contains("- **user: renamed, added, removed** (`POST /users`, `GET /users/{id}`)\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("  - `/data/*/legacy_id` was removed (older responses get `0`)\n"),
        "{markdown}"
    );
    assert!(
        markdown.ends_with("## Version 1\n\nThe first version.\n"),
        "{markdown}"
    );
    let data = changelog.to_json();
    assert_eq!(data["versions"].as_array().map(Vec::len), Some(3));
    assert_eq!(data["versions"][1]["version"], "2");
    assert_eq!(
        data["versions"][1]["changes"][0]["operations"][1],
        json!({"op": "added", "path": "/data/*/nickname", "default": null})
    );
    assert_eq!(data["versions"][0]["changes"][0]["migrates_errors"], true);
}
