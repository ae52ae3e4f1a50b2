//! The planner: one pure function for every strategy.
//!
//! [`plan()`] reads a [`View`] (the spec, the observation, the operator's
//! one-shot commands and the strategy's replica budget), works on a copy of
//! the persisted [`RolloutState`] and writes what it decides into
//! [`Effects`] (actions with reasons, explanations, phase, gate, requeue).
//! Strategy code takes exactly those three: `(&View, &mut RolloutState,
//! &mut Effects)`.
//!
//! - [`rolling`]: rolling update and `Recreate` (the Deployment controller);
//! - [`blue_green`], [`canary`]: stage machines over one candidate beside a
//!   stable track, sharing [`candidate`]; [`stage`] says which stage may
//!   follow which;
//! - [`tracks`]: create, resize, switch, scale-down, history, undo;
//! - [`checks`]: starting, judging and stopping checks;
//! - [`progress`]: the `Progressing` condition and the progress deadline.

mod blue_green;
mod canary;
mod candidate;
mod checks;
mod effects;
mod progress;
mod rolling;
mod stage;
mod tracks;
mod view;

use std::borrow::Cow;
use std::sync::Arc;

use self::effects::Effects;
use self::view::{Commands, View};
use crate::decision::{Action, Condition, ConditionKind, ConditionStatus, Decision};
use crate::error::Error;
use crate::observation::{Command, Observation, TrackId};
use crate::spec::{RolloutSpec, Strategy};
use crate::state::{RolloutState, Stage};

/// Decides what to do next: the spec, the persisted state and an observation
/// in; the new state, absolute actions with reasons, a phase, conditions and
/// when to look again out.
///
/// `plan` is pure and deterministic (time comes only from `obs.now`) and
/// level-triggered: call it after every observed change, or when
/// [`Decision::requeue_after`] elapses. Persist [`Decision::state`] before
/// executing [`Decision::actions`] in order; re-planning after they took effect
/// either emits the next step or nothing.
///
/// Rolling decisions follow the Kubernetes Deployment controller's
/// `syncDeployment` exactly: a scaling event is handled proportionally, otherwise
/// the new track is scaled up, and only if it was not, old tracks are scaled
/// down (unhealthy pods first).
///
/// # Errors
///
/// - [`Error::UnsupportedStateVersion`] for a state from another layout version;
/// - [`Error::UnknownTrack`] / [`Error::DuplicateTrack`] for an observation that
///   does not match the state;
/// - [`Error::UndoWhilePaused`], [`Error::NoPreviousRevision`],
///   [`Error::UnknownRevision`] for an `Undo` command that cannot be honoured.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{plan, Action, Observation, RolloutSpec, RolloutState, Timestamp};
///
/// let spec = RolloutSpec::builder("app:v1", 3).build()?;
/// let first = plan(&spec, &RolloutState::new(), &Observation::new(Timestamp::ZERO))?;
/// // Nothing exists yet: the first track is created at full size.
/// assert!(matches!(first.actions[0].action, Action::CreateTrack { replicas: 3, .. }));
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
pub fn plan(
    spec: &RolloutSpec,
    state: &RolloutState,
    obs: &Observation,
) -> Result<Decision, Error> {
    state.check_version()?;
    let mut state = state.clone();
    let mut fx = Effects::new(obs.now);
    reconcile_records(obs, &mut state, &mut fx)?;
    detect_changes(spec, &mut state, &mut fx);
    let commands = take_commands(obs, &mut state, &mut fx)?;
    let v = View::new(spec, obs, commands);
    match spec.strategy() {
        Strategy::Rolling(r) => rolling::plan(&v, &mut state, &mut fx, Some(r)),
        Strategy::Recreate => rolling::plan(&v, &mut state, &mut fx, None),
        Strategy::BlueGreen(b) => blue_green::plan(&v, &mut state, &mut fx, b),
        Strategy::Canary(c) => canary::plan(&v, &mut state, &mut fx, c),
    }
    checks::stop_unwanted_checks(&v, &state, &mut fx);
    Ok(finish(&v, state, fx))
}

/// Matches observed tracks with records: drops vanished and deleted tracks,
/// repeats lost deletions, refuses unknown tracks.
fn reconcile_records(
    obs: &Observation,
    state: &mut RolloutState,
    fx: &mut Effects,
) -> Result<(), Error> {
    for (i, t) in obs.tracks.iter().enumerate() {
        if obs.tracks[..i].iter().any(|o| o.track == t.track) {
            return Err(Error::DuplicateTrack { track: t.track });
        }
        if state.track(t.track).is_none() {
            return Err(Error::UnknownTrack { track: t.track });
        }
    }
    let mut i = 0;
    while i < state.tracks.len() {
        let id = state.tracks[i].id;
        let seen = obs.track(id).is_some();
        let rec = &mut state.tracks[i];
        if seen {
            rec.observed = true;
            if rec.deleting {
                fx.act(
                    Action::DeleteTrack { track: id },
                    format!(
                        "revision {} is beyond the history limit (deletion repeated)",
                        rec.revision
                    ),
                );
            }
            i += 1;
        } else if rec.deleting || rec.observed {
            if !rec.deleting {
                fx.explain(format!(
                    "track {id} (revision {}) no longer exists; forgetting it",
                    rec.revision
                ));
            }
            state.tracks.remove(i);
            if state.stable == Some(id) {
                state.stable = None;
            }
            if state.candidate == Some(id) {
                state.candidate = None;
            }
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// A change of strategy resets the stage; a change of template becomes the
/// target (and ends an abort).
fn detect_changes(spec: &RolloutSpec, state: &mut RolloutState, fx: &mut Effects) {
    let name = spec.strategy().name();
    if state.strategy.as_deref() != Some(name) {
        if let Some(old) = &state.strategy {
            fx.explain(format!(
                "strategy changed from {old} to {name}; stage reset"
            ));
            stage::enter(state, Stage::Idle);
            state.candidate = None;
        }
        state.strategy = Some(Cow::Borrowed(name));
    }
    if state.spec_template.as_deref() != Some(spec.template()) {
        if state.spec_template.is_some() {
            fx.explain(format!("template changed to `{}`", spec.template()));
        }
        let t: Arc<str> = Arc::from(spec.template());
        state.spec_template = Some(t.clone());
        state.target = Some(t);
        state.aborted = false;
    }
}

/// Takes the operator's commands: pause, resume and undo change the state at
/// once; promote, abort and retry are returned for the strategy.
fn take_commands(
    obs: &Observation,
    state: &mut RolloutState,
    fx: &mut Effects,
) -> Result<Commands, Error> {
    let mut commands = Commands {
        promote: std::mem::take(&mut state.promote_pending),
        ..Commands::default()
    };
    for c in &obs.commands {
        match *c {
            Command::Pause => {
                if !state.paused {
                    fx.explain("paused by operator");
                }
                state.paused = true;
            }
            Command::Resume => {
                if state.paused {
                    fx.explain("resumed by operator");
                }
                state.paused = false;
            }
            Command::Promote => commands.promote = true,
            Command::Abort => commands.abort = true,
            Command::Retry => commands.retry = true,
            Command::Undo { to_revision } => tracks::undo(state, fx, to_revision)?,
        }
    }
    Ok(commands)
}

/// Builds the decision: forgets records of tracks that were never created
/// and are no longer wanted, and adds the conditions.
fn finish(v: &View<'_>, mut state: RolloutState, fx: Effects) -> Decision {
    // Forget records of tracks that were never created and are no longer
    // wanted (e.g. a candidate superseded before its creation happened).
    let created: Vec<TrackId> = fx.created().collect();
    let (candidate, target) = (state.candidate, state.target.clone());
    state.tracks.retain(|t| {
        t.observed
            || created.contains(&t.id)
            || Some(t.id) == candidate
            || Some(&t.template) == target.as_ref()
    });
    let fx = fx.into_parts();
    let mut conditions = Vec::new();
    if let Some(p) = state.progress {
        conditions.push(progress::condition(p));
    }
    let available: u32 = v.obs.tracks.iter().map(|t| t.available).sum();
    let min_available = v.budget.min_available();
    let ok = available >= min_available;
    conditions.push(Condition {
        kind: ConditionKind::Available,
        status: if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason: if ok {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        }
        .into(),
        message: format!("{available} available, {min_available} required").into(),
    });
    if state.aborted {
        conditions.push(Condition {
            kind: ConditionKind::Aborted,
            status: ConditionStatus::True,
            reason: "RolloutAborted".into(),
            message: "traffic and capacity are back on the stable revision; Retry or a new template continues"
                .into(),
        });
    }
    if state.paused || fx.gate.is_some() {
        conditions.push(Condition {
            kind: ConditionKind::Paused,
            status: ConditionStatus::True,
            reason: if state.paused {
                "PausedByOperator"
            } else {
                "WaitingAtGate"
            }
            .into(),
            message: fx.gate.map_or(
                Cow::Borrowed("paused by operator; Resume continues"),
                Cow::Owned,
            ),
        });
    }
    Decision {
        state,
        actions: fx.actions,
        phase: fx.phase,
        conditions,
        requeue_after: fx.requeue,
        explain: fx.explain,
    }
}
