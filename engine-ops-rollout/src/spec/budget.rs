//! The surge / unavailable budget: counts or percentages of the desired
//! replicas, and what they resolve to for a replica count.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A count or a percentage of the desired replicas, like Kubernetes' `IntOrString`.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::spec::IntOrPercent;
///
/// let surge: IntOrPercent = "25%".parse()?;
/// assert_eq!(surge.resolve(10, true), 3); // ceil(2.5)
/// assert_eq!(surge.resolve(10, false), 2); // floor(2.5)
/// assert_eq!("3".parse::<IntOrPercent>()?, IntOrPercent::Count(3));
/// # Ok::<(), engine_ops_rollout::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntOrPercent {
    /// An absolute number of pods.
    Count(u32),
    /// A percentage of the desired replicas.
    Percent(u32),
}

impl IntOrPercent {
    /// Resolves against `total` replicas: a count is itself, a percentage
    /// rounds up when `round_up` (maxSurge) and down otherwise (maxUnavailable),
    /// as `intstr.GetScaledValueFromIntOrPercent` does.
    #[must_use]
    pub const fn resolve(self, total: u32, round_up: bool) -> u32 {
        match self {
            Self::Count(c) => c,
            Self::Percent(p) => {
                let x = p as u64 * total as u64;
                let v = if round_up { x.div_ceil(100) } else { x / 100 };
                if v > u32::MAX as u64 {
                    u32::MAX
                } else {
                    v as u32
                }
            }
        }
    }

    pub(super) const fn is_zero(self) -> bool {
        matches!(self, Self::Count(0) | Self::Percent(0))
    }
}

impl FromStr for IntOrPercent {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let parse = |digits: &str| {
            digits.parse::<u32>().map_err(|e| Error::Parse {
                input: s.to_owned(),
                reason: format!("expected a whole number such as `3` or `25%` ({e})"),
            })
        };
        match t.strip_suffix('%') {
            Some(p) => parse(p).map(Self::Percent),
            None => parse(t).map(Self::Count),
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(c) => write!(f, "{c}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// maxSurge and maxUnavailable resolved for a replica count, as the
/// Deployment controller's `ResolveFenceposts`, `MaxSurge` and `MaxUnavailable` do.
///
/// # Examples
///
/// ```
/// use engine_ops_rollout::spec::{Fenceposts, IntOrPercent};
///
/// let pct = IntOrPercent::Percent(25);
/// let f = Fenceposts::resolve(10, pct, pct);
/// assert_eq!((f.max_surge, f.max_unavailable), (3, 2));
/// assert_eq!((f.min_available(), f.max_total()), (8, 13));
///
/// // n = 1 with 0 / 25 %: both resolve to zero, so maxUnavailable becomes 1.
/// let f = Fenceposts::resolve(1, IntOrPercent::Count(0), pct);
/// assert_eq!((f.max_surge, f.max_unavailable, f.both_zero_rule), (0, 1, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Fenceposts {
    /// Desired replicas the values were resolved against.
    pub replicas: u32,
    /// Pods allowed above `replicas` (not clamped, as in the controller).
    pub max_surge: u32,
    /// Pods allowed to be unavailable, clamped to `replicas`.
    pub max_unavailable: u32,
    /// True when both resolved to zero and maxUnavailable was set to 1.
    pub both_zero_rule: bool,
}

impl Fenceposts {
    /// The fenceposts of a `Recreate` Deployment: no surge, and none
    /// unavailable counted (`MaxSurge` and `MaxUnavailable` are 0 when the
    /// strategy is not a rolling update).
    #[must_use]
    pub const fn recreate(replicas: u32) -> Self {
        Self {
            replicas,
            max_surge: 0,
            max_unavailable: 0,
            both_zero_rule: false,
        }
    }

    /// Resolves both fenceposts for `replicas` desired pods.
    #[must_use]
    pub const fn resolve(
        replicas: u32,
        max_surge: IntOrPercent,
        max_unavailable: IntOrPercent,
    ) -> Self {
        let s = max_surge.resolve(replicas, true);
        let mut u = max_unavailable.resolve(replicas, false);
        let both_zero_rule = s == 0 && u == 0;
        if both_zero_rule {
            u = 1;
        }
        let u = if u < replicas { u } else { replicas };
        Self {
            replicas,
            max_surge: s,
            max_unavailable: u,
            both_zero_rule,
        }
    }

    /// `replicas - max_unavailable`: fewer available pods than this is never planned.
    #[must_use]
    pub const fn min_available(&self) -> u32 {
        self.replicas - self.max_unavailable
    }

    /// `replicas + max_surge`: the ceiling on the sum of all tracks' sizes.
    #[must_use]
    pub const fn max_total(&self) -> u32 {
        self.replicas.saturating_add(self.max_surge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_match_the_controller_examples() {
        let p = IntOrPercent::Percent(25);
        let f = Fenceposts::resolve(10, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (3, 2));
        let f = Fenceposts::resolve(1, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (1, 0));
        let f = Fenceposts::resolve(3, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (1, 0));
        let f = Fenceposts::resolve(0, p, p);
        assert_eq!((f.max_surge, f.max_unavailable), (0, 0));
        let f = Fenceposts::resolve(2, IntOrPercent::Count(0), IntOrPercent::Count(5));
        assert_eq!(f.max_unavailable, 2, "clamped to n");
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!("x%".parse::<IntOrPercent>().is_err());
        assert_eq!("40%".parse::<IntOrPercent>(), Ok(IntOrPercent::Percent(40)));
    }
}
