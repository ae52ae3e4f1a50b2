//! Runnable compositions of the engine-ops crates.
//!
//! The library crates never depend on each other; the examples in this
//! package (`cargo run -p engine-ops-examples --example <name>`) are where
//! they meet. See the workspace README for the list.
