//! Benchmarks of engine-ops-apiversion, each against a baseline measured in
//! the same run:
//!
//! - `apiversion/resolve/*`: `resolve` alone, per source (path, header,
//!   query, media type), vs `baseline_empty_closure` (a closure that only
//!   takes the same request parts) and `baseline_one_header_lookup` (one
//!   `HeaderMap::get`, a yardstick for the machine's speed). `all_sources/*`
//!   uses a policy with all four sources that rejects conflicts, so every
//!   request consults every source; `single_source/*` one that reads only
//!   that source. Goal: under 100 ns.
//! - `apiversion/layer/*`: the whole `ApiVersionLayer` around a trivial
//!   service (policy: path prefix + header), on a non-deprecated (4 headers
//!   stamped) and a deprecated (7 headers) request, vs the same service
//!   under as many tower-http
//!   `SetResponseHeaderLayer`s. Goal: at most 1.0x. Heap allocations per
//!   request are counted with a counting global allocator (`stats_alloc`) and
//!   printed before the timings. `http::Extensions` boxes its map on the
//!   first insert and every value on each, so putting the resolution in
//!   request extensions costs 3 allocations on a request whose extensions
//!   are empty (as hyper delivers them) and 1 (the value's box) once they
//!   hold anything. `layer/axum_router` measures the realistic case: the
//!   layer in front of an axum `Router`, which fills the extensions of every
//!   routed request itself, vs the same router under the header layers.
//! - `apiversion/transform/*`: a 3-step change chain taking a ~10 KB JSON
//!   text to v1 (`Changes::migrate_response_json`: validate, 3 downgrades,
//!   write; every value no change names keeps its bytes) vs one serde_json
//!   parse + serialise of the same text (which does not keep them). Goal: at
//!   most 1.2x. `chain_3_steps` declares the changes as data (renamed,
//!   added), `chain_3_steps_closures` writes them as `serde_json::Value`
//!   closures. `big_numbers/*` does the same on a body whose numbers no
//!   `f64` holds (30-digit integers, 34-digit decimals).
//!
//! ```text
//! cargo bench -p engine-ops-benches --bench apiversion -- --warm-up-time 1 --measurement-time 3
//! ```

use std::alloc::System;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use engine_ops_apiversion::transform::{Change, Changes, json as edits};
use engine_ops_apiversion::{ApiVersionLayer, Policy, Scheme, Version, VersionSpec, resolve};
use http::header::LINK;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::Empty;
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service, ServiceBuilder};
use tower_http::set_header::SetResponseHeaderLayer;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// v1 deprecated (2024-06-01) with a sunset far ahead, v2 and v3 active.
fn policy() -> Policy {
    Policy::builder(Scheme::Integer)
        .version(
            VersionSpec::new(Version::int(1))
                .deprecated_at(at(1_717_200_000))
                .sunset_at(at(4_102_444_800))
                .deprecation_link("https://example.com/deprecation")
                .successor_link("/api/v2"),
        )
        .version(Version::int(2))
        .version(Version::int(3))
        .path_source("/api")
        .header_source()
        .query_source()
        .media_type_source_with("version", Some("acme"))
        .build()
        .expect("valid policy")
}

fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).expect("request").into_parts().0
}

fn bench_resolve(c: &mut Criterion) {
    let policy = policy();
    let cases = [
        ("path", parts("/api/v2/optimize", &[])),
        (
            "header",
            parts(
                "/api/optimize",
                &[("x-api-version", "v2"), ("accept", "application/json")],
            ),
        ),
        ("query", parts("/api/optimize?page=3&api_version=2", &[])),
        (
            "media_type",
            parts(
                "/api/optimize",
                &[(
                    "accept",
                    "text/html;q=0.8, application/json; version=2, */*;q=0.1",
                )],
            ),
        ),
    ];
    let mut group = c.benchmark_group("apiversion/resolve");
    let baseline = |p: &http::request::Parts| p.uri.path().len();
    group.bench_function("baseline_empty_closure", |b| {
        b.iter(|| black_box(baseline(black_box(&cases[0].1))))
    });
    // Not a goal, a yardstick for this machine: one `HeaderMap` lookup.
    let name = HeaderName::from_static("x-api-version");
    group.bench_function("baseline_one_header_lookup", |b| {
        b.iter(|| black_box(black_box(&cases[1].1).headers.get(&name).is_some()))
    });
    for (name, parts) in &cases {
        assert!(resolve(parts, &policy).is_ok(), "{name} must resolve");
        group.bench_function(format!("all_sources/{name}"), |b| {
            b.iter(|| black_box(resolve(black_box(parts), &policy)))
        });
    }
    // The same requests against a policy that reads only that one source.
    let single = |source: &str| {
        let builder = Policy::builder(Scheme::Integer)
            .version(Version::int(1))
            .version(Version::int(2))
            .version(Version::int(3));
        match source {
            "path" => builder.path_source("/api"),
            "header" => builder.header_source(),
            "query" => builder.query_source(),
            _ => builder.media_type_source_with("version", Some("acme")),
        }
        .build()
        .expect("valid policy")
    };
    for (name, parts) in &cases {
        let policy = single(name);
        assert!(resolve(parts, &policy).is_ok(), "{name} must resolve");
        group.bench_function(format!("single_source/{name}"), |b| {
            b.iter(|| black_box(resolve(black_box(parts), &policy)))
        });
    }
    group.finish();
}

type Body = Empty<Bytes>;

/// The trivial inner service: an empty 200.
#[derive(Clone)]
struct Inner;

impl Service<Request<()>> for Inner {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(Body::new())))
    }
}

/// Drives a service whose futures are immediately ready, without a runtime.
fn drive<S, Q, B>(service: &mut S, request: Request<Q>) -> Response<B>
where
    S: Service<Request<Q>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Pending => panic!("the bench services are always ready"),
    }
}

fn request(version: &str) -> Request<()> {
    Request::get("/api/orders")
        .header("x-api-version", version)
        .body(())
        .expect("request")
}

/// The same service under `n` `SetResponseHeaderLayer`s (Link appends, as
/// the versioning layer does).
macro_rules! baseline {
    ($($layer:expr),* $(,)?) => {
        ServiceBuilder::new()$(.layer($layer))*.service(Inner)
    };
}

/// The same, around a given service.
macro_rules! baseline_on {
    ($service:expr, $($layer:expr),* $(,)?) => {
        ServiceBuilder::new()$(.layer($layer))*.service($service)
    };
}

fn header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

/// Allocations per request (count, bytes) over `n` requests built
/// beforehand by `make`.
fn allocations<S, Q, B>(
    service: &mut S,
    make: impl Fn(&str) -> Request<Q>,
    version: &str,
    n: usize,
) -> (f64, f64)
where
    S: Service<Request<Q>, Response = Response<B>, Error = Infallible>,
{
    let requests: Vec<_> = (0..n).map(|_| make(version)).collect();
    let mut responses = Vec::with_capacity(n);
    let region = Region::new(GLOBAL);
    for request in requests {
        responses.push(drive(service, request));
    }
    let stats = region.change();
    drop(responses);
    let count = stats.allocations + stats.reallocations;
    (
        count as f64 / n as f64,
        stats.bytes_allocated as f64 / n as f64,
    )
}

/// The layer bench's policy: a path prefix plus a header, the common
/// pairing (the resolve bench covers every source).
fn layer_policy() -> Policy {
    Policy::builder(Scheme::Integer)
        .version(
            VersionSpec::new(Version::int(1))
                .deprecated_at(at(1_717_200_000))
                .sunset_at(at(4_102_444_800))
                .deprecation_link("https://example.com/deprecation")
                .successor_link("/api/v2"),
        )
        .version(Version::int(2))
        .version(Version::int(3))
        .path_source("/api")
        .header_source()
        .build()
        .expect("valid policy")
}

fn bench_layer(c: &mut Criterion) {
    let policy = layer_policy();
    let mut versioned = ApiVersionLayer::new(policy.clone()).layer(Inner);
    let probe = drive(&mut versioned, request("1"));
    let deprecated_headers = probe.headers().len();
    let probe = drive(&mut versioned, request("2"));
    let active_headers = probe.headers().len();
    assert_eq!(
        (active_headers, deprecated_headers),
        (4, 7),
        "headers stamped by the layer"
    );

    let mut plain4 = baseline![
        header("api-supported-versions", "1, 2, 3"),
        header("api-deprecated-versions", "1"),
        header("api-version", "2"),
        header("vary", "x-api-version"),
    ];
    let mut plain7 = baseline![
        header("api-supported-versions", "1, 2, 3"),
        header("api-deprecated-versions", "1"),
        header("api-version", "1"),
        header("vary", "x-api-version"),
        header("deprecation", "@1717200000"),
        header("sunset", "Fri, 01 Jan 2100 00:00:00 GMT"),
        SetResponseHeaderLayer::appending(
            LINK,
            HeaderValue::from_static(
                "<https://example.com/deprecation>; rel=\"deprecation\", </api/v2>; rel=\"successor-version\""
            ),
        ),
    ];

    let n = 10_000;
    for (name, (layer, base)) in [
        (
            "non_deprecated",
            (
                allocations(&mut versioned, request, "2", n),
                allocations(&mut plain4, request, "2", n),
            ),
        ),
        (
            "deprecated",
            (
                allocations(&mut versioned, request, "1", n),
                allocations(&mut plain7, request, "1", n),
            ),
        ),
    ] {
        println!(
            "apiversion/layer/{name}: heap allocations per request: layer {:.2} ({:.0} B), baseline {:.2} ({:.0} B), extra {:.2}",
            layer.0,
            layer.1,
            base.0,
            base.1,
            layer.0 - base.0
        );
    }
    // What the layer adds beyond tower-http's cost: the extension insert.
    // `http::Extensions` is `Option<Box<HashMap<TypeId, Box<dyn Any>>>>`:
    // the first insert into a request allocates the map's box and its table,
    // and every value gets a box of its own. hyper hands requests over with
    // empty extensions (it inserts only for upgrades or opt-in header-case
    // preservation), so in front of a bare service all three are the
    // layer's. No `Copy` type or size avoids the value's box.
    let resolution = resolve(&parts_with("2"), &policy).expect("resolves");
    let mut empty = parts("/", &[]);
    let region = Region::new(GLOBAL);
    empty.extensions.insert(resolution);
    let first = region.change();
    let mut populated = parts("/", &[]);
    populated
        .extensions
        .insert(axum::extract::OriginalUri(populated.uri.clone()));
    let region = Region::new(GLOBAL);
    populated.extensions.insert(resolution);
    let later = region.change();
    println!(
        "apiversion/layer: of which http::Extensions::insert of the resolution: {} allocations into empty extensions, {} into extensions that already hold a value",
        first.allocations + first.reallocations,
        later.allocations + later.reallocations
    );
    // In an axum application the layer wraps the `Router`, which inserts
    // `OriginalUri`, `MatchedPath` and `UrlParams` into every routed request:
    // the map exists either way, so what the layer adds there is the value's
    // box (and a table growth when its entry is the map's fourth).
    let mut versioned_app = ApiVersionLayer::new(policy.clone()).layer(app());
    let mut plain_app = baseline_on![
        app(),
        header("api-supported-versions", "1, 2, 3"),
        header("api-deprecated-versions", "1"),
        header("api-version", "2"),
        header("vary", "x-api-version"),
    ];
    assert_eq!(
        drive(&mut versioned_app, app_request("2")).status(),
        http::StatusCode::OK
    );
    assert_eq!(
        drive(&mut plain_app, app_request("2")).status(),
        http::StatusCode::OK
    );
    let (layer, base) = (
        allocations(&mut versioned_app, app_request, "2", n),
        allocations(&mut plain_app, app_request, "2", n),
    );
    println!(
        "apiversion/layer/axum_router: heap allocations per request: layer {:.2} ({:.0} B), baseline {:.2} ({:.0} B), extra {:.2}",
        layer.0,
        layer.1,
        base.0,
        base.1,
        layer.0 - base.0
    );

    let mut group = c.benchmark_group("apiversion/layer");
    group.bench_function("baseline_set_header_x4/non_deprecated", |b| {
        b.iter_batched(
            || request("2"),
            |r| drive(&mut plain4, r),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("layer/non_deprecated", |b| {
        b.iter_batched(
            || request("2"),
            |r| drive(&mut versioned, r),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline_set_header_x7/deprecated", |b| {
        b.iter_batched(
            || request("1"),
            |r| drive(&mut plain7, r),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("layer/deprecated", |b| {
        b.iter_batched(
            || request("1"),
            |r| drive(&mut versioned, r),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline_set_header_x4/axum_router", |b| {
        b.iter_batched(
            || app_request("2"),
            |r| drive(&mut plain_app, r),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("layer/axum_router", |b| {
        b.iter_batched(
            || app_request("2"),
            |r| drive(&mut versioned_app, r),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A one-route axum application; its handler's future is ready at once.
fn app() -> axum::Router {
    axum::Router::new().route("/api/orders", axum::routing::get(|| async { "[]" }))
}

fn app_request(version: &str) -> Request<Body> {
    Request::get("/api/orders")
        .header("x-api-version", version)
        .body(Body::new())
        .expect("request")
}

fn parts_with(version: &str) -> http::request::Parts {
    parts("/api/orders", &[("x-api-version", version)])
}

/// A ~10 KB head-version document: a customer with 64 order lines.
fn document() -> Vec<u8> {
    let lines: Vec<Value> = (0..64)
        .map(|i| {
            json!({
                "sku": format!("SKU-{i:05}"),
                "title": "Industrial widget, anodised",
                "quantity": i % 7,
                "unit_price": { "amount": 1999 + i, "currency": "EUR" },
                "tags": ["metal", null, i],
                "discount": null,
            })
        })
        .collect();
    let doc = json!({
        "id": 42,
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "metadata": { "source": "web", "campaign": null },
        "lines": lines,
    });
    serde_json::to_vec(&doc).expect("json")
}

fn bench_transform(c: &mut Criterion) {
    let policy = Policy::builder(Scheme::Integer)
        .version(Version::int(1))
        .version(Version::int(2))
        .version(Version::int(3))
        .version(Version::int(4))
        .header_source()
        .build()
        .expect("valid policy");
    // The chain as data: what each version changed.
    let declared = Changes::builder(&policy)
        .change(Change::new(Version::int(2), "full_name").renamed("/name", "full_name"))
        .change(Change::new(Version::int(3), "lines[].sku").renamed("/lines/*/code", "sku"))
        .change(Change::new(Version::int(4), "metadata").added("/metadata", Value::Null))
        .build()
        .expect("valid changes");
    // The same chain as `serde_json::Value` closures (the earlier way).
    let closures = Changes::builder(&policy)
        .change(
            Change::new(Version::int(2), "full_name")
                .downgrade_response(|v| edits::rename_field(v, "full_name", "name")),
        )
        .change(
            Change::new(Version::int(3), "lines[].sku").downgrade_response(|v| {
                if let Some(lines) = v.get_mut("lines") {
                    edits::rename_field(lines, "sku", "code");
                }
            }),
        )
        .change(
            Change::new(Version::int(4), "metadata")
                .downgrade_response(|v| edits::remove_field(v, "metadata")),
        )
        .build()
        .expect("valid changes");
    let body = String::from_utf8(document()).expect("utf-8");
    println!("apiversion/transform: body of {} bytes", body.len());
    let big = String::from_utf8(big_number_document()).expect("utf-8");
    println!(
        "apiversion/transform: body with big numbers of {} bytes",
        big.len()
    );

    for changes in [&declared, &closures] {
        for text in [&body, &big] {
            let migrated = changes
                .migrate_response_json(text, Version::int(1))
                .expect("json");
            let value: Value = serde_json::from_str(&migrated).expect("json");
            assert!(value.get("name").is_some() && value.get("metadata").is_none());
            assert_eq!(value["lines"][0]["code"], "SKU-00000");
            if text == &big {
                // Every number no change names keeps its digits.
                assert!(migrated.contains("\"total\":123456789012345678901234567890"));
                assert!(migrated.contains("0.100000000000000005551115123125782763"));
                assert!(migrated.contains("\"ledger_id\":9876543210987654321063"));
            }
        }
    }

    let mut group = c.benchmark_group("apiversion/transform");
    for (name, text) in [("", &body), ("big_numbers/", &big)] {
        group.bench_function(format!("{name}baseline_parse_serialise"), |b| {
            b.iter(|| {
                let value: Value =
                    serde_json::from_slice(black_box(text.as_bytes())).expect("json");
                black_box(serde_json::to_vec(&value).expect("json"))
            })
        });
        group.bench_function(format!("{name}chain_3_steps"), |b| {
            b.iter(|| {
                black_box(
                    declared
                        .migrate_response_json(black_box(text), Version::int(1))
                        .expect("json"),
                )
            })
        });
        group.bench_function(format!("{name}chain_3_steps_closures"), |b| {
            b.iter(|| {
                black_box(
                    closures
                        .migrate_response_json(black_box(text), Version::int(1))
                        .expect("json"),
                )
            })
        });
    }
    group.finish();
}

/// The same shape as [`document`], with numbers no `f64` holds: 30-digit
/// totals, 34-digit decimal amounts and exponents, as ledgers and
/// scientific APIs send them (written by hand, not through `f64`).
fn big_number_document() -> Vec<u8> {
    let mut out = String::from(
        r#"{"id":42,"full_name":"Ada Lovelace","email":"ada@example.com","metadata":{"source":"web","campaign":null},"total":123456789012345678901234567890,"lines":["#,
    );
    for i in 0..64 {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"sku":"SKU-{i:05}","title":"Industrial widget, anodised","quantity":{q},"unit_price":{{"amount":0.1000000000000000055511151231257827{i:02},"currency":"EUR"}},"tags":["metal",null,{i}],"ratio":1.5e-{e},"ledger_id":98765432109876543210{i:02},"discount":null}}"#,
            q = i % 7,
            e = 300 + i % 7,
        ));
    }
    out.push_str("]}");
    out.into_bytes()
}

criterion_group!(benches, bench_resolve, bench_layer, bench_transform);
criterion_main!(benches);
