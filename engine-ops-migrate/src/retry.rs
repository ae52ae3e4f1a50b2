//! Lock-safe steps: the retry schedule a store follows when a step's
//! statement gives up waiting for a lock, and what each attempt reports.
//!
//! A DDL statement that waits for a strong lock queues every later reader
//! and writer of the table behind it: one `ALTER TABLE` waiting for a
//! five-second report query stalls the whole application for five seconds.
//! A short per-attempt lock timeout bounds that stall; retrying the whole
//! step on a schedule, with pauses that let the queue drain, still gets the
//! step through. [`LockRetry`] is that schedule; the PostgreSQL store
//! applies it (see `StepTimeouts` in the `postgres` store).
//!
//! The schedule is pure: [`LockRetry::attempt`] says which lock timeout an
//! attempt runs with, and [`LockRetry::pause_after`] how long to wait after
//! it failed (with jitter), or that the schedule is exhausted.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What happens when the schedule runs out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinalAttempt {
    /// The step fails (the default): the schema and the history are as
    /// before the step.
    #[default]
    Fail,
    /// One more attempt without a lock timeout (GitLab's default). It gets
    /// the step through, but while it waits every later query of the table
    /// waits too: choose it only for a table you know is quiet.
    WithoutTimeout,
}

/// The lock timeouts and pauses of a step's attempts.
///
/// Attempt `i` (from 0) runs with the `i`-th row's lock timeout; when it
/// times out on a lock, the step's transaction (history row included) is
/// rolled back and the next attempt starts after the row's pause, spread by
/// a random ±[`jitter`](Self::jitter) so that migrators started together do
/// not retry in lock step. After the last row the step fails, unless
/// [`FinalAttempt::WithoutTimeout`] asks for one last attempt.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_migrate::{FinalAttempt, LockRetry};
///
/// let gitlab = LockRetry::default();
/// assert_eq!(gitlab.attempts(), 10);
/// assert_eq!(gitlab.attempt(0), Some(Some(Duration::from_millis(100))));
/// assert_eq!(gitlab.attempt(10), None); // exhausted
///
/// let quick = LockRetry::schedule([(Duration::from_millis(200), Duration::from_millis(300)); 5])
///     .jitter(0.0)
///     .final_attempt(FinalAttempt::WithoutTimeout);
/// assert_eq!(quick.pause_after(0, 7), Some(Duration::from_millis(300)));
/// assert_eq!(quick.attempt(5), Some(None)); // the last attempt has no timeout
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LockRetry {
    rows: Vec<(Duration, Duration)>,
    jitter: f64,
    final_attempt: FinalAttempt,
}

/// GitLab's `with_lock_retries` timing table, its first ten rows: lock
/// waits of 0.1 to 1 s, pauses of 50 ms to 5 s; 4.1 s of waiting and 17.5 s
/// in all before the step fails.
const GITLAB_FIRST_ROWS: [(u64, u64); 10] = [
    (100, 50),
    (100, 50),
    (200, 50),
    (300, 100),
    (400, 150),
    (500, 2_000),
    (500, 2_000),
    (500, 2_000),
    (500, 2_000),
    (1_000, 5_000),
];

impl Default for LockRetry {
    /// GitLab's first ten rows (lock timeouts 0.1–1 s, pauses 50 ms–5 s,
    /// 17.5 s in all), ±20 % jitter, then the step fails.
    fn default() -> Self {
        Self {
            rows: GITLAB_FIRST_ROWS
                .iter()
                .map(|&(wait, pause)| (Duration::from_millis(wait), Duration::from_millis(pause)))
                .collect(),
            jitter: 0.2,
            final_attempt: FinalAttempt::Fail,
        }
    }
}

impl LockRetry {
    /// A schedule of `(lock_timeout, pause)` rows: one attempt per row.
    /// Zero durations are raised to 1 ms (PostgreSQL reads a zero lock
    /// timeout as "wait forever").
    #[must_use]
    pub fn schedule(rows: impl IntoIterator<Item = (Duration, Duration)>) -> Self {
        Self {
            rows: rows
                .into_iter()
                .map(|(wait, pause)| (wait.max(Duration::from_millis(1)), pause))
                .collect(),
            ..Self::default()
        }
    }

    /// One attempt with `lock_timeout` and no retry: a lock timeout fails
    /// the step at once.
    #[must_use]
    pub fn once(lock_timeout: Duration) -> Self {
        Self::schedule([(lock_timeout, Duration::ZERO)])
    }

    /// Sets the jitter: each pause is spread uniformly over `pause × (1 ±
    /// fraction)` (clamped to 0–1; default 0.2).
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Sets what happens when the schedule runs out (default
    /// [`FinalAttempt::Fail`]).
    #[must_use]
    pub fn final_attempt(mut self, last: FinalAttempt) -> Self {
        self.final_attempt = last;
        self
    }

    /// How many attempts a step gets, the final one without a timeout
    /// included.
    #[must_use]
    pub fn attempts(&self) -> usize {
        self.rows.len() + usize::from(self.final_attempt == FinalAttempt::WithoutTimeout)
    }

    /// The longest lock timeout of the schedule.
    #[must_use]
    pub fn longest_lock_timeout(&self) -> Duration {
        self.rows.iter().map(|r| r.0).max().unwrap_or_default()
    }

    /// The lock timeout attempt `index` (from 0) runs with: `Some(Some(t))`,
    /// `Some(None)` for the final attempt without a timeout, `None` past
    /// the end of the schedule.
    #[must_use]
    pub fn attempt(&self, index: usize) -> Option<Option<Duration>> {
        match self.rows.get(index) {
            Some(row) => Some(Some(row.0)),
            None if index == self.rows.len()
                && self.final_attempt == FinalAttempt::WithoutTimeout =>
            {
                Some(None)
            }
            None => None,
        }
    }

    /// The pause after attempt `index` failed on a lock, spread by the
    /// jitter from `seed` (any number: a clock, a process id); `None` when
    /// no attempt follows.
    #[must_use]
    pub fn pause_after(&self, index: usize, seed: u64) -> Option<Duration> {
        self.attempt(index + 1)?;
        let base = self.rows.get(index).map_or(Duration::ZERO, |r| r.1);
        Some(spread(base, self.jitter, seed))
    }
}

/// The time limits of each step of a database store: the lock retry
/// schedule, and per-statement and per-transaction limits.
///
/// On PostgreSQL each attempt of a transactional step starts with `BEGIN;
/// SET LOCAL lock_timeout …; SET LOCAL statement_timeout …; SET LOCAL
/// transaction_timeout …` (the last on PostgreSQL 17 and later), so the
/// limits hold in every attempt and end with the step's transaction; a
/// non-transactional step sets them for the session and resets them when
/// it ends.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_migrate::{LockRetry, StepTimeouts};
///
/// let limits = StepTimeouts::default() // GitLab's schedule, no statement limit
///     .statement(Duration::from_secs(15))
///     .lock(LockRetry::schedule([(Duration::from_millis(200), Duration::from_millis(300)); 10]));
/// assert!(limits.check().is_ok());
/// // A statement limit below a lock timeout makes the lock timeout pointless.
/// assert!(StepTimeouts::default().statement(Duration::from_millis(500)).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StepTimeouts {
    lock: Option<LockRetry>,
    statement: Option<Duration>,
    transaction: Option<Duration>,
}

impl Default for StepTimeouts {
    /// [`LockRetry::default`] (GitLab's schedule), no statement or
    /// transaction limit.
    fn default() -> Self {
        Self {
            lock: Some(LockRetry::default()),
            statement: None,
            transaction: None,
        }
    }
}

impl StepTimeouts {
    /// No limit at all: a step waits for its locks as long as it takes
    /// (and every later query of the table waits behind it).
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            lock: None,
            statement: None,
            transaction: None,
        }
    }

    /// The lock retry schedule (default [`LockRetry::default`]).
    #[must_use]
    pub fn lock(mut self, schedule: LockRetry) -> Self {
        self.lock = Some(schedule);
        self
    }

    /// No lock timeout: a step waits for its locks as long as it takes.
    #[must_use]
    pub fn no_lock_timeout(mut self) -> Self {
        self.lock = None;
        self
    }

    /// `statement_timeout` for each statement of a step (default none).
    #[must_use]
    pub fn statement(mut self, limit: Duration) -> Self {
        self.statement = Some(limit);
        self
    }

    /// `transaction_timeout` for each attempt of a step (PostgreSQL 17
    /// and later; ignored, with a debug event, by older servers; default
    /// none).
    #[must_use]
    pub fn transaction(mut self, limit: Duration) -> Self {
        self.transaction = Some(limit);
        self
    }

    /// The lock retry schedule, if any.
    #[must_use]
    pub fn lock_schedule(&self) -> Option<&LockRetry> {
        self.lock.as_ref()
    }

    /// The statement limit, if any.
    #[must_use]
    pub fn statement_limit(&self) -> Option<Duration> {
        self.statement
    }

    /// The transaction limit, if any.
    #[must_use]
    pub fn transaction_limit(&self) -> Option<Duration> {
        self.transaction
    }

    /// Checks that the limits make sense together: an empty schedule, or a
    /// statement or transaction limit at or below the longest lock timeout
    /// (PostgreSQL would end the statement before its lock timeout, so the
    /// lock timeout would never fire), are refused.
    ///
    /// # Errors
    ///
    /// A message saying which limit to change.
    pub fn check(&self) -> std::result::Result<(), String> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        if lock.rows.is_empty() {
            return Err(
                "the lock retry schedule has no attempt; give it at least one row, or use StepTimeouts::no_lock_timeout".into(),
            );
        }
        let longest = lock.longest_lock_timeout();
        for (what, limit) in [
            ("statement", self.statement),
            ("transaction", self.transaction),
        ] {
            if let Some(limit) = limit
                && limit <= longest
            {
                return Err(format!(
                    "the {what} timeout ({limit:?}) must be above the longest lock timeout of the schedule ({longest:?}), or the lock timeout never fires"
                ));
            }
        }
        Ok(())
    }
}

/// `base × (1 ± jitter)`, the point within the range taken from `seed`.
fn spread(base: Duration, jitter: f64, seed: u64) -> Duration {
    if jitter == 0.0 || base.is_zero() {
        return base;
    }
    // A well-mixed 53-bit fraction in [0, 1) from the seed (splitmix64).
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    #[allow(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
    let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
    base.mul_f64(1.0 - jitter + 2.0 * jitter * unit)
}

/// A session that held a lock when a step's attempt timed out, as
/// PostgreSQL's `pg_locks` and `pg_stat_activity` show it right after the
/// timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Blocker {
    /// Its backend process id (`pg_terminate_backend` takes it).
    pub pid: i32,
    /// The lock mode it holds, e.g. `AccessShareLock`.
    pub mode: String,
    /// The table (or other relation) it holds the lock on.
    pub relation: Option<String>,
    /// How long its transaction has been open, in milliseconds.
    pub xact_age_ms: Option<u64>,
    /// Its state: `active`, `idle in transaction`, ...
    pub state: Option<String>,
    /// Its `application_name`.
    pub application_name: String,
    /// The start of its current (or last) query, at most 120 characters.
    pub query: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({}", self.pid, self.mode)?;
        if let Some(rel) = &self.relation {
            write!(f, " on {rel}")?;
        }
        if let Some(age) = self.xact_age_ms {
            write!(f, ", transaction open {:.1} s", ms_to_s(age))?;
        }
        if let Some(state) = &self.state {
            write!(f, ", {state}")?;
        }
        if !self.application_name.is_empty() {
            write!(f, ", application {:?}", self.application_name)?;
        }
        write!(f, "): {}", self.query)
    }
}

#[allow(clippy::cast_precision_loss, reason = "display only")]
fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// One attempt of a step that gave up waiting for a lock and was rolled
/// back (to be retried, or the last one of an exhausted schedule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LockAttempt {
    /// Which attempt (from 1).
    pub attempt: u32,
    /// The lock timeout it ran with, in milliseconds.
    pub lock_timeout_ms: Option<u64>,
    /// How long it ran before it gave up, in milliseconds.
    pub waited_ms: u64,
    /// The SQLSTATE it failed with (`55P03`: lock not available).
    pub sqlstate: String,
    /// The sessions holding locks on user tables since at least as long as
    /// the attempt waited: the likely blockers.
    pub blockers: Vec<Blocker>,
    /// The pause before the next attempt, in milliseconds (`None`: no
    /// attempt follows).
    pub pause_ms: Option<u64>,
}

impl LockAttempt {
    /// Assembles an attempt's record (for store implementations).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::LockAttempt;
    ///
    /// let a = LockAttempt::new(1, Some(100), 104, "55P03", Vec::new(), Some(50));
    /// assert!(a.to_string().contains("attempt 1"));
    /// ```
    #[must_use]
    pub fn new(
        attempt: u32,
        lock_timeout_ms: Option<u64>,
        waited_ms: u64,
        sqlstate: impl Into<String>,
        blockers: Vec<Blocker>,
        pause_ms: Option<u64>,
    ) -> Self {
        Self {
            attempt,
            lock_timeout_ms,
            waited_ms,
            sqlstate: sqlstate.into(),
            blockers,
            pause_ms,
        }
    }
}

impl std::fmt::Display for LockAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "attempt {}: ", self.attempt)?;
        match self.lock_timeout_ms {
            Some(t) => write!(f, "lock timeout {t} ms")?,
            None => f.write_str("no lock timeout")?,
        }
        write!(
            f,
            ", gave up after {} ms ({})",
            self.waited_ms, self.sqlstate
        )?;
        match self.blockers.as_slice() {
            [] => f.write_str("; no blocker seen")?,
            blockers => {
                f.write_str("; blocked by ")?;
                for (i, b) in blockers.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{b}")?;
                }
            }
        }
        if let Some(p) = self.pause_ms {
            write!(f, "; next attempt in {p} ms")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_gitlabs_first_ten_rows() {
        let s = LockRetry::default();
        let waits: Duration = (0..s.attempts())
            .filter_map(|i| s.attempt(i).flatten())
            .sum();
        let pauses: Duration = (0..10).map(|i| s.rows[i].1).sum();
        assert_eq!(waits, Duration::from_millis(4_100));
        assert_eq!(waits + pauses, Duration::from_millis(17_500));
        assert_eq!(s.pause_after(9, 1), None, "no pause after the last attempt");
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let s = LockRetry::schedule([(Duration::from_millis(10), Duration::from_millis(1_000)); 2]);
        let pauses: Vec<Duration> = (0..1_000)
            .filter_map(|seed| s.pause_after(0, seed))
            .collect();
        assert!(
            pauses
                .iter()
                .all(|p| *p >= Duration::from_millis(800) && *p <= Duration::from_millis(1_200))
        );
        let min = pauses.iter().min().copied().unwrap_or_default();
        let max = pauses.iter().max().copied().unwrap_or_default();
        assert!(max - min > Duration::from_millis(300), "{min:?}..{max:?}");
    }

    #[test]
    fn a_final_attempt_without_timeout_only_when_asked() {
        let s = LockRetry::once(Duration::ZERO);
        assert_eq!(s.attempt(0), Some(Some(Duration::from_millis(1))));
        assert_eq!(s.attempt(1), None);
        let s = s
            .final_attempt(FinalAttempt::WithoutTimeout)
            .jitter(f64::NAN);
        assert_eq!(s.attempts(), 2);
        assert_eq!(s.attempt(1), Some(None));
        assert_eq!(s.pause_after(0, 3), Some(Duration::ZERO));
        assert_eq!(s.pause_after(1, 3), None);
    }
}
