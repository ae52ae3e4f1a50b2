//! The manifests without a cluster: bad input, the original chart's flaws,
//! selectors, and reading rendered (and hand-edited) YAML back.
//!
//! The original system's manifest flaws and the tests that show them gone
//! (the cluster side of each is in `tests/cluster.rs`):
//!
//! | flaw | test |
//! |---|---|
//! | mutable `engine-ops:<color>` tags with `IfNotPresent` | `a_tag_instead_of_a_digest_is_refused`, `a_tag_accepted_on_purpose_is_pulled_always_and_marked` |
//! | probes on `/health/*`, which the app does not serve; probes under the API's rate limiter | `probes_use_the_paths_given_and_have_no_default`, `a_probe_path_without_a_leading_slash_is_refused` |
//! | `app: engine-ops` selected the blue and green pods too | `selectors_never_overlap_between_tracks_or_apps`, `each_selector_selects_its_own_pods`, `edited_selectors_that_could_overlap_are_refused` |
//! | `podAntiAffinity` inside the container spec | `anti_affinity_is_on_the_pod_not_in_the_container` |
//! | `replicas: 3` fighting the HPA; HPA on a missing Deployment | `the_autoscaler_owns_the_replica_count_and_targets_this_sets_deployment`, `the_blue_green_autoscaler_and_budget_follow_the_live_track` |
//! | `--record` deprecated; chart did not render (missing values); missing ServiceAccount; no preview Service; no rolling parameters; no preStop | `every_reference_inside_a_set_resolves_within_it` |
//! | `maxSurge: 0` could not be expressed | `max_surge_zero_can_be_expressed` |
//! | two releases could not select each other's pods | `each_selector_selects_its_own_pods`, and `blue_green_set_serves_the_active_track_and_switches` on the cluster |

mod common;

use std::collections::BTreeMap;

use engine_ops_k8s::manifest::labels::{self, selectors_overlap};
use engine_ops_k8s::manifest::{
    App, Autoscaling, BlueGreen, BlueGreenSet, Disruption, Error, IntOrPercent, Port, PreStop,
    Probe, Resources, Rolling, RollingSet, Track,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn minimal(name: &str) -> engine_ops_k8s::manifest::AppBuilder {
    App::builder(name, "shop", common::image(name))
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
}

fn message(e: &Error) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------
// Bad input: a clear error naming the field, and no objects at all.

#[test]
fn a_tag_instead_of_a_digest_is_refused() {
    let e = App::builder("shop", "shop", "registry.example/shop:v1.2.3")
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .build()
        .expect_err("a tag must be refused");
    assert!(
        matches!(&e, Error::MutableImage { field, image } if field == "image" && image == "registry.example/shop:v1.2.3")
    );
    let m = message(&e);
    assert!(m.contains("sha256:"), "{m}");
    assert!(m.contains("dangerous_allow_mutable_tag"), "{m}");
    // No digest at all (implicit :latest) is the same error.
    assert!(matches!(
        App::builder("shop", "shop", "shop")
            .port(Port::new("http", 1))
            .readiness(Probe::http("/"))
            .build(),
        Err(Error::MutableImage { .. })
    ));
    // A malformed digest is its own error.
    let e = App::builder("shop", "shop", "shop@sha256:1234")
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .build()
        .expect_err("short digest");
    assert!(matches!(e, Error::InvalidImage { .. }), "{e}");
}

#[test]
fn a_tag_accepted_on_purpose_is_pulled_always_and_marked() {
    let app = App::builder("shop", "shop", "registry.example/shop:v1")
        .dangerous_allow_mutable_tag()
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .build()
        .expect("allowed explicitly");
    let set = Rolling::new().render(&app).expect("render");
    let template = &set.deployment.spec.as_ref().expect("spec").template;
    let c = &template.spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert_eq!(
        annotations.get(labels::MUTABLE_IMAGE).map(String::as_str),
        Some("allowed")
    );
    // The choice survives the YAML round trip; removing it from the YAML
    // makes the set invalid again.
    let yaml = set.to_yaml().expect("yaml");
    assert_eq!(RollingSet::from_yaml(&yaml).expect("read back"), set);
    let edited = yaml.replace(
        "engine-ops.io/mutable-image: allowed",
        "example.com/note: kept",
    );
    let e = RollingSet::from_yaml(&edited).expect_err("the opt-in was removed");
    assert!(matches!(e, Error::MutableImage { .. }), "{e:?}");
}

#[test]
fn max_surge_and_max_unavailable_both_zero_are_refused() {
    let app = minimal("shop").build().expect("app");
    for (surge, unavailable) in [
        (IntOrPercent::Count(0), IntOrPercent::Count(0)),
        (IntOrPercent::Percent(0), IntOrPercent::Count(0)),
        (IntOrPercent::Count(0), IntOrPercent::Percent(0)),
    ] {
        let e = Rolling::new()
            .max_surge(surge)
            .max_unavailable(unavailable)
            .render(&app)
            .expect_err("both zero");
        assert!(matches!(e, Error::NoRollingProgress { .. }), "{e}");
        assert!(message(&e).contains("maxSurge 1"), "{e}");
    }
}

#[test]
fn max_surge_zero_can_be_expressed() {
    // The original chart's `default 1` turned a 0 into 1.
    let app = minimal("shop").build().expect("app");
    let set = Rolling::new()
        .max_surge(IntOrPercent::Count(0))
        .max_unavailable(IntOrPercent::Count(1))
        .render(&app)
        .expect("surge 0 with unavailable 1 is valid");
    let yaml = set.to_yaml().expect("yaml");
    assert!(yaml.contains("maxSurge: 0\n"), "{yaml}");
    assert!(yaml.contains("maxUnavailable: 1\n"), "{yaml}");
    let r = RollingSet::from_yaml(&yaml).expect("read back");
    let ru = r
        .deployment
        .spec
        .and_then(|s| s.strategy)
        .and_then(|s| s.rolling_update)
        .expect("rollingUpdate");
    assert_eq!(ru.max_surge, Some(IntOrString::Int(0)));
    // Percentages too.
    let set = Rolling::new()
        .max_surge(IntOrPercent::Percent(0))
        .max_unavailable(IntOrPercent::Percent(25))
        .render(&app)
        .expect("valid");
    assert!(set.to_yaml().expect("yaml").contains("maxSurge: 0%\n"));
}

#[test]
fn a_probe_path_without_a_leading_slash_is_refused() {
    for (builder, field) in [
        (
            minimal("shop").readiness(Probe::http("api/v1/health/ready")),
            "readiness.path",
        ),
        (
            minimal("shop").liveness(Probe::http("health")),
            "liveness.path",
        ),
        (minimal("shop").startup(Probe::http("")), "startup.path"),
    ] {
        let e = builder.build().expect_err("bad path");
        assert!(
            matches!(&e, Error::ProbePath { field: f, .. } if f == field),
            "{e}"
        );
        assert!(message(&e).contains("start with '/'"), "{e}");
    }
}

#[test]
fn a_port_out_of_range_is_refused() {
    for (builder, field, port) in [
        (
            minimal("shop").port(Port::new("metrics", 0)),
            "ports[1].container_port",
            0,
        ),
        (
            minimal("shop").port(Port::new("metrics", 70_000)),
            "ports[1].container_port",
            70_000,
        ),
        (
            minimal("shop").port(Port::new("metrics", 9090).service_port(65_536)),
            "ports[1].service_port",
            65_536,
        ),
    ] {
        let e = builder.build().expect_err("out of range");
        assert!(
            matches!(&e, Error::PortOutOfRange { field: f, port: p } if f == field && *p == port),
            "{e}"
        );
        assert!(message(&e).contains("1 to 65535"), "{e}");
    }
    // The edges are fine.
    minimal("shop")
        .port(Port::new("a", 1))
        .port(Port::new("b", 65_535))
        .build()
        .expect("edges");
}

#[test]
fn a_name_that_is_not_a_dns_label_is_refused() {
    for name in [
        "Engine-Ops",
        "engine_ops",
        "-shop",
        "shop-",
        "shop.v2",
        "",
        "1shop",
        &"a".repeat(56),
    ] {
        let e = minimal(name).build().expect_err(name);
        assert!(
            matches!(&e, Error::InvalidName { field, value, .. } if field == "name" && value == name),
            "{name}: {e}"
        );
        assert!(message(&e).contains("lowercase"), "{e}");
    }
    // 55 characters leave room for the "-preview" Service.
    minimal(&"a".repeat(55)).build().expect("55 characters");
    let e = App::builder("shop", "Prod", common::image("shop"))
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .build()
        .expect_err("namespace");
    assert!(
        matches!(&e, Error::InvalidName { field, .. } if field == "namespace"),
        "{e}"
    );
}

#[test]
fn replicas_below_min_available_are_refused() {
    let e = minimal("shop")
        .replicas(2)
        .disruption(Disruption::MinAvailable(IntOrPercent::Count(3)))
        .build()
        .expect_err("2 < 3");
    assert!(
        matches!(&e, Error::ReplicasBelowMinAvailable { field, replicas: 2, min_available: 3 } if field == "replicas"),
        "{e}"
    );
    assert!(
        message(&e).contains("lower minAvailable or raise the replicas"),
        "{e}"
    );
    // With an autoscaler its minimum counts.
    let e = minimal("shop")
        .resources(Resources::new().cpu_request("100m"))
        .autoscaling(Autoscaling::new(1, 5).cpu_utilization(80))
        .disruption(Disruption::MinAvailable(IntOrPercent::Count(2)))
        .build()
        .expect_err("min 1 < 2");
    assert!(
        matches!(&e, Error::ReplicasBelowMinAvailable { field, replicas: 1, min_available: 2 } if field == "autoscaling.min_replicas"),
        "{e}"
    );
    minimal("shop")
        .replicas(3)
        .disruption(Disruption::MinAvailable(IntOrPercent::Count(3)))
        .build()
        .expect("equal is allowed");
}

#[test]
fn other_bad_values_name_their_field() {
    let cases: Vec<(engine_ops_k8s::manifest::AppBuilder, &str)> = vec![
        (
            App::builder("shop", "shop", common::image("shop")).readiness(Probe::http("/r")),
            "ports",
        ),
        (
            App::builder("shop", "shop", common::image("shop")).port(Port::new("http", 80)),
            "readiness",
        ),
        (minimal("shop").port(Port::new("http", 81)), "ports[1].name"),
        (minimal("shop").port(Port::new("HTTP", 81)), "ports[1].name"),
        (
            minimal("shop").readiness(Probe::http("/r").port("nope")),
            "readiness.port",
        ),
        (
            minimal("shop").readiness(Probe::http("/r").period_seconds(0)),
            "readiness.period_seconds",
        ),
        (
            minimal("shop").liveness(Probe::http("/r").success_threshold(2)),
            "liveness.success_threshold",
        ),
        (
            minimal("shop").resources(Resources::new().memory_request("1 GB")),
            "resources.memory_request",
        ),
        (
            minimal("shop").autoscaling(Autoscaling::new(2, 5).cpu_utilization(70)),
            "autoscaling.cpu_utilization",
        ),
        (
            minimal("shop")
                .resources(Resources::new().cpu_request("1"))
                .autoscaling(Autoscaling::new(3, 2).cpu_utilization(70)),
            "autoscaling.max_replicas",
        ),
        (
            minimal("shop")
                .resources(Resources::new().cpu_request("1"))
                .autoscaling(Autoscaling::new(2, 3)),
            "autoscaling",
        ),
        (
            minimal("shop").pre_stop(PreStop::Sleep { seconds: 30 }),
            "termination_grace_period_seconds",
        ),
        (minimal("shop").replicas(0), "replicas"),
        (
            minimal("shop")
                .security(engine_ops_k8s::manifest::PodSecurity::restricted().run_as_user(0)),
            "security.run_as_user",
        ),
        (
            minimal("shop").env_from(
                "S",
                engine_ops_k8s::manifest::EnvValue::Secret {
                    name: "Bad_Name".to_owned(),
                    key: "k".to_owned(),
                },
            ),
            "env[0].secret",
        ),
        (
            minimal("shop").label("app.kubernetes.io/instance", "other"),
            "labels[app.kubernetes.io/instance]",
        ),
        (
            minimal("shop").label("engine-ops.io/track", "blue"),
            "labels[engine-ops.io/track]",
        ),
        (minimal("shop").label("team", "not valid"), "labels[team]"),
        (minimal("shop").env("A=B", "x"), "env[0].name"),
        (minimal("shop").config("a/b", "x"), "config"),
        (
            minimal("shop").config("a", "x").config_files_at("etc/app"),
            "config_files_at",
        ),
        (
            minimal("shop").disruption(Disruption::MaxUnavailable(IntOrPercent::Count(0))),
            "disruption.max_unavailable",
        ),
        (
            minimal("shop").disruption(Disruption::MinAvailable(IntOrPercent::Percent(120))),
            "disruption.min_available",
        ),
    ];
    for (builder, field) in cases {
        match builder.build() {
            Err(Error::Invalid { field: f, message }) => {
                assert_eq!(f, field, "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The original chart's and manifests' flaws (KNOWN-FLAWS 18-27, manifest side).

#[test]
fn probes_use_the_paths_given_and_have_no_default() {
    // Flaw 19: `/health/*` was 404, the app serves `/api/v1/health/*`.
    // There is no default path to get wrong, a readiness probe is required,
    // and the probes reach the port named for them (flaw 20: a port
    // outside the API's rate limiter).
    let set = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("render");
    let pod = set
        .deployment
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod");
    let c = &pod.containers[0];
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = p
            .as_ref()
            .and_then(|p| p.http_get.clone())
            .expect("http probe");
        (get.path.expect("path"), get.port)
    };
    let health = IntOrString::String("health".to_owned());
    assert_eq!(
        probe(&c.readiness_probe),
        ("/api/v1/health/ready".to_owned(), health.clone())
    );
    assert_eq!(
        probe(&c.liveness_probe),
        ("/api/v1/health/live".to_owned(), health.clone())
    );
    assert_eq!(
        probe(&c.startup_probe),
        ("/api/v1/health/live".to_owned(), health)
    );
    assert!(
        c.ports
            .iter()
            .flatten()
            .any(|p| p.name.as_deref() == Some("health") && p.container_port == 9464)
    );
}

#[test]
fn anti_affinity_is_on_the_pod_not_in_the_container() {
    // Flaw 26: the podAntiAffinity block sat inside the container spec. The
    // container type has no such field; the pod's affinity selects every
    // pod of the app (all tracks).
    let set = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("render");
    let yaml = set.to_yaml().expect("yaml");
    let pod = set
        .deployment
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod");
    let term = &pod
        .affinity
        .and_then(|a| a.pod_anti_affinity)
        .and_then(|a| a.preferred_during_scheduling_ignored_during_execution)
        .expect("preferred anti-affinity")[0];
    assert_eq!(
        term.pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
    assert_eq!(
        term.pod_affinity_term
            .label_selector
            .as_ref()
            .and_then(|s| s.match_labels.clone()),
        Some(BTreeMap::from([(
            labels::INSTANCE.to_owned(),
            "engine-ops".to_owned()
        )]))
    );
    // In the YAML it is indented as a pod-spec key, above `containers`.
    assert!(
        yaml.contains("\n    spec:\n      affinity:\n        podAntiAffinity:\n"),
        "{yaml}"
    );
}

#[test]
fn the_autoscaler_owns_the_replica_count_and_targets_this_sets_deployment() {
    // Flaws 26 and 27: `replicas: 3` fought the HPA; the HPA targeted a
    // Deployment that did not exist.
    let set = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("render");
    assert_eq!(set.deployment.spec.as_ref().and_then(|s| s.replicas), None);
    let hpa = set
        .horizontal_pod_autoscaler
        .as_ref()
        .expect("hpa")
        .spec
        .as_ref()
        .expect("spec");
    assert_eq!(hpa.scale_target_ref.kind, "Deployment");
    assert_eq!(hpa.scale_target_ref.api_version.as_deref(), Some("apps/v1"));
    assert_eq!(
        Some(hpa.scale_target_ref.name.as_str()),
        set.deployment.metadata.name.as_deref()
    );
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(3), 10));
    let metrics: Vec<_> = hpa
        .metrics
        .iter()
        .flatten()
        .filter_map(|m| m.resource.as_ref())
        .map(|r| (r.name.clone(), r.target.average_utilization))
        .collect();
    assert_eq!(
        metrics,
        vec![
            ("cpu".to_owned(), Some(70)),
            ("memory".to_owned(), Some(80))
        ]
    );
    let behavior = hpa.behavior.as_ref().expect("behavior");
    assert_eq!(
        behavior
            .scale_down
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds),
        Some(300)
    );
    assert_eq!(
        behavior
            .scale_up
            .as_ref()
            .and_then(|r| r.policies.clone())
            .map(|p| p.len()),
        Some(1)
    );
    // Without autoscaling the count is fixed and there is no autoscaler.
    let fixed = Rolling::new()
        .render(&minimal("shop").replicas(4).build().expect("app"))
        .expect("render");
    assert_eq!(
        fixed.deployment.spec.as_ref().and_then(|s| s.replicas),
        Some(4)
    );
    assert!(fixed.horizontal_pod_autoscaler.is_none());
    // Hand edits that bring the conflict back are refused.
    let yaml = set.to_yaml().expect("yaml");
    let edited = yaml.replace(
        "  minReadySeconds: 0\n",
        "  minReadySeconds: 0\n  replicas: 3\n",
    );
    let e = RollingSet::from_yaml(&edited).expect_err("replicas with an HPA");
    assert!(
        message(&e).contains("autoscaler owns the replica count"),
        "{e}"
    );
    let edited = yaml.replace(
        "    kind: Deployment\n    name: engine-ops\n",
        "    kind: Deployment\n    name: engine-ops-old\n",
    );
    let e = RollingSet::from_yaml(&edited).expect_err("HPA aimed elsewhere");
    assert!(
        matches!(e, Error::Inconsistent { .. }) && message(&e).contains("scaleTargetRef"),
        "{e}"
    );
}

#[test]
fn the_blue_green_autoscaler_and_budget_follow_the_live_track() {
    let app = App::builder("shop", "shop", common::image("shop"))
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .resources(Resources::new().cpu_request("100m"))
        .autoscaling(Autoscaling::new(2, 6).cpu_utilization(60))
        .build()
        .expect("app");
    for active in [Track::Blue, Track::Green] {
        let set = BlueGreen::new(active).render(&app).expect("render");
        let target = &set
            .horizontal_pod_autoscaler
            .as_ref()
            .expect("hpa")
            .spec
            .as_ref()
            .expect("spec")
            .scale_target_ref;
        assert_eq!(
            (target.kind.as_str(), target.name.clone()),
            ("ReplicaSet", format!("shop-{active}"))
        );
        let rs = set.replica_set(active, None);
        assert_eq!(rs.metadata.name.as_deref(), Some(target.name.as_str()));
        assert_eq!(
            rs.spec.as_ref().and_then(|s| s.replicas),
            None,
            "the autoscaler owns it"
        );
        let pdb = set
            .pod_disruption_budget
            .as_ref()
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.selector.clone())
            .and_then(|s| s.match_labels)
            .expect("pdb selector");
        assert_eq!(
            pdb.get(labels::TRACK).map(String::as_str),
            Some(active.as_str())
        );
        assert_eq!(set.replicas(), None);
    }
}

#[test]
fn every_reference_inside_a_set_resolves_within_it() {
    // Flaw 27: a missing ServiceAccount, values the templates read that did
    // not exist, no preview Service, no rolling parameters, no preStop.
    // Every builder default renders both strategies.
    let app = minimal("shop").build().expect("defaults");
    let rolling = Rolling::new().render(&app).expect("rolling");
    let spec = rolling.deployment.spec.as_ref().expect("spec");
    let pod = spec.template.spec.as_ref().expect("pod");
    assert_eq!(
        pod.service_account_name,
        rolling.service_account.metadata.name
    );
    let ru = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .expect("rolling parameters");
    assert_eq!(
        (ru.max_surge.clone(), ru.max_unavailable.clone()),
        (
            Some(IntOrString::String("25%".to_owned())),
            Some(IntOrString::Int(0))
        )
    );
    assert_eq!(spec.revision_history_limit, Some(10));
    let pre_stop = pod.containers[0]
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|p| p.sleep.as_ref())
        .expect("native preStop sleep");
    assert!(pod.termination_grace_period_seconds.expect("grace") > pre_stop.seconds);
    assert_eq!(
        rolling
            .deployment
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(labels::CHANGE_CAUSE))
            .map(String::as_str),
        Some(format!("image {}", common::image("shop")).as_str()),
        "change-cause replaces the deprecated --record"
    );
    RollingSet::from_yaml(&rolling.to_yaml().expect("yaml")).expect("defaults read back");

    let bg = BlueGreen::new(Track::Blue)
        .render(&app)
        .expect("blue-green");
    assert_eq!(
        bg.preview_service.metadata.name.as_deref(),
        Some("shop-preview")
    );
    let rs = bg.replica_set(Track::Green, Some(2));
    let pod = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .expect("pod");
    assert_eq!(pod.service_account_name, bg.service_account.metadata.name);
    assert_eq!(bg.replicas(), Some(2));
    BlueGreenSet::from_yaml(&bg.to_yaml().expect("yaml")).expect("defaults read back");
}

#[test]
fn a_config_change_rolls_the_pods() {
    let render = |level: &str| {
        Rolling::new()
            .render(
                &minimal("shop")
                    .config("LOG_LEVEL", level)
                    .build()
                    .expect("app"),
            )
            .expect("render")
    };
    let (a, b) = (render("info"), render("debug"));
    let ta = &a.deployment.spec.as_ref().expect("spec").template;
    let tb = &b.deployment.spec.as_ref().expect("spec").template;
    assert_ne!(ta, tb, "a different template makes the Deployment roll");
    let sum = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        t.metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(labels::CONFIG_CHECKSUM))
            .cloned()
    };
    assert_ne!(sum(ta), sum(tb));
    assert_eq!(
        sum(ta),
        render("info")
            .deployment
            .spec
            .as_ref()
            .and_then(|s| sum(&s.template)),
        "same config, same template"
    );
    // Editing the ConfigMap in the YAML without the checksum is caught, and
    // the error gives the value to write.
    let yaml = a.to_yaml().expect("yaml");
    let edited = yaml.replace("LOG_LEVEL: info", "LOG_LEVEL: debug");
    let e = RollingSet::from_yaml(&edited).expect_err("stale checksum");
    let want = sum(tb).expect("checksum");
    assert!(message(&e).contains(&want), "{e}");
    RollingSet::from_yaml(&edited.replace(&sum(ta).expect("sum"), &want)).expect("fixed by hand");
}

// ---------------------------------------------------------------------------
// Selectors (flaw 25: `app: engine-ops` also matched the blue and green pods).

/// Every selector of a set with the pod labels it is meant to select.
fn selectors(app: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let built = minimal(app).build().expect("app");
    let rolling = Rolling::new().render(&built).expect("rolling");
    let bg = BlueGreen::new(Track::Blue).render(&built).expect("bg");
    let mut out = vec![(
        format!("{app} rolling"),
        rolling
            .deployment
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .expect("deployment selector"),
    )];
    for track in [Track::Blue, Track::Green] {
        let rs = bg.replica_set(track, Some(1));
        out.push((
            format!("{app} {track}"),
            rs.spec
                .and_then(|s| s.selector.match_labels)
                .expect("rs selector"),
        ));
    }
    out
}

#[test]
fn selectors_never_overlap_between_tracks_or_apps() {
    let all: Vec<_> = ["shop", "cart"].iter().flat_map(|a| selectors(a)).collect();
    assert_eq!(all.len(), 6);
    for (i, (na, a)) in all.iter().enumerate() {
        for (nb, b) in &all[i + 1..] {
            assert!(
                !selectors_overlap(a, b),
                "{na} and {nb} overlap: {a:?} / {b:?}"
            );
        }
    }
}

#[test]
fn each_selector_selects_its_own_pods() {
    let app = minimal("shop").build().expect("app");
    let rolling = Rolling::new().render(&app).expect("rolling");
    let spec = rolling.deployment.spec.as_ref().expect("spec");
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .expect("labels");
    let matches = |sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>| {
        sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    };
    for sel in [
        spec.selector.match_labels.clone().expect("deployment"),
        rolling
            .service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .expect("service"),
        rolling
            .pod_disruption_budget
            .as_ref()
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.selector.clone())
            .and_then(|s| s.match_labels)
            .expect("pdb"),
    ] {
        assert!(matches(&sel, &pod_labels), "{sel:?} misses {pod_labels:?}");
    }
    let bg = BlueGreen::new(Track::Green).render(&app).expect("bg");
    let labels_of = |t: Track| {
        bg.replica_set(t, Some(1))
            .spec
            .and_then(|s| s.template)
            .and_then(|t| t.metadata)
            .and_then(|m| m.labels)
            .expect("labels")
    };
    let active = bg
        .active_service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .expect("active");
    let preview = bg
        .preview_service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .expect("preview");
    assert!(
        matches(&active, &labels_of(Track::Green)) && !matches(&active, &labels_of(Track::Blue))
    );
    assert!(
        matches(&preview, &labels_of(Track::Blue)) && !matches(&preview, &labels_of(Track::Green))
    );
    assert!(
        !matches(&active, &pod_labels)
            && !matches(
                &spec.selector.match_labels.clone().expect("sel"),
                &labels_of(Track::Green)
            )
    );
    assert_eq!(bg.active(), Track::Green);
}

#[test]
fn edited_selectors_that_could_overlap_are_refused() {
    let set = Rolling::new()
        .render(&minimal("shop").build().expect("app"))
        .expect("render");
    let yaml = set.to_yaml().expect("yaml");
    // The original's selector: the app label alone.
    let edited = yaml.replacen(
        "    matchLabels:\n      app.kubernetes.io/instance: shop\n      engine-ops.io/track: rolling\n",
        "    matchLabels:\n      app.kubernetes.io/instance: shop\n",
        1,
    );
    assert_ne!(edited, yaml);
    let e = RollingSet::from_yaml(&edited).expect_err("overlapping selector");
    assert!(message(&e).contains("overlap"), "{e}");
}

// ---------------------------------------------------------------------------
// Reading YAML back.

#[test]
fn both_sets_round_trip_through_yaml_and_json() {
    let rolling = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("rolling");
    assert_eq!(
        RollingSet::from_yaml(&rolling.to_yaml().expect("y")).expect("yaml"),
        rolling
    );
    assert_eq!(
        RollingSet::from_json(&rolling.to_json().expect("j")).expect("json"),
        rolling
    );
    for active in [Track::Blue, Track::Green] {
        let bg = BlueGreen::new(active)
            .render(&common::blue_green_app("shop"))
            .expect("bg");
        let back = BlueGreenSet::from_yaml(&bg.to_yaml().expect("y")).expect("yaml");
        assert_eq!(back, bg);
        assert_eq!(back.active(), active);
        assert_eq!(
            back.replica_set(active.other(), Some(3)),
            bg.replica_set(active.other(), Some(3))
        );
        assert_eq!(
            BlueGreenSet::from_json(&bg.to_json().expect("j")).expect("json"),
            bg
        );
    }
}

#[test]
fn hand_edited_yaml_is_checked_like_the_builder() {
    let yaml = Rolling::new()
        .max_surge(IntOrPercent::Count(1))
        .render(&common::rolling_app("shop"))
        .expect("r")
        .to_yaml()
        .expect("y");
    let digest_image = common::image("engine-ops");
    type Case = (String, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        (
            yaml.replace(&digest_image, "registry.example/engine-ops:0.3.1"),
            |e| matches!(e, Error::MutableImage { .. }),
        ),
        (
            yaml.replace("containerPort: 3000", "containerPort: 70000"),
            |e| matches!(e, Error::PortOutOfRange { port: 70_000, .. }),
        ),
        (
            yaml.replace("path: /api/v1/health/ready", "path: api/v1/health/ready"),
            |e| matches!(e, Error::ProbePath { .. }),
        ),
        (yaml.replace("maxSurge: 1", "maxSurge: 0"), |e| {
            matches!(e, Error::NoRollingProgress { .. })
        }),
        (yaml.replace("minAvailable: 2", "minAvailable: 5"), |e| {
            matches!(
                e,
                Error::ReplicasBelowMinAvailable {
                    replicas: 3,
                    min_available: 5,
                    ..
                }
            )
        }),
        (
            yaml.replace(
                "  revisionHistoryLimit: 10\n",
                "  revisionHistoryLimit: 10\n  replica: 3\n",
            ),
            |e| matches!(e, Error::Invalid { field, .. } if field.ends_with("spec.replica")),
        ),
        (
            yaml.replace(
                "serviceAccountName: engine-ops",
                "serviceAccountName: default",
            ),
            |e| matches!(e, Error::Inconsistent { .. }),
        ),
        (
            yaml.replace(
                "namespace: shop\nspec:\n  minReadySeconds",
                "namespace: other\nspec:\n  minReadySeconds",
            ),
            |e| matches!(e, Error::Inconsistent { .. }),
        ),
        (yaml.replace("type: RollingUpdate", "type: Recreate"), |e| {
            matches!(e, Error::Inconsistent { .. })
        }),
        (
            format!("{yaml}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n"),
            |e| matches!(e, Error::UnexpectedObject { document: 7, .. }),
        ),
        (
            format!(
                "{yaml}{}",
                yaml.split("---\n")
                    .nth(3)
                    .map(|d| format!("---\n{d}"))
                    .unwrap_or_default()
            ),
            |e| matches!(e, Error::DuplicateObject { .. }),
        ),
        (
            yaml.splitn(5, "---\n")
                .take(4)
                .collect::<Vec<_>>()
                .join("---\n"),
            |e| matches!(e, Error::MissingObject { .. }),
        ),
        (
            yaml.replace("kind: Service\nmetadata", "kind: Service\nmetadata: ["),
            |e| matches!(e, Error::ReadYaml { .. }),
        ),
        (
            yaml.replace("  minReadySeconds: 0", "  minReadySeconds: soon"),
            |e| matches!(e, Error::ReadObject { document: 4, .. }),
        ),
    ];
    for (i, (edited, expected)) in cases.into_iter().enumerate() {
        assert!(edited != yaml, "case {i} must edit something");
        match RollingSet::from_yaml(&edited) {
            Err(e) => assert!(expected(&e), "case {i}: unexpected error {e:?}"),
            Ok(_) => panic!("case {i}: the edited YAML was accepted"),
        }
    }
}

#[test]
fn blue_green_yaml_edits_are_checked() {
    let yaml = BlueGreen::new(Track::Blue)
        .render(&common::blue_green_app("shop"))
        .expect("r")
        .to_yaml()
        .expect("y");
    // Both Services on one track: the preview would serve live traffic.
    let edited = yaml.replace("engine-ops.io/track: green", "engine-ops.io/track: blue");
    assert!(matches!(
        BlueGreenSet::from_yaml(&edited),
        Err(Error::Inconsistent { .. })
    ));
    // The PDB on the idle track.
    let edited = yaml.replace(
        "      app.kubernetes.io/instance: engine-ops\n      engine-ops.io/track: blue\n  unhealthyPodEvictionPolicy",
        "      app.kubernetes.io/instance: engine-ops\n      engine-ops.io/track: green\n  unhealthyPodEvictionPolicy",
    );
    assert_ne!(edited, yaml);
    assert!(matches!(
        BlueGreenSet::from_yaml(&edited),
        Err(Error::Inconsistent { .. })
    ));
    // A Deployment does not belong in a blue-green set.
    let rolling = Rolling::new()
        .render(&common::rolling_app("shop"))
        .expect("r")
        .to_yaml()
        .expect("y");
    assert!(matches!(
        BlueGreenSet::from_yaml(&rolling),
        Err(Error::UnexpectedObject { .. })
    ));
    assert!(matches!(
        RollingSet::from_yaml(&yaml),
        Err(Error::UnexpectedObject { .. })
    ));
}
