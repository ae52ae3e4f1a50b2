//! [`SqliteStoreBuilder`]: the settings of a [`SqliteStore`], checked
//! when it opens.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::store::{SqlError, SqliteStore};
use crate::error::{Error, Result};
use crate::store::holder::new_token;
use crate::store::session::Session;
use crate::store::sql::row::ident;

/// Builds a [`SqliteStore`]; see [`SqliteStore::builder`].
#[derive(Debug)]
#[must_use = "call open() to open the store"]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    table: String,
    lock_timeout: Duration,
    busy_timeout: Duration,
    lock_poll_max: Duration,
}

impl SqliteStoreBuilder {
    /// Sets the history table (default `engine_ops_migrations`).
    pub fn history_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How long [`lock`](crate::StateStore::lock) waits for another migrator
    /// (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long a step's `BEGIN IMMEDIATE` (and every statement) waits for
    /// other writers of the database (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The longest pause between two attempts to take the run lock (default
    /// 50 ms; the pause starts at 2 ms and doubles, with jitter).
    pub fn lock_poll_max(mut self, interval: Duration) -> Self {
        self.lock_poll_max = interval;
        self
    }

    /// Checks the settings and opens the database (creating the file if it
    /// does not exist). Nothing is written: the history table is created
    /// when the lock is first taken.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for bad settings; [`Error::Backend`] when the
    /// file cannot be opened or is not an SQLite database.
    pub fn open(self) -> Result<SqliteStore> {
        if self.table.is_empty() || self.table.contains('\0') {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "the history table name {:?} must be non-empty and without NUL",
                    self.table
                ),
            });
        }
        if self.lock_poll_max.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "the lock poll interval must be above zero".into(),
            });
        }
        let memory = self.path.as_os_str() == ":memory:";
        let describe = format!(
            "sqlite:{} table {}",
            self.path.display(),
            ident(&self.table)
        );
        let backend = |action: String, source| Error::Backend {
            store: describe.clone(),
            source: Box::new(SqlError { action, source }),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            backend(
                format!(
                    "cannot open SQLite database {}; check that its directory exists and is writable",
                    self.path.display()
                ),
                e,
            )
        })?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| backend("cannot set the busy timeout".into(), e))?;
        // Reading the schema proves the file is a database (SQLite opens
        // files lazily).
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| {
            backend(
                format!("{} is not a readable SQLite database", self.path.display()),
                e,
            )
        })?;
        let lock_path = (!memory).then(|| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{}.lock", self.table));
            PathBuf::from(name)
        });
        Ok(SqliteStore {
            describe,
            conn,
            table: self.table,
            lock_path,
            lock: None,
            locked: false,
            session: Session::default(),
            token: new_token(),
            lock_timeout: self.lock_timeout,
            lock_poll_max: self.lock_poll_max,
            table_ready: false,
        })
    }
}

impl SqliteStore {
    /// Starts building a store on the database file at `path` (`:memory:`
    /// for a private in-memory database).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::sqlite::SqliteStore;
    ///
    /// let store = SqliteStore::builder(":memory:")
    ///     .history_table("schema_history")
    ///     .open()?;
    /// assert!(store.lock_path().is_none());
    /// # Ok::<_, engine_ops_migrate::Error>(())
    /// ```
    pub fn builder(path: impl Into<PathBuf>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.into(),
            table: "engine_ops_migrations".into(),
            lock_timeout: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
            lock_poll_max: Duration::from_millis(50),
        }
    }

    /// Opens a store at `path` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`SqliteStoreBuilder::open`].
    ///
    /// # Examples
    ///
    /// See [`SqliteStore`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        Self::builder(path).open()
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_beside_the_database_and_names_the_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::builder(dir.path().join("app.db"))
            .history_table("hist")
            .open()
            .expect("open");
        assert_eq!(
            store.lock_path(),
            Some(dir.path().join("app.db.hist.lock").as_path())
        );
        assert!(
            SqliteStore::open(":memory:")
                .expect("memory")
                .lock_path()
                .is_none()
        );
    }

    #[test]
    fn bad_settings_are_refused_before_opening() {
        let err = SqliteStore::builder(":memory:")
            .history_table("")
            .open()
            .expect_err("empty name");
        assert!(matches!(err, Error::InvalidConfig { .. }));
        let err = SqliteStore::builder(":memory:")
            .lock_poll_max(Duration::ZERO)
            .open()
            .expect_err("zero poll");
        assert!(matches!(err, Error::InvalidConfig { .. }));
    }
}
