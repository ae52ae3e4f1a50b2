//! Shared helpers of the zero-downtime tests on a real PostgreSQL: the
//! server (`ENGINE_OPS_TEST_DATABASE_URL`, else a throwaway one), a fresh
//! schema per test, sessions that keep the server's notices.

#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine_ops_migrate::store::postgres::{PostgresStore, PostgresStoreBuilder};
use tokio_postgres::{AsyncMessage, Client, NoTls};

#[path = "../pg_server/mod.rs"]
mod pg_server;

/// The test server's configuration, or `None` when the test must skip
/// (printed; under `CI` the server helper fails instead).
pub fn config() -> Option<tokio_postgres::Config> {
    let url = pg_server::test_url()?;
    Some(tokio_postgres::Config::from_str(&url).expect("valid test database URL"))
}

/// A name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A session that keeps every notice the server sends it (`NOTICE`,
/// `DEBUG1` with `client_min_messages = debug1`, ...).
pub struct Session {
    pub client: Client,
    pub notices: Arc<Mutex<Vec<String>>>,
}

impl Session {
    pub async fn open(config: &tokio_postgres::Config) -> Self {
        let (client, mut conn) = config.connect(NoTls).await.expect("test session connects");
        let notices = Arc::new(Mutex::new(Vec::new()));
        let sink = notices.clone();
        tokio::spawn(async move {
            let mut stream = futures_lite_stream(&mut conn);
            while let Some(msg) = stream.next().await {
                if let AsyncMessage::Notice(n) = msg {
                    sink.lock().expect("notices").push(n.message().to_owned());
                }
            }
        });
        Self { client, notices }
    }

    /// The notices received so far, emptied.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().expect("notices"))
    }

    pub async fn pid(&self) -> i32 {
        self.client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0)
    }
}

/// Drives a tokio-postgres connection, yielding its asynchronous messages.
struct MessageStream<'a, S, T> {
    conn: &'a mut tokio_postgres::Connection<S, T>,
}

fn futures_lite_stream<S, T>(
    conn: &mut tokio_postgres::Connection<S, T>,
) -> MessageStream<'_, S, T> {
    MessageStream { conn }
}

impl<S, T> MessageStream<'_, S, T>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    async fn next(&mut self) -> Option<AsyncMessage> {
        std::future::poll_fn(|cx| self.conn.poll_message(cx))
            .await
            .and_then(Result::ok)
    }
}

/// A fresh schema with the history table's name `history`, dropped (with
/// everything in it) when the value is dropped.
pub struct Schema {
    pub name: String,
    /// Connects with `search_path` set to the schema.
    pub config: tokio_postgres::Config,
    admin: tokio_postgres::Config,
}

impl Schema {
    pub async fn new(base: &tokio_postgres::Config, prefix: &str) -> Self {
        let name = unique_name(prefix);
        let admin = Session::open(base).await;
        admin
            .client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create test schema");
        let mut config = base.clone();
        config.options(format!("-c search_path={name}"));
        Self {
            name,
            config,
            admin: base.clone(),
        }
    }

    pub fn builder(&self) -> PostgresStoreBuilder {
        PostgresStore::builder_from_config(self.config.clone())
            .history_table(self.name.clone(), "history")
            .lock_timeout(Duration::from_secs(60))
    }

    pub async fn session(&self) -> Session {
        Session::open(&self.config).await
    }

    /// `(version, state)` of every history row (none when the table is
    /// missing).
    pub async fn history(&self) -> Vec<(i64, String)> {
        let s = self.session().await;
        match s
            .client
            .query(
                &format!(
                    "SELECT version, state FROM {}.history ORDER BY version",
                    self.name
                ),
                &[],
            )
            .await
        {
            Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Every column of every table of the schema, with its type and
    /// nullability, and every index and constraint: what a schema change
    /// would show.
    pub async fn shape(&self) -> Vec<String> {
        let s = self.session().await;
        let rows = s
            .client
            .query(
                "SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
                        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                  WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'history' \
                 UNION ALL \
                 SELECT 'index ' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                  WHERE n.nspname = $1 AND c.relkind = 'i' AND c.relname NOT LIKE 'history%' \
                 UNION ALL \
                 SELECT 'constraint ' || conname FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
                  WHERE n.nspname = $1 AND conname NOT LIKE 'history%' \
                 ORDER BY 1",
                &[&self.name],
            )
            .await
            .expect("schema shape");
        rows.iter().map(|r| r.get(0)).collect()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Dropped from a test's runtime or after it: a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok((client, conn)) = admin.connect(NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Latency figures of a list of samples: `(p50, p95, max)` in ms.
pub fn percentiles(samples: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if ms.is_empty() {
            return 0.0;
        }
        let i = ((ms.len() - 1) as f64 * q).round() as usize;
        ms[i]
    };
    (at(0.5), at(0.95), at(1.0))
}
