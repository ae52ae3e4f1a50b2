//! The SQL migration linter, against a baseline measured in the same run.
//!
//! - `lint/per_migration`: linting one typical expand migration (seven
//!   statements: a table, columns, a concurrent index in its own batch, a
//!   NOT VALID check, a default) with `lint::lint`, vs the checksum the
//!   migrator computes for the same migration anyway (`Checksum::of_source`,
//!   SHA-256 of its source). The ratio says what linting at build time
//!   (`LintPolicy::Warn` / `Deny`) adds per migration.
//! - `lint/history_200`: linting 200 such migrations (a project's whole
//!   history, as `migrate lint` in CI does), per migration.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine_ops_migrate::{Checksum, Phase, SqlMigration, lint};

fn migration(v: u64) -> SqlMigration {
    SqlMigration::new(
        v,
        format!("orders_{v}"),
        format!(
            "CREATE TABLE audit_{v} (id bigint PRIMARY KEY, order_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());\n\
             ALTER TABLE orders ADD COLUMN note_{v} text;\n\
             ALTER TABLE orders ADD COLUMN flags_{v} int NOT NULL DEFAULT 0;\n\
             ALTER TABLE orders ADD CONSTRAINT flags_{v}_pos CHECK (flags_{v} >= 0) NOT VALID;\n\
             ALTER TABLE orders ALTER COLUMN note_{v} SET DEFAULT '';\n\
             COMMENT ON COLUMN orders.note_{v} IS 'free text';\n\
             CREATE INDEX audit_{v}_order ON audit_{v} (order_id);"
        ),
    )
    .phase(Phase::Contract)
}

fn bench(c: &mut Criterion) {
    let one = [migration(1)];
    let mut group = c.benchmark_group("lint/per_migration");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_checksum", |b| {
        b.iter(|| black_box(Checksum::of_source(one[0].source_text().as_bytes())));
    });
    group.bench_function("lint", |b| {
        b.iter(|| black_box(lint::lint(black_box(&one))))
    });
    group.finish();

    let history: Vec<SqlMigration> = (1..=200).map(migration).collect();
    assert!(
        !lint::lint(&history).has_errors(),
        "the fixture lints clean"
    );
    let mut group = c.benchmark_group("lint/history_200");
    group.throughput(Throughput::Elements(200));
    group.bench_function("baseline_checksum", |b| {
        b.iter(|| {
            for m in &history {
                black_box(Checksum::of_source(m.source_text().as_bytes()));
            }
        });
    });
    group.bench_function("lint", |b| {
        b.iter(|| black_box(lint::lint(black_box(&history))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
