//! Criterion benchmarks of the engine-ops crates (`cargo bench -p engine-ops-benches`).
//!
//! Every figure is reported as a ratio against a baseline measured in the
//! same run; see each bench file for its baseline.
