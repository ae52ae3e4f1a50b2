//! The run lock: a `BEGIN IMMEDIATE` transaction on a sibling lock
//! database, waited for with the stores' one policy ([`LockWait`]), its
//! holder's identity committed there, and probed without waiting.

use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use super::queries;
use super::store::SqliteStore;
use crate::error::{Error, Result};
use crate::store::LockProbe;
use crate::store::holder::{Holder, UNKNOWN_HOLDER};
use crate::store::lock_wait::LockWait;

impl SqliteStore {
    pub(super) async fn take_lock(&mut self) -> Result<()> {
        let Some(path) = self.lock_path.clone() else {
            self.locked = true;
            return Ok(());
        };
        let lock = match self.lock.take() {
            Some(c) => c,
            None => {
                let c = Connection::open(&path).map_err(|e| {
                    self.err(
                        format!("cannot open the lock database {}", path.display()),
                        e,
                    )
                })?;
                c.busy_timeout(Duration::ZERO)
                    .map_err(|e| self.err("cannot set up the lock database", e))?;
                c
            }
        };
        let mut wait = LockWait::start(self.lock_timeout, self.lock_poll_max, 0);
        let mut records_left = 3;
        loop {
            match lock.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => {
                    let ours = recorded_holder(&lock).is_some_and(|h| h.token == self.token);
                    if ours || records_left == 0 {
                        self.lock = Some(lock);
                        self.locked = true;
                        return Ok(());
                    }
                    // Record who holds it (what others read is what is
                    // committed), then take it again at once.
                    records_left -= 1;
                    record_holder(&lock, &Holder::me(&self.token));
                    continue;
                }
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
                Err(e) => {
                    return Err(self.err(format!("cannot lock {}", path.display()), e));
                }
            }
            if let Err(waited) = wait.pause().await {
                let holder = recorded_holder(&lock)
                    .map_or_else(|| UNKNOWN_HOLDER.to_owned(), |h| h.describe());
                self.lock = Some(lock);
                return Err(Error::LockTimeout {
                    lock: format!("{} (BEGIN IMMEDIATE), held by {holder}", path.display()),
                    waited,
                });
            }
        }
    }

    pub(super) fn release(&mut self) -> Result<()> {
        if !self.locked {
            return Ok(());
        }
        self.locked = false;
        let stuck = self.lock.as_ref().is_some_and(|lock| {
            if lock.is_autocommit() {
                return false;
            }
            // Clear the holder's identity as the lock goes (no such table:
            // nothing recorded; roll back instead).
            if lock.execute_batch(queries::CLEAR_HOLDER).is_err() && !lock.is_autocommit() {
                let _ = lock.execute_batch("ROLLBACK");
            }
            !lock.is_autocommit()
        });
        if stuck {
            // Closing the connection releases its file locks for sure.
            self.lock = None;
        }
        Ok(())
    }

    /// Whether another session holds the run lock, without waiting (see
    /// [`StateStore::probe_lock`](crate::StateStore::probe_lock)).
    pub(super) fn probe(&mut self) -> Result<LockProbe> {
        let Some(path) = self.lock_path.clone() else {
            // An in-memory database is private to this store.
            return Ok(LockProbe::Free);
        };
        if self.locked {
            // This store holds it (a cancelled operation left it so):
            // nobody else can, and nothing of this store is running.
            return Ok(LockProbe::Free);
        }
        // Never creates the lock database: none, no holder.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let probe = match Connection::open_with_flags(&path, flags) {
            Ok(c) => c,
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) => {
                return Ok(LockProbe::Free);
            }
            Err(e) => {
                return Err(self.err(
                    format!("cannot open the lock database {}", path.display()),
                    e,
                ));
            }
        };
        probe
            .busy_timeout(Duration::ZERO)
            .map_err(|e| self.err("cannot set up the lock database", e))?;
        match probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK") {
            Ok(()) => Ok(LockProbe::Free),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                // The holder's record is committed; wait a moment for a
                // commit in progress.
                let _ = probe.busy_timeout(Duration::from_millis(100));
                Ok(LockProbe::Held {
                    holder: recorded_holder(&probe)
                        .map_or_else(|| UNKNOWN_HOLDER.to_owned(), |h| h.describe()),
                })
            }
            Err(e) => Err(self.err(format!("cannot probe the lock {}", path.display()), e)),
        }
    }
}

/// The holder recorded in the lock database, if it can be read now.
fn recorded_holder(lock: &Connection) -> Option<Holder> {
    lock.query_row(queries::READ_HOLDER, [], |r| r.get::<_, String>(0))
        .ok()
        .and_then(|line| Holder::parse(&line))
}

/// Commits `holder` in the lock database, inside the `BEGIN IMMEDIATE`
/// the caller holds (which ends). Best effort: only messages use it.
fn record_holder(lock: &Connection, holder: &Holder) {
    let recorded = lock
        .execute_batch(queries::CREATE_HOLDER)
        .and_then(|()| lock.execute(queries::WRITE_HOLDER, params![holder.to_line()]))
        .and_then(|_| lock.execute_batch("COMMIT"));
    if recorded.is_err() && !lock.is_autocommit() {
        let _ = lock.execute_batch("ROLLBACK");
    }
}
