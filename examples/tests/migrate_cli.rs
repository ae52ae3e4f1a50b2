//! The `migrate` example as its users run it: the compiled binary, its exit
//! codes (0 success, 1 error or failed verification, 2 bad usage), its
//! progress lines and summaries, on the file store and on SQLite.
//!
//! `cargo test` builds the package's examples before its tests, so the
//! binary sits in `target/<profile>/examples/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/migrate_cli-<hash> -> target/<profile>/examples/migrate
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("migrate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p engine-ops-examples --example migrate`",
        path.display()
    );
    path
}

fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("ENGINE_OPS_MIGRATE_STATE")
        .env_remove("ENGINE_OPS_MIGRATE_DATABASE_URL")
        .env_remove("ENGINE_OPS_MIGRATE_DEMO_FAIL")
        .current_dir(dir);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("the migrate example runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn state_args(state: &Path) -> Vec<String> {
    vec!["--state".to_owned(), state.display().to_string()]
}

fn with_state<'a>(state: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    state
        .iter()
        .map(String::as_str)
        .chain(rest.iter().copied())
        .collect()
}

#[test]
fn bad_usage_exits_2_and_touches_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.jsonl");
    let args = state_args(&state);
    for bad in [
        vec!["rollback", "abc"],
        vec!["rollback", "-1"],
        vec!["rollback", "0"],
        vec!["frobnicate"],
        vec!["migrate", "--to", "x"],
        vec![],
    ] {
        let output = run(dir.path(), &with_state(&args, &bad), &[]);
        assert_eq!(
            code(&output),
            2,
            "`migrate {}` should be a usage error; stderr: {}",
            bad.join(" "),
            stderr(&output)
        );
    }
    assert!(
        !state.exists(),
        "a usage error must not create the state file"
    );

    let output = run(
        dir.path(),
        &["--database-url", "mysql://localhost/db", "status"],
        &[],
    );
    assert_eq!(code(&output), 2, "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("unsupported database URL"),
        "stderr: {}",
        stderr(&output)
    );
}

#[test]
fn migrate_status_verify_rollback_on_the_file_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.jsonl");
    let args = state_args(&state);

    let dry = run(
        dir.path(),
        &with_state(&args, &["migrate", "--dry-run"]),
        &[],
    );
    assert_eq!(code(&dry), 0, "stderr: {}", stderr(&dry));
    assert!(
        stdout(&dry).contains("nothing was changed"),
        "{}",
        stdout(&dry)
    );
    assert!(!state.exists(), "a dry run must not create the state file");

    let migrate = run(dir.path(), &with_state(&args, &["migrate"]), &[]);
    assert_eq!(code(&migrate), 0, "stderr: {}", stderr(&migrate));
    let out = stdout(&migrate);
    let progress = out.lines().filter(|l| l.contains("applied ")).count();
    let summary = out
        .lines()
        .find(|l| l.starts_with("migrate:"))
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    assert!(progress >= 2, "one progress line per migration: {out}");
    assert!(
        summary.starts_with(&format!("migrate: {progress} applied")),
        "summary {summary:?} disagrees with {progress} progress lines"
    );

    let status = run(dir.path(), &with_state(&args, &["status", "--json"]), &[]);
    assert_eq!(code(&status), 0, "stderr: {}", stderr(&status));
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&status)).expect("status --json prints JSON");
    let entries = report["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), progress);
    assert!(
        entries.iter().all(|e| e["state"] == "applied"),
        "all applied: {report}"
    );

    let verify = run(dir.path(), &with_state(&args, &["verify"]), &[]);
    assert_eq!(code(&verify), 0, "stdout: {}", stdout(&verify));

    // The last demo migration (a contract step) is irreversible: the
    // rollback is refused with exit 1 and nothing changes.
    let before = std::fs::read(&state).expect("state file");
    let rollback = run(dir.path(), &with_state(&args, &["rollback"]), &[]);
    assert_eq!(code(&rollback), 1, "stdout: {}", stdout(&rollback));
    assert!(
        stderr(&rollback).to_lowercase().contains("irreversible"),
        "stderr names the reason: {}",
        stderr(&rollback)
    );
    assert_eq!(std::fs::read(&state).expect("state file"), before);
}

#[test]
fn a_failing_step_is_rolled_back_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.jsonl");
    let args = state_args(&state);

    let output = run(
        dir.path(),
        &with_state(&args, &["migrate"]),
        &[("ENGINE_OPS_MIGRATE_DEMO_FAIL", "2")],
    );
    assert_eq!(code(&output), 1, "stdout: {}", stdout(&output));
    assert!(stdout(&output).contains("FAILED"), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("ENGINE_OPS_MIGRATE_DEMO_FAIL=2"),
        "the error names the cause: {}",
        stderr(&output)
    );

    let status = run(dir.path(), &with_state(&args, &["status", "--json"]), &[]);
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&status)).expect("status --json prints JSON");
    let state_of = |v: u64| {
        report["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["version"] == v))
            .map(|e| e["state"].clone())
    };
    assert_eq!(state_of(1), Some("applied".into()), "{report}");
    assert_eq!(state_of(2), Some("pending".into()), "{report}");

    // Without the injected failure the rerun finishes.
    let rerun = run(dir.path(), &with_state(&args, &["migrate"]), &[]);
    assert_eq!(code(&rerun), 0, "stderr: {}", stderr(&rerun));
}

#[test]
fn a_damaged_state_file_fails_verification_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.jsonl");
    let args = state_args(&state);
    assert_eq!(
        code(&run(dir.path(), &with_state(&args, &["migrate"]), &[])),
        0
    );

    // Flip one byte inside the second line: a complete, damaged record.
    let mut bytes = std::fs::read(&state).expect("state file");
    let second_line = bytes
        .iter()
        .position(|b| *b == b'\n')
        .expect("more than one line")
        + 10;
    bytes[second_line] = if bytes[second_line] == b'a' {
        b'b'
    } else {
        b'a'
    };
    std::fs::write(&state, &bytes).expect("write");

    for command in [["verify"], ["status"]] {
        let output = run(dir.path(), &with_state(&args, &command), &[]);
        assert_eq!(code(&output), 1, "{command:?}: {}", stdout(&output));
        assert!(
            stderr(&output).contains("line 2"),
            "{command:?} names the damaged line: {}",
            stderr(&output)
        );
    }
    assert_eq!(std::fs::read(&state).expect("state file"), bytes);
}

#[test]
fn the_same_commands_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("demo.db").display());
    let migrate = run(dir.path(), &["--database-url", &url, "migrate"], &[]);
    assert_eq!(code(&migrate), 0, "stderr: {}", stderr(&migrate));
    let again = run(dir.path(), &["--database-url", &url, "migrate"], &[]);
    assert_eq!(code(&again), 0, "stderr: {}", stderr(&again));
    assert!(
        stdout(&again).contains("migrate: 0 applied"),
        "a second run applies nothing: {}",
        stdout(&again)
    );
    let verify = run(dir.path(), &["--database-url", &url, "verify"], &[]);
    assert_eq!(code(&verify), 0, "stdout: {}", stdout(&verify));
}
