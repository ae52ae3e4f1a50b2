//! The blue-green strategy: two tracks, an active and a preview Service.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, PodTemplate, PodTemplateSpec, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::app::to_i32;
use super::check;
use super::check::put;
use super::labels::{CHANGE_CAUSE, INSTANCE, REPLICAS, TRACK};
use super::object::{self, Object};
use super::{App, Error, Scale};

const SET: &str = "blue-green set";

/// Suffix of the preview Service's name.
pub const PREVIEW_SUFFIX: &str = "-preview";

/// One of the two tracks of a blue-green application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Track {
    /// The blue track.
    Blue,
    /// The green track.
    Green,
}

impl Track {
    /// The other track.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }

    /// The `engine-ops.io/track` value: `blue` or `green`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "blue" => Some(Self::Blue),
            "green" => Some(Self::Green),
            _ => None,
        }
    }
}

impl std::fmt::Display for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The blue-green strategy, rendered with one track active.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::manifest::{App, BlueGreen, Port, Probe, Track};
///
/// let app = App::builder("shop", "prod", format!("shop@sha256:{}", "0".repeat(64)))
///     .port(Port::new("http", 8080))
///     .readiness(Probe::http("/ready"))
///     .build()?;
/// let set = BlueGreen::new(Track::Blue).render(&app)?;
/// assert_eq!(set.preview_service.metadata.name.as_deref(), Some("shop-preview"));
/// let green = set.replica_set(Track::Green, Some(2));
/// assert_eq!(green.metadata.name.as_deref(), Some("shop-green"));
/// # Ok::<(), engine_ops_k8s::manifest::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct BlueGreen {
    active: Track,
}

impl BlueGreen {
    /// Blue-green with `active` live (the active Service, the autoscaler
    /// and the PodDisruptionBudget on it) and the other track in preview.
    pub fn new(active: Track) -> Self {
        Self { active }
    }

    /// Builds the blue-green set of `app`.
    ///
    /// # Errors
    ///
    /// None today (the app was checked when built); the `Result` leaves
    /// room for strategy parameters that need checking.
    pub fn render(&self, app: &App) -> Result<BlueGreenSet, Error> {
        let name = app.name.clone();
        let active = self.active;
        let mut template_meta = app.meta(name.clone(), &[]);
        template_meta
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                CHANGE_CAUSE.to_owned(),
                app.change_cause
                    .clone()
                    .unwrap_or_else(|| format!("image {}", app.image)),
            );
        let horizontal_pod_autoscaler = match &app.scale {
            Scale::Auto(a) => Some(a.to_k8s(
                app.meta(name.clone(), &[]),
                "apps/v1",
                "ReplicaSet",
                &track_name(&name, active),
            )),
            Scale::Fixed(n) => {
                template_meta
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(REPLICAS.to_owned(), n.to_string());
                None
            }
        };
        Ok(BlueGreenSet {
            service_account: app.service_account(),
            config_map: app.config_map(),
            pod_template: PodTemplate {
                metadata: template_meta,
                template: Some(app.pod_template(None)),
            },
            active_service: app.service(name.clone(), active.as_str()),
            preview_service: app
                .service(format!("{name}{PREVIEW_SUFFIX}"), active.other().as_str()),
            pod_disruption_budget: app.pdb(active.as_str()),
            horizontal_pod_autoscaler,
            active,
        })
    }
}

/// The name of a track's ReplicaSet: `<app>-<track>`.
#[must_use]
pub fn track_name(app: &str, track: Track) -> String {
    format!("{app}-{track}")
}

/// The objects of a blue-green application.
///
/// # Objects
///
/// | object | name | selects |
/// |---|---|---|
/// | ServiceAccount, ConfigMap | `<app>` | — |
/// | PodTemplate (the pods of the next track, without a track label) | `<app>` | — |
/// | active Service | `<app>` | the active track |
/// | preview Service | `<app>-preview` | the other track |
/// | PodDisruptionBudget | `<app>` | the active track |
/// | HorizontalPodAutoscaler | `<app>` | ReplicaSet `<app>-<active>` |
/// | ReplicaSet per track ([`BlueGreenSet::replica_set`]) | `<app>-blue`, `<app>-green` | its track |
///
/// Every selector is
/// `{app.kubernetes.io/instance: <app>, engine-ops.io/track: <track>}`, so
/// the blue, green and rolling pods of one app, and the pods of two apps,
/// are never selected together.
///
/// # Autoscaling across a switch
///
/// The autoscaler follows the live track: it scales ReplicaSet
/// `<app>-<active>`, and the PodDisruptionBudget protects the same pods.
/// Rendering with the other track active gives the objects after a switch:
/// the active Service's selector (the switch itself, one request), then
/// the autoscaler's target and the budget's selector. Before the
/// switch the new track is created at the live track's *current* size
/// (read from the live ReplicaSet's status, not the autoscaler's minimum),
/// so the switch never shrinks capacity; after it the autoscaler resumes
/// from that size on the new track. The idle track is scaled by whoever
/// drives the rollout (its autoscaler target moved away, nothing else
/// touches it).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BlueGreenSet {
    /// The pods' ServiceAccount.
    pub service_account: ServiceAccount,
    /// The configuration, when the app has any.
    pub config_map: Option<ConfigMap>,
    /// The pod template of the next track (a `v1 PodTemplate` object, so it
    /// is stored, validated and diffed like the rest).
    pub pod_template: PodTemplate,
    /// The Service clients use; selects the active track.
    pub active_service: Service,
    /// The Service for checks before a switch; selects the other track.
    pub preview_service: Service,
    /// The PodDisruptionBudget of the active track, unless disabled.
    pub pod_disruption_budget: Option<PodDisruptionBudget>,
    /// The autoscaler of the active track's ReplicaSet, when the app
    /// autoscales.
    pub horizontal_pod_autoscaler: Option<HorizontalPodAutoscaler>,
    active: Track,
}

impl BlueGreenSet {
    /// The track the active Service selects.
    #[must_use]
    pub fn active(&self) -> Track {
        self.active
    }

    /// The fixed replica count of a track (from the PodTemplate's
    /// `engine-ops.io/replicas` annotation); `None` when an autoscaler owns
    /// the count.
    #[must_use]
    pub fn replicas(&self) -> Option<u32> {
        self.pod_template
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REPLICAS))
            .and_then(|n| n.parse().ok())
    }

    /// The application's name.
    #[must_use]
    pub fn app_name(&self) -> &str {
        self.pod_template.metadata.name.as_deref().unwrap_or("")
    }

    /// The pod template with `track`'s label.
    #[must_use]
    pub fn pod_template_spec(&self, track: Track) -> PodTemplateSpec {
        let mut t = self.pod_template.template.clone().unwrap_or_default();
        t.metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(TRACK.to_owned(), track.as_str().to_owned());
        t
    }

    /// The ReplicaSet of `track`, named `<app>-<track>`, selecting exactly
    /// that track's pods (the PodTemplate's labels and annotations, with
    /// the track label added). `replicas: None` leaves the count to whoever owns
    /// it (the autoscaler on the active track); a new track should start at
    /// the live track's current size.
    #[must_use]
    pub fn replica_set(&self, track: Track, replicas: Option<u32>) -> ReplicaSet {
        let app = self.app_name();
        let mut meta = self.pod_template.metadata.clone();
        meta.name = Some(track_name(app, track));
        if let Some(a) = meta.annotations.as_mut() {
            a.remove(REPLICAS);
        }
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(TRACK.to_owned(), track.as_str().to_owned());
        ReplicaSet {
            metadata: meta,
            spec: super::compat::spec(ReplicaSetSpec {
                replicas: replicas.map(to_i32),
                selector: LabelSelector {
                    match_labels: Some(check::expected_selector(app, track.as_str())),
                    match_expressions: None,
                },
                template: Some(self.pod_template_spec(track)),
                min_ready_seconds: None,
            }),
            status: None,
        }
    }

    /// The objects in apply order: ServiceAccount, ConfigMap, PodTemplate,
    /// active Service, preview Service, PodDisruptionBudget,
    /// HorizontalPodAutoscaler.
    #[must_use]
    pub fn objects(&self) -> Vec<Object> {
        let mut v = vec![Object::ServiceAccount(self.service_account.clone())];
        v.extend(self.config_map.clone().map(Object::ConfigMap));
        v.push(Object::PodTemplate(self.pod_template.clone()));
        v.push(Object::Service(self.active_service.clone()));
        v.push(Object::Service(self.preview_service.clone()));
        v.extend(
            self.pod_disruption_budget
                .clone()
                .map(Object::PodDisruptionBudget),
        );
        v.extend(
            self.horizontal_pod_autoscaler
                .clone()
                .map(Object::HorizontalPodAutoscaler),
        );
        v
    }

    /// Multi-document YAML in [`objects`](Self::objects) order.
    ///
    /// # Errors
    ///
    /// [`Error::WriteYaml`] if the YAML writer fails.
    pub fn to_yaml(&self) -> Result<String, Error> {
        object::to_yaml(&self.objects())
    }

    /// A pretty-printed `v1 List` of the objects.
    ///
    /// # Errors
    ///
    /// [`Error::WriteJson`] if serde_json fails.
    pub fn to_json(&self) -> Result<String, Error> {
        object::to_json(&self.objects())
    }

    /// Reads a set written by [`to_yaml`](Self::to_yaml) (possibly edited)
    /// and checks it with [`from_objects`](Self::from_objects).
    ///
    /// # Errors
    ///
    /// As [`RollingSet::from_yaml`](super::RollingSet::from_yaml).
    pub fn from_yaml(yaml: &str) -> Result<Self, Error> {
        Self::from_objects(object::from_yaml(yaml, SET)?)
    }

    /// Reads a set written by [`to_json`](Self::to_json).
    ///
    /// # Errors
    ///
    /// As [`from_yaml`](Self::from_yaml), with [`Error::ReadJson`] for
    /// invalid JSON.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        Self::from_objects(object::from_json(json, SET)?)
    }

    /// Assembles and checks a set: one ServiceAccount and PodTemplate, the
    /// active Service (named like the PodTemplate) and the preview Service
    /// (`-preview`), selecting the two different tracks; at most one
    /// ConfigMap, PodDisruptionBudget (on the active track) and
    /// HorizontalPodAutoscaler (on the active track's ReplicaSet); plus the
    /// builder's value checks.
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedObject`], [`Error::DuplicateObject`],
    /// [`Error::MissingObject`], [`Error::Inconsistent`], and the value
    /// errors of [`AppBuilder::build`](super::AppBuilder::build).
    pub fn from_objects(objects: Vec<Object>) -> Result<Self, Error> {
        let (mut sa, mut cm, mut pt, mut pdb, mut hpa) = (None, None, None, None, None);
        let mut services = Vec::new();
        for (i, o) in objects.into_iter().enumerate() {
            let reference = o.reference();
            let dup = || Error::DuplicateObject {
                object: reference.clone(),
            };
            match o {
                Object::ServiceAccount(x) => put(&mut sa, x).map_err(|()| dup())?,
                Object::ConfigMap(x) => put(&mut cm, x).map_err(|()| dup())?,
                Object::PodTemplate(x) => put(&mut pt, x).map_err(|()| dup())?,
                Object::Service(x) => services.push(x),
                Object::PodDisruptionBudget(x) => put(&mut pdb, x).map_err(|()| dup())?,
                Object::HorizontalPodAutoscaler(x) => put(&mut hpa, x).map_err(|()| dup())?,
                other => {
                    return Err(Error::UnexpectedObject {
                        document: i + 1,
                        api_version: other.api_version().to_owned(),
                        kind: other.kind().to_owned(),
                        set: SET,
                    });
                }
            }
        }
        let missing = |kind: &str| Error::MissingObject {
            kind: kind.to_owned(),
            set: SET,
        };
        let pod_template: PodTemplate = pt.ok_or_else(|| missing("PodTemplate"))?;
        let name = pod_template.metadata.name.clone().unwrap_or_default();
        let preview_name = format!("{name}{PREVIEW_SUFFIX}");
        let (mut active_service, mut preview_service) = (None, None);
        for s in services {
            let reference = check::reference("Service", &s.metadata);
            let slot = match s.metadata.name.as_deref() {
                Some(n) if n == name => &mut active_service,
                Some(n) if n == preview_name => &mut preview_service,
                _ => {
                    return Err(Error::inconsistent(
                        reference,
                        format!(
                            "a blue-green set holds Services {name:?} and {preview_name:?} only"
                        ),
                    ));
                }
            };
            put(slot, s).map_err(|()| Error::DuplicateObject { object: reference })?;
        }
        let active_service: Service = active_service.ok_or_else(|| missing("active Service"))?;
        let preview_service: Service = preview_service.ok_or_else(|| missing("preview Service"))?;
        let sref = check::reference("Service", &active_service.metadata);
        let active = active_service
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.get(TRACK))
            .and_then(|t| Track::parse(t))
            .ok_or_else(|| {
                Error::inconsistent(
                    &sref,
                    format!("spec.selector must select {TRACK}: blue or green"),
                )
            })?;
        let set = Self {
            service_account: sa.ok_or_else(|| missing("ServiceAccount"))?,
            config_map: cm,
            pod_template,
            active_service,
            preview_service,
            pod_disruption_budget: pdb,
            horizontal_pod_autoscaler: hpa,
            active,
        };
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> Result<(), Error> {
        let name = self.app_name().to_owned();
        let tref = check::reference("PodTemplate", &self.pod_template.metadata);
        super::validate::dns_label(
            &format!("{tref} metadata.name"),
            &name,
            super::MAX_NAME_LEN,
            true,
        )?;
        // The Services' names were matched when the set was assembled.
        check::names_and_namespace(&self.objects(), &name, |o| matches!(o, Object::Service(_)))?;
        let labels = self
            .pod_template
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        if labels.get(INSTANCE) != Some(&name) {
            return Err(Error::inconsistent(
                &tref,
                format!("template.metadata.labels must carry {INSTANCE}: {name}"),
            ));
        }
        check::pod_template(
            &tref,
            self.pod_template.template.as_ref(),
            &self.service_account,
            self.config_map.as_ref(),
        )?;
        let active = check::expected_selector(&name, self.active.as_str());
        let preview = check::expected_selector(&name, self.active.other().as_str());
        check::map_selector_is(
            &check::reference("Service", &self.active_service.metadata),
            self.active_service
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref()),
            &active,
        )?;
        check::map_selector_is(
            &check::reference("Service", &self.preview_service.metadata),
            self.preview_service
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref()),
            &preview,
        )?;
        let replicas = match &self.horizontal_pod_autoscaler {
            Some(h) => Some(check::hpa_target(
                h,
                "ReplicaSet",
                &track_name(&name, self.active),
                "the active track's",
            )?),
            None => {
                let fixed = self
                    .pod_template
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REPLICAS));
                match fixed.map(|n| n.parse::<u32>()) {
                    Some(Ok(n)) if n > 0 => Some(n),
                    Some(_) => {
                        return Err(Error::invalid(
                            format!("{tref} metadata.annotations[{REPLICAS}]"),
                            "must be a replica count of at least 1",
                        ));
                    }
                    None => {
                        return Err(Error::inconsistent(
                            &tref,
                            format!(
                                "without an autoscaler, metadata.annotations[{REPLICAS}] must \
                                 give each track's replica count"
                            ),
                        ));
                    }
                }
            }
        };
        if let Some(p) = &self.pod_disruption_budget {
            let pref = check::reference("PodDisruptionBudget", &p.metadata);
            let ps = p.spec.as_ref();
            check::selector_is(
                &pref,
                "spec.selector",
                ps.and_then(|s| s.selector.as_ref()),
                &active,
            )?;
            if let Some(replicas) = replicas {
                check::min_available(&pref, ps.and_then(|s| s.min_available.as_ref()), replicas)?;
            }
        }
        Ok(())
    }
}
