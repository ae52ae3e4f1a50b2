//! Writing history rows: each statement records one transition of the
//! ledger's table, guarded by the row's state; a statement that changes no
//! row is a refusal naming the state. A step run in a transaction commits
//! its row with it (`commit_applied`, `commit_reverted`).

use std::time::SystemTime;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::conn::join2;
use super::store::PostgresStore;
use super::types::pg_time;
use crate::error::{Error, Result};
use crate::history::StepIntent;
use crate::migration::Direction;
use crate::store::ledger::{Refusal, RowChange, Step};
use crate::store::sql::row::{db_version, phase_str, record_sql, refusal, state_sql};

/// Whether `e` is an insert finding its row already there.
fn is_conflict(step: Step, e: &tokio_postgres::Error) -> bool {
    matches!(step.row_change(), RowChange::Insert(_))
        && e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl PostgresStore {
    /// Runs the statement recording `step` for `version` (see
    /// [`record_sql`]) outside a step transaction: `columns` are its other
    /// columns, `params` its parameters after the version (`$2`, `$3`,
    /// ...). A statement that changes no row (or an insert that finds one)
    /// is a refusal naming the row's state.
    pub(super) async fn record(
        &self,
        version: u64,
        step: Step,
        columns: &[(&str, &str)],
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<()> {
        let db_v = db_version(version)?;
        let sql = record_sql(&self.qualified, step, "$1", columns);
        let mut all: Vec<(&(dyn ToSql + Sync), Type)> = Vec::with_capacity(params.len() + 1);
        all.push((&db_v, Type::INT8));
        all.extend_from_slice(params);
        let changed = self
            .conn()
            .guarded(self.conn().client.execute_typed(&sql, &all))
            .await;
        match changed {
            Ok(1) => Ok(()),
            Ok(_) => Err(self.refused(version, step).await),
            Err(e) if is_conflict(step, &e) => Err(self.refused(version, step).await),
            Err(e) => Err(self.err(
                format!("cannot record {} for migration {version}", step.change()),
                e,
            )),
        }
    }

    /// The refusal of `step` for `version`, naming the row's state (read
    /// outside any step transaction).
    pub(super) async fn refused(&self, version: u64, step: Step) -> Error {
        let Ok(db_v) = db_version(version) else {
            return Refusal::new(version, step, None).into_error(self.describe.clone());
        };
        let sql = state_sql(&self.qualified, "$1");
        let row = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .query_typed_opt(&sql, &[(&db_v, Type::INT8)]),
            )
            .await;
        match row {
            Ok(row) => {
                let state: Option<String> = row.map(|r| r.get(0));
                match refusal(version, step, state.as_deref()) {
                    Ok(r) => r.into_error(self.describe.clone()),
                    Err(reason) => self.bad_row(reason),
                }
            }
            Err(e) => self.err(
                format!("cannot read the state of migration {version} to report a refused change"),
                e,
            ),
        }
    }

    /// Commits the transactional `up` step of `intent` with its history
    /// row: the prepared `INSERT` (prepared once per connection) and
    /// `COMMIT` in one round trip. If the `INSERT` fails, the server turns
    /// the `COMMIT` into a rollback, so the step's effects go with it.
    pub(super) async fn commit_applied(
        &mut self,
        intent: &StepIntent,
        version: i64,
        finished: SystemTime,
        took: i64,
    ) -> Result<()> {
        self.flush_begin().await?;
        if self.insert_applied.is_none() {
            let sql = record_sql(
                &self.qualified,
                Step::Commit(Direction::Up),
                "$1",
                &[
                    ("name", "$2"),
                    ("checksum", "$3"),
                    ("phase", "$4"),
                    ("transactional", "true"),
                    ("started_at", "$5"),
                    ("applied_at", "$6"),
                    ("execution_ms", "$7"),
                ],
            );
            let stmt = self
                .conn()
                .guarded(self.conn().client.prepare_typed(
                    &sql,
                    &[
                        Type::INT8,
                        Type::TEXT,
                        Type::TEXT,
                        Type::TEXT,
                        Type::TIMESTAMPTZ,
                        Type::TIMESTAMPTZ,
                        Type::INT8,
                    ],
                ))
                .await
                .map_err(|e| self.err("cannot prepare the history insert", e))?;
            self.insert_applied = Some(stmt);
        }
        let Some(stmt) = &self.insert_applied else {
            return Err(self.bad_row("insert statement missing".into()));
        };
        let checksum = intent.checksum.to_hex();
        let phase = phase_str(intent.phase);
        let started = pg_time(intent.started_at_ms);
        let params: [&(dyn ToSql + Sync); 7] = [
            &version,
            &intent.name,
            &checksum,
            &phase,
            &started,
            &finished,
            &took,
        ];
        // The row and COMMIT in one round trip. If the INSERT fails,
        // the server turns the COMMIT into a rollback, so the step's
        // effects go with it.
        let client = &self.conn().client;
        let (inserted, committed) = self
            .conn()
            .guarded(join2(
                client.execute(stmt, &params),
                client.batch_execute("COMMIT"),
            ))
            .await;
        match inserted {
            Err(e) if is_conflict(Step::Commit(Direction::Up), &e) => {
                return Err(self
                    .refused(intent.version, Step::Commit(Direction::Up))
                    .await);
            }
            Err(e) => {
                return Err(self.err(
                    format!(
                        "cannot record migration {} ({}); its transaction was rolled back",
                        intent.version, intent.name
                    ),
                    e,
                ));
            }
            Ok(_) => {}
        }
        committed.map_err(|e| {
            self.err(
                format!(
                    "cannot commit migration {} ({}); check the history table to see whether it was applied",
                    intent.version, intent.name
                ),
                e,
            )
        })?;
        Ok(())
    }

    /// Commits the transactional `down` step of `intent` with the removal
    /// of its history row; a row that is not there rolls the step back.
    pub(super) async fn commit_reverted(
        &mut self,
        intent: &StepIntent,
        version: i64,
    ) -> Result<()> {
        self.flush_begin().await?;
        let sql = record_sql(&self.qualified, Step::Commit(Direction::Down), "$1", &[]);
        let deleted = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .execute_typed(&sql, &[(&version, Type::INT8)]),
            )
            .await;
        let ok = matches!(deleted, Ok(1));
        let end = if ok { "COMMIT" } else { "ROLLBACK" };
        let ended = self
            .conn()
            .guarded(self.conn().client.batch_execute(end))
            .await;
        match deleted {
            Err(e) => {
                return Err(self.err(
                    format!(
                        "cannot record the revert of migration {}; its transaction was rolled back",
                        intent.version
                    ),
                    e,
                ));
            }
            Ok(1) => {}
            Ok(_) => {
                // The revert's effects went with the rollback.
                return Err(self
                    .refused(intent.version, Step::Commit(Direction::Down))
                    .await);
            }
        }
        ended.map_err(|e| self.err("cannot commit the revert", e))?;
        Ok(())
    }
}
