//! One driver at a time: the app's Lease raced, waited for, expired,
//! released and lost.

use std::time::{Duration, Instant};

use engine_ops_k8s::cluster::{AppOps, Error, LeaseParams};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::{APP, Fixture, counted_client};

/// An independent driver's operations (its own client).
async fn driver(f: &Fixture) -> AppOps {
    AppOps::new(counted_client(&f.counter).await, &f.ns.name, APP).expect("names")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_drivers_race_for_the_lease_and_exactly_one_acts() {
    let Some(f) = Fixture::new("lease-race").await else {
        return;
    };
    for round in 0..5 {
        let (a, b) = (driver(&f).await, driver(&f).await);
        let pa = LeaseParams::new(format!("driver-a-{round}"));
        let pb = LeaseParams::new(format!("driver-b-{round}"));
        let (ra, rb) = tokio::join!(a.acquire_lease(&pa), b.acquire_lease(&pb));
        let (winner, loser) = match (ra, rb) {
            (Ok(g), Err(e)) | (Err(e), Ok(g)) => (g, e),
            (Ok(_), Ok(_)) => panic!("round {round}: both drivers hold the lease"),
            (Err(x), Err(y)) => panic!("round {round}: neither holds it: {x}; {y}"),
        };
        match &loser {
            Error::LeaseHeld { holder, .. } => {
                assert_eq!(holder, winner.holder(), "the loser names the holder")
            }
            other => panic!("round {round}: {other}"),
        }
        assert!(loser.to_string().contains(winner.holder()), "{loser}");
        let stored =
            f.ns.api::<Lease>()
                .get(&a.lease_name())
                .await
                .expect("lease");
        assert_eq!(
            stored.spec.and_then(|s| s.holder_identity).as_deref(),
            Some(winner.holder())
        );
        winner.release().await.expect("release");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_driver_gets_the_lease_as_soon_as_it_is_released() {
    let Some(f) = Fixture::new("lease-wait").await else {
        return;
    };
    let (a, b) = (driver(&f).await, driver(&f).await);
    let held = a
        .acquire_lease(&LeaseParams::new("job-1"))
        .await
        .expect("job-1");
    let waiter = tokio::spawn(async move {
        let t = Instant::now();
        let g = b
            .acquire_lease(&LeaseParams::new("job-2").wait(Duration::from_secs(30)))
            .await;
        (g.map(|g| g.holder().to_owned()), t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiter.is_finished(),
        "job-2 waits while job-1 holds the lease"
    );
    let released = Instant::now();
    held.release().await.expect("release");
    let (got, waited) = waiter.await.expect("task");
    assert_eq!(got.expect("job-2 acquires").as_str(), "job-2");
    // Woken by the watch, not by the 15 s expiry.
    assert!(
        released.elapsed() < Duration::from_secs(5),
        "acquired {:?} after the release",
        released.elapsed()
    );
    assert!(waited >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_holders_lease_expires_while_a_live_one_is_renewed() {
    let Some(f) = Fixture::new("lease-expiry").await else {
        return;
    };
    let (a, b) = (driver(&f).await, driver(&f).await);
    let short = |who: &str| {
        LeaseParams::new(who)
            .duration(Duration::from_secs(2))
            .renew_every(Duration::from_millis(400))
    };
    // A live holder renews: after three lease durations it still holds it.
    let live = a.acquire_lease(&short("live")).await.expect("live");
    tokio::time::sleep(Duration::from_secs(6)).await;
    live.check().expect("still held");
    let e = b
        .acquire_lease(&short("other"))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&e, Error::LeaseHeld { holder, .. } if holder == "live"),
        "{e}"
    );

    // It crashes (no release, no renewal): the lease expires and the next
    // driver takes it over within its wait.
    drop(live);
    let t = Instant::now();
    let next = b
        .acquire_lease(&short("next").wait(Duration::from_secs(10)))
        .await
        .expect("taken over after expiry");
    let took = t.elapsed();
    assert!(took <= Duration::from_secs(4), "took {took:?}");
    let stored =
        f.ns.api::<Lease>()
            .get(&b.lease_name())
            .await
            .expect("lease");
    let spec = stored.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("next"));
    assert_eq!(spec.lease_transitions, Some(1));

    // The same identity restarted takes its own lease back at once.
    drop(next);
    let t = Instant::now();
    let again = a
        .acquire_lease(&short("next"))
        .await
        .expect("own lease back");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "no wait for the 2 s expiry: {:?}",
        t.elapsed()
    );
    again.release().await.expect("release");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holder_notices_when_its_lease_is_taken() {
    let Some(f) = Fixture::new("lease-lost").await else {
        return;
    };
    let a = driver(&f).await;
    let held = a
        .acquire_lease(
            &LeaseParams::new("victim")
                .duration(Duration::from_secs(3))
                .renew_every(Duration::from_millis(300)),
        )
        .await
        .expect("held");
    // Someone forcibly hands the lease to another identity.
    f.ns.api::<Lease>()
        .patch(
            &a.lease_name(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "intruder"}})),
        )
        .await
        .expect("steal");
    let lost = tokio::time::timeout(Duration::from_secs(5), held.lost())
        .await
        .expect("noticed within two renewals");
    assert!(
        matches!(&lost, Error::LeaseLost { why, .. } if why.contains("intruder")),
        "{lost}"
    );
    assert!(matches!(held.check(), Err(Error::LeaseLost { .. })));
    // Releasing leaves the intruder's lease alone.
    held.release().await.expect("release");
    let stored =
        f.ns.api::<Lease>()
            .get(&a.lease_name())
            .await
            .expect("lease");
    assert_eq!(
        stored.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("intruder")
    );
}
