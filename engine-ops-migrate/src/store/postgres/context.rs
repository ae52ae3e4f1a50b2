//! [`PgContext`]: what PostgreSQL migrations run with, the store's
//! connection inside the step's transaction, with the cancellation guard
//! and the step's deferred `BEGIN`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, ToStatement};

use super::conn::{Conn, join2};

/// The context PostgreSQL migrations run with: the store's connection,
/// inside the step's transaction (or outside any, for a non-transactional
/// step and for validators settling a step in doubt).
///
/// Its request methods mirror [`tokio_postgres::Client`]'s and add a guard:
/// if a request's future is dropped before it completes (the run was
/// cancelled, or a panic unwound through it), the running query is
/// cancelled and the connection closed, so the server rolls the step back
/// and releases the migration lock at once. [`client`](Self::client) gives
/// the raw client for everything else (without that guard).
///
/// Do not end the step's transaction yourself (`COMMIT`, `ROLLBACK`): the
/// store commits the history row with it.
///
/// # Examples
///
/// ```no_run
/// use engine_ops_migrate::{BoxError, Migration, Validation};
/// use engine_ops_migrate::store::postgres::PgContext;
///
/// struct Backfill;
///
/// #[async_trait::async_trait]
/// impl Migration<PgContext> for Backfill {
///     fn version(&self) -> u64 { 7 }
///     fn name(&self) -> &str { "backfill_emails" }
///     fn source(&self) -> &[u8] { include_bytes!("context.rs") }
///     async fn up(&self, db: &mut PgContext) -> Result<(), BoxError> {
///         db.execute("UPDATE users SET email = lower(email) WHERE email <> lower(email)", &[]).await?;
///         Ok(())
///     }
///     async fn down(&self, _db: &mut PgContext) -> Result<(), BoxError> {
///         Ok(())
///     }
///     async fn validate_up(&self, db: &mut PgContext) -> Result<Validation, BoxError> {
///         let row = db.query_one("SELECT count(*) FROM users WHERE email <> lower(email)", &[]).await?;
///         Ok(Validation::check(row.get::<_, i64>(0) == 0, "upper-case emails remain"))
///     }
/// }
/// ```
pub struct PgContext {
    pub(super) conn: Conn,
    /// A transactional step's `BEGIN` not sent yet: it goes out with the
    /// step's first request, in the same round trip.
    pub(super) pending_begin: AtomicBool,
    /// What the deferred `BEGIN` sends: `BEGIN` and the attempt's `SET
    /// LOCAL` time limits.
    pub(super) begin_sql: String,
}

impl fmt::Debug for PgContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgContext")
            .field("closed", &self.conn.is_dead())
            .finish()
    }
}

impl PgContext {
    pub(super) fn new(conn: Conn) -> Self {
        Self {
            conn,
            pending_begin: AtomicBool::new(false),
            begin_sql: "BEGIN".into(),
        }
    }

    /// Runs `request` under the cancellation guard, preceded in the same
    /// round trip by the step's deferred `BEGIN` if it is still pending.
    /// (A request is written to the connection when its future is first
    /// polled, and [`join2`] polls `BEGIN` first.)
    pub(super) async fn run<T>(
        &self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        if self.pending_begin.swap(false, Ordering::SeqCst) {
            let (begun, out) = self
                .conn
                .guarded(join2(
                    self.conn.client.batch_execute(&self.begin_sql),
                    request,
                ))
                .await;
            begun?;
            out
        } else {
            self.conn.guarded(request).await
        }
    }

    /// The raw client, for everything the methods below do not cover.
    /// Requests through it have no cancellation guard. Awaiting this first
    /// sends the step's deferred `BEGIN`, so the client is inside the step's
    /// transaction.
    ///
    /// # Errors
    ///
    /// The database's error for `BEGIN`.
    pub async fn client(&self) -> Result<&Client, tokio_postgres::Error> {
        if self.pending_begin.load(Ordering::SeqCst) {
            self.run(async { Ok(()) }).await?;
        }
        Ok(&self.conn.client)
    }

    /// [`Client::batch_execute`]: runs one or more statements, separated by
    /// `;`, as one request (simple query protocol).
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.run(self.conn.client.batch_execute(sql)).await
    }

    /// [`Client::execute`]: runs one statement with parameters, returns the
    /// number of rows it changed.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn execute<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.execute(statement, params)).await
    }

    /// [`Client::query`]: runs a query, returns its rows.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.query(statement, params)).await
    }

    /// [`Client::query_one`]: runs a query that returns exactly one row.
    ///
    /// # Errors
    ///
    /// The database's error, or not exactly one row.
    pub async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.query_one(statement, params))
            .await
    }

    /// [`Client::query_opt`]: runs a query that returns at most one row.
    ///
    /// # Errors
    ///
    /// The database's error, or more than one row.
    pub async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement,
    {
        self.run(self.conn.client.query_opt(statement, params))
            .await
    }
}
