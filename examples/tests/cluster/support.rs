//! The compiled cluster examples run against the real control plane
//! (`tools/k8s-testenv`, found through `KUBECONFIG`), each test in its own
//! `k8s-ex-…` namespace, deleted afterwards.
//!
//! Without a reachable API server the tests print `SKIPPED: …` and pass,
//! unless `CI` is set: then they fail (except when `.ci/run` says, through
//! `ENGINE_OPS_K8S_SKIP`, that the control plane cannot be built here).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, PodTemplate, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, Resource};
use serde_json::Value;

const SKIP_ENV: &str = "ENGINE_OPS_K8S_SKIP";

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

fn skipped(why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Kubernetes API server not reachable ({why})"
    );
}

/// The test KUBECONFIG's path and a client of it, or `None` (after
/// printing `SKIPPED`) when there is none and `CI` is not set.
pub async fn cluster() -> Option<(PathBuf, Client)> {
    if let Some(why) = std::env::var_os(SKIP_ENV) {
        skipped(&why.to_string_lossy());
        return None;
    }
    let Some(path) = std::env::var_os("KUBECONFIG").map(PathBuf::from) else {
        assert!(
            !ci(),
            "CI is set but KUBECONFIG is not: the Kubernetes test control plane is required"
        );
        skipped("KUBECONFIG is not set; eval \"$(tools/k8s-testenv/up)\"");
        return None;
    };
    if !path.exists() {
        assert!(
            !ci(),
            "CI is set but KUBECONFIG={} does not exist",
            path.display()
        );
        skipped(&format!("KUBECONFIG={} does not exist", path.display()));
        return None;
    }
    let connect = async {
        let client = Client::try_default().await?;
        client.apiserver_version().await?;
        Ok::<_, kube::Error>(client)
    };
    match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(c)) => Some((path, c)),
        Ok(Err(e)) => {
            assert!(!ci(), "CI is set but the API server is not reachable: {e}");
            skipped(&e.to_string());
            None
        }
        Err(_) => {
            assert!(!ci(), "CI is set but the API server did not answer in 10 s");
            skipped("timeout");
            None
        }
    }
}

/// A fresh namespace `<prefix>-<suffix>` enforcing the
/// *restricted* Pod Security Standard, deleted when dropped.
pub struct Ns {
    pub client: Client,
    pub name: String,
    pub kubeconfig: PathBuf,
}

impl Ns {
    /// `None` (after `SKIPPED`) without a control plane.
    pub async fn new(prefix: &str) -> Option<Self> {
        Self::create(&format!("k8s-ex-{prefix}")).await
    }

    /// A namespace `cli-<prefix>-<suffix>` (the command-line tests').
    pub async fn cli(prefix: &str) -> Option<Self> {
        Self::create(&format!("cli-{prefix}")).await
    }

    async fn create(prefix: &str) -> Option<Self> {
        let (kubeconfig, client) = cluster().await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}-{:x}{:x}",
            std::process::id() & 0xfff,
            nanos & 0xfffff
        );
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}}
        }))
        .expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create the test namespace");
        Some(Self {
            client,
            name,
            kubeconfig,
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// The example `bin` with `--kubeconfig`, `-n` and `--app` set.
    pub fn cmd(&self, bin: &str, app: &str) -> Command {
        let mut c = Command::new(binary(bin));
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.name, "--app", app])
            .env_remove("ENGINE_OPS_DRIVER_HOOK")
            .env_remove("ENGINE_OPS_HOLDER")
            .stdin(Stdio::null());
        c
    }

    /// Runs the example to its end.
    pub fn run(&self, bin: &str, app: &str, args: &[&str]) -> Run {
        let out = self
            .cmd(bin, app)
            .args(args)
            .output()
            .expect("the example runs");
        Run::from(out)
    }

    /// The Service's selector's track (`None`: no track key).
    pub async fn selected(&self, service: &str) -> Option<String> {
        let s = self
            .api::<Service>()
            .get(service)
            .await
            .expect("the Service");
        s.spec?.selector?.get("engine-ops.io/track").cloned()
    }

    /// `(spec.replicas, available)` of each ReplicaSet of `app`, by name.
    pub async fn replica_sets(&self, app: &str) -> BTreeMap<String, (u32, u32)> {
        let list = self
            .api::<ReplicaSet>()
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={app}")))
            .await
            .expect("list ReplicaSets");
        list.items
            .iter()
            .map(|rs| {
                let n = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
                (
                    rs.metadata.name.clone().unwrap_or_default(),
                    (
                        n(rs.spec.as_ref().and_then(|s| s.replicas)),
                        n(rs.status.as_ref().and_then(|s| s.available_replicas)),
                    ),
                )
            })
            .collect()
    }

    /// The ready pods' track labels behind `service`'s EndpointSlices.
    pub async fn endpoint_tracks(&self, service: &str) -> Vec<String> {
        let slices = self
            .api::<EndpointSlice>()
            .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
            .await
            .expect("list EndpointSlices");
        let pods: Api<k8s_openapi::api::core::v1::Pod> = self.api();
        let mut tracks = Vec::new();
        for e in slices.items.iter().flat_map(|s| s.endpoints.iter()) {
            if e.conditions.as_ref().and_then(|c| c.ready) != Some(true) {
                continue;
            }
            let Some(name) = e.target_ref.as_ref().and_then(|t| t.name.clone()) else {
                continue;
            };
            if let Ok(p) = pods.get(&name).await {
                tracks.extend(
                    p.metadata
                        .labels
                        .and_then(|l| l.get("engine-ops.io/track").cloned()),
                );
            }
        }
        tracks.sort();
        tracks
    }

    /// Waits (up to 60 s) until `service`'s ready endpoints are pods of
    /// `track` only, `n` of them.
    pub async fn wait_endpoints(&self, service: &str, track: &str, n: usize) {
        for _ in 0..600 {
            let t = self.endpoint_tracks(service).await;
            if t.len() == n && t.iter().all(|x| x == track) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the EndpointSlices of {service} never listed only {n} pods of {track}: {:?}",
            self.endpoint_tracks(service).await
        );
    }

    /// `resourceVersion`s of the app's objects and the Lease, to compare
    /// before and after a refused command.
    pub async fn versions(&self, app: &str) -> BTreeMap<String, String> {
        let rv = |m: &ObjectMeta| m.resource_version.clone().unwrap_or_default();
        let mut v = BTreeMap::new();
        let by_label = ListParams::default().labels(&format!("app.kubernetes.io/instance={app}"));
        for s in self
            .api::<Service>()
            .list(&by_label)
            .await
            .expect("services")
            .items
        {
            v.insert(
                format!("Service/{}", s.metadata.name.clone().unwrap_or_default()),
                rv(&s.metadata),
            );
        }
        for r in self
            .api::<ReplicaSet>()
            .list(&by_label)
            .await
            .expect("replicasets")
            .items
        {
            v.insert(
                format!("ReplicaSet/{}", r.metadata.name.clone().unwrap_or_default()),
                rv(&r.metadata),
            );
        }
        for p in self
            .api::<PodTemplate>()
            .list(&ListParams::default())
            .await
            .expect("podtemplates")
            .items
        {
            v.insert(
                format!(
                    "PodTemplate/{}",
                    p.metadata.name.clone().unwrap_or_default()
                ),
                rv(&p.metadata),
            );
        }
        for d in self
            .api::<k8s_openapi::api::apps::v1::Deployment>()
            .list(&ListParams::default())
            .await
            .expect("deployments")
            .items
        {
            v.insert(
                format!("Deployment/{}", d.metadata.name.clone().unwrap_or_default()),
                rv(&d.metadata),
            );
        }
        for l in self
            .api::<Lease>()
            .list(&ListParams::default())
            .await
            .expect("leases")
            .items
        {
            v.insert(
                format!("Lease/{}", l.metadata.name.clone().unwrap_or_default()),
                rv(&l.metadata),
            );
        }
        v
    }

    /// [`versions`](Self::versions) once the controllers are done with
    /// the app (unchanged over a second), so that a later difference is
    /// a write, not a status update of pods still terminating.
    pub async fn settled_versions(&self, app: &str) -> BTreeMap<String, String> {
        let mut last = self.versions(app).await;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.versions(app).await;
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the app's objects never settled: {last:?}");
    }

    /// The rollout state annotation of the app's PodTemplate.
    pub async fn state(&self, app: &str) -> Option<Value> {
        let pt = self.api::<PodTemplate>().get_opt(app).await.expect("get")?;
        let raw = pt
            .metadata
            .annotations?
            .get("engine-ops.io/rollout-state")?
            .clone();
        serde_json::from_str(&raw).ok()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let _ = Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await;
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// The compiled example `name` (`cargo test` builds the package's examples
/// before its tests, into `target/<profile>/examples/`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p engine-ops-examples --example {name}`",
        path.display()
    );
    path
}

/// An image of the test registry pinned by a digest made of `v`.
pub fn image(v: u32) -> String {
    format!(
        "registry.example/app@sha256:{}",
        format!("{v:08x}").repeat(8)
    )
}

/// What a finished example printed.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing the output otherwise.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// The JSON lines of stdout (with `--json`).
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The JSON lines whose `event` is `kind`.
    pub fn of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == kind)
            .collect()
    }

    /// The planner actions carried out, by their serialised tag
    /// (`create_track`, `set_active`, ...), with their JSON lines.
    pub fn actions(&self) -> Vec<(String, Value)> {
        self.of("action")
            .into_iter()
            .filter_map(|e| {
                let tag = match &e["action"] {
                    Value::Object(m) => m.keys().next().cloned(),
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                }?;
                Some((tag, e))
            })
            .collect()
    }
}

/// A running example whose stderr is read line by line.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Drain stdout so the child never blocks on a full pipe.
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(
            move || {
                for _ in BufReader::new(out).lines().map_while(Result::ok) {}
            },
        );
        Self {
            child,
            lines: rx,
            stderr: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a stderr line containing `needle`; false
    /// when the process ended or the time ran out first.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.stderr.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// SIGKILL, then reap. Returns whether it was still running.
    pub fn kill(&mut self) -> bool {
        let running = matches!(self.child.try_wait(), Ok(None));
        let _ = self.child.kill();
        let _ = self.child.wait();
        running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator (xorshift64*), seeded per test run so
/// a failure can be replayed with `ENGINE_OPS_CRASH_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn from_env_or_time() -> (Self, u64) {
        let seed = std::env::var("ENGINE_OPS_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        (Self(seed), seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
