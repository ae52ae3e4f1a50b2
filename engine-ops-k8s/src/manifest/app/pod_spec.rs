//! The pod spec of an [`App`]: its one container (image, ports,
//! environment, probes, preStop hook, security context, mounts), volumes,
//! anti-affinity and pod security context.

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, ExecAction, Lifecycle,
    LifecycleHandler, ObjectFieldSelector, PodAffinityTerm, PodAntiAffinity, PodSecurityContext,
    PodSpec, SeccompProfile, SecretKeySelector, SecurityContext, SleepAction, Volume, VolumeMount,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::container::{EnvValue, PreStop};
use super::convert::to_i32_i64;
use super::description::App;
use super::pod_options::AntiAffinity;

impl App {
    pub(super) fn pod_spec(&self) -> PodSpec {
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
