//! The driver of track-based rollouts (blue-green, canary): one ReplicaSet
//! per planner track, Services switched by the planner.
//!
//! The loop ([`Session::drive`]): observe the app (its watches' cache, no
//! request), plan, persist the decision's state by compare-and-swap
//! **before** acting, carry out the actions in order with a progress line
//! each, wait until the watches show what was written, and otherwise sleep
//! until the watches, a finished check, the planner's requeue time or a
//! lost Lease wake it up; until the rollout is Healthy, Degraded or at a
//! gate (or the timeout).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine_ops_k8s::cluster::{
    AppOps, AppSnapshot, AppWatch, EventType, LeaseGuard, StoredState, SwitchParams, TrackSpec,
    TrafficTarget, template_hash,
};
use engine_ops_rollout::decision::{ConditionKind, Decision, PlannedAction};
use engine_ops_rollout::observation::CheckRun;
use engine_ops_rollout::state::AdoptedTrack;
use engine_ops_rollout::{
    Action, Command, Phase, RolloutSpec, RolloutState, Stage, Strategy, Timestamp, TrackId, plan,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::app::{MANAGER, image_of};
use super::checks::{CheckContext, Checks};
use super::exit::{CliError, CliResult, OrExit as _};
use super::hooks::Hooks;
use super::observe::{Services, observation, reflects, selected};
use super::progress::{Progress, humanize};
use super::state::{DriverState, KEEP_CHECKS, NO_TRACK, track_id, track_name};

/// Annotation on a track's ReplicaSet: its image (for `status`).
pub const IMAGE_ANNOTATION: &str = "engine-ops.io/image";

/// How long to wait for the watches to show the writes of a decision.
const REFLECT: Duration = Duration::from_secs(15);

/// The longest sleep between two decisions when nothing happens.
const IDLE_WAKE: Duration = Duration::from_secs(30);

/// How a drive ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rollout is Healthy: the template is live.
    Healthy(String),
    /// Stopped at a gate waiting for an operator (exit 0).
    Gate(String),
    /// Degraded: aborted, or past its progress deadline.
    Degraded(String),
    /// Traffic is on the new revision and its post-promotion checks
    /// passed; the previous one is kept until the time given, for an
    /// instant rollback (with [`Session::exit_when_switched`]).
    Switched(Timestamp),
}

/// The current time as the planner sees it: milliseconds since the Unix
/// epoch.
#[must_use]
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}

/// A planner time as a Kubernetes time.
#[must_use]
pub fn to_k8s_time(t: Timestamp) -> Option<k8s_openapi::jiff::Timestamp> {
    k8s_openapi::jiff::Timestamp::from_millisecond(i64::try_from(t.as_millis()).ok()?).ok()
}

/// The names of the checks a spec runs.
#[must_use]
pub fn check_names(spec: &RolloutSpec) -> Vec<String> {
    let mut v = Vec::new();
    match spec.strategy() {
        Strategy::BlueGreen(b) => {
            v.extend(b.pre_promotion.iter().map(|c| c.name.clone()));
            v.extend(b.post_promotion.iter().map(|c| c.name.clone()));
        }
        Strategy::Canary(c) => {
            for s in &c.steps {
                if let engine_ops_rollout::spec::CanaryStep::Analysis(a) = s {
                    v.push(a.name.clone());
                }
            }
            v.extend(c.analysis.iter().map(|a| a.name.clone()));
        }
        _ => {}
    }
    v
}

/// The planner's state for tracks that exist without a persisted state
/// (it was lost, or the tracks were made by hand): the track the active
/// Service selects is the stable one.
#[must_use]
pub fn adopt(spec: &RolloutSpec, snapshot: &AppSnapshot, services: &Services) -> RolloutState {
    let tracks: Vec<AdoptedTrack> = snapshot
        .tracks
        .iter()
        .filter(|t| !t.deleting)
        .filter_map(|t| {
            Some(AdoptedTrack::new(
                track_id(&t.name)?,
                t.revision.unwrap_or(0),
                t.template_hash.clone(),
            ))
        })
        .collect();
    if tracks.is_empty() {
        return RolloutState::new();
    }
    let live = selected(snapshot, &services.active)
        .and_then(|id| snapshot.track(&track_name(id)))
        .map(|t| t.template_hash.clone());
    let basis = live
        .and_then(|h| spec.with_template(h).ok())
        .unwrap_or_else(|| spec.clone());
    RolloutState::adopt(&basis, tracks)
}

/// A driver holding the app's Lease, with its watches, state and checks.
pub struct Session {
    /// The app's operations.
    pub ops: AppOps,
    /// Its Services.
    pub services: Services,
    /// The Lease, held for the whole session.
    pub lease: LeaseGuard,
    /// The app's watches.
    pub watch: AppWatch,
    /// The state as last loaded or saved (the compare-and-swap's witness).
    pub stored: StoredState,
    /// The state's content.
    pub state: DriverState,
    /// The app's PodTemplate (tracks are made from it).
    pub template: PodTemplate,
    /// Progress lines.
    pub progress: Progress,
    /// The test hook.
    pub hooks: Hooks,
    /// The checks.
    pub checks: Checks,
    /// When the command gives up.
    pub deadline: tokio::time::Instant,
    /// Operator commands to deliver with the next persisted decision.
    pub commands: Vec<Command>,
    /// End the drive once traffic is on the new revision and its checks
    /// passed, instead of waiting through the scale-down delay (the next
    /// command scales the old revision down once it is due).
    pub exit_when_switched: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ops", &self.ops)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The spec the planner gets: the persisted one.
    fn spec(&self) -> &RolloutSpec {
        &self.state.spec
    }

    /// Plans, persists, acts and waits until the rollout ends (or the
    /// deadline); `aborting` when the command asked for an abort (a
    /// Degraded end is then its success).
    ///
    /// # Errors
    ///
    /// Exit 1 for a refused action, a lost Lease or a timeout; exit 2 for
    /// a planner refusal of the spec or a check without definition.
    pub async fn drive(&mut self) -> CliResult<Outcome> {
        let mut last_phase: Option<Phase> = None;
        let mut last_explain: Vec<String> = Vec::new();
        loop {
            if tokio::time::Instant::now() >= self.deadline {
                return Err(CliError::failed(anyhow::anyhow!(
                    "timed out; the rollout waits for: {}; run the command again to resume it",
                    last_explain
                        .last()
                        .map_or("nothing reported", String::as_str)
                )));
            }
            let snapshot = self.watch.snapshot();
            let obs = observation(
                &snapshot,
                &self.services,
                now(),
                self.checks.observations(),
                &self.commands,
            );
            let decision = plan(self.spec(), &self.state.planner, &obs)
                .map_err(|e| CliError::usage(anyhow::anyhow!("the planner refused: {e}")))?;
            self.persist(&decision).await?;
            self.report(&decision, &mut last_phase, &mut last_explain);
            if !decision.actions.is_empty() {
                self.hooks.at("after-save").await;
                let mut refused = false;
                for a in &decision.actions {
                    self.lease.check().or_failed()?;
                    self.hooks.at("before-action").await;
                    refused |= !self.execute(a, &snapshot).await?;
                    self.hooks.at("after-action").await;
                    if refused {
                        break;
                    }
                }
                if refused {
                    // Plan again once the cluster moved (the track's status
                    // caught up), not at once.
                    self.wait(IDLE_WAKE).await?;
                } else {
                    self.await_reflected(&decision.actions).await?;
                }
                continue;
            }
            if let Some(outcome) = terminal(&decision) {
                let settling = matches!(outcome, Outcome::Degraded(_))
                    && self.state.planner.is_aborted()
                    && !self.abort_settled(&snapshot, &decision);
                if !settling {
                    return Ok(outcome);
                }
            }
            if let Stage::Draining { until } = self.state.planner.stage()
                && self.exit_when_switched
                && !self.state.planner.is_aborted()
            {
                return Ok(Outcome::Switched(until));
            }
            let wait = decision
                .requeue_after
                .unwrap_or(IDLE_WAKE)
                .min(IDLE_WAKE)
                .max(Duration::from_millis(10));
            self.wait(wait).await?;
        }
    }

    /// Saves the decision's state (with the check verdicts) unless it is
    /// what is stored already; the commands count as delivered once saved.
    async fn persist(&mut self, decision: &Decision) -> CliResult<()> {
        let mut next = self.state.clone();
        next.planner = decision.state.clone();
        next.checks = self.checks.finished(KEEP_CHECKS);
        for a in &decision.actions {
            match &a.action {
                Action::CreateTrack { revision, .. } => {
                    next.record_image(*revision, image_of(self.template.template.as_ref()));
                }
                // A track that comes back (an undo) under a new revision.
                Action::SetRevision { track, revision } => {
                    let image = self
                        .watch
                        .snapshot()
                        .track(&track_name(*track))
                        .and_then(|t| t.annotations.get(IMAGE_ANNOTATION).cloned());
                    if let Some(image) = image {
                        next.record_image(*revision, image);
                    }
                }
                _ => {}
            }
        }
        if next != self.state || self.stored.seq() == 0 {
            self.lease.check().or_failed()?;
            self.stored = self
                .ops
                .save_state(&self.stored, &next)
                .await
                .map_err(|e| {
                    CliError::failed(anyhow::anyhow!(
                        "{e} (another driver wrote the rollout state; run the command again)"
                    ))
                })?;
            self.state = next;
        }
        self.commands.clear();
        Ok(())
    }

    fn report(
        &self,
        decision: &Decision,
        last_phase: &mut Option<Phase>,
        last_explain: &mut Vec<String>,
    ) {
        if *last_phase != Some(decision.phase) {
            let stage = stage_name(self.state.planner.stage());
            self.progress.line(
                "phase",
                &format!("phase {} (stage {stage})", decision.phase),
                json!({"phase": decision.phase.to_string(), "stage": stage}),
            );
            *last_phase = Some(decision.phase);
        }
        if decision.explain != *last_explain {
            for e in decision
                .explain
                .iter()
                .filter(|e| !last_explain.contains(e))
            {
                self.progress
                    .line("explain", &format!("  {}", humanize(e)), json!({"text": e}));
            }
            last_explain.clone_from(&decision.explain);
        }
    }

    /// Waits until the watches show every write of `actions`.
    async fn await_reflected(&mut self, actions: &[PlannedAction]) -> CliResult<()> {
        let services = self.services.clone();
        let wait =
            self.watch
                .wait_until("the cluster to show the decision's writes", REFLECT, |s| {
                    reflects(s, &services, actions)
                });
        tokio::select! {
            r = wait => match r {
                Ok(_) => Ok(()),
                // Level-triggered: planning again from an older view
                // repeats idempotent actions at worst.
                Err(engine_ops_k8s::cluster::Error::Timeout { .. }) => Ok(()),
                Err(e) => Err(CliError::failed(e)),
            },
            e = self.lease.lost() => Err(CliError::failed(e)),
        }
    }

    /// Sleeps until something changes, a check finishes, `wait` passes or
    /// the Lease is lost.
    async fn wait(&mut self, wait: Duration) -> CliResult<()> {
        let wait = wait.min(
            self.deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        );
        let finished = tokio::select! {
            r = self.watch.changed(wait) => { r.or_failed()?; None }
            Some(f) = self.checks.next_finished() => Some(f),
            e = self.lease.lost() => return Err(CliError::failed(e)),
        };
        if let Some(f) = finished {
            self.progress.line(
                "check",
                &format!("check {} {}: {}", f.run, status_word(f.status), f.output),
                json!({"run": f.run.to_string(), "status": status_word(f.status), "output": f.output}),
            );
        }
        Ok(())
    }

    /// Carries out one action, with a progress line. Returns `false` when
    /// the switch's safety net refused it (the target track cannot take
    /// the traffic now, e.g. its status predates its last resize): the
    /// rest of the decision is skipped and the driver plans again once the
    /// cluster moves.
    async fn execute(&mut self, a: &PlannedAction, snapshot: &AppSnapshot) -> CliResult<bool> {
        let started = tokio::time::Instant::now();
        let result = match self.act(&a.action, &a.reason, snapshot).await {
            Err(CliError { error, .. })
                if matches!(
                    error.downcast_ref::<engine_ops_k8s::cluster::Error>(),
                    Some(engine_ops_k8s::cluster::Error::TrackNotReady { .. })
                ) =>
            {
                self.progress.line(
                    "refused",
                    &format!("{} refused, planning again once the cluster moves: {error}", a.action),
                    json!({"action": serde_json::to_value(&a.action).unwrap_or(Value::Null), "error": error.to_string()}),
                );
                return Ok(false);
            }
            other => other?,
        };
        let took = started.elapsed().as_millis();
        let action = serde_json::to_value(&a.action).unwrap_or(Value::Null);
        let text = match result.get("text").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => format!("{} [{t}]: {}", a.action, a.reason),
            _ => format!("{}: {}", a.action, a.reason),
        };
        self.progress.line(
            "action",
            &humanize(&text),
            json!({"action": action, "summary": a.action.to_string(), "reason": a.reason, "result": result, "took_ms": took}),
        );
        Ok(true)
    }

    /// After an abort: traffic is on the stable track, which is available,
    /// and every other track is asked for no pod or is scheduled to be
    /// scaled down (an aborted colour kept for its delay).
    fn abort_settled(&self, snapshot: &AppSnapshot, decision: &Decision) -> bool {
        let Some(stable) = self.state.planner.stable() else {
            return true;
        };
        let available = decision
            .condition(ConditionKind::Available)
            .is_none_or(|c| c.status == engine_ops_rollout::decision::ConditionStatus::True);
        let traffic = self.services.preview.is_none()
            || selected(snapshot, &self.services.active) == Some(stable);
        let others = snapshot
            .tracks
            .iter()
            .filter(|t| track_id(&t.name).is_some_and(|id| id != stable))
            .all(|t| t.spec_replicas == 0 || t.scale_down_at.is_some());
        available && traffic && others
    }

    fn replicas_required(&self) -> u32 {
        self.spec().replicas()
    }

    async fn act(&mut self, action: &Action, reason: &str, snap: &AppSnapshot) -> CliResult<Value> {
        let app = self.ops.app().to_owned();
        match action {
            Action::CreateTrack {
                track,
                revision,
                template,
                replicas,
                min_ready,
                desired_replicas,
                max_replicas,
            } => {
                let have = template_hash(&self.template.template.clone().unwrap_or_default());
                if *template != have {
                    return Err(CliError::failed(anyhow::anyhow!(
                        "revision {revision} needs the pod template {template}, but the app's PodTemplate holds {have}; deploy that revision's image again"
                    )));
                }
                let image = image_of(self.template.template.as_ref());
                let seconds = u32::try_from(min_ready.as_secs()).unwrap_or(u32::MAX);
                let spec =
                    TrackSpec::from_pod_template(track_name(*track), &self.template, *replicas)
                        .revision(*revision)
                        .min_ready_seconds(seconds)
                        .sizing(*desired_replicas, *max_replicas)
                        .annotation(IMAGE_ANNOTATION, image.clone());
                let t = self.ops.create_track(&spec).await.or_failed()?;
                Ok(json!({"replica_set": t.replica_set, "image": image, "text": t.replica_set}))
            }
            Action::ScaleTrack {
                track,
                replicas,
                desired_replicas,
                max_replicas,
            } => {
                let name = track_name(*track);
                let from = snap.track(&name).map(|t| t.spec_replicas);
                let t = self
                    .ops
                    .scale_track(&name, *replicas, Some((*desired_replicas, *max_replicas)))
                    .await
                    .or_failed()?;
                let text = from.map_or_else(String::new, |f| format!("{f} → {replicas}"));
                Ok(json!({"replica_set": t.replica_set, "from": from, "text": text}))
            }
            Action::SetMinReady { track, min_ready } => {
                let name = self.ops.track_replica_set(&track_name(*track));
                let api: Api<ReplicaSet> =
                    Api::namespaced(self.ops.client().clone(), self.ops.namespace());
                let patch = json!({"spec": {"minReadySeconds": min_ready.as_secs()}});
                api.patch(
                    &name,
                    &PatchParams {
                        field_manager: Some(MANAGER.to_owned()),
                        ..PatchParams::default()
                    },
                    &Patch::Merge(&patch),
                )
                .await
                .or_failed()?;
                Ok(json!({"replica_set": name}))
            }
            Action::SetRevision { track, revision } => {
                self.ops
                    .set_track_revision(&track_name(*track), *revision)
                    .await
                    .or_failed()?;
                Ok(json!({}))
            }
            Action::SetActive { track } => self.switch(true, Some(*track), reason, snap).await,
            Action::SetPreview { track } => self.switch(false, *track, reason, snap).await,
            Action::StartCheck { run, track } => {
                let ctx = self.check_context(*track, snap, &app);
                self.checks.start(run, ctx)?;
                Ok(json!({"text": ""}))
            }
            Action::StopCheck { run } => {
                self.checks.stop(run);
                Ok(json!({}))
            }
            Action::ScheduleScaleDown { track, at } => {
                let at = to_k8s_time(*at);
                self.ops
                    .schedule_scale_down(&track_name(*track), at)
                    .await
                    .or_failed()?;
                Ok(json!({}))
            }
            Action::DeleteTrack { track } => {
                let existed = self
                    .ops
                    .delete_track(&track_name(*track))
                    .await
                    .or_failed()?;
                Ok(json!({"existed": existed}))
            }
            Action::SetCanaryWeight { .. } => Err(CliError::usage(anyhow::anyhow!(
                "this driver has no traffic router: a canary's weight is carried by replica counts (leave traffic routing off)"
            ))),
            other => Err(CliError::failed(anyhow::anyhow!(
                "this driver does not know the planner's action `{other}`; upgrade it"
            ))),
        }
    }

    /// Points the active Service (`active`) or the preview Service at
    /// `track` (the preview at no track with `None`), in one request; the
    /// active one only when the track has the pods the strategy requires.
    async fn switch(
        &mut self,
        active: bool,
        track: Option<TrackId>,
        reason: &str,
        snap: &AppSnapshot,
    ) -> CliResult<Value> {
        let service = if active {
            self.services.active.clone()
        } else {
            match self.services.preview.clone() {
                Some(p) => p,
                None => return Ok(json!({"text": "no preview Service"})),
            }
        };
        let name = track.map_or_else(|| NO_TRACK.to_owned(), track_name);
        let mut params = SwitchParams::new().reason(reason);
        if active {
            params = params.require_available(self.replicas_required());
            if let Some(t) = snap.track(&name) {
                params = params.observed_track(t);
            }
        }
        if let Some(s) = snap.service(&service) {
            params = params.observed(s);
        }
        if active {
            self.hooks.at("before-switch").await;
        }
        let s = self
            .ops
            .switch_traffic(&service, &TrafficTarget::track(name.clone()), &params)
            .await
            .or_failed()?;
        let text = if active {
            self.hooks.at("after-switch").await;
            format!("{service} → {name}, {} request(s)", s.attempts)
        } else {
            format!("{service} → {name}")
        };
        Ok(json!({"service": service, "changed": s.changed, "attempts": s.attempts, "text": text}))
    }

    fn check_context(&self, track: TrackId, snap: &AppSnapshot, app: &str) -> CheckContext {
        let name = track_name(track);
        let t = snap.track(&name);
        let service = snap
            .services
            .iter()
            .find(|s| s.target.as_ref() == Some(&TrafficTarget::track(name.clone())))
            .map(|s| s.name.clone());
        CheckContext {
            app: app.to_owned(),
            namespace: self.ops.namespace().to_owned(),
            track: name.clone(),
            replica_set: self.ops.track_replica_set(&name),
            service,
            image: t
                .and_then(|t| t.annotations.get(IMAGE_ANNOTATION).cloned())
                .unwrap_or_default(),
        }
    }

    /// Records a Warning Event on the anchor (an abort, a failure).
    pub async fn warn_event(&self, reason: &str, message: &str) {
        if let Err(e) = self
            .ops
            .record_event(EventType::Warning, reason, message)
            .await
        {
            super::progress::note(&format!("note: event not recorded: {e}"));
        }
    }

    /// Whether a check of the spec is running (for status).
    #[must_use]
    pub fn check_running(&self, run: &CheckRun) -> bool {
        self.checks.is_running(run)
    }
}

/// The end of a drive, if `decision` (with no action left) is one.
#[must_use]
pub fn terminal(decision: &Decision) -> Option<Outcome> {
    let message = |kind: ConditionKind| {
        decision
            .condition(kind)
            .map(|c| c.message.to_string())
            .unwrap_or_default()
    };
    match decision.phase {
        Phase::Healthy => Some(Outcome::Healthy(message(ConditionKind::Available))),
        Phase::Paused => Some(Outcome::Gate(message(ConditionKind::Paused))),
        Phase::Degraded => {
            let why = decision
                .condition(ConditionKind::Aborted)
                .filter(|c| c.status == engine_ops_rollout::decision::ConditionStatus::True)
                .or_else(|| decision.condition(ConditionKind::Progressing))
                .map(|c| c.message.to_string())
                .unwrap_or_default();
            Some(Outcome::Degraded(why))
        }
        _ => None,
    }
}

/// A stage's name, as in the persisted state.
#[must_use]
pub fn stage_name(stage: Stage) -> String {
    serde_json::to_value(stage)
        .ok()
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_else(|| format!("{stage:?}"))
}

fn status_word(s: engine_ops_rollout::observation::CheckStatus) -> &'static str {
    use engine_ops_rollout::observation::CheckStatus;
    match s {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "failed",
        CheckStatus::Inconclusive => "inconclusive",
        _ => "running",
    }
}
