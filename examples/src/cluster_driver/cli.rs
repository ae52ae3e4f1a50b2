//! Command-line options the example programs share, as `clap` argument
//! groups to `#[command(flatten)]` into each program's own commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the app lives and how to reach it; how the command runs.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The app's namespace (default: the context's namespace, else `default`).
    #[arg(long, short = 'n', global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// The app's name (its objects are named after it).
    #[arg(long, global = true, value_name = "NAME")]
    pub app: Option<String>,
    /// One JSON object per line on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the planner's preview of the whole rollout against the cluster
    /// as it is now, and change nothing (no Lease, no write).
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Give up after this long (e.g. `90s`, `10m`); exit 1.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,
    /// This driver's identity in the app's Lease (default:
    /// $ENGINE_OPS_HOLDER, else host and process id). A restarted driver
    /// with the same identity resumes at once; two live drivers must not
    /// share one.
    #[arg(long, global = true, value_name = "ID")]
    pub holder: Option<String>,
    /// When another driver holds the app, wait this long for it instead of
    /// exiting 1 at once.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub wait_for_lease: Duration,
    /// How long the Lease lasts without renewal: how long a crashed driver
    /// blocks another identity.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "15s", hide = true)]
    pub lease_duration: Duration,
    /// Print the API requests made, by verb and resource, at the end.
    #[arg(long, global = true, hide = true)]
    pub count_requests: bool,
    /// Not an option: when the program started, set by a program that
    /// runs a driving command as one step of a longer run (the deploy
    /// pipeline), so that the command's progress lines count their
    /// elapsed time from the run's start. `None`: from the command's.
    #[arg(skip)]
    pub started: Option<std::time::Instant>,
}

impl ClusterArgs {
    /// The Lease identity: `--holder`, `$ENGINE_OPS_HOLDER`, or
    /// `<host>-<pid>`.
    #[must_use]
    pub fn holder(&self) -> String {
        if let Some(h) = self.holder.clone().filter(|h| !h.is_empty()) {
            return h;
        }
        if let Some(h) = std::env::var("ENGINE_OPS_HOLDER")
            .ok()
            .filter(|h| !h.is_empty())
        {
            return h;
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{host}-{}", std::process::id())
    }
}

/// How the app's pods are described (the rendered manifests).
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// Pods of the app once rolled out.
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// The container's HTTP port.
    #[arg(long, default_value_t = 8080)]
    pub port: u32,
    /// The Service's port.
    #[arg(long, default_value_t = 80)]
    pub service_port: u32,
    /// The readiness probe's HTTP path.
    #[arg(long, default_value = "/ready")]
    pub readiness_path: String,
    /// CPU request (a Kubernetes quantity such as `250m`).
    #[arg(long, value_name = "QUANTITY")]
    pub cpu_request: Option<String>,
    /// CPU limit.
    #[arg(long, value_name = "QUANTITY")]
    pub cpu_limit: Option<String>,
    /// Memory request (such as `256Mi`).
    #[arg(long, value_name = "QUANTITY")]
    pub memory_request: Option<String>,
    /// Memory limit.
    #[arg(long, value_name = "QUANTITY")]
    pub memory_limit: Option<String>,
    /// An environment variable of the container (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub env: Vec<(String, String)>,
    /// Seconds a pod must be ready before it counts as available.
    #[arg(long, default_value_t = 0)]
    pub min_ready_seconds: u32,
    /// How long a rollout may make no progress before its deadline action.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub progress_deadline: Duration,
}

/// How to run the checks of a rollout (smoke tests, analyses).
#[derive(Debug, Clone, Default, Args)]
pub struct CheckArgs {
    /// How to run check NAME: a shell command (exit 0 passes) or an
    /// `http://` URL (a 2xx answer to GET passes). Repeatable. Commands are
    /// never stored in the cluster: give them to every command that may
    /// run the check (deploy, promote, abort, rollback).
    #[arg(long = "check", value_name = "NAME=COMMAND|URL", value_parser = parse_pair)]
    pub checks: Vec<(String, String)>,
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a number of seconds.
///
/// # Errors
///
/// A message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 30s, 500ms, 2m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "{s:?} has an unknown unit {unit:?}; use ms, s, m or h"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `NAME=VALUE` (the value may contain `=`).
///
/// # Errors
///
/// A message when there is no `=` or the name is empty.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

/// Parses `NAME` or `NAME=COMMAND|URL` (a check named in a spec, with its
/// definition when given).
///
/// # Errors
///
/// A message when the name is empty.
pub fn parse_check(s: &str) -> Result<(String, Option<String>), String> {
    let (name, def) = match s.split_once('=') {
        Some((n, d)) => (n.trim(), Some(d.to_owned())),
        None => (s.trim(), None),
    };
    if name.is_empty() {
        return Err(format!(
            "{s:?} has no check name; write NAME or NAME=COMMAND"
        ));
    }
    Ok((name.to_owned(), def))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit_and_refusals() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in ["", "s", "10x", "-1s", "1e99s", "ten"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pairs_keep_equals_signs_in_the_value() {
        assert_eq!(
            parse_pair("smoke=curl -f http://x/?a=b"),
            Ok(("smoke".into(), "curl -f http://x/?a=b".into()))
        );
        assert!(parse_pair("=x").is_err());
        assert!(parse_pair("novalue").is_err());
    }
}
