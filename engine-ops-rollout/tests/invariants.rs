//! Property tests of the planner's invariants: budgets, switch and weight
//! safety, abort reaching stable, termination, determinism, idempotency and
//! fixpoint.

mod common;

use std::time::Duration;

use engine_ops_rollout::{
    Action, Command, Error, Phase, RolloutSpec, Stage, Strategy, TrackId, plan,
    sim::{Simulator, World},
    spec::{
        BlueGreenStrategy, CanaryStep, CanaryStrategy, CheckSpec, Fenceposts, IntOrPercent,
        Promotion, RollingStrategy,
    },
};
use proptest::prelude::*;
use proptest::strategy::Strategy as PropStrategy;

#[derive(Debug, Clone)]
enum Kind {
    Rolling(IntOrPercent, IntOrPercent),
    BlueGreen {
        preview: Option<u32>,
        checks: bool,
        timer: Option<u64>,
    },
    Canary {
        routed: bool,
        weights: Vec<u32>,
        surge: IntOrPercent,
        unavailable: IntOrPercent,
    },
}

#[derive(Debug, Clone)]
struct Scenario {
    kind: Kind,
    n: u32,
    ready_after: u64,
    min_ready: u64,
}

fn budget() -> impl PropStrategy<Value = (IntOrPercent, IntOrPercent)> {
    let v = prop_oneof![
        (0u32..4).prop_map(IntOrPercent::Count),
        (0u32..=100).prop_map(IntOrPercent::Percent)
    ];
    (v.clone(), v).prop_map(|(s, u)| {
        let zero = |x: IntOrPercent| matches!(x, IntOrPercent::Count(0) | IntOrPercent::Percent(0));
        if zero(s) && zero(u) {
            (s, IntOrPercent::Count(1))
        } else {
            (s, u)
        }
    })
}

fn scenario() -> impl PropStrategy<Value = Scenario> {
    let kind = prop_oneof![
        budget().prop_map(|(s, u)| Kind::Rolling(s, u)),
        (
            prop::option::of(0u32..5),
            any::<bool>(),
            prop::option::of(1u64..100)
        )
            .prop_map(|(preview, checks, timer)| Kind::BlueGreen {
                preview,
                checks,
                timer
            }),
        (
            any::<bool>(),
            prop::collection::vec(0u32..=100, 1..4),
            budget()
        )
            .prop_map(|(routed, weights, (surge, unavailable))| Kind::Canary {
                routed,
                weights,
                surge,
                unavailable
            }),
    ];
    (kind, 1u32..16, 1u64..20, 0u64..10).prop_map(|(kind, n, ready_after, min_ready)| Scenario {
        kind,
        n,
        ready_after,
        min_ready,
    })
}

fn spec(s: &Scenario, template: &str) -> RolloutSpec {
    let strategy = match &s.kind {
        Kind::Rolling(a, b) => Strategy::Rolling(RollingStrategy::new(*a, *b)),
        Kind::BlueGreen {
            preview,
            checks,
            timer,
        } => {
            let mut bg = BlueGreenStrategy::new().scale_down_delay(Duration::from_secs(20));
            if let Some(p) = preview {
                bg = bg.preview_replicas((*p).min(s.n));
            }
            if *checks {
                bg = bg
                    .pre_promotion(CheckSpec::new("smoke"))
                    .post_promotion(CheckSpec::new("errors"));
            }
            if let Some(t) = timer {
                bg = bg.promotion(Promotion::After(Duration::from_secs(*t)));
            }
            Strategy::BlueGreen(bg)
        }
        Kind::Canary {
            routed,
            weights,
            surge,
            unavailable,
        } => {
            let mut steps = Vec::new();
            for w in weights {
                steps.push(CanaryStep::SetWeight(*w));
                steps.push(CanaryStep::Pause(Some(Duration::from_secs(10))));
            }
            steps.push(CanaryStep::Analysis(CheckSpec::new("analysis")));
            Strategy::Canary(
                CanaryStrategy::new(steps)
                    .traffic_routing(*routed)
                    .budget(*surge, *unavailable),
            )
        }
    };
    RolloutSpec::builder(template, s.n)
        .strategy(strategy)
        .min_ready(Duration::from_secs(s.min_ready))
        .build()
        .expect("generated specs are valid")
}

fn world(s: &Scenario) -> World {
    World::new()
        .ready_after(Duration::from_secs(s.ready_after))
        .check_duration(Duration::from_secs(15))
}

/// An undo the planner refuses (paused, nothing to go back to): an error the
/// tool reports; nothing changes.
fn undo_refused(e: &Error, obs: &engine_ops_rollout::Observation) -> bool {
    matches!(
        e,
        Error::UndoWhilePaused | Error::NoPreviousRevision | Error::UnknownRevision { .. }
    ) && obs
        .commands
        .iter()
        .any(|c| matches!(c, Command::Undo { .. }))
}

/// The surge / unavailable budget of a spec, where it bounds every track
/// (rolling, replica-weighted canary).
fn budget_of(spec: &RolloutSpec) -> Option<Fenceposts> {
    let n = spec.replicas();
    match spec.strategy() {
        Strategy::Rolling(r) => Some(Fenceposts::resolve(n, r.max_surge, r.max_unavailable)),
        Strategy::Canary(c) if !c.traffic_routing => {
            Some(Fenceposts::resolve(n, c.max_surge, c.max_unavailable))
        }
        _ => None,
    }
}

/// One step with every per-decision invariant checked.
fn checked_step(sim: &mut Simulator, s: &Scenario) -> Result<bool, TestCaseError> {
    checked_step_with(sim, s, true)
}

/// One step with every per-decision invariant checked; `fixed_replicas`: the
/// replicas never change in this run (a rolling update's new track then never
/// goes above them).
fn checked_step_with(
    sim: &mut Simulator,
    s: &Scenario,
    fixed_replicas: bool,
) -> Result<bool, TestCaseError> {
    let n = sim.spec().replicas();
    let obs = sim.observe();
    let state = sim.state().clone();
    let d1 = match plan(sim.spec(), &state, &obs) {
        Ok(d) => d,
        Err(e) if undo_refused(&e, &obs) => {
            // The tool reports the refusal; the commands were delivered.
            prop_assert!(sim.step().is_err());
            return Ok(false);
        }
        Err(e) => return Err(TestCaseError::fail(e.to_string())),
    };
    let d2 = plan(sim.spec(), &state, &obs).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&d1, &d2, "plan is not deterministic");

    // Idempotency: applying the actions twice equals applying them once.
    let mut once = sim.world().clone();
    let mut twice = sim.world().clone();
    for a in &d1.actions {
        once.apply(&a.action)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        twice
            .apply(&a.action)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        twice
            .apply(&a.action)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    prop_assert_eq!(once.tracks(), twice.tracks());
    prop_assert_eq!(once.traffic(), twice.traffic());

    let spec_sum: u32 = obs.tracks.iter().map(|t| t.spec_replicas).sum();
    let avail_before: u32 = obs.tracks.iter().map(|t| t.available).sum();
    let avail = |id: TrackId| {
        obs.tracks
            .iter()
            .find(|t| t.track == id)
            .map_or(0, |t| t.available)
    };
    for a in &d1.actions {
        match a.action {
            Action::SetActive { track } => {
                prop_assert!(
                    avail(track) >= n,
                    "switch to {} with {}/{} available",
                    track,
                    avail(track),
                    n
                );
            }
            Action::SetCanaryWeight { track, weight } => {
                let current = if obs.traffic.canary == Some(track) {
                    obs.traffic.canary_weight
                } else {
                    0
                };
                if weight > current {
                    prop_assert!(
                        weight * n <= 100 * avail(track),
                        "weight {}% over {} available of {}",
                        weight,
                        avail(track),
                        n
                    );
                }
            }
            // Switch safety: the track the active (stable) service selects is
            // never shrunk below the full count while it serves.
            Action::ScaleTrack {
                track, replicas, ..
            } if obs.traffic.active == Some(track) => {
                prop_assert!(
                    replicas >= n,
                    "the serving track {} scaled to {} of {}",
                    track,
                    replicas,
                    n
                );
            }
            _ => {}
        }
        prop_assert!(!a.reason.is_empty(), "every action carries a reason");
    }
    if let Some(f) = budget_of(sim.spec()) {
        let tracks = once.tracks();
        let after_sum: u32 = tracks.iter().map(|t| t.spec).sum();
        // Pods that are available after the decision (a scale-down removes
        // pods that are not available first, as the ReplicaSet controller does).
        let after_avail: u32 = tracks.iter().map(|t| t.available).sum();
        let ceiling = f.max_total();
        if spec_sum <= ceiling {
            prop_assert!(
                after_sum <= ceiling,
                "surge bound: {} > {} (n {}, maxSurge {})",
                after_sum,
                ceiling,
                n,
                f.max_surge
            );
        } else {
            // Above the bound (the replicas just went down): never further up.
            prop_assert!(
                after_sum <= spec_sum,
                "above the surge bound and growing: {} -> {} (bound {})",
                spec_sum,
                after_sum,
                ceiling
            );
        }
        // A rolling update's scaling event (a track annotated with other
        // replicas than the spec's) is the Deployment controller's
        // proportional scaling: it resizes every track by its share, not by
        // availability, and the planner does exactly what the controller does
        // (tests/reference_model.rs). Every other decision keeps the floor.
        let rolling_scaling_event = matches!(sim.spec().strategy(), Strategy::Rolling(_))
            && obs
                .tracks
                .iter()
                .any(|t| t.spec_replicas > 0 && t.desired_replicas.is_some_and(|d| d != n));
        if !rolling_scaling_event {
            prop_assert!(
                after_avail >= f.min_available().min(avail_before),
                "availability bound: {} < min({}, {})",
                after_avail,
                f.min_available(),
                avail_before
            );
        }
        // While paused the controller's proportional `sync` spreads n + maxSurge
        // over the active tracks and may put the new one above n, as
        // Kubernetes does; otherwise the new track never exceeds n.
        if fixed_replicas
            && matches!(s.kind, Kind::Rolling(..))
            && !state.is_paused()
            && !d1.state.is_paused()
        {
            let target = sim.spec().template().to_owned();
            for t in tracks.iter().filter(|t| t.template == target) {
                prop_assert!(t.spec <= n, "new track above n");
            }
        }
    }

    let out = sim.step().map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Fixpoint: a decision without actions re-planned on the same world (its
    // commands delivered already) changes nothing.
    if out.decision.actions.is_empty() {
        let mut same = obs.clone();
        same.commands.clear();
        let again = plan(sim.spec(), &out.decision.state, &same)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            again.actions.is_empty(),
            "not a fixpoint: {:?}",
            again.actions
        );
        prop_assert_eq!(&again.state, &out.decision.state);
    }
    Ok(out.settled)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// In a world where pods become ready and checks pass, every rollout
    /// terminates healthy on the new template, and every decision on the way
    /// keeps the invariants.
    #[test]
    fn rollouts_terminate_and_keep_invariants(s in scenario()) {
        let v1 = spec(&s, "v1");
        let mut sim = Simulator::deployed(v1, world(&s)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        sim.set_spec(spec(&s, "v2"));
        let mut settled = false;
        for _ in 0..5_000 {
            if checked_step(&mut sim, &s)? {
                settled = true;
                break;
            }
        }
        prop_assert!(settled, "did not settle in 5000 decisions");
        let live = common::live(&sim);
        prop_assert_eq!(live, vec![("v2".to_owned(), s.n, s.n)]);
        let last = sim.steps().last().map(|st| st.phase);
        prop_assert_eq!(last, Some(Phase::Healthy));
    }

    /// Abort from any in-flight moment puts all traffic on the stable revision
    /// within two decisions, even when the new pods never become ready.
    #[test]
    fn abort_reaches_stable_within_two_decisions(
        s in scenario(),
        at in 1usize..25,
        never_ready in any::<bool>(),
    ) {
        let v1 = spec(&s, "v1");
        let mut w = world(&s);
        if never_ready {
            w = w.pods_never_ready("v2");
        }
        let mut sim = Simulator::deployed(v1, w).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stable = sim.state().stable();
        sim.set_spec(spec(&s, "v2"));
        for _ in 0..at {
            checked_step(&mut sim, &s)?;
        }
        let now = sim.world().now();
        let in_flight = match sim.state().stage() {
            Stage::Idle => false,
            // Once the old colour's delay is over it is being scaled down: the rollout is committed.
            Stage::Draining { until } => now < until,
            _ => true,
        };
        sim.command(Command::Abort);
        checked_step(&mut sim, &s)?;
        checked_step(&mut sim, &s)?;
        let stage = sim.state().stage();
        if in_flight && sim.state().stable() == stable {
            let traffic = sim.world().traffic();
            match &s.kind {
                Kind::BlueGreen { .. } => {
                    prop_assert_eq!(stage, Stage::Aborted);
                    prop_assert_eq!(traffic.active, stable, "blue-green traffic not back on stable");
                }
                Kind::Canary { routed: true, .. } => {
                    prop_assert_eq!(stage, Stage::Aborted);
                    prop_assert_eq!(traffic.canary_weight, 0, "canary weight not back to 0");
                    prop_assert_eq!(traffic.active, stable);
                }
                _ => {}
            }
            // And the abort completes: capacity back on stable, nothing left of v2.
            let mut settled = false;
            for _ in 0..5_000 {
                if checked_step(&mut sim, &s)? {
                    settled = true;
                    break;
                }
            }
            prop_assert!(settled);
            prop_assert_eq!(common::live(&sim), vec![("v1".to_owned(), s.n, s.n)]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Liveness, with the bound calibrated on the simulator: a rolling
    /// update takes at most 3 decisions per wave of `s + u` pods (4 when
    /// `min_ready` adds a "ready but not yet available" event), plus 6.
    #[test]
    fn rolling_needs_a_bounded_number_of_decisions(
        n in 1u32..60,
        (s, u) in budget(),
        ready_after in 1u64..30,
        min_ready in prop_oneof![Just(0u64), 1u64..20],
    ) {
        let scenario = Scenario { kind: Kind::Rolling(s, u), n, ready_after, min_ready };
        let v1 = spec(&scenario, "v1");
        let mut sim = Simulator::deployed(v1, world(&scenario)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        sim.set_spec(spec(&scenario, "v2"));
        let plan = sim.run().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let f = Fenceposts::resolve(n, s, u);
        let waves = u64::from(n.div_ceil((f.max_surge + f.max_unavailable).max(1)));
        let per_wave = if min_ready > 0 { 4 } else { 3 };
        prop_assert_eq!(plan.phase, Phase::Healthy);
        prop_assert!(
            plan.decisions <= per_wave * waves + 6,
            "{} decisions for n={} s={} u={} ({} waves)", plan.decisions, n, f.max_surge, f.max_unavailable, waves
        );
    }

    /// Pause: while paused, nothing advances the rollout; after Resume it completes.
    #[test]
    fn paused_rollouts_do_not_advance(s in scenario(), at in 0usize..12) {
        let v1 = spec(&s, "v1");
        let mut sim = Simulator::deployed(v1, world(&s)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        sim.set_spec(spec(&s, "v2"));
        for _ in 0..at {
            checked_step(&mut sim, &s)?;
        }
        sim.command(Command::Pause);
        let before = sim.world().tracks();
        let traffic = sim.world().traffic();
        let first = sim.steps().len();
        let mut settled = false;
        for _ in 0..5_000 {
            if checked_step(&mut sim, &s)? {
                settled = true;
                break;
            }
        }
        prop_assert!(settled, "a paused rollout settles");
        let steps = sim.steps()[first..].to_vec();
        for a in steps.iter().flat_map(|st| st.actions.iter()) {
            let advancing = match &a.action {
                // An empty track (a replica-weighted canary's, created at 0) runs nothing.
                Action::CreateTrack { replicas, .. } => *replicas > 0,
                Action::SetActive { .. } | Action::StartCheck { .. } => true,
                Action::SetCanaryWeight { weight, .. } => *weight > traffic.canary_weight,
                // A paused rolling update runs the controller's proportional `sync`,
                // which may resize tracks within n + maxSurge (checked per step);
                // blue-green and canary tracks must not grow at all.
                Action::ScaleTrack { track, replicas, .. } => {
                    !matches!(s.kind, Kind::Rolling(..))
                        && before.iter().find(|t| t.track == *track).is_none_or(|t| *replicas > t.spec)
                }
                _ => false,
            };
            prop_assert!(!advancing, "advanced while paused: {}", a.action);
        }
        let phase = steps.last().map(|st| st.phase);
        prop_assert_eq!(phase, Some(Phase::Paused), "a paused rollout reports Paused");
        sim.command(Command::Resume);
        let resumed = sim.run().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(resumed.phase, Phase::Healthy);
        prop_assert_eq!(common::live(&sim), vec![("v2".to_owned(), s.n, s.n)]);
    }
}

// ----- random event orders: replica changes, templates, several commands at once -----

/// Something that happens to a rollout between decisions.
#[derive(Debug, Clone)]
enum Ev {
    /// The tool plans and acts this many times.
    Decide(u8),
    /// Time passes (pods become ready and available, checks decide).
    Wait(u64),
    /// Commands delivered together with the next decision.
    Commands(Vec<Command>),
    /// The rollout's replicas change (an operator or an autoscaler).
    Replicas(u32),
    /// A new template; its pods never become ready when the flag is set.
    NewTemplate(bool),
    /// The template goes back to the one before.
    Revert,
}

fn command() -> impl PropStrategy<Value = Command> {
    prop_oneof![
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::Promote),
        Just(Command::Abort),
        Just(Command::Retry),
        Just(Command::Undo { to_revision: None }),
    ]
}

fn ev() -> impl PropStrategy<Value = Ev> {
    prop_oneof![
        8 => (1u8..6).prop_map(Ev::Decide),
        4 => (1u64..25).prop_map(Ev::Wait),
        3 => prop::collection::vec(command(), 1..4).prop_map(Ev::Commands),
        2 => (0u32..16).prop_map(Ev::Replicas),
        2 => prop::bool::weighted(0.3).prop_map(Ev::NewTemplate),
        1 => Just(Ev::Revert),
    ]
}

proptest! {
    // 600 cases unless PROPTEST_CASES asks for more.
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(600), ..ProptestConfig::default() })]

    /// Under random orders of replica changes, new and reverted templates,
    /// pods that never become ready, and several commands in one observation
    /// (pause, resume, promote, abort, retry, undo), every decision of a
    /// rolling update or a replica-weighted canary keeps the desired total
    /// within replicas + maxSurge and never takes available pods below
    /// replicas − maxUnavailable (counting only available pods); blue-green
    /// and routed canaries keep their switch and weight rules. Resumed and
    /// left alone, every rollout settles.
    #[test]
    fn random_event_orders_keep_the_budgets(
        s in scenario(),
        events in prop::collection::vec(ev(), 1..40),
    ) {
        let v1 = spec(&s, "v1");
        let mut sim = Simulator::deployed(v1, world(&s)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut templates = vec!["v1".to_owned()];
        for e in &events {
            match e {
                Ev::Decide(k) => {
                    for _ in 0..*k {
                        checked_step_with(&mut sim, &s, false)?;
                    }
                }
                Ev::Wait(secs) => {
                    let t = sim.world().now() + Duration::from_secs(*secs);
                    sim.world_mut().advance_to(t);
                }
                Ev::Commands(cs) => {
                    for c in cs {
                        sim.command(*c);
                    }
                    checked_step_with(&mut sim, &s, false)?;
                }
                Ev::Replicas(n) => {
                    let next = sim.spec().with_replicas(*n);
                    // A blue-green preview count above the new replicas is refused.
                    if let Ok(next) = next {
                        sim.set_spec(next);
                    }
                }
                Ev::NewTemplate(never_ready) => {
                    let t = format!("v{}", templates.len() + 1);
                    if *never_ready {
                        *sim.world_mut() = sim.world().clone().pods_never_ready(t.clone());
                    }
                    templates.push(t.clone());
                    let next = sim.spec().with_template(t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    sim.set_spec(next);
                }
                Ev::Revert => {
                    if templates.len() >= 2 {
                        let t = templates[templates.len() - 2].clone();
                        templates.push(t.clone());
                        let next = sim.spec().with_template(t).map_err(|e| TestCaseError::fail(e.to_string()))?;
                        sim.set_spec(next);
                    }
                }
            }
        }
        // Left alone (resumed), the rollout settles, keeping the budgets.
        sim.command(Command::Resume);
        let mut settled = false;
        for _ in 0..5_000 {
            if checked_step_with(&mut sim, &s, false)? {
                settled = true;
                break;
            }
        }
        prop_assert!(settled, "did not settle in 5000 decisions");
    }
}
