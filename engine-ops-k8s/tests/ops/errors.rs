//! Bad input: a forbidden identity, a missing namespace, a missing Service,
//! a template the API server rejects. Each is a clear error, and neither the
//! cluster nor the persisted state changes.

use std::io::Write as _;
use std::time::Duration;

use engine_ops_k8s::cluster::{AppOps, Error, LeaseParams, SwitchParams, TrackSpec, TrafficTarget};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

use crate::common::cluster::TestNamespace;
use crate::support::{APP, Fixture, WAIT, service_account_client};

/// A client of an identity that RBAC grants nothing: the test control
/// plane's static `engine-ops-norights` token (`norights.kubeconfig` beside
/// the admin kubeconfig), or, on a control plane started before that token
/// existed, a token of a ServiceAccount bound to no role.
async fn no_rights_client(ns: &TestNamespace) -> Client {
    let admin_path = std::env::var_os("KUBECONFIG").expect("KUBECONFIG");
    let static_path = std::path::Path::new(&admin_path).with_file_name("norights.kubeconfig");
    if static_path.exists() {
        let kubeconfig = Kubeconfig::read_from(&static_path).expect("norights.kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("config");
        return Client::try_from(config).expect("client");
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: {} absent (control plane older than the static no-rights token); using a \
         ServiceAccount token without role bindings",
        static_path.display()
    );
    service_account_client(ns, "no-rights").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forbidden_identity_is_refused_clearly_and_changes_nothing() {
    let Some(f) = Fixture::new("forbidden").await else {
        return;
    };
    let mut watch = f.ops.watch();
    watch.ready(WAIT).await.expect("watches ready");
    f.ready_track(&mut watch, &f.track("blue", 1)).await;
    let loaded = f.ops.load_state().await.expect("load");
    let saved = f
        .ops
        .save_state(&loaded, &json!({"stage": "idle"}))
        .await
        .expect("save");
    let before = f.ops.snapshot().await.expect("snapshot");

    let denied = AppOps::new(no_rights_client(&f.ns).await, &f.ns.name, APP).expect("names");
    let forbidden = |e: Error, verb: &str| {
        let text = e.to_string();
        match e {
            Error::Forbidden {
                verb: v, message, ..
            } => {
                assert_eq!(v, verb, "{text}");
                assert!(
                    message.contains("cannot"),
                    "the server's reason is kept: {text}"
                );
                assert!(text.contains("RBAC"), "says what to do: {text}");
            }
            other => panic!("expected Forbidden to {verb}, got {other}"),
        }
    };
    forbidden(
        denied
            .create_track(&f.track("green", 2))
            .await
            .expect_err("must be refused"),
        "get",
    );
    forbidden(
        denied
            .scale_track("blue", 0, None)
            .await
            .expect_err("must be refused"),
        "patch",
    );
    forbidden(
        denied
            .switch_traffic(
                APP,
                &TrafficTarget::track("green"),
                &SwitchParams::new().observed(before.service(APP).expect("observed")),
            )
            .await
            .expect_err("must be refused"),
        "patch",
    );
    forbidden(
        denied
            .save_state(&saved, &json!({"stage": "hijacked"}))
            .await
            .expect_err("must be refused"),
        "patch",
    );
    forbidden(
        denied
            .acquire_lease(&LeaseParams::new("intruder"))
            .await
            .expect_err("must be refused"),
        "get",
    );
    forbidden(
        denied
            .delete_track("blue")
            .await
            .expect_err("must be refused"),
        "delete",
    );
    forbidden(
        denied
            .watch()
            .ready(WAIT)
            .await
            .expect_err("must be refused"),
        "watch",
    );

    let after = f.ops.snapshot().await.expect("snapshot");
    assert_eq!(
        after, before,
        "nothing changed on the cluster or in the state"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_namespace_is_named() {
    let Some(f) = Fixture::new("nons").await else {
        return;
    };
    let missing = format!("{}-missing", f.ns.name);
    let ops = AppOps::new(f.client.clone(), &missing, APP).expect("names");
    let e = ops.preflight(&[APP]).await.expect_err("must be refused");
    assert!(
        matches!(&e, Error::NamespaceNotFound { namespace } if *namespace == missing),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "namespace {missing} does not exist: create it, or name the namespace the app lives in"
        )
    );
    let d = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }))
    .expect("deployment");
    let e = ops
        .apply_deployment(&d, false)
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::NamespaceNotFound { namespace } if *namespace == missing),
        "{e}"
    );
    let e = ops
        .create_track(&f.track("blue", 1))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::NotFound { object, .. } if object.starts_with("PodTemplate")),
        "{e}"
    );
    let e = ops.load_state().await.expect_err("must be refused");
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_service_is_named_and_nothing_changes() {
    let Some(f) = Fixture::new("nosvc").await else {
        return;
    };
    let before = f.ops.snapshot().await.expect("snapshot");
    let e = f
        .ops
        .preflight(&[APP, "no-such-service"])
        .await
        .expect_err("must be refused");
    let want = format!(
        "Service {}/no-such-service not found: apply the app's manifests (its Services) first, or fix the name",
        f.ns.name
    );
    assert_eq!(e.to_string(), want);
    let e = f
        .ops
        .switch_traffic(
            "no-such-service",
            &TrafficTarget::track("blue"),
            &SwitchParams::new(),
        )
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::NotFound { object, .. } if object.ends_with("/no-such-service")),
        "{e}"
    );
    f.ops
        .preflight(&[APP, "engine-ops-preview"])
        .await
        .expect("the real Services pass");
    assert_eq!(f.ops.snapshot().await.expect("snapshot"), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_the_api_server_rejects_is_invalid_and_nothing_is_stored() {
    let Some(f) = Fixture::new("invalid").await else {
        return;
    };
    let loaded = f.ops.load_state().await.expect("load");
    f.ops
        .save_state(&loaded, &json!({"stage": "provisioning"}))
        .await
        .expect("save");
    let before = f.ops.snapshot().await.expect("snapshot");
    let mut template = f.template(2);
    if let Some(spec) = template.spec.as_mut() {
        spec.containers[0].name = "Not_A_Name".to_owned();
    }
    let e = f
        .ops
        .create_track(&TrackSpec::new("green", template, 3))
        .await
        .expect_err("must be refused");
    match &e {
        Error::Invalid { object, message } => {
            assert_eq!(
                object,
                &format!("ReplicaSet {}/engine-ops-green", f.ns.name)
            );
            assert!(
                message.contains("spec.template.spec.containers[0].name"),
                "names the field: {message}"
            );
        }
        other => panic!("expected Invalid, got {other}"),
    }
    assert!(e.to_string().contains("nothing was stored"), "{e}");
    // A bad track name is refused before any request.
    let e = f
        .ops
        .create_track(&f.track("Green", 2))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            e,
            Error::InvalidName {
                what: "track name",
                ..
            }
        ),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        f.ops.snapshot().await.expect("snapshot"),
        before,
        "nothing stored, state unchanged"
    );
}
