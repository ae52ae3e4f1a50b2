//! The rolling Deployment: server-side apply, kubectl's completion rule,
//! pause and resume, history, undo to the previous or a named revision,
//! and a rollout that fails at its progress deadline.

use std::time::Duration;

use engine_ops_k8s::cluster::{Anchor, AppOps, Error, RolloutVerdict};
use engine_ops_k8s::manifest::{Disruption, IntOrPercent, Rolling, RollingSet};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::common;
use crate::common::cluster::{self, TestNamespace};
use crate::support::{APP, counted_client};

/// A rolling set of `APP` at `version` (3 replicas, 1 surge, 0 unavailable).
fn rolling(ns: &str, version: u8, deadline: u32) -> RollingSet {
    let app = common::engine_ops(ns)
        .replicas(3)
        .disruption(Disruption::MaxUnavailable(IntOrPercent::Count(1)))
        .change_cause(format!("deploy v{version}"))
        .build()
        .expect("valid app");
    let mut set = Rolling::new()
        .max_surge(IntOrPercent::Count(1))
        .max_unavailable(IntOrPercent::Count(0))
        .progress_deadline_seconds(deadline)
        .render(&app)
        .expect("render");
    if let Some(spec) = set
        .deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
    {
        let digest = format!("{version:02x}").repeat(32);
        spec.containers[0].image = Some(format!("registry.example/engine-ops@sha256:{digest}"));
    }
    set
}

fn image(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers[0].image.clone())
        .unwrap_or_default()
}

async fn setup(prefix: &str) -> Option<(TestNamespace, AppOps)> {
    let admin = cluster::client().await?;
    let ns = TestNamespace::new(&admin, prefix).await;
    let set = rolling(&ns.name, 1, 600);
    let others: Vec<_> = set
        .objects()
        .into_iter()
        .filter(|o| o.kind() != "Deployment")
        .collect();
    cluster::dry_run_then_apply(&ns, &others).await;
    let counter = engine_ops_k8s::cluster::RequestCounter::new();
    let ops = AppOps::new(counted_client(&counter).await, &ns.name, APP)
        .expect("names")
        .anchor(Anchor::deployment());
    Some((ns, ops))
}

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_rolls_out_pauses_and_resumes_like_kubectl() {
    let Some((ns, ops)) = setup("rolling").await else {
        return;
    };
    let deploy = |v: u8| rolling(&ns.name, v, 600).deployment;
    let v1 = ops
        .apply_deployment(&deploy(1), false)
        .await
        .expect("apply v1");
    let done = ops
        .wait_deployment(None, Some(v1.generation), WAIT)
        .await
        .expect("v1 rolls out");
    assert_eq!(
        (done.revision, done.updated, done.available),
        (Some(1), 3, 3)
    );
    // A second apply of the same object changes nothing.
    let same = ops
        .apply_deployment(&deploy(1), false)
        .await
        .expect("re-apply");
    assert_eq!(same.generation, v1.generation);

    let v2 = ops
        .apply_deployment(&deploy(2), false)
        .await
        .expect("apply v2");
    // Right after the write the controller has not observed it: not complete.
    let early = ops
        .deployment_rollout(None, Some(v2.generation))
        .await
        .expect("status");
    assert_ne!(early.verdict, RolloutVerdict::Complete);
    ops.wait_deployment(None, Some(v2.generation), WAIT)
        .await
        .expect("v2 rolls out");

    // Paused: a new template does not roll, and undo is refused.
    let paused = ops.pause_deployment(None, true).await.expect("pause");
    assert!(paused.paused);
    let v3 = ops
        .apply_deployment(&deploy(3), false)
        .await
        .expect("apply v3");
    let e = ops
        .wait_deployment(None, Some(v3.generation), Duration::from_secs(3))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::Timeout { what, .. } if what.contains("paused")),
        "{e}"
    );
    let e = ops
        .undo_deployment(None, None)
        .await
        .expect_err("must be refused");
    assert!(matches!(e, Error::DeploymentPaused { .. }), "{e}");
    ops.pause_deployment(None, false).await.expect("resume");
    let r3 = ops
        .wait_deployment(None, Some(v3.generation), WAIT)
        .await
        .expect("v3 rolls out");
    assert_eq!(r3.revision, Some(3));

    let history = ops.deployment_history(None).await.expect("history");
    let causes: Vec<(u64, Option<String>)> = history
        .iter()
        .map(|r| (r.revision, r.change_cause.clone()))
        .collect();
    assert_eq!(
        causes,
        [1, 2, 3]
            .map(|v| (v, Some(format!("deploy v{v}"))))
            .to_vec(),
        "{history:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_rolls_back_to_a_named_or_the_previous_revision_like_kubectl() {
    let Some((ns, ops)) = setup("undo").await else {
        return;
    };
    let deploy = |v: u8| rolling(&ns.name, v, 600).deployment;
    for v in 1..=3 {
        let applied = ops
            .apply_deployment(&deploy(v), false)
            .await
            .expect("apply");
        ops.wait_deployment(None, Some(applied.generation), WAIT)
            .await
            .expect("rolled out");
    }

    // Undo to a named revision: revision 1's template comes back as revision 4,
    // its ReplicaSet reused (no new one).
    let undo = ops.undo_deployment(None, Some(1)).await.expect("undo to 1");
    assert_eq!((undo.from, undo.to, undo.skipped), (Some(3), 1, false));
    let r = ops
        .wait_deployment(None, Some(undo.generation), WAIT)
        .await
        .expect("rolled back");
    assert_eq!(r.revision, Some(4));
    let d = ns.api::<Deployment>().get(APP).await.expect("deployment");
    assert_eq!(image(&d), image(&deploy(1)));
    let history = ops.deployment_history(None).await.expect("history");
    assert_eq!(
        history.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(history[2].change_cause.as_deref(), Some("deploy v1"));

    // Undo without a revision: the previous one (3).
    let undo = ops.undo_deployment(None, None).await.expect("undo");
    assert_eq!((undo.from, undo.to), (Some(4), 3));
    ops.wait_deployment(None, Some(undo.generation), WAIT)
        .await
        .expect("back to v3");
    let d = ns.api::<Deployment>().get(APP).await.expect("deployment");
    assert_eq!(image(&d), image(&deploy(3)));

    // Undo to the template already running is skipped; a missing revision
    // names the ones kept.
    let skip = ops.undo_deployment(None, Some(5)).await.expect("skip");
    assert!(skip.skipped);
    let e = ops
        .undo_deployment(None, Some(1))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::RevisionNotFound { revision: 1, known, .. } if known == &[2, 4, 5]),
        "{e}"
    );

    // The next deploy after an undo applies over the undo's own write.
    let v6 = ops
        .apply_deployment(&deploy(6), false)
        .await
        .expect("apply after undo");
    let r = ops
        .wait_deployment(None, Some(v6.generation), WAIT)
        .await
        .expect("v6");
    assert_eq!(r.revision, Some(6));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_that_cannot_progress_fails_at_its_deadline() {
    let Some((ns, ops)) = setup("deadline").await else {
        return;
    };
    let v1 = ops
        .apply_deployment(&rolling(&ns.name, 1, 4).deployment, false)
        .await
        .expect("apply v1");
    ops.wait_deployment(None, Some(v1.generation), WAIT)
        .await
        .expect("v1");
    // v2's pods can never be scheduled (no node has the label).
    let mut d = rolling(&ns.name, 2, 4).deployment;
    if let Some(s) = d.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        s.node_selector = Some([("engine-ops.io/no-such-node".to_owned(), "x".to_owned())].into());
    }
    let v2 = ops.apply_deployment(&d, false).await.expect("apply v2");
    let e = ops
        .wait_deployment(None, Some(v2.generation), WAIT)
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::ProgressDeadlineExceeded { message, .. } if message.contains("has timed out progressing")),
        "{e}"
    );
    // The old pods kept serving: maxUnavailable 0.
    let r = ops.deployment_rollout(None, None).await.expect("status");
    assert!(r.available >= 3, "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_conflicting_with_another_manager_names_it_unless_forced() {
    let Some((ns, ops)) = setup("ssa").await else {
        return;
    };
    let d = rolling(&ns.name, 1, 600).deployment;
    ops.apply_deployment(&d, false).await.expect("apply");
    // Someone scales the Deployment with kubectl's manager.
    ns.api::<Deployment>()
        .patch(
            APP,
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP},
                "spec": {"replicas": 5},
            })),
        )
        .await
        .expect("kubectl scales");
    let e = ops
        .apply_deployment(&d, false)
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::Conflict { message, .. } if message.contains("kubectl") && message.contains(".spec.replicas")),
        "{e}"
    );
    let forced = ops.apply_deployment(&d, true).await.expect("forced");
    let r = ops
        .wait_deployment(None, Some(forced.generation), WAIT)
        .await
        .expect("rolled out");
    assert_eq!(r.desired, Some(3));
}
