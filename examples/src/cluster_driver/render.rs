//! `render IMAGE`: the app's objects as the commands would apply them, as
//! multi-document YAML on stdout (or one JSON object per line with
//! `--json`), without a request to the cluster: review them, diff them
//! in a pull request, or apply them with another tool.

use std::io::Write as _;

use engine_ops_k8s::cluster::TrafficTarget;
use engine_ops_k8s::manifest::{self, Object};
use kube::config::Kubeconfig;

use super::app;
use super::cli::{AppArgs, ClusterArgs};
use super::commands::{Kind, app_name, base_objects, render_set};
use super::exit::{CliError, CliResult, Exit};
use super::rolling::{RollingArgs, manifest_strategy};
use super::state::NO_TRACK;

/// `--namespace`, else the kubeconfig context's namespace (read from the
/// file, no request), else `default`.
fn namespace(args: &ClusterArgs) -> String {
    if let Some(ns) = args.namespace.clone().filter(|n| !n.is_empty()) {
        return ns;
    }
    let config = match &args.kubeconfig {
        Some(p) => Kubeconfig::read_from(p).ok(),
        None => Kubeconfig::read().ok(),
    };
    let context = config.and_then(|c| {
        let name = args.context.clone().or(c.current_context.clone())?;
        c.contexts.into_iter().find(|x| x.name == name)?.context
    });
    context
        .and_then(|c| c.namespace)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// The objects of a track-based app, as `init` creates them: the
/// ServiceAccount, ConfigMap and PodTemplate (tracks are ReplicaSets that
/// `deploy` makes from it), and the Services with the selector they start
/// with (blue-green: no track yet; canary: every track).
///
/// # Errors
///
/// Exit 2 naming the option the manifests refuse.
pub fn tracks_objects(
    kind: Kind,
    name: &str,
    namespace: &str,
    image: &str,
    app_args: &AppArgs,
) -> CliResult<Vec<Object>> {
    let set = render_set(&app::build(name, namespace, image, app_args)?)?;
    let mut objects = base_objects(&set);
    let start = match kind {
        Kind::BlueGreen => TrafficTarget::track(NO_TRACK),
        Kind::Canary => TrafficTarget::AllTracks,
    };
    let mut services = vec![set.active_service];
    if kind == Kind::BlueGreen {
        services.push(set.preview_service);
    }
    for mut s in services {
        if let Some(spec) = s.spec.as_mut() {
            spec.selector = Some(start.selector(name));
        }
        objects.push(Object::Service(s));
    }
    Ok(objects)
}

/// `render IMAGE` of a track-based app (`blue_green`, `canary`).
///
/// # Errors
///
/// Exit 2 for bad options (no request is made).
pub fn render_tracks(
    kind: Kind,
    args: &ClusterArgs,
    app_args: &AppArgs,
    image: &str,
) -> CliResult<Exit> {
    let name = app_name(args)?;
    let objects = tracks_objects(kind, &name, &namespace(args), image, app_args)?;
    print(&objects, args.json)
}

/// `render IMAGE` of a rolling app: ServiceAccount, ConfigMap, Service and
/// the Deployment `deploy` applies.
///
/// # Errors
///
/// Exit 2 for bad options (no request is made).
pub fn render_rolling(
    args: &ClusterArgs,
    app_args: &AppArgs,
    rolling: &RollingArgs,
    image: &str,
) -> CliResult<Exit> {
    let name = app_name(args)?;
    let app = app::build(&name, &namespace(args), image, app_args)?;
    let set = manifest_strategy(app_args, rolling)
        .render(&app)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
    print(&set.objects(), args.json)
}

fn print(objects: &[Object], json: bool) -> CliResult<Exit> {
    let text = if json {
        let mut s = String::new();
        for o in objects {
            s.push_str(&serde_json::to_string(o).map_err(CliError::failed)?);
            s.push('\n');
        }
        s
    } else {
        manifest::to_yaml(objects).map_err(CliError::failed)?
    };
    // A closed stdout (`| head`) is the reader's choice, not a failure.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(Exit::Done)
}
