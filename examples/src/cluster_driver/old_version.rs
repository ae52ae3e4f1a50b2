//! Whether the old version of an app is gone from the cluster: what the
//! app's pods, ReplicaSets and Service show at one moment ([`observe`]),
//! and the judgement ([`judge`]) that turns it into the migrator's
//! `OldVersionGone` proof, or says what still runs. `deploy_pipeline` runs
//! the contract migrations on that proof only.

use std::collections::BTreeSet;

use engine_ops_k8s::manifest::labels::INSTANCE;
use engine_ops_k8s::manifest::{self, BlueGreen, Track};
use engine_ops_migrate::OldVersionGone;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodSpec, Service};
use kube::api::{Api, ListParams};

use super::exit::{CliError, CliResult};

/// Container name → image, of a pod or a pod template.
pub type Images = std::collections::BTreeMap<String, String>;

/// A pod of the app as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSeen {
    /// The pod's name.
    pub name: String,
    /// Its containers' images.
    pub images: Images,
    /// The ReplicaSet that owns it.
    pub owner: Option<String>,
    /// Its `Ready` condition is true.
    pub ready: bool,
    /// It has a deletion timestamp (it may still run).
    pub terminating: bool,
    /// `Succeeded` or `Failed`: no container runs.
    pub finished: bool,
    /// Its labels (matched against the Service's selector).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A ReplicaSet of the app as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSeen {
    /// The ReplicaSet's name.
    pub name: String,
    /// The images of its pod template.
    pub images: Images,
    /// The pods it asks for (`spec.replicas`).
    pub spec_replicas: u32,
    /// The pods it has (`status.replicas`).
    pub replicas: u32,
}

/// What the cluster showed of the app at one moment.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it was seen (UTC, RFC 3339).
    pub at: String,
    /// The app's namespace.
    pub namespace: String,
    /// The app's name (and its Service's).
    pub app: String,
    /// The name of the app's own container (see [`app_container`]).
    pub container: String,
    /// The Service's selector; `None` when the Service does not exist.
    pub service: Option<std::collections::BTreeMap<String, String>>,
    /// The app's pods.
    pub pods: Vec<PodSeen>,
    /// The app's ReplicaSets.
    pub sets: Vec<SetSeen>,
}

/// Container name → image of a pod spec (none without a spec).
pub fn images(spec: Option<&PodSpec>) -> Images {
    spec.map(|s| {
        s.containers
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.image.clone()?)))
            .collect()
    })
    .unwrap_or_default()
}

/// The name of the app's own container in its pods, as engine-ops-k8s's
/// manifests render it for `app` (another container, such as a sidecar
/// injected by a mesh, may run any image, the app's included).
///
/// Exit 2 when the manifests refuse `app` or `image`.
pub fn app_container(app: &str, image: &str) -> CliResult<String> {
    let bad = |e: manifest::Error| CliError::usage(anyhow::anyhow!("{e}"));
    let described = manifest::App::builder(app, "default", image)
        .port(manifest::Port::new("http", 8080))
        .readiness(manifest::Probe::http("/ready").port("http"))
        .build()
        .map_err(bad)?;
    let set = BlueGreen::new(Track::Blue)
        .render(&described)
        .map_err(bad)?;
    set.pod_template
        .template
        .and_then(|t| t.spec)
        .and_then(|s| s.containers.into_iter().next())
        .map(|c| c.name)
        .ok_or_else(|| {
            CliError::failed(anyhow::anyhow!(
                "the manifests of app {app} render no container"
            ))
        })
}

/// A replica count from the API (negative or absent: 0).
pub fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// Reads the app's pods, ReplicaSets and Service (three requests);
/// `container` is the app's own container.
pub async fn observe(
    client: &kube::Client,
    namespace: &str,
    app: &str,
    container: &str,
) -> CliResult<Seen> {
    let by_app = ListParams::default().labels(&format!("{INSTANCE}={app}"));
    let failed = |what: &str, e: kube::Error| {
        CliError::failed(anyhow::anyhow!(
            "cannot read the {what} of app {app} in {namespace}: {e}"
        ))
    };
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&by_app)
        .await
        .map_err(|e| failed("pods", e))?;
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .list(&by_app)
        .await
        .map_err(|e| failed("ReplicaSets", e))?;
    let service = Api::<Service>::namespaced(client.clone(), namespace)
        .get_opt(app)
        .await
        .map_err(|e| failed("Service", e))?;
    let pods = pods
        .items
        .iter()
        .map(|p| {
            let status = p.status.as_ref();
            let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
            PodSeen {
                name: p.metadata.name.clone().unwrap_or_default(),
                images: images(p.spec.as_ref()),
                owner: p
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|o| o.kind == "ReplicaSet")
                    .map(|o| o.name.clone()),
                ready: status
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
                terminating: p.metadata.deletion_timestamp.is_some(),
                finished: matches!(phase, "Succeeded" | "Failed"),
                labels: p.metadata.labels.clone().unwrap_or_default(),
            }
        })
        .collect();
    let sets = sets
        .items
        .iter()
        .map(|rs| SetSeen {
            name: rs.metadata.name.clone().unwrap_or_default(),
            images: images(
                rs.spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .and_then(|t| t.spec.as_ref()),
            ),
            spec_replicas: count(rs.spec.as_ref().and_then(|s| s.replicas)),
            replicas: rs.status.as_ref().map_or(0, |s| count(Some(s.replicas))),
        })
        .collect();
    Ok(Seen {
        at: k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        namespace: namespace.to_owned(),
        app: app.to_owned(),
        container: container.to_owned(),
        service: service.map(|s| s.spec.and_then(|s| s.selector).unwrap_or_default()),
        pods,
        sets,
    })
}

/// Whether the old version is gone, by what `seen` shows: the proof for
/// the migrator, or why not (one line naming what still runs).
pub fn judge(seen: &Seen, image: &str) -> Result<OldVersionGone, String> {
    // The app's container runs `image`: a sidecar of that image is not it.
    let runs_image =
        |images: &Images| images.get(&seen.container).map(String::as_str) == Some(image);
    let shown = |images: &Images| shown(images, &seen.container);
    let live: Vec<&PodSeen> = seen
        .pods
        .iter()
        .filter(|p| !p.finished && runs_image(&p.images))
        .collect();
    let old_pods: Vec<String> = seen
        .pods
        .iter()
        .filter(|p| !p.finished && !runs_image(&p.images))
        .map(|p| {
            format!(
                "{} ({}{}{})",
                p.name,
                shown(&p.images),
                p.owner
                    .as_ref()
                    .map_or_else(String::new, |o| format!(", of ReplicaSet {o}")),
                if p.terminating { ", terminating" } else { "" }
            )
        })
        .collect();
    let old_sets: Vec<&SetSeen> = seen
        .sets
        .iter()
        .filter(|s| !runs_image(&s.images))
        .collect();
    let asking: Vec<String> = old_sets
        .iter()
        .filter(|s| s.spec_replicas > 0 || s.replicas > 0)
        .map(|s| {
            format!(
                "ReplicaSet {} ({}) has {} pod(s), asks for {}",
                s.name,
                shown(&s.images),
                s.replicas,
                s.spec_replicas
            )
        })
        .collect();
    let mut why = Vec::new();
    if !old_pods.is_empty() {
        why.push(format!(
            "{} pod(s) of another version still run: {}",
            old_pods.len(),
            old_pods.join(", ")
        ));
    }
    if !asking.is_empty() {
        why.push(asking.join("; "));
    }
    let selector = match &seen.service {
        None => {
            why.push(format!("Service {} does not exist", seen.app));
            None
        }
        Some(s) if s.is_empty() => {
            why.push(format!("Service {} selects no pod (no selector)", seen.app));
            None
        }
        Some(s) => Some(s),
    };
    let served: Vec<&&PodSeen> = live
        .iter()
        .filter(|p| p.ready && !p.terminating)
        .filter(|p| selector.is_some_and(|s| s.iter().all(|(k, v)| p.labels.get(k) == Some(v))))
        .collect();
    if selector.is_some() && served.is_empty() {
        why.push(format!(
            "Service {} selects no ready pod of {image}: the new version does not serve yet",
            seen.app
        ));
    }
    if !why.is_empty() {
        return Err(why.join("; "));
    }
    Ok(proof(seen, image, &live, served.len(), &old_sets))
}

/// What a pod or ReplicaSet runs, as a person reads it: the app's
/// container's image, else every container's.
fn shown(images: &Images, container: &str) -> String {
    match images.get(container) {
        Some(i) => i.clone(),
        None => images
            .iter()
            .map(|(c, i)| format!("{c}={i}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The proof once nothing of another version is left: what was seen, in
/// words a reviewer of the migration history can check.
fn proof(
    seen: &Seen,
    image: &str,
    live: &[&PodSeen],
    served: usize,
    old_sets: &[&SetSeen],
) -> OldVersionGone {
    let live_sets: BTreeSet<&str> = live.iter().filter_map(|p| p.owner.as_deref()).collect();
    let old_images: BTreeSet<String> = old_sets
        .iter()
        .map(|s| shown(&s.images, &seen.container))
        .collect();
    let old_version = if old_images.is_empty() {
        format!("app {} before {image} (no other version seen)", seen.app)
    } else {
        format!(
            "app {} before {image}: {}",
            seen.app,
            old_images.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    let old_sets_text = if old_sets.is_empty() {
        "no ReplicaSet of another version".to_owned()
    } else {
        format!(
            "ReplicaSet(s) {} of the other version(s) at 0 replicas with no pod left",
            old_sets
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let evidence = format!(
        "observed at {} in namespace {}: Service {} selects {} ready pod(s) of {image}; all {} pod(s) of app {} run {image} (ReplicaSet(s) {}); {old_sets_text}",
        seen.at,
        seen.namespace,
        seen.app,
        served,
        live.len(),
        seen.app,
        live_sets.into_iter().collect::<Vec<_>>().join(", "),
    );
    OldVersionGone::attest(old_version, evidence)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{PodSeen, Seen, SetSeen, app_container, judge};

    const V1: &str = "registry.example/web@sha256:1111";
    const V2: &str = "registry.example/web@sha256:2222";

    fn labels(track: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/instance".to_owned(), "web".to_owned()),
            ("engine-ops.io/track".to_owned(), track.to_owned()),
        ])
    }

    /// The app's container (named after the app, as rendered).
    fn app_only(image: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("web".to_owned(), image.to_owned())])
    }

    fn pod(name: &str, image: &str, owner: Option<&str>, track: &str) -> PodSeen {
        PodSeen {
            name: name.to_owned(),
            images: app_only(image),
            owner: owner.map(str::to_owned),
            ready: true,
            terminating: false,
            finished: false,
            labels: labels(track),
        }
    }

    fn set(name: &str, image: &str, spec: u32, status: u32) -> SetSeen {
        SetSeen {
            name: name.to_owned(),
            images: app_only(image),
            spec_replicas: spec,
            replicas: status,
        }
    }

    /// v2 live on track t1 (2 ready pods), v1's ReplicaSet at 0 and gone.
    fn done() -> Seen {
        Seen {
            at: "2026-01-01T00:00:00Z".into(),
            namespace: "shop".into(),
            app: "web".into(),
            container: "web".into(),
            service: Some(labels("t1")),
            pods: vec![
                pod("web-t1-a", V2, Some("web-t1"), "t1"),
                pod("web-t1-b", V2, Some("web-t1"), "t1"),
            ],
            sets: vec![set("web-t0", V1, 0, 0), set("web-t1", V2, 2, 2)],
        }
    }

    #[test]
    fn the_proof_names_what_was_seen() {
        let proof = judge(&done(), V2).expect("gone");
        assert_eq!(proof.old_version(), format!("app web before {V2}: {V1}"));
        assert_eq!(
            proof.evidence(),
            format!(
                "observed at 2026-01-01T00:00:00Z in namespace shop: Service web selects 2 ready pod(s) of {V2}; all 2 pod(s) of app web run {V2} (ReplicaSet(s) web-t1); ReplicaSet(s) web-t0 of the other version(s) at 0 replicas with no pod left"
            )
        );
    }

    #[test]
    fn a_first_deployment_has_no_old_version() {
        let mut seen = done();
        seen.sets.remove(0);
        let proof = judge(&seen, V2).expect("gone");
        assert!(proof.old_version().contains("no other version seen"));
        assert!(
            proof
                .evidence()
                .ends_with("no ReplicaSet of another version")
        );
    }

    #[test]
    fn any_pod_of_another_image_refuses_terminating_or_bare_or_pending() {
        for (what, p) in [
            ("running", pod("web-t0-a", V1, Some("web-t0"), "t0")),
            (
                "terminating",
                PodSeen {
                    terminating: true,
                    ..pod("web-t0-a", V1, Some("web-t0"), "t0")
                },
            ),
            (
                "not ready yet",
                PodSeen {
                    ready: false,
                    ..pod("web-t0-a", V1, Some("web-t0"), "t0")
                },
            ),
            ("without owner", pod("web-t0-a", V1, None, "t0")),
        ] {
            let mut seen = done();
            seen.pods.push(p);
            let why = judge(&seen, V2).expect_err(what);
            assert!(
                why.starts_with("1 pod(s) of another version still run: web-t0-a ("),
                "{what}: {why}"
            );
        }
        // A pod whose containers have ended runs no code.
        let mut seen = done();
        seen.pods.push(PodSeen {
            finished: true,
            ..pod("web-t0-a", V1, Some("web-t0"), "t0")
        });
        assert!(judge(&seen, V2).is_ok());
    }

    #[test]
    fn an_old_replica_set_that_asks_for_pods_or_counts_some_refuses() {
        for (spec, status) in [(2, 0), (0, 1)] {
            let mut seen = done();
            seen.sets[0] = set("web-t0", V1, spec, status);
            let why = judge(&seen, V2).expect_err("refused");
            assert_eq!(
                why,
                format!("ReplicaSet web-t0 ({V1}) has {status} pod(s), asks for {spec}")
            );
        }
    }

    #[test]
    fn the_app_container_is_the_one_the_manifests_render() {
        let image = format!("registry.example/web@sha256:{}", "ab".repeat(32));
        assert_eq!(app_container("web", &image).expect("rendered"), "web");
        assert_eq!(
            app_container("checkout", &image).expect("rendered"),
            "checkout"
        );
        assert!(app_container("web", "registry.example/web:latest").is_err());
    }

    #[test]
    fn a_sidecar_of_the_new_image_does_not_make_an_old_pod_new() {
        let with_sidecar = |app: &str, sidecar: &str| {
            let mut i = app_only(app);
            i.insert("proxy".to_owned(), sidecar.to_owned());
            i
        };
        // An old pod whose sidecar happens to run the new image.
        let mut seen = done();
        seen.pods.push(PodSeen {
            images: with_sidecar(V1, V2),
            ..pod("web-t0-a", V1, Some("web-t0"), "t0")
        });
        assert_eq!(
            judge(&seen, V2).expect_err("an old pod runs"),
            format!("1 pod(s) of another version still run: web-t0-a ({V1}, of ReplicaSet web-t0)")
        );
        // An old ReplicaSet asking for pods, its template with that sidecar.
        let mut seen = done();
        seen.sets[0] = SetSeen {
            images: with_sidecar(V1, V2),
            ..set("web-t0", V1, 1, 0)
        };
        assert_eq!(
            judge(&seen, V2).expect_err("an old ReplicaSet asks"),
            format!("ReplicaSet web-t0 ({V1}) has 0 pod(s), asks for 1")
        );
        // New pods whose sidecar runs the old image: the new version runs,
        // and the proof names the app's images only.
        let mut seen = done();
        for p in &mut seen.pods {
            p.images = with_sidecar(V2, V1);
        }
        seen.sets[1].images = with_sidecar(V2, V1);
        let proof = judge(&seen, V2).expect("gone");
        assert_eq!(proof.old_version(), format!("app web before {V2}: {V1}"));
        // A pod without the app's container at all runs another version.
        let mut seen = done();
        seen.pods.push(PodSeen {
            images: BTreeMap::from([("proxy".to_owned(), V2.to_owned())]),
            ..pod("web-x", V2, None, "t1")
        });
        assert!(
            judge(&seen, V2)
                .expect_err("no app container")
                .contains(&format!("web-x (proxy={V2})")),
        );
    }

    #[test]
    fn the_new_version_must_serve() {
        let mut seen = done();
        seen.service = None;
        assert_eq!(
            judge(&seen, V2).expect_err("no Service"),
            "Service web does not exist"
        );
        let mut seen = done();
        seen.service = Some(labels("t9"));
        assert!(
            judge(&seen, V2)
                .expect_err("selects nothing")
                .contains("selects no ready pod of")
        );
        let mut seen = done();
        for p in &mut seen.pods {
            p.ready = false;
        }
        assert!(judge(&seen, V2).is_err());
        // The contract for the old image while the new one runs.
        assert!(
            judge(&done(), V1)
                .expect_err("v2 runs")
                .starts_with("2 pod(s) of another version still run")
        );
    }
}
