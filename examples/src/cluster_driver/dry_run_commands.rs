//! The `--dry-run` of each command: what it would do, previewed by the
//! planner from the cluster as it is (see [`super::dry_run`]), changing
//! nothing.

use std::collections::BTreeMap;

use engine_ops_k8s::cluster::{AppOps, template_hash};
use engine_ops_k8s::manifest::Object;
use engine_ops_rollout::state::AdoptedTrack;
use engine_ops_rollout::{Command, RolloutSpec, RolloutState, TrackId};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::app::{self, MANAGER};
use super::cli::{AppArgs, CheckArgs, ClusterArgs};
use super::commands::{DeployRequest, Kind, app_name, preflight, prepare_deploy, rollback_command};
use super::connect::{Connection, connect};
use super::deployment::{REVISION, count, identity, ops_for, replica_sets, spec_of};
use super::dry_run::{Seed, preview, stored_template, track_seeds, world};
use super::exit::{CliError, CliResult, Exit, OrExit as _};
use super::progress::Progress;
use super::rolling::{RollingArgs, manifest_strategy};
use super::state::DriverState;
use super::tracks::{adopt, now};

/// `deploy IMAGE --dry-run` of a track-based app.
///
/// # Errors
///
/// As `deploy` would refuse (exit 2), before anything changes.
pub async fn deploy(
    kind: Kind,
    args: &ClusterArgs,
    app_args: &AppArgs,
    checks: &CheckArgs,
    request: &DeployRequest,
) -> CliResult<Exit> {
    let p = prepare_deploy(args, app_args, checks, request).await?;
    let ask = Ask::Deploy {
        spec: Box::new(p.spec),
        image: request.image.clone(),
        objects: p.objects,
    };
    tracks(kind, args, &p.conn, &p.name, ask).await
}

/// `promote --dry-run`, `abort --dry-run`, `rollback --dry-run` (`None`).
///
/// # Errors
///
/// As the command would refuse (exit 2), before anything changes.
pub async fn command(kind: Kind, args: &ClusterArgs, command: Option<Command>) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ask = command.map_or(Ask::Rollback, Ask::Command);
    tracks(kind, args, &conn, &name, ask).await
}

/// `deploy IMAGE --dry-run` of a rolling app.
///
/// # Errors
///
/// As `deploy` would refuse (exit 2), before anything changes.
pub async fn rolling_deploy(
    args: &ClusterArgs,
    app_args: &AppArgs,
    strategy: &RollingArgs,
    image: &str,
) -> CliResult<Exit> {
    let name = app_name(args)?;
    let check = app::build(&name, "default", image, app_args)?;
    let render = |app| {
        manifest_strategy(app_args, strategy)
            .render(app)
            .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))
    };
    render(&check)?;
    let conn = connect(args).await?;
    let set = render(&app::build(&name, &conn.namespace, image, app_args)?)?;
    rolling(args, &conn, &name, Some(set.objects()), None).await
}

/// `undo [--to-revision N] --dry-run` of a rolling app.
///
/// # Errors
///
/// As `undo` would refuse (exit 2), before anything changes.
pub async fn rolling_undo(args: &ClusterArgs, to_revision: Option<u64>) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    rolling(args, &conn, &name, None, Some(to_revision)).await
}

/// What a track-based dry run previews.
#[derive(Debug)]
enum Ask {
    /// `deploy IMAGE`: the spec (template filled in from the dry run of
    /// `objects`' PodTemplate).
    Deploy {
        /// The spec with the image's template still to fill in.
        spec: Box<RolloutSpec>,
        /// The image.
        image: String,
        /// The objects `deploy` applies first.
        objects: Vec<Object>,
    },
    /// `promote`, `abort`: the command delivered to the persisted rollout.
    Command(Command),
    /// `rollback`: the command the switch history calls for.
    Rollback,
}

/// The dry run of a track-based command (`blue_green`, `canary`).
///
/// # Errors
///
/// As the command itself would refuse (exit 2), before anything changes.
async fn tracks(
    kind: Kind,
    args: &ClusterArgs,
    conn: &Connection,
    name: &str,
    ask: Ask,
) -> CliResult<Exit> {
    let progress = Progress::of(args);
    let ops =
        AppOps::new(conn.client.clone(), &conn.namespace, name).map_err(CliError::before_acting)?;
    let services = kind.services(name);
    preflight(&ops, name, &services).await?;
    let snapshot = ops.snapshot().await.map_err(CliError::before_acting)?;
    let persisted: Option<DriverState> = match &snapshot.state {
        Some(s) => s.value().map_err(CliError::before_acting)?,
        None => None,
    };
    let recorded = |p: Option<DriverState>| {
        p.ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "app {name} has no rollout recorded yet; deploy an image first"
            ))
        })
    };
    let (spec, state, commands, what) = match ask {
        Ask::Deploy {
            spec,
            image,
            objects,
        } => {
            let mut template = None;
            for o in &objects {
                app::apply(&conn.client, &conn.namespace, o, true)
                    .await
                    .map_err(|e| CliError::usage(app::refused(o, &e)))?;
                if let Object::PodTemplate(t) = o {
                    template = Some(stored_template(&conn.client, &conn.namespace, t).await?);
                }
            }
            let hash = template_hash(&template.and_then(|t| t.template).unwrap_or_default());
            let spec = spec.with_template(hash).or_usage()?;
            let state = match persisted {
                Some(s) => s.planner,
                None => adopt(&spec, &snapshot, &services),
            };
            (
                spec,
                state,
                Vec::new(),
                format!("{} rollout of app {name} to {image}", kind.name()),
            )
        }
        Ask::Command(c) => {
            let s = recorded(persisted)?;
            (s.spec, s.planner, vec![c], format!("{c:?} on app {name}"))
        }
        Ask::Rollback => {
            let s = recorded(persisted)?;
            let c = rollback_command(&s)?;
            (
                s.spec,
                s.planner,
                vec![c],
                format!("rollback of app {name} ({c:?})"),
            )
        }
    };
    let (seeds, active, preview_track) = track_seeds(&snapshot, &services);
    let w = world(&seeds, active, preview_track, now())?;
    preview(&progress, &what, spec, state, w, commands)
}

/// The dry run of a rolling `deploy` (`deployment`: the Deployment it
/// would apply, after `others`) or `undo` (`undo`: the revision, `None`
/// for the previous one).
///
/// # Errors
///
/// As the command would refuse (exit 2), before anything changes.
async fn rolling(
    args: &ClusterArgs,
    conn: &Connection,
    name: &str,
    objects: Option<Vec<Object>>,
    undo: Option<Option<u64>>,
) -> CliResult<Exit> {
    let progress = Progress::of(args);
    let ops = ops_for(conn, name, &args.holder())?.events(None);
    let current: Option<Deployment> = Api::namespaced(conn.client.clone(), &conn.namespace)
        .get_opt(name)
        .await
        .map_err(|e| CliError::usage(anyhow::anyhow!("cannot read Deployment {name}: {e}")))?;
    let (seeds, state, sets) = match &current {
        Some(d) => adopted(&ops, d).await?,
        None => (Vec::new(), RolloutState::new(), Vec::new()),
    };
    let (spec, what) = if let Some(objects) = objects {
        let mut target = None;
        for o in &objects {
            if let Object::Deployment(d) = o {
                let api: Api<Deployment> = Api::namespaced(conn.client.clone(), &conn.namespace);
                let stored = api
                    .patch(
                        name,
                        &PatchParams::apply(MANAGER).dry_run(),
                        &Patch::Apply(d),
                    )
                    .await
                    .map_err(|e| CliError::usage(app::refused(o, &e)))?;
                target = Some(stored);
            } else {
                app::apply(&conn.client, &conn.namespace, o, true)
                    .await
                    .map_err(|e| CliError::usage(app::refused(o, &e)))?;
            }
        }
        let d =
            target.ok_or_else(|| CliError::failed(anyhow::anyhow!("no Deployment rendered")))?;
        let id = identity(d.spec.as_ref().map(|s| &s.template));
        (spec_of(&d, &id), format!("rolling update of app {name}"))
    } else {
        let d = current.as_ref().ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "app {name} not found (no Deployment {name}); deploy an image first, or fix --app / --namespace"
            ))
        })?;
        let to = undo.flatten();
        let rs = undo_target(&sets, to).ok_or_else(|| {
            let kept: Vec<u64> = sets.iter().filter_map(|(r, _)| *r).collect();
            CliError::usage(anyhow::anyhow!(
                "no revision {} to undo to; kept: {kept:?}",
                to.map_or_else(|| "before the current one".to_owned(), |r| r.to_string())
            ))
        })?;
        let id = identity(rs.spec.as_ref().and_then(|s| s.template.as_ref()));
        (
            spec_of(d, &id),
            format!(
                "undo of app {name} to revision {}",
                revision(rs).unwrap_or(0)
            ),
        )
    };
    let spec = spec.ok_or_else(|| {
        CliError::usage(anyhow::anyhow!(
            "the planner cannot read Deployment {name}'s strategy"
        ))
    })?;
    let w = world(&seeds, None, None, now())?;
    progress.data("dry_run_start", json!({"replica_sets": sets.len()}));
    preview(&progress, &what, spec, state, w, Vec::new())
}

fn revision(rs: &ReplicaSet) -> Option<u64> {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
}

/// The ReplicaSet `kubectl rollout undo` would go back to: revision `to`,
/// or the second-highest.
fn undo_target(sets: &[(Option<u64>, ReplicaSet)], to: Option<u64>) -> Option<&ReplicaSet> {
    let mut by: Vec<&(Option<u64>, ReplicaSet)> =
        sets.iter().filter(|(r, _)| r.is_some()).collect();
    by.sort_by_key(|(r, _)| *r);
    match to {
        Some(t) => by.iter().find(|(r, _)| *r == Some(t)).map(|(_, rs)| rs),
        None => by.iter().rev().nth(1).map(|(_, rs)| rs),
    }
}

type Adopted = (Vec<Seed>, RolloutState, Vec<(Option<u64>, ReplicaSet)>);

/// The Deployment's ReplicaSets as planner tracks (oldest first), and the
/// state the planner adopts them in.
async fn adopted(ops: &AppOps, d: &Deployment) -> CliResult<Adopted> {
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let mut owned: Vec<ReplicaSet> = replica_sets(ops)
        .await?
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Deployment" && o.uid == uid)
        })
        .collect();
    owned.sort_by_key(|rs| {
        (
            rs.metadata.creation_timestamp.clone().map(|t| t.0),
            rs.metadata.name.clone(),
        )
    });
    let mut seeds = Vec::new();
    let mut tracks = Vec::new();
    for (i, rs) in owned.iter().enumerate() {
        let id = TrackId(i as u64);
        let template = identity(rs.spec.as_ref().and_then(|s| s.template.as_ref()));
        let rev = revision(rs).unwrap_or(0);
        let annotations: BTreeMap<String, String> =
            rs.metadata.annotations.clone().unwrap_or_default();
        let number = |k: &str| annotations.get(k).and_then(|v| v.parse::<u32>().ok());
        let st = rs.status.clone().unwrap_or_default();
        seeds.push(Seed {
            track: id,
            revision: rev,
            template: template.clone(),
            desired: count(rs.spec.as_ref().and_then(|s| s.replicas)),
            available: count(st.available_replicas),
            sizing: (
                number("deployment.kubernetes.io/desired-replicas"),
                number("deployment.kubernetes.io/max-replicas"),
            ),
            scale_down_at: None,
        });
        tracks.push(AdoptedTrack::new(id, rev, template));
    }
    let live = identity(d.spec.as_ref().map(|s| &s.template));
    let spec = spec_of(d, &live).ok_or_else(|| {
        CliError::usage(anyhow::anyhow!(
            "the planner cannot read the Deployment's strategy"
        ))
    })?;
    let state = RolloutState::adopt(&spec, tracks);
    Ok((
        seeds,
        state,
        owned.into_iter().map(|rs| (revision(&rs), rs)).collect(),
    ))
}
