//! The history table: whether it exists and is ours (with its layout
//! table), creating it, and reading its rows.

use rusqlite::params;

use super::queries;
use super::store::SqliteStore;
use crate::error::{Error, Result};
use crate::history::History;
use crate::store::sql::row::{
    HistoryRows, LAYOUT, StoredChecksum, StoredRow, from_db_ms, ident, unsupported_layout,
};

pub(super) enum TableState {
    Missing,
    Ours,
}

impl SqliteStore {
    pub(super) fn layout_table(&self) -> String {
        format!("{}_layout", self.table)
    }

    pub(super) fn table_state(&self) -> Result<TableState> {
        let found: Vec<String> = self
            .conn
            .prepare_cached(queries::FIND_TABLES)
            .and_then(|mut st| {
                st.query_map(params![self.table, self.layout_table()], |r| r.get(0))?
                    .collect()
            })
            .map_err(|e| self.err("cannot read the schema", e))?;
        let has_table = found.contains(&self.table);
        let has_layout = found.iter().any(|n| *n == self.layout_table());
        match (has_table, has_layout) {
            (false, false) => Ok(TableState::Missing),
            (true, true) => {
                let layout: Option<i64> = self
                    .conn
                    .query_row(&queries::read_layout(&self.layout_table()), [], |r| {
                        r.get(0)
                    })
                    .map_err(|e| self.err("cannot read the history layout", e))?;
                match layout {
                    Some(n) if n == i64::from(LAYOUT) => Ok(TableState::Ours),
                    other => Err(Error::UnsupportedFormat {
                        store: self.describe.clone(),
                        found: unsupported_layout(
                            other.map_or_else(|| "missing".to_owned(), |n| n.to_string()),
                        ),
                    }),
                }
            }
            _ => Err(Error::ForeignStore {
                store: self.describe.clone(),
                found: format!(
                    "a table {} without its layout table {}",
                    ident(&self.table),
                    ident(&self.layout_table())
                ),
            }),
        }
    }

    pub(super) fn ensure_table(&mut self) -> Result<()> {
        if self.table_ready {
            return Ok(());
        }
        if let TableState::Missing = self.table_state()? {
            let sql = queries::create_tables(&self.table, &self.layout_table());
            if let Err(e) = self.conn.execute_batch(&sql) {
                let _ = self.heal();
                return Err(self.err(
                    format!("cannot create the history table {}", ident(&self.table)),
                    e,
                ));
            }
        }
        self.table_ready = true;
        Ok(())
    }

    pub(super) fn read_history(&self) -> Result<History> {
        let sql = queries::rows(&self.table);
        type RawRow = (
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<RawRow> = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?
                .collect()
            })
            .map_err(|e| {
                self.err(
                    format!("cannot read the history table {}", ident(&self.table)),
                    e,
                )
            })?;
        let mut out = HistoryRows::with_capacity(rows.len());
        for (version, name, checksum, phase, state, started, applied_at, took) in rows {
            out.push(StoredRow {
                version,
                name,
                checksum: StoredChecksum::Hex(&checksum),
                phase: phase.as_deref(),
                state: &state,
                started_at_ms: from_db_ms(started),
                applied_at_ms: from_db_ms(applied_at),
                duration_ms: from_db_ms(took),
            })
            .map_err(|reason| self.bad_row(reason))?;
        }
        Ok(out.finish())
    }

    /// Reads the history (none while the table does not exist). Inside
    /// an open step it is read in the step's transaction; otherwise a
    /// transaction left open by a migration is rolled back first.
    pub(super) fn load_history(&mut self) -> Result<History> {
        // Inside an open step the history is read in its transaction;
        // otherwise a transaction left open by a migration is rolled back.
        if self.session.open_step().is_none() {
            self.heal()?;
        }
        match self.table_state()? {
            TableState::Missing => Ok(History::default()),
            TableState::Ours => self.read_history(),
        }
    }
}
