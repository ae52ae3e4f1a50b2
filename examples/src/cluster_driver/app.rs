//! The app as the command line describes it ([`AppArgs`] → [`App`]), and
//! applying its objects: server-side apply with the field manager
//! `engine-ops`, after a server-side dry run that refuses a bad object
//! before anything is stored.

use std::collections::BTreeMap;

use engine_ops_k8s::manifest::{App, Object, Port, Probe, Resources};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplate, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cli::AppArgs;
use super::exit::{CliError, CliResult};

/// The field manager of every write.
pub const MANAGER: &str = "engine-ops";

/// The app `name` in `namespace` running `image`, as `args` describe it.
///
/// # Errors
///
/// Exit 2 naming the field the manifests refuse (an image without digest,
/// a bad name, quantity, port or path).
pub fn build(name: &str, namespace: &str, image: &str, args: &AppArgs) -> CliResult<App> {
    let mut resources = Resources::new();
    if let Some(q) = &args.cpu_request {
        resources = resources.cpu_request(q.clone());
    }
    if let Some(q) = &args.cpu_limit {
        resources = resources.cpu_limit(q.clone());
    }
    if let Some(q) = &args.memory_request {
        resources = resources.memory_request(q.clone());
    }
    if let Some(q) = &args.memory_limit {
        resources = resources.memory_limit(q.clone());
    }
    let mut b = App::builder(name, namespace, image)
        .port(Port::new("http", args.port).service_port(args.service_port))
        .readiness(Probe::http(args.readiness_path.clone()).port("http"))
        .resources(resources)
        .replicas(args.replicas)
        .change_cause(format!("deploy {image}"));
    for (k, v) in &args.env {
        b = b.env(k.clone(), v.clone());
    }
    b.build()
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))
}

/// The image of a pod template's first container.
#[must_use]
pub fn image_of(template: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> String {
    template
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

async fn ssa<K>(client: &Client, ns: &str, k: &K, dry_run: bool) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = k.meta().name.clone().unwrap_or_default();
    let mut params = PatchParams::apply(MANAGER);
    if dry_run {
        params = params.dry_run();
    }
    api.patch(&name, &params, &Patch::Apply(k)).await
}

/// Server-side applies `object` (a dry run with `dry_run`).
///
/// # Errors
///
/// The API server's refusal.
pub async fn apply(
    client: &Client,
    ns: &str,
    object: &Object,
    dry_run: bool,
) -> Result<(), kube::Error> {
    match object {
        Object::ServiceAccount(x) => ssa::<ServiceAccount>(client, ns, x, dry_run)
            .await
            .map(drop),
        Object::ConfigMap(x) => ssa::<ConfigMap>(client, ns, x, dry_run).await.map(drop),
        Object::Service(x) => ssa::<Service>(client, ns, x, dry_run).await.map(drop),
        Object::PodTemplate(x) => ssa::<PodTemplate>(client, ns, x, dry_run).await.map(drop),
        Object::Deployment(x) => ssa::<Deployment>(client, ns, x, dry_run).await.map(drop),
        Object::ReplicaSet(x) => ssa::<ReplicaSet>(client, ns, x, dry_run).await.map(drop),
        Object::PodDisruptionBudget(x) => ssa::<PodDisruptionBudget>(client, ns, x, dry_run)
            .await
            .map(drop),
        Object::HorizontalPodAutoscaler(x) => {
            ssa::<HorizontalPodAutoscaler>(client, ns, x, dry_run)
                .await
                .map(drop)
        }
        // Object is non-exhaustive: a kind added later is refused by name.
        other => Err(kube::Error::Api(
            kube::core::Status::failure(
                &format!("this driver cannot apply a {} yet", other.kind()),
                "NotSupported",
            )
            .with_code(400)
            .boxed(),
        )),
    }
}

/// A refusal of the API server as a one-line error naming the object.
#[must_use]
pub fn refused(object: &Object, e: &kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(s) if s.code == 403 => anyhow::anyhow!(
            "{} is forbidden: {}; give the identity the rights listed in engine-ops-k8s's cluster docs (RBAC)",
            object.reference(),
            s.message
        ),
        kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
            "{}: {}; create the namespace first, or fix --namespace",
            object.reference(),
            s.message
        ),
        kube::Error::Api(s) => anyhow::anyhow!(
            "the API server refused {}: {}; fix the options that produce it",
            object.reference(),
            s.message
        ),
        other => anyhow::anyhow!("{}: {other}", object.reference()),
    }
}

/// Dry-runs every object, then applies them all: a refusal of any leaves
/// the cluster as it was (exit 2).
///
/// # Errors
///
/// Exit 2 for a refusal in the dry run; exit 1 for one in the real apply
/// (the cluster changed in between).
pub async fn dry_run_then_apply(client: &Client, ns: &str, objects: &[Object]) -> CliResult<()> {
    for o in objects {
        apply(client, ns, o, true)
            .await
            .map_err(|e| CliError::usage(refused(o, &e)))?;
    }
    for o in objects {
        apply(client, ns, o, false)
            .await
            .map_err(|e| CliError::failed(refused(o, &e)))?;
    }
    Ok(())
}

/// Creates `service` with `selector` unless a Service of that name exists
/// (an existing Service's selector belongs to the traffic switches).
/// Returns whether it was created.
///
/// # Errors
///
/// Exit 2 for a refusal.
pub async fn create_service(
    client: &Client,
    ns: &str,
    mut service: Service,
    selector: BTreeMap<String, String>,
    dry_run: bool,
) -> CliResult<bool> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let name = service.metadata.name.clone().unwrap_or_default();
    let object = Object::Service(service.clone());
    match api.get_opt(&name).await {
        Ok(Some(_)) => return Ok(false),
        Ok(None) => {}
        Err(e) => return Err(CliError::usage(refused(&object, &e))),
    }
    if let Some(spec) = service.spec.as_mut() {
        spec.selector = Some(selector);
    }
    let params = PostParams {
        dry_run,
        field_manager: Some(MANAGER.to_owned()),
    };
    match api.create(&params, &service).await {
        Ok(_) => Ok(true),
        // Created meanwhile by someone else: theirs stands.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(CliError::usage(refused(&object, &e))),
    }
}
