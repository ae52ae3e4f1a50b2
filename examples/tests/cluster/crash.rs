//! Crash safety: the driver is killed with SIGKILL at random moments and at
//! named points (between persisting a decision's state and acting on it,
//! around each action, on either side of a traffic switch's one request),
//! then run again with the same identity; it must finish the rollout.
//! Meanwhile an independent watcher records the active Service and the
//! tracks; replayed in `resourceVersion` order, at no moment may the
//! Service select nothing, or a track with fewer available pods than the
//! strategy requires.
//!
//! The trials of one strategy run in sequence on one app (each deploys the
//! next image): every named point first, then random choices of a point
//! (and how many times it is passed first) or of a delay. The three
//! strategies run in parallel. A failure prints the
//! seed; `ENGINE_OPS_CRASH_SEED=<seed>` replays the same choices.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use crate::support::{Ns, Rng, Running, image};
use crate::watcher::{Recorder, Rule};

/// Trials per strategy (three strategies: 36 in all).
const TRIALS: u32 = 12;

/// Where a trial kills the driver.
#[derive(Debug, Clone)]
enum Kill {
    /// At the `n`-th time it reaches a hook point (it pauses there).
    At(&'static str, u32),
    /// After a random delay.
    After(Duration),
}

struct Case {
    bin: &'static str,
    app: &'static str,
    /// Replicas.
    n: u32,
    /// Hook points and the highest count worth trying at each.
    points: &'static [(&'static str, u32)],
    /// The longest random delay before a kill.
    max_delay_ms: u64,
    /// The deploy command's options besides the image.
    options: &'static [&'static str],
}

const BLUE_GREEN: Case = Case {
    bin: "blue_green",
    app: "bgc",
    n: 3,
    points: &[
        ("after-save", 5),
        ("before-action", 7),
        ("after-action", 7),
        ("before-switch", 1),
        ("after-switch", 1),
    ],
    max_delay_ms: 700,
    options: &[
        "--replicas",
        "3",
        "--pre-check",
        "smoke=true",
        "--post-check",
        "errors=true",
        "--scale-down-delay",
        "300ms",
    ],
};

const CANARY: Case = Case {
    bin: "canary",
    app: "cac",
    n: 4,
    points: &[("after-save", 7), ("before-action", 8), ("after-action", 8)],
    max_delay_ms: 900,
    options: &[
        "--replicas",
        "4",
        "--step",
        "weight:25",
        "--step",
        "pause:200ms",
        "--step",
        "weight:75",
    ],
};

const ROLLING: Case = Case {
    bin: "rolling",
    app: "roc",
    n: 4,
    points: &[("after-apply", 1)],
    max_delay_ms: 600,
    options: &[
        "--replicas",
        "4",
        "--max-surge",
        "1",
        "--max-unavailable",
        "0",
    ],
};

fn deploy_args(case: &Case, version: u32) -> Vec<String> {
    let mut v = vec!["deploy".to_owned(), image(version)];
    v.extend(case.options.iter().map(|s| (*s).to_owned()));
    v.extend(["--holder".to_owned(), format!("crash-{}", case.app)]);
    v
}

/// Checks that version `v` is fully rolled out and alone serving.
async fn assert_rolled_out(ns: &Ns, case: &Case, v: u32, trial: u32, seed: u64) {
    let want = image(v);
    if case.bin == "rolling" {
        let d = ns
            .api::<Deployment>()
            .get(case.app)
            .await
            .expect("deployment");
        let img = d
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
        assert_eq!(
            img.as_deref(),
            Some(want.as_str()),
            "trial {trial} seed {seed}"
        );
        let st = d.status.expect("status");
        assert_eq!(
            (st.updated_replicas, st.available_replicas, st.replicas),
            (Some(4), Some(4), Some(4)),
            "trial {trial} seed {seed}"
        );
        return;
    }
    let state = ns.state(case.app).await.expect("a state");
    assert_eq!(
        state["planner"]["stage"], "idle",
        "trial {trial} seed {seed}: {state}"
    );
    let stable = state["planner"]["stable"].as_u64().expect("a stable track");
    let sets = ns.replica_sets(case.app).await;
    for (name, (spec, available)) in &sets {
        if *name == format!("{}-t{stable}", case.app) {
            assert_eq!(
                (*spec, *available),
                (case.n, case.n),
                "trial {trial} seed {seed}: {sets:?}"
            );
        } else {
            assert_eq!(
                *spec, 0,
                "trial {trial} seed {seed}: {name} still asked for pods: {sets:?}"
            );
        }
    }
    let rs = ns
        .api::<k8s_openapi::api::apps::v1::ReplicaSet>()
        .get(&format!("{}-t{stable}", case.app))
        .await
        .expect("the stable track");
    let img = rs
        .metadata
        .annotations
        .and_then(|a| a.get("engine-ops.io/image").cloned());
    assert_eq!(
        img.as_deref(),
        Some(want.as_str()),
        "trial {trial} seed {seed}"
    );
    if case.bin == "blue_green" {
        assert_eq!(
            ns.selected(case.app).await,
            Some(format!("t{stable}")),
            "trial {trial} seed {seed}"
        );
    }
}

async fn crash_trials(case: Case, prefix: &str) {
    let Some(ns) = Ns::new(prefix).await else {
        return;
    };
    let (mut rng, seed) = Rng::from_env_or_time();
    eprintln!(
        "{}: seed {seed} (ENGINE_OPS_CRASH_SEED={seed} replays it)",
        case.bin
    );
    // v1 live.
    if case.bin != "rolling" {
        ns.run(
            case.bin,
            case.app,
            &["init", &image(1), "--replicas", &case.n.to_string()],
        )
        .expect(0);
    }
    let first: Vec<String> = deploy_args(&case, 1);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    ns.run(case.bin, case.app, &first).expect(0);
    let recorder = Recorder::start(&ns, case.app).await;
    let started = std::time::Instant::now();
    let mut killed = 0;
    let mut kills = Vec::new();
    for trial in 0..TRIALS {
        let version = trial + 2;
        // Every named point once first, then random choices (a point or a
        // random delay).
        let pick = if (trial as usize) < case.points.len() {
            trial as usize
        } else {
            rng.below(case.points.len() as u64 + 1) as usize
        };
        let kill = match case.points.get(pick) {
            Some((point, max)) => Kill::At(point, 1 + rng.below(u64::from(*max)) as u32),
            None => Kill::After(Duration::from_millis(rng.below(case.max_delay_ms))),
        };
        let args = deploy_args(&case, version);
        let mut cmd = ns.cmd(case.bin, case.app);
        cmd.args(&args);
        if let Kill::At(point, n) = &kill {
            cmd.env("ENGINE_OPS_DRIVER_HOOK", format!("pause:{point}:{n}"));
        }
        let trial_started = std::time::Instant::now();
        let mut running = Running::spawn(cmd);
        let was_killed = match &kill {
            Kill::At(..) => {
                if running.wait_for_line("hook: paused", Duration::from_secs(60)) {
                    running.kill()
                } else {
                    // It finished before reaching the point that often.
                    let status = running.child.wait().expect("exit status");
                    assert!(
                        status.success(),
                        "trial {trial} ({kill:?}) seed {seed}: {:?}",
                        running.stderr
                    );
                    false
                }
            }
            Kill::After(d) => {
                std::thread::sleep(*d);
                running.kill()
            }
        };
        if was_killed {
            killed += 1;
        }
        kills.push(format!(
            "{kill:?}{}",
            if was_killed { "" } else { " (finished first)" }
        ));
        drop(running);
        // The same command again, same identity: it resumes and finishes.
        let killed_after = trial_started.elapsed();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = ns.run(case.bin, case.app, &args);
        if std::env::var_os("ENGINE_OPS_CRASH_VERBOSE").is_some() {
            eprintln!(
                "{} trial {trial}: {kill:?} after {:.2} s, resumed in {:.2} s",
                case.bin,
                killed_after.as_secs_f64(),
                trial_started
                    .elapsed()
                    .saturating_sub(killed_after)
                    .as_secs_f64()
            );
        }
        assert_eq!(
            r.code, 0,
            "trial {trial} after {kill:?} seed {seed}: the restarted driver failed\n{}\n{}",
            r.stdout, r.stderr
        );
        assert_rolled_out(&ns, &case, version, trial, seed).await;
    }
    let rule = match case.bin {
        "blue_green" => Rule::OneTrack { n: case.n },
        "canary" => Rule::AllTracks { n: case.n },
        _ => Rule::Rolling { n: case.n },
    };
    let moments = recorder
        .check(case.app, rule)
        .unwrap_or_else(|v| panic!("{} seed {seed}: {} violations: {v:#?}", case.bin, v.len()));
    eprintln!(
        "{}: {TRIALS} trials, {killed} killed mid-rollout, {moments} moments checked, {:.1} s: {kills:?}",
        case.bin,
        started.elapsed().as_secs_f64()
    );
    assert!(
        killed >= TRIALS * 2 / 3,
        "{}: only {killed} of {TRIALS} trials killed the driver mid-rollout (seed {seed}): {kills:?}",
        case.bin
    );
    assert!(moments > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blue_green_survives_sigkill_at_any_point() {
    crash_trials(BLUE_GREEN, "crash-bg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary_survives_sigkill_at_any_point() {
    crash_trials(CANARY, "crash-can").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_survives_sigkill_at_any_point() {
    crash_trials(ROLLING, "crash-roll").await;
}
