//! Bad usage of the `blue_green` and `rolling` programs: an unknown
//! command, an image without digest, a missing app or `--app`, an
//! unreachable API server. Each ends with exit 2 and exactly one line on
//! stderr, and nothing changed on the cluster. `render` (of `blue_green`,
//! `canary` and `rolling`) needs no cluster.

use crate::blue_green::live_v1;
use crate::support::{Ns, Run, binary, image};

const APP: &str = "usage";

#[track_caller]
fn one_line(r: &Run, needle: &str) {
    r.expect(2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {:?}", r.stderr);
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{needle:?} in {:?}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_usage_is_one_line_and_exit_2_and_changes_nothing() {
    let Some(ns) = Ns::cli("usage").await else {
        return;
    };
    live_v1(&ns, APP, 1).await;
    let before = ns.settled_versions(APP).await;
    let state = ns.state(APP).await;
    for bin in ["blue_green", "rolling"] {
        one_line(
            &ns.run(bin, APP, &["frobnicate"]),
            "unrecognized subcommand 'frobnicate'",
        );
        one_line(
            &ns.run(bin, APP, &["deploy", "registry.example/app:1.2"]),
            "not pinned by digest",
        );
        one_line(&ns.run(bin, APP, &["deploy"]), "<IMAGE>");
        one_line(
            &ns.run(bin, APP, &["status", "--timeout", "soon"]),
            "not a duration",
        );
        // A missing app.
        let r = ns.run(bin, "ghost", &["status"]);
        one_line(&r, "ghost");
        // No --app at all.
        let mut c = std::process::Command::new(binary(bin));
        c.arg("--kubeconfig")
            .arg(&ns.kubeconfig)
            .args(["-n", &ns.name, "status"]);
        one_line(&Run::from(c.output().expect("runs")), "--app");
    }
    one_line(
        &ns.run("blue_green", "ghost", &["deploy", &image(2)]),
        "app ghost not found",
    );
    one_line(&ns.run("rolling", "ghost", &["undo"]), "ghost");

    // An API server nobody answers at: the same kubeconfig, another port.
    let dir = tempfile::tempdir().expect("temp dir");
    let dead = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(&ns.kubeconfig).expect("kubeconfig");
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("a server line")
        .to_owned();
    std::fs::write(&dead, text.replace(&server, "https://127.0.0.1:1")).expect("write");
    for (bin, args) in [
        ("blue_green", vec!["deploy", &image(2)]),
        ("rolling", vec!["deploy", &image(2)]),
    ] {
        let mut c = std::process::Command::new(binary(bin));
        c.arg("--kubeconfig")
            .arg(&dead)
            .args(["-n", &ns.name, "--app", APP])
            .args(&args);
        one_line(&Run::from(c.output().expect("runs")), "not reachable");
    }

    assert_eq!(ns.versions(APP).await, before, "nothing changed");
    assert_eq!(ns.state(APP).await, state);

    // init --dry-run of a new app: the API server's checks, nothing stored.
    let r = ns.run("blue_green", "fresh", &["init", &image(1), "--dry-run"]);
    r.expect(0);
    assert!(r.stdout.contains("nothing was changed"), "{}", r.stdout);
    assert!(
        ns.versions("fresh")
            .await
            .keys()
            .all(|k| !k.contains("fresh"))
    );
}

#[test]
fn render_prints_the_objects_without_a_cluster() {
    for (bin, kinds) in [
        (
            "blue_green",
            &["ServiceAccount", "PodTemplate", "Service", "Service"][..],
        ),
        ("canary", &["ServiceAccount", "PodTemplate", "Service"][..]),
        ("rolling", &["ServiceAccount", "Service", "Deployment"][..]),
    ] {
        let out = std::process::Command::new(binary(bin))
            .args([
                "--kubeconfig",
                "/nonexistent",
                "-n",
                "shop",
                "--app",
                "web",
                "--json",
            ])
            .args(["render", &image(1)])
            .output()
            .expect("runs");
        let r = Run::from(out);
        r.expect(0);
        let objects: Vec<serde_json::Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        let got: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        for k in kinds {
            assert!(got.contains(k), "{bin}: {k} in {got:?}");
        }
        assert!(objects.iter().all(|o| o["metadata"]["namespace"] == "shop"));
        // The Services each program starts with: blue-green's select no
        // track yet, a canary's every track of the app (no track key), a
        // rolling one's the Deployment's pods.
        let tracks: Vec<Option<&str>> = objects
            .iter()
            .filter(|o| o["kind"] == "Service")
            .map(|o| o["spec"]["selector"]["engine-ops.io/track"].as_str())
            .collect();
        let want: &[Option<&str>] = match bin {
            "blue_green" => &[Some("none"), Some("none")],
            "canary" => &[None],
            _ => &[Some("rolling")],
        };
        assert_eq!(tracks, want, "{bin}: {}", r.stdout);
        assert!(
            objects
                .iter()
                .filter(|o| o["kind"] == "Service")
                .all(|o| o["spec"]["selector"]["app.kubernetes.io/instance"] == "web"),
            "{bin}: {}",
            r.stdout
        );
        if bin == "canary" {
            assert!(
                !got.contains(&"Deployment") && !got.contains(&"ReplicaSet"),
                "a canary's tracks are made by deploy: {got:?}"
            );
        }
        let yaml = std::process::Command::new(binary(bin))
            .args(["-n", "shop", "--app", "web", "render", &image(1)])
            .output()
            .expect("runs");
        let y = String::from_utf8_lossy(&yaml.stdout);
        assert_eq!(y.matches("\n---\n").count() + 1, objects.len(), "{y}");
        assert!(y.contains(&image(1)));
        let bad = Run::from(
            std::process::Command::new(binary(bin))
                .args(["--app", "web", "render", "registry.example/app:latest"])
                .output()
                .expect("runs"),
        );
        one_line(&bad, "digest");
    }
}
