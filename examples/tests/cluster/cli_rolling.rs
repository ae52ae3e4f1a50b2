//! `rolling` as a CI job runs it: `--dry-run` changes nothing; a deploy
//! whose pods can never be scheduled exits 1 at its progress deadline,
//! saying what the pods wait for; `history` lists the revisions; `undo
//! --to-revision` goes back.

use k8s_openapi::api::apps::v1::Deployment;

use crate::support::{Ns, image};

const APP: &str = "api";

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_a_never_ready_deploy_failing_at_its_deadline_history_and_undo() {
    let Some(ns) = Ns::cli("roll").await else {
        return;
    };
    let budget = [
        "--replicas",
        "2",
        "--max-surge",
        "1",
        "--max-unavailable",
        "0",
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(budget);
        ns.run("rolling", APP, &args)
    };
    run(&["deploy", &image(1)]).expect(0);

    let before = ns.settled_versions(APP).await;
    let r = run(&["deploy", &image(2), "--dry-run", "--json"]);
    r.expect(0);
    let plan: Vec<String> = r
        .of("plan")
        .iter()
        .map(|p| p["summary"].as_str().unwrap_or("").to_owned())
        .collect();
    // maxSurge 1, maxUnavailable 0: one new pod, one old pod down, twice.
    assert_eq!(plan.len(), 4, "{plan:#?}");
    assert!(
        plan[0].starts_with("create") && plan[0].ends_with("x1"),
        "{plan:#?}"
    );
    assert_eq!(r.of("plan_end")[0]["phase"], "Healthy");
    assert_eq!(ns.versions(APP).await, before, "a dry run changes nothing");

    // Pods that no node can take: exit 1 at the 5 s deadline, with why.
    let started = std::time::Instant::now();
    let r = run(&[
        "deploy",
        &image(2),
        "--cpu-request",
        "500",
        "--cpu-limit",
        "500",
        "--progress-deadline",
        "5s",
    ]);
    r.expect(1);
    let took = started.elapsed().as_secs_f64();
    assert!((4.5..60.0).contains(&took), "ended after {took:.1} s");
    let done = r.stdout.lines().last().unwrap_or("");
    assert!(
        done.contains("failed at its progress deadline")
            && done.contains("Unschedulable")
            && done.contains("Insufficient cpu")
            && done.contains("old pods keep serving"),
        "{}",
        r.stdout
    );
    let d = ns.api::<Deployment>().get(APP).await.expect("deployment");
    assert_eq!(
        d.status.and_then(|s| s.available_replicas),
        Some(2),
        "v1 still serves"
    );

    // history: both revisions, the failing one current.
    let h = ns.run("rolling", APP, &["history", "--json"]);
    h.expect(0);
    let revs = h.of("revision");
    assert_eq!(revs.len(), 2, "{}", h.stdout);
    assert_eq!(revs[1]["revision"], 2);
    assert_eq!(revs[1]["current"], true);
    assert!(
        revs[0]["images"][0]
            .as_str()
            .is_some_and(|i| *i == image(1))
    );

    // undo --to-revision 1: v1 again, as revision 3.
    let r = ns.run("rolling", APP, &["undo", "--to-revision", "1", "--json"]);
    r.expect(0);
    assert_eq!(r.of("done")[0]["revision"], 3, "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_following_a_deployment_hands_the_lease_back_and_undo_runs_at_once() {
    let Some(ns) = Ns::cli("rint").await else {
        return;
    };
    ns.run("rolling", "svc", &["deploy", &image(1), "--replicas", "2"])
        .expect(0);
    let mut deploy = ns.cmd("rolling", "svc");
    deploy
        .args([
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--cpu-request",
            "500",
        ])
        .args(["--cpu-limit", "500"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = deploy.spawn().expect("starts");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("new): ") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut out, &mut line).expect("a line");
        assert!(n > 0, "ended before the new ReplicaSet showed");
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    let done = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted (SIGINT) while following Deployment svc"),
        "{stderr}"
    );
    // Another process takes the app at once (the Lease was handed back).
    let started = std::time::Instant::now();
    let r = ns.run("rolling", "svc", &["undo", "--json"]);
    r.expect(0);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(r.of("done")[0]["revision"], 3, "{}", r.stdout);
}
