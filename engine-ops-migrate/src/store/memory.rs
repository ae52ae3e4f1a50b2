//! An in-memory state store for tests.

use std::collections::BTreeMap;
use std::fmt;

use crate::{
    AppliedMigration, Direction, History, InDoubt, Resolution, ResolvedBy, Result, StateStore,
    StepIntent,
};

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
    entries: BTreeMap<u64, Entry>,
    snapshot: Option<fn(&C) -> C>,
    saved: Option<C>,
    locked: bool,
}

#[derive(Debug, Clone)]
enum Entry {
    Applied(AppliedMigration),
    InDoubt(InDoubt, Option<AppliedMigration>),
}

impl<C: fmt::Debug> fmt::Debug for MemoryStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("context", &self.context)
            .field("entries", &self.entries.len())
            .field("transactional", &self.snapshot.is_some())
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
            entries: BTreeMap::new(),
            snapshot: None,
            saved: None,
            locked: false,
        }
    }

    /// Seeds the store with a history (for example one left by a crash).
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
        for a in history.applied {
            self.entries.insert(a.version, Entry::Applied(a));
        }
        for d in history.in_doubt {
            self.entries.insert(d.version, Entry::InDoubt(d, None));
        }
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
        self.locked
    }

    fn history(&self) -> History {
        let mut applied = Vec::new();
        let mut in_doubt = Vec::new();
        for e in self.entries.values() {
            match e {
                Entry::Applied(a) => applied.push(a.clone()),
                Entry::InDoubt(d, _) => in_doubt.push(d.clone()),
            }
        }
        History::new(applied, in_doubt)
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

#[async_trait::async_trait]
impl<C: Send> StateStore for MemoryStore<C> {
    type Context = C;

    fn describe(&self) -> String {
        "memory store".to_owned()
    }

    async fn lock(&mut self) -> Result<()> {
        // The store is owned by one migrator: nobody else can hold the lock.
        self.locked = true;
        Ok(())
    }

    async fn unlock(&mut self) -> Result<()> {
        self.locked = false;
        Ok(())
    }

    async fn load(&mut self) -> Result<History> {
        Ok(self.history())
    }

    fn context(&mut self) -> &mut C {
        &mut self.context
    }

    fn undoes_on_abort(&self, intent: &StepIntent) -> bool {
        self.snapshot.is_some() && intent.transactional
    }

    async fn begin(&mut self, intent: &StepIntent) -> Result<()> {
        if self.undoes_on_abort(intent) {
            self.saved = self.snapshot.map(|snap| snap(&self.context));
        } else {
            let before = match self.entries.remove(&intent.version) {
                Some(Entry::Applied(a)) => Some(a),
                Some(Entry::InDoubt(_, before)) => before,
                None => None,
            };
            let doubt = InDoubt::from_intent(intent);
            self.entries
                .insert(intent.version, Entry::InDoubt(doubt, before));
        }
        Ok(())
    }

    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        self.saved = None;
        match intent.direction {
            Direction::Up => {
                let rec = AppliedMigration {
                    version: intent.version,
                    name: intent.name.clone(),
                    checksum: intent.checksum,
                    phase: intent.phase,
                    applied_at_ms: finished_at_ms,
                    duration_ms,
                };
                self.entries.insert(intent.version, Entry::Applied(rec));
            }
            Direction::Down => {
                self.entries.remove(&intent.version);
            }
        }
        Ok(())
    }

    async fn abort(&mut self, intent: &StepIntent) -> Result<()> {
        if let Some(saved) = self.saved.take() {
            self.context = saved;
        }
        match self.entries.remove(&intent.version) {
            Some(Entry::InDoubt(_, Some(before))) => {
                self.entries.insert(intent.version, Entry::Applied(before));
            }
            Some(Entry::InDoubt(_, None)) | None => {}
            Some(applied @ Entry::Applied(_)) => {
                self.entries.insert(intent.version, applied);
            }
        }
        Ok(())
    }

    async fn resolve(
        &mut self,
        doubt: &InDoubt,
        resolution: Resolution,
        _by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()> {
        let before = match self.entries.remove(&doubt.version) {
            Some(Entry::InDoubt(_, before)) => before,
            Some(other) => {
                self.entries.insert(doubt.version, other);
                return Err(crate::Error::NotInDoubt {
                    version: doubt.version,
                });
            }
            None => {
                return Err(crate::Error::NotInDoubt {
                    version: doubt.version,
                });
            }
        };
        if resolution == Resolution::Applied {
            let rec = before.unwrap_or_else(|| AppliedMigration {
                version: doubt.version,
                name: doubt.name.clone(),
                checksum: doubt.checksum,
                phase: doubt.phase,
                applied_at_ms: at_ms,
                duration_ms: 0,
            });
            self.entries.insert(doubt.version, Entry::Applied(rec));
        }
        Ok(())
    }
}
