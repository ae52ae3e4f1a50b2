//! Progress lines: one per event, with the time since the command (or the
//! program that runs it as one of its steps) started;
//! text for people, or one JSON object per line (`--json`) for machines.

use std::io::Write as _;
use std::time::Instant;

use serde_json::{Value, json};

use super::cli::ClusterArgs;

/// Writes progress lines to stdout.
#[derive(Debug, Clone)]
pub struct Progress {
    json: bool,
    start: Instant,
}

impl Progress {
    /// Progress lines in text, or in JSON with `json`.
    #[must_use]
    pub fn new(json: bool) -> Self {
        Self {
            json,
            start: Instant::now(),
        }
    }

    /// Progress lines counting their elapsed time from `start` (a
    /// program's start, when the command is one of its steps).
    #[must_use]
    pub fn since(json: bool, start: Instant) -> Self {
        Self { json, start }
    }

    /// The progress lines of a command run with `args`: JSON with
    /// `--json`, elapsed times from [`ClusterArgs::started`] when set,
    /// else from now.
    #[must_use]
    pub fn of(args: &ClusterArgs) -> Self {
        Self::since(args.json, args.started.unwrap_or_else(Instant::now))
    }

    /// The instant elapsed times count from.
    #[must_use]
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Whether lines are JSON.
    #[must_use]
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Milliseconds since the command started.
    #[must_use]
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// One line: `text` for people, or `fields` (with `event` and
    /// `elapsed_ms` added) as one JSON object.
    pub fn line(&self, event: &str, text: &str, fields: Value) {
        // The time is read under the lock, so that the lines of tasks
        // printing at once stay in the order of their times.
        let mut stdout = std::io::stdout().lock();
        let ms = self.elapsed_ms();
        let out = if self.json {
            let mut v = match fields {
                Value::Object(m) => Value::Object(m),
                Value::Null => json!({}),
                other => json!({ "data": other }),
            };
            v["event"] = json!(event);
            v["elapsed_ms"] = json!(ms);
            v.to_string()
        } else {
            format!("[{:>7.2}s] {text}", ms as f64 / 1e3)
        };
        // A closed stdout (`| head`) must not stop a rollout half-way.
        let _ = writeln!(stdout, "{out}");
        let _ = stdout.flush();
    }

    /// A line whose text is printed as it is (no elapsed time: a table's
    /// row), or `fields` as in [`line`](Self::line).
    pub fn plain(&self, event: &str, text: &str, fields: Value) {
        if self.json {
            self.line(event, text, fields);
        } else {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        }
    }

    /// A line without a text form (JSON only).
    pub fn data(&self, event: &str, fields: Value) {
        if self.json {
            self.line(event, "", fields);
        }
    }
}

/// Writes one line to stderr (errors, notes), ignoring a closed pipe.
pub fn note(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
    let _ = stderr.flush();
}

/// Rewrites the planner's times (`t+1796046846.347s`: milliseconds since
/// the epoch the driver chose, the Unix epoch) as UTC times.
#[must_use]
pub fn humanize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("t+") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let digits = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        let number = &after[..digits];
        let time = after[digits..]
            .starts_with('s')
            .then(|| number.parse::<f64>().ok())
            .flatten()
            .filter(|s| *s > 1e9)
            .and_then(|s| {
                #[allow(clippy::cast_possible_truncation)]
                let ms = (s * 1e3).round() as i64;
                k8s_openapi::jiff::Timestamp::from_millisecond(ms).ok()
            });
        match time {
            Some(t) => {
                out.push_str(&t.strftime("%H:%M:%S%.3fZ").to_string());
                rest = &after[digits + 1..];
            }
            None => {
                out.push_str("t+");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::humanize;

    #[test]
    fn planner_times_become_utc_times_and_other_text_stays() {
        assert_eq!(
            humanize("keep revision 1 until t+1796046846.347s, then scale it to 0"),
            "keep revision 1 until 13:54:06.347Z, then scale it to 0"
        );
        assert_eq!(
            humanize("at t+12s (a test clock)"),
            "at t+12s (a test clock)"
        );
        assert_eq!(humanize("t+ and t+x"), "t+ and t+x");
    }
}
