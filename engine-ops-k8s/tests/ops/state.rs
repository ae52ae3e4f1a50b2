//! The rollout state in the anchor's annotation, saved by compare-and-swap.

use engine_ops_k8s::cluster::{AppOps, Error, STATE_ANNOTATION};
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{APP, Fixture, counted_client};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RolloutState {
    stage: String,
    revision: u64,
}

fn state(stage: &str, revision: u64) -> RolloutState {
    RolloutState {
        stage: stage.to_owned(),
        revision,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_is_saved_by_compare_and_swap_and_a_lost_race_is_an_error() {
    let Some(f) = Fixture::new("state").await else {
        return;
    };
    let empty = f.ops.load_state().await.expect("load");
    assert_eq!(
        (empty.seq(), empty.value::<RolloutState>().expect("decode")),
        (0, None)
    );
    let first = f
        .ops
        .save_state(&empty, &state("provisioning", 2))
        .await
        .expect("first save");
    assert_eq!(first.seq(), 1);

    // Two drivers loaded the same state; the first to save wins, the second
    // gets a StateConflict and the stored state is the winner's.
    let a = f.ops.load_state().await.expect("load a");
    let b = f.ops.load_state().await.expect("load b");
    f.ops
        .save_state(&a, &state("switching", 2))
        .await
        .expect("a saves");
    let e = f
        .ops
        .save_state(&b, &state("aborting", 2))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            e,
            Error::StateConflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_conflict());
    let stored = f.ops.load_state().await.expect("load");
    assert_eq!(stored.value().expect("decode"), Some(state("switching", 2)));

    // An unrelated change of the anchor (a label) is not a lost race: the save
    // is retried against the new resourceVersion.
    f.ns.api::<PodTemplate>()
        .patch(
            APP,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "x"}}})),
        )
        .await
        .expect("label the anchor");
    let saved = f
        .ops
        .save_state(&stored, &state("draining", 2))
        .await
        .expect("save after an unrelated change");
    assert_eq!(saved.seq(), 3);

    // A state written back to an earlier value still counts as a change (no ABA).
    let c = f.ops.load_state().await.expect("load c");
    let d = f.ops.load_state().await.expect("load d");
    let c2 = f.ops.save_state(&c, &state("x", 9)).await.expect("c saves");
    f.ops
        .save_state(&c2, &state("draining", 2))
        .await
        .expect("c restores");
    assert!(matches!(
        f.ops.save_state(&d, &state("y", 1)).await,
        Err(Error::StateConflict { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn of_many_concurrent_savers_exactly_one_wins() {
    let Some(f) = Fixture::new("cas").await else {
        return;
    };
    let loaded = f.ops.load_state().await.expect("load");
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        // Independent clients, as independent drivers would have.
        let client = counted_client(&f.counter).await;
        let ops = AppOps::new(client, &f.ns.name, APP).expect("names");
        let loaded = loaded.clone();
        tasks.push(tokio::spawn(async move {
            ops.save_state(&loaded, &state("mine", i)).await.map(|_| i)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(i) => winners.push(i),
            Err(Error::StateConflict { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners {winners:?}");
    let stored = f.ops.load_state().await.expect("load");
    assert_eq!(
        (stored.seq(), stored.value().expect("decode")),
        (1, Some(state("mine", winners[0])))
    );
    let raw = f.ns.api::<PodTemplate>().get(APP).await.expect("anchor");
    assert!(
        raw.metadata
            .annotations
            .unwrap_or_default()
            .contains_key(STATE_ANNOTATION)
    );
}
