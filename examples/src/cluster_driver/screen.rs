//! Drawing a status screen, once or on every watch event
//! (`status --watch`): redrawn in place on a terminal, printed again when
//! it changed otherwise (a log), or one JSON object per line with
//! `--json`. A closed stdout ends the watch quietly.

use std::io::{IsTerminal as _, Write as _};

use serde_json::{Value, json};

use super::exit::Exit;

/// One screen: its lines for people and its JSON object for machines.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    /// The text, line by line.
    pub lines: Vec<String>,
    /// The same as one JSON object.
    pub json: Value,
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The rollout it saw in progress ended (Healthy or at a gate: exit 0;
    /// Degraded: exit 1).
    Ended(Exit),
    /// Interrupted (Ctrl-C, SIGTERM): exit 130, nothing to report.
    Interrupted,
    /// Stdout was closed (`| head`): exit 0, nothing to report.
    Closed,
}

/// Draws screens to stdout.
#[derive(Debug)]
pub struct Painter {
    json: bool,
    tty: bool,
    last: Option<Value>,
}

impl Painter {
    /// A painter for stdout (`json`: JSON lines).
    #[must_use]
    pub fn new(json: bool) -> Self {
        Self {
            json,
            tty: std::io::stdout().is_terminal(),
            last: None,
        }
    }

    /// Draws `screen`: in place on a terminal (every call), else only when
    /// it differs from the last one. Returns `false` when stdout is closed.
    pub fn draw(&mut self, screen: &Screen) -> bool {
        let changed = self.last.as_ref() != Some(&screen.json);
        self.last = Some(screen.json.clone());
        let text = if self.json {
            if !changed {
                return true;
            }
            let mut v = screen.json.clone();
            v["event"] = json!("status");
            format!("{v}\n")
        } else if self.tty {
            // Home, clear the screen, draw; the terminal keeps its cursor.
            format!("\x1b[H\x1b[2J{}\n", screen.lines.join("\n"))
        } else {
            if !changed {
                return true;
            }
            format!("{}\n\n", screen.lines.join("\n"))
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    }

    /// Prints one last line after the final screen (text only). Returns
    /// `false` when stdout is closed.
    pub fn last_line(&self, text: &str) -> bool {
        if self.json {
            return true;
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
    }
}

/// Prints a screen once.
pub fn print_once(screen: &Screen, json: bool) {
    let text = if json {
        format!("{}\n", screen.json)
    } else {
        format!("{}\n", screen.lines.join("\n"))
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Follows whether a rollout is in progress, to end a watch once one it
/// saw is over: it was seen in progress, or what the cluster records of
/// it changed since the first screen (a whole rollout between two looks).
#[derive(Debug, Default)]
pub struct Ending {
    first: Option<String>,
    seen_progressing: bool,
}

impl Ending {
    /// Takes the latest state: `over` is `Some(exit)` when the rollout is
    /// over (with its exit code), `None` while it progresses; `record`
    /// stands for what the cluster records of it (the persisted state, a
    /// Deployment's generation). Returns the exit once a rollout seen is
    /// over.
    pub fn update(&mut self, over: Option<Exit>, record: &str) -> Option<Exit> {
        let first = self.first.get_or_insert_with(|| record.to_owned());
        let moved = first != record;
        match over {
            None => {
                self.seen_progressing = true;
                None
            }
            Some(exit) if self.seen_progressing || moved => Some(exit),
            Some(_) => None,
        }
    }
}

/// A planner time (ms since the Unix epoch) as an RFC 3339 UTC time.
#[must_use]
pub fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| k8s_openapi::jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || format!("t+{ms}ms"),
            |t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        )
}

/// The time now, as shown in a screen's title.
#[must_use]
pub fn clock() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_ends_only_after_a_rollout_it_saw_in_progress() {
        let mut e = Ending::default();
        assert_eq!(
            e.update(Some(Exit::Done), "a"),
            None,
            "healthy from the start"
        );
        assert_eq!(e.update(Some(Exit::Done), "a"), None, "nothing happened");
        assert_eq!(e.update(None, "b"), None);
        assert_eq!(e.update(None, "c"), None);
        assert_eq!(e.update(Some(Exit::Failed), "d"), Some(Exit::Failed));
        let mut e = Ending::default();
        assert_eq!(e.update(Some(Exit::Done), "a"), None);
        assert_eq!(
            e.update(Some(Exit::Done), "b"),
            Some(Exit::Done),
            "a whole rollout between two looks"
        );
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(1_796_046_846_347), "2026-11-30T13:54:06.347Z");
    }
}
