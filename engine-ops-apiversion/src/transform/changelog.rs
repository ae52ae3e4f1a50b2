//! The changelog of a change set: versions newest first, their lifecycle
//! dates, and what each change did, as data and as Markdown.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use serde_json::{Value, json};

use super::change::{Change, Operation};
use crate::date::format_date;
use crate::policy::Policy;
use crate::version::Version;

/// The changelog of a [`Changes`](super::Changes) set, from
/// [`Changes::changelog`](super::Changes::changelog): every
/// declared version, newest first, with its deprecation and sunset dates
/// and the changes it introduced. Render it with [`Changelog::to_markdown`]
/// (or `Display`) for people and [`Changelog::to_json`] for tools.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::transform::{Change, Changes};
/// use engine_ops_apiversion::{Policy, Scheme, Version, VersionSpec};
/// use http::Method;
///
/// let policy = Policy::builder(Scheme::Integer)
///     .version(VersionSpec::new(Version::int(1)).deprecated("2026-01-01").sunset("2027-01-01"))
///     .version(Version::int(2))
///     .header_source()
///     .build()?;
/// let changes = Changes::builder(&policy)
///     .change(
///         Change::new(Version::int(2), "Users have a full name")
///             .endpoint(Method::GET, "/users/{id}")
///             .renamed("/name", "full_name"),
///     )
///     .build()?;
/// let changelog = changes.changelog();
/// assert_eq!(
///     changelog.to_markdown(),
///     concat!(
///         "# API changelog\n",
///         "\n",
///         "## Version 2\n",
///         "\n",
///         "- **Users have a full name** (`GET /users/{id}`)\n",
///         "  - `/name` was renamed `full_name`\n",
///         "\n",
///         "## Version 1\n",
///         "\n",
///         "Deprecated 2026-01-01. Sunset 2027-01-01.\n",
///         "\n",
///         "The first version.\n",
///     )
/// );
/// assert_eq!(changelog.to_json()["versions"][0]["changes"][0]["operations"][0]["op"], "renamed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Changelog {
    versions: Vec<ChangelogVersion>,
}

/// One version of a [`Changelog`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChangelogVersion {
    /// The version.
    pub version: Version,
    /// When it is (or was) deprecated.
    pub deprecated: Option<SystemTime>,
    /// When it is (or was) sunset.
    pub sunset: Option<SystemTime>,
    /// The changes it introduced, in registration order.
    pub changes: Vec<ChangelogEntry>,
}

/// One change of a [`ChangelogVersion`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChangelogEntry {
    /// The change's description.
    pub description: String,
    /// Where it applies (`GET /users/{id}`, `/orders/…`); empty: everywhere.
    pub scope: Vec<String>,
    /// Its declared operations.
    pub operations: Vec<Operation>,
    /// Whether it migrates error responses too.
    pub migrates_errors: bool,
    /// Whether requests go through a closure of its own.
    pub custom_request: bool,
    /// Whether responses go through a closure of its own.
    pub custom_response: bool,
}

impl Changelog {
    /// The changelog of `changes`, registered for `policy`'s versions.
    pub(crate) fn new(policy: &Policy, changes: &[Change]) -> Self {
        let mut versions: Vec<ChangelogVersion> = policy
            .versions()
            .rev()
            .map(|version| ChangelogVersion {
                version,
                deprecated: policy.deprecation(version),
                sunset: policy.sunset(version),
                changes: changes
                    .iter()
                    .filter(|c| c.version() == version)
                    .map(|change| {
                        let (custom_request, custom_response) = change.has_custom_edits();
                        ChangelogEntry {
                            description: change.description().to_owned(),
                            scope: change.scope().collect(),
                            operations: change.operations().to_vec(),
                            migrates_errors: change.migrates_errors(),
                            custom_request,
                            custom_response,
                        }
                    })
                    .collect(),
            })
            .collect();
        versions.shrink_to_fit();
        Changelog { versions }
    }

    /// The versions, newest first.
    #[must_use]
    pub fn versions(&self) -> &[ChangelogVersion] {
        &self.versions
    }

    /// The changelog in Markdown: a `##` section per version, newest first,
    /// its dates, and a list item per change with its scope and operations.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        self.to_string()
    }

    /// The changelog as JSON data:
    /// `{"versions": [{"version", "deprecated", "sunset", "changes": [{"description", "scope", "operations": [{"op", "path", ...}], "migrates_errors", "custom_request", "custom_response"}]}]}`,
    /// dates as `YYYY-MM-DD` (or `null`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let versions: Vec<Value> = self
            .versions
            .iter()
            .map(|v| {
                json!({
                    "version": v.version.to_string(),
                    "deprecated": v.deprecated.map(format_date),
                    "sunset": v.sunset.map(format_date),
                    "changes": v.changes.iter().map(|c| json!({
                        "description": c.description,
                        "scope": c.scope,
                        "operations": c.operations.iter().map(operation_json).collect::<Vec<_>>(),
                        "migrates_errors": c.migrates_errors,
                        "custom_request": c.custom_request,
                        "custom_response": c.custom_response,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "versions": versions })
    }
}

fn operation_json(operation: &Operation) -> Value {
    match operation {
        Operation::Renamed { path, to } => json!({"op": "renamed", "path": path, "to": to}),
        Operation::Added { path, default } => {
            json!({"op": "added", "path": path, "default": default})
        }
        Operation::Removed { path, default } => {
            json!({"op": "removed", "path": path, "default": default})
        }
    }
}

impl fmt::Display for Changelog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("# API changelog\n");
        let last = self.versions.len().saturating_sub(1);
        for (i, version) in self.versions.iter().enumerate() {
            let _ = write!(out, "\n## Version {}\n", version.version);
            let dates: Vec<String> = [
                ("Deprecated", version.deprecated),
                ("Sunset", version.sunset),
            ]
            .into_iter()
            .filter_map(|(what, at)| at.map(|at| format!("{what} {}.", format_date(at))))
            .collect();
            if !dates.is_empty() {
                let _ = write!(out, "\n{}\n", dates.join(" "));
            }
            if !version.changes.is_empty() {
                out.push('\n');
            }
            for change in &version.changes {
                let _ = write!(out, "- **{}**", change.description);
                if !change.scope.is_empty() {
                    let scope: Vec<String> =
                        change.scope.iter().map(|s| format!("`{s}`")).collect();
                    let _ = write!(out, " ({})", scope.join(", "));
                }
                out.push('\n');
                for operation in &change.operations {
                    let _ = writeln!(out, "  - {operation}");
                }
                if change.migrates_errors {
                    out.push_str("  - error responses are migrated too\n");
                }
            }
            if version.changes.is_empty() && i == last {
                out.push_str("\nThe first version.\n");
            }
        }
        f.write_str(&out)
    }
}
