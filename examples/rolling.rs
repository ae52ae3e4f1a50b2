//! Rolling updates on a real cluster through the native Deployment: applied
//! with server-side apply, followed on a watch with a progress line per
//! ReplicaSet change (and the rollout planner's reason for it), judged by
//! `kubectl rollout status`'s rule, with the progress deadline's action.
//!
//! ```sh
//! eval "$(tools/k8s-testenv/up)"
//! kubectl create namespace shop
//! r() { cargo run -q -p engine-ops-examples --example rolling -- -n shop --app web "$@"; }
//! r deploy registry.example/web@sha256:<v1> --replicas 4
//! r deploy registry.example/web@sha256:<v2> --replicas 4 --max-surge 1 --max-unavailable 0
//! r status                    # --watch: redrawn until the rollout ends
//! r history                   # the revisions kept
//! r undo                      # back to the previous revision
//! r undo --to-revision 1 --dry-run   # the planner's plan of it, nothing changed
//! r undo --to-revision 1
//! r pause; r resume
//! r render registry.example/web@sha256:<v3>   # the YAML, no cluster needed
//! ```
//!
//! Exit codes: 0 done (or paused), 1 the rollout failed (its progress
//! deadline passed: the last line says what the new pods wait for; with
//! `--on-deadline undo` after rolling back) or another driver holds the
//! app, 2 bad usage or configuration (one line, nothing changed), 130
//! interrupted (the Deployment controller carries on; the same command
//! follows it again).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine_ops_examples::cluster_driver::cli::{AppArgs, ClusterArgs};
use engine_ops_examples::cluster_driver::exit::{CliResult, Exit, finish};
use engine_ops_examples::cluster_driver::rolling::{self, RollingArgs};
use engine_ops_examples::cluster_driver::{dry_run_commands, render, rolling_status, usage};

#[derive(Debug, Parser)]
#[command(
    name = "rolling",
    about = "Rolling updates through a native Deployment on a Kubernetes cluster",
    after_help = "Exit codes: 0 done, 1 failed, 2 bad usage or configuration (nothing changed), 130 interrupted (the same command resumes)."
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
    /// Apply the app for IMAGE and follow the Deployment's rollout.
    Deploy {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        strategy: RollingArgs,
    },
    /// Roll back as `kubectl rollout undo` does, and follow it.
    Undo {
        /// The revision to go back to (default: the previous one).
        #[arg(long)]
        to_revision: Option<u64>,
    },
    /// Pause the Deployment's rollout.
    Pause,
    /// Resume it.
    Resume,
    /// The rollout by kubectl's rule and the revisions kept.
    Status {
        /// Redraw on every change until the rollout in progress ends (exit
        /// 0, or 1 when it failed), Ctrl-C or `--timeout`.
        #[arg(long, short = 'w')]
        watch: bool,
    },
    /// The Deployment's revisions kept, with their images and change
    /// causes.
    History,
    /// Print the app's objects as YAML (`--json`: one object per line),
    /// without contacting the cluster.
    Render {
        /// The image, pinned by digest (`repo@sha256:<64 hex>`).
        image: String,
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        strategy: RollingArgs,
    },
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
    let c = &cli.cluster;
    match cli.command {
        Cmd::Deploy {
            image,
            app,
            strategy,
        } => {
            if c.dry_run {
                return dry_run_commands::rolling_deploy(c, &app, &strategy, &image).await;
            }
            rolling::deploy(c, &app, &strategy, &image).await
        }
        Cmd::Undo { to_revision } if c.dry_run => {
            dry_run_commands::rolling_undo(c, to_revision).await
        }
        Cmd::Undo { to_revision } => rolling::undo(c, to_revision).await,
        Cmd::Pause => rolling::pause(c, true).await,
        Cmd::Resume => rolling::pause(c, false).await,
        Cmd::Status { watch } => rolling_status::status(c, watch).await,
        Cmd::History => rolling_status::history(c).await,
        Cmd::Render {
            image,
            app,
            strategy,
        } => render::render_rolling(c, &app, &strategy, &image),
    }
}
