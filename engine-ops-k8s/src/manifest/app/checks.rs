//! The checks [`AppBuilder::build`](super::AppBuilder::build) runs, one
//! function per part of the description, in the order `build` calls them
//! (the first failing check names the field at fault).

use super::container::{EnvValue, Port, PreStop};
use super::description::App;
use super::pod_options::{AntiAffinity, PodSecurity};
use super::scaling::{Disruption, IntOrPercent, Scale};
use crate::manifest::{Error, labels, validate};

/// The `version`, `component` and `part_of` label values.
pub(super) fn recommended_label_values(app: &App) -> Result<(), Error> {
    for (field, v) in [
        ("version", &app.version),
        ("component", &app.component),
        ("part_of", &app.part_of),
    ] {
        if let Some(v) = v {
            validate::label_value(field, v)?;
        }
    }
    Ok(())
}

/// At least one port; names and numbers valid; port names and Service
/// ports (per protocol) unique.
pub(super) fn ports(ports: &[Port]) -> Result<(), Error> {
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

/// Environment variable names, Secret references and field paths.
pub(super) fn env(env: &[(String, EnvValue)]) -> Result<(), Error> {
    for (i, (name, v)) in env.iter().enumerate() {
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
    Ok(())
}

/// Configuration keys, and the directory they are mounted at.
pub(super) fn config(app: &App) -> Result<(), Error> {
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
    Ok(())
}

/// The security options the restricted profile would refuse at pod start.
pub(super) fn security(security: &PodSecurity) -> Result<(), Error> {
    if security.run_as_user == Some(0) {
        return Err(Error::invalid(
            "security.run_as_user",
            "0 is root, which the restricted profile (runAsNonRoot) refuses at pod start; \
             use a non-zero user id",
        ));
    }
    Ok(())
}

/// A readiness probe is required; every probe is checked against the
/// ports (liveness and startup must have a success threshold of 1).
pub(super) fn probes(app: &App) -> Result<(), Error> {
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
    Ok(())
}

/// The preStop hook, and a grace period that leaves time after it.
pub(super) fn shutdown(app: &App) -> Result<(), Error> {
    if let PreStop::Exec { command } = &app.pre_stop
        && command.is_empty()
    {
        return Err(Error::invalid("pre_stop", "the command is empty"));
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
    Ok(())
}

/// The anti-affinity's topology key.
pub(super) fn anti_affinity(anti_affinity: &AntiAffinity) -> Result<(), Error> {
    if let AntiAffinity::Preferred { topology_key } | AntiAffinity::Required { topology_key } =
        anti_affinity
    {
        validate::qualified_name("anti_affinity.topology_key", topology_key)?;
    }
    Ok(())
}

/// The Prometheus port names one of the app's ports; the path is a path.
pub(super) fn prometheus(app: &App) -> Result<(), Error> {
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
    Ok(())
}

/// The caller's labels (valid, and not under the keys engine-ops sets)
/// and annotation keys.
pub(super) fn labels_and_annotations(app: &App) -> Result<(), Error> {
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
    Ok(())
}

/// At least one replica (or a valid autoscaler), and a disruption budget
/// that the smallest replica count can meet and that lets drains proceed.
pub(super) fn scale_and_disruption(app: &App) -> Result<(), Error> {
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
    Ok(())
}

/// A Kubernetes object name: a lowercase DNS subdomain.
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
