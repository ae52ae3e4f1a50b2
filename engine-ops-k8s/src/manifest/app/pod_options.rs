//! Pod-level options: where pods may run ([`AntiAffinity`]), as whom
//! ([`PodSecurity`]), and how Prometheus finds them ([`Prometheus`]).

/// How pods of the app are spread across failure domains.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AntiAffinity {
    /// Prefer (weight 100) not to place two pods of the app in the same
    /// topology domain (the default, on `kubernetes.io/hostname`).
    Preferred {
        /// The node label defining a domain.
        topology_key: String,
    },
    /// Never place two pods of the app in one domain. A surge pod then needs
    /// a free domain: with as many domains as replicas, use `maxSurge: 0`.
    Required {
        /// The node label defining a domain.
        topology_key: String,
    },
    /// No anti-affinity.
    None,
}

impl Default for AntiAffinity {
    fn default() -> Self {
        Self::Preferred {
            topology_key: "kubernetes.io/hostname".to_owned(),
        }
    }
}

/// The pod and container security context. Always meets the Kubernetes
/// *restricted* Pod Security Standard: non-root, no privilege escalation,
/// every capability dropped, the runtime's default seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurity {
    pub(super) run_as_user: Option<i64>,
    pub(super) run_as_group: Option<i64>,
    pub(super) fs_group: Option<i64>,
    pub(super) read_only_root_filesystem: bool,
}

impl Default for PodSecurity {
    fn default() -> Self {
        Self {
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            read_only_root_filesystem: true,
        }
    }
}

impl PodSecurity {
    /// The restricted profile with a read-only root filesystem (and an
    /// `emptyDir` at `/tmp`).
    #[must_use]
    pub fn restricted() -> Self {
        Self::default()
    }

    /// The user id to run as (must not be 0).
    #[must_use]
    pub fn run_as_user(mut self, uid: u32) -> Self {
        self.run_as_user = Some(i64::from(uid));
        self
    }

    /// The primary group id.
    #[must_use]
    pub fn run_as_group(mut self, gid: u32) -> Self {
        self.run_as_group = Some(i64::from(gid));
        self
    }

    /// The group owning mounted volumes.
    #[must_use]
    pub fn fs_group(mut self, gid: u32) -> Self {
        self.fs_group = Some(i64::from(gid));
        self
    }

    /// Whether the root filesystem is read-only (default `true`).
    #[must_use]
    pub fn read_only_root_filesystem(mut self, read_only: bool) -> Self {
        self.read_only_root_filesystem = read_only;
        self
    }
}

/// Prometheus scrape settings, written as the `prometheus.io/*` pod
/// annotations that Prometheus' Kubernetes service discovery examples use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    pub(super) port: String,
    pub(super) path: String,
}

impl Prometheus {
    /// Scrape `/metrics` on the named port.
    #[must_use]
    pub fn new(port: impl Into<String>) -> Self {
        Self {
            port: port.into(),
            path: "/metrics".to_owned(),
        }
    }

    /// The metrics path (default `/metrics`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
}
