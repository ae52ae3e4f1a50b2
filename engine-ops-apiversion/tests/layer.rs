//! The tower layer, driven with `ServiceExt::oneshot`.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use engine_ops_apiversion::policy::{Lifecycle, ManualClock};
use engine_ops_apiversion::usage::Outcome;
use engine_ops_apiversion::{
    ApiVersionLayer, Missing, Policy, Resolution, Scheme, Source, Version, VersionSpec,
};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};

const DEPRECATED_AT: u64 = 1_717_200_000; // 2024-06-01T00:00:00Z
const SUNSET_AT: u64 = 1_735_689_600; // 2025-01-01T00:00:00Z

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn policy(clock: Arc<ManualClock>, enforce: bool) -> Policy {
    Policy::builder(Scheme::Integer)
        .version(
            VersionSpec::new(Version::int(1))
                .deprecated_at(at(DEPRECATED_AT))
                .sunset_at(at(SUNSET_AT))
                .deprecation_link("https://example.com/v1-deprecation")
                .successor_link("/api/v2"),
        )
        .version(Version::int(2))
        .path_source("/api")
        .header_source()
        .query_source()
        .media_type_source()
        .on_missing(Missing::Latest)
        .neutral_path("/health")
        .enforce_sunset(enforce)
        .clock(clock)
        .build()
        .expect("valid policy")
}

/// The inner service reports what it saw: the path and the resolution.
/// It sets a `Link` and a `Vary` of its own, which must survive.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let seen = match request.extensions().get::<Resolution>() {
        Some(r) => format!(
            "{} {} {:?} {}",
            request.uri(),
            r.version(),
            r.source(),
            r.is_defaulted()
        ),
        None => format!("{} none", request.uri()),
    };
    let mut response = Response::new(Full::new(Bytes::from(seen)));
    response.headers_mut().insert(
        "link",
        "</orders?page=2>; rel=\"next\"".parse().expect("value"),
    );
    response
        .headers_mut()
        .insert("vary", "Accept-Encoding".parse().expect("value"));
    Ok(response)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn call(policy: &Policy, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let service = ApiVersionLayer::new(policy.clone()).layer(service_fn(echo));
    let response = service
        .oneshot(request.body(Full::default()).expect("request"))
        .await
        .expect("infallible");
    let (status, headers, body) = common::collect(response).await;
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("utf-8"),
    }
}

fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

fn before_deprecation() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at(DEPRECATED_AT - 86_400)))
}

#[tokio::test]
async fn resolves_rewrites_and_stamps_an_active_version() {
    let policy = policy(before_deprecation(), false);
    let answer = call(&policy, "/api/v2/orders?x=1", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "/api/orders?x=1 2 Some(Path) false");
    assert_eq!(answer.headers["api-version"], "2");
    assert_eq!(answer.headers["api-supported-versions"], "1, 2");
    assert!(answer.headers.get("api-deprecated-versions").is_none());
    assert!(answer.headers.get("deprecation").is_none());
    assert_eq!(
        all(&answer.headers, "vary"),
        ["Accept-Encoding", "x-api-version, accept"]
    );
    assert_eq!(
        all(&answer.headers, "link"),
        ["</orders?page=2>; rel=\"next\""]
    );
    assert!(answer.headers.get("warning").is_none());
}

#[tokio::test]
async fn deprecated_versions_carry_rfc_headers_appended_to_existing_links() {
    let clock = before_deprecation();
    let policy = policy(Arc::clone(&clock), false);
    // Before the date: a future Deprecation date is announced, not yet listed.
    let answer = call(&policy, "/api/orders", &[("x-api-version", "v1")]).await;
    assert_eq!(answer.headers["deprecation"], "@1717200000");
    assert_eq!(answer.headers["sunset"], "Wed, 01 Jan 2025 00:00:00 GMT");
    assert!(answer.headers.get("api-deprecated-versions").is_none());

    clock.set(at(DEPRECATED_AT + 1));
    let answer = call(&policy, "/api/orders", &[("x-api-version", "v1")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["api-version"], "1");
    assert_eq!(answer.headers["api-deprecated-versions"], "1");
    assert_eq!(
        all(&answer.headers, "link"),
        [
            "</orders?page=2>; rel=\"next\"",
            "<https://example.com/v1-deprecation>; rel=\"deprecation\", </api/v2>; rel=\"successor-version\"",
        ]
    );
    assert!(answer.headers.get("warning").is_none());
    // v2 responses list the deprecated v1 but carry no lifecycle headers of their own.
    let answer = call(&policy, "/api/v2/orders", &[]).await;
    assert_eq!(answer.headers["api-deprecated-versions"], "1");
    assert!(answer.headers.get("deprecation").is_none());
}

#[tokio::test]
async fn sunset_answers_410_only_when_enforced() {
    let clock = Arc::new(ManualClock::new(at(SUNSET_AT + 1)));
    let lenient = call(&policy(Arc::clone(&clock), false), "/api/v1/orders", &[]).await;
    assert_eq!(lenient.status, StatusCode::OK);
    let strict = call(&policy(clock, true), "/api/v1/orders", &[]).await;
    assert_eq!(strict.status, StatusCode::GONE);
    let doc: serde_json::Value = serde_json::from_str(&strict.body).expect("json");
    assert_eq!(doc["type"], common::problem_type("sunset"));
    assert_eq!(doc["status"], 410);
    assert_eq!(doc["sunset"], "Wed, 01 Jan 2025 00:00:00 GMT");
    assert_eq!(doc["requested"], "1");
}

#[tokio::test]
async fn errors_are_problem_json_with_discovery_headers() {
    let policy = policy(before_deprecation(), false);
    let cases = [
        (
            "/api/v9/orders",
            vec![],
            "unsupported",
            Some("v9"),
            Some("path"),
        ),
        (
            "/api/orders",
            vec![("x-api-version", "two")],
            "invalid",
            Some("two"),
            Some("header"),
        ),
        (
            "/api/v1/orders",
            vec![("x-api-version", "2")],
            "ambiguous",
            None,
            None,
        ),
        (
            "/api/orders?api_version=1&api_version=2",
            vec![],
            "ambiguous",
            None,
            None,
        ),
    ];
    for (uri, headers, kind, requested, source) in cases {
        let answer = call(&policy, uri, &headers).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert_eq!(
            answer.headers["content-length"],
            answer.body.len().to_string().as_str()
        );
        assert_eq!(answer.headers["api-supported-versions"], "1, 2", "{uri}");
        assert_eq!(answer.headers["vary"], "x-api-version, accept");
        assert!(answer.headers.get("api-version").is_none());
        let doc: serde_json::Value = serde_json::from_str(&answer.body).expect("json");
        assert_eq!(doc["type"], common::problem_type(kind), "{uri}");
        assert_eq!(doc["status"], 400);
        assert_eq!(doc["supported"], serde_json::json!(["1", "2"]));
        if let Some(requested) = requested {
            assert_eq!(doc["requested"], requested, "{uri}");
        }
        if let Some(source) = source {
            assert_eq!(doc["source"], source);
        }
        if kind == "ambiguous" {
            assert_eq!(doc["requested"].as_array().map(Vec::len), Some(2));
        }
    }
}

#[tokio::test]
async fn missing_versions_are_rejected_when_required() {
    let policy = Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .header_source()
        .build()
        .expect("valid");
    let answer = call(&policy, "/orders", &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let doc: serde_json::Value = serde_json::from_str(&answer.body).expect("json");
    assert_eq!(doc["type"], common::problem_type("missing"));
    assert_eq!(doc["supported"], serde_json::json!(["1"]));
    assert_eq!(answer.headers["api-supported-versions"], "1");
}

#[tokio::test]
async fn defaults_and_neutral_routes_are_served() {
    let policy = policy(before_deprecation(), false);
    let answer = call(&policy, "/api/orders", &[]).await;
    assert_eq!(answer.body, "/api/orders 2 None true");
    assert_eq!(answer.headers["api-version"], "2");
    // A neutral route never fails, and echoes no version it did not get.
    let answer = call(&policy, "/health", &[("x-api-version", "garbage")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.headers.get("api-version").is_none());
    assert_eq!(answer.headers["api-supported-versions"], "1, 2");
}

#[tokio::test]
async fn vary_is_merged_without_duplicates() {
    let policy = policy(before_deprecation(), false);
    let service = |vary: &'static str| {
        ApiVersionLayer::new(policy.clone()).layer(service_fn(
            move |_req: Request<Full<Bytes>>| async move {
                let mut response = Response::new(Full::<Bytes>::default());
                response
                    .headers_mut()
                    .insert("vary", vary.parse().expect("value"));
                Ok::<_, Infallible>(response)
            },
        ))
    };
    for (existing, expected) in [
        ("X-API-Version", vec!["X-API-Version", "accept"]),
        ("accept, x-api-version", vec!["accept, x-api-version"]),
        ("*", vec!["*"]),
        ("origin", vec!["origin", "x-api-version, accept"]),
    ] {
        let request = Request::get("/api/v2/x")
            .body(Full::default())
            .expect("request");
        let response = service(existing)
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(all(response.headers(), "vary"), expected, "{existing}");
    }
}

#[tokio::test]
async fn usage_is_counted_by_version_source_and_outcome() {
    let clock = Arc::new(ManualClock::new(at(DEPRECATED_AT + 1)));
    let policy = policy(clock, false);
    call(&policy, "/api/v1/a", &[]).await;
    call(&policy, "/api/a", &[("x-api-version", "1")]).await;
    call(
        &policy,
        "/api/a",
        &[("accept", "application/json; version=2")],
    )
    .await;
    call(&policy, "/api/a", &[]).await;
    call(&policy, "/api/v7/a", &[]).await;
    call(&policy, "/health", &[]).await;
    let usage = policy.usage();
    assert_eq!(usage.total(), 6);
    assert_eq!(usage.for_version(Version::int(1)), 2);
    assert_eq!(usage.for_outcome(Outcome::Deprecated), 2);
    assert_eq!(usage.for_outcome(Outcome::Unsupported), 1);
    assert_eq!(usage.for_outcome(Outcome::Neutral), 1);
    let defaulted = usage
        .records()
        .iter()
        .find(|r| r.source.is_none() && r.outcome == Outcome::Active)
        .expect("defaulted record");
    assert_eq!(
        (defaulted.version, defaulted.count),
        (Some(Version::int(2)), 1)
    );
    assert!(
        usage
            .records()
            .iter()
            .any(|r| r.source == Some(Source::MediaType) && r.count == 1)
    );
}

#[tokio::test]
async fn lifecycle_is_visible_to_handlers() {
    let clock = Arc::new(ManualClock::new(at(DEPRECATED_AT + 1)));
    let policy = policy(clock, false);
    let service =
        ApiVersionLayer::new(policy).layer(service_fn(|req: Request<Full<Bytes>>| async move {
            let lifecycle = req
                .extensions()
                .get::<Resolution>()
                .map(Resolution::lifecycle);
            assert_eq!(lifecycle, Some(Lifecycle::Deprecated));
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }));
    let request = Request::get("/api/v1/a")
        .body(Full::default())
        .expect("request");
    assert_eq!(
        service.oneshot(request).await.expect("infallible").status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rewriting_can_be_turned_off() {
    let policy = policy(before_deprecation(), false);
    let service = ApiVersionLayer::new(policy)
        .rewrite_path(false)
        .layer(service_fn(echo));
    let request = Request::get("/api/v2/orders")
        .body(Full::default())
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    let (_, _, body) = common::collect(response).await;
    assert_eq!(body, "/api/v2/orders 2 Some(Path) false");
}

mod span_fields {
    //! A minimal subscriber that keeps the fields recorded on spans.
    use super::*;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Default, Clone)]
    pub(super) struct Recorder {
        pub(super) fields: Arc<Mutex<Vec<(String, String)>>>,
        span: Arc<Mutex<Option<&'static Metadata<'static>>>>,
    }

    struct Collect<'a>(&'a mut Vec<(String, String)>);

    impl Visit for Collect<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attributes: &Attributes<'_>) -> Id {
            *self.span.lock().expect("lock") = Some(attributes.metadata());
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            let mut fields = self.fields.lock().expect("lock");
            values.record(&mut Collect(&mut fields));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
        fn current_span(&self) -> tracing_core::span::Current {
            match *self.span.lock().expect("lock") {
                Some(metadata) => tracing_core::span::Current::new(Id::from_u64(1), metadata),
                None => tracing_core::span::Current::none(),
            }
        }
    }

    use tracing::subscriber::set_default;

    #[test]
    fn tracing_fields_are_recorded_on_the_request_span() {
        let recorder = Recorder::default();
        let _guard = set_default(recorder.clone());
        let span = tracing::info_span!(
            "request",
            api.version = tracing::field::Empty,
            api.version.source = tracing::field::Empty,
            api.version.defaulted = tracing::field::Empty,
            api.version.lifecycle = tracing::field::Empty,
            api.version.outcome = tracing::field::Empty,
        );
        let _entered = span.enter();
        let clock = Arc::new(ManualClock::new(at(DEPRECATED_AT + 1)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(call(&policy(clock, false), "/api/v1/a", &[]));
        let fields = recorder.fields.lock().expect("lock").clone();
        for (name, value) in [
            ("api.version", "1"),
            ("api.version.source", "path"),
            ("api.version.defaulted", "false"),
            ("api.version.lifecycle", "deprecated"),
            ("api.version.outcome", "deprecated"),
        ] {
            assert!(
                fields.iter().any(|(n, v)| n == name && v == value),
                "{name}={value} not in {fields:?}"
            );
        }
    }
}

#[tokio::test]
async fn problems_echo_a_bounded_part_of_the_client_value() {
    let policy = policy(before_deprecation(), false);
    let huge = "9".repeat(65 * 1024);
    let other = "8".repeat(65 * 1024);
    for headers in [
        vec![("x-api-version", huge.as_str())],
        vec![
            ("x-api-version", huge.as_str()),
            ("x-api-version", other.as_str()),
        ],
    ] {
        let answer = call(&policy, "/api/orders", &headers).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        // A 65 KB value must not come back (twice) in a 400.
        assert!(answer.body.len() < 1024, "{} bytes", answer.body.len());
        let doc: serde_json::Value = serde_json::from_str(&answer.body).expect("json");
        let echoed: Vec<&str> = match &doc["requested"] {
            serde_json::Value::String(value) => vec![value.as_str()],
            serde_json::Value::Array(values) => {
                values.iter().filter_map(|v| v["value"].as_str()).collect()
            }
            other => panic!("requested: {other}"),
        };
        for value in echoed {
            assert!(value.ends_with('…'), "{value}");
            assert!(value.len() <= 64 + '…'.len_utf8(), "{}", value.len());
        }
    }
}

#[tokio::test]
async fn the_410_after_a_sunset_says_when_and_where_to_go() {
    let clock = Arc::new(ManualClock::new(at(SUNSET_AT + 1)));
    let answer = call(&policy(clock, true), "/api/v1/orders", &[]).await;
    assert_eq!(answer.status, StatusCode::GONE);
    assert_eq!(
        all(&answer.headers, "sunset"),
        ["Wed, 01 Jan 2025 00:00:00 GMT"]
    );
    assert_eq!(all(&answer.headers, "deprecation"), ["@1717200000"]);
    assert_eq!(
        all(&answer.headers, "link"),
        [
            "<https://example.com/v1-deprecation>; rel=\"deprecation\", </api/v2>; rel=\"successor-version\""
        ]
    );
    // It was not served at v1: no version is echoed.
    assert!(answer.headers.get("api-version").is_none());
}

#[tokio::test]
async fn equally_preferred_versions_in_accept_are_ambiguous_like_two_header_lines() {
    let policy = policy(before_deprecation(), false);
    let tie = call(
        &policy,
        "/api/orders",
        &[(
            "accept",
            "application/json; version=1, application/json; version=2",
        )],
    )
    .await;
    assert_eq!(tie.status, StatusCode::BAD_REQUEST);
    let doc: serde_json::Value = serde_json::from_str(&tie.body).expect("json");
    assert_eq!(doc["type"], common::problem_type("ambiguous"));
    let lines = call(
        &policy,
        "/api/orders",
        &[("x-api-version", "1"), ("x-api-version", "2")],
    )
    .await;
    assert_eq!(lines.status, StatusCode::BAD_REQUEST);
    // Different q-values say which is preferred: no ambiguity.
    let ranked = call(
        &policy,
        "/api/orders",
        &[(
            "accept",
            "application/json; version=1; q=0.8, application/json; version=2; q=0.9",
        )],
    )
    .await;
    assert_eq!(ranked.status, StatusCode::OK);
    assert_eq!(ranked.headers["api-version"], "2");
}
