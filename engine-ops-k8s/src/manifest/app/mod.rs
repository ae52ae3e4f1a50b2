//! The typed description of an application: [`App`], built and checked by
//! [`AppBuilder`], and the pieces it is made of.
//!
//! | File | What it holds |
//! |---|---|
//! | `description.rs` | [`App`], its accessors, the config checksum |
//! | `convert.rs` | saturating conversions to Kubernetes' `int32` |
//! | `builder.rs` | [`AppBuilder`]: defaults, setters, `build` |
//! | `checks.rs` | the checks `build` runs, one function per part |
//! | `container.rs` | ports, Service type, probes, resources, preStop, environment |
//! | `pod_options.rs` | anti-affinity, pod security, Prometheus |
//! | `scaling.rs` | counts and percentages, fixed or autoscaled replicas, the disruption budget |
//! | `render.rs` | the objects every strategy shares (metadata, labels, Service, PDB, pod template) |
//! | `pod_spec.rs` | the pod spec |

mod builder;
mod checks;
mod container;
mod convert;
mod description;
mod pod_options;
mod pod_spec;
mod render;
mod scaling;

pub use builder::AppBuilder;
pub use container::{EnvValue, Port, PreStop, Probe, Protocol, Resources, ServiceType};
pub use description::{App, MAX_NAME_LEN};
pub use pod_options::{AntiAffinity, PodSecurity, Prometheus};
pub use scaling::{
    Autoscaling, Disruption, IntOrPercent, Scale, ScalingPolicy, ScalingRules, SelectPolicy,
};

pub(crate) use convert::to_i32;
pub(crate) use description::config_checksum;
