//! What the container is made of: its [`Port`]s and how the Service
//! exposes them ([`ServiceType`]), its [`Probe`]s, [`Resources`], [`PreStop`]
//! hook and environment ([`EnvValue`]), each with its own checks and its
//! Kubernetes form.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{HTTPGetAction, Probe as K8sProbe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::convert::to_i32;
use crate::manifest::{Error, validate};

/// The transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// A named container port, exposed by the Service on `service_port`
/// (default: the same number). The Service targets it by name, so the
/// container's number can change without touching the Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub(super) name: String,
    pub(super) container_port: i64,
    pub(super) service_port: Option<i64>,
    pub(super) protocol: Protocol,
}

impl Port {
    /// A TCP port. `name` must be an IANA service name (`http`,
    /// `metrics`); `container_port` is checked by
    /// [`AppBuilder::build`](super::AppBuilder::build).
    #[must_use]
    pub fn new(name: impl Into<String>, container_port: u32) -> Self {
        Self {
            name: name.into(),
            container_port: i64::from(container_port),
            service_port: None,
            protocol: Protocol::Tcp,
        }
    }

    /// The port the Service listens on (default: the container port).
    #[must_use]
    pub fn service_port(mut self, port: u32) -> Self {
        self.service_port = Some(i64::from(port));
        self
    }

    /// The protocol (default TCP).
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The port's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How the Service is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServiceType {
    /// A cluster-internal virtual IP (the default).
    #[default]
    ClusterIp,
    /// A port on every node.
    NodePort,
    /// A cloud load balancer.
    LoadBalancer,
}

impl ServiceType {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIp => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// An HTTP GET probe: its path, the named port it is sent to, and its
/// timings (Kubernetes' defaults unless set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub(super) path: String,
    pub(super) port: Option<String>,
    initial_delay_seconds: u32,
    period_seconds: u32,
    timeout_seconds: u32,
    success_threshold: u32,
    failure_threshold: u32,
}

impl Probe {
    /// An HTTP GET of `path` (which must start with `/`) on the app's
    /// first port, every 10 s, 1 s timeout, 3 failures in a row fail it.
    ///
    /// There is deliberately no default path: give the path the
    /// application really serves.
    #[must_use]
    pub fn http(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            port: None,
            initial_delay_seconds: 0,
            period_seconds: 10,
            timeout_seconds: 1,
            success_threshold: 1,
            failure_threshold: 3,
        }
    }

    /// Sends the probe to the named port instead of the first one (for
    /// example a management port outside the API's rate limiter).
    #[must_use]
    pub fn port(mut self, name: impl Into<String>) -> Self {
        self.port = Some(name.into());
        self
    }

    /// Seconds after the container starts before the first probe.
    #[must_use]
    pub fn initial_delay_seconds(mut self, s: u32) -> Self {
        self.initial_delay_seconds = s;
        self
    }

    /// Seconds between probes (at least 1).
    #[must_use]
    pub fn period_seconds(mut self, s: u32) -> Self {
        self.period_seconds = s;
        self
    }

    /// Seconds before one probe times out (at least 1).
    #[must_use]
    pub fn timeout_seconds(mut self, s: u32) -> Self {
        self.timeout_seconds = s;
        self
    }

    /// Consecutive successes after a failure to count as passing (must be 1
    /// for liveness and startup probes).
    #[must_use]
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = n;
        self
    }

    /// Consecutive failures to count as failing (at least 1).
    #[must_use]
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n;
        self
    }

    /// The probe's path.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn check(
        &self,
        field: &str,
        ports: &[Port],
        one_success: bool,
    ) -> Result<(), Error> {
        validate::probe_path(&format!("{field}.path"), &self.path)?;
        if let Some(p) = &self.port
            && !ports.iter().any(|q| &q.name == p)
        {
            return Err(Error::invalid(
                format!("{field}.port"),
                format!("no container port is named {p:?}; name one of the app's ports"),
            ));
        }
        for (name, v) in [
            ("period_seconds", self.period_seconds),
            ("timeout_seconds", self.timeout_seconds),
            ("failure_threshold", self.failure_threshold),
            ("success_threshold", self.success_threshold),
        ] {
            if v == 0 {
                return Err(Error::invalid(
                    format!("{field}.{name}"),
                    "must be at least 1",
                ));
            }
        }
        if one_success && self.success_threshold != 1 {
            return Err(Error::invalid(
                format!("{field}.success_threshold"),
                "must be 1 for liveness and startup probes (the API server refuses anything else)",
            ));
        }
        Ok(())
    }

    pub(super) fn to_k8s(&self, default_port: &str) -> K8sProbe {
        K8sProbe {
            http_get: Some(HTTPGetAction {
                path: Some(self.path.clone()),
                port: IntOrString::String(self.port.as_deref().unwrap_or(default_port).to_owned()),
                scheme: Some("HTTP".to_owned()),
                ..Default::default()
            }),
            initial_delay_seconds: Some(to_i32(self.initial_delay_seconds)),
            period_seconds: Some(to_i32(self.period_seconds)),
            timeout_seconds: Some(to_i32(self.timeout_seconds)),
            success_threshold: Some(to_i32(self.success_threshold)),
            failure_threshold: Some(to_i32(self.failure_threshold)),
            ..Default::default()
        }
    }
}

/// CPU and memory requests and limits, as Kubernetes quantities
/// (`"250m"`, `"256Mi"`). All optional; the autoscaler needs the request of
/// each resource it targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub(super) cpu_request: Option<String>,
    pub(super) memory_request: Option<String>,
    cpu_limit: Option<String>,
    memory_limit: Option<String>,
}

impl Resources {
    /// No requests, no limits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The CPU request (`"250m"`).
    #[must_use]
    pub fn cpu_request(mut self, q: impl Into<String>) -> Self {
        self.cpu_request = Some(q.into());
        self
    }

    /// The memory request (`"256Mi"`).
    #[must_use]
    pub fn memory_request(mut self, q: impl Into<String>) -> Self {
        self.memory_request = Some(q.into());
        self
    }

    /// The CPU limit.
    #[must_use]
    pub fn cpu_limit(mut self, q: impl Into<String>) -> Self {
        self.cpu_limit = Some(q.into());
        self
    }

    /// The memory limit.
    #[must_use]
    pub fn memory_limit(mut self, q: impl Into<String>) -> Self {
        self.memory_limit = Some(q.into());
        self
    }

    pub(super) fn check(&self) -> Result<(), Error> {
        for (field, q) in [
            ("resources.cpu_request", &self.cpu_request),
            ("resources.memory_request", &self.memory_request),
            ("resources.cpu_limit", &self.cpu_limit),
            ("resources.memory_limit", &self.memory_limit),
        ] {
            if let Some(q) = q {
                validate::quantity(field, q)?;
            }
        }
        Ok(())
    }

    pub(super) fn to_k8s(&self) -> Option<ResourceRequirements> {
        let map = |cpu: &Option<String>, mem: &Option<String>| {
            let m: BTreeMap<String, Quantity> = [("cpu", cpu), ("memory", mem)]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), Quantity(v.clone()))))
                .collect();
            (!m.is_empty()).then_some(m)
        };
        let requests = map(&self.cpu_request, &self.memory_request);
        let limits = map(&self.cpu_limit, &self.memory_limit);
        (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
            requests,
            limits,
            ..Default::default()
        })
    }
}

/// What the container does when asked to stop, before it gets SIGTERM:
/// time for the endpoints controllers and load balancers to stop sending it
/// new connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreStop {
    /// The kubelet's own sleep (`lifecycle.preStop.sleep`, on by default
    /// since Kubernetes 1.30): no `sleep` binary needed in the image.
    Sleep {
        /// Seconds to wait.
        seconds: u32,
    },
    /// A command run in the container (for API servers older than 1.30;
    /// the image must contain it).
    Exec {
        /// The command and its arguments.
        command: Vec<String>,
    },
    /// No preStop hook.
    None,
}

impl PreStop {
    pub(super) fn seconds(&self) -> u32 {
        match self {
            Self::Sleep { seconds } => *seconds,
            _ => 0,
        }
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvValue {
    /// A literal value.
    Value(String),
    /// A key of a Secret.
    Secret {
        /// The Secret's name.
        name: String,
        /// The key in it.
        key: String,
    },
    /// A field of the pod (`metadata.name`, `status.podIP`, ...).
    Field(String),
}
