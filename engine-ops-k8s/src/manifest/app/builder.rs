//! [`AppBuilder`]: the defaults of a description ([`App::builder`]), its
//! setters, and the checks [`AppBuilder::build`] runs before an [`App`]
//! exists.

use std::collections::BTreeMap;

use super::container::{EnvValue, Port, PreStop, Probe, Resources, ServiceType};
use super::description::{App, MAX_NAME_LEN};
use super::pod_options::{AntiAffinity, PodSecurity, Prometheus};
use super::scaling::{Autoscaling, Disruption, IntOrPercent, Scale};
use crate::manifest::{Error, labels, validate};

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
