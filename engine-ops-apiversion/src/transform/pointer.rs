//! Paths into JSON documents: RFC 6901 JSON Pointers, where arrays may be
//! crossed by `*` (every element) or implicitly (a member name applied to
//! an array applies to each of its elements), so one path covers
//! `{"data": [...]}` lists, single objects and top-level arrays alike.

use std::fmt;

/// One reference token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A member name; on an array, applied to every element.
    Key(Box<str>),
    /// An array index (RFC 6901 syntax: `0` or digits without a leading
    /// zero); on an object, the member of that name.
    Index(usize, Box<str>),
    /// `*`: every element of an array; on an object, the member `*`.
    Every,
}

impl Token {
    /// The token as a member name (objects).
    pub(crate) fn key(&self) -> &str {
        match self {
            Token::Key(key) | Token::Index(_, key) => key,
            Token::Every => "*",
        }
    }
}

/// A parsed path.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    text: Box<str>,
    tokens: Box<[Token]>,
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pointer {
    /// Parses a pointer: `""` (the whole document) or `/`-separated tokens
    /// with `~1` for `/` and `~0` for `~`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Pointer {
                text: "".into(),
                tokens: Box::new([]),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "path {text:?} is not a JSON Pointer: it must be empty or start with '/'"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut key = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, true) => match chars.next() {
                        Some('0') => key.push('~'),
                        Some('1') => key.push('/'),
                        _ => {
                            return Err(format!(
                                "path {text:?} has a '~' not followed by 0 or 1 (write ~0 for '~', ~1 for '/')"
                            ));
                        }
                    },
                    (c, false) => key.push(c),
                }
            }
            tokens.push(if raw == "*" {
                Token::Every
            } else if let Some(index) = index(&key) {
                Token::Index(index, key.into())
            } else {
                Token::Key(key.into())
            });
        }
        Ok(Pointer {
            text: text.into(),
            tokens: tokens.into(),
        })
    }

    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The pointer to the parent and the last token, if any.
    pub(crate) fn split_last(&self) -> Option<(&[Token], &Token)> {
        self.tokens
            .split_last()
            .map(|(last, parent)| (parent, last))
    }
}

/// An RFC 6901 array index: `0`, or digits without a leading zero.
fn index(token: &str) -> Option<usize> {
    let bytes = token.as_bytes();
    if bytes.is_empty()
        || !bytes.iter().all(u8::is_ascii_digit)
        || (bytes.len() > 1 && bytes[0] == b'0')
    {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_follow_rfc_6901_with_a_wildcard() {
        let p = Pointer::parse("/data/*/a~1b/~0c/0/01").expect("valid");
        assert_eq!(
            p.tokens(),
            [
                Token::Key("data".into()),
                Token::Every,
                Token::Key("a/b".into()),
                Token::Key("~c".into()),
                Token::Index(0, "0".into()),
                Token::Key("01".into()),
            ]
        );
        assert!(Pointer::parse("").expect("root").tokens().is_empty());
        assert_eq!(
            Pointer::parse("/").expect("empty key").tokens(),
            [Token::Key("".into())]
        );
        for bad in ["data", "/a~2", "/a~"] {
            assert!(Pointer::parse(bad).is_err(), "{bad}");
        }
    }
}
