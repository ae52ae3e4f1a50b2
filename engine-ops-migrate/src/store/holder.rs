//! Who holds a store's lock: the identity a lock holder records (in the
//! file store's lock file, in the SQLite store's lock database) so that
//! those who find the lock taken can say by whom.

use serde::{Deserialize, Serialize};

/// The identity a lock holder records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder {
    /// Process id.
    pub(crate) pid: u32,
    /// Host name (empty when unknown).
    pub(crate) host: String,
    /// The program's file name.
    pub(crate) program: String,
    /// When the lock was taken, in milliseconds since the Unix epoch.
    pub(crate) since_ms: u64,
    /// Tells this store instance from another in the same process.
    pub(crate) token: String,
}

impl Holder {
    /// This process, now; `token` tells this store instance apart.
    pub(crate) fn me(token: &str) -> Self {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Self {
            pid: std::process::id(),
            host: host_name(),
            program,
            since_ms: crate::time::now_ms(),
            token: token.to_owned(),
        }
    }

    /// One line of JSON.
    pub(crate) fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`to_line`](Self::to_line)'s output.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text.trim()).ok()
    }

    /// `process 123 (migrate) on host-a, holding it for 2.1 s`.
    pub(crate) fn describe(&self) -> String {
        let program = if self.program.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.program)
        };
        let host = if self.host.is_empty() {
            String::new()
        } else {
            format!(" on {}", self.host)
        };
        let held = crate::time::now_ms().saturating_sub(self.since_ms);
        format!(
            "process {}{program}{host}, holding it for {}",
            self.pid,
            crate::time::human_duration(std::time::Duration::from_millis(held))
        )
    }
}

/// What to say when the lock is held and its holder recorded nothing
/// readable (an older version, or a holder that just took it).
pub(crate) const UNKNOWN_HOLDER: &str = "another process (it recorded no identity)";

/// A token unique to this store instance within the process.
pub(crate) fn new_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The host name, or empty when it cannot be found cheaply.
fn host_name() -> String {
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        return name.trim().to_owned();
    }
    ["HOSTNAME", "COMPUTERNAME"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_round_trips_and_names_its_process() {
        let me = Holder::me(&new_token());
        let read = Holder::parse(&me.to_line()).expect("parses");
        assert_eq!(read, me);
        let text = read.describe();
        assert!(
            text.starts_with(&format!("process {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("holding it for"), "{text}");
        assert_ne!(new_token(), new_token());
        assert_eq!(Holder::parse("not json"), None);
    }
}
