//! An in-memory state store for tests.
//!
//! It records and refuses exactly what the file store does (both keep their
//! history in the same model of record transitions, and check the same step
//! protocol), so a test on the memory store fails where the file store
//! would.

use std::fmt;

use super::ledger::{Ledger, Transition};
use super::session::{OpenStep, Session};
use crate::error::Result;
use crate::history::{History, InDoubt, ResolvedBy, Settlement, StepIntent};
use crate::store::StateStore;

/// A state store that keeps its history in memory, for tests and examples.
///
/// It holds the context `C` that migrations receive. By default it behaves
/// like a store without transactions (the file store): a failed step is
/// compensated with `down`. [`MemoryStore::transactional`] makes it behave
/// like a database instead: it snapshots the context (by `Clone`) when a
/// transactional step begins and restores the snapshot when the step is
/// aborted, so `down` is not needed to undo a failed step.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::MemoryStore;
///
/// let store = MemoryStore::with_context(vec!["users".to_string()]);
/// assert_eq!(store.context_ref().len(), 1);
/// ```
pub struct MemoryStore<C = ()> {
    context: C,
    ledger: Ledger,
    session: Session,
    snapshot: Option<fn(&C) -> C>,
    saved: Option<C>,
}

impl<C: fmt::Debug> fmt::Debug for MemoryStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("context", &self.context)
            .field("history", &self.ledger.history())
            .field("transactional", &self.snapshot.is_some())
            .field("locked", &self.session.is_locked())
            .finish()
    }
}

impl MemoryStore<()> {
    /// An empty store whose context is `()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let store = engine_ops_migrate::MemoryStore::new();
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_context(())
    }
}

impl Default for MemoryStore<()> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> MemoryStore<C> {
    /// An empty store handing `context` to migrations.
    ///
    /// # Examples
    ///
    /// ```
    /// let store = engine_ops_migrate::MemoryStore::with_context(0_u32);
    /// assert_eq!(*store.context_ref(), 0);
    /// ```
    #[must_use]
    pub fn with_context(context: C) -> Self {
        Self {
            context,
            ledger: Ledger::default(),
            session: Session::default(),
            snapshot: None,
            saved: None,
        }
    }

    /// Seeds the store with a history (for example one left by a crash),
    /// replacing what it held. A step in doubt while reverting that is
    /// settled as applied gets back its name, checksum and phase, but not
    /// its finish time or duration (0): a [`History`] does not carry them.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{History, MemoryStore};
    ///
    /// let store = MemoryStore::new().with_history(History::default());
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_history(mut self, history: History) -> Self {
        self.ledger = Ledger::from_history(history);
        self
    }

    /// The context.
    #[must_use]
    pub fn context_ref(&self) -> &C {
        &self.context
    }

    /// Takes the context back.
    #[must_use]
    pub fn into_context(self) -> C {
        self.context
    }

    /// Whether the lock is held.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.session.is_locked()
    }

    /// Ends a step left open by a cancelled operation: a transactional one
    /// is rolled back (its snapshot restored); a recorded intent stays in
    /// doubt.
    fn abandon(&mut self, step: Option<OpenStep>) {
        if step.is_some_and(|s| s.hidden)
            && let Some(saved) = self.saved.take()
        {
            self.context = saved;
        }
        self.saved = None;
    }
}

impl<C: Clone> MemoryStore<C> {
    /// A store that undoes failed transactional steps like a database does:
    /// it clones the context when such a step begins and puts the clone back
    /// when the step is aborted.
    ///
    /// # Examples
    ///
    /// ```
    /// let store = engine_ops_migrate::MemoryStore::transactional(Vec::<String>::new());
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn transactional(context: C) -> Self {
        let mut store = Self::with_context(context);
        store.snapshot = Some(C::clone);
        store
    }
}

const STORE: &str = "memory store";

#[async_trait::async_trait]
impl<C: Send> StateStore for MemoryStore<C> {
    type Context = C;

    fn describe(&self) -> String {
        STORE.to_owned()
    }

    async fn lock(&mut self) -> Result<()> {
        // The store is owned by one migrator: nobody else can hold the lock.
        let left_open = self.session.lock();
        self.abandon(left_open);
        Ok(())
    }

    async fn unlock(&mut self) -> Result<()> {
        let left_open = self.session.unlock();
        self.abandon(left_open);
        Ok(())
    }

    async fn load(&mut self) -> Result<History> {
        Ok(self.ledger.history())
    }

    fn context(&mut self) -> &mut C {
        &mut self.context
    }

    fn undoes_on_abort(&self, intent: &StepIntent) -> bool {
        self.snapshot.is_some() && intent.transactional
    }

    async fn begin(&mut self, intent: &StepIntent) -> Result<()> {
        self.session
            .check_begin(intent)
            .map_err(|v| v.into_error(STORE))?;
        let hidden = self.undoes_on_abort(intent);
        if hidden {
            self.saved = self.snapshot.map(|snap| snap(&self.context));
        } else {
            self.ledger
                .apply(Transition::Begin(intent.clone()))
                .map_err(|r| r.into_error(STORE))?;
        }
        self.session.begun(intent, hidden);
        Ok(())
    }

    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        let step = self
            .session
            .end(intent, true)
            .map_err(|v| v.into_error(STORE))?;
        let transition = if step.hidden {
            Transition::Commit {
                intent: intent.clone(),
                at_ms: finished_at_ms,
                duration_ms,
            }
        } else {
            Transition::Finish {
                direction: intent.direction,
                version: intent.version,
                at_ms: finished_at_ms,
                duration_ms,
            }
        };
        let recorded = self.ledger.apply(transition);
        if recorded.is_err() && step.hidden {
            // Like a database whose history insert fails: the transaction,
            // and the step's effects with it, roll back.
            self.abandon(Some(step));
        }
        self.saved = None;
        recorded.map_err(|r| r.into_error(STORE))
    }

    async fn abort(&mut self, intent: &StepIntent) -> Result<()> {
        let step = self
            .session
            .end(intent, false)
            .map_err(|v| v.into_error(STORE))?;
        if step.hidden {
            self.abandon(Some(step));
            return Ok(());
        }
        self.ledger
            .apply(Transition::Undo {
                direction: intent.direction,
                version: intent.version,
            })
            .map_err(|r| r.into_error(STORE))
    }

    async fn resolve(
        &mut self,
        doubt: &InDoubt,
        resolution: Settlement,
        _by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()> {
        self.session
            .check_resolve(doubt.version, resolution)
            .map_err(|v| v.into_error(STORE))?;
        self.ledger
            .apply(Transition::Resolve {
                version: doubt.version,
                resolution,
                at_ms,
            })
            .map_err(|r| r.into_error(STORE))
    }
}
