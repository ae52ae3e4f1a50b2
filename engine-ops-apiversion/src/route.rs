//! Route patterns in axum's syntax, for neutral endpoints and for changes
//! keyed on method + path: `/users/{id}` (one segment), `/files/{*rest}`
//! (the rest of the path), literal segments otherwise. Validated once, when
//! a policy or change set is built; matched without allocating.

use std::fmt;

use http::Method;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Matches exactly this text.
    Literal(Box<str>),
    /// `{name}` or `*`: any one non-empty segment.
    Param,
    /// `{*name}`: the rest of the path (possibly empty); always last.
    Rest,
}

/// A validated path pattern.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    text: Box<str>,
    segments: Box<[Segment]>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pattern {
    /// Parses `text`, or says why it can never match a request path.
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        if !text.starts_with('/') {
            return Err("it must start with '/'");
        }
        if text
            .bytes()
            .any(|b| matches!(b, b'?' | b'#') || b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("a request path never contains '?', '#', spaces or control characters");
        }
        let trimmed = if text.len() > 1 {
            text.trim_end_matches('/')
        } else {
            text
        };
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        // `/` has no segments: it is the root, and a prefix of every path.
        let parts: Vec<&str> = if trimmed == "/" {
            Vec::new()
        } else {
            trimmed.split('/').skip(1).collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let segment = if *part == "*" {
                Segment::Param
            } else if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let (rest, name) = match inner.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                if name.is_empty() || name.contains(['{', '}', '*']) {
                    return Err("a parameter is written {name} or {*name}");
                }
                if names.contains(&name) {
                    return Err("a parameter name is used twice");
                }
                names.push(name);
                if rest && i + 1 != parts.len() {
                    return Err("{*name} matches the rest of the path, so it must come last");
                }
                if rest { Segment::Rest } else { Segment::Param }
            } else if part.contains(['{', '}']) {
                return Err("a parameter must be a whole segment: {name}");
            } else if part.is_empty() {
                return Err("an empty segment ('//') never matches a routed path");
            } else {
                Segment::Literal((*part).into())
            };
            segments.push(segment);
        }
        Ok(Pattern {
            text: trimmed.into(),
            segments: segments.into(),
        })
    }

    /// The segments.
    #[cfg(feature = "transform")]
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether `path` is matched entirely (a trailing `/` on the path is
    /// ignored).
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.match_len(path, false)
    }

    /// Whether `path` starts with what the pattern matches, on a segment
    /// boundary (`/users/{id}` covers `/users/7/posts`).
    #[cfg(any(test, feature = "transform"))]
    pub(crate) fn matches_prefix(&self, path: &str) -> bool {
        self.match_len(path, true)
    }

    fn match_len(&self, path: &str, prefix: bool) -> bool {
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        let mut actual = path.split('/').skip(1).filter(|_| path != "/");
        for expected in self.segments.iter() {
            match (expected, actual.next()) {
                (Segment::Rest, _) => return true,
                (Segment::Param, Some(segment)) if !segment.is_empty() => {}
                (Segment::Literal(literal), Some(segment)) if **literal == *segment => {}
                _ => return false,
            }
        }
        prefix || actual.next().is_none()
    }
}

/// A method (or any method) and a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `None`: every method.
    pub(crate) method: Option<Method>,
    pub(crate) pattern: Pattern,
}

impl Endpoint {
    /// Whether a request with this method and (routed) path is this endpoint.
    /// `HEAD` matches a `GET` endpoint, as routers serve it.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m == method || (*m == Method::GET && *method == Method::HEAD))
            && self.pattern.matches(path)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.method {
            Some(method) => write!(f, "{method} {}", self.pattern),
            None => write!(f, "{}", self.pattern),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn patterns_match_whole_paths_or_prefixes() {
        let users = p("/api/users/{id}");
        assert!(users.matches("/api/users/7"));
        assert!(users.matches("/api/users/7/"));
        assert!(!users.matches("/api/users"));
        assert!(!users.matches("/api/users/"));
        assert!(!users.matches("/api/users/7/posts"));
        assert!(users.matches_prefix("/api/users/7/posts"));
        assert!(!users.matches_prefix("/api/usersx/7"));
        assert!(p("/files/{*rest}").matches("/files/a/b/c"));
        assert!(p("/files/{*rest}").matches("/files"));
        assert!(p("/api/*/x").matches("/api/anything/x"));
        assert!(p("/").matches("/"));
        assert!(!p("/").matches("/a"));
        assert!(p("/").matches_prefix("/a"));
        assert!(p("/a/").matches("/a"));
    }

    #[test]
    fn patterns_that_can_never_match_are_refused() {
        for bad in [
            "api/users",
            "/api/users?x=1",
            "/api/users#x",
            "/api/us ers",
            "/api/{id",
            "/api/id}",
            "/api/x{id}",
            "/api/{}",
            "/api/{*rest}/more",
            "/api/{id}/{id}",
            "/api//users",
            "",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_match_method_and_head_for_get() {
        let get = Endpoint {
            method: Some(Method::GET),
            pattern: p("/a/{id}"),
        };
        assert!(get.matches(&Method::GET, "/a/1"));
        assert!(get.matches(&Method::HEAD, "/a/1"));
        assert!(!get.matches(&Method::POST, "/a/1"));
        let any = Endpoint {
            method: None,
            pattern: p("/a/{id}"),
        };
        assert!(any.matches(&Method::DELETE, "/a/1"));
        assert_eq!(get.to_string(), "GET /a/{id}");
    }
}
