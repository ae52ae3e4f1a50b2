//! A linter of SQL migrations for zero-downtime deploys on PostgreSQL
//! (feature `lint`), keyed on each migration's expand / contract phase.
//!
//! During a rolling deploy the old and the new application version use
//! one database. Two kinds of statements then cause outages: DDL that
//! takes (or queues for) a strong lock and stalls every query of a table
//! behind it, and schema changes the old version cannot survive. The
//! linter finds both, before anything runs:
//!
//! - **Lock rules**, in every phase: an index built or dropped without
//!   `CONCURRENTLY`; `CONCURRENTLY` inside a transaction or a
//!   multi-statement batch; a constraint added without `NOT VALID` (or
//!   validated in the transaction that added it); `UNIQUE` / `PRIMARY KEY`
//!   building its index under lock; `SET NOT NULL` without a validated
//!   `CHECK (col IS NOT NULL)`; table rewrites (volatile default, generated,
//!   identity or serial column, most type changes); a backfill in the DDL's
//!   transaction; several existing tables locked at once; a session-level
//!   `SET` in a non-transactional migration; unparsable and opaque
//!   statements (`DO`, function bodies).
//! - **Compatibility rules**, by [`Phase`] (a migration
//!   without one is taken as expand, and warned about): a drop or a
//!   destructive statement in an expand migration; a rename (always); a
//!   `NOT NULL` column without a default; a constraint that the old
//!   version's writers can break, even `NOT VALID`, in an expand migration;
//!   a type change; a default change and an enum value (warnings in
//!   expand).
//!
//! Tables a migration creates are exempt from both: nobody uses them yet.
//! Each [`Finding`] names the [`Rule`], the migration, the line and the
//! statement, says what happens, and prints the safe alternative.
//!
//! Statements are parsed by PostgreSQL's own grammar (libpg_query through
//! the `pg_query` crate): the linter accepts what the server accepts, and
//! a statement it cannot parse is an error, never skipped.
//!
//! # Silencing
//!
//! Only with a comment that carries a reason, in the migration's SQL (so
//! the checksum covers it):
//!
//! ```sql
//! -- engine-ops: allow(set-not-null-scans) reason="200-row table, checked 2026-11-30"
//! ALTER TABLE countries ALTER COLUMN code SET NOT NULL;
//! ```
//!
//! `allow(rule, …)` covers the next statement; `allow-file(rule, …)` at
//! the top covers the whole migration. An unknown rule name or a missing
//! reason is a [`Rule::BadAllow`] error; an allow that silenced nothing is
//! a [`Rule::UnusedAllow`] warning. Silenced findings stay in the report
//! ([`MigrationLint::allowed`]), with their reason.
//!
//! # Examples
//!
//! ```
//! use engine_ops_migrate::lint::{Rule, lint};
//! use engine_ops_migrate::{Phase, SqlMigration};
//!
//! let m = SqlMigration::new(2, "email_idx", "CREATE INDEX users_email ON users (email)")
//!     .phase(Phase::Expand);
//! let report = lint(&[m]);
//! assert!(report.has_errors());
//! let finding = &report.migrations[0].findings[0];
//! assert_eq!(finding.rule, Rule::IndexNotConcurrent);
//! assert_eq!(finding.line, 1);
//! assert!(finding.alternative.contains("CREATE INDEX CONCURRENTLY"));
//! ```

mod check;
mod rule;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use rule::{Rule, Severity};

use crate::source::rules::{DIRECTIVE, parse_allow};
use crate::{Phase, SqlMigration};

/// What [`Migrator::run`](crate::Migrator::run) does with the linter
/// (see [`MigratorBuilder::lint_policy`](crate::MigratorBuilder::lint_policy)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LintPolicy {
    /// No linting at run time (the default; lint in CI with `migrate lint`).
    #[default]
    Off,
    /// Log each finding of the migrations about to run (warn level).
    Warn,
    /// Refuse to run, before anything runs, when a migration about to run
    /// has an error ([`Error::LintRefused`](crate::Error::LintRefused)).
    Deny,
}

/// One problem the linter found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// How bad it is in this migration's phase.
    pub severity: Severity,
    /// The migration's version.
    pub version: u64,
    /// The migration's name.
    pub migration: String,
    /// The line (from 1) of the statement in the migration's source.
    pub line: usize,
    /// The statement (its first 300 characters).
    pub statement: String,
    /// What is wrong, for this statement.
    pub message: String,
    /// The safe alternative.
    pub alternative: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{level}[{}]: migration {} ({}), line {}: {}\n    statement: {}\n    instead: {}",
            self.rule,
            self.version,
            self.migration,
            self.line,
            self.message,
            self.statement,
            self.alternative
        )
    }
}

/// A finding an allow comment silenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Allowed {
    /// The finding.
    pub finding: Finding,
    /// The comment's reason.
    pub reason: String,
}

/// The linter's verdict on one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MigrationLint {
    /// Version.
    pub version: u64,
    /// Name.
    pub name: String,
    /// Declared phase.
    pub phase: Option<Phase>,
    /// Whether it runs in a transaction.
    pub transactional: bool,
    /// Its findings, in statement order.
    pub findings: Vec<Finding>,
    /// Findings silenced by allow comments.
    pub allowed: Vec<Allowed>,
}

impl MigrationLint {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The linter's verdict on a list of migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LintReport {
    /// One entry per migration, ascending by version.
    pub migrations: Vec<MigrationLint>,
}

impl LintReport {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.migrations.iter().any(MigrationLint::has_errors)
    }

    /// Every finding, in order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.migrations.iter().flat_map(|m| m.findings.iter())
    }

    /// The verdict on `version`.
    #[must_use]
    pub fn migration(&self, version: u64) -> Option<&MigrationLint> {
        self.migrations.iter().find(|m| m.version == version)
    }
}

impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut errors, mut warnings, mut allowed) = (0, 0, 0);
        for m in &self.migrations {
            for finding in &m.findings {
                writeln!(f, "{finding}")?;
                match finding.severity {
                    Severity::Error => errors += 1,
                    Severity::Warning => warnings += 1,
                }
            }
            for a in &m.allowed {
                allowed += 1;
                writeln!(
                    f,
                    "allowed[{}]: migration {} ({}), line {}: {}",
                    a.finding.rule, m.version, m.name, a.finding.line, a.reason
                )?;
            }
        }
        write!(
            f,
            "{} migration(s) linted: {errors} error(s), {warnings} warning(s), {allowed} allowed",
            self.migrations.len()
        )
    }
}

/// Lints `migrations` (sorted by version first), each in the light of the
/// ones before it (a `CHECK (col IS NOT NULL)` validated by an earlier
/// migration lets a later `SET NOT NULL` pass). Pure: no database.
///
/// # Examples
///
/// See the [module docs](self).
#[must_use]
pub fn lint(migrations: &[SqlMigration]) -> LintReport {
    let mut sorted: Vec<&SqlMigration> = migrations.iter().collect();
    sorted.sort_by_key(|m| m.version());
    let mut history = check::History::default();
    LintReport {
        migrations: sorted
            .into_iter()
            .map(|m| lint_with(m, &mut history))
            .collect(),
    }
}

/// An allow comment found in a migration's source.
struct AllowComment {
    line: usize,
    file: bool,
    rules: Vec<Rule>,
    reason: String,
    used: bool,
}

/// A statement of a migration, located.
struct Located {
    line: usize,
    text: String,
}

/// Line (from 1) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Skips blank space and `--` comment lines at the start of a statement.
fn skip_leading(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            at += trimmed.find('\n').map_or(trimmed.len(), |n| n + 1);
        } else {
            return at;
        }
    }
}

fn finding(
    m: &SqlMigration,
    rule: Rule,
    severity: Severity,
    at: &Located,
    message: String,
) -> Finding {
    let statement: String = at.text.chars().take(300).collect();
    Finding {
        rule,
        severity,
        version: m.version(),
        migration: m.name().to_owned(),
        line: at.line,
        statement,
        message,
        alternative: rule.alternative().to_owned(),
    }
}

fn lint_with(m: &SqlMigration, history: &mut check::History) -> MigrationLint {
    let source = m.source_text();
    let phase = m.declared_phase();
    let mut raw: Vec<(Rule, Located, String)> = Vec::new();
    let mut allows: Vec<AllowComment> = Vec::new();

    for (index, line) in source.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix(DIRECTIVE) else {
            continue;
        };
        let directive = rest.trim();
        if !directive.starts_with("allow") {
            continue;
        }
        let at = Located {
            line: index + 1,
            text: line.trim().to_owned(),
        };
        match parse_allow(directive) {
            Err(why) => raw.push((Rule::BadAllow, at, why)),
            Ok(allow) => {
                let mut rules = Vec::new();
                for name in &allow.rules {
                    match Rule::from_name(name) {
                        Some(rule) => rules.push(rule),
                        None => raw.push((
                            Rule::BadAllow,
                            Located {
                                line: at.line,
                                text: at.text.clone(),
                            },
                            format!(
                                "unknown rule {name:?}; the rules are {}",
                                Rule::ALL
                                    .iter()
                                    .map(|r| r.name())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )),
                    }
                }
                allows.push(AllowComment {
                    line: at.line,
                    file: allow.file,
                    rules,
                    reason: allow.reason,
                    used: false,
                });
            }
        }
    }

    let mut state = check::Migration::new(history, m.is_transactional());
    let mut cursor = 0;
    for batch in m.up_batches() {
        // Where the batch sits in the source (a file's batches are slices
        // of it; a built migration's source is its batches joined).
        let base = source[cursor..]
            .find(batch.as_str())
            .map_or(cursor, |i| cursor + i);
        cursor = base + batch.len().min(source.len() - base);
        state.next_batch();
        match pg_query::parse(batch, pg_query::ParserOptions::DEFAULT) {
            Err(e) => {
                let skip = skip_leading(batch);
                raw.push((
                    Rule::Unparsable,
                    Located {
                        line: line_of(source, base + skip),
                        text: batch[skip..].trim().to_owned(),
                    },
                    format!("PostgreSQL's parser refuses it: {e}"),
                ));
            }
            Ok(parsed) => {
                let stmts = &parsed.protobuf.stmts;
                for raw_stmt in stmts {
                    let start = usize::try_from(raw_stmt.stmt_location)
                        .unwrap_or(0)
                        .min(batch.len());
                    let len = usize::try_from(raw_stmt.stmt_len).unwrap_or(0);
                    let end = if len == 0 {
                        batch.len()
                    } else {
                        (start + len).min(batch.len())
                    };
                    let text = &batch[start..end];
                    let skip = skip_leading(text);
                    let at = line_of(source, base + start + skip);
                    let statement = check::Statement {
                        node: raw_stmt.stmt.as_ref().and_then(|n| n.node.as_ref()),
                        batch_len: stmts.len(),
                    };
                    for hit in state.check(&statement) {
                        raw.push((
                            hit.rule,
                            Located {
                                line: at,
                                text: text[skip..].trim().to_owned(),
                            },
                            hit.message,
                        ));
                    }
                }
            }
        }
    }

    if phase.is_none() {
        raw.push((
            Rule::PhaseMissing,
            Located {
                line: 1,
                text: String::new(),
            },
            "no phase declared: the compatibility rules take it as expand".into(),
        ));
    }

    // Statement lines, to give each statement-level allow its statement:
    // the first one starting after the comment.
    let mut statement_lines: Vec<usize> = raw
        .iter()
        .filter(|(r, ..)| !matches!(r, Rule::BadAllow | Rule::PhaseMissing))
        .map(|(_, at, _)| at.line)
        .collect();
    statement_lines.sort_unstable();
    statement_lines.dedup();

    let mut findings = Vec::new();
    let mut allowed = Vec::new();
    for (rule, at, message) in raw {
        let Some(severity) = rule.severity(phase) else {
            continue;
        };
        let f = finding(m, rule, severity, &at, message);
        let target = |allow: &AllowComment| {
            allow.file
                || statement_lines
                    .iter()
                    .find(|l| **l > allow.line)
                    .is_some_and(|l| *l == at.line)
        };
        let by = if rule == Rule::BadAllow {
            None
        } else {
            allows
                .iter_mut()
                .find(|a| a.rules.contains(&rule) && target(a))
        };
        match by {
            Some(allow) => {
                allow.used = true;
                allowed.push(Allowed {
                    finding: f,
                    reason: allow.reason.clone(),
                });
            }
            None => findings.push(f),
        }
    }
    for allow in allows.iter().filter(|a| !a.used && !a.rules.is_empty()) {
        let at = Located {
            line: allow.line,
            text: source
                .lines()
                .nth(allow.line - 1)
                .unwrap_or("")
                .trim()
                .to_owned(),
        };
        findings.push(finding(
            m,
            Rule::UnusedAllow,
            Severity::Warning,
            &at,
            "this allow comment silenced nothing".into(),
        ));
    }
    findings.sort_by_key(|f| f.line);
    MigrationLint {
        version: m.version(),
        name: m.name().to_owned(),
        phase,
        transactional: m.is_transactional(),
        findings,
        allowed,
    }
}
