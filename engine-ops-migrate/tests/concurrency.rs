//! Eight processes migrate the same file store at the same instant; each
//! migration's `up` runs exactly once in total.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{effect_counts, fast_tempdir, migrator, runtime, spawn_self};
use engine_ops_migrate::MigrationState;

const PROCESSES: usize = 8;
const MIGRATIONS: u64 = 40;
const CHILD_ENV: &str = "ENGINE_OPS_MIGRATE_TEST_RACE_DIR";
const ID_ENV: &str = "ENGINE_OPS_MIGRATE_TEST_RACE_ID";

/// Child entry point (not a test on its own): announces itself, waits for
/// the start file, runs the migrator and writes how many steps it applied.
#[test]
#[ignore = "child process of eight_processes_apply_each_migration_exactly_once"]
fn race_child() {
    let (Some(dir), Some(id)) = (
        std::env::var_os(CHILD_ENV).map(PathBuf::from),
        std::env::var_os(ID_ENV).map(PathBuf::from),
    ) else {
        return;
    };
    let id = id.display().to_string();
    std::fs::write(dir.join(format!("ready-{id}")), b"").expect("ready file");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("start").exists() {
        assert!(Instant::now() < deadline, "start file never appeared");
        std::thread::sleep(Duration::from_micros(200));
    }
    let report = runtime().block_on(async { migrator(&dir, MIGRATIONS).run().await.expect("run") });
    std::fs::write(
        dir.join(format!("applied-{id}")),
        report.applied.len().to_string(),
    )
    .expect("result file");
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn eight_processes_apply_each_migration_exactly_once() {
    let root = fast_tempdir();
    let dir = root.path();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let id = PathBuf::from(i.to_string());
            spawn_self("race_child", &[(CHILD_ENV, dir), (ID_ENV, &id)])
        })
        .collect();
    // Barrier: every child is waiting before the start signal.
    for i in 0..PROCESSES {
        wait_for(&dir.join(format!("ready-{i}")));
    }
    std::fs::write(dir.join("start"), b"").expect("start file");
    for mut child in children {
        let status = child.wait().expect("wait");
        assert!(status.success(), "a migrator process failed: {status}");
    }

    let effects = effect_counts(&dir.join("effects.txt"));
    assert_eq!(effects.len(), MIGRATIONS as usize);
    assert!(
        effects.values().all(|&(up, down)| up == 1 && down == 0),
        "every up ran exactly once: {effects:?}"
    );
    let total: usize = (0..PROCESSES)
        .map(|i| {
            std::fs::read_to_string(dir.join(format!("applied-{i}")))
                .expect("result file")
                .parse::<usize>()
                .expect("count")
        })
        .sum();
    assert_eq!(
        total, MIGRATIONS as usize,
        "the reports add up to one application each"
    );
    let status =
        runtime().block_on(async { migrator(dir, MIGRATIONS).status().await.expect("status") });
    assert_eq!(status.count(MigrationState::Applied), MIGRATIONS as usize);
    assert!(status.problems.is_empty());
}
