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
