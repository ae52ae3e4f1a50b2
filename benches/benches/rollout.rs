//! Benchmarks for engine-ops-rollout (being written).
fn main() {}
