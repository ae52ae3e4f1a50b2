//! Lock-safe steps on PostgreSQL: the statements that put a step's time
//! limits in force, the recognition of a lock timeout, and the query that
//! names the sessions a timed-out attempt waited for.
//!
//! The schedule itself is pure and lives in [`crate::retry`]; the store's
//! step protocol (`begin`, `retry_step`, `commit`, `abort` in the parent
//! module) calls these helpers.

use std::time::Duration;

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::{Blocker, BoxError, StepTimeouts};

/// The first server version with `transaction_timeout`.
const TRANSACTION_TIMEOUT_SINCE: u32 = 170_000;

/// How many blocking sessions an attempt's record names at most.
const MAX_BLOCKERS: usize = 5;

/// A duration as a PostgreSQL setting value in milliseconds (`'250ms'`);
/// `0` turns the limit off.
fn setting(limit: Option<Duration>) -> String {
    let ms = limit.map_or(0, |d| d.as_millis().max(1));
    format!("'{ms}ms'")
}

/// The `SET` statements that put attempt `attempt`'s limits in force:
/// `SET LOCAL` inside a step transaction (`local`), plain `SET` for a
/// non-transactional step's session. Empty when no limit is configured.
pub(super) fn limits_sql(
    timeouts: &StepTimeouts,
    attempt: usize,
    server_version: u32,
    local: bool,
) -> String {
    let set = if local { "SET LOCAL" } else { "SET" };
    let mut sql = String::new();
    if let Some(schedule) = timeouts.lock_schedule() {
        let lock = schedule.attempt(attempt).flatten();
        sql.push_str(&format!("; {set} lock_timeout = {}", setting(lock)));
    }
    if let Some(limit) = timeouts.statement_limit() {
        sql.push_str(&format!(
            "; {set} statement_timeout = {}",
            setting(Some(limit))
        ));
    }
    if let Some(limit) = timeouts.transaction_limit() {
        if server_version >= TRANSACTION_TIMEOUT_SINCE {
            sql.push_str(&format!(
                "; {set} transaction_timeout = {}",
                setting(Some(limit))
            ));
        } else {
            tracing::debug!(
                server_version,
                "transaction_timeout needs PostgreSQL 17; not set"
            );
        }
    }
    sql
}

/// `BEGIN` and attempt `attempt`'s `SET LOCAL`s, as one request.
pub(super) fn begin_sql(timeouts: &StepTimeouts, attempt: usize, server_version: u32) -> String {
    format!(
        "BEGIN{}",
        limits_sql(timeouts, attempt, server_version, true)
    )
}

/// The session settings of a non-transactional step's attempt (`None`:
/// nothing to set).
pub(super) fn session_sql(
    timeouts: &StepTimeouts,
    attempt: usize,
    server_version: u32,
) -> Option<String> {
    let sql = limits_sql(timeouts, attempt, server_version, false);
    sql.strip_prefix("; ").map(str::to_owned)
}

/// What undoes [`session_sql`].
pub(super) fn reset_sql(timeouts: &StepTimeouts, server_version: u32) -> String {
    let mut parts = Vec::new();
    if timeouts.lock_schedule().is_some() {
        parts.push("RESET lock_timeout");
    }
    if timeouts.statement_limit().is_some() {
        parts.push("RESET statement_timeout");
    }
    if timeouts.transaction_limit().is_some() && server_version >= TRANSACTION_TIMEOUT_SINCE {
        parts.push("RESET transaction_timeout");
    }
    parts.join("; ")
}

/// The SQLSTATE of a lock timeout found anywhere in `cause`'s chain
/// (`55P03`, lock not available), else `None`.
pub(super) fn lock_timeout_state(cause: &BoxError) -> Option<&'static str> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&**cause);
    while let Some(err) = next {
        if let Some(pg) = err.downcast_ref::<tokio_postgres::Error>()
            && pg.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
        {
            return Some("55P03");
        }
        next = err.source();
    }
    None
}

/// The sessions holding locks on user relations of this database whose
/// transaction is at least `$1` seconds old (as old as the attempt's
/// wait): the ones a timed-out attempt most likely queued behind. Tables
/// of the session's `search_path` first (what the step's unqualified names
/// reach), then tables before indexes, then the oldest transaction first.
pub(super) const BLOCKERS_SQL: &str = "\
SELECT l.pid, l.mode, l.relation::regclass::text, \
       (extract(epoch FROM now() - a.xact_start) * 1000)::int8, \
       a.state, coalesce(a.application_name, ''), left(coalesce(a.query, ''), 120) \
  FROM pg_locks l \
  JOIN pg_stat_activity a ON a.pid = l.pid \
  JOIN pg_class c ON c.oid = l.relation \
 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() \
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
   AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) \
   AND a.xact_start <= now() - make_interval(secs => $1) \
 ORDER BY (c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY (current_schemas(false)))) DESC, \
          (c.relkind IN ('r', 'p')) DESC, a.xact_start, l.pid \
 LIMIT 50";

/// One [`Blocker`] per session (its first row: a table lock before an
/// index lock), at most [`MAX_BLOCKERS`].
pub(super) fn blockers(rows: &[Row]) -> Vec<Blocker> {
    let mut out: Vec<Blocker> = Vec::new();
    for r in rows {
        let pid: i32 = r.get(0);
        if out.iter().any(|b| b.pid == pid) {
            continue;
        }
        if out.len() == MAX_BLOCKERS {
            break;
        }
        out.push(Blocker {
            pid,
            mode: r.get(1),
            relation: r.get(2),
            xact_age_ms: r
                .get::<_, Option<i64>>(3)
                .and_then(|v| u64::try_from(v).ok()),
            state: r.get(4),
            application_name: r.get(5),
            query: r.get(6),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LockRetry;

    #[test]
    fn every_attempt_sets_its_own_lock_timeout_locally() {
        let t = StepTimeouts::default()
            .lock(LockRetry::schedule([
                (Duration::from_millis(100), Duration::ZERO),
                (Duration::from_millis(250), Duration::ZERO),
            ]))
            .statement(Duration::from_secs(15))
            .transaction(Duration::from_secs(60));
        assert_eq!(
            begin_sql(&t, 1, 150_018),
            "BEGIN; SET LOCAL lock_timeout = '250ms'; SET LOCAL statement_timeout = '15000ms'"
        );
        assert_eq!(
            begin_sql(&t, 0, 170_000),
            "BEGIN; SET LOCAL lock_timeout = '100ms'; SET LOCAL statement_timeout = '15000ms'; SET LOCAL transaction_timeout = '60000ms'"
        );
        assert_eq!(
            session_sql(&t, 0, 150_018).as_deref(),
            Some("SET lock_timeout = '100ms'; SET statement_timeout = '15000ms'")
        );
        assert_eq!(
            reset_sql(&t, 170_000),
            "RESET lock_timeout; RESET statement_timeout; RESET transaction_timeout"
        );
        assert_eq!(begin_sql(&StepTimeouts::unlimited(), 0, 170_000), "BEGIN");
        assert_eq!(session_sql(&StepTimeouts::unlimited(), 0, 170_000), None);
    }

    #[test]
    fn the_final_attempt_without_timeout_turns_the_lock_timeout_off() {
        let t = StepTimeouts::default().lock(
            LockRetry::once(Duration::from_millis(50))
                .final_attempt(crate::FinalAttempt::WithoutTimeout),
        );
        assert_eq!(
            begin_sql(&t, 1, 150_000),
            "BEGIN; SET LOCAL lock_timeout = '0ms'"
        );
    }

    #[test]
    fn other_errors_are_not_lock_timeouts() {
        let plain: BoxError = "canceling statement due to lock timeout".into();
        assert_eq!(lock_timeout_state(&plain), None);
    }
}
