//! Exit codes and the errors that carry them.

use std::fmt;
use std::process::ExitCode;

use engine_ops_k8s::cluster::Error as ClusterError;

/// How a command ends, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (the rollout completed, or stopped at a gate it was told to
    /// stop at).
    Done,
    /// 1: the rollout failed or was aborted, another driver holds the app,
    /// or the cluster refused an action mid-way.
    Failed,
    /// 2: bad usage or configuration, found before anything was changed.
    Usage,
    /// 130: interrupted (SIGINT, SIGTERM) between two steps; the state is
    /// saved and the same command resumes it.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::Failed => 1,
            Self::Usage => 2,
            Self::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        Self::from(e.code())
    }
}

/// An error of a command, with the exit code it ends with.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, in one line a user can act on.
    pub error: anyhow::Error,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl CliError {
    /// Bad usage or configuration (exit 2): nothing was changed.
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit: Exit::Usage,
            error: error.into(),
        }
    }

    /// The rollout failed, or an action was refused mid-way (exit 1).
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit: Exit::Failed,
            error: error.into(),
        }
    }

    /// Interrupted (exit 130): the work stopped between two steps.
    pub fn interrupted(error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit: Exit::Interrupted,
            error: error.into(),
        }
    }

    /// A cluster error met before anything was changed: bad input
    /// (missing namespace or object, a refused template, no rights, an
    /// unreachable API server) is exit 2, anything else exit 1.
    pub fn before_acting(e: ClusterError) -> Self {
        match e {
            ClusterError::NotFound { .. }
            | ClusterError::NamespaceNotFound { .. }
            | ClusterError::Forbidden { .. }
            | ClusterError::Invalid { .. }
            | ClusterError::InvalidName { .. }
            | ClusterError::Request { .. }
            | ClusterError::SelectorOwned { .. }
            | ClusterError::StateDecode { .. } => Self::usage(e),
            other => Self::failed(other),
        }
    }
}

/// The result of a command.
pub type CliResult<T> = Result<T, CliError>;

/// `map_err` helpers for the two kinds of failure.
pub trait OrExit<T> {
    /// Maps an error to exit 2 (bad usage or configuration).
    ///
    /// # Errors
    ///
    /// The error, as a [`CliError`] with [`Exit::Usage`].
    fn or_usage(self) -> CliResult<T>;
    /// Maps an error to exit 1 (the rollout failed).
    ///
    /// # Errors
    ///
    /// The error, as a [`CliError`] with [`Exit::Failed`].
    fn or_failed(self) -> CliResult<T>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_usage(self) -> CliResult<T> {
        self.map_err(CliError::usage)
    }
    fn or_failed(self) -> CliResult<T> {
        self.map_err(CliError::failed)
    }
}

/// Ends a command: prints the error (one line on stderr, and a JSON line
/// on stdout with `json`) and returns the exit code.
pub fn finish(result: CliResult<Exit>, json: bool) -> ExitCode {
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            super::progress::note(&format!("error: {e}"));
            if json {
                super::progress::Progress::new(true).line(
                    "error",
                    "",
                    serde_json::json!({"exit": e.exit.code(), "error": e.to_string()}),
                );
            }
            e.exit.into()
        }
    }
}
