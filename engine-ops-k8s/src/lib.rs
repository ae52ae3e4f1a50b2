//! Kubernetes manifests and cluster operations for engine-ops rollouts, as
//! typed Rust instead of a Helm chart and `kubectl` scripts.
//!
//! Two modules:
//!
//! - [`manifest`]: the objects of an application, rendered and checked
//!   before anything is sent (nothing there talks to a cluster).
//! - [`cluster`]: the operations a rollout driver carries out on a cluster
//!   through a [`kube::Client`]: tracks (one ReplicaSet each), a rolling
//!   Deployment (server-side apply, `kubectl`'s completion rule, undo,
//!   pause, history), traffic switches in one request, the rollout state in
//!   an annotation with compare-and-swap, a Lease so that one driver acts at
//!   a time, watch-based waits, Events and request counting. It does not
//!   decide anything: a planner (such as `engine-ops-rollout`) does, and a
//!   driver maps its actions to these calls.
//!
//! # Vocabulary
//!
//! - **App**: one application, a name in a namespace. In manifests, its
//!   checked description ([`manifest::App`]); on a cluster, the scope of
//!   every operation ([`cluster::AppOps`]). Every object of an app carries
//!   `app.kubernetes.io/instance: <app>`.
//! - **Set**: the objects rendered for one strategy ([`manifest::RollingSet`],
//!   [`manifest::BlueGreenSet`]), written and read back as YAML or JSON.
//! - **Track**: one group of pods with one pod template, told apart by the
//!   `engine-ops.io/track` label. A rolling app has one track, `rolling`,
//!   owned by its Deployment; a blue-green or canary app has one ReplicaSet
//!   per track, created by [`cluster::AppOps::create_track`].
//! - **Colour**: the name of a blue-green track, `blue` or `green`
//!   ([`manifest::Track`]); any other track name (`canary`, `stable`) works
//!   the same on a cluster.
//! - **Anchor** ([`cluster::Anchor`]): the object that holds an app's
//!   rollout **state** (an annotation saved by compare-and-swap,
//!   [`cluster::StoredState`]) and owns its tracks; the PodTemplate of a
//!   blue-green set by default.
//! - **Target** ([`cluster::TrafficTarget`]): what a Service selects, one
//!   track or all of them. A **switch** ([`cluster::AppOps::switch_traffic`])
//!   rewrites a Service's selector to a target in one request; the **active**
//!   Service serves users, the **preview** Service (`<app>-preview`) lets
//!   checks reach the candidate track first.
//! - **Revision**: two numbers with one meaning, "the n-th template this app
//!   ran": a Deployment's `deployment.kubernetes.io/revision`
//!   ([`cluster::Revision`], what `kubectl rollout undo` goes back to) and a
//!   track's `engine-ops.io/revision` annotation ([`cluster::REVISION`]),
//!   which the driver writes. The **template hash**
//!   ([`cluster::template_hash`]) tells whether two tracks run the same
//!   template; it is not a revision.
//! - **Lease** ([`cluster::LeaseGuard`]): the right of one **holder** (a
//!   driver, named by the caller) to act on an app, renewed while held.
//! - **Field manager**: the name server-side apply and merge patches record
//!   as the writer of a field (`engine-ops` by default); a selector owned by
//!   another manager is not switched unless taken over on purpose.
//! - **Snapshot** ([`cluster::AppSnapshot`]): what one look at an app shows
//!   (tracks, Services, Deployments, state), from a watch's cache without a
//!   request.
//! - **Verdict** ([`cluster::RolloutVerdict`]): how a rolling Deployment's
//!   rollout stands by `kubectl rollout status`'s rule.
//!
//! # Manifests
//!
//! One checked description of an application ([`manifest::App`]) renders
//! the objects of a **rolling** deployment (a native Deployment with its
//! Service, ServiceAccount, ConfigMap, PodDisruptionBudget and
//! HorizontalPodAutoscaler) or of a **blue-green** deployment (a pod
//! template, a ReplicaSet per track, an active and a preview Service, the
//! budget and the autoscaler on the live track), as [`k8s_openapi`] types.
//! Sets are written as multi-document YAML or JSON for `kubectl apply` /
//! GitOps, and read back from such files into the typed set.
//!
//! What it fixes compared with a values-file chart: every value exists and
//! is checked before anything is sent (an image must be pinned by digest,
//! probe paths start with `/`, ports are in range, `maxSurge` and
//! `maxUnavailable` are not both zero, the budget can be met), selectors
//! of different tracks and apps never overlap, the autoscaler always
//! targets an object of the same set and owns the replica count alone, and
//! a configuration change rolls the pods (checksum annotation).
//!
//! # Example: a rolling application
//!
//! ```
//! use engine_ops_k8s::manifest::{
//!     App, Autoscaling, IntOrPercent, Port, Probe, Prometheus, Resources, Rolling,
//! };
//!
//! let app = App::builder(
//!     "shop",
//!     "prod",
//!     "registry.example/shop@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
//! )
//! .version("1.4.2")
//! .port(Port::new("http", 8080).service_port(80))
//! .port(Port::new("health", 9090))
//! .readiness(Probe::http("/api/v1/health/ready").port("health"))
//! .liveness(Probe::http("/api/v1/health/live").port("health").period_seconds(20))
//! .resources(Resources::new().cpu_request("250m").memory_request("256Mi"))
//! .autoscaling(Autoscaling::new(3, 10).cpu_utilization(70))
//! .prometheus(Prometheus::new("health"))
//! .config("LOG_LEVEL", "info")
//! .build()?;
//!
//! let set = Rolling::new()
//!     .max_surge(IntOrPercent::Count(1))
//!     .max_unavailable(IntOrPercent::Count(0))
//!     .render(&app)?;
//! let yaml = set.to_yaml()?;
//! assert!(yaml.contains("kind: Deployment"));
//! assert!(yaml.contains("maxSurge: 1"));
//! // The autoscaler owns the replica count: the Deployment does not set it.
//! assert_eq!(set.deployment.spec.as_ref().and_then(|s| s.replicas), None);
//! // Kept in git, edited, read back:
//! assert_eq!(engine_ops_k8s::manifest::RollingSet::from_yaml(&yaml)?, set);
//! # Ok::<(), engine_ops_k8s::manifest::Error>(())
//! ```
//!
//! # Choosing the Kubernetes version (k8s-openapi)
//!
//! This crate depends on `k8s-openapi` without a version feature, as a
//! library must. The application that uses it picks exactly one, matching
//! the oldest API server it supports:
//!
//! ```toml
//! [dependencies]
//! engine-ops-k8s = "0.1"
//! k8s-openapi = { version = "0.29", features = ["v1_35"] }
//! ```
//!
//! The library builds against every version k8s-openapi 0.29 models,
//! 1.33 to 1.37. The native `preStop` sleep
//! ([`manifest::PreStop::Sleep`]) needs an API server of 1.30 or later;
//! use [`manifest::PreStop::Exec`] for older ones. This repository's
//! tests, examples and benches use `v1_35`, the version of its test
//! control plane.
//!
//! # YAML
//!
//! YAML is read and written with `serde-saphyr`. `serde_yaml` is archived;
//! its forks `serde_yaml_ng`, `serde_norway` and `yaml_serde` keep its code
//! on `unsafe-libyaml` (machine-translated C, no longer maintained
//! upstream), and `serde_yml` was found unsound (RUSTSEC-2025-0068) and is
//! deprecated. `serde-saphyr` is pure Rust under `#![forbid(unsafe_code)]`,
//! actively maintained, quotes strings that YAML 1.1 readers (such as
//! `kubectl`) would take for booleans or numbers, and is the YAML crate
//! kube-client itself uses, so it adds nothing to a kube-rs build.
//!
//! # Cluster operations
//!
//! ```no_run
//! use engine_ops_k8s::cluster::{AppOps, LeaseParams, SwitchParams, TrafficTarget};
//!
//! # async fn f(client: kube::Client) -> Result<(), engine_ops_k8s::cluster::Error> {
//! let ops = AppOps::new(client, "prod", "shop")?;
//! let lease = ops.acquire_lease(&LeaseParams::new("ci-job-4711")).await?;
//! // Roll back a blue-green app: one request moves the traffic.
//! ops.switch_traffic("shop", &TrafficTarget::track("blue"), &SwitchParams::new().reason("rollback"))
//!     .await?;
//! lease.release().await?;
//! # Ok(()) }
//! ```
//!
//! See [`cluster`] for the driver loop, the RBAC rights it needs and what
//! each operation guarantees. This crate never depends on the planner: the
//! glue between the two is the caller's.
//!
//! # Features
//!
//! None: the crate has no optional parts.

pub mod cluster;
pub mod manifest;
