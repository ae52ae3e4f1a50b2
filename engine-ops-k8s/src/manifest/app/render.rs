//! The objects every strategy shares, rendered from an [`App`]: metadata
//! and labels, the ServiceAccount, ConfigMap, Service, selector,
//! PodDisruptionBudget and the pod template (whose spec is
//! [`pod_spec`](super::pod_spec)'s).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, PodTemplateSpec, Service, ServiceAccount, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::convert::to_i32_i64;
use super::description::App;
use super::scaling::Disruption;
use crate::manifest::labels;

impl App {
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
