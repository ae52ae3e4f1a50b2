//! Rolling updates through the simulator: deadline, pause, history, undo, minReadySeconds.

mod common;

use std::time::Duration;

use common::live;
use engine_ops_rollout::{
    Action, Command, Error, Observation, Phase, RolloutSpec, RolloutState, Strategy, Timestamp,
    TrackId,
    decision::{ConditionKind, ConditionStatus},
    observation::TrackObs,
    plan,
    sim::{Simulator, World},
    spec::{DeadlineAction, IntOrPercent, RollingStrategy},
    state::{AdoptedTrack, ProgressReason},
};

fn spec(template: &str, n: u32) -> RolloutSpec {
    RolloutSpec::builder(template, n)
        .build()
        .expect("valid spec")
}

#[test]
fn a_rollout_completes_and_never_leaves_the_budget() {
    let v1 = spec("v1", 10);
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    loop {
        let before: u32 = sim.world().tracks().iter().map(|t| t.available).sum();
        let out = sim.step().expect("planner step");
        let tracks = sim.world().tracks();
        let total: u32 = tracks.iter().map(|t| t.spec).sum();
        let available: u32 = tracks.iter().map(|t| t.available).sum();
        assert!(total <= 13, "surge bound broken: {total}");
        assert!(
            available >= 8.min(before),
            "availability bound broken: {available}"
        );
        if out.settled {
            break;
        }
    }
    assert_eq!(live(&sim), vec![("v2".to_owned(), 10, 10)]);
}

/// v1 (4 replicas, a 60 s progress deadline, `on_deadline`) deployed, then
/// an update to v2, whose pods never become ready.
fn stuck_update(on_deadline: DeadlineAction) -> Simulator {
    let v1 = RolloutSpec::builder("v1", 4)
        .progress_deadline(Some(Duration::from_secs(60)))
        .on_deadline(on_deadline)
        .build()
        .expect("valid spec");
    let mut sim =
        Simulator::deployed(v1.clone(), World::new().pods_never_ready("v2")).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    sim
}

#[test]
fn deadline_report_keeps_trying_and_degrades() {
    let mut sim = stuck_update(DeadlineAction::Report);
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    assert_eq!(
        sim.state().progress().map(|p| p.reason),
        Some(ProgressReason::ProgressDeadlineExceeded)
    );
    let out = sim.step().expect("planner step");
    let cond = out
        .decision
        .condition(ConditionKind::Progressing)
        .expect("present");
    assert_eq!(
        (cond.status, &*cond.reason),
        (ConditionStatus::False, "ProgressDeadlineExceeded")
    );
    // Nothing was rolled back, and availability never dropped below n - maxUnavailable (4 - 1).
    let v1_avail = sim
        .world()
        .tracks()
        .iter()
        .find(|t| &*t.template == "v1")
        .map(|t| t.available);
    assert!(v1_avail >= Some(3));
    assert!(plan.finished_at >= engine_ops_rollout::Timestamp::from_secs(60));
}

#[test]
fn deadline_abort_returns_to_the_stable_template() {
    let mut sim = stuck_update(DeadlineAction::Abort);
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Degraded);
    assert!(sim.state().is_aborted());
    assert_eq!(live(&sim), vec![("v1".to_owned(), 4, 4)]);
    // Retry goes for v2 again.
    sim.command(Command::Retry);
    sim.step().expect("planner step");
    assert_eq!(sim.state().target_template(), Some("v2"));
}

#[test]
fn deadline_undo_rolls_forward_to_the_previous_revision() {
    let mut sim = stuck_update(DeadlineAction::Undo);
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy);
    assert_eq!(live(&sim), vec![("v1".to_owned(), 4, 4)]);
    let v1_track = sim
        .state()
        .tracks()
        .iter()
        .find(|t| &*t.template == "v1")
        .expect("present");
    assert_eq!(
        v1_track.revision, 3,
        "undo makes the old template revision max + 1"
    );
    assert!(
        plan.actions()
            .any(|(_, a)| matches!(a.action, Action::SetRevision { revision: 3, .. }))
    );
}

#[test]
fn pause_stops_the_rollout_and_excludes_paused_time_from_the_deadline() {
    let v1 = RolloutSpec::builder("v1", 4)
        .progress_deadline(Some(Duration::from_secs(60)))
        .build()
        .expect("valid spec");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.command(Command::Pause);
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Paused);
    assert!(
        plan.actions().next().is_none(),
        "no action while paused: {plan}"
    );
    // A long pause, then resume: the deadline counts from the resume.
    let t = sim.world().now() + Duration::from_secs(3600);
    sim.world_mut().advance_to(t);
    sim.command(Command::Resume);
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy, "{plan}");
    assert_eq!(live(&sim), vec![("v2".to_owned(), 4, 4)]);
}

#[test]
fn paused_rollout_still_applies_replica_changes_proportionally() {
    let v1 = spec("v1", 10);
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    sim.step().expect("planner step"); // create v2 with 3, v1 to 8
    sim.command(Command::Pause);
    sim.set_spec(
        v1.with_template("v2")
            .expect("valid template")
            .with_replicas(15)
            .expect("valid replicas"),
    );
    sim.step().expect("planner step");
    let sizes: Vec<u32> = sim.world().tracks().iter().map(|t| t.spec).collect();
    // (8, 3) with maxSurge 25% of 15 = 4 -> allowed 19, delta 8:
    // v1 round(8·19/13) - 8 = 4, v2 min(round(3·19/13) - 3, 8 - 4) = 1, leftover 3 to the largest.
    assert_eq!(sizes.iter().sum::<u32>(), 19);
    assert_eq!(sizes, vec![15, 4]);
}

#[test]
fn history_limit_deletes_the_oldest_empty_revisions() {
    let v1 = RolloutSpec::builder("v1", 2)
        .revision_history_limit(Some(2))
        .build()
        .expect("valid spec");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    for v in 2..=6 {
        sim.set_spec(v1.with_template(format!("v{v}")).expect("present"));
        sim.run().expect("simulation settles");
    }
    let templates: Vec<String> = sim
        .world()
        .tracks()
        .into_iter()
        .map(|t| t.template)
        .collect();
    assert_eq!(templates, vec!["v4", "v5", "v6"]);
    assert_eq!(sim.state().revisions(), vec![4, 5, 6]);
}

#[test]
fn undo_to_a_named_revision_and_its_errors() {
    let v1 = spec("v1", 3);
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    for v in ["v2", "v3"] {
        sim.set_spec(v1.with_template(v).expect("valid template"));
        sim.run().expect("simulation settles");
    }
    sim.command(Command::Undo {
        to_revision: Some(9),
    });
    assert_eq!(
        sim.step().expect_err("the command is refused"),
        Error::UnknownRevision { revision: 9 }
    );

    let mut paused = sim.clone();
    paused.command(Command::Pause);
    paused.step().expect("planner step");
    paused.command(Command::Undo {
        to_revision: Some(1),
    });
    assert_eq!(
        paused.step().expect_err("the command is refused"),
        Error::UndoWhilePaused
    );

    let mut sim2 = sim.clone();
    sim2.command(Command::Undo {
        to_revision: Some(1),
    });
    let plan = sim2.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy);
    assert_eq!(live(&sim2), vec![("v1".to_owned(), 3, 3)]);
    assert_eq!(sim2.state().revisions(), vec![2, 3, 4]);

    let mut sim3 = sim.clone();
    sim3.command(Command::Undo { to_revision: None });
    sim3.run().expect("simulation settles");
    assert_eq!(live(&sim3), vec![("v2".to_owned(), 3, 3)]);
}

#[test]
fn min_ready_delays_availability_and_requeues() {
    let v1 = RolloutSpec::builder("v1", 4)
        .min_ready(Duration::from_secs(20))
        .build()
        .expect("valid spec");
    let world = World::new().ready_after(Duration::from_secs(5));
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    let start = sim.world().now();
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy);
    // 25% of 4: surge 1, unavailable 1 -> at least 2 waves of 25 s.
    assert!(
        plan.finished_at.saturating_since(start) >= Duration::from_secs(50),
        "{plan}"
    );
    let created = plan
        .steps
        .iter()
        .find(|s| !s.actions.is_empty())
        .expect("present");
    assert!(created.actions.iter().any(|a| matches!(
        a.action,
        Action::CreateTrack { min_ready, .. } if min_ready == Duration::from_secs(20)
    )));
}

#[test]
fn scaling_to_zero_and_back() {
    let v1 = spec("v1", 3);
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_replicas(0).expect("valid replicas"));
    sim.run().expect("simulation settles");
    assert!(live(&sim).is_empty());
    sim.set_spec(v1.with_replicas(5).expect("valid replicas"));
    let plan = sim.run().expect("simulation settles");
    assert_eq!(plan.phase, Phase::Healthy);
    assert_eq!(live(&sim), vec![("v1".to_owned(), 5, 5)]);
}

#[test]
fn progress_after_a_timeout_clears_it() {
    let v1 = RolloutSpec::builder("v1", 4)
        .progress_deadline(Some(Duration::from_secs(60)))
        .build()
        .expect("valid spec");
    let world = World::new().ready_after(Duration::from_secs(150));
    let mut sim = Simulator::deployed(v1.clone(), world).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let mut saw_timeout = false;
    let plan = loop {
        let out = sim.step().expect("planner step");
        if out.decision.phase == Phase::Degraded {
            saw_timeout = true;
        }
        if out.settled {
            break out;
        }
    };
    assert!(saw_timeout, "slow pods first exceed the 60 s deadline");
    assert_eq!(
        plan.decision.phase,
        Phase::Healthy,
        "progress afterwards clears the timeout"
    );
    assert_eq!(
        sim.state().progress().map(|p| p.reason),
        Some(ProgressReason::NewReplicaSetAvailable)
    );
    assert_eq!(live(&sim), vec![("v2".to_owned(), 4, 4)]);
}

#[test]
fn the_preview_of_10_replicas_25_25_reads_like_the_controllers_worked_example() {
    let v1 = spec("v1", 10);
    let live_sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    let plan = engine_ops_rollout::sim::preview(
        &v1.with_template("v2").expect("valid template"),
        live_sim.state(),
        live_sim.world(),
    )
    .expect("preview settles");
    let rows: Vec<(u32, u32)> = plan
        .steps
        .iter()
        .flat_map(|s| s.after_each_action.iter())
        .map(|(tracks, _)| (tracks[0].spec, tracks[1].spec))
        .collect();
    // The worked example: sync 1 (create 3), 2 (old 8), 3 (new 5), 5 (old 3), 6 (new 10), 7 (old 0).
    assert_eq!(
        rows,
        vec![(10, 3), (8, 3), (8, 5), (3, 5), (3, 10), (0, 10)]
    );
    assert_eq!(plan.phase, Phase::Healthy);
    assert!(plan.to_string().contains("min(13 - 10, 10) = 3"), "{plan}");
}

/// Recorded from kube-controller-manager v1.35.4 (`tests/k8s_fixture.rs`,
/// recording b): the old ReplicaSet was asked for 7 pods but its status still
/// counts 8 available. The controller scales nothing until that status catches
/// up, and the operator is told why nothing happens.
#[test]
fn a_lagging_old_status_waits_and_says_why() {
    let v1 = spec("v1", 10);
    let v2 = v1.with_template("v2").expect("valid template");
    let state = RolloutState::adopt(
        &v2,
        [
            AdoptedTrack::new(TrackId(0), 1, "v1"),
            AdoptedTrack::new(TrackId(1), 2, "v2"),
        ],
    );
    let observe = |old_available: u32| {
        Observation::new(Timestamp::ZERO)
            .with_track(
                TrackObs::new(TrackId(0), 7, old_available, old_available)
                    .with_replicas(old_available)
                    .with_annotations(10, 13),
            )
            .with_track(
                TrackObs::new(TrackId(1), 6, 3, 3)
                    .with_replicas(3)
                    .with_annotations(10, 13),
            )
    };
    let d = plan(&v2, &state, &observe(8)).expect("plans");
    assert!(
        d.actions.is_empty(),
        "scaled while the status lags: {:?}",
        d.actions
    );
    assert_eq!(d.phase, Phase::Progressing);
    assert!(
        d.explain.contains(
            &"old revision 1 still reports 8 available pods for spec 7: waiting for its status to catch up before scaling down"
                .to_owned()
        ),
        "explain: {:?}",
        d.explain
    );
    // Once the status caught up, the scale-down goes on and the line is gone.
    let d = plan(&v2, &state, &observe(7)).expect("plans");
    assert_eq!(
        d.actions
            .iter()
            .map(|a| a.action.clone())
            .collect::<Vec<_>>(),
        vec![Action::ScaleTrack {
            track: TrackId(0),
            replicas: 5,
            desired_replicas: 10,
            max_replicas: 13,
        }]
    );
    assert!(
        d.explain.iter().all(|l| !l.contains("still reports")),
        "explain: {:?}",
        d.explain
    );
}

/// An old revision beyond the history limit is deleted once it has no pods,
/// but not while its status is older than its spec (`observedGeneration <
/// generation`): its zero counts may predate the last scale.
#[test]
fn a_stale_status_keeps_an_old_revision_from_deletion() {
    let v2 = RolloutSpec::builder("v2", 3)
        .revision_history_limit(Some(0))
        .build()
        .expect("valid spec");
    let state = RolloutState::adopt(
        &v2,
        [
            AdoptedTrack::new(TrackId(0), 1, "v1"),
            AdoptedTrack::new(TrackId(1), 2, "v2"),
        ],
    );
    let observe = |stale: bool| {
        Observation::new(Timestamp::ZERO)
            .with_track(
                TrackObs::new(TrackId(0), 0, 0, 0)
                    .with_replicas(0)
                    .with_status_stale(stale)
                    .with_annotations(3, 4),
            )
            .with_track(TrackObs::new(TrackId(1), 3, 3, 3).with_annotations(3, 4))
    };
    let deletes = |stale: bool| {
        let d = plan(&v2, &state, &observe(stale)).expect("plans");
        assert_eq!(d.phase, Phase::Healthy);
        d.actions
            .iter()
            .filter(|a| matches!(a.action, Action::DeleteTrack { .. }))
            .count()
    };
    assert_eq!(deletes(true), 0, "deleted a revision whose status lags");
    assert_eq!(deletes(false), 1);
}

/// The API server accepts `maxSurge: 200%` (only maxUnavailable is capped at
/// 100 %); a real controller then creates the new ReplicaSet at all 4
/// replicas at once. The planner accepts it too and does the same.
#[test]
fn max_surge_above_100_percent_is_accepted_as_the_api_server_does() {
    let v1 = RolloutSpec::builder("v1", 4)
        .strategy(Strategy::Rolling(RollingStrategy::new(
            IntOrPercent::Percent(200),
            IntOrPercent::Count(0),
        )))
        .build()
        .expect("maxSurge 200% is valid");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let out = sim.step().expect("planner step");
    assert!(
        matches!(
            out.decision.actions[0].action,
            Action::CreateTrack { replicas: 4, .. }
        ),
        "{:?}",
        out.decision.actions
    );
    assert_eq!(sim.run().expect("settles").phase, Phase::Healthy);
    // maxUnavailable above 100 % is refused, on its own field.
    let err = RolloutSpec::builder("v1", 4)
        .strategy(Strategy::Rolling(RollingStrategy::new(
            IntOrPercent::Percent(200),
            IntOrPercent::Percent(101),
        )))
        .build()
        .expect_err("maxUnavailable 101% is refused");
    assert!(
        matches!(&err, engine_ops_rollout::Error::InvalidSpec { field, .. } if field == "strategy.rolling.max_unavailable"),
        "{err}"
    );
}

/// Only `minReadySeconds` changes: the Deployment controller writes it onto
/// the existing ReplicaSet (no new revision), so pods created from then on
/// count as available only after it. Here 4 → 6 replicas with the change:
/// the 2 new pods are ready after 5 s, available after 5 + 20 s.
#[test]
fn a_min_ready_change_is_written_onto_the_existing_track() {
    let v1 = spec("v1", 4);
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    // The old pods have been ready for longer than the new minReadySeconds.
    let later = sim.world().now() + Duration::from_secs(60);
    sim.world_mut().advance_to(later);
    let slower = v1
        .to_builder()
        .min_ready(Duration::from_secs(20))
        .build()
        .expect("valid spec");
    sim.set_spec(slower.with_replicas(6).expect("valid spec"));
    for _ in 0..10 {
        if sim.world().tracks().iter().map(|t| t.spec).sum::<u32>() == 6 {
            break;
        }
        sim.step().expect("planner step");
    }
    let start = sim.world().now();
    sim.world_mut().advance_to(start + Duration::from_secs(6));
    let available: u32 = sim.world().tracks().iter().map(|t| t.available).sum();
    assert_eq!(
        available, 4,
        "the new pods count as available before minReadySeconds"
    );
    assert_eq!(
        sim.world().tracks().len(),
        1,
        "no new revision for minReadySeconds"
    );
    sim.run().expect("settles");
    assert!(sim.world().now() >= start + Duration::from_secs(25));
    assert_eq!(live(&sim), vec![("v1".to_owned(), 6, 6)]);
}

/// `Recreate`: every old pod goes first; the new track is created at the
/// full count only once no old pod exists or terminates.
#[test]
fn recreate_removes_every_old_pod_before_creating_the_new_track() {
    let v1 = RolloutSpec::builder("v1", 4)
        .strategy(Strategy::Recreate)
        .build()
        .expect("valid spec");
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v1.with_template("v2").expect("valid template"));
    let first = sim.step().expect("planner step");
    let actions: Vec<String> = first
        .decision
        .actions
        .iter()
        .map(|a| a.action.to_string())
        .collect();
    assert_eq!(actions, vec!["scale #0 to 0"]);
    let run = sim.run().expect("settles");
    assert_eq!(run.phase, Phase::Healthy);
    assert_eq!(live(&sim), vec![("v2".to_owned(), 4, 4)]);
    assert!(
        common::actions(&run)
            .iter()
            .any(|a| matches!(a, Action::CreateTrack { replicas: 4, .. })),
        "the new track is created at the full count"
    );

    // Old pods still counted by status.replicas, or still terminating, hold the new track back.
    let v2 = v1.with_template("v2").expect("valid template");
    let state = RolloutState::adopt(&v2, [AdoptedTrack::new(TrackId(0), 1, "v1")]);
    let old = |replicas: u32, terminating: u32| {
        Observation::new(Timestamp::ZERO).with_track(
            TrackObs::new(TrackId(0), 0, 0, 0)
                .with_replicas(replicas)
                .with_terminating(terminating)
                .with_annotations(4, 4),
        )
    };
    for (replicas, terminating) in [(1, 0), (0, 2)] {
        let d = plan(&v2, &state, &old(replicas, terminating)).expect("plans");
        assert!(d.actions.is_empty(), "{:?}", d.actions);
        assert!(
            d.explain
                .iter()
                .any(|l| l.starts_with("Recreate: waiting for")),
            "{:?}",
            d.explain
        );
    }
    let d = plan(&v2, &state, &old(0, 0)).expect("plans");
    assert!(matches!(
        d.actions[..],
        [engine_ops_rollout::decision::PlannedAction {
            action: Action::CreateTrack { replicas: 4, .. },
            ..
        }]
    ));
}
