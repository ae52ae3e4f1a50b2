//! Blue-green rollback on loopback, timed on the real control plane
//! (`tools/k8s-testenv`, through `KUBECONFIG`): from the command to the
//! active Service selecting v1, and to its EndpointSlices listing only the
//! v1 pods; against the original system's way in the same run (two
//! `kubectl patch` processes, the active then the preview Service).
//!
//! ```sh
//! eval "$(tools/k8s-testenv/up)"
//! cargo bench -p engine-ops-k8s --bench rollback_switch
//! ENGINE_OPS_BENCH_TRIALS=100 ENGINE_OPS_BENCH_REPLICAS=10 cargo bench -p engine-ops-k8s --bench rollback_switch
//! ```
//!
//! A timed script, not a criterion bench: one trial moves real traffic and
//! waits for the EndpointSlice controller, so the distribution over trials
//! is what matters. The trials alternate between the two ways so that both
//! see the same cluster conditions.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{self, TestNamespace};
use engine_ops_k8s::cluster::{
    AppOps, EndpointsWatch, RequestCounter, SwitchParams, TrackSpec, TrafficTarget,
};
use engine_ops_k8s::manifest::{BlueGreen, PREVIEW_SUFFIX, Track};
use kube::client::ClientBuilder;

const APP: &str = "engine-ops";
const WAIT: Duration = Duration::from_secs(60);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `(p50, p90, p99, max)` by nearest rank.
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

/// Waits until `service` sends traffic to exactly `track`'s `n` pods.
async fn served_only(watch: &mut EndpointsWatch, track: &str, n: usize) {
    watch
        .wait_until(&format!("to serve only {track}"), WAIT, |e| {
            e.serves_only(APP, track, n)
        })
        .await
        .expect("EndpointSlices follow the switch");
}

fn kubectl_patch(namespace: &str, service: &str, track: &str) -> bool {
    let patch = format!("{{\"spec\":{{\"selector\":{{\"engine-ops.io/track\":\"{track}\"}}}}}}");
    Command::new("kubectl")
        .args([
            "patch", "service", service, "-n", namespace, "--type", "merge", "-p", &patch,
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(admin) = cluster::client().await else {
        return;
    };
    let trials = env_number("ENGINE_OPS_BENCH_TRIALS", 30);
    let replicas = env_number("ENGINE_OPS_BENCH_REPLICAS", 10);
    let ns = TestNamespace::new(&admin, "bench").await;
    let set = BlueGreen::new(Track::Green)
        .render(&common::blue_green_app(&ns.name))
        .expect("render");
    cluster::dry_run_then_apply(&ns, &set.objects()).await;

    let counter = RequestCounter::new();
    let config = kube::Config::infer().await.expect("kubeconfig");
    let client = ClientBuilder::try_from(config)
        .expect("client")
        .with_layer(&counter.layer())
        .build();
    // The switch alone: no Event after it.
    let ops = AppOps::new(client, &ns.name, APP)
        .expect("names")
        .events(None);
    let n = u32::try_from(replicas).expect("replicas");
    let mut tracks = ops.watch();
    for (track, version) in [("blue", 1u8), ("green", 2)] {
        let mut t = set.pod_template.template.clone().expect("template");
        let digest = format!("{version:02x}").repeat(32);
        t.spec.as_mut().expect("pod spec").containers[0].image =
            Some(format!("registry.example/engine-ops@sha256:{digest}"));
        ops.create_track(&TrackSpec::new(track, t, n).revision(u64::from(version)))
            .await
            .expect("create track");
    }
    tracks
        .wait_until("both tracks available", WAIT, |s| {
            ["blue", "green"].iter().all(|t| {
                s.track(t)
                    .is_some_and(|t| t.available == n && !t.status_stale())
            })
        })
        .await
        .expect("tracks up");

    let mut slices = ops.watch_endpoints(APP);
    slices.ready(WAIT).await.expect("slices listed");
    served_only(&mut slices, "green", replicas).await;
    let kubectl = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !kubectl {
        eprintln!("note: kubectl not found; the baseline is skipped");
    }
    let preview = format!("{APP}{PREVIEW_SUFFIX}");

    let (mut ours_switch, mut ours_slices, mut theirs_switch, mut theirs_slices) =
        (vec![], vec![], vec![], vec![]);
    let mut requests = Vec::new();
    for _ in 0..trials {
        // engine-ops: v2 (green) live; roll back to v1 (blue) in one request,
        // from the Service as the driver's watch last saw it.
        let observed = ops.service_status(APP).await.expect("observed");
        counter.reset();
        let t0 = Instant::now();
        let s = ops
            .switch_traffic(
                APP,
                &TrafficTarget::track("blue"),
                &SwitchParams::new().observed(&observed),
            )
            .await
            .expect("rollback switch");
        ours_switch.push(t0.elapsed());
        requests.push(counter.total());
        assert!(s.changed);
        served_only(&mut slices, "blue", replicas).await;
        ours_slices.push(t0.elapsed());
        // Back to v2 for the next trial (untimed).
        ops.switch_traffic(APP, &TrafficTarget::track("green"), &SwitchParams::new())
            .await
            .expect("forward");
        served_only(&mut slices, "green", replicas).await;

        if kubectl {
            // The original: `kubectl patch` the active Service, then the preview one.
            let t0 = Instant::now();
            assert!(kubectl_patch(&ns.name, APP, "blue"), "kubectl patch active");
            theirs_switch.push(t0.elapsed());
            assert!(
                kubectl_patch(&ns.name, &preview, "green"),
                "kubectl patch preview"
            );
            served_only(&mut slices, "blue", replicas).await;
            theirs_slices.push(t0.elapsed());
            // kubectl now owns the selector: take it back on purpose.
            ops.switch_traffic(
                APP,
                &TrafficTarget::track("green"),
                &SwitchParams::new().dangerous_take_over(),
            )
            .await
            .expect("forward");
            served_only(&mut slices, "green", replicas).await;
        }
    }

    println!(
        "blue-green rollback on loopback: {trials} trials, {replicas} pods per track, \
         Kubernetes {} (kube-apiserver, controller manager, kwok nodes)",
        admin
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .unwrap_or_default()
    );
    println!(
        "{:<58} {:>8} {:>8} {:>8} {:>8} {:>8}  (ms)",
        "", "min", "p50", "p90", "p99", "max"
    );
    println!(
        "{:<58} {}",
        "engine-ops: command -> Service selects v1",
        summary(&mut ours_switch)
    );
    println!(
        "{:<58} {}",
        "engine-ops: command -> EndpointSlices list only v1 pods",
        summary(&mut ours_slices)
    );
    if kubectl {
        println!(
            "{:<58} {}",
            "original (2 x kubectl patch): -> Service selects v1",
            summary(&mut theirs_switch)
        );
        println!(
            "{:<58} {}",
            "original (2 x kubectl patch): -> EndpointSlices only v1",
            summary(&mut theirs_slices)
        );
        let ratio = |a: &mut [Duration], b: &mut [Duration]| {
            median(a).as_secs_f64() / median(b).as_secs_f64()
        };
        println!(
            "median ratio engine-ops / original: switch {:.3}, to EndpointSlices {:.3}",
            ratio(&mut ours_switch, &mut theirs_switch),
            ratio(&mut ours_slices, &mut theirs_slices)
        );
    }
    requests.sort_unstable();
    requests.dedup();
    println!("API requests per engine-ops rollback switch: {requests:?}");
}
