//! Bad input: a missing namespace, a Service that does not exist, a
//! template the API server refuses, a forbidden request, bad usage. Each
//! is one clear line on stderr and exit 2, and the cluster and the
//! persisted state are unchanged (every `resourceVersion` equal, no Lease
//! taken).

use k8s_openapi::api::core::v1::Service;
use kube::api::DeleteParams;

use crate::blue_green::live_v1;
use crate::support::{Ns, image};

const APP: &str = "bad";

/// The error lines of a run (stderr without the hook or note lines).
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_one_line_and_exit_2_and_nothing_changes() {
    let Some(ns) = Ns::new("bad").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    let before = ns.versions(APP).await;
    let state_before = ns.state(APP).await;
    // The Lease was released by the last command: it exists, unchanged below.
    let v2 = image(2);

    // A namespace that does not exist.
    let mut c = std::process::Command::new(crate::support::binary("blue_green"));
    c.arg("--kubeconfig").arg(&ns.kubeconfig).args([
        "-n",
        "k8s-ex-no-such-namespace",
        "--app",
        APP,
        "deploy",
        &v2,
    ]);
    let r = crate::support::Run::from(c.output().expect("runs"));
    r.expect(2);
    let e = error_line(&r.stderr);
    assert!(
        e.contains("namespace k8s-ex-no-such-namespace does not exist"),
        "{e}"
    );

    // A template the API server refuses (the request above the limit).
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &v2,
            "--replicas",
            "2",
            "--cpu-request",
            "2",
            "--cpu-limit",
            "1",
        ],
    );
    r.expect(2);
    let e = error_line(&r.stderr);
    assert!(
        e.contains("refused PodTemplate") && e.contains("must be less than or equal to cpu limit"),
        "{e}"
    );

    // An identity without rights.
    let norights = ns.kubeconfig.with_file_name("norights.kubeconfig");
    if norights.exists() {
        let norights_cmd = || {
            let mut c = std::process::Command::new(crate::support::binary("blue_green"));
            c.arg("--kubeconfig")
                .arg(&norights)
                .args(["-n", &ns.name, "--app", APP]);
            c
        };
        let mut c = norights_cmd();
        c.args(["deploy", &v2]);
        let r = crate::support::Run::from(c.output().expect("runs"));
        r.expect(2);
        let e = error_line(&r.stderr);
        assert!(e.contains("forbidden"), "{e}");
        for cmd in [&["status"][..], &["promote"], &["rollback"]] {
            let mut c = norights_cmd();
            c.args(cmd);
            let r = crate::support::Run::from(c.output().expect("runs"));
            r.expect(2);
            assert!(
                error_line(&r.stderr).contains("forbidden"),
                "{cmd:?}: {}",
                r.stderr
            );
        }
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {} is missing",
            norights.display()
        );
        eprintln!(
            "SKIPPED (forbidden case): {} is missing",
            norights.display()
        );
    }

    // Bad usage, found before any request.
    for (args, needle) in [
        (vec!["deploy", "registry.example/app:latest"], "digest"),
        (vec!["deploy", &v2, "--replicas", "0"], "replicas"),
        (vec!["frobnicate"], "frobnicate"),
        (vec!["deploy", &v2, "--pre-check", "smoke"], "--check"),
        (vec!["deploy", &v2, "--scale-down-delay", "ten"], "duration"),
    ] {
        let r = ns.run("blue_green", APP, &args);
        r.expect(2);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }

    assert_eq!(ns.versions(APP).await, before, "nothing changed");
    assert_eq!(ns.state(APP).await, state_before);

    // A Service that does not exist (the preview one, deleted by hand).
    ns.api::<Service>()
        .delete(&format!("{APP}-preview"), &DeleteParams::default())
        .await
        .expect("delete the preview Service");
    let before = ns.versions(APP).await;
    let r = ns.run("blue_green", APP, &["deploy", &v2, "--replicas", "2"]);
    r.expect(2);
    let e = error_line(&r.stderr);
    assert!(
        e.contains(&format!("Service {}/{APP}-preview not found", ns.name)),
        "{e}"
    );
    assert!(e.contains("init"), "says how to fix it: {e}");
    assert_eq!(ns.versions(APP).await, before, "nothing changed");
    assert_eq!(ns.state(APP).await, state_before);
    // `init`, as the error says, puts the Service back (selecting nothing)
    // and leaves the rolled-out PodTemplate alone.
    let template = format!("PodTemplate/{APP}");
    let r = ns.run("blue_green", APP, &["init", &image(7), "--replicas", "2"]);
    r.expect(0);
    assert_eq!(
        ns.versions(APP).await[&template],
        before[&template],
        "{}",
        r.stdout
    );
    assert_eq!(
        ns.selected(&format!("{APP}-preview")).await.as_deref(),
        Some("none")
    );
    assert_eq!(ns.state(APP).await, state_before);
    ns.run(
        "blue_green",
        APP,
        &["deploy", &v2, "--replicas", "2", "--scale-down-delay", "0s"],
    )
    .expect(0);

    // A missing app.
    let r = ns.run("blue_green", "ghost", &["deploy", &v2]);
    r.expect(2);
    assert!(
        error_line(&r.stderr).contains("app ghost not found"),
        "{}",
        r.stderr
    );
    let r = ns.run("blue_green", "ghost", &["status"]);
    r.expect(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_deploy_of_a_refused_template_creates_nothing() {
    let Some(ns) = Ns::new("bad-roll").await else {
        return;
    };
    let r = ns.run(
        "rolling",
        "web",
        &[
            "deploy",
            &image(1),
            "--memory-request",
            "2Gi",
            "--memory-limit",
            "1Gi",
        ],
    );
    r.expect(2);
    let e = error_line(&r.stderr);
    assert!(
        e.contains("must be less than or equal to memory limit"),
        "{e}"
    );
    assert!(ns.versions("web").await.is_empty(), "nothing was created");
}
