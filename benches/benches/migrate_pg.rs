//! PostgreSQL migrations: engine-ops-migrate against sqlx's `Migrator` and
//! refinery's `Runner`, on the same server in the same run.
//!
//! ```text
//! eval "$(tools/pg-testenv/up)"
//! cargo bench -p engine-ops-benches --features peers --bench migrate_pg -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups (read the ratios between the lines of a group):
//! - `pg_apply_1000`: apply 1,000 migrations of one `CREATE TABLE` each to a
//!   fresh schema (connection opened beforehand; schema setup and teardown
//!   not timed).
//! - `pg_status_1000`: what each tool reads to report status with 1,000
//!   applied: engine-ops `Migrator::status`; sqlx's `migrate info` sequence
//!   (ensure table, dirty check, list applied, compare checksums); refinery's
//!   `get_applied_migrations` plus the same comparison.
//! - `pg_noop_run_1000`: the startup check, a run with all 1,000 applied.
//!
//! Before the groups, the bench prints medians of apply and status runs
//! interleaved round-robin across the three tools (fair on a machine whose
//! load drifts), with the ratios.
//!
//! Guarantees differ: engine-ops holds a session advisory lock on a
//! dedicated connection and writes each history row in its migration's
//! transaction (one commit per migration); sqlx locks too but commits twice
//! per migration; refinery takes no lock and commits the SQL and the
//! history row in separate transactions.
//!
//! sqlx is used through `sqlx-core` + `sqlx-postgres` (the `sqlx` facade's
//! optional SQLite driver pins a `libsqlite3-sys` that conflicts with
//! rusqlite's in one workspace); the `Migrator` is the same code.
//!
//! Without `ENGINE_OPS_TEST_DATABASE_URL` (or an unreachable server) the
//! bench prints `SKIPPED` and measures nothing.

use std::borrow::Cow;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use engine_ops_migrate::{Migrator, PostgresStore, SqlMigration};
use sqlx_core::connection::Connection as _;
use sqlx_core::migrate::{
    Migrate, Migration as SqlxMigration, MigrationType, Migrator as SqlxMigrator,
};
use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr};
use sqlx_postgres::{PgConnectOptions, PgConnection};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

const N: u64 = 1_000;
const URL_ENV: &str = "ENGINE_OPS_TEST_DATABASE_URL";

fn sql(v: u64) -> String {
    format!("CREATE TABLE t{v} (id bigint)")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

struct Server {
    url: String,
    config: tokio_postgres::Config,
    admin: Client,
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl Server {
    async fn schema(&self, tool: &str) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "bench_{}_{}_{}",
            tool.replace('-', "_"),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        name
    }

    async fn drop_schema(&self, name: &str) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
            .await
            .expect("drop schema");
    }

    fn pg_config(&self, schema: &str) -> tokio_postgres::Config {
        let mut c = self.config.clone();
        c.options(format!("-c search_path={schema}"));
        c
    }

    async fn engine_ops(&self, schema: &str) -> Migrator<PostgresStore> {
        let store = PostgresStore::builder_from_config(self.pg_config(schema))
            .connect()
            .await
            .expect("engine-ops store");
        let mut b = Migrator::builder(store);
        for v in 1..=N {
            b = b.migration(SqlMigration::new(v, format!("t{v}"), sql(v)));
        }
        b.build().expect("migrator")
    }

    async fn sqlx(&self, schema: &str) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url)
            .expect("sqlx options")
            .options([("search_path", schema)]);
        PgConnection::connect_with(&options)
            .await
            .expect("sqlx connection")
    }

    async fn refinery(&self, schema: &str) -> Client {
        connect(&self.pg_config(schema))
            .await
            .expect("refinery connection")
    }
}

fn sqlx_migrator() -> SqlxMigrator {
    let migrations: Vec<SqlxMigration> = (1..=N)
        .map(|v| {
            SqlxMigration::new(
                v as i64,
                Cow::Owned(format!("t{v}")),
                MigrationType::Simple,
                AssertSqlSafe(sql(v)).into_sql_str(),
                false,
            )
        })
        .collect();
    SqlxMigrator {
        migrations: Cow::Owned(migrations),
        ..SqlxMigrator::DEFAULT
    }
}

fn refinery_runner() -> refinery::Runner {
    let migrations: Vec<refinery::Migration> = (1..=N)
        .map(|v| {
            refinery::Migration::unapplied(&format!("V{v}__t{v}"), &sql(v))
                .expect("refinery migration")
        })
        .collect();
    refinery::Runner::new(&migrations)
}

/// sqlx's `migrate info`: what it reads and compares to report status.
async fn sqlx_status(migrator: &SqlxMigrator, conn: &mut PgConnection) -> usize {
    let table = &migrator.table_name;
    conn.ensure_migrations_table(table).await.expect("table");
    assert!(conn.dirty_version(table).await.expect("dirty").is_none());
    let applied = conn.list_applied_migrations(table).await.expect("list");
    let by_version: std::collections::HashMap<i64, &[u8]> =
        applied.iter().map(|a| (a.version, &*a.checksum)).collect();
    migrator
        .iter()
        .filter(|m| by_version.get(&m.version) == Some(&&*m.checksum))
        .count()
}

async fn refinery_status(runner: &refinery::Runner, client: &mut Client) -> usize {
    let applied = runner
        .get_applied_migrations_async(client)
        .await
        .expect("applied");
    let by_version: std::collections::HashMap<_, _> = applied
        .iter()
        .map(|a| (a.version(), a.checksum()))
        .collect();
    runner
        .get_migrations()
        .iter()
        .filter(|m| by_version.get(&m.version()) == Some(&m.checksum()))
        .count()
}

fn server(rt: &Runtime) -> Option<Server> {
    let Ok(url) = std::env::var(URL_ENV) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL not reachable at <unset> ({URL_ENV} is not set)"
        );
        return None;
    };
    let config = tokio_postgres::Config::from_str(&url).expect("valid URL");
    match rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), connect(&config)).await })
    {
        Ok(Ok(admin)) => Some(Server { url, config, admin }),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL not reachable at {url}"
            );
            None
        }
    }
}

fn apply(c: &mut Criterion, rt: &Runtime, server: &Server) {
    let mut group = c.benchmark_group("pg_apply_1000");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);

    group.bench_function("engine-ops", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let schema = server.schema("eo").await;
                    let mut m = server.engine_ops(&schema).await;
                    let started = Instant::now();
                    let report = m.run().await.expect("engine-ops run");
                    total += started.elapsed();
                    assert_eq!(report.applied.len(), N as usize);
                    drop(m);
                    server.drop_schema(&schema).await;
                }
                total
            })
        });
    });

    let sqlx_m = sqlx_migrator();
    group.bench_function("sqlx", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let schema = server.schema("sqlx").await;
                    let mut conn = server.sqlx(&schema).await;
                    let started = Instant::now();
                    sqlx_m
                        .run_direct(None, &mut conn, false)
                        .await
                        .expect("sqlx run");
                    total += started.elapsed();
                    drop(conn);
                    server.drop_schema(&schema).await;
                }
                total
            })
        });
    });

    let runner = refinery_runner();
    group.bench_function("refinery", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let schema = server.schema("refinery").await;
                    let mut client = server.refinery(&schema).await;
                    let started = Instant::now();
                    let report = runner.run_async(&mut client).await.expect("refinery run");
                    total += started.elapsed();
                    assert_eq!(report.applied_migrations().len(), N as usize);
                    drop(client);
                    server.drop_schema(&schema).await;
                }
                total
            })
        });
    });
    group.finish();
}

fn status_and_noop(c: &mut Criterion, rt: &Runtime, server: &Server) {
    // One schema per tool with everything applied.
    let (eo_schema, sqlx_schema, ref_schema) = rt.block_on(async {
        (
            server.schema("eo_s").await,
            server.schema("sqlx_s").await,
            server.schema("ref_s").await,
        )
    });
    let mut eo = rt.block_on(server.engine_ops(&eo_schema));
    rt.block_on(eo.run()).expect("engine-ops setup");
    let sqlx_m = sqlx_migrator();
    let mut sqlx_conn = rt.block_on(server.sqlx(&sqlx_schema));
    rt.block_on(sqlx_m.run_direct(None, &mut sqlx_conn, false))
        .expect("sqlx setup");
    let runner = refinery_runner();
    let mut ref_client = rt.block_on(server.refinery(&ref_schema));
    rt.block_on(runner.run_async(&mut ref_client))
        .expect("refinery setup");

    let mut group = c.benchmark_group("pg_status_1000");
    group.bench_function("engine-ops", |b| {
        b.iter(|| {
            let status = rt.block_on(eo.status()).expect("status");
            assert_eq!(status.entries.len(), N as usize);
        });
    });
    group.bench_function("sqlx", |b| {
        b.iter(|| {
            assert_eq!(
                rt.block_on(sqlx_status(&sqlx_m, &mut sqlx_conn)),
                N as usize
            )
        });
    });
    group.bench_function("refinery", |b| {
        b.iter(|| {
            assert_eq!(
                rt.block_on(refinery_status(&runner, &mut ref_client)),
                N as usize
            )
        });
    });
    group.finish();

    let mut group = c.benchmark_group("pg_noop_run_1000");
    group.bench_function("engine-ops", |b| {
        b.iter(|| assert!(rt.block_on(eo.run()).expect("run").applied.is_empty()));
    });
    group.bench_function("sqlx", |b| {
        b.iter(|| {
            rt.block_on(sqlx_m.run_direct(None, &mut sqlx_conn, false))
                .expect("run")
        });
    });
    group.bench_function("refinery", |b| {
        b.iter(|| {
            let report = rt.block_on(runner.run_async(&mut ref_client)).expect("run");
            assert!(report.applied_migrations().is_empty());
        });
    });
    group.finish();

    drop((eo, sqlx_conn, ref_client));
    rt.block_on(async {
        for s in [&eo_schema, &sqlx_schema, &ref_schema] {
            server.drop_schema(s).await;
        }
    });
}

/// Applies the 1,000 migrations with `tool` to a fresh schema; the time of
/// the run alone.
async fn apply_once(
    server: &Server,
    tool: &str,
    sqlx_m: &SqlxMigrator,
    runner: &refinery::Runner,
) -> Duration {
    let schema = server.schema(tool).await;
    let took = match tool {
        "engine-ops" => {
            let mut m = server.engine_ops(&schema).await;
            let started = Instant::now();
            m.run().await.expect("engine-ops run");
            started.elapsed()
        }
        "sqlx" => {
            let mut conn = server.sqlx(&schema).await;
            let started = Instant::now();
            sqlx_m
                .run_direct(None, &mut conn, false)
                .await
                .expect("sqlx run");
            started.elapsed()
        }
        _ => {
            let mut client = server.refinery(&schema).await;
            let started = Instant::now();
            runner.run_async(&mut client).await.expect("refinery run");
            started.elapsed()
        }
    };
    server.drop_schema(&schema).await;
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The machine this runs on is shared and its load drifts over seconds, so
/// criterion's one-tool-after-the-other groups can favour whichever tool ran
/// in a quiet moment. This prints medians of runs interleaved round-robin
/// (the order rotating each round), so each tool sees the same drift.
fn interleaved(rt: &Runtime, server: &Server) {
    const ROUNDS: usize = 7;
    let tools = ["engine-ops", "sqlx", "refinery"];
    let sqlx_m = sqlx_migrator();
    let runner = refinery_runner();
    let mut apply: [Vec<Duration>; 3] = Default::default();
    rt.block_on(async {
        for round in 0..ROUNDS {
            for k in 0..3 {
                let i = (round + k) % 3;
                apply[i].push(apply_once(server, tools[i], &sqlx_m, &runner).await);
            }
        }
    });
    let apply = apply.map(median);

    // Status with 1,000 applied, 50 calls per tool per round.
    let (eo_schema, sqlx_schema, ref_schema) = rt.block_on(async {
        (
            server.schema("eo_i").await,
            server.schema("sqlx_i").await,
            server.schema("ref_i").await,
        )
    });
    let mut eo = rt.block_on(server.engine_ops(&eo_schema));
    rt.block_on(eo.run()).expect("engine-ops setup");
    let mut sqlx_conn = rt.block_on(server.sqlx(&sqlx_schema));
    rt.block_on(sqlx_m.run_direct(None, &mut sqlx_conn, false))
        .expect("sqlx setup");
    let mut ref_client = rt.block_on(server.refinery(&ref_schema));
    rt.block_on(runner.run_async(&mut ref_client))
        .expect("refinery setup");
    let mut status: [Vec<Duration>; 3] = Default::default();
    rt.block_on(async {
        for round in 0..ROUNDS * 3 {
            for k in 0..3 {
                let i = (round + k) % 3;
                let started = Instant::now();
                for _ in 0..50 {
                    match i {
                        0 => {
                            eo.status().await.expect("status");
                        }
                        1 => {
                            sqlx_status(&sqlx_m, &mut sqlx_conn).await;
                        }
                        _ => {
                            refinery_status(&runner, &mut ref_client).await;
                        }
                    }
                }
                status[i].push(started.elapsed() / 50);
            }
        }
    });
    let status = status.map(median);
    drop((eo, sqlx_conn, ref_client));
    rt.block_on(async {
        for s in [&eo_schema, &sqlx_schema, &ref_schema] {
            server.drop_schema(s).await;
        }
    });
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "interleaved pg_apply_1000 medians ({ROUNDS} rounds): engine-ops {:.1} ms, sqlx {:.1} ms, refinery {:.1} ms; engine-ops/sqlx {:.2}, engine-ops/refinery {:.2}",
        apply[0].as_secs_f64() * 1e3,
        apply[1].as_secs_f64() * 1e3,
        apply[2].as_secs_f64() * 1e3,
        ratio(apply[0], apply[1]),
        ratio(apply[0], apply[2]),
    );
    println!(
        "interleaved pg_status_1000 medians ({} rounds of 50): engine-ops {:.3} ms, sqlx {:.3} ms, refinery {:.3} ms; engine-ops/sqlx {:.2}, engine-ops/refinery {:.2}",
        ROUNDS * 3,
        status[0].as_secs_f64() * 1e3,
        status[1].as_secs_f64() * 1e3,
        status[2].as_secs_f64() * 1e3,
        ratio(status[0], status[1]),
        ratio(status[0], status[2]),
    );
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let Some(server) = server(&rt) else { return };
    interleaved(&rt, &server);
    status_and_noop(c, &rt, &server);
    apply(c, &rt, &server);
}

criterion_group!(migrate_pg, benches);
criterion_main!(migrate_pg);
