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
//!   refused ([`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat)).
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
//! then fails with [`Error::Corrupt`](crate::Error::Corrupt) naming the file and the line, and
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
//! lock ([`StateStore::probe_lock`](crate::StateStore::probe_lock): a shared lock taken and dropped at
//! once, never waited for): held means the step is running, free means a
//! crash left it in doubt.
//!
//! The file store does blocking file I/O inside its async methods (small
//! appends and fsyncs) and needs a Tokio runtime with the time driver while
//! it waits for the lock.

mod builder;
mod codec;
mod io;
mod journal;
mod lock;
mod store;

pub use builder::FileStoreBuilder;
pub use codec::JOURNAL_FORMAT;
pub use store::{FileStore, JournalSummary};
