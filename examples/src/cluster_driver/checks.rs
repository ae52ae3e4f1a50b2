//! Running the checks the planner asks for ([`Action::StartCheck`]):
//! a shell command (exit 0 passes) or an HTTP GET (a 2xx answer passes),
//! each run in its own task, reported back as [`CheckObs`].
//!
//! A command sees what it checks in its environment:
//!
//! | variable | value |
//! |---|---|
//! | `ENGINE_OPS_CHECK` | the check's name |
//! | `ENGINE_OPS_APP`, `ENGINE_OPS_NAMESPACE` | the app |
//! | `ENGINE_OPS_TRACK`, `ENGINE_OPS_REPLICA_SET` | the track under test and its ReplicaSet |
//! | `ENGINE_OPS_REVISION`, `ENGINE_OPS_ATTEMPT` | its revision, the attempt |
//! | `ENGINE_OPS_SERVICE` | the Service selecting the track (the preview Service before a switch, the active one after), if any |
//! | `ENGINE_OPS_IMAGE` | the track's image |
//!
//! On a cluster whose pods run no real application (the kwok nodes of
//! `tools/k8s-testenv`) a check is a command that passes or fails on
//! demand; against a real one, probe the Service (from inside the cluster,
//! or through a port-forward).
//!
//! [`Action::StartCheck`]: engine_ops_rollout::Action::StartCheck

use std::collections::BTreeMap;
use std::process::Stdio;

use engine_ops_rollout::observation::{CheckObs, CheckRun, CheckStatus};
use http_body_util::BodyExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::exit::{CliError, CliResult};

/// How one check is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// `sh -c COMMAND`.
    Command(String),
    /// `GET URL`.
    Http(String),
}

impl CheckKind {
    /// An `http://` URL is a GET, anything else a shell command.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") {
            Self::Http(s.to_owned())
        } else {
            Self::Command(s.to_owned())
        }
    }
}

/// What a check run is about (its environment).
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// The app.
    pub app: String,
    /// Its namespace.
    pub namespace: String,
    /// The track under test.
    pub track: String,
    /// Its ReplicaSet.
    pub replica_set: String,
    /// The Service selecting it, if any.
    pub service: Option<String>,
    /// Its image.
    pub image: String,
}

/// A finished run: its verdict and the last line it printed.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The run.
    pub run: CheckRun,
    /// Passed or failed.
    pub status: CheckStatus,
    /// The last line of its output (or the HTTP status).
    pub output: String,
}

/// The checks of one driver: definitions, runs in flight, results.
#[derive(Debug)]
pub struct Checks {
    defs: BTreeMap<String, CheckKind>,
    running: BTreeMap<CheckRun, JoinHandle<()>>,
    results: BTreeMap<CheckRun, CheckObs>,
    tx: mpsc::UnboundedSender<Finished>,
    rx: mpsc::UnboundedReceiver<Finished>,
}

impl Checks {
    /// Checks defined by `NAME=COMMAND|URL` pairs, with the results of
    /// runs that finished before (from the persisted state).
    #[must_use]
    pub fn new(defs: &[(String, String)], finished: &[CheckObs]) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            defs: defs
                .iter()
                .map(|(k, v)| (k.clone(), CheckKind::parse(v)))
                .collect(),
            running: BTreeMap::new(),
            results: finished
                .iter()
                .map(|c| (c.run.clone(), c.clone()))
                .collect(),
            tx,
            rx,
        }
    }

    /// Refuses a spec whose checks have no definition here.
    ///
    /// # Errors
    ///
    /// Exit 2, naming the checks to define with `--check NAME=...`.
    pub fn require(&self, names: &[String]) -> CliResult<()> {
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| !self.defs.contains_key(*n))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(CliError::usage(anyhow::anyhow!(
            "the rollout runs the check(s) {missing:?} but this command was not told how; give --check NAME=COMMAND (or NAME=http://...) for each (commands are never read from the cluster)"
        )))
    }

    /// The status of every run started or finished, for the observation.
    #[must_use]
    pub fn observations(&self) -> Vec<CheckObs> {
        let mut v: Vec<CheckObs> = self.results.values().cloned().collect();
        for run in self.running.keys() {
            if !self.results.contains_key(run) {
                v.push(CheckObs::new(run.clone(), CheckStatus::Running, 0));
            }
        }
        v
    }

    /// Finished runs (to persist), newest revisions last, at most `keep`.
    #[must_use]
    pub fn finished(&self, keep: usize) -> Vec<CheckObs> {
        let mut v: Vec<CheckObs> = self.results.values().cloned().collect();
        v.sort_by(|a, b| {
            (a.run.revision, a.run.attempt, &a.run.name).cmp(&(
                b.run.revision,
                b.run.attempt,
                &b.run.name,
            ))
        });
        let skip = v.len().saturating_sub(keep);
        v.split_off(skip)
    }

    /// Whether `run` is in flight.
    #[must_use]
    pub fn is_running(&self, run: &CheckRun) -> bool {
        self.running.contains_key(run)
    }

    /// Starts `run` (nothing if it is running or finished already).
    ///
    /// # Errors
    ///
    /// Exit 2 when the check has no definition.
    pub fn start(&mut self, run: &CheckRun, ctx: CheckContext) -> CliResult<()> {
        if self.running.contains_key(run) || self.results.contains_key(run) {
            return Ok(());
        }
        let kind = self.defs.get(&run.name).cloned().ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "check `{}` has no definition; give --check {}=COMMAND",
                run.name,
                run.name
            ))
        })?;
        let tx = self.tx.clone();
        let r = run.clone();
        let handle = tokio::spawn(async move {
            let (status, output) = match kind {
                CheckKind::Command(cmd) => run_command(&cmd, &r, &ctx).await,
                CheckKind::Http(url) => run_http(&url).await,
            };
            let _ = tx.send(Finished {
                run: r,
                status,
                output,
            });
        });
        self.running.insert(run.clone(), handle);
        Ok(())
    }

    /// Stops `run` if it is in flight (its process is killed).
    pub fn stop(&mut self, run: &CheckRun) {
        if let Some(h) = self.running.remove(run) {
            h.abort();
        }
    }

    /// Waits for the next run to finish and records its result.
    pub async fn next_finished(&mut self) -> Option<Finished> {
        let f = self.rx.recv().await?;
        if self.running.remove(&f.run).is_some() {
            let failures = u32::from(f.status == CheckStatus::Failed);
            self.results.insert(
                f.run.clone(),
                CheckObs::new(f.run.clone(), f.status, failures),
            );
            Some(f)
        } else {
            // Stopped meanwhile: its result no longer counts.
            None
        }
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        for h in self.running.values() {
            h.abort();
        }
    }
}

async fn run_command(cmd: &str, run: &CheckRun, ctx: &CheckContext) -> (CheckStatus, String) {
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env("ENGINE_OPS_CHECK", &run.name)
        .env("ENGINE_OPS_REVISION", run.revision.to_string())
        .env("ENGINE_OPS_ATTEMPT", run.attempt.to_string())
        .env("ENGINE_OPS_APP", &ctx.app)
        .env("ENGINE_OPS_NAMESPACE", &ctx.namespace)
        .env("ENGINE_OPS_TRACK", &ctx.track)
        .env("ENGINE_OPS_REPLICA_SET", &ctx.replica_set)
        .env("ENGINE_OPS_SERVICE", ctx.service.as_deref().unwrap_or(""))
        .env("ENGINE_OPS_IMAGE", &ctx.image);
    match c.output().await {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned();
            let status = if out.status.success() {
                CheckStatus::Passed
            } else {
                CheckStatus::Failed
            };
            let code = out
                .status
                .code()
                .map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"));
            (status, format!("{code}: {last}"))
        }
        Err(e) => (CheckStatus::Failed, format!("cannot run sh: {e}")),
    }
}

async fn run_http(url: &str) -> (CheckStatus, String) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return (CheckStatus::Failed, format!("{url:?} is not a URL: {e}")),
    };
    let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    match client.get(uri).await {
        Ok(resp) => {
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            let verdict = if status.is_success() {
                CheckStatus::Passed
            } else {
                CheckStatus::Failed
            };
            (verdict, format!("GET {url}: {status}"))
        }
        Err(e) => (CheckStatus::Failed, format!("GET {url}: {e}")),
    }
}
