//! API requests of a blue-green rollout of 10 replicas driven by the
//! planner, counted by a counting layer on the driver's client
//! (`--count-requests`): each action is one write, the traffic switch
//! exactly one request, and reads are the watches and the checks made
//! before anything is written.

use crate::support::{Ns, image};

const APP: &str = "count";

#[tokio::test(flavor = "multi_thread")]
async fn a_blue_green_rollout_of_10_replicas_costs_one_write_per_action() {
    let Some(ns) = Ns::new("count").await else {
        return;
    };
    crate::blue_green::live_v1(&ns, APP, 10).await;
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "10",
            "--json",
            "--count-requests",
            "--scale-down-delay",
            "0s",
        ],
    );
    r.expect(0);
    let actions = r.actions();
    let req = &r.of("requests")[0];
    let count = |verb: &str, resource: &str| -> u64 {
        req["by"]
            .as_array()
            .expect("counts")
            .iter()
            .filter(|c| c["verb"] == verb && c["resource"] == resource)
            .map(|c| c["count"].as_u64().unwrap_or(0))
            .sum()
    };
    let tagged = |tags: &[&str]| {
        actions
            .iter()
            .filter(|(t, _)| tags.contains(&t.as_str()))
            .count() as u64
    };
    let track_writes = tagged(&[
        "create_track",
        "scale_track",
        "schedule_scale_down",
        "set_revision",
    ]);
    let switches = tagged(&["set_active", "set_preview"]);
    // One write per action, nothing re-read or retried.
    assert_eq!(
        count("create", "replicasets") + count("patch", "replicasets"),
        track_writes,
        "{req}"
    );
    assert_eq!(
        count("patch", "services"),
        switches,
        "one request per switch: {req}"
    );
    assert_eq!(
        count("get", "replicasets") + count("get", "services"),
        2,
        "only the preflight's reads of the two Services: {req}"
    );
    assert_eq!(count("list", "replicasets"), 1, "the watch's list: {req}");
    assert_eq!(count("watch", "replicasets"), 1, "{req}");
    // The PodTemplate is applied twice (server-side dry run, then for real);
    // every other patch of it is a state save.
    let saves = count("patch", "podtemplates") - 2;
    let applies = 2 + count("patch", "serviceaccounts");
    let events = count("create", "events") + count("patch", "events");
    let lease = count("get", "leases") + count("create", "leases") + count("update", "leases");
    let watches: u64 = ["replicasets", "services", "deployments", "podtemplates"]
        .iter()
        .map(|r| count("list", r) + count("watch", r))
        .sum();
    let total = req["total"].as_u64().expect("total");
    let floor = actions.len() as u64 + watches;
    let setup_reads = total - floor - saves - applies - events - lease;
    eprintln!(
        "blue-green rollout of 10 replicas: {total} API requests = {} actions + {watches} watch requests \
         (the floor, {floor}) + {saves} state saves + {events} Events + {lease} Lease requests + \
         {applies} applies of the app's objects (dry run and real) + {setup_reads} other reads \
         (namespace, Services and PodTemplate before acting; the owner of a new track); by kind: {}",
        actions.len(),
        req["by"]
    );
    // A save per decision that changed the state, at most one per action.
    assert!(saves <= actions.len() as u64 + 1, "{req}");
    assert!(total >= floor);
}
