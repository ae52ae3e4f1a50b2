//! The store's connection: opening it (TLS included), the guard that
//! kills it when a request is abandoned, and in-order pipelining of two
//! requests ([`join2`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::queries;
use super::tls::{self, TlsSettings};
use crate::error::{Error, Result};

/// Why a database request failed, with the underlying tokio-postgres error.
#[derive(Debug, thiserror::Error)]
#[error("{action}")]
pub(super) struct PgError {
    pub(super) action: String,
    #[source]
    pub(super) source: tokio_postgres::Error,
}

pub(super) struct Conn {
    pub(super) client: Client,
    /// The TLS connector the connection was made with (`None`: plain), for
    /// the cancel request.
    pub(super) tls: Option<MakeRustlsConnect>,
    pub(super) task: tokio::task::AbortHandle,
    pub(super) killed: AtomicBool,
    pub(super) round_trips: Arc<AtomicU64>,
}

impl Conn {
    /// Cancels whatever the server runs for this connection and closes it:
    /// the server then releases the session lock and rolls back any open
    /// transaction. Safe to call from `Drop`.
    pub(super) fn kill(&self) {
        if self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let token = self.client.cancel_token();
            let tls = self.tls.clone();
            handle.spawn(async move {
                let _ = match tls {
                    Some(tls) => token.cancel_query(tls).await,
                    None => token.cancel_query(NoTls).await,
                };
            });
        }
        self.task.abort();
    }

    pub(super) fn is_dead(&self) -> bool {
        self.killed.load(Ordering::SeqCst) || self.client.is_closed()
    }

    /// Runs one request; if the future is dropped before it finishes, the
    /// connection is killed (see [`kill`](Self::kill)).
    pub(super) async fn guarded<F: Future>(&self, request: F) -> F::Output {
        struct InFlight<'a>(&'a Conn, bool);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.kill();
                }
            }
        }
        let mut flight = InFlight(self, true);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let out = request.await;
        flight.1 = false;
        out
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closing the socket ends the session: the server releases the lock
        // and rolls back. Cancel first only if the store died mid-request.
        self.task.abort();
    }
}

/// How the store reaches the server: its TLS connector and settings.
pub(super) struct Link {
    pub(super) tls: Option<MakeRustlsConnect>,
    pub(super) settings: TlsSettings,
}

/// Connects and spawns the connection's task.
async fn connect_with<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> std::result::Result<(Client, tokio::task::AbortHandle), tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "migration store connection ended");
        }
    })
    .abort_handle();
    Ok((client, task))
}

pub(super) async fn open(
    config: &tokio_postgres::Config,
    server: &str,
    round_trips: &Arc<AtomicU64>,
    link: &Link,
) -> Result<(Conn, Option<String>, u32)> {
    let backend = |action: String, source| Error::Backend {
        store: server.to_owned(),
        source: Box::new(PgError { action, source }),
    };
    let connected = match &link.tls {
        Some(tls) => connect_with(config, tls.clone()).await,
        None => connect_with(config, NoTls).await,
    };
    let (client, task) = connected.map_err(|e| {
        let host = config.get_hosts().first().map_or_else(String::new, |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        });
        let action = match tls::explain(&e, &link.settings, &host) {
            Some(why) => format!("cannot connect to PostgreSQL at {server}: {why}"),
            None => format!(
                "cannot connect to PostgreSQL at {server} ({}); check the URL, that the server is running, and the user name and password",
                link.settings.describe()
            ),
        };
        backend(action, e)
    })?;
    let conn = Conn {
        client,
        tls: link.tls.clone(),
        task,
        killed: AtomicBool::new(false),
        round_trips: round_trips.clone(),
    };
    // Let the server notice a vanished client during a long statement
    // (PostgreSQL 14+; ignored by older servers), and learn the schema
    // unqualified names resolve to: one round trip.
    let messages = conn
        .guarded(conn.client.simple_query(queries::SESSION_SETUP))
        .await
        .map_err(|e| backend("cannot set up the migration session".into(), e))?;
    let row = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let schema = row.and_then(|r| r.get(0)).map(str::to_owned);
    let version = row
        .and_then(|r| r.get(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((conn, schema, version))
}

/// Polls `a` then `b` until both finish. `a` is always polled first, so its
/// request is written to the connection before `b`'s (pipelining in order).
pub(super) async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let mut out_a = None;
    let mut out_b = None;
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => std::task::Poll::Ready((x, y)),
            (x, y) => {
                out_a = x;
                out_b = y;
                std::task::Poll::Pending
            }
        }
    })
    .await
}

pub(super) fn describe_config(config: &tokio_postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{}:{}/{}",
        config.get_user().unwrap_or(""),
        host,
        port,
        config.get_dbname().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_description_names_the_server_without_the_password() {
        let config = tokio_postgres::Config::from_str("postgres://u:secret@db.example:6543/app")
            .expect("valid url");
        let text = describe_config(&config);
        assert_eq!(text, "postgres://u@db.example:6543/app");
    }
}
