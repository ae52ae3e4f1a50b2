//! The cluster examples (`blue_green`, `canary`, `rolling`), compiled, run
//! as their users run them against the real control plane
//! (`tools/k8s-testenv`, through `KUBECONFIG`): end to end, killed at
//! random moments and at named points, two at once, and with bad input.
//! Each test works in its own `k8s-ex-…` namespace and deletes it.
//!
//! Without a reachable API server the tests print `SKIPPED: …` and pass,
//! unless `CI` is set: then they fail.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

mod bad_input;
mod blue_green;
mod canary;
mod cli_blue_green;
mod cli_rolling;
mod cli_usage;
mod cli_watch;
mod crash;
mod lease;
mod measure;
mod rolling;
mod support;
mod watcher;
