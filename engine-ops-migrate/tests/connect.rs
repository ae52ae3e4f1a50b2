//! `connect(url)` against each kind of store, TLS against a real PostgreSQL
//! server with a certificate made at test time, and the throwaway test
//! server stopped when its test process fails.
//!
//! The PostgreSQL parts use `ENGINE_OPS_TEST_DATABASE_URL` or a throwaway
//! server (see `pg_server`); the TLS parts always start a private server
//! with `ssl=on`. Without a PostgreSQL server program they print `SKIPPED`.

#![cfg(all(feature = "postgres", feature = "sqlite"))]

mod pg_server;

use std::io::Read;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use engine_ops_migrate::{AnyStore, Error, MigrationState, Migrator, StateStore};

/// The fixture directory's migrations: create `users` (reversible), add a
/// column (irreversible), insert a row (non-transactional, validated).
fn fixture() -> Vec<engine_ops_migrate::SqlMigration> {
    engine_ops_migrate::embed!("tests/fixtures/migrations")
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let config = tokio_postgres::Config::from_str(url).expect("test URL");
    let (client, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// `url` with `search_path` set to `schema` (an extra URL parameter).
fn in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn a_journal_path_or_file_url_opens_the_journal_and_sql_there_fails_naming_the_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.jsonl");
    for url in [
        path.display().to_string(),
        format!("file://{}", path.display()),
    ] {
        let store = engine_ops_migrate::connect(&url).await.expect("journal");
        assert!(matches!(store, AnyStore::Journal(_)), "{url}");
        let mut migrator = Migrator::builder(store)
            .migrations(fixture())
            .build()
            .expect("migrator");
        let status = migrator.status().await.expect("status");
        assert_eq!(status.count(MigrationState::Pending), 3);
        let err = migrator.run().await.expect_err("no database");
        let text = chain(&err);
        assert!(
            text.contains("migration 1 (create_users)")
                && text.contains("no database to run SQL on"),
            "{text}"
        );
        let status = migrator.status().await.expect("status");
        assert_eq!(
            status.count(MigrationState::Pending),
            3,
            "nothing applied, nothing in doubt: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_sqlite_url_opens_sqlite_and_the_embedded_migrations_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("app.db");
    for url in [
        format!("sqlite:{}", db.display()),
        format!("sqlite://{}", db.display()),
    ] {
        let store = engine_ops_migrate::connect(&url).await.expect("sqlite");
        assert!(matches!(store, AnyStore::Sqlite(_)), "{url}");
        let mut migrator = Migrator::builder(store)
            .migrations(fixture())
            .build()
            .expect("migrator");
        migrator.run().await.expect("run");
        assert_eq!(
            migrator
                .status()
                .await
                .expect("status")
                .count(MigrationState::Applied),
            3
        );
    }
    let conn = rusqlite::Connection::open(&db).expect("open");
    let email: String = conn
        .query_row("SELECT email FROM users WHERE id = 1", [], |r| r.get(0))
        .expect("the seed row");
    assert_eq!(email, "root@localhost");

    let mut memory = engine_ops_migrate::connect("sqlite::memory:")
        .await
        .expect("memory");
    assert!(matches!(memory, AnyStore::Sqlite(_)));
    assert!(memory.load().await.expect("load").applied.is_empty());
}

#[tokio::test]
async fn unknown_schemes_are_refused_before_anything_is_opened() {
    for (url, says) in [
        ("mysql://root:pw@localhost/app", "unknown scheme `mysql`"),
        ("postgress://localhost/app", "unknown scheme `postgress`"),
        ("sqlite:", "SQLite path is empty"),
        ("", "it is empty"),
    ] {
        let err = engine_ops_migrate::connect(url).await.expect_err(url);
        assert!(matches!(err, Error::BadUrl { .. }), "{url}: {err:?}");
        assert!(err.to_string().contains(says), "{url}: {err}");
        assert!(!err.to_string().contains(":pw@"), "{err}");
    }
}

#[tokio::test]
async fn a_postgres_url_opens_postgres_and_the_embedded_migrations_run() {
    let Some(url) = pg_server::test_url() else {
        return;
    };
    let schema = unique("eo_connect");
    let admin = admin(&url).await;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    for scheme_url in [
        in_schema(&url, &schema),
        in_schema(&url.replacen("postgres://", "postgresql://", 1), &schema),
    ] {
        let store = engine_ops_migrate::connect(&scheme_url)
            .await
            .expect("postgres");
        assert!(matches!(store, AnyStore::Postgres(_)));
        let mut migrator = Migrator::builder(store)
            .migrations(fixture())
            .build()
            .expect("migrator");
        migrator.run().await.expect("run");
        assert_eq!(
            migrator
                .status()
                .await
                .expect("status")
                .count(MigrationState::Applied),
            3
        );
    }
    let row = admin
        .query_one(
            &format!("SELECT email FROM {schema}.users WHERE id = 1"),
            &[],
        )
        .await
        .expect("seed row");
    assert_eq!(row.get::<_, String>(0), "root@localhost");
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop");
}

/// A CA, and a server certificate it signed for `names`.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(names: &[&str]) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "engine-ops test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("ca key")).expect("ca");
    let key = KeyPair::generate().expect("server key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "engine-ops test server");
    let cert = params.signed_by(&key, &ca).expect("server cert");
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Whether the store's own session runs over TLS, as the server sees it.
async fn session_uses_tls(store: &mut AnyStore) -> bool {
    let AnyStore::Postgres(pg) = store else {
        panic!("not PostgreSQL")
    };
    pg.context()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test]
async fn tls_modes_behave_as_libpq_documents_them() {
    let server_pki = pki(&["localhost"]);
    let other_ca = pki(&["localhost"]);
    let server = match pg_server::start(&pg_server::Options {
        tls: Some((server_pki.cert_pem.clone(), server_pki.key_pem.clone())),
    }) {
        Ok(server) => server,
        Err(pg_server::Unavailable::NoBinaries(why)) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but the TLS test cannot start a server: {why}"
            );
            pg_server::skipped(&format!("TLS test: {why}"));
            return;
        }
        Err(pg_server::Unavailable::Failed(why)) => panic!("TLS test server: {why}"),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let right_ca = dir.path().join("ca.pem");
    let wrong_ca = dir.path().join("other-ca.pem");
    std::fs::write(&right_ca, &server_pki.ca_pem).expect("write ca");
    std::fs::write(&wrong_ca, &other_ca.ca_pem).expect("write ca");
    let by_ip = server.url.clone();
    let by_name = by_ip.replace("127.0.0.1", "localhost");
    let with = |base: &str, query: &str| format!("{base}?{query}");

    // require: encrypted, certificate not checked.
    let mut store = engine_ops_migrate::connect(&with(&by_ip, "sslmode=require"))
        .await
        .expect("sslmode=require connects to a self-signed server");
    assert!(session_uses_tls(&mut store).await);
    // prefer (the default): TLS when offered.
    let mut store = engine_ops_migrate::connect(&by_ip).await.expect("prefer");
    assert!(session_uses_tls(&mut store).await);
    // disable: plain.
    let mut store = engine_ops_migrate::connect(&with(&by_ip, "sslmode=disable"))
        .await
        .expect("disable");
    assert!(!session_uses_tls(&mut store).await);

    // verify-full with the CA that signed the certificate, by the name it lists.
    let good = with(
        &by_name,
        &format!("sslmode=verify-full&sslrootcert={}", right_ca.display()),
    );
    let mut store = engine_ops_migrate::connect(&good)
        .await
        .expect("verify-full");
    assert!(session_uses_tls(&mut store).await);
    let mut migrator = Migrator::builder(store)
        .migrations(fixture())
        .build()
        .expect("migrator");
    assert_eq!(migrator.run().await.expect("run over TLS").applied.len(), 3);

    // verify-full with the wrong CA: refused, saying why.
    let wrong = with(
        &by_name,
        &format!("sslmode=verify-full&sslrootcert={}", wrong_ca.display()),
    );
    let err = engine_ops_migrate::connect(&wrong)
        .await
        .expect_err("wrong CA");
    let text = chain(&err);
    assert!(
        text.contains("the server's TLS certificate is not signed by a trusted authority")
            && text.contains(&format!("sslrootcert={}", wrong_ca.display()))
            && text.contains("sslmode=verify-full"),
        "{text}"
    );
    assert!(!text.contains(&server.password), "{text}");

    // verify-full by an address the certificate does not list: refused;
    // verify-ca checks the chain only, and accepts it.
    let by_ip_full = with(
        &by_ip,
        &format!("sslmode=verify-full&sslrootcert={}", right_ca.display()),
    );
    let err = engine_ops_migrate::connect(&by_ip_full)
        .await
        .expect_err("wrong host");
    assert!(
        chain(&err).contains("does not name the host 127.0.0.1"),
        "{}",
        chain(&err)
    );
    let by_ip_ca = with(
        &by_ip,
        &format!("sslmode=verify-ca&sslrootcert={}", right_ca.display()),
    );
    let mut store = engine_ops_migrate::connect(&by_ip_ca)
        .await
        .expect("verify-ca");
    assert!(session_uses_tls(&mut store).await);
    let err = engine_ops_migrate::connect(&with(
        &by_ip,
        &format!("sslmode=verify-ca&sslrootcert={}", wrong_ca.display()),
    ))
    .await
    .expect_err("verify-ca, wrong CA");
    assert!(
        chain(&err).contains("not signed by a trusted authority"),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn requiring_tls_from_a_server_without_it_is_a_clear_error_and_prefer_falls_back() {
    let Some(url) = pg_server::test_url() else {
        return;
    };
    let ssl_on: bool = admin(&url)
        .await
        .query_one("SELECT current_setting('ssl') = 'on'", &[])
        .await
        .expect("ssl setting")
        .get(0);
    if ssl_on {
        pg_server::skipped("the test server has TLS on; this test needs one without");
        return;
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let err = engine_ops_migrate::connect(&format!("{url}{sep}sslmode=require"))
        .await
        .expect_err("no TLS on the server");
    assert!(
        chain(&err).contains("the server does not accept TLS, and sslmode=require requires it"),
        "{}",
        chain(&err)
    );
    let mut store = engine_ops_migrate::connect(&format!("{url}{sep}sslmode=prefer"))
        .await
        .expect("prefer falls back to plain");
    assert!(!session_uses_tls(&mut store).await);
}

const CHILD: &str = "ENGINE_OPS_CONNECT_TEST_CHILD";

/// Child of the next test: starts the throwaway server, then fails.
#[test]
#[ignore = "child process of a_throwaway_server_is_stopped_when_its_test_process_fails"]
fn failing_child_with_a_throwaway_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let url = pg_server::test_url().expect("a server");
    println!("URL {url}");
    panic!("this child fails on purpose, with its server running");
}

#[test]
fn a_throwaway_server_is_stopped_when_its_test_process_fails() {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "failing_child_with_a_throwaway_server",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env_remove(pg_server::URL_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    if err.contains("SKIPPED") {
        pg_server::skipped("no PostgreSQL server program: nothing to stop");
        return;
    }
    assert!(!status.success(), "the child fails on purpose");
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("URL "))
        .unwrap_or_else(|| panic!("the child started a server; stderr: {err}"));
    let port: u16 = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the URL");
    let dir = err
        .lines()
        .find_map(|l| l.split(", ").last()?.strip_suffix(')').map(str::to_owned))
        .expect("the child named the server's directory");
    assert!(dir.contains("engine-ops-pg-"), "{dir}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listening = std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            Duration::from_millis(200),
        )
        .is_ok();
        let exists = std::path::Path::new(&dir).exists();
        if !listening && !exists {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "20 s after the child failed, its server still runs (port {port} listening: {listening}) or its directory {dir} exists: {exists}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
