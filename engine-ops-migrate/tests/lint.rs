//! The linter without a database: phase-dependent severities, allow
//! comments (reason required, unknown rules, unused ones, file-wide),
//! lines, and the rules whose effect is on the old version rather than on
//! locks (their PostgreSQL fixtures are in `pg_lint.rs`).

#![cfg(feature = "lint")]

use engine_ops_migrate::lint::{Rule, Severity, lint};
use engine_ops_migrate::{Phase, SqlMigration};

fn findings(m: SqlMigration) -> Vec<(Rule, Severity, usize)> {
    lint(&[m])
        .findings()
        .map(|f| (f.rule, f.severity, f.line))
        .collect()
}

#[test]
fn compatibility_rules_depend_on_the_phase() {
    let drop = "ALTER TABLE users DROP COLUMN legacy";
    let expand = findings(SqlMigration::new(1, "m", drop).phase(Phase::Expand));
    assert_eq!(expand, [(Rule::DropObject, Severity::Error, 1)]);
    assert_eq!(
        findings(SqlMigration::new(1, "m", drop).phase(Phase::Contract)),
        []
    );
    // No phase: taken as expand, and said so.
    let none = findings(SqlMigration::new(1, "m", drop));
    assert!(none.contains(&(Rule::DropObject, Severity::Error, 1)));
    assert!(none.contains(&(Rule::PhaseMissing, Severity::Warning, 1)));

    for (sql, rule) in [
        (
            "ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'pro'",
            Rule::DefaultChange,
        ),
        ("ALTER TYPE mood ADD VALUE 'meh'", Rule::EnumAddValue),
    ] {
        let e = findings(SqlMigration::new(1, "m", sql).phase(Phase::Expand));
        assert_eq!(e, [(rule, Severity::Warning, 1)], "{sql}");
        assert_eq!(
            findings(SqlMigration::new(1, "m", sql).phase(Phase::Contract)),
            [],
            "{sql}"
        );
    }
    for sql in ["TRUNCATE users", "DELETE FROM users WHERE deleted"] {
        let e = findings(SqlMigration::new(1, "m", sql).phase(Phase::Expand));
        assert!(
            e.contains(&(Rule::DestructiveInExpand, Severity::Error, 1)),
            "{sql}: {e:?}"
        );
        assert_eq!(
            findings(SqlMigration::new(1, "m", sql).phase(Phase::Contract)),
            [],
            "{sql}"
        );
    }
    // A rename is an error in both phases.
    let rename = "ALTER TABLE users RENAME COLUMN name TO full_name";
    for phase in [Phase::Expand, Phase::Contract] {
        assert_eq!(
            findings(SqlMigration::new(1, "m", rename).phase(phase)),
            [(Rule::Rename, Severity::Error, 1)]
        );
    }
}

#[test]
fn a_table_created_by_the_migration_is_exempt() {
    let m = SqlMigration::new(
        1,
        "m",
        "CREATE TABLE t (id int PRIMARY KEY, v text);\nCREATE INDEX t_v ON t (v);\nALTER TABLE t ADD CONSTRAINT v_set CHECK (v IS NOT NULL);\nALTER TABLE t RENAME COLUMN v TO w;",
    )
    .phase(Phase::Expand);
    assert_eq!(findings(m), []);
}

#[test]
fn allow_comments_need_a_known_rule_and_a_reason_and_cover_the_next_statement_only() {
    let sql = "ALTER TABLE a ADD COLUMN x int;\n\
               -- engine-ops: allow(index-not-concurrent) reason=\"a has 12 rows\"\n\
               CREATE INDEX a_x ON a (x);\n\
               CREATE INDEX a_y ON a (y);\n\
               -- engine-ops: allow(rename) reason=\"nothing to rename here\"\n\
               SELECT 1;\n\
               -- engine-ops: allow(no-such-rule) reason=\"typo\"\n\
               -- engine-ops: allow(rename)\n\
               SELECT 2;";
    let report = lint(&[SqlMigration::new(1, "m", sql).phase(Phase::Contract)]);
    let m = &report.migrations[0];
    assert_eq!(m.allowed.len(), 1);
    assert_eq!(m.allowed[0].finding.line, 3);
    assert_eq!(m.allowed[0].reason, "a has 12 rows");
    let got: Vec<(Rule, usize)> = m.findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(
        got,
        [
            (Rule::IndexNotConcurrent, 4),
            (Rule::UnusedAllow, 5),
            (Rule::BadAllow, 7),
            (Rule::BadAllow, 8),
        ]
    );
    let unknown = &m.findings[2];
    assert!(
        unknown.message.contains("unknown rule \"no-such-rule\""),
        "{}",
        unknown.message
    );
    assert!(
        unknown.message.contains("index-not-concurrent"),
        "the rules are listed"
    );
    assert!(
        m.findings[3].message.contains("needs a reason"),
        "{}",
        m.findings[3].message
    );
    assert!(report.has_errors());
}

#[test]
fn a_file_wide_allow_covers_every_statement_and_findings_name_their_line() {
    let sql = "-- engine-ops: phase contract\n\
               -- engine-ops: allow-file(index-not-concurrent) reason=\"lookup table, 40 rows\"\n\
               \n\
               CREATE INDEX c_a ON countries (a);\n\
               CREATE INDEX c_b ON countries (b);\n\
               ALTER TABLE countries ALTER COLUMN code SET NOT NULL;";
    let report = lint(&[SqlMigration::new(1, "m", sql).phase(Phase::Contract)]);
    let m = &report.migrations[0];
    assert_eq!(m.allowed.len(), 2);
    let f = &m.findings[0];
    assert_eq!((f.rule, f.line), (Rule::SetNotNullScans, 6));
    assert_eq!(
        f.statement,
        "ALTER TABLE countries ALTER COLUMN code SET NOT NULL"
    );
    assert!(f.alternative.contains("VALIDATE CONSTRAINT"));
    let text = report.to_string();
    assert!(
        text.contains("error[set-not-null-scans]: migration 1 (m), line 6"),
        "{text}"
    );
}

#[test]
fn a_not_null_check_validated_by_an_earlier_migration_lets_set_not_null_pass() {
    let steps = [
        SqlMigration::new(
            1,
            "check",
            "ALTER TABLE u ADD CONSTRAINT e_nn CHECK (email IS NOT NULL) NOT VALID",
        )
        .phase(Phase::Contract),
        SqlMigration::new(2, "validate", "ALTER TABLE u VALIDATE CONSTRAINT e_nn")
            .phase(Phase::Contract),
        SqlMigration::new(3, "set", "ALTER TABLE u ALTER COLUMN email SET NOT NULL")
            .phase(Phase::Contract),
    ];
    assert!(!lint(&steps).has_errors(), "{}", lint(&steps));
    // Without the validation, the SET NOT NULL scans.
    let skipped = [steps[0].clone(), steps[2].clone()];
    assert!(
        lint(&skipped)
            .findings()
            .any(|f| f.rule == Rule::SetNotNullScans)
    );
}

#[test]
fn every_rule_has_a_name_that_round_trips_and_an_alternative() {
    for rule in Rule::ALL {
        assert_eq!(Rule::from_name(rule.name()), Some(*rule));
        assert!(!rule.alternative().is_empty());
        let json = serde_json::to_value(rule).expect("json");
        assert_eq!(json, rule.name());
    }
    assert_eq!(Rule::from_name("nope"), None);
}
