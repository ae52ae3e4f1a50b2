//! Progress events: what the migrator tells an [`Observer`] and `tracing`
//! as it goes.

use std::sync::Arc;
use std::time::Duration;

use crate::migration::Direction;
use crate::report::ResolvedStep;
use crate::retry::LockAttempt;
use crate::time::millis;

/// A progress event, sent to the [`Observer`] and to `tracing`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// A step is about to run.
    Started {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
    },
    /// A step finished and was recorded.
    Finished {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
        /// Time in the migration and its validator.
        duration: Duration,
    },
    /// A step failed (it is undone next, if it can be).
    Failed {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
        /// The failure.
        error: String,
    },
    /// An attempt of a step gave up waiting for a lock and was rolled
    /// back; [`LockAttempt::pause_ms`] says when the next one starts (none:
    /// the schedule is exhausted and the step fails).
    LockTimeout {
        /// Version.
        version: u64,
        /// Name.
        name: String,
        /// Direction.
        direction: Direction,
        /// The attempt: its lock timeout, wait, SQLSTATE and blockers.
        attempt: LockAttempt,
    },
    /// A step in doubt was settled.
    Resolved(ResolvedStep),
}

/// Receives [`Progress`] events; any `Fn(&Progress) + Send + Sync` is one.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{MemoryStore, Migrator, Progress};
///
/// let migrator = Migrator::<MemoryStore>::builder(MemoryStore::new())
///     .observer(|event: &Progress| {
///         if let Progress::Finished { version, name, duration, .. } = event {
///             println!("{version} {name} {duration:?}");
///         }
///     })
///     .build();
/// assert!(migrator.is_ok());
/// ```
pub trait Observer: Send + Sync {
    /// Called for each event, in order.
    fn on_progress(&self, event: &Progress);
}

impl<F: Fn(&Progress) + Send + Sync> Observer for F {
    fn on_progress(&self, event: &Progress) {
        self(event);
    }
}

/// Sends `event` to `tracing` and the observer.
pub(crate) fn emit_to(observer: Option<&Arc<dyn Observer>>, event: Progress) {
    match &event {
        Progress::Started {
            version,
            name,
            direction,
        } => {
            tracing::debug!(version, name = %name, %direction, "migration step started");
        }
        Progress::Finished {
            version,
            name,
            direction,
            duration,
        } => {
            tracing::info!(version, name = %name, %direction, duration_ms = millis(*duration), "migration step finished");
        }
        Progress::Failed {
            version,
            name,
            direction,
            error,
        } => {
            tracing::warn!(version, name = %name, %direction, error = %error, "migration step failed");
        }
        Progress::LockTimeout {
            version,
            name,
            direction,
            attempt,
        } => {
            tracing::warn!(
                version,
                name = %name,
                %direction,
                attempt = attempt.attempt,
                lock_timeout_ms = attempt.lock_timeout_ms,
                waited_ms = attempt.waited_ms,
                sqlstate = %attempt.sqlstate,
                blockers = ?attempt.blockers.iter().map(|b| b.pid).collect::<Vec<_>>(),
                pause_ms = attempt.pause_ms,
                "migration step gave up waiting for a lock: {attempt}"
            );
        }
        Progress::Resolved(r) => {
            tracing::info!(version = r.version, name = %r.name, resolution = ?r.resolution, by = ?r.by, "in-doubt step settled");
        }
    }
    if let Some(observer) = observer {
        observer.on_progress(&event);
    }
}
