//! Traffic switches: one request, EndpointSlices following, conflicts
//! with concurrent writers, selectors owned by another field manager.

use engine_ops_k8s::cluster::{Error, SwitchParams, TrafficTarget};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

use crate::common::cluster::wait_for_endpoints;
use crate::support::{APP, Fixture, WAIT};

/// The app with blue (v1) and green (v2) tracks up, blue live.
async fn two_tracks(prefix: &str) -> Option<(Fixture, engine_ops_k8s::cluster::AppWatch)> {
    let f = Fixture::new(prefix).await?;
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    f.ready_track(&mut watch, &f.track("blue", 1)).await;
    f.ready_track(&mut watch, &f.track("green", 2)).await;
    Some((f, watch))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_is_one_request_and_the_endpoint_slices_follow() {
    let Some((f, watch)) = two_tracks("switch").await else {
        return;
    };
    let blue = f.pods_of("blue").await;
    let green = f.pods_of("green").await;
    wait_for_endpoints(&f.ns, APP, &blue).await;
    let observed = watch
        .snapshot()
        .service(APP)
        .cloned()
        .expect("the active Service");
    assert_eq!(observed.target, Some(TrafficTarget::track("blue")));

    let mut slices = f.ops.watch_endpoints(APP);
    slices.ready(WAIT).await.expect("slices listed");
    assert_eq!(
        slices.endpoints().ready,
        blue,
        "the watch sees what the helper saw"
    );
    f.counter.reset();
    let quiet = f.ops.clone().events(None);
    // With the capacity check on the observed track: still one request.
    let green_track = watch.snapshot().track("green").cloned().expect("green");
    let s = quiet
        .switch_traffic(
            APP,
            &TrafficTarget::track("green"),
            &SwitchParams::new()
                .observed(&observed)
                .require_available(3)
                .observed_track(&green_track),
        )
        .await
        .expect("switch");
    assert!(s.changed);
    assert_eq!(
        (f.counter.total(), f.counter.verb("patch")),
        (1, 1),
        "{:?}",
        f.counter.counts()
    );
    let served = slices
        .wait_until("to serve only green", WAIT, |e| {
            e.serves_only(APP, "green", 3)
        })
        .await
        .expect("EndpointSlices follow");
    assert_eq!(served.ready, green);
    wait_for_endpoints(&f.ns, APP, &green).await;
    assert_eq!(f.ops.endpoints(APP).await.expect("list").ready, green);

    // Switching to where it already points sends nothing.
    let svc = f.ops.service_status(APP).await.expect("read");
    f.counter.reset();
    let again = quiet
        .switch_traffic(
            APP,
            &TrafficTarget::track("green"),
            &SwitchParams::new().observed(&svc),
        )
        .await
        .expect("no-op");
    assert!(!again.changed);
    assert_eq!(f.counter.total(), 0);

    // Rollback with a reason: an Event says what moved and why.
    f.ops
        .switch_traffic(
            APP,
            &TrafficTarget::track("blue"),
            &SwitchParams::new().reason("post-promotion check failed"),
        )
        .await
        .expect("rollback");
    wait_for_endpoints(&f.ns, APP, &blue).await;
    let events =
        f.ns.api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("events");
    assert!(
        events.items.iter().any(|e| e.reason.as_deref() == Some("SwitchedTraffic")
            && e.note.as_deref()
                == Some("Switched Service engine-ops from track green to track blue: post-promotion check failed")),
        "{:#?}",
        events.items.iter().map(|e| &e.note).collect::<Vec<_>>()
    );

    // A track that cannot take the traffic is refused, whatever asks for it.
    quiet
        .scale_track("green", 1, None)
        .await
        .expect("scale green down");
    let e = quiet
        .switch_traffic(
            APP,
            &TrafficTarget::track("green"),
            &SwitchParams::new().require_available(3),
        )
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            &e,
            Error::TrackNotReady {
                required: 3,
                desired: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        f.ops.service_status(APP).await.expect("read").target,
        Some(TrafficTarget::track("blue")),
        "traffic stays on blue"
    );
    quiet
        .scale_track("green", 3, None)
        .await
        .expect("scale green up");
    let mut watch = watch;
    watch
        .wait_until("green back at 3", WAIT, |s| {
            s.track("green")
                .is_some_and(|t| t.available == 3 && !t.status_stale())
        })
        .await
        .expect("green up");

    // A replica-weighted canary: the Service selects every track (green's
    // pods may have been replaced by the scale down and up).
    quiet
        .switch_traffic(APP, &TrafficTarget::AllTracks, &SwitchParams::new())
        .await
        .expect("all tracks");
    let mut both = [blue, f.pods_of("green").await].concat();
    both.sort();
    wait_for_endpoints(&f.ns, APP, &both).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_writer_either_loses_nothing_or_stops_the_switch() {
    let Some((f, watch)) = two_tracks("conflict").await else {
        return;
    };
    let services = f.ns.api::<Service>();
    let other = PatchParams {
        field_manager: Some("other-writer".to_owned()),
        ..PatchParams::default()
    };

    // Another writer changes a label after we observed: the switch conflicts,
    // re-reads, sees its intent still holds, and succeeds on the second write;
    // the other writer's label survives.
    let observed = watch.snapshot().service(APP).cloned().expect("observed");
    services
        .patch(
            APP,
            &other,
            &Patch::Merge(json!({"metadata": {"labels": {"team": "payments"}}})),
        )
        .await
        .expect("concurrent label change");
    let s = f
        .ops
        .switch_traffic(
            APP,
            &TrafficTarget::track("green"),
            &SwitchParams::new().observed(&observed),
        )
        .await
        .expect("switch after a harmless conflict");
    assert_eq!(s.attempts, 2);
    let svc = services.get(APP).await.expect("read");
    let labels = svc.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("payments"));
    assert_eq!(
        svc.spec
            .and_then(|s| s.selector)
            .and_then(|s| s.get("engine-ops.io/track").cloned())
            .as_deref(),
        Some("green")
    );

    // Another writer moves traffic elsewhere after we observed: our intent
    // (green -> blue) no longer holds; the switch stops and its selector stays.
    let observed = f.ops.service_status(APP).await.expect("observed");
    services
        .patch(
            APP,
            &other,
            &Patch::Merge(json!({"spec": {"selector": {"engine-ops.io/track": "canary"}}})),
        )
        .await
        .expect("concurrent switch");
    let e = f
        .ops
        .switch_traffic(
            APP,
            &TrafficTarget::track("blue"),
            &SwitchParams::new().observed(&observed),
        )
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::TrafficMoved { expected, found, .. } if expected == "track green" && found == "track canary"),
        "{e}"
    );
    assert!(e.is_conflict());
    let now = f.ops.service_status(APP).await.expect("read");
    assert_eq!(now.target, Some(TrafficTarget::track("canary")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selector_owned_by_another_manager_is_refused_unless_taken_over() {
    let Some((f, _watch)) = two_tracks("owned").await else {
        return;
    };
    // Helm (say) applies the Service too and takes the selector.
    let mut svc = f.set.active_service.clone();
    svc.metadata.managed_fields = None;
    f.ns.api::<Service>()
        .patch(
            APP,
            &PatchParams::apply("helm").force(),
            &Patch::Apply(&svc),
        )
        .await
        .expect("apply as helm");
    let before = f.ops.service_status(APP).await.expect("read");
    assert!(
        before.selector_managers.contains(&"helm".to_owned()),
        "{:?}",
        before.selector_managers
    );

    let e = f
        .ops
        .switch_traffic(APP, &TrafficTarget::track("green"), &SwitchParams::new())
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::SelectorOwned { managers, .. } if managers.contains(&"helm".to_owned())),
        "{e}"
    );
    assert!(e.to_string().contains("dangerous_take_over"), "{e}");
    let after = f.ops.service_status(APP).await.expect("read");
    assert_eq!(
        after.resource_version, before.resource_version,
        "nothing was written"
    );

    let s = f
        .ops
        .switch_traffic(
            APP,
            &TrafficTarget::track("green"),
            &SwitchParams::new().dangerous_take_over(),
        )
        .await
        .expect("taken over");
    assert!(s.changed);
    let now = f.ops.service_status(APP).await.expect("read");
    assert_eq!(now.target, Some(TrafficTarget::track("green")));
    assert!(
        now.selector_managers.contains(&"engine-ops".to_owned()),
        "{:?}",
        now.selector_managers
    );
}
