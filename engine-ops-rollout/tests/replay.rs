//! Replaying a recorded world through the planner: the procedure to compare the
//! planner with ReplicaSet sizes recorded from a real control plane. Here the
//! recording comes from the simulator; a real one has the same shape (one
//! observation per line: tracks with spec / ready / available replicas).

use std::collections::BTreeMap;

use engine_ops_rollout::{
    Action, AdoptedTrack, Observation, RolloutSpec, RolloutState, Simulator, TrackId, World, plan,
};

fn sizes(obs: &Observation) -> BTreeMap<TrackId, u32> {
    obs.tracks
        .iter()
        .map(|t| (t.track, t.spec_replicas))
        .collect()
}

#[test]
fn a_recorded_rolling_update_replays_decision_by_decision() {
    let v1 = RolloutSpec::builder("app:v1", 10)
        .build()
        .expect("valid spec");
    let v2 = v1.with_template("app:v2").expect("valid template");

    // Record: one JSON line per observation, as a recorder next to a cluster would write.
    let mut sim = Simulator::deployed(v1.clone(), World::new()).expect("v1 deploys");
    sim.set_spec(v2.clone());
    let mut recording = String::new();
    loop {
        recording.push_str(&serde_json::to_string(&sim.observe()).expect("observation serialises"));
        recording.push('\n');
        if sim.step().expect("planner step").settled {
            break;
        }
    }

    // Replay: adopt the ReplicaSet that existed before the rollout, then plan each line.
    let mut state = RolloutState::adopt(&v1, [AdoptedTrack::new(TrackId(0), 1, "app:v1")]);
    let observations: Vec<Observation> = recording
        .lines()
        .map(|l| serde_json::from_str(l).expect("observation deserialises"))
        .collect();
    assert!(observations.len() >= 6);
    for pair in observations.windows(2) {
        let d = plan(&v2, &state, &pair[0]).expect("plan");
        let mut expected = sizes(&pair[0]);
        for a in &d.actions {
            match &a.action {
                Action::CreateTrack {
                    track, replicas, ..
                } => {
                    expected.insert(*track, *replicas);
                }
                Action::ScaleTrack {
                    track, replicas, ..
                } => {
                    expected.insert(*track, *replicas);
                }
                Action::DeleteTrack { track } => {
                    expected.remove(track);
                }
                _ => {}
            }
        }
        assert_eq!(
            expected,
            sizes(&pair[1]),
            "the recorded world diverged from the plan at {}",
            pair[0].now
        );
        state = d.state;
    }
    let last = observations.last().expect("at least one observation");
    assert_eq!(
        sizes(last).values().copied().collect::<Vec<_>>(),
        vec![0, 10]
    );
}
