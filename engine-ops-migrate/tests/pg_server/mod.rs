//! The PostgreSQL server of a test run.
//!
//! [`test_url`] is `ENGINE_OPS_TEST_DATABASE_URL` when it is set (CI starts
//! a server and sets it). Otherwise, when PostgreSQL's server programs are
//! installed (`initdb`, `pg_ctl`), the first call starts a throwaway server
//! for this test process: a private directory under the system's temporary
//! directory, loopback only, a port the system picked, a random password.
//! A watchdog process stops it and removes the directory when the test
//! process ends, however it ends (tests passing, failing, panicking,
//! killed). PostgreSQL refuses to run as root, so as root the server runs
//! as the `postgres` user (`runuser -u postgres`), as `tools/pg-testenv/up`
//! does. Only where no server program is installed do the tests print
//! `SKIPPED` (and fail when `CI` is set).
//!
//! [`start`] starts a server with extra settings (TLS) for one test; it is
//! stopped when dropped, with the same watchdog behind it.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub const URL_ENV: &str = "ENGINE_OPS_TEST_DATABASE_URL";

/// Says loudly that a test did not run (not captured by the test harness).
pub fn skipped(why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The database URL for this test run, or `None` (after printing
/// `SKIPPED`) when `ENGINE_OPS_TEST_DATABASE_URL` is unset and no
/// PostgreSQL server program is installed.
///
/// # Panics
///
/// When `CI` is set and there is no server; when the programs exist but
/// the throwaway server does not start (the message says why).
pub fn test_url() -> Option<String> {
    if let Ok(url) = std::env::var(URL_ENV)
        && !url.is_empty()
    {
        return Some(url);
    }
    static SHARED: OnceLock<Option<Server>> = OnceLock::new();
    let server = SHARED.get_or_init(|| match start(&Options::default()) {
        Ok(server) => {
            let _ = writeln!(
                std::io::stderr(),
                "{URL_ENV} is not set: started a throwaway PostgreSQL server for this test process ({}, {})",
                server.url_without_password(),
                server.dir.display()
            );
            Some(server)
        }
        Err(Unavailable::NoBinaries(why)) => {
            assert!(
                !ci(),
                "CI is set but {URL_ENV} is not and no PostgreSQL server program is installed ({why})"
            );
            skipped(&format!(
                "PostgreSQL not reachable at <unset> ({URL_ENV} is not set and {why})"
            ));
            None
        }
        Err(Unavailable::Failed(why)) => {
            panic!("cannot start a throwaway PostgreSQL server: {why}")
        }
    });
    server.as_ref().map(|s| s.url.clone())
}

/// Extra settings of a server.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// TLS: the certificate chain and private key, in PEM.
    pub tls: Option<(String, String)>,
}

/// Why no server.
#[derive(Debug)]
pub enum Unavailable {
    /// No `initdb` / `pg_ctl` on this machine.
    NoBinaries(String),
    /// They exist but the server did not start.
    Failed(String),
}

/// A running throwaway server.
#[derive(Debug)]
pub struct Server {
    /// `postgres://engine_ops:<password>@127.0.0.1:<port>/postgres`.
    pub url: String,
    pub port: u16,
    pub password: String,
    pub dir: PathBuf,
    bindir: PathBuf,
    as_postgres: bool,
    watchdog: Option<std::process::Child>,
}

impl Server {
    pub fn url_without_password(&self) -> String {
        self.url.replace(&self.password, "***")
    }

    fn stop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The postgres user may not be allowed into the test's directory.
        c.current_dir(&self.dir);
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The directory holding `initdb` and `pg_ctl`.
fn bindir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.extend(versions.into_iter().rev());
    candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `c` with its output in `log`; the error carries the log's tail.
fn run(mut c: Command, what: &str, log: &Path) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    Err(format!(
        "{what} failed ({}): {}\n{}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        log.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Starts a private server; see the module docs.
pub fn start(options: &Options) -> Result<Server, Unavailable> {
    let Some(bindir) = bindir() else {
        return Err(Unavailable::NoBinaries(
            "no PostgreSQL server program (initdb, pg_ctl) is installed".into(),
        ));
    };
    let failed = Unavailable::Failed;
    let as_postgres = is_root();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "engine-ops-pg-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut server = Server {
        url: String::new(),
        port: 0,
        password: format!(
            "{:x}{:x}",
            nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            std::process::id()
        ),
        dir: dir.clone(),
        bindir,
        as_postgres,
        watchdog: None,
    };
    // From here on, dropping `server` (or this process ending) stops
    // whatever started and removes the directory.
    server.watchdog = Some(watchdog(&server).map_err(failed)?);
    let chown = |path: &Path| -> Result<(), Unavailable> {
        if as_postgres {
            let mut c = Command::new("chown");
            c.args(["-R", "postgres:"]).arg(path);
            run(
                c,
                "chown to the postgres user (PostgreSQL refuses to run as root)",
                Path::new("/dev/null"),
            )
            .map_err(failed)?;
        }
        Ok(())
    };
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, format!("{}\n", server.password)).map_err(|e| failed(e.to_string()))?;
    chown(&dir)?;
    let log = dir.join("initdb.log");
    let mut initdb = server.command("initdb");
    initdb
        .args([
            "-D",
            &server.data(),
            "-U",
            "engine_ops",
            "--auth-local=trust",
        ])
        .args([
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "-N",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    run(initdb, "initdb", &log).map_err(failed)?;
    let _ = std::fs::remove_file(&pwfile);
    let mut settings = String::new();
    if let Some((cert, key)) = &options.tls {
        use std::os::unix::fs::PermissionsExt;
        let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert_path, cert).map_err(|e| failed(e.to_string()))?;
        std::fs::write(&key_path, key).map_err(|e| failed(e.to_string()))?;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| failed(e.to_string()))?;
        chown(&cert_path)?;
        chown(&key_path)?;
        settings = format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert_path.display(),
            key_path.display()
        );
    }
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port().map_err(failed)?;
        let log = dir.join("server.log");
        let mut pg_ctl = server.command("pg_ctl");
        pg_ctl
            .args(["-D", &server.data(), "-l"])
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100{settings}",
                dir.display()
            ))
            .arg("start");
        match run(pg_ctl, "pg_ctl start", &log) {
            Ok(()) => {
                server.port = port;
                server.url = format!(
                    "postgres://engine_ops:{}@127.0.0.1:{port}/postgres",
                    server.password
                );
                return Ok(server);
            }
            // Another process may have taken the port in between: retry.
            Err(e) => last = e,
        }
    }
    Err(failed(last))
}

/// A process that stops the server and removes its directory once this
/// test process is gone. It ignores the terminal's signals and leaves the
/// terminal's process group, so a Ctrl-C of the test run reaches it only
/// through the test process's death.
fn watchdog(server: &Server) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let pg_ctl = server.bindir.join("pg_ctl");
    let stop = if server.as_postgres {
        format!("runuser -u postgres -- '{}'", pg_ctl.display())
    } else {
        format!("'{}'", pg_ctl.display())
    };
    let script = format!(
        "trap '' INT TERM HUP; while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         if [ -f '{data}/postmaster.pid' ]; then {stop} -D '{data}' -m immediate -w stop >/dev/null 2>&1; fi; rm -rf '{dir}'",
        parent = std::process::id(),
        data = server.data(),
        dir = server.dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the server's watchdog: {e}"))
}
