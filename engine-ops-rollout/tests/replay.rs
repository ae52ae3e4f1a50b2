//! Replaying a recorded world through the planner: the procedure to compare the
//! planner with ReplicaSet sizes recorded from a real control plane. Here the
//! recording comes from the simulator; a real one has the same shape (one
//! observation per line: tracks with spec / ready / available replicas).

use std::collections::BTreeMap;

use engine_ops_rollout::{
    Action, Observation, RolloutSpec, RolloutState, TrackId, plan,
    sim::{Simulator, World},
    state::AdoptedTrack,
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

/// What kubectl prints: two watches (one per resource type), each object
/// pretty-printed over many lines, one stream after the other, not in
/// resourceVersion order, no header. The replay reads the same recording as
/// from the sorted one-line file the record script writes.
#[test]
fn kubectl_pretty_printed_output_of_two_watches_replays_like_the_recorded_file() {
    use engine_ops_rollout::replay::Recording;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tools/k8s-testenv/fixtures/replay/rollover.jsonl");
    let text = std::fs::read_to_string(&path).expect("the committed fixture");
    let recorded = Recording::parse(&text).expect("parses");
    let (mut deployments, mut replica_sets) = (String::new(), String::new());
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).expect("json line");
        if v.get("meta").is_some() {
            continue;
        }
        let kind = v
            .pointer("/object/kind")
            .and_then(|k| k.as_str())
            .map(str::to_owned);
        // kubectl's own output: the event without the record script's timestamp.
        v.as_object_mut().expect("an object").remove("received_at");
        let pretty = serde_json::to_string_pretty(&v).expect("serialises") + "\n";
        match kind.as_deref() {
            Some("Deployment") => deployments.push_str(&pretty),
            _ => replica_sets.push_str(&pretty),
        }
    }
    // The ReplicaSet watch's output first, then the Deployment's.
    let kubectl = Recording::parse(&(replica_sets + &deployments)).expect("parses");
    assert_eq!(kubectl.replica_sets(), recorded.replica_sets());
    assert_eq!(kubectl.steps().len(), recorded.steps().len());
    for (a, b) in kubectl.steps().iter().zip(recorded.steps()) {
        assert_eq!(
            (
                &a.change,
                &a.spec,
                a.paused,
                &a.observation.tracks,
                &a.tracks
            ),
            (
                &b.change,
                &b.spec,
                b.paused,
                &b.observation.tracks,
                &b.tracks
            ),
            "at resourceVersion {}",
            a.resource_version
        );
    }
    assert!(
        kubectl.replica_sets().len() == 3,
        "a rollover has three ReplicaSets"
    );
}

/// Bad input is refused with the event at fault.
#[test]
fn a_recording_that_cannot_be_replayed_is_refused_with_its_event() {
    use engine_ops_rollout::{Error, replay::Recording};
    let err = Recording::parse("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Deployment\"}} {")
        .expect_err("refused");
    assert!(
        matches!(err, Error::InvalidRecording { event: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("metadata.name"), "{err}");
    let err = Recording::parse("").expect_err("refused");
    assert!(err.to_string().contains("holds no Deployment"), "{err}");
}
