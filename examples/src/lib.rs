//! Runnable compositions of the engine-ops crates.
//!
//! The library crates never depend on each other; the examples in this
//! package (`cargo run -p engine-ops-examples --example <name>`) are where
//! they meet. See the workspace README for the list.
//!
//! [`cluster_driver`] is the driver the cluster examples (`blue_green`,
//! `canary`, `rolling`) share: the rollout planner carried out on a real
//! cluster through `engine-ops-k8s`.

pub mod cluster_driver;
