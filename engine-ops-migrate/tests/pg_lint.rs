//! The linter's rules against a real PostgreSQL: for every rule, the
//! unsafe fixture it flags really rewrites, scans, takes the stronger lock
//! or breaks the old version, and the alternative it prints does not (so
//! no rule is a false alarm); and an "old application" with prepared
//! explicit-column statements keeps working after every expand migration
//! the linter accepts, and fails after the ones it rejects.

#![cfg(all(feature = "postgres", feature = "lint"))]

mod pg_support;

use std::time::{Duration, Instant};

use engine_ops_migrate::lint::{Rule, Severity, lint};
use engine_ops_migrate::{Migrator, Phase, SqlMigration, StateStore, StepTimeouts};
use pg_support::{Schema, Session};
use tokio_postgres::Client;

/// The rules a migration's linting reports as errors or warnings.
fn rules_of(migrations: &[SqlMigration]) -> Vec<Rule> {
    let report = lint(migrations);
    let mut rules: Vec<Rule> = report.findings().map(|f| f.rule).collect();
    rules.sort();
    rules.dedup();
    rules
}

fn expand(v: u64, sql: &str) -> SqlMigration {
    SqlMigration::new(v, "m", sql).phase(Phase::Expand)
}

fn non_tx(v: u64, sql: &str) -> SqlMigration {
    expand(v, sql).no_transaction()
}

async fn filenode(c: &Client, table: &str) -> u32 {
    c.query_one(
        "SELECT pg_relation_filenode($1::text::regclass)::oid",
        &[&table],
    )
    .await
    .expect("filenode")
    .get(0)
}

/// Runs `sql` in a transaction, then reads the locks it holds on `table`
/// and rolls back: `(modes, notices)`.
async fn in_tx(s: &Session, sql: &str, table: &str) -> (Vec<String>, Vec<String>) {
    s.take_notices();
    s.client
        .batch_execute(&format!("SET client_min_messages = debug1; BEGIN; {sql}"))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    let modes = locks(s, table).await;
    s.client
        .batch_execute("ROLLBACK; RESET client_min_messages")
        .await
        .expect("rollback");
    (modes, s.take_notices())
}

async fn locks(s: &Session, table: &str) -> Vec<String> {
    s.client
        .query(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = $1::text::regclass ORDER BY 1",
            &[&table],
        )
        .await
        .expect("pg_locks")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Runs `sql` committed, with `client_min_messages = debug1`: the notices.
async fn committed(s: &Session, sql: &str) -> Vec<String> {
    s.take_notices();
    s.client
        .batch_execute(&format!(
            "SET client_min_messages = debug1; {sql}; RESET client_min_messages"
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    s.take_notices()
}

fn has(notices: &[String], text: &str) -> bool {
    notices.iter().any(|n| n.contains(text))
}

/// Runs a `CONCURRENTLY` statement while session H holds an old snapshot,
/// so it stalls mid-way; meanwhile reads the locks it holds on `table` and
/// checks that a writer gets through. Returns its modes.
async fn concurrently_observed(schema: &Schema, sql: &str, table: &str) -> Vec<String> {
    let h = schema.session().await;
    h.client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM other")
        .await
        .expect("H's snapshot");
    let runner = schema.session().await;
    let pid = runner.pid().await;
    let sql_owned = sql.to_owned();
    let task = tokio::spawn(async move {
        runner
            .client
            .batch_execute(&sql_owned)
            .await
            .map(|_| runner)
    });
    let observer = schema.session().await;
    let mut modes = Vec::new();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let waiting: bool = observer
            .client
            .query_one(
                "SELECT wait_event_type IS NOT NULL AND wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .expect("activity")
            .get(0);
        if waiting {
            modes = observer
                .client
                .query(
                    "SELECT mode FROM pg_locks WHERE pid = $1 AND relation = $2::text::regclass AND granted ORDER BY 1",
                    &[&pid, &table],
                )
                .await
                .expect("pg_locks")
                .iter()
                .map(|r| r.get(0))
                .collect();
            break;
        }
    }
    // A writer gets through while it is under way.
    observer
        .client
        .batch_execute(&format!(
            "SET lock_timeout = '200ms'; UPDATE {table} SET r = r WHERE id = 1; RESET lock_timeout"
        ))
        .await
        .expect("writes go on during the CONCURRENTLY statement");
    h.client.batch_execute("COMMIT").await.expect("H commits");
    task.await.expect("task").expect("the statement finishes");
    modes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_lock_rule_flags_what_postgres_really_does_and_its_alternative_does_not() {
    let Some(config) = pg_support::config() else {
        return;
    };
    let schema = Schema::new(&config, "eo_lint").await;
    let s = schema.session().await;
    let built = Instant::now();
    s.client
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, v text, n int, r int); \
             INSERT INTO big SELECT g, 'v' || g, g, g FROM generate_series(1, 100000) g; \
             CREATE TABLE other (id int PRIMARY KEY, big_id int); INSERT INTO other VALUES (1, 1); \
             ANALYZE big",
        )
        .await
        .expect("100,000-row table");
    eprintln!("100,000-row fixture built in {:?}", built.elapsed());

    // index-not-concurrent: CREATE INDEX holds SHARE (writes wait);
    // CONCURRENTLY holds SHARE UPDATE EXCLUSIVE and writes go on.
    let unsafe_sql = "CREATE INDEX big_v ON big (v)";
    assert!(rules_of(&[expand(1, unsafe_sql)]).contains(&Rule::IndexNotConcurrent));
    let (modes, _) = in_tx(&s, unsafe_sql, "big").await;
    assert!(modes.contains(&"ShareLock".to_owned()), "{modes:?}");
    let alt = "CREATE INDEX CONCURRENTLY big_v ON big (v)";
    let alt_m =
        SqlMigration::create_index_concurrently(1, "m", "big_v", "big (v)").phase(Phase::Expand);
    assert_eq!(rules_of(&[alt_m]), [] as [Rule; 0]);
    let modes = concurrently_observed(&schema, alt, "big").await;
    assert_eq!(modes, ["ShareUpdateExclusiveLock"]);
    // DROP INDEX: ACCESS EXCLUSIVE; DROP INDEX CONCURRENTLY does not take it.
    assert!(rules_of(&[expand(1, "DROP INDEX big_v")]).contains(&Rule::IndexNotConcurrent));
    let (modes, _) = in_tx(&s, "DROP INDEX big_v", "big").await;
    assert!(
        modes.contains(&"AccessExclusiveLock".to_owned()),
        "{modes:?}"
    );
    assert_eq!(
        rules_of(&[non_tx(1, "DROP INDEX CONCURRENTLY big_v")]),
        [] as [Rule; 0]
    );
    let modes = concurrently_observed(&schema, "DROP INDEX CONCURRENTLY big_v", "big").await;
    assert!(
        !modes.contains(&"AccessExclusiveLock".to_owned()),
        "{modes:?}"
    );

    // concurrently-in-transaction: the server refuses it in a transaction
    // and in a multi-statement request; alone it works.
    for m in [
        expand(1, "CREATE INDEX CONCURRENTLY big_n ON big (n)"),
        non_tx(1, "SELECT 1; CREATE INDEX CONCURRENTLY big_n ON big (n)"),
    ] {
        assert!(rules_of(std::slice::from_ref(&m)).contains(&Rule::ConcurrentlyInTransaction));
        let sql = if m.is_transactional() {
            format!("BEGIN; {}", m.up_batches()[0])
        } else {
            m.up_batches()[0].clone()
        };
        let err = s.client.batch_execute(&sql).await.expect_err("refused");
        assert!(
            format!("{err:?}").contains("cannot run inside a transaction block"),
            "{err:?}"
        );
        let _ = s.client.batch_execute("ROLLBACK").await;
    }

    // constraint-not-valid: a plain CHECK scans under ACCESS EXCLUSIVE;
    // NOT VALID does not scan; VALIDATE scans under SHARE UPDATE EXCLUSIVE.
    let unsafe_sql = "ALTER TABLE big ADD CONSTRAINT n_pos CHECK (n >= 0)";
    assert!(
        rules_of(&[expand(1, unsafe_sql).phase(Phase::Contract)])
            .contains(&Rule::ConstraintNotValid)
    );
    let (modes, notices) = in_tx(&s, unsafe_sql, "big").await;
    assert!(has(&notices, "verifying table \"big\""), "{notices:?}");
    assert!(modes.contains(&"AccessExclusiveLock".to_owned()));
    let alt_add = "ALTER TABLE big ADD CONSTRAINT n_pos CHECK (n >= 0) NOT VALID";
    let alt_validate = "ALTER TABLE big VALIDATE CONSTRAINT n_pos";
    let alts = [
        SqlMigration::new(1, "add", alt_add).phase(Phase::Contract),
        SqlMigration::new(2, "validate", alt_validate).phase(Phase::Contract),
    ];
    assert_eq!(rules_of(&alts), [] as [Rule; 0]);
    let notices = committed(&s, alt_add).await;
    assert!(!has(&notices, "verifying table"), "{notices:?}");
    let (modes, notices) = in_tx(&s, alt_validate, "big").await;
    assert_eq!(modes, ["ShareUpdateExclusiveLock"]);
    assert!(
        has(&notices, "verifying table"),
        "VALIDATE scans, under the weak lock"
    );
    // NOT VALID and VALIDATE in one transaction: the scan under the ADD's lock.
    let both =
        SqlMigration::new(1, "both", format!("{alt_add}; {alt_validate}")).phase(Phase::Contract);
    assert!(rules_of(&[both]).contains(&Rule::ConstraintNotValid));
    s.client
        .batch_execute("ALTER TABLE big DROP CONSTRAINT n_pos")
        .await
        .expect("cleanup");

    // unique-builds-index: ADD UNIQUE builds an index under ACCESS
    // EXCLUSIVE; USING an index built concurrently builds nothing.
    let unsafe_sql = "ALTER TABLE big ADD CONSTRAINT big_r_key UNIQUE (r)";
    assert!(
        rules_of(&[expand(1, unsafe_sql).phase(Phase::Contract)])
            .contains(&Rule::UniqueBuildsIndex)
    );
    let (modes, notices) = in_tx(&s, unsafe_sql, "big").await;
    assert!(modes.contains(&"AccessExclusiveLock".to_owned()));
    assert!(has(&notices, "building index \"big_r_key\""), "{notices:?}");
    let alts = [
        SqlMigration::create_unique_index_concurrently(1, "idx", "big_r_key", "big (r)")
            .phase(Phase::Contract),
        SqlMigration::new(
            2,
            "constraint",
            "ALTER TABLE big ADD CONSTRAINT big_r_key UNIQUE USING INDEX big_r_key",
        )
        .phase(Phase::Contract),
    ];
    assert_eq!(rules_of(&alts), [] as [Rule; 0]);
    let modes = concurrently_observed(
        &schema,
        "CREATE UNIQUE INDEX CONCURRENTLY big_r_key ON big (r)",
        "big",
    )
    .await;
    assert_eq!(modes, ["ShareUpdateExclusiveLock"]);
    let index_node = filenode(&s.client, "big_r_key").await;
    let notices = committed(&s, alts[1].up_batches()[0].as_str()).await;
    assert!(!has(&notices, "building index"), "{notices:?}");
    assert_eq!(
        filenode(&s.client, "big_r_key").await,
        index_node,
        "the constraint uses the built index"
    );
    s.client
        .batch_execute("ALTER TABLE big DROP CONSTRAINT big_r_key")
        .await
        .expect("cleanup");

    // set-not-null-scans: SET NOT NULL scans; after a validated check it does not.
    let unsafe_sql = "ALTER TABLE big ALTER COLUMN n SET NOT NULL";
    assert!(
        rules_of(&[expand(1, unsafe_sql).phase(Phase::Contract)]).contains(&Rule::SetNotNullScans)
    );
    let (_, notices) = in_tx(&s, unsafe_sql, "big").await;
    assert!(has(&notices, "verifying table \"big\""), "{notices:?}");
    let alts = [
        SqlMigration::new(
            1,
            "check",
            "ALTER TABLE big ADD CONSTRAINT n_nn CHECK (n IS NOT NULL) NOT VALID",
        )
        .phase(Phase::Contract),
        SqlMigration::new(2, "validate", "ALTER TABLE big VALIDATE CONSTRAINT n_nn")
            .phase(Phase::Contract),
        SqlMigration::new(
            3,
            "set",
            "ALTER TABLE big ALTER COLUMN n SET NOT NULL; ALTER TABLE big DROP CONSTRAINT n_nn",
        )
        .phase(Phase::Contract),
    ];
    assert_eq!(rules_of(&alts), [] as [Rule; 0]);
    committed(&s, alts[0].up_batches()[0].as_str()).await;
    committed(&s, alts[1].up_batches()[0].as_str()).await;
    let (_, notices) = in_tx(&s, "ALTER TABLE big ALTER COLUMN n SET NOT NULL", "big").await;
    assert!(!has(&notices, "verifying table"), "{notices:?}");
    assert!(has(&notices, "sufficient to prove"), "{notices:?}");
    s.client
        .batch_execute("ALTER TABLE big DROP CONSTRAINT n_nn")
        .await
        .expect("cleanup");

    // table-rewrite: a volatile default rewrites (new filenode); adding the
    // column, then the default, does not. A type change to bigint rewrites.
    let before = filenode(&s.client, "big").await;
    let unsafe_sql = "ALTER TABLE big ADD COLUMN u uuid DEFAULT gen_random_uuid()";
    assert!(rules_of(&[expand(1, unsafe_sql)]).contains(&Rule::TableRewrite));
    let notices = committed(&s, &format!("BEGIN; {unsafe_sql}; COMMIT")).await;
    assert_ne!(filenode(&s.client, "big").await, before, "rewritten");
    assert!(has(&notices, "rewriting table \"big\""), "{notices:?}");
    s.client
        .batch_execute("ALTER TABLE big DROP COLUMN u")
        .await
        .expect("cleanup");
    let before = filenode(&s.client, "big").await;
    let alt = "ALTER TABLE big ADD COLUMN u uuid; ALTER TABLE big ALTER COLUMN u SET DEFAULT gen_random_uuid()";
    assert!(!rules_of(&[expand(1, alt)]).contains(&Rule::TableRewrite));
    committed(&s, alt).await;
    assert_eq!(filenode(&s.client, "big").await, before, "not rewritten");
    let unsafe_sql = "ALTER TABLE big ALTER COLUMN r TYPE bigint";
    assert!(rules_of(&[expand(1, unsafe_sql)]).contains(&Rule::TableRewrite));
    let (_, notices) = in_tx(&s, unsafe_sql, "big").await;
    assert!(has(&notices, "rewriting table \"big\""), "{notices:?}");
    // The widening the rule lets pass does not rewrite.
    let widen = "ALTER TABLE big ALTER COLUMN v TYPE text";
    assert!(!rules_of(&[expand(1, widen)]).contains(&Rule::TableRewrite));
    let (_, notices) = in_tx(&s, widen, "big").await;
    assert!(!has(&notices, "rewriting table"), "{notices:?}");

    // backfill-in-ddl-transaction: the UPDATE runs under the ALTER's
    // ACCESS EXCLUSIVE lock; in its own transaction it holds ROW EXCLUSIVE.
    let unsafe_sql = "ALTER TABLE big ADD COLUMN w int; UPDATE big SET w = n";
    assert!(rules_of(&[expand(1, unsafe_sql)]).contains(&Rule::BackfillInDdlTransaction));
    let (modes, _) = in_tx(&s, unsafe_sql, "big").await;
    assert!(
        modes.contains(&"AccessExclusiveLock".to_owned()),
        "{modes:?}"
    );
    let alts = [
        expand(1, "ALTER TABLE big ADD COLUMN w int"),
        non_tx(2, "UPDATE big SET w = n WHERE id <= 50000"),
    ];
    assert!(!rules_of(&alts).contains(&Rule::BackfillInDdlTransaction));
    committed(&s, alts[0].up_batches()[0].as_str()).await;
    let (modes, _) = in_tx(&s, alts[1].up_batches()[0].as_str(), "big").await;
    assert_eq!(modes, ["RowExclusiveLock"]);

    // locks-many-tables: two ACCESS EXCLUSIVE locks at once; split, one each.
    let unsafe_sql = "ALTER TABLE big ADD COLUMN a int; ALTER TABLE other ADD COLUMN a int";
    assert!(rules_of(&[expand(1, unsafe_sql)]).contains(&Rule::LocksManyTables));
    let (big_modes, _) = in_tx(&s, unsafe_sql, "big").await;
    assert!(big_modes.contains(&"AccessExclusiveLock".to_owned()));
    let (other_modes, _) = in_tx(&s, unsafe_sql, "other").await;
    assert!(
        other_modes.contains(&"AccessExclusiveLock".to_owned()),
        "both at once"
    );
    let alts = [
        expand(1, "ALTER TABLE big ADD COLUMN a int"),
        expand(2, "ALTER TABLE other ADD COLUMN a int"),
    ];
    assert!(!rules_of(&alts).contains(&Rule::LocksManyTables));
    let (other_modes, _) = in_tx(&s, "ALTER TABLE big ADD COLUMN a int", "other").await;
    assert!(
        other_modes.is_empty(),
        "one table per transaction: {other_modes:?}"
    );

    // session-setting: a SET in a non-transactional step stays on the
    // migrator's session; SET LOCAL in a transactional step does not.
    let unsafe_m = non_tx(1, "SET work_mem = '7MB'");
    assert!(rules_of(std::slice::from_ref(&unsafe_m)).contains(&Rule::SessionSetting));
    let alt_m = expand(2, "SET LOCAL work_mem = '7MB'");
    assert!(!rules_of(std::slice::from_ref(&alt_m)).contains(&Rule::SessionSetting));
    for (i, (m, stays)) in [(unsafe_m, true), (alt_m, false)].into_iter().enumerate() {
        let store = schema
            .builder()
            .history_table(schema.name.clone(), format!("history_{i}"))
            .connect()
            .await
            .expect("store");
        let mut migrator = Migrator::builder(store)
            .migration(m)
            .build()
            .expect("migrator");
        migrator.run().await.expect("runs");
        let work_mem: String = migrator
            .store_mut()
            .context()
            .query_one("SHOW work_mem", &[])
            .await
            .expect("show")
            .get(0);
        assert_eq!(
            work_mem == "7MB",
            stays,
            "work_mem after the step: {work_mem}"
        );
    }

    // unparsable: PostgreSQL refuses it too; the fixed statement parses.
    let broken = "ALTER TABLE big ADD COLUMN";
    assert!(rules_of(&[expand(1, broken)]).contains(&Rule::Unparsable));
    let err = s
        .client
        .batch_execute(broken)
        .await
        .expect_err("syntax error");
    assert!(format!("{err:?}").contains("syntax error"));
    assert!(
        !rules_of(&[expand(1, "ALTER TABLE big ADD COLUMN fixed int")]).contains(&Rule::Unparsable)
    );

    // opaque-statement: a DO block hides a CREATE INDEX (SHARE lock) from
    // the linter; written out, the linter sees it (and asks for CONCURRENTLY).
    let unsafe_sql = "DO $$ BEGIN EXECUTE 'CREATE INDEX big_hidden ON big (n)'; END $$";
    let found = lint(&[expand(1, unsafe_sql)]);
    assert!(
        found
            .findings()
            .any(|f| f.rule == Rule::OpaqueStatement && f.severity == Severity::Warning)
    );
    let (modes, _) = in_tx(&s, unsafe_sql, "big").await;
    assert!(modes.contains(&"ShareLock".to_owned()), "{modes:?}");
    assert!(
        rules_of(&[expand(1, "CREATE INDEX big_hidden ON big (n)")])
            .contains(&Rule::IndexNotConcurrent)
    );

    // type-change (a compatibility rule that also catches rewrites): bigint
    // rewrites (above); the old version's prepared SELECT sees the
    // changed type (below, in the old-application test).
    assert!(
        rules_of(&[expand(1, "ALTER TABLE big ALTER COLUMN r TYPE bigint")])
            .contains(&Rule::TypeChange)
    );
    assert!(
        rules_of(&[expand(1, "ALTER TABLE big ALTER COLUMN v TYPE text")])
            .contains(&Rule::TypeChange)
    );
}

/// The old application version: prepared, explicit-column statements, as
/// a driver's statement cache holds them across a deploy.
struct OldApp {
    session: Session,
    select: tokio_postgres::Statement,
    insert: tokio_postgres::Statement,
    update: tokio_postgres::Statement,
    next_id: i32,
}

impl OldApp {
    async fn start(schema: &Schema) -> Self {
        let session = schema.session().await;
        let select = session
            .client
            .prepare("SELECT id, name, email FROM accounts WHERE id = $1")
            .await
            .expect("prepare select");
        let insert = session
            .client
            .prepare("INSERT INTO accounts (id, name, email) VALUES ($1, $2, $3)")
            .await
            .expect("prepare insert");
        let update = session
            .client
            .prepare("UPDATE accounts SET name = $2 WHERE id = $1")
            .await
            .expect("prepare update");
        Self {
            session,
            select,
            insert,
            update,
            next_id: 1_000,
        }
    }

    /// Runs its SELECT, INSERT and UPDATE; the first error, if any.
    async fn works(&mut self) -> Result<(), String> {
        let c = &self.session.client;
        self.next_id += 1;
        let id = self.next_id;
        c.execute(&self.insert, &[&id, &"old", &"old@example.com"])
            .await
            .map_err(|e| {
                format!(
                    "INSERT: {}",
                    e.as_db_error()
                        .map_or(e.to_string(), |d| d.message().to_owned())
                )
            })?;
        c.query_one(&self.select, &[&1i32]).await.map_err(|e| {
            format!(
                "SELECT: {}",
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_owned())
            )
        })?;
        c.execute(&self.update, &[&1i32, &"renamed by old"])
            .await
            .map_err(|e| {
                format!(
                    "UPDATE: {}",
                    e.as_db_error()
                        .map_or(e.to_string(), |d| d.message().to_owned())
                )
            })?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_old_version_survives_every_expand_migration_the_linter_accepts_and_breaks_on_the_rejected_ones()
 {
    let Some(config) = pg_support::config() else {
        return;
    };
    // (expand migration, whether the linter accepts it)
    let cases: &[(&str, bool)] = &[
        ("ALTER TABLE accounts ADD COLUMN nickname text", true),
        (
            "ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free'",
            true,
        ),
        (
            "CREATE TABLE audit (id bigint PRIMARY KEY, account_id int)",
            true,
        ),
        // Even a widening the server does in place changes the result type
        // of the old version's prepared SELECT ("cached plan must not
        // change result type"): rejected.
        ("ALTER TABLE accounts ALTER COLUMN email TYPE text", false),
        ("ALTER TABLE accounts DROP COLUMN email", false),
        (
            "ALTER TABLE accounts RENAME COLUMN name TO full_name",
            false,
        ),
        // (ADD COLUMN … NOT NULL alone fails on the existing rows; with a
        // default dropped at once it applies, and the old INSERT fails.)
        (
            "ALTER TABLE accounts ADD COLUMN tier int NOT NULL DEFAULT 0; ALTER TABLE accounts ALTER COLUMN tier DROP DEFAULT",
            false,
        ),
        (
            "ALTER TABLE accounts ADD COLUMN xyz int, ADD CONSTRAINT xyz_set CHECK (xyz IS NOT NULL) NOT VALID",
            false,
        ),
        ("ALTER TABLE accounts ALTER COLUMN id TYPE bigint", false),
    ];
    let mut table = Vec::new();
    for (sql, accepted) in cases {
        let schema = Schema::new(&config, "eo_oldapp").await;
        schema
            .session()
            .await
            .client
            .batch_execute(
                "CREATE TABLE accounts (id int PRIMARY KEY, name text, email varchar(200)); \
                 INSERT INTO accounts SELECT g, 'n' || g, 'e' || g FROM generate_series(1, 100) g",
            )
            .await
            .expect("accounts");
        let mut old = OldApp::start(&schema).await;
        old.works().await.expect("the old version works before");

        let m = SqlMigration::new(1, "change", *sql).phase(Phase::Expand);
        let report = lint(std::slice::from_ref(&m));
        assert_eq!(!report.has_errors(), *accepted, "{sql}: {report}");
        let store = schema
            .builder()
            .step_timeouts(StepTimeouts::default())
            .connect()
            .await
            .expect("store");
        let mut migrator = Migrator::builder(store)
            .migration(m)
            .build()
            .expect("migrator");
        migrator.run_expand().await.expect("the migration applies");
        let outcome = old.works().await;
        table.push(format!(
            "{sql:<100} lint {} old version {:?}",
            if *accepted { "accepts" } else { "rejects" },
            outcome
        ));
        assert_eq!(outcome.is_ok(), *accepted, "{sql}: {outcome:?}");
    }
    eprintln!("{}", table.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_policy_refuses_before_anything_runs_and_contract_waits_for_the_proof() {
    let Some(config) = pg_support::config() else {
        return;
    };
    let schema = Schema::new(&config, "eo_lintdeny").await;
    schema
        .session()
        .await
        .client
        .batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, name text)")
        .await
        .expect("accounts");
    let store = schema.builder().connect().await.expect("store");
    let mut migrator = Migrator::builder(store)
        .migration(
            SqlMigration::new(1, "nick", "ALTER TABLE accounts ADD COLUMN nick text")
                .phase(Phase::Expand),
        )
        .migration(
            SqlMigration::new(2, "idx", "CREATE INDEX accounts_nick ON accounts (nick)")
                .phase(Phase::Expand),
        )
        .lint_policy(engine_ops_migrate::lint::LintPolicy::Deny)
        .build()
        .expect("migrator");
    let err = migrator.run_expand().await.expect_err("refused");
    assert!(
        matches!(
            err,
            engine_ops_migrate::Error::LintRefused { version: 2, .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("index-not-concurrent"), "{err}");
    assert!(
        schema.history().await.is_empty(),
        "nothing ran, not even migration 1"
    );
    assert_eq!(
        migrator
            .store_mut()
            .load()
            .await
            .expect("load")
            .applied
            .len(),
        0
    );
}
