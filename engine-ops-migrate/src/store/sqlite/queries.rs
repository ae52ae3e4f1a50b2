//! Every SQL text the SQLite store sends of its own (the statements that
//! record history rows are rendered from the ledger's table by
//! [`record_sql`](crate::store::sql::row::record_sql)).

use crate::store::sql::row::{LAYOUT, ident};

/// Which of the tables `?1` (history) and `?2` (layout) exist.
pub(super) const FIND_TABLES: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?1, ?2)";

/// The layout recorded in the layout table `layout` (unquoted).
pub(super) fn read_layout(layout: &str) -> String {
    format!("SELECT max(layout) FROM {}", ident(layout))
}

/// Creates the history table `table` and its layout table `layout`
/// (unquoted), holding this build's layout, in one transaction.
pub(super) fn create_tables(table: &str, layout: &str) -> String {
    let t = ident(table);
    let l = ident(layout);
    format!(
        "BEGIN IMMEDIATE;
         CREATE TABLE {t} (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            phase TEXT CHECK (phase IN ('expand', 'contract')),
            state TEXT NOT NULL CHECK (state IN ('applied', 'applying', 'reverting')),
            transactional INTEGER NOT NULL,
            started_at_ms INTEGER NOT NULL,
            applied_at_ms INTEGER,
            applied_at TEXT,
            execution_ms INTEGER,
            resolved_by TEXT
         );
         CREATE TABLE {l} (layout INTEGER NOT NULL);
         INSERT INTO {l} (layout) VALUES ({LAYOUT});
         COMMIT;"
    )
}

/// Every row of the history table `table` (unquoted), by version.
pub(super) fn rows(table: &str) -> String {
    format!(
        "SELECT version, name, checksum, phase, state, started_at_ms, applied_at_ms, execution_ms \
           FROM {} ORDER BY version",
        ident(table)
    )
}

/// The UTC text of a Unix time in milliseconds given by `param`.
pub(super) fn utc_text(param: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%fZ', {param} / 1000.0, 'unixepoch')")
}

/// The lock database's table naming the holder (one row).
#[cfg(test)]
const HOLDER_TABLE: &str = "engine_ops_lock_holder";

/// Creates the holder table if needed.
pub(super) const CREATE_HOLDER: &str = "CREATE TABLE IF NOT EXISTS engine_ops_lock_holder (id INTEGER PRIMARY KEY CHECK (id = 1), line TEXT NOT NULL)";

/// Records the holder's line `?1`.
pub(super) const WRITE_HOLDER: &str =
    "INSERT OR REPLACE INTO engine_ops_lock_holder (id, line) VALUES (1, ?1)";

/// The holder's line.
pub(super) const READ_HOLDER: &str = "SELECT line FROM engine_ops_lock_holder WHERE id = 1";

/// Clears the holder as the lock goes, ending its transaction.
pub(super) const CLEAR_HOLDER: &str = "DELETE FROM engine_ops_lock_holder; COMMIT";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_statements_name_the_holder_table() {
        for sql in [CREATE_HOLDER, WRITE_HOLDER, READ_HOLDER, CLEAR_HOLDER] {
            assert!(sql.contains(HOLDER_TABLE), "{sql}");
        }
    }
}
