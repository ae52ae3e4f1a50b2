//! API version negotiation for tower services.
mod body;
mod error;
mod headers;
mod policy;
mod problem;
mod resolve;
#[cfg(feature = "transform")]
pub mod transform;
mod usage;
mod version;
pub mod versioning;

pub use body::VersionedBody;
pub use error::{ConfigError, VersionError};
pub use headers::{
    API_DEPRECATED_VERSIONS, API_SUPPORTED_VERSIONS, API_VERSION, DEPRECATION, SUNSET,
};
pub use policy::{
    Clock, Conflict, DEFAULT_HEADER, DEFAULT_MEDIA_TYPE_PARAM, DEFAULT_QUERY, Lifecycle,
    ManualClock, Missing, Policy, PolicyBuilder, Source, SystemClock, VersionSpec,
};
pub use problem::{PROBLEM_JSON, ProblemKind};
pub use resolve::{PathRewrite, Resolution, resolve, resolve_at};
pub use usage::{Outcome, UsageRecord, UsageSnapshot};
pub use version::{Scheme, Version};
pub use versioning::{ApiVersion, ApiVersionLayer};
