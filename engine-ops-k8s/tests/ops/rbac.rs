//! The Role the crate documents is enough: a ServiceAccount bound to exactly
//! that Role carries out every operation a driver uses.

use std::time::Duration;

use engine_ops_k8s::cluster::{AppOps, EventType, LeaseParams, SwitchParams, TrafficTarget, Woke};
use engine_ops_k8s::manifest::{IntOrPercent, Rolling};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::PostParams;
use serde_json::json;

use crate::common;
use crate::support::{APP, Fixture, WAIT, service_account_client};

/// The table of the `cluster` module's docs, as a Role.
fn documented_role() -> Role {
    serde_json::from_value(json!({
        "metadata": {"name": "engine-ops-driver"},
        "rules": [
            {"apiGroups": ["apps"], "resources": ["replicasets"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["apps"], "resources": ["deployments"],
             "verbs": ["get", "list", "watch", "create", "patch"]},
            {"apiGroups": [""], "resources": ["services", "podtemplates"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
             "verbs": ["list", "watch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "list", "watch", "create", "update"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"],
             "verbs": ["create", "patch"]},
        ],
    }))
    .expect("role")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_role_is_enough_for_every_driver_operation() {
    let Some(f) = Fixture::new("rbac").await else {
        return;
    };
    let pp = PostParams::default();
    f.ns.api::<Role>()
        .create(&pp, &documented_role())
        .await
        .expect("role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "engine-ops-driver"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "engine-ops-driver"},
        "subjects": [{"kind": "ServiceAccount", "name": "driver", "namespace": f.ns.name}],
    }))
    .expect("binding");
    f.ns.api::<RoleBinding>()
        .create(&pp, &binding)
        .await
        .expect("binding");
    let client = service_account_client(&f.ns, "driver").await;
    let ops = AppOps::new(client, &f.ns.name, APP).expect("names");

    // Without the optional namespace right, preflight skips that check.
    ops.preflight(&[APP, "engine-ops-preview"])
        .await
        .expect("preflight");
    let lease = ops
        .acquire_lease(&LeaseParams::new("driver").wait(Duration::from_secs(5)))
        .await
        .expect("lease");
    let mut watch = ops.watch();
    watch.ready(WAIT).await.expect("watches");
    let mut slices = ops.watch_endpoints(APP);
    slices.ready(WAIT).await.expect("slices");
    let state = watch.snapshot().state.expect("anchor");
    let state = ops
        .save_state(&state, &json!({"stage": "provisioning"}))
        .await
        .expect("save");
    ops.create_track(&f.track("blue", 1)).await.expect("create");
    ops.create_track(&f.track("green", 2))
        .await
        .expect("create");
    watch
        .wait_until("both tracks up", WAIT, |s| {
            ["blue", "green"]
                .iter()
                .all(|t| s.track(t).is_some_and(|t| t.available == 3))
        })
        .await
        .expect("tracks up");
    ops.switch_traffic(
        APP,
        &TrafficTarget::track("green"),
        &SwitchParams::new().reason("rbac"),
    )
    .await
    .expect("switch");
    slices
        .wait_until("green only", WAIT, |e| e.serves_only(APP, "green", 3))
        .await
        .expect("served");
    ops.endpoints(APP).await.expect("endpoints");
    ops.schedule_scale_down("blue", None)
        .await
        .expect("schedule");
    ops.scale_track("blue", 0, None).await.expect("scale");
    ops.set_track_revision("green", 3).await.expect("revision");
    ops.delete_track("blue").await.expect("delete");
    ops.tracks().await.expect("list");
    ops.snapshot().await.expect("snapshot");
    ops.record_event(EventType::Normal, "RbacChecked", "every operation allowed")
        .await
        .expect("event");
    ops.save_state(&state, &json!({"stage": "idle"}))
        .await
        .expect("save again");
    let woke = watch
        .changed(Duration::from_millis(500))
        .await
        .expect("the watches keep working");
    assert!(
        matches!(woke, Woke::Changed(_)),
        "our writes woke it: {woke:?}"
    );

    // The rolling side, on a Deployment of its own.
    let app = common::engine_ops(&f.ns.name)
        .replicas(2)
        .build()
        .expect("app");
    let set = Rolling::new()
        .max_surge(IntOrPercent::Count(1))
        .render(&app)
        .expect("render");
    let applied = ops
        .apply_deployment(&set.deployment, false)
        .await
        .expect("apply");
    ops.wait_deployment(None, Some(applied.generation), WAIT)
        .await
        .expect("rolled out");
    ops.pause_deployment(None, true).await.expect("pause");
    ops.pause_deployment(None, false).await.expect("resume");
    ops.deployment_history(None).await.expect("history");
    ops.deployment_rollout(None, None).await.expect("status");
    let undo = ops.undo_deployment(None, Some(1)).await.expect("undo");
    assert!(undo.skipped, "revision 1 is the current template");
    lease.release().await.expect("release");
}
