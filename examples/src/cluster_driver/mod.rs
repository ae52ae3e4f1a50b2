//! The driver the cluster examples share (`blue_green`, `canary`,
//! `rolling`): the rollout planner (`engine-ops-rollout`) carried out on a
//! real cluster through `engine-ops-k8s`'s cluster operations. The two
//! library crates never meet anywhere else.
//!
//! # Track-based rollouts (blue-green, canary)
//!
//! Each planner track is a ReplicaSet `<app>-t<id>` made from the app's
//! PodTemplate (which also holds the rollout state), the active Service
//! `<app>` and, for blue-green, the preview Service `<app>-preview` are
//! pointed at tracks in one request each. One loop ([`tracks::Session::drive`]):
//!
//! 1. observe the app from its watches' cache ([`observe::observation`]);
//! 2. `plan(spec, state, observation)`;
//! 3. persist the decision's state (JSON annotation, compare-and-swap on the
//!    anchor) **before** acting ([`state::DriverState`]);
//! 4. carry out the actions in order, a progress line each (with the
//!    planner's reason and the time since the command started), and wait
//!    until the watches show what was written;
//! 5. otherwise sleep until a watch event, a finished check, the
//!    planner's requeue time or a lost Lease;
//!
//! until the rollout is Healthy (exit 0), at a gate (exit 0) or Degraded
//! (exit 1). One driver acts at a time: the app's Lease is taken before
//! anything is written, and a second driver reports the holder and exits 1
//! (or waits, with `--wait-for-lease`). Bad input (a missing namespace,
//! app or Service, a template the API server refuses, no rights) is found
//! before the Lease by reads and server-side dry runs, and exits 2 with
//! nothing changed.
//!
//! Because the state is saved before the actions and the planner is
//! level-triggered, a driver killed at any point resumes when run again
//! with the same `--holder` (it takes its own Lease back at once):
//! actions lost in the crash are planned again.
//!
//! # Rolling
//!
//! [`rolling`]: the native Deployment controller executes the update; the
//! driver applies the Deployment, follows it and takes the progress
//! deadline's action, with the planner explaining each step.
//!
//! # Checks
//!
//! [`checks`]: pre- and post-promotion checks and canary analyses are
//! shell commands or HTTP GETs given on the command line (`--check
//! NAME=...`), never read from the cluster.
//!
//! # Modules
//!
//! [`cli`] (shared options), [`usage`] (parsing, interruption),
//! [`connect`], [`exit`] (exit codes), [`app`] (the app's objects),
//! [`render`], [`init`], [`commands`] (the track-based commands), [`conclude`], [`tracks`] (the
//! loop), [`observe`], [`state`], [`checks`], [`hooks`] (the crash-test
//! hook), [`progress`], [`screen`], [`status`] (track-based `status`,
//! `status --watch`, `history`), [`strategy_args`] (strategy options), [`rolling`], [`deployment`], [`rolling_status`],
//! [`dry_run`] and [`dry_run_commands`] (`--dry-run`), [`old_version`] (whether
//! the old version is gone: the contract's proof for `deploy_pipeline`).
//!
//! # Interruption
//!
//! SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job) stops a driving command
//! between two requests: the Lease is released, the state saved before the
//! last actions stays, and the command exits 130 saying where the rollout
//! stands; the same command run again resumes it.

pub mod app;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod conclude;
pub mod connect;
pub mod deployment;
pub mod dry_run;
pub mod dry_run_commands;
pub mod exit;
pub mod hooks;
pub mod init;
pub mod observe;
pub mod old_version;
pub mod progress;
pub mod render;
pub mod rolling;
pub mod rolling_status;
pub mod screen;
pub mod state;
pub mod status;
pub mod strategy_args;
pub mod tracks;
pub mod usage;
