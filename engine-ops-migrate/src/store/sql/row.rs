//! The history tables' row codec, shared by the database stores: the
//! layout version, column conversions, identifier quoting, the statements
//! that record each transition of the ledger's table, and the decoding of
//! rows into a [`History`].

// The codec serves the database stores only.
#![cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]

use std::fmt;

use crate::checksum::Checksum;
use crate::error::{Error, Result};
use crate::history::{AppliedMigration, History, InDoubt};
use crate::migration::Direction;
use crate::phase::Phase;
use crate::store::ledger::{Refusal, RowChange, RowState, Step};

/// The layout of the history tables this build writes and reads.
pub(crate) const LAYOUT: u32 = 1;

pub(crate) fn phase_str(phase: Option<Phase>) -> Option<&'static str> {
    match phase {
        Some(Phase::Expand) => Some("expand"),
        Some(Phase::Contract) => Some("contract"),
        None => None,
    }
}

pub(crate) fn parse_phase(s: Option<&str>) -> std::result::Result<Option<Phase>, String> {
    match s {
        None => Ok(None),
        Some("expand") => Ok(Some(Phase::Expand)),
        Some("contract") => Ok(Some(Phase::Contract)),
        Some(other) => Err(format!("unknown phase {other:?}")),
    }
}

/// Database integers are signed 64-bit: versions above `i64::MAX` do not fit.
pub(crate) fn db_version(version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::InvalidConfig {
        reason: format!(
            "migration version {version} does not fit the history table's 64-bit signed version column; use versions up to {}",
            i64::MAX
        ),
    })
}

pub(crate) fn db_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

pub(crate) fn from_db_ms(ms: Option<i64>) -> u64 {
    ms.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// Quotes an SQL identifier (PostgreSQL and SQLite share the rule).
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What a store reports when its history table has another layout than
/// [`LAYOUT`]; `found` is the layout it read.
pub(crate) fn unsupported_layout(found: impl fmt::Display) -> String {
    format!("history table layout {found} (this build reads layout {LAYOUT})")
}

/// `state IN ('a', 'b')` for the row states `from`.
fn state_in(from: &[RowState]) -> String {
    let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("state IN ({})", states.join(", "))
}

/// The statement that records `step` for one version of `table` (quoted):
/// whether it inserts, updates or deletes the row, the states it may start
/// from and the state it leaves all come from the ledger's table
/// ([`Step::row_change`]); `version` is the version's placeholder and
/// `columns` the dialect's other columns as `(column, value expression)`.
/// An update or delete that changes no row, or an insert that finds one,
/// is a refusal (see [`refusal`]).
pub(crate) fn record_sql(
    table: &str,
    step: Step,
    version: &str,
    columns: &[(&str, &str)],
) -> String {
    match step.row_change() {
        RowChange::Insert(to) => {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let values: Vec<&str> = columns.iter().map(|(_, v)| *v).collect();
            let sep = if columns.is_empty() { "" } else { ", " };
            format!(
                "INSERT INTO {table} (version, state{sep}{}) VALUES ({version}, '{}'{sep}{})",
                names.join(", "),
                to.as_str(),
                values.join(", ")
            )
        }
        RowChange::Update { from, to } => {
            let sets: String = columns
                .iter()
                .map(|(c, v)| format!(", {c} = {v}"))
                .collect();
            format!(
                "UPDATE {table} SET state = '{}'{sets} WHERE version = {version} AND {}",
                to.as_str(),
                state_in(from)
            )
        }
        RowChange::Delete { from } => format!(
            "DELETE FROM {table} WHERE version = {version} AND {}",
            state_in(from)
        ),
    }
}

/// `CASE WHEN state = 'applying' THEN {then} ELSE {column} END`: a column
/// that settling a step in doubt sets for an interrupted `up` and keeps for
/// an interrupted `down` (whose applied record is still there).
pub(crate) fn if_applying(then: &str, column: &str) -> String {
    format!(
        "CASE WHEN state = '{}' THEN {then} ELSE {column} END",
        RowState::Applying.as_str()
    )
}

/// The query that reads one version's state, to name it in a refusal
/// (`version`: its placeholder).
pub(crate) fn state_sql(table: &str, version: &str) -> String {
    format!("SELECT state FROM {table} WHERE version = {version}")
}

/// The refusal of `step` for `version`, whose row state column reads
/// `state` (`None`: no row); `Err` for a state this build does not know.
pub(crate) fn refusal(
    version: u64,
    step: Step,
    state: Option<&str>,
) -> std::result::Result<Refusal, String> {
    let row = match state {
        None => None,
        Some(text) => Some(RowState::parse(text).ok_or_else(|| {
            format!(
                "history row for version {version} has unknown state {text:?}; restore the row from a backup or fix it by hand"
            )
        })?),
    };
    Ok(Refusal::new(version, step, row))
}

/// A history row's checksum as the query returned it.
pub(crate) enum StoredChecksum<'a> {
    /// The column as stored: SHA-256 hex.
    Hex(&'a str),
    /// Already decoded (by the server).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Digest(Checksum),
}

/// One history row, with the columns both databases store.
pub(crate) struct StoredRow<'a> {
    pub(crate) version: i64,
    pub(crate) name: String,
    pub(crate) checksum: StoredChecksum<'a>,
    pub(crate) phase: Option<&'a str>,
    pub(crate) state: &'a str,
    pub(crate) started_at_ms: u64,
    pub(crate) applied_at_ms: u64,
    pub(crate) duration_ms: u64,
}

/// Turns history rows into a [`History`]: applied rows and steps in doubt,
/// checked the same way for every database.
#[derive(Default)]
pub(crate) struct HistoryRows {
    applied: Vec<AppliedMigration>,
    in_doubt: Vec<InDoubt>,
}

impl HistoryRows {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            applied: Vec::with_capacity(rows),
            in_doubt: Vec::new(),
        }
    }

    /// Adds one row. `Err` says why the row cannot be read (for a
    /// [`BadRow`]).
    pub(crate) fn push(&mut self, row: StoredRow<'_>) -> std::result::Result<(), String> {
        let StoredRow {
            version,
            name,
            checksum,
            phase,
            state,
            started_at_ms,
            applied_at_ms,
            duration_ms,
        } = row;
        let bad = |what: String| {
            format!(
                "history row for version {version} {what}; restore the row from a backup or fix it by hand"
            )
        };
        let version = u64::try_from(version).map_err(|_| bad("has a negative version".into()))?;
        let checksum = match checksum {
            StoredChecksum::Digest(c) => c,
            StoredChecksum::Hex(text) => text.parse().map_err(|_| {
                bad(format!(
                    "has checksum {text:?}, which is not a SHA-256 hex digest"
                ))
            })?,
        };
        let phase = parse_phase(phase).map_err(bad)?;
        let direction = match RowState::parse(state) {
            Some(RowState::Applied) => {
                self.applied.push(AppliedMigration {
                    version,
                    name,
                    checksum,
                    phase,
                    applied_at_ms,
                    duration_ms,
                });
                return Ok(());
            }
            Some(RowState::Applying) => Direction::Up,
            Some(RowState::Reverting) => Direction::Down,
            None => return Err(bad(format!("has unknown state {state:?}"))),
        };
        self.in_doubt.push(InDoubt {
            version,
            name,
            checksum,
            phase,
            direction,
            started_at_ms,
        });
        Ok(())
    }

    pub(crate) fn finish(self) -> History {
        History::new(self.applied, self.in_doubt)
    }
}

/// A history table row that this build cannot read.
#[derive(Debug)]
pub(crate) struct BadRow(pub(crate) String);

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRow {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_and_unknown_ones_are_rejected() {
        for p in [None, Some(Phase::Expand), Some(Phase::Contract)] {
            assert_eq!(parse_phase(phase_str(p)), Ok(p));
        }
        assert!(parse_phase(Some("sideways")).is_err());
    }

    fn row<'a>(
        version: i64,
        checksum: &'a str,
        phase: Option<&'a str>,
        state: &'a str,
    ) -> StoredRow<'a> {
        StoredRow {
            version,
            name: "m".into(),
            checksum: StoredChecksum::Hex(checksum),
            phase,
            state,
            started_at_ms: 5,
            applied_at_ms: 7,
            duration_ms: 2,
        }
    }

    #[test]
    fn rows_become_applied_or_in_doubt_and_bad_rows_are_named() {
        let hex = Checksum::of_source(b"m").to_hex();
        let mut rows = HistoryRows::with_capacity(3);
        rows.push(row(3, &hex, None, "reverting"))
            .expect("reverting");
        rows.push(row(1, &hex, Some("expand"), "applied"))
            .expect("applied");
        rows.push(StoredRow {
            checksum: StoredChecksum::Digest(Checksum::of_source(b"m")),
            ..row(2, "", None, "applying")
        })
        .expect("applying");
        let history = rows.finish();
        assert_eq!(history.applied.len(), 1);
        assert_eq!(history.applied[0].phase, Some(Phase::Expand));
        assert_eq!(history.applied[0].applied_at_ms, 7);
        let doubts: Vec<_> = history
            .in_doubt
            .iter()
            .map(|d| (d.version, d.direction, d.started_at_ms))
            .collect();
        assert_eq!(doubts, [(2, Direction::Up, 5), (3, Direction::Down, 5)]);

        let err = |r| HistoryRows::default().push(r).expect_err("bad row");
        assert!(err(row(-1, &hex, None, "applied")).contains("negative version"));
        assert!(err(row(4, "zz", None, "applied")).contains("version 4 has checksum \"zz\""));
        assert!(err(row(4, &hex, Some("sideways"), "applied")).contains("sideways"));
        assert!(err(row(4, &hex, None, "gone")).contains("unknown state \"gone\""));
    }

    /// Every statement rendered from the ledger's table, run on a real
    /// table from every row state: it changes the row exactly when the
    /// table admits that state, and leaves the state the table says.
    #[cfg(feature = "sqlite")]
    #[test]
    fn record_statements_do_what_the_ledger_table_says() {
        use crate::store::ledger::Step;
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        conn.execute_batch("CREATE TABLE h (version INTEGER PRIMARY KEY, state TEXT NOT NULL)")
            .expect("table");
        let rows = [
            None,
            Some(RowState::Applied),
            Some(RowState::Applying),
            Some(RowState::Reverting),
        ];
        for step in Step::ALL {
            let change = step.row_change();
            let sql = record_sql("h", step, "?1", &[]);
            for row in rows {
                conn.execute("DELETE FROM h", []).expect("clear");
                if let Some(state) = row {
                    conn.execute(
                        "INSERT INTO h VALUES (1, ?1)",
                        rusqlite::params![state.as_str()],
                    )
                    .expect("seed");
                }
                let changed = conn.execute(&sql, rusqlite::params![1]).unwrap_or(0);
                assert_eq!(changed == 1, change.admits(row), "{sql} from {row:?}");
                let after: Option<String> = conn
                    .query_row(&state_sql("h", "?1"), rusqlite::params![1], |r| r.get(0))
                    .ok();
                let expected = if change.admits(row) {
                    change.result()
                } else {
                    row
                };
                assert_eq!(
                    after.as_deref().and_then(RowState::parse),
                    expected,
                    "{sql} from {row:?}"
                );
                let refused = refusal(1, step, after.as_deref()).expect("known state");
                assert_eq!(refused.version, 1);
            }
        }
    }

    #[test]
    fn record_statements_take_their_guards_from_the_ledger_table() {
        use crate::store::ledger::Step;
        let sql = |step| record_sql("t", step, "$1", &[("started_at", "$2")]);
        assert_eq!(
            sql(Step::Begin(Direction::Up)),
            "INSERT INTO t (version, state, started_at) VALUES ($1, 'applying', $2)"
        );
        assert_eq!(
            sql(Step::Begin(Direction::Down)),
            "UPDATE t SET state = 'reverting', started_at = $2 WHERE version = $1 AND state IN ('applied')"
        );
        assert_eq!(
            record_sql(
                "t",
                Step::Resolve(crate::history::Settlement::NotApplied),
                "$1",
                &[]
            ),
            "DELETE FROM t WHERE version = $1 AND state IN ('applying', 'reverting')"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            unsupported_layout(9),
            format!("history table layout 9 (this build reads layout {LAYOUT})")
        );
    }

    #[test]
    fn versions_above_i64_are_refused() {
        assert_eq!(db_version(7).ok(), Some(7));
        assert!(matches!(
            db_version(u64::MAX),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
