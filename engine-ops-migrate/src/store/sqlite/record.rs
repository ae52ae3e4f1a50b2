//! Writing history rows: each statement records one transition of the
//! ledger's table, guarded by the row's state; a statement that changes no
//! row (or an insert that finds one) is a refusal naming the state.

use rusqlite::{ErrorCode, OptionalExtension, params};

use super::store::SqliteStore;
use crate::error::{Error, Result};
use crate::store::ledger::{RowChange, Step};
use crate::store::sql::row::{db_version, ident, record_sql, refusal, state_sql};

impl SqliteStore {
    /// Runs the statement recording `step` for `version` (see
    /// [`record_sql`]): `columns` are its other columns, `params` its
    /// parameters after the version (`?2`, `?3`, ...). A statement that
    /// changes no row (or an insert that finds one) is a refusal naming the
    /// row's state.
    pub(super) fn record(
        &self,
        version: u64,
        step: Step,
        columns: &[(&str, &str)],
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<()> {
        let db_v = db_version(version)?;
        let sql = record_sql(&ident(&self.table), step, "?1", columns);
        let mut all: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(params.len() + 1);
        all.push(&db_v);
        all.extend_from_slice(params);
        match self.conn.execute(&sql, all.as_slice()) {
            Ok(1) => Ok(()),
            Ok(_) => Err(self.refused(version, step)),
            Err(e)
                if matches!(step.row_change(), RowChange::Insert(_))
                    && e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) =>
            {
                Err(self.refused(version, step))
            }
            Err(e) => Err(self.err(
                format!("cannot record {} for migration {version}", step.change()),
                e,
            )),
        }
    }

    /// The refusal of `step` for `version`, naming the row's state.
    pub(super) fn refused(&self, version: u64, step: Step) -> Error {
        let state: rusqlite::Result<Option<String>> = db_version(version)
            .map_err(|_| rusqlite::Error::QueryReturnedNoRows)
            .and_then(|v| {
                self.conn
                    .query_row(&state_sql(&ident(&self.table), "?1"), params![v], |r| {
                        r.get(0)
                    })
                    .optional()
            });
        match state {
            Ok(state) => match refusal(version, step, state.as_deref()) {
                Ok(r) => r.into_error(self.describe.clone()),
                Err(reason) => self.bad_row(reason),
            },
            Err(e) => self.err(
                format!("cannot read the state of migration {version} to report a refused change"),
                e,
            ),
        }
    }
}
