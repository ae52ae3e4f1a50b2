//! `--dry-run`: the rollout planner's preview of the whole rollout, run in
//! its simulator from the cluster as it is now (the tracks or
//! ReplicaSets with their sizes and readiness, what each Service selects,
//! the persisted rollout state), printed as one line per action with its
//! simulated time, the sizes after it and the planner's reason. Nothing is
//! changed: the new objects only go through a server-side dry run (which
//! also gives the pod template the API server would store), no Lease is
//! taken and no state is written.

use std::time::Duration;

use engine_ops_k8s::cluster::AppSnapshot;
use engine_ops_k8s::manifest::Object;
use engine_ops_rollout::sim::{Preview, Simulator, TrackView, World};
use engine_ops_rollout::{Action, Command, RolloutSpec, RolloutState, Timestamp, TrackId};
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::app::{self, MANAGER};
use super::exit::{CliError, CliResult, Exit};
use super::observe::{Services, selected};
use super::progress::{Progress, humanize};
use super::state::track_id;

/// How long the simulated pods take to become ready.
pub const READY_AFTER: Duration = Duration::from_secs(5);

/// How long the simulated checks take (they pass).
pub const CHECK_TIME: Duration = Duration::from_secs(10);

/// One track of the cluster as the simulator starts from it.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The planner track.
    pub track: TrackId,
    /// Its revision.
    pub revision: u64,
    /// Its template's identity.
    pub template: String,
    /// Pods asked for.
    pub desired: u32,
    /// Pods available now.
    pub available: u32,
    /// The desired-replicas and max-replicas annotations, when set.
    pub sizing: (Option<u32>, Option<u32>),
    /// When it is due to be scaled down, if scheduled.
    pub scale_down_at: Option<Timestamp>,
}

/// A simulated cluster that looks like the real one at `now`: each track
/// with its available pods ready, the rest of its pods coming up; the
/// Services' targets.
///
/// # Errors
///
/// Exit 1 when the simulator refuses a track (it cannot, for tracks it
/// was just given).
pub fn world(
    seeds: &[Seed],
    active: Option<TrackId>,
    preview: Option<TrackId>,
    now: Timestamp,
) -> CliResult<World> {
    let mut w = World::new()
        .ready_after(READY_AFTER)
        .check_duration(CHECK_TIME);
    let apply = |w: &mut World, a: &Action| {
        w.apply(a)
            .map_err(|e| CliError::failed(anyhow::anyhow!("{e}")))
    };
    w.advance_to(Timestamp::from_millis(
        now.as_millis()
            .saturating_sub(u64::try_from(READY_AFTER.as_millis()).unwrap_or(0)),
    ));
    for s in seeds {
        let (desired, max) = s.sizing;
        apply(
            &mut w,
            &Action::CreateTrack {
                track: s.track,
                revision: s.revision,
                template: s.template.clone(),
                replicas: s.available.min(s.desired),
                min_ready: Duration::ZERO,
                desired_replicas: desired.unwrap_or(s.desired),
                max_replicas: max.unwrap_or(s.desired),
            },
        )?;
    }
    w.advance_to(now);
    for s in seeds {
        let (desired, max) = s.sizing;
        if s.available < s.desired {
            apply(
                &mut w,
                &Action::ScaleTrack {
                    track: s.track,
                    replicas: s.desired,
                    desired_replicas: desired.unwrap_or(s.desired),
                    max_replicas: max.unwrap_or(s.desired),
                },
            )?;
        }
        if let Some(at) = s.scale_down_at {
            apply(&mut w, &Action::ScheduleScaleDown { track: s.track, at })?;
        }
    }
    if let Some(track) = active {
        apply(&mut w, &Action::SetActive { track })?;
    }
    if preview.is_some() {
        apply(&mut w, &Action::SetPreview { track: preview })?;
    }
    Ok(w)
}

/// The seeds and Service targets of a track-based app's snapshot.
#[must_use]
pub fn track_seeds(
    snapshot: &AppSnapshot,
    services: &Services,
) -> (Vec<Seed>, Option<TrackId>, Option<TrackId>) {
    let seeds = snapshot
        .tracks
        .iter()
        .filter(|t| !t.deleting)
        .filter_map(|t| {
            Some(Seed {
                track: track_id(&t.name)?,
                revision: t.revision.unwrap_or(0),
                template: t.template_hash.clone(),
                desired: t.spec_replicas,
                available: if t.status_stale() { 0 } else { t.available },
                sizing: (t.desired_replicas, t.max_replicas),
                scale_down_at: t
                    .scale_down_at
                    .and_then(|at| u64::try_from(at.as_millisecond()).ok())
                    .map(Timestamp::from_millis),
            })
        })
        .collect();
    let active = selected(snapshot, &services.active);
    let preview = services
        .preview
        .as_deref()
        .and_then(|p| selected(snapshot, p));
    (seeds, active, preview)
}

/// The pod template the API server would store for `template` (a
/// server-side dry run of the apply: defaults filled in, nothing stored).
///
/// # Errors
///
/// Exit 2 with the API server's refusal.
pub async fn stored_template(
    client: &kube::Client,
    ns: &str,
    template: &PodTemplate,
) -> CliResult<PodTemplate> {
    let api: Api<PodTemplate> = Api::namespaced(client.clone(), ns);
    let name = template.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).dry_run(),
        &Patch::Apply(template),
    )
    .await
    .map_err(|e| CliError::usage(app::refused(&Object::PodTemplate(template.clone()), &e)))
}

/// Runs the planner in the simulator from `state` in `world` with
/// `commands`, and prints the preview (`what` says what was asked).
///
/// # Errors
///
/// Exit 2 when the planner refuses the spec; exit 1 when the simulation
/// does not settle.
pub fn preview(
    progress: &Progress,
    what: &str,
    spec: RolloutSpec,
    state: RolloutState,
    world: World,
    commands: Vec<Command>,
) -> CliResult<Exit> {
    let mut sim = Simulator::new(spec, state, world);
    sim.set_max_decisions(10_000);
    for c in commands {
        sim.command(c);
    }
    let p = sim.run().map_err(|e| match e {
        engine_ops_rollout::Error::SimulationLimit { .. } => CliError::failed(anyhow::anyhow!(
            "the preview did not settle within 10,000 decisions; nothing was changed"
        )),
        other => CliError::usage(anyhow::anyhow!("the planner refused: {other}")),
    })?;
    progress.line(
        "dry_run",
        &format!(
            "dry run (nothing is changed): {what}; the planner's preview from the cluster as it is now, pods assumed ready {} s after they are created and checks passing after {} s:",
            READY_AFTER.as_secs(),
            CHECK_TIME.as_secs()
        ),
        json!({"what": what, "ready_after_s": READY_AFTER.as_secs(), "check_time_s": CHECK_TIME.as_secs()}),
    );
    print_steps(progress, &p);
    let ends = match &p.waiting_for {
        Some(w) => format!("stops at a gate: {}", humanize(w)),
        None => format!("ends {}", p.phase),
    };
    progress.line(
        "plan_end",
        &format!(
            "the rollout {ends} after {:.1} s (simulated), {} action(s), {} decision(s)",
            p.duration().as_secs_f64(),
            p.actions().count(),
            p.decisions
        ),
        json!({"phase": p.phase.to_string(), "waiting_for": p.waiting_for, "duration_s": p.duration().as_secs_f64(),
            "actions": p.actions().count(), "decisions": p.decisions, "changed": false}),
    );
    Ok(Exit::Done)
}

fn sizes(tracks: &[TrackView]) -> String {
    tracks
        .iter()
        .map(|t| format!("r{}:{}/{}", t.revision, t.available, t.spec))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_steps(progress: &Progress, p: &Preview) {
    for s in &p.steps {
        let at = s.at.saturating_since(p.started_at).as_secs_f64();
        for (i, a) in s.actions.iter().enumerate() {
            let after = s
                .after_each_action
                .get(i)
                .map_or_else(|| sizes(&s.tracks), |(t, _)| sizes(t));
            let action = humanize(&a.action.to_string());
            progress.plain(
                "plan",
                &format!(
                    "  +{at:>6.1}s  {action:<44}  {after:<24}  {}",
                    humanize(&a.reason)
                ),
                json!({"at_s": at, "action": serde_json::to_value(&a.action).unwrap_or_default(),
                    "summary": action, "after": after, "reason": a.reason}),
            );
        }
    }
}
