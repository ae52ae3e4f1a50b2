//! The crate root's earlier paths of items that now live in modules
//! (`policy`, `headers`, `problem`, `usage`, `version`, `versioning`,
//! `route_versions`, `resolution`), so code written against the flat root
//! keeps compiling. Types and constants are deprecated aliases that name
//! the new path; traits and the unit struct `SystemClock` cannot be
//! deprecated through a re-export, so they are re-exported as they are.
//! None of them is shown in the documentation.
#![allow(missing_docs)]

use http::HeaderName;

#[doc(hidden)]
pub use crate::policy::{Clock, DefaultSelector, SystemClock, VersionReader};

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::versioning::ApiVersion`")]
pub type ApiVersion<S> = crate::versioning::ApiVersion<S>;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::policy::Lifecycle`")]
pub type Lifecycle = crate::policy::Lifecycle;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::policy::Link`")]
pub type Link = crate::policy::Link;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::policy::ManualClock`")]
pub type ManualClock = crate::policy::ManualClock;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::usage::Outcome`")]
pub type Outcome = crate::usage::Outcome;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::resolution::PathRewrite`")]
pub type PathRewrite = crate::resolution::PathRewrite;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::problem::ProblemKind`")]
pub type ProblemKind = crate::problem::ProblemKind;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::route_versions::RouteVersionsLayer`")]
pub type RouteVersionsLayer = crate::route_versions::RouteVersionsLayer;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::usage::UsageRecord`")]
pub type UsageRecord = crate::usage::UsageRecord;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::usage::UsageSnapshot`")]
pub type UsageSnapshot = crate::usage::UsageSnapshot;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::version::VersionStatus`")]
pub type VersionStatus = crate::version::VersionStatus;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::headers::API_DEPRECATED_VERSIONS`")]
pub const API_DEPRECATED_VERSIONS: HeaderName = crate::headers::API_DEPRECATED_VERSIONS;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::headers::API_SUPPORTED_VERSIONS`")]
pub const API_SUPPORTED_VERSIONS: HeaderName = crate::headers::API_SUPPORTED_VERSIONS;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::headers::API_VERSION`")]
pub const API_VERSION: HeaderName = crate::headers::API_VERSION;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::headers::DEPRECATION`")]
pub const DEPRECATION: HeaderName = crate::headers::DEPRECATION;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::headers::SUNSET`")]
pub const SUNSET: HeaderName = crate::headers::SUNSET;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::problem::PROBLEM_JSON`")]
pub const PROBLEM_JSON: &str = crate::problem::PROBLEM_JSON;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::policy::DEFAULT_HEADER`")]
pub const DEFAULT_HEADER: &str = crate::policy::DEFAULT_HEADER;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::policy::DEFAULT_QUERY`")]
pub const DEFAULT_QUERY: &str = crate::policy::DEFAULT_QUERY;

#[doc(hidden)]
#[deprecated(note = "moved: use `engine_ops_apiversion::policy::DEFAULT_MEDIA_TYPE_PARAM`")]
pub const DEFAULT_MEDIA_TYPE_PARAM: &str = crate::policy::DEFAULT_MEDIA_TYPE_PARAM;
