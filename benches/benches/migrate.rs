//! Benchmarks of engine-ops-migrate, each against a baseline measured in the
//! same run:
//!
//! - `migrate/verify_10k`: `plan` + `verify` over 10,000 applied migrations
//!   (hashing every source, then planning) vs hashing the same bytes with
//!   `sha2` alone. Goal: at most 1.3x.
//!   `migrator_verify_memory_store` and `migrate/verify_10k_file_store`
//!   time `Migrator::verify` on a built migrator, which hashed the sources
//!   once in `build()`.
//! - `migrate/apply_1000_disk`: applying 1,000 no-op migrations on the file
//!   store in the default temp dir vs 1,000 fsynced appends of the same
//!   size there (the physical floor). Goal: at most 1.5x. The store's
//!   time includes `build()` (hashing every source) and the run.
//! - `migrate/apply_1000_tmpfs`: the same on `/dev/shm`, where fsync is
//!   nearly free, so the ratio shows the store's CPU overhead.
//! - `migrate/per_migration`: applying 100 / 1,000 / 10,000 no-op
//!   migrations on tmpfs, with throughput per migration; it must stay flat
//!   (no O(n²) rewriting or re-reading).

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use engine_ops_migrate::{
    AppliedMigration, BoxError, FileStore, History, MemoryStore, Migration, MigrationInfo,
    Migrator, plan,
};
use sha2::{Digest, Sha256};

/// About 1 KiB of SQL-like text per migration.
fn source(v: u64) -> String {
    let mut s = format!("-- migration {v}: add the reporting columns\n");
    while s.len() < 1024 {
        s.push_str(&format!(
            "ALTER TABLE report_{v} ADD COLUMN metric_{} numeric(12, 2) NOT NULL DEFAULT 0;\n",
            s.len()
        ));
    }
    s
}

#[derive(Debug)]
struct Noop {
    version: u64,
    name: String,
    source: String,
}

#[engine_ops_migrate::async_trait]
impl Migration<()> for Noop {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source(&self) -> &[u8] {
        self.source.as_bytes()
    }
    async fn up(&self, _: &mut ()) -> Result<(), BoxError> {
        Ok(())
    }
    async fn down(&self, _: &mut ()) -> Result<(), BoxError> {
        Ok(())
    }
}

fn noops(n: u64) -> Vec<Box<dyn Migration<()>>> {
    (1..=n)
        .map(|v| {
            Box::new(Noop {
                version: v,
                name: format!("m{v:05}"),
                source: source(v),
            }) as Box<dyn Migration<()>>
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn verify_10k(c: &mut Criterion) {
    const N: u64 = 10_000;
    let sources: Vec<String> = (1..=N).map(source).collect();
    let names: Vec<String> = (1..=N).map(|v| format!("m{v:05}")).collect();
    let declared: Vec<MigrationInfo> = (1..=N)
        .map(|v| {
            MigrationInfo::new(
                v,
                names[v as usize - 1].clone(),
                sources[v as usize - 1].as_bytes(),
            )
        })
        .collect();
    let history = History::new(
        declared
            .iter()
            .map(|d| AppliedMigration::new(d, 0, 0))
            .collect(),
        vec![],
    );
    let rt = runtime();
    let mut mem = Migrator::builder(MemoryStore::new().with_history(history.clone()))
        .migrations(noops(N))
        .build()
        .expect("migrator");
    let bytes: usize = sources.iter().map(String::len).sum();

    let mut g = c.benchmark_group("migrate/verify_10k");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("baseline_sha2_only", |b| {
        b.iter(|| {
            for s in &sources {
                black_box(Sha256::digest(black_box(s.as_bytes())));
            }
        });
    });
    g.bench_function("plan_and_verify", |b| {
        b.iter(|| {
            let infos: Vec<MigrationInfo> = (0..sources.len())
                .map(|i| MigrationInfo::new(i as u64 + 1, names[i].as_str(), sources[i].as_bytes()))
                .collect();
            let p = plan(black_box(&infos), black_box(&history));
            assert!(p.problems().is_empty());
            black_box(p);
        });
    });
    g.bench_function("plan_only_prehashed", |b| {
        b.iter(|| {
            let p = plan(black_box(&declared), black_box(&history));
            assert!(p.problems().is_empty());
            black_box(p);
        });
    });
    g.bench_function("checksums_only", |b| {
        b.iter(|| {
            for s in &sources {
                black_box(engine_ops_migrate::Checksum::of_source(black_box(
                    s.as_bytes(),
                )));
            }
        });
    });
    // Interleaved: each iteration hashes with sha2 alone, then plans and
    // verifies; the ratio of the sums is printed.
    let totals = std::cell::Cell::new((Duration::ZERO, Duration::ZERO));
    g.bench_function("interleaved_plan_and_verify_time", |b| {
        b.iter_custom(|iters| {
            let (mut base_sum, mut ours_sum) = totals.get();
            let mut ours = Duration::ZERO;
            for _ in 0..iters {
                let started = std::time::Instant::now();
                for s in &sources {
                    black_box(Sha256::digest(black_box(s.as_bytes())));
                }
                base_sum += started.elapsed();
                let started = std::time::Instant::now();
                let infos: Vec<MigrationInfo> = (0..sources.len())
                    .map(|i| {
                        MigrationInfo::new(i as u64 + 1, names[i].as_str(), sources[i].as_bytes())
                    })
                    .collect();
                let p = plan(black_box(&infos), black_box(&history));
                assert!(p.problems().is_empty());
                black_box(p);
                let took = started.elapsed();
                ours += took;
                ours_sum += took;
            }
            totals.set((base_sum, ours_sum));
            ours
        });
    });
    g.bench_function("migrator_verify_memory_store", |b| {
        b.iter(|| {
            let report = rt.block_on(mem.verify()).expect("verify");
            assert!(report.is_ok());
            black_box(report);
        });
    });
    g.finish();
    let (base_sum, ours_sum) = totals.get();
    if !base_sum.is_zero() {
        eprintln!(
            "migrate/verify_10k: interleaved ratio plan+verify / sha2 alone = {:.2}x",
            ours_sum.as_secs_f64() / base_sum.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }

    // The same through the file store, journal parsing included (information).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut file = Migrator::builder(
        FileStore::builder(dir.path().join("state.jsonl"))
            .build()
            .expect("store"),
    )
    .migrations(noops(N))
    .build()
    .expect("migrator");
    rt.block_on(file.run()).expect("seed 10k");
    let mut g = c.benchmark_group("migrate/verify_10k_file_store");
    g.sample_size(10);
    g.bench_function("migrator_verify_file_store", |b| {
        b.iter(|| {
            let report = rt.block_on(file.verify()).expect("verify");
            assert!(report.is_ok());
            black_box(report);
        });
    });
    g.finish();
}

/// Journal bytes one no-op migration costs (intent + done lines).
fn journal_bytes_per_migration(dir: &Path, rt: &tokio::runtime::Runtime) -> usize {
    let probe = dir.join("probe");
    std::fs::create_dir_all(&probe).expect("mkdir");
    let store = FileStore::builder(probe.join("state.jsonl"))
        .build()
        .expect("store");
    let mut m = Migrator::builder(store)
        .migrations(noops(100))
        .build()
        .expect("m");
    rt.block_on(m.run()).expect("run");
    let len = std::fs::metadata(probe.join("state.jsonl"))
        .expect("stat")
        .len() as usize;
    len / 100
}

fn apply_1000_in(c: &mut Criterion, group: &str, root: &Path) {
    const N: u64 = 1_000;
    let rt = runtime();
    let per = journal_bytes_per_migration(root, &rt);
    let line = vec![b'x'; per.max(2) - 1];
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("baseline_fsynced_appends", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(root).expect("tempdir"),
            |dir| {
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("floor.jsonl"))
                    .expect("open");
                for _ in 0..N {
                    f.write_all(&line).expect("write");
                    f.write_all(b"\n").expect("write");
                    f.sync_data().expect("fsync");
                }
                dir
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("file_store_run", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir_in(root).expect("tempdir");
                let store = FileStore::builder(dir.path().join("state.jsonl"))
                    .build()
                    .expect("store");
                (dir, store, noops(N))
            },
            |(dir, store, migrations)| {
                // Timed from build(), which hashes every source.
                let mut m = Migrator::builder(store)
                    .migrations(migrations)
                    .build()
                    .expect("m");
                let report = rt.block_on(m.run()).expect("run");
                assert_eq!(report.applied.len(), N as usize);
                (dir, m)
            },
            BatchSize::PerIteration,
        );
    });
    // Same work, interleaved: each iteration runs the floor and the store
    // back to back, so load from other processes hits both alike. Criterion
    // reports the store's time; the ratio of the sums is printed.
    let totals = std::cell::Cell::new((Duration::ZERO, Duration::ZERO));
    g.bench_function("interleaved_store_time", |b| {
        b.iter_custom(|iters| {
            let (mut floor_sum, mut store_sum) = totals.get();
            let mut store_time = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir_in(root).expect("tempdir");
                let started = std::time::Instant::now();
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("floor.jsonl"))
                    .expect("open");
                for _ in 0..N {
                    f.write_all(&line).expect("write");
                    f.write_all(b"\n").expect("write");
                    f.sync_data().expect("fsync");
                }
                floor_sum += started.elapsed();

                let store = FileStore::builder(dir.path().join("state.jsonl"))
                    .build()
                    .expect("store");
                let migrations = noops(N);
                // Timed from build(), which hashes every source.
                let started = std::time::Instant::now();
                let mut m = Migrator::builder(store)
                    .migrations(migrations)
                    .build()
                    .expect("m");
                let report = rt.block_on(m.run()).expect("run");
                let took = started.elapsed();
                assert_eq!(report.applied.len(), N as usize);
                store_time += took;
                store_sum += took;
            }
            totals.set((floor_sum, store_sum));
            store_time
        });
    });
    g.finish();
    let (floor_sum, store_sum) = totals.get();
    if floor_sum.is_zero() {
        return; // Filtered out on the command line.
    }
    eprintln!(
        "{group}: {per} journal bytes per migration; interleaved ratio store / fsynced appends = {:.2}x",
        store_sum.as_secs_f64() / floor_sum.as_secs_f64().max(f64::MIN_POSITIVE)
    );
}

fn tmpfs() -> Option<&'static Path> {
    let shm = Path::new("/dev/shm");
    shm.is_dir().then_some(shm)
}

fn apply_1000(c: &mut Criterion) {
    let tmp = std::env::temp_dir();
    apply_1000_in(c, "migrate/apply_1000_disk", &tmp);
    if let Some(shm) = tmpfs() {
        apply_1000_in(c, "migrate/apply_1000_tmpfs", shm);
    }
}

fn per_migration(c: &mut Criterion) {
    let root = tmpfs().map_or_else(std::env::temp_dir, Path::to_path_buf);
    let rt = runtime();
    let mut g = c.benchmark_group("migrate/per_migration");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    for n in [100_u64, 1_000, 10_000] {
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("file_store_run_{n}"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir_in(&root).expect("tempdir");
                    let store = FileStore::builder(dir.path().join("state.jsonl"))
                        .build()
                        .expect("store");
                    (dir, store, noops(n))
                },
                |(dir, store, migrations)| {
                    let mut m = Migrator::builder(store)
                        .migrations(migrations)
                        .build()
                        .expect("m");
                    let report = rt.block_on(m.run()).expect("run");
                    assert_eq!(report.applied.len(), n as usize);
                    (dir, m)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, verify_10k, apply_1000, per_migration);
criterion_main!(benches);
