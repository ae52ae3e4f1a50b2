//! `rolling`: a rolling update through the native Deployment, then `undo`
//! and `undo --to-revision`.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;

use crate::support::{Ns, image};

const APP: &str = "web";

fn deployed_image(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_update_through_the_deployment_then_undo_and_undo_to_a_revision() {
    let Some(ns) = Ns::new("roll").await else {
        return;
    };
    let budget = [
        "--max-surge",
        "1",
        "--max-unavailable",
        "0",
        "--replicas",
        "4",
    ];
    let mut args = vec!["deploy", "--json"];
    let v1 = image(1);
    args.push(&v1);
    args.extend(budget);
    ns.run("rolling", APP, &args).expect(0);
    let v2 = image(2);
    let mut args = vec!["deploy", "--json", v2.as_str()];
    args.extend(budget);
    let r = ns.run("rolling", APP, &args);
    r.expect(0);
    // Progress lines per ReplicaSet change, the controller's scale-downs
    // explained by the planner's reason.
    let changes = r.of("replica_set");
    assert!(changes.len() >= 6, "{}", r.stdout);
    let explained = changes
        .iter()
        .filter(|c| {
            c["why"]
                .as_str()
                .is_some_and(|w| w.contains("at least 4 must stay"))
        })
        .count();
    assert!(
        explained >= 2,
        "the planner explains the controller's scale-downs: {}",
        r.stdout
    );
    // Never fewer than 4 available (maxUnavailable 0), never more than 5 desired.
    let mut sizes: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for c in &changes {
        sizes.insert(
            c["replica_set"].as_str().unwrap_or("").to_owned(),
            (
                c["desired"].as_u64().unwrap_or(0),
                c["available"].as_u64().unwrap_or(0),
            ),
        );
        let desired: u64 = sizes.values().map(|s| s.0).sum();
        assert!(
            desired <= 5,
            "desired {desired} > 4 + maxSurge 1: {sizes:?}"
        );
    }
    assert_eq!(r.of("done")[0]["revision"], 2);
    let d = ns.api::<Deployment>().get(APP).await.expect("deployment");
    assert_eq!(deployed_image(&d), v2);
    // Undo: back to revision 1's template, as revision 3.
    let r = ns.run("rolling", APP, &["undo", "--json"]);
    r.expect(0);
    assert_eq!(r.of("done")[0]["revision"], 3, "{}", r.stdout);
    let d = ns.api::<Deployment>().get(APP).await.expect("deployment");
    assert_eq!(deployed_image(&d), v1);
    // Undo to a named revision: revision 2 (v2) becomes revision 4.
    let r = ns.run("rolling", APP, &["undo", "--to-revision", "2", "--json"]);
    r.expect(0);
    assert_eq!(r.of("done")[0]["revision"], 4, "{}", r.stdout);
    let d = ns.api::<Deployment>().get(APP).await.expect("deployment");
    assert_eq!(deployed_image(&d), v2);
    // A revision that is not kept: exit 2, naming the kept ones.
    let r = ns.run("rolling", APP, &["undo", "--to-revision", "9"]);
    r.expect(2);
    assert!(r.stderr.contains("no revision 9"), "{}", r.stderr);
    let status = ns.run("rolling", APP, &["status", "--json"]);
    status.expect(0);
    let s: Value = serde_json::from_str(status.stdout.trim()).expect("one JSON object");
    assert_eq!(s["verdict"], "complete", "{s}");
    assert_eq!(s["revision"], 4);
    assert_eq!(s["available"], 4);
}
