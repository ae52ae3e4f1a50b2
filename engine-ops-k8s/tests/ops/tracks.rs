//! Tracks: created, scaled and deleted idempotently, owned by the anchor,
//! observed with stale status visible; the watch wakes on their changes.

use std::time::Duration;

use engine_ops_k8s::cluster::{Error, EventType, TEMPLATE_HASH, Woke};
use engine_ops_k8s::manifest::Object;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplate;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams};

use crate::common::cluster;
use crate::support::{APP, Fixture, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn tracks_are_created_idempotently_labelled_and_owned_by_the_anchor() {
    let Some(f) = Fixture::new("tracks").await else {
        return;
    };
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    let blue_spec = f.track("blue", 1);
    let blue = f.ready_track(&mut watch, &blue_spec).await;
    assert_eq!(
        (blue.replica_set.as_str(), blue.revision, blue.available),
        ("engine-ops-blue", Some(1), 3)
    );
    assert_eq!(blue.template_hash, blue_spec.template_hash());
    assert_eq!(
        (blue.desired_replicas, blue.max_replicas),
        (Some(3), Some(3))
    );
    assert_eq!(f.pods_of("blue").await.len(), 3);

    // Owned by the anchor, labelled with track and hash, selector of the track.
    let rs =
        f.ns.api::<ReplicaSet>()
            .get("engine-ops-blue")
            .await
            .expect("stored");
    let owner = &rs.metadata.owner_references.as_ref().expect("owned")[0];
    let anchor = f.ns.api::<PodTemplate>().get(APP).await.expect("anchor");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("PodTemplate", anchor.metadata.uid.as_deref().unwrap_or(""))
    );
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("engine-ops.io/track").map(String::as_str),
        Some("blue")
    );
    assert_eq!(labels.get(TEMPLATE_HASH), Some(&blue.template_hash));

    // Creating it again is a no-op: the same object, not written.
    let again = f
        .ops
        .create_track(&blue_spec)
        .await
        .expect("idempotent create");
    assert_eq!(again.resource_version, blue.resource_version);
    // The same name with another template is refused, nothing changes.
    let other = f
        .ops
        .create_track(&f.track("blue", 2))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(other, Error::TrackTemplateMismatch { .. }),
        "{other}"
    );
    assert_eq!(f.ops.tracks().await.expect("list").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn tracks_are_scaled_scheduled_and_deleted_idempotently_with_events() {
    let Some(f) = Fixture::new("scale").await else {
        return;
    };
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    f.ready_track(&mut watch, &f.track("blue", 1)).await;

    // A scale answers with the new spec and a status that is visibly stale.
    let scaled = f
        .ops
        .scale_track("blue", 1, Some((1, 2)))
        .await
        .expect("scale");
    assert_eq!(
        (
            scaled.spec_replicas,
            scaled.desired_replicas,
            scaled.max_replicas
        ),
        (1, Some(1), Some(2))
    );
    assert!(
        scaled.status_stale(),
        "observedGeneration {} < generation {}",
        scaled.observed_generation,
        scaled.generation
    );
    let s = watch
        .wait_until("blue at 1", WAIT, |s| {
            s.track("blue")
                .is_some_and(|t| t.replicas == 1 && !t.status_stale())
        })
        .await
        .expect("scaled down");
    let settled = s.track("blue").cloned().expect("blue");
    // Repeating the scale writes nothing new: generation unchanged.
    let same = f
        .ops
        .scale_track("blue", 1, Some((1, 2)))
        .await
        .expect("scale again");
    assert_eq!(same.generation, settled.generation);

    // The scale-down schedule is an annotation a restarted driver reads back.
    let at = Timestamp::now() + SignedDuration::from_secs(300);
    let at = at.round(k8s_openapi::jiff::Unit::Second).expect("round");
    let sched = f
        .ops
        .schedule_scale_down("blue", Some(at))
        .await
        .expect("schedule");
    assert_eq!(sched.scale_down_at, Some(at));
    let listed = f.ops.tracks().await.expect("list");
    assert_eq!(listed[0].scale_down_at, Some(at));
    let cleared = f
        .ops
        .schedule_scale_down("blue", None)
        .await
        .expect("clear");
    assert_eq!(cleared.scale_down_at, None);

    // Renumbered as current again (after an undo), read back alone.
    let renumbered = f.ops.set_track_revision("blue", 4).await.expect("revision");
    assert_eq!(renumbered.revision, Some(4));
    let one = f
        .ops
        .track("blue")
        .await
        .expect("get")
        .expect("blue exists");
    assert_eq!((one.revision, one.spec_replicas), (Some(4), 1));
    assert_eq!(f.ops.track("never").await.expect("get"), None);

    // Delete, then delete again.
    assert!(f.ops.delete_track("blue").await.expect("delete"));
    assert!(!f.ops.delete_track("blue").await.expect("delete again"));
    watch
        .wait_until("blue gone", WAIT, |s| s.track("blue").is_none())
        .await
        .expect("gone");

    // The driver's own: an abort, as a Warning.
    f.ops
        .record_event(
            EventType::Warning,
            "RolloutAborted",
            "post-promotion check failed: traffic is back on blue",
        )
        .await
        .expect("record");

    // Each create, scale and deletion was recorded as an Event on the anchor.
    let events =
        f.ns.api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("events");
    let notes: Vec<String> = events
        .items
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(APP))
        .map(|e| {
            format!(
                "{} {}",
                e.reason.as_deref().unwrap_or(""),
                e.note.as_deref().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "ScalingReplicaSet Created replica set engine-ops-blue (track blue, revision 1",
        "ScalingReplicaSet Scaled replica set engine-ops-blue to 1",
        "ScheduledScaleDown Replica set engine-ops-blue scales down to 0 at",
        "DeletedReplicaSet Deleted replica set engine-ops-blue (track blue)",
        "RolloutAborted post-promotion check failed: traffic is back on blue",
    ] {
        assert!(
            notes.iter().any(|n| n.starts_with(want)),
            "no event {want:?} in {notes:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_anchor_deletes_the_tracks() {
    let Some(f) = Fixture::new("owner").await else {
        return;
    };
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    f.ready_track(&mut watch, &f.track("blue", 1)).await;
    f.ops
        .create_track(&f.track("green", 2))
        .await
        .expect("green");
    f.ns.api::<PodTemplate>()
        .delete(APP, &DeleteParams::background())
        .await
        .expect("delete the anchor");
    let s = watch
        .wait_until("the garbage collector to delete the tracks", WAIT, |s| {
            s.tracks.is_empty()
        })
        .await
        .expect("tracks collected");
    assert!(
        s.state.is_none(),
        "the anchor is gone from the snapshot too"
    );

    // The app is applied again: a new anchor (new uid). A track created by
    // the same long-lived operations is owned by the new anchor, so the
    // garbage collector keeps it.
    cluster::apply(
        &f.ns,
        &Object::PodTemplate(f.set.pod_template.clone()),
        &cluster::apply_strict(),
    )
    .await
    .expect("re-apply the anchor");
    let anchor = f.ns.api::<PodTemplate>().get(APP).await.expect("anchor");
    f.ready_track(&mut watch, &f.track("blue", 1)).await;
    let rs =
        f.ns.api::<ReplicaSet>()
            .get("engine-ops-blue")
            .await
            .expect("stored");
    let owner = &rs.metadata.owner_references.as_ref().expect("owned")[0];
    assert_eq!(Some(owner.uid.as_str()), anchor.metadata.uid.as_deref());
    let kept = watch
        .wait_until(
            "blue to be collected (it must not be)",
            Duration::from_secs(2),
            |s| s.track("blue").is_none(),
        )
        .await
        .expect_err("the new track stays");
    assert!(matches!(kept, Error::Timeout { .. }), "{kept}");
    assert!(
        f.ops.track("blue").await.expect("get").is_some(),
        "not collected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watch_wakes_on_changes_and_observing_costs_no_request() {
    let Some(f) = Fixture::new("watch").await else {
        return;
    };
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    f.ready_track(&mut watch, &f.track("blue", 1)).await;
    // Let the last status updates arrive, then count from a quiet point.
    while let Woke::Changed(_) = watch
        .changed(Duration::from_millis(300))
        .await
        .expect("drain")
    {}
    f.counter.reset();

    let ops = f.ops.clone().events(None);
    ops.scale_track("blue", 2, None).await.expect("scale");
    let woke = watch.changed(WAIT).await.expect("woken");
    assert_eq!(
        woke,
        Woke::Changed(vec!["ReplicaSet engine-ops-blue".to_owned()]),
        "only our scale changed"
    );
    let snapshot = watch.snapshot();
    assert_eq!(snapshot.track("blue").map(|t| t.spec_replicas), Some(2));
    assert_eq!(
        snapshot
            .service(APP)
            .and_then(|s| s.target.clone())
            .map(|t| t.to_string())
            .as_deref(),
        Some("track blue")
    );
    assert!(snapshot.state.is_some());
    // One patch; the watches were already open and the snapshot is cached.
    assert_eq!(
        (f.counter.total(), f.counter.verb("patch")),
        (1, 1),
        "{:?}",
        f.counter.counts()
    );

    // Nothing else changes: a bounded wait times out.
    let e = watch
        .wait_until("a track named never", Duration::from_millis(500), |s| {
            s.track("never").is_some()
        })
        .await
        .expect_err("must be refused");
    assert!(
        matches!(e, Error::Timeout { ref what, .. } if what == "a track named never"),
        "{e}"
    );
}
