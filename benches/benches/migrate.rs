//! Benchmarks for engine-ops-migrate (being written).
fn main() {}
