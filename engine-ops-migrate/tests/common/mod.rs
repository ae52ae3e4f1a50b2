//! Test migrations whose effects are lines in a separate file, so a test can
//! count how many times each `up` really ran (also across processes).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use engine_ops_migrate::{BoxError, FileStore, Migration, Migrator, Validation};

/// The context: where effects go.
#[derive(Debug, Clone)]
pub struct Effects {
    pub path: PathBuf,
}

impl Effects {
    fn append(&self, line: &str) -> Result<(), BoxError> {
        // One `write` of a whole line with O_APPEND: a kill cannot tear it.
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        Ok(())
    }
}

/// `+v` lines (ups) and `-v` lines (downs) per version.
pub fn effect_counts(path: &Path) -> BTreeMap<u64, (u32, u32)> {
    let mut out: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let (sign, num) = line.split_at(1);
        let v: u64 = num.parse().expect("effect line is +N or -N");
        let e = out.entry(v).or_default();
        if sign == "+" {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    out
}

fn net(path: &Path, version: u64) -> i64 {
    effect_counts(path)
        .get(&version)
        .map_or(0, |(up, down)| i64::from(*up) - i64::from(*down))
}

/// A migration that appends `+v` on up and `-v` on down.
#[derive(Debug, Clone)]
pub struct EffectMigration {
    pub version: u64,
    pub name: String,
    pub source: String,
    pub reversible: bool,
    pub fail_up: bool,
}

impl EffectMigration {
    pub fn new(version: u64) -> Self {
        Self {
            version,
            name: format!("step_{version:04}"),
            source: format!("-- step {version}\nINSERT INTO effects VALUES ({version});\n"),
            reversible: true,
            fail_up: false,
        }
    }
}

#[async_trait::async_trait]
impl Migration<Effects> for EffectMigration {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source(&self) -> &[u8] {
        self.source.as_bytes()
    }
    fn reversible(&self) -> bool {
        self.reversible
    }
    async fn up(&self, fx: &mut Effects) -> Result<(), BoxError> {
        fx.append(&format!("+{}\n", self.version))?;
        if self.fail_up {
            return Err(format!("step {} failed on purpose", self.version).into());
        }
        Ok(())
    }
    async fn down(&self, fx: &mut Effects) -> Result<(), BoxError> {
        if !self.reversible {
            return Err("irreversible".into());
        }
        fx.append(&format!("-{}\n", self.version))
    }
    async fn validate_up(&self, fx: &mut Effects) -> Result<Validation, BoxError> {
        let n = net(&fx.path, self.version);
        Ok(Validation::check(
            n > 0,
            format!("effect {} absent", self.version),
        ))
    }
    async fn validate_down(&self, fx: &mut Effects) -> Result<Validation, BoxError> {
        let n = net(&fx.path, self.version);
        Ok(Validation::check(
            n == 0,
            format!("effect {} still present", self.version),
        ))
    }
}

pub fn effect_migrations(n: u64) -> Vec<Box<dyn Migration<Effects>>> {
    (1..=n)
        .map(|v| Box::new(EffectMigration::new(v)) as Box<dyn Migration<Effects>>)
        .collect()
}

pub fn store(dir: &Path) -> FileStore<Effects> {
    FileStore::builder(dir.join("state.jsonl"))
        .lock_timeout(Duration::from_secs(60))
        .context(Effects {
            path: dir.join("effects.txt"),
        })
        .build()
        .expect("valid store settings")
}

pub fn migrator(dir: &Path, n: u64) -> Migrator<FileStore<Effects>> {
    Migrator::builder(store(dir))
        .migrations(effect_migrations(n))
        .build()
        .expect("unique versions")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// Runs the hidden, ignored test `name` of this same test binary as a child
/// process with `envs` set.
pub fn spawn_self(name: &str, envs: &[(&str, &Path)]) -> Child {
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
    cmd.stdout(std::process::Stdio::null());
    cmd.spawn().expect("spawn child test process")
}

/// A temp dir on tmpfs when there is one (fsync there is cheap).
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temp dir")
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
