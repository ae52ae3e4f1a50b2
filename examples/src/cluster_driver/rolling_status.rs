//! `status [--watch]` and `history` of a rolling app: the Deployment's
//! rollout by `kubectl rollout status`'s rule and its ReplicaSets (one
//! per revision kept), redrawn on every watch event with `--watch`; the
//! revisions as `kubectl rollout history` lists them. They change
//! nothing (no Lease).

use std::time::Duration;

use engine_ops_k8s::cluster::{AppOps, DeploymentRollout, Revision, RolloutVerdict};
use serde_json::{Value, json};

use super::cli::ClusterArgs;
use super::commands::app_name;
use super::connect::connect;
use super::deployment::ops_for;
use super::exit::{CliError, CliResult, Exit};
use super::screen::{Ending, Painter, Screen, WatchEnd, clock, print_once, utc};
use super::usage::interrupted;

fn verdict_text(v: &RolloutVerdict) -> String {
    match v {
        RolloutVerdict::Complete => "complete".to_owned(),
        RolloutVerdict::Waiting(m) => format!("waiting: {m}"),
        RolloutVerdict::Failed(m) => format!("failed: {m}"),
        _ => "unknown".to_owned(),
    }
}

fn revision_text(r: Option<u64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| r.to_string())
}

fn revision_json(h: &Revision) -> Value {
    json!({"revision": h.revision, "replica_set": h.replica_set, "images": h.images,
        "replicas": h.replicas, "available": h.available, "change_cause": h.change_cause,
        "created": h.created.map(|t| utc(u64::try_from(t.as_millisecond()).unwrap_or(0)))})
}

/// The screen of a rolling app, and `Some(exit)` once its rollout is over.
fn screen(
    name: &str,
    namespace: &str,
    r: &DeploymentRollout,
    history: &[Revision],
) -> (Screen, Option<Exit>) {
    let verdict = verdict_text(&r.verdict);
    let over = match &r.verdict {
        RolloutVerdict::Complete => Some(Exit::Done),
        RolloutVerdict::Failed(_) => Some(Exit::Failed),
        _ if r.paused => Some(Exit::Done),
        _ => None,
    };
    let revisions: Vec<Value> = history.iter().map(revision_json).collect();
    let json = json!({"app": name, "namespace": namespace, "strategy": "rolling",
        "revision": r.revision, "desired": r.desired, "updated": r.updated, "ready": r.ready,
        "available": r.available, "paused": r.paused, "verdict": verdict, "revisions": revisions});
    let mut lines = vec![
        format!("Name:        {name}    (updated {})", clock()),
        format!("Namespace:   {namespace}"),
        "Strategy:    rolling (Deployment)".to_owned(),
        format!(
            "Status:      {}{}",
            verdict,
            if r.paused { " (paused)" } else { "" }
        ),
        format!(
            "Revision:    {}; {}/{} updated, {} ready, {} available",
            revision_text(r.revision),
            r.updated,
            r.desired.map_or_else(|| "-".into(), |d| d.to_string()),
            r.ready,
            r.available
        ),
        String::new(),
        format!(
            "  {:>8}  {:<30} {:>7} {:>9}  image",
            "REVISION", "REPLICASET", "DESIRED", "AVAILABLE"
        ),
    ];
    for h in history.iter().rev() {
        lines.push(format!(
            "  {:>8}  {:<30} {:>7} {:>9}  {}",
            h.revision,
            h.replica_set,
            h.replicas,
            h.available,
            h.images.join(",")
        ));
    }
    (Screen { lines, json }, over)
}

async fn read(ops: &AppOps) -> CliResult<(DeploymentRollout, Vec<Revision>)> {
    let r = ops
        .deployment_rollout(None, None)
        .await
        .map_err(CliError::before_acting)?;
    let history = ops
        .deployment_history(None)
        .await
        .map_err(CliError::before_acting)?;
    Ok((r, history))
}

/// `status [--watch]`.
///
/// # Errors
///
/// Exit 2 for a missing app or no rights; exit 1 when the watch times out
/// or the rollout it followed failed.
pub async fn status(args: &ClusterArgs, watch: bool) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ops = ops_for(&conn, &name, &args.holder())?.events(None);
    let (r, history) = read(&ops).await?;
    let ns = conn.namespace.clone();
    if !watch {
        print_once(&screen(&name, &ns, &r, &history).0, args.json);
        return Ok(Exit::Done);
    }
    let deadline = tokio::time::Instant::now() + args.timeout;
    let _armed = super::usage::arm();
    let mut watch = ops.watch();
    tokio::select! {
        r = watch.ready(args.timeout.min(Duration::from_secs(60))) => r.map_err(CliError::before_acting)?,
        _ = interrupted() => return Ok(Exit::Interrupted),
    }
    let mut painter = Painter::new(args.json);
    let mut ending = Ending::default();
    let mut current = (r, history);
    loop {
        let (s, over) = screen(&name, &ns, &current.0, &current.1);
        if !painter.draw(&s) {
            return Ok(Exit::Done);
        }
        let record = format!("{}/{:?}", current.0.generation, current.0.revision);
        if let Some(exit) = ending.update(over, &record) {
            painter.last_line(&format!(
                "the rollout ended: {}",
                s.json["verdict"].as_str().unwrap_or("-")
            ));
            return Ok(exit);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(CliError::failed(anyhow::anyhow!(
                "status --watch timed out after {} s (--timeout)",
                args.timeout.as_secs()
            )));
        }
        let end = tokio::select! {
            r = watch.changed(left) => { r.map_err(CliError::failed)?; None }
            _ = interrupted() => Some(WatchEnd::Interrupted),
        };
        if end.is_some() {
            return Ok(Exit::Interrupted);
        }
        current = read(&ops).await?;
    }
}

/// `history`: the Deployment's revisions kept, oldest first, with their
/// ReplicaSet, images, size and change cause (`kubectl rollout history`);
/// `--json`: one object per revision per line.
///
/// # Errors
///
/// Exit 2 for a missing app or no rights.
pub async fn history(args: &ClusterArgs) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ops = ops_for(&conn, &name, &args.holder())?.events(None);
    let (r, history) = read(&ops).await?;
    let mut lines = Vec::new();
    if args.json {
        for h in &history {
            let mut v = revision_json(h);
            v["event"] = json!("revision");
            v["current"] = json!(Some(h.revision) == r.revision);
            lines.push(v.to_string());
        }
    } else {
        lines.push(format!(
            "app {name} in {} (rolling): {} revision(s) kept, oldest first",
            conn.namespace,
            history.len()
        ));
        lines.push(format!(
            "  {:>8}  {:<24} {:<30} {:<72} change cause",
            "REVISION", "CREATED", "REPLICASET", "IMAGE"
        ));
        for h in &history {
            let v = revision_json(h);
            lines.push(format!(
                "  {:>8}  {:<24} {:<30} {:<72} {}{}",
                h.revision,
                v["created"].as_str().unwrap_or("-"),
                h.replica_set,
                h.images.join(","),
                h.change_cause.as_deref().unwrap_or("-"),
                if Some(h.revision) == r.revision {
                    "  (current)"
                } else {
                    ""
                }
            ));
        }
    }
    if !lines.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, format!("{}\n", lines.join("\n")).as_bytes());
    }
    Ok(Exit::Done)
}
