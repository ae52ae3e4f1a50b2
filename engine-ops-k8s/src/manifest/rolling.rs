//! The rolling strategy: a native Deployment and what it needs.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::app::to_i32;
use super::check::{self, put};
use super::labels::{CHANGE_CAUSE, ROLLING_TRACK};
use super::object::{self, Object};
use super::{App, Error, IntOrPercent, Scale};

const SET: &str = "rolling set";

/// The rolling-update parameters of a Deployment.
///
/// Defaults: `maxSurge: 25%`, `maxUnavailable: 0` (capacity never drops
/// below the desired count), `revisionHistoryLimit: 10`,
/// `progressDeadlineSeconds: 600`, `minReadySeconds: 0`.
///
/// # Examples
///
/// ```
/// use engine_ops_k8s::manifest::{IntOrPercent, Rolling};
///
/// // One pod at a time, never above the desired count.
/// let rolling = Rolling::new()
///     .max_surge(IntOrPercent::Count(0))
///     .max_unavailable(IntOrPercent::Count(1));
/// # let _ = rolling;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Rolling {
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    revision_history_limit: u32,
    progress_deadline_seconds: u32,
    min_ready_seconds: u32,
}

impl Default for Rolling {
    fn default() -> Self {
        Self::new()
    }
}

impl Rolling {
    /// The defaults listed above.
    pub fn new() -> Self {
        Self {
            max_surge: IntOrPercent::Percent(25),
            max_unavailable: IntOrPercent::Count(0),
            revision_history_limit: 10,
            progress_deadline_seconds: 600,
            min_ready_seconds: 0,
        }
    }

    /// Pods above the desired count during an update (percentages round
    /// up). `0` is allowed when `max_unavailable` is not.
    pub fn max_surge(mut self, v: IntOrPercent) -> Self {
        self.max_surge = v;
        self
    }

    /// Pods below the desired count during an update (percentages round
    /// down). `0` is allowed when `max_surge` is not.
    pub fn max_unavailable(mut self, v: IntOrPercent) -> Self {
        self.max_unavailable = v;
        self
    }

    /// Old ReplicaSets kept for `kubectl rollout undo`.
    pub fn revision_history_limit(mut self, n: u32) -> Self {
        self.revision_history_limit = n;
        self
    }

    /// Seconds without progress before the Deployment reports
    /// `ProgressDeadlineExceeded`.
    pub fn progress_deadline_seconds(mut self, s: u32) -> Self {
        self.progress_deadline_seconds = s;
        self
    }

    /// Seconds a new pod must stay ready to count as available.
    pub fn min_ready_seconds(mut self, s: u32) -> Self {
        self.min_ready_seconds = s;
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.max_surge.is_zero() && self.max_unavailable.is_zero() {
            return Err(Error::NoRollingProgress {
                field: "rolling.max_surge/max_unavailable".to_owned(),
            });
        }
        self.max_unavailable
            .check_percent_max("rolling.max_unavailable")?;
        if self.progress_deadline_seconds <= self.min_ready_seconds {
            return Err(Error::invalid(
                "rolling.progress_deadline_seconds",
                format!(
                    "{} s must exceed min_ready_seconds ({} s), or no pod could ever count as \
                     progress",
                    self.progress_deadline_seconds, self.min_ready_seconds
                ),
            ));
        }
        Ok(())
    }

    /// Builds the rolling set of `app`.
    ///
    /// # Errors
    ///
    /// [`Error::NoRollingProgress`] when `max_surge` and `max_unavailable`
    /// are both zero; [`Error::Invalid`] for a `max_unavailable` above 100 %
    /// or a progress deadline not above `min_ready_seconds`.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_k8s::manifest::{App, Port, Probe, Rolling};
    ///
    /// let app = App::builder("shop", "prod", format!("shop@sha256:{}", "0".repeat(64)))
    ///     .port(Port::new("http", 8080))
    ///     .readiness(Probe::http("/ready"))
    ///     .build()?;
    /// let set = Rolling::new().render(&app)?;
    /// assert_eq!(set.deployment.metadata.name.as_deref(), Some("shop"));
    /// # Ok::<(), engine_ops_k8s::manifest::Error>(())
    /// ```
    pub fn render(&self, app: &App) -> Result<RollingSet, Error> {
        self.check()?;
        let name = app.name.clone();
        let mut meta = app.meta(name.clone(), &[]);
        let cause = app
            .change_cause
            .clone()
            .unwrap_or_else(|| format!("image {}", app.image));
        meta.annotations
            .get_or_insert_with(Default::default)
            .insert(CHANGE_CAUSE.to_owned(), cause);
        let replicas = match &app.scale {
            Scale::Fixed(n) => Some(to_i32(*n)),
            Scale::Auto(_) => None,
        };
        let deployment = Deployment {
            metadata: meta,
            spec: super::compat::spec(DeploymentSpec {
                replicas,
                selector: app.selector(ROLLING_TRACK),
                template: app.pod_template(Some(ROLLING_TRACK)),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".to_owned()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(self.max_surge.to_k8s()),
                        max_unavailable: Some(self.max_unavailable.to_k8s()),
                    }),
                }),
                revision_history_limit: Some(to_i32(self.revision_history_limit)),
                progress_deadline_seconds: Some(to_i32(self.progress_deadline_seconds)),
                min_ready_seconds: Some(to_i32(self.min_ready_seconds)),
                paused: None,
            }),
            status: None,
        };
        let horizontal_pod_autoscaler = match &app.scale {
            Scale::Auto(a) => {
                Some(a.to_k8s(app.meta(name.clone(), &[]), "apps/v1", "Deployment", &name))
            }
            Scale::Fixed(_) => None,
        };
        Ok(RollingSet {
            service_account: app.service_account(),
            config_map: app.config_map(),
            service: app.service(name, ROLLING_TRACK),
            deployment,
            pod_disruption_budget: app.pdb(ROLLING_TRACK),
            horizontal_pod_autoscaler,
        })
    }
}

/// The objects of an application updated by a native rolling Deployment.
///
/// The pods carry `engine-ops.io/track: rolling`; the Deployment, Service
/// and PodDisruptionBudget select exactly
/// `{app.kubernetes.io/instance: <name>, engine-ops.io/track: rolling}`.
/// With autoscaling the Deployment has no `replicas` field (the
/// autoscaler owns it) and the autoscaler targets this Deployment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RollingSet {
    /// The pods' ServiceAccount.
    pub service_account: ServiceAccount,
    /// The configuration, when the app has any.
    pub config_map: Option<ConfigMap>,
    /// The Service.
    pub service: Service,
    /// The Deployment.
    pub deployment: Deployment,
    /// The PodDisruptionBudget, unless disabled.
    pub pod_disruption_budget: Option<PodDisruptionBudget>,
    /// The autoscaler, when the app autoscales.
    pub horizontal_pod_autoscaler: Option<HorizontalPodAutoscaler>,
}

impl RollingSet {
    /// The objects in apply order: ServiceAccount, ConfigMap, Service,
    /// Deployment, PodDisruptionBudget, HorizontalPodAutoscaler.
    #[must_use]
    pub fn objects(&self) -> Vec<Object> {
        let mut v = vec![Object::ServiceAccount(self.service_account.clone())];
        v.extend(self.config_map.clone().map(Object::ConfigMap));
        v.push(Object::Service(self.service.clone()));
        v.push(Object::Deployment(self.deployment.clone()));
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

    /// Multi-document YAML, one object per document in [`objects`](Self::objects)
    /// order, keys in a fixed order, so the output diffs cleanly in git.
    ///
    /// # Errors
    ///
    /// [`Error::WriteYaml`] if the YAML writer fails.
    pub fn to_yaml(&self) -> Result<String, Error> {
        object::to_yaml(&self.objects())
    }

    /// A pretty-printed `v1 List` of the objects (what `kubectl apply -f`
    /// and `kubectl get -o json` use).
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
    /// [`Error::ReadYaml`] for invalid YAML, [`Error::ReadObject`] for a
    /// document that is not a valid object of its kind, and the errors of
    /// [`from_objects`](Self::from_objects).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_k8s::manifest::{App, Port, Probe, Rolling, RollingSet};
    ///
    /// let app = App::builder("shop", "prod", format!("shop@sha256:{}", "0".repeat(64)))
    ///     .port(Port::new("http", 8080))
    ///     .readiness(Probe::http("/ready"))
    ///     .build()?;
    /// let set = Rolling::new().render(&app)?;
    /// assert_eq!(RollingSet::from_yaml(&set.to_yaml()?)?, set);
    /// # Ok::<(), engine_ops_k8s::manifest::Error>(())
    /// ```
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

    /// Assembles and checks a set: one ServiceAccount, Service and
    /// Deployment, at most one ConfigMap, PodDisruptionBudget and
    /// HorizontalPodAutoscaler, all in one namespace, agreeing with each
    /// other (selectors, names, references, config checksum) and passing
    /// the builder's checks (image digests, ports, probe paths, rolling
    /// parameters, PDB against replicas).
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedObject`], [`Error::DuplicateObject`],
    /// [`Error::MissingObject`], [`Error::Inconsistent`], and the value
    /// errors of [`AppBuilder::build`](super::AppBuilder::build).
    pub fn from_objects(objects: Vec<Object>) -> Result<Self, Error> {
        let (mut sa, mut cm, mut svc, mut dep, mut pdb, mut hpa) =
            (None, None, None, None, None, None);
        for (i, o) in objects.into_iter().enumerate() {
            let reference = o.reference();
            let dup = || Error::DuplicateObject {
                object: reference.clone(),
            };
            match o {
                Object::ServiceAccount(x) => put(&mut sa, x).map_err(|()| dup())?,
                Object::ConfigMap(x) => put(&mut cm, x).map_err(|()| dup())?,
                Object::Service(x) => put(&mut svc, x).map_err(|()| dup())?,
                Object::Deployment(x) => put(&mut dep, x).map_err(|()| dup())?,
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
        let set = Self {
            service_account: sa.ok_or_else(|| missing("ServiceAccount"))?,
            config_map: cm,
            service: svc.ok_or_else(|| missing("Service"))?,
            deployment: dep.ok_or_else(|| missing("Deployment"))?,
            pod_disruption_budget: pdb,
            horizontal_pod_autoscaler: hpa,
        };
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> Result<(), Error> {
        let d = &self.deployment;
        let dref = check::reference("Deployment", &d.metadata);
        let name = d.metadata.name.clone().unwrap_or_default();
        check::names_and_namespace(&self.objects(), &name, |_| false)?;
        super::validate::dns_label(
            &format!("{dref} metadata.name"),
            &name,
            super::MAX_NAME_LEN,
            true,
        )?;
        let Some(spec) = super::compat::spec_ref(&d.spec) else {
            return Err(Error::inconsistent(dref, "has no spec"));
        };
        let selector = check::expected_selector(&name, ROLLING_TRACK);
        check::selector_is(&dref, "spec.selector", Some(&spec.selector), &selector)?;
        let pod_labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        if !selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)) {
            return Err(Error::inconsistent(
                &dref,
                "spec.template.metadata.labels do not carry the selector's labels",
            ));
        }
        check::pod_template(
            &dref,
            Some(&spec.template),
            &self.service_account,
            self.config_map.as_ref(),
        )?;
        // The API server defaults a missing strategy to 25% / 25%.
        let (surge, unavailable) = match spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
        {
            Some(r) => (
                r.max_surge
                    .as_ref()
                    .map_or(Ok(IntOrPercent::Percent(25)), |v| {
                        IntOrPercent::from_k8s(
                            &format!("{dref} spec.strategy.rollingUpdate.maxSurge"),
                            v,
                        )
                    })?,
                r.max_unavailable
                    .as_ref()
                    .map_or(Ok(IntOrPercent::Percent(25)), |v| {
                        IntOrPercent::from_k8s(
                            &format!("{dref} spec.strategy.rollingUpdate.maxUnavailable"),
                            v,
                        )
                    })?,
            ),
            None => (IntOrPercent::Percent(25), IntOrPercent::Percent(25)),
        };
        if spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate") {
            return Err(Error::inconsistent(
                &dref,
                "spec.strategy.type is Recreate, which stops every pod before starting new \
                 ones; use RollingUpdate",
            ));
        }
        if surge.is_zero() && unavailable.is_zero() {
            return Err(Error::NoRollingProgress {
                field: format!("{dref} spec.strategy.rollingUpdate"),
            });
        }
        check::map_selector_is(
            &check::reference("Service", &self.service.metadata),
            self.service.spec.as_ref().and_then(|s| s.selector.as_ref()),
            &selector,
        )?;
        let replicas = match &self.horizontal_pod_autoscaler {
            Some(h) => {
                let min = check::hpa_target(h, "Deployment", &name, "this set's Deployment")?;
                if spec.replicas.is_some() {
                    return Err(Error::inconsistent(
                        &dref,
                        "spec.replicas is set although an autoscaler owns the replica count; \
                         every apply would reset what the autoscaler chose: remove it",
                    ));
                }
                min
            }
            None => u32::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0),
        };
        if let Some(p) = &self.pod_disruption_budget {
            let pref = check::reference("PodDisruptionBudget", &p.metadata);
            let ps = p.spec.as_ref();
            check::selector_is(
                &pref,
                "spec.selector",
                ps.and_then(|s| s.selector.as_ref()),
                &selector,
            )?;
            check::min_available(&pref, ps.and_then(|s| s.min_available.as_ref()), replicas)?;
        }
        Ok(())
    }
}
