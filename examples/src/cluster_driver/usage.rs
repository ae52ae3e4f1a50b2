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

/// Resolves when the process is asked to stop: SIGINT (Ctrl-C) or SIGTERM
/// (how CI systems cancel a job). A command racing its work against this
/// stops between two requests: the state it persisted before acting is
/// what the next command resumes from.
pub async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
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
