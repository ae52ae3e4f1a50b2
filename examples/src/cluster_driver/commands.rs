//! The commands of the track-based examples (`blue_green`, `canary`):
//! `init`, `deploy`, `promote`, `abort`, `rollback` and `status`, each a
//! function the example's `main` calls with its parsed options.

use std::time::Duration;

use engine_ops_k8s::cluster::{
    AppOps, AppSnapshot, Error as ClusterError, LeaseGuard, LeaseParams, Reporter, TrafficTarget,
    template_hash,
};
use engine_ops_k8s::manifest::{App, BlueGreen, BlueGreenSet, Object, PREVIEW_SUFFIX, Track};
use engine_ops_rollout::spec::DeadlineAction;
use engine_ops_rollout::{Command, RolloutSpec, Stage, Strategy, plan};
use k8s_openapi::api::core::v1::{Namespace, PodTemplate};
use kube::api::Api;
use serde_json::json;

use super::app;
use super::checks::Checks;
use super::cli::{AppArgs, CheckArgs, ClusterArgs};
use super::connect::{Connection, connect};
use super::exit::{CliError, CliResult, Exit, OrExit as _};
use super::hooks::Hooks;
use super::observe::{Services, observation, selected};
use super::progress::{Progress, humanize};
use super::state::{DriverState, NO_TRACK, track_id};
use super::tracks::{Outcome, Session, adopt, check_names, now, stage_name};

/// Which track-based strategy an example drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Blue-green: an active and a preview Service, each selecting one track.
    BlueGreen,
    /// Canary without a traffic router: the active Service selects every
    /// track, replica counts carry the weight.
    Canary,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::BlueGreen => "blue-green",
            Self::Canary => "canary",
        }
    }

    /// The app's Services.
    #[must_use]
    pub fn services(self, app: &str) -> Services {
        Services {
            active: app.to_owned(),
            preview: (self == Self::BlueGreen).then(|| format!("{app}{PREVIEW_SUFFIX}")),
        }
    }
}

/// The app name of `--app`.
///
/// # Errors
///
/// Exit 2 when it is missing.
pub fn app_name(args: &ClusterArgs) -> CliResult<String> {
    args.app.clone().filter(|a| !a.is_empty()).ok_or_else(|| {
        CliError::usage(anyhow::anyhow!(
            "no app given; pass --app NAME (the name its objects carry)"
        ))
    })
}

/// The rollout spec for `strategy` with the app options (the template is
/// filled in once the PodTemplate is stored).
///
/// # Errors
///
/// Exit 2 naming the field the planner refuses.
pub fn spec(
    template: &str,
    app: &AppArgs,
    strategy: Strategy,
    on_deadline: DeadlineAction,
) -> CliResult<RolloutSpec> {
    RolloutSpec::builder(template, app.replicas)
        .strategy(strategy)
        .min_ready(Duration::from_secs(u64::from(app.min_ready_seconds)))
        .progress_deadline(Some(app.progress_deadline))
        .on_deadline(on_deadline)
        .build()
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))
}

/// The app's objects apart from tracks and Services: ServiceAccount,
/// ConfigMap, PodTemplate.
fn base_objects(set: &BlueGreenSet) -> Vec<Object> {
    let mut v = vec![Object::ServiceAccount(set.service_account.clone())];
    v.extend(set.config_map.clone().map(Object::ConfigMap));
    v.push(Object::PodTemplate(set.pod_template.clone()));
    v
}

fn render(app: &App) -> CliResult<BlueGreenSet> {
    BlueGreen::new(Track::Blue)
        .render(app)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))
}

fn ops_for(conn: &Connection, name: &str, holder: &str) -> CliResult<AppOps> {
    Ok(AppOps::new(conn.client.clone(), &conn.namespace, name)
        .map_err(CliError::before_acting)?
        .events(Some(Reporter {
            controller: "engine-ops".into(),
            instance: Some(holder.to_owned()),
        })))
}

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

/// Takes the app's Lease as `holder` (waiting `--wait-for-lease`), with a
/// progress line.
///
/// # Errors
///
/// Exit 1 naming the holder when another driver holds it; exit 2 for a
/// refusal (no rights).
pub async fn lease(
    ops: &AppOps,
    args: &ClusterArgs,
    holder: &str,
    progress: &Progress,
) -> CliResult<LeaseGuard> {
    let params = LeaseParams::new(holder)
        .wait(args.wait_for_lease)
        .duration(args.lease_duration);
    match ops.acquire_lease(&params).await {
        Ok(l) => {
            progress.line(
                "lease",
                &format!("holding {} as {holder}", l.name()),
                json!({"lease": l.name(), "holder": holder}),
            );
            Ok(l)
        }
        Err(ClusterError::LeaseHeld {
            lease,
            holder: other,
            expires_in,
        }) => Err(CliError::failed(anyhow::anyhow!(
            "another driver, {other:?}, is acting on app {} ({lease}, held for another {} s unless renewed); nothing was changed; wait for it to finish, or pass --wait-for-lease DURATION",
            ops.app(),
            expires_in.as_secs()
        ))),
        Err(e) => Err(CliError::before_acting(e)),
    }
}

/// Prints the request counts (with `--count-requests`).
pub fn report_requests(conn: &Connection, progress: &Progress) {
    let Some(c) = &conn.counter else { return };
    let by: Vec<serde_json::Value> = c
        .counts()
        .iter()
        .map(|r| json!({"verb": r.verb, "resource": r.resource, "count": r.count}))
        .collect();
    let text = c
        .counts()
        .iter()
        .map(|r| format!("{} {} {}", r.count, r.verb, r.resource))
        .collect::<Vec<_>>()
        .join(", ");
    progress.line(
        "requests",
        &format!("{} API requests: {text}", c.total()),
        json!({"total": c.total(), "writes": c.writes(), "by": by}),
    );
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
    let progress = Progress::new(args.json);
    let name = app_name(args)?;
    app::build(&name, "default", image, app_args)?;
    let conn = connect(args).await?;
    let app = app::build(&name, &conn.namespace, image, app_args)?;
    let set = render(&app)?;
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
            .is_some_and(|a| a.contains_key(engine_ops_k8s::cluster::STATE_ANNOTATION))
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
    let lease = lease(&ops, args, &holder, &progress).await?;
    app::dry_run_then_apply(&conn.client, &conn.namespace, &objects).await?;
    for (s, sel) in services {
        let sname = s.metadata.name.clone().unwrap_or_default();
        let created =
            app::create_service(&conn.client, &conn.namespace, s, sel.clone(), false).await?;
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
    lease.release().await.or_failed()?;
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

/// What a driving command does once it holds the app.
enum Intent {
    /// Deploy this spec (with the PodTemplate just applied).
    Deploy(Box<RolloutSpec>, String),
    /// Deliver these commands to the persisted rollout.
    Commands(Vec<Command>),
    /// Roll back (an abort while the previous revision still runs, else an
    /// undo to it).
    Rollback,
}

/// Options of a driving command.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriveOptions {
    /// See [`Session::exit_when_switched`].
    pub exit_when_switched: bool,
}

/// What `deploy` rolls out, and how.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The image, pinned by digest.
    pub image: String,
    /// The strategy (with its checks, by name).
    pub strategy: Strategy,
    /// What happens at the progress deadline.
    pub on_deadline: DeadlineAction,
    /// How the drive ends.
    pub options: DriveOptions,
}

/// What a driving command does, with the objects it applies first.
struct Job {
    intent: Intent,
    objects: Vec<Object>,
    options: DriveOptions,
}

/// `deploy IMAGE`: applies the app's ServiceAccount, ConfigMap and
/// PodTemplate for `image` (a server-side dry run first), then drives the
/// rollout of `strategy` until it is Healthy (exit 0), at a gate (exit 0),
/// or Degraded (exit 1).
///
/// # Errors
///
/// Exit 2 for bad options, a missing app, namespace or Service, a template
/// the API server refuses, no rights (nothing is changed); exit 1 when
/// another driver holds the app, an action is refused, or the timeout.
pub async fn deploy(
    kind: Kind,
    args: &ClusterArgs,
    app_args: &AppArgs,
    checks: &CheckArgs,
    request: DeployRequest,
) -> CliResult<Exit> {
    let name = app_name(args)?;
    let image = request.image.as_str();
    app::build(&name, "default", image, app_args)?;
    let provisional = spec(image, app_args, request.strategy, request.on_deadline)?;
    Checks::new(&checks.checks, &[]).require(&check_names(&provisional))?;
    let conn = connect(args).await?;
    let app = app::build(&name, &conn.namespace, image, app_args)?;
    let set = render(&app)?;
    let job = Job {
        intent: Intent::Deploy(Box::new(provisional), image.to_owned()),
        objects: base_objects(&set),
        options: request.options,
    };
    run(kind, args, &conn, &name, checks, job).await
}

/// `promote`, `abort` (and the like): delivers `commands` to the
/// persisted rollout and drives it on.
///
/// # Errors
///
/// As [`deploy`]; exit 2 when nothing was deployed yet.
pub async fn command(
    kind: Kind,
    args: &ClusterArgs,
    checks: &CheckArgs,
    commands: Vec<Command>,
    options: DriveOptions,
) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let job = Job {
        intent: Intent::Commands(commands),
        objects: Vec::new(),
        options,
    };
    run(kind, args, &conn, &name, checks, job).await
}

/// `rollback`: back to the revision that was live before the last switch
/// (from the recorded switch history, not a toggle): an abort while it
/// still runs at full size (traffic moves back in one request), else an
/// undo to it.
///
/// # Errors
///
/// As [`command`]; exit 2 when no switch was recorded.
pub async fn rollback(kind: Kind, args: &ClusterArgs, checks: &CheckArgs) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let job = Job {
        intent: Intent::Rollback,
        objects: Vec::new(),
        options: DriveOptions::default(),
    };
    run(kind, args, &conn, &name, checks, job).await
}

/// The command that rolls back: an abort while a switched-to candidate is
/// in flight (the previous revision still runs at full size), else an undo
/// to the most recent revision the switch history shows live before, that
/// is neither the live one nor an aborted candidate.
///
/// # Errors
///
/// Exit 2 when the history holds no such revision.
pub fn rollback_command(state: &DriverState) -> CliResult<Command> {
    let planner = &state.planner;
    if planner.switches().is_empty() {
        return Err(CliError::usage(anyhow::anyhow!(
            "no traffic switch is recorded: nothing to roll back to"
        )));
    }
    let in_flight = !planner.is_aborted()
        && planner.candidate().is_some()
        && matches!(
            planner.stage(),
            Stage::PostPromotion | Stage::Draining { .. }
        );
    if in_flight {
        return Ok(Command::Abort);
    }
    // Tracks, not revisions: an undo renumbers the track it returns to.
    let live = planner.stable();
    let aborted = planner.is_aborted().then(|| planner.candidate()).flatten();
    let target = planner
        .switches()
        .iter()
        .rev()
        .filter_map(|s| s.from)
        .filter(|t| Some(*t) != live && Some(*t) != aborted)
        .find_map(|t| planner.track(t).filter(|r| !r.deleting).map(|r| r.revision));
    let live = live.and_then(|t| planner.track(t)).map(|r| r.revision);
    match target {
        Some(r) => Ok(Command::Undo {
            to_revision: Some(r),
        }),
        None => Err(CliError::usage(anyhow::anyhow!(
            "the switch history shows no revision live before revision {}: nothing to roll back to",
            live.map_or_else(|| "-".to_owned(), |r| r.to_string())
        ))),
    }
}

#[allow(clippy::too_many_lines)]
async fn run(
    kind: Kind,
    args: &ClusterArgs,
    conn: &Connection,
    name: &str,
    check_args: &CheckArgs,
    job: Job,
) -> CliResult<Exit> {
    let Job {
        intent,
        objects,
        options,
    } = job;
    let progress = Progress::new(args.json);
    let hooks = Hooks::from_env().map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let holder = args.holder();
    let ops = ops_for(conn, name, &holder)?;
    let services = kind.services(name);
    let mut wanted: Vec<&str> = vec![&services.active];
    wanted.extend(services.preview.as_deref());
    // Bad input is refused before anything is written (the Lease included).
    ops.preflight(&wanted).await.map_err(|e| match e {
        ClusterError::NotFound { object, hint } if object.starts_with("PodTemplate") => {
            CliError::usage(anyhow::anyhow!(
                "app {name} not found ({object} does not exist: {hint}); run `init IMAGE` first, or fix --app / --namespace"
            ))
        }
        ClusterError::NotFound { object, .. } if object.starts_with("Service") => {
            CliError::usage(anyhow::anyhow!(
                "{object} not found: the app's traffic goes through it; run `init IMAGE` to create the app's Services, or fix --app / --namespace"
            ))
        }
        other => CliError::before_acting(other),
    })?;
    for o in &objects {
        app::apply(&conn.client, &conn.namespace, o, true)
            .await
            .map_err(|e| CliError::usage(app::refused(o, &e)))?;
    }
    // A command on a rollout is checked against the persisted state
    // before anything is written.
    if !matches!(intent, Intent::Deploy(..)) {
        let early: Option<DriverState> = ops
            .load_state()
            .await
            .map_err(CliError::before_acting)?
            .value()
            .map_err(CliError::before_acting)?;
        let Some(s) = early else {
            return Err(CliError::usage(anyhow::anyhow!(
                "app {name} has no rollout recorded yet; deploy an image first"
            )));
        };
        if matches!(intent, Intent::Rollback) {
            rollback_command(&s)?;
        }
        Checks::new(&check_args.checks, &[]).require(&check_names(&s.spec))?;
    }
    let lease = lease(&ops, args, &holder, &progress).await?;
    for o in &objects {
        app::apply(&conn.client, &conn.namespace, o, false)
            .await
            .map_err(|e| CliError::failed(app::refused(o, &e)))?;
    }
    let deadline = tokio::time::Instant::now() + args.timeout;
    let mut watch = ops.watch();
    watch
        .ready(args.timeout.min(Duration::from_secs(60)))
        .await
        .or_failed()?;
    let snapshot = watch.snapshot();
    let template: PodTemplate = Api::namespaced(conn.client.clone(), &conn.namespace)
        .get(name)
        .await
        .or_failed()?;
    let stored = snapshot.state.clone().ok_or_else(|| {
        CliError::failed(anyhow::anyhow!(
            "the app's PodTemplate vanished; run init again"
        ))
    })?;
    let persisted: Option<DriverState> = stored.value().map_err(CliError::before_acting)?;
    let mut commands = Vec::new();
    let state = match (intent, persisted) {
        (Intent::Deploy(provisional, image), persisted) => {
            let hash = template_hash(&template.template.clone().unwrap_or_default());
            let spec = provisional.with_template(hash).or_usage()?;
            match persisted {
                Some(mut s) => {
                    s.spec = spec;
                    s.image = image;
                    s
                }
                None => {
                    let planner = adopt(&spec, &snapshot, &services);
                    DriverState::new(spec, image, planner)
                }
            }
        }
        (Intent::Commands(c), Some(s)) => {
            commands = c;
            s
        }
        (Intent::Rollback, Some(s)) => {
            let c = rollback_command(&s)?;
            progress.line(
                "rollback",
                &format!("rollback: {}", describe_command(&c)),
                json!({"command": c}),
            );
            commands = vec![c];
            s
        }
        (_, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "app {name} has no rollout recorded yet; deploy an image first"
            )));
        }
    };
    let checks = Checks::new(&check_args.checks, &state.checks);
    checks.require(&check_names(&state.spec))?;
    let aborting = commands
        .iter()
        .any(|c| matches!(c, Command::Abort | Command::Undo { .. }));
    let what = match &commands[..] {
        [] => format!("rollout to {}", state.image),
        [c] => format!("{} ({})", describe_command(c), state.image),
        _ => format!("{commands:?}"),
    };
    progress.line(
        "start",
        &format!(
            "{} of app {name} in {}: {what}; {} replicas",
            kind.name(),
            conn.namespace,
            state.spec.replicas()
        ),
        json!({"app": name, "namespace": conn.namespace, "strategy": kind.name(),
            "image": state.image, "commands": commands, "replicas": state.spec.replicas(), "holder": holder}),
    );
    let mut session = Session {
        ops,
        services,
        lease,
        watch,
        stored,
        state,
        template,
        progress: progress.clone(),
        hooks,
        checks,
        deadline,
        commands,
        exit_when_switched: options.exit_when_switched,
    };
    let result = session.drive().await;
    let exit = match result {
        Ok(Outcome::Healthy(msg)) => {
            let live = live_image(&session).unwrap_or_else(|| session.state.image.clone());
            progress.line(
                "done",
                &format!("done: {live} is live ({msg})"),
                json!({"exit": 0, "outcome": "healthy", "image": live, "message": msg}),
            );
            Exit::Done
        }
        Ok(Outcome::Gate(msg)) => {
            progress.line(
                "done",
                &format!("stopped at a gate: {msg}"),
                json!({"exit": 0, "outcome": "gate", "message": msg}),
            );
            Exit::Done
        }
        Ok(Outcome::Switched(until)) => {
            let msg = format!(
                "{} is live and its checks passed; the previous revision runs until {} for an instant `rollback`, and is scaled down by the next command after that",
                session.state.image,
                humanize(&until.to_string())
            );
            progress.line(
                "done",
                &format!("switched: {msg}"),
                json!({"exit": 0, "outcome": "switched", "message": msg, "old_until_ms": until.as_millis()}),
            );
            Exit::Done
        }
        Ok(Outcome::Degraded(msg)) => {
            let exit = if aborting { Exit::Done } else { Exit::Failed };
            if !aborting {
                session
                    .warn_event(
                        "RolloutAborted",
                        &format!("rollout of {} failed: {msg}", session.state.image),
                    )
                    .await;
            }
            let kept = session
                .watch
                .snapshot()
                .tracks
                .iter()
                .filter(|t| t.spec_replicas > 0)
                .filter_map(|t| {
                    t.scale_down_at
                        .map(|at| format!("{} until {at}", t.replica_set))
                })
                .collect::<Vec<_>>();
            let kept = if kept.is_empty() {
                String::new()
            } else {
                format!(
                    "; kept for inspection: {} (the next command scales it down once due)",
                    kept.join(", ")
                )
            };
            progress.line(
                "done",
                &format!(
                    "{}: {msg}{kept}",
                    if aborting {
                        "rolled back"
                    } else {
                        "rollout failed, traffic is on the stable revision"
                    }
                ),
                json!({"exit": exit.code(), "outcome": "degraded", "message": msg}),
            );
            exit
        }
        Err(e) => {
            // Leave the Lease to expire only when the process is dying;
            // here it can be handed over at once.
            let _ = session.lease.release().await;
            report_requests(conn, &progress);
            return Err(e);
        }
    };
    session.lease.release().await.or_failed()?;
    report_requests(conn, &progress);
    Ok(exit)
}

/// The image of the stable track.
fn live_image(session: &Session) -> Option<String> {
    let snapshot = session.watch.snapshot();
    let id = session.state.planner.stable()?;
    snapshot
        .track(&super::state::track_name(id))?
        .annotations
        .get(super::tracks::IMAGE_ANNOTATION)
        .cloned()
}

fn describe_command(c: &Command) -> String {
    match c {
        Command::Promote => "promote: pass the gate the rollout waits at".into(),
        Command::Abort => {
            "abort the rollout in flight: traffic goes back to the revision live before".into()
        }
        Command::Undo {
            to_revision: Some(r),
        } => format!("undo to revision {r}, the revision live before the last switch"),
        other => format!("{other:?}"),
    }
}

/// `status`: the tracks (desired / ready / available, which Service
/// selects each), the phase and what the rollout waits for, the last
/// switches; one screen, or one JSON object. Changes nothing.
///
/// # Errors
///
/// Exit 2 for a missing app or no rights.
pub async fn status(kind: Kind, args: &ClusterArgs) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let ops = ops_for(&conn, &name, &args.holder())?.events(None);
    let snapshot = ops.snapshot().await.map_err(CliError::before_acting)?;
    let Some(stored) = &snapshot.state else {
        return Err(CliError::usage(anyhow::anyhow!(
            "app {name} not found in namespace {} (no PodTemplate {name}); run `init IMAGE` first",
            conn.namespace
        )));
    };
    let state: Option<DriverState> = stored.value().map_err(CliError::before_acting)?;
    let services = kind.services(&name);
    print_status(
        kind,
        args.json,
        &name,
        &conn.namespace,
        &snapshot,
        &services,
        state.as_ref(),
    );
    Ok(Exit::Done)
}

fn print_status(
    kind: Kind,
    json_out: bool,
    name: &str,
    namespace: &str,
    snapshot: &AppSnapshot,
    services: &Services,
    state: Option<&DriverState>,
) {
    let active = selected(snapshot, &services.active);
    let all_tracks = snapshot
        .service(&services.active)
        .is_some_and(|s| s.target == Some(TrafficTarget::AllTracks));
    let preview = services
        .preview
        .as_deref()
        .and_then(|p| selected(snapshot, p));
    let decision = state.and_then(|s| {
        let obs = observation(snapshot, services, now(), s.checks.clone(), &[]);
        plan(&s.spec, &s.planner, &obs).ok()
    });
    let tracks: Vec<serde_json::Value> = snapshot
        .tracks
        .iter()
        .map(|t| {
            let id = track_id(&t.name);
            let serves: Vec<&str> = [
                ((id.is_some() && id == active) || (all_tracks && t.available > 0))
                    .then_some("active"),
                (id.is_some() && id == preview).then_some("preview"),
            ]
            .into_iter()
            .flatten()
            .collect();
            json!({"track": t.name, "replica_set": t.replica_set, "revision": t.revision,
                "image": t.annotations.get(super::tracks::IMAGE_ANNOTATION),
                "desired": t.spec_replicas, "ready": t.ready, "available": t.available,
                "serves": serves, "scale_down_at": t.scale_down_at.map(|t| t.to_string())})
        })
        .collect();
    let switches: Vec<serde_json::Value> = state
        .map(|s| {
            s.planner
                .switches()
                .iter()
                .rev()
                .take(5)
                .map(|w| {
                    json!({"at_ms": w.at.as_millis(), "from_revision": w.from_revision,
                        "to_revision": w.to_revision, "reason": w.reason})
                })
                .collect()
        })
        .unwrap_or_default();
    let phase = decision.as_ref().map(|d| d.phase.to_string());
    let waiting = decision
        .as_ref()
        .map(|d| d.explain.clone())
        .unwrap_or_default();
    let stage = state.map(|s| stage_name(s.planner.stage()));
    if json_out {
        println!(
            "{}",
            json!({"app": name, "namespace": namespace, "strategy": kind.name(),
                "image": state.map(|s| s.image.clone()), "phase": phase, "stage": stage,
                "tracks": tracks, "waiting_for": waiting, "switches": switches})
        );
        return;
    }
    let live = state
        .and_then(|s| s.planner.stable())
        .and_then(|id| snapshot.track(&super::state::track_name(id)))
        .and_then(|t| t.annotations.get(super::tracks::IMAGE_ANNOTATION))
        .map_or("-", String::as_str);
    println!(
        "app {name} in {namespace} ({}): phase {}, stage {}; live {live}; last deployed {}",
        kind.name(),
        phase.as_deref().unwrap_or("-"),
        stage.as_deref().unwrap_or("-"),
        state.map_or("nothing", |s| s.image.as_str()),
    );
    println!(
        "  {:<6} {:>4} {:>8} {:>6} {:>10}  {:<16} image",
        "track", "rev", "desired", "ready", "available", "serves"
    );
    for t in &tracks {
        let serves = t["serves"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let n = |k: &str| {
            t[k].as_u64()
                .map_or_else(|| "-".to_owned(), |r| r.to_string())
        };
        println!(
            "  {:<6} {:>4} {:>8} {:>6} {:>10}  {:<16} {}",
            t["track"].as_str().unwrap_or(""),
            n("revision"),
            n("desired"),
            n("ready"),
            n("available"),
            serves,
            t["image"].as_str().unwrap_or("")
        );
    }
    for w in &waiting {
        println!("  {w}");
    }
    if !switches.is_empty() {
        println!("  last switches (newest first):");
        for w in &switches {
            println!(
                "    revision {} -> {}: {}",
                w["from_revision"]
                    .as_u64()
                    .map_or_else(|| "-".into(), |r| r.to_string()),
                w["to_revision"],
                w["reason"].as_str().unwrap_or("")
            );
        }
    }
}
