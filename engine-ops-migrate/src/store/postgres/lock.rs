//! The migration lock: a session advisory lock on the store's connection,
//! waited for with the stores' one policy ([`LockWait`]), released at the
//! end of every operation, and who holds it (from `pg_locks`).

use std::time::Duration;

use tokio_postgres::types::Type;

use super::queries;
use super::store::PostgresStore;
use crate::error::{Error, Result};
use crate::store::lock_wait::LockWait;

impl PostgresStore {
    pub(super) async fn take_lock(&mut self) -> Result<()> {
        let (k1, k2) = self.lock_key;
        let mut wait = LockWait::start(
            self.lock_timeout,
            self.lock_poll_max,
            u64::from(k2.cast_unsigned()),
        );
        let mut reported = false;
        loop {
            let got =
                self.conn()
                    .guarded(self.conn().client.query_typed_one(
                        queries::TRY_LOCK,
                        &[(&k1, Type::INT4), (&k2, Type::INT4)],
                    ))
                    .await
                    .map_err(|e| self.err("cannot take the migration lock", e))?;
            if got.get::<_, bool>(0) {
                self.locked = true;
                return Ok(());
            }
            if !reported && wait.waited() >= Duration::from_secs(1) {
                reported = true;
                let holder = self.holder_text().await;
                tracing::info!(
                    lock = %format!("({k1}, {k2})"),
                    table = %self.qualified,
                    "waiting for the migration lock{holder}"
                );
            }
            if let Err(waited) = wait.pause().await {
                let holder = self.holder_text().await;
                return Err(Error::LockTimeout {
                    lock: format!("advisory lock ({k1}, {k2}) of {}{holder}", self.describe),
                    waited,
                });
            }
        }
    }

    pub(super) async fn release(&mut self) -> Result<()> {
        if !self.locked {
            return Ok(());
        }
        self.locked = false;
        let (k1, k2) = self.lock_key;
        let unlocked = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .query_typed_one(queries::UNLOCK, &[(&k1, Type::INT4), (&k2, Type::INT4)]),
            )
            .await;
        match unlocked {
            Ok(row) if row.get::<_, bool>(0) => Ok(()),
            Ok(_) => {
                // Not held by this session any more (the session was reset by
                // hand?): end the session so nothing can linger.
                self.conn().kill();
                Ok(())
            }
            Err(e) => {
                // Closing the session releases the lock for sure.
                tracing::warn!(error = %e, "unlock failed; closing the migration connection instead");
                self.conn().kill();
                Ok(())
            }
        }
    }

    /// The session holding the lock (`backend pid 123 (application
    /// "migrate", from 10.0.0.7, connected 4 s ago)`), read from `pg_locks`
    /// without taking it; `None` when nobody holds it.
    pub(super) async fn holder(&self) -> Result<Option<String>> {
        let (k1, k2) = self.lock_key;
        let class = i64::from(k1.cast_unsigned());
        let obj = i64::from(k2.cast_unsigned());
        let row = self
            .conn()
            .guarded(
                self.conn()
                    .client
                    .query_typed_opt(queries::HOLDER, &[(&class, Type::INT8), (&obj, Type::INT8)]),
            )
            .await
            .map_err(|e| self.err("cannot read who holds the migration lock", e))?;
        Ok(row.map(|r| {
            format!(
                "backend pid {} (application {:?}, from {}, connected {} s ago)",
                r.get::<_, i32>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, i64>(3)
            )
        }))
    }

    /// [`holder`](Self::holder) for messages.
    pub(super) async fn holder_text(&self) -> String {
        match self.holder().await {
            Ok(Some(holder)) => format!(", held by {holder}"),
            _ => String::new(),
        }
    }
}
