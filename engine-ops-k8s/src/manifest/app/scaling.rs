//! How many pods run and how many may be missing: [`IntOrPercent`],
//! [`Scale`], [`Autoscaling`] and its [`ScalingRules`], the
//! PodDisruptionBudget's [`Disruption`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::container::Resources;
use super::convert::to_i32;
use crate::manifest::{Error, compat};

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

    pub(super) fn check(&self, field: &str) -> Result<(), Error> {
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

    pub(super) fn to_k8s(&self) -> k8s_openapi::api::autoscaling::v2::HPAScalingRules {
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
    pub(super) min_replicas: u32,
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

    pub(super) fn check(&self, resources: &Resources) -> Result<(), Error> {
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
            spec: compat::hpa_spec(HorizontalPodAutoscalerSpec {
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
