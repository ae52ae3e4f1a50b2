//! `blue_green`: v1 live, then v2 through preview, a pre-promotion check,
//! the switch, a post-promotion check and the old colour's scale-down; a
//! failing post-promotion check puts traffic back on v1 in one request;
//! `rollback` after success; a manual gate and `promote`.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Ns, image};

const APP: &str = "shop";

/// `init` and the first deployment of v1 with `replicas` pods.
pub async fn live_v1(ns: &Ns, app: &str, replicas: u32) {
    let n = replicas.to_string();
    ns.run("blue_green", app, &["init", &image(1), "--replicas", &n])
        .expect(0);
    let r = ns.run(
        "blue_green",
        app,
        &["deploy", &image(1), "--replicas", &n, "--json"],
    );
    r.expect(0);
    assert_eq!(
        ns.selected(app).await.as_deref(),
        Some("t0"),
        "{}",
        r.stdout
    );
}

/// A check script that logs its environment and what the preview and
/// active Services select when it runs (read with kubectl, independently
/// of the driver), then exits with `code`.
fn logging_check(ns: &Ns, log: &std::path::Path, code: i32) -> String {
    format!(
        "echo \"$ENGINE_OPS_CHECK service=$ENGINE_OPS_SERVICE track=$ENGINE_OPS_TRACK revision=$ENGINE_OPS_REVISION \
         preview=$(kubectl --kubeconfig {kc} -n {ns} get svc {APP}-preview -o jsonpath='{{.spec.selector.engine-ops\\.io/track}}') \
         active=$(kubectl --kubeconfig {kc} -n {ns} get svc {APP} -o jsonpath='{{.spec.selector.engine-ops\\.io/track}}')\" >> {log}; exit {code}",
        kc = ns.kubeconfig.display(),
        ns = ns.name,
        log = log.display(),
    )
}

fn index_of(actions: &[(String, Value)], tag: &str, pred: impl Fn(&Value) -> bool) -> usize {
    actions
        .iter()
        .position(|(t, e)| t == tag && pred(e))
        .unwrap_or_else(|| panic!("no {tag} action in {actions:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_goes_through_preview_checks_switch_and_the_old_colour_is_scaled_down_after_the_delay() {
    let Some(ns) = Ns::new("bg").await else {
        return;
    };
    live_v1(&ns, APP, 3).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("checks.log");
    let smoke = logging_check(&ns, &log, 0);
    let errors = logging_check(&ns, &log, 0);
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "3",
            "--json",
            "--pre-check",
            &format!("smoke={smoke}"),
            "--post-check",
            &format!("errors={errors}"),
            "--scale-down-delay",
            "2s",
        ],
    );
    r.expect(0);
    let actions = r.actions();
    let create = index_of(&actions, "create_track", |e| {
        e["action"]["create_track"]["track"] == 1
    });
    let preview = index_of(&actions, "set_preview", |e| {
        e["action"]["set_preview"]["track"] == 1
    });
    let smoke_start = index_of(&actions, "start_check", |e| {
        e["action"]["start_check"]["run"]["name"] == "smoke"
    });
    let switch = index_of(&actions, "set_active", |e| {
        e["action"]["set_active"]["track"] == 1
    });
    let errors_start = index_of(&actions, "start_check", |e| {
        e["action"]["start_check"]["run"]["name"] == "errors"
    });
    let schedule = index_of(&actions, "schedule_scale_down", |e| {
        e["action"]["schedule_scale_down"]["track"] == 0
    });
    let scale_down = index_of(&actions, "scale_track", |e| {
        e["action"]["scale_track"]["track"] == 0 && e["action"]["scale_track"]["replicas"] == 0
    });
    assert!(
        create < preview
            && preview < smoke_start
            && smoke_start < switch
            && switch < errors_start
            && errors_start < schedule
            && schedule < scale_down,
        "the blue-green order: {actions:#?}"
    );
    // The switch was one request; the old colour went only after the delay.
    assert_eq!(actions[switch].1["result"]["attempts"], 1);
    let at = |i: usize| actions[i].1["elapsed_ms"].as_u64().expect("elapsed");
    assert!(
        at(scale_down) >= at(schedule) + 1900,
        "scaled down {} ms after scheduling, the delay is 2 s",
        at(scale_down) - at(schedule)
    );
    // Every action line carries its reason.
    assert!(
        actions
            .iter()
            .all(|(_, e)| e["reason"].as_str().is_some_and(|r| !r.is_empty()))
    );
    // The checks ran where they should: smoke on the preview Service while
    // it selected v2 and v1 was still active; errors after the switch.
    let lines = std::fs::read_to_string(&log).expect("the checks ran");
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        format!("smoke service={APP}-preview track=t1 revision=2 preview=t1 active=t0")
    );
    assert_eq!(
        lines[1],
        format!("errors service={APP} track=t1 revision=2 preview=t1 active=t1")
    );
    // The cluster: v2 serves, v1 has no pod asked for, the preview shows nothing.
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t1"));
    assert_eq!(
        ns.selected(&format!("{APP}-preview")).await.as_deref(),
        Some("none")
    );
    let sets = ns.replica_sets(APP).await;
    assert_eq!(sets[&format!("{APP}-t0")].0, 0);
    assert_eq!(sets[&format!("{APP}-t1")], (3, 3));
    ns.wait_endpoints(APP, "t1", 3).await;
    // The persisted state says the same.
    let state = ns.state(APP).await.expect("a state");
    assert_eq!(state["planner"]["stage"], "idle", "{state}");
    assert_eq!(
        state["planner"]["switches"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_post_promotion_check_puts_traffic_back_on_v1_in_one_request() {
    let Some(ns) = Ns::new("bg-fail").await else {
        return;
    };
    live_v1(&ns, APP, 3).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("checks.log");
    let failing = logging_check(&ns, &log, 1);
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "3",
            "--json",
            "--count-requests",
            "--post-check",
            &format!("errors={failing}"),
            "--scale-down-delay",
            "30s",
        ],
    );
    r.expect(1);
    let actions = r.actions();
    let to_v2 = index_of(&actions, "set_active", |e| {
        e["action"]["set_active"]["track"] == 1
    });
    let back = index_of(&actions, "set_active", |e| {
        e["action"]["set_active"]["track"] == 0
    });
    assert!(to_v2 < back);
    // The check failed while v2 took the traffic.
    let lines = std::fs::read_to_string(&log).expect("the check ran");
    assert_eq!(
        lines.trim(),
        format!("errors service={APP} track=t1 revision=2 preview=t1 active=t1")
    );
    // Back on v1 in one request, and it said why.
    assert_eq!(
        actions[back].1["result"]["attempts"], 1,
        "{:#?}",
        actions[back]
    );
    assert_eq!(actions[back].1["result"]["changed"], true);
    assert!(
        actions[back].1["reason"]
            .as_str()
            .is_some_and(|r| r.contains("rollback")),
        "{:#?}",
        actions[back]
    );
    let done = r.of("done");
    assert_eq!(done[0]["exit"], 1);
    assert!(
        done[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{done:?}"
    );
    assert!(
        r.stdout.contains("post-promotion check `errors` failed"),
        "{}",
        r.stdout
    );
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t0"));
    ns.wait_endpoints(APP, "t0", 3).await;
    let sets = ns.replica_sets(APP).await;
    assert_eq!(sets[&format!("{APP}-t0")], (3, 3), "v1 kept its full size");
    // Services were written four times: the active one by the switch and
    // the switch back, the preview one pointed at v2 and then cleared.
    let requests = r.of("requests");
    let service_patches: u64 = requests[0]["by"]
        .as_array()
        .expect("counts")
        .iter()
        .filter(|c| c["verb"] == "patch" && c["resource"] == "services")
        .map(|c| c["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(service_patches, 4, "{requests:?}");
    let state = ns.state(APP).await.expect("a state");
    assert_eq!(state["planner"]["aborted"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_after_success_returns_to_the_previous_revision_from_the_switch_history() {
    let Some(ns) = Ns::new("bg-rb").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--scale-down-delay",
            "0s",
        ],
    )
    .expect(0);
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t1"));
    // v1 is scaled down already: the rollback is an undo to it.
    let r = ns.run("blue_green", APP, &["rollback", "--json"]);
    r.expect(0);
    let start = r.of("rollback");
    assert_eq!(
        start[0]["command"]["undo"]["to_revision"], 1,
        "{}",
        r.stdout
    );
    assert_eq!(
        ns.selected(APP).await.as_deref(),
        Some("t0"),
        "{}",
        r.stdout
    );
    ns.wait_endpoints(APP, "t0", 2).await;
    // A rollback again goes forward to v2 (the revision live before), not
    // to anything older.
    let r = ns.run("blue_green", APP, &["rollback", "--json"]);
    r.expect(0);
    assert_eq!(
        ns.selected(APP).await.as_deref(),
        Some("t1"),
        "{}",
        r.stdout
    );
    let status = ns.run("blue_green", APP, &["status", "--json"]);
    status.expect(0);
    let s: Value = serde_json::from_str(status.stdout.trim()).expect("one JSON object");
    assert_eq!(s["phase"], "Healthy", "{s}");
    assert!(
        s["switches"].as_array().is_some_and(|w| w.len() >= 4),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_gate_stops_with_exit_0_and_promote_finishes() {
    let Some(ns) = Ns::new("bg-gate").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--json",
            "--manual-promotion",
            "--scale-down-delay",
            "0s",
        ],
    );
    r.expect(0);
    assert_eq!(r.of("done")[0]["outcome"], "gate", "{}", r.stdout);
    assert_eq!(
        ns.selected(APP).await.as_deref(),
        Some("t0"),
        "nothing switched"
    );
    assert_eq!(
        ns.selected(&format!("{APP}-preview")).await.as_deref(),
        Some("t1")
    );
    let r = ns.run("blue_green", APP, &["promote", "--json"]);
    r.expect(0);
    assert_eq!(r.of("done")[0]["outcome"], "healthy", "{}", r.stdout);
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t1"));
    tokio::time::sleep(Duration::from_millis(10)).await;
}
