//! The typed description of an application: [`App`], built and checked by
//! [`AppBuilder`], and the pieces it is made of.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container,
    ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, ExecAction,
    HTTPGetAction, Lifecycle, LifecycleHandler, ObjectFieldSelector, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe as K8sProbe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, Service,
    ServiceAccount, ServicePort, ServiceSpec, SleepAction, Volume, VolumeMount,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::labels;
use super::{Error, validate};

/// The longest application name: object names get suffixes such as
/// `-preview` and must stay DNS labels of at most 63 characters.
pub const MAX_NAME_LEN: usize = 55;

/// A count or a percentage, as Kubernetes' `IntOrString` for `maxSurge`,
/// `maxUnavailable`, `minAvailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntOrPercent {
    /// An absolute number of pods.
    Count(u32),
    /// A percentage of the desired replicas (`"25%"`).
    Percent(u32),
}

impl IntOrPercent {
    /// Whether this is `0` or `0%`.
    #[must_use]
    pub fn is_zero(self) -> bool {
        matches!(self, Self::Count(0) | Self::Percent(0))
    }

    pub(crate) fn to_k8s(self) -> IntOrString {
        match self {
            Self::Count(n) => IntOrString::Int(i32::try_from(n).unwrap_or(i32::MAX)),
            Self::Percent(p) => IntOrString::String(format!("{p}%")),
        }
    }

    /// Reads a Kubernetes value back (`3`, `"3"`, `"25%"`).
    pub(crate) fn from_k8s(field: &str, value: &IntOrString) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                field,
                format!("{value:?} is neither a non-negative count nor a percentage like \"25%\""),
            )
        };
        match value {
            IntOrString::Int(n) => u32::try_from(*n).map(Self::Count).map_err(|_| bad()),
            IntOrString::String(s) => match s.strip_suffix('%') {
                Some(p) => p.parse().map(Self::Percent).map_err(|_| bad()),
                None => s.parse().map(Self::Count).map_err(|_| bad()),
            },
        }
    }

    pub(crate) fn check_percent_max(self, field: &str) -> Result<(), Error> {
        match self {
            Self::Percent(p) if p > 100 => Err(Error::invalid(
                field,
                format!("{p}% is more than 100%; use a percentage from 0% to 100%"),
            )),
            _ => Ok(()),
        }
    }
}

impl From<IntOrPercent> for IntOrString {
    fn from(v: IntOrPercent) -> Self {
        v.to_k8s()
    }
}

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
    fn as_str(self) -> &'static str {
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
    name: String,
    container_port: i64,
    service_port: Option<i64>,
    protocol: Protocol,
}

impl Port {
    /// A TCP port. `name` must be an IANA service name (`http`,
    /// `metrics`); `container_port` is checked by [`AppBuilder::build`].
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

/// An HTTP GET probe: its path, the named port it is sent to, and its
/// timings (Kubernetes' defaults unless set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    path: String,
    port: Option<String>,
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

    fn check(&self, field: &str, ports: &[Port], one_success: bool) -> Result<(), Error> {
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

    fn to_k8s(&self, default_port: &str) -> K8sProbe {
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
    cpu_request: Option<String>,
    memory_request: Option<String>,
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

    fn check(&self) -> Result<(), Error> {
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

    fn to_k8s(&self) -> Option<ResourceRequirements> {
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
    fn seconds(&self) -> u32 {
        match self {
            Self::Sleep { seconds } => *seconds,
            _ => 0,
        }
    }
}

/// How pods of the app are spread across failure domains.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AntiAffinity {
    /// Prefer (weight 100) not to place two pods of the app in the same
    /// topology domain (the default, on `kubernetes.io/hostname`).
    Preferred {
        /// The node label defining a domain.
        topology_key: String,
    },
    /// Never place two pods of the app in one domain. A surge pod then needs
    /// a free domain: with as many domains as replicas, use `maxSurge: 0`.
    Required {
        /// The node label defining a domain.
        topology_key: String,
    },
    /// No anti-affinity.
    None,
}

impl Default for AntiAffinity {
    fn default() -> Self {
        Self::Preferred {
            topology_key: "kubernetes.io/hostname".to_owned(),
        }
    }
}

/// The pod and container security context. Always meets the Kubernetes
/// *restricted* Pod Security Standard: non-root, no privilege escalation,
/// every capability dropped, the runtime's default seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurity {
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    fs_group: Option<i64>,
    read_only_root_filesystem: bool,
}

impl Default for PodSecurity {
    fn default() -> Self {
        Self {
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            read_only_root_filesystem: true,
        }
    }
}

impl PodSecurity {
    /// The restricted profile with a read-only root filesystem (and an
    /// `emptyDir` at `/tmp`).
    #[must_use]
    pub fn restricted() -> Self {
        Self::default()
    }

    /// The user id to run as (must not be 0).
    #[must_use]
    pub fn run_as_user(mut self, uid: u32) -> Self {
        self.run_as_user = Some(i64::from(uid));
        self
    }

    /// The primary group id.
    #[must_use]
    pub fn run_as_group(mut self, gid: u32) -> Self {
        self.run_as_group = Some(i64::from(gid));
        self
    }

    /// The group owning mounted volumes.
    #[must_use]
    pub fn fs_group(mut self, gid: u32) -> Self {
        self.fs_group = Some(i64::from(gid));
        self
    }

    /// Whether the root filesystem is read-only (default `true`).
    #[must_use]
    pub fn read_only_root_filesystem(mut self, read_only: bool) -> Self {
        self.read_only_root_filesystem = read_only;
        self
    }
}

/// Prometheus scrape settings, written as the `prometheus.io/*` pod
/// annotations that Prometheus' Kubernetes service discovery examples use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    port: String,
    path: String,
}

impl Prometheus {
    /// Scrape `/metrics` on the named port.
    #[must_use]
    pub fn new(port: impl Into<String>) -> Self {
        Self {
            port: port.into(),
            path: "/metrics".to_owned(),
        }
    }

    /// The metrics path (default `/metrics`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
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
    fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIp => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// The PodDisruptionBudget: how many pods voluntary evictions (node drains)
/// must leave, or may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disruption {
    /// At least this many pods stay available.
    MinAvailable(IntOrPercent),
    /// At most this many pods are evicted at once (default: 1).
    MaxUnavailable(IntOrPercent),
    /// No PodDisruptionBudget.
    None,
}

/// How the autoscaler picks among several policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SelectPolicy {
    /// The policy allowing the biggest change (the default).
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// Never scale in this direction.
    Disabled,
}

/// One autoscaler scaling policy: at most `value` pods or percent per
/// `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScalingPolicy {
    /// Change by at most this many pods per period.
    Pods {
        /// Pods.
        value: u32,
        /// Period, 1 to 1800 s.
        period_seconds: u32,
    },
    /// Change by at most this percentage of the current replicas per period.
    Percent {
        /// Percent.
        value: u32,
        /// Period, 1 to 1800 s.
        period_seconds: u32,
    },
}

/// Scale-up or scale-down behaviour of the autoscaler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRules {
    stabilization_window_seconds: u32,
    select: SelectPolicy,
    policies: Vec<ScalingPolicy>,
}

impl ScalingRules {
    /// A stabilisation window (seconds the autoscaler looks back before
    /// acting, 0 to 3600) and no policy yet.
    #[must_use]
    pub fn new(stabilization_window_seconds: u32) -> Self {
        Self {
            stabilization_window_seconds,
            select: SelectPolicy::Max,
            policies: Vec::new(),
        }
    }

    /// Adds a policy.
    #[must_use]
    pub fn policy(mut self, policy: ScalingPolicy) -> Self {
        self.policies.push(policy);
        self
    }

    /// How to pick among the policies.
    #[must_use]
    pub fn select(mut self, select: SelectPolicy) -> Self {
        self.select = select;
        self
    }

    fn check(&self, field: &str) -> Result<(), Error> {
        if self.stabilization_window_seconds > 3600 {
            return Err(Error::invalid(
                format!("{field}.stabilization_window_seconds"),
                "must be at most 3600 seconds",
            ));
        }
        if self.policies.is_empty() && self.select != SelectPolicy::Disabled {
            return Err(Error::invalid(
                format!("{field}.policies"),
                "add at least one policy (or select Disabled)",
            ));
        }
        for (i, p) in self.policies.iter().enumerate() {
            let (ScalingPolicy::Pods {
                value,
                period_seconds,
            }
            | ScalingPolicy::Percent {
                value,
                period_seconds,
            }) = *p;
            if value == 0 || !(1..=1800).contains(&period_seconds) {
                return Err(Error::invalid(
                    format!("{field}.policies[{i}]"),
                    "the value must be at least 1 and the period 1 to 1800 seconds",
                ));
            }
        }
        Ok(())
    }

    fn to_k8s(&self) -> k8s_openapi::api::autoscaling::v2::HPAScalingRules {
        use k8s_openapi::api::autoscaling::v2::{HPAScalingPolicy, HPAScalingRules};
        HPAScalingRules {
            stabilization_window_seconds: Some(to_i32(self.stabilization_window_seconds)),
            select_policy: Some(
                match self.select {
                    SelectPolicy::Max => "Max",
                    SelectPolicy::Min => "Min",
                    SelectPolicy::Disabled => "Disabled",
                }
                .to_owned(),
            ),
            policies: (!self.policies.is_empty()).then(|| {
                self.policies
                    .iter()
                    .map(|p| {
                        let (type_, value, period) = match *p {
                            ScalingPolicy::Pods {
                                value,
                                period_seconds,
                            } => ("Pods", value, period_seconds),
                            ScalingPolicy::Percent {
                                value,
                                period_seconds,
                            } => ("Percent", value, period_seconds),
                        };
                        HPAScalingPolicy {
                            type_: type_.to_owned(),
                            value: to_i32(value),
                            period_seconds: to_i32(period),
                        }
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }
}

/// A HorizontalPodAutoscaler (`autoscaling/v2`): replica bounds, CPU and/or
/// memory utilisation targets (percent of the requests) and behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autoscaling {
    min_replicas: u32,
    max_replicas: u32,
    cpu_utilization: Option<u32>,
    memory_utilization: Option<u32>,
    scale_up: ScalingRules,
    scale_down: ScalingRules,
}

impl Autoscaling {
    /// Between `min_replicas` and `max_replicas`, with Kubernetes' default
    /// behaviour written out: scale up at once by 100 % or 4 pods per 15 s
    /// (whichever is more), scale down after a 300 s window by at most
    /// 100 % per 15 s. Add at least one target.
    #[must_use]
    pub fn new(min_replicas: u32, max_replicas: u32) -> Self {
        Self {
            min_replicas,
            max_replicas,
            cpu_utilization: None,
            memory_utilization: None,
            scale_up: ScalingRules::new(0)
                .policy(ScalingPolicy::Percent {
                    value: 100,
                    period_seconds: 15,
                })
                .policy(ScalingPolicy::Pods {
                    value: 4,
                    period_seconds: 15,
                }),
            scale_down: ScalingRules::new(300).policy(ScalingPolicy::Percent {
                value: 100,
                period_seconds: 15,
            }),
        }
    }

    /// Target average CPU utilisation, percent of the CPU request.
    #[must_use]
    pub fn cpu_utilization(mut self, percent: u32) -> Self {
        self.cpu_utilization = Some(percent);
        self
    }

    /// Target average memory utilisation, percent of the memory request.
    #[must_use]
    pub fn memory_utilization(mut self, percent: u32) -> Self {
        self.memory_utilization = Some(percent);
        self
    }

    /// Scale-up behaviour.
    #[must_use]
    pub fn scale_up(mut self, rules: ScalingRules) -> Self {
        self.scale_up = rules;
        self
    }

    /// Scale-down behaviour.
    #[must_use]
    pub fn scale_down(mut self, rules: ScalingRules) -> Self {
        self.scale_down = rules;
        self
    }

    /// The minimum replica count.
    #[must_use]
    pub fn min_replicas(&self) -> u32 {
        self.min_replicas
    }

    /// The maximum replica count.
    #[must_use]
    pub fn max_replicas(&self) -> u32 {
        self.max_replicas
    }

    fn check(&self, resources: &Resources) -> Result<(), Error> {
        if self.min_replicas == 0 {
            return Err(Error::invalid(
                "autoscaling.min_replicas",
                "must be at least 1",
            ));
        }
        if self.max_replicas < self.min_replicas {
            return Err(Error::invalid(
                "autoscaling.max_replicas",
                format!(
                    "{} is below min_replicas {}; raise it",
                    self.max_replicas, self.min_replicas
                ),
            ));
        }
        if self.cpu_utilization.is_none() && self.memory_utilization.is_none() {
            return Err(Error::invalid(
                "autoscaling",
                "no target: set cpu_utilization and/or memory_utilization",
            ));
        }
        for (field, target, request, resource) in [
            (
                "autoscaling.cpu_utilization",
                self.cpu_utilization,
                &resources.cpu_request,
                "cpu_request",
            ),
            (
                "autoscaling.memory_utilization",
                self.memory_utilization,
                &resources.memory_request,
                "memory_request",
            ),
        ] {
            match target {
                Some(0) => return Err(Error::invalid(field, "must be at least 1 percent")),
                Some(_) if request.is_none() => {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "utilisation is a percentage of the request, but resources.{resource} \
                             is not set; set it"
                        ),
                    ));
                }
                _ => {}
            }
        }
        self.scale_up.check("autoscaling.scale_up")?;
        self.scale_down.check("autoscaling.scale_down")
    }

    pub(crate) fn to_k8s(
        &self,
        meta: ObjectMeta,
        target_api_version: &str,
        target_kind: &str,
        target_name: &str,
    ) -> k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler {
        use k8s_openapi::api::autoscaling::v2::{
            CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
            HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource,
        };
        let metric = |name: &str, percent: u32| MetricSpec {
            type_: "Resource".to_owned(),
            resource: Some(ResourceMetricSource {
                name: name.to_owned(),
                target: MetricTarget {
                    type_: "Utilization".to_owned(),
                    average_utilization: Some(to_i32(percent)),
                    ..Default::default()
                },
            }),
            ..Default::default()
        };
        let metrics = [
            ("cpu", self.cpu_utilization),
            ("memory", self.memory_utilization),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.map(|p| metric(n, p)))
        .collect();
        HorizontalPodAutoscaler {
            metadata: meta,
            spec: super::compat::hpa_spec(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some(target_api_version.to_owned()),
                    kind: target_kind.to_owned(),
                    name: target_name.to_owned(),
                },
                min_replicas: Some(to_i32(self.min_replicas)),
                max_replicas: to_i32(self.max_replicas),
                metrics: Some(metrics),
                behavior: Some(HorizontalPodAutoscalerBehavior {
                    scale_up: Some(self.scale_up.to_k8s()),
                    scale_down: Some(self.scale_down.to_k8s()),
                }),
            }),
            status: None,
        }
    }
}

/// How many pods run: a fixed count, or an autoscaler's range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scale {
    /// Exactly this many replicas (no autoscaler).
    Fixed(u32),
    /// A HorizontalPodAutoscaler owns the count; the rendered workload has
    /// no `replicas` field, so applying it never fights the autoscaler.
    Auto(Autoscaling),
}

impl Scale {
    /// The smallest replica count this scale allows.
    #[must_use]
    pub fn min_replicas(&self) -> u32 {
        match self {
            Self::Fixed(n) => *n,
            Self::Auto(a) => a.min_replicas,
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

/// Describes an application and checks it: see [`App::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct AppBuilder {
    app: App,
    allow_mutable_tag: bool,
}

/// A checked description of one application, from which the objects of
/// each strategy are built ([`Rolling::render`], [`BlueGreen::render`]).
///
/// [`Rolling::render`]: super::Rolling::render
/// [`BlueGreen::render`]: super::BlueGreen::render
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
    /// Starts describing the application `name` in `namespace`, running
    /// `image` (pinned by digest: `registry/repo@sha256:<64 hex>`).
    ///
    /// Defaults: 2 replicas, a PodDisruptionBudget of `maxUnavailable: 1`,
    /// a 5 s native preStop sleep within a 30 s termination grace period,
    /// preferred anti-affinity across nodes, the restricted security
    /// profile, a `ClusterIP` Service. Ports and a readiness probe must be
    /// given.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_k8s::manifest::{App, Port, Probe};
    ///
    /// let app = App::builder(
    ///     "shop",
    ///     "prod",
    ///     "registry.example/shop@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    /// )
    /// .port(Port::new("http", 8080).service_port(80))
    /// .readiness(Probe::http("/api/v1/health/ready"))
    /// .build()?;
    /// assert_eq!(app.name(), "shop");
    /// # Ok::<(), engine_ops_k8s::manifest::Error>(())
    /// ```
    pub fn builder(
        name: impl Into<String>,
        namespace: impl Into<String>,
        image: impl Into<String>,
    ) -> AppBuilder {
        AppBuilder {
            app: App {
                name: name.into(),
                namespace: namespace.into(),
                image: image.into(),
                image_by_digest: true,
                version: None,
                component: None,
                part_of: None,
                ports: Vec::new(),
                env: Vec::new(),
                config: BTreeMap::new(),
                config_mount: None,
                resources: Resources::default(),
                startup: None,
                readiness: None,
                liveness: None,
                pre_stop: PreStop::Sleep { seconds: 5 },
                termination_grace_period_seconds: 30,
                anti_affinity: AntiAffinity::default(),
                security: PodSecurity::default(),
                prometheus: None,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                service_type: ServiceType::ClusterIp,
                scale: Scale::Fixed(2),
                disruption: Disruption::MaxUnavailable(IntOrPercent::Count(1)),
                change_cause: None,
                automount_token: false,
            },
            allow_mutable_tag: false,
        }
    }

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

    pub(crate) fn labels(&self) -> Labels<'_> {
        Labels { app: self }
    }

    pub(crate) fn meta(&self, name: String, extra_labels: &[(&str, &str)]) -> ObjectMeta {
        let mut labels = self.labels().common();
        for (k, v) in extra_labels {
            labels.insert((*k).to_owned(), (*v).to_owned());
        }
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
            ..Default::default()
        }
    }

    pub(crate) fn service_account(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta(self.name.clone(), &[]),
            automount_service_account_token: Some(self.automount_token),
            ..Default::default()
        }
    }

    pub(crate) fn config_map(&self) -> Option<ConfigMap> {
        (!self.config.is_empty()).then(|| ConfigMap {
            metadata: self.meta(self.name.clone(), &[]),
            data: Some(self.config.clone()),
            ..Default::default()
        })
    }

    pub(crate) fn service(&self, name: String, track: &str) -> Service {
        Service {
            metadata: self.meta(name, &[]),
            spec: Some(ServiceSpec {
                type_: Some(self.service_type.as_str().to_owned()),
                selector: Some(self.labels().selector(track)),
                ports: Some(
                    self.ports
                        .iter()
                        .map(|p| ServicePort {
                            name: Some(p.name.clone()),
                            port: to_i32_i64(p.service_port.unwrap_or(p.container_port)),
                            target_port: Some(IntOrString::String(p.name.clone())),
                            protocol: Some(p.protocol.as_str().to_owned()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    pub(crate) fn selector(&self, track: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.labels().selector(track)),
            match_expressions: None,
        }
    }

    pub(crate) fn pdb(
        &self,
        track: &str,
    ) -> Option<k8s_openapi::api::policy::v1::PodDisruptionBudget> {
        use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
        let (min_available, max_unavailable) = match self.disruption {
            Disruption::MinAvailable(v) => (Some(v.to_k8s()), None),
            Disruption::MaxUnavailable(v) => (None, Some(v.to_k8s())),
            Disruption::None => return None,
        };
        Some(PodDisruptionBudget {
            metadata: self.meta(self.name.clone(), &[]),
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(self.selector(track)),
                min_available,
                max_unavailable,
                // Pods that are running but not ready may always be evicted:
                // they serve nothing, and keeping them blocks node drains.
                unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
            }),
            status: None,
        })
    }

    /// The pod template for pods labelled with `track`.
    pub(crate) fn pod_template(&self, track: Option<&str>) -> PodTemplateSpec {
        let mut annotations = BTreeMap::new();
        if let Some(sum) = self.config_checksum() {
            annotations.insert(labels::CONFIG_CHECKSUM.to_owned(), sum);
        }
        if !self.image_by_digest {
            annotations.insert(labels::MUTABLE_IMAGE.to_owned(), "allowed".to_owned());
        }
        if let Some(p) = &self.prometheus {
            let port = self
                .ports
                .iter()
                .find(|q| q.name == p.port)
                .map_or(0, |q| q.container_port);
            annotations.insert("prometheus.io/scrape".to_owned(), "true".to_owned());
            annotations.insert("prometheus.io/port".to_owned(), port.to_string());
            annotations.insert("prometheus.io/path".to_owned(), p.path.clone());
        }
        let labels = match track {
            Some(t) => self.labels().pod(t),
            None => self.labels().common(),
        };
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..Default::default()
            }),
            spec: Some(self.pod_spec()),
        }
    }

    fn pod_spec(&self) -> PodSpec {
        let first_port = self.ports.first().map_or("", |p| p.name.as_str());
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        if self.security.read_only_root_filesystem {
            volumes.push(Volume {
                name: "tmp".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
            mounts.push(VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..Default::default()
            });
        }
        if let (Some(path), false) = (&self.config_mount, self.config.is_empty()) {
            volumes.push(Volume {
                name: "config".to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: self.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            mounts.push(VolumeMount {
                name: "config".to_owned(),
                mount_path: path.clone(),
                read_only: Some(true),
                ..Default::default()
            });
        }
        let env: Vec<EnvVar> = self
            .env
            .iter()
            .map(|(name, v)| match v {
                EnvValue::Value(s) => EnvVar {
                    name: name.clone(),
                    value: Some(s.clone()),
                    value_from: None,
                },
                EnvValue::Secret { name: s, key } => EnvVar {
                    name: name.clone(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: s.clone(),
                            key: key.clone(),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                },
                EnvValue::Field(path) => EnvVar {
                    name: name.clone(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".to_owned()),
                            field_path: path.clone(),
                        }),
                        ..Default::default()
                    }),
                },
            })
            .collect();
        let lifecycle = match &self.pre_stop {
            PreStop::Sleep { seconds } => Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: i64::from(*seconds),
                }),
                ..Default::default()
            }),
            PreStop::Exec { command } => Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(command.clone()),
                }),
                ..Default::default()
            }),
            PreStop::None => None,
        }
        .map(|h| Lifecycle {
            pre_stop: Some(h),
            ..Default::default()
        });
        let container = Container {
            name: self.name.clone(),
            image: Some(self.image.clone()),
            image_pull_policy: Some(
                if self.image_by_digest {
                    "IfNotPresent"
                } else {
                    "Always"
                }
                .to_owned(),
            ),
            ports: Some(
                self.ports
                    .iter()
                    .map(|p| ContainerPort {
                        name: Some(p.name.clone()),
                        container_port: to_i32_i64(p.container_port),
                        protocol: Some(p.protocol.as_str().to_owned()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            env: (!env.is_empty()).then_some(env),
            env_from: (!self.config.is_empty() && self.config_mount.is_none()).then(|| {
                vec![EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource {
                        name: self.name.clone(),
                        optional: None,
                    }),
                    ..Default::default()
                }]
            }),
            resources: self.resources.to_k8s(),
            startup_probe: self.startup.as_ref().map(|p| p.to_k8s(first_port)),
            readiness_probe: self.readiness.as_ref().map(|p| p.to_k8s(first_port)),
            liveness_probe: self.liveness.as_ref().map(|p| p.to_k8s(first_port)),
            lifecycle,
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(self.security.read_only_root_filesystem),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".to_owned()]),
                    add: None,
                }),
                ..Default::default()
            }),
            volume_mounts: (!mounts.is_empty()).then_some(mounts),
            ..Default::default()
        };
        let affinity = match &self.anti_affinity {
            AntiAffinity::None => None,
            AntiAffinity::Preferred { topology_key } | AntiAffinity::Required { topology_key } => {
                let term = PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(self.labels().instance()),
                        match_expressions: None,
                    }),
                    topology_key: topology_key.clone(),
                    ..Default::default()
                };
                let required = matches!(self.anti_affinity, AntiAffinity::Required { .. });
                Some(Affinity {
                    pod_anti_affinity: Some(PodAntiAffinity {
                        required_during_scheduling_ignored_during_execution: required
                            .then(|| vec![term.clone()]),
                        preferred_during_scheduling_ignored_during_execution: (!required).then(
                            || {
                                vec![WeightedPodAffinityTerm {
                                    weight: 100,
                                    pod_affinity_term: term,
                                }]
                            },
                        ),
                    }),
                    ..Default::default()
                })
            }
        };
        PodSpec {
            service_account_name: Some(self.name.clone()),
            automount_service_account_token: Some(self.automount_token),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(i64::from(
                self.termination_grace_period_seconds,
            )),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: self.security.run_as_user,
                run_as_group: self.security.run_as_group,
                fs_group: self.security.fs_group,
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    localhost_profile: None,
                }),
                ..Default::default()
            }),
            affinity,
            containers: vec![container],
            volumes: (!volumes.is_empty()).then_some(volumes),
            ..Default::default()
        }
    }
}

/// The labels of one app.
pub(crate) struct Labels<'a> {
    pub(crate) app: &'a App,
}

impl Labels<'_> {
    /// Labels on every object of the app.
    pub(crate) fn common(&self) -> BTreeMap<String, String> {
        let a = self.app;
        let mut m = a.labels.clone();
        m.insert(labels::NAME.to_owned(), a.name.clone());
        m.insert(labels::INSTANCE.to_owned(), a.name.clone());
        m.insert(labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned());
        for (k, v) in [
            (labels::VERSION, &a.version),
            (labels::COMPONENT, &a.component),
            (labels::PART_OF, &a.part_of),
        ] {
            if let Some(v) = v {
                m.insert(k.to_owned(), v.clone());
            }
        }
        m
    }

    /// Labels on the pods of `track`.
    pub(crate) fn pod(&self, track: &str) -> BTreeMap<String, String> {
        let mut m = self.common();
        m.insert(labels::TRACK.to_owned(), track.to_owned());
        m
    }

    /// The selector of the pods of `track`.
    pub(crate) fn selector(&self, track: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::INSTANCE.to_owned(), self.app.name.clone()),
            (labels::TRACK.to_owned(), track.to_owned()),
        ])
    }

    /// The selector of every pod of the app, any track (anti-affinity).
    pub(crate) fn instance(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(labels::INSTANCE.to_owned(), self.app.name.clone())])
    }
}

/// The checksum of configuration data (see [`App::config_checksum`]).
pub(crate) fn config_checksum(data: &BTreeMap<String, String>) -> String {
    // A BTreeMap serialises with sorted keys, so equal data hash equal.
    let bytes = serde_json::to_vec(data).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn to_i32_i64(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl AppBuilder {
    /// Accepts an image named by a tag instead of a digest.
    ///
    /// # Warning
    ///
    /// A tag can be moved to other bytes at any time: two pods of one
    /// revision can run different code, a rollback can bring back something
    /// that never ran before, and re-applying the same tag rolls nothing.
    /// The pods get `imagePullPolicy: Always`, and the pod template carries
    /// `engine-ops.io/mutable-image: allowed` so the choice stays visible in
    /// the rendered YAML.
    pub fn dangerous_allow_mutable_tag(mut self) -> Self {
        self.allow_mutable_tag = true;
        self
    }

    /// The `app.kubernetes.io/version` label (not used in selectors).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.app.version = Some(version.into());
        self
    }

    /// The `app.kubernetes.io/component` label.
    pub fn component(mut self, component: impl Into<String>) -> Self {
        self.app.component = Some(component.into());
        self
    }

    /// The `app.kubernetes.io/part-of` label.
    pub fn part_of(mut self, part_of: impl Into<String>) -> Self {
        self.app.part_of = Some(part_of.into());
        self
    }

    /// Adds a container port (exposed by the Service). The first port is the
    /// probes' default.
    pub fn port(mut self, port: Port) -> Self {
        self.app.ports.push(port);
        self
    }

    /// Adds an environment variable with a literal value.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.app
            .env
            .push((name.into(), EnvValue::Value(value.into())));
        self
    }

    /// Adds an environment variable from any [`EnvValue`].
    pub fn env_from(mut self, name: impl Into<String>, value: EnvValue) -> Self {
        self.app.env.push((name.into(), value));
        self
    }

    /// Adds a configuration entry. Configuration goes into a ConfigMap named
    /// like the app and reaches the container as environment variables
    /// (`envFrom`), or as files under [`config_files_at`](Self::config_files_at).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.config.insert(key.into(), value.into());
        self
    }

    /// Mounts the configuration as files (one per key) under this absolute
    /// directory instead of passing it as environment variables.
    pub fn config_files_at(mut self, dir: impl Into<String>) -> Self {
        self.app.config_mount = Some(dir.into());
        self
    }

    /// CPU and memory requests and limits.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.app.resources = resources;
        self
    }

    /// The startup probe (liveness and readiness wait until it passes).
    pub fn startup(mut self, probe: Probe) -> Self {
        self.app.startup = Some(probe);
        self
    }

    /// The readiness probe (required: a pod receives traffic only once it
    /// passes).
    pub fn readiness(mut self, probe: Probe) -> Self {
        self.app.readiness = Some(probe);
        self
    }

    /// The liveness probe (the kubelet restarts the container when it
    /// fails). Point it at a check of the process itself, not of its
    /// dependencies or the host.
    pub fn liveness(mut self, probe: Probe) -> Self {
        self.app.liveness = Some(probe);
        self
    }

    /// The preStop hook (default: a 5 s native sleep).
    pub fn pre_stop(mut self, pre_stop: PreStop) -> Self {
        self.app.pre_stop = pre_stop;
        self
    }

    /// Seconds between the stop request and SIGKILL, preStop included
    /// (default 30); must exceed the preStop sleep.
    pub fn termination_grace_period_seconds(mut self, seconds: u32) -> Self {
        self.app.termination_grace_period_seconds = seconds;
        self
    }

    /// Pod anti-affinity.
    pub fn anti_affinity(mut self, anti_affinity: AntiAffinity) -> Self {
        self.app.anti_affinity = anti_affinity;
        self
    }

    /// The security context (always within the restricted standard).
    pub fn security(mut self, security: PodSecurity) -> Self {
        self.app.security = security;
        self
    }

    /// Prometheus scrape annotations.
    pub fn prometheus(mut self, prometheus: Prometheus) -> Self {
        self.app.prometheus = Some(prometheus);
        self
    }

    /// Adds a label to every object and pod. Keys under
    /// `app.kubernetes.io/` and `engine-ops.io/` are reserved.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.labels.insert(key.into(), value.into());
        self
    }

    /// Adds an annotation to every object (not to pods).
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.app.annotations.insert(key.into(), value.into());
        self
    }

    /// The Service type.
    pub fn service_type(mut self, service_type: ServiceType) -> Self {
        self.app.service_type = service_type;
        self
    }

    /// A fixed replica count (replaces autoscaling).
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.app.scale = Scale::Fixed(replicas);
        self
    }

    /// Autoscaling (replaces a fixed replica count).
    pub fn autoscaling(mut self, autoscaling: Autoscaling) -> Self {
        self.app.scale = Scale::Auto(autoscaling);
        self
    }

    /// The PodDisruptionBudget (default `maxUnavailable: 1`).
    pub fn disruption(mut self, disruption: Disruption) -> Self {
        self.app.disruption = disruption;
        self
    }

    /// The `kubernetes.io/change-cause` annotation on the workload, shown
    /// by `kubectl rollout history` (default: `image <image>`).
    pub fn change_cause(mut self, cause: impl Into<String>) -> Self {
        self.app.change_cause = Some(cause.into());
        self
    }

    /// Mounts the ServiceAccount's API token in the pods (default: not
    /// mounted; the app needs it only to call the Kubernetes API).
    pub fn automount_service_account_token(mut self, mount: bool) -> Self {
        self.app.automount_token = mount;
        self
    }

    /// Checks the description.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name or namespace that is not a DNS
    /// label (a name must also start with a letter and have at most
    /// [`MAX_NAME_LEN`] characters); [`Error::MutableImage`] for an image
    /// without a digest (see [`dangerous_allow_mutable_tag`](Self::dangerous_allow_mutable_tag));
    /// [`Error::PortOutOfRange`]; [`Error::ProbePath`];
    /// [`Error::ReplicasBelowMinAvailable`]; [`Error::Invalid`] for anything
    /// else, naming the field.
    pub fn build(self) -> Result<App, Error> {
        let mut app = self.app;
        validate::dns_label("name", &app.name, MAX_NAME_LEN, true)?;
        validate::dns_label("namespace", &app.namespace, 63, false)?;
        app.image_by_digest = validate::image("image", &app.image, self.allow_mutable_tag)?;
        for (field, v) in [
            ("version", &app.version),
            ("component", &app.component),
            ("part_of", &app.part_of),
        ] {
            if let Some(v) = v {
                validate::label_value(field, v)?;
            }
        }
        check_ports(&app.ports)?;
        for (i, (name, v)) in app.env.iter().enumerate() {
            let field = format!("env[{i}]");
            validate::env_name(&format!("{field}.name"), name)?;
            match v {
                EnvValue::Secret { name, key } => {
                    subdomain(&format!("{field}.secret"), name)?;
                    validate::config_key(&format!("{field}.key"), key)?;
                }
                EnvValue::Field(path) if path.is_empty() => {
                    return Err(Error::invalid(
                        format!("{field}.field"),
                        "give a pod field path such as metadata.name",
                    ));
                }
                _ => {}
            }
        }
        for key in app.config.keys() {
            validate::config_key("config", key)?;
        }
        if let Some(dir) = &app.config_mount
            && !dir.starts_with('/')
        {
            return Err(Error::invalid(
                "config_files_at",
                format!("{dir:?} is not an absolute path; start it with '/'"),
            ));
        }
        app.resources.check()?;
        if app.security.run_as_user == Some(0) {
            return Err(Error::invalid(
                "security.run_as_user",
                "0 is root, which the restricted profile (runAsNonRoot) refuses at pod start; \
                 use a non-zero user id",
            ));
        }
        let Some(readiness) = &app.readiness else {
            return Err(Error::invalid(
                "readiness",
                "no readiness probe: without one a pod receives traffic as soon as it starts; \
                 add .readiness(Probe::http(\"/your/ready/path\"))",
            ));
        };
        readiness.check("readiness", &app.ports, false)?;
        if let Some(p) = &app.liveness {
            p.check("liveness", &app.ports, true)?;
        }
        if let Some(p) = &app.startup {
            p.check("startup", &app.ports, true)?;
        }
        match &app.pre_stop {
            PreStop::Exec { command } if command.is_empty() => {
                return Err(Error::invalid("pre_stop", "the command is empty"));
            }
            _ => {}
        }
        if app.termination_grace_period_seconds <= app.pre_stop.seconds() {
            return Err(Error::invalid(
                "termination_grace_period_seconds",
                format!(
                    "{} s leaves no time to shut down after the {} s preStop sleep; make it \
                     longer than the sleep plus the app's own shutdown",
                    app.termination_grace_period_seconds,
                    app.pre_stop.seconds()
                ),
            ));
        }
        if let AntiAffinity::Preferred { topology_key } | AntiAffinity::Required { topology_key } =
            &app.anti_affinity
        {
            validate::qualified_name("anti_affinity.topology_key", topology_key)?;
        }
        if let Some(p) = &app.prometheus {
            if !app.ports.iter().any(|q| q.name == p.port) {
                return Err(Error::invalid(
                    "prometheus.port",
                    format!(
                        "no container port is named {:?}; name one of the app's ports",
                        p.port
                    ),
                ));
            }
            validate::probe_path("prometheus.path", &p.path)?;
        }
        for (k, v) in &app.labels {
            validate::qualified_name("labels", k)?;
            validate::label_value(&format!("labels[{k}]"), v)?;
            if labels::is_reserved(k) {
                return Err(Error::invalid(
                    format!("labels[{k}]"),
                    "keys under app.kubernetes.io/ and engine-ops.io/ are set by engine-ops \
                     (selectors depend on them); use the builder's version/component/part_of or \
                     another key",
                ));
            }
        }
        for k in app.annotations.keys() {
            validate::qualified_name("annotations", k)?;
        }
        match &app.scale {
            Scale::Fixed(0) => {
                return Err(Error::invalid(
                    "replicas",
                    "must be at least 1 (delete the app to run none)",
                ));
            }
            Scale::Fixed(_) => {}
            Scale::Auto(a) => a.check(&app.resources)?,
        }
        let replicas = app.scale.min_replicas();
        let replicas_field = match app.scale {
            Scale::Fixed(_) => "replicas",
            Scale::Auto(_) => "autoscaling.min_replicas",
        };
        match app.disruption {
            Disruption::MinAvailable(v) => {
                v.check_percent_max("disruption.min_available")?;
                if let IntOrPercent::Count(min_available) = v
                    && replicas < min_available
                {
                    return Err(Error::ReplicasBelowMinAvailable {
                        field: replicas_field.to_owned(),
                        replicas,
                        min_available,
                    });
                }
            }
            Disruption::MaxUnavailable(v) => {
                v.check_percent_max("disruption.max_unavailable")?;
                if v.is_zero() {
                    return Err(Error::invalid(
                        "disruption.max_unavailable",
                        "0 forbids every voluntary eviction, so node drains would hang; allow \
                         at least 1 (or use Disruption::None)",
                    ));
                }
            }
            Disruption::None => {}
        }
        Ok(app)
    }
}

fn subdomain(field: &str, name: &str) -> Result<(), Error> {
    if !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|p| validate::dns_label(field, p, 63, false).is_ok())
    {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{name:?} is not a valid object name (a lowercase DNS subdomain)"),
        ))
    }
}

fn check_ports(ports: &[Port]) -> Result<(), Error> {
    if ports.is_empty() {
        return Err(Error::invalid(
            "ports",
            "no port: add one with .port(Port::new(\"http\", 8080))",
        ));
    }
    for (i, p) in ports.iter().enumerate() {
        let field = format!("ports[{i}]");
        validate::port_name(&format!("{field}.name"), &p.name)?;
        validate::port(&format!("{field}.container_port"), p.container_port)?;
        if let Some(s) = p.service_port {
            validate::port(&format!("{field}.service_port"), s)?;
        }
        if ports[..i].iter().any(|q| q.name == p.name) {
            return Err(Error::invalid(
                format!("{field}.name"),
                format!("port name {:?} is used twice; names must be unique", p.name),
            ));
        }
        let sp = p.service_port.unwrap_or(p.container_port);
        if ports[..i]
            .iter()
            .any(|q| q.service_port.unwrap_or(q.container_port) == sp && q.protocol == p.protocol)
        {
            return Err(Error::invalid(
                format!("{field}.service_port"),
                format!("Service port {sp} is used twice; give each port its own"),
            ));
        }
    }
    Ok(())
}
