//! The file store's run lock: an OS lock on `<state>.lock`, its holder's
//! identity written inside, and the probe readers use (see
//! [locking](super#locking)).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::io::io_err;
use crate::error::{Error, Result};
use crate::store::LockProbe;
use crate::store::holder::{Holder, UNKNOWN_HOLDER};
use crate::store::lock_wait::LockWait;

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

/// Opens (or creates) the lock file at `lock_path` and takes its exclusive
/// lock, pausing between attempts as [`LockWait`] says until `timeout`;
/// then records this process as the holder (for those who wait, and
/// readers).
///
/// # Errors
///
/// [`Error::LockTimeout`] naming the holder, [`Error::Io`].
pub(super) async fn acquire(
    lock_path: &Path,
    timeout: Duration,
    poll_max: Duration,
    token: &str,
) -> Result<File> {
    let lock_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .map_err(io_err("open lock file", lock_path))?;
    let mut wait = LockWait::start(timeout, poll_max, 0);
    loop {
        match lock_file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                if let Err(waited) = wait.pause().await {
                    return Err(Error::LockTimeout {
                        lock: format!(
                            "{}, held by {}",
                            lock_path.display(),
                            read_holder(&lock_file)
                        ),
                        waited,
                    });
                }
            }
            Err(TryLockError::Error(e)) => {
                return Err(io_err("lock", lock_path)(e));
            }
        }
    }
    write_holder(&lock_file, &Holder::me(token));
    Ok(lock_file)
}

/// Releases the lock taken by [`acquire`]: nobody holds it any more, so
/// the holder's identity is cleared first.
///
/// # Errors
///
/// [`Error::Io`] when the OS refuses to unlock.
pub(super) fn release(lock_file: &File, lock_path: &Path) -> Result<()> {
    let _ = lock_file.set_len(0);
    lock_file.unlock().map_err(io_err("unlock", lock_path))
}

/// Whether another process holds the lock, without waiting and without
/// creating the lock file (no lock file, no holder).
///
/// # Errors
///
/// [`Error::Io`] when the lock file cannot be opened or probed.
pub(super) fn probe(lock_path: &Path) -> Result<LockProbe> {
    let lock_file = match File::open(lock_path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(LockProbe::Free),
        Err(e) => return Err(io_err("open lock file", lock_path)(e)),
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
        Err(TryLockError::Error(e)) => Err(io_err("probe the lock", lock_path)(e)),
    }
}
