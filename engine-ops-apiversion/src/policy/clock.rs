//! The clock lifecycle dates are judged against.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The source of "now" for lifecycle decisions. Injectable so tests and
/// simulations can move time.
///
/// The clock is read only when a decision depends on it. Time is assumed to
/// move forward: once the clock has been seen past the last deprecation
/// date, the `api-deprecated-versions` value is no longer re-evaluated.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; share it (`Arc`) between the policy
/// and the test that drives it.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use engine_ops_apiversion::policy::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(60));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: SystemTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// "Now" for one request: an instant, or the clock to read it from, read
/// only if a matched version has lifecycle dates.
#[derive(Clone, Copy)]
pub(crate) enum Now<'c> {
    At(SystemTime),
    Clock(&'c dyn Clock),
}

impl Now<'_> {
    /// The instant (reading the clock, if that is what this holds).
    pub(crate) fn instant(self) -> SystemTime {
        match self {
            Now::At(at) => at,
            Now::Clock(clock) => clock.now(),
        }
    }
}
