//! [`PostgresStoreBuilder`]: the settings of a [`PostgresStore`], checked
//! when it connects.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::conn::{Link, describe_config, open};
use super::context::PgContext;
use super::queries::LOCK_CLASS;
use super::store::PostgresStore;
use super::tls::{self, SslMode};
use crate::error::{Error, Result};
use crate::retry::StepTimeouts;
use crate::store::session::Session;
use crate::store::sql::row::ident;

/// Builds a [`PostgresStore`]; see [`PostgresStore::builder`].
#[must_use = "call connect() to open the store"]
pub struct PostgresStoreBuilder {
    config: std::result::Result<tokio_postgres::Config, String>,
    tls: tls::TlsSettings,
    schema: Option<String>,
    table: String,
    lock_timeout: Duration,
    lock_poll_max: Duration,
    application_name: Option<String>,
    step_timeouts: StepTimeouts,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("server", &self.config.as_ref().map(describe_config))
            .field("tls", &self.tls.describe())
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock_poll_max", &self.lock_poll_max)
            .field("application_name", &self.application_name)
            .field("step_timeouts", &self.step_timeouts)
            .finish()
    }
}

fn check_ident(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 63 || name.contains('\0') {
        return Err(Error::InvalidConfig {
            reason: format!(
                "the history table's {what} {name:?} must be 1 to 63 bytes without NUL (PostgreSQL truncates longer names)"
            ),
        });
    }
    Ok(())
}

impl PostgresStoreBuilder {
    /// Sets the history table (default: `engine_ops_migrations` in the
    /// connection's `current_schema()`, the first existing schema of its
    /// `search_path`, resolved once at connect). Names are used as given
    /// (quoted), so `"App"` and `"app"` differ.
    pub fn history_table(mut self, schema: impl Into<String>, table: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self.table = table.into();
        self
    }

    /// Sets the history table's name, keeping the default schema (the
    /// connection's `current_schema()`).
    pub fn history_table_name(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How long [`lock`](crate::StateStore::lock) waits for another migrator
    /// (default 60 s). This is the store's own advisory lock; the locks a
    /// step's statements take are limited by
    /// [`step_timeouts`](Self::step_timeouts).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The time limits of each step (default [`StepTimeouts::default`]:
    /// GitLab's lock retry schedule, no statement limit): see
    /// [lock-safe steps](super#lock-safe-steps).
    pub fn step_timeouts(mut self, limits: StepTimeouts) -> Self {
        self.step_timeouts = limits;
        self
    }

    /// The `application_name` of the store's session, which
    /// `pg_stat_activity` shows and this store names when another
    /// migrator waits for its lock or reads its steps as running. Default:
    /// the URL's `application_name`, else `engine-ops-migrate`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// How the store uses TLS (default: the URL's `sslmode`, else
    /// [`SslMode::Prefer`]); see [TLS](super#tls).
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.tls.mode = mode;
        self
    }

    /// The PEM file of the certificate authorities that `verify-ca` and
    /// `verify-full` trust (default: the URL's `sslrootcert`, else the
    /// system's roots).
    pub fn ssl_root_cert(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.root_cert = Some(path.into());
        self
    }

    /// The longest pause between two attempts to take the lock (default
    /// 100 ms; the pause starts at 2 ms and doubles, with jitter).
    pub fn lock_poll_max(mut self, interval: Duration) -> Self {
        self.lock_poll_max = interval;
        self
    }

    /// Checks the settings and opens the store's connection. Nothing is
    /// written: the history table is created when the lock is first taken.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an unparsable URL or bad settings
    /// (including TLS settings: an unknown `sslmode`, an unreadable
    /// `sslrootcert`); [`Error::Backend`] when the server cannot be reached,
    /// refuses the credentials, or the TLS handshake fails (the message
    /// says why).
    pub async fn connect(self) -> Result<PostgresStore> {
        let mut config = self
            .config
            .map_err(|reason| Error::InvalidConfig { reason })?;
        let tls = self
            .tls
            .connector(&mut config)
            .map_err(|reason| Error::InvalidConfig { reason })?;
        match self.application_name {
            Some(name) => {
                config.application_name(&name);
            }
            None if config.get_application_name().is_none() => {
                config.application_name("engine-ops-migrate");
            }
            None => {}
        }
        if let Some(schema) = &self.schema {
            check_ident("schema", schema)?;
        }
        check_ident("table", &self.table)?;
        if self.lock_poll_max.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "the lock poll interval must be above zero".into(),
            });
        }
        self.step_timeouts
            .check()
            .map_err(|reason| Error::InvalidConfig { reason })?;
        let server = describe_config(&config);
        let round_trips = Arc::new(AtomicU64::new(0));
        let link = Link {
            tls,
            settings: self.tls,
        };
        let (conn, current_schema, server_version) =
            open(&config, &server, &round_trips, &link).await?;
        let schema = match self.schema.or(current_schema) {
            Some(schema) => schema,
            None => {
                return Err(Error::InvalidConfig {
                    reason: format!(
                        "no schema for the history table: the search_path of {server} names no existing schema; set one with PostgresStoreBuilder::history_table"
                    ),
                });
            }
        };
        let mut digest = Sha256::new();
        digest.update(b"engine-ops-migrate\0");
        digest.update(schema.as_bytes());
        digest.update(b"\0");
        digest.update(self.table.as_bytes());
        let hash = digest.finalize();
        let lock_key = (
            LOCK_CLASS,
            i32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]),
        );
        let qualified = format!("{}.{}", ident(&schema), ident(&self.table));
        Ok(PostgresStore {
            describe: format!("{server} table {qualified}"),
            server,
            config,
            link,
            schema,
            table: self.table,
            qualified,
            lock_key,
            lock_timeout: self.lock_timeout,
            lock_poll_max: self.lock_poll_max,
            timeouts: self.step_timeouts,
            server_version,
            attempt: 0,
            step_rolled_back: false,
            session_limits: false,
            ctx: PgContext::new(conn),
            round_trips,
            locked: false,
            session: Session::default(),
            table_ready: false,
            insert_applied: None,
            catalog_stmt: None,
            rows_stmt: None,
        })
    }
}

impl PostgresStore {
    /// Starts building a store for the database at `url` (a
    /// `postgres://user:password@host:port/db?…` URL or a `key=value`
    /// connection string), with TLS as its `sslmode` says (see
    /// [TLS](super#tls)).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::postgres::PostgresStore;
    ///
    /// let builder = PostgresStore::builder("postgres://app@localhost/app")
    ///     .history_table("app", "schema_history");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        let (config, tls) = match tls::split(url) {
            Ok((rest, tls)) => (
                tokio_postgres::Config::from_str(&rest).map_err(|e| {
                    format!("cannot parse the PostgreSQL URL ({e}); expected postgres://user:password@host:port/database")
                }),
                tls,
            ),
            Err(reason) => (
                Err(format!("cannot use the PostgreSQL URL: {reason}")),
                tls::TlsSettings::default(),
            ),
        };
        let mut builder = Self::builder_with(config);
        builder.tls = tls;
        builder
    }

    /// Starts building a store from a tokio-postgres configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::store::postgres::PostgresStore;
    ///
    /// let mut config = tokio_postgres::Config::new();
    /// config.host("localhost").user("app").dbname("app");
    /// let builder = PostgresStore::builder_from_config(config);
    /// # let _ = builder;
    /// ```
    pub fn builder_from_config(config: tokio_postgres::Config) -> PostgresStoreBuilder {
        let tls = tls::TlsSettings::of_config(&config);
        let mut builder = Self::builder_with(Ok(config));
        builder.tls = tls;
        builder
    }

    fn builder_with(
        config: std::result::Result<tokio_postgres::Config, String>,
    ) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            config,
            tls: tls::TlsSettings::default(),
            schema: None,
            table: "engine_ops_migrations".into(),
            lock_timeout: Duration::from_secs(60),
            lock_poll_max: Duration::from_millis(100),
            application_name: None,
            step_timeouts: StepTimeouts::default(),
        }
    }

    /// Opens a store at `url` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::connect`].
    ///
    /// # Examples
    ///
    /// See [`PostgresStore`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_empty_identifiers_are_refused() {
        assert!(check_ident("table", "").is_err());
        assert!(check_ident("table", &"x".repeat(64)).is_err());
        assert!(check_ident("table", &"x".repeat(63)).is_ok());
    }

    #[tokio::test]
    async fn a_bad_url_is_a_configuration_error_before_any_io() {
        let err = PostgresStore::connect("postgres://[::1")
            .await
            .expect_err("unparsable");
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }
}
