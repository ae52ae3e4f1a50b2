//! The commands of the track-based examples (`blue_green`, `canary`):
//! `deploy`, `promote`, `abort` and `rollback` (`init` is in
//! [`super::init`]), each a function the example's `main` calls with its
//! parsed options.

use std::time::Duration;

use engine_ops_k8s::cluster::{
    AppOps, AppWatch, Error as ClusterError, LeaseGuard, LeaseParams, Reporter, StoredState,
    template_hash,
};
use engine_ops_k8s::manifest::{App, BlueGreen, BlueGreenSet, Object, PREVIEW_SUFFIX, Track};
use engine_ops_rollout::spec::DeadlineAction;
use engine_ops_rollout::{Command, RolloutSpec, Stage, Strategy};
use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::Api;
use serde_json::json;

use super::app;
use super::checks::Checks;
use super::cli::{AppArgs, CheckArgs, ClusterArgs};
use super::conclude::release_after;
use super::connect::{Connection, connect};
use super::exit::{CliError, CliResult, Exit, OrExit as _};
use super::hooks::Hooks;
use super::observe::Services;
use super::progress::Progress;
use super::state::DriverState;
use super::tracks::{Session, adopt, check_names, stage_name};
use super::usage::interrupted;

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
    /// The strategy's name (`blue-green`, `canary`).
    #[must_use]
    pub fn name(self) -> &'static str {
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
#[must_use]
pub fn base_objects(set: &BlueGreenSet) -> Vec<Object> {
    let mut v = vec![Object::ServiceAccount(set.service_account.clone())];
    v.extend(set.config_map.clone().map(Object::ConfigMap));
    v.push(Object::PodTemplate(set.pod_template.clone()));
    v
}

/// The manifests of `app` (its Services, PodTemplate, ...).
///
/// # Errors
///
/// Exit 2 naming what the manifests refuse.
pub fn render_set(app: &App) -> CliResult<BlueGreenSet> {
    BlueGreen::new(Track::Blue)
        .render(app)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))
}

/// The app's operations, its Events reported as `holder`'s.
///
/// # Errors
///
/// Exit 2 for a name Kubernetes refuses.
pub fn ops_for(conn: &Connection, name: &str, holder: &str) -> CliResult<AppOps> {
    Ok(AppOps::new(conn.client.clone(), &conn.namespace, name)
        .map_err(CliError::before_acting)?
        .events(Some(Reporter {
            controller: "engine-ops".into(),
            instance: Some(holder.to_owned()),
        })))
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

/// A deploy's inputs, checked and connected.
#[derive(Debug)]
pub struct Prepared {
    /// The connection.
    pub conn: Connection,
    /// The app's name.
    pub name: String,
    /// The spec, its template still to fill in from the stored PodTemplate.
    pub spec: RolloutSpec,
    /// The objects applied before the rollout (ServiceAccount, ConfigMap,
    /// PodTemplate).
    pub objects: Vec<Object>,
}

/// Checks a deploy's options (exit 2 before any request), connects and
/// renders the objects to apply.
///
/// # Errors
///
/// Exit 2 for bad options or an unreachable API server.
pub async fn prepare_deploy(
    args: &ClusterArgs,
    app_args: &AppArgs,
    checks: &CheckArgs,
    request: &DeployRequest,
) -> CliResult<Prepared> {
    let name = app_name(args)?;
    let image = request.image.as_str();
    app::build(&name, "default", image, app_args)?;
    let spec = spec(
        image,
        app_args,
        request.strategy.clone(),
        request.on_deadline,
    )?;
    Checks::new(&checks.checks, &[]).require(&check_names(&spec))?;
    let conn = connect(args).await?;
    let app = app::build(&name, &conn.namespace, image, app_args)?;
    let objects = base_objects(&render_set(&app)?);
    Ok(Prepared {
        conn,
        name,
        spec,
        objects,
    })
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
    let p = prepare_deploy(args, app_args, checks, &request).await?;
    let job = Job {
        intent: Intent::Deploy(Box::new(p.spec), request.image.clone()),
        objects: p.objects,
        options: request.options,
    };
    run(kind, args, &p.conn, &p.name, checks, job).await
}

/// `promote`, `abort` (and the like): delivers `command` to the
/// persisted rollout and drives it on.
///
/// # Errors
///
/// As [`deploy`]; exit 2 when nothing was deployed yet.
pub async fn command(
    kind: Kind,
    args: &ClusterArgs,
    checks: &CheckArgs,
    command: Command,
) -> CliResult<Exit> {
    let name = app_name(args)?;
    let conn = connect(args).await?;
    let job = Job {
        intent: Intent::Commands(vec![command]),
        objects: Vec::new(),
        options: DriveOptions::default(),
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

/// Reads (and server-side dry runs) that refuse bad input before anything
/// is written: the namespace, the app's PodTemplate and Services, rights.
///
/// # Errors
///
/// Exit 2 naming what is missing or refused.
pub async fn preflight(ops: &AppOps, name: &str, services: &Services) -> CliResult<()> {
    let mut wanted: Vec<&str> = vec![&services.active];
    wanted.extend(services.preview.as_deref());
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
    })
}

/// The state to drive from, and the commands to deliver: a deploy's spec
/// (its template the stored PodTemplate's) over the persisted state (or
/// the adopted tracks), or the persisted state with the command.
fn resolve(
    intent: Intent,
    persisted: Option<DriverState>,
    template: &PodTemplate,
    snapshot: &engine_ops_k8s::cluster::AppSnapshot,
    services: &Services,
    name: &str,
    progress: &Progress,
) -> CliResult<(DriverState, Vec<Command>)> {
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
                    let planner = adopt(&spec, snapshot, services);
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
    Ok((state, commands))
}

/// A command on a rollout is checked against the persisted state before
/// anything is written: a rollout exists, the history has something to
/// roll back to, every check it runs is defined.
async fn check_early(
    ops: &AppOps,
    name: &str,
    intent: &Intent,
    check_args: &CheckArgs,
) -> CliResult<()> {
    if matches!(intent, Intent::Deploy(..)) {
        return Ok(());
    }
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
    Checks::new(&check_args.checks, &[]).require(&check_names(&s.spec))
}

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
    let progress = Progress::of(args);
    let hooks = Hooks::from_env().map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let holder = args.holder();
    let ops = ops_for(conn, name, &holder)?;
    let services = kind.services(name);
    // Bad input is refused before anything is written (the Lease included).
    preflight(&ops, name, &services).await?;
    for o in &objects {
        app::apply(&conn.client, &conn.namespace, o, true)
            .await
            .map_err(|e| CliError::usage(app::refused(o, &e)))?;
    }
    check_early(&ops, name, &intent, check_args).await?;
    let _armed = super::usage::arm();
    let lease = lease(&ops, args, &holder, &progress).await?;
    let deadline = tokio::time::Instant::now() + args.timeout;
    let begun = Begin {
        conn,
        args,
        ops: &ops,
        name,
        services: &services,
        check_args,
        progress: &progress,
    }
    .run(&objects, intent)
    .await;
    // From here on, every way out releases the Lease: `conclude` does it
    // for the drive, `release_after` for what went wrong before it.
    let begun = match begun {
        Ok(b) => b,
        Err(e) => return release_after(lease, Err(e)).await,
    };
    let Begun {
        watch,
        stored,
        state,
        template,
        commands,
        checks,
    } = begun;
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
    let result = tokio::select! {
        r = session.drive() => r,
        signal = interrupted() => Err(CliError::interrupted(anyhow::anyhow!(
            "interrupted ({signal}) at stage {} of the rollout to {}; its state is saved and nothing is undone: run the command again to resume it, `status` to see it, or `abort`",
            stage_name(session.state.planner.stage()),
            session.state.image
        ))),
    };
    super::conclude::conclude(session, result, aborting, conn, &progress).await
}

/// What a driving command does first once it holds the Lease.
struct Begin<'a> {
    conn: &'a Connection,
    args: &'a ClusterArgs,
    ops: &'a AppOps,
    name: &'a str,
    services: &'a Services,
    check_args: &'a CheckArgs,
    progress: &'a Progress,
}

/// What the drive starts from.
struct Begun {
    watch: AppWatch,
    stored: StoredState,
    state: DriverState,
    template: PodTemplate,
    commands: Vec<Command>,
    checks: Checks,
}

impl Begin<'_> {
    /// Applies `objects`, lists the app on its watches, reads the
    /// PodTemplate and the persisted state, and resolves `intent` against
    /// them.
    async fn run(self, objects: &[Object], intent: Intent) -> CliResult<Begun> {
        let Self {
            conn,
            args,
            ops,
            name,
            services,
            check_args,
            progress,
        } = self;
        for o in objects {
            app::apply(&conn.client, &conn.namespace, o, false)
                .await
                .map_err(|e| CliError::failed(app::refused(o, &e)))?;
        }
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
        let (state, commands) = resolve(
            intent, persisted, &template, &snapshot, services, name, progress,
        )?;
        let checks = Checks::new(&check_args.checks, &state.checks);
        checks.require(&check_names(&state.spec))?;
        Ok(Begun {
            watch,
            stored,
            state,
            template,
            commands,
            checks,
        })
    }
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
