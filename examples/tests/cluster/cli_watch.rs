//! `status --watch` under a pseudo-terminal (`script(1)` of util-linux)
//! for a whole blue-green deploy: redrawn in place on every change, its
//! final screen shows v2 live and healthy, and it exits 0 when the
//! rollout ends. Ctrl-C ends a watch quietly.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::blue_green::live_v1;
use crate::support::{Ns, binary, image};

const APP: &str = "shop";

/// `script` when installed (`None`, after SKIPPED, otherwise; CI fails).
fn script() -> Option<&'static str> {
    let found = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but script(1) (util-linux) is missing"
        );
        eprintln!("SKIPPED: script(1) is not installed");
        return None;
    }
    Some("script")
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread")]
async fn status_watch_in_a_terminal_follows_a_whole_deploy_to_its_final_screen() {
    let Some(script) = script() else { return };
    let Some(ns) = Ns::cli("watch").await else {
        return;
    };
    live_v1(&ns, APP, 2).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let typescript = dir.path().join("typescript");
    let watch = [
        binary("blue_green").display().to_string(),
        "--kubeconfig".into(),
        ns.kubeconfig.display().to_string(),
        "-n".into(),
        ns.name.clone(),
        "--app".into(),
        APP.into(),
        "status".into(),
        "--watch".into(),
        "--timeout".into(),
        "90s".into(),
    ]
    .iter()
    .map(|a| quote(a))
    .collect::<Vec<_>>()
    .join(" ");
    // -e: script exits with the command's code; -f: flush as it comes.
    let mut terminal = Command::new(script)
        .args(["-q", "-f", "-e", "-c", &watch])
        .arg(&typescript)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let drawn =
        |needle: &str| std::fs::read_to_string(&typescript).is_ok_and(|t| t.contains(needle));
    let until = Instant::now() + Duration::from_secs(30);
    while !drawn("Status:      Healthy") {
        assert!(Instant::now() < until, "no first screen");
        std::thread::sleep(Duration::from_millis(50));
    }
    ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--scale-down-delay",
            "1s",
        ],
    )
    .expect(0);
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = terminal.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < until,
            "status --watch did not end with the rollout"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&typescript).expect("typescript");
    assert_eq!(status.code(), Some(0), "{out}");
    let screens: Vec<&str> = out.split("\x1b[H\x1b[2J").skip(1).collect();
    assert!(
        screens.len() >= 4,
        "redrawn on each change: {} screens\n{out}",
        screens.len()
    );
    assert!(
        screens
            .iter()
            .any(|s| s.contains("Status:      Progressing")),
        "the deploy in progress was drawn\n{out}"
    );
    let last = screens.last().expect("a screen").replace('\r', "");
    // What script(1) writes after the command's output.
    let last = last.split("\nScript done").next().unwrap_or("").to_owned();
    let line = |prefix: &str| {
        last.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{last}"))
            .to_owned()
    };
    assert!(line("Status:").contains("Healthy (stage idle)"), "{last}");
    assert!(line("Live image:").ends_with(&image(2)), "{last}");
    assert_eq!(line("Active:"), format!("Active:      Service {APP} → t1"));
    let t1 = line("  t1 ");
    let cols: Vec<&str> = t1.split_whitespace().collect();
    assert_eq!(&cols[..6], ["t1", "2", "2", "2", "2", "active"], "{last}");
    assert!(last.contains("revision 1 → 2"), "{last}");
    assert!(
        last.trim_end().ends_with("the rollout ended: Healthy"),
        "{last}"
    );

    // Ctrl-C ends a watch at once: exit 130, no error line.
    let mut watch = ns.cmd("blue_green", APP);
    let mut child = watch
        .args(["status", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
        &mut first,
    )
    .expect("a screen");
    assert!(first.starts_with("Name:"), "{first}");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    let out = child.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(130));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
