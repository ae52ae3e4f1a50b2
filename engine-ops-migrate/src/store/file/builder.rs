//! [`FileStoreBuilder`]: the file store's settings, checked when it is
//! built.

use std::path::PathBuf;
use std::time::Duration;

use super::store::FileStore;
use crate::error::{Error, Result};
use crate::store::holder::new_token;
use crate::store::session::Session;

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
