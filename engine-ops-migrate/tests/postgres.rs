//! The PostgreSQL store against a real server: `ENGINE_OPS_TEST_DATABASE_URL`,
//! else a throwaway server this test process starts (see `pg_server`).
//!
//! Each test works in its own schema and drops it afterwards. Only where no
//! PostgreSQL server program is installed, or the given URL is not
//! reachable, do the tests print `SKIPPED: …` and pass, unless `CI` is set:
//! then they fail.

#![cfg(feature = "postgres")]

mod db_support;
mod pg_server;

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use db_support::{
    CrashTally, KillOnDrop, Rng, chain, now_ms, race_children, sleep_until, spawn_self, unique_name,
};
use engine_ops_migrate::store::postgres::{PgContext, PostgresStore, PostgresStoreBuilder};
use engine_ops_migrate::store::sql::SqlMigration;
use engine_ops_migrate::{
    BoxError, Checksum, Error, Migration, MigrationState, Migrator, Rollback, Settlement,
    StateStore,
};
use tokio_postgres::{Client, NoTls};

const URL_ENV: &str = pg_server::URL_ENV;
const CHILD_SCHEMA: &str = "ENGINE_OPS_PG_CHILD_SCHEMA";
const CHILD_MODE: &str = "ENGINE_OPS_PG_CHILD_MODE";
const CHILD_START: &str = "ENGINE_OPS_PG_CHILD_START_AT";
const HISTORY: &str = "history";

/// Says loudly that a test did not run (not captured by the test harness).
fn skipped(url: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: PostgreSQL not reachable at {url} ({why})"
    );
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The test server, or `None` (after printing `SKIPPED`) when there is none
/// and `CI` is not set.
async fn server() -> Option<Server> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let url = pg_server::test_url()?;
    let config = tokio_postgres::Config::from_str(&url).expect("valid test database URL");
    match tokio::time::timeout(Duration::from_secs(10), connect(&config)).await {
        Ok(Ok(admin)) => Some(Server { url, config, admin }),
        Ok(Err(e)) => {
            assert!(
                !ci,
                "CI is set but PostgreSQL is not reachable at {url}: {e:?}"
            );
            skipped(&url, &e.to_string());
            None
        }
        Err(_) => {
            assert!(!ci, "CI is set but PostgreSQL at {url} did not answer");
            skipped(&url, "timeout");
            None
        }
    }
}

struct Server {
    url: String,
    config: tokio_postgres::Config,
    admin: Client,
}

impl Server {
    /// A fresh schema, dropped when the returned value is.
    async fn schema(&self) -> Schema {
        let name = unique_name("eo_pg");
        self.admin
            .batch_execute(&format!(
                "CREATE SCHEMA {name}; CREATE TABLE {name}.effects (version bigint NOT NULL)"
            ))
            .await
            .expect("create test schema");
        Schema::attach(&self.config, name)
    }
}

struct Schema {
    name: String,
    /// Connects with `search_path` set to the schema.
    config: tokio_postgres::Config,
}

impl Schema {
    fn attach(base: &tokio_postgres::Config, name: String) -> Self {
        let mut config = base.clone();
        config.options(format!("-c search_path={name}"));
        Self { name, config }
    }

    fn builder(&self) -> PostgresStoreBuilder {
        PostgresStore::builder_from_config(self.config.clone())
            .history_table(self.name.clone(), HISTORY)
            .lock_timeout(Duration::from_secs(60))
    }

    async fn store(&self) -> PostgresStore {
        self.builder().connect().await.expect("store connects")
    }

    async fn client(&self) -> Client {
        connect(&self.config).await.expect("test connection")
    }

    /// Tables of the schema (without the history and effects tables).
    async fn tables(&self) -> Vec<String> {
        let rows = self
            .client()
            .await
            .query(
                "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'r' AND relname NOT IN ('history', 'effects') ORDER BY 1",
                &[&self.name],
            )
            .await
            .expect("list tables");
        rows.iter().map(|r| r.get(0)).collect()
    }

    async fn columns(&self, table: &str) -> Vec<String> {
        let rows = self
            .client()
            .await
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                &[&format!("{}.{table}", self.name)],
            )
            .await
            .expect("list columns");
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// `(version, state)` of every history row.
    async fn history(&self) -> Vec<(i64, String)> {
        let rows = self
            .client()
            .await
            .query(
                &format!(
                    "SELECT version, state FROM {}.{HISTORY} ORDER BY version",
                    self.name
                ),
                &[],
            )
            .await
            .expect("read history");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// Everything a test can observe in the schema, as text.
    async fn snapshot(&self) -> String {
        let c = self.client().await;
        let objects: Vec<String> = c
            .query(
                "SELECT relname::text || ':' || relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 ORDER BY 1",
                &[&self.name],
            )
            .await
            .expect("objects")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let history: Vec<String> = match c
            .query(
                &format!(
                    "SELECT h::text FROM {}.{HISTORY} h ORDER BY version",
                    self.name
                ),
                &[],
            )
            .await
        {
            Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
            Err(_) => vec!["<no history table>".into()],
        };
        format!("{objects:?}\n{history:?}")
    }

    /// Whether any session holds the store's advisory lock.
    async fn lock_held(&self, key: (i32, i32)) -> bool {
        let row = self
            .client()
            .await
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 \
                 AND classid::int8 = $1 AND objid::int8 = $2",
                &[
                    &i64::from(key.0.cast_unsigned()),
                    &i64::from(key.1.cast_unsigned()),
                ],
            )
            .await
            .expect("pg_locks");
        row.get::<_, i64>(0) > 0
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let config = self.config.clone();
        let name = self.name.clone();
        // A thread with its own runtime: Drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(c) = connect(&config).await {
                    let _ = c
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

fn create_table(v: u64) -> SqlMigration {
    SqlMigration::new(
        v,
        format!("create_t{v}"),
        format!("CREATE TABLE t{v} (id bigint); INSERT INTO effects VALUES ({v})"),
    )
    .down(format!(
        "DROP TABLE t{v}; DELETE FROM effects WHERE version = {v}"
    ))
}

/// A non-transactional index build that can be retried after a crash.
fn concurrent_index(v: u64, on: &str) -> SqlMigration {
    SqlMigration::new(
        v,
        format!("idx{v}"),
        format!("DROP INDEX CONCURRENTLY IF EXISTS idx{v}"),
    )
    .then(format!("CREATE INDEX CONCURRENTLY idx{v} ON {on} (id)"))
    .down(format!("DROP INDEX CONCURRENTLY IF EXISTS idx{v}"))
    .no_transaction()
    .validate_up(format!(
        "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('idx{v}')), false)"
    ))
}

fn migrator(store: PostgresStore, migrations: Vec<SqlMigration>) -> Migrator<PostgresStore> {
    let mut b = Migrator::builder(store);
    for m in migrations {
        b = b.migration(m);
    }
    b.build().expect("unique versions")
}

#[tokio::test]
async fn applies_each_migration_with_its_history_row_and_reruns_as_a_no_op() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let mut m = migrator(schema.store().await, (1..=3).map(create_table).collect());
    let report = m.run().await.expect("run");
    assert_eq!(report.applied.len(), 3);
    assert_eq!(schema.tables().await, ["t1", "t2", "t3"]);
    assert_eq!(
        schema.history().await,
        [
            (1, "applied".into()),
            (2, "applied".into()),
            (3, "applied".into())
        ]
    );
    let status = m.status().await.expect("status");
    assert_eq!(status.count(MigrationState::Applied), 3);
    let again = m.run().await.expect("rerun");
    assert!(again.applied.is_empty());
    assert!(!schema.lock_held(m.store().lock_key()).await);

    let rolled = m.rollback(Rollback::Last(2)).await.expect("rollback");
    assert_eq!(rolled.reverted.len(), 2);
    assert_eq!(schema.tables().await, ["t1"]);
    assert_eq!(schema.history().await, [(1, "applied".into())]);
}

#[tokio::test]
async fn a_failing_migration_leaves_no_trace_and_frees_the_lock_at_once() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let bad = SqlMigration::new(
        2,
        "half_way",
        "CREATE TABLE t_new (id int); ALTER TABLE t1 ADD COLUMN extra int; \
         INSERT INTO t1 (id) VALUES (42); INSERT INTO effects VALUES (2); SELEC broken",
    );
    let mut m = migrator(schema.store().await, vec![create_table(1), bad]);
    let err = m.run().await.expect_err("bad SQL fails");
    match &err {
        Error::StepFailed { version: 2, .. } => {}
        other => panic!("expected StepFailed for 2, got {other}"),
    }
    let text = chain(&err);
    assert!(text.contains("syntax error"), "{text}");
    assert!(text.contains("half_way"), "{text}");

    // Checked in the catalog: no table, no column, no row, no history row.
    assert_eq!(schema.tables().await, ["t1"]);
    assert_eq!(schema.columns("t1").await, ["id"]);
    let c = schema.client().await;
    let rows: i64 = c
        .query_one("SELECT count(*) FROM t1", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0);
    let effects: Vec<i64> = c
        .query("SELECT version FROM effects ORDER BY 1", &[])
        .await
        .expect("effects")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(effects, [1]);
    assert_eq!(schema.history().await, [(1, "applied".into())]);

    // The lock is free at once: a second migrator that does not wait at all gets it.
    assert!(!schema.lock_held(m.store().lock_key()).await);
    let mut other = schema
        .builder()
        .lock_timeout(Duration::ZERO)
        .connect()
        .await
        .expect("store");
    other
        .lock()
        .await
        .expect("the lock is free without waiting");
    other.unlock().await.expect("unlock");
}

/// Panics in `up`, after it changed the schema.
struct Panics;

#[async_trait::async_trait]
impl Migration<PgContext> for Panics {
    fn version(&self) -> u64 {
        1
    }
    fn name(&self) -> &str {
        "panics"
    }
    fn source(&self) -> &[u8] {
        b"panic"
    }
    async fn up(&self, db: &mut PgContext) -> Result<(), BoxError> {
        db.batch_execute("CREATE TABLE t_panic (id int)").await?;
        panic!("migration bug");
    }
    async fn down(&self, _db: &mut PgContext) -> Result<(), BoxError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_migration_releases_the_lock_and_rolls_back() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let store = schema.store().await;
    let key = store.lock_key();
    let task = tokio::spawn(async move {
        let mut m = Migrator::builder(store)
            .migration(Panics)
            .build()
            .expect("build");
        m.run().await
    });
    let joined = task.await;
    assert!(joined.expect_err("the task panicked").is_panic());

    let started = Instant::now();
    let mut other = schema
        .builder()
        .lock_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("store");
    other.lock().await.expect("lock released after the panic");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    other.unlock().await.expect("unlock");
    assert!(
        schema.tables().await.is_empty(),
        "the panicking step was rolled back"
    );
    assert!(schema.history().await.is_empty());
    assert!(!schema.lock_held(key).await);
}

/// Sleeps in the database the first time it runs.
struct SlowOnce(Arc<AtomicBool>);

#[async_trait::async_trait]
impl Migration<PgContext> for SlowOnce {
    fn version(&self) -> u64 {
        1
    }
    fn name(&self) -> &str {
        "slow_once"
    }
    fn source(&self) -> &[u8] {
        b"CREATE TABLE t_slow (id int); SELECT pg_sleep(30)"
    }
    async fn up(&self, db: &mut PgContext) -> Result<(), BoxError> {
        db.batch_execute("CREATE TABLE t_slow (id int)").await?;
        if !self.0.swap(true, Ordering::SeqCst) {
            db.batch_execute("SELECT pg_sleep(30)").await?;
        }
        Ok(())
    }
    async fn down(&self, db: &mut PgContext) -> Result<(), BoxError> {
        db.batch_execute("DROP TABLE t_slow").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_releases_the_lock_even_while_the_migrator_lives() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let mut m = Migrator::builder(schema.store().await)
        .migration(SlowOnce(Arc::new(AtomicBool::new(false))))
        .build()
        .expect("build");
    let key = m.store().lock_key();
    let cancelled = tokio::time::timeout(Duration::from_millis(500), m.run()).await;
    assert!(cancelled.is_err(), "the run was cancelled by the timeout");

    // `m` is still alive: the guard must have ended its session anyway.
    let started = Instant::now();
    let mut other = schema
        .builder()
        .lock_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("store");
    other
        .lock()
        .await
        .expect("lock released after cancellation");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    other.unlock().await.expect("unlock");
    drop(other);
    assert!(
        schema.tables().await.is_empty(),
        "the cancelled step was rolled back"
    );
    assert!(schema.history().await.is_empty());

    // The same migrator heals (new session) and finishes the work.
    let report = m.run().await.expect("rerun after cancellation");
    assert_eq!(report.applied.len(), 1);
    assert_eq!(schema.tables().await, ["t_slow"]);
    assert!(!schema.lock_held(key).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_create_index_concurrently_both_finish() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let set = || {
        vec![
            SqlMigration::new(
                1,
                "big",
                "CREATE TABLE big (id bigint); INSERT INTO big SELECT generate_series(1, 200000)",
            ),
            // The pause makes sure the other instance is polling for the
            // lock while the index is built.
            SqlMigration::new(2, "big_idx", "SELECT pg_sleep(0.5)")
                .then("DROP INDEX CONCURRENTLY IF EXISTS big_idx")
                .then("CREATE INDEX CONCURRENTLY big_idx ON big (id)")
                .no_transaction()
                .validate_up(
                    "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('big_idx')), false)",
                ),
            create_table(3),
        ]
    };
    let mut a = migrator(schema.store().await, set());
    let mut b = migrator(schema.store().await, set());
    let both = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(a.run(), b.run())
    })
    .await
    .expect("no deadlock: both instances finish within 60 s");
    let (ra, rb) = (both.0.expect("instance a"), both.1.expect("instance b"));
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        3,
        "each migration applied once"
    );
    let valid: bool = schema
        .client()
        .await
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('big_idx')",
            &[],
        )
        .await
        .expect("index exists")
        .get(0);
    assert!(valid, "the index is valid");
    assert_eq!(
        schema.history().await,
        [
            (1, "applied".into()),
            (2, "applied".into()),
            (3, "applied".into())
        ]
    );
}

#[tokio::test]
async fn a_step_in_doubt_blocks_run_until_validated_or_resolved() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    // Apply 1, then leave 2 (non-transactional) in doubt as a crash would:
    // its intent row committed, its effect present or not.
    let mut m = migrator(schema.store().await, vec![create_table(1)]);
    m.run().await.expect("run");
    let unchecked =
        SqlMigration::new(2, "idx2", "CREATE INDEX CONCURRENTLY idx2 ON t1 (id)").no_transaction();
    let intent = format!(
        "INSERT INTO {}.{HISTORY} (version, name, checksum, state, transactional, started_at) \
         VALUES (2, 'idx2', '{}', 'applying', false, now())",
        schema.name,
        Checksum::of_source(b"CREATE INDEX CONCURRENTLY idx2 ON t1 (id)")
    );
    schema
        .client()
        .await
        .batch_execute(&intent)
        .await
        .expect("intent row");

    let mut m = migrator(
        schema.store().await,
        vec![create_table(1), unchecked.clone(), create_table(3)],
    );
    let status = m.status().await.expect("status");
    assert_eq!(status.count(MigrationState::InDoubt), 1);
    let err = m.run().await.expect_err("refuses to guess");
    assert!(matches!(err, Error::InDoubt { version: 2, .. }), "{err}");
    assert_eq!(schema.tables().await, ["t1"], "nothing ran");

    // The operator checked by hand: the index is not there.
    m.resolve(2, Settlement::NotApplied).await.expect("resolve");
    let report = m.run().await.expect("run after resolve");
    assert_eq!(
        report.applied.iter().map(|s| s.version).collect::<Vec<_>>(),
        [2, 3]
    );

    // With a validator the migrator settles it by itself.
    schema
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE {}.{HISTORY} SET state = 'applying' WHERE version = 2",
            schema.name
        ))
        .await
        .expect("back in doubt");
    let validated = unchecked.validate_up(
        "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('idx2')), false)",
    );
    let mut m = migrator(
        schema.store().await,
        vec![create_table(1), validated, create_table(3)],
    );
    let report = m.run().await.expect("validated");
    assert_eq!(report.resolved.len(), 1);
    assert!(report.applied.is_empty());
    assert_eq!(schema.history().await.len(), 3);
}

#[tokio::test]
async fn a_tampered_checksum_is_reported_and_nothing_changes() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let mut m = migrator(schema.store().await, (1..=2).map(create_table).collect());
    m.run().await.expect("run");
    schema
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE {}.{HISTORY} SET checksum = '{}' WHERE version = 2",
            schema.name,
            Checksum::of_source(b"something else")
        ))
        .await
        .expect("tamper");
    let before = schema.snapshot().await;
    let mut m = migrator(schema.store().await, (1..=3).map(create_table).collect());
    let err = m.run().await.expect_err("divergent");
    assert!(matches!(err, Error::Divergent { version: 2, .. }), "{err}");
    assert!(err.to_string().contains("create_t2"), "{err}");
    let verify = m.verify().await.expect("verify");
    assert!(!verify.is_ok());
    assert_eq!(schema.snapshot().await, before, "nothing changed");

    // Not even hex: a clear error naming the row.
    schema
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE {}.{HISTORY} SET checksum = 'zz' WHERE version = 1",
            schema.name
        ))
        .await
        .expect("tamper");
    let err = m.status().await.expect_err("unreadable checksum");
    let text = chain(&err);
    assert!(
        text.contains("version 1") && text.contains("\"zz\""),
        "{text}"
    );

    // Hex, but not 32 bytes: the same clear error.
    schema
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE {}.{HISTORY} SET checksum = 'abcd' WHERE version = 1",
            schema.name
        ))
        .await
        .expect("tamper");
    let err = m.status().await.expect_err("short checksum");
    let text = chain(&err);
    assert!(
        text.contains("version 1") && text.contains("\"abcd\""),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_future_layout_or_a_foreign_table_is_refused_untouched() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let mut store = schema.store().await;
    store.lock().await.expect("creates the table");
    store.unlock().await.expect("unlock");
    // A migrator that read the table before it changed notices too.
    let mut warm = migrator(schema.store().await, vec![create_table(1)]);
    warm.status().await.expect("our layout");
    schema
        .client()
        .await
        .batch_execute(&format!(
            "COMMENT ON TABLE {}.{HISTORY} IS 'engine-ops-migrate history layout 99'",
            schema.name
        ))
        .await
        .expect("future layout");
    let err = warm.status().await.expect_err("future layout");
    assert!(err.to_string().contains("layout 99"), "{err}");
    let before = schema.snapshot().await;
    let mut m = migrator(schema.store().await, vec![create_table(1)]);
    let err = m.run().await.expect_err("future layout");
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
    assert!(err.to_string().contains("layout 99"), "{err}");
    assert!(matches!(
        m.status().await,
        Err(Error::UnsupportedFormat { .. })
    ));
    assert_eq!(schema.snapshot().await, before, "nothing changed");
    assert!(
        !schema.lock_held(m.store().lock_key()).await,
        "lock released on the error path"
    );
    schema
        .client()
        .await
        .batch_execute(&format!(
            "COMMENT ON TABLE {}.{HISTORY} IS NULL",
            schema.name
        ))
        .await
        .expect("no marker");
    let err = warm.status().await.expect_err("no marker");
    assert!(err.to_string().contains("layout marker"), "{err}");

    // A table of the same name that is not ours is never written to.
    let other = server.schema().await;
    other
        .client()
        .await
        .batch_execute(&format!("CREATE TABLE {}.{HISTORY} (id int)", other.name))
        .await
        .expect("foreign table");
    let before = other.snapshot().await;
    let mut m = migrator(other.store().await, vec![create_table(1)]);
    let err = m.run().await.expect_err("foreign table");
    // Not ours: no advice to upgrade, but to pick another table.
    let text = err.to_string();
    assert!(!text.contains("newer"), "{text}");
    assert!(text.contains("engine-ops-migrate did not create"), "{text}");
    assert!(text.contains("history table"), "{text}");
    assert_eq!(other.snapshot().await, before);
}

#[tokio::test]
async fn wrong_url_and_wrong_credentials_are_clear_errors() {
    let Some(server) = server().await else { return };
    let err = PostgresStore::connect("postgres://[oops")
        .await
        .expect_err("bad url");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("PostgreSQL URL"), "{err}");

    let err = PostgresStore::connect("postgres://engine_ops:x@127.0.0.1:1/engine_ops_test")
        .await
        .expect_err("nothing listens on port 1");
    let text = chain(&err);
    assert!(matches!(err, Error::Backend { .. }), "{text}");
    assert!(
        text.contains(
            "cannot connect to PostgreSQL at postgres://engine_ops@127.0.0.1:1/engine_ops_test"
        ),
        "{text}"
    );
    assert!(!text.contains(":x@"), "no password in messages: {text}");

    let mut wrong = server.config.clone();
    wrong.password("definitely-wrong");
    let err = PostgresStore::builder_from_config(wrong)
        .connect()
        .await
        .expect_err("wrong password");
    let text = chain(&err);
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("definitely-wrong"), "{text}");

    let mut no_db = server.config.clone();
    no_db.dbname("no_such_database_eo");
    let err = PostgresStore::builder_from_config(no_db)
        .connect()
        .await
        .expect_err("no db");
    assert!(chain(&err).contains("does not exist"), "{}", chain(&err));

    let err = PostgresStore::builder(&server.url)
        .history_table("public", "x".repeat(64))
        .connect()
        .await
        .expect_err("name too long");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
}

#[tokio::test]
async fn the_lock_times_out_naming_its_holder_and_is_per_history_table() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let mut holder = schema.store().await;
    holder.lock().await.expect("lock");
    let mut waiter = schema
        .builder()
        .lock_timeout(Duration::from_millis(300))
        .connect()
        .await
        .expect("store");
    let started = Instant::now();
    let err = waiter.lock().await.expect_err("held");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = err.to_string();
    assert!(matches!(err, Error::LockTimeout { .. }), "{text}");
    assert!(text.contains("held by backend pid"), "{text}");
    assert!(
        text.contains("application \"engine-ops-migrate\""),
        "the store names its sessions: {text}"
    );
    assert!(text.contains("timed out after 3"), "milliseconds: {text}");

    // Another application's history table in the same database: no waiting.
    let mut neighbour = schema
        .builder()
        .history_table(schema.name.clone(), "other_history")
        .lock_timeout(Duration::ZERO)
        .connect()
        .await
        .expect("store");
    assert_ne!(neighbour.lock_key(), holder.lock_key());
    neighbour.lock().await.expect("independent lock");
    neighbour.unlock().await.expect("unlock");

    holder.unlock().await.expect("unlock");
    waiter.lock().await.expect("free now");
    waiter.unlock().await.expect("unlock");
    assert!(!schema.lock_held(holder.lock_key()).await);
}

/// A non-transactional step whose migrator holds the lock right now is
/// running, not in doubt, and readers name the session holding the lock;
/// once that session is gone, the same row is in doubt.
#[tokio::test]
async fn a_running_step_is_not_in_doubt() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let index = concurrent_index(1, "effects");
    let mut running = schema
        .builder()
        .application_name("migrate-under-test")
        .connect()
        .await
        .expect("store");
    running.lock().await.expect("lock");
    let info = engine_ops_migrate::MigrationInfo::of::<PgContext>(&index);
    running
        .begin(&engine_ops_migrate::StepIntent::new(
            &info,
            engine_ops_migrate::Direction::Up,
            1,
        ))
        .await
        .expect("begin");

    let mut reader = migrator(schema.store().await, vec![index.clone()]);
    let verify = reader.verify().await.expect("verify");
    assert!(verify.is_ok(), "{:?}", verify.problems);
    assert_eq!(verify.running.len(), 1);
    let holder = verify.lock_holder.expect("named");
    assert!(
        holder.contains("application \"migrate-under-test\""),
        "{holder}"
    );
    let status = reader.status().await.expect("status");
    assert_eq!(status.count(MigrationState::Running), 1);
    assert!(status.problems.is_empty());

    drop(running);
    // The server ends the session when the connection closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = reader.status().await.expect("status");
        if status.count(MigrationState::InDoubt) == 1 {
            assert_eq!(status.lock_holder, None);
            break;
        }
        assert!(Instant::now() < deadline, "still running: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!reader.verify().await.expect("verify").is_ok());
}

#[tokio::test]
async fn status_on_ten_thousand_applied_costs_a_bounded_number_of_round_trips() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let declared: Vec<SqlMigration> = (1..=10_000)
        .map(|v| SqlMigration::new(v, format!("m{v}"), format!("SELECT {v}")))
        .collect();
    let mut store = schema.store().await;
    store.lock().await.expect("create table");
    store.unlock().await.expect("unlock");
    // Seed the history as if every migration had been applied.
    let checksums: Vec<String> = (1..=10_000u64)
        .map(|v| Checksum::of_source(format!("SELECT {v}").as_bytes()).to_hex())
        .collect();
    schema
        .client()
        .await
        .execute(
            &format!(
                "INSERT INTO {}.{HISTORY} (version, name, checksum, state, transactional, started_at, applied_at, execution_ms) \
                 SELECT v, 'm' || v, c, 'applied', true, now(), now(), 1 FROM unnest($1::text[]) WITH ORDINALITY AS u(c, v)",
                schema.name
            ),
            &[&checksums],
        )
        .await
        .expect("seed");

    let mut m = migrator(store, declared);
    // The first read on a connection prepares the history query.
    let before = m.store().round_trips();
    let status = m.status().await.expect("status");
    let first = m.store().round_trips() - before;
    assert_eq!(status.count(MigrationState::Applied), 10_000);
    assert!(status.problems.is_empty());
    assert!(first <= 3, "first status: prepare + read, got {first}");
    // From then on: one round trip, whatever the number of rows.
    for _ in 0..3 {
        let before = m.store().round_trips();
        let status = m.status().await.expect("status");
        let cost = m.store().round_trips() - before;
        assert_eq!(status.count(MigrationState::Applied), 10_000);
        assert_eq!(cost, 1, "status is one round trip, got {cost}");
    }
    let before = m.store().round_trips();
    assert!(m.run().await.expect("no-op run").applied.is_empty());
    let cost = m.store().round_trips() - before;
    assert_eq!(cost, 3, "a no-op run is lock + load + unlock, got {cost}");
}

// ---------------------------------------------------------------------------
// Child processes: crash test and 8 simultaneous migrators.

const CRASH_MIGRATIONS: u64 = 200;
const RACE_MIGRATIONS: u64 = 40;

fn crash_set(n: u64) -> Vec<SqlMigration> {
    (1..=n)
        .map(|v| {
            if v % 25 == 0 {
                concurrent_index(v, &format!("t{}", v - 1))
            } else {
                create_table(v)
            }
        })
        .collect()
}

/// Child entry point (not a test on its own): migrates the schema named in
/// `$ENGINE_OPS_PG_CHILD_SCHEMA`. Does nothing without it.
#[test]
#[ignore = "child process of the crash and concurrency tests"]
fn pg_child() {
    let Ok(name) = std::env::var(CHILD_SCHEMA) else {
        return;
    };
    let url = std::env::var(URL_ENV).expect("url");
    let mode = std::env::var(CHILD_MODE).unwrap_or_default();
    if let Ok(at) = std::env::var(CHILD_START) {
        sleep_until(at.parse().expect("start time"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let base = tokio_postgres::Config::from_str(&url).expect("url");
        let schema = Schema::attach(&base, name);
        let n = if mode == "race" {
            RACE_MIGRATIONS
        } else {
            CRASH_MIGRATIONS
        };
        let mut m = migrator(schema.store().await, crash_set(n));
        let report = m.run().await.expect("child run");
        println!("APPLIED {}", report.applied.len());
        std::mem::forget(schema); // the parent owns the schema
    });
}

/// One consistent snapshot of the schema: history, tables, effects, indexes.
async fn observe(
    schema: &Schema,
) -> (
    Vec<(i64, String)>,
    Vec<String>,
    Vec<(i64, i64)>,
    Vec<(String, bool)>,
) {
    let mut c = schema.client().await;
    let tx = c
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .expect("snapshot");
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{}.{HISTORY}", schema.name)],
        )
        .await
        .expect("catalog")
        .get(0);
    let history = if exists {
        tx.query(
            &format!(
                "SELECT version, state FROM {}.{HISTORY} ORDER BY 1",
                schema.name
            ),
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    } else {
        Vec::new()
    };
    let tables = tx
        .query(
            "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND relkind = 'r' AND relname LIKE 't%' ORDER BY 1",
            &[&schema.name],
        )
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let effects = tx
        .query(
            "SELECT version, count(*) FROM effects GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .expect("effects")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let indexes = tx
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE 'idx%' ORDER BY 1",
            &[&schema.name],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    tx.commit().await.expect("end snapshot");
    (history, tables, effects, indexes)
}

/// Checks that schema and history agree; returns (applied prefix, in doubt).
async fn check_consistent(schema: &Schema) -> (u64, usize) {
    let (history, tables, effects, indexes) = observe(schema).await;
    let applied: Vec<u64> = history
        .iter()
        .filter(|(_, s)| s == "applied")
        .map(|(v, _)| *v as u64)
        .collect();
    let k = applied.len() as u64;
    assert_eq!(applied, (1..=k).collect::<Vec<_>>(), "applied is a prefix");
    let doubt: Vec<&(i64, String)> = history.iter().filter(|(_, s)| s != "applied").collect();
    assert!(doubt.len() <= 1, "at most one step in doubt: {doubt:?}");
    if let Some((v, state)) = doubt.first() {
        assert_eq!((*v as u64, state.as_str()), (k + 1, "applying"));
        assert_eq!(*v % 25, 0, "only non-transactional steps can be in doubt");
    }
    let mut expect_tables: Vec<String> = (1..=k)
        .filter(|v| v % 25 != 0)
        .map(|v| format!("t{v}"))
        .collect();
    expect_tables.sort();
    assert_eq!(tables, expect_tables, "tables match the history");
    let expect_effects: Vec<(i64, i64)> = (1..=k)
        .filter(|v| v % 25 != 0)
        .map(|v| (v as i64, 1))
        .collect();
    assert_eq!(
        effects, expect_effects,
        "every applied step's effect exactly once, no other"
    );
    for v in (1..=k).filter(|v| v % 25 == 0) {
        assert!(
            indexes.contains(&(format!("idx{v}"), true)),
            "applied index idx{v} is valid: {indexes:?}"
        );
    }
    (k, doubt.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_random_moments_keeps_schema_and_history_in_agreement() {
    let Some(server) = server().await else { return };
    let mut rng = Rng::from_clock();
    let child = |schema: &Schema| {
        KillOnDrop(spawn_self(
            "pg_child",
            &[
                (URL_ENV, server.url.clone()),
                (CHILD_SCHEMA, schema.name.clone()),
                (CHILD_MODE, "crash".into()),
            ],
            false,
        ))
    };

    // Calibrate: how long a child takes to apply everything.
    let calib = server.schema().await;
    let started = Instant::now();
    let status = child(&calib).0.wait().expect("wait");
    assert!(status.success(), "calibration child failed: {status}");
    let window_us = started.elapsed().as_micros() as u64;
    assert_eq!(check_consistent(&calib).await.0, CRASH_MIGRATIONS);
    drop(calib);

    let mut schema = server.schema().await;
    let mut tally = CrashTally::new(CRASH_MIGRATIONS);
    while tally.kills < 50 {
        let mut c = child(&schema);
        tokio::time::sleep(Duration::from_micros(rng.next() % window_us)).await;
        tally.kill_unless_finished(&mut c.0);
        if tally.record(check_consistent(&schema).await) {
            schema = server.schema().await;
        }
    }
    tally.finish("pg", window_us);

    // A plain rerun completes: everything once, the in-doubt step settled.
    let status = child(&schema).0.wait().expect("wait");
    assert!(status.success(), "final rerun failed: {status}");
    assert_eq!(check_consistent(&schema).await, (CRASH_MIGRATIONS, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_at_the_same_instant_apply_each_migration_once() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let start_at = (now_ms() + 1_500).to_string();
    let total = race_children(
        "pg_child",
        &[
            (URL_ENV, server.url.clone()),
            (CHILD_SCHEMA, schema.name.clone()),
            (CHILD_MODE, "race".into()),
            (CHILD_START, start_at),
        ],
    );
    assert_eq!(
        total, RACE_MIGRATIONS as usize,
        "each applied once in total"
    );
    assert_eq!(check_consistent(&schema).await, (RACE_MIGRATIONS, 0));
}

#[tokio::test]
async fn a_non_transactional_step_that_fails_is_compensated_and_leaves_no_intent() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let failing = SqlMigration::new(
        2,
        "bad_idx",
        "CREATE INDEX CONCURRENTLY bad_idx ON no_such_table (id)",
    )
    .down("DROP INDEX CONCURRENTLY IF EXISTS bad_idx")
    .no_transaction();
    let mut m = migrator(schema.store().await, vec![create_table(1), failing]);
    let err = m.run().await.expect_err("fails");
    assert!(matches!(err, Error::StepFailed { version: 2, .. }), "{err}");
    assert!(chain(&err).contains("no_such_table"), "{}", chain(&err));
    assert_eq!(schema.history().await, [(1, "applied".into())]);
}

#[tokio::test]
async fn the_default_history_table_lives_in_the_connections_current_schema() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let store = PostgresStore::builder_from_config(schema.config.clone())
        .connect()
        .await
        .expect("store");
    assert_eq!(
        store.history_table(),
        format!("\"{}\".\"engine_ops_migrations\"", schema.name)
    );
    let mut m = migrator(store, vec![create_table(1)]);
    m.run().await.expect("run");
    let c = schema.client().await;
    let found: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{}.engine_ops_migrations", schema.name)],
        )
        .await
        .expect("catalog")
        .get(0);
    assert!(found);
}

/// Uses the raw client (which must be inside the step transaction), or does
/// nothing at all.
struct RawClient {
    version: u64,
    fail: bool,
    noop: bool,
}

#[async_trait::async_trait]
impl Migration<PgContext> for RawClient {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        "raw_client"
    }
    fn source(&self) -> &[u8] {
        b"raw client"
    }
    async fn up(&self, db: &mut PgContext) -> Result<(), BoxError> {
        if self.noop {
            return Ok(());
        }
        let client = db.client().await?;
        client
            .batch_execute(&format!("CREATE TABLE t_raw{} (id int)", self.version))
            .await?;
        if self.fail {
            client.batch_execute("SELEC broken").await?;
        }
        Ok(())
    }
    async fn down(&self, _db: &mut PgContext) -> Result<(), BoxError> {
        Ok(())
    }
}

#[tokio::test]
async fn the_raw_client_and_empty_steps_run_inside_the_step_transaction() {
    let Some(server) = server().await else { return };
    let schema = server.schema().await;
    let mut m = Migrator::builder(schema.store().await)
        .migration(RawClient {
            version: 1,
            fail: false,
            noop: true,
        })
        .migration(RawClient {
            version: 2,
            fail: false,
            noop: false,
        })
        .migration(RawClient {
            version: 3,
            fail: true,
            noop: false,
        })
        .build()
        .expect("build");
    let err = m.run().await.expect_err("step 3 fails");
    assert!(matches!(err, Error::StepFailed { version: 3, .. }), "{err}");
    // Step 3's table was created through the raw client, then rolled back
    // with its transaction: the client was inside it.
    assert_eq!(schema.tables().await, ["t_raw2"]);
    assert_eq!(
        schema.history().await,
        [(1, "applied".into()), (2, "applied".into())]
    );
}
