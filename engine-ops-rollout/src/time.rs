//! Caller-supplied time.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since an epoch the caller chooses.
///
/// The planner never reads a clock: every [`Observation`](crate::observation::Observation)
/// carries `now`. Use the Unix epoch in production and `Timestamp::ZERO` in
/// tests and previews.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use engine_ops_rollout::Timestamp;
///
/// let t = Timestamp::from_secs(10) + Duration::from_millis(500);
/// assert_eq!(t.as_millis(), 10_500);
/// assert_eq!(t.saturating_since(Timestamp::from_secs(10)), Duration::from_millis(500));
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Self = Self(0);

    /// A timestamp `ms` milliseconds after the epoch.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// A timestamp `secs` seconds after the epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    #[must_use]
    pub const fn saturating_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    /// Formats as seconds since the epoch, e.g. `t+12s` or `t+12.5s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, ms) = (self.0 / 1000, self.0 % 1000);
        if ms == 0 {
            write!(f, "t+{s}s")
        } else {
            let frac = format!("{ms:03}");
            write!(f, "t+{s}.{}s", frac.trim_end_matches('0'))
        }
    }
}
