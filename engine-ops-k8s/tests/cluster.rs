//! The rendered sets on the real control plane (`tools/k8s-testenv`,
//! found through `KUBECONFIG`): a strict server-side dry run, a real
//! apply, pods rolled out Ready on the fake nodes, Services whose
//! EndpointSlices list exactly the intended pods, and a second apply that
//! changes nothing. Each test works in its own `k8s-…` namespace (Pod
//! Security Standard *restricted* enforced) and deletes it.
//!
//! Without a reachable API server the tests print `SKIPPED: …` and pass,
//! unless `CI` is set: then they fail.

mod common;

use common::cluster::{
    self, TestNamespace, apply, dry_run_strict, dry_run_then_apply, kubectl, pod_ready, pods,
    versions, wait_for, wait_for_endpoints,
};
use engine_ops_k8s::manifest::labels::{INSTANCE, TRACK};
use engine_ops_k8s::manifest::{
    self, App, Autoscaling, BlueGreen, IntOrPercent, Object, Port, Probe, Resources, Rolling,
    RollingSet, Track,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::ListParams;

/// kubectl's rollout-complete rule: the controller has seen our
/// generation, every replica is updated and available, no old one is left.
fn rolled_out(d: &Deployment, replicas: i32) -> bool {
    let (Some(spec), Some(status)) = (&d.spec, &d.status) else {
        return false;
    };
    spec.replicas == Some(replicas)
        && status.observed_generation >= d.metadata.generation
        && status.updated_replicas == Some(replicas)
        && status.replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
}

fn hpa_able_to_scale(h: &HorizontalPodAutoscaler) -> bool {
    h.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "AbleToScale" && c.status == "True")
        })
}

async fn pod_names(ns: &TestNamespace, selector: &str, expect: usize) -> Vec<String> {
    let pods = pods(ns, selector).await;
    assert_eq!(pods.len(), expect, "pods matching {selector}");
    assert!(
        pods.iter().all(pod_ready),
        "every pod of {selector} is Ready"
    );
    pods.into_iter().filter_map(|p| p.metadata.name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_set_is_accepted_rolls_out_and_reapplies_as_a_no_op() {
    let Some(client) = cluster::client().await else {
        return;
    };
    let ns = TestNamespace::new(&client, "rolling").await;
    let set = Rolling::new()
        .max_surge(IntOrPercent::Count(1))
        .max_unavailable(IntOrPercent::Count(0))
        .render(&common::rolling_app(&ns.name))
        .expect("render");
    let objects = set.objects();

    // A dry run stores nothing.
    for o in &objects {
        apply(&ns, o, &dry_run_strict())
            .await
            .expect("strict dry run");
    }
    assert!(
        ns.api::<Deployment>()
            .get_opt("engine-ops")
            .await
            .expect("get")
            .is_none()
    );

    dry_run_then_apply(&ns, &objects).await;
    // The autoscaler, which owns the replica count, raises the Deployment
    // to its minimum (3) on the real controller manager; the Deployment
    // controller rolls the pods out on the fake nodes.
    let selector = format!("{INSTANCE}=engine-ops,{TRACK}=rolling");
    wait_for(
        ns.api::<Deployment>(),
        "app.kubernetes.io/instance=engine-ops",
        "the Deployment to roll out 3 replicas",
        |d: &[Deployment]| d.len() == 1 && rolled_out(&d[0], 3),
    )
    .await;
    wait_for(
        ns.api::<HorizontalPodAutoscaler>(),
        "app.kubernetes.io/instance=engine-ops",
        "the autoscaler to find its target",
        |h: &[HorizontalPodAutoscaler]| h.len() == 1 && hpa_able_to_scale(&h[0]),
    )
    .await;
    let names = pod_names(&ns, &selector, 3).await;
    wait_for_endpoints(&ns, "engine-ops", &names).await;

    // Applying the same set again changes nothing: no new generation, not
    // even a new resourceVersion.
    let before = versions(&ns, &objects).await;
    dry_run_then_apply(&ns, &objects).await;
    let after = versions(&ns, &objects).await;
    assert_eq!(
        before, after,
        "a second apply of the same set changed objects"
    );

    // kubectl (Go's YAML reader, the API server's own diff) reads the
    // rendered YAML as exactly what is stored.
    let yaml = set.to_yaml().expect("yaml");
    if let Some((code, out, err)) = kubectl(
        &[
            "diff",
            "--server-side",
            "--field-manager",
            cluster::MANAGER,
            "-f",
            "-",
        ],
        &yaml,
    ) {
        assert_eq!(code, 0, "kubectl diff found differences:\n{out}\n{err}");
    }
    // And what is stored reads back as the same typed set.
    let stored = RollingSet::from_yaml(&yaml).expect("read back");
    assert_eq!(stored, set);
}

#[tokio::test(flavor = "multi_thread")]
async fn blue_green_set_serves_the_active_track_and_switches() {
    let Some(client) = cluster::client().await else {
        return;
    };
    let ns = TestNamespace::new(&client, "bluegreen").await;
    let app = common::blue_green_app(&ns.name);
    let blue = BlueGreen::new(Track::Blue).render(&app).expect("render");
    let mut objects = blue.objects();
    let n = blue.replicas().expect("fixed replicas");
    objects.push(Object::ReplicaSet(blue.replica_set(Track::Blue, Some(n))));
    objects.push(Object::ReplicaSet(blue.replica_set(Track::Green, Some(n))));
    dry_run_then_apply(&ns, &objects).await;

    wait_for(
        ns.api::<ReplicaSet>(),
        "app.kubernetes.io/instance=engine-ops",
        "both tracks to have 3 available pods",
        |rs: &[ReplicaSet]| {
            rs.len() == 2
                && rs.iter().all(|r| {
                    r.status.as_ref().is_some_and(|s| {
                        s.available_replicas == Some(3)
                            && s.observed_generation == r.metadata.generation
                    })
                })
        },
    )
    .await;
    let blue_pods = pod_names(&ns, &format!("{INSTANCE}=engine-ops,{TRACK}=blue"), 3).await;
    let green_pods = pod_names(&ns, &format!("{INSTANCE}=engine-ops,{TRACK}=green"), 3).await;
    wait_for_endpoints(&ns, "engine-ops", &blue_pods).await;
    wait_for_endpoints(&ns, "engine-ops-preview", &green_pods).await;

    let before = versions(&ns, &objects).await;
    dry_run_then_apply(&ns, &objects).await;
    assert_eq!(
        before,
        versions(&ns, &objects).await,
        "a second apply changed objects"
    );

    // The set rendered with green active moves the traffic: the active
    // Service now lists exactly the green pods, the preview the blue ones.
    let green = BlueGreen::new(Track::Green).render(&app).expect("render");
    dry_run_then_apply(&ns, &green.objects()).await;
    wait_for_endpoints(&ns, "engine-ops", &green_pods).await;
    wait_for_endpoints(&ns, "engine-ops-preview", &blue_pods).await;
    // The budget follows the live track: it counts the green pods.
    wait_for(
        ns.api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(),
        "app.kubernetes.io/instance=engine-ops",
        "the budget to count the green pods",
        |p: &[k8s_openapi::api::policy::v1::PodDisruptionBudget]| {
            p.len() == 1
                && p[0].status.as_ref().is_some_and(|s| {
                    s.observed_generation == p[0].metadata.generation
                        && s.expected_pods == 3
                        && s.current_healthy == 3
                        && s.disruptions_allowed == 1
                })
        },
    )
    .await;
    let pdb_selector = ns
        .api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>()
        .get("engine-ops")
        .await
        .expect("pdb")
        .spec
        .and_then(|s| s.selector)
        .and_then(|s| s.match_labels)
        .expect("selector");
    assert_eq!(pdb_selector.get(TRACK).map(String::as_str), Some("green"));
}

#[tokio::test(flavor = "multi_thread")]
async fn blue_green_autoscaler_scales_the_live_track_and_follows_the_switch() {
    let Some(client) = cluster::client().await else {
        return;
    };
    let ns = TestNamespace::new(&client, "bghpa").await;
    let app = App::builder("cart", &ns.name, common::image("cart"))
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"))
        .resources(Resources::new().cpu_request("100m"))
        .autoscaling(Autoscaling::new(2, 5).cpu_utilization(60))
        .build()
        .expect("app");
    let blue = BlueGreen::new(Track::Blue).render(&app).expect("render");
    let mut objects = blue.objects();
    // The live track's count is the autoscaler's: no replicas field.
    objects.push(Object::ReplicaSet(blue.replica_set(Track::Blue, None)));
    dry_run_then_apply(&ns, &objects).await;
    let live = wait_for(
        ns.api::<ReplicaSet>(),
        "app.kubernetes.io/instance=cart",
        "the autoscaler to raise cart-blue to its minimum",
        |rs: &[ReplicaSet]| {
            rs.len() == 1
                && rs[0].spec.as_ref().and_then(|s| s.replicas) == Some(2)
                && rs[0].status.as_ref().and_then(|s| s.available_replicas) == Some(2)
        },
    )
    .await;
    let size = live[0].status.as_ref().map(|s| s.replicas).expect("status");
    wait_for(
        ns.api::<HorizontalPodAutoscaler>(),
        "app.kubernetes.io/instance=cart",
        "the autoscaler to find cart-blue",
        |h: &[HorizontalPodAutoscaler]| h.len() == 1 && hpa_able_to_scale(&h[0]),
    )
    .await;

    // The new track starts at the live track's current size, then the
    // switch moves Services, autoscaler and budget to it.
    let green_rs = blue.replica_set(Track::Green, u32::try_from(size).ok());
    dry_run_then_apply(&ns, &[Object::ReplicaSet(green_rs)]).await;
    let green_pods = wait_for(
        ns.api::<k8s_openapi::api::core::v1::Pod>(),
        &format!("{INSTANCE}=cart,{TRACK}=green"),
        "2 green pods Ready",
        |p: &[k8s_openapi::api::core::v1::Pod]| p.len() == 2 && p.iter().all(pod_ready),
    )
    .await;
    let green = BlueGreen::new(Track::Green).render(&app).expect("render");
    dry_run_then_apply(&ns, &green.objects()).await;
    let names: Vec<String> = green_pods
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    wait_for_endpoints(&ns, "cart", &names).await;
    // The autoscaler now acts on the green track only: shrink both tracks
    // below its minimum behind its back; it restores green, not blue.
    let shrink = serde_json::json!({"spec": {"replicas": 1}});
    for rs in ["cart-blue", "cart-green"] {
        ns.api::<ReplicaSet>()
            .patch(
                rs,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&shrink),
            )
            .await
            .expect("shrink");
    }
    let after = wait_for(
        ns.api::<ReplicaSet>(),
        "app.kubernetes.io/instance=cart",
        "the autoscaler to restore cart-green to 2",
        |rs: &[ReplicaSet]| {
            rs.iter().any(|r| {
                r.metadata.name.as_deref() == Some("cart-green")
                    && r.spec.as_ref().and_then(|s| s.replicas) == Some(2)
            })
        },
    )
    .await;
    let blue_size = after
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("cart-blue"))
        .and_then(|r| r.spec.as_ref().and_then(|s| s.replicas));
    assert_eq!(
        blue_size,
        Some(1),
        "the autoscaler still scaled the idle track"
    );
}

/// What the API server itself says about an object engine-ops refuses.
#[derive(Debug, PartialEq)]
enum Server {
    Accepts,
    Refuses,
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_and_nothing_reaches_the_cluster() {
    let Some(client) = cluster::client().await else {
        return;
    };
    let ns = TestNamespace::new(&client, "bad").await;
    let good = || {
        App::builder("shop", &ns.name, common::image("shop"))
            .port(Port::new("http", 8080))
            .readiness(Probe::http("/ready"))
    };
    let rolling = Rolling::new().max_surge(IntOrPercent::Count(1));
    let valid = rolling
        .render(&good().build().expect("app"))
        .expect("render");

    // Each bad input: the builder's error, then the same value forced into
    // an otherwise valid object and sent as a strict dry run, to show which
    // of them the API server would have let through.
    type Edit = fn(&mut RollingSet);
    let cases: Vec<(&str, Result<(), manifest::Error>, Edit, Server)> = vec![
        (
            "tag instead of digest",
            App::builder("shop", &ns.name, "registry.example/shop:v2")
                .port(Port::new("http", 8080))
                .readiness(Probe::http("/ready"))
                .build()
                .map(drop),
            |s| container(s).image = Some("registry.example/shop:v2".to_owned()),
            Server::Accepts,
        ),
        (
            "maxSurge and maxUnavailable both zero",
            Rolling::new()
                .max_surge(IntOrPercent::Count(0))
                .max_unavailable(IntOrPercent::Count(0))
                .render(&good().build().expect("app"))
                .map(drop),
            |s| {
                let ru = s
                    .deployment
                    .spec
                    .as_mut()
                    .and_then(|d| d.strategy.as_mut())
                    .and_then(|st| st.rolling_update.as_mut())
                    .expect("ru");
                ru.max_surge = Some(IntOrPercent::Count(0).into());
                ru.max_unavailable = Some(IntOrPercent::Count(0).into());
            },
            Server::Refuses,
        ),
        (
            "probe path without a leading slash",
            good().readiness(Probe::http("ready")).build().map(drop),
            |s| {
                container(s)
                    .readiness_probe
                    .as_mut()
                    .and_then(|p| p.http_get.as_mut())
                    .expect("probe")
                    .path = Some("ready".to_owned());
            },
            Server::Accepts,
        ),
        (
            "port out of range",
            good().port(Port::new("metrics", 70_000)).build().map(drop),
            |s| container(s).ports.as_mut().expect("ports")[0].container_port = 70_000,
            Server::Refuses,
        ),
        (
            "name that is not a DNS-1123 label",
            App::builder("Shop_1", &ns.name, common::image("shop"))
                .port(Port::new("http", 8080))
                .readiness(Probe::http("/ready"))
                .build()
                .map(drop),
            |s| s.deployment.metadata.name = Some("Shop_1".to_owned()),
            Server::Refuses,
        ),
        (
            "replicas below the budget's minAvailable",
            good()
                .replicas(2)
                .disruption(engine_ops_k8s::manifest::Disruption::MinAvailable(
                    IntOrPercent::Count(3),
                ))
                .build()
                .map(drop),
            |s| {
                let spec = s
                    .pod_disruption_budget
                    .as_mut()
                    .and_then(|p| p.spec.as_mut())
                    .expect("pdb");
                spec.max_unavailable = None;
                spec.min_available = Some(IntOrPercent::Count(3).into());
            },
            Server::Accepts,
        ),
    ];
    for (what, built, edit, server) in cases {
        let e = built
            .err()
            .unwrap_or_else(|| panic!("{what}: the builder accepted it"));
        let text = e.to_string();
        assert!(
            text.contains(':') && text.len() > 40,
            "{what}: unclear error {text:?}"
        );
        let mut forced = valid.clone();
        edit(&mut forced);
        // Read back from YAML, the forced set is refused too.
        let yaml = forced.to_yaml().expect("yaml");
        assert!(
            RollingSet::from_yaml(&yaml).is_err(),
            "{what}: edited YAML accepted"
        );
        let mut verdict = Server::Accepts;
        for o in forced.objects() {
            if apply(&ns, &o, &dry_run_strict()).await.is_err() {
                verdict = Server::Refuses;
            }
        }
        assert_eq!(verdict, server, "{what}: the API server's verdict changed");
    }
    // Nothing was stored.
    let none = ListParams::default().labels("app.kubernetes.io/managed-by=engine-ops");
    assert!(
        ns.api::<Deployment>()
            .list(&none)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        ns.api::<Service>()
            .list(&none)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        ns.api::<ConfigMap>()
            .list(&none)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        ns.api::<k8s_openapi::api::core::v1::ServiceAccount>()
            .list(&none)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        ns.api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>()
            .list(&none)
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

fn container(s: &mut RollingSet) -> &mut k8s_openapi::api::core::v1::Container {
    s.deployment
        .spec
        .as_mut()
        .and_then(|d| d.template.spec.as_mut())
        .map(|p| &mut p.containers[0])
        .expect("container")
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_reads_the_yaml_as_written() {
    let Some(_client) = cluster::client().await else {
        return;
    };
    let mut b = App::builder("tricky", "default", common::image("tricky"))
        .port(Port::new("http", 8080))
        .readiness(Probe::http("/ready"));
    for (i, v) in common::TRICKY.iter().enumerate() {
        b = b.config(format!("k{i:02}"), *v);
    }
    let set = Rolling::new()
        .render(&b.build().expect("app"))
        .expect("render");
    let cm = set.config_map.clone().expect("config map");
    let yaml = engine_ops_k8s::manifest::to_yaml(&[Object::ConfigMap(cm.clone())]).expect("yaml");
    let Some((code, out, err)) = kubectl(
        &["create", "--dry-run=server", "-o", "json", "-f", "-"],
        &yaml,
    ) else {
        return;
    };
    assert_eq!(code, 0, "kubectl refused the YAML: {err}");
    let stored: ConfigMap = serde_json::from_str(&out).expect("kubectl's JSON");
    assert_eq!(
        stored.data, cm.data,
        "kubectl read other values than written"
    );
}
