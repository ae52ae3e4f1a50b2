//! `canary`: a replica-weighted canary (no router) end to end, and a
//! failing analysis that gives every pod back to the stable revision;
//! `history` lists the revisions with their images and roles.

use std::collections::BTreeMap;

use crate::support::{Ns, image};

const APP: &str = "api";

pub async fn live_v1(ns: &Ns, app: &str, replicas: u32) {
    let n = replicas.to_string();
    ns.run("canary", app, &["init", &image(1), "--replicas", &n])
        .expect(0);
    ns.run("canary", app, &["deploy", &image(1), "--replicas", &n])
        .expect(0);
    // The Service selects every track of the app.
    assert_eq!(ns.selected(app).await, None);
}

/// The replica counts after every action, from the JSON progress lines.
fn sizes_after_each_action(run: &crate::support::Run) -> Vec<BTreeMap<u64, u64>> {
    let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (tag, e) in run.actions() {
        match tag.as_str() {
            "create_track" => {
                let a = &e["action"]["create_track"];
                sizes.insert(
                    a["track"].as_u64().unwrap(),
                    a["replicas"].as_u64().unwrap(),
                );
            }
            "scale_track" => {
                let a = &e["action"]["scale_track"];
                sizes.insert(
                    a["track"].as_u64().unwrap(),
                    a["replicas"].as_u64().unwrap(),
                );
            }
            _ => continue,
        }
        out.push(sizes.clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_weighted_canary_walks_its_steps_within_the_budget() {
    let Some(ns) = Ns::new("can").await else {
        return;
    };
    // v1's 4 pods exist before the canary's first decision.
    live_v1(&ns, APP, 4).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("analysis.log");
    let analysis = format!(
        "echo \"$ENGINE_OPS_CHECK $ENGINE_OPS_TRACK $ENGINE_OPS_REVISION\" >> {}",
        log.display()
    );
    let r = ns.run(
        "canary",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "4",
            "--json",
            "--step",
            "weight:25",
            "--step",
            "pause:1s",
            "--step",
            "weight:50",
            "--step",
            &format!("analysis:errors={analysis}"),
            "--step",
            "weight:75",
        ],
    );
    r.expect(0);
    let steps = sizes_after_each_action(&r);
    // v1 (#0) starts at 4 (not in the table until scaled).
    let mut seen_weights = Vec::new();
    for s in &steps {
        let v1 = s.get(&0).copied().unwrap_or(4);
        let v2 = s.get(&1).copied().unwrap_or(0);
        assert!(
            v1 + v2 <= 5,
            "above replicas + maxSurge (25% of 4 = 1): {steps:?}"
        );
        seen_weights.push((v2, v1));
    }
    for want in [(1, 3), (2, 2), (3, 1), (4, 0)] {
        assert!(
            seen_weights.contains(&want),
            "canary/stable {want:?} never reached: {steps:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&log)
            .expect("the analysis ran")
            .trim(),
        "errors t1 2"
    );
    let sets = ns.replica_sets(APP).await;
    assert_eq!(sets[&format!("{APP}-t1")], (4, 4));
    assert_eq!(sets[&format!("{APP}-t0")].0, 0);
    assert_eq!(r.of("done")[0]["outcome"], "healthy");
    // history: the revisions, oldest first, each with its image and role.
    assert_eq!(
        revisions(&ns),
        [
            (1, image(1), "old".to_owned()),
            (2, image(2), "stable".to_owned())
        ]
    );
    let text = ns.run("canary", APP, &["history"]);
    text.expect(0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    assert!(lines[0].contains("2 revision(s)"), "{}", text.stdout);
    assert!(
        lines[2].contains("revision 2")
            && lines[2].contains("stable")
            && lines[2].contains(&image(2)),
        "{}",
        text.stdout
    );
}

/// `history --json`: `(revision, image, role)` of each revision.
fn revisions(ns: &Ns) -> Vec<(u64, String, String)> {
    let r = ns.run("canary", APP, &["history", "--json"]);
    r.expect(0);
    assert_eq!(
        r.of("revision").len(),
        r.stdout.lines().count(),
        "{}",
        r.stdout
    );
    r.of("revision")
        .iter()
        .map(|e| {
            (
                e["revision"].as_u64().expect("revision"),
                e["image"].as_str().expect("image").to_owned(),
                e["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_analysis_aborts_and_the_stable_revision_takes_every_pod_back() {
    let Some(ns) = Ns::new("can-fail").await else {
        return;
    };
    live_v1(&ns, APP, 4).await;
    let r = ns.run(
        "canary",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "4",
            "--json",
            "--step",
            "weight:50",
            "--step",
            "analysis:errors=exit 1",
            "--step",
            "weight:75",
        ],
    );
    r.expect(1);
    assert!(r.stdout.contains("`errors` failed"), "{}", r.stdout);
    let sets = ns.replica_sets(APP).await;
    assert_eq!(sets[&format!("{APP}-t0")], (4, 4), "{sets:?}");
    assert_eq!(sets[&format!("{APP}-t1")].0, 0, "{sets:?}");
    let state = ns.state(APP).await.expect("a state");
    assert_eq!(state["planner"]["aborted"], true);
    assert_eq!(
        revisions(&ns),
        [
            (1, image(1), "stable".to_owned()),
            (2, image(2), "aborted".to_owned())
        ]
    );
}
