//! Blue-green deployments on a real cluster, driven by the rollout planner.
//!
//! ```sh
//! eval "$(tools/k8s-testenv/up)"          # or any cluster in KUBECONFIG
//! kubectl create namespace shop
//! bg() { cargo run -q -p engine-ops-examples --example blue_green -- -n shop --app web "$@"; }
//! bg init  registry.example/web@sha256:<64 hex>      # the app's objects, no pod yet
//! bg deploy registry.example/web@sha256:<v1>          # first deployment: v1 live
//! bg deploy registry.example/web@sha256:<v2> \
//!     --pre-check smoke='curl -fsS http://$ENGINE_OPS_SERVICE.$ENGINE_OPS_NAMESPACE/ready' \
//!     --post-check errors='./error-rate-below 1%' --scale-down-delay 5m
//! bg status                      # one screen; --watch: redrawn until the rollout ends
//! bg rollback --check smoke=... --check errors=...   # back to v1, from the switch history
//! bg history                     # every switch: time, revisions, image, reason
//! bg render registry.example/web@sha256:<v2>          # the YAML, no cluster needed
//! bg deploy registry.example/web@sha256:<v3> --dry-run  # the planner's plan, nothing changed
//! ```
//!
//! `deploy` brings the new colour (a ReplicaSet `<app>-t<id>`) up beside
//! the live one, points the preview Service `<app>-preview` at it, runs the
//! pre-promotion checks, promotes (automatically, after `--promote-after`,
//! or on `promote` with `--manual-promotion`), switches the active Service
//! `<app>` in one request once the new colour is fully available, runs the
//! post-promotion checks (a failure switches traffic back in one request),
//! and scales the old colour to zero after `--scale-down-delay`. Every
//! action prints a line with its reason and the time since the command
//! started (`--json`: one JSON object per line).
//!
//! Exit codes: 0 done (or stopped at a manual gate), 1 the rollout failed
//! or was aborted (or another driver holds the app), 2 bad usage or
//! configuration (one line, nothing changed), 130 interrupted (Ctrl-C or
//! SIGTERM: stopped between two requests, the Lease released). Interrupted
//! or killed at any point, the same command run again (a killed one with
//! the same `--holder`) resumes where the rollout stood.
//!
//! See `engine_ops_examples::cluster_driver` for how it works.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine_ops_examples::cluster_driver::cli::{AppArgs, CheckArgs, ClusterArgs};
use engine_ops_examples::cluster_driver::commands::{self, DeployRequest, DriveOptions, Kind};
use engine_ops_examples::cluster_driver::exit::{CliResult, Exit, finish};
use engine_ops_examples::cluster_driver::strategy_args::BlueGreenOptions;
use engine_ops_examples::cluster_driver::{dry_run_commands, init, render, status, usage};
use engine_ops_rollout::Command;

#[derive(Debug, Parser)]
#[command(
    name = "blue_green",
    about = "Blue-green deployments on a Kubernetes cluster, driven by the rollout planner",
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
    /// Create or update the app's objects (ServiceAccount, PodTemplate,
    /// active and preview Services); no pod runs yet.
    Init {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
    },
    /// Roll out IMAGE as the next colour.
    Deploy {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        strategy: BlueGreenArgs,
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Pass the gate the rollout waits at (manual promotion, an
    /// inconclusive check) and drive it on.
    Promote {
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Abort the rollout in flight: traffic back on the stable colour.
    Abort {
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// Back to the revision live before the last switch (from the recorded
    /// switch history): at once while it still runs, else by an undo.
    Rollback {
        #[command(flatten)]
        checks: CheckArgs,
    },
    /// The tracks, the Services, the phase, what the rollout waits for and
    /// the last switches.
    Status {
        /// Redraw on every change until the rollout in progress ends (exit
        /// 0, or 1 when it failed), Ctrl-C or `--timeout`.
        #[arg(long, short = 'w')]
        watch: bool,
    },
    /// Every traffic switch recorded, with its time, revisions and reason.
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
struct BlueGreenArgs {
    #[command(flatten)]
    options: BlueGreenOptions,
    /// Stop at the promotion gate (exit 0); `promote` continues.
    #[arg(long, conflicts_with = "promote_after")]
    manual_promotion: bool,
    /// Exit 0 once traffic is on the new colour and its post-promotion
    /// checks passed, instead of waiting through the scale-down delay; the
    /// old colour stays up for `rollback`, and the next command scales it
    /// down once due.
    #[arg(long)]
    exit_when_switched: bool,
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
    let kind = Kind::BlueGreen;
    let c = &cli.cluster;
    match cli.command {
        Cmd::Init { image, app } => init::init(kind, c, &app, &image).await,
        Cmd::Deploy {
            image,
            app,
            strategy,
            mut checks,
        } => {
            let s = strategy
                .options
                .strategy(strategy.manual_promotion, &mut checks);
            let request = DeployRequest {
                image,
                strategy: s,
                on_deadline: strategy.options.on_deadline.action(),
                options: DriveOptions {
                    exit_when_switched: strategy.exit_when_switched,
                },
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
        Cmd::Rollback { .. } if c.dry_run => dry_run_commands::command(kind, c, None).await,
        Cmd::Promote { checks } => commands::command(kind, c, &checks, Command::Promote).await,
        Cmd::Abort { checks } => commands::command(kind, c, &checks, Command::Abort).await,
        Cmd::Rollback { checks } => commands::rollback(kind, c, &checks).await,
        Cmd::Status { watch } => status::status(kind, c, watch).await,
        Cmd::History => status::history(kind, c).await,
        Cmd::Render { image, app } => render::render_tracks(kind, c, &app, &image),
    }
}
