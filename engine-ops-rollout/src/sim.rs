//! A simulated cluster, a driver that runs the planner against it, and
//! [`preview`].

use std::fmt;
use std::time::Duration;

use crate::{
    Action, CheckObs, CheckRun, CheckStatus, Command, Decision, Error, Observation, Phase,
    PlannedAction, RolloutSpec, RolloutState, Timestamp, TrackId, TrackObs, TrafficObs, plan,
};

/// How a simulated check behaves once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckBehaviour {
    /// Passes after the world's check duration.
    Pass,
    /// Fails after the world's check duration.
    Fail,
    /// Is inconclusive after the world's check duration.
    Inconclusive,
    /// Keeps running and records one failed measurement every interval.
    FailEvery(Duration),
    /// Runs forever without a verdict.
    Hang,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cohort {
    ready_at: Option<Timestamp>,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SimTrack {
    id: TrackId,
    revision: u64,
    template: String,
    min_ready: Duration,
    spec: u32,
    cohorts: Vec<Cohort>,
    scale_down_at: Option<Timestamp>,
    /// The desired-replicas and max-replicas annotations last written.
    annotations: (u32, u32),
}

impl SimTrack {
    fn counts(&self, now: Timestamp) -> (u32, u32, u32) {
        let (mut replicas, mut ready, mut available) = (0, 0, 0);
        for c in &self.cohorts {
            replicas += c.count;
            if let Some(r) = c.ready_at {
                if r <= now {
                    ready += c.count;
                }
                if r + self.min_ready <= now {
                    available += c.count;
                }
            }
        }
        (replicas, ready, available)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SimCheck {
    run: CheckRun,
    template: String,
    started: Timestamp,
    stopped: bool,
}

/// What one track of the simulated cluster looks like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TrackView {
    /// The track.
    pub track: TrackId,
    /// Its revision.
    pub revision: u64,
    /// Its template.
    pub template: String,
    /// Desired size.
    pub spec: u32,
    /// Ready pods.
    pub ready: u32,
    /// Available pods.
    pub available: u32,
}

/// A fake cluster: tracks of pods that become ready after a delay (and
/// available `min_ready` later), services, a traffic router and checks, with
/// failure injection.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::{CheckBehaviour, World};
///
/// let world = World::new()
///     .ready_after(Duration::from_secs(10))
///     .pods_never_ready("app:broken")
///     .check("smoke", CheckBehaviour::Fail)
///     .crash_after_action(3);
/// assert!(world.tracks().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    now: Timestamp,
    tracks: Vec<SimTrack>,
    traffic: TrafficObs,
    checks: Vec<SimCheck>,
    ready_after: Duration,
    check_duration: Duration,
    never_ready: Vec<String>,
    behaviours: Vec<(String, Option<String>, CheckBehaviour)>,
    crash_after: Vec<u64>,
    applied: u64,
}

impl World {
    /// An empty cluster at `Timestamp::ZERO`: pods ready 5 s after creation,
    /// checks decide after 30 s and pass.
    #[must_use]
    pub fn new() -> Self {
        Self {
            now: Timestamp::ZERO,
            tracks: Vec::new(),
            traffic: TrafficObs::default(),
            checks: Vec::new(),
            ready_after: Duration::from_secs(5),
            check_duration: Duration::from_secs(30),
            never_ready: Vec::new(),
            behaviours: Vec::new(),
            crash_after: Vec::new(),
            applied: 0,
        }
    }

    /// Sets how long a new pod takes to become ready.
    #[must_use]
    pub const fn ready_after(mut self, d: Duration) -> Self {
        self.ready_after = d;
        self
    }

    /// Sets how long a check takes to reach its verdict.
    #[must_use]
    pub const fn check_duration(mut self, d: Duration) -> Self {
        self.check_duration = d;
        self
    }

    /// Pods of this template never become ready.
    #[must_use]
    pub fn pods_never_ready(mut self, template: impl Into<String>) -> Self {
        self.never_ready.push(template.into());
        self
    }

    /// Every run of the named check behaves like this.
    #[must_use]
    pub fn check(mut self, name: impl Into<String>, behaviour: CheckBehaviour) -> Self {
        self.behaviours.push((name.into(), None, behaviour));
        self
    }

    /// Runs of the named check against `template` behave like this (takes precedence).
    #[must_use]
    pub fn check_for(
        mut self,
        name: impl Into<String>,
        template: impl Into<String>,
        behaviour: CheckBehaviour,
    ) -> Self {
        self.behaviours
            .insert(0, (name.into(), Some(template.into()), behaviour));
        self
    }

    /// The tool crashes right after applying its `k`-th action (counted from 1
    /// over the world's life): the rest of that decision's actions are lost and
    /// the tool resumes from its persisted state.
    #[must_use]
    pub fn crash_after_action(mut self, k: u64) -> Self {
        self.crash_after.push(k);
        self
    }

    /// Current simulated time.
    #[must_use]
    pub const fn now(&self) -> Timestamp {
        self.now
    }

    /// Actions applied so far.
    #[must_use]
    pub const fn actions_applied(&self) -> u64 {
        self.applied
    }

    /// Moves the clock forward (never backward).
    pub fn advance_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    /// Tracks, oldest first.
    #[must_use]
    pub fn tracks(&self) -> Vec<TrackView> {
        self.tracks
            .iter()
            .map(|t| {
                let (_, ready, available) = t.counts(self.now);
                TrackView {
                    track: t.id,
                    revision: t.revision,
                    template: t.template.clone(),
                    spec: t.spec,
                    ready,
                    available,
                }
            })
            .collect()
    }

    /// Traffic targets.
    #[must_use]
    pub const fn traffic(&self) -> TrafficObs {
        self.traffic
    }

    /// Where each track is due to be scaled down, as announced by the planner.
    #[must_use]
    pub fn scheduled_scale_downs(&self) -> Vec<(TrackId, Timestamp)> {
        self.tracks
            .iter()
            .filter_map(|t| t.scale_down_at.map(|at| (t.id, at)))
            .collect()
    }

    fn behaviour(&self, run: &CheckRun, template: &str) -> CheckBehaviour {
        self.behaviours
            .iter()
            .find(|(n, t, _)| *n == run.name && t.as_deref().is_none_or(|t| t == template))
            .map_or(CheckBehaviour::Pass, |(_, _, b)| *b)
    }

    /// The observation the planner would receive now (without commands).
    #[must_use]
    pub fn observe(&self) -> Observation {
        let mut obs = Observation::new(self.now).with_traffic(self.traffic);
        for t in &self.tracks {
            let (replicas, ready, available) = t.counts(self.now);
            let (desired, max) = t.annotations;
            obs = obs.with_track(
                TrackObs::new(t.id, t.spec, ready, available)
                    .with_replicas(replicas)
                    .with_annotations(desired, max)
                    .with_min_ready(t.min_ready),
            );
        }
        for c in self.checks.iter().filter(|c| !c.stopped) {
            let elapsed = self.now.saturating_since(c.started);
            let done = elapsed >= self.check_duration;
            let (status, failures) = match self.behaviour(&c.run, &c.template) {
                CheckBehaviour::Pass if done => (CheckStatus::Passed, 0),
                CheckBehaviour::Fail if done => (CheckStatus::Failed, 1),
                CheckBehaviour::Inconclusive if done => (CheckStatus::Inconclusive, 0),
                CheckBehaviour::FailEvery(d) if !d.is_zero() => {
                    let n = elapsed.as_millis() / d.as_millis().max(1);
                    (CheckStatus::Running, u32::try_from(n).unwrap_or(u32::MAX))
                }
                _ => (CheckStatus::Running, 0),
            };
            obs = obs.with_check(CheckObs::new(c.run.clone(), status, failures));
        }
        obs
    }

    /// The next time something observable changes by itself, if ever.
    #[must_use]
    pub fn next_event(&self) -> Option<Timestamp> {
        let now = self.now;
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for t in &self.tracks {
            for c in &t.cohorts {
                if let Some(r) = c.ready_at {
                    consider(r);
                    consider(r + t.min_ready);
                }
            }
        }
        for c in self.checks.iter().filter(|c| !c.stopped) {
            match self.behaviour(&c.run, &c.template) {
                CheckBehaviour::Hang => {}
                CheckBehaviour::FailEvery(d) if !d.is_zero() => {
                    let elapsed = now.saturating_since(c.started).as_millis();
                    let step = d.as_millis().max(1);
                    let k = elapsed / step + 1;
                    let ms = u64::try_from(k * step).unwrap_or(u64::MAX);
                    consider(c.started + Duration::from_millis(ms));
                }
                _ => consider(c.started + self.check_duration),
            }
        }
        next
    }

    fn track_mut(&mut self, id: TrackId) -> Result<&mut SimTrack, Error> {
        self.tracks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(Error::SimulatedTrackMissing { track: id })
    }

    fn resize(&mut self, id: TrackId, replicas: u32) -> Result<(), Error> {
        let now = self.now;
        let ready_after = self.ready_after;
        let Self {
            tracks,
            never_ready,
            ..
        } = self;
        let t = tracks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(Error::SimulatedTrackMissing { track: id })?;
        let have: u32 = t.cohorts.iter().map(|c| c.count).sum();
        if replicas > have {
            let ready_at = (!never_ready.contains(&t.template)).then(|| now + ready_after);
            t.cohorts.push(Cohort {
                ready_at,
                count: replicas - have,
            });
        } else if replicas < have {
            // The ReplicaSet controller deletes pods that are not ready first, newest first.
            t.cohorts.sort_by_key(|c| {
                std::cmp::Reverse(c.ready_at.map_or(u64::MAX, Timestamp::as_millis))
            });
            let mut remove = have - replicas;
            for c in &mut t.cohorts {
                let k = c.count.min(remove);
                c.count -= k;
                remove -= k;
            }
            t.cohorts.retain(|c| c.count > 0);
            t.cohorts
                .sort_by_key(|c| c.ready_at.map_or(u64::MAX, Timestamp::as_millis));
        }
        t.spec = replicas;
        Ok(())
    }

    /// Executes one action.
    ///
    /// # Errors
    ///
    /// [`Error::SimulatedTrackMissing`] when the action names a track that does not exist.
    pub fn apply(&mut self, action: &Action) -> Result<(), Error> {
        self.applied += 1;
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
                if !self.tracks.iter().any(|t| t.id == *track) {
                    self.tracks.push(SimTrack {
                        id: *track,
                        revision: *revision,
                        template: template.clone(),
                        min_ready: *min_ready,
                        spec: 0,
                        cohorts: Vec::new(),
                        scale_down_at: None,
                        annotations: (*desired_replicas, *max_replicas),
                    });
                    self.tracks.sort_by_key(|t| t.id);
                    self.resize(*track, *replicas)?;
                }
            }
            Action::ScaleTrack {
                track,
                replicas,
                desired_replicas,
                max_replicas,
            } => {
                self.track_mut(*track)?.annotations = (*desired_replicas, *max_replicas);
                self.resize(*track, *replicas)?;
            }
            Action::SetRevision { track, revision } => self.track_mut(*track)?.revision = *revision,
            Action::SetMinReady { track, min_ready } => {
                self.track_mut(*track)?.min_ready = *min_ready
            }
            Action::SetActive { track } => {
                self.track_mut(*track)?;
                self.traffic.active = Some(*track);
            }
            Action::SetPreview { track } => self.traffic.preview = *track,
            Action::SetCanaryWeight { track, weight } => {
                self.track_mut(*track)?;
                self.traffic.canary = Some(*track);
                self.traffic.canary_weight = *weight;
            }
            Action::StartCheck { run, track } => {
                let template = self.track_mut(*track)?.template.clone();
                if !self.checks.iter().any(|c| &c.run == run) {
                    self.checks.push(SimCheck {
                        run: run.clone(),
                        template,
                        started: self.now,
                        stopped: false,
                    });
                }
            }
            Action::StopCheck { run } => {
                for c in self.checks.iter_mut().filter(|c| &c.run == run) {
                    c.stopped = true;
                }
            }
            Action::ScheduleScaleDown { track, at } => {
                self.track_mut(*track)?.scale_down_at = Some(*at)
            }
            Action::DeleteTrack { track } => self.tracks.retain(|t| t.id != *track),
        }
        Ok(())
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// One decision as the simulator executed it: a step of a [`Preview`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviewStep {
    /// Decision number, from 1.
    pub decision: u64,
    /// When it was made.
    pub at: Timestamp,
    /// Phase after it.
    pub phase: Phase,
    /// Actions executed.
    pub actions: Vec<PlannedAction>,
    /// Actions lost because the tool crashed (injected failure).
    pub lost_to_crash: usize,
    /// The planner's explanations.
    pub explain: Vec<String>,
    /// Tracks after the actions.
    pub tracks: Vec<TrackView>,
    /// Traffic after the actions.
    pub traffic: TrafficObs,
    /// Tracks and traffic right after each executed action, in order.
    pub after_each_action: Vec<(Vec<TrackView>, TrafficObs)>,
}

/// What a rollout did in a simulation run to its end: the steps that did
/// something, the phase it ended in and how long it took; it prints as a
/// table (one row per action, with the sizes right after it and the reason).
///
/// Returned by [`preview`] and [`Simulator::run`]. It is not a decision of
/// the planner ([`plan()`](crate::plan()) returns one
/// [`Decision`]); it is the record of many.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preview {
    /// Decisions that did something (and the last one).
    pub steps: Vec<PreviewStep>,
    /// Phase at the end.
    pub phase: Phase,
    /// When the simulation started.
    pub started_at: Timestamp,
    /// When it settled.
    pub finished_at: Timestamp,
    /// Decisions made (including those without actions).
    pub decisions: u64,
    /// Why it stopped: settled, or waiting for an operator.
    pub waiting_for: Option<String>,
}

impl Preview {
    /// Simulated duration.
    #[must_use]
    pub const fn duration(&self) -> Duration {
        self.finished_at.saturating_since(self.started_at)
    }

    /// Every executed action with its step, in order.
    pub fn actions(&self) -> impl Iterator<Item = (&PreviewStep, &PlannedAction)> {
        self.steps
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
    }
}

fn sizes(tracks: &[TrackView], traffic: TrafficObs) -> String {
    let mut out = String::new();
    for t in tracks {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("r{}:{}/{}", t.revision, t.available, t.spec));
    }
    let rev = |id: TrackId| {
        tracks
            .iter()
            .find(|t| t.track == id)
            .map_or(0, |t| t.revision)
    };
    if let Some(a) = traffic.active {
        out.push_str(&format!(" live=r{}", rev(a)));
    }
    if let Some(c) = traffic.canary
        && traffic.canary_weight > 0
    {
        out.push_str(&format!(" r{}@{}%", rev(c), traffic.canary_weight));
    }
    out
}

/// An action in terms of revisions (`r2`) rather than track ids, for tables.
fn describe(action: &Action, tracks: &[TrackView]) -> String {
    let r = |id: TrackId| {
        tracks
            .iter()
            .find(|t| t.track == id)
            .map_or_else(|| format!("{id}"), |t| format!("r{}", t.revision))
    };
    match action {
        Action::CreateTrack {
            revision, replicas, ..
        } => format!("create r{revision} x{replicas}"),
        Action::ScaleTrack {
            track, replicas, ..
        } => format!("scale {} to {replicas}", r(*track)),
        Action::SetRevision { track, revision } => format!("relabel {} as r{revision}", r(*track)),
        Action::SetMinReady { track, min_ready } => {
            format!("{} minReady {} s", r(*track), min_ready.as_secs_f64())
        }
        Action::SetActive { track } => format!("switch live to {}", r(*track)),
        Action::SetPreview { track: Some(t) } => format!("preview {}", r(*t)),
        Action::SetPreview { track: None } => "clear preview".to_owned(),
        Action::SetCanaryWeight { track, weight } => format!("weight {weight}% to {}", r(*track)),
        Action::StartCheck { run, track } => format!("start {} on {}", run.name, r(*track)),
        Action::StopCheck { run } => format!("stop {}", run.name),
        Action::ScheduleScaleDown { track, at } => format!("{} down at {at}", r(*track)),
        Action::DeleteTrack { track } => format!("delete {}", r(*track)),
    }
}

/// One line of a [`Preview`] table: an executed action, or the note of a crash.
enum Line<'a> {
    Action {
        at: String,
        action: String,
        after: String,
        reason: &'a str,
    },
    Crash {
        at: String,
        lost: usize,
    },
}

impl fmt::Display for Preview {
    /// A table: one row per action, with the time, the action, the track sizes
    /// right after it (`r<revision>:<available>/<spec>`, the live revision, a
    /// canary weight) and the reason. Columns are as wide as their longest cell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        for s in &self.steps {
            for (i, a) in s.actions.iter().enumerate() {
                let after = s
                    .after_each_action
                    .get(i)
                    .map_or_else(|| sizes(&s.tracks, s.traffic), |(t, tr)| sizes(t, *tr));
                lines.push(Line::Action {
                    at: s.at.to_string(),
                    action: describe(&a.action, &s.tracks),
                    after,
                    reason: &a.reason,
                });
            }
            if s.lost_to_crash > 0 {
                lines.push(Line::Crash {
                    at: s.at.to_string(),
                    lost: s.lost_to_crash,
                });
            }
        }
        let (header_action, header_after) = ("action", "after (avail/spec)");
        let width = |cell: fn(&Line<'_>) -> Option<usize>, header: &str| {
            lines
                .iter()
                .filter_map(cell)
                .fold(header.chars().count(), usize::max)
        };
        let wa = width(
            |l| match l {
                Line::Action { action, .. } => Some(action.chars().count()),
                Line::Crash { .. } => None,
            },
            header_action,
        );
        let wf = width(
            |l| match l {
                Line::Action { after, .. } => Some(after.chars().count()),
                Line::Crash { .. } => None,
            },
            header_after,
        );
        writeln!(
            f,
            "{:>3}  {:>9}  {header_action:<wa$}  {header_after:<wf$}  reason",
            "#", "at"
        )?;
        let mut row = 0;
        for line in &lines {
            match line {
                Line::Action {
                    at,
                    action,
                    after,
                    reason,
                } => {
                    row += 1;
                    writeln!(
                        f,
                        "{row:>3}  {at:>9}  {action:<wa$}  {after:<wf$}  {reason}"
                    )?;
                }
                Line::Crash { at, lost } => writeln!(
                    f,
                    "{:>3}  {at:>9}  (tool crashed: {lost} action(s) lost, resumed from the persisted state)",
                    ""
                )?,
            }
        }
        write!(
            f,
            "=> {} after {:.1} s of simulated time, {} decisions",
            self.phase,
            self.duration().as_secs_f64(),
            self.decisions
        )?;
        if let Some(w) = &self.waiting_for {
            write!(f, "; waiting: {w}")?;
        }
        Ok(())
    }
}

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
/// use engine_ops_rollout::{BlueGreenStrategy, Phase, RolloutSpec, Simulator, Strategy, World};
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
        self.commands.push((self.world.now, command));
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
            if *at <= self.world.now {
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
    /// use engine_ops_rollout::{Phase, RolloutSpec, RolloutState, Simulator, World};
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
        let now = self.world.now;
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
            after_each_action.push((self.world.tracks(), self.world.traffic));
            executed += 1;
            if self.world.crash_after.contains(&self.world.applied) {
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
                traffic: self.world.traffic,
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
        let started_at = self.world.now;
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
            finished_at: self.world.now,
            decisions: self.decisions - first_decision,
            waiting_for: last
                .condition(crate::ConditionKind::Paused)
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
/// use engine_ops_rollout::{preview, RolloutSpec, Simulator, World};
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
