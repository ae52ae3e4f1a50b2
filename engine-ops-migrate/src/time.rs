//! Wall-clock time as the stores and the migrator record it: milliseconds
//! since the Unix epoch, and durations in whole milliseconds.
//!
//! A leaf: the stores take the time from here, never from the migrator.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch (0 before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// `d` in whole milliseconds (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A duration for people: whole milliseconds below 10 s (`2001 ms`),
/// tenths of a second above (`61.3 s`).
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_milliseconds_then_tenths_of_seconds() {
        assert_eq!(human_duration(Duration::from_millis(2001)), "2001 ms");
        assert_eq!(human_duration(Duration::from_millis(61_340)), "61.3 s");
        assert_eq!(millis(Duration::from_micros(2_999)), 2);
        assert!(now_ms() > 1_600_000_000_000);
    }
}
