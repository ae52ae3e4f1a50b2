//! Link targets published with a version's lifecycle (RFC 8288), with the
//! optional `type` and `title` target attributes.

/// A `Link` target: a URI and, optionally, the media type and title of what
/// it points to. Built from a `&str` when neither is needed.
///
/// Serialised as `<uri>; rel="..."; type="text/html"; title="..."`. A title
/// with characters outside visible ASCII is sent as RFC 8187 `title*`
/// (`UTF-8''` and percent-encoded bytes), which RFC 8288 §3.4.1 reserves
/// for exactly that.
///
/// # Examples
///
/// ```
/// use engine_ops_apiversion::{Version, VersionSpec};
/// use engine_ops_apiversion::policy::Link;
///
/// let v1 = VersionSpec::new(Version::int(1))
///     .deprecated("2026-01-01")
///     .deprecation_link(
///         Link::new("https://example.com/migrate").media_type("text/html").title("Moving to v2"),
///     )
///     .successor_link("/api/v2");
/// # let _ = v1;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Link {
    pub(crate) uri: String,
    pub(crate) media_type: Option<String>,
    pub(crate) title: Option<String>,
}

impl Link {
    /// A link to `uri`: an absolute `http(s)` URI or a path starting with `/`
    /// (checked when the policy is built).
    pub fn new(uri: &str) -> Self {
        Link {
            uri: uri.to_owned(),
            media_type: None,
            title: None,
        }
    }

    /// The media type of the target (`type="text/html"`), a hint for clients.
    pub fn media_type(mut self, media_type: &str) -> Self {
        self.media_type = Some(media_type.to_owned());
        self
    }

    /// A human-readable title (`title="..."`, or `title*` when it is not ASCII).
    pub fn title(mut self, title: &str) -> Self {
        self.title = Some(title.to_owned());
        self
    }

    /// The target URI.
    #[must_use]
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether `media_type` is `type/subtype` built of RFC 9110 tokens.
    pub(crate) fn media_type_is_valid(media_type: &str) -> bool {
        let mut parts = media_type.split('/');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(ty), Some(subtype), None)
                if !ty.is_empty() && !subtype.is_empty()
                    && ty.bytes().chain(subtype.bytes()).all(is_tchar)
        )
    }

    /// Whether the title can be sent: no control characters.
    pub(crate) fn title_is_valid(title: &str) -> bool {
        !title.chars().any(char::is_control)
    }

    /// One link-value: `<uri>; rel="rel"` and the attributes.
    pub(crate) fn render(&self, rel: &str) -> String {
        let mut out = format!("<{}>; rel=\"{rel}\"", self.uri);
        if let Some(media_type) = &self.media_type {
            out.push_str(&format!("; type=\"{media_type}\""));
        }
        if let Some(title) = &self.title {
            if title.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                out.push_str("; title=\"");
                for c in title.chars() {
                    if matches!(c, '"' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                // RFC 8187 ext-value: attr-char stays, every other byte is %XX.
                out.push_str("; title*=UTF-8''");
                for b in title.bytes() {
                    if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                        out.push(char::from(b));
                    } else {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
            }
        }
        out
    }
}

impl From<&str> for Link {
    fn from(uri: &str) -> Self {
        Link::new(uri)
    }
}

impl From<String> for Link {
    fn from(uri: String) -> Self {
        Link {
            uri,
            media_type: None,
            title: None,
        }
    }
}

/// An RFC 9110 `tchar`: a byte of a token (a media type's type and subtype,
/// a parameter name).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_quoted_or_extended() {
        assert_eq!(
            Link::new("/v2").render("successor-version"),
            "</v2>; rel=\"successor-version\""
        );
        assert_eq!(
            Link::new("https://x.test/m")
                .media_type("text/html")
                .title("Say \"hi\" \\ bye")
                .render("deprecation"),
            "<https://x.test/m>; rel=\"deprecation\"; type=\"text/html\"; title=\"Say \\\"hi\\\" \\\\ bye\""
        );
        assert_eq!(
            Link::new("/m").title("Migración a v2").render("sunset"),
            "</m>; rel=\"sunset\"; title*=UTF-8''Migraci%C3%B3n%20a%20v2"
        );
        assert!(Link::media_type_is_valid("text/html"));
        assert!(Link::media_type_is_valid("application/vnd.api+json"));
        for bad in [
            "text",
            "text/",
            "/html",
            "text/html/x",
            "text/ht ml",
            "text/html;q=1",
        ] {
            assert!(!Link::media_type_is_valid(bad), "{bad}");
        }
        assert!(!Link::title_is_valid("a\nb"));
    }
}
