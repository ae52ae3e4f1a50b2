//! The `migrate` example on a directory of the user's own migrations, as
//! its users run it: `add`, then `migrate`, `status --json`, `plan`,
//! `verify` and `rollback` against a journal file, SQLite and PostgreSQL,
//! with the exit codes 0 (success), 1 (error, failed verification) and 2
//! (bad usage: one line, nothing changed).
//!
//! PostgreSQL: `ENGINE_OPS_TEST_DATABASE_URL`, else a throwaway server this
//! test process starts (only without a PostgreSQL server program does that
//! part print `SKIPPED`).

#[path = "../../engine-ops-migrate/tests/pg_server/mod.rs"]
mod pg_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("migrate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p engine-ops-examples --example migrate`",
        path.display()
    );
    path
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("ENGINE_OPS_MIGRATE_STATE")
        .env_remove("ENGINE_OPS_MIGRATE_DEMO_FAIL")
        .current_dir(dir)
        .output()
        .expect("the migrate example runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `error:` lines of stderr.
fn errors(output: &Output) -> Vec<String> {
    stderr(output)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_owned)
        .collect()
}

fn ok(output: &Output) -> String {
    assert_eq!(
        code(output),
        0,
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `add` three migrations to `dir/migrations` and fill them with SQL both
/// databases run: an irreversible create, two reversible steps.
fn user_project(dir: &Path) {
    let created = ok(&run(dir, &["add", "create_users"]));
    assert_eq!(created.trim(), "created migrations/0001_create_users.sql");
    let created = ok(&run(dir, &["add", "--reversible", "add_email"]));
    assert!(
        created.contains("0002_add_email.up.sql") && created.contains("0002_add_email.down.sql")
    );
    // The directory now holds a pair: the next one is reversible too.
    ok(&run(dir, &["add", "audit"]));
    let m = dir.join("migrations");
    assert_eq!(
        listing(&m),
        [
            "0001_create_users.sql",
            "0002_add_email.down.sql",
            "0002_add_email.up.sql",
            "0003_audit.down.sql",
            "0003_audit.up.sql"
        ]
    );
    let append = |file: &str, sql: &str| {
        let path = m.join(file);
        let mut text = std::fs::read_to_string(&path).expect("created file");
        text.push_str(sql);
        std::fs::write(path, text).expect("write");
    };
    append(
        "0001_create_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    );
    append(
        "0002_add_email.up.sql",
        "ALTER TABLE users ADD COLUMN email text;\n",
    );
    append(
        "0002_add_email.down.sql",
        "ALTER TABLE users DROP COLUMN email;\n",
    );
    append(
        "0003_audit.up.sql",
        "-- engine-ops: validate SELECT count(*) = 0 FROM audit\nCREATE TABLE audit (at bigint);\n",
    );
    append("0003_audit.down.sql", "DROP TABLE audit;\n");
}

fn states(json: &str) -> Vec<(u64, String)> {
    let report: serde_json::Value = serde_json::from_str(json).expect("status --json prints JSON");
    report["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["version"].as_u64().expect("version"),
                e["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

fn all(state: &str, versions: &[u64]) -> Vec<(u64, String)> {
    versions.iter().map(|v| (*v, state.to_owned())).collect()
}

/// The whole life of a user's directory on one database.
fn lifecycle(dir: &Path, url: &str) {
    let with = |rest: &[&str]| -> Vec<String> {
        ["--database-url", url]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let go = |rest: &[&str]| {
        let args = with(rest);
        run(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    assert_eq!(
        states(&ok(&go(&["status", "--json"]))),
        all("pending", &[1, 2, 3])
    );
    let plan = ok(&go(&["plan"]));
    assert!(plan.contains("would apply    1 create_users"), "{plan}");
    let plan_json: serde_json::Value =
        serde_json::from_str(&ok(&go(&["plan", "--json"]))).expect("plan --json");
    assert_eq!(plan_json["pending"].as_array().map(Vec::len), Some(3));

    let migrate = ok(&go(&["migrate", "--to", "2"]));
    assert!(migrate.contains("migrate: 2 applied"), "{migrate}");
    let migrate = ok(&go(&["migrate"]));
    assert!(migrate.contains("applied     3 audit"), "{migrate}");
    assert_eq!(
        states(&ok(&go(&["status", "--json"]))),
        all("applied", &[1, 2, 3])
    );
    ok(&go(&["verify"]));

    let rollback = ok(&go(&["rollback"]));
    assert!(rollback.contains("reverted    3 audit"), "{rollback}");
    assert!(rollback.contains("rollback: 1 reverted"), "{rollback}");
    let status = states(&ok(&go(&["status", "--json"])));
    assert_eq!(
        status,
        [
            (1, "applied".to_owned()),
            (2, "applied".to_owned()),
            (3, "pending".to_owned())
        ]
    );
    // Rolling back past the irreversible first migration: refused (1),
    // nothing reverted; more than are applied: bad usage (2).
    let refused = go(&["rollback", "2"]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("create_users"),
        "{}",
        stderr(&refused)
    );
    let too_far = go(&["rollback", "5"]);
    assert_eq!(code(&too_far), 2, "{}", stderr(&too_far));
    assert_eq!(errors(&too_far).len(), 1, "{}", stderr(&too_far));
    assert_eq!(states(&ok(&go(&["status", "--json"]))), status);

    // An applied migration edited afterwards: verify and migrate exit 1.
    let first = dir.join("migrations/0001_create_users.sql");
    let original = std::fs::read_to_string(&first).expect("read");
    std::fs::write(&first, original.replace("bigint", "int")).expect("edit");
    let verify = go(&["verify"]);
    assert_eq!(code(&verify), 1, "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("create_users"),
        "{}",
        stdout(&verify)
    );
    assert_eq!(code(&go(&["migrate"])), 1);
    // A CRLF checkout of the original is not an edit.
    std::fs::write(&first, original.replace('\n', "\r\n")).expect("crlf");
    ok(&go(&["verify"]));
    std::fs::write(&first, original).expect("restore");

    // `--to` a version the directory does not have: 2, nothing changed.
    let unknown = go(&["migrate", "--to", "99"]);
    assert_eq!(code(&unknown), 2, "{}", stderr(&unknown));
    assert!(
        errors(&unknown)[0].contains("no migration 99"),
        "{}",
        stderr(&unknown)
    );
    assert_eq!(states(&ok(&go(&["status", "--json"]))), status);
}

#[test]
fn a_user_directory_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    user_project(dir.path());
    let db = dir.path().join("app.db");
    lifecycle(dir.path(), &format!("sqlite:{}", db.display()));
    let conn = engine_ops_migrate::rusqlite::Connection::open(&db).expect("open");
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('users') ORDER BY cid")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        columns,
        ["id", "email"],
        "0001 and 0002 applied, 0003 reverted"
    );
}

#[test]
fn a_user_directory_on_postgres() {
    let Some(url) = pg_server::test_url() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    user_project(dir.path());
    let schema = format!("eo_cli_{}", std::process::id());
    let admin = |sql: &str| -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let config: engine_ops_migrate::tokio_postgres::Config = url.parse().expect("URL");
            let (client, conn) = config
                .connect(engine_ops_migrate::tokio_postgres::NoTls)
                .await
                .expect("admin connection");
            tokio::spawn(conn);
            let rows = client.simple_query(sql).await.expect("admin query");
            rows.iter()
                .filter_map(|m| match m {
                    engine_ops_migrate::tokio_postgres::SimpleQueryMessage::Row(r) => {
                        r.get(0).map(str::to_owned)
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    admin(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let sep = if url.contains('?') { '&' } else { '?' };
    let in_schema = format!("{url}{sep}options=-c%20search_path%3D{schema}&sslmode=disable");
    lifecycle(dir.path(), &in_schema);
    let columns = admin(&format!(
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = 'users'"
    ));
    assert_eq!(columns, "id,email");
    admin(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn a_user_directory_on_a_journal_records_history_but_runs_no_sql() {
    let dir = tempfile::tempdir().expect("temp dir");
    user_project(dir.path());
    let journal = dir.path().join("history.jsonl");
    let url = journal.display().to_string();
    assert_eq!(
        states(&ok(&run(
            dir.path(),
            &["--database-url", &url, "status", "--json"]
        ))),
        all("pending", &[1, 2, 3])
    );
    ok(&run(dir.path(), &["--database-url", &url, "verify"]));
    let migrate = run(dir.path(), &["--database-url", &url, "migrate"]);
    assert_eq!(code(&migrate), 1, "{}", stderr(&migrate));
    assert!(
        stderr(&migrate).contains("no database to run SQL on")
            && stderr(&migrate).contains("create_users"),
        "{}",
        stderr(&migrate)
    );
    assert_eq!(
        states(&ok(&run(
            dir.path(),
            &["--database-url", &url, "status", "--json"]
        ))),
        all("pending", &[1, 2, 3]),
        "nothing applied, nothing in doubt"
    );
    let rollback = run(dir.path(), &["--database-url", &url, "rollback"]);
    assert_eq!(
        code(&rollback),
        2,
        "nothing to roll back: {}",
        stderr(&rollback)
    );
}

#[test]
fn database_url_comes_from_the_environment_and_source_from_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("db")).expect("mkdir");
    let created = ok(&run(dir.path(), &["--source", "db/schema", "add", "first"]));
    assert!(created.contains("db/schema/0001_first.sql"), "{created}");
    std::fs::write(
        dir.path().join("db/schema/0001_first.sql"),
        "CREATE TABLE t (x int);\n",
    )
    .expect("write");
    let url = format!("sqlite:{}", dir.path().join("env.db").display());
    let output = Command::new(binary())
        .args(["--source", "db/schema", "migrate"])
        .env("DATABASE_URL", &url)
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert!(ok(&output).contains("migrate: 1 applied"));
}

#[test]
fn bad_usage_exits_2_with_one_line_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite:{}", dir.path().join("app.db").display());
    // No migrations directory.
    let output = run(dir.path(), &["--database-url", &sqlite, "status"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        errors(&output)[0].contains("cannot read"),
        "{}",
        stderr(&output)
    );
    // A directory that breaks the rules: the file is named.
    std::fs::create_dir(dir.path().join("migrations")).expect("mkdir");
    std::fs::write(dir.path().join("migrations/0001_a.up.sql"), "SELECT 1;").expect("write");
    let output = run(dir.path(), &["--database-url", &sqlite, "migrate"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_eq!(errors(&output).len(), 1, "{}", stderr(&output));
    assert!(errors(&output)[0].contains("0001_a.up.sql has no 0001_a.down.sql"));
    std::fs::remove_file(dir.path().join("migrations/0001_a.up.sql")).expect("remove");
    // No URL, an empty one, an unknown scheme.
    let output = run(dir.path(), &["status"]);
    assert_eq!(code(&output), 2);
    assert!(
        errors(&output)[0].contains("no database URL"),
        "{}",
        stderr(&output)
    );
    let output = run(dir.path(), &["--database-url", "", "status"]);
    assert_eq!(code(&output), 2);
    let output = run(
        dir.path(),
        &["--database-url", "mysql://u:secret@h/db", "status"],
    );
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(errors(&output)[0].contains("unknown scheme `mysql`"));
    assert!(!stderr(&output).contains("secret"));
    // A bad name for `add`; a name whose file exists.
    let output = run(dir.path(), &["add", "two words"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_eq!(
        listing(&dir.path().join("migrations")),
        Vec::<String>::new()
    );
    assert!(!dir.path().join("app.db").exists(), "nothing was opened");
}

#[test]
fn add_numbers_timestamps_like_the_files_already_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let m = dir.path().join("migrations");
    std::fs::create_dir(&m).expect("mkdir");
    std::fs::write(m.join("20240101000000_first.sql"), "SELECT 1;").expect("write");
    let created = ok(&run(dir.path(), &["add", "second"]));
    let name = created.trim().rsplit('/').next().expect("file").to_owned();
    let version: u64 = name
        .split('_')
        .next()
        .expect("version")
        .parse()
        .expect("number");
    assert!(
        version > 20_240_101_000_000 && version < 30_000_000_000_000,
        "{name}"
    );
    assert!(name.ends_with("_second.sql"), "{name}");
    let dir = tempfile::tempdir().expect("temp dir");
    let m = dir.path().join("migrations");
    std::fs::create_dir(&m).expect("mkdir");
    std::fs::write(m.join("007_x.sql"), "SELECT 1;").expect("write");
    assert!(ok(&run(dir.path(), &["add", "y"])).contains("008_y.sql"));
}

/// `lint` reads --source without a database: exit 1 with the findings
/// (human and JSON) while an error remains, 0 once each is fixed or
/// allowed with a reason.
#[cfg(feature = "lint")]
#[test]
fn lint_exits_1_on_errors_and_0_once_they_are_fixed_or_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("migrations");
    std::fs::create_dir(&source).expect("migrations dir");
    std::fs::write(
        source.join("0001_accounts.sql"),
        "-- engine-ops: phase expand\nCREATE TABLE accounts (id int PRIMARY KEY, name text);\nCREATE INDEX accounts_name ON accounts (name);\n",
    )
    .expect("write");
    let bad = "-- engine-ops: phase expand\nALTER TABLE accounts ADD COLUMN email text;\nCREATE INDEX accounts_email ON accounts (email);\n";
    std::fs::write(source.join("0002_email.sql"), bad).expect("write");

    let out = run(dir.path(), &["lint"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("error[index-not-concurrent]: migration 2 (email), line 3"),
        "{text}"
    );
    assert!(
        text.contains("instead: build it with CREATE INDEX CONCURRENTLY"),
        "{text}"
    );
    assert!(text.contains("1 error(s)"), "{text}");

    let out = run(dir.path(), &["lint", "--json"]);
    assert_eq!(code(&out), 1);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let finding = &json["migrations"][1]["findings"][0];
    assert_eq!(finding["rule"], "index-not-concurrent");
    assert_eq!(finding["line"], 3);
    assert_eq!(
        json["migrations"][0]["findings"],
        serde_json::json!([]),
        "a new table's index is fine"
    );

    // Allowed with a reason: exit 0, the reason in the report.
    let allowed = bad.replace(
        "CREATE INDEX",
        "-- engine-ops: allow(index-not-concurrent) reason=\"12 rows, checked\"\nCREATE INDEX",
    );
    std::fs::write(source.join("0002_email.sql"), &allowed).expect("write");
    let out = run(dir.path(), &["lint"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains(
            "allowed[index-not-concurrent]: migration 2 (email), line 4: 12 rows, checked"
        )
    );

    // An allow without a reason is refused by the loader (bad usage).
    std::fs::write(
        source.join("0002_email.sql"),
        bad.replace(
            "CREATE INDEX",
            "-- engine-ops: allow(index-not-concurrent)\nCREATE INDEX",
        ),
    )
    .expect("write");
    let out = run(dir.path(), &["lint"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("needs a reason"), "{}", stderr(&out));
}

/// A build without the `lint` feature says how to get the linter (bad
/// usage, exit 2) instead of pretending the migrations are clean.
#[cfg(not(feature = "lint"))]
#[test]
fn lint_without_the_feature_says_how_to_get_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
    let out = run(dir.path(), &["lint"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stderr(&out).contains("--features lint"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

/// `migrate --phase contract` without the evidence that the old version is
/// gone is bad usage.
#[test]
fn contract_without_its_evidence_is_bad_usage() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
    let out = run(
        dir.path(),
        &[
            "--database-url",
            "sqlite:x.db",
            "migrate",
            "--phase",
            "contract",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--old-version-gone"),
        "{}",
        stderr(&out)
    );
}
