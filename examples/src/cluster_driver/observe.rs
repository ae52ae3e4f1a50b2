//! What the planner sees of a track-based app (blue-green, canary): an
//! [`AppSnapshot`] turned into an [`Observation`], and what the cluster
//! must show once a decision's writes landed.

use engine_ops_k8s::cluster::{AppSnapshot, TrafficTarget};
use engine_ops_rollout::decision::PlannedAction;
use engine_ops_rollout::observation::{CheckObs, TrackObs, TrafficObs};
use engine_ops_rollout::{Action, Command, Observation, Timestamp, TrackId};

use super::state::{NO_TRACK, track_id, track_name};

/// The Services of a track-based app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// The active Service (`<app>`).
    pub active: String,
    /// The preview Service (`<app>-preview`; blue-green only).
    pub preview: Option<String>,
}

/// The planner track a Service selects, if it selects one of ours.
#[must_use]
pub fn selected(snapshot: &AppSnapshot, service: &str) -> Option<TrackId> {
    match snapshot.service(service)?.target.as_ref()? {
        TrafficTarget::Track(name) => track_id(name),
        _ => None,
    }
}

/// The observation of `snapshot` at `now`, with the check statuses and
/// operator commands to deliver. Tracks being deleted are left out (the
/// planner forgets tracks that vanished).
#[must_use]
pub fn observation(
    snapshot: &AppSnapshot,
    services: &Services,
    now: Timestamp,
    checks: Vec<CheckObs>,
    commands: &[Command],
) -> Observation {
    let mut obs = Observation::new(now);
    for t in snapshot.tracks.iter().filter(|t| !t.deleting) {
        let Some(id) = track_id(&t.name) else {
            continue;
        };
        // Pods that are going away are not available to the planner: a
        // status older than the spec counts pods of an earlier size (a
        // track scaled to zero and straight back up reports its
        // terminating pods until the ReplicaSet controller catches up),
        // and pods beyond the spec are being removed. Nothing may be
        // switched to, or drained for, on the strength of such counts (the
        // planner would, and the switch's own check would then refuse);
        // the pods that exist still count against the surge.
        let (ready, available) = if t.status_stale() {
            (0, 0)
        } else {
            (
                t.ready.min(t.spec_replicas),
                t.available.min(t.spec_replicas),
            )
        };
        let mut o = TrackObs::new(id, t.spec_replicas, ready, available)
            .with_replicas(t.replicas)
            .with_status_stale(t.status_stale())
            .with_terminating(t.terminating.unwrap_or(0));
        o.desired_replicas = t.desired_replicas;
        o.max_replicas = t.max_replicas;
        obs = obs.with_track(o);
    }
    let mut traffic = TrafficObs::default();
    traffic.active = selected(snapshot, &services.active);
    traffic.preview = services
        .preview
        .as_deref()
        .and_then(|p| selected(snapshot, p));
    obs = obs.with_traffic(traffic);
    for c in checks {
        obs = obs.with_check(c);
    }
    for c in commands {
        obs = obs.with_command(*c);
    }
    obs
}

/// Whether `snapshot` shows the effect of every action of `actions` (so
/// that the next decision is planned from what was written, not from a
/// view one event older).
#[must_use]
pub fn reflects(snapshot: &AppSnapshot, services: &Services, actions: &[PlannedAction]) -> bool {
    actions.iter().all(|a| shows(snapshot, services, &a.action))
}

fn shows(snapshot: &AppSnapshot, services: &Services, action: &Action) -> bool {
    let track = |id: &TrackId| snapshot.track(&track_name(*id));
    let selects = |service: &str, name: &str| {
        snapshot
            .service(service)
            .and_then(|s| s.target.as_ref())
            .is_some_and(|t| *t == TrafficTarget::track(name))
    };
    match action {
        Action::CreateTrack { track: id, .. } => track(id).is_some(),
        Action::ScaleTrack {
            track: id,
            replicas,
            desired_replicas,
            max_replicas,
        } => track(id).is_none_or(|t| {
            t.spec_replicas == *replicas
                && t.desired_replicas == Some(*desired_replicas)
                && t.max_replicas == Some(*max_replicas)
        }),
        Action::SetRevision {
            track: id,
            revision,
        } => track(id).is_none_or(|t| t.revision == Some(*revision)),
        Action::SetActive { track: id } => selects(&services.active, &track_name(*id)),
        Action::SetPreview { track } => services
            .preview
            .as_deref()
            .is_none_or(|p| selects(p, &track.map_or_else(|| NO_TRACK.to_owned(), track_name))),
        Action::ScheduleScaleDown { track: id, .. } => {
            track(id).is_none_or(|t| t.scale_down_at.is_some())
        }
        Action::DeleteTrack { track: id } => track(id).is_none_or(|t| t.deleting),
        // Checks run here, and minReadySeconds is not in the snapshot.
        _ => true,
    }
}
