//! Cluster operations on the real control plane (`tools/k8s-testenv`,
//! found through `KUBECONFIG`): tracks, traffic switches, state, leases,
//! the rolling Deployment, watches and the errors of bad input. Each test
//! works in its own `k8s-…` namespace and deletes it.
//!
//! Without a reachable API server the tests print `SKIPPED: …` and pass,
//! unless `CI` is set: then they fail.

#[path = "../common/mod.rs"]
mod common;

mod errors;
mod flow;
mod lease;
mod rbac;
mod rolling;
mod state;
mod support;
mod tracks;
mod traffic;
