//! [`FileStore`]: the journal's writer under the lock, and the
//! [`StateStore`] step protocol on it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::codec::Event;
use super::io::{io_err, sync_dir};
use super::journal::{Journal, Mismatch, replay};
use super::lock;
use crate::error::{Error, Result};
use crate::history::{History, InDoubt, ResolvedBy, Settlement, StepIntent};
use crate::store::session::Session;
use crate::store::{LockProbe, StateStore};

/// What [`FileStore::summary`] found in a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalSummary {
    /// Valid records.
    pub records: u64,
    /// Bytes after the last valid record, ignored as never committed
    /// (a write cut short by a crash).
    pub uncommitted_tail_bytes: u64,
}

/// The writer side, present while the lock is held.
pub(super) struct Writer {
    lock_file: File,
    journal: Option<File>,
    state: Option<Journal>,
    unsynced: bool,
}

/// The crash-safe JSON-lines journal store (see the [module docs](super)
/// for the format and its guarantees).
///
/// `C` is the context handed to migrations: the application's own handle,
/// or `()`.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{FileStore, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let mut store = FileStore::builder(dir.path().join("migrations.jsonl"))
///     .lock_timeout(std::time::Duration::from_secs(5))
///     .build()?;
/// assert!(store.load().await?.applied.is_empty()); // missing file: empty, not created
/// # Ok::<_, engine_ops_migrate::Error>(())
/// # }).unwrap();
/// ```
pub struct FileStore<C = ()> {
    pub(super) path: PathBuf,
    pub(super) lock_path: PathBuf,
    pub(super) lock_timeout: Duration,
    pub(super) lock_poll_max: Duration,
    pub(super) context: C,
    /// Present while the lock is held.
    pub(super) writer: Option<Writer>,
    pub(super) session: Session,
    /// Tells this store's lock from another instance's in the same process.
    pub(super) token: String,
}

impl<C> fmt::Debug for FileStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("lock_timeout", &self.lock_timeout)
            .field("locked", &self.writer.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> FileStore<C> {
    /// The journal path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file path.
    #[must_use]
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
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

    /// Reads the journal (missing file: empty). Never modifies it.
    fn read(&self) -> Result<Journal> {
        match std::fs::read(&self.path) {
            Ok(bytes) => replay(&self.path, &bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Journal::empty()),
            Err(e) => Err(io_err("read state file", &self.path)(e)),
        }
    }

    /// Counts valid records and uncommitted tail bytes. Read only.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`], [`Error::UnsupportedFormat`], [`Error::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// let store = engine_ops_migrate::FileStore::builder("does/not/exist.jsonl").build()?;
    /// assert_eq!(store.summary()?.records, 0);
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// ```
    pub fn summary(&self) -> Result<JournalSummary> {
        let j = self.read()?;
        Ok(JournalSummary {
            records: j.records,
            uncommitted_tail_bytes: j.tail.len() as u64,
        })
    }

    fn writer(&mut self) -> Result<&mut Writer> {
        let store = self.path.display().to_string();
        self.writer.as_mut().ok_or_else(|| Error::Backend {
            store,
            source: "the file store must be locked before it is written".into(),
        })
    }

    /// Appends `events` as one write; fsyncs when `sync`.
    fn append(&mut self, events: &[Event], sync: bool) -> Result<()> {
        let path = self.path.clone();
        if self.writer()?.state.is_none() {
            let j = self.read()?;
            self.writer()?.state = Some(j);
        }
        let w = self.writer()?;
        let (Some(next), Some(journal)) = (w.state.as_mut(), w.journal.as_mut()) else {
            return Ok(());
        };
        // The in-memory state moves ahead of the file here; on any error it
        // is dropped below and re-read from the file on the next append.
        let written = match next.append_bytes(events, crate::time::now_ms()) {
            Err(Mismatch::Refused(r)) => Err(r.into_error(path.display().to_string())),
            Err(Mismatch::Structure(reason)) => Err(Error::Corrupt {
                path: path.clone(),
                line: usize::try_from(next.records + 1).unwrap_or(usize::MAX),
                reason,
            }),
            Ok(out) => {
                let before = journal.metadata().map(|m| m.len());
                journal
                    .write_all(&out)
                    .map_err(|e| {
                        // A short write (a full disk, an I/O error) leaves
                        // part of this append behind: take back exactly
                        // those bytes, which nobody can have relied on.
                        if let Ok(len) = before {
                            let _ = journal.set_len(len);
                        }
                        io_err("append to state file", &path)(e)
                    })
                    .and_then(|()| {
                        if sync {
                            journal
                                .sync_data()
                                .map_err(io_err("fsync state file", &path))
                        } else {
                            Ok(())
                        }
                    })
            }
        };
        match written {
            Ok(()) => {
                w.unsynced = !sync;
                Ok(())
            }
            Err(e) => {
                w.state = None;
                Err(e)
            }
        }
    }
}

#[async_trait::async_trait]
impl<C: Send> StateStore for FileStore<C> {
    type Context = C;

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn lock(&mut self) -> Result<()> {
        if self.writer.is_some() {
            // Held already; a step a cancelled operation left open stays
            // in doubt in the journal.
            self.session.lock();
            return Ok(());
        }
        let lock_file = lock::acquire(
            &self.lock_path,
            self.lock_timeout,
            self.lock_poll_max,
            &self.token,
        )
        .await?;
        // Locked, and the holder recorded: open (or create) the journal
        // for appending.
        let journal = match OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&self.path)
        {
            Ok(file) => {
                // A new directory entry is only durable once its directory is.
                let dir = match self.path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                    _ => PathBuf::from("."),
                };
                sync_dir(&dir)?;
                file
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(io_err("open state file", &self.path))?,
            Err(e) => return Err(io_err("create state file", &self.path)(e)),
        };
        self.writer = Some(Writer {
            lock_file,
            journal: Some(journal),
            state: None,
            unsynced: false,
        });
        self.session.lock();
        Ok(())
    }

    async fn unlock(&mut self) -> Result<()> {
        self.session.unlock();
        let Some(mut w) = self.writer.take() else {
            return Ok(());
        };
        let synced = match (&mut w.journal, w.unsynced) {
            (Some(journal), true) => journal
                .sync_data()
                .map_err(io_err("fsync state file", &self.path)),
            _ => Ok(()),
        };
        let unlocked = lock::release(&w.lock_file, &self.lock_path);
        synced?;
        unlocked
    }

    async fn probe_lock(&mut self) -> Result<LockProbe> {
        if self.writer.is_some() {
            // This store holds it (a cancelled operation left it so):
            // nobody else can, and nothing of this store is running.
            return Ok(LockProbe::Free);
        }
        lock::probe(&self.lock_path)
    }

    async fn load(&mut self) -> Result<History> {
        let j = self.read()?;
        if !j.tail.is_empty() {
            tracing::warn!(
                path = %self.path.display(),
                bytes = j.tail.len(),
                "state file ends with bytes after its last valid record (a write cut short by a crash); they are ignored as never committed"
            );
        }
        let history = j.history();
        if let Some(w) = self.writer.as_mut() {
            w.state = Some(j);
        }
        Ok(history)
    }

    fn context(&mut self) -> &mut C {
        &mut self.context
    }

    fn undoes_on_abort(&self, _intent: &StepIntent) -> bool {
        false
    }

    async fn begin(&mut self, intent: &StepIntent) -> Result<()> {
        self.session
            .check_begin(intent)
            .map_err(|v| v.into_error(self.describe()))?;
        let event = Event::Intent {
            direction: intent.direction,
            version: intent.version,
            name: intent.name.clone(),
            checksum: intent.checksum,
            phase: intent.phase,
            transactional: intent.transactional,
            at_ms: intent.started_at_ms,
        };
        // Durable before the migration can have any effect.
        self.append(&[event], true)?;
        self.session.begun(intent, false);
        Ok(())
    }

    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        self.session
            .end(intent, true)
            .map_err(|v| v.into_error(self.describe()))?;
        let event = Event::Done {
            direction: intent.direction,
            version: intent.version,
            at_ms: finished_at_ms,
            duration_ms,
        };
        self.append(&[event], false)
    }

    async fn abort(&mut self, intent: &StepIntent) -> Result<()> {
        self.session
            .end(intent, false)
            .map_err(|v| v.into_error(self.describe()))?;
        let event = Event::Aborted {
            direction: intent.direction,
            version: intent.version,
        };
        self.append(&[event], false)
    }

    async fn resolve(
        &mut self,
        doubt: &InDoubt,
        resolution: Settlement,
        by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()> {
        self.session
            .check_resolve(doubt.version, resolution)
            .map_err(|v| v.into_error(self.describe()))?;
        let event = Event::Resolved {
            version: doubt.version,
            resolution,
            by,
            at_ms,
        };
        self.append(&[event], true)
    }
}
