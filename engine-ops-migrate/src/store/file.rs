//! The JSON-lines journal file store: the embedded default.
//!
//! # File format (`engine-ops-migrate/journal/v1`)
//!
//! The state file is an append-only journal, one record per line:
//!
//! ```text
//! {"sum":"<sha-256 hex of the rec bytes>","rec":{"seq":1,"event":{"open":{...}}}}
//! {"sum":"...","rec":{"seq":2,"event":{"intent":{"direction":"up","version":1,...}}}}
//! {"sum":"...","rec":{"seq":3,"event":{"done":{"direction":"up","version":1,...}}}}
//! ```
//!
//! - `sum` is the SHA-256 of the exact bytes of `rec` as written, so every
//!   line checks itself; `seq` numbers records from 1 with no gap, so a
//!   deleted or repeated line is caught too.
//! - The first record is `open`, naming the format; an unknown format is
//!   refused ([`Error::UnsupportedFormat`]).
//! - Events: `intent` (a step starts), `done` (it finished: applied, or
//!   reverted for `down`), `aborted` (it failed and its effects were undone),
//!   `resolved` (a step in doubt was settled), `skip` (see below). A version
//!   whose last event is an `intent` is *in doubt*. Each event must follow
//!   from the ones before it (no `done` without its `intent`, ...).
//!
//! # Durability
//!
//! Each append is one `write` of whole lines. The `intent` of a step is
//! fsynced (`File::sync_data`) before the migration runs, so no effect can
//! exist without a durable record saying it may. The step's `done` record is
//! written at once and made durable by the next fsync, which comes before
//! the next step starts and before the run returns; a power loss in between
//! leaves the step in doubt, never silently lost. When the file is created,
//! its directory is fsynced too. Nothing is ever rewritten: 10,000 steps
//! cost 10,000 appends, not O(n²) bytes.
//!
//! # Damage and torn writes
//!
//! Every append is one `write` of whole lines, so a crash (a killed
//! process, or a power loss) can only leave the last line *unterminated*:
//! bytes after the last newline, possibly a whole record without its
//! newline. Those bytes are an *uncommitted tail*: readers ignore them and
//! never modify the file. The next writer, under the lock, appends a
//! newline and then a `skip` record holding the length and SHA-256 of
//! exactly that line (newline included), and goes on after it; appending
//! never rewrites history. A line followed by a `skip` record acknowledging
//! it is such a torn line and does not count, even if it is a valid record;
//! if that `skip` record was itself cut short and acknowledged in turn, the
//! line before it counts again (that is what the writer after the cut saw).
//! A write that fails part-way (a full disk) takes its own bytes back.
//!
//! Any complete (newline-terminated) line that fails its check (bad sum,
//! bad JSON, wrong `seq`, impossible event, CRLF line endings) is damage,
//! wherever it is, unless it is acknowledged that way: every operation
//! then fails with [`Error::Corrupt`] naming the file and the line, and
//! the file is left untouched. So a changed byte anywhere but in the file's
//! final newline is detected.
//!
//! # Limits (by design)
//!
//! - **Whole records removed from the end cannot be detected.** A journal
//!   cut exactly after a record reads as a valid, shorter journal: its last
//!   steps look never applied (or in doubt), and the next run applies them
//!   again. The same holds for a journal restored from an older backup. Each
//!   line proves itself and the lines before it, not that no line followed.
//!   Keep the state file with the data it describes (restored together,
//!   backed up together), make `up` safe to repeat or let `validate_up`
//!   notice its effects, or use a database store (feature `postgres` or
//!   `sqlite`), whose history commits in the same transaction as the step.
//!   A store that must notice a lost tail needs a second witness: for
//!   example the record count kept somewhere the journal's backups are not
//!   (a database row, the lock file) and compared on every read.
//! - **The final newline.** Removing it makes the last record look torn:
//!   readers ignore that record (its step typically shows in doubt) and
//!   the next writer acknowledges it.
//! - **A crash during the append that acknowledges torn bytes** that are
//!   not a whole record, after its first newline and before the end of its
//!   `skip` record, leaves two torn pieces; they are reported as damage
//!   rather than guessed at.
//!
//! # Locking
//!
//! Writers take an exclusive OS lock (`File::try_lock`, that is `flock` on
//! Unix and `LockFileEx` on Windows) on a sibling file `<state>.lock` for
//! the whole run, polling until a configurable timeout. The lock file is
//! never deleted (deleting lock files reopens the race it closes); while
//! locked it holds one line naming the holder (process id, program, host,
//! since when), which a writer that times out and a reader that finds the
//! lock taken report. Readers (`status`, `verify`, `plan`) take no lock:
//! they see every committed record, and a record being written is at worst
//! an uncommitted tail. When they find a step unfinished they probe the
//! lock ([`StateStore::probe_lock`]: a shared lock taken and dropped at
//! once, never waited for): held means the step is running, free means a
//! crash left it in doubt.
//!
//! The file store does blocking file I/O inside its async methods (small
//! appends and fsyncs) and needs a Tokio runtime with the time driver while
//! it waits for the lock.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::LockProbe;
use super::holder::{Holder, UNKNOWN_HOLDER, new_token};
use super::ledger::{Ledger, Refusal, Session, Transition};
use super::lock_wait::LockWait;
use crate::{
    Checksum, Direction, Error, History, InDoubt, Phase, Resolution, ResolvedBy, Result,
    StateStore, StepIntent,
};

/// The journal format this build reads and writes.
pub const JOURNAL_FORMAT: &str = "engine-ops-migrate/journal/v1";

const PREFIX: &[u8] = br#"{"sum":""#;
const MIDDLE: &[u8] = br#"","rec":"#;
const HEX_LEN: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rec {
    seq: u64,
    event: Event,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Event {
    Open {
        format: String,
        created_at_ms: u64,
    },
    Intent {
        direction: Direction,
        version: u64,
        name: String,
        checksum: Checksum,
        phase: Option<Phase>,
        transactional: bool,
        at_ms: u64,
    },
    Done {
        direction: Direction,
        version: u64,
        at_ms: u64,
        duration_ms: u64,
    },
    Aborted {
        direction: Direction,
        version: u64,
    },
    Resolved {
        version: u64,
        resolution: Resolution,
        by: ResolvedBy,
        at_ms: u64,
    },
    Skip {
        bytes: u64,
        sha256: String,
    },
}

/// Why an event cannot follow the ones before it.
#[derive(Debug)]
enum Mismatch {
    /// A record the ledger refuses.
    Refused(Refusal),
    /// An `open` record out of place.
    Structure(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(r) => r.fmt(f),
            Self::Structure(s) => f.write_str(s),
        }
    }
}

/// The replayed journal.
#[derive(Debug, Default, Clone)]
struct Journal {
    ledger: Ledger,
    opened: bool,
    next_seq: u64,
    records: u64,
    /// Bytes after the last valid record.
    tail: Vec<u8>,
}

impl Journal {
    fn history(&self) -> History {
        self.ledger.history()
    }

    /// The bytes that append `events` after this journal, as a writer
    /// writes them in one `write`: first a newline and a `skip` record for
    /// an uncommitted tail, then an `open` record for a new journal, then
    /// the events. The journal moves ahead as if they were written; `Err`
    /// (a refused event) leaves it part-way, to be read again.
    fn append_bytes(
        &mut self,
        events: &[Event],
        now_ms: u64,
    ) -> std::result::Result<Vec<u8>, Mismatch> {
        let mut out = Vec::with_capacity(256 * (events.len() + 2));
        let mut all: Vec<Event> = Vec::with_capacity(events.len() + 2);
        if !self.tail.is_empty() {
            // The tail has no newline (that is what makes it a tail): end
            // it, and acknowledge it with its newline.
            let mut region = std::mem::take(&mut self.tail);
            region.push(b'\n');
            out.push(b'\n');
            all.push(Event::Skip {
                bytes: region.len() as u64,
                sha256: hex::encode(Sha256::digest(&region)),
            });
        }
        if !self.opened {
            all.push(Event::Open {
                format: JOURNAL_FORMAT.to_owned(),
                created_at_ms: now_ms,
            });
        }
        all.extend(events.iter().cloned());
        for event in all {
            self.apply(&event)?;
            encode_line(
                &mut out,
                &Rec {
                    seq: self.next_seq,
                    event,
                },
            );
            self.next_seq += 1;
            self.records += 1;
        }
        Ok(out)
    }

    /// Applies one event; `Err` says why it cannot follow.
    fn apply(&mut self, event: &Event) -> std::result::Result<(), Mismatch> {
        let transition = match event {
            Event::Open { format, .. } => {
                if self.opened {
                    return Err(Mismatch::Structure("a second open record".into()));
                }
                if format != JOURNAL_FORMAT {
                    return Err(Mismatch::Structure(format!("unknown format {format:?}")));
                }
                self.opened = true;
                return Ok(());
            }
            Event::Skip { .. } => return Ok(()),
            _ if !self.opened => {
                return Err(Mismatch::Structure(
                    "a record before the open record".into(),
                ));
            }
            Event::Intent {
                direction,
                version,
                name,
                checksum,
                phase,
                transactional,
                at_ms,
            } => Transition::Begin(StepIntent {
                direction: *direction,
                version: *version,
                name: name.clone(),
                checksum: *checksum,
                phase: *phase,
                transactional: *transactional,
                started_at_ms: *at_ms,
            }),
            Event::Done {
                direction,
                version,
                at_ms,
                duration_ms,
            } => Transition::Finish {
                direction: *direction,
                version: *version,
                at_ms: *at_ms,
                duration_ms: *duration_ms,
            },
            Event::Aborted { direction, version } => Transition::Undo {
                direction: *direction,
                version: *version,
            },
            Event::Resolved {
                version,
                resolution,
                at_ms,
                ..
            } => Transition::Resolve {
                version: *version,
                resolution: *resolution,
                at_ms: *at_ms,
            },
        };
        self.ledger.apply(transition).map_err(Mismatch::Refused)
    }
}

/// Checks and decodes one line (without its newline).
fn decode_line(line: &[u8]) -> std::result::Result<Rec, String> {
    let head = PREFIX.len() + HEX_LEN + MIDDLE.len();
    if line.last() == Some(&b'\r') {
        return Err("the line ends with a carriage return: the file was converted to CRLF (Windows) line endings; convert it back to LF line endings (for example with dos2unix) and try again".into());
    }
    if line.len() <= head
        || !line.starts_with(PREFIX)
        || &line[PREFIX.len() + HEX_LEN..head] != MIDDLE
        || line.last() != Some(&b'}')
    {
        return Err("not a journal record (expected {\"sum\":...,\"rec\":...})".into());
    }
    let sum = &line[PREFIX.len()..PREFIX.len() + HEX_LEN];
    // Only the exact bytes a writer produces: lowercase hex.
    if !sum.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("its sum is not lowercase hex".into());
    }
    let mut expected = [0_u8; 32];
    hex::decode_to_slice(sum, &mut expected).map_err(|_| "its sum is not hex".to_owned())?;
    let rec = &line[head..line.len() - 1];
    let actual: [u8; 32] = Sha256::digest(rec).into();
    if actual != expected {
        return Err("its SHA-256 does not match its content".into());
    }
    serde_json::from_slice(rec).map_err(|e| format!("its record is not valid: {e}"))
}

fn encode_line(out: &mut Vec<u8>, rec: &Rec) {
    // Serialising these plain structs cannot fail.
    let body = serde_json::to_vec(rec).unwrap_or_default();
    let sum = Sha256::digest(&body);
    out.extend_from_slice(PREFIX);
    let mut hex_buf = [0_u8; HEX_LEN];
    if hex::encode_to_slice(sum, &mut hex_buf).is_ok() {
        out.extend_from_slice(&hex_buf);
    }
    out.extend_from_slice(MIDDLE);
    out.extend_from_slice(&body);
    out.extend_from_slice(b"}\n");
}

/// Whether the complete line `line` (without its newline) is a `skip`
/// record acknowledging exactly `before` (a line and its newline).
fn acknowledges(rec: &std::result::Result<Rec, String>, before: &[u8]) -> bool {
    matches!(rec, Ok(Rec { event: Event::Skip { bytes: n, sha256 }, .. })
        if usize::try_from(*n).ok() == Some(before.len())
            && *sha256 == hex::encode(Sha256::digest(before)))
}

/// Replays the journal bytes; never modifies anything.
fn replay(path: &Path, bytes: &[u8]) -> Result<Journal> {
    let mut j = Journal {
        next_seq: 1,
        ..Journal::default()
    };
    let corrupt = |line: usize, reason: String| Error::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    };
    // Complete lines (start, end without the newline), then the
    // unterminated tail: bytes a crash cut short, never committed.
    let mut lines = Vec::new();
    let mut offset = 0;
    while let Some(nl) = bytes[offset..].iter().position(|&b| b == b'\n') {
        lines.push((offset, offset + nl));
        offset += nl + 1;
    }
    let decoded: Vec<_> = lines
        .iter()
        .map(|&(start, end)| decode_line(&bytes[start..end]))
        .collect();
    // A line is torn bytes acknowledged by the writer after it when the
    // next line is a skip record covering exactly it, and that skip is not
    // itself acknowledged (a torn acknowledgement: the writer after it saw
    // the line before it as committed). Decided from the end.
    let mut acknowledged = vec![false; lines.len()];
    for i in (0..lines.len().saturating_sub(1)).rev() {
        let (start, _) = lines[i];
        let (next_start, _) = lines[i + 1];
        acknowledged[i] =
            !acknowledged[i + 1] && acknowledges(&decoded[i + 1], &bytes[start..next_start]);
    }
    for (i, rec) in decoded.into_iter().enumerate() {
        let line_no = i + 1;
        if acknowledged[i] {
            continue;
        }
        // A complete line that fails its check: appends are whole lines
        // in one write, so a crash cannot produce it. Damage.
        let rec = rec.map_err(|reason| corrupt(line_no, reason))?;
        if matches!(rec.event, Event::Skip { .. }) && !(i > 0 && acknowledged[i - 1]) {
            return Err(corrupt(
                line_no,
                "a skip record with no torn bytes before it".into(),
            ));
        }
        if rec.seq != j.next_seq {
            return Err(corrupt(
                line_no,
                format!(
                    "record number {} where {} was expected (a line was removed, repeated or reordered)",
                    rec.seq, j.next_seq
                ),
            ));
        }
        if let Event::Open { format, .. } = &rec.event
            && format != JOURNAL_FORMAT
            && !j.opened
        {
            return Err(Error::UnsupportedFormat {
                store: path.display().to_string(),
                found: format.clone(),
            });
        }
        j.apply(&rec.event)
            .map_err(|reason| corrupt(line_no, reason.to_string()))?;
        j.next_seq += 1;
        j.records += 1;
    }
    j.tail = bytes[offset..].to_vec();
    Ok(j)
}

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
struct Writer {
    lock_file: File,
    journal: Option<File>,
    state: Option<Journal>,
    unsynced: bool,
}

/// The crash-safe JSON-lines journal store (see the [module docs](self)
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
    path: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
    lock_poll_max: Duration,
    context: C,
    writer: Option<Writer>,
    session: Session,
    /// Tells this store's lock from another instance's in the same process.
    token: String,
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

/// Builds a [`FileStore`]; see [`FileStore::builder`].
#[derive(Debug)]
#[must_use = "call build() to get a FileStore"]
pub struct FileStoreBuilder<C = ()> {
    path: PathBuf,
    lock_timeout: Duration,
    lock_poll_max: Duration,
    context: C,
}

impl<C> FileStoreBuilder<C> {
    /// How long a writer waits for the lock (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The longest pause between two attempts to take the lock (default
    /// 10 ms; the pause starts at 2 ms and doubles, with jitter).
    pub fn lock_poll_max(mut self, interval: Duration) -> Self {
        self.lock_poll_max = interval;
        self
    }

    /// [`lock_poll_max`](Self::lock_poll_max), by its former name.
    #[deprecated(note = "renamed `lock_poll_max`, the name the other stores use")]
    pub fn poll_interval(self, interval: Duration) -> Self {
        self.lock_poll_max(interval)
    }

    /// The context handed to migrations.
    pub fn context<D>(self, context: D) -> FileStoreBuilder<D> {
        FileStoreBuilder {
            path: self.path,
            lock_timeout: self.lock_timeout,
            lock_poll_max: self.lock_poll_max,
            context,
        }
    }

    /// Checks the settings and builds the store. Touches no file.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an empty path, a path without a file
    /// name, or a zero poll interval.
    pub fn build(self) -> Result<FileStore<C>> {
        let Some(file_name) = self.path.file_name() else {
            return Err(Error::InvalidConfig {
                reason: format!("state file path {:?} has no file name", self.path.display()),
            });
        };
        if self.lock_poll_max.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "the lock poll interval must be above zero".into(),
            });
        }
        let mut lock_name = file_name.to_owned();
        lock_name.push(".lock");
        let lock_path = self.path.with_file_name(lock_name);
        Ok(FileStore {
            path: self.path,
            lock_path,
            lock_timeout: self.lock_timeout,
            lock_poll_max: self.lock_poll_max,
            context: self.context,
            writer: None,
            session: Session::default(),
            token: new_token(),
        })
    }
}

impl FileStore<()> {
    /// Starts building a store on the journal at `path` (lock file:
    /// `<path>.lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// let store = engine_ops_migrate::FileStore::builder("state/migrations.jsonl").build()?;
    /// assert!(store.lock_path().ends_with("migrations.jsonl.lock"));
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// ```
    pub fn builder(path: impl Into<PathBuf>) -> FileStoreBuilder<()> {
        FileStoreBuilder {
            path: path.into(),
            lock_timeout: Duration::from_secs(60),
            lock_poll_max: Duration::from_millis(10),
            context: (),
        }
    }
}

fn io_err(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        operation,
        path,
        source,
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
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Journal {
                next_seq: 1,
                ..Journal::default()
            }),
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
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map_err(io_err("open lock file", &self.lock_path))?;
        let mut wait = LockWait::start(self.lock_timeout, self.lock_poll_max, 0);
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if let Err(waited) = wait.pause().await {
                        return Err(Error::LockTimeout {
                            lock: format!(
                                "{}, held by {}",
                                self.lock_path.display(),
                                read_holder(&lock_file)
                            ),
                            waited,
                        });
                    }
                }
                Err(TryLockError::Error(e)) => {
                    return Err(io_err("lock", &self.lock_path)(e));
                }
            }
        }
        // Locked: say who holds it (for those who wait, and readers), then
        // open (or create) the journal for appending.
        write_holder(&lock_file, &Holder::me(&self.token));
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
        // Nobody holds it any more: clear the holder's identity first.
        let _ = w.lock_file.set_len(0);
        let unlocked = w
            .lock_file
            .unlock()
            .map_err(io_err("unlock", &self.lock_path));
        synced?;
        unlocked
    }

    async fn probe_lock(&mut self) -> Result<LockProbe> {
        if self.writer.is_some() {
            // This store holds it (a cancelled operation left it so):
            // nobody else can, and nothing of this store is running.
            return Ok(LockProbe::Free);
        }
        // Never creates the lock file: no lock file, no holder.
        let lock_file = match File::open(&self.lock_path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(LockProbe::Free),
            Err(e) => return Err(io_err("open lock file", &self.lock_path)(e)),
        };
        // A shared lock: probing readers do not block each other, and a
        // writer's exclusive lock blocks them.
        match lock_file.try_lock_shared() {
            Ok(()) => {
                let _ = lock_file.unlock();
                Ok(LockProbe::Free)
            }
            Err(TryLockError::WouldBlock) => Ok(LockProbe::Held {
                holder: read_holder(&lock_file),
            }),
            Err(TryLockError::Error(e)) => Err(io_err("probe the lock", &self.lock_path)(e)),
        }
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
        resolution: Resolution,
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

/// Records `holder` in the lock file (best effort: only messages use it).
fn write_holder(lock_file: &File, holder: &Holder) {
    let mut f = lock_file;
    let line = holder.to_line();
    let _ = f
        .set_len(0)
        .and_then(|()| f.seek(SeekFrom::Start(0)))
        .and_then(|_| f.write_all(line.as_bytes()));
}

/// Who the lock file says holds the lock.
fn read_holder(lock_file: &File) -> String {
    let mut f = lock_file;
    let mut text = String::new();
    let read = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut text));
    match read.ok().and_then(|_| Holder::parse(&text)) {
        Some(holder) => holder.describe(),
        None => UNKNOWN_HOLDER.to_owned(),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    // Directories cannot be opened as files on this platform; the file
    // system orders metadata updates itself.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(events: Vec<Event>) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            encode_line(
                &mut out,
                &Rec {
                    seq: i as u64 + 1,
                    event,
                },
            );
        }
        out
    }

    fn open() -> Event {
        Event::Open {
            format: JOURNAL_FORMAT.into(),
            created_at_ms: 0,
        }
    }

    fn intent(v: u64) -> Event {
        Event::Intent {
            direction: Direction::Up,
            version: v,
            name: format!("m{v}"),
            checksum: Checksum::of_source(b"x"),
            phase: None,
            transactional: true,
            at_ms: 0,
        }
    }

    fn done(v: u64) -> Event {
        Event::Done {
            direction: Direction::Up,
            version: v,
            at_ms: 1,
            duration_ms: 0,
        }
    }

    #[test]
    fn replays_applied_and_in_doubt() {
        let bytes = lines(vec![open(), intent(1), done(1), intent(2)]);
        let j = replay(Path::new("j"), &bytes).expect("valid");
        let h = j.history();
        assert_eq!(h.applied.len(), 1);
        assert_eq!(h.in_doubt.len(), 1);
        assert_eq!(j.next_seq, 5);
        assert!(j.tail.is_empty());
    }

    #[test]
    fn torn_tail_is_ignored_and_acknowledged_tail_is_accepted() {
        let mut bytes = lines(vec![open(), intent(1)]);
        let full = lines(vec![open(), intent(1), done(1)]);
        let cut = &full[bytes.len()..full.len() - 10];
        bytes.extend_from_slice(cut);
        let j = replay(Path::new("j"), &bytes).expect("torn tail ignored");
        assert_eq!(j.tail, cut);
        assert_eq!(j.history().in_doubt.len(), 1);

        // What a writer appends after it: newline + skip acknowledging the bytes.
        let mut region = cut.to_vec();
        region.push(b'\n');
        bytes.push(b'\n');
        encode_line(
            &mut bytes,
            &Rec {
                seq: 3,
                event: Event::Skip {
                    bytes: region.len() as u64,
                    sha256: hex::encode(Sha256::digest(&region)),
                },
            },
        );
        let j = replay(Path::new("j"), &bytes).expect("acknowledged");
        assert!(j.tail.is_empty());
        assert_eq!(j.next_seq, 4);
    }

    #[test]
    fn damage_before_a_valid_record_is_an_error() {
        let mut bytes = lines(vec![open(), intent(1), done(1)]);
        // Flip one byte inside the second line.
        let second = bytes.iter().position(|&b| b == b'\n').expect("newline") + 30;
        bytes[second] ^= 0x01;
        let err = replay(Path::new("j"), &bytes).expect_err("damaged");
        assert!(matches!(err, Error::Corrupt { line: 2, .. }), "{err}");
    }

    #[test]
    fn impossible_sequences_are_errors() {
        let bytes = lines(vec![open(), done(1)]);
        let err = replay(Path::new("j"), &bytes).expect_err("done without intent");
        assert!(
            err.to_string().contains(
                "it records the end of the up step for migration 1, which is not applied"
            ),
            "{err}"
        );
        let bytes = lines(vec![intent(1)]);
        assert!(replay(Path::new("j"), &bytes).is_err());
        let mut bytes = lines(vec![open(), intent(1)]);
        bytes.extend(lines(vec![open()])); // seq 1 again
        let err = replay(Path::new("j"), &bytes).expect_err("seq");
        assert!(err.to_string().contains("record number 1 where 3"), "{err}");
    }

    /// The last record lost its newline (a torn write, or `truncate -s -1`):
    /// readers ignore it, the next writer acknowledges it, and from then on
    /// the journal reads as that writer saw it.
    #[test]
    fn a_whole_record_without_its_newline_is_a_torn_tail() {
        let p = Path::new("j");
        let mut file = lines(vec![open(), intent(1), done(1)]);
        file.pop();
        let mut view = replay(p, &file).expect("opens");
        assert_eq!(
            view.history().in_doubt.len(),
            1,
            "the done record is ignored"
        );
        let appended = view.append_bytes(&[done(1)], 0).expect("append");
        file.extend_from_slice(&appended);
        let read = replay(p, &file).expect("reads after the append");
        assert_eq!(read.history(), view.history());
        assert_eq!(read.history().applied.len(), 1);
        assert_eq!(read.records, 4, "open, intent, skip, done");
    }

    /// The append that acknowledges torn bytes is itself cut just before
    /// its final newline: the next writer sees the first torn record as
    /// committed (its acknowledgement never completed) and acknowledges the
    /// cut skip record; readers agree.
    #[test]
    fn a_torn_acknowledgement_is_acknowledged_in_turn() {
        let p = Path::new("j");
        let mut file = lines(vec![open(), intent(1), done(1)]);
        file.pop();
        let mut first = replay(p, &file).expect("opens");
        let appended = first.append_bytes(&[], 0).expect("a bare acknowledgement");
        file.extend_from_slice(&appended[..appended.len() - 1]);
        let mut second = replay(p, &file).expect("opens after the torn acknowledgement");
        assert_eq!(
            second.history().applied.len(),
            1,
            "the done record now counts"
        );
        let appended = second.append_bytes(&[intent(2)], 0).expect("append");
        file.extend_from_slice(&appended);
        let read = replay(p, &file).expect("reads");
        assert_eq!(read.history(), second.history());
        assert_eq!(read.next_seq, second.next_seq);
    }

    #[test]
    fn unknown_format_is_refused() {
        let bytes = lines(vec![Event::Open {
            format: "engine-ops-migrate/journal/v9".into(),
            created_at_ms: 0,
        }]);
        let err = replay(Path::new("j"), &bytes).expect_err("future format");
        assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
    }

    /// A journal of `steps` valid events after the open record: versions go
    /// up, some are reverted, some are left in doubt.
    fn journal(steps: &[(u8, bool)]) -> Vec<Event> {
        let mut events = vec![open()];
        let mut applied: Vec<u64> = Vec::new();
        let mut next = 1;
        for &(kind, finish) in steps {
            match kind % 3 {
                // Apply the next version (or leave it in doubt, and stop).
                0 | 1 => {
                    events.push(intent(next));
                    if !finish {
                        return events;
                    }
                    events.push(done(next));
                    applied.push(next);
                    next += 1;
                }
                // Revert the newest applied version.
                _ => {
                    if let Some(v) = applied.pop() {
                        events.push(Event::Intent {
                            direction: Direction::Down,
                            version: v,
                            name: format!("m{v}"),
                            checksum: Checksum::of_source(b"x"),
                            phase: None,
                            transactional: true,
                            at_ms: 0,
                        });
                        events.push(Event::Done {
                            direction: Direction::Down,
                            version: v,
                            at_ms: 2,
                            duration_ms: 0,
                        });
                    }
                }
            }
        }
        events
    }

    /// Where a crash cuts bytes: anywhere, or (half the time) within two
    /// bytes of a newline, where torn records lose or keep their newline.
    #[derive(Debug, Clone, Copy)]
    enum Cut {
        Anywhere(f64),
        NearNewline(f64, i8),
    }

    impl Cut {
        fn at(self, bytes: &[u8]) -> usize {
            match self {
                Self::Anywhere(f) => ((bytes.len() as f64) * f) as usize,
                Self::NearNewline(f, delta) => {
                    let newlines: Vec<usize> = bytes
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'\n')
                        .map(|(i, _)| i + 1)
                        .collect();
                    let Some(&end) = newlines.get(((newlines.len() as f64) * f) as usize) else {
                        return bytes.len();
                    };
                    end.saturating_add_signed(isize::from(delta))
                        .min(bytes.len())
                }
            }
        }
    }

    fn cut_point() -> impl proptest::strategy::Strategy<Value = Cut> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            (0.0_f64..=1.0).prop_map(Cut::Anywhere),
            (0.0_f64..1.0, -2_i8..=1).prop_map(|(f, d)| Cut::NearNewline(f, d)),
        ]
    }

    proptest::proptest! {
        /// A crash can cut the file at any byte: it still opens, and says
        /// exactly what the complete records say.
        #[test]
        fn any_truncation_opens_as_its_committed_prefix(
            steps in proptest::collection::vec((0_u8..3, proptest::bool::weighted(0.9)), 0..12),
            cut_at in 0.0_f64..1.0,
        ) {
            let events = journal(&steps);
            let bytes = lines(events.clone());
            let cut = ((bytes.len() as f64) * cut_at) as usize;
            let truncated = &bytes[..cut];
            let j = replay(Path::new("j"), truncated).expect("a truncated journal opens");
            let complete = truncated.iter().filter(|&&b| b == b'\n').count();
            let expected = replay(Path::new("j"), &lines(events[..complete].to_vec())).expect("prefix");
            proptest::prop_assert_eq!(j.history(), expected.history());
            proptest::prop_assert_eq!(j.records as usize, complete);
            proptest::prop_assert_eq!(j.tail.len(), cut - truncated.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1));
        }

        /// A writer appends after a journal cut at any byte; its own append
        /// may be cut at any byte too (a crash during it), and another
        /// writer appends after that. Every reader then sees exactly what
        /// the writer before it saw: no record it relied on disappears, and
        /// no torn record appears. The one exception, reported as damage:
        /// torn bytes that are not a whole record, whose acknowledging
        /// append is itself cut between its first newline and the end of
        /// the skip record.
        #[test]
        fn appends_after_any_cut_read_back_as_their_writer_saw_them(
            steps in proptest::collection::vec((0_u8..3, proptest::bool::weighted(0.9)), 0..10),
            cut_at in cut_point(),
            second_cut in proptest::option::of(cut_point()),
        ) {
            let p = Path::new("j");
            let bytes = lines(journal(&steps));
            let cut = cut_at.at(&bytes);
            let mut file = bytes[..cut].to_vec();
            let mut view = replay(p, &file).expect("a cut journal opens");
            let torn = view.tail.clone();
            let appended = view.append_bytes(&[intent(1000)], 0).expect("a new version may begin");
            file.extend_from_slice(&appended);
            let read = replay(p, &file).expect("the journal reads after the append");
            proptest::prop_assert_eq!(read.history(), view.history());
            proptest::prop_assert!(read.tail.is_empty());
            proptest::prop_assert_eq!(read.next_seq, view.next_seq);

            if let Some(c2) = second_cut {
                let keep = cut + c2.at(&appended);
                let file = &file[..keep];
                match replay(p, file) {
                    Ok(mut view) => {
                        let mut file = file.to_vec();
                        let appended = view
                            .append_bytes(&[intent(1001)], 0)
                            .expect("another new version may begin");
                        file.extend_from_slice(&appended);
                        let read = replay(p, &file).expect("the journal reads after both appends");
                        proptest::prop_assert_eq!(read.history(), view.history());
                        proptest::prop_assert!(read.tail.is_empty());
                    }
                    Err(e) => {
                        let skip_line_end = appended
                            .iter()
                            .skip(1)
                            .position(|&b| b == b'\n')
                            .map_or(0, |i| i + 2);
                        let documented = !torn.is_empty()
                            && decode_line(&torn).is_err()
                            && keep > cut
                            && keep < cut + skip_line_end;
                        proptest::prop_assert!(documented, "cut {} then {}: {}", cut, keep, e);
                    }
                }
            }
        }

        /// Any changed byte, except in the final newline, is an error
        /// naming its line.
        #[test]
        fn any_damaged_byte_is_an_error_naming_its_line(
            steps in proptest::collection::vec((0_u8..2, proptest::strategy::Just(true)), 1..8),
            pick in 0.0_f64..1.0,
            flip in 1_u8..=255,
        ) {
            let bytes = lines(journal(&steps));
            // Any byte but the final newline (whose loss looks like a torn write).
            let at = (((bytes.len() - 1) as f64) * pick) as usize;
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            let err = replay(Path::new("j"), &damaged).expect_err("damage is an error");
            proptest::prop_assert!(matches!(err, Error::Corrupt { line: l, .. } if l == line), "{}", err);
        }
    }
}
