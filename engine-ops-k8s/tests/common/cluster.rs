//! The real control plane (`tools/k8s-testenv`), found through
//! `KUBECONFIG`: namespaces, server-side apply of rendered objects, and
//! watch-based waits.
//!
//! Without a reachable API server the tests print `SKIPPED: …` and pass,
//! unless `CI` is set: then they fail (except when `.ci/run` says, through
//! `ENGINE_OPS_K8S_SKIP`, that the control plane cannot be built here).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use engine_ops_k8s::manifest::Object;
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodTemplate, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

const ENV: &str = "KUBECONFIG";
const SKIP_ENV: &str = "ENGINE_OPS_K8S_SKIP";
/// The field manager of every apply (as the cluster operations will use).
pub const MANAGER: &str = "engine-ops";
/// Bound of every wait on the cluster.
pub const WAIT: Duration = Duration::from_secs(90);

fn skipped(why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Kubernetes API server not reachable ({why})"
    );
}

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// A client of the test control plane, or `None` (after printing
/// `SKIPPED`) when there is none and `CI` is not set.
pub async fn client() -> Option<Client> {
    // Set by .ci/run when the control plane cannot be built at all.
    if let Some(why) = std::env::var_os(SKIP_ENV) {
        skipped(&why.to_string_lossy());
        return None;
    }
    let Some(path) = std::env::var_os(ENV) else {
        assert!(
            !ci(),
            "CI is set but {ENV} is not: the Kubernetes test control plane is required"
        );
        skipped(&format!(
            "{ENV} is not set; eval \"$(tools/k8s-testenv/up)\""
        ));
        return None;
    };
    if !std::path::Path::new(&path).exists() {
        assert!(
            !ci(),
            "CI is set but {ENV}={} does not exist",
            path.to_string_lossy()
        );
        skipped(&format!("{ENV}={} does not exist", path.to_string_lossy()));
        return None;
    }
    let connect = async {
        let client = Client::try_default().await?;
        client.apiserver_version().await?;
        Ok::<_, kube::Error>(client)
    };
    match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            assert!(
                !ci(),
                "CI is set but the API server of {ENV} is not reachable: {e}"
            );
            skipped(&e.to_string());
            None
        }
        Err(_) => {
            assert!(
                !ci(),
                "CI is set but the API server of {ENV} did not answer in 10 s"
            );
            skipped("timeout");
            None
        }
    }
}

/// A fresh namespace `k8s-<prefix>-<suffix>` enforcing the *restricted*
/// Pod Security Standard, deleted when dropped.
pub struct TestNamespace {
    pub client: Client,
    pub name: String,
}

impl TestNamespace {
    pub async fn new(client: &Client, prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "k8s-{prefix}-{:x}{:x}",
            std::process::id() & 0xfff,
            nanos & 0xfffff
        );
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (
                        "pod-security.kubernetes.io/enforce".to_owned(),
                        "restricted".to_owned(),
                    ),
                    (
                        "pod-security.kubernetes.io/enforce-version".to_owned(),
                        "latest".to_owned(),
                    ),
                ])),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create the test namespace");
        Self {
            client: client.clone(),
            name,
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        // Drop cannot await: delete from a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let _ = Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await;
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// Server-side applies one object as [`MANAGER`]; returns its metadata as
/// the server answered.
pub async fn apply(
    ns: &TestNamespace,
    object: &Object,
    params: &PatchParams,
) -> Result<ObjectMeta, kube::Error> {
    async fn go<K>(
        ns: &TestNamespace,
        k: &K,
        params: &PatchParams,
    ) -> Result<ObjectMeta, kube::Error>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + DeserializeOwned,
    {
        let name = k.meta().name.clone().unwrap_or_default();
        ns.api::<K>()
            .patch(&name, params, &Patch::Apply(k))
            .await
            .map(|o| o.meta().clone())
    }
    match object {
        Object::ServiceAccount(x) => go::<ServiceAccount>(ns, x, params).await,
        Object::ConfigMap(x) => go::<ConfigMap>(ns, x, params).await,
        Object::Service(x) => go::<Service>(ns, x, params).await,
        Object::PodTemplate(x) => go::<PodTemplate>(ns, x, params).await,
        Object::Deployment(x) => go::<Deployment>(ns, x, params).await,
        Object::ReplicaSet(x) => go::<ReplicaSet>(ns, x, params).await,
        Object::PodDisruptionBudget(x) => go::<PodDisruptionBudget>(ns, x, params).await,
        Object::HorizontalPodAutoscaler(x) => go::<HorizontalPodAutoscaler>(ns, x, params).await,
        other => panic!("no test apply for {}", other.kind()),
    }
}

/// A server-side dry run with strict field validation: unknown or
/// duplicate fields are errors, nothing is stored.
pub fn dry_run_strict() -> PatchParams {
    PatchParams::apply(MANAGER).dry_run().validation_strict()
}

/// A real apply with strict field validation.
pub fn apply_strict() -> PatchParams {
    PatchParams::apply(MANAGER).validation_strict()
}

/// Dry-runs every object strictly, then applies them all for real.
pub async fn dry_run_then_apply(ns: &TestNamespace, objects: &[Object]) {
    for o in objects {
        apply(ns, o, &dry_run_strict()).await.unwrap_or_else(|e| {
            panic!(
                "strict server-side dry run of {} refused: {e}",
                o.reference()
            )
        });
    }
    for o in objects {
        apply(ns, o, &apply_strict())
            .await
            .unwrap_or_else(|e| panic!("apply of {} refused: {e}", o.reference()));
    }
}

/// `(generation, resourceVersion)` of each object as stored.
pub async fn versions(
    ns: &TestNamespace,
    objects: &[Object],
) -> Vec<(String, Option<i64>, Option<String>)> {
    async fn get<K>(ns: &TestNamespace, name: &str) -> ObjectMeta
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        ns.api::<K>()
            .get(name)
            .await
            .expect("stored object")
            .meta()
            .clone()
    }
    let mut out = Vec::new();
    for o in objects {
        let name = o.name();
        let meta = match o {
            Object::ServiceAccount(_) => get::<ServiceAccount>(ns, name).await,
            Object::ConfigMap(_) => get::<ConfigMap>(ns, name).await,
            Object::Service(_) => get::<Service>(ns, name).await,
            Object::PodTemplate(_) => get::<PodTemplate>(ns, name).await,
            Object::Deployment(_) => get::<Deployment>(ns, name).await,
            Object::ReplicaSet(_) => get::<ReplicaSet>(ns, name).await,
            Object::PodDisruptionBudget(_) => get::<PodDisruptionBudget>(ns, name).await,
            Object::HorizontalPodAutoscaler(_) => get::<HorizontalPodAutoscaler>(ns, name).await,
            other => panic!("no test get for {}", other.kind()),
        };
        out.push((o.reference(), meta.generation, meta.resource_version));
    }
    out
}

/// Waits (on a watch, bounded by [`WAIT`]) until `done` holds for the
/// objects of `api` matching `labels`; returns them.
pub async fn wait_for<K>(
    api: Api<K>,
    labels: &str,
    what: &str,
    done: impl Fn(&[K]) -> bool,
) -> Vec<K>
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
{
    let mut seen: BTreeMap<String, K> = BTreeMap::new();
    let mut init: BTreeMap<String, K> = BTreeMap::new();
    let mut ready = false;
    let stream = watcher(api, watcher::Config::default().labels(labels));
    let mut stream = std::pin::pin!(stream);
    let key = |k: &K| k.meta().name.clone().unwrap_or_default();
    let run = async {
        while let Some(event) = stream.next().await {
            match event.expect("watch") {
                watcher::Event::Init => init.clear(),
                watcher::Event::InitApply(k) => {
                    init.insert(key(&k), k);
                }
                watcher::Event::InitDone => {
                    seen = std::mem::take(&mut init);
                    ready = true;
                }
                watcher::Event::Apply(k) => {
                    seen.insert(key(&k), k);
                }
                watcher::Event::Delete(k) => {
                    seen.remove(&key(&k));
                }
            }
            if ready {
                let all: Vec<K> = seen.values().cloned().collect();
                if done(&all) {
                    return all;
                }
            }
        }
        panic!("the watch of {what} ended");
    };
    match tokio::time::timeout(WAIT, run).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// The names of the pods the ready endpoints of `service`'s EndpointSlices
/// point at, once they equal `expected`.
pub async fn wait_for_endpoints(ns: &TestNamespace, service: &str, expected: &[String]) {
    let mut want: Vec<String> = expected.to_vec();
    want.sort();
    wait_for(
        ns.api::<EndpointSlice>(),
        &format!("kubernetes.io/service-name={service}"),
        &format!("EndpointSlices of Service {service} to list exactly {want:?}"),
        |slices: &[EndpointSlice]| {
            let mut got: Vec<String> = slices
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                .filter_map(|e| e.target_ref.as_ref().and_then(|t| t.name.clone()))
                .collect();
            got.sort();
            got == want
        },
    )
    .await;
}

/// Lists pods matching `labels`.
pub async fn pods(ns: &TestNamespace, labels: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
    ns.api::<k8s_openapi::api::core::v1::Pod>()
        .list(&ListParams::default().labels(labels))
        .await
        .expect("list pods")
        .items
}

/// Whether a pod's Ready condition is True.
pub fn pod_ready(p: &k8s_openapi::api::core::v1::Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Runs `kubectl` with the test KUBECONFIG, `stdin` piped in; returns
/// `(exit code, stdout, stderr)`, or `None` (after printing `SKIPPED`)
/// without kubectl outside CI.
pub fn kubectl(args: &[&str], stdin: &str) -> Option<(i32, String, String)> {
    use std::process::{Command, Stdio};
    let child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(!ci(), "CI is set but kubectl cannot be run: {e}");
            let _ = writeln!(std::io::stderr(), "SKIPPED: kubectl cannot be run ({e})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to kubectl");
    let out = child.wait_with_output().expect("kubectl output");
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
