//! The pod spec of an [`App`]: its one container (image, ports,
//! environment, probes, preStop hook, security context, mounts), volumes,
//! anti-affinity and pod security context.
//!
//! [`App::pod_spec`] assembles the parts; each part is one function of the
//! description, so "where does the pod get X" has one answer.

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
    /// The pod spec: the app's ServiceAccount, no service links, the
    /// restricted pod security context, anti-affinity, one container and
    /// its volumes.
    pub(super) fn pod_spec(&self) -> PodSpec {
        let (volumes, mounts) = self.volumes();
        PodSpec {
            service_account_name: Some(self.name.clone()),
            automount_service_account_token: Some(self.automount_token),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(i64::from(
                self.termination_grace_period_seconds,
            )),
            security_context: Some(self.pod_security_context()),
            affinity: self.affinity(),
            containers: vec![self.container(mounts)],
            volumes: (!volumes.is_empty()).then_some(volumes),
            ..Default::default()
        }
    }

    /// The volumes and the container's mounts of them: a writable `/tmp`
    /// under a read-only root filesystem, the ConfigMap as files when
    /// asked for.
    fn volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
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
        (volumes, mounts)
    }

    /// The app's one container, mounting `mounts`.
    fn container(&self, mounts: Vec<VolumeMount>) -> Container {
        let first_port = self.ports.first().map_or("", |p| p.name.as_str());
        let env = self.env_vars();
        Container {
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
            env_from: self.config_env_from(),
            resources: self.resources.to_k8s(),
            startup_probe: self.startup.as_ref().map(|p| p.to_k8s(first_port)),
            readiness_probe: self.readiness.as_ref().map(|p| p.to_k8s(first_port)),
            liveness_probe: self.liveness.as_ref().map(|p| p.to_k8s(first_port)),
            lifecycle: self.lifecycle(),
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
        }
    }

    /// The environment variables, in the order they were added.
    fn env_vars(&self) -> Vec<EnvVar> {
        self.env
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
            .collect()
    }

    /// The ConfigMap as environment variables, unless it is mounted as
    /// files (or there is no configuration).
    fn config_env_from(&self) -> Option<Vec<EnvFromSource>> {
        (!self.config.is_empty() && self.config_mount.is_none()).then(|| {
            vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: self.name.clone(),
                    optional: None,
                }),
                ..Default::default()
            }]
        })
    }

    /// The preStop hook: a native sleep, a command, or none.
    fn lifecycle(&self) -> Option<Lifecycle> {
        let handler = match &self.pre_stop {
            PreStop::Sleep { seconds } => LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: i64::from(*seconds),
                }),
                ..Default::default()
            },
            PreStop::Exec { command } => LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(command.clone()),
                }),
                ..Default::default()
            },
            PreStop::None => return None,
        };
        Some(Lifecycle {
            pre_stop: Some(handler),
            ..Default::default()
        })
    }

    /// Anti-affinity against the app's own pods of every track, preferred
    /// (weight 100) or required.
    fn affinity(&self) -> Option<Affinity> {
        let (AntiAffinity::Preferred { topology_key } | AntiAffinity::Required { topology_key }) =
            &self.anti_affinity
        else {
            return None;
        };
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
                preferred_during_scheduling_ignored_during_execution: (!required).then(|| {
                    vec![WeightedPodAffinityTerm {
                        weight: 100,
                        pod_affinity_term: term,
                    }]
                }),
            }),
            ..Default::default()
        })
    }

    /// The pod security context of the restricted profile: non-root, the
    /// runtime's default seccomp profile, the ids the caller chose.
    fn pod_security_context(&self) -> PodSecurityContext {
        PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: self.security.run_as_user,
            run_as_group: self.security.run_as_group,
            fs_group: self.security.fs_group,
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..Default::default()
        }
    }
}
