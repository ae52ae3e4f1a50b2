//! [`SqlContext`]: the databases a [`SqlMigration`] runs on, and how it
//! runs there (its [`Migration`] implementation). Each backend implements
//! `SqlContext` in its own folder.

use super::migration::SqlMigration;
use crate::migration::{BoxError, Migration, Validation};
use crate::phase::Phase;

/// A database context a [`SqlMigration`] can run on: the PostgreSQL step
/// context (`PgContext`, feature `postgres`), a SQLite
/// `rusqlite::Connection` (feature `sqlite`), or `dyn SqlContext`, which
/// [`AnyStore`](crate::AnyStore) hands out whatever the database.
///
/// A migration written in Rust for any database implements
/// `Migration<AnyContext>` ([`AnyContext`](crate::AnyContext) is `dyn
/// SqlContext`) and reaches the driver through [`postgres`](Self::postgres)
/// or [`sqlite`](Self::sqlite).
///
/// Sealed: the backends of this crate implement it.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{AnyContext, BoxError, Migration};
///
/// struct Backfill;
///
/// #[engine_ops_migrate::async_trait]
/// impl Migration<AnyContext> for Backfill {
///     fn version(&self) -> u64 { 4 }
///     fn name(&self) -> &str { "backfill" }
///     fn source(&self) -> &[u8] { b"UPDATE users SET email = lower(email)" }
///     async fn up(&self, db: &mut AnyContext) -> Result<(), BoxError> {
///         if let Some(pg) = db.postgres() {
///             pg.execute("UPDATE users SET email = lower(email)", &[]).await?;
///             return Ok(());
///         }
///         db.execute_batch("UPDATE users SET email = lower(email)").await
///     }
///     async fn down(&self, _db: &mut AnyContext) -> Result<(), BoxError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait SqlContext: Send + sealed::Sealed {
    /// Sends `sql` (one or more statements) as one request.
    ///
    /// # Errors
    ///
    /// The database's error.
    async fn execute_batch(&mut self, sql: &str) -> Result<(), BoxError>;

    /// Runs `query`, which returns one row with one boolean column (or NULL).
    ///
    /// # Errors
    ///
    /// The database's error, or a query that returns no row.
    async fn query_flag(&mut self, query: &str) -> Result<Option<bool>, BoxError>;

    /// The PostgreSQL step context, when the migration runs on PostgreSQL.
    #[cfg(feature = "postgres")]
    fn postgres(&mut self) -> Option<&mut crate::store::postgres::PgContext> {
        None
    }

    /// The SQLite connection, when the migration runs on SQLite.
    #[cfg(feature = "sqlite")]
    fn sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        None
    }
}

pub(crate) mod sealed {
    /// Keeps [`SqlContext`](super::SqlContext) to this crate's backends
    /// (each implements it in its own folder).
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// Runs a post-condition query, if there is one.
async fn check<C: SqlContext + ?Sized>(
    ctx: &mut C,
    query: Option<&str>,
) -> Result<Validation, BoxError> {
    let Some(query) = query else {
        return Ok(Validation::NotChecked);
    };
    let holds = ctx.query_flag(query).await?;
    Ok(Validation::check(
        holds == Some(true),
        format!("post-condition `{query}` returned {holds:?}"),
    ))
}

#[async_trait::async_trait]
impl<C: SqlContext + ?Sized> Migration<C> for SqlMigration {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source(&self) -> &[u8] {
        self.source.as_bytes()
    }
    fn phase(&self) -> Option<Phase> {
        self.phase
    }
    fn reversible(&self) -> bool {
        self.reversible
    }
    fn transactional(&self) -> bool {
        self.transactional
    }
    fn retry_safe(&self) -> bool {
        self.index.is_some()
    }
    fn as_sql(&self) -> Option<&SqlMigration> {
        Some(self)
    }
    async fn up(&self, ctx: &mut C) -> Result<(), BoxError> {
        if let Some(index) = &self.index {
            // A failed earlier attempt (or run) may have left the index
            // behind: an invalid one is dropped, a valid one kept.
            match ctx.query_flag(&index.state_query()).await? {
                Some(true) => return Ok(()),
                Some(false) => {
                    tracing::info!(version = self.version, drop = %index.drop, "dropping an invalid index left by a failed build");
                    ctx.execute_batch(&index.drop).await?;
                }
                None => {}
            }
        }
        for batch in &self.up {
            ctx.execute_batch(batch).await?;
        }
        Ok(())
    }
    async fn down(&self, ctx: &mut C) -> Result<(), BoxError> {
        if !self.reversible {
            return Err(format!("migration {} ({}) has no down", self.version, self.name).into());
        }
        for batch in &self.down {
            ctx.execute_batch(batch).await?;
        }
        Ok(())
    }
    async fn validate_up(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        check(ctx, self.validate_up.as_deref()).await
    }
    async fn validate_down(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        check(ctx, self.validate_down.as_deref()).await
    }
}
