//! How a drive of a track-based rollout ends: its last progress line (and
//! a Warning Event when it failed), the Lease released, the exit code.

use engine_ops_k8s::cluster::LeaseGuard;
use serde_json::json;

use super::connect::Connection;
use super::exit::{CliResult, Exit, OrExit as _};
use super::progress::{Progress, humanize};
use super::tracks::{Outcome, Session};

/// Ends the drive with `result`: a `done` line saying what is live (or
/// why the rollout failed, and what is kept for inspection), the Lease
/// released, the request counts; `aborting` when the command asked for
/// an abort or undo (a Degraded end is then its success).
///
/// # Errors
///
/// The drive's error (after releasing the Lease), or a failed release.
pub async fn conclude(
    session: Session,
    result: CliResult<Outcome>,
    aborting: bool,
    conn: &Connection,
    progress: &Progress,
) -> CliResult<Exit> {
    let exit = match result {
        Ok(Outcome::Healthy(msg)) => {
            let live = live_image(&session).unwrap_or_else(|| session.state.image.clone());
            progress.line(
                "done",
                &format!("done: {live} is live ({msg})"),
                json!({"exit": 0, "outcome": "healthy", "image": live, "message": msg}),
            );
            Exit::Done
        }
        Ok(Outcome::Gate(msg)) => {
            progress.line(
                "done",
                &format!("stopped at a gate: {msg}"),
                json!({"exit": 0, "outcome": "gate", "message": msg}),
            );
            Exit::Done
        }
        Ok(Outcome::Switched(until)) => {
            let msg = format!(
                "{} is live and its checks passed; the previous revision runs until {} for an instant `rollback`, and is scaled down by the next command after that",
                session.state.image,
                humanize(&until.to_string())
            );
            progress.line(
                "done",
                &format!("switched: {msg}"),
                json!({"exit": 0, "outcome": "switched", "message": msg, "old_until_ms": until.as_millis()}),
            );
            Exit::Done
        }
        Ok(Outcome::Degraded(msg)) => {
            let exit = if aborting { Exit::Done } else { Exit::Failed };
            if !aborting {
                session
                    .warn_event(
                        "RolloutAborted",
                        &format!("rollout of {} failed: {msg}", session.state.image),
                    )
                    .await;
            }
            let kept = session
                .watch
                .snapshot()
                .tracks
                .iter()
                .filter(|t| t.spec_replicas > 0)
                .filter_map(|t| {
                    t.scale_down_at
                        .map(|at| format!("{} until {at}", t.replica_set))
                })
                .collect::<Vec<_>>();
            let kept = if kept.is_empty() {
                String::new()
            } else {
                format!(
                    "; kept for inspection: {} (the next command scales it down once due)",
                    kept.join(", ")
                )
            };
            progress.line(
                "done",
                &format!(
                    "{}: {msg}{kept}",
                    if aborting {
                        "rolled back"
                    } else {
                        "rollout failed, traffic is on the stable revision"
                    }
                ),
                json!({"exit": exit.code(), "outcome": "degraded", "message": msg}),
            );
            exit
        }
        Err(e) => {
            // Leave the Lease to expire only when the process is dying;
            // here it can be handed over at once.
            let r = release_after(session.lease, Err(e)).await;
            report_requests(conn, progress);
            return r;
        }
    };
    release_after(session.lease, Ok(())).await?;
    report_requests(conn, progress);
    Ok(exit)
}

/// Ends a command that holds the app's Lease with `result`, releasing the
/// Lease whatever `result` is, so that the next driver (another
/// `--holder`) proceeds at once instead of waiting for it to expire.
///
/// # Errors
///
/// `result`'s error (a failed release then only means the Lease expires by
/// itself); for an `Ok`, a failed release (exit 1).
pub async fn release_after<T>(lease: LeaseGuard, result: CliResult<T>) -> CliResult<T> {
    match result {
        Ok(v) => {
            lease.release().await.or_failed()?;
            Ok(v)
        }
        Err(e) => {
            let _ = lease.release().await;
            Err(e)
        }
    }
}

/// The image of the stable track.
fn live_image(session: &Session) -> Option<String> {
    let snapshot = session.watch.snapshot();
    let id = session.state.planner.stable()?;
    snapshot
        .track(&super::state::track_name(id))?
        .annotations
        .get(super::tracks::IMAGE_ANNOTATION)
        .cloned()
}

/// Prints the request counts (with `--count-requests`).
pub fn report_requests(conn: &Connection, progress: &Progress) {
    let Some(c) = &conn.counter else { return };
    let by: Vec<serde_json::Value> = c
        .counts()
        .iter()
        .map(|r| json!({"verb": r.verb, "resource": r.resource, "count": r.count}))
        .collect();
    let text = c
        .counts()
        .iter()
        .map(|r| format!("{} {} {}", r.count, r.verb, r.resource))
        .collect::<Vec<_>>()
        .join(", ");
    progress.line(
        "requests",
        &format!("{} API requests: {text}", c.total()),
        json!({"total": c.total(), "writes": c.writes(), "by": by}),
    );
}
