//! Rolling, blue-green and canary rollouts as pure, deterministic planners, with
//! Kubernetes-exact rolling arithmetic and a simulator that previews a rollout
//! before it runs.
//!
//! # Overview
//!
//! One function drives every strategy:
//!
//! ```text
//! plan(&RolloutSpec, &RolloutState, &Observation) -> Result<Decision, Error>
//! ```
//!
//! - [`RolloutSpec`]: desired replicas, the pod template (an opaque string such as
//!   an image digest) and a [`Strategy`]; validated at construction, naming the
//!   field at fault.
//! - [`RolloutState`]: the planner's memory, serde-serialisable and versioned
//!   ([`STATE_VERSION`]). It is the only thing a tool persists.
//! - [`Observation`]: the time (passed in: there is no clock), per-track replica
//!   counts (spec, ready, available; whether the status is stale), traffic targets, check results and operator
//!   [`Command`]s (promote, abort, retry, pause, resume, undo).
//! - [`Decision`]: the new state, absolute idempotent [`Action`]s each with a
//!   human-readable reason, a [`Phase`] with [`Condition`]s, when to look again
//!   and `explain` lines.
//!
//! A tool runs the loop: observe, [`plan()`], **persist `decision.state`**, execute
//! the actions in order, repeat on every change or after `requeue_after`. The
//! planner is level-triggered: actions lost in a crash are emitted again.
//!
//! # Vocabulary
//!
//! - **Track**: one ReplicaSet (or Deployment) holding one pod **template**
//!   (an opaque string, such as an image digest). [`TrackId`]s grow with
//!   creation order; a track's **revision** follows
//!   `deployment.kubernetes.io/revision`.
//! - **Stable** track: the one known to be good, where traffic returns on
//!   abort. **Candidate**: the blue-green colour or canary in flight beside it.
//! - **Stage** ([`Stage`], persisted in the state): where a blue-green or
//!   canary rollout stands in its stage machine (`Provisioning`, `Step 2`,
//!   `Aborted`, ...). Rolling updates stay `Idle`.
//! - **Phase** ([`Phase`], in every decision, not persisted): how the rollout
//!   looks from outside right now: `Progressing`, `Paused`, `Healthy` or
//!   `Degraded`.
//! - **Progress** ([`Progress`], persisted): the Deployment controller's
//!   `Progressing` condition, whose last update the progress deadline counts
//!   from.
//! - **Observation** ([`Observation`]): what the caller reports each time: the
//!   time, each track's counts, traffic targets, check results, commands.
//! - **Decision** ([`Decision`]): what [`plan()`] returns: the new state,
//!   **actions** (absolute and idempotent, each with a reason), the phase,
//!   conditions, when to look again and explanations.
//! - **Gate**: a point where a rollout waits for a check, a timer or an
//!   operator (reported as the `Paused` condition). A **check** ([`CheckSpec`])
//!   is run by the caller; each start is a [`CheckRun`] (check, revision,
//!   attempt).
//! - **Budget** ([`Fenceposts`]): maxSurge and maxUnavailable resolved for
//!   `n`, the desired replica count (`n` in formulas and in the code).
//! - **Preview** ([`Preview`]): a simulated run to the end, printed as a
//!   table; not a decision.
//!
//! # Strategies
//!
//! - **Rolling** ([`RollingStrategy`]) is a port of the Deployment controller:
//!   maxSurge rounds up and maxUnavailable down ([`Fenceposts`]), the both-zero
//!   rule, `reconcileNewReplicaSet`, `cleanupUnhealthyReplicas`,
//!   `scaleDownOldReplicaSetsForRollingUpdate`, proportional scaling when replicas
//!   change, `minReadySeconds`, the progress deadline (report, abort or undo:
//!   [`DeadlineAction`]), pause, a revision history limit (default 10) and undo to
//!   the previous or a named revision. Like the controller it waits while an old
//!   track's status still counts pods it was asked to remove (and says so in
//!   [`Decision::explain`]), and never deletes a track whose status is older than
//!   its spec ([`TrackObs::status_stale`]). A differential proptest against a
//!   direct port of the Go code, in a world whose status may lag a sync, keeps it
//!   exact; `tests/k8s_fixture.rs` compares it with recordings of a real
//!   kube-controller-manager.
//! - **Recreate** ([`Strategy::Recreate`]), the Deployment controller's other
//!   strategy: every old track goes to 0 in one decision, nothing else happens
//!   while an old pod exists or terminates ([`TrackObs::terminating`]), then the
//!   new track is created (or scaled) at the full count. The same
//!   differential proptest keeps it exact.
//! - **Blue-green** ([`BlueGreenStrategy`]): the new colour comes up beside the
//!   live one (full or preview size), pre-promotion checks (smoke tests) gate
//!   promotion (automatic, manual or timed), the switch happens only when the new
//!   colour is fully available, post-promotion checks can still switch back while
//!   the old colour is kept for a delay, and every switch is recorded with what
//!   was live before ([`RolloutState::switches`]).
//! - **Canary** ([`CanaryStrategy`]): weight steps, timed or manual pauses,
//!   analysis gates and a background analysis with a failed-check threshold;
//!   replica-weighted with Argo Rollouts' current basic-canary arithmetic when
//!   there is no traffic router (never above `n + maxSurge`, never fewer
//!   available pods than `n − maxUnavailable` allows, older tracks drained
//!   newest revision first after their unavailable pods), router-weighted
//!   otherwise (weight raised only over available pods, lowered to 0 before any
//!   scale-down on abort). A template reverted to the stable one mid-canary is
//!   a rollback, not an abort: the canary is drained and the rollout ends
//!   Healthy.
//!
//! # States
//!
//! [`RolloutState::stage`] tells where a blue-green or canary rollout stands
//! (rolling updates stay in [`Stage::Idle`] and are driven by counts alone):
//!
//! - [`Stage::Idle`]: nothing in flight; the stable track serves.
//! - [`Stage::Provisioning`] → [`Stage::PrePromotion`] → [`Stage::AwaitingPromotion`]
//!   → [`Stage::ScalingUp`] → [`Stage::PostPromotion`] → [`Stage::Draining`] → `Idle`:
//!   a blue-green rollout.
//! - [`Stage::Step`] (one per canary step) → [`Stage::Promoting`] → `Idle`: a canary.
//! - [`Stage::Aborted`]: traffic is back on the stable track; stays until
//!   [`Command::Retry`] or a new template.
//!
//! # Preview and simulation
//!
//! [`preview`] runs the planner to completion against a copy of a simulated
//! cluster ([`World`]) and returns a [`Preview`] that prints as a table of steps
//! with reasons. [`Simulator`] exposes every step, injects failures (pods never
//! ready, failing checks, a crash of the tool between two actions).
//!
//! # Checking the planner against a cluster
//!
//! [`replay`] turns what `kubectl get deploy NAME -w -o json
//! --output-watch-events` and `kubectl get rs -w -o json
//! --output-watch-events` print into [`Observation`]s, one per event, with the
//! Deployment's spec and the Deployment controller's writes: plan from each
//! view and compare, or replay the whole recording through one persisted
//! state. `tests/k8s_fixture.rs` does both with scenarios recorded from a real
//! kube-controller-manager by `tools/k8s-testenv/record`.
//!
//! # Example
//!
//! The tool loop, with the simulated cluster standing in for Kubernetes:
//!
//! ```
//! use engine_ops_rollout::{plan, Phase, RolloutSpec, RolloutState, sim::World};
//!
//! let spec = RolloutSpec::builder("app@sha256:v1", 10).build()?; // rolling 25 % / 25 %
//! let mut cluster = World::new();
//! let mut state = RolloutState::new();
//! loop {
//!     let decision = plan(&spec, &state, &cluster.observe())?;
//!     state = decision.state; // persist before acting
//!     if decision.phase == Phase::Healthy {
//!         break;
//!     }
//!     for step in &decision.actions {
//!         println!("{}: {}", step.action, step.reason);
//!         cluster.apply(&step.action)?;
//!     }
//!     if decision.actions.is_empty() {
//!         // Nothing to do until pods become ready: let time pass.
//!         let next = cluster.next_event().expect("pods are starting");
//!         cluster.advance_to(next);
//!     }
//! }
//! assert_eq!(cluster.tracks()[0].available, 10);
//! # Ok::<(), engine_ops_rollout::Error>(())
//! ```
//!
//! # What this crate does not do
//!
//! No I/O, no clock, no Kubernetes types: `engine-ops-k8s` maps tracks to
//! ReplicaSets and Services and executes the actions. Checks are run by the
//! caller; the planner only starts, stops and judges them. It does not model
//! terminating pods in the surge budget (KEP-3973; `Recreate` does wait for
//! them), experiments, header/mirror routes or HPA interplay.
//!
//! Tracks are identified by [`TrackId`], not by a pod-template hash, so the
//! Deployment controller's `collisionCount` has no counterpart in the plan:
//! a tool that names its ReplicaSets after a template hash and finds the name
//! taken by a different template must do what the controller does (count the
//! collision, derive another name, create again). Until the track exists the
//! planner emits the same [`Action::CreateTrack`] again, so the plan is the
//! same either way.
//!
//! # Modules
//!
//! The root holds what every caller names: [`plan()`], its inputs
//! ([`RolloutSpec`], [`Strategy`], [`RolloutState`], [`Observation`] with
//! [`TrackId`], [`Command`] and [`Timestamp`]) and its output ([`Decision`],
//! [`Action`], [`Phase`], [`Stage`]), and [`Error`]. The rest lives in its
//! module:
//!
//! - [`spec`]: the strategies and their parameters, checks, the
//!   surge / unavailable budget;
//! - [`observation`]: what the caller reports per track, for traffic and
//!   for checks;
//! - [`decision`]: actions with their reasons, conditions;
//! - [`state`]: the persisted state's parts (tracks, switches, progress) and
//!   adopting tracks that already exist;
//! - [`sim`]: the simulated cluster, the simulator and previews;
//! - [`replay`]: recordings of a real Deployment controller.
//!
//! # Feature flags
//!
//! None.
//!
//! [`BlueGreenStrategy`]: spec::BlueGreenStrategy
//! [`CanaryStrategy`]: spec::CanaryStrategy
//! [`CheckRun`]: observation::CheckRun
//! [`CheckSpec`]: spec::CheckSpec
//! [`Condition`]: decision::Condition
//! [`DeadlineAction`]: spec::DeadlineAction
//! [`Fenceposts`]: spec::Fenceposts
//! [`Preview`]: sim::Preview
//! [`preview`]: sim::preview()
//! [`Progress`]: state::Progress
//! [`RollingStrategy`]: spec::RollingStrategy
//! [`Simulator`]: sim::Simulator
//! [`STATE_VERSION`]: state::STATE_VERSION
//! [`TrackObs::status_stale`]: observation::TrackObs::status_stale
//! [`TrackObs::terminating`]: observation::TrackObs::terminating
//! [`World`]: sim::World

mod basic_canary;
pub mod decision;
mod deprecated;
mod error;
mod math;
pub mod observation;
mod plan;
pub mod replay;
pub mod sim;
pub mod spec;
pub mod state;
mod time;

pub use decision::{Action, Decision, Phase};
#[doc(hidden)]
pub use deprecated::*;
pub use error::Error;
pub use observation::{Command, Observation, TrackId};
pub use plan::plan;
pub use spec::{RolloutSpec, Strategy};
pub use state::{RolloutState, Stage};
pub use time::Timestamp;
