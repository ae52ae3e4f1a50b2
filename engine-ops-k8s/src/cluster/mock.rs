//! A mocked API server for request-shape tests (`tower_test`), as kube-rs's
//! own tests and controller-rs use: the test answers each request the client
//! sends, after checking its method, path, query and body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::{Handle, SendResponse};

pub(crate) type Server = Handle<Request<Body>, Response<Body>>;

/// A client whose every request reaches the returned handle.
pub(crate) fn pair() -> (Client, Server) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

/// One request as the API server received it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Value,
    send: Option<SendResponse<Response<Body>>>,
}

impl Seen {
    /// Answers `code` with `body`.
    pub(crate) fn reply(mut self, code: u16, body: &Value) {
        let response = Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.send.take().unwrap().send_response(response);
    }

    /// Answers 200 with `body`.
    pub(crate) fn ok(self, body: &Value) {
        self.reply(200, body);
    }

    /// Answers with a `Status` failure.
    pub(crate) fn fail(self, code: u16, reason: &str, message: &str) {
        self.reply(
            code,
            &serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "code": code, "reason": reason, "message": message,
            }),
        );
    }

    /// Asserts method and path.
    pub(crate) fn expect(&self, method: &str, path: &str) {
        assert_eq!(
            (self.method.as_str(), self.path.as_str()),
            (method, path),
            "request {} {}?{:?}",
            self.method,
            self.path,
            self.query
        );
    }
}

/// The next request, within a second (a missing request fails the test).
pub(crate) async fn next(server: &mut Server) -> Seen {
    let (request, send) = tokio::time::timeout(Duration::from_secs(1), server.next_request())
        .await
        .expect("the client sent no request within 1 s")
        .expect("the client was dropped");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON request body")
    };
    let query = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        content_type: parts
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
        send: Some(send),
    }
}

/// A PodTemplate anchor as the API server returns it.
pub(crate) fn anchor(namespace: &str, name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "PodTemplate",
        "metadata": {"name": name, "namespace": namespace, "uid": "anchor-uid", "resourceVersion": "10"},
        "template": {"metadata": {"labels": {"app.kubernetes.io/instance": name}},
                     "spec": {"containers": [{"name": "app", "image": "app@sha256:1"}]}},
    })
}
