//! Every SQL text the PostgreSQL store sends of its own (the statements
//! that record history rows are rendered from the ledger's table by
//! [`record_sql`](crate::store::sql::row::record_sql); the step time
//! limits are in `step_limits.rs`).

use crate::store::ledger::RowState;
use crate::store::sql::row::{LAYOUT, ident};

/// The first half of every lock key: "EOMG" (engine-ops migrate).
pub(super) const LOCK_CLASS: i32 = 0x454F_4D47;

/// The history table's comment, before the layout number.
pub(super) const LAYOUT_MARKER: &str = "engine-ops-migrate history layout ";

/// Sent once per connection: lets the server notice a vanished client
/// during a long statement (PostgreSQL 14+; ignored by older servers),
/// and reads the schema unqualified names resolve to and the server
/// version. One round trip.
pub(super) const SESSION_SETUP: &str = "DO $$ BEGIN PERFORM set_config('client_connection_check_interval', '1000', false); \
     EXCEPTION WHEN undefined_object THEN NULL; END $$; \
     SELECT current_schema(), current_setting('server_version_num')";

/// Whether schema `$1` exists, and the comment of table `$2` in it (NULL:
/// no such table; empty: a table without comment).
pub(super) const CATALOG: &str = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
        (SELECT coalesce(d.description, '') FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_description d ON d.objoid = c.oid \
                AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 \
          WHERE n.nspname = $1 AND c.relname = $2)";

/// The history query on `table` (quoted, qualified; also its parameter
/// `$1`): one row with a NULL version carrying the table's comment (the
/// layout marker; absent when the table has no comment), then every
/// history row (unordered: [`History::new`](crate::History::new) sorts).
/// Layout and rows come from one statement, so from one snapshot and in
/// one request.
///
/// Shaped for the common row (applied, no phase): the checksum comes as
/// its 32 bytes (the server decodes the hex; the client need not), and
/// the state and start time, which only a step in doubt needs, come as
/// NULL for applied rows (a NULL costs the server no conversion and the
/// wire four bytes). A checksum that is not hex makes the server refuse
/// the query; the store then reads the rows as stored ([`rows_as_stored`])
/// to name the bad row.
pub(super) fn rows(table: &str) -> String {
    let applied = RowState::Applied.as_str();
    format!(
        "SELECT NULL::int8, d.description, NULL::bytea, NULL::text, NULL::text, \
                NULL::timestamptz, NULL::timestamptz, NULL::int8 \
           FROM pg_description d \
          WHERE d.objoid = to_regclass($1) \
            AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 \
         UNION ALL \
         SELECT version, name, decode(checksum, 'hex'), phase, \
                NULLIF(state, '{applied}'), \
                CASE WHEN state <> '{applied}' THEN started_at END, \
                applied_at, execution_ms \
           FROM {table}"
    )
}

/// The history query on `table` with the columns as stored, for
/// diagnostics.
pub(super) fn rows_as_stored(table: &str) -> String {
    format!(
        "SELECT version, name, checksum, phase, state, started_at, applied_at, execution_ms \
           FROM {table}"
    )
}

/// Creates the history table `table` (quoted, qualified) with its layout
/// marker, and first its schema `schema` unless it exists.
pub(super) fn create_table(table: &str, schema: &str, schema_exists: bool) -> String {
    let create_schema = if schema_exists {
        String::new()
    } else {
        format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident(schema))
    };
    format!(
        "{create_schema}CREATE TABLE {table} (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            phase text CHECK (phase IN ('expand', 'contract')),
            state text NOT NULL CHECK (state IN ('applied', 'applying', 'reverting')),
            transactional boolean NOT NULL,
            started_at timestamptz NOT NULL,
            applied_at timestamptz,
            execution_ms bigint,
            installed_by text NOT NULL DEFAULT current_user,
            resolved_by text
        );
        COMMENT ON TABLE {table} IS '{LAYOUT_MARKER}{LAYOUT}';"
    )
}

/// Takes the advisory lock `($1, $2)` if it is free.
pub(super) const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1, $2)";

/// Releases the advisory lock `($1, $2)`: false when this session did not
/// hold it.
pub(super) const UNLOCK: &str = "SELECT pg_advisory_unlock($1, $2)";

/// The session holding the advisory lock (class `$1`, object `$2`, as
/// unsigned `int8`s) in this database: pid, application, client address,
/// seconds since it connected.
pub(super) const HOLDER: &str = "SELECT l.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
        coalesce(extract(epoch FROM now() - a.backend_start)::int8, 0) \
   FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
    AND l.classid::int8 = $1 AND l.objid::int8 = $2 LIMIT 1";
