//! The compiled policy: every declared version with its response header
//! values precomputed, the sources with their names, and the switches, as
//! resolution and stamping read them.
//!
//! [`PolicyBuilder::build`](super::PolicyBuilder::build) hands what it
//! collected ([`Settings`]) to [`CompiledPolicy::compile`], which validates
//! it; [`Policy`](super::Policy) shares the result. Everything the
//! resolution, the header stamping, the problems and the usage counters
//! read of a policy is here, and this file imports nothing of theirs.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue, Method};

use super::clock::{Clock, Now};
use super::link::Link;
use super::source::{Conflict, DefaultSelector, Lifecycle, Missing, Source, VersionReader};
use super::spec::VersionSpec;
use crate::error::ConfigError;
use crate::route::{Endpoint, Pattern};
use crate::usage::Usage;
use crate::version::{Scheme, Version};

/// What a [`PolicyBuilder`](super::PolicyBuilder) collected, unchecked.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) scheme: Scheme,
    pub(crate) specs: Vec<VersionSpec>,
    /// In the order added; a source whose name was refused is its error.
    pub(crate) sources: Vec<Result<SourceConfig, ConfigError>>,
    pub(crate) conflict: Conflict,
    pub(crate) missing: Missing,
    pub(crate) neutral: Vec<String>,
    pub(crate) neutral_endpoints: Vec<(Option<Method>, String)>,
    pub(crate) selector: Option<Arc<dyn DefaultSelector>>,
    pub(crate) enforce_sunset: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

/// A configured source with its precomputed names.
#[derive(Debug, Clone)]
pub(crate) enum SourceConfig {
    Path {
        prefix: Box<str>,
    },
    Header {
        name: HeaderName,
    },
    Query {
        name: Box<str>,
    },
    MediaType {
        param: Box<str>,
        vendor: Option<Box<str>>,
    },
    Custom {
        reader: Arc<dyn VersionReader>,
    },
}

impl SourceConfig {
    pub(crate) fn kind(&self) -> Source {
        match self {
            SourceConfig::Path { .. } => Source::Path,
            SourceConfig::Header { .. } => Source::Header,
            SourceConfig::Query { .. } => Source::Query,
            SourceConfig::MediaType { .. } => Source::MediaType,
            SourceConfig::Custom { reader } => Source::Custom(reader.name()),
        }
    }
}

/// A declared version with its precomputed response headers.
#[derive(Debug)]
pub(crate) struct VersionEntry {
    pub(crate) version: Version,
    pub(crate) deprecation: Option<SystemTime>,
    pub(crate) sunset: Option<SystemTime>,
    pub(crate) echo: HeaderValue,
    pub(crate) deprecation_value: Option<HeaderValue>,
    pub(crate) sunset_value: Option<HeaderValue>,
    pub(crate) link_value: Option<HeaderValue>,
}

impl VersionEntry {
    /// The version's lifecycle at `now`.
    pub(crate) fn lifecycle(&self, now: SystemTime) -> Lifecycle {
        match (self.sunset, self.deprecation) {
            (Some(sunset), _) if sunset <= now => Lifecycle::Sunset,
            (_, Some(deprecation)) if deprecation <= now => Lifecycle::Deprecated,
            _ => Lifecycle::Active,
        }
    }

    /// The lifecycle at `now`, reading the clock only if the version has
    /// lifecycle dates.
    pub(crate) fn lifecycle_at(&self, now: Now<'_>) -> Lifecycle {
        if self.deprecation.is_none() && self.sunset.is_none() {
            return Lifecycle::Active;
        }
        self.lifecycle(now.instant())
    }
}

/// The policy as resolution and stamping read it: validated, sorted, every
/// header value precomputed.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    pub(crate) scheme: Scheme,
    /// Sorted ascending, unique.
    pub(crate) entries: Vec<VersionEntry>,
    /// `entries[i].version`, packed: a request's version is looked up here,
    /// within a cache line or two, not across the entries' header values.
    pub(crate) versions: Box<[Version]>,
    pub(crate) sources: Vec<SourceConfig>,
    pub(crate) conflict: Conflict,
    pub(crate) missing: Missing,
    /// Index into `entries` of the version used when missing (or on neutral routes).
    pub(crate) fallback: usize,
    pub(crate) neutral: Vec<Box<str>>,
    /// Version-neutral endpoints (method + pattern), matched on the routed path.
    pub(crate) neutral_endpoints: Vec<Endpoint>,
    pub(crate) selector: Option<Arc<dyn DefaultSelector>>,
    pub(crate) enforce_sunset: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) supported_value: HeaderValue,
    /// `(from, value)`, sorted by `from`: the `api-deprecated-versions` value
    /// in force from that instant on (`None` while nothing is deprecated).
    pub(crate) deprecated_values: Vec<(SystemTime, Option<HeaderValue>)>,
    /// Set once the clock has been seen past the last entry of
    /// `deprecated_values`: from then on the value is fixed and the clock is
    /// not read for it.
    pub(crate) deprecated_settled: AtomicBool,
    /// Tokens for `Vary` (lowercase), at most two.
    pub(crate) vary_tokens: Vec<HeaderName>,
    /// `vary_values[mask]`: the `Vary` value listing the tokens whose bit is set.
    pub(crate) vary_values: Vec<Option<HeaderValue>>,
    pub(crate) usage: Usage,
}

impl CompiledPolicy {
    /// Validates `settings` and precomputes every header value; the checks
    /// run in the order [`PolicyBuilder::build`](super::PolicyBuilder::build)
    /// documents, so the first mistake is the one reported.
    pub(crate) fn compile(settings: Settings) -> Result<Self, ConfigError> {
        let sources = compile_sources(settings.sources, settings.conflict)?;
        let neutral = compile_neutral_paths(&settings.neutral)?;
        let neutral_endpoints = compile_neutral_endpoints(&settings.neutral_endpoints)?;
        let entries = compile_entries(settings.scheme, settings.specs)?;
        let fallback = match settings.missing {
            Missing::Default(version) => entries
                .binary_search_by(|e| e.version.cmp(&version))
                .map_err(|_| ConfigError::DefaultNotSupported { version })?,
            Missing::Reject | Missing::Latest => entries
                .iter()
                .rposition(|e| e.version.is_stable())
                .unwrap_or(entries.len() - 1),
        };

        let supported_value = list_value(entries.iter().map(|e| e.version));
        let deprecated_values = deprecated_breakpoints(&entries);
        let vary_tokens: Vec<HeaderName> = sources
            .iter()
            .filter_map(|s| match s {
                SourceConfig::Header { name } => Some(name.clone()),
                SourceConfig::MediaType { .. } => Some(http::header::ACCEPT),
                SourceConfig::Path { .. }
                | SourceConfig::Query { .. }
                | SourceConfig::Custom { .. } => None,
            })
            .collect();
        let vary_values = vary_values(&vary_tokens);
        let mut usage_sources: Vec<Source> = sources.iter().map(SourceConfig::kind).collect();
        if settings.selector.is_some() {
            usage_sources.push(Source::Selector);
        }
        let usage = Usage::new(entries.len(), usage_sources);
        Ok(CompiledPolicy {
            scheme: settings.scheme,
            versions: entries.iter().map(|e| e.version).collect(),
            entries,
            sources,
            conflict: settings.conflict,
            missing: settings.missing,
            fallback,
            neutral,
            neutral_endpoints,
            selector: settings.selector,
            enforce_sunset: settings.enforce_sunset,
            clock: settings.clock,
            supported_value,
            deprecated_values,
            deprecated_settled: AtomicBool::new(false),
            vary_tokens,
            vary_values,
            usage,
        })
    }

    /// The index of a declared version in `entries`.
    pub(crate) fn entry_index(&self, version: Version) -> Option<usize> {
        self.versions.binary_search(&version).ok()
    }
}

/// The sources, each at most once, the preferred one among them.
fn compile_sources(
    sources: Vec<Result<SourceConfig, ConfigError>>,
    conflict: Conflict,
) -> Result<Vec<SourceConfig>, ConfigError> {
    let sources = sources.into_iter().collect::<Result<Vec<_>, _>>()?;
    if sources.is_empty() {
        return Err(ConfigError::NoSource);
    }
    for (i, s) in sources.iter().enumerate() {
        if sources[..i].iter().any(|o| o.kind() == s.kind()) {
            return Err(ConfigError::DuplicateSource {
                source_kind: s.kind(),
            });
        }
    }
    if let Conflict::Prefer(preferred) = conflict
        && !sources.iter().any(|s| s.kind() == preferred)
    {
        return Err(ConfigError::PreferredSourceMissing {
            source_kind: preferred,
        });
    }
    Ok(sources)
}

/// Neutral path prefixes, without a trailing `/`.
fn compile_neutral_paths(prefixes: &[String]) -> Result<Vec<Box<str>>, ConfigError> {
    prefixes
        .iter()
        .map(|prefix| {
            if !prefix.starts_with('/') || prefix.bytes().any(|b| matches!(b, b'?' | b'#')) {
                return Err(ConfigError::invalid_name(
                    "neutral path",
                    prefix,
                    "it must be a plain path starting with '/'",
                ));
            }
            Ok(prefix.trim_end_matches('/').into())
        })
        .collect()
}

/// Neutral endpoints, their patterns parsed.
fn compile_neutral_endpoints(
    endpoints: &[(Option<Method>, String)],
) -> Result<Vec<Endpoint>, ConfigError> {
    endpoints
        .iter()
        .map(|(method, pattern)| {
            let parsed = Pattern::parse(pattern)
                .map_err(|reason| ConfigError::invalid_name("neutral endpoint", pattern, reason))?;
            Ok(Endpoint {
                method: method.clone(),
                pattern: parsed,
            })
        })
        .collect()
}

/// The declared versions, ascending and unique, each with its header values.
fn compile_entries(
    scheme: Scheme,
    mut specs: Vec<VersionSpec>,
) -> Result<Vec<VersionEntry>, ConfigError> {
    if specs.is_empty() {
        return Err(ConfigError::NoVersions);
    }
    specs.sort_by_key(|s| s.version);
    for pair in specs.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(ConfigError::DuplicateVersion {
                version: pair[0].version,
            });
        }
    }
    specs.iter().map(|spec| entry(scheme, spec)).collect()
}

/// `vary_values[mask]`: the `Vary` value listing the tokens whose bit is set.
fn vary_values(tokens: &[HeaderName]) -> Vec<Option<HeaderValue>> {
    (0..(1usize << tokens.len()))
        .map(|mask| {
            let joined = tokens
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            (!joined.is_empty()).then(|| header_value(joined))
        })
        .collect()
}

/// A header value from text built only of visible ASCII (versions, dates,
/// validated URIs, header names), which `HeaderValue` always accepts.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn list_value(versions: impl Iterator<Item = Version>) -> HeaderValue {
    header_value(
        versions
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn deprecated_breakpoints(entries: &[VersionEntry]) -> Vec<(SystemTime, Option<HeaderValue>)> {
    let mut instants: Vec<SystemTime> = entries
        .iter()
        .filter_map(|e| e.deprecation.or(e.sunset))
        .collect();
    instants.sort();
    instants.dedup();
    let mut values = vec![(UNIX_EPOCH, None)];
    for at in instants {
        let deprecated: Vec<Version> = entries
            .iter()
            .filter(|e| e.lifecycle(at) != Lifecycle::Active)
            .map(|e| e.version)
            .collect();
        values.push((
            at,
            (!deprecated.is_empty()).then(|| list_value(deprecated.into_iter())),
        ));
    }
    values
}

const MAX_HTTP_DATE: Duration = Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59Z

fn check_instant(version: Version, at: Option<SystemTime>) -> Result<Option<u64>, ConfigError> {
    match at {
        None => Ok(None),
        Some(at) => match at.duration_since(UNIX_EPOCH) {
            Ok(since) if since <= MAX_HTTP_DATE => Ok(Some(since.as_secs())),
            _ => Err(ConfigError::invalid_name(
                "lifecycle date",
                &format!("{at:?} of version {version}"),
                "it must fall between 1970 and 9999",
            )),
        },
    }
}

fn check_link(version: Version, rel: &'static str, link: &Link) -> Result<(), ConfigError> {
    let bad = || ConfigError::InvalidLink {
        version,
        rel,
        link: link.uri.clone(),
    };
    let uri: http::Uri = link.uri.parse().map_err(|_| bad())?;
    let absolute = matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some();
    let path_only =
        uri.scheme().is_none() && link.uri.starts_with('/') && !link.uri.starts_with("//");
    if !(absolute || path_only) {
        return Err(bad());
    }
    if let Some(media_type) = &link.media_type
        && !Link::media_type_is_valid(media_type)
    {
        return Err(ConfigError::invalid_name(
            "link media type",
            media_type,
            "it must be type/subtype, both tokens (text/html)",
        ));
    }
    if let Some(title) = &link.title
        && !Link::title_is_valid(title)
    {
        return Err(ConfigError::invalid_name(
            "link title",
            title,
            "it must not contain control characters",
        ));
    }
    Ok(())
}

fn entry(scheme: Scheme, spec: &VersionSpec) -> Result<VersionEntry, ConfigError> {
    let version = spec.version;
    if version.scheme() != scheme {
        return Err(ConfigError::SchemeMismatch {
            version,
            scheme: scheme.name(),
        });
    }
    let deprecation = spec
        .deprecation
        .as_ref()
        .map(|when| when.instant(version, "deprecation"))
        .transpose()?;
    let sunset = spec
        .sunset
        .as_ref()
        .map(|when| when.instant(version, "sunset"))
        .transpose()?;
    let deprecation_secs = check_instant(version, deprecation)?;
    check_instant(version, sunset)?;
    if let (Some(deprecation), Some(sunset)) = (deprecation, sunset)
        && sunset <= deprecation
    {
        return Err(ConfigError::SunsetBeforeDeprecation { version });
    }
    let mut links = Vec::new();
    for (rel, link) in [
        ("deprecation", &spec.deprecation_link),
        ("sunset", &spec.sunset_link),
        ("successor-version", &spec.successor_link),
    ] {
        if let Some(link) = link {
            check_link(version, rel, link)?;
            links.push(link.render(rel));
        }
    }
    Ok(VersionEntry {
        version,
        deprecation,
        sunset,
        echo: header_value(version.to_string()),
        deprecation_value: deprecation_secs.map(|secs| header_value(format!("@{secs}"))),
        sunset_value: sunset.map(|at| header_value(httpdate::fmt_http_date(at))),
        link_value: (!links.is_empty()).then(|| header_value(links.join(", "))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ManualClock, Policy, PolicyBuilder};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn base() -> PolicyBuilder {
        Policy::builder(Scheme::Integer).header_source()
    }

    #[test]
    fn build_rejects_each_invalid_configuration() {
        type Check = fn(&ConfigError) -> bool;
        let cases: Vec<(PolicyBuilder, Check)> = vec![
            (base(), |e| matches!(e, ConfigError::NoVersions)),
            (
                base().version(Version::int(1)).version(Version::int(1)),
                |e| matches!(e, ConfigError::DuplicateVersion { .. }),
            ),
            (base().version(Version::major_minor(1, 0)), |e| {
                matches!(e, ConfigError::SchemeMismatch { .. })
            }),
            (
                base()
                    .version(Version::int(1))
                    .on_missing(Missing::Default(Version::int(3))),
                |e| matches!(e, ConfigError::DefaultNotSupported { .. }),
            ),
            (
                base().version(
                    VersionSpec::new(Version::int(1))
                        .deprecated_at(at(200))
                        .sunset_at(at(100)),
                ),
                |e| matches!(e, ConfigError::SunsetBeforeDeprecation { .. }),
            ),
            (
                base().version(VersionSpec::new(Version::int(1)).deprecation_link("not a uri")),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidLink {
                            rel: "deprecation",
                            ..
                        }
                    )
                },
            ),
            (
                base().version(VersionSpec::new(Version::int(1)).successor_link("ftp://x/y")),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidLink {
                            rel: "successor-version",
                            ..
                        }
                    )
                },
            ),
            (
                Policy::builder(Scheme::Integer).version(Version::int(1)),
                |e| matches!(e, ConfigError::NoSource),
            ),
            (base().header_source().version(Version::int(1)), |e| {
                matches!(
                    e,
                    ConfigError::DuplicateSource {
                        source_kind: Source::Header
                    }
                )
            }),
            (
                base()
                    .version(Version::int(1))
                    .on_conflict(Conflict::Prefer(Source::Query)),
                |e| matches!(e, ConfigError::PreferredSourceMissing { .. }),
            ),
            (
                Policy::builder(Scheme::Integer)
                    .header_source_named("bad header")
                    .version(Version::int(1)),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidName {
                            what: "header name",
                            ..
                        }
                    )
                },
            ),
            (
                Policy::builder(Scheme::Integer)
                    .path_source("api")
                    .version(Version::int(1)),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidName {
                            what: "path prefix",
                            ..
                        }
                    )
                },
            ),
            (
                Policy::builder(Scheme::Integer)
                    .query_source_named("a&b")
                    .version(Version::int(1)),
                |e| matches!(e, ConfigError::InvalidName { .. }),
            ),
            (
                Policy::builder(Scheme::Integer)
                    .media_type_source_with("q", None)
                    .version(Version::int(1)),
                |e| matches!(e, ConfigError::InvalidName { .. }),
            ),
            (
                base().version(Version::int(1)).neutral_path("health"),
                |e| {
                    matches!(
                        e,
                        ConfigError::InvalidName {
                            what: "neutral path",
                            ..
                        }
                    )
                },
            ),
        ];
        for (i, (builder, check)) in cases.into_iter().enumerate() {
            let err = builder.build().expect_err("must be rejected");
            assert!(check(&err), "case {i}: unexpected {err:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn build_precomputes_rfc_header_values() {
        let policy = base()
            .version(
                VersionSpec::new(Version::int(1))
                    .deprecated_at(at(1_717_200_000))
                    .sunset_at(at(1_735_689_600))
                    .deprecation_link("https://example.com/deprecation")
                    .sunset_link("https://example.com/sunset")
                    .successor_link("/api/v2"),
            )
            .version(Version::int(2))
            .build()
            .expect("valid");
        let v1 = &policy.inner.entries[0];
        assert_eq!(v1.deprecation_value.as_ref().expect("set"), "@1717200000");
        assert_eq!(
            v1.sunset_value.as_ref().expect("set"),
            "Wed, 01 Jan 2025 00:00:00 GMT"
        );
        assert_eq!(
            v1.link_value.as_ref().expect("set"),
            "<https://example.com/deprecation>; rel=\"deprecation\", <https://example.com/sunset>; rel=\"sunset\", </api/v2>; rel=\"successor-version\""
        );
        assert_eq!(policy.inner.supported_value, "1, 2");
        assert_eq!(
            policy.inner.vary_values[1].as_ref().expect("set"),
            "x-api-version"
        );
    }

    #[test]
    fn lifecycle_follows_the_clock() {
        let clock = Arc::new(ManualClock::new(at(10)));
        let policy = base()
            .version(
                VersionSpec::new(Version::int(1))
                    .deprecated_at(at(100))
                    .sunset_at(at(200)),
            )
            .version(Version::int(2))
            .clock(Arc::clone(&clock))
            .build()
            .expect("valid");
        let v1 = Version::int(1);
        assert_eq!(policy.lifecycle(v1, policy.now()), Some(Lifecycle::Active));
        clock.set(at(100));
        assert_eq!(
            policy.lifecycle(v1, policy.now()),
            Some(Lifecycle::Deprecated)
        );
        assert_eq!(
            policy.deprecated_versions(policy.now()).collect::<Vec<_>>(),
            vec![v1]
        );
        clock.advance(Duration::from_secs(100));
        assert_eq!(policy.lifecycle(v1, policy.now()), Some(Lifecycle::Sunset));
        assert_eq!(policy.lifecycle(Version::int(9), policy.now()), None);
    }

    #[test]
    fn defaults_pick_the_declared_fallback() {
        let fixed = base()
            .version(Version::int(1))
            .version(Version::int(2))
            .on_missing(Missing::Default(Version::int(1)))
            .build()
            .expect("valid");
        assert_eq!(fixed.inner.fallback, 0);
        let latest = base()
            .version(Version::int(2))
            .version(Version::int(1))
            .build()
            .expect("valid");
        assert_eq!(latest.inner.fallback, 1);
        assert_eq!(latest.latest(), Version::int(2));
    }
}
