//! Reading the history table: the catalog check (created, ours, which
//! layout), creating the table, and decoding its rows in one request.

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::queries;
use super::store::PostgresStore;
use super::types::unix_ms;
use crate::checksum::Checksum;
use crate::error::{Error, Result};
use crate::history::History;
use crate::store::ledger::RowState;
use crate::store::sql::row::{
    HistoryRows, LAYOUT, StoredChecksum, StoredRow, from_db_ms, unsupported_layout,
};

/// What the catalog says about the history table.
pub(super) enum TableState {
    Missing { schema_exists: bool },
    Ours,
}

impl PostgresStore {
    /// Reads the history: one request with the prepared history query
    /// once it is prepared on this connection; otherwise the catalog first.
    pub(super) async fn load_history(&mut self) -> Result<History> {
        if let Some(st) = self.rows_stmt.clone() {
            // Steady state: one prepared statement reads the layout marker
            // and every row, one request whatever the number of rows.
            let rows = self
                .conn()
                .guarded(self.conn().client.query(&st, &[&self.qualified]))
                .await;
            match rows {
                Ok(rows) => return self.decode_or_reread(&rows).await,
                Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => {
                    return self.reread(&e).await;
                }
                // Dropped, or replaced by a table of another shape: the
                // catalog says what it is now.
                Err(_) => self.rows_stmt = None,
            }
        }
        if let TableState::Missing { .. } = self.catalog().await? {
            return Ok(History::default());
        }
        // First read on this connection: prepare the history query (it can
        // only be prepared once the table exists).
        let sql = queries::rows(&self.qualified);
        let client = &self.conn().client;
        let rows = match self
            .conn()
            .guarded(client.prepare_typed(&sql, &[Type::TEXT]))
            .await
        {
            Ok(st) => {
                let rows = self
                    .conn()
                    .guarded(client.query(&st, &[&self.qualified]))
                    .await;
                self.rows_stmt = Some(st);
                rows
            }
            Err(e) => Err(e),
        };
        match rows {
            Ok(rows) => self.decode_or_reread(&rows).await,
            Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => self.reread(&e).await,
            Err(e) => {
                self.rows_stmt = None;
                Err(self.err(
                    format!("cannot read the history table {}", self.qualified),
                    e,
                ))
            }
        }
    }

    /// Prepares (once per connection) the catalog query.
    pub(super) async fn catalog_stmt(&mut self) -> Result<tokio_postgres::Statement> {
        if let Some(st) = &self.catalog_stmt {
            return Ok(st.clone());
        }
        let st = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .prepare_typed(queries::CATALOG, &[Type::TEXT, Type::TEXT]),
            )
            .await
            .map_err(|e| self.err("cannot read the catalog", e))?;
        self.catalog_stmt = Some(st.clone());
        Ok(st)
    }

    /// The table's state from the catalog: whether its schema exists and
    /// its comment (`None`: no such table; empty: a table without comment).
    pub(super) fn table_state(
        &self,
        schema_exists: bool,
        comment: Option<String>,
    ) -> Result<TableState> {
        let Some(comment) = comment else {
            return Ok(TableState::Missing { schema_exists });
        };
        let layout = comment
            .strip_prefix(queries::LAYOUT_MARKER)
            .and_then(|n| n.trim().parse::<u32>().ok());
        match layout {
            Some(LAYOUT) => Ok(TableState::Ours),
            Some(n) => Err(Error::UnsupportedFormat {
                store: self.describe.clone(),
                found: unsupported_layout(n),
            }),
            None => Err(Error::ForeignStore {
                store: self.describe.clone(),
                found: format!(
                    "a table without the engine-ops-migrate layout marker in its comment ({comment:?})"
                ),
            }),
        }
    }

    pub(super) async fn catalog(&mut self) -> Result<TableState> {
        let st = self.catalog_stmt().await?;
        let row = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .query_one(&st, &[&self.schema, &self.table]),
            )
            .await
            .map_err(|e| self.err("cannot read the catalog", e))?;
        self.table_state(row.get(0), row.get(1))
    }

    /// Creates the history table if it is missing, checks its layout
    /// otherwise. Called with the lock held.
    pub(super) async fn ensure_table(&mut self) -> Result<()> {
        if self.table_ready {
            return Ok(());
        }
        if let TableState::Missing { schema_exists } = self.catalog().await? {
            let q = &self.qualified;
            let sql = queries::create_table(q, &self.schema, schema_exists);
            self.conn()
                .guarded(self.conn().client.batch_execute(&sql))
                .await
                .map_err(|e| {
                    self.err(
                        format!("cannot create the history table {q}; grant CREATE on the database or schema, or create it by hand"),
                        e,
                    )
                })?;
        }
        self.table_ready = true;
        Ok(())
    }

    /// Decodes rows of [`queries::rows`] (`text == false`: the
    /// layout row first checked, the checksum as bytes, state and start time
    /// NULL for applied rows) or of [`queries::rows_as_stored`]
    /// (`text == true`). `None`: a checksum of the first kind is not 32
    /// bytes; decode the rows as stored to name it.
    pub(super) fn decode(&self, rows: &[Row], text: bool) -> Result<Option<History>> {
        if !text {
            // Found wherever the server put it (a parallel plan may not put
            // it first); no such row: the table has no comment.
            let comment = rows
                .iter()
                .find(|r| r.get::<_, Option<i64>>(0).is_none())
                .map_or_else(String::new, |r| r.get(1));
            self.table_state(true, Some(comment))?;
        }
        let mut out = HistoryRows::with_capacity(rows.len());
        for r in rows {
            if !text && r.get::<_, Option<i64>>(0).is_none() {
                continue;
            }
            let (checksum, state) = if text {
                (StoredChecksum::Hex(r.get(2)), r.get(4))
            } else {
                let Ok(digest) = <[u8; 32]>::try_from(r.get::<_, &[u8]>(2)) else {
                    return Ok(None);
                };
                (
                    StoredChecksum::Digest(Checksum::from_bytes(digest)),
                    r.get::<_, Option<&str>>(4)
                        .unwrap_or(RowState::Applied.as_str()),
                )
            };
            out.push(StoredRow {
                version: r.get(0),
                name: r.get(1),
                checksum,
                phase: r.get(3),
                state,
                started_at_ms: unix_ms(r.get(5)),
                applied_at_ms: unix_ms(r.get(6)),
                duration_ms: from_db_ms(r.get(7)),
            })
            .map_err(|reason| self.bad_row(reason))?;
        }
        Ok(Some(out.finish()))
    }

    /// Decodes rows of the history query, or reads them again as stored
    /// when a checksum in them is not 32 bytes (to name the row).
    pub(super) async fn decode_or_reread(&mut self, rows: &[Row]) -> Result<History> {
        match self.decode(rows, false)? {
            Some(history) => Ok(history),
            None => self.load_text().await,
        }
    }

    /// After the history query failed on `error`, which says a checksum is
    /// not hex: checks the layout, then reads the rows as stored to name
    /// the bad one.
    pub(super) async fn reread(&mut self, error: &tokio_postgres::Error) -> Result<History> {
        tracing::debug!(%error, "history query refused a checksum; reading the rows as stored");
        if let TableState::Missing { .. } = self.catalog().await? {
            return Ok(History::default());
        }
        self.load_text().await
    }

    /// Reads the rows as stored and decodes them (the slow path, for a row
    /// the fast query cannot carry).
    pub(super) async fn load_text(&self) -> Result<History> {
        let sql = queries::rows_as_stored(&self.qualified);
        let rows = self
            .conn()
            .guarded(self.conn().client.query(&sql, &[]))
            .await
            .map_err(|e| {
                self.err(
                    format!("cannot read the history table {}", self.qualified),
                    e,
                )
            })?;
        match self.decode(&rows, true)? {
            Some(history) => Ok(history),
            None => Err(self.bad_row("the history table changed while it was read".into())),
        }
    }
}
