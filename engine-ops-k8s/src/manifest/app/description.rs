//! [`App`]: the checked description every object is rendered from, its
//! accessors and the configuration checksum.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::container::{EnvValue, Port, PreStop, Probe, Resources, ServiceType};
use super::pod_options::{AntiAffinity, PodSecurity, Prometheus};
use super::scaling::{Disruption, Scale};

/// The longest application name: object names get suffixes such as
/// `-preview` and must stay DNS labels of at most 63 characters.
pub const MAX_NAME_LEN: usize = 55;

/// A checked description of one application, from which the objects of
/// each strategy are built ([`Rolling::render`], [`BlueGreen::render`]).
///
/// [`Rolling::render`]: crate::manifest::Rolling::render
/// [`BlueGreen::render`]: crate::manifest::BlueGreen::render
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) image: String,
    pub(crate) image_by_digest: bool,
    pub(crate) version: Option<String>,
    pub(crate) component: Option<String>,
    pub(crate) part_of: Option<String>,
    pub(crate) ports: Vec<Port>,
    pub(crate) env: Vec<(String, EnvValue)>,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) config_mount: Option<String>,
    pub(crate) resources: Resources,
    pub(crate) startup: Option<Probe>,
    pub(crate) readiness: Option<Probe>,
    pub(crate) liveness: Option<Probe>,
    pub(crate) pre_stop: PreStop,
    pub(crate) termination_grace_period_seconds: u32,
    pub(crate) anti_affinity: AntiAffinity,
    pub(crate) security: PodSecurity,
    pub(crate) prometheus: Option<Prometheus>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) service_type: ServiceType,
    pub(crate) scale: Scale,
    pub(crate) disruption: Disruption,
    pub(crate) change_cause: Option<String>,
    pub(crate) automount_token: bool,
}

impl App {
    /// The application's name (also its objects' names and the
    /// `app.kubernetes.io/instance` label).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace of every object.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The container image.
    #[must_use]
    pub fn image(&self) -> &str {
        &self.image
    }

    /// How many pods run.
    #[must_use]
    pub fn scale(&self) -> &Scale {
        &self.scale
    }

    /// The hex SHA-256 of the configuration data (the ConfigMap's `data`
    /// serialised as JSON with sorted keys), written on the pod template as
    /// the `engine-ops.io/config-sha256` annotation so a config change
    /// rolls the pods. `None` without configuration.
    #[must_use]
    pub fn config_checksum(&self) -> Option<String> {
        (!self.config.is_empty()).then(|| config_checksum(&self.config))
    }
}

/// The checksum of configuration data (see [`App::config_checksum`]).
pub(crate) fn config_checksum(data: &BTreeMap<String, String>) -> String {
    // A BTreeMap serialises with sorted keys, so equal data hash equal.
    let bytes = serde_json::to_vec(data).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}
