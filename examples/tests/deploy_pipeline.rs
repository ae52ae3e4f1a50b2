//! `deploy_pipeline`, compiled, run as its users run it against the real
//! PostgreSQL (`ENGINE_OPS_TEST_DATABASE_URL`, else a throwaway server) and
//! the real control plane (`KUBECONFIG`, `tools/k8s-testenv`): expand, a
//! rollout, contract, with the database schema read from
//! `information_schema` (by this test, not the program) after each step;
//! a failing rollout keeps the expand migrations and never contracts; the
//! contract step alone is refused while pods of the old version run, and
//! runs once they are gone.
//!
//! Each test works in its own `pipe-…` namespace and PostgreSQL schema,
//! both deleted afterwards. Without a reachable API server the tests print
//! `SKIPPED: …` and pass, unless `CI` is set: then they fail.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../../engine-ops-migrate/tests/pg_server/mod.rs"]
mod pg_server;
#[allow(dead_code)]
#[path = "cluster/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine_ops_migrate::tokio_postgres::{self, NoTls, SimpleQueryMessage};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::Value;
use support::{Ns, Run, binary, image};

const APP: &str = "shop";

/// A finalizer that keeps a deleted pod terminating until the test lets go.
const HOLD: &str = "engine-ops.io/test-hold";

const USERS: &str = "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n";
const ADD_EMAIL: &str = "-- engine-ops: phase expand\nALTER TABLE users ADD COLUMN email text;\n";
const DROP_NAME: &str = "-- engine-ops: phase contract\nALTER TABLE users DROP COLUMN name;\n";

/// A namespace, a PostgreSQL schema and a migrations directory of one test.
struct Pipeline {
    ns: Ns,
    admin_url: String,
    url: String,
    schema: String,
    dir: tempfile::TempDir,
}

impl Pipeline {
    /// `None` (after `SKIPPED`) without a control plane or PostgreSQL.
    async fn new(prefix: &str) -> Option<Self> {
        let (kubeconfig, client) = support::cluster().await?;
        let admin_url = pg_server::test_url()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let suffix = format!("{:x}{:x}", std::process::id() & 0xfff, nanos & 0xfffff);
        let name = format!("pipe-{prefix}-{suffix}");
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
        let ns = Ns {
            client,
            name,
            kubeconfig,
        };
        let schema = format!("pipe_{}_{suffix}", prefix.replace('-', "_"));
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}&sslmode=disable");
        let p = Self {
            ns,
            admin_url,
            url,
            schema,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        p.sql(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
            p.schema
        ))
        .await;
        Some(p)
    }

    /// Runs `sql` on an admin connection; the first column of every row.
    async fn sql(&self, sql: &str) -> Vec<String> {
        let config: tokio_postgres::Config = self.admin_url.parse().expect("URL");
        let (client, conn) = config.connect(NoTls).await.expect("admin connection");
        let task = tokio::spawn(conn);
        let rows = client.simple_query(sql).await.expect("admin query");
        drop(client);
        let _ = task.await;
        rows.iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    /// The columns of `users` in the test's schema, in order (empty: no
    /// table), from `information_schema`.
    async fn columns(&self) -> Vec<String> {
        self.sql(&format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = '{}' AND table_name = 'users' ORDER BY ordinal_position",
            self.schema
        ))
        .await
    }

    /// Writes migration files into the migrations directory.
    fn migrations(&self, files: &[(&str, &str)]) {
        for (name, sql) in files {
            std::fs::write(self.dir.path().join(name), sql).expect("write a migration");
        }
    }

    /// The pipeline with the test's cluster, app, migrations and database.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.ns.cmd("deploy_pipeline", APP);
        c.arg("--migrations")
            .arg(self.dir.path())
            .args(["--database-url", &self.url])
            .env_remove("DATABASE_URL")
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("the pipeline runs"))
    }

    /// `(name, image, terminating)` of the app's pods.
    async fn pods(&self) -> Vec<(String, String, bool)> {
        self.ns
            .api::<Pod>()
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={APP}")))
            .await
            .expect("list pods")
            .items
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.spec
                        .as_ref()
                        .and_then(|s| s.containers.first())
                        .and_then(|c| c.image.clone())
                        .unwrap_or_default(),
                    p.metadata.deletion_timestamp.is_some(),
                )
            })
            .collect()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let (url, schema) = (self.admin_url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let config: tokio_postgres::Config = url.parse().expect("URL");
                if let Ok((client, conn)) = config.connect(NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .simple_query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// A pod kept terminating by the [`HOLD`] finalizer until released (or
/// dropped: a failed test must not leave its namespace stuck).
struct Hold {
    pods: Api<Pod>,
    name: String,
    released: bool,
}

fn finalizers(f: Value) -> Patch<Value> {
    Patch::Merge(serde_json::json!({"metadata": {"finalizers": f}}))
}

impl Hold {
    async fn new(pods: Api<Pod>, name: &str) -> Self {
        pods.patch(
            name,
            &PatchParams::default(),
            &finalizers(serde_json::json!([HOLD])),
        )
        .await
        .expect("hold the pod");
        Self {
            pods,
            name: name.to_owned(),
            released: false,
        }
    }

    async fn release(mut self) {
        self.pods
            .patch(
                &self.name,
                &PatchParams::default(),
                &finalizers(Value::Null),
            )
            .await
            .expect("release the pod");
        self.released = true;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (pods, name) = (self.pods.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let _ = pods
                    .patch(&name, &PatchParams::default(), &finalizers(Value::Null))
                    .await;
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// The JSON lines of `event` `step` for `step`.
fn steps(r: &Run, step: &str) -> Vec<Value> {
    r.of("step")
        .into_iter()
        .filter(|e| e["step"] == step)
        .collect()
}

/// Every line's `elapsed_ms` counts from the pipeline's start: it never
/// goes back, from the expand step through the rollout's own lines to the
/// contract step.
#[track_caller]
fn elapsed_never_goes_back(r: &Run) {
    let times: Vec<u64> = r
        .events()
        .iter()
        .map(|e| e["elapsed_ms"].as_u64().expect("elapsed_ms"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "{times:?}\n{}",
        r.stdout
    );
}

fn position(r: &Run, pred: impl Fn(&Value) -> bool) -> usize {
    r.events()
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no such line in\n{}", r.stdout))
}

/// A check command that announces itself with the file `at` and passes
/// once the test creates `go` (so the test can look at the database and
/// the cluster while the rollout stands there).
fn rendezvous(at: &Path, go: &Path) -> String {
    format!(
        "touch {at}; i=0; while [ ! -f {go} ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done",
        at = at.display(),
        go = go.display()
    )
}

async fn until_file(path: &Path, child: &mut std::process::Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the pipeline ended ({status}) before {}", path.display());
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Release 1: `users (id, name)` through the pipeline with v1, the app's
/// first deployment (nothing to contract).
async fn release_1(p: &Pipeline) {
    p.ns.run("blue_green", APP, &["init", &image(1), "--replicas", "2"])
        .expect(0);
    p.migrations(&[("0001_users.sql", USERS)]);
    let r = p.run(&["blue-green", &image(1), "--replicas", "2", "--json"]);
    r.expect(0);
    let expand = steps(&r, "expand");
    assert_eq!(
        expand[1]["applied"],
        serde_json::json!(["1 users"]),
        "{}",
        r.stdout
    );
    let contract = steps(&r, "contract");
    assert_eq!(contract[0]["status"], "nothing_pending", "{}", r.stdout);
    assert_eq!(r.of("done").last().expect("done")["contracted"], false);
    assert_eq!(p.columns().await, ["id", "name"]);
    assert_eq!(p.ns.selected(APP).await.as_deref(), Some("t0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn expand_then_the_rollout_then_contract_once_the_old_pods_are_gone() {
    let Some(p) = Pipeline::new("ok").await else {
        return;
    };
    release_1(&p).await;
    // Release 2: a new column (expand) and the old one dropped (contract).
    p.migrations(&[
        ("0002_add_email.sql", ADD_EMAIL),
        ("0003_drop_name.sql", DROP_NAME),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (pre_at, pre_go) = (dir.path().join("pre-at"), dir.path().join("pre-go"));
    let (post_at, post_go) = (dir.path().join("post-at"), dir.path().join("post-go"));
    let out = dir.path().join("stdout");
    let mut child = p
        .cmd(&[
            "blue-green",
            &image(2),
            "--replicas",
            "2",
            "--json",
            "--scale-down-delay",
            "1s",
            "--pre-check",
            &format!("schema={}", rendezvous(&pre_at, &pre_go)),
            "--post-check",
            &format!("after={}", rendezvous(&post_at, &post_go)),
        ])
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("the pipeline starts");
    // Before the switch: expanded, not contracted, v1 serves and its pods run.
    until_file(&pre_at, &mut child).await;
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    assert_eq!(p.ns.selected(APP).await.as_deref(), Some("t0"));
    let v1 = |pods: &[(String, String, bool)]| pods.iter().filter(|x| x.1 == image(1)).count();
    assert_eq!(v1(&p.pods().await), 2);
    std::fs::write(&pre_go, "").expect("go");
    // After the switch: v2 serves, v1's pods still run: still not contracted.
    until_file(&post_at, &mut child).await;
    assert_eq!(p.ns.selected(APP).await.as_deref(), Some("t1"));
    assert_eq!(v1(&p.pods().await), 2);
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    std::fs::write(&post_go, "").expect("go");
    let output = child.wait_with_output().expect("the pipeline ends");
    let r = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).expect("stdout"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    r.expect(0);
    // Contracted, and no pod of v1 is left.
    assert_eq!(p.columns().await, ["id", "email"]);
    let pods = p.pods().await;
    assert_eq!(v1(&pods), 0, "{pods:?}");
    assert!(pods.iter().all(|x| x.1 == image(2) && !x.2), "{pods:?}");
    // The steps in order, each with its outcome; the migrations each in
    // their step.
    let expand_done = position(&r, |e| e["step"] == "expand" && e["status"] == "done");
    let rollout_start = position(&r, |e| e["step"] == "rollout" && e["status"] == "started");
    let switch = position(&r, |e| {
        e["event"] == "action" && e["action"]["set_active"]["track"] == 1
    });
    let scale_down = position(&r, |e| {
        e["event"] == "action"
            && e["action"]["scale_track"]["track"] == 0
            && e["action"]["scale_track"]["replicas"] == 0
    });
    let rollout_done = position(&r, |e| e["step"] == "rollout" && e["status"] == "done");
    let proof = position(&r, |e| e["event"] == "proof");
    let contract_done = position(&r, |e| e["step"] == "contract" && e["status"] == "done");
    assert!(
        expand_done < rollout_start
            && rollout_start < switch
            && switch < scale_down
            && scale_down < rollout_done
            && rollout_done < proof
            && proof < contract_done,
        "{}",
        r.stdout
    );
    let migrations: Vec<(usize, Value)> = r
        .events()
        .into_iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "migration")
        .map(|(i, e)| (i, e["version"].clone()))
        .collect();
    assert_eq!(migrations.len(), 2, "{}", r.stdout);
    assert!(migrations[0].0 < expand_done && migrations[0].1 == 2);
    assert!(migrations[1].0 > proof && migrations[1].1 == 3);
    let done = &r.events()[contract_done];
    assert_eq!(done["applied"], serde_json::json!(["3 drop_name"]));
    // The proof names what was seen: v1's ReplicaSet at 0 with no pod,
    // the Service on ready pods of v2.
    let evidence = done["evidence"].as_str().expect("evidence");
    assert!(
        evidence.contains(&format!(
            "Service {APP} selects 2 ready pod(s) of {}",
            image(2)
        )) && evidence.contains(&format!(
            "ReplicaSet(s) {APP}-t0 of the other version(s) at 0 replicas with no pod left"
        )),
        "{evidence}"
    );
    assert!(
        done["old_version"]
            .as_str()
            .is_some_and(|v| v.contains(&image(1))),
        "{done}"
    );
    let last = r.events().last().cloned().expect("lines");
    assert_eq!(
        (&last["event"], &last["contracted"]),
        (&"done".into(), &true.into())
    );
    // Every line carries the time since the pipeline's start.
    elapsed_never_goes_back(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_rollout_keeps_the_expand_migrations_and_never_contracts() {
    let Some(p) = Pipeline::new("fail").await else {
        return;
    };
    release_1(&p).await;
    p.migrations(&[
        ("0002_add_email.sql", ADD_EMAIL),
        ("0003_drop_name.sql", DROP_NAME),
    ]);
    let r = p.run(&[
        "blue-green",
        &image(2),
        "--replicas",
        "2",
        "--json",
        "--post-check",
        "errors=echo error rate 7% >&2; exit 1",
        "--abort-scale-down-delay",
        "0s",
    ]);
    r.expect(1);
    // Traffic back on v1, the expand migration in place, no contract.
    assert_eq!(p.ns.selected(APP).await.as_deref(), Some("t0"));
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    assert!(steps(&r, "contract").is_empty(), "{}", r.stdout);
    assert!(r.of("proof").is_empty());
    let failed = steps(&r, "rollout");
    let failed = failed.last().expect("a rollout line");
    assert_eq!(failed["status"], "failed");
    let reason = failed["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("errors"),
        "the failed check is named: {reason}\n{}",
        r.stdout
    );
    // One error line: why, what stays, what did not run.
    let error = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(
        error.contains(&format!("the rollout of {} failed", image(2)))
            && error.contains(reason)
            && error.contains("the expand migrations stay applied (2 add_email)")
            && error.contains("backward compatible")
            && error.contains("the contract step did not run"),
        "{error}"
    );
    // The old version still works on the expanded schema: the contract
    // alone is refused too (v1's pods serve).
    let r = p.run(&["contract", &image(2)]);
    r.expect(1);
    assert!(r.stderr.contains("contract refused"), "{}", r.stderr);
    assert_eq!(p.columns().await, ["id", "name", "email"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_alone_is_refused_while_old_pods_run_and_runs_once_they_are_gone() {
    let Some(p) = Pipeline::new("alone").await else {
        return;
    };
    release_1(&p).await;
    p.migrations(&[
        ("0002_add_email.sql", ADD_EMAIL),
        ("0003_drop_name.sql", DROP_NAME),
    ]);
    // Contract before expand: refused up front, naming the migration.
    let r = p.run(&["contract", &image(1)]);
    r.expect(1);
    assert!(
        r.stderr.contains(
            "migration 2 add_email (expand) is pending before the contract migration 3 drop_name"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(p.columns().await, ["id", "name"]);
    // The expand step alone.
    let r = p.run(&["expand"]);
    r.expect(0);
    assert!(r.stdout.contains("applied 2 add_email"), "{}", r.stdout);
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    // v2 takes the traffic; v1 stays up for an instant rollback.
    p.ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--scale-down-delay",
            "2s",
            "--exit-when-switched",
        ],
    )
    .expect(0);
    assert_eq!(p.ns.selected(APP).await.as_deref(), Some("t1"));
    // `status` says what the next steps would do, and changes nothing.
    let r = p.run(&["status", &image(2), "--json"]);
    r.expect(0);
    let status = r.of("status").pop().expect("a status line");
    assert_eq!(status["expand_pending"], serde_json::json!([]));
    assert_eq!(
        status["contract_pending"],
        serde_json::json!(["3 drop_name"])
    );
    assert_eq!(status["contract_allowed"], false);
    assert!(
        status["contract_reason"]
            .as_str()
            .is_some_and(|w| w.starts_with("2 pod(s) of another version still run")),
        "{status}"
    );
    let text = p.run(&["status", &image(2)]);
    text.expect(0);
    assert!(
        text.stdout.contains("contract pending: 3 drop_name")
            && text
                .stdout
                .contains(&format!("contract for {}: refused now (", image(2))),
        "{}",
        text.stdout
    );
    let r = p.run(&["contract", &image(2)]);
    r.expect(1);
    let error = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(
        error.contains("contract refused: the old version still runs")
            && error.contains("2 pod(s) of another version still run")
            && error.contains(&format!("of ReplicaSet {APP}-t0"))
            && error.contains(&format!(
                "ReplicaSet {APP}-t0 ({}) has 2 pod(s), asks for 2",
                image(1)
            ))
            && error.contains(&format!("run `deploy_pipeline contract {}`", image(2))),
        "{error}"
    );
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    // The contract for v1 is refused as well: v2's pods run.
    p.run(&["contract", &image(1)]).expect(1);
    // One v1 pod will linger while terminating (a finalizer holds it, as
    // a slow shutdown would).
    let held = p
        .pods()
        .await
        .into_iter()
        .find(|x| x.1 == image(1))
        .expect("a v1 pod")
        .0;
    let hold = Hold::new(p.ns.api(), &held).await;
    // The next command of the driver scales v1 down once its delay passed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    p.ns.run(
        "blue_green",
        APP,
        &[
            "deploy",
            &image(2),
            "--replicas",
            "2",
            "--scale-down-delay",
            "2s",
        ],
    )
    .expect(0);
    assert_eq!(p.ns.replica_sets(APP).await[&format!("{APP}-t0")].0, 0);
    // v1's ReplicaSet asks for nothing, but its held pod still runs,
    // terminating, once the ReplicaSet controller has deleted v1's pods.
    let start = Instant::now();
    loop {
        let v1: Vec<_> = p
            .pods()
            .await
            .into_iter()
            .filter(|x| x.1 == image(1))
            .collect();
        if v1.len() == 1 && v1[0].0 == held && v1[0].2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{v1:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = p.run(&["contract", &image(2)]);
    r.expect(1);
    assert!(
        r.stderr.contains(&format!(
            "{held} ({}, of ReplicaSet {APP}-t0, terminating)",
            image(1)
        )),
        "{}",
        r.stderr
    );
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    // With --wait, the contract step waits for it (on watches) and runs
    // once it is gone.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("stdout");
    let child = p
        .cmd(&["contract", &image(2), "--wait", "60s", "--json"])
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("the contract starts");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    let released = Instant::now();
    hold.release().await;
    let output = child.wait_with_output().expect("the contract ends");
    let ended = released.elapsed();
    let r = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).expect("stdout"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    r.expect(0);
    assert!(
        ended < Duration::from_secs(10),
        "the contract ended {ended:?} after the pod went"
    );
    assert!(
        r.of("waiting").iter().any(|w| w["waiting_for"]
            .as_str()
            .is_some_and(|t| t.contains("terminating"))),
        "{}",
        r.stdout
    );
    assert_eq!(p.columns().await, ["id", "email"]);
    let done = steps(&r, "contract");
    let done = done.last().expect("a contract line");
    assert_eq!(done["applied"], serde_json::json!(["3 drop_name"]));
    assert!(p.pods().await.iter().all(|x| x.1 == image(2)));
    let r = p.run(&["status", &image(2), "--json"]);
    let status = r.of("status").pop().expect("a status line");
    assert_eq!(status["contract_pending"], serde_json::json!([]));
    assert_eq!(status["contract_allowed"], true);
    // Run again: nothing pending.
    let r = p.run(&["contract", &image(2), "--json"]);
    r.expect(0);
    assert_eq!(steps(&r, "contract")[0]["status"], "nothing_pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_exits_2_and_a_held_app_exits_1_before_any_migration_runs() {
    let Some(p) = Pipeline::new("bad").await else {
        return;
    };
    p.migrations(&[("0001_users.sql", USERS)]);
    // No app: nothing was made by `blue_green init`.
    let r = p.run(&["blue-green", &image(1)]);
    r.expect(2);
    assert!(r.stderr.contains("blue_green init"), "{}", r.stderr);
    // An image without digest.
    let r = p.run(&["blue-green", "registry.example/app:latest"]);
    r.expect(2);
    // No database URL.
    let r = Run::from(
        p.ns.cmd("deploy_pipeline", APP)
            .arg("--migrations")
            .arg(p.dir.path())
            .env_remove("DATABASE_URL")
            .arg("expand")
            .output()
            .expect("runs"),
    );
    r.expect(2);
    assert!(r.stderr.contains("DATABASE_URL"), "{}", r.stderr);
    // A migrations directory that does not exist.
    let missing: PathBuf = p.dir.path().join("nope");
    let r = Run::from(
        p.ns.cmd("deploy_pipeline", APP)
            .arg("--migrations")
            .arg(&missing)
            .args(["--database-url", &p.url, "expand"])
            .output()
            .expect("runs"),
    );
    r.expect(2);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    // Another driver holds the app: exit 1 naming it, before any migration.
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{APP}-rollout")},
        "spec": {"holderIdentity": "ci-job-7", "leaseDurationSeconds": 120,
            "acquireTime": now, "renewTime": now}
    }))
    .expect("lease");
    p.ns.api::<Lease>()
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the Lease");
    let r = p.run(&["rolling", &image(1)]);
    r.expect(1);
    assert!(
        r.stderr
            .contains("another driver, \"ci-job-7\", is acting on app shop")
            && r.stderr.contains("no migration ran"),
        "{}",
        r.stderr
    );
    // Nothing ran.
    assert!(p.columns().await.is_empty());
    // The program is the example, not something else on PATH.
    assert!(binary("deploy_pipeline").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn expand_a_rolling_update_then_contract() {
    let Some(p) = Pipeline::new("rolling").await else {
        return;
    };
    p.migrations(&[("0001_users.sql", USERS)]);
    let r = p.run(&["rolling", &image(1), "--replicas", "2", "--json"]);
    r.expect(0);
    assert_eq!(p.columns().await, ["id", "name"]);
    p.migrations(&[
        ("0002_add_email.sql", ADD_EMAIL),
        ("0003_drop_name.sql", DROP_NAME),
    ]);
    let r = p.run(&[
        "rolling",
        &image(2),
        "--replicas",
        "2",
        "--max-surge",
        "1",
        "--max-unavailable",
        "0",
        "--json",
    ]);
    r.expect(0);
    assert_eq!(p.columns().await, ["id", "email"]);
    let expand_done = position(&r, |e| e["step"] == "expand" && e["status"] == "done");
    let apply = position(&r, |e| {
        e["event"] == "action" && e["action"] == "apply_deployment"
    });
    let rollout_done = position(&r, |e| e["step"] == "rollout" && e["status"] == "done");
    let contract_done = position(&r, |e| e["step"] == "contract" && e["status"] == "done");
    assert!(
        expand_done < apply && apply < rollout_done && rollout_done < contract_done,
        "{}",
        r.stdout
    );
    elapsed_never_goes_back(&r);
    let done = &r.events()[contract_done];
    assert_eq!(done["applied"], serde_json::json!(["3 drop_name"]));
    assert!(
        done["old_version"]
            .as_str()
            .is_some_and(|v| v.contains(&image(1))),
        "{done}"
    );
    // Both revisions' ReplicaSets are kept for undo; v1's has no pod.
    let sets = p.ns.replica_sets(APP).await;
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(p.pods().await.iter().all(|x| x.1 == image(2)));
}

/// With the `lint` feature (CI builds with it), an expand migration the
/// old version cannot survive stops the pipeline before anything runs.
#[cfg(feature = "lint")]
#[tokio::test(flavor = "multi_thread")]
async fn the_linter_stops_a_destructive_expand_migration_before_anything_runs() {
    let Some(p) = Pipeline::new("lint").await else {
        return;
    };
    release_1(&p).await;
    let before = p.ns.versions(APP).await;
    p.migrations(&[(
        "0002_drop_name_too_early.sql",
        "-- engine-ops: phase expand\nALTER TABLE users DROP COLUMN name;\n",
    )]);
    let r = p.run(&["blue-green", &image(2), "--replicas", "2"]);
    r.expect(2);
    assert!(
        r.stderr.contains(
            "the linter refuses migration 2 drop_name_too_early (expand) line 2: drop-object"
        ) && r.stderr.contains("drop it in a contract migration"),
        "{}",
        r.stderr
    );
    assert_eq!(p.columns().await, ["id", "name"]);
    assert_eq!(p.ns.versions(APP).await, before, "the cluster is unchanged");
    // `--lint off` is the operator's explicit choice.
    let r = p.run(&["expand", "--lint", "off"]);
    r.expect(0);
    assert_eq!(p.columns().await, ["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_update_past_its_progress_deadline_keeps_expand_and_never_contracts() {
    let Some(p) = Pipeline::new("deadline").await else {
        return;
    };
    p.migrations(&[("0001_users.sql", USERS)]);
    p.run(&["rolling", &image(1), "--replicas", "2"]).expect(0);
    p.migrations(&[
        ("0002_add_email.sql", ADD_EMAIL),
        ("0003_drop_name.sql", DROP_NAME),
    ]);
    // v2's pods ask for more CPU than any node has: never scheduled.
    let r = p.run(&[
        "rolling",
        &image(2),
        "--replicas",
        "2",
        "--max-unavailable",
        "0",
        "--cpu-request",
        "1000",
        "--progress-deadline",
        "5s",
        "--json",
    ]);
    r.expect(1);
    let failed = steps(&r, "rollout");
    let failed = failed.last().expect("a rollout line");
    assert_eq!(failed["status"], "failed", "{}", r.stdout);
    let reason = failed["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("the progress deadline passed: ")
            && reason.contains("has timed out progressing"),
        "{reason}"
    );
    assert!(steps(&r, "contract").is_empty(), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("the expand migrations stay applied (2 add_email)")
            && r.stderr.contains("the contract step did not run"),
        "{}",
        r.stderr
    );
    assert_eq!(p.columns().await, ["id", "name", "email"]);
    // v1 still serves: its pods run.
    let v1 = p
        .pods()
        .await
        .iter()
        .filter(|x| x.1 == image(1) && !x.2)
        .count();
    assert_eq!(v1, 2);
}
