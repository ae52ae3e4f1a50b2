//! `status [--watch]` and `history` of a track-based app (`blue_green`,
//! `canary`): one screen of the tracks (desired / ready / available, which
//! Service selects each), the phase, what the rollout waits for and the
//! last switches; redrawn on every watch event with `--watch`; and the
//! whole recorded history (a blue-green app's switches, a canary's
//! revisions). They change nothing (no Lease).

use std::time::Duration;

use engine_ops_k8s::cluster::{AppOps, AppSnapshot, TrafficTarget};
use engine_ops_rollout::{Phase, plan};
use serde_json::{Value, json};

use super::cli::ClusterArgs;
use super::commands::{Kind, app_name};
use super::connect::connect;
use super::exit::{CliError, CliResult, Exit};
use super::observe::{Services, observation, selected};
use super::progress::humanize;
use super::screen::{Ending, Painter, Screen, WatchEnd, clock, print_once, utc};
use super::state::{DriverState, track_id, track_name};
use super::tracks::{IMAGE_ANNOTATION, now, stage_name};
use super::usage::interrupted;

/// What one screen shows, and whether the rollout is over.
struct View<'a> {
    kind: Kind,
    name: &'a str,
    namespace: &'a str,
    services: &'a Services,
}

fn no_app(name: &str, namespace: &str) -> CliError {
    CliError::usage(anyhow::anyhow!(
        "app {name} not found in namespace {namespace} (no PodTemplate {name}); run `init IMAGE` first, or fix --app / --namespace"
    ))
}

fn decode(snapshot: &AppSnapshot, name: &str, ns: &str) -> CliResult<Option<DriverState>> {
    let stored = snapshot.state.as_ref().ok_or_else(|| no_app(name, ns))?;
    stored.value().map_err(CliError::before_acting)
}

/// `status [--watch]`.
///
/// # Errors
///
/// Exit 2 for a missing app or no rights; exit 1 when the watch times out
/// or the rollout it followed ended Degraded.
pub async fn status(kind: Kind, args: &ClusterArgs, watch: bool) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ops = AppOps::new(conn.client.clone(), &conn.namespace, &name)
        .map_err(CliError::before_acting)?;
    let services = kind.services(&name);
    let view = View {
        kind,
        name: &name,
        namespace: &conn.namespace,
        services: &services,
    };
    if !watch {
        let snapshot = ops.snapshot().await.map_err(CliError::before_acting)?;
        let state = decode(&snapshot, &name, &conn.namespace)?;
        let (screen, _) = view.screen(&snapshot, state.as_ref());
        print_once(&screen, args.json);
        return Ok(Exit::Done);
    }
    match watch_screens(&view, &ops, args).await? {
        WatchEnd::Ended(exit) => Ok(exit),
        WatchEnd::Closed => Ok(Exit::Done),
        WatchEnd::Interrupted => Ok(Exit::Interrupted),
    }
}

async fn watch_screens(view: &View<'_>, ops: &AppOps, args: &ClusterArgs) -> CliResult<WatchEnd> {
    let deadline = tokio::time::Instant::now() + args.timeout;
    let _armed = super::usage::arm();
    let mut watch = ops.watch();
    tokio::select! {
        r = watch.ready(args.timeout.min(Duration::from_secs(60))) => r.map_err(CliError::before_acting)?,
        _ = interrupted() => return Ok(WatchEnd::Interrupted),
    }
    let mut painter = Painter::new(args.json);
    let mut ending = Ending::default();
    loop {
        let snapshot = watch.snapshot();
        let state = decode(&snapshot, view.name, view.namespace)?;
        let (screen, over) = view.screen(&snapshot, state.as_ref());
        if !painter.draw(&screen) {
            return Ok(WatchEnd::Closed);
        }
        let record = state
            .as_ref()
            .map(|s| serde_json::to_string(&s.planner).unwrap_or_default())
            .unwrap_or_default();
        if let Some(exit) = ending.update(over, &record) {
            let word = if exit == Exit::Done {
                "ended"
            } else {
                "failed"
            };
            painter.last_line(&format!(
                "the rollout {word}: {}",
                screen.json["phase"].as_str().unwrap_or("-")
            ));
            return Ok(WatchEnd::Ended(exit));
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(CliError::failed(anyhow::anyhow!(
                "status --watch timed out after {} s (--timeout)",
                args.timeout.as_secs()
            )));
        }
        // The planner's own times (a delay ending) redraw too.
        tokio::select! {
            r = watch.changed(left.min(Duration::from_secs(5))) => { r.map_err(CliError::failed)?; }
            _ = interrupted() => return Ok(WatchEnd::Interrupted),
        }
    }
}

impl View<'_> {
    /// The screen, and `Some(exit)` once the rollout is over (Healthy or
    /// at a gate: 0, Degraded: 1); `None` while it progresses.
    fn screen(
        &self,
        snapshot: &AppSnapshot,
        state: Option<&DriverState>,
    ) -> (Screen, Option<Exit>) {
        let services = self.services;
        let decision = state.and_then(|s| {
            let obs = observation(snapshot, services, now(), s.checks.clone(), &[]);
            plan(&s.spec, &s.planner, &obs).ok()
        });
        // Over as the driver sees it: a final phase with nothing left to
        // do or to save (the driver then exits).
        let settled = decision
            .as_ref()
            .zip(state)
            .is_none_or(|(d, s)| d.actions.is_empty() && d.state == s.planner);
        let over = match decision.as_ref().map(|d| d.phase) {
            _ if !settled => None,
            Some(Phase::Healthy | Phase::Paused) | None => Some(Exit::Done),
            Some(Phase::Degraded) => Some(Exit::Failed),
            Some(_) => None,
        };
        let tracks = self.tracks(snapshot);
        let switches: Vec<Value> = state
            .map(|s| {
                s.planner
                    .switches()
                    .iter()
                    .rev()
                    .take(5)
                    .map(|w| switch_json(s, w))
                    .collect()
            })
            .unwrap_or_default();
        let phase = decision.as_ref().map(|d| d.phase.to_string());
        let waiting: Vec<String> = decision
            .as_ref()
            .map(|d| d.explain.iter().map(|e| humanize(e)).collect())
            .unwrap_or_default();
        let stage = state.map(|s| stage_name(s.planner.stage()));
        // What serves: the track the active Service selects (a canary's
        // selects every track: its stable one).
        let live = selected(snapshot, &services.active)
            .or_else(|| state.and_then(|s| s.planner.stable()))
            .and_then(|id| snapshot.track(&track_name(id)))
            .and_then(|t| t.annotations.get(IMAGE_ANNOTATION).cloned());
        let target = |svc: &str| selected(snapshot, svc).map(track_name);
        let active = target(&services.active);
        let preview = services.preview.as_deref().and_then(target);
        let json = json!({"app": self.name, "namespace": self.namespace, "strategy": self.kind.name(),
            "image": state.map(|s| s.image.clone()), "live_image": live, "phase": phase, "stage": stage,
            "active": active, "preview": preview, "tracks": tracks, "waiting_for": waiting, "switches": switches});
        let lines = self.lines(&json);
        (Screen { lines, json }, over)
    }

    fn tracks(&self, snapshot: &AppSnapshot) -> Vec<Value> {
        let active = selected(snapshot, &self.services.active);
        let all_tracks = snapshot
            .service(&self.services.active)
            .is_some_and(|s| s.target == Some(TrafficTarget::AllTracks));
        let preview = self
            .services
            .preview
            .as_deref()
            .and_then(|p| selected(snapshot, p));
        snapshot
            .tracks
            .iter()
            .map(|t| {
                let id = track_id(&t.name);
                let serves: Vec<&str> = [
                    ((id.is_some() && id == active) || (all_tracks && t.available > 0))
                        .then_some("active"),
                    (id.is_some() && id == preview).then_some("preview"),
                ]
                .into_iter()
                .flatten()
                .collect();
                json!({"track": t.name, "replica_set": t.replica_set, "revision": t.revision,
                    "image": t.annotations.get(IMAGE_ANNOTATION),
                    "desired": t.spec_replicas, "ready": t.ready, "available": t.available,
                    "serves": serves, "scale_down_at": t.scale_down_at.map(|t| utc(u64::try_from(t.as_millisecond()).unwrap_or(0)))})
            })
            .collect()
    }

    fn lines(&self, j: &Value) -> Vec<String> {
        let s = |k: &str| j[k].as_str().unwrap_or("-").to_owned();
        let services = self.services;
        let mut lines = vec![
            format!("Name:        {}    (updated {})", self.name, clock()),
            format!("Namespace:   {}", self.namespace),
            format!("Strategy:    {}", self.kind.name()),
            format!("Status:      {} (stage {})", s("phase"), s("stage")),
            format!("Live image:  {}", s("live_image")),
            format!("Deploying:   {}", s("image")),
            format!("Active:      Service {} → {}", services.active, s("active")),
        ];
        if let Some(p) = &services.preview {
            lines.push(format!("Preview:     Service {p} → {}", s("preview")));
        }
        lines.push(String::new());
        lines.push(format!(
            "  {:<6} {:>4} {:>8} {:>6} {:>10}  {:<15} {:<26} image",
            "TRACK", "REV", "DESIRED", "READY", "AVAILABLE", "SERVES", "SCALE DOWN AT"
        ));
        for t in j["tracks"].as_array().into_iter().flatten() {
            let n = |k: &str| {
                t[k].as_u64()
                    .map_or_else(|| "-".to_owned(), |r| r.to_string())
            };
            let serves: Vec<&str> = t["serves"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            lines.push(format!(
                "  {:<6} {:>4} {:>8} {:>6} {:>10}  {:<15} {:<26} {}",
                t["track"].as_str().unwrap_or(""),
                n("revision"),
                n("desired"),
                n("ready"),
                n("available"),
                if serves.is_empty() {
                    "-".to_owned()
                } else {
                    serves.join(",")
                },
                t["scale_down_at"].as_str().unwrap_or("-"),
                t["image"].as_str().unwrap_or("")
            ));
        }
        let waiting: Vec<&str> = j["waiting_for"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !waiting.is_empty() {
            lines.push(String::new());
            lines.push("Waiting for:".to_owned());
            lines.extend(waiting.iter().map(|w| format!("  {w}")));
        }
        let switches = j["switches"].as_array().cloned().unwrap_or_default();
        if !switches.is_empty() {
            lines.push(String::new());
            lines.push("Last switches (newest first):".to_owned());
            lines.extend(switches.iter().map(switch_line));
        }
        lines
    }
}

fn switch_json(state: &DriverState, w: &engine_ops_rollout::state::SwitchRecord) -> Value {
    json!({"at": utc(w.at.as_millis()), "at_ms": w.at.as_millis(),
        "from_revision": w.from_revision, "to_revision": w.to_revision,
        "from_track": w.from.map(track_name), "to_track": track_name(w.to),
        "image": state.images.get(&w.to_revision),
        "reason": humanize(&w.reason)})
}

fn switch_line(w: &Value) -> String {
    let rev = |k: &str| {
        w[k].as_u64()
            .map_or_else(|| "-".to_owned(), |r| r.to_string())
    };
    format!(
        "  {}  revision {} → {} ({})  {}",
        w["at"].as_str().unwrap_or("-"),
        rev("from_revision"),
        rev("to_revision"),
        w["image"].as_str().unwrap_or("image not recorded"),
        w["reason"].as_str().unwrap_or("")
    )
}

/// The revisions the state records (the images of the last
/// [`KEEP_IMAGES`](super::state::KEEP_IMAGES) created, and every track's),
/// oldest first, each with its image and where it stands now: `stable`,
/// `canary`, `aborted` (the candidate of an aborted rollout), `old`
/// (another track still recorded) or `gone`.
fn revisions_json(state: &DriverState) -> Vec<Value> {
    let planner = &state.planner;
    let live = |revision: u64| {
        planner
            .tracks()
            .iter()
            .find(|t| t.revision == revision && !t.deleting)
    };
    let mut revisions: Vec<u64> = state.images.keys().copied().collect();
    revisions.extend(planner.revisions());
    revisions.sort_unstable();
    revisions.dedup();
    revisions
        .into_iter()
        .map(|revision| {
            let track = live(revision);
            let role = match track.map(|t| t.id) {
                None => "gone",
                Some(id) if Some(id) == planner.stable() => "stable",
                Some(id) if Some(id) == planner.candidate() && planner.is_aborted() => "aborted",
                Some(id) if Some(id) == planner.candidate() => "canary",
                Some(_) => "old",
            };
            json!({"revision": revision, "image": state.images.get(&revision),
                "role": role, "track": track.map(|t| track_name(t.id))})
        })
        .collect()
}

/// `history`: every traffic switch recorded in the rollout state (the
/// last 32), oldest first, with its time, the revisions and image, and the
/// planner's reason; `--json`: one object per switch per line. A canary
/// (without a router, its Service selects every track) switches nothing:
/// its history is its revisions, each with its image and where it stands.
///
/// # Errors
///
/// Exit 2 for a missing app or no rights.
pub async fn history(kind: Kind, args: &ClusterArgs) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ops = AppOps::new(conn.client.clone(), &conn.namespace, &name)
        .map_err(CliError::before_acting)?;
    let snapshot = ops.snapshot().await.map_err(CliError::before_acting)?;
    let state = decode(&snapshot, &name, &conn.namespace)?;
    let (event, rows): (&str, Vec<Value>) = match (kind, &state) {
        (_, None) => ("switch", Vec::new()),
        (Kind::BlueGreen, Some(s)) => (
            "switch",
            s.planner
                .switches()
                .iter()
                .map(|w| switch_json(s, w))
                .collect(),
        ),
        (Kind::Canary, Some(s)) => ("revision", revisions_json(s)),
    };
    let mut lines = Vec::new();
    if args.json {
        for w in &rows {
            let mut w = w.clone();
            w["event"] = json!(event);
            lines.push(w.to_string());
        }
    } else if kind == Kind::Canary {
        lines.push(format!(
            "app {name} in {} (canary): {} revision(s), oldest first (Service {} selects every track: the share of the pods is the share of the traffic, no switch is made)",
            conn.namespace,
            rows.len(),
            kind.services(&name).active
        ));
        lines.extend(rows.iter().map(|r| {
            format!(
                "  revision {}  {:<8} {}",
                r["revision"],
                r["role"].as_str().unwrap_or("-"),
                r["image"].as_str().unwrap_or("image not recorded")
            )
        }));
    } else {
        lines.push(format!(
            "app {name} in {} ({}): {} traffic switch(es) of Service {}, oldest first",
            conn.namespace,
            kind.name(),
            rows.len(),
            kind.services(&name).active
        ));
        lines.extend(rows.iter().map(switch_line));
    }
    // `--json` with nothing recorded prints nothing (no empty line).
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    Ok(Exit::Done)
}
