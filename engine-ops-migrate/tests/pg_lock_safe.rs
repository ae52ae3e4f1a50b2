//! Lock-safe steps on a real PostgreSQL (`ENGINE_OPS_TEST_DATABASE_URL`,
//! else a throwaway server): the lock queue a waiting `ALTER TABLE` builds
//! and how the per-attempt lock timeout and retries keep readers moving;
//! exhaustion; the limits in every attempt; `CREATE INDEX CONCURRENTLY`
//! that a lock timeout cancels.

#![cfg(feature = "postgres")]

mod pg_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_ops_migrate::store::postgres::PgContext;
use engine_ops_migrate::{
    BoxError, Error, FinalAttempt, LockRetry, Migration, Migrator, Progress, Resolution,
    SqlMigration, StateStore, StepIntent, StepTimeouts,
};
use pg_support::{Schema, Session, percentiles};

/// A schema with table `t` (1,000 rows).
async fn schema_with_table(prefix: &str) -> Option<Schema> {
    let config = pg_support::config()?;
    let schema = Schema::new(&config, prefix).await;
    schema
        .session()
        .await
        .client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g")
        .await
        .expect("table t");
    Some(schema)
}

/// Session A: a transaction that reads `t` and stays open for `hold`.
/// Returns its pid once the read is done; the task commits after `hold`.
async fn hold_read(schema: &Schema, hold: Duration) -> (i32, tokio::task::JoinHandle<()>) {
    let a = schema.session().await;
    let pid = a.pid().await;
    a.client
        .batch_execute("BEGIN; SELECT count(*) FROM t")
        .await
        .expect("A reads");
    let task = tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        a.client.batch_execute("COMMIT").await.expect("A commits");
    });
    (pid, task)
}

/// Session C: `SELECT … FROM t` one after the other from `start` for
/// `span`, each one timed.
fn reader(
    schema: &Schema,
    start: Duration,
    span: Duration,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    let config = schema.config.clone();
    tokio::spawn(async move {
        let c = Session::open(&config).await;
        tokio::time::sleep(start).await;
        let until = Instant::now() + span;
        let mut latencies = Vec::new();
        while Instant::now() < until {
            let t = Instant::now();
            c.client
                .query_one("SELECT count(*) FROM t WHERE id < 10", &[])
                .await
                .expect("reader");
            latencies.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies
    })
}

fn add_column(version: u64) -> SqlMigration {
    SqlMigration::new(version, "add_c", "ALTER TABLE t ADD COLUMN c int")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_alter_never_stalls_readers_longer_than_its_lock_timeout_and_names_the_blocker() {
    let Some(schema) = schema_with_table("eo_lockq").await else {
        return;
    };
    let lock_timeout = Duration::from_millis(200);
    let store = schema
        .builder()
        .step_timeouts(StepTimeouts::default().lock(LockRetry::schedule(
            [(lock_timeout, Duration::from_millis(300)); 10],
        )))
        .connect()
        .await
        .expect("store");
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut migrator = Migrator::builder(store)
        .migration(add_column(1))
        .observer(move |e: &Progress| {
            if let Progress::LockTimeout { attempt, .. } = e {
                seen.lock().expect("events").push(attempt.to_string());
            }
        })
        .build()
        .expect("migrator");

    let (a_pid, a) = hold_read(&schema, Duration::from_secs(2)).await;
    let c = reader(&schema, Duration::ZERO, Duration::from_millis(2_600));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = migrator
        .run()
        .await
        .expect("the step goes through once A commits");
    a.await.expect("A");
    let latencies = c.await.expect("C");

    let step = &report.applied[0];
    assert!(
        step.lock_retries.len() >= 3,
        "A held its read for 2 s: several 200 ms attempts time out ({:?})",
        step.lock_retries
    );
    for attempt in &step.lock_retries {
        assert_eq!(attempt.sqlstate, "55P03");
        assert_eq!(attempt.lock_timeout_ms, Some(200));
        assert!(attempt.waited_ms >= 190, "{attempt}");
        let blocker = attempt
            .blockers
            .iter()
            .find(|b| b.pid == a_pid)
            .unwrap_or_else(|| panic!("attempt names A (pid {a_pid}): {attempt}"));
        assert_eq!(blocker.mode, "AccessShareLock");
        assert!(
            blocker
                .relation
                .as_deref()
                .is_some_and(|r| r.ends_with("t")),
            "{blocker}"
        );
        assert!(
            blocker.query.contains("SELECT count(*) FROM t"),
            "{blocker}"
        );
    }
    assert_eq!(
        events.lock().expect("events").len(),
        step.lock_retries.len()
    );
    let json = serde_json::to_value(step).expect("json");
    // A's table is in the step's search_path: A comes first, before
    // sessions holding old locks on other schemas' tables (other tests).
    assert_eq!(json["lock_retries"][0]["blockers"][0]["pid"], a_pid);

    let (p50, p95, max) = percentiles(&latencies);
    eprintln!(
        "reader latency WITH lock_timeout 200 ms and retries: {} selects, p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms; {} attempts timed out",
        latencies.len(),
        step.lock_retries.len()
    );
    assert!(latencies.len() > 50, "C kept reading: {}", latencies.len());
    assert!(
        max < 200.0 + 150.0,
        "no read waits longer than the lock timeout plus a margin: max {max:.1} ms"
    );
    assert!(schema.shape().await.contains(&"t.c integer".to_owned()));

    // The contrast: no lock timeout. The ALTER queues behind A, and every
    // read queues behind the ALTER until A commits.
    let store = schema
        .builder()
        .step_timeouts(StepTimeouts::unlimited())
        .connect()
        .await
        .expect("store");
    let mut migrator = Migrator::builder(store)
        .migration(add_column(1))
        .migration(SqlMigration::new(
            2,
            "add_d",
            "ALTER TABLE t ADD COLUMN d int",
        ))
        .build()
        .expect("migrator");
    let (_, a) = hold_read(&schema, Duration::from_secs(2)).await;
    let c = reader(&schema, Duration::ZERO, Duration::from_millis(2_600));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = migrator.run().await.expect("runs once A commits");
    a.await.expect("A");
    let latencies = c.await.expect("C");
    assert!(report.applied[0].lock_retries.is_empty());
    let (p50, p95, max) = percentiles(&latencies);
    eprintln!(
        "reader latency WITHOUT lock_timeout: {} selects, p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms",
        latencies.len()
    );
    assert!(
        max > 1_500.0,
        "a read waits behind the queued ALTER for most of A's 2 s: max {max:.1} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_schedule_fails_the_step_and_leaves_schema_and_history_unchanged() {
    let Some(schema) = schema_with_table("eo_lockx").await else {
        return;
    };
    let store = schema
        .builder()
        .step_timeouts(StepTimeouts::default().lock(LockRetry::schedule(
            [(Duration::from_millis(100), Duration::from_millis(100)); 3],
        )))
        .connect()
        .await
        .expect("store");
    let mut migrator = Migrator::builder(store)
        .migration(SqlMigration::new(1, "create_u", "CREATE TABLE u (id int)"))
        .migration(
            SqlMigration::new(2, "side_then_alter", "CREATE TABLE side (x int)")
                .then("ALTER TABLE t ADD COLUMN c int"),
        )
        .build()
        .expect("migrator");
    migrator.run_to(1).await.expect("first step");
    let shape = schema.shape().await;
    let history = schema.history().await;

    let (a_pid, a) = hold_read(&schema, Duration::from_secs(3)).await;
    let err = migrator.run().await.expect_err("A outlasts the schedule");
    let Error::LockRetriesExhausted {
        version, attempts, ..
    } = &err
    else {
        panic!("expected LockRetriesExhausted, got {err}");
    };
    assert_eq!(*version, 2);
    assert_eq!(attempts.len(), 3, "one record per attempt");
    assert!(
        attempts
            .iter()
            .all(|x| x.blockers.iter().any(|b| b.pid == a_pid))
    );
    assert_eq!(attempts[2].pause_ms, None, "no attempt after the last");
    // Other sessions holding old locks on user tables (other tests) may be
    // named too: the store cannot tell which table the attempt waited for.
    let message = err.to_string();
    assert!(message.contains(&a_pid.to_string()), "{message}");
    assert!(message.contains("3 attempt(s) timed out"), "{message}");
    assert_eq!(
        schema.shape().await,
        shape,
        "the side table went with the rollback"
    );
    assert_eq!(schema.history().await, history);
    a.abort();
}

/// Records the session's limits on every attempt, then ALTERs `t`.
struct RecordsLimits(Arc<Mutex<Vec<(String, String)>>>);

#[async_trait::async_trait]
impl Migration<PgContext> for RecordsLimits {
    fn version(&self) -> u64 {
        1
    }
    fn name(&self) -> &str {
        "records_limits"
    }
    fn source(&self) -> &[u8] {
        b"SHOW lock_timeout; SHOW statement_timeout; ALTER TABLE t ADD COLUMN c int"
    }
    async fn up(&self, db: &mut PgContext) -> Result<(), BoxError> {
        let row = db
            .query_one(
                "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
                &[],
            )
            .await?;
        self.0.lock().expect("seen").push((row.get(0), row.get(1)));
        db.batch_execute("ALTER TABLE t ADD COLUMN c int").await?;
        Ok(())
    }
    async fn down(&self, _db: &mut PgContext) -> Result<(), BoxError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limits_are_in_force_in_every_attempt_and_end_with_the_step() {
    let Some(schema) = schema_with_table("eo_lockset").await else {
        return;
    };
    let store = schema
        .builder()
        .step_timeouts(
            StepTimeouts::default()
                .lock(
                    LockRetry::schedule([
                        (Duration::from_millis(150), Duration::from_millis(50)),
                        (Duration::from_millis(250), Duration::from_millis(50)),
                        (Duration::from_millis(5_000), Duration::ZERO),
                    ])
                    .jitter(0.0),
                )
                .statement(Duration::from_secs(7))
                .transaction(Duration::from_secs(30)),
        )
        .connect()
        .await
        .expect("store");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut migrator = Migrator::builder(store)
        .migration(RecordsLimits(seen.clone()))
        .build()
        .expect("migrator");
    let (_, a) = hold_read(&schema, Duration::from_millis(700)).await;
    let report = migrator
        .run()
        .await
        .expect("goes through on the third attempt");
    a.await.expect("A");
    assert_eq!(report.applied[0].lock_retries.len(), 2);
    assert_eq!(
        *seen.lock().expect("seen"),
        [
            ("150ms".to_owned(), "7s".to_owned()),
            ("250ms".to_owned(), "7s".to_owned()),
            ("5s".to_owned(), "7s".to_owned()),
        ]
    );
    // SET LOCAL ended with the step's transaction.
    let row = migrator
        .store_mut()
        .context()
        .query_one(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
            &[],
        )
        .await
        .expect("settings after the step");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("0".into(), "0".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_final_attempt_without_timeout_happens_only_when_asked() {
    let Some(schema) = schema_with_table("eo_lockfin").await else {
        return;
    };
    let schedule = LockRetry::once(Duration::from_millis(100));
    for (last, applies) in [
        (FinalAttempt::Fail, false),
        (FinalAttempt::WithoutTimeout, true),
    ] {
        let store = schema
            .builder()
            .step_timeouts(StepTimeouts::default().lock(schedule.clone().final_attempt(last)))
            .connect()
            .await
            .expect("store");
        let mut migrator = Migrator::builder(store)
            .migration(add_column(1))
            .build()
            .expect("migrator");
        let (_, a) = hold_read(&schema, Duration::from_millis(600)).await;
        let outcome = migrator.run().await;
        a.await.expect("A");
        match outcome {
            Ok(report) => {
                assert!(applies, "{last:?} applied");
                assert_eq!(report.applied[0].lock_retries.len(), 1);
            }
            Err(Error::LockRetriesExhausted { attempts, .. }) => {
                assert!(!applies, "{last:?} failed");
                assert_eq!(attempts.len(), 1);
            }
            Err(e) => panic!("{last:?}: {e}"),
        }
    }
}

/// What the index watcher saw: when, and the index's `(oid, indisvalid)`.
type IndexSamples = Vec<(Instant, Option<(u32, bool)>)>;

/// Samples `pg_index` for `index` every 10 ms: `(when, Some(oid, valid))`.
fn watch_index(
    schema: &Schema,
    index: &str,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<IndexSamples>,
) {
    let config = schema.config.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let halt = stop.clone();
    let index = index.to_owned();
    let task = tokio::spawn(async move {
        let s = Session::open(&config).await;
        let mut samples = Vec::new();
        while !halt.load(std::sync::atomic::Ordering::SeqCst) {
            let row = s
                .client
                .query_opt(
                    "SELECT indexrelid::oid, indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)",
                    &[&index],
                )
                .await
                .expect("pg_index");
            samples.push((
                Instant::now(),
                row.map(|r| (r.get::<_, u32>(0), r.get::<_, bool>(1))),
            ));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_index_cancelled_by_a_lock_timeout_is_dropped_and_rebuilt_valid() {
    let Some(schema) = schema_with_table("eo_cic").await else {
        return;
    };
    schema
        .session()
        .await
        .client
        .batch_execute("CREATE TABLE other (x int); INSERT INTO other VALUES (1)")
        .await
        .expect("other table");
    let store = schema
        .builder()
        .step_timeouts(
            StepTimeouts::default().lock(
                LockRetry::schedule([(Duration::from_millis(300), Duration::from_millis(600)); 8])
                    .jitter(0.0),
            ),
        )
        .connect()
        .await
        .expect("store");
    let timeouts = Arc::new(Mutex::new(Vec::new()));
    let seen = timeouts.clone();
    let mut migrator = Migrator::builder(store)
        .migration(SqlMigration::create_index_concurrently(
            1, "t_v_idx", "t_v_idx", "t (v)",
        ))
        .observer(move |e: &Progress| {
            if let Progress::LockTimeout { .. } = e {
                seen.lock().expect("events").push(Instant::now());
            }
        })
        .build()
        .expect("migrator");

    // A holds a snapshot (REPEATABLE READ, another table) for 1.5 s: the
    // build waits for it, and the lock timeout cancels the wait.
    let a = schema.session().await;
    a.client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM other")
        .await
        .expect("A's snapshot");
    let commit = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        a.client.batch_execute("COMMIT").await.expect("A commits");
    });
    let (stop, watcher) = watch_index(&schema, &format!("{}.t_v_idx", schema.name));
    let report = migrator.run().await.expect("the retry builds the index");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    commit.await.expect("A");
    let samples = watcher.await.expect("watcher");

    let retries = &report.applied[0].lock_retries;
    assert!(
        !retries.is_empty(),
        "the first build timed out waiting for A's snapshot"
    );
    assert!(retries.iter().all(|r| r.sqlstate == "55P03"));
    // Between a timed-out attempt and the next one nothing builds, yet an
    // invalid index is there: the leftover.
    let first = timeouts.lock().expect("events")[0];
    let leftover: Vec<_> = samples
        .iter()
        .filter(|(at, _)| {
            *at > first + Duration::from_millis(50) && *at < first + Duration::from_millis(500)
        })
        .collect();
    assert!(!leftover.is_empty());
    assert!(
        leftover.iter().all(|(_, s)| matches!(s, Some((_, false)))),
        "an invalid index stays behind after the cancelled build: {leftover:?}"
    );
    let leftover_oid = leftover[0].1.map(|(oid, _)| oid);
    let s = schema.session().await;
    let row = s
        .client
        .query_one(
            "SELECT indexrelid::oid, indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass",
            &[],
        )
        .await
        .expect("the index exists at the end");
    assert!(row.get::<_, bool>(1), "the retry ends with a valid index");
    assert_ne!(
        Some(row.get::<_, u32>(0)),
        leftover_oid,
        "the leftover was dropped and the index rebuilt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_during_a_concurrent_index_build_is_in_doubt_and_settled_as_not_applied_over_an_invalid_index()
 {
    let Some(schema) = schema_with_table("eo_cicdoubt").await else {
        return;
    };
    let cic = || SqlMigration::create_unique_index_concurrently(1, "t_v_key", "t_v_key", "t (v)");
    // A crash after the intent was recorded: the store dies with the step open.
    {
        let mut store = schema.builder().connect().await.expect("store");
        store.lock().await.expect("lock");
        let intent = StepIntent::new(
            &engine_ops_migrate::MigrationInfo::of::<PgContext>(&cic()),
            engine_ops_migrate::Direction::Up,
            0,
        );
        store.begin(&intent).await.expect("intent recorded");
    }
    // What the build left: a unique index that failed on duplicates (all
    // rows have v = 'x') is invalid.
    let s = schema.session().await;
    let failed = s
        .client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v)")
        .await;
    assert!(failed.is_err(), "duplicates fail the build");
    let valid: bool = s
        .client
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_key'::regclass",
            &[],
        )
        .await
        .expect("the invalid index is there")
        .get(0);
    assert!(!valid);
    // `IF NOT EXISTS` would accept it:
    s.client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_v_key ON t (v)")
        .await
        .expect("IF NOT EXISTS skips the invalid index");
    s.client
        .batch_execute("UPDATE t SET v = id::text")
        .await
        .expect("make v unique");

    let store = schema.builder().connect().await.expect("store");
    let mut migrator = Migrator::builder(store)
        .migration(cic())
        .build()
        .expect("migrator");
    let report = migrator.run().await.expect("settles, then builds");
    assert_eq!(report.resolved.len(), 1);
    assert_eq!(report.resolved[0].resolution, Resolution::NotApplied);
    assert_eq!(report.applied.len(), 1, "built again");
    let valid: bool = s
        .client
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_key'::regclass",
            &[],
        )
        .await
        .expect("index")
        .get(0);
    assert!(valid);
    assert_eq!(schema.history().await, [(1, "applied".to_owned())]);
}
