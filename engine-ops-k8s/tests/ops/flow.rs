//! A blue-green rollout of 10 replicas carried out step by step with the
//! operations a driver uses, counting every API request: one per action
//! (and per state save), plus the watches and the lease.

use engine_ops_k8s::cluster::{
    AppOps, LeaseParams, StoredState, SwitchParams, TrackSpec, TrafficTarget,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::support::{APP, Fixture, WAIT};

/// Persists the driver's state before it acts (compare-and-swap).
async fn save(ops: &AppOps, state: &mut StoredState, stage: &str) {
    *state = ops
        .save_state(state, &json!({"stage": stage}))
        .await
        .expect("save state");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blue_green_rollout_costs_one_request_per_action_plus_the_watches() {
    let Some(f) = Fixture::new("flow").await else {
        return;
    };
    let preview = format!("{APP}-preview");
    // v1 (blue) live with 10 pods, set up outside the count.
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    let v1 = TrackSpec::new("blue", f.template(1), 10).revision(1);
    f.ops.create_track(&v1).await.expect("blue");
    watch
        .wait_until("blue up", WAIT, |s| {
            s.track("blue").is_some_and(|t| t.available == 10)
        })
        .await
        .expect("blue up");
    drop(watch);

    // The driver, from its start: events off to count the floor.
    f.counter.reset();
    let ops = f.ops.clone().events(None);
    let lease = ops
        .acquire_lease(&LeaseParams::new("flow"))
        .await
        .expect("lease");
    let mut watch = ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    let mut actions = 0;
    let mut state = watch.snapshot().state.expect("anchor");

    save(&ops, &mut state, "provisioning").await;
    let v2 = TrackSpec::new("green", f.template(2), 10).revision(2);
    ops.create_track(&v2).await.expect("green");
    actions += 1;
    let s = watch
        .wait_until("green up", WAIT, |s| {
            s.track("green")
                .is_some_and(|t| t.available == 10 && !t.status_stale())
        })
        .await
        .expect("green up");
    // The rendered preview Service already selects green: no request.
    let observed_preview = s.service(&preview).cloned().expect("preview");
    let p = ops
        .switch_traffic(
            &preview,
            &TrafficTarget::track("green"),
            &SwitchParams::new().observed(&observed_preview),
        )
        .await
        .expect("preview");
    assert!(!p.changed);

    save(&ops, &mut state, "switching").await;
    let observed = watch.snapshot().service(APP).cloned().expect("active");
    lease.check().expect("held");
    ops.switch_traffic(
        APP,
        &TrafficTarget::track("green"),
        &SwitchParams::new().observed(&observed),
    )
    .await
    .expect("switch");
    actions += 1;

    save(&ops, &mut state, "draining").await;
    let at = Timestamp::now() + SignedDuration::from_secs(1);
    ops.schedule_scale_down("blue", Some(at))
        .await
        .expect("schedule");
    actions += 1;
    ops.scale_track("blue", 0, None).await.expect("scale down");
    actions += 1;
    save(&ops, &mut state, "idle").await;
    lease.release().await.expect("release");

    let c = |verb: &str| f.counter.verb(verb);
    // Writes: one per action, one per state save, the lease's create and release.
    assert_eq!(c("create") + c("patch") + c("update"), actions + 4 + 2);
    assert_eq!((c("delete"), c("deletecollection")), (0, 0));
    // Reads: the lease's get, the anchor's get (the new track's owner, read
    // fresh), one list and one watch per watched kind (4), nothing else.
    assert_eq!(c("get"), 2, "{:?}", f.counter.counts());
    assert_eq!(c("list"), 4, "{:?}", f.counter.counts());
    assert!(
        (4..=8).contains(&c("watch")),
        "a watch per kind (re-established at most once): {:?}",
        f.counter.counts()
    );
    eprintln!(
        "blue-green rollout of 10 replicas: {} requests ({} actions, 4 state saves, 2 lease writes, {} reads incl. {} watches): {:?}",
        f.counter.total(),
        actions,
        c("get") + c("list") + c("watch"),
        c("watch"),
        f.counter.counts()
    );
}
