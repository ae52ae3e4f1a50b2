//! The `migrate` example's demo migrations (`--demo`, or `--state`) as its
//! users run them: the compiled binary, its exit codes (0 success, 1 error
//! or failed verification, 2 bad usage), its progress lines and summaries,
//! on the file store and on SQLite. `migrate_source.rs` runs it on a
//! directory of the user's own migrations.
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
        .env_remove("DATABASE_URL")
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
        &["--demo", "--database-url", "mysql://localhost/db", "status"],
        &[],
    );
    assert_eq!(code(&output), 2, "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("unknown scheme `mysql`"),
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
    let migrate = run(
        dir.path(),
        &["--demo", "--database-url", &url, "migrate"],
        &[],
    );
    assert_eq!(code(&migrate), 0, "stderr: {}", stderr(&migrate));
    let again = run(
        dir.path(),
        &["--demo", "--database-url", &url, "migrate"],
        &[],
    );
    assert_eq!(code(&again), 0, "stderr: {}", stderr(&again));
    assert!(
        stdout(&again).contains("migrate: 0 applied"),
        "a second run applies nothing: {}",
        stdout(&again)
    );
    let verify = run(
        dir.path(),
        &["--demo", "--database-url", &url, "verify"],
        &[],
    );
    assert_eq!(code(&verify), 0, "stdout: {}", stdout(&verify));
}

/// A temp dir on tmpfs when there is one (the CLI fsyncs every step).
fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temp dir")
}

/// Lines of stderr other than the "state file: ..." preamble and clap's
/// pointer to `--help`.
fn error_lines(output: &Output) -> Vec<String> {
    stderr(output)
        .lines()
        .filter(|l| {
            !l.starts_with("state file:")
                && !l.starts_with("For more information, try '--help'")
                && !l.trim().is_empty()
        })
        .map(str::to_owned)
        .collect()
}

/// Each of these is bad usage: exit 2, one line saying what is wrong,
/// and nothing changed (not even a created file).
#[test]
fn bad_targets_and_empty_urls_exit_2_with_one_line_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.jsonl");
    let args = state_args(&state);

    for (bad, says) in [
        (vec!["migrate", "--to", "7"], "no migration 7"),
        (vec!["migrate", "--to", "7", "--dry-run"], "no migration 7"),
        (vec!["rollback", "--to", "99"], "no migration 99"),
    ] {
        let output = run(dir.path(), &with_state(&args, &bad), &[]);
        assert_eq!(code(&output), 2, "{bad:?}: {}", stderr(&output));
        let errors = error_lines(&output);
        assert_eq!(errors.len(), 1, "{bad:?}: one line: {errors:?}");
        assert!(errors[0].contains(says), "{bad:?}: {errors:?}");
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        files.sort();
        assert!(files.is_empty(), "{bad:?} created {files:?}");
    }
    for (flag, value) in [("--database-url", ""), ("--state", "")] {
        let output = run(dir.path(), &[flag, value, "status"], &[]);
        assert_eq!(code(&output), 2, "{flag} '': {}", stderr(&output));
        assert_eq!(error_lines(&output).len(), 1, "{}", stderr(&output));
        assert!(stderr(&output).contains(flag), "{}", stderr(&output));
    }

    // Past the first migration: exit 2, the journal unchanged.
    assert_eq!(
        code(&run(
            dir.path(),
            &with_state(&args, &["migrate", "--to", "2"]),
            &[]
        )),
        0
    );
    let before = std::fs::read(&state).expect("state");
    for bad in [vec!["rollback", "5"], vec!["rollback", "--to", "99"]] {
        let output = run(dir.path(), &with_state(&args, &bad), &[]);
        assert_eq!(code(&output), 2, "{bad:?}: {}", stderr(&output));
        assert_eq!(error_lines(&output).len(), 1, "{}", stderr(&output));
        assert_eq!(std::fs::read(&state).expect("state"), before, "{bad:?}");
    }
}

/// `status --json` as a value.
fn status_json(dir: &Path, args: &[String]) -> serde_json::Value {
    let output = run(dir, &with_state(args, &["status", "--json"]), &[]);
    assert_eq!(code(&output), 0, "status: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("status --json prints JSON")
}

fn states(report: &serde_json::Value) -> Vec<(u64, String)> {
    report["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["version"].as_u64().expect("version"),
                e["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

fn applied_count(report: &serde_json::Value) -> usize {
    states(report)
        .iter()
        .filter(|(_, s)| s == "applied")
        .count()
}

/// Runs the binary with stdout (and, with `close_stderr`, stderr) already
/// closed by the reader: every write fails with a broken pipe.
fn run_with_closed_output(
    dir: &Path,
    args: &[&str],
    close_stderr: bool,
) -> std::process::ExitStatus {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("ENGINE_OPS_MIGRATE_STATE")
        .env_remove("DATABASE_URL")
        .env_remove("ENGINE_OPS_MIGRATE_DEMO_FAIL")
        .env("RUST_BACKTRACE", "1")
        .current_dir(dir)
        .stdout(writer);
    if close_stderr {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        command.stderr(writer);
    } else {
        command.stderr(std::process::Stdio::piped());
    }
    let output = command.output().expect("runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{args:?}: {err}"
    );
    output.status
}

/// Runs the binary, reads the first `n` bytes of its stdout and closes it,
/// as `| head -c n` does.
fn run_reading_only(dir: &Path, args: &[&str], n: usize) -> Output {
    use std::io::Read;
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("ENGINE_OPS_MIGRATE_STATE")
        .env_remove("DATABASE_URL")
        .env_remove("ENGINE_OPS_MIGRATE_DEMO_FAIL")
        .env("RUST_BACKTRACE", "1")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = vec![0_u8; n];
    let _ = stdout.read_exact(&mut first);
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{args:?}: {err}"
    );
    output
}

/// A closed stdout (or stderr) ends no command early: each finishes its
/// work, exits with its usual code and no panic, and leaves the state it
/// would have left.
#[test]
fn a_closed_pipe_never_stops_a_command_half_way() {
    let root = fast_tempdir();
    // (command, state to prepare with `migrate --to N` (0: none), applied
    // afterwards, exit code)
    let cases: [(&[&str], u64, usize, i32); 8] = [
        (&["migrate"], 0, 4, 0),
        (&["migrate", "--to", "3"], 1, 3, 0),
        (&["migrate", "--dry-run"], 2, 2, 0),
        (&["status"], 3, 3, 0),
        (&["status", "--json"], 3, 3, 0),
        (&["verify"], 3, 3, 0),
        (&["rollback", "2"], 3, 1, 0),
        (&["rollback", "--to", "1"], 3, 1, 0),
    ];
    for (i, (command, prepared, applied, expected)) in cases.iter().enumerate() {
        for variant in 0..3 {
            let dir = root.path().join(format!("{i}-{variant}"));
            std::fs::create_dir_all(&dir).expect("dir");
            let args = state_args(&dir.join("state.jsonl"));
            if *prepared > 0 {
                let to = prepared.to_string();
                let out = run(&dir, &with_state(&args, &["migrate", "--to", &to]), &[]);
                assert_eq!(code(&out), 0, "{}", stderr(&out));
            }
            let full = with_state(&args, command);
            let exit = match variant {
                0 => run_with_closed_output(&dir, &full, false).code(),
                1 => run_with_closed_output(&dir, &full, true).code(),
                _ => code(&run_reading_only(&dir, &full, 10)).into(),
            };
            assert_eq!(exit, Some(*expected), "{command:?} (variant {variant})");
            assert_eq!(
                applied_count(&status_json(&dir, &args)),
                *applied,
                "{command:?} (variant {variant}) did all its work"
            );
        }
    }

    // resolve, on a step left in doubt (its done record cut off).
    for variant in 0..3 {
        let dir = root.path().join(format!("resolve-{variant}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let state = dir.join("state.jsonl");
        let args = state_args(&state);
        assert_eq!(
            code(&run(
                &dir,
                &with_state(&args, &["migrate", "--to", "3"]),
                &[]
            )),
            0
        );
        let mut text = std::fs::read_to_string(&state).expect("state");
        text.truncate(text.trim_end().rfind('\n').expect("lines") + 1);
        std::fs::write(&state, text).expect("cut");
        let full = with_state(&args, &["resolve", "3", "applied"]);
        let exit = match variant {
            0 => run_with_closed_output(&dir, &full, false).code(),
            1 => run_with_closed_output(&dir, &full, true).code(),
            _ => code(&run_reading_only(&dir, &full, 10)).into(),
        };
        assert_eq!(exit, Some(0), "resolve (variant {variant})");
        assert_eq!(applied_count(&status_json(&dir, &args)), 3);
    }
}

/// The history the complete lines of a journal describe, read with
/// `serde_json` alone: `(version, state)` as `status --json` names states
/// (`applied`, `in_doubt`), for versions with a record.
fn committed(bytes: &[u8]) -> std::collections::BTreeMap<u64, &'static str> {
    let complete = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&bytes[..0], |i| &bytes[..=i]);
    let mut out = std::collections::BTreeMap::new();
    for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a complete line is JSON");
        let (kind, body) = v["rec"]["event"]
            .as_object()
            .and_then(|o| o.iter().next())
            .map(|(k, b)| (k.clone(), b.clone()))
            .expect("one event");
        let Some(version) = body["version"].as_u64() else {
            continue;
        };
        match (kind.as_str(), body["direction"].as_str()) {
            ("intent", _) => {
                out.insert(version, "in_doubt");
            }
            ("done", Some("up")) => {
                out.insert(version, "applied");
            }
            ("done", _) => {
                out.remove(&version);
            }
            _ => {}
        }
    }
    out
}

/// A crash can cut the state file at any byte. Cut at every byte of its
/// last two records (a whole record without its newline included), every
/// command works as a user would expect, and the file reads afterwards:
/// readers see exactly the complete records and change nothing; writers
/// append after the cut.
#[test]
fn every_command_works_after_a_cut_at_every_byte_of_the_last_two_records() {
    let root = fast_tempdir();
    let base = root.path().join("base");
    std::fs::create_dir_all(&base).expect("dir");
    let base_args = state_args(&base.join("state.jsonl"));
    assert_eq!(
        code(&run(
            &base,
            &with_state(&base_args, &["migrate", "--to", "3"]),
            &[]
        )),
        0
    );
    let full = std::fs::read(base.join("state.jsonl")).expect("state");
    let db = std::fs::read(base.join("demo-db.json")).expect("demo db");
    let tail_start = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .map(|(i, _)| i + 1)
        .expect("seven lines");

    let commands: [&[&str]; 8] = [
        &["status"],
        &["status", "--json"],
        &["verify"],
        &["migrate", "--dry-run"],
        &["migrate"],
        &["rollback"],
        &["resolve", "3", "applied"],
        &["resolve", "3", "not-applied"],
    ];
    let cuts: Vec<usize> = (tail_start..=full.len()).collect();
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for chunk in cuts.chunks(cuts.len().div_ceil(3)) {
            let failures = &failures;
            let (full, db, root) = (&full, &db, root.path());
            scope.spawn(move || {
                for &cut in chunk {
                    let expected = committed(&full[..cut]);
                    let in_doubt = expected.values().any(|s| *s == "in_doubt");
                    for (i, command) in commands.iter().enumerate() {
                        let dir = root.join(format!("{cut}-{i}"));
                        std::fs::create_dir_all(&dir).expect("dir");
                        let state = dir.join("state.jsonl");
                        std::fs::write(&state, &full[..cut]).expect("cut");
                        std::fs::write(dir.join("demo-db.json"), db).expect("db");
                        let args = state_args(&state);
                        let output = run(&dir, &with_state(&args, command), &[]);
                        let got = code(&output);
                        let after = std::fs::read(&state).expect("state");
                        let reads_back = engine_ops_migrate::FileStore::builder(&state)
                            .build()
                            .expect("store")
                            .summary();
                        let writes = matches!(command[0], "migrate" | "rollback" | "resolve")
                            && !command.contains(&"--dry-run");
                        let want = match command[0] {
                            "verify" => i32::from(in_doubt),
                            "migrate" if writes => 0,
                            "migrate" => i32::from(in_doubt),
                            "resolve" => i32::from(!in_doubt),
                            _ => 0,
                        };
                        let mut problems = Vec::new();
                        if got != want {
                            problems.push(format!("exit {got}, want {want}: {}", stderr(&output)));
                        }
                        if let Err(e) = reads_back {
                            problems.push(format!("the state file no longer reads: {e}"));
                        }
                        if writes {
                            if !after.starts_with(&full[..cut]) {
                                problems.push("history was rewritten".into());
                            }
                        } else if after != full[..cut] {
                            problems.push("a reader changed the file".into());
                        }
                        if *command == ["status", "--json"] {
                            let report: serde_json::Value =
                                serde_json::from_str(&stdout(&output)).unwrap_or_default();
                            let seen: std::collections::BTreeMap<u64, String> = states(&report)
                                .into_iter()
                                .filter(|(_, s)| s != "pending")
                                .collect();
                            let want: std::collections::BTreeMap<u64, String> = expected
                                .iter()
                                .map(|(v, s)| (*v, (*s).to_owned()))
                                .collect();
                            if seen != want {
                                problems.push(format!(
                                    "status says {seen:?}, the complete records {want:?}"
                                ));
                            }
                        }
                        if !problems.is_empty() {
                            failures.lock().expect("failures").push(format!(
                                "cut at {cut}, {command:?}: {}",
                                problems.join("; ")
                            ));
                        }
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} of {} runs failed, first: {:#?}",
        failures.len(),
        cuts.len() * commands.len(),
        &failures[..failures.len().min(5)]
    );
}

/// A step whose migrator is running right now is reported as running,
/// naming the process that holds the lock, and is no problem; a second
/// migrator times out naming it. Once that process is killed the same step
/// is in doubt (and a run settles it).
#[test]
fn a_running_step_is_reported_as_running_not_in_doubt() {
    let dir = fast_tempdir();
    let args = state_args(&dir.path().join("state.jsonl"));
    assert_eq!(
        code(&run(
            dir.path(),
            &with_state(&args, &["migrate", "--to", "2"]),
            &[]
        )),
        0
    );
    let mut child = Command::new(binary())
        .args(with_state(&args, &["migrate"]))
        .env_remove("ENGINE_OPS_MIGRATE_STATE")
        .env_remove("DATABASE_URL")
        .env_remove("ENGINE_OPS_MIGRATE_DEMO_FAIL")
        .env("ENGINE_OPS_MIGRATE_DEMO_PAUSE", "3")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let report = status_json(dir.path(), &args);
        if states(&report).contains(&(3, "running".to_owned())) {
            let holder = report["lock_holder"].as_str().expect("holder named");
            assert!(
                holder.contains(&format!("process {pid} (migrate")),
                "{holder}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "step 3 never ran: {report}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = run(dir.path(), &with_state(&args, &["status"]), &[]);
    assert_eq!(code(&status), 0);
    assert!(stdout(&status).contains("RUNNING"), "{}", stdout(&status));
    assert!(
        stdout(&status).contains(&format!("held by process {pid}")),
        "{}",
        stdout(&status)
    );
    let verify = run(dir.path(), &with_state(&args, &["verify"]), &[]);
    assert_eq!(
        code(&verify),
        0,
        "a running step is no problem: {}",
        stdout(&verify)
    );
    assert!(stdout(&verify).contains("running"), "{}", stdout(&verify));

    let waiter = run(
        dir.path(),
        &with_state(&args, &["--lock-timeout", "1", "migrate"]),
        &[],
    );
    assert_eq!(code(&waiter), 1);
    let text = stderr(&waiter);
    assert!(
        text.contains(&format!("held by process {pid} (migrate")),
        "{text}"
    );
    // Milliseconds, not a Debug duration such as 1.000746751s.
    let waited = text
        .split("timed out after ")
        .nth(1)
        .and_then(|rest| rest.split(" waiting").next())
        .unwrap_or_default();
    assert!(
        waited.ends_with(" ms")
            && waited[..waited.len() - 3]
                .chars()
                .all(|c| c.is_ascii_digit()),
        "{text}"
    );

    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let report = status_json(dir.path(), &args);
    assert!(
        states(&report).contains(&(3, "in_doubt".to_owned())),
        "{report}"
    );
    for command in [&["verify"][..], &["migrate", "--dry-run"]] {
        let output = run(dir.path(), &with_state(&args, command), &[]);
        assert_eq!(code(&output), 1, "{command:?}: {}", stdout(&output));
        assert!(stdout(&output).contains("in doubt"), "{}", stdout(&output));
    }
    let rerun = run(dir.path(), &with_state(&args, &["migrate"]), &[]);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    assert_eq!(applied_count(&status_json(dir.path(), &args)), 4);
}

/// When a step in doubt needs an operator, the error tells a CLI user the
/// CLI command, not a library call.
#[test]
fn a_step_in_doubt_names_the_resolve_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.jsonl");
    let args = state_args(&state);
    assert_eq!(
        code(&run(
            dir.path(),
            &with_state(&args, &["migrate", "--to", "3"]),
            &[]
        )),
        0
    );
    let mut text = std::fs::read_to_string(&state).expect("state");
    text.truncate(text.trim_end().rfind('\n').expect("lines") + 1);
    std::fs::write(&state, text).expect("cut");
    // The validator cannot read the demo database: it cannot decide.
    std::fs::write(dir.path().join("demo-db.json"), "{ not json").expect("db");
    let output = run(dir.path(), &with_state(&args, &["migrate"]), &[]);
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(text.contains("resolve 3 applied"), "{text}");
    assert!(text.contains("resolve 3 not-applied"), "{text}");
    assert!(!text.contains("Migrator::resolve"), "{text}");
}
