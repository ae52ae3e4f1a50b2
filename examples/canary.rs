//! Canary deployments without a traffic router on a real cluster, driven by
//! the rollout planner: the Service selects every track of the app, so the
//! canary's share of the pods is its share of the traffic.
//!
//! ```sh
//! eval "$(tools/k8s-testenv/up)"
//! kubectl create namespace shop
//! c() { cargo run -q -p engine-ops-examples --example canary -- -n shop --app web "$@"; }
//! c init   registry.example/web@sha256:<v1>
//! c deploy registry.example/web@sha256:<v1>                 # first deployment
//! c deploy registry.example/web@sha256:<v2> --replicas 4 \
//!     --step weight:25 --step pause:1m --step analysis:errors=./error-rate-below-1% \
//!     --step weight:50 --step pause
//! c promote --check errors=./error-rate-below-1%            # past the indefinite pause
//! c status
//! ```
//!
//! Steps: `weight:N` (N % of the pods run the new revision, Argo Rollouts'
//! basic-canary arithmetic, never above replicas + maxSurge nor below
//! replicas − maxUnavailable available pods), `pause:DURATION`, `pause`
//! (until `promote`), `analysis:NAME[=COMMAND]` (a failure aborts: the
//! stable revision takes every pod back). After the last step the canary
//! becomes the stable revision. Exit codes: 0 done (or at a gate), 1
//! failed or aborted, 2 bad usage or configuration.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use engine_ops_examples::cluster_driver::cli::{
    AppArgs, CheckArgs, ClusterArgs, parse_check, parse_duration,
};
use engine_ops_examples::cluster_driver::commands::{self, DeployRequest, DriveOptions, Kind};
use engine_ops_examples::cluster_driver::exit::{CliResult, Exit, finish};
use engine_ops_examples::cluster_driver::rolling::parse_budget;
use engine_ops_examples::cluster_driver::strategy_args::{OnDeadline, check_spec};
use engine_ops_examples::cluster_driver::{dry_run_commands, init, render, status, usage};
use engine_ops_rollout::spec::{CanaryStep, CanaryStrategy, IntOrPercent};
use engine_ops_rollout::{Command, Strategy};

#[derive(Debug, Parser)]
#[command(
    name = "canary",
    about = "Replica-weighted canary deployments on a Kubernetes cluster, driven by the rollout planner",
    after_help = "Exit codes: 0 done, 1 failed or aborted, 2 bad usage or configuration (nothing changed), 130 interrupted (the same command resumes)."
)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create or update the app's objects (ServiceAccount, PodTemplate, a
    /// Service selecting every track); no pod runs yet.
    Init {
        /// The image, pinned by digest.
        image: String,
        #[command(flatten)]
        app: AppArgs,
    },
    /// Roll out IMAGE through the canary steps.
    Deploy {
        /// The image, pinned by digest.
        image: String,
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        strategy: CanaryArgs,
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Pass the pause or inconclusive analysis the canary waits at.
    Promote {
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Abort: the stable revision takes every pod back.
    Abort {
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// The tracks, the phase and what the canary waits for.
    Status {
        /// Redraw on every change until the rollout in progress ends (exit
        /// 0, or 1 when it failed), Ctrl-C or `--timeout`.
        #[arg(long, short = 'w')]
        watch: bool,
    },
    /// Every change of the stable revision recorded, with its time and
    /// reason.
    History,
    /// Print the app's objects as YAML (`--json`: one object per line),
    /// without contacting the cluster.
    Render {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
    },
}

#[derive(Debug, clap::Args)]
struct CanaryArgs {
    /// A step (repeatable, in order): `weight:N`, `pause:DURATION`,
    /// `pause`, `analysis:NAME[=COMMAND]`.
    #[arg(long, value_name = "STEP", value_parser = parse_step)]
    step: Vec<StepArg>,
    /// A check run for the whole canary; a failure aborts.
    #[arg(long, value_name = "NAME[=COMMAND]", value_parser = parse_check)]
    analysis: Option<(String, Option<String>)>,
    /// Pods above the desired count while the canary runs.
    #[arg(long, default_value = "25%", value_parser = parse_budget)]
    max_surge: (u32, bool),
    /// Pods allowed to be unavailable while the canary runs.
    #[arg(long, default_value = "0", value_parser = parse_budget)]
    max_unavailable: (u32, bool),
    /// A check without a verdict this long fails.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    check_timeout: Option<Duration>,
    /// What happens at the progress deadline.
    #[arg(long, value_enum, default_value = "abort")]
    on_deadline: OnDeadline,
}

#[derive(Debug, Clone)]
enum StepArg {
    Weight(u32),
    Pause(Option<Duration>),
    Analysis(String, Option<String>),
}

fn parse_step(s: &str) -> Result<StepArg, String> {
    let bad = || {
        format!(
            "{s:?} is not a step; write weight:N, pause, pause:DURATION or analysis:NAME[=COMMAND]"
        )
    };
    match s.split_once(':') {
        None if s == "pause" => Ok(StepArg::Pause(None)),
        Some(("weight", n)) => n.parse().map(StepArg::Weight).map_err(|_| bad()),
        Some(("pause", d)) => parse_duration(d).map(|d| StepArg::Pause(Some(d))),
        Some(("analysis", rest)) => {
            let (name, def) = parse_check(rest)?;
            Ok(StepArg::Analysis(name, def))
        }
        _ => Err(bad()),
    }
}

fn budget((n, pct): (u32, bool)) -> IntOrPercent {
    if pct {
        IntOrPercent::Percent(n)
    } else {
        IntOrPercent::Count(n)
    }
}

impl CanaryArgs {
    fn strategy(&self, checks: &mut CheckArgs) -> Strategy {
        let spec = |name: &str| check_spec(name, self.check_timeout);
        let steps: Vec<StepArg> = if self.step.is_empty() {
            vec![
                StepArg::Weight(25),
                StepArg::Pause(Some(Duration::from_secs(30))),
                StepArg::Weight(50),
                StepArg::Pause(Some(Duration::from_secs(30))),
            ]
        } else {
            self.step.clone()
        };
        let steps = steps.into_iter().map(|s| match s {
            StepArg::Weight(w) => CanaryStep::SetWeight(w),
            StepArg::Pause(d) => CanaryStep::Pause(d),
            StepArg::Analysis(name, def) => {
                checks.checks.extend(def.map(|d| (name.clone(), d)));
                CanaryStep::Analysis(spec(&name))
            }
        });
        let mut c = CanaryStrategy::new(steps.collect::<Vec<_>>())
            .budget(budget(self.max_surge), budget(self.max_unavailable));
        if let Some((name, def)) = &self.analysis {
            c = c.analysis(spec(name));
            checks.checks.extend(def.clone().map(|d| (name.clone(), d)));
        }
        Strategy::Canary(c)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = match usage::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    usage::listen();
    let json = cli.cluster.json;
    finish(run(cli).await, json)
}

async fn run(cli: Cli) -> CliResult<Exit> {
    let kind = Kind::Canary;
    let c = &cli.cluster;
    match cli.command {
        Cmd::Init { image, app } => init::init(kind, c, &app, &image).await,
        Cmd::Deploy {
            image,
            app,
            strategy,
            mut checks,
        } => {
            let s = strategy.strategy(&mut checks);
            let request = DeployRequest {
                image,
                strategy: s,
                on_deadline: strategy.on_deadline.action(),
                options: DriveOptions::default(),
            };
            if c.dry_run {
                return dry_run_commands::deploy(kind, c, &app, &checks, &request).await;
            }
            commands::deploy(kind, c, &app, &checks, request).await
        }
        Cmd::Promote { .. } if c.dry_run => {
            dry_run_commands::command(kind, c, Some(Command::Promote)).await
        }
        Cmd::Abort { .. } if c.dry_run => {
            dry_run_commands::command(kind, c, Some(Command::Abort)).await
        }
        Cmd::Promote { checks } => commands::command(kind, c, &checks, Command::Promote).await,
        Cmd::Abort { checks } => commands::command(kind, c, &checks, Command::Abort).await,
        Cmd::Status { watch } => status::status(kind, c, watch).await,
        Cmd::History => status::history(kind, c).await,
        Cmd::Render { image, app } => render::render_tracks(kind, c, &app, &image),
    }
}
