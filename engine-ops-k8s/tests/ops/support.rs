//! A blue-green app applied in a fresh namespace, operated through a client
//! whose requests are counted.

use std::time::Duration;

use engine_ops_k8s::cluster::{AppOps, AppWatch, RequestCounter, TrackSpec, TrackStatus};
use engine_ops_k8s::manifest::{BlueGreen, BlueGreenSet, Track};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

use crate::common::cluster::TestNamespace;
use crate::common::{self, cluster};

/// Bound of every wait in these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// The app's name (from the shared test app).
pub(crate) const APP: &str = "engine-ops";

/// The blue-green app of the golden file (3 replicas, blue active) applied
/// in its own namespace, with operations through a counted client.
pub(crate) struct Fixture {
    pub(crate) ns: TestNamespace,
    pub(crate) client: Client,
    pub(crate) counter: RequestCounter,
    pub(crate) ops: AppOps,
    pub(crate) set: BlueGreenSet,
}

/// A client of the test control plane whose requests `counter` counts.
pub(crate) async fn counted_client(counter: &RequestCounter) -> Client {
    let config = kube::Config::infer().await.expect("the test KUBECONFIG");
    ClientBuilder::try_from(config)
        .expect("a client stack")
        .with_layer(&counter.layer())
        .build()
}

impl Fixture {
    /// `None` (after `SKIPPED`) without a control plane.
    pub(crate) async fn new(prefix: &str) -> Option<Self> {
        let admin = cluster::client().await?;
        let ns = TestNamespace::new(&admin, prefix).await;
        let set = BlueGreen::new(Track::Blue)
            .render(&common::blue_green_app(&ns.name))
            .expect("render");
        cluster::dry_run_then_apply(&ns, &set.objects()).await;
        let counter = RequestCounter::new();
        let client = counted_client(&counter).await;
        let ops = AppOps::new(client.clone(), &ns.name, APP).expect("valid names");
        Some(Self {
            ns,
            client,
            counter,
            ops,
            set,
        })
    }

    /// The app's pod template with image `tag`'s digest (a new revision).
    pub(crate) fn template(&self, version: u8) -> PodTemplateSpec {
        let mut t = self.set.pod_template.template.clone().expect("a template");
        let spec = t.spec.as_mut().expect("a pod spec");
        let digest = format!("sha256:{}", format!("{version:02x}").repeat(32));
        spec.containers[0].image = Some(format!("registry.example/engine-ops@{digest}"));
        t
    }

    /// Track `name` of revision `version`, 3 replicas.
    pub(crate) fn track(&self, name: &str, version: u8) -> TrackSpec {
        TrackSpec::new(name, self.template(version), 3)
            .revision(u64::from(version))
            .sizing(3, 3)
    }

    /// Creates the track and waits until all its pods are available.
    pub(crate) async fn ready_track(&self, watch: &mut AppWatch, spec: &TrackSpec) -> TrackStatus {
        let created = self.ops.create_track(spec).await.expect("create the track");
        let name = created.name.clone();
        let s = watch
            .wait_until(&format!("track {name} available"), WAIT, |s| {
                s.track(&name)
                    .is_some_and(|t| t.available == t.spec_replicas && !t.status_stale())
            })
            .await
            .expect("the track becomes available");
        s.track(&name).cloned().expect("the track")
    }

    /// Ready pod names of a track.
    pub(crate) async fn pods_of(&self, track: &str) -> Vec<String> {
        let selector = format!("app.kubernetes.io/instance={APP},engine-ops.io/track={track}");
        let mut v: Vec<String> = cluster::pods(&self.ns, &selector)
            .await
            .iter()
            .filter(|p| cluster::pod_ready(p) && p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        v.sort();
        v
    }
}

/// A client authenticated as ServiceAccount `name` of the namespace
/// (created here, with a token from the TokenRequest API): what RBAC grants
/// it is only what the test binds to it.
pub(crate) async fn service_account_client(ns: &TestNamespace, name: &str) -> Client {
    let sas: Api<ServiceAccount> = ns.api();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
    sas.create(&PostParams::default(), &sa)
        .await
        .expect("create the ServiceAccount");
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": []}})).expect("request");
    let issued: TokenRequest = sas
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .expect("issue a token");
    let token = issued.status.expect("token status").token;
    let admin_path = std::env::var_os("KUBECONFIG").expect("KUBECONFIG");
    let mut value = serde_json::to_value(Kubeconfig::read_from(&admin_path).expect("kubeconfig"))
        .expect("json");
    for user in value["users"].as_array_mut().expect("users") {
        user["user"] = json!({"token": token});
    }
    let kubeconfig: Kubeconfig = serde_json::from_value(value).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}
