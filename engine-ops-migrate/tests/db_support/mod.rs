//! Shared helpers of the database store tests: child processes, random
//! numbers, unique names.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A name no other test (or test process) uses: `<prefix>_<pid>_<n>_<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// xorshift64*: enough randomness for kill times, reproducible from a seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn from_clock() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("seed {seed:#x}");
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runs the hidden, ignored test `name` of this same test binary as a child
/// process with `envs` set; its stdout is piped when `capture`.
pub fn spawn_self(name: &str, envs: &[(&str, String)], capture: bool) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdout(if capture {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.spawn().expect("spawn child test process")
}

/// Waits for a child spawned with `capture` and returns its exit status and
/// the number on its `APPLIED <n>` line.
pub fn wait_applied(child: Child) -> (std::process::ExitStatus, Option<usize>) {
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut applied = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child stdout");
        if let Some(n) = line.strip_prefix("APPLIED ") {
            applied = n.trim().parse().ok();
        }
    }
    let status = child.0.wait().expect("wait child");
    (status, applied)
}

/// Sleeps until the Unix time `at_ms` (children start together this way).
pub fn sleep_until(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        std::thread::sleep(Duration::from_millis(at_ms - now));
    }
}

/// Kills and reaps a child process when dropped (also on a failed assertion).
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Walks an error's source chain into one line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// Starts 8 copies of the child test `name` with `envs` (their common start
/// time among them), waits for all, checks each succeeded, and returns how
/// many migrations they applied in total.
pub fn race_children(name: &str, envs: &[(&str, String)]) -> usize {
    let children: Vec<_> = (0..8).map(|_| spawn_self(name, envs, true)).collect();
    let waits: Vec<_> = children
        .into_iter()
        .map(|c| {
            std::thread::spawn(move || {
                let (status, applied) = wait_applied(c);
                assert!(status.success(), "a child failed: {status}");
                applied.expect("child reported")
            })
        })
        .collect();
    waits.into_iter().map(|w| w.join().expect("child ok")).sum()
}

/// What the crash tests saw while killing children that apply `total`
/// migrations.
#[derive(Debug)]
pub struct CrashTally {
    total: u64,
    /// Children killed.
    pub kills: usize,
    /// Kills that left some but not all migrations applied.
    pub partial: usize,
    /// Steps found in doubt after a kill.
    pub doubts: usize,
    /// Databases that reached every migration applied.
    pub rounds: usize,
}

impl CrashTally {
    pub fn new(total: u64) -> Self {
        Self {
            total,
            kills: 0,
            partial: 0,
            doubts: 0,
            rounds: 0,
        }
    }

    /// SIGKILLs `child` unless it already finished, which it must have done
    /// successfully.
    pub fn kill_unless_finished(&mut self, child: &mut Child) {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "child failed on its own: {status}");
        } else {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            self.kills += 1;
        }
    }

    /// Records a consistency check after a kill: `(applied prefix, in
    /// doubt)`. Returns whether every migration is applied (then the test
    /// starts over on a fresh database).
    pub fn record(&mut self, (applied, in_doubt): (u64, usize)) -> bool {
        self.doubts += in_doubt;
        if applied > 0 && applied < self.total {
            self.partial += 1;
        }
        let complete = applied == self.total;
        if complete {
            self.rounds += 1;
        }
        complete
    }

    /// Prints the tally and checks enough kills landed mid-run.
    pub fn finish(&self, backend: &str, window_us: u64) {
        eprintln!(
            "{backend} crash test: {} kills, {} mid-run, {} left a step in doubt, {} rounds, window {window_us} us",
            self.kills, self.partial, self.doubts, self.rounds
        );
        assert!(
            self.partial >= 10,
            "too few kills landed mid-run ({})",
            self.partial
        );
    }
}
