//! Blue-green rollback through the driver, timed on the real control plane
//! (`tools/k8s-testenv`, through `KUBECONFIG`): from the `blue_green
//! rollback` command (a new process, as a CI job or a person runs it) to
//! the active Service selecting v1, to its EndpointSlices listing only v1
//! pods, and to the command's exit; against the library's bare switch
//! (`AppOps::switch_traffic`, one request) on a second app in the same
//! run, trial by trial.
//!
//! ```sh
//! eval "$(tools/k8s-testenv/up)"
//! cargo bench -p engine-ops-examples --bench driver_rollback
//! ENGINE_OPS_BENCH_TRIALS=50 ENGINE_OPS_BENCH_REPLICAS=10 cargo bench -p engine-ops-examples --bench driver_rollback
//! ```
//!
//! A timed script, not a criterion bench: one trial moves real traffic and
//! waits for the EndpointSlice controller, so the distribution over trials
//! is what matters. Each trial first deploys a new revision with
//! `--exit-when-switched` (v1 stays up for an instant rollback), untimed.
//! The `blue_green` example is built in release mode first if missing.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use engine_ops_k8s::cluster::{AppOps, SwitchParams, TrackSpec, TrafficTarget};
use k8s_openapi::api::core::v1::{Namespace, PodTemplate};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};

const WAIT: Duration = Duration::from_secs(60);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `min p50 p90 p99 max` by nearest rank, in ms.
fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let rank = |p: f64| {
        let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i]
    };
    let ms = |d: Duration| format!("{:8.1}", d.as_secs_f64() * 1e3);
    format!(
        "{} {} {} {} {}",
        ms(samples[0]),
        ms(rank(0.5)),
        ms(rank(0.9)),
        ms(rank(0.99)),
        ms(samples[samples.len() - 1])
    )
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() - 1) / 2]
}

/// The release `blue_green` example, built if missing.
fn blue_green() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench has a path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join("blue_green");
    if !path.exists() {
        eprintln!("building the blue_green example (release)");
        let ok = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "engine-ops-examples",
                "--example",
                "blue_green",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && path.exists(), "cannot build {}", path.display());
    }
    path
}

fn image(v: u32) -> String {
    format!(
        "registry.example/app@sha256:{}",
        format!("{v:08x}").repeat(8)
    )
}

struct Cli {
    bin: PathBuf,
    kubeconfig: String,
    namespace: String,
}

impl Cli {
    fn run(&self, app: &str, args: &[&str]) {
        let out = Command::new(&self.bin)
            .args([
                "--kubeconfig",
                &self.kubeconfig,
                "-n",
                &self.namespace,
                "--app",
                app,
            ])
            .args(args)
            .output()
            .expect("blue_green runs");
        assert!(
            out.status.success(),
            "blue_green {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn selects(s: &engine_ops_k8s::cluster::AppSnapshot, service: &str, track: &str) -> bool {
    s.service(service)
        .and_then(|s| s.target.as_ref())
        .is_some_and(|t| *t == TrafficTarget::track(track))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(kubeconfig) = std::env::var_os("KUBECONFIG").filter(|p| Path::new(p).exists()) else {
        eprintln!("SKIPPED: KUBECONFIG is not set or missing; eval \"$(tools/k8s-testenv/up)\"");
        return;
    };
    let Ok(admin) = Client::try_default().await else {
        eprintln!("SKIPPED: the API server is not reachable");
        return;
    };
    let trials = env_number("ENGINE_OPS_BENCH_TRIALS", 20);
    let replicas = env_number("ENGINE_OPS_BENCH_REPLICAS", 3);
    let n = u32::try_from(replicas).expect("replicas");
    let namespace = format!("k8s-ex-bench-{:x}", std::process::id());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).expect("ns");
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
    let cli = Cli {
        bin: blue_green(),
        kubeconfig: kubeconfig.to_string_lossy().into_owned(),
        namespace: namespace.clone(),
    };
    let r = replicas.to_string();

    // The driven app: v1 live.
    cli.run("drv", &["init", &image(1), "--replicas", &r]);
    cli.run("drv", &["deploy", &image(1), "--replicas", &r]);
    // The baseline app: two tracks switched by the library directly.
    cli.run("lib", &["init", &image(1), "--replicas", &r]);
    let lib = AppOps::new(admin.clone(), &namespace, "lib")
        .expect("names")
        .events(None);
    let pt: PodTemplate = Api::namespaced(admin.clone(), &namespace)
        .get("lib")
        .await
        .expect("the PodTemplate");
    for t in ["a", "b"] {
        lib.create_track(&TrackSpec::from_pod_template(t, &pt, n))
            .await
            .expect("track");
    }
    let mut lib_watch = lib.watch();
    lib_watch
        .wait_until("both tracks available", WAIT, |s| {
            ["a", "b"]
                .iter()
                .all(|t| s.track(t).is_some_and(|t| t.available == n))
        })
        .await
        .expect("tracks up");
    lib.switch_traffic("lib", &TrafficTarget::track("b"), &SwitchParams::new())
        .await
        .expect("b live");
    lib_watch
        .wait_until("b selected", WAIT, |s| selects(s, "lib", "b"))
        .await
        .expect("observed");
    let mut lib_slices = lib.watch_endpoints("lib");
    lib_slices.ready(WAIT).await.expect("slices");

    let drv = AppOps::new(admin.clone(), &namespace, "drv")
        .expect("names")
        .events(None);
    let mut drv_watch = drv.watch();
    drv_watch.ready(WAIT).await.expect("watch");
    let mut drv_slices = drv.watch_endpoints("drv");
    drv_slices.ready(WAIT).await.expect("slices");

    let (mut to_service, mut to_slices, mut to_exit, mut lib_service, mut lib_to_slices) =
        (vec![], vec![], vec![], vec![], vec![]);
    for k in 0..trials {
        // Untimed: v(k+2) live, the previous revision still up.
        let before = drv_watch.snapshot();
        let prev = match before.service("drv").and_then(|s| s.target.clone()) {
            Some(TrafficTarget::Track(t)) => t,
            other => panic!("drv selects {other:?}"),
        };
        let v = image(u32::try_from(k).expect("k") + 2);
        cli.run(
            "drv",
            &[
                "deploy",
                &v,
                "--replicas",
                &r,
                "--exit-when-switched",
                "--scale-down-delay",
                "10m",
            ],
        );
        let live = drv_watch
            .wait_until("the new revision live", WAIT, |s| !selects(s, "drv", &prev))
            .await
            .expect("switched");
        let new = match live.service("drv").and_then(|s| s.target.clone()) {
            Some(TrafficTarget::Track(t)) => t,
            other => panic!("drv selects {other:?}"),
        };
        // Both watches up to date before the clock starts.
        drv_slices
            .wait_until("only the new revision's pods", WAIT, |e| {
                e.serves_only("drv", &new, replicas)
            })
            .await
            .expect("endpoints follow the deploy");

        // Timed: the rollback command.
        let t0 = Instant::now();
        let mut child = tokio::process::Command::new(&cli.bin)
            .args([
                "--kubeconfig",
                &cli.kubeconfig,
                "-n",
                &namespace,
                "--app",
                "drv",
            ])
            .arg("rollback")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("rollback starts");
        // Both watches polled at once, each timed when it sees its change.
        let (service, slices) = tokio::join!(
            async {
                drv_watch
                    .wait_until("the previous revision selected", WAIT, |s| {
                        selects(s, "drv", &prev)
                    })
                    .await
                    .expect("rolled back");
                t0.elapsed()
            },
            async {
                drv_slices
                    .wait_until("only the previous revision's pods", WAIT, |e| {
                        e.serves_only("drv", &prev, replicas)
                    })
                    .await
                    .expect("endpoints follow");
                t0.elapsed()
            }
        );
        to_service.push(service);
        to_slices.push(slices);
        let status = child.wait().await.expect("rollback exits");
        to_exit.push(t0.elapsed());
        assert!(status.success(), "rollback failed");

        // Baseline: the library's switch, b -> a, then back (untimed).
        let observed = lib_watch
            .snapshot()
            .service("lib")
            .cloned()
            .expect("observed");
        let t0 = Instant::now();
        lib.switch_traffic(
            "lib",
            &TrafficTarget::track("a"),
            &SwitchParams::new().observed(&observed),
        )
        .await
        .expect("switch");
        lib_service.push(t0.elapsed());
        lib_slices
            .wait_until("only a", WAIT, |e| e.serves_only("lib", "a", replicas))
            .await
            .expect("endpoints follow");
        lib_to_slices.push(t0.elapsed());
        lib.switch_traffic("lib", &TrafficTarget::track("b"), &SwitchParams::new())
            .await
            .expect("back");
        lib_slices
            .wait_until("only b", WAIT, |e| e.serves_only("lib", "b", replicas))
            .await
            .expect("endpoints follow");
        lib_watch
            .wait_until("b selected", WAIT, |s| selects(s, "lib", "b"))
            .await
            .expect("observed");
    }

    println!(
        "blue-green rollback through the driver on loopback: {trials} trials, {replicas} pods per track, Kubernetes {}",
        admin
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .unwrap_or_default()
    );
    println!(
        "{:<62} {:>8} {:>8} {:>8} {:>8} {:>8}  (ms)",
        "", "min", "p50", "p90", "p99", "max"
    );
    println!(
        "{:<62} {}",
        "`blue_green rollback` -> Service selects v1",
        summary(&mut to_service)
    );
    println!(
        "{:<62} {}",
        "`blue_green rollback` -> EndpointSlices list only v1 pods",
        summary(&mut to_slices)
    );
    println!(
        "{:<62} {}",
        "`blue_green rollback` -> the command exits",
        summary(&mut to_exit)
    );
    println!(
        "{:<62} {}",
        "library switch_traffic -> Service selects v1",
        summary(&mut lib_service)
    );
    println!(
        "{:<62} {}",
        "library switch_traffic -> EndpointSlices only v1",
        summary(&mut lib_to_slices)
    );
    println!(
        "median ratio driver command / library switch: to the Service {:.1}, to EndpointSlices {:.1}",
        median(&mut to_service).as_secs_f64() / median(&mut lib_service).as_secs_f64(),
        median(&mut to_slices).as_secs_f64() / median(&mut lib_to_slices).as_secs_f64()
    );
    let _ = Api::<Namespace>::all(admin)
        .delete(&namespace, &DeleteParams::background())
        .await;
}
