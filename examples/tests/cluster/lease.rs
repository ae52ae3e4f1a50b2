//! Two drivers started at once on the same app: exactly one acts; the
//! other names the holder and exits 1 having changed nothing, or, told to
//! wait, waits for the first to finish and then finds nothing to do.

use std::time::Duration;

use crate::blue_green::live_v1;
use crate::support::{Ns, Run, image};

const APP: &str = "duo";

fn deploy_v2(ns: &Ns, holder: &str, extra: &[&str]) -> std::process::Child {
    let mut c = ns.cmd("blue_green", APP);
    c.args([
        "deploy",
        &image(2),
        "--replicas",
        "2",
        "--json",
        "--holder",
        holder,
        // Long enough that the two certainly overlap.
        "--scale-down-delay",
        "3s",
    ])
    .args(extra)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    c.spawn().expect("the example starts")
}

fn finish(c: std::process::Child) -> Run {
    Run::from(c.wait_with_output().expect("the example ends"))
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_drivers_started_at_once_exactly_one_acts_and_the_other_names_it() {
    let Some(ns) = Ns::new("lease").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    for round in 0..3 {
        let v = image(10 + round);
        let spawn = |holder: &str| {
            let mut c = ns.cmd("blue_green", APP);
            c.args([
                "deploy",
                &v,
                "--replicas",
                "2",
                "--json",
                "--holder",
                holder,
            ])
            .args(["--scale-down-delay", "2s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            c.spawn().expect("the example starts")
        };
        let (a, b) = (spawn("driver-a"), spawn("driver-b"));
        let (a, b) = (finish(a), finish(b));
        let (winner, loser, loser_name, winner_name) = match (a.code, b.code) {
            (0, 1) => (a, b, "driver-b", "driver-a"),
            (1, 0) => (b, a, "driver-a", "driver-b"),
            _ => panic!(
                "round {round}: exactly one must succeed: a {}:\n{}\n{}\nb {}:\n{}\n{}",
                a.code, a.stdout, a.stderr, b.code, b.stdout, b.stderr
            ),
        };
        assert!(
            !winner.actions().is_empty(),
            "the winner acted: {}",
            winner.stdout
        );
        assert!(
            loser.actions().is_empty() && loser.of("lease").is_empty(),
            "{loser_name} acted: {}",
            loser.stdout
        );
        assert!(
            loser
                .stderr
                .contains(&format!("another driver, \"{winner_name}\"")),
            "the loser names the holder: {}",
            loser.stderr
        );
        assert!(
            loser.stderr.contains("nothing was changed"),
            "{}",
            loser.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_told_to_wait_runs_after_the_holder_and_finds_the_work_done() {
    let Some(ns) = Ns::new("lease-wait").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    let first = deploy_v2(&ns, "first", &[]);
    // Let the first take the Lease.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let second = deploy_v2(&ns, "second", &["--wait-for-lease", "60s"]);
    let (first, second) = (finish(first), finish(second));
    first.expect(0);
    second.expect(0);
    assert!(!first.actions().is_empty());
    assert!(
        second.actions().is_empty(),
        "the second found v2 live and did nothing: {}",
        second.stdout
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the second waited through the first's scale-down delay"
    );
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t1"));
}

/// Rights of a CI identity that can apply the app's objects and take its
/// Lease, but was given no rights on ReplicaSets and only `get`, `create`
/// and `patch` on Deployments: every read and server-side dry run the drivers
/// make before taking the Lease passes; the first list of ReplicaSets
/// after it (the watches of a blue-green deploy, the ReplicaSets a
/// rolling one reads before applying its Deployment) is refused.
fn ci_role() -> serde_json::Value {
    let all = ["get", "list", "watch", "create", "update", "patch"];
    serde_json::json!({
        "metadata": {"name": "ci-deployer"},
        "rules": [
            {"apiGroups": [""], "verbs": all,
             "resources": ["serviceaccounts", "configmaps", "podtemplates", "services"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "create", "patch"]},
            {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": all},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": all},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_failing_after_taking_the_lease_hands_it_over_at_once() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::PostParams;

    let Some(ns) = Ns::new("lease-err").await else {
        return;
    };
    let norights = ns.kubeconfig.with_file_name("norights.kubeconfig");
    if !norights.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {} is missing",
            norights.display()
        );
        eprintln!("SKIPPED: {} is missing", norights.display());
        return;
    }
    let role: Role = serde_json::from_value(ci_role()).expect("role");
    ns.api::<Role>()
        .create(&PostParams::default(), &role)
        .await
        .expect("create the Role");
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ci-deployer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ci-deployer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "engine-ops-norights"}]
    }))
    .expect("binding");
    ns.api::<RoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the RoleBinding");
    ns.run("blue_green", APP, &["init", &image(1), "--replicas", "1"])
        .expect(0);
    let as_ci = |bin: &str, app: &str, args: &[&str]| {
        let mut c = std::process::Command::new(crate::support::binary(bin));
        c.arg("--kubeconfig")
            .arg(&norights)
            .args(["-n", &ns.name, "--app", app])
            .args(args)
            .env_remove("ENGINE_OPS_DRIVER_HOOK")
            .env_remove("ENGINE_OPS_HOLDER");
        Run::from(c.output().expect("the example runs"))
    };
    for (bin, app) in [("blue_green", APP), ("rolling", "roll")] {
        let v1 = image(1);
        let mut deploy = vec!["deploy", &v1, "--replicas", "1", "--json"];
        if bin == "blue_green" {
            deploy.extend(["--scale-down-delay", "0s"]);
        }
        // The CI identity takes the Lease, then a list is refused.
        let failed = as_ci(bin, app, &[&deploy[..], &["--holder", "ci-job-1"]].concat());
        failed.expect(1);
        assert_eq!(
            failed.of("lease").len(),
            1,
            "it held the Lease: {}",
            failed.stdout
        );
        assert!(
            failed
                .stderr
                .contains("cannot list resource \"replicasets\""),
            "{bin}: {}",
            failed.stderr
        );
        let lease = ns
            .api::<Lease>()
            .get(&format!("{app}-rollout"))
            .await
            .expect("the Lease");
        assert_eq!(
            lease
                .spec
                .and_then(|s| s.holder_identity)
                .filter(|h| !h.is_empty()),
            None,
            "{bin}: the failed driver released the Lease"
        );
        // The next driver, another identity that does not wait for a
        // Lease (--wait-for-lease 0s), proceeds at once.
        let started = std::time::Instant::now();
        let next = ns.run(bin, app, &[&deploy[..], &["--holder", "ci-job-2"]].concat());
        next.expect(0);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{bin}: {:?}",
            started.elapsed()
        );
    }
}
