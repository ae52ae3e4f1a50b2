//! Crash safety of the file store: a child process applying 200 migrations
//! is SIGKILLed at random moments, at least 50 times.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{effect_counts, fast_tempdir, migrator, runtime, spawn_self};
use engine_ops_migrate::{Direction, MigrationState, StateStore};

const MIGRATIONS: u64 = 200;
const KILLS: usize = 50;
const CHILD_ENV: &str = "ENGINE_OPS_MIGRATE_TEST_CRASH_DIR";

/// Child entry point (not a test on its own): applies the 200 migrations to
/// the state in `$ENGINE_OPS_MIGRATE_TEST_CRASH_DIR`. Does nothing without it.
#[test]
#[ignore = "child process of crash_at_random_moments_leaves_a_consistent_store"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    runtime().block_on(async {
        let mut m = migrator(&dir, MIGRATIONS);
        m.run().await.expect("child run");
    });
}

/// xorshift64*: enough randomness for kill times, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// What the store says after a kill, checked against the effects file.
/// Returns (applied count, in-doubt count).
fn check_consistent(dir: &Path) -> (u64, usize) {
    let history = runtime().block_on(async {
        let mut store = common::store(dir);
        store.load().await.expect("the store opens after a kill")
    });
    let applied: Vec<u64> = history.applied.iter().map(|a| a.version).collect();
    let k = applied.len() as u64;
    assert_eq!(applied, (1..=k).collect::<Vec<_>>(), "applied is a prefix");
    assert!(history.in_doubt.len() <= 1, "at most one step in doubt");
    if let Some(d) = history.in_doubt.first() {
        assert_eq!(d.version, k + 1, "the step in doubt is the next one");
        assert_eq!(d.direction, Direction::Up);
    }
    let effects = effect_counts(&dir.join("effects.txt"));
    for (v, (up, down)) in &effects {
        assert_eq!(*down, 0, "no down ran for {v}");
        assert!(*up <= 1, "effect {v} present {up} times");
        if *v <= k {
            assert_eq!(*up, 1, "applied {v} has its effect");
        } else {
            assert!(
                *v == k + 1 && !history.in_doubt.is_empty(),
                "effect {v} beyond the applied prefix"
            );
        }
    }
    (k, history.in_doubt.len())
}

fn check_complete(dir: &Path) {
    let status = runtime().block_on(async {
        let mut m = migrator(dir, MIGRATIONS);
        m.status().await.expect("status")
    });
    assert_eq!(status.count(MigrationState::Applied), MIGRATIONS as usize);
    assert!(status.problems.is_empty(), "{:?}", status.problems);
    let effects = effect_counts(&dir.join("effects.txt"));
    assert_eq!(effects.len(), MIGRATIONS as usize);
    assert!(
        effects.values().all(|&(up, down)| up == 1 && down == 0),
        "every effect exactly once"
    );
}

fn run_child(dir: &Path) -> std::process::Child {
    spawn_self("crash_child", &[(CHILD_ENV, dir)])
}

#[test]
fn crash_at_random_moments_leaves_a_consistent_store() {
    let root = fast_tempdir();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed:#x}");
    let mut rng = Rng(seed);

    // Calibrate: how long a child takes to start and apply everything.
    let calib = root.path().join("calibration");
    std::fs::create_dir_all(&calib).expect("mkdir");
    let started = Instant::now();
    let status = run_child(&calib).wait().expect("wait");
    assert!(status.success(), "calibration child failed: {status}");
    let full = started.elapsed();
    check_complete(&calib);
    let window_us = u64::try_from(full.as_micros()).unwrap_or(1).max(1);

    let mut round = 0;
    let mut dir = root.path().join(format!("round{round}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (mut kills, mut partial, mut in_doubt_seen, mut finished) = (0, 0, 0, 0);
    while kills < KILLS {
        let mut child = run_child(&dir);
        std::thread::sleep(Duration::from_micros(rng.next() % window_us));
        match child.try_wait().expect("try_wait") {
            Some(status) => {
                assert!(status.success(), "child failed on its own: {status}");
                let (k, doubt) = check_consistent(&dir);
                if k == MIGRATIONS {
                    check_complete(&dir);
                    finished += 1;
                    round += 1;
                    dir = root.path().join(format!("round{round}"));
                    std::fs::create_dir_all(&dir).expect("mkdir");
                }
                assert_eq!(doubt, 0);
            }
            None => {
                child.kill().expect("SIGKILL");
                child.wait().expect("reap");
                kills += 1;
                let (k, doubt) = check_consistent(&dir);
                if k > 0 && k < MIGRATIONS {
                    partial += 1;
                }
                in_doubt_seen += doubt;
                if k == MIGRATIONS {
                    check_complete(&dir);
                    round += 1;
                    dir = root.path().join(format!("round{round}"));
                    std::fs::create_dir_all(&dir).expect("mkdir");
                }
            }
        }
    }
    eprintln!(
        "crash test: {kills} kills, {partial} mid-run, {in_doubt_seen} left a step in doubt, {finished} runs finished unkilled, {round} rounds, window {full:?}"
    );
    assert!(
        partial >= 10,
        "too few kills landed mid-run ({partial}); the test proves little"
    );
    assert!(
        in_doubt_seen >= 1,
        "no kill landed inside a step; the test proves little"
    );

    // A plain rerun finishes the last round with every effect exactly once.
    let status = run_child(&dir).wait().expect("wait");
    assert!(status.success(), "final rerun failed: {status}");
    check_complete(&dir);
}
