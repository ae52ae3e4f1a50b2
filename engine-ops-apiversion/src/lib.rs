//! API version negotiation for tower services.
mod error;
mod policy;
mod resolve;
mod usage;
mod version;

pub use error::{ConfigError, VersionError};
pub use policy::{
    Clock, Conflict, DEFAULT_HEADER, DEFAULT_MEDIA_TYPE_PARAM, DEFAULT_QUERY, Lifecycle,
    ManualClock, Missing, Policy, PolicyBuilder, Source, SystemClock, VersionSpec,
};
pub use resolve::{PathRewrite, Resolution, resolve, resolve_at};
pub use usage::{Outcome, UsageRecord, UsageSnapshot};
pub use version::{Scheme, Version};
