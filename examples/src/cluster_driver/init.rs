//! `init IMAGE` of the track-based examples (`blue_green`, `canary`): the
//! app's objects, made before its first rollout.

use engine_ops_k8s::cluster::{STATE_ANNOTATION, TrafficTarget};
use engine_ops_k8s::manifest::Object;
use k8s_openapi::api::core::v1::{Namespace, PodTemplate, Service};
use kube::api::Api;
use serde_json::json;
use std::collections::BTreeMap;

use super::app;
use super::cli::{AppArgs, ClusterArgs};
use super::commands::{Kind, app_name, base_objects, lease, ops_for, render_set};
use super::conclude::{release_after, report_requests};
use super::connect::{Connection, connect};
use super::exit::{CliError, CliResult, Exit};
use super::progress::Progress;
use super::state::NO_TRACK;

async fn namespace_exists(conn: &Connection) -> CliResult<()> {
    let api: Api<Namespace> = Api::all(conn.client.clone());
    match api.get_opt(&conn.namespace).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(CliError::usage(anyhow::anyhow!(
            "namespace {} not found; create it first, or fix --namespace",
            conn.namespace
        ))),
        // The identity may not read namespaces: the next request tells.
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
        Err(e) => Err(CliError::usage(anyhow::anyhow!(
            "cannot read namespace {}: {e}",
            conn.namespace
        ))),
    }
}

/// `init IMAGE`: creates (or updates) the app's objects: ServiceAccount,
/// ConfigMap, the PodTemplate its tracks are made from (and which holds
/// the rollout state), and its Services when missing (selecting nothing
/// yet for blue-green, every track for a canary). Runs no pod.
///
/// # Errors
///
/// Exit 2 for bad options or a refusal (nothing is stored); exit 1 when
/// another driver holds the app.
pub async fn init(
    kind: Kind,
    args: &ClusterArgs,
    app_args: &AppArgs,
    image: &str,
) -> CliResult<Exit> {
    let progress = Progress::of(args);
    let name = app_name(args)?;
    app::build(&name, "default", image, app_args)?;
    let conn = connect(args).await?;
    let app = app::build(&name, &conn.namespace, image, app_args)?;
    let set = render_set(&app)?;
    namespace_exists(&conn).await?;
    let holder = args.holder();
    let ops = ops_for(&conn, &name, &holder)?;
    // An app with a rollout keeps its PodTemplate: `deploy` changes it.
    let existing: Option<PodTemplate> = Api::namespaced(conn.client.clone(), &conn.namespace)
        .get_opt(&name)
        .await
        .map_err(|e| {
            CliError::usage(app::refused(
                &Object::PodTemplate(set.pod_template.clone()),
                &e,
            ))
        })?;
    let rolled_out = existing.as_ref().is_some_and(|p| {
        p.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(STATE_ANNOTATION))
    });
    let mut objects = base_objects(&set);
    if rolled_out {
        objects.retain(|o| !matches!(o, Object::PodTemplate(_)));
    }
    for o in &objects {
        app::apply(&conn.client, &conn.namespace, o, true)
            .await
            .map_err(|e| CliError::usage(app::refused(o, &e)))?;
    }
    let selector = |t: TrafficTarget| t.selector(&name);
    let mut services = vec![(
        set.active_service.clone(),
        selector(match kind {
            Kind::BlueGreen => TrafficTarget::track(NO_TRACK),
            Kind::Canary => TrafficTarget::AllTracks,
        }),
    )];
    if kind == Kind::BlueGreen {
        services.push((
            set.preview_service.clone(),
            selector(TrafficTarget::track(NO_TRACK)),
        ));
    }
    for (s, sel) in &services {
        app::create_service(&conn.client, &conn.namespace, s.clone(), sel.clone(), true).await?;
    }
    if args.dry_run {
        init_dry_run(&conn.namespace, &objects, &services, &progress);
        return Ok(Exit::Done);
    }
    let lease = lease(&ops, args, &holder, &progress).await?;
    let written = write_init(&conn, &objects, services, &progress).await;
    release_after(lease, written).await?;
    if rolled_out {
        progress.line(
            "pod_template",
            &format!(
                "PodTemplate {name} kept: the app has a rollout, and `deploy IMAGE` changes it"
            ),
            json!({"pod_template": name, "kept": true}),
        );
    }
    progress.line(
        "done",
        &format!(
            "app {name} ({}) initialised in {}; roll out with: deploy IMAGE",
            kind.name(),
            conn.namespace
        ),
        json!({"exit": 0, "app": name, "namespace": conn.namespace}),
    );
    report_requests(&conn, &progress);
    Ok(Exit::Done)
}

/// `init`'s writes, under the Lease: the objects (a server-side dry run of
/// all first), then the Services that are missing.
async fn write_init(
    conn: &Connection,
    objects: &[Object],
    services: Vec<(Service, BTreeMap<String, String>)>,
    progress: &Progress,
) -> CliResult<()> {
    app::dry_run_then_apply(&conn.client, &conn.namespace, objects).await?;
    for (s, sel) in services {
        let sname = s.metadata.name.clone().unwrap_or_default();
        let created = app::create_service(&conn.client, &conn.namespace, s, sel, false).await?;
        progress.line(
            "service",
            &format!(
                "Service {sname} {}",
                if created {
                    "created"
                } else {
                    "exists (selector untouched)"
                }
            ),
            json!({"service": sname, "created": created}),
        );
    }
    Ok(())
}

/// `init --dry-run`: what the API server accepted (in server-side dry
/// runs), nothing written.
fn init_dry_run(
    namespace: &str,
    objects: &[Object],
    services: &[(Service, BTreeMap<String, String>)],
    progress: &Progress,
) {
    let names: Vec<String> = objects
        .iter()
        .map(Object::reference)
        .chain(services.iter().map(|(s, _)| {
            format!(
                "Service {}/{}",
                namespace,
                s.metadata.name.clone().unwrap_or_default()
            )
        }))
        .collect();
    progress.line(
        "done",
        &format!(
            "dry run: the API server accepts {} (Services only where missing); nothing was changed",
            names.join(", ")
        ),
        json!({"exit": 0, "dry_run": true, "objects": names}),
    );
}
