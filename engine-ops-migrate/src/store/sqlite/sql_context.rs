//! [`SqlContext`] for [`rusqlite::Connection`]: how a `SqlMigration`
//! runs on SQLite.

use rusqlite::Connection;

use crate::migration::BoxError;
use crate::store::sql::SqlContext;

impl crate::store::sql::sealed::Sealed for Connection {}

#[async_trait::async_trait]
impl SqlContext for Connection {
    async fn execute_batch(&mut self, sql: &str) -> Result<(), BoxError> {
        Connection::execute_batch(self, sql)?;
        Ok(())
    }

    async fn query_flag(&mut self, query: &str) -> Result<Option<bool>, BoxError> {
        Ok(self.query_row(query, [], |r| r.get(0))?)
    }

    fn sqlite(&mut self) -> Option<&mut Connection> {
        Some(self)
    }
}
