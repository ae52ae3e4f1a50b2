//! Property tests: arbitrary paths, header bytes and query strings never
//! panic, and always end in a version or a problem.

use engine_ops_apiversion::{
    Conflict, Missing, Policy, Scheme, Source, Version, VersionError, resolve,
};
use proptest::prelude::*;

fn policy(conflict: Conflict, missing: Missing) -> Policy {
    Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .path_source("/api")
        .header_source()
        .query_source()
        .media_type_source_with("version", Some("acme"))
        .on_conflict(conflict)
        .on_missing(missing)
        .neutral_path("/health")
        .build()
        .expect("valid policy")
}

/// Builds request parts from raw pieces, skipping inputs `http` itself refuses.
fn parts(path: &str, query: &str, header: &[u8], accept: &[u8]) -> Option<http::request::Parts> {
    let uri = format!("{path}?{query}").parse::<http::Uri>().ok()?;
    let mut request = http::Request::get(uri).body(()).ok()?;
    if let Ok(value) = http::HeaderValue::from_bytes(header) {
        request.headers_mut().insert("x-api-version", value);
    }
    if let Ok(value) = http::HeaderValue::from_bytes(accept) {
        request.headers_mut().insert(http::header::ACCEPT, value);
    }
    Some(request.into_parts().0)
}

fn conflicts() -> impl Strategy<Value = Conflict> {
    prop_oneof![
        Just(Conflict::Reject),
        Just(Conflict::FirstWins),
        Just(Conflict::Prefer(Source::Header)),
        Just(Conflict::Prefer(Source::MediaType)),
    ]
}

fn missing() -> impl Strategy<Value = Missing> {
    prop_oneof![
        Just(Missing::Reject),
        Just(Missing::Latest),
        Just(Missing::Default(Version::int(1)))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_requests_yield_a_declared_version_or_an_error(
        path in "(/[a-zA-Z0-9v%._~-]{0,12}){0,5}",
        query in "[ -~]{0,40}",
        header in proptest::collection::vec(any::<u8>(), 0..24),
        accept in proptest::collection::vec(any::<u8>(), 0..48),
        conflict in conflicts(),
        missing in missing(),
    ) {
        let policy = policy(conflict, missing);
        let path = if path.is_empty() { "/".to_owned() } else { path };
        if let Some(parts) = parts(&path, &query, &header, &accept) {
            match resolve(&parts, &policy) {
                Ok(resolution) => {
                    prop_assert!(policy.versions().any(|v| v == resolution.version()));
                    if let Some(rewritten) = resolution.rewritten_path(parts.uri.path()) {
                        prop_assert!(rewritten.starts_with('/'));
                        prop_assert!(rewritten.len() < parts.uri.path().len());
                        let uri = resolution.rewrite().map(|r| r.apply_to_uri(&parts.uri));
                        prop_assert!(matches!(uri, Some(Ok(_))));
                    }
                }
                Err(error) => {
                    prop_assert!(!parts.uri.path().starts_with("/health/") && parts.uri.path() != "/health");
                    prop_assert!(!error.to_string().is_empty());
                    if missing != Missing::Reject {
                        prop_assert_ne!(error, VersionError::Missing);
                    }
                }
            }
        }
    }

    #[test]
    fn structured_version_tokens_resolve_exactly(n in 0u32..1000, v in any::<bool>(), pad in "[ \t]{0,2}") {
        let policy = policy(Conflict::Reject, Missing::Reject);
        let token = format!("{pad}{}{n}{pad}", if v { "v" } else { "" });
        let request = http::Request::get("/api/things").header("x-api-version", token).body(()).expect("request");
        let result = resolve(&request.into_parts().0, &policy);
        match n {
            1 | 2 => prop_assert_eq!(result.map(|r| r.version()), Ok(Version::int(n))),
            _ => {
                let is_unsupported = matches!(result, Err(VersionError::Unsupported { .. }));
                prop_assert!(is_unsupported);
            }
        }
    }
}

/// Through the layer: every request ends in the inner service (with a
/// resolution in its extensions) or in a problem response; never a panic.
mod through_the_layer {
    use super::*;
    use bytes::Bytes;
    use engine_ops_apiversion::{ApiVersionLayer, Resolution};
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;
    use tower::{Layer, ServiceExt, service_fn};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn every_request_gets_a_version_or_a_problem(
            path in "(/[a-zA-Z0-9v%._~-]{0,10}){0,4}",
            query in "[ -~]{0,30}",
            header in proptest::collection::vec(any::<u8>(), 0..20),
            accept in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let policy = policy(Conflict::Reject, Missing::Reject);
            let path = if path.is_empty() { "/".to_owned() } else { path };
            let Some(parts) = parts(&path, &query, &header, &accept) else { return Ok(()) };
            let request = http::Request::from_parts(parts, Full::<Bytes>::default());
            let service = ApiVersionLayer::new(policy).layer(service_fn(|req: http::Request<Full<Bytes>>| async move {
                let served = req.extensions().get::<Resolution>().is_some();
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(if served { "served" } else { "no resolution" }))))
            }));
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let (status, content_type, body) = runtime.block_on(async {
                let response = service.oneshot(request).await.expect("infallible");
                let status = response.status();
                let content_type = response.headers().get("content-type").cloned();
                let body = response.into_body().collect().await.expect("body").to_bytes();
                (status, content_type, body)
            });
            if status == http::StatusCode::OK {
                prop_assert_eq!(&body[..], b"served");
            } else {
                prop_assert!(status == http::StatusCode::BAD_REQUEST || status == http::StatusCode::GONE);
                prop_assert_eq!(content_type.as_ref().map(|v| v.as_bytes()), Some(&b"application/problem+json"[..]));
                let doc: serde_json::Value = serde_json::from_slice(&body).expect("problem is JSON");
                prop_assert!(doc["type"].as_str().is_some_and(|t| t.starts_with("https://")));
                prop_assert_eq!(doc["supported"].clone(), serde_json::json!(["1", "2"]));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any well-formed Accept list resolves to the member with the highest
    /// non-zero q that names a version; q=0 members never win, and two
    /// different versions at that q are ambiguous.
    #[test]
    fn accept_lists_pick_the_highest_q(
        members in proptest::collection::vec((0u16..=1000, prop_oneof![Just(None), (1u32..=2).prop_map(Some)], any::<bool>(), any::<bool>()), 1..6),
    ) {
        let policy = Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .version(Version::int(2))
            .media_type_source_with("version", Some("acme"))
            .build()
            .expect("valid policy");
        let rendered: Vec<String> = members
            .iter()
            .map(|(q, version, vendor, quoted)| {
                let q = format!("{}.{:03}", q / 1000, q % 1000);
                // Lists without quoted strings or vendor types take the
                // resolver's fast path; the others its general parser.
                match (version, vendor, quoted) {
                    (Some(v), true, _) => format!("application/vnd.acme.v{v}+json; q={q}"),
                    (Some(v), false, true) => format!("application/json; version=\"{v}\"; q={q}"),
                    (Some(v), false, false) => format!("application/json;q={q} ;version={v}"),
                    (None, _, _) => format!("text/html;q={q}"),
                }
            })
            .collect();
        let accept = rendered.join(", ");
        let best = members
            .iter()
            .filter(|(q, version, _, _)| *q > 0 && version.is_some())
            .map(|(q, _, _, _)| *q)
            .max();
        let mut at_best: Vec<u32> = members
            .iter()
            .filter(|(q, _, _, _)| Some(*q) == best)
            .filter_map(|(_, version, _, _)| *version)
            .collect();
        at_best.sort_unstable();
        at_best.dedup();
        let request = http::Request::get("/").header("accept", &accept).body(()).expect("request");
        let result = resolve(&request.into_parts().0, &policy).map(|r| r.version());
        match at_best.as_slice() {
            [] => prop_assert_eq!(result, Err(VersionError::Missing), "{}", accept),
            [v] => prop_assert_eq!(result, Ok(Version::int(*v)), "{}", accept),
            // Two versions equally preferred: ambiguous, as two header lines are.
            _ => prop_assert!(matches!(result, Err(VersionError::Ambiguous { .. })), "{}: {:?}", accept, result),
        }
    }
}

#[cfg(feature = "transform")]
mod documents {
    use engine_ops_apiversion::transform::{Change, Changes};
    use engine_ops_apiversion::{Policy, Scheme, Version};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    fn changes() -> Changes {
        let policy = Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .version(Version::int(2))
            .header_source()
            .build()
            .expect("valid policy");
        Changes::builder(&policy)
            .change(
                Change::new(Version::int(2), "everything at once")
                    .renamed("/data/*/name", "full_name")
                    .renamed("/name", "full_name")
                    .added("/nick", Value::Null)
                    .removed("/legacy", 0)
                    .removed("/data/legacy", "old"),
            )
            .build()
            .expect("valid changes")
    }

    /// Names that the changes use, and names that look like them.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("name".to_owned()),
            Just("full_name".to_owned()),
            Just("data".to_owned()),
            Just("nick".to_owned()),
            Just("legacy".to_owned()),
            Just("na\"me".to_owned()),
            Just("é\\/".to_owned()),
            "[a-z]{0,3}",
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[ -~é\u{1F600}\\\\\"\n]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..5)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Migrating the text (scanned, edited in place) and migrating the
        /// parsed `Value` agree, compact or pretty; at the head the text
        /// comes back byte for byte.
        #[test]
        fn text_and_value_migrations_agree(document in json(), pretty in any::<bool>()) {
            let changes = changes();
            let text = if pretty {
                serde_json::to_string_pretty(&document).expect("json")
            } else {
                serde_json::to_string(&document).expect("json")
            };
            let parsed: Value = serde_json::from_str(&text).expect("json");
            let by_text = changes.migrate_response_json(&text, Version::int(1)).expect("valid json");
            let by_value = changes.migrate_response(parsed, Version::int(1));
            let reread = |text: &str| serde_json::from_str::<Value>(text).expect("json");
            prop_assert_eq!(
                reread(&by_text),
                reread(&serde_json::to_string(&by_value).expect("json")),
                "{}", text
            );
            prop_assert_eq!(changes.migrate_response_json(&text, Version::int(2)).expect("json"), text);
        }
    }
}
