//! Benchmarks for engine-ops-apiversion (being written).
fn main() {}
