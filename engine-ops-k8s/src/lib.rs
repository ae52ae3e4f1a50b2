//! Kubernetes adapter for engine-ops.
//!
//! **Not implemented yet.** This crate will carry typed manifests (blue and
//! green Deployments, active and preview Services, a rolling Deployment,
//! HorizontalPodAutoscaler, PodDisruptionBudget) and cluster operations on
//! kube-rs (server-side apply, Service selector switch, rollout observation,
//! undo). Today it exports nothing; the project's Kubernetes test control
//! plane lives in `tools/k8s-testenv/`.
