//! The rolling example's driver: a native Deployment, applied with
//! server-side apply; the Deployment controller carries out the rolling
//! update (the issue of replica arithmetic is its own), and the driver
//! follows it on a watch of the Deployment and its ReplicaSets, judging it
//! with `kubectl rollout status`'s rule, and takes the progress deadline's
//! action (report, or undo as `kubectl rollout undo` does).
//!
//! The planner runs beside it on every observation, as a port of the same
//! controller: its next step explains each ReplicaSet change the
//! controller makes ("why 3 → 2"), and its `explain` lines say what the
//! rollout waits for. The planner decides nothing here: the native
//! controller is the executor, so a rolling deploy has no state of its own
//! beyond the Deployment (a restarted driver applies the same Deployment
//! again, a no-op, and follows it on).

use std::collections::BTreeMap;

use engine_ops_k8s::cluster::{
    AppOps, DeploymentRollout, Error as ClusterError, LeaseGuard, RolloutVerdict,
};
use engine_ops_k8s::manifest::{self, Object, Rolling};
use engine_ops_rollout::observation::TrackObs;
use engine_ops_rollout::state::AdoptedTrack;
use engine_ops_rollout::{Action, RolloutState, TrackId, plan};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use super::app;
use super::cli::{AppArgs, ClusterArgs};
use super::commands::app_name;
use super::conclude::{release_after, report_requests};
use super::connect::connect;
use super::deployment::{
    REVISION, count, identity, ops_for, replica_sets, rolling_selector, spec_of,
};
use super::exit::{CliError, CliResult, Exit, OrExit as _};
use super::hooks::Hooks;
use super::progress::Progress;
use super::tracks::now;

/// What to do when the Deployment passes its progress deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnDeadline {
    /// Report it and exit 1; the Deployment keeps trying (the controller's
    /// own behaviour).
    Report,
    /// Roll back to the previous revision (`kubectl rollout undo`), wait
    /// for it, exit 1.
    Undo,
}

/// The rolling strategy's options.
#[derive(Debug, Clone, clap::Args)]
pub struct RollingArgs {
    /// Pods above the desired count during the update (a count or `N%`).
    #[arg(long, default_value = "25%", value_parser = parse_budget)]
    pub max_surge: (u32, bool),
    /// Pods allowed to be unavailable during the update (a count or `N%`).
    #[arg(long, default_value = "25%", value_parser = parse_budget)]
    pub max_unavailable: (u32, bool),
    /// Old revisions kept for undo.
    #[arg(long, default_value_t = 10)]
    pub revision_history_limit: u32,
    /// What happens at the progress deadline.
    #[arg(long, value_enum, default_value = "report")]
    pub on_deadline: OnDeadline,
}

/// Parses `3` or `25%` as `(value, is_percent)`.
///
/// # Errors
///
/// A message naming both forms.
pub fn parse_budget(s: &str) -> Result<(u32, bool), String> {
    let (n, pct) = match s.strip_suffix('%') {
        Some(n) => (n, true),
        None => (s, false),
    };
    n.parse::<u32>()
        .map(|n| (n, pct))
        .map_err(|_| format!("{s:?} is neither a count (3) nor a percentage (25%)"))
}

fn to_manifest((n, pct): (u32, bool)) -> manifest::IntOrPercent {
    if pct {
        manifest::IntOrPercent::Percent(n)
    } else {
        manifest::IntOrPercent::Count(n)
    }
}

async fn lease(ops: &AppOps, args: &ClusterArgs, progress: &Progress) -> CliResult<LeaseGuard> {
    super::commands::lease(ops, args, &args.holder(), progress).await
}

/// The Deployment's strategy of the options.
pub fn manifest_strategy(app_args: &AppArgs, rolling: &RollingArgs) -> Rolling {
    Rolling::new()
        .max_surge(to_manifest(rolling.max_surge))
        .max_unavailable(to_manifest(rolling.max_unavailable))
        .revision_history_limit(rolling.revision_history_limit)
        .min_ready_seconds(app_args.min_ready_seconds)
        .progress_deadline_seconds(
            u32::try_from(app_args.progress_deadline.as_secs()).unwrap_or(u32::MAX),
        )
}

/// `deploy IMAGE`: applies the app's objects (ServiceAccount, ConfigMap,
/// Service, Deployment; a server-side dry run of all first), then follows
/// the Deployment to completion (exit 0) or its progress deadline (exit
/// 1, after an undo with `--on-deadline undo`).
///
/// # Errors
///
/// Exit 2 for bad options, a missing namespace, an object the API server
/// refuses, no rights (nothing is changed); exit 1 when another driver
/// holds the app or on the timeout.
pub async fn deploy(
    args: &ClusterArgs,
    app_args: &AppArgs,
    rolling: &RollingArgs,
    image: &str,
) -> CliResult<Exit> {
    let progress = Progress::of(args);
    let hooks = Hooks::from_env().map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let name = app_name(args)?;
    let strategy = manifest_strategy(app_args, rolling);
    let check = app::build(&name, "default", image, app_args)?;
    strategy
        .render(&check)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
    let conn = connect(args).await?;
    let app = app::build(&name, &conn.namespace, image, app_args)?;
    let set = strategy
        .render(&app)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
    let objects = set.objects();
    for o in &objects {
        app::apply(&conn.client, &conn.namespace, o, true)
            .await
            .map_err(|e| CliError::usage(app::refused(o, &e)))?;
    }
    let ops = ops_for(&conn, &name, &args.holder())?;
    let _armed = super::usage::arm();
    let lease = lease(&ops, args, &progress).await?;
    // Every way out of what follows releases the Lease.
    let result = async {
        progress.line(
            "start",
            &format!(
                "rolling update of app {name} in {} to {image} ({} replicas)",
                conn.namespace, app_args.replicas
            ),
            json!({"app": name, "namespace": conn.namespace, "strategy": "rolling", "image": image,
                "replicas": app_args.replicas, "holder": args.holder()}),
        );
        for o in objects
            .iter()
            .filter(|o| !matches!(o, Object::Deployment(_)))
        {
            app::apply(&conn.client, &conn.namespace, o, false)
                .await
                .map_err(|e| CliError::failed(app::refused(o, &e)))?;
        }
        let before = replica_sets(&ops).await?;
        let applied = ops
            .apply_deployment(&set.deployment, false)
            .await
            .or_failed()?;
        progress.line(
            "action",
            &format!(
                "apply Deployment {name} (generation {}): the new template for the Deployment controller to roll out",
                applied.generation
            ),
            json!({"action": "apply_deployment", "generation": applied.generation}),
        );
        let mut hooks = hooks;
        hooks.at("after-apply").await;
        let deadline = tokio::time::Instant::now() + args.timeout;
        let end = Follow::new(&ops, &progress, &before)
            .until_done(applied.generation, deadline, &lease)
            .await?;
        let exit = deploy_end(end, rolling, &ops, &progress, &lease, deadline, image).await?;
        Ok::<_, CliError>(exit)
    }
    .await;
    let exit = release_after(lease, result).await?;
    report_requests(&conn, &progress);
    Ok(exit)
}

/// The end of a deploy: its `done` line, and the deadline's action (an
/// undo, followed to its end, with `--on-deadline undo`).
async fn deploy_end(
    end: End,
    rolling: &RollingArgs,
    ops: &AppOps,
    progress: &Progress,
    lease: &LeaseGuard,
    deadline: tokio::time::Instant,
    image: &str,
) -> CliResult<Exit> {
    let exit = match end {
        End::Complete(r) => {
            progress.line(
                "done",
                &format!(
                    "done: revision {} is rolled out ({image})",
                    revision_text(r.revision)
                ),
                json!({"exit": 0, "outcome": "healthy", "revision": r.revision}),
            );
            Exit::Done
        }
        End::Paused(m) => {
            progress.line(
                "done",
                &format!("paused: {m}; run `resume` to continue"),
                json!({"exit": 0, "outcome": "paused", "message": m}),
            );
            Exit::Done
        }
        End::Failed(m) if rolling.on_deadline == OnDeadline::Undo => {
            let m = with_pods(ops, m).await;
            progress.line(
                "deadline",
                &format!("progress deadline exceeded: {m}; undoing to the previous revision"),
                json!({"message": m, "action": "undo"}),
            );
            let before = replica_sets(ops).await?;
            let undo = ops.undo_deployment(None, None).await.or_failed()?;
            progress.line(
                "action",
                &format!("undo to revision {}: the progress deadline passed", undo.to),
                json!({"action": "undo_deployment", "to": undo.to, "skipped": undo.skipped}),
            );
            let again = Follow::new(ops, progress, &before)
                .until_done(undo.generation, deadline, lease)
                .await?;
            progress.line(
                "done",
                &format!(
                    "rollout of {image} failed ({m}); rolled back to revision {} ({})",
                    undo.to,
                    match again {
                        End::Complete(_) => "complete",
                        _ => "not complete",
                    }
                ),
                json!({"exit": 1, "outcome": "rolled_back", "message": m, "revision": undo.to}),
            );
            Exit::Failed
        }
        End::Failed(m) => {
            let m = with_pods(ops, m).await;
            progress.line(
                "done",
                &format!(
                    "rollout of {image} failed at its progress deadline: {m}; the Deployment keeps trying and the old pods keep serving: fix the cause and deploy again, or `undo` (or deploy with --on-deadline undo)"
                ),
                json!({"exit": 1, "outcome": "degraded", "message": m}),
            );
            Exit::Failed
        }
    };
    Ok(exit)
}

/// `message` with what the new revision's pods wait for, when it can be
/// read.
async fn with_pods(ops: &AppOps, message: String) -> String {
    match super::deployment::pods_not_ready(ops).await {
        Some(why) => format!("{message}; {why}"),
        None => message,
    }
}

fn revision_text(r: Option<u64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| r.to_string())
}

/// `undo [--to-revision N]`: rolls the Deployment back as `kubectl rollout
/// undo` does and follows it to completion.
///
/// # Errors
///
/// Exit 2 for a missing app, an unknown revision, a paused Deployment;
/// exit 1 when the rollback does not complete.
pub async fn undo(args: &ClusterArgs, to_revision: Option<u64>) -> CliResult<Exit> {
    let progress = Progress::of(args);
    let name = app_name(args)?;
    let conn = connect(args).await?;

    let ops = ops_for(&conn, &name, &args.holder())?;
    ops.deployment_rollout(None, None)
        .await
        .map_err(CliError::before_acting)?;
    let _armed = super::usage::arm();
    let lease = lease(&ops, args, &progress).await?;
    // Every way out of what follows releases the Lease.
    let result = async {
        let before = replica_sets(&ops).await?;
        let undo = ops
            .undo_deployment(None, to_revision)
            .await
            .map_err(|e| match e {
                e @ (ClusterError::RevisionNotFound { .. }
                | ClusterError::DeploymentPaused { .. }) => CliError::usage(e),
                other => CliError::failed(other),
            })?;
        if undo.skipped {
            return Ok((undo, None));
        }
        progress.line(
            "action",
            &format!(
                "undo from revision {} to revision {}",
                revision_text(undo.from),
                undo.to
            ),
            json!({"action": "undo_deployment", "from": undo.from, "to": undo.to}),
        );
        let deadline = tokio::time::Instant::now() + args.timeout;
        let end = Follow::new(&ops, &progress, &before)
            .until_done(undo.generation, deadline, &lease)
            .await?;
        Ok::<_, CliError>((undo, Some(end)))
    }
    .await;
    let (undo, end) = release_after(lease, result).await?;
    let Some(end) = end else {
        progress.line(
            "done",
            &format!(
                "revision {} is already the current template: nothing to undo",
                undo.to
            ),
            json!({"exit": 0, "outcome": "skipped", "revision": undo.to}),
        );
        return Ok(Exit::Done);
    };
    report_requests(&conn, &progress);
    match end {
        End::Complete(r) => {
            progress.line(
                "done",
                &format!(
                    "done: rolled back; revision {} is rolled out",
                    revision_text(r.revision)
                ),
                json!({"exit": 0, "outcome": "healthy", "revision": r.revision}),
            );
            Ok(Exit::Done)
        }
        End::Paused(m) | End::Failed(m) => {
            progress.line(
                "done",
                &format!("the rollback did not complete: {m}"),
                json!({"exit": 1, "outcome": "degraded", "message": m}),
            );
            Ok(Exit::Failed)
        }
    }
}

/// `pause` / `resume`: `spec.paused` of the Deployment.
///
/// # Errors
///
/// Exit 2 for a missing app or no rights.
pub async fn pause(args: &ClusterArgs, paused: bool) -> CliResult<Exit> {
    let progress = Progress::of(args);
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ops = ops_for(&conn, &name, &args.holder())?;
    if args.dry_run {
        let r = ops
            .deployment_rollout(None, None)
            .await
            .map_err(CliError::before_acting)?;
        let word = if paused { "pause" } else { "resume" };
        let now = if r.paused { "paused" } else { "running" };
        progress.line(
            "done",
            &format!("dry run: would {word} Deployment {name} (now {now}); nothing was changed"),
            json!({"exit": 0, "dry_run": true, "paused": r.paused, "would_pause": paused}),
        );
        return Ok(Exit::Done);
    }
    let r = ops
        .pause_deployment(None, paused)
        .await
        .map_err(CliError::before_acting)?;
    progress.line(
        "done",
        &format!(
            "Deployment {name} {}",
            if r.paused { "paused" } else { "resumed" }
        ),
        json!({"exit": 0, "paused": r.paused}),
    );
    Ok(Exit::Done)
}

/// How following a Deployment ended.
#[derive(Debug)]
enum End {
    Complete(DeploymentRollout),
    Paused(String),
    Failed(String),
}

/// Follows a Deployment and its ReplicaSets on watches, printing every
/// ReplicaSet change (with the planner's reason for it when the planner
/// expected it) and what the rollout waits for.
struct Follow<'a> {
    ops: &'a AppOps,
    progress: &'a Progress,
    ids: BTreeMap<String, TrackId>,
    printed: BTreeMap<String, (u32, u32, u32)>,
    expected: BTreeMap<TrackId, (u32, String)>,
    explained: Vec<String>,
}

impl<'a> Follow<'a> {
    /// Follows the app's Deployment; `before` are its ReplicaSets as they
    /// were before the write being followed (so the first lines say what
    /// changed).
    fn new(ops: &'a AppOps, progress: &'a Progress, before: &[ReplicaSet]) -> Self {
        let printed = before
            .iter()
            .map(|rs| (rs.metadata.name.clone().unwrap_or_default(), counts(rs)))
            .collect();
        Self {
            ops,
            progress,
            ids: BTreeMap::new(),
            printed,
            expected: BTreeMap::new(),
            explained: Vec::new(),
        }
    }

    async fn until_done(
        &mut self,
        generation: i64,
        deadline: tokio::time::Instant,
        lease: &LeaseGuard,
    ) -> CliResult<End> {
        let name = self.ops.app().to_owned();
        let client = self.ops.client().clone();
        let ns = self.ops.namespace().to_owned();
        let deployments = watcher::watcher(
            Api::<Deployment>::namespaced(client.clone(), &ns),
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        )
        .default_backoff()
        .map(|e| e.map(Update::Deployment));
        let replica_sets = watcher::watcher(
            Api::<ReplicaSet>::namespaced(client, &ns),
            watcher::Config::default().labels(&rolling_selector(&name)),
        )
        .default_backoff()
        .map(|e| e.map(Update::ReplicaSet));
        let mut events = futures::stream::select(deployments.boxed(), replica_sets.boxed());
        let mut deployment: Option<Deployment> = None;
        let mut sets: BTreeMap<String, ReplicaSet> = BTreeMap::new();
        let mut relist: BTreeMap<String, ReplicaSet> = BTreeMap::new();
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout_at(deadline, events.next()) => n,
                e = lease.lost() => return Err(CliError::failed(e)),
                signal = super::usage::interrupted() => return Err(CliError::interrupted(anyhow::anyhow!(
                    "interrupted ({signal}) while following Deployment {name}; the Deployment controller carries on: run the command again (or `status --watch`) to follow it"
                ))),
            };
            let event = match next {
                Err(_) => {
                    let last = deployment
                        .as_ref()
                        .map(|d| DeploymentRollout::from_deployment(d, Some(generation)).verdict);
                    return Err(CliError::failed(anyhow::anyhow!(
                        "timed out following Deployment {name} (last: {last:?}); run the command again to follow it on"
                    )));
                }
                Ok(None) => {
                    return Err(CliError::failed(anyhow::anyhow!(
                        "the watch of Deployment {name} ended"
                    )));
                }
                Ok(Some(Err(e))) => {
                    return Err(CliError::failed(anyhow::anyhow!(
                        "watching Deployment {name} failed: {e}"
                    )));
                }
                Ok(Some(Ok(e))) => e,
            };
            match event {
                Update::Deployment(Event::Apply(d) | Event::InitApply(d)) => deployment = Some(d),
                Update::Deployment(Event::Delete(_)) => deployment = None,
                Update::Deployment(_) => {}
                Update::ReplicaSet(Event::Init) => relist.clear(),
                Update::ReplicaSet(Event::InitApply(rs)) => {
                    relist.insert(rs.metadata.name.clone().unwrap_or_default(), rs);
                }
                Update::ReplicaSet(Event::InitDone) => sets = std::mem::take(&mut relist),
                Update::ReplicaSet(Event::Apply(rs)) => {
                    sets.insert(rs.metadata.name.clone().unwrap_or_default(), rs);
                }
                Update::ReplicaSet(Event::Delete(rs)) => {
                    let n = rs.metadata.name.clone().unwrap_or_default();
                    sets.remove(&n);
                    self.progress.line(
                        "replica_set",
                        &format!("ReplicaSet {n} deleted (beyond the revision history limit)"),
                        json!({"replica_set": n, "deleted": true}),
                    );
                }
            }
            let Some(d) = &deployment else { continue };
            let owned: Vec<&ReplicaSet> = sets
                .values()
                .filter(|rs| {
                    rs.metadata.owner_references.iter().flatten().any(|o| {
                        o.kind == "Deployment"
                            && o.uid == d.metadata.uid.clone().unwrap_or_default()
                    })
                })
                .collect();
            self.report(d, &owned);
            let r = DeploymentRollout::from_deployment(d, Some(generation));
            match &r.verdict {
                RolloutVerdict::Complete => return Ok(End::Complete(r)),
                RolloutVerdict::Failed(m) => return Ok(End::Failed(m.clone())),
                RolloutVerdict::Waiting(m) if r.paused => return Ok(End::Paused(m.clone())),
                _ => {}
            }
        }
    }

    /// Prints ReplicaSet changes and the planner's view of them.
    fn report(&mut self, d: &Deployment, owned: &[&ReplicaSet]) {
        let mut sorted: Vec<&ReplicaSet> = owned.to_vec();
        sorted.sort_by_key(|rs| {
            (
                rs.metadata.creation_timestamp.clone().map(|t| t.0),
                rs.metadata.name.clone(),
            )
        });
        for rs in &sorted {
            let n = rs.metadata.name.clone().unwrap_or_default();
            let next = TrackId(self.ids.len() as u64);
            self.ids.entry(n).or_insert(next);
        }
        let target = identity(d.spec.as_ref().map(|s| &s.template));
        for rs in &sorted {
            let n = rs.metadata.name.clone().unwrap_or_default();
            let id = self.ids[&n];
            let counts = counts(rs);
            let spec = counts.0;
            let before = self.printed.insert(n.clone(), counts);
            if before == Some(counts) {
                continue;
            }
            let rev = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned()
                .unwrap_or_default();
            let new = identity(rs.spec.as_ref().and_then(|s| s.template.as_ref())) == target;
            let why = match before {
                Some((was, _, _)) if was != spec => self
                    .expected
                    .get(&id)
                    .filter(|(want, _)| *want == spec)
                    .map_or_else(
                        || format!("scaled {was} → {spec} by the Deployment controller"),
                        |(_, reason)| format!("scaled {was} → {spec}: {reason}"),
                    ),
                None if spec > 0 => format!("created with {spec} by the Deployment controller"),
                _ => String::new(),
            };
            let text = format!(
                "ReplicaSet {n} (revision {rev}{}): {}/{}/{} desired/ready/available{}",
                if new { ", new" } else { "" },
                counts.0,
                counts.1,
                counts.2,
                if why.is_empty() {
                    String::new()
                } else {
                    format!("; {why}")
                }
            );
            self.progress.line(
                "replica_set",
                &text,
                json!({"replica_set": n, "revision": rev, "new": new, "desired": counts.0,
                    "ready": counts.1, "available": counts.2, "why": why}),
            );
        }
        self.plan_next(d, &sorted, &target);
    }

    /// The planner's next step for the view, kept to explain the
    /// controller's next write; its explanations printed when they change.
    fn plan_next(&mut self, d: &Deployment, sets: &[&ReplicaSet], target: &str) {
        let Some(spec) = spec_of(d, target) else {
            return;
        };
        let tracks: Vec<AdoptedTrack> = sets
            .iter()
            .map(|rs| {
                let n = rs.metadata.name.clone().unwrap_or_default();
                let rev = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REVISION))
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                AdoptedTrack::new(
                    self.ids[&n],
                    rev,
                    identity(rs.spec.as_ref().and_then(|s| s.template.as_ref())),
                )
            })
            .collect();
        let state = RolloutState::adopt(&spec, tracks);
        let mut obs = engine_ops_rollout::Observation::new(now());
        for rs in sets {
            let n = rs.metadata.name.clone().unwrap_or_default();
            let st = rs.status.clone().unwrap_or_default();
            let annotations = rs.metadata.annotations.clone().unwrap_or_default();
            let number = |k: &str| annotations.get(k).and_then(|v| v.parse::<u32>().ok());
            let mut t = TrackObs::new(
                self.ids[&n],
                count(rs.spec.as_ref().and_then(|s| s.replicas)),
                count(st.ready_replicas),
                count(st.available_replicas),
            )
            .with_replicas(count(Some(st.replicas)))
            .with_status_stale(
                st.observed_generation.unwrap_or(0) < rs.metadata.generation.unwrap_or(0),
            )
            .with_terminating(count(st.terminating_replicas));
            t.desired_replicas = number("deployment.kubernetes.io/desired-replicas");
            t.max_replicas = number("deployment.kubernetes.io/max-replicas");
            obs = obs.with_track(t);
        }
        let Ok(decision) = plan(&spec, &state, &obs) else {
            return;
        };
        self.expected = decision
            .actions
            .iter()
            .filter_map(|a| match &a.action {
                Action::ScaleTrack {
                    track, replicas, ..
                } => Some((*track, (*replicas, a.reason.clone()))),
                Action::CreateTrack {
                    track, replicas, ..
                } => Some((*track, (*replicas, a.reason.clone()))),
                _ => None,
            })
            .collect();
        let fresh: Vec<String> = decision
            .explain
            .iter()
            .filter(|e| !self.explained.contains(e))
            .cloned()
            .collect();
        for e in &fresh {
            self.progress
                .line("explain", &format!("  {e}"), json!({"text": e}));
        }
        self.explained = decision.explain;
    }
}

/// `(spec.replicas, ready, available)` of a ReplicaSet.
fn counts(rs: &ReplicaSet) -> (u32, u32, u32) {
    let st = rs.status.as_ref();
    (
        count(rs.spec.as_ref().and_then(|s| s.replicas)),
        count(st.and_then(|s| s.ready_replicas)),
        count(st.and_then(|s| s.available_replicas)),
    )
}

enum Update {
    Deployment(Event<Deployment>),
    ReplicaSet(Event<ReplicaSet>),
}
