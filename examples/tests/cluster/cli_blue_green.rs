//! `blue_green` as a CI job runs it: `--dry-run` changes nothing (every
//! `resourceVersion` equal); a failing post-promotion check rolls back by
//! itself (exit 1); a manual `rollback` after a success; `history` lists
//! every switch with its time and reason; `--timeout` ends a deploy with
//! exit 1; Ctrl-C stops one with the Lease released (exit 130), and the
//! same command finishes it.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::Value;

use crate::blue_green::live_v1;
use crate::support::{Ns, image};

const APP: &str = "web";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_then_a_failed_deploy_a_success_and_a_rollback_all_in_history() {
    let Some(ns) = Ns::cli("bg").await else {
        return;
    };
    let started = now_ms();
    live_v1(&ns, APP, 2).await;

    // --dry-run: the whole rollout previewed, nothing changed.
    let before = ns.settled_versions(APP).await;
    let state = ns.state(APP).await;
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--dry-run",
            "--json",
            "--post-check",
            "errors=false",
            "--scale-down-delay",
            "1s",
        ],
    );
    r.expect(0);
    let plan: Vec<String> = r
        .of("plan")
        .iter()
        .map(|p| p["summary"].as_str().unwrap_or("").to_owned())
        .collect();
    let pos = |needle: &str| {
        plan.iter()
            .position(|p| p.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in the plan: {plan:#?}"))
    };
    assert!(
        pos("create") < pos("point preview at")
            && pos("point preview at") < pos("switch active to"),
        "{plan:#?}"
    );
    assert_eq!(r.of("plan_end")[0]["phase"], "Healthy", "{}", r.stdout);
    assert_eq!(ns.versions(APP).await, before, "a dry run changes nothing");
    assert_eq!(ns.state(APP).await, state);

    // A failing post-promotion check: traffic back on v1 by itself, exit 1.
    let r = ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--post-check",
            "errors=false",
            "--scale-down-delay",
            "1s",
            "--abort-scale-down-delay",
            "0s",
        ],
    );
    r.expect(1);
    assert!(r.stdout.contains("rollout failed"), "{}", r.stdout);
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t0"));

    // v3 succeeds; its predecessor stays up for an instant rollback.
    ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(3),
            "--replicas",
            "2",
            "--scale-down-delay",
            "5m",
            "--exit-when-switched",
        ],
    )
    .expect(0);
    let v3 = ns.selected(APP).await.expect("a track");
    assert_ne!(v3, "t0");

    // rollback --dry-run previews the switch back; nothing changes.
    let before = ns.settled_versions(APP).await;
    let r = ns.run("blue_green", APP, &["rollback", "--dry-run"]);
    r.expect(0);
    assert!(r.stdout.contains("switch active to #0"), "{}", r.stdout);
    assert_eq!(ns.versions(APP).await, before);

    // A manual rollback: traffic back on v1 (from the history, not a toggle).
    ns.run("blue_green", APP, &["rollback"]).expect(0);
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t0"));
    let ended = now_ms();

    // history: each switch, oldest first, with its time and reason.
    let r = ns.run("blue_green", APP, &["history", "--json"]);
    r.expect(0);
    let switches = r.of("switch");
    let pairs: Vec<(Value, Value)> = switches
        .iter()
        .map(|s| (s["from_revision"].clone(), s["to_revision"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (Value::Null, 1.into()),
            (1.into(), 2.into()),
            (2.into(), 1.into()),
            (1.into(), 3.into()),
            (3.into(), 1.into()),
        ]
        .to_vec(),
        "{}",
        r.stdout
    );
    let mut last = started;
    for s in &switches {
        let at = s["at_ms"].as_u64().expect("at_ms");
        assert!(
            at >= last && at <= ended,
            "times in order and in the test's window: {s}"
        );
        last = at;
        assert!(s["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{s}");
        assert!(!s["reason"].as_str().unwrap_or("").is_empty(), "{s}");
        assert!(
            s["image"].as_str().is_some_and(|i| i.contains("@sha256:")),
            "{s}"
        );
    }
    let text = ns.run("blue_green", APP, &["history"]);
    text.expect(0);
    let rows: Vec<&str> = text.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{}", text.stdout);
    assert!(rows[2].contains("revision 2 → 1"), "{}", text.stdout);
    assert!(rows[4].contains("revision 3 → 1"), "{}", text.stdout);
}

/// A running command whose stdout lines are read as they come.
struct Lines {
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn spawn(mut cmd: std::process::Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Self {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while let Ok(l) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = l.contains(needle);
            self.seen.push(l);
            if hit {
                return;
            }
        }
        panic!("no line with `{needle}`: {:#?}", self.seen);
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
    }

    fn finish(mut self, timeout: Duration) -> (i32, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.code().unwrap_or(-1), err);
            }
            assert!(Instant::now() < deadline, "still running after {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_a_deploy_between_requests_and_the_same_command_finishes_it() {
    let Some(ns) = Ns::cli("int").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    let deploy = |check: &str| {
        let mut c = ns.cmd("blue_green", APP);
        c.args([
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--scale-down-delay",
            "0s",
            "--pre-check",
            &format!("smoke={check}"),
        ]);
        c
    };
    // --timeout: exit 1 saying what the rollout waits for; the Lease is
    // handed back.
    let mut slow = deploy("sleep 30");
    let r = crate::support::Run::from(slow.args(["--timeout", "2s"]).output().expect("runs"));
    r.expect(1);
    assert!(
        r.stderr.contains("timed out") && r.stderr.contains("run the command again"),
        "{}",
        r.stderr
    );
    let mut run = Lines::spawn(deploy("sleep 30"));
    run.wait_for("start check smoke", Duration::from_secs(30));
    run.signal("-INT");
    let (code, stderr) = run.finish(Duration::from_secs(10));
    assert_eq!(code, 130, "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("interrupted (SIGINT) at stage pre_promotion")
            && errors[0].contains("run the command again"),
        "{stderr}"
    );
    // Traffic untouched, the Lease handed back at once.
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t0"));
    let lease = ns
        .api::<Lease>()
        .get(&format!("{APP}-rollout"))
        .await
        .expect("the Lease");
    assert_eq!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty()),
        None,
        "released"
    );
    // The same command (another process, another holder) resumes at once.
    let started = Instant::now();
    let out = crate::support::Run::from(deploy("true").output().expect("runs"));
    out.expect(0);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        ns.selected(APP).await.as_deref(),
        Some("t1"),
        "{}",
        out.stdout
    );
}

/// The `plan` lines' actions, by their serialised tag, with their track.
fn planned(r: &crate::support::Run) -> Vec<(String, Value)> {
    r.of("plan")
        .into_iter()
        .filter_map(|p| {
            let (tag, body) = p["action"].as_object()?.iter().next()?;
            Some((tag.clone(), body["track"].clone()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_and_abort_dry_runs_at_the_gate_print_their_plans_and_change_nothing() {
    let Some(ns) = Ns::cli("bg-gate").await else {
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
            "--manual-promotion",
            "--scale-down-delay",
            "1s",
        ],
    )
    .expect(0);
    let preview = format!("{APP}-preview");
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t0"));
    assert_eq!(ns.selected(&preview).await.as_deref(), Some("t1"));
    let before = ns.settled_versions(APP).await;
    let state = ns.state(APP).await;

    // promote: traffic to v2 first, then v1 scaled down; Healthy.
    let r = ns.run("blue_green", APP, &["promote", "--dry-run", "--json"]);
    r.expect(0);
    let plan = planned(&r);
    assert_eq!(
        plan.first(),
        Some(&("set_active".to_owned(), 1.into())),
        "{}",
        r.stdout
    );
    assert!(
        plan.contains(&("scale_track".to_owned(), 0.into())),
        "{}",
        r.stdout
    );
    assert_eq!(r.of("plan_end")[0]["phase"], "Healthy", "{}", r.stdout);
    let text = ns.run("blue_green", APP, &["promote", "--dry-run"]);
    text.expect(0);
    assert!(
        text.stdout.contains("nothing is changed") && text.stdout.contains("switch active to #1"),
        "{}",
        text.stdout
    );

    // abort: traffic never moves; the preview is cleared and v2 scaled
    // down; Degraded (the rollout is aborted).
    let r = ns.run("blue_green", APP, &["abort", "--dry-run", "--json"]);
    r.expect(0);
    let plan = planned(&r);
    assert!(
        plan.iter().all(|(tag, _)| tag != "set_active"),
        "{}",
        r.stdout
    );
    assert!(
        plan.contains(&("set_preview".to_owned(), Value::Null))
            && plan.contains(&("scale_track".to_owned(), 1.into())),
        "{}",
        r.stdout
    );
    assert_eq!(r.of("plan_end")[0]["phase"], "Degraded", "{}", r.stdout);

    assert_eq!(ns.versions(APP).await, before, "a dry run changes nothing");
    assert_eq!(ns.state(APP).await, state);
    assert_eq!(ns.selected(APP).await.as_deref(), Some("t0"));
    assert_eq!(ns.selected(&preview).await.as_deref(), Some("t1"));
}
