//! State stores: where the migrator records what it applied.
//!
//! A store implements [`StateStore`]. The migrator drives every step through
//! the same protocol, and the store decides how much of it is atomic:
//!
//! 1. [`begin`](StateStore::begin) with the [`StepIntent`]. A database backend
//!    opens its transaction here (or, for a non-transactional step, commits an
//!    intent row); the file store appends and fsyncs an intent record before
//!    any effect can happen.
//! 2. The migration's `up` (or `down`) and then its validator run with
//!    [`context`](StateStore::context).
//! 3. On success, [`commit`](StateStore::commit): a database writes the
//!    history row and commits, so effect and record land together; the file
//!    store appends the completion record.
//! 4. On failure, the migrator asks [`undoes_on_abort`](StateStore::undoes_on_abort).
//!    If the store can discard the step's effects itself (a transaction), the
//!    migrator calls [`abort`](StateStore::abort) and is done. Otherwise it
//!    first compensates with the migration's `down` (and `validate_down`),
//!    and calls `abort` only if that worked; if it did not, the intent stays
//!    unfinished and the step is *in doubt*.
//!
//! A crash between 1 and 3 leaves an unfinished intent: [`load`](StateStore::load)
//! reports it in [`History::in_doubt`] until the migrator (through the
//! migration's validator) or an operator settles it with
//! [`resolve`](StateStore::resolve).
//!
//! # What a record may become
//!
//! Every store of this crate checks each write against one model. Per
//! version a store records nothing (not applied), an applied record, or a
//! step in doubt (an `up` that started, or a `down` of an applied migration
//! that started; the latter keeps the applied record's name and checksum):
//!
//! | call | from | to |
//! |---|---|---|
//! | `begin` (intent recorded) up / down | not applied / applied | in doubt |
//! | `commit` of that step, up / down | in doubt | applied / not applied |
//! | `abort` of that step, up / down | in doubt | not applied / applied |
//! | `commit` of a step run in a transaction, up / down | not applied / applied | applied / not applied |
//! | `resolve` as applied / not applied | in doubt | applied / not applied |
//!
//! and the protocol around it: writes need the lock; one step at a time;
//! `commit` and `abort` end the step that was begun (and end it whether
//! they succeed or not); `resolve` runs outside a step; `lock` and `unlock`
//! abandon a step a cancelled operation left open (a transaction is rolled
//! back, a recorded intent stays in doubt). A write the record does not
//! allow fails with [`Error::Refused`](crate::Error::Refused) (naming the
//! version, its state and the change), a call out of protocol with
//! [`Error::ProtocolViolation`](crate::Error::ProtocolViolation); either
//! way nothing is recorded. The in-memory store, the file store and the
//! database stores are tested against each other on random call sequences,
//! so a test on the memory store fails where the others would.
//!
//! # Implementing a database backend
//!
//! - `Context` is an owned wrapper (for example a dedicated connection): the
//!   migrator borrows it mutably for each call and never keeps it.
//! - `lock` takes a lock that cannot outlive the process or the connection
//!   (a session advisory lock on a dedicated connection, `BEGIN IMMEDIATE`),
//!   polled up to a timeout; `unlock` releases it, and so must `Drop`.
//! - `load` returns the whole history in a bounded number of round trips.
//! - [`probe_lock`](StateStore::probe_lock) says, without waiting, whether
//!   another session holds the lock (and who), so readers show a step that
//!   is running as running rather than in doubt.
//! - `begin`: for an intent with `transactional == true`, open a
//!   transaction on the context's connection and return `true` from
//!   `undoes_on_abort`; otherwise commit an intent row first.
//! - `commit`: write (or delete, for `down`) the history row in the same
//!   transaction and commit it; for a non-transactional step, mark the
//!   intent row complete.
//! - `abort`: roll the transaction back (or, after the migrator compensated a
//!   non-transactional step, delete the intent row).
//! - Refuse what the model above refuses, with the same errors: guard each
//!   statement by the row's state (`UPDATE … WHERE version = $1 AND state =
//!   'applying'`) and treat "no row changed" as a refusal.
//! - [`context`](StateStore::context) must also work outside a step:
//!   validators that settle steps in doubt run there.

pub mod any;
pub mod file;
pub(crate) mod holder;
pub(crate) mod ledger;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::time::Duration;

use crate::{BoxError, History, InDoubt, LockAttempt, Resolution, ResolvedBy, Result, StepIntent};

/// What [`StateStore::probe_lock`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockProbe {
    /// Nobody else holds the lock.
    Free,
    /// Another session holds it: a migrator is at work.
    Held {
        /// Who, as far as the store can tell (a process and host, a
        /// database session).
        holder: String,
    },
    /// The store cannot tell without waiting.
    Unknown,
}

/// A place that records migration state and runs steps.
///
/// Implemented by [`FileStore`](crate::FileStore) and
/// [`MemoryStore`](crate::MemoryStore); database backends implement it with
/// their transaction as [`Context`](Self::Context). See the
/// [module docs](self) for the step protocol.
///
/// # Examples
///
/// A store is used through a [`Migrator`](crate::Migrator), but its methods
/// can be called directly:
///
/// ```
/// use engine_ops_migrate::{MemoryStore, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut store = MemoryStore::new();
/// let history = store.load().await?;
/// assert!(history.applied.is_empty());
/// # Ok::<_, engine_ops_migrate::Error>(())
/// # }).unwrap();
/// ```
#[async_trait::async_trait]
pub trait StateStore: Send {
    /// What the store hands to migrations: the application's handle for the
    /// file and memory stores, a transaction for a database,
    /// [`AnyContext`](crate::AnyContext) for [`AnyStore`](crate::AnyStore).
    type Context: Send + ?Sized;

    /// A short description for messages (a path, a table name).
    fn describe(&self) -> String;

    /// Takes the store's exclusive cross-process lock for a whole run,
    /// waiting up to the store's configured timeout.
    ///
    /// # Errors
    ///
    /// [`Error::LockTimeout`](crate::Error::LockTimeout) naming the lock when
    /// it stays taken; I/O or backend errors.
    async fn lock(&mut self) -> Result<()>;

    /// Releases the lock taken by [`lock`](Self::lock). Also released when
    /// the store is dropped.
    ///
    /// # Errors
    ///
    /// I/O or backend errors while making the last records durable.
    async fn unlock(&mut self) -> Result<()>;

    /// Whether another session holds the lock right now, without waiting
    /// for it (and without holding it for more than a moment); a lock this
    /// store holds itself counts as free. Readers use it to tell a step
    /// that is running from one a crash left in doubt: both look the same
    /// in the history. The default says [`LockProbe::Unknown`], so such
    /// steps are reported in doubt.
    ///
    /// # Errors
    ///
    /// I/O or backend errors.
    async fn probe_lock(&mut self) -> Result<LockProbe> {
        Ok(LockProbe::Unknown)
    }

    /// Reads the history. Never modifies the store.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`](crate::Error::Corrupt) for damaged state,
    /// [`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat),
    /// [`Error::ForeignStore`](crate::Error::ForeignStore), I/O or
    /// backend errors.
    async fn load(&mut self) -> Result<History>;

    /// The context migrations run with.
    fn context(&mut self) -> &mut Self::Context;

    /// Whether [`abort`](Self::abort) discards the effects of the step
    /// described by `intent` by itself (a database transaction). When
    /// `false`, the migrator compensates with the migration's `down` first.
    fn undoes_on_abort(&self, intent: &StepIntent) -> bool;

    /// Starts a step. Called with the lock held.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`](crate::Error::Refused) when the record does not
    /// allow the step (applying an applied migration, reverting one that is
    /// not applied), [`Error::ProtocolViolation`](crate::Error::ProtocolViolation)
    /// without the lock or while another step is open; I/O or backend
    /// errors. Nothing has run yet.
    async fn begin(&mut self, intent: &StepIntent) -> Result<()>;

    /// After the open step's body failed with `cause`, `elapsed` into the
    /// attempt: whether the failure was a lock timeout the store retries
    /// (see [`LockRetry`](crate::LockRetry)).
    ///
    /// - `None`: not a lock timeout (or the store does not retry); the
    ///   migrator fails the step as usual.
    /// - `Some` with [`pause_ms`](LockAttempt::pause_ms) set: the store has
    ///   undone the attempt (rolled its transaction back, history row
    ///   included) and set up the next one; the step stays open, and the
    ///   migrator runs its body again after the pause.
    /// - `Some` without a pause: the schedule is exhausted (or `may_retry`
    ///   is `false`: a non-transactional step whose migration is not
    ///   [`retry_safe`](crate::Migration::retry_safe)); the record goes into
    ///   the failure, and the migrator undoes and ends the step as usual.
    ///
    /// The default never retries.
    ///
    /// # Errors
    ///
    /// Backend errors while rolling back or reading the blockers.
    async fn retry_step(
        &mut self,
        intent: &StepIntent,
        cause: &BoxError,
        elapsed: Duration,
        may_retry: bool,
    ) -> Result<Option<LockAttempt>> {
        let _ = (intent, cause, elapsed, may_retry);
        Ok(None)
    }

    /// Finishes a step that succeeded: records `intent.version` as applied
    /// (direction up) or as no longer applied (direction down).
    ///
    /// # Errors
    ///
    /// [`Error::ProtocolViolation`](crate::Error::ProtocolViolation) when
    /// `intent` is not the open step; [`Error::Refused`](crate::Error::Refused)
    /// when the record does not allow it (the step's transaction, if it
    /// has one, is rolled back); I/O or backend errors (the step is then in
    /// doubt, or rolled back with its transaction).
    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()>;

    /// Finishes a step whose effects are gone: the version keeps the state it
    /// had before [`begin`](Self::begin).
    ///
    /// # Errors
    ///
    /// [`Error::ProtocolViolation`](crate::Error::ProtocolViolation) when
    /// `intent` is not the open step; I/O or backend errors (the step is
    /// then in doubt).
    async fn abort(&mut self, intent: &StepIntent) -> Result<()>;

    /// Settles a step in doubt as applied or not applied.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`](crate::Error::Refused) when `doubt.version` is not
    /// in doubt, [`Error::ProtocolViolation`](crate::Error::ProtocolViolation)
    /// without the lock or inside a step; I/O or backend errors.
    async fn resolve(
        &mut self,
        doubt: &InDoubt,
        resolution: Resolution,
        by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()>;
}
