//! The SQLite store on real database files.

#![cfg(feature = "sqlite")]

mod db_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use db_support::{
    CrashTally, KillOnDrop, Rng, chain, now_ms, race_children, sleep_until, spawn_self,
};
use engine_ops_migrate::store::sql::SqlMigration;
use engine_ops_migrate::store::sqlite::{SqliteStore, SqliteStoreBuilder};
use engine_ops_migrate::{
    BoxError, Checksum, Error, Migration, MigrationState, Migrator, Rollback, Settlement,
    StateStore,
};
use rusqlite::Connection;

const CHILD_DB: &str = "ENGINE_OPS_SQLITE_CHILD_DB";
const CHILD_MODE: &str = "ENGINE_OPS_SQLITE_CHILD_MODE";
const CHILD_START: &str = "ENGINE_OPS_SQLITE_CHILD_START_AT";

/// A temp dir on tmpfs when there is one (fsync there is cheap).
fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temp dir")
}

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Self {
        let dir = tempdir();
        let path = dir.path().join("app.db");
        let c = Connection::open(&path).expect("create db");
        c.execute_batch("CREATE TABLE effects (version INTEGER NOT NULL)")
            .expect("effects table");
        Self { _dir: dir, path }
    }

    fn builder(&self) -> SqliteStoreBuilder {
        builder(&self.path)
    }

    fn store(&self) -> SqliteStore {
        self.builder().open().expect("open store")
    }

    fn conn(&self) -> Connection {
        Connection::open(&self.path).expect("open db")
    }

    /// Tables other than the history, its layout table and effects.
    fn tables(&self) -> Vec<String> {
        let c = self.conn();
        let mut st = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT IN ('effects', 'engine_ops_migrations', 'engine_ops_migrations_layout') ORDER BY 1",
            )
            .expect("prepare");
        st.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn columns(&self, table: &str) -> Vec<String> {
        let c = self.conn();
        let mut st = c
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .expect("prepare");
        st.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn history(&self) -> Vec<(i64, String)> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT version, state FROM engine_ops_migrations ORDER BY 1")
            .expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Everything observable: the schema and every row of every table.
    fn snapshot(&self) -> String {
        let c = self.conn();
        let mut out = String::new();
        let tables: Vec<(String, String)> = c
            .prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
            .expect("prepare")
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (name, sql) in tables {
            out.push_str(&format!("{name}: {sql}\n"));
            if sql.starts_with("CREATE TABLE") {
                out.push_str(&format!("{:?}\n", dump_rows(&c, &name)));
            }
        }
        out
    }
}

fn dump_rows(c: &Connection, table: &str) -> Vec<String> {
    let mut st = c
        .prepare(&format!("SELECT * FROM \"{table}\""))
        .expect("prepare");
    let n = st.column_count();
    st.query_map([], |r| {
        let mut row = Vec::new();
        for i in 0..n {
            row.push(format!("{:?}", r.get_ref(i)?));
        }
        Ok(row.join(","))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn builder(path: &Path) -> SqliteStoreBuilder {
    SqliteStore::builder(path).lock_timeout(Duration::from_secs(60))
}

fn create_table(v: u64) -> SqlMigration {
    SqlMigration::new(
        v,
        format!("create_t{v}"),
        format!("CREATE TABLE t{v} (id INTEGER); INSERT INTO effects VALUES ({v})"),
    )
    .down(format!(
        "DROP TABLE t{v}; DELETE FROM effects WHERE version = {v}"
    ))
}

/// A non-transactional step that commits in two parts and can be retried.
fn two_part(v: u64) -> SqlMigration {
    SqlMigration::new(v, format!("two_part{v}"), format!("CREATE TABLE IF NOT EXISTS t{v} (id INTEGER)"))
        .then(format!(
            "INSERT INTO effects SELECT {v} WHERE NOT EXISTS (SELECT 1 FROM effects WHERE version = {v})"
        ))
        .down(format!("DROP TABLE IF EXISTS t{v}; DELETE FROM effects WHERE version = {v}"))
        .no_transaction()
        .validate_up(format!(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 't{v}') \
                AND EXISTS (SELECT 1 FROM effects WHERE version = {v})"
        ))
}

fn migrator(store: SqliteStore, migrations: Vec<SqlMigration>) -> Migrator<SqliteStore> {
    let mut b = Migrator::builder(store);
    for m in migrations {
        b = b.migration(m);
    }
    b.build().expect("unique versions")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn applies_each_migration_with_its_history_row_and_reruns_as_a_no_op() {
    let db = Db::new();
    rt().block_on(async {
        let mut m = migrator(db.store(), (1..=3).map(create_table).collect());
        assert_eq!(m.run().await.expect("run").applied.len(), 3);
        assert_eq!(db.tables(), ["t1", "t2", "t3"]);
        assert_eq!(
            db.history(),
            [
                (1, "applied".into()),
                (2, "applied".into()),
                (3, "applied".into())
            ]
        );
        assert_eq!(
            m.status()
                .await
                .expect("status")
                .count(MigrationState::Applied),
            3
        );
        assert!(m.run().await.expect("rerun").applied.is_empty());
        let rolled = m.rollback(Rollback::Last(2)).await.expect("rollback");
        assert_eq!(rolled.reverted.len(), 2);
        assert_eq!(db.tables(), ["t1"]);
        assert_eq!(db.history(), [(1, "applied".into())]);
    });
}

#[test]
fn an_in_memory_database_migrates_without_a_lock_file() {
    rt().block_on(async {
        let mut m = migrator(
            SqliteStore::open(":memory:").expect("open"),
            vec![SqlMigration::new(1, "t", "CREATE TABLE t (id INTEGER)")],
        );
        assert_eq!(m.run().await.expect("run").applied.len(), 1);
        let n: i64 = m
            .store()
            .connection()
            .query_row("SELECT count(*) FROM engine_ops_migrations", [], |r| {
                r.get(0)
            })
            .expect("history");
        assert_eq!(n, 1);
    });
}

#[test]
fn a_failing_migration_leaves_no_trace_and_frees_the_lock_at_once() {
    let db = Db::new();
    rt().block_on(async {
        let bad = SqlMigration::new(
            2,
            "half_way",
            "CREATE TABLE t_new (id INTEGER); ALTER TABLE t1 ADD COLUMN extra INTEGER; \
             INSERT INTO t1 (id) VALUES (42); INSERT INTO effects VALUES (2); SELEC broken",
        );
        let mut m = migrator(db.store(), vec![create_table(1), bad]);
        let err = m.run().await.expect_err("bad SQL fails");
        assert!(matches!(err, Error::StepFailed { version: 2, .. }), "{err}");
        let text = chain(&err);
        assert!(
            text.contains("syntax error") && text.contains("half_way"),
            "{text}"
        );

        assert_eq!(db.tables(), ["t1"]);
        assert_eq!(db.columns("t1"), ["id"]);
        let c = db.conn();
        let rows: i64 = c
            .query_row("SELECT count(*) FROM t1", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 0);
        let effects: i64 = c
            .query_row("SELECT count(*) FROM effects", [], |r| r.get(0))
            .expect("count");
        assert_eq!(effects, 1);
        assert_eq!(db.history(), [(1, "applied".into())]);

        // The lock is free at once, while the failed migrator still lives.
        let mut other = db
            .builder()
            .lock_timeout(Duration::ZERO)
            .open()
            .expect("open");
        other
            .lock()
            .await
            .expect("the lock is free without waiting");
        other.unlock().await.expect("unlock");
        drop(m);
    });
}

struct Panics;

#[async_trait::async_trait]
impl Migration<Connection> for Panics {
    fn version(&self) -> u64 {
        1
    }
    fn name(&self) -> &str {
        "panics"
    }
    fn source(&self) -> &[u8] {
        b"panic"
    }
    async fn up(&self, db: &mut Connection) -> Result<(), BoxError> {
        db.execute_batch("CREATE TABLE t_panic (id INTEGER)")?;
        panic!("migration bug");
    }
    async fn down(&self, _db: &mut Connection) -> Result<(), BoxError> {
        Ok(())
    }
}

#[test]
fn a_panic_in_a_migration_releases_the_lock_and_rolls_back() {
    let db = Db::new();
    let store = db.store();
    let joined = std::thread::spawn(move || {
        rt().block_on(async move {
            let mut m = Migrator::builder(store)
                .migration(Panics)
                .build()
                .expect("build");
            m.run().await
        })
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    rt().block_on(async {
        let mut other = db
            .builder()
            .lock_timeout(Duration::ZERO)
            .open()
            .expect("open");
        other.lock().await.expect("lock released by the panic");
        other.unlock().await.expect("unlock");
    });
    assert!(db.tables().is_empty(), "the step was rolled back");
    assert!(db.history().is_empty());
}

#[test]
fn two_instances_with_a_non_transactional_migration_both_finish() {
    let db = Db::new();
    let set = || {
        vec![
            SqlMigration::new(
                1,
                "big",
                "CREATE TABLE big (id INTEGER); \
                 WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000) INSERT INTO big SELECT i FROM s",
            ),
            // VACUUM cannot run inside a transaction; the other instance
            // waits for the run lock meanwhile, holding no transaction.
            SqlMigration::new(2, "vacuum", "DELETE FROM big WHERE id % 2 = 0")
                .then("VACUUM")
                .no_transaction(),
            create_table(3),
        ]
    };
    let path = db.path.clone();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            let set = set();
            std::thread::spawn(move || {
                rt().block_on(async move {
                    let mut m = migrator(builder(&path).open().expect("open"), set);
                    m.run().await.map(|r| r.applied.len())
                })
            })
        })
        .collect();
    let started = Instant::now();
    let applied: usize = threads
        .into_iter()
        .map(|t| t.join().expect("no panic").expect("both instances succeed"))
        .sum();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(applied, 3, "each migration applied once");
    let n: i64 = db
        .conn()
        .query_row("SELECT count(*) FROM big", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 50_000);
    assert_eq!(db.history().len(), 3);
}

#[test]
fn a_step_in_doubt_blocks_run_until_validated_or_resolved() {
    let db = Db::new();
    rt().block_on(async {
        let mut m = migrator(db.store(), vec![create_table(1)]);
        m.run().await.expect("run");
        let unchecked = SqlMigration::new(2, "two_part2", "CREATE TABLE IF NOT EXISTS t2 (id INTEGER)")
            .no_transaction();
        db.conn()
            .execute(
                "INSERT INTO engine_ops_migrations (version, name, checksum, state, transactional, started_at_ms) \
                 VALUES (2, 'two_part2', ?1, 'applying', 0, 0)",
                [Checksum::of_source(b"CREATE TABLE IF NOT EXISTS t2 (id INTEGER)").to_hex()],
            )
            .expect("intent row");
        let mut m = migrator(db.store(), vec![create_table(1), unchecked, create_table(3)]);
        assert_eq!(m.status().await.expect("status").count(MigrationState::InDoubt), 1);
        let err = m.run().await.expect_err("refuses to guess");
        assert!(matches!(err, Error::InDoubt { version: 2, .. }), "{err}");
        assert_eq!(db.tables(), ["t1"]);
        m.resolve(2, Settlement::NotApplied).await.expect("resolve");
        let report = m.run().await.expect("run after resolve");
        assert_eq!(report.applied.iter().map(|s| s.version).collect::<Vec<_>>(), [2, 3]);

        // A validator settles it without an operator.
        db.conn()
            .execute("UPDATE engine_ops_migrations SET state = 'applying' WHERE version = 2", [])
            .expect("back in doubt");
        let validated = SqlMigration::new(2, "two_part2", "CREATE TABLE IF NOT EXISTS t2 (id INTEGER)")
            .no_transaction()
            .validate_up("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 't2')");
        let mut m = migrator(db.store(), vec![create_table(1), validated, create_table(3)]);
        let report = m.run().await.expect("validated");
        assert_eq!(report.resolved.len(), 1);
        assert!(report.applied.is_empty());
    });
}

#[test]
fn a_tampered_checksum_is_reported_and_nothing_changes() {
    let db = Db::new();
    rt().block_on(async {
        let mut m = migrator(db.store(), (1..=2).map(create_table).collect());
        m.run().await.expect("run");
        db.conn()
            .execute(
                "UPDATE engine_ops_migrations SET checksum = ?1 WHERE version = 2",
                [Checksum::of_source(b"something else").to_hex()],
            )
            .expect("tamper");
        let before = db.snapshot();
        let mut m = migrator(db.store(), (1..=3).map(create_table).collect());
        let err = m.run().await.expect_err("divergent");
        assert!(matches!(err, Error::Divergent { version: 2, .. }), "{err}");
        assert!(!m.verify().await.expect("verify").is_ok());
        assert_eq!(db.snapshot(), before, "nothing changed");

        db.conn()
            .execute(
                "UPDATE engine_ops_migrations SET checksum = 'zz' WHERE version = 1",
                [],
            )
            .expect("tamper");
        let text = chain(&m.status().await.expect_err("unreadable"));
        assert!(
            text.contains("version 1") && text.contains("\"zz\""),
            "{text}"
        );
    });
}

#[test]
fn an_unknown_future_layout_or_a_foreign_table_is_refused_untouched() {
    let db = Db::new();
    rt().block_on(async {
        let mut store = db.store();
        store.lock().await.expect("creates the table");
        store.unlock().await.expect("unlock");
        db.conn()
            .execute("UPDATE engine_ops_migrations_layout SET layout = 99", [])
            .expect("future layout");
        let before = db.snapshot();
        let mut m = migrator(db.store(), vec![create_table(1)]);
        let err = m.run().await.expect_err("future layout");
        assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
        assert!(err.to_string().contains("layout 99"), "{err}");
        assert!(matches!(
            m.status().await,
            Err(Error::UnsupportedFormat { .. })
        ));
        assert_eq!(db.snapshot(), before, "nothing changed");
        let mut other = db
            .builder()
            .lock_timeout(Duration::ZERO)
            .open()
            .expect("open");
        other
            .lock()
            .await
            .expect_err("still refused, but the lock was released");
        drop(other);

        let foreign = Db::new();
        foreign
            .conn()
            .execute_batch("CREATE TABLE engine_ops_migrations (id INTEGER)")
            .expect("foreign table");
        let before = foreign.snapshot();
        let mut m = migrator(foreign.store(), vec![create_table(1)]);
        let err = m.run().await.expect_err("foreign table");
        // Not ours: no advice to upgrade, but to pick another table.
        let text = err.to_string();
        assert!(!text.contains("newer"), "{text}");
        assert!(text.contains("engine-ops-migrate did not create"), "{text}");
        assert!(text.contains("history table"), "{text}");
        assert_eq!(foreign.snapshot(), before);
    });
}

#[test]
fn a_wrong_path_or_a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempdir();
    let err = SqliteStore::open(dir.path().join("no/such/dir/app.db")).expect_err("missing dir");
    let text = chain(&err);
    assert!(matches!(err, Error::Backend { .. }), "{text}");
    assert!(
        text.contains("cannot open SQLite database") && text.contains("no/such/dir"),
        "{text}"
    );

    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not an SQLite database, just some text that is long enough",
    )
    .expect("write");
    let before = std::fs::read(&junk).expect("read");
    let err = SqliteStore::open(&junk).expect_err("not a database");
    let text = chain(&err);
    assert!(text.contains("is not a readable SQLite database"), "{text}");
    assert_eq!(
        std::fs::read(&junk).expect("read"),
        before,
        "the file is untouched"
    );
}

#[test]
fn the_lock_times_out_naming_its_file_and_is_per_history_table() {
    let db = Db::new();
    rt().block_on(async {
        let mut holder = db.store();
        holder.lock().await.expect("lock");
        let mut waiter = db
            .builder()
            .lock_timeout(Duration::from_millis(200))
            .open()
            .expect("open");
        let started = Instant::now();
        let err = waiter.lock().await.expect_err("held");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("app.db.engine_ops_migrations.lock"), "{text}");
        assert!(
            text.contains(&format!("held by process {} (", std::process::id())),
            "the holder is named: {text}"
        );
        assert!(text.contains("timed out after 2"), "{text}");

        let mut neighbour = db
            .builder()
            .history_table("other_history")
            .lock_timeout(Duration::ZERO)
            .open()
            .expect("open");
        neighbour.lock().await.expect("independent lock");
        neighbour.unlock().await.expect("unlock");

        holder.unlock().await.expect("unlock");
        waiter.lock().await.expect("free now");
        waiter.unlock().await.expect("unlock");
    });
}

/// A non-transactional step whose migrator holds the lock right now is
/// running, not in doubt; once that migrator is gone (its store dropped,
/// as a killed process's would be) the same row is in doubt.
#[test]
fn a_running_step_is_not_in_doubt() {
    let db = Db::new();
    rt().block_on(async {
        let slow = two_part(1);
        let mut running = db.store();
        running.lock().await.expect("lock");
        let info = engine_ops_migrate::MigrationInfo::of::<Connection>(&slow);
        running
            .begin(&engine_ops_migrate::StepIntent::new(
                &info,
                engine_ops_migrate::Direction::Up,
                1,
            ))
            .await
            .expect("begin");

        let mut reader = migrator(db.store(), vec![slow.clone()]);
        let verify = reader.verify().await.expect("verify");
        assert!(verify.is_ok(), "{:?}", verify.problems);
        assert_eq!(verify.running.len(), 1);
        let holder = verify.lock_holder.expect("named");
        assert!(
            holder.starts_with(&format!("process {} (", std::process::id())),
            "{holder}"
        );
        let status = reader.status().await.expect("status");
        assert_eq!(status.count(MigrationState::Running), 1);
        assert!(status.problems.is_empty());

        drop(running);
        let status = reader.status().await.expect("status");
        assert_eq!(status.count(MigrationState::InDoubt), 1);
        assert_eq!(status.lock_holder, None);
        assert!(!reader.verify().await.expect("verify").is_ok());
    });
}

#[test]
fn status_on_ten_thousand_applied_reads_the_history_once() {
    let db = Db::new();
    rt().block_on(async {
        let mut store = db.store();
        store.lock().await.expect("create");
        store.unlock().await.expect("unlock");
        {
            let mut c = db.conn();
            let tx = c.transaction().expect("tx");
            for v in 1..=10_000u64 {
                tx.execute(
                    "INSERT INTO engine_ops_migrations (version, name, checksum, state, transactional, started_at_ms, applied_at_ms, execution_ms) \
                     VALUES (?1, ?2, ?3, 'applied', 1, 0, 0, 1)",
                    rusqlite::params![v as i64, format!("m{v}"), Checksum::of_source(format!("SELECT {v}").as_bytes()).to_hex()],
                )
                .expect("seed");
            }
            tx.commit().expect("commit");
        }
        let declared: Vec<SqlMigration> =
            (1..=10_000).map(|v| SqlMigration::new(v, format!("m{v}"), format!("SELECT {v}"))).collect();
        let mut m = migrator(store, declared);
        let status = m.status().await.expect("status");
        assert_eq!(status.count(MigrationState::Applied), 10_000);
        assert!(status.problems.is_empty());
    });
}

// ---------------------------------------------------------------------------
// Child processes: crash test and 8 simultaneous migrators.

const CRASH_MIGRATIONS: u64 = 200;
const RACE_MIGRATIONS: u64 = 40;

fn crash_set(n: u64) -> Vec<SqlMigration> {
    (1..=n)
        .map(|v| {
            if v % 25 == 0 {
                two_part(v)
            } else {
                create_table(v)
            }
        })
        .collect()
}

/// Child entry point (not a test on its own): migrates the database named in
/// `$ENGINE_OPS_SQLITE_CHILD_DB`. Does nothing without it.
#[test]
#[ignore = "child process of the crash and concurrency tests"]
fn sqlite_child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let mode = std::env::var(CHILD_MODE).unwrap_or_default();
    if let Ok(at) = std::env::var(CHILD_START) {
        sleep_until(at.parse().expect("start time"));
    }
    rt().block_on(async {
        let n = if mode == "race" {
            RACE_MIGRATIONS
        } else {
            CRASH_MIGRATIONS
        };
        let mut m = migrator(
            builder(Path::new(&path)).open().expect("open"),
            crash_set(n),
        );
        let report = m.run().await.expect("child run");
        println!("APPLIED {}", report.applied.len());
    });
}

/// Checks that schema and history agree; returns (applied prefix, in doubt).
fn check_consistent(db: &Db) -> (u64, usize) {
    let mut c = db.conn();
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    // One read transaction: one consistent snapshot.
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
        .expect("tx");
    let has_history: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'engine_ops_migrations')",
            [],
            |r| r.get(0),
        )
        .expect("catalog");
    let history: Vec<(i64, String)> = if has_history {
        tx.prepare("SELECT version, state FROM engine_ops_migrations ORDER BY 1")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .expect("history")
    } else {
        Vec::new()
    };
    let tables: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 't[0-9]*' ORDER BY 1")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    let effects: Vec<(i64, i64)> = tx
        .prepare("SELECT version, count(*) FROM effects GROUP BY 1 ORDER BY 1")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("effects");
    drop(tx);

    let applied: Vec<u64> = history
        .iter()
        .filter(|(_, s)| s == "applied")
        .map(|(v, _)| *v as u64)
        .collect();
    let k = applied.len() as u64;
    assert_eq!(applied, (1..=k).collect::<Vec<_>>(), "applied is a prefix");
    let doubt: Vec<&(i64, String)> = history.iter().filter(|(_, s)| s != "applied").collect();
    assert!(doubt.len() <= 1, "at most one step in doubt: {doubt:?}");
    let doubtful = doubt.first().map(|(v, _)| *v as u64);
    if let Some(v) = doubtful {
        assert_eq!(v, k + 1);
        assert_eq!(v % 25, 0, "only non-transactional steps can be in doubt");
    }
    let mut expect: Vec<String> = (1..=k).map(|v| format!("t{v}")).collect();
    let mut seen = tables.clone();
    // A step in doubt may have made its table (and effect) or not.
    if let Some(v) = doubtful {
        seen.retain(|t| *t != format!("t{v}"));
    }
    expect.sort();
    assert_eq!(seen, expect, "tables match the history");
    let effects: Vec<(i64, i64)> = effects
        .into_iter()
        .filter(|(v, _)| Some(*v as u64) != doubtful)
        .collect();
    let expect_effects: Vec<(i64, i64)> = (1..=k).map(|v| (v as i64, 1)).collect();
    assert_eq!(
        effects, expect_effects,
        "every applied step's effect exactly once, no other"
    );
    (k, doubt.len())
}

#[test]
fn crash_at_random_moments_keeps_schema_and_history_in_agreement() {
    let mut rng = Rng::from_clock();
    let child = |db: &Db| {
        KillOnDrop(spawn_self(
            "sqlite_child",
            &[
                (CHILD_DB, db.path.display().to_string()),
                (CHILD_MODE, "crash".into()),
            ],
            false,
        ))
    };
    let calib = Db::new();
    let started = Instant::now();
    let status = child(&calib).0.wait().expect("wait");
    assert!(status.success(), "calibration child failed: {status}");
    let window_us = started.elapsed().as_micros() as u64;
    assert_eq!(check_consistent(&calib).0, CRASH_MIGRATIONS);

    let mut db = Db::new();
    let mut tally = CrashTally::new(CRASH_MIGRATIONS);
    while tally.kills < 50 {
        let mut c = child(&db);
        std::thread::sleep(Duration::from_micros(rng.next() % window_us));
        tally.kill_unless_finished(&mut c.0);
        if tally.record(check_consistent(&db)) {
            db = Db::new();
        }
    }
    tally.finish("sqlite", window_us);
    let status = child(&db).0.wait().expect("wait");
    assert!(status.success(), "final rerun failed: {status}");
    assert_eq!(check_consistent(&db), (CRASH_MIGRATIONS, 0));
}

#[test]
fn eight_processes_at_the_same_instant_apply_each_migration_once() {
    let db = Db::new();
    let start_at = (now_ms() + 1_500).to_string();
    let total = race_children(
        "sqlite_child",
        &[
            (CHILD_DB, db.path.display().to_string()),
            (CHILD_MODE, "race".into()),
            (CHILD_START, start_at),
        ],
    );
    assert_eq!(total, RACE_MIGRATIONS as usize);
    assert_eq!(check_consistent(&db), (RACE_MIGRATIONS, 0));
}

/// Waits (outside the database) after changing the schema, the first time.
struct PausesOnce(Arc<std::sync::atomic::AtomicBool>);

#[async_trait::async_trait]
impl Migration<Connection> for PausesOnce {
    fn version(&self) -> u64 {
        1
    }
    fn name(&self) -> &str {
        "pauses_once"
    }
    fn source(&self) -> &[u8] {
        b"CREATE TABLE t_pause (id INTEGER)"
    }
    async fn up(&self, db: &mut Connection) -> Result<(), BoxError> {
        db.execute_batch("CREATE TABLE t_pause (id INTEGER)")?;
        if !self.0.swap(true, Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(())
    }
    async fn down(&self, db: &mut Connection) -> Result<(), BoxError> {
        db.execute_batch("DROP TABLE t_pause")?;
        Ok(())
    }
}

#[test]
fn a_cancelled_run_is_rolled_back_and_healed_on_the_next_call() {
    let db = Db::new();
    rt().block_on(async {
        let mut m = Migrator::builder(db.store())
            .migration(PausesOnce(Arc::new(std::sync::atomic::AtomicBool::new(
                false,
            ))))
            .build()
            .expect("build");
        let cancelled = tokio::time::timeout(Duration::from_millis(200), m.run()).await;
        assert!(cancelled.is_err(), "cancelled by the timeout");
        // The abandoned transaction still holds the database's write lock;
        // the next call of the same migrator rolls it back and finishes.
        let report = m.run().await.expect("rerun heals");
        assert_eq!(report.applied.len(), 1);
        assert_eq!(db.tables(), ["t_pause"]);
        assert_eq!(db.history(), [(1, "applied".into())]);
        drop(m);
        // And the run lock was released.
        let mut other = db
            .builder()
            .lock_timeout(Duration::ZERO)
            .open()
            .expect("open");
        other.lock().await.expect("free");
        other.unlock().await.expect("unlock");
    });
}
