//! How a store waits for its migration lock: until the store's
//! `lock_timeout`, trying again after pauses that start at
//! [`FIRST_PAUSE`], double up to the store's `lock_poll_max`, and are
//! spread by jitter so that migrators started together do not try in
//! lock step. One policy for the file, SQLite and PostgreSQL stores.
//!
//! This is the store's own lock (one migrator at a time). The locks a
//! step's statements wait for inside the database are another matter:
//! [`StepTimeouts`](crate::StepTimeouts) and
//! [`LockRetry`](crate::LockRetry) limit those.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The first pause after the lock was found taken.
pub(crate) const FIRST_PAUSE: Duration = Duration::from_millis(2);

/// A wait for a store's lock, from its first attempt.
///
/// ```text
/// let mut wait = LockWait::start(timeout, poll_max, salt);
/// loop {
///     if try_lock()? { break; }
///     if let Err(waited) = wait.pause().await { return Err(timeout error) }
/// }
/// ```
#[derive(Debug)]
pub(crate) struct LockWait {
    started: Instant,
    timeout: Duration,
    poll_max: Duration,
    /// The pause before jitter.
    pause: Duration,
    /// xorshift64 state (never 0).
    jitter: u64,
}

impl LockWait {
    /// Starts waiting (now) for up to `timeout`, pausing at most
    /// `poll_max` between attempts; `salt` (a lock key, say) and the clock
    /// and process seed the jitter.
    pub(crate) fn start(timeout: Duration, poll_max: Duration, salt: u64) -> Self {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
        Self::seeded(
            timeout,
            poll_max,
            salt ^ (u64::from(std::process::id()) << 32) ^ clock,
        )
    }

    fn seeded(timeout: Duration, poll_max: Duration, seed: u64) -> Self {
        Self {
            started: Instant::now(),
            timeout,
            poll_max,
            pause: FIRST_PAUSE.min(poll_max),
            jitter: seed | 1,
        }
    }

    /// How long the wait has lasted.
    pub(crate) fn waited(&self) -> Duration {
        self.started.elapsed()
    }

    /// After an attempt found the lock taken: sleeps until the next
    /// attempt, or returns how long the wait lasted once the timeout is
    /// reached (the caller then gives up).
    pub(crate) async fn pause(&mut self) -> Result<(), Duration> {
        let waited = self.waited();
        if waited >= self.timeout {
            return Err(waited);
        }
        let sleep = self.next_pause().min(self.timeout - waited);
        tokio::time::sleep(sleep).await;
        Ok(())
    }

    /// The next pause: the current one spread over `[pause / 2, pause ×
    /// 3 / 2)`; the current one then doubles, up to `poll_max`.
    fn next_pause(&mut self) -> Duration {
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let spread = u64::try_from(self.pause.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let out = self.pause / 2 + Duration::from_micros(self.jitter % spread);
        self.pause = (self.pause * 2).min(self.poll_max);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_are_jittered_around_it() {
        let max = Duration::from_millis(50);
        let mut wait = LockWait::seeded(Duration::from_secs(60), max, 42);
        let pauses: Vec<Duration> = (0..12).map(|_| wait.next_pause()).collect();
        let mut nominal = FIRST_PAUSE;
        for p in &pauses {
            assert!(
                *p >= nominal / 2 && *p < nominal * 3 / 2,
                "{p:?} for {nominal:?}"
            );
            nominal = (nominal * 2).min(max);
        }
        assert_eq!(nominal, max, "the cap is reached");
        let mut other = LockWait::seeded(Duration::from_secs(60), max, 1_000);
        let other: Vec<Duration> = (0..12).map(|_| other.next_pause()).collect();
        assert_ne!(pauses, other, "another seed, other pauses");
    }

    #[test]
    fn a_cap_below_the_first_pause_is_the_pause() {
        let max = Duration::from_micros(500);
        let mut wait = LockWait::seeded(Duration::from_secs(1), max, 7);
        for _ in 0..4 {
            assert!(wait.next_pause() < max * 3 / 2);
        }
    }

    #[tokio::test]
    async fn the_wait_ends_at_the_timeout_and_says_how_long_it_lasted() {
        let timeout = Duration::from_millis(30);
        let mut wait = LockWait::start(timeout, Duration::from_millis(5), 0);
        let mut attempts = 1;
        let waited = loop {
            match wait.pause().await {
                Ok(()) => attempts += 1,
                Err(waited) => break waited,
            }
        };
        assert!(waited >= timeout, "{waited:?}");
        assert!(
            waited < timeout * 10,
            "no pause overshoots the timeout much: {waited:?}"
        );
        assert!(attempts >= 4, "{attempts} attempts in {waited:?}");
        let mut zero = LockWait::start(Duration::ZERO, Duration::from_millis(5), 0);
        assert!(zero.pause().await.is_err(), "a zero timeout tries once");
    }
}
