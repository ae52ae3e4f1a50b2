//! `status --watch` under a pseudo-terminal (`script(1)` of util-linux)
//! for a whole blue-green and a whole rolling deploy: redrawn in place on
//! every change, its final screen shows v2 live and healthy, and it exits
//! 0 when the rollout ends. Ctrl-C ends a watch quietly (exit 130); so does
//! a closed stdout (exit 0).

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

/// `bin ... status --watch` of `app` under a pseudo-terminal, recorded in
/// `typescript`; returns once its first screen shows `first`.
fn watch_in_terminal(
    script: &str,
    ns: &Ns,
    bin: &str,
    app: &str,
    typescript: &std::path::Path,
    first: &str,
) -> std::process::Child {
    let watch = [
        binary(bin).display().to_string(),
        "--kubeconfig".into(),
        ns.kubeconfig.display().to_string(),
        "-n".into(),
        ns.name.clone(),
        "--app".into(),
        app.into(),
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
    let terminal = Command::new(script)
        .args(["-q", "-f", "-e", "-c", &watch])
        .arg(typescript)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let until = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(typescript).is_ok_and(|t| t.contains(first)) {
        assert!(Instant::now() < until, "no first screen with {first:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    terminal
}

/// Waits for the recorded watch to end; its exit code and its screens
/// (the text between two redraws, the last without script's trailer).
fn screens(
    mut terminal: std::process::Child,
    typescript: &std::path::Path,
) -> (Option<i32>, Vec<String>, String) {
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
    let out = std::fs::read_to_string(typescript).expect("typescript");
    let screens = out
        .split("\x1b[H\x1b[2J")
        .skip(1)
        .map(|s| {
            // What script(1) writes after the command's output.
            let s = s.replace('\r', "");
            s.split("\nScript done").next().unwrap_or("").to_owned()
        })
        .collect();
    (status.code(), screens, out)
}

fn line(screen: &str, prefix: &str) -> String {
    screen
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line:\n{screen}"))
        .to_owned()
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
    let terminal = watch_in_terminal(
        script,
        &ns,
        "blue_green",
        APP,
        &typescript,
        "Status:      Healthy",
    );
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
    let (code, screens, out) = screens(terminal, &typescript);
    assert_eq!(code, Some(0), "{out}");
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
    let last = screens.last().expect("a screen");
    assert!(
        line(last, "Status:").contains("Healthy (stage idle)"),
        "{last}"
    );
    assert!(line(last, "Live image:").ends_with(&image(2)), "{last}");
    assert_eq!(
        line(last, "Active:"),
        format!("Active:      Service {APP} → t1")
    );
    let t1 = line(last, "  t1 ");
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

#[tokio::test(flavor = "multi_thread")]
async fn rolling_status_watch_in_a_terminal_to_the_end_and_a_closed_stdout_ends_it() {
    let Some(script) = script() else { return };
    let Some(ns) = Ns::cli("rwatch").await else {
        return;
    };
    let deploy = |v: u32| {
        ns.run(
            "rolling",
            "api",
            &[
                "deploy",
                &image(v),
                "--replicas",
                "3",
                "--max-surge",
                "1",
                "--max-unavailable",
                "0",
            ],
        )
        .expect(0);
    };
    deploy(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let typescript = dir.path().join("typescript");
    let terminal = watch_in_terminal(
        script,
        &ns,
        "rolling",
        "api",
        &typescript,
        "Status:      complete",
    );
    deploy(2);
    let (code, screens, out) = screens(terminal, &typescript);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        screens.iter().any(|s| s.contains("Status:      waiting")),
        "{out}"
    );
    let last = screens.last().expect("a screen");
    assert_eq!(line(last, "Status:"), "Status:      complete");
    assert_eq!(
        line(last, "Revision:"),
        "Revision:    2; 3/3 updated, 3 ready, 3 available"
    );
    let rows: Vec<Vec<&str>> = last
        .lines()
        .skip_while(|l| !l.contains("REVISION"))
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        (rows[0][0], rows[0][2], rows[0][3]),
        ("2", "3", "3"),
        "{last}"
    );
    assert_eq!(
        (rows[1][0], rows[1][2], rows[1][3]),
        ("1", "0", "0"),
        "{last}"
    );
    assert!(
        last.trim_end().ends_with("the rollout ended: complete"),
        "{last}"
    );

    // A reader that goes away (`| head -1`): the watch ends, exit 0.
    let mut child = ns
        .cmd("rolling", "api")
        .args(["status", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("a line");
    drop(stdout);
    deploy(3);
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < until, "still writing to a closed pipe");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}
