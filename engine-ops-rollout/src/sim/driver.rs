//! The driver: runs the planner against a [`World`], step by step or to
//! the end.

use std::time::Duration;

use super::preview::{Preview, PreviewStep};
use super::world::World;
use crate::decision::{ConditionKind, Decision, Phase};
use crate::error::Error;
use crate::observation::{Command, Observation};
use crate::plan::plan;
use crate::spec::RolloutSpec;
use crate::state::RolloutState;
use crate::time::Timestamp;

/// Drives the planner against a [`World`]: observe, plan, persist, execute,
/// and let time pass when nothing is left to do.
///
/// Every step is open to the caller ([`step`](Self::step), [`world_mut`](Self::world_mut),
/// [`command`](Self::command)), so a recorded sequence of worlds can be replayed
/// through the planner, and the tool can be "killed" between any two actions.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{Phase, RolloutSpec, Strategy, sim::{Simulator, World}, spec::BlueGreenStrategy};
///
/// let v1 = RolloutSpec::builder("app:v1", 4).strategy(Strategy::BlueGreen(BlueGreenStrategy::new())).build()?;
/// let mut sim = Simulator::deployed(v1.clone(), World::new())?;
/// sim.set_spec(v1.with_template("app:v2")?);
/// let run = sim.run()?;
/// assert_eq!(run.phase, Phase::Healthy);
/// assert_eq!(sim.state().switches().len(), 2); // first deployment, then v1 -> v2
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Simulator {
    spec: RolloutSpec,
    state: RolloutState,
    world: World,
    commands: Vec<(Timestamp, Command)>,
    steps: Vec<PreviewStep>,
    decisions: u64,
    max_decisions: u64,
    last_phase: Option<Phase>,
}

/// What one [`Simulator::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepOutcome {
    /// The decision the planner made.
    pub decision: Decision,
    /// Actions executed before a crash (all of them when there was none).
    pub executed: usize,
    /// Whether nothing is left to happen (no action, no timer, no pod or check pending).
    pub settled: bool,
}

impl Simulator {
    /// A simulator for `spec`, starting from `state` in `world`.
    #[must_use]
    pub const fn new(spec: RolloutSpec, state: RolloutState, world: World) -> Self {
        Self {
            spec,
            state,
            world,
            commands: Vec::new(),
            steps: Vec::new(),
            decisions: 0,
            max_decisions: 100_000,
            last_phase: None,
        }
    }

    /// Deploys `spec` into an empty `world` and runs until it is healthy: the
    /// usual starting point of a rollout. The step log starts empty afterwards.
    ///
    /// # Errors
    ///
    /// Planner errors, or [`Error::SimulationLimit`] if it never settles.
    pub fn deployed(spec: RolloutSpec, world: World) -> Result<Self, Error> {
        let mut sim = Self::new(spec, RolloutState::new(), world);
        sim.run()?;
        sim.steps.clear();
        sim.decisions = 0;
        Ok(sim)
    }

    /// Replaces the spec (a new template, replica count or strategy).
    pub fn set_spec(&mut self, spec: RolloutSpec) {
        self.spec = spec;
    }

    /// Delivers an operator command with the next decision.
    pub fn command(&mut self, command: Command) {
        self.commands.push((self.world.now(), command));
    }

    /// Delivers an operator command with the first decision at or after `at`.
    pub fn command_at(&mut self, at: Timestamp, command: Command) {
        self.commands.push((at, command));
    }

    /// Caps the number of decisions [`run`](Self::run) may make (default 100,000).
    pub const fn set_max_decisions(&mut self, max: u64) {
        self.max_decisions = max;
    }

    /// The spec.
    #[must_use]
    pub const fn spec(&self) -> &RolloutSpec {
        &self.spec
    }

    /// The persisted state.
    #[must_use]
    pub const fn state(&self) -> &RolloutState {
        &self.state
    }

    /// Replaces the persisted state (e.g. with one restored from JSON after a simulated crash).
    pub fn restore(&mut self, state: RolloutState) {
        self.state = state;
    }

    /// The simulated cluster.
    #[must_use]
    pub const fn world(&self) -> &World {
        &self.world
    }

    /// The simulated cluster, to inject changes between steps.
    pub const fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Decisions with actions so far.
    #[must_use]
    pub fn steps(&self) -> &[PreviewStep] {
        &self.steps
    }

    /// The observation the next step will use, with due commands.
    #[must_use]
    pub fn observe(&self) -> Observation {
        let mut obs = self.world.observe();
        for (at, c) in &self.commands {
            if *at <= self.world.now() {
                obs = obs.with_command(*c);
            }
        }
        obs
    }

    /// One decision: observe, plan, persist the new state, execute the actions
    /// (up to an injected crash); if there was nothing to do, let time pass to
    /// the next event.
    ///
    /// # Errors
    ///
    /// Planner errors, and [`Error::SimulatedTrackMissing`] for an action on a missing track.
    ///
    /// # Examples
    ///
    /// The tool dies after the first action of the update's first decision,
    /// restarts from its persisted JSON state and finishes the rollout:
    ///
    /// ```
    /// use engine_ops_rollout::{Phase, RolloutSpec, RolloutState, sim::{Simulator, World}};
    ///
    /// let v1 = RolloutSpec::builder("app:v1", 4).build()?;
    /// let mut sim = Simulator::deployed(v1.clone(), World::new())?;
    /// let next = sim.world().actions_applied() + 1;
    /// *sim.world_mut() = sim.world().clone().crash_after_action(next);
    /// sim.set_spec(v1.with_template("app:v2")?);
    /// let out = sim.step()?;
    /// assert_eq!(out.executed, 1);
    /// assert!(out.decision.actions.len() > 1, "the rest was lost");
    /// let json = serde_json::to_string(sim.state()).expect("serialises");
    /// sim.restore(serde_json::from_str::<RolloutState>(&json).expect("deserialises"));
    /// assert_eq!(sim.run()?.phase, Phase::Healthy);
    /// # Ok::<(), engine_ops_rollout::Error>(())
    /// ```
    pub fn step(&mut self) -> Result<StepOutcome, Error> {
        let obs = self.observe();
        let now = self.world.now();
        let decision = plan(&self.spec, &self.state, &obs);
        // Delivered commands are consumed, whether the planner accepted them or not.
        self.commands.retain(|(at, _)| *at > now);
        let decision = decision?;
        self.decisions += 1;
        // Write-ahead: the state is persisted before any action runs.
        self.state = decision.state.clone();
        let mut executed = 0;
        let mut after_each_action = Vec::with_capacity(decision.actions.len());
        for a in &decision.actions {
            self.world.apply(&a.action)?;
            after_each_action.push((self.world.tracks(), self.world.traffic()));
            executed += 1;
            if self.world.crashes_now() {
                break;
            }
        }
        let mut settled = false;
        if decision.actions.is_empty() {
            let mut next = self.world.next_event();
            if let Some(d) = decision.requeue_after {
                let t = now + d.max(Duration::from_millis(1));
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            if let Some(t) = self.commands.iter().map(|(at, _)| *at).min() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            match next {
                Some(t) => self.world.advance_to(t),
                None => settled = true,
            }
        }
        if !decision.actions.is_empty() || self.last_phase != Some(decision.phase) || settled {
            self.steps.push(PreviewStep {
                decision: self.decisions,
                at: now,
                phase: decision.phase,
                actions: decision.actions[..executed].to_vec(),
                lost_to_crash: decision.actions.len() - executed,
                explain: decision.explain.clone(),
                tracks: self.world.tracks(),
                traffic: self.world.traffic(),
                after_each_action,
            });
        }
        self.last_phase = Some(decision.phase);
        Ok(StepOutcome {
            decision,
            executed,
            settled,
        })
    }

    /// Steps until nothing is left to happen.
    ///
    /// # Errors
    ///
    /// Planner errors, or [`Error::SimulationLimit`] after `max_decisions`.
    pub fn run(&mut self) -> Result<Preview, Error> {
        let started_at = self.world.now();
        let first_step = self.steps.len();
        let first_decision = self.decisions;
        let last = loop {
            if self.decisions - first_decision >= self.max_decisions {
                return Err(Error::SimulationLimit {
                    decisions: self.decisions - first_decision,
                });
            }
            let out = self.step()?;
            if out.settled {
                break out.decision;
            }
        };
        Ok(Preview {
            steps: self.steps[first_step..].to_vec(),
            phase: last.phase,
            started_at,
            finished_at: self.world.now(),
            decisions: self.decisions - first_decision,
            waiting_for: last
                .condition(ConditionKind::Paused)
                .map(|c| c.message.to_string()),
        })
    }
}

/// Shows what a rollout will do before it runs: the planner is run to
/// completion against a copy of `world`, starting from `state`.
///
/// # Errors
///
/// Planner errors, or [`Error::SimulationLimit`] if the simulation never settles.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::{RolloutSpec, sim::{preview, Simulator, World}};
///
/// let v1 = RolloutSpec::builder("app:v1", 10).build()?;
/// let live = Simulator::deployed(v1.clone(), World::new())?;
/// let table = preview(&v1.with_template("app:v2")?, live.state(), live.world())?;
/// println!("{table}");
/// assert!(table.actions().count() >= 6);
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
pub fn preview(spec: &RolloutSpec, state: &RolloutState, world: &World) -> Result<Preview, Error> {
    Simulator::new(spec.clone(), state.clone(), world.clone()).run()
}
