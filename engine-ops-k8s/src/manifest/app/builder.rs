//! [`AppBuilder`]: the defaults of a description ([`App::builder`]), its
//! setters, and the checks [`AppBuilder::build`] runs before an [`App`]
//! exists.

use std::collections::BTreeMap;

use super::checks;
use super::container::{EnvValue, Port, PreStop, Probe, Resources, ServiceType};
use super::description::{App, MAX_NAME_LEN};
use super::pod_options::{AntiAffinity, PodSecurity, Prometheus};
use super::scaling::{Autoscaling, Disruption, IntOrPercent, Scale};
use crate::manifest::{Error, validate};

/// Describes an application and checks it: see [`App::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct AppBuilder {
    app: App,
    allow_mutable_tag: bool,
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
        checks::recommended_label_values(&app)?;
        checks::ports(&app.ports)?;
        checks::env(&app.env)?;
        checks::config(&app)?;
        app.resources.check()?;
        checks::security(&app.security)?;
        checks::probes(&app)?;
        checks::shutdown(&app)?;
        checks::anti_affinity(&app.anti_affinity)?;
        checks::prometheus(&app)?;
        checks::labels_and_annotations(&app)?;
        checks::scale_and_disruption(&app)?;
        Ok(app)
    }
}
