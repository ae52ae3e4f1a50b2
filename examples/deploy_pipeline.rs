//! Expand / contract around a deploy: the expand migrations of
//! `engine-ops-migrate` on PostgreSQL, then a blue-green (or rolling)
//! rollout through the shared cluster driver, then the contract migrations,
//! only once the cluster shows that no pod of the previous version is left.
//!
//! ```sh
//! eval "$(tools/pg-testenv/up)"            # PostgreSQL: ENGINE_OPS_TEST_DATABASE_URL
//! eval "$(tools/k8s-testenv/up)"           # the control plane: KUBECONFIG
//! export DATABASE_URL=$ENGINE_OPS_TEST_DATABASE_URL
//! kubectl create namespace shop
//! v1=registry.example/web@sha256:$(printf '1%.0s' {1..64})
//! v2=registry.example/web@sha256:$(printf '2%.0s' {1..64})
//! v3=registry.example/web@sha256:$(printf '3%.0s' {1..64})
//! bg() { cargo run -q -p engine-ops-examples --example blue_green -- -n shop --app web "$@"; }
//! p()  { cargo run -q -p engine-ops-examples --example deploy_pipeline -- -n shop --app web "$@"; }
//! mkdir -p migrations
//! printf 'CREATE TABLE users (id bigint PRIMARY KEY, name text);\n' > migrations/0001_users.sql
//! bg init $v1                    # the app's objects (PodTemplate, Services), no pod yet
//! p blue-green $v1               # expand (0001), v1 live, nothing to contract
//! printf -- '-- engine-ops: phase expand\nALTER TABLE users ADD COLUMN email text;\n' > migrations/0002_add_email.sql
//! printf -- '-- engine-ops: phase contract\nALTER TABLE users DROP COLUMN name;\n' > migrations/0003_drop_name.sql
//! p blue-green $v2 --scale-down-delay 5s --post-check errors='exit 0'
//! #   expand (0002) -> v2 beside v1, switch, v1 scaled to 0 -> no v1 pod left -> contract (0003)
//!
//! # The steps alone (around a manual gate, or to contract later):
//! p expand
//! bg deploy $v3 --manual-promotion; bg promote
//! p status $v3                   # pending migrations; could the contract run now?
//! p contract $v3 --wait 2m       # refused (exit 1) while a pod of another image runs
//!
//! # Around a rolling update of another app (a native Deployment; no init):
//! cargo run -q -p engine-ops-examples --example deploy_pipeline -- -n shop --app api \
//!     rolling $v2 --max-surge 1 --max-unavailable 0
//! ```
//!
//! Commands: `blue-green IMAGE` and `rolling IMAGE` run the three steps
//! (the rollout with the options of `rolling deploy`, and those of
//! `blue_green deploy` that end in a finished rollout: no manual gate);
//! `expand` and `contract IMAGE` run one step each; `status IMAGE` shows
//! the pending expand and contract migrations and whether the contract
//! could run now (on what proof, or why not), changing nothing. Migrations
//! come from `--migrations DIR` (default `./migrations`; the files of the
//! `migrate` example, `-- engine-ops: phase expand|contract` marks the
//! phase, a migration without one is an expand migration), the database
//! from `--database-url URL`, else `$DATABASE_URL`.
//!
//! The contract step runs only when the cluster shows that the old version
//! is gone: the app's own container (the one named after the app, as the
//! manifests render it; a sidecar does not count) runs IMAGE in every pod
//! of the app (a terminating pod of another image still counts), no
//! ReplicaSet of the app asks for a pod of another image, and the app's
//! Service selects at least one ready pod of IMAGE.
//! It holds the app's Lease meanwhile (the one the rollout drivers take),
//! so no `rollback` or `deploy` of the app acts between that observation
//! and the migrations; what was seen is the proof it hands to the migrator
//! (printed, and in the `contract` JSON line). After a rollout, the
//! pipeline waits (on watches, within `--timeout`) for the old pods to
//! terminate; `contract IMAGE` alone checks once (or waits `--wait`) and
//! refuses while any old pod runs. Once contracted, rolling back to the
//! old image would run it on a schema it does not know: roll forward.
//!
//! Built with the `lint` feature (`--features lint`; CI builds with it),
//! the pipeline first runs `engine-ops-migrate`'s linter on the pending
//! migrations and refuses (exit 2, before anything runs or rolls out) one
//! with an error in its phase — a dropped or renamed column, a NOT NULL
//! column without default, a lock-heavy statement — printing the safe
//! alternative; `--lint off` skips it.
//!
//! A failed rollout (a failing check, the progress deadline) leaves the
//! expand migrations applied, which is safe: they are backward compatible,
//! the old version keeps running on them. The contract step does not run;
//! the next pipeline run (or `contract IMAGE` once a rollout succeeded)
//! picks it up.
//!
//! Every step prints a line with its outcome, its reason and the time
//! since the pipeline started (`--json`: one JSON object per line; the
//! rollout's own lines count from the rollout's start). Exit codes: 0 done,
//! 1 a step failed or the contract was refused (the line says why and what
//! stays applied), 2 bad usage or configuration, found before anything was
//! changed (a missing app or namespace, an unreadable migrations directory,
//! no database URL, an unreachable database or API server).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use engine_ops_examples::cluster_driver::app;
use engine_ops_examples::cluster_driver::cli::{AppArgs, CheckArgs, ClusterArgs, parse_duration};
use engine_ops_examples::cluster_driver::commands::{
    self, DeployRequest, DriveOptions, Kind, app_name,
};
use engine_ops_examples::cluster_driver::connect::{Connection, connect};
use engine_ops_examples::cluster_driver::exit::{CliError, CliResult, Exit, finish};
use engine_ops_examples::cluster_driver::observe::observation;
use engine_ops_examples::cluster_driver::old_version::{app_container, judge, observe};
use engine_ops_examples::cluster_driver::progress::Progress;
use engine_ops_examples::cluster_driver::rolling::{self, RollingArgs};
use engine_ops_examples::cluster_driver::state::DriverState;
use engine_ops_examples::cluster_driver::strategy_args::BlueGreenOptions;
use engine_ops_examples::cluster_driver::tracks::{Outcome, now, terminal};
use engine_ops_k8s::cluster::{Anchor, AppOps, RolloutVerdict};
use engine_ops_k8s::manifest::labels::INSTANCE;
use engine_ops_k8s::manifest::{
    self, BlueGreen, IntOrPercent, Object, PREVIEW_SUFFIX, Rolling, Track,
};
use engine_ops_migrate::{
    AnyStore, ConnectOptions, Migrator, OldVersionGone, Phase, RunReport, SqlMigration,
    StateStore as _,
};
use engine_ops_rollout::observation::CheckStatus;
use engine_ops_rollout::plan;
use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "deploy_pipeline",
    about = "Expand migrations, a rollout, then contract migrations once the old version is gone",
    after_help = "Exit codes: 0 done, 1 a step failed or the contract was refused, 2 bad usage or configuration."
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Args)]
struct DbArgs {
    /// The migrations directory (the `migrate` example's files).
    #[arg(long, global = true, value_name = "DIR", default_value = "migrations")]
    migrations: PathBuf,
    /// The PostgreSQL database (`postgres://user:pw@host/db`, TLS from
    /// `?sslmode=`). Default: $DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// How long to wait for another migrator's lock.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    migration_lock_timeout: Duration,
    /// The SQL linter on the migrations a run would apply: `deny` refuses
    /// (exit 2, before anything runs or rolls out) one with an error in
    /// its phase, such as a dropped column in an expand migration; `off`
    /// runs them unchecked.
    #[cfg(feature = "lint")]
    #[arg(long, global = true, value_enum, default_value = "deny")]
    lint: LintArg,
}

/// `--lint`.
#[cfg(feature = "lint")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LintArg {
    /// Refuse a migration with an error finding.
    Deny,
    /// No linting.
    Off,
}

// Parsed once: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Expand, a blue-green rollout of IMAGE (the app made by `blue_green
    /// init`), then contract once no pod of another version is left.
    BlueGreen {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        strategy: BlueGreenOptions,
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Expand, a rolling update to IMAGE (a native Deployment), then
    /// contract once no pod of another version is left.
    Rolling {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        strategy: RollingArgs,
    },
    /// Only the expand migrations (and those without a phase), up to the
    /// first contract one.
    Expand,
    /// Only the contract migrations, once every pod of the app runs IMAGE;
    /// refused (exit 1) while a pod of another version runs.
    Contract {
        /// The image the contract is for: the version that must be the
        /// only one running.
        image: String,
        /// Wait this long for the old pods to go before refusing.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
        wait: Duration,
    },
    /// What the next steps would do for IMAGE: the pending expand and
    /// contract migrations, and whether the contract could run now (and
    /// on what proof) or why not. Changes nothing.
    Status {
        /// The image the contract would be for.
        image: String,
    },
}

/// The rollout step of a pipeline.
enum Rollout {
    BlueGreen {
        app: AppArgs,
        request: DeployRequest,
        checks: CheckArgs,
    },
    Rolling {
        app: AppArgs,
        strategy: RollingArgs,
    },
}

impl Rollout {
    fn name(&self) -> &'static str {
        match self {
            Self::BlueGreen { .. } => "blue-green",
            Self::Rolling { .. } => "rolling",
        }
    }
}

// --- the database ------------------------------------------------------------

/// The migrations and where they go, read and checked before anything
/// is changed.
struct Database {
    url: String,
    migrations: Vec<SqlMigration>,
    lock_timeout: Duration,
    /// Refuse migrations with lint errors.
    lint: bool,
}

impl Database {
    /// Reads `--migrations` and the URL.
    ///
    /// Exit 2 for a directory that breaks the rules or no URL.
    fn from_args(db: &DbArgs) -> CliResult<Self> {
        let migrations = engine_ops_migrate::load_dir(&db.migrations).map_err(|e| {
            CliError::usage(anyhow::anyhow!(
                "the migrations directory {}: {e}; fix it or pass --migrations DIR",
                db.migrations.display()
            ))
        })?;
        let url = db
            .database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                CliError::usage(anyhow::anyhow!(
                    "no database given; pass --database-url postgres://... or set DATABASE_URL"
                ))
            })?;
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(CliError::usage(anyhow::anyhow!(
                "the database URL must be a PostgreSQL one (postgres://user:pw@host/db); the deploy pipeline runs on PostgreSQL"
            )));
        }
        Ok(Self {
            url,
            migrations,
            lock_timeout: db.migration_lock_timeout,
            #[cfg(feature = "lint")]
            lint: db.lint == LintArg::Deny,
            #[cfg(not(feature = "lint"))]
            lint: false,
        })
    }

    /// Connects and builds the migrator (progress lines per migration).
    ///
    /// Exit 2 when the database cannot be reached.
    async fn migrator(self, progress: &Progress) -> CliResult<Migrations> {
        let options = ConnectOptions::new()
            .lock_timeout(self.lock_timeout)
            .application_name("engine-ops deploy_pipeline");
        let store = engine_ops_migrate::connect_with(&self.url, &options)
            .await
            .map_err(|e| {
                CliError::usage(anyhow::anyhow!(
                    "cannot open the database: {e}; check --database-url / DATABASE_URL"
                ))
            })?;
        let p = progress.clone();
        let builder = Migrator::builder(store)
            .migrations(self.migrations)
            .require_contract_proof(true)
            .observer(move |event: &engine_ops_migrate::Progress| migration_line(&p, event));
        #[cfg(feature = "lint")]
        let builder = builder.lint_policy(if self.lint {
            engine_ops_migrate::lint::LintPolicy::Deny
        } else {
            engine_ops_migrate::lint::LintPolicy::Off
        });
        let migrator = builder
            .build()
            .map_err(|e| CliError::usage(anyhow::anyhow!("the migrations: {e}")))?;
        Ok(Migrations {
            migrator,
            lint: self.lint,
        })
    }
}

/// The migrator and how it is run.
struct Migrations {
    migrator: Migrator<AnyStore>,
    /// Refuse migrations with lint errors (feature `lint`).
    lint: bool,
}

impl Migrations {
    /// With the linter on: refuses (exit 2) when a pending migration of
    /// the next expand and contract steps has an error in its phase, before
    /// either runs, so that a rollout never starts on migrations the old
    /// version cannot survive or that a contract step would refuse.
    async fn lint_gate(&mut self) -> CliResult<()> {
        if !self.lint {
            return Ok(());
        }
        #[cfg(feature = "lint")]
        {
            let plan = self.migrator.plan(None).await.map_err(|e| {
                CliError::failed(anyhow::anyhow!("cannot read the migration history: {e}"))
            })?;
            let report = self.migrator.lint();
            let mut errors = Vec::new();
            for m in &plan.pending {
                let Some(lint) = report.migration(m.version) else {
                    continue;
                };
                for f in lint
                    .findings
                    .iter()
                    .filter(|f| f.severity == engine_ops_migrate::lint::Severity::Error)
                {
                    errors.push(format!(
                        "migration {} {} ({}) line {}: {} ({}); instead: {}",
                        m.version,
                        m.name,
                        match m.phase {
                            Some(Phase::Contract) => "contract",
                            _ => "expand",
                        },
                        f.line,
                        f.rule,
                        f.message,
                        f.alternative
                    ));
                }
            }
            if !errors.is_empty() {
                return Err(CliError::usage(anyhow::anyhow!(
                    "the linter refuses {}; nothing ran (fix the migration, or silence the rule with an allow comment that gives a reason, or pass --lint off)",
                    errors.join("; ")
                )));
            }
        }
        Ok(())
    }
}

/// One line per migration applied or failed.
fn migration_line(progress: &Progress, event: &engine_ops_migrate::Progress) {
    match event {
        engine_ops_migrate::Progress::Finished {
            version,
            name,
            duration,
            ..
        } => progress.line(
            "migration",
            &format!(
                "  applied {version} {name} in {:.1} ms",
                duration.as_secs_f64() * 1e3
            ),
            json!({"version": version, "name": name, "status": "applied",
                "duration_ms": duration.as_secs_f64() * 1e3}),
        ),
        engine_ops_migrate::Progress::Failed {
            version,
            name,
            error,
            ..
        } => progress.line(
            "migration",
            &format!("  FAILED {version} {name}: {error}"),
            json!({"version": version, "name": name, "status": "failed", "error": error.to_string()}),
        ),
        engine_ops_migrate::Progress::LockTimeout {
            version,
            name,
            attempt,
            ..
        } => progress.line(
            "migration",
            &format!("  locked {version} {name}: {attempt}"),
            json!({"version": version, "name": name, "status": "lock_timeout",
                "attempt": attempt.to_string()}),
        ),
        _ => {}
    }
}

fn applied(report: &RunReport) -> Vec<String> {
    report
        .applied
        .iter()
        .map(|s| format!("{} {}", s.version, s.name))
        .collect()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Pending contract migrations (version and name), in order.
async fn pending_contract(migrator: &mut Migrator<AnyStore>) -> CliResult<Vec<String>> {
    let plan = migrator
        .plan(None)
        .await
        .map_err(|e| CliError::failed(anyhow::anyhow!("cannot read the migration history: {e}")))?;
    let first = plan
        .pending
        .iter()
        .position(|m| m.phase == Some(Phase::Contract));
    if let (Some(i), Some(expand)) = (first, plan.pending.first())
        && i > 0
    {
        return Err(CliError::failed(anyhow::anyhow!(
            "migration {} {} ({}) is pending before the contract migration {} {}: the contract step runs only once the expand migrations before it are applied; run `deploy_pipeline expand` (or the whole pipeline) first",
            expand.version,
            expand.name,
            if expand.phase == Some(Phase::Expand) {
                "expand"
            } else {
                "no phase: expand"
            },
            plan.pending[i].version,
            plan.pending[i].name
        )));
    }
    Ok(plan
        .pending
        .iter()
        .take_while(|m| m.phase == Some(Phase::Contract))
        .map(|m| format!("{} {}", m.version, m.name))
        .collect())
}

/// The expand step.
async fn expand(
    migrator: &mut Migrator<AnyStore>,
    progress: &Progress,
    step: &str,
) -> CliResult<RunReport> {
    let started = progress.elapsed_ms();
    progress.line(
        "step",
        &format!("{step} expand: the migrations the running version survives"),
        json!({"step": "expand", "status": "started"}),
    );
    let report = migrator.run_expand().await.map_err(|e| {
        CliError::failed(anyhow::anyhow!(
            "expand failed: {e}; the rollout did not start"
        ))
    })?;
    let done = applied(&report);
    progress.line(
        "step",
        &format!(
            "{step} expand done in {:.2}s: applied {}; {} migration(s) left for later (contract)",
            (progress.elapsed_ms() - started) as f64 / 1e3,
            list(&done),
            report.still_pending
        ),
        json!({"step": "expand", "status": "done", "applied": done,
            "still_pending": report.still_pending, "took_ms": progress.elapsed_ms() - started}),
    );
    Ok(report)
}

/// Observes until the old version is gone or `deadline`; woken by watches
/// of the app's pods and ReplicaSets. Returns the proof, or the last
/// reason it was not gone.
async fn wait_gone(
    conn: &Connection,
    app: &str,
    image: &str,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> CliResult<Result<OldVersionGone, String>> {
    let config = watcher::Config::default().labels(&format!("{INSTANCE}={app}"));
    let pods = watcher(
        Api::<Pod>::namespaced(conn.client.clone(), &conn.namespace),
        config.clone(),
    )
    .default_backoff()
    .map(|e| e.is_ok());
    let sets = watcher(
        Api::<ReplicaSet>::namespaced(conn.client.clone(), &conn.namespace),
        config,
    )
    .default_backoff()
    .map(|e| e.is_ok());
    let mut events = futures::stream::select(pods, sets).boxed();
    let container = app_container(app, image)?;
    let mut last = String::new();
    loop {
        let seen = observe(&conn.client, &conn.namespace, app, &container).await?;
        let why = match judge(&seen, image) {
            Ok(proof) => return Ok(Ok(proof)),
            Err(why) => why,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(Err(why));
        }
        if why != last {
            progress.line(
                "waiting",
                &format!("  waiting for the old version to go: {why}"),
                json!({"step": "contract", "waiting_for": why}),
            );
            last = why;
        }
        match tokio::time::timeout(left, events.next()).await {
            // The time is up: one last look.
            Err(_) => continue,
            // The watches never end; should they, look again each second.
            Ok(None) => tokio::time::sleep(left.min(Duration::from_secs(1))).await,
            Ok(Some(_)) => {}
        }
        // Several events usually come at once: observe once for them all.
        while let Some(Some(_)) = events.next().now_or_never() {}
    }
}

fn app_ops(conn: &Connection, app: &str) -> CliResult<AppOps> {
    AppOps::new(conn.client.clone(), &conn.namespace, app).map_err(CliError::before_acting)
}

/// The contract step: takes the app's Lease, waits (until `deadline`) for
/// the old version to go, runs the contract migrations with what was seen
/// as the proof, releases the Lease.
#[allow(clippy::too_many_arguments)]
async fn contract(
    migrator: &mut Migrator<AnyStore>,
    args: &ClusterArgs,
    conn: &Connection,
    app: &str,
    image: &str,
    deadline: tokio::time::Instant,
    progress: &Progress,
    step: &str,
    after_rollout: bool,
) -> CliResult<Contracted> {
    let started = progress.elapsed_ms();
    let pending = pending_contract(migrator).await?;
    if pending.is_empty() {
        progress.line(
            "step",
            &format!("{step} contract: no contract migration is pending; nothing to do"),
            json!({"step": "contract", "status": "nothing_pending"}),
        );
        return Ok(Contracted::NothingPending);
    }
    progress.line(
        "step",
        &format!(
            "{step} contract: {} once no pod of another version than {image} runs",
            list(&pending)
        ),
        json!({"step": "contract", "status": "started", "pending": pending}),
    );
    let ops = app_ops(conn, app)?;
    let holder = args.holder();
    let lease = commands::lease(&ops, args, &holder, progress).await?;
    let seen = wait_gone(conn, app, image, deadline, progress).await;
    let proof = match seen {
        Ok(Ok(proof)) => proof,
        Ok(Err(why)) => {
            let _ = lease.release().await;
            let expand = if after_rollout {
                "the expand migrations stay applied (the old version runs on them); "
            } else {
                ""
            };
            return Err(CliError::failed(anyhow::anyhow!(
                "contract refused: the old version still runs ({why}); {expand}nothing was contracted; run `deploy_pipeline contract {image}` once its pods are gone"
            )));
        }
        Err(e) => {
            let _ = lease.release().await;
            return Err(e);
        }
    };
    progress.line(
        "proof",
        &format!("  {proof}"),
        json!({"step": "contract", "old_version": proof.old_version(), "evidence": proof.evidence()}),
    );
    // Still the only driver of the app: nothing can have brought the old
    // version back since the observation.
    if let Err(e) = lease.check() {
        return Err(CliError::failed(anyhow::anyhow!(
            "contract not run: {e}; run `deploy_pipeline contract {image}` again"
        )));
    }
    let result = migrator.run_contract(proof.clone()).await;
    let released = lease.release().await;
    let report = result.map_err(|e| {
        CliError::failed(anyhow::anyhow!(
            "contract failed: {e}; fix it, then run `deploy_pipeline contract {image}`"
        ))
    })?;
    if let Err(e) = released {
        progress.line(
            "note",
            &format!("  note: the Lease was not released ({e}); it expires by itself"),
            json!({"note": e.to_string()}),
        );
    }
    let done = applied(&report);
    progress.line(
        "step",
        &format!(
            "{step} contract done in {:.2}s: applied {}; {} migration(s) still pending",
            (progress.elapsed_ms() - started) as f64 / 1e3,
            list(&done),
            report.still_pending
        ),
        json!({"step": "contract", "status": "done", "applied": done,
            "still_pending": report.still_pending, "old_version": proof.old_version(),
            "evidence": proof.evidence(), "took_ms": progress.elapsed_ms() - started}),
    );
    Ok(Contracted::Applied)
}

/// What the contract step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contracted {
    /// No contract migration was pending.
    NothingPending,
    /// The pending contract migrations ran.
    Applied,
}

// --- the rollout ------------------------------------------------------------

fn to_manifest((n, pct): (u32, bool)) -> IntOrPercent {
    if pct {
        IntOrPercent::Percent(n)
    } else {
        IntOrPercent::Count(n)
    }
}

/// The objects the rollout applies first, from the options alone.
///
/// Exit 2 naming the bad option.
fn objects(rollout: &Rollout, app: &str, namespace: &str, image: &str) -> CliResult<Vec<Object>> {
    let bad = |e: manifest::Error| CliError::usage(anyhow::anyhow!("{e}"));
    match rollout {
        Rollout::BlueGreen {
            app: args, request, ..
        } => {
            commands::spec(image, args, request.strategy.clone(), request.on_deadline)?;
            let set = BlueGreen::new(Track::Blue)
                .render(&app::build(app, namespace, image, args)?)
                .map_err(bad)?;
            let mut v = vec![Object::ServiceAccount(set.service_account)];
            v.extend(set.config_map.map(Object::ConfigMap));
            v.push(Object::PodTemplate(set.pod_template));
            Ok(v)
        }
        Rollout::Rolling {
            app: args,
            strategy,
        } => {
            let set = Rolling::new()
                .max_surge(to_manifest(strategy.max_surge))
                .max_unavailable(to_manifest(strategy.max_unavailable))
                .revision_history_limit(strategy.revision_history_limit)
                .min_ready_seconds(args.min_ready_seconds)
                .progress_deadline_seconds(
                    u32::try_from(args.progress_deadline.as_secs()).unwrap_or(u32::MAX),
                )
                .render(&app::build(app, namespace, image, args)?)
                .map_err(bad)?;
            Ok(set.objects())
        }
    }
}

/// Refuses bad input before the expand step changes anything: the
/// namespace, the app (blue-green: made by `blue_green init`), the objects
/// (a server-side dry run). Reads only.
async fn preflight(rollout: &Rollout, conn: &Connection, app: &str, image: &str) -> CliResult<()> {
    let objects = objects(rollout, app, &conn.namespace, image)?;
    let ops = app_ops(conn, app)?;
    match rollout {
        Rollout::BlueGreen { .. } => {
            let preview = format!("{app}{PREVIEW_SUFFIX}");
            ops.preflight(&[app, &preview]).await.map_err(|e| {
                CliError::usage(anyhow::anyhow!(
                    "{e}; a blue-green app is made by `blue_green init IMAGE` first (or fix --app / --namespace)"
                ))
            })?;
        }
        Rollout::Rolling { .. } => {
            let ns: Api<Namespace> = Api::all(conn.client.clone());
            if let Ok(None) = ns.get_opt(&conn.namespace).await {
                return Err(CliError::usage(anyhow::anyhow!(
                    "namespace {} not found; create it first, or fix --namespace",
                    conn.namespace
                )));
            }
        }
    }
    for o in &objects {
        app::apply(&conn.client, &conn.namespace, o, true)
            .await
            .map_err(|e| CliError::usage(app::refused(o, &e)))?;
    }
    Ok(())
}

/// Another driver acting on the app would make the rollout fail after
/// the expand step: find out before it (taking the Lease and handing it
/// back at once: the first write of the pipeline).
async fn lease_probe(args: &ClusterArgs, conn: &Connection, app: &str) -> CliResult<()> {
    let ops = app_ops(conn, app)?;
    let params = engine_ops_k8s::cluster::LeaseParams::new(args.holder())
        .wait(args.wait_for_lease)
        .duration(args.lease_duration);
    match ops.acquire_lease(&params).await {
        Ok(l) => l
            .release()
            .await
            .map_err(|e| CliError::failed(anyhow::anyhow!("{e}"))),
        Err(engine_ops_k8s::cluster::Error::LeaseHeld { holder, .. }) => {
            Err(CliError::failed(anyhow::anyhow!(
                "another driver, {holder:?}, is acting on app {app}; nothing was changed (no migration ran); wait for it, or pass --wait-for-lease DURATION"
            )))
        }
        Err(e) => Err(CliError::before_acting(e)),
    }
}

/// Why the rollout failed, as the planner (blue-green) or the Deployment
/// (rolling) says now.
async fn failure_reason(rollout: &Rollout, conn: &Connection, app: &str) -> Option<String> {
    let ops = app_ops(conn, app).ok()?;
    match rollout {
        Rollout::BlueGreen { .. } => {
            let snapshot = ops.snapshot().await.ok()?;
            let state: DriverState = snapshot.state.as_ref()?.value().ok()??;
            let services = Kind::BlueGreen.services(app);
            let obs = observation(&snapshot, &services, now(), state.checks.clone(), &[]);
            let decision = plan(&state.spec, &state.planner, &obs).ok()?;
            // The checks that failed are the cause; the planner's message
            // says where the rollout stands.
            let mut why: Vec<String> = state
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Failed)
                .map(|c| {
                    format!(
                        "check `{}` failed on revision {}",
                        c.run.name, c.run.revision
                    )
                })
                .collect();
            if let Some(Outcome::Degraded(m)) = terminal(&decision)
                && !m.is_empty()
            {
                why.push(m);
            }
            (!why.is_empty()).then(|| why.join("; "))
        }
        Rollout::Rolling { .. } => {
            let r = ops
                .anchor(Anchor::deployment())
                .deployment_rollout(None, None)
                .await
                .ok()?;
            match r.verdict {
                RolloutVerdict::Failed(m) => Some(format!("the progress deadline passed: {m}")),
                RolloutVerdict::Waiting(m) => Some(m),
                _ => None,
            }
        }
    }
}

/// `blue-green IMAGE` / `rolling IMAGE`: expand, roll out, contract.
async fn pipeline(
    cluster: &ClusterArgs,
    db: &DbArgs,
    image: &str,
    rollout: Rollout,
) -> CliResult<Exit> {
    let progress = Progress::new(cluster.json);
    let deadline = tokio::time::Instant::now() + cluster.timeout;
    let app = app_name(cluster)?;
    let database = Database::from_args(db)?;
    objects(&rollout, &app, "default", image)?;
    let conn = connect(cluster).await?;
    preflight(&rollout, &conn, &app, image).await?;
    let mut migrations = database.migrator(&progress).await?;
    migrations.lint_gate().await?;
    lease_probe(cluster, &conn, &app).await?;
    let migrator = &mut migrations.migrator;
    progress.line(
        "start",
        &format!(
            "deploy pipeline of app {app} in {} to {image}: expand, {} rollout, contract",
            conn.namespace,
            rollout.name()
        ),
        json!({"app": app, "namespace": conn.namespace, "image": image, "strategy": rollout.name()}),
    );
    let expanded = applied(&expand(migrator, &progress, "[1/3]").await?);
    let expand_note = if expanded.is_empty() {
        "no expand migration was applied by this run".to_owned()
    } else {
        format!(
            "the expand migrations stay applied ({}): they are backward compatible, the old version runs on them",
            expanded.join(", ")
        )
    };
    let started = progress.elapsed_ms();
    progress.line(
        "step",
        &format!("[2/3] rollout: {} to {image}", rollout.name()),
        json!({"step": "rollout", "status": "started", "strategy": rollout.name()}),
    );
    // The rollout gets what is left of --timeout, and its lines count
    // from the pipeline's start as every other line does.
    let mut args = cluster.clone();
    args.timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
    args.started = Some(progress.start());
    let result = match &rollout {
        Rollout::BlueGreen {
            app: app_args,
            request,
            checks,
        } => commands::deploy(Kind::BlueGreen, &args, app_args, checks, request.clone()).await,
        Rollout::Rolling {
            app: app_args,
            strategy,
        } => rolling::deploy(&args, app_args, strategy, image).await,
    };
    let took = (progress.elapsed_ms() - started) as f64 / 1e3;
    match result {
        Ok(Exit::Done) => {
            progress.line(
                "step",
                &format!("[2/3] rollout done in {took:.2}s: {image} is live"),
                json!({"step": "rollout", "status": "done", "took_ms": progress.elapsed_ms() - started}),
            );
        }
        Ok(_) => {
            let why = failure_reason(&rollout, &conn, &app)
                .await
                .unwrap_or_else(|| "see the rollout's lines above".to_owned());
            progress.line(
                "step",
                &format!("[2/3] rollout FAILED in {took:.2}s: {why}"),
                json!({"step": "rollout", "status": "failed", "reason": why,
                    "took_ms": progress.elapsed_ms() - started}),
            );
            return Err(CliError::failed(anyhow::anyhow!(
                "the rollout of {image} failed ({why}); {expand_note}; the contract step did not run"
            )));
        }
        Err(e) => {
            progress.line(
                "step",
                &format!("[2/3] rollout FAILED in {took:.2}s: {e}"),
                json!({"step": "rollout", "status": "failed", "reason": e.to_string(),
                    "took_ms": progress.elapsed_ms() - started}),
            );
            // Exit 2 promises that nothing changed: the expand step did.
            return Err(CliError::failed(anyhow::anyhow!(
                "the rollout of {image} did not complete ({e}); {expand_note}; the contract step did not run"
            )));
        }
    }
    let contracted = contract(
        migrator, cluster, &conn, &app, image, deadline, &progress, "[3/3]", true,
    )
    .await?;
    let text = match contracted {
        Contracted::Applied => format!("done: {image} is live and the schema is contracted"),
        Contracted::NothingPending => {
            format!("done: {image} is live; no contract migration was pending")
        }
    };
    progress.line(
        "done",
        &text,
        json!({"exit": 0, "image": image, "contracted": contracted == Contracted::Applied}),
    );
    Ok(Exit::Done)
}

/// `expand`.
async fn expand_only(cluster: &ClusterArgs, db: &DbArgs) -> CliResult<Exit> {
    let progress = Progress::new(cluster.json);
    let mut migrations = Database::from_args(db)?.migrator(&progress).await?;
    migrations.lint_gate().await?;
    expand(&mut migrations.migrator, &progress, "[1/1]").await?;
    Ok(Exit::Done)
}

/// `contract IMAGE`.
/// The checks `contract` and `status` share: the image, the namespace,
/// the app. Exit 2 when one fails (reads only).
async fn app_for_image(
    cluster: &ClusterArgs,
    db: &DbArgs,
    image: &str,
) -> CliResult<(String, Database, Connection)> {
    let app = app_name(cluster)?;
    // The image must be one a rollout can deploy (pinned by digest).
    let container = app_container(&app, image)?;
    let database = Database::from_args(db)?;
    let conn = connect(cluster).await?;
    app_ops(&conn, &app)?;
    let ns: Api<Namespace> = Api::all(conn.client.clone());
    if let Ok(None) = ns.get_opt(&conn.namespace).await {
        return Err(CliError::usage(anyhow::anyhow!(
            "namespace {} not found; fix --namespace",
            conn.namespace
        )));
    }
    let seen = observe(&conn.client, &conn.namespace, &app, &container).await?;
    if seen.service.is_none() && seen.sets.is_empty() && seen.pods.is_empty() {
        return Err(CliError::usage(anyhow::anyhow!(
            "app {app} not found in namespace {} (no Service, ReplicaSet or pod of it); fix --app / --namespace",
            conn.namespace
        )));
    }
    Ok((app, database, conn))
}

/// `contract IMAGE`.
async fn contract_only(
    cluster: &ClusterArgs,
    db: &DbArgs,
    image: &str,
    wait: Duration,
) -> CliResult<Exit> {
    let progress = Progress::new(cluster.json);
    let (app, database, conn) = app_for_image(cluster, db, image).await?;
    let mut migrations = database.migrator(&progress).await?;
    migrations.lint_gate().await?;
    let deadline = tokio::time::Instant::now() + wait.min(cluster.timeout);
    contract(
        &mut migrations.migrator,
        cluster,
        &conn,
        &app,
        image,
        deadline,
        &progress,
        "[1/1]",
        false,
    )
    .await?;
    Ok(Exit::Done)
}

/// `status IMAGE`: reads only (no Lease, no migration).
async fn status(cluster: &ClusterArgs, db: &DbArgs, image: &str) -> CliResult<Exit> {
    let progress = Progress::new(cluster.json);
    let (app, database, conn) = app_for_image(cluster, db, image).await?;
    let mut migrations = database.migrator(&progress).await?;
    let plan =
        migrations.migrator.plan(None).await.map_err(|e| {
            CliError::failed(anyhow::anyhow!("cannot read the migration history: {e}"))
        })?;
    let named = |m: &engine_ops_migrate::MigrationRef| format!("{} {}", m.version, m.name);
    let expand: Vec<String> = plan
        .pending
        .iter()
        .take_while(|m| m.phase != Some(Phase::Contract))
        .map(named)
        .collect();
    let contract: Vec<String> = plan
        .pending
        .iter()
        .skip(expand.len())
        .take_while(|m| m.phase == Some(Phase::Contract))
        .map(named)
        .collect();
    let problems: Vec<String> = plan.problems().iter().map(ToString::to_string).collect();
    let seen = observe(
        &conn.client,
        &conn.namespace,
        &app,
        &app_container(&app, image)?,
    )
    .await?;
    let verdict = judge(&seen, image);
    let (can, why) = match &verdict {
        Ok(proof) => (true, proof.to_string()),
        Err(why) => (false, why.clone()),
    };
    progress.line(
        "status",
        &format!(
            "app {app} in {}, database {}:\n  expand pending: {}\n  contract pending: {}\n  contract for {image}: {}{}",
            conn.namespace,
            migrations.migrator.store().describe(),
            list(&expand),
            list(&contract),
            if can {
                format!("would run now ({why})")
            } else {
                format!("refused now ({why})")
            },
            if problems.is_empty() {
                String::new()
            } else {
                format!("\n  problems: {}", problems.join("; "))
            }
        ),
        json!({"app": app, "namespace": conn.namespace, "image": image,
            "expand_pending": expand, "contract_pending": contract,
            "contract_allowed": can, "contract_reason": why, "problems": problems}),
    );
    Ok(Exit::Done)
}

#[tokio::main]
async fn main() -> ExitCode {
    // clap exits 2 on bad usage (an unknown command or option).
    let cli = Cli::parse();
    let c = &cli.cluster;
    let result = match cli.command {
        Cmd::BlueGreen {
            image,
            app,
            strategy,
            mut checks,
        } => {
            // No manual gate: the pipeline ends in a finished rollout.
            let s = strategy.strategy(false, &mut checks);
            let request = DeployRequest {
                image: image.clone(),
                strategy: s,
                on_deadline: strategy.on_deadline.action(),
                options: DriveOptions::default(),
            };
            let rollout = Rollout::BlueGreen {
                app,
                request,
                checks,
            };
            pipeline(c, &cli.db, &image, rollout).await
        }
        Cmd::Rolling {
            image,
            app,
            strategy,
        } => pipeline(c, &cli.db, &image, Rollout::Rolling { app, strategy }).await,
        Cmd::Expand => expand_only(c, &cli.db).await,
        Cmd::Contract { image, wait } => contract_only(c, &cli.db, &image, wait).await,
        Cmd::Status { image } => status(c, &cli.db, &image).await,
    };
    finish(result, cli.cluster.json)
}
