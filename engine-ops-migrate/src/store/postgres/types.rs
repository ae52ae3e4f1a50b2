//! Times as the history table stores them: `timestamptz` parameters and
//! columns to and from milliseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A Unix time in milliseconds as a `timestamptz` parameter.
pub(super) fn pg_time(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// Milliseconds since the Unix epoch of a `timestamptz` (0 for NULL or
/// earlier).
pub(super) fn unix_ms(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_to_unix_milliseconds() {
        assert_eq!(unix_ms(None), 0);
        assert_eq!(
            unix_ms(Some(UNIX_EPOCH + Duration::from_millis(1_234))),
            1_234
        );
    }
}
