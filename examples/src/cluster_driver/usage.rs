//! The command line, parsed with one clear line on bad usage (exit 2), and
//! the interruption (Ctrl-C, a CI job's cancellation) a command stops at.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// Parses the command line as `T`. `--help` and `--version` print as
/// usual (exit 0); bad usage (an unknown command or option, a bad value,
/// a missing argument) prints one `error: ...` line on stderr (and a JSON
/// line on stdout with `--json`) and exits 2.
///
/// # Errors
///
/// The exit code to end with, after printing.
pub fn parse<T: Parser>() -> Result<T, ExitCode> {
    parse_from(std::env::args_os())
}

/// [`parse`] of the given arguments (the first is the program's name).
///
/// # Errors
///
/// As [`parse`].
pub fn parse_from<T: Parser, I>(args: I) -> Result<T, ExitCode>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    match T::try_parse_from(&args) {
        Ok(t) => Ok(t),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                Err(ExitCode::SUCCESS)
            }
            _ => {
                let line = one_line(&e.to_string());
                super::progress::note(&format!("error: {line}"));
                if args.iter().any(|a| a == "--json") {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::json!({"event": "error", "exit": 2, "error": line})
                    );
                }
                Err(ExitCode::from(2))
            }
        },
    }
}

/// clap's message as one line: its first line without `error: `, and
/// where to read more.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().skip_while(|l| l.trim().is_empty());
    let head = lines.next().unwrap_or("bad usage");
    let mut first = head
        .strip_prefix("error: ")
        .unwrap_or(head)
        .trim_end()
        .to_owned();
    if first.ends_with(':') {
        // "the following required arguments were not provided:" and the
        // indented list below it.
        let listed: Vec<&str> = lines
            .take_while(|l| l.starts_with("  ") && !l.trim().starts_with("tip:"))
            .map(str::trim)
            .collect();
        first.push(' ');
        first.push_str(&listed.join(", "));
    }
    let tip = message
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("tip: "))
        .map_or_else(String::new, |t| format!(" ({t})"));
    format!("{first}{tip}; see --help")
}

static STOP: std::sync::OnceLock<tokio::sync::watch::Sender<Option<&'static str>>> =
    std::sync::OnceLock::new();

/// Starts listening for SIGINT (Ctrl-C) and SIGTERM (how CI systems cancel
/// a job); call it once, first thing in `main` (inside the runtime).
///
/// A signal while a command waits in [`interrupted`] resolves it: the
/// command stops between two requests and says where it stands. A signal
/// at any other moment (connecting, reading), or a second signal, exits
/// 130 at once: nothing is half-written there, each write being one
/// request.
pub fn listen() {
    let (tx, _) = tokio::sync::watch::channel(None);
    if STOP.set(tx).is_err() {
        return;
    }
    tokio::spawn(async {
        let Some(tx) = STOP.get() else { return };
        let mut first = true;
        loop {
            let signal = next_signal().await;
            if !first || tx.receiver_count() == 0 {
                std::process::exit(130);
            }
            first = false;
            let _ = tx.send(Some(signal));
        }
    });
}

#[cfg(unix)]
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    static STREAMS: tokio::sync::OnceCell<
        tokio::sync::Mutex<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    > = tokio::sync::OnceCell::const_new();
    let streams = STREAMS
        .get_or_try_init(|| async {
            Ok::<_, std::io::Error>(tokio::sync::Mutex::new((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )))
        })
        .await;
    let Ok(streams) = streams else {
        return std::future::pending().await;
    };
    let mut s = streams.lock().await;
    let (int, term) = &mut *s;
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

#[cfg(not(unix))]
async fn next_signal() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(_) => std::future::pending().await,
    }
}

/// While it lives, a signal is kept for [`interrupted`] instead of exiting
/// at once: take it before the work that must stop between two requests
/// (holding the Lease, a watch), so that a signal between two waits is not
/// lost.
#[derive(Debug)]
#[must_use = "signals are kept only while it lives"]
pub struct Armed(#[allow(dead_code)] Option<tokio::sync::watch::Receiver<Option<&'static str>>>);

/// See [`Armed`].
pub fn arm() -> Armed {
    Armed(STOP.get().map(tokio::sync::watch::Sender::subscribe))
}

/// Resolves with the signal's name once the process is asked to stop (see
/// [`listen`]; never, without it). A command racing its work against this
/// stops between two requests: the state it persisted before acting is
/// what the next command resumes from.
pub async fn interrupted() -> &'static str {
    let Some(mut rx) = STOP.get().map(tokio::sync::watch::Sender::subscribe) else {
        return std::future::pending().await;
    };
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn clap_messages_become_one_line() {
        let m = "error: unrecognized subcommand 'frobnicate'\n\n  tip: a similar subcommand exists: 'promote'\n\nUsage: blue_green [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(m),
            "unrecognized subcommand 'frobnicate' (a similar subcommand exists: 'promote'); see --help"
        );
        assert_eq!(
            one_line("error: the following required arguments were not provided:\n  <IMAGE>\n"),
            "the following required arguments were not provided: <IMAGE>; see --help"
        );
    }
}
