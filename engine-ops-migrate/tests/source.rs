//! The directory loader (`load_dir`) and `embed!` against directories a
//! user would write: gaps, duplicates, bad names, half pairs, CRLF files,
//! directives; and the two copies of the rules kept identical.

use std::path::Path;

use engine_ops_migrate::{Checksum, Migration, MigrationInfo, Phase, SourceError, SqlMigration};

type Ctx = engine_ops_migrate::AnyContext;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write migration");
    }
    dir
}

fn load(files: &[(&str, &str)]) -> Result<Vec<SqlMigration>, SourceError> {
    let dir = dir_with(files);
    engine_ops_migrate::load_dir(dir.path())
}

/// The message and the file at fault.
fn refused(files: &[(&str, &str)]) -> (String, String) {
    match load(files) {
        Err(SourceError::Invalid { file, message, .. }) => (file, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn info(m: &SqlMigration) -> MigrationInfo {
    MigrationInfo::of::<Ctx>(m)
}

#[test]
fn versions_sort_numerically_with_gaps_and_other_files_are_skipped() {
    let migrations = load(&[
        ("10_ten.sql", "SELECT 10;\n"),
        ("0002_two.sql", "SELECT 2;\n"),
        ("20250301120000_timestamped.sql", "SELECT 3;\n"),
        ("README.md", "not a migration"),
        (".gitkeep", ""),
        (".0003_x.sql.swp", "editor swap file"),
    ])
    .expect("loads");
    let got: Vec<(u64, &str)> = migrations.iter().map(|m| (m.version(), m.name())).collect();
    assert_eq!(
        got,
        [(2, "two"), (10, "ten"), (20_250_301_120_000, "timestamped")]
    );
    assert!(
        migrations
            .iter()
            .all(|m| !m.is_reversible() && m.is_transactional())
    );
}

#[test]
fn subdirectories_are_skipped() {
    let dir = dir_with(&[("0001_a.sql", "SELECT 1;")]);
    std::fs::create_dir(dir.path().join("0002_not_a_file.sql")).expect("mkdir");
    let migrations = engine_ops_migrate::load_dir(dir.path()).expect("loads");
    assert_eq!(migrations.len(), 1);
}

#[test]
fn an_empty_directory_has_no_migrations_and_a_missing_one_is_named() {
    assert!(load(&[]).expect("loads").is_empty());
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let err = engine_ops_migrate::load_dir(&missing).expect_err("missing");
    assert!(matches!(err, SourceError::Io { ref path, .. } if path == &missing));
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn duplicate_versions_name_both_files() {
    let (file, message) = refused(&[("0001_a.sql", "SELECT 1;"), ("1_b.sql", "SELECT 2;")]);
    assert_eq!(file, "1_b.sql");
    assert!(
        message.contains("0001_a.sql and 1_b.sql both have version 1"),
        "{message}"
    );
    let (_, message) = refused(&[
        ("0001_a.sql", "SELECT 1;"),
        ("0001_a.up.sql", "SELECT 1;"),
        ("0001_a.down.sql", "SELECT 1;"),
    ]);
    assert!(message.contains("both have version 1"), "{message}");
}

#[test]
fn bad_names_say_what_is_expected() {
    for (name, expected) in [
        ("create_users.sql", "the version \"create\" is not a number"),
        ("0001.sql", "no `_` between version and name"),
        ("0001_.sql", "the name after the version is empty"),
        ("v1_users.sql", "the version \"v1\" is not a number"),
        ("0001_add users.sql", "contains ' '"),
        ("0001_a.b.sql", "contains '.'"),
        ("0001_users.SQL", "lower-case .sql"),
        ("9223372036854775808_big.sql", "above 9223372036854775807"),
        ("99999999999999999999_big.sql", "above 9223372036854775807"),
    ] {
        let (file, message) = refused(&[(name, "SELECT 1;")]);
        assert_eq!(file, name);
        assert!(
            message.starts_with(&format!("migration file {name}: bad name: ")),
            "{message}"
        );
        assert!(message.contains(expected), "{name}: {message}");
    }
    let ok = load(&[
        ("9223372036854775807_max.sql", "SELECT 1;"),
        ("0001_ünïcode-name_2.sql", "SELECT 1;"),
    ])
    .expect("loads");
    assert_eq!(ok[1].version(), i64::MAX as u64);
    assert_eq!(ok[0].name(), "ünïcode-name_2");
}

#[test]
fn pairs_must_be_whole() {
    let (file, message) = refused(&[("0003_idx.up.sql", "SELECT 1;")]);
    assert_eq!(file, "0003_idx.up.sql");
    assert_eq!(
        message,
        "migration file 0003_idx.up.sql has no 0003_idx.down.sql; add it, or rename 0003_idx.up.sql to 0003_idx.sql for an irreversible migration"
    );
    let (file, message) = refused(&[("0003_idx.down.sql", "SELECT 1;")]);
    assert_eq!(file, "0003_idx.down.sql");
    assert!(message.contains("has no 0003_idx.up.sql"), "{message}");
    let (_, message) = refused(&[
        ("0003_idx.sql", "SELECT 1;"),
        ("0003_idx.down.sql", "SELECT 1;"),
    ]);
    assert!(
        message.contains("0003_idx.down.sql undoes 0003_idx.sql, which is irreversible"),
        "{message}"
    );
    let (_, message) = refused(&[
        ("0003_idx.up.sql", "SELECT 1;"),
        ("0003_index.down.sql", "SELECT 1;"),
    ]);
    assert!(
        message.contains(
            "0003_idx.up.sql and 0003_index.down.sql have one version but different names"
        ),
        "{message}"
    );
}

#[test]
fn a_pair_is_reversible_even_with_an_empty_down() {
    let m = load(&[
        ("0001_backfill.up.sql", "UPDATE t SET x = 1;\n"),
        ("0001_backfill.down.sql", "-- nothing to undo\n"),
    ])
    .expect("loads");
    assert!(m[0].is_reversible());
    assert!(m[0].down_batches().is_empty());
    assert!(Migration::<Ctx>::reversible(&m[0]));
}

#[test]
fn crlf_files_keep_the_checksum_of_their_lf_twin_and_other_edits_do_not() {
    let lf = "-- engine-ops: phase expand\nCREATE TABLE t (id int);\n";
    let crlf = lf.replace('\n', "\r\n");
    let a = load(&[("0001_t.sql", lf)]).expect("lf");
    let b = load(&[("0001_t.sql", &crlf)]).expect("crlf");
    assert_eq!(info(&a[0]).checksum, info(&b[0]).checksum);
    assert_eq!(
        b[0].declared_phase(),
        Some(Phase::Expand),
        "directives read through CRLF"
    );
    assert_eq!(info(&a[0]).checksum, Checksum::of_source(lf.as_bytes()));
    let edited = load(&[("0001_t.sql", &lf.replace("int", "bigint"))]).expect("edited");
    assert_ne!(info(&a[0]).checksum, info(&edited[0]).checksum);
    let directive_changed =
        load(&[("0001_t.sql", &lf.replace("expand", "contract"))]).expect("edited");
    assert_ne!(
        info(&a[0]).checksum,
        info(&directive_changed[0]).checksum,
        "directives are part of the checksummed text"
    );
}

#[test]
fn the_checksum_covers_the_up_file_only() {
    let a = load(&[
        ("0001_t.up.sql", "CREATE TABLE t ();"),
        ("0001_t.down.sql", "DROP TABLE t;"),
    ])
    .expect("loads");
    let b = load(&[
        ("0001_t.up.sql", "CREATE TABLE t ();"),
        ("0001_t.down.sql", "DROP TABLE IF EXISTS t;"),
    ])
    .expect("loads");
    assert_eq!(info(&a[0]).checksum, info(&b[0]).checksum);
    assert_eq!(
        info(&a[0]).checksum,
        Checksum::of_source(b"CREATE TABLE t ();")
    );
    assert_eq!(b[0].down_batches(), ["DROP TABLE IF EXISTS t;"]);
}

#[test]
fn directives_set_transaction_phase_and_validation() {
    let m = load(&[
        (
            "0005_idx.up.sql",
            "-- Build the index without locking writes.\n\
             -- engine-ops: no-transaction\n\
             -- engine-ops: phase expand\n\
             -- engine-ops: validate SELECT indisvalid FROM pg_index WHERE indexrelid = 'i'::regclass\n\
             \n\
             CREATE INDEX CONCURRENTLY i ON t (x);\n",
        ),
        (
            "0005_idx.down.sql",
            "-- engine-ops: no-transaction\n\
             -- engine-ops: validate SELECT to_regclass('i') IS NULL\n\
             DROP INDEX CONCURRENTLY i;\n",
        ),
    ])
    .expect("loads");
    let m = &m[0];
    assert!(!m.is_transactional());
    assert_eq!(m.declared_phase(), Some(Phase::Expand));
    let i = info(m);
    assert!(!i.transactional && i.reversible);
    assert_eq!(i.phase, Some(Phase::Expand));
    assert_eq!(m.up_batches().len(), 1);
    assert!(m.up_batches()[0].contains("CREATE INDEX CONCURRENTLY"));
}

#[test]
fn sqlx_style_no_transaction_on_the_first_line_is_understood() {
    let m = load(&[("0001_v.sql", "-- no-transaction\nVACUUM;\n")]).expect("loads");
    assert!(!m[0].is_transactional());
    let m = load(&[("0001_v.sql", "-- a comment\n-- no-transaction\nVACUUM;\n")]).expect("loads");
    assert!(
        m[0].is_transactional(),
        "sqlx reads it on the first line only; elsewhere it is a comment"
    );
}

#[test]
fn batch_lines_split_a_file_and_comment_only_batches_are_dropped() {
    let m = load(&[(
        "0001_two.sql",
        "-- engine-ops: no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x);\n-- engine-ops: batch\n\n-- engine-ops: batch\nCREATE INDEX CONCURRENTLY b ON t (y);\n",
    )])
    .expect("loads");
    assert_eq!(
        m[0].up_batches(),
        [
            "-- engine-ops: no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x);\n",
            "CREATE INDEX CONCURRENTLY b ON t (y);\n"
        ],
        "the first batch keeps the leading comments (they show in pg_stat_activity)"
    );
}

#[test]
fn bad_directives_name_the_file_and_line() {
    for (text, line, expected) in [
        (
            "-- engine-ops: no-transactions\nSELECT 1;",
            1,
            "unknown directive `no-transactions`",
        ),
        (
            "-- engine-ops: phase sideways\nSELECT 1;",
            1,
            "unknown phase \"sideways\"",
        ),
        (
            "-- engine-ops: validate\nSELECT 1;",
            1,
            "unknown directive `validate`",
        ),
        (
            "-- engine-ops: no-transaction\n-- engine-ops: no-transaction\nSELECT 1;",
            2,
            "`no-transaction` is given twice",
        ),
        (
            "SELECT 1;\n-- engine-ops: no-transaction\n",
            2,
            "must come before the first statement",
        ),
        (
            "-- engine-ops: batch\nSELECT 1;",
            1,
            "`batch` separates statements",
        ),
        (
            "\u{feff}-- engine-ops: nope\nSELECT 1;",
            1,
            "unknown directive `nope`",
        ),
    ] {
        let (file, message) = refused(&[("0001_x.sql", text)]);
        assert_eq!(file, "0001_x.sql");
        assert!(
            message.starts_with(&format!("migration file 0001_x.sql, line {line}: ")),
            "{text:?}: {message}"
        );
        assert!(message.contains(expected), "{text:?}: {message}");
    }
}

#[test]
fn whole_migration_directives_belong_in_the_up_file() {
    let (file, message) = refused(&[
        ("0001_x.up.sql", "SELECT 1;"),
        (
            "0001_x.down.sql",
            "-- a comment\n-- engine-ops: phase contract\nSELECT 1;",
        ),
    ]);
    assert_eq!(file, "0001_x.down.sql");
    assert!(
        message.starts_with(
            "migration file 0001_x.down.sql, line 2: `phase` belongs in 0001_x.up.sql"
        ),
        "{message}"
    );
    let (_, message) = refused(&[
        ("0001_x.up.sql", "SELECT 1;"),
        (
            "0001_x.down.sql",
            "-- engine-ops: no-transaction\nSELECT 1;",
        ),
    ]);
    assert!(
        message.contains("`no-transaction` belongs in 0001_x.up.sql"),
        "{message}"
    );
}

#[test]
fn a_bom_is_kept_in_the_checksum_and_left_out_of_the_sql() {
    let m = load(&[("0001_x.sql", "\u{feff}SELECT 1;\n")]).expect("loads");
    assert_eq!(m[0].up_batches(), ["SELECT 1;\n"]);
    assert_eq!(m[0].source_text(), "\u{feff}SELECT 1;\n");
}

#[test]
fn non_utf8_files_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("0001_latin1.sql"), b"SELECT '\xe9';").expect("write");
    let err = engine_ops_migrate::load_dir(dir.path()).expect_err("not UTF-8");
    assert!(
        matches!(&err, SourceError::NotUtf8 { path } if path.ends_with("0001_latin1.sql")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("0001_latin1.sql is not UTF-8"),
        "{err}"
    );
}

/// A proc-macro crate cannot share code with the crate that re-exports it,
/// so the rules exist twice; they must stay identical.
#[test]
fn the_macro_and_the_loader_share_one_copy_of_the_rules() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loader = std::fs::read_to_string(here.join("src/source/rules.rs")).expect("loader rules");
    let macros = std::fs::read_to_string(here.join("../engine-ops-migrate-macros/src/rules.rs"))
        .expect("macro rules");
    assert!(
        loader == macros,
        "engine-ops-migrate/src/source/rules.rs and engine-ops-migrate-macros/src/rules.rs differ; copy one over the other"
    );
}

#[test]
fn embed_and_load_dir_give_the_same_migrations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrations");
    let loaded = engine_ops_migrate::load_dir(&dir).expect("loads");
    let embedded = engine_ops_migrate::embed!("tests/fixtures/migrations");
    assert_eq!(embedded, loaded);
    assert_eq!(embedded.len(), 3);
    let infos: Vec<MigrationInfo> = embedded.iter().map(info).collect();
    assert_eq!(infos[0].phase, Some(Phase::Expand));
    assert!(infos[0].reversible && !infos[1].reversible);
    assert!(!infos[2].transactional);
    assert_eq!(
        embedded,
        engine_ops_migrate::embed!("tests/fixtures/migrations/")
    );
}
