//! The JSON-lines file store: normal operation, and bad input. Every bad
//! input must give a clear error naming the thing, and leave the state
//! file's bytes unchanged.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{EffectMigration, Effects, effect_counts, effect_migrations, migrator, spawn_self};
use engine_ops_migrate::{
    Direction, Error, FileStore, MigrationState, Migrator, Rollback, Settlement,
};
use sha2_free::sha256_hex;

/// SHA-256 without a dev-dependency: the crate's checksum of bytes that
/// contain no carriage return is exactly their SHA-256.
mod sha2_free {
    pub(super) fn sha256_hex(bytes: &[u8]) -> String {
        assert!(!bytes.contains(&b'\r'));
        engine_ops_migrate::Checksum::of_source(bytes).to_hex()
    }
}

fn state(dir: &Path) -> PathBuf {
    dir.join("state.jsonl")
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(state(dir))
        .expect("state file")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(state(dir), text).expect("write state");
}

/// A store with 3 applied migrations: lines open, (intent, done) x 3.
async fn three_applied() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    migrator(dir.path(), 3).run().await?;
    assert_eq!(lines(dir.path()).len(), 7);
    Ok(dir)
}

/// Runs every operation on a damaged store; each must fail with an error
/// satisfying `check`, and the bytes must not change.
async fn every_operation_fails(dir: &Path, check: impl Fn(&Error)) -> anyhow::Result<()> {
    let before = std::fs::read(state(dir))?;
    let mut m = migrator(dir, 4);
    check(&m.status().await.expect_err("status on damaged store"));
    check(&m.verify().await.expect_err("verify on damaged store"));
    check(&m.plan(None).await.expect_err("plan on damaged store"));
    check(&m.run().await.expect_err("run on damaged store"));
    check(
        &m.rollback(Rollback::Last(1))
            .await
            .expect_err("rollback on damaged store"),
    );
    assert_eq!(
        std::fs::read(state(dir))?,
        before,
        "the state file was modified"
    );
    assert!(
        !effect_counts(&dir.join("effects.txt")).contains_key(&4),
        "nothing ran"
    );
    Ok(())
}

#[tokio::test]
async fn run_rollback_and_reopen() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let report = migrator(dir.path(), 5).run().await?;
    assert_eq!(report.applied.len(), 5);

    // A new store instance (a new process) reads the same history.
    let mut m = migrator(dir.path(), 5);
    assert_eq!(m.status().await?.count(MigrationState::Applied), 5);
    assert!(m.run().await?.applied.is_empty());
    let rolled = m.rollback(Rollback::To(3)).await?;
    assert_eq!(
        rolled
            .reverted
            .iter()
            .map(|s| s.version)
            .collect::<Vec<_>>(),
        [5, 4]
    );

    let mut m = migrator(dir.path(), 5);
    let status = m.status().await?;
    assert_eq!(status.count(MigrationState::Applied), 3);
    assert_eq!(status.count(MigrationState::Pending), 2);
    assert!(m.verify().await?.is_ok());
    let effects = effect_counts(&dir.path().join("effects.txt"));
    assert_eq!(effects[&5], (1, 1));
    assert_eq!(effects[&1], (1, 0));
    // Append-only: 1 open + 5 x (intent, done) + 2 x (intent, done).
    assert_eq!(lines(dir.path()).len(), 15);
    Ok(())
}

#[tokio::test]
async fn a_failed_step_is_compensated_and_journaled() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut bad = EffectMigration::new(2);
    bad.fail_up = true;
    let mut m = Migrator::builder(common::store(dir.path()))
        .migration(EffectMigration::new(1))
        .migration(bad)
        .build()?;
    let err = m.run().await.expect_err("step 2 fails");
    assert!(matches!(err, Error::StepFailed { version: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("migration 2 (step_0002) failed during up"),
        "{err}"
    );
    assert_eq!(effect_counts(&dir.path().join("effects.txt"))[&2], (1, 1));
    let last = lines(dir.path()).pop().unwrap_or_default();
    assert!(
        last.contains(r#""aborted":{"direction":"up","version":2}"#),
        "{last}"
    );
    let mut m = migrator(dir.path(), 1);
    let status = m.status().await?;
    assert_eq!(status.count(MigrationState::Applied), 1);
    assert_eq!(status.count(MigrationState::InDoubt), 0);
    Ok(())
}

#[tokio::test]
async fn readers_never_create_or_modify() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut m = migrator(dir.path(), 2);
    assert_eq!(m.status().await?.count(MigrationState::Pending), 2);
    assert!(m.verify().await?.is_ok());
    assert_eq!(m.plan(Some(1)).await?.pending.len(), 1);
    assert!(
        !state(dir.path()).exists(),
        "readers created the state file"
    );
    assert!(!dir.path().join("state.jsonl.lock").exists());
    Ok(())
}

#[tokio::test]
async fn damaged_middle_line_is_an_error_naming_file_and_line() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let mut l = lines(dir.path());
    l[2] = l[2].replace(r#""version":1"#, r#""version":7"#);
    write_lines(dir.path(), &l);
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::Corrupt { line: 3, .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("state.jsonl is damaged at line 3"), "{text}");
        assert!(text.contains("SHA-256 does not match"), "{text}");
    })
    .await
}

#[tokio::test]
async fn invalid_json_is_an_error() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let mut l = lines(dir.path());
    l[3] = "{this is not json".to_owned();
    write_lines(dir.path(), &l);
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::Corrupt { line: 4, .. }), "{e}");
        assert!(e.to_string().contains("not a journal record"), "{e}");
    })
    .await?;

    // A correctly summed line whose record is not a valid event.
    let rec = r#"{"seq":4,"event":{"launch_missiles":{}}}"#;
    let mut l = lines(dir.path());
    l[3] = format!(r#"{{"sum":"{}","rec":{rec}}}"#, sha256_hex(rec.as_bytes()));
    write_lines(dir.path(), &l);
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::Corrupt { line: 4, .. }), "{e}");
        assert!(e.to_string().contains("its record is not valid"), "{e}");
    })
    .await
}

#[tokio::test]
async fn damaged_last_complete_line_is_an_error_not_a_torn_write() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let mut l = lines(dir.path());
    let last = l.len() - 1;
    l[last] = l[last].replace(r#""duration_ms":"#, r#""duration_ms":9"#);
    write_lines(dir.path(), &l);
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::Corrupt { line: 7, .. }), "{e}");
    })
    .await
}

#[tokio::test]
async fn removed_line_is_an_error() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let mut l = lines(dir.path());
    l.remove(3);
    write_lines(dir.path(), &l);
    every_operation_fails(dir.path(), |e| {
        assert!(
            e.to_string()
                .contains("a line was removed, repeated or reordered"),
            "{e}"
        );
    })
    .await
}

#[tokio::test]
async fn tampered_checksum_in_the_journal_is_an_error() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let mut l = lines(dir.path());
    let pos = l[1].find(r#""checksum":""#).expect("intent has a checksum") + 12;
    let flipped = if &l[1][pos..=pos] == "0" { "1" } else { "0" };
    l[1].replace_range(pos..=pos, flipped);
    write_lines(dir.path(), &l);
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::Corrupt { line: 2, .. }), "{e}");
    })
    .await
}

#[tokio::test]
async fn edited_migration_source_is_refused_as_divergent() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let before = std::fs::read(state(dir.path()))?;
    let mut edited = EffectMigration::new(2);
    edited.source.push_str("-- an edit\n");
    let mut migrations = effect_migrations(4);
    migrations[1] = Box::new(edited);
    let mut m = Migrator::builder(common::store(dir.path()))
        .migrations(migrations)
        .build()?;
    let verify = m.verify().await?;
    assert!(!verify.is_ok());
    assert!(
        verify.problems[0]
            .to_string()
            .starts_with("migration 2 (step_0002) diverged")
    );
    let err = m.run().await.expect_err("divergent");
    assert!(matches!(err, Error::Divergent { version: 2, .. }), "{err}");
    assert!(
        err.to_string().contains("changed after it was applied"),
        "{err}"
    );
    assert_eq!(std::fs::read(state(dir.path()))?, before);
    assert!(!effect_counts(&dir.path().join("effects.txt")).contains_key(&4));
    Ok(())
}

#[tokio::test]
async fn duplicate_versions_are_refused_before_touching_the_store() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let before = std::fs::read(state(dir.path()))?;
    let mut dup = EffectMigration::new(2);
    dup.name = "another_two".into();
    let err = Migrator::builder(common::store(dir.path()))
        .migrations(effect_migrations(3))
        .migration(dup)
        .build()
        .expect_err("duplicate");
    assert!(
        err.to_string()
            .contains("version 2 is declared twice (step_0002 and another_two)"),
        "{err}"
    );
    assert_eq!(std::fs::read(state(dir.path()))?, before);
    Ok(())
}

#[tokio::test]
async fn rollback_of_an_irreversible_migration_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let build = |dir: &Path| -> anyhow::Result<Migrator<FileStore<Effects>>> {
        let mut irreversible = EffectMigration::new(2);
        irreversible.reversible = false;
        Ok(Migrator::builder(common::store(dir))
            .migration(EffectMigration::new(1))
            .migration(irreversible)
            .migration(EffectMigration::new(3))
            .build()?)
    };
    build(dir.path())?.run().await?;
    let before = std::fs::read(state(dir.path()))?;
    let err = build(dir.path())?
        .rollback(Rollback::Last(2))
        .await
        .expect_err("irreversible");
    assert!(
        matches!(err, Error::Irreversible { version: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("migration 2 (step_0002) is irreversible"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(state(dir.path()))?,
        before,
        "not even step 3 was reverted"
    );
    assert_eq!(effect_counts(&dir.path().join("effects.txt"))[&3], (1, 0));
    Ok(())
}

#[tokio::test]
async fn unknown_journal_format_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rec = r#"{"seq":1,"event":{"open":{"format":"engine-ops-migrate/journal/v2","created_at_ms":0}}}"#;
    write_lines(
        dir.path(),
        &[format!(
            r#"{{"sum":"{}","rec":{rec}}}"#,
            sha256_hex(rec.as_bytes())
        )],
    );
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e}");
        assert!(e.to_string().contains("journal/v2"), "{e}");
    })
    .await
}

#[tokio::test]
async fn truncated_file_loses_only_the_uncommitted_tail() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let full = std::fs::read(state(dir.path()))?;
    // Cut the last record (step 3's `done`) in the middle, as a crash would.
    let cut = full.len() - 25;
    std::fs::write(state(dir.path()), &full[..cut])?;
    let truncated = std::fs::read(state(dir.path()))?;

    let mut m = migrator(dir.path(), 3);
    let status = m.status().await?;
    assert_eq!(status.count(MigrationState::Applied), 2);
    assert_eq!(status.count(MigrationState::InDoubt), 1);
    assert_eq!(status.entries[2].in_doubt, Some(Direction::Up));
    let summary = common::store(dir.path()).summary()?;
    assert!(summary.uncommitted_tail_bytes > 0);
    assert_eq!(
        std::fs::read(state(dir.path()))?,
        truncated,
        "readers left the tail alone"
    );

    // The next writer settles step 3 (its effect is there) without running it
    // again, and appends after the torn bytes instead of rewriting them.
    let report = m.run().await?;
    assert_eq!(report.resolved.len(), 1);
    assert_eq!(report.resolved[0].resolution, Settlement::Applied);
    assert!(report.applied.is_empty());
    let after = std::fs::read(state(dir.path()))?;
    assert!(after.starts_with(&truncated), "history was rewritten");
    assert_eq!(
        common::store(dir.path()).summary()?.uncommitted_tail_bytes,
        0
    );
    assert_eq!(effect_counts(&dir.path().join("effects.txt"))[&3], (1, 0));
    assert_eq!(
        migrator(dir.path(), 3)
            .status()
            .await?
            .count(MigrationState::Applied),
        3
    );

    // Cutting inside the file (not just the last line) leaves a tail too;
    // damage is only what is followed by a valid record.
    let dir = three_applied().await?;
    let full = std::fs::read(state(dir.path()))?;
    let third_line_end = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .map(|(i, _)| i)
        .unwrap_or(0);
    std::fs::write(state(dir.path()), &full[..third_line_end - 5])?;
    let status = migrator(dir.path(), 3).status().await?;
    assert_eq!(status.count(MigrationState::InDoubt), 1);
    assert_eq!(status.count(MigrationState::Pending), 2);
    Ok(())
}

#[tokio::test]
async fn a_step_left_in_doubt_by_a_failed_undo_is_settled_by_its_validator() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Leave step 1 in doubt: an irreversible migration that fails cannot be undone.
    let mut bad = EffectMigration::new(1);
    bad.fail_up = true;
    bad.reversible = false;
    let mut m = Migrator::builder(common::store(dir.path()))
        .migration(bad)
        .build()?;
    let err = m.run().await.expect_err("fails");
    assert!(matches!(err, Error::UndoFailed { version: 1, .. }), "{err}");
    // Its validator proves the effect present, so the next run records it applied.
    let mut m = migrator(dir.path(), 1);
    assert_eq!(m.status().await?.count(MigrationState::InDoubt), 1);
    let report = m.run().await?;
    assert_eq!(report.resolved[0].resolution, Settlement::Applied);
    assert_eq!(effect_counts(&dir.path().join("effects.txt"))[&1], (1, 0));
    Ok(())
}

const HOLD_ENV: &str = "ENGINE_OPS_MIGRATE_TEST_HOLD_LOCK";

/// Child entry point (not a test on its own): holds the lock of the state in
/// `$ENGINE_OPS_MIGRATE_TEST_HOLD_LOCK` until killed.
#[test]
#[ignore = "child process of a_lock_held_by_another_process_times_out_clearly"]
fn hold_lock_child() {
    let Some(dir) = std::env::var_os(HOLD_ENV).map(PathBuf::from) else {
        return;
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("state.jsonl.lock"))
        .expect("lock file");
    lock.lock().expect("lock");
    std::fs::write(dir.join("holding"), b"").expect("ready file");
    std::thread::sleep(Duration::from_secs(60));
}

#[tokio::test]
async fn a_lock_held_by_another_process_times_out_clearly() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let before = std::fs::read(state(dir.path()))?;
    let holder = common::KillOnDrop(spawn_self("hold_lock_child", &[(HOLD_ENV, dir.path())]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("holding").exists() {
        assert!(Instant::now() < deadline, "lock holder never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let store = FileStore::builder(state(dir.path()))
        .lock_timeout(Duration::from_millis(300))
        .context(Effects {
            path: dir.path().join("effects.txt"),
        })
        .build()?;
    let mut m = Migrator::builder(store)
        .migrations(effect_migrations(4))
        .build()?;
    let started = Instant::now();
    let err = m.run().await.expect_err("lock is held");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
    assert!(err.to_string().contains("state.jsonl.lock"), "{err}");
    assert!(m.rollback(Rollback::Last(1)).await.is_err());
    assert_eq!(std::fs::read(state(dir.path()))?, before);
    // Readers are not blocked by the lock.
    assert_eq!(m.status().await?.count(MigrationState::Applied), 3);

    // The holder dies (SIGKILL): the OS releases its lock, nothing leaks.
    drop(holder);
    let report = m.run().await?;
    assert_eq!(
        report.applied.iter().map(|s| s.version).collect::<Vec<_>>(),
        [4]
    );
    Ok(())
}

#[test]
fn builder_rejects_bad_settings() {
    let err = FileStore::builder("").build().expect_err("no file name");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    let err = FileStore::builder("s.jsonl")
        .lock_poll_max(Duration::ZERO)
        .build()
        .expect_err("zero poll");
    assert!(err.to_string().contains("poll interval"), "{err}");
}

#[tokio::test]
async fn missing_directory_is_a_clear_io_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let nowhere = dir.path().join("no/such/dir");
    let mut m = migrator(&nowhere, 1);
    let err = m.run().await.expect_err("no directory");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("open lock file"), "{err}");
    assert!(
        err.to_string().contains("no/such/dir/state.jsonl.lock"),
        "{err}"
    );
    Ok(())
}

/// The history the complete lines of a journal describe, read with
/// `serde_json` alone (not the crate's reader): `(applied, in doubt)`
/// versions.
fn committed(bytes: &[u8]) -> (Vec<u64>, Vec<(u64, Direction)>) {
    let complete = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&bytes[..0], |i| &bytes[..=i]);
    let mut applied = std::collections::BTreeSet::new();
    let mut doubt = std::collections::BTreeMap::new();
    for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a complete line is JSON");
        let event = &v["rec"]["event"];
        let (kind, body) = event
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("one event");
        let version = body["version"].as_u64();
        let direction = match body["direction"].as_str() {
            Some("down") => Direction::Down,
            _ => Direction::Up,
        };
        match (kind.as_str(), version) {
            ("intent", Some(v)) => {
                doubt.insert(v, direction);
            }
            ("done", Some(v)) => {
                doubt.remove(&v);
                if direction == Direction::Up {
                    applied.insert(v);
                } else {
                    applied.remove(&v);
                }
            }
            _ => {}
        }
    }
    (applied.into_iter().collect(), doubt.into_iter().collect())
}

/// A crash can cut the journal at any byte. Cut anywhere in its last two
/// records (including just before the final newline, which leaves a whole
/// record without its newline), every reader sees exactly the complete
/// records, a run and a rollback go on from there, and afterwards the
/// journal still reads: nothing is ever reported as damaged.
#[tokio::test]
async fn a_cut_at_every_byte_of_the_last_two_records_reads_and_writes_on() -> anyhow::Result<()> {
    let source = three_applied().await?;
    let full = std::fs::read(state(source.path()))?;
    let effects = std::fs::read(source.path().join("effects.txt"))?;
    // Start of the sixth line: the intent of step 3, then its done record.
    let tail_start = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .map(|(i, _)| i + 1)
        .expect("seven lines");
    let root = common::fast_tempdir();
    for cut in tail_start..=full.len() {
        let (applied, doubt) = committed(&full[..cut]);
        for (i, operation) in ["run", "rollback"].into_iter().enumerate() {
            let dir = root.path().join(format!("{cut}-{i}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(state(&dir), &full[..cut])?;
            std::fs::write(dir.join("effects.txt"), &effects)?;

            let status = migrator(&dir, 3).status().await;
            let status = status.map_err(|e| anyhow::anyhow!("cut at {cut}: status: {e}"))?;
            let seen_applied: Vec<u64> = status
                .entries
                .iter()
                .filter(|e| e.state == MigrationState::Applied)
                .map(|e| e.version)
                .collect();
            let seen_doubt: Vec<(u64, Direction)> = status
                .entries
                .iter()
                .filter_map(|e| e.in_doubt.map(|d| (e.version, d)))
                .collect();
            assert_eq!(seen_applied, applied, "cut at {cut}");
            assert_eq!(seen_doubt, doubt, "cut at {cut}");
            assert_eq!(
                std::fs::read(state(&dir))?,
                &full[..cut],
                "cut at {cut}: a reader wrote"
            );

            let mut m = migrator(&dir, 3);
            let done = match operation {
                "run" => m.run().await.map(|_| ()),
                _ => m.rollback(Rollback::Last(1)).await.map(|_| ()),
            };
            done.map_err(|e| anyhow::anyhow!("cut at {cut}: {operation}: {e}"))?;
            let after = std::fs::read(state(&dir))?;
            assert!(
                after.starts_with(&full[..cut]),
                "cut at {cut}: history rewritten"
            );
            let status = migrator(&dir, 3)
                .status()
                .await
                .map_err(|e| anyhow::anyhow!("cut at {cut}: status after {operation}: {e}"))?;
            assert!(
                status.problems.is_empty(),
                "cut at {cut}: {:?}",
                status.problems
            );
            // A run applies everything; a rollback first settles step 3 (its
            // effect is there) and then reverts the newest applied step.
            let expected_applied = if operation == "run" {
                3
            } else {
                applied.len() + doubt.len() - 1
            };
            assert_eq!(
                status.count(MigrationState::Applied),
                expected_applied,
                "cut at {cut} then {operation}"
            );
            assert_eq!(
                common::store(&dir).summary()?.uncommitted_tail_bytes,
                0,
                "cut at {cut} then {operation}: the torn bytes were acknowledged"
            );
        }
    }
    Ok(())
}

/// A journal converted to CRLF line endings (by an editor or a checkout
/// with autocrlf) is refused untouched, and the error says so.
#[tokio::test]
async fn a_journal_with_crlf_line_endings_is_refused_with_a_hint() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let text = std::fs::read_to_string(state(dir.path()))?;
    std::fs::write(state(dir.path()), text.replace('\n', "\r\n"))?;
    every_operation_fails(dir.path(), |e| {
        assert!(matches!(e, Error::Corrupt { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("CRLF"), "{e}");
        assert!(e.to_string().contains("LF line endings"), "{e}");
    })
    .await
}

/// A step whose migrator is running right now (it holds the lock) is not
/// a step left in doubt by a crash: readers say it is running, and who
/// holds the lock, without reporting a problem. Once the holder is gone
/// (here: dropped, as a killed process would be) the same record is in
/// doubt.
#[tokio::test]
async fn a_running_step_is_not_in_doubt() -> anyhow::Result<()> {
    use engine_ops_migrate::{MigrationInfo, StateStore, StepIntent};
    let dir = three_applied().await?;
    let mut running = common::store(dir.path());
    running.lock().await?;
    let step = StepIntent::new(
        &MigrationInfo::of(&EffectMigration::new(4)),
        Direction::Up,
        1,
    );
    running.begin(&step).await?;

    let mut reader = migrator(dir.path(), 4);
    let verify = reader.verify().await?;
    assert!(
        verify.is_ok(),
        "a running step is no problem: {:?}",
        verify.problems
    );
    assert_eq!(
        verify.running.iter().map(|d| d.version).collect::<Vec<_>>(),
        [4]
    );
    let holder = verify.lock_holder.expect("the holder is named");
    assert!(
        holder.starts_with(&format!("process {} (", std::process::id())),
        "{holder}"
    );
    let status = reader.status().await?;
    assert_eq!(status.count(MigrationState::InDoubt), 0);
    assert_eq!(status.count(MigrationState::Running), 1);
    assert_eq!(status.entries[3].in_doubt, Some(Direction::Up));
    assert!(status.problems.is_empty(), "{:?}", status.problems);
    assert!(status.lock_holder.is_some());

    // A writer that finds the lock taken names the holder too.
    let mut waiter = Migrator::builder(
        FileStore::builder(state(dir.path()))
            .lock_timeout(Duration::from_millis(50))
            .context(Effects {
                path: dir.path().join("effects.txt"),
            })
            .build()?,
    )
    .migrations(effect_migrations(4))
    .build()?;
    let err = waiter.run().await.expect_err("the lock is held");
    let text = err.to_string();
    assert!(
        text.contains(&format!("held by process {}", std::process::id())),
        "{text}"
    );
    assert!(
        text.contains("timed out after 5"),
        "milliseconds, not a Debug duration: {text}"
    );

    drop(running);
    let verify = reader.verify().await?;
    assert!(!verify.is_ok(), "the holder is gone: in doubt");
    assert!(verify.running.is_empty() && verify.lock_holder.is_none());
    let status = reader.status().await?;
    assert_eq!(status.count(MigrationState::InDoubt), 1);
    assert_eq!(status.lock_holder, None);
    Ok(())
}

/// A run or a rollback that will be refused is refused before anything is
/// written, also when a step in doubt would first be settled: the error
/// says nothing ran, and the journal's bytes prove it.
#[tokio::test]
async fn refusals_after_settling_a_step_in_doubt_write_nothing() -> anyhow::Result<()> {
    // 1, 2 applied; 3 (irreversible) left in doubt, its effect present.
    let build = |dir: &Path, n: u64| -> anyhow::Result<Migrator<FileStore<Effects>>> {
        let mut migrations = effect_migrations(n);
        let mut irreversible = EffectMigration::new(3);
        irreversible.reversible = false;
        migrations[2] = Box::new(irreversible);
        Ok(Migrator::builder(common::store(dir))
            .migrations(migrations)
            .build()?)
    };
    let dir = tempfile::tempdir()?;
    build(dir.path(), 3)?.run().await?;
    let mut l = lines(dir.path());
    l.pop(); // step 3's done record: 3 is in doubt
    write_lines(dir.path(), &l);
    let before = std::fs::read(state(dir.path()))?;

    // Settling 3 would record it applied; reverting it is then refused.
    let err = build(dir.path(), 3)?
        .rollback(Rollback::Last(1))
        .await
        .expect_err("irreversible");
    assert!(
        matches!(err, Error::Irreversible { version: 3, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(state(dir.path()))?, before, "rollback wrote");

    // A declared 4 below a 5 in doubt is out of order once 5 is settled as
    // applied: the run is refused before the settlement is recorded.
    let dir = tempfile::tempdir()?;
    let mut m = Migrator::builder(common::store(dir.path()))
        .migrations(effect_migrations(3))
        .migration(EffectMigration::new(5))
        .build()?;
    m.run().await?;
    let mut l = lines(dir.path());
    l.pop(); // step 5's done record: 5 is in doubt
    write_lines(dir.path(), &l);
    let before = std::fs::read(state(dir.path()))?;
    let err = migrator(dir.path(), 5)
        .run()
        .await
        .expect_err("4 is out of order once 5 is settled");
    assert!(matches!(err, Error::OutOfOrder { version: 4, .. }), "{err}");
    assert_eq!(std::fs::read(state(dir.path()))?, before, "run wrote");
    Ok(())
}

/// Sleeps in its first `up`, then behaves like `EffectMigration::new(4)`.
struct SlowOnce(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    EffectMigration,
);

#[async_trait::async_trait]
impl engine_ops_migrate::Migration<Effects> for SlowOnce {
    fn version(&self) -> u64 {
        4
    }
    fn name(&self) -> &str {
        &self.1.name
    }
    fn source(&self) -> &[u8] {
        self.1.source.as_bytes()
    }
    async fn up(&self, fx: &mut Effects) -> Result<(), engine_ops_migrate::BoxError> {
        if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        self.1.up(fx).await
    }
    async fn down(&self, fx: &mut Effects) -> Result<(), engine_ops_migrate::BoxError> {
        self.1.down(fx).await
    }
    async fn validate_up(
        &self,
        fx: &mut Effects,
    ) -> Result<engine_ops_migrate::Validation, engine_ops_migrate::BoxError> {
        self.1.validate_up(fx).await
    }
}

/// A run cancelled mid-step leaves its store holding the lock: that same
/// migrator's readers see the step in doubt (nothing of it is running),
/// not running; its next run takes over and settles it.
#[tokio::test]
async fn a_cancelled_run_leaves_its_step_in_doubt_not_running() -> anyhow::Result<()> {
    let dir = three_applied().await?;
    let mut m = Migrator::builder(common::store(dir.path()))
        .migrations(effect_migrations(3))
        .migration(SlowOnce(Default::default(), EffectMigration::new(4)))
        .build()?;
    let cancelled = tokio::time::timeout(Duration::from_millis(100), m.run()).await;
    assert!(cancelled.is_err(), "cancelled mid-step");
    let status = m.status().await?;
    assert_eq!(status.count(MigrationState::InDoubt), 1, "{status:?}");
    assert_eq!(status.lock_holder, None);
    let report = m.run().await?;
    assert_eq!(report.resolved[0].resolution, Settlement::NotApplied);
    assert_eq!(report.applied.len(), 1);
    assert_eq!(m.status().await?.count(MigrationState::Applied), 4);
    Ok(())
}
