//! [`SqlContext`] for [`PgContext`]: how a `SqlMigration` runs on
//! PostgreSQL. In its own file so that the trait, which names `PgContext`,
//! and this implementation do not import each other.

use super::context::PgContext;
use crate::migration::BoxError;
use crate::store::sql::SqlContext;

impl crate::store::sql::sealed::Sealed for PgContext {}

#[async_trait::async_trait]
impl SqlContext for PgContext {
    async fn execute_batch(&mut self, sql: &str) -> Result<(), BoxError> {
        self.batch_execute(sql).await?;
        Ok(())
    }

    async fn query_flag(&mut self, query: &str) -> Result<Option<bool>, BoxError> {
        Ok(self.query_one(query, &[]).await?.try_get(0)?)
    }

    fn postgres(&mut self) -> Option<&mut PgContext> {
        Some(self)
    }
}
