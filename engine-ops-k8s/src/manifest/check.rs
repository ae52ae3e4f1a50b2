//! Checks of a set read back from YAML or JSON: the same rules as
//! [`AppBuilder::build`](super::AppBuilder::build) on the values that reach
//! the cluster, plus the agreements between objects that hand edits can
//! break (selectors, references, the config checksum).

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::app::config_checksum;
use super::labels::{CONFIG_CHECKSUM, INSTANCE, MUTABLE_IMAGE, TRACK};
use super::{Error, IntOrPercent, Object, validate};

/// Stores an object read back from a file in its empty slot; `Err` when
/// the slot is taken (the file holds the object twice).
pub(crate) fn put<T>(slot: &mut Option<T>, x: T) -> Result<(), ()> {
    if slot.is_some() {
        return Err(());
    }
    *slot = Some(x);
    Ok(())
}

/// `Kind/name`.
pub(crate) fn reference(kind: &str, meta: &ObjectMeta) -> String {
    format!("{kind}/{}", meta.name.as_deref().unwrap_or(""))
}

/// Every object is named `name` (but those `exempt` from it) and all are
/// in one namespace, which is set.
pub(crate) fn names_and_namespace(
    objects: &[Object],
    name: &str,
    exempt: impl Fn(&Object) -> bool,
) -> Result<(), Error> {
    let namespace = objects.first().and_then(|o| o.metadata().namespace.clone());
    for o in objects {
        if !exempt(o) && o.name() != name {
            return Err(Error::inconsistent(
                o.reference(),
                format!("metadata.name must be {name:?} (derived from the app's name)"),
            ));
        }
        match &o.metadata().namespace {
            None => {
                return Err(Error::inconsistent(
                    o.reference(),
                    "metadata.namespace is not set; set it so the set cannot land in whatever \
                     namespace the client defaults to",
                ));
            }
            Some(ns) if Some(ns) != namespace.as_ref() => {
                return Err(Error::inconsistent(
                    o.reference(),
                    format!(
                        "metadata.namespace {ns:?} differs from {:?}; keep the set in one \
                         namespace",
                        namespace.as_deref().unwrap_or("")
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The autoscaler targets `apps/v1 <kind>/<name>`; returns its minimum.
pub(crate) fn hpa_target(
    hpa: &HorizontalPodAutoscaler,
    kind: &str,
    name: &str,
    what: &str,
) -> Result<u32, Error> {
    let href = reference("HorizontalPodAutoscaler", &hpa.metadata);
    let Some(spec) = super::compat::hpa_spec_ref(&hpa.spec) else {
        return Err(Error::inconsistent(href, "has no spec"));
    };
    let t = &spec.scale_target_ref;
    if t.kind != kind || t.name != name || t.api_version.as_deref() != Some("apps/v1") {
        return Err(Error::inconsistent(
            href,
            format!(
                "spec.scaleTargetRef is {} {}/{}, not {what} apps/v1 {kind}/{name}",
                t.api_version.as_deref().unwrap_or(""),
                t.kind,
                t.name
            ),
        ));
    }
    Ok(u32::try_from(spec.min_replicas.unwrap_or(1)).unwrap_or(0))
}

/// The engine-ops selector of `app`'s `track`.
pub(crate) fn expected_selector(app: &str, track: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTANCE.to_owned(), app.to_owned()),
        (TRACK.to_owned(), track.to_owned()),
    ])
}

/// A label selector is exactly `matchLabels: expected`.
pub(crate) fn selector_is(
    object: &str,
    field: &str,
    selector: Option<&LabelSelector>,
    expected: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let ok = selector.is_some_and(|s| {
        s.match_labels.as_ref() == Some(expected)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::inconsistent(
            object,
            format!(
                "{field} must be matchLabels {expected:?}; any other selector could overlap \
                 another track's or another app's pods"
            ),
        ))
    }
}

/// A map selector (a Service's) is exactly `expected`.
pub(crate) fn map_selector_is(
    object: &str,
    selector: Option<&BTreeMap<String, String>>,
    expected: &BTreeMap<String, String>,
) -> Result<(), Error> {
    if selector != Some(expected) {
        return Err(Error::inconsistent(
            object,
            format!("spec.selector must be {expected:?}"),
        ));
    }
    Ok(())
}

/// A `minAvailable` that the replicas can meet.
pub(crate) fn min_available(
    object: &str,
    min_available: Option<&IntOrString>,
    replicas: u32,
) -> Result<(), Error> {
    if let Some(v) = min_available
        && let IntOrPercent::Count(m) =
            IntOrPercent::from_k8s(&format!("{object} spec.minAvailable"), v)?
        && replicas < m
    {
        return Err(Error::ReplicasBelowMinAvailable {
            field: format!("{object} spec.minAvailable"),
            replicas,
            min_available: m,
        });
    }
    Ok(())
}

/// The pod template: images, ports, probes, service account, config.
pub(crate) fn pod_template(
    object: &str,
    template: Option<&PodTemplateSpec>,
    service_account: &ServiceAccount,
    config_map: Option<&ConfigMap>,
) -> Result<(), Error> {
    let Some(template) = template else {
        return Err(Error::inconsistent(object, "has no pod template"));
    };
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let allow_tag = annotations.get(MUTABLE_IMAGE).map(String::as_str) == Some("allowed");
    let Some(spec) = &template.spec else {
        return Err(Error::inconsistent(object, "the pod template has no spec"));
    };
    service_account_is(object, spec, service_account)?;
    config_checksum_is(object, &annotations, config_map)?;
    let cm_name = config_map.and_then(|c| c.metadata.name.as_deref());
    config_map_volumes(object, spec, cm_name)?;
    if spec.containers.is_empty() {
        return Err(Error::inconsistent(
            object,
            "the pod template has no container",
        ));
    }
    let grace = spec.termination_grace_period_seconds.unwrap_or(30);
    for (i, c) in spec.containers.iter().enumerate() {
        container(object, i, c, allow_tag, cm_name, grace)?;
    }
    Ok(())
}

/// The pods run as the set's ServiceAccount.
fn service_account_is(
    object: &str,
    spec: &PodSpec,
    service_account: &ServiceAccount,
) -> Result<(), Error> {
    if spec.service_account_name != service_account.metadata.name {
        return Err(Error::inconsistent(
            object,
            format!(
                "spec.template.spec.serviceAccountName {:?} is not the set's ServiceAccount {:?}",
                spec.service_account_name.as_deref().unwrap_or(""),
                service_account.metadata.name.as_deref().unwrap_or("")
            ),
        ));
    }
    Ok(())
}

/// The pod template's config checksum annotation matches the ConfigMap's
/// data (and is absent without a ConfigMap).
fn config_checksum_is(
    object: &str,
    annotations: &BTreeMap<String, String>,
    config_map: Option<&ConfigMap>,
) -> Result<(), Error> {
    let expected_sum = config_map.map(|c| config_checksum(&c.data.clone().unwrap_or_default()));
    if annotations.get(CONFIG_CHECKSUM) != expected_sum.as_ref() {
        return Err(Error::inconsistent(
            object,
            match expected_sum {
                Some(sum) => format!(
                    "pod annotation {CONFIG_CHECKSUM} does not match the ConfigMap's data, so a \
                     config change would not roll the pods; set it to {sum:?}"
                ),
                None => {
                    format!("pod annotation {CONFIG_CHECKSUM} is set but there is no ConfigMap")
                }
            },
        ));
    }
    Ok(())
}

/// Every ConfigMap volume mounts the set's ConfigMap (`cm_name`).
fn config_map_volumes(object: &str, spec: &PodSpec, cm_name: Option<&str>) -> Result<(), Error> {
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        if let Some(c) = &v.config_map
            && Some(c.name.as_str()) != cm_name
        {
            return Err(Error::inconsistent(
                object,
                format!(
                    "spec.template.spec.volumes[{i}] mounts ConfigMap {:?}, which the set does not hold",
                    c.name
                ),
            ));
        }
    }
    Ok(())
}

/// Container `i`: its image, ports, probes, ConfigMap references, and a
/// grace period longer than its preStop sleep.
fn container(
    object: &str,
    i: usize,
    c: &Container,
    allow_tag: bool,
    cm_name: Option<&str>,
    grace: i64,
) -> Result<(), Error> {
    let cf = |f: &str| format!("{object} spec.template.spec.containers[{i}].{f}");
    validate::image(&cf("image"), c.image.as_deref().unwrap_or(""), allow_tag)?;
    for (j, p) in c.ports.iter().flatten().enumerate() {
        validate::port(
            &cf(&format!("ports[{j}].containerPort")),
            i64::from(p.container_port),
        )?;
    }
    probes(c, &cf)?;
    for (j, e) in c.env_from.iter().flatten().enumerate() {
        if let Some(r) = &e.config_map_ref
            && Some(r.name.as_str()) != cm_name
        {
            return Err(Error::inconsistent(
                object,
                format!(
                    "spec.template.spec.containers[{i}].envFrom[{j}] reads ConfigMap {:?}, \
                     which the set does not hold",
                    r.name
                ),
            ));
        }
    }
    let sleep = c
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.sleep.as_ref())
        .map_or(0, |s| s.seconds);
    if sleep > 0 && grace <= sleep {
        return Err(Error::invalid(
            format!("{object} spec.template.spec.terminationGracePeriodSeconds"),
            format!(
                "{grace} s leaves no time to shut down after the {sleep} s preStop sleep; \
                 make it longer"
            ),
        ));
    }
    Ok(())
}

/// The container's HTTP probes: a path, and a port that is a number in
/// range or the name of one of its ports. `cf` names a container field.
fn probes(c: &Container, cf: &impl Fn(&str) -> String) -> Result<(), Error> {
    let names: Vec<&str> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.name.as_deref())
        .collect();
    for (name, probe) in [
        ("startupProbe", &c.startup_probe),
        ("readinessProbe", &c.readiness_probe),
        ("livenessProbe", &c.liveness_probe),
    ] {
        let Some(get) = probe.as_ref().and_then(|p| p.http_get.as_ref()) else {
            continue;
        };
        validate::probe_path(
            &cf(&format!("{name}.httpGet.path")),
            get.path.as_deref().unwrap_or(""),
        )?;
        match &get.port {
            IntOrString::Int(n) => {
                validate::port(&cf(&format!("{name}.httpGet.port")), i64::from(*n))?;
            }
            IntOrString::String(s) if !names.contains(&s.as_str()) => {
                return Err(Error::invalid(
                    cf(&format!("{name}.httpGet.port")),
                    format!("no container port is named {s:?}"),
                ));
            }
            IntOrString::String(_) => {}
        }
    }
    Ok(())
}
