//! Typed Kubernetes manifests for an application, built from one checked
//! description.
//!
//! 1. Describe the application once with [`App::builder`]; [`AppBuilder::build`]
//!    checks it and names the field at fault (an image without a digest, a
//!    probe path without a leading `/`, a port out of range, a name that is
//!    not a DNS label, fewer replicas than the PodDisruptionBudget's
//!    `minAvailable`, ...).
//! 2. Render it for a strategy: [`Rolling::render`] gives a [`RollingSet`]
//!    (ServiceAccount, ConfigMap, Service, Deployment, PodDisruptionBudget,
//!    HorizontalPodAutoscaler), [`BlueGreen::render`] a [`BlueGreenSet`]
//!    (the same around a PodTemplate, an active and a preview Service, and
//!    a ReplicaSet per track on demand). The objects are k8s-openapi types,
//!    public fields you can adjust before use.
//! 3. Write a set as multi-document YAML or a JSON `v1 List` (stable object
//!    and key order, so it diffs cleanly in git), and read such files back
//!    into the typed set, checked again ([`RollingSet::from_yaml`]).
//!
//! Labels follow the Kubernetes recommended labels plus a track label; see
//! [`labels`] for why selectors of different tracks and apps never overlap.
//!
//! Nothing here talks to a cluster.

mod app;
mod blue_green;
mod check;
pub(crate) mod compat;
mod error;
pub mod labels;
mod object;
mod rolling;
pub(crate) mod validate;

pub use app::{
    AntiAffinity, App, AppBuilder, Autoscaling, Disruption, EnvValue, IntOrPercent, MAX_NAME_LEN,
    PodSecurity, Port, PreStop, Probe, Prometheus, Protocol, Resources, Scale, ScalingPolicy,
    ScalingRules, SelectPolicy, ServiceType,
};
pub use blue_green::{BlueGreen, BlueGreenSet, PREVIEW_SUFFIX, Track, track_name};
pub use error::{Error, YamlError};
pub use object::{Object, to_json, to_yaml};
pub use rolling::{Rolling, RollingSet};
