//! One store for whatever database a URL names: [`connect`] and
//! [`AnyStore`].
//!
//! | URL | store |
//! |---|---|
//! | `postgres://…`, `postgresql://…` | [`PostgresStore`](crate::PostgresStore) (feature `postgres`), TLS from `sslmode` (see [`store::postgres`](crate::store::postgres#tls)) |
//! | `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:` | [`SqliteStore`](crate::SqliteStore) (feature `sqlite`); the file is created if missing |
//! | `file:PATH`, or a path without a scheme (`./state/migrations.jsonl`) | [`FileStore`]: the history in a journal, for migrations written in Rust that act on something other than a SQL database (they carry their own handles); an SQL migration run there fails naming itself, and stays pending |
//!
//! Any other scheme (`mysql://`, `postgress://`) is an [`Error::BadUrl`]
//! saying what is accepted. Migrations for an `AnyStore` implement
//! `Migration<AnyContext>` ([`AnyContext`] is `dyn SqlContext`): every
//! [`SqlMigration`](crate::SqlMigration) does, and a Rust migration
//! reaches the driver through `SqlContext::postgres` /
//! `SqlContext::sqlite` (see [`SqlContext`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::store::file::FileStore;
use crate::store::sql::SqlContext;
use crate::{
    BoxError, Error, History, InDoubt, LockAttempt, LockProbe, Resolution, ResolvedBy, Result,
    StateStore, StepIntent, StepTimeouts,
};

/// The context [`AnyStore`] hands to migrations: whichever database it
/// opened, as a [`SqlContext`]. Write `&mut AnyContext` in a migration's
/// methods (`&mut dyn SqlContext` there would name a shorter-lived
/// object).
pub type AnyContext = dyn SqlContext;

/// Settings of [`connect_with`] that apply to every store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    lock_timeout: Duration,
    application_name: Option<String>,
    step_timeouts: StepTimeouts,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(60),
            application_name: None,
            step_timeouts: StepTimeouts::default(),
        }
    }
}

impl ConnectOptions {
    /// The defaults: a 60 s lock timeout.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a run waits for another migrator's lock (default 60 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The time limits of each PostgreSQL step (default
    /// [`StepTimeouts::default`]: GitLab's lock retry schedule); other
    /// stores ignore them.
    #[must_use]
    pub fn step_timeouts(mut self, limits: StepTimeouts) -> Self {
        self.step_timeouts = limits;
        self
    }

    /// The PostgreSQL session's `application_name` (default: the URL's, else
    /// `engine-ops-migrate`); other stores ignore it.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }
}

/// Opens the store `url` names, with the default settings; see the
/// [module docs](self) for the URLs.
///
/// # Errors
///
/// [`Error::BadUrl`] for a URL this build cannot open (unknown scheme,
/// empty path, backend feature off); the store's own errors when it cannot
/// be reached (a PostgreSQL server down, a TLS handshake refused, an
/// SQLite file that is not a database).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let url = std::env::var("DATABASE_URL")?; // postgres://…?sslmode=verify-full, sqlite:app.db, …
/// let store = engine_ops_migrate::connect(&url).await?;
/// let mut migrator = engine_ops_migrate::Migrator::builder(store)
///     .migrations(engine_ops_migrate::embed!("tests/fixtures/migrations"))
///     .build()?;
/// migrator.run().await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str) -> Result<AnyStore> {
    connect_with(url, &ConnectOptions::default()).await
}

/// [`connect`] with settings.
///
/// # Errors
///
/// As [`connect`].
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{AnyStore, ConnectOptions, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let journal = dir.path().join("history.jsonl");
/// let options = ConnectOptions::new().lock_timeout(std::time::Duration::from_secs(5));
/// let mut store = engine_ops_migrate::connect_with(journal.to_str().unwrap(), &options).await?;
/// assert!(matches!(store, AnyStore::Journal(_)));
/// assert!(store.load().await?.applied.is_empty());
///
/// let err = engine_ops_migrate::connect("mysql://app:secret@db/app").await.unwrap_err();
/// assert!(err.to_string().contains("unknown scheme `mysql`"));
/// assert!(!err.to_string().contains("secret"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<AnyStore> {
    match Target::parse(url)? {
        #[cfg(feature = "postgres")]
        Target::Postgres => {
            let mut builder = crate::PostgresStore::builder(url)
                .lock_timeout(options.lock_timeout)
                .step_timeouts(options.step_timeouts.clone());
            if let Some(name) = &options.application_name {
                builder = builder.application_name(name.clone());
            }
            Ok(AnyStore::Postgres(builder.connect().await?))
        }
        #[cfg(feature = "sqlite")]
        Target::Sqlite(path) => Ok(AnyStore::Sqlite(
            crate::SqliteStore::builder(path)
                .lock_timeout(options.lock_timeout)
                .open()?,
        )),
        Target::Journal(path) => Ok(AnyStore::Journal(
            FileStore::builder(path)
                .lock_timeout(options.lock_timeout)
                .context(NoDatabase::default())
                .build()?,
        )),
    }
}

/// What a URL names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
    Journal(PathBuf),
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let bad = |reason: String| Error::BadUrl {
            url: redact(url),
            reason,
        };
        if url.trim().is_empty() {
            return Err(bad(
                "it is empty; give postgres://user:password@host/database, sqlite:PATH or a journal file path".into(),
            ));
        }
        let Some((scheme, rest)) = split_scheme(url) else {
            return Ok(Self::Journal(PathBuf::from(url)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => {
                #[cfg(feature = "postgres")]
                return Ok(Self::Postgres);
                #[cfg(not(feature = "postgres"))]
                return Err(bad(
                    "this build of engine-ops-migrate has no PostgreSQL store; enable its `postgres` feature".into(),
                ));
            }
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.contains('?') {
                    return Err(bad(
                        "SQLite URL options (`?…`) are not supported; give the path alone".into(),
                    ));
                }
                if path.is_empty() {
                    return Err(bad(
                        "the SQLite path is empty; give sqlite:PATH (created if missing) or sqlite::memory:".into(),
                    ));
                }
                #[cfg(feature = "sqlite")]
                return Ok(Self::Sqlite(PathBuf::from(path)));
                #[cfg(not(feature = "sqlite"))]
                return Err(bad(
                    "this build of engine-ops-migrate has no SQLite store; enable its `sqlite` feature".into(),
                ));
            }
            "file" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(bad("the journal path is empty; give file:PATH".into()));
                }
                Ok(Self::Journal(PathBuf::from(path)))
            }
            other => Err(bad(format!(
                "unknown scheme `{other}`; use postgres://user:password@host/database, sqlite:PATH, or a journal file path"
            ))),
        }
    }
}

/// `(scheme, rest)` when `url` starts with a URL scheme (two characters or
/// more, so a Windows drive letter stays part of a path).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some((scheme, rest))
}

/// The URL with the password of `user:password@` replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The context of a journal opened by [`connect`]: no database. SQL sent
/// to it is refused with an error saying so; a step that failed that way
/// ran nothing, so it is recorded as not applied (never left in doubt).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDatabase {
    /// Whether the open step sent SQL (and was refused).
    refused: bool,
}

impl crate::store::sql::sealed::Sealed for NoDatabase {}

impl NoDatabase {
    fn refuse(&mut self) -> BoxError {
        self.refused = true;
        "a journal store has no database to run SQL on (it only records the history); open a postgres:// or sqlite: URL to run SQL migrations".into()
    }
}

#[async_trait::async_trait]
impl SqlContext for NoDatabase {
    async fn execute_batch(&mut self, _sql: &str) -> std::result::Result<(), BoxError> {
        Err(self.refuse())
    }

    async fn query_flag(&mut self, _query: &str) -> std::result::Result<Option<bool>, BoxError> {
        Err(self.refuse())
    }
}

/// The store [`connect`] opens: PostgreSQL, SQLite or a journal. Its
/// migrations run with [`AnyContext`]; match on it to reach the store
/// itself (for example [`PostgresStore::lock_key`](crate::PostgresStore::lock_key)).
#[derive(Debug)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "one store per migrator: boxing would only add an indirection"
)]
pub enum AnyStore {
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(crate::PostgresStore),
    /// An SQLite database.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::SqliteStore),
    /// A journal file, with no database.
    Journal(FileStore<NoDatabase>),
}

/// Calls `$call` on whichever store `$self` holds.
macro_rules! each {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $call,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($s) => $call,
            AnyStore::Journal($s) => $call,
        }
    };
}

#[async_trait::async_trait]
impl StateStore for AnyStore {
    type Context = AnyContext;

    fn describe(&self) -> String {
        each!(self, s => s.describe())
    }

    async fn lock(&mut self) -> Result<()> {
        each!(self, s => s.lock().await)
    }

    async fn unlock(&mut self) -> Result<()> {
        each!(self, s => s.unlock().await)
    }

    async fn probe_lock(&mut self) -> Result<LockProbe> {
        each!(self, s => s.probe_lock().await)
    }

    async fn load(&mut self) -> Result<History> {
        each!(self, s => s.load().await)
    }

    fn context(&mut self) -> &mut AnyContext {
        each!(self, s => s.context())
    }

    fn undoes_on_abort(&self, intent: &StepIntent) -> bool {
        #[allow(
            irrefutable_let_patterns,
            reason = "a build without database features has only the journal"
        )]
        // A step whose SQL was refused ran nothing: there is nothing to
        // compensate, and the journal may record it as not applied.
        if let Self::Journal(s) = self
            && s.context_ref().refused
        {
            return true;
        }
        each!(self, s => s.undoes_on_abort(intent))
    }

    async fn begin(&mut self, intent: &StepIntent) -> Result<()> {
        #[allow(
            irrefutable_let_patterns,
            reason = "a build without database features has only the journal"
        )]
        if let Self::Journal(s) = self {
            s.context().refused = false;
        }
        each!(self, s => s.begin(intent).await)
    }

    async fn commit(
        &mut self,
        intent: &StepIntent,
        finished_at_ms: u64,
        duration_ms: u64,
    ) -> Result<()> {
        each!(self, s => s.commit(intent, finished_at_ms, duration_ms).await)
    }

    async fn abort(&mut self, intent: &StepIntent) -> Result<()> {
        each!(self, s => s.abort(intent).await)
    }

    async fn retry_step(
        &mut self,
        intent: &StepIntent,
        cause: &BoxError,
        elapsed: Duration,
        may_retry: bool,
    ) -> Result<Option<LockAttempt>> {
        each!(self, s => s.retry_step(intent, cause, elapsed, may_retry).await)
    }

    async fn resolve(
        &mut self,
        doubt: &InDoubt,
        resolution: Resolution,
        by: ResolvedBy,
        at_ms: u64,
    ) -> Result<()> {
        each!(self, s => s.resolve(doubt, resolution, by, at_ms).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_store() {
        assert_eq!(
            Target::parse("./state/m.jsonl").ok(),
            Some(Target::Journal("./state/m.jsonl".into()))
        );
        assert_eq!(
            Target::parse("file:///var/lib/m.jsonl").ok(),
            Some(Target::Journal("/var/lib/m.jsonl".into()))
        );
        assert_eq!(
            Target::parse(r"C:\state\m.jsonl").ok(),
            Some(Target::Journal(r"C:\state\m.jsonl".into()))
        );
        #[cfg(feature = "sqlite")]
        {
            assert_eq!(
                Target::parse("sqlite:app.db").ok(),
                Some(Target::Sqlite("app.db".into()))
            );
            assert_eq!(
                Target::parse("sqlite:///tmp/app.db").ok(),
                Some(Target::Sqlite("/tmp/app.db".into()))
            );
            assert_eq!(
                Target::parse("sqlite::memory:").ok(),
                Some(Target::Sqlite(":memory:".into()))
            );
        }
        #[cfg(feature = "postgres")]
        for url in ["postgres://h/db", "postgresql://u@h/db", "POSTGRES://h/db"] {
            assert_eq!(Target::parse(url).ok(), Some(Target::Postgres), "{url}");
        }
    }

    #[test]
    fn bad_urls_say_what_is_accepted_and_hide_the_password() {
        let err = |url: &str| Target::parse(url).expect_err(url).to_string();
        let mysql = err("mysql://root:hunter2@db:3306/app");
        assert!(mysql.contains("unknown scheme `mysql`"), "{mysql}");
        assert!(mysql.contains("root:***@db:3306"), "{mysql}");
        assert!(!mysql.contains("hunter2"), "{mysql}");
        assert!(err("postgress://h/db").contains("unknown scheme `postgress`"));
        assert!(err("").contains("it is empty"));
        assert!(err("sqlite:").contains("SQLite path is empty"));
        assert!(err("sqlite:app.db?mode=ro").contains("not supported"));
        assert!(err("file:").contains("journal path is empty"));
    }

    #[test]
    fn passwords_are_redacted_only_in_the_authority() {
        assert_eq!(
            redact("postgres://u:p@h/d?x=a:b@c"),
            "postgres://u:***@h/d?x=a:b@c"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("postgres://u:p:q@h"), "postgres://u:***@h");
        assert_eq!(redact("./a:b@c"), "./a:b@c");
    }
}
