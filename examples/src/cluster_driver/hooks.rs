//! A test hook: stop the driver at a named point, so that a test can kill
//! it exactly there (a crash between persisting the state and acting, or
//! around a traffic switch).
//!
//! `ENGINE_OPS_DRIVER_HOOK=<mode>:<point>[:<n>]` acts at the `n`-th time
//! (default 1) the driver reaches `point`:
//!
//! - `pause`: prints `hook: paused at <point> #<n>` to stderr and waits
//!   forever (the test then sends SIGKILL);
//! - `exit`: exits at once with code 137, running no destructor (the Lease
//!   is not released, nothing is flushed), as a crash does.
//!
//! Points: `after-save` (the decision's state is persisted, no action of it
//! has run), `before-action` and `after-action` (around every action),
//! `before-switch` and `after-switch` (around the one request of a traffic
//! switch), `after-apply` (a rolling Deployment was applied, nothing
//! waited for yet).
//!
//! Unset, the hook costs one comparison per point.

use std::collections::BTreeMap;
use std::time::Duration;

/// The environment variable read by [`Hooks::from_env`].
pub const HOOK_ENV: &str = "ENGINE_OPS_DRIVER_HOOK";

/// Every point the driver passes.
pub const POINTS: [&str; 6] = [
    "after-save",
    "before-action",
    "after-action",
    "before-switch",
    "after-switch",
    "after-apply",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pause,
    Exit,
}

/// The hook, as configured, and how often each point was reached.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    target: Option<(Mode, String, u32)>,
    reached: BTreeMap<&'static str, u32>,
}

impl Hooks {
    /// No hook.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// The hook of [`HOOK_ENV`], if set.
    ///
    /// # Errors
    ///
    /// A message when the variable is set but not `<pause|exit>:<point>[:<n>]`.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(HOOK_ENV) {
            Ok(v) if !v.is_empty() => Self::parse(&v),
            _ => Ok(Self::none()),
        }
    }

    fn parse(v: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{HOOK_ENV}={v:?} is not <pause|exit>:<point>[:<n>] with a point among {POINTS:?}"
            )
        };
        let mut parts = v.split(':');
        let mode = match parts.next() {
            Some("pause") => Mode::Pause,
            Some("exit") => Mode::Exit,
            _ => return Err(bad()),
        };
        let point = parts
            .next()
            .filter(|p| POINTS.contains(p))
            .ok_or_else(bad)?;
        let n = match parts.next() {
            None => 1,
            Some(n) => n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(bad)?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            target: Some((mode, point.to_owned(), n)),
            reached: BTreeMap::new(),
        })
    }

    /// Marks `point` as reached; pauses forever or exits when it is the
    /// configured one.
    pub async fn at(&mut self, point: &'static str) {
        debug_assert!(POINTS.contains(&point), "unknown hook point {point}");
        let Some((mode, target, n)) = &self.target else {
            return;
        };
        if target != point {
            return;
        }
        let count = self.reached.entry(point).or_insert(0);
        *count += 1;
        if *count != *n {
            return;
        }
        match mode {
            Mode::Exit => {
                super::progress::note(&format!("hook: exiting at {point} #{n}"));
                std::process::exit(137);
            }
            Mode::Pause => {
                super::progress::note(&format!("hook: paused at {point} #{n}"));
                loop {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_parsed_or_refused() {
        let h = Hooks::parse("pause:after-save:3").expect("valid");
        assert_eq!(h.target, Some((Mode::Pause, "after-save".to_owned(), 3)));
        let h = Hooks::parse("exit:before-switch").expect("valid");
        assert_eq!(h.target, Some((Mode::Exit, "before-switch".to_owned(), 1)));
        for bad in [
            "pause",
            "stop:after-save",
            "pause:nowhere",
            "pause:after-save:0",
            "pause:after-save:x",
            "pause:after-save:1:2",
        ] {
            assert!(Hooks::parse(bad).is_err(), "{bad}");
        }
    }
}
