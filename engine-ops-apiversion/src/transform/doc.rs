//! A JSON document edited in place of its text: values no change names keep
//! their bytes (number lexemes, key order, string escapes, whitespace).
//!
//! The document is validated once (by `serde_json`, into a borrowed
//! `RawValue`, so nothing is allocated for it) and then kept as text. An
//! object or array is split into its members only when a change's path
//! walks into it; everything else is copied out as it came. Numbers are
//! never parsed, so `123456789012345678901234567890` and
//! `0.1000000000000000055511151231257827` leave exactly as they arrived,
//! without `serde_json`'s `arbitrary_precision` and `preserve_order`
//! features (which would change every other `serde_json` user in the
//! build, through feature unification).

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use super::pointer::Token;

/// A value of the document.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    /// Text as it came (or a change's precomputed JSON), not split.
    Raw(&'a str),
    /// A value an edit closure produced.
    Value(Value),
    Object(Object<'a>),
    Array(Array<'a>),
}

/// An object split into members; the text between them is kept.
#[derive(Debug)]
pub(crate) struct Object<'a> {
    members: Vec<Member<'a>>,
    /// Whitespace before `}`.
    end: &'a str,
}

#[derive(Debug)]
struct Member<'a> {
    /// Whitespace before the key.
    lead: &'a str,
    key: Key<'a>,
    /// Whitespace, `:`, whitespace.
    colon: &'a str,
    value: Node<'a>,
    /// Whitespace before the next `,`.
    trail: &'a str,
}

#[derive(Debug)]
enum Key<'a> {
    /// `json` is the key as written (quotes included), `name` decoded.
    Text { json: &'a str, name: Cow<'a, str> },
    /// A key from an edit closure's value, escaped when written.
    Owned(String),
}

impl Key<'_> {
    fn name(&self) -> &str {
        match self {
            Key::Text { name, .. } => name,
            Key::Owned(name) => name,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Array<'a> {
    items: Vec<Item<'a>>,
    end: &'a str,
}

#[derive(Debug)]
struct Item<'a> {
    lead: &'a str,
    value: Node<'a>,
    trail: &'a str,
}

/// Validates `bytes` as one JSON document (UTF-8 included) and returns its
/// text without surrounding whitespace.
pub(crate) fn validate(bytes: &[u8]) -> Result<&str, serde_json::Error> {
    serde_json::from_slice::<&RawValue>(bytes).map(RawValue::get)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// The index after the string starting at `i` (a `"`). Escapes are one
/// ASCII byte after `\` (`\uXXXX` continues with hex digits), so every
/// index found here is a character boundary.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index after the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !is_ws(b[j]) {
                j += 1;
            }
            j
        }
    }
}

/// `text[from..to]`, or `""` if that is not a range of it (never, for
/// validated text).
fn cut(text: &str, from: usize, to: usize) -> &str {
    text.get(from..to).unwrap_or_default()
}

/// Splits a validated object's text into members.
fn parse_object(text: &str) -> Object<'_> {
    let b = text.as_bytes();
    let mut members = Vec::new();
    let mut i = 1;
    loop {
        let lead_start = i;
        i = skip_ws(b, i);
        if b.get(i).is_none_or(|&c| c == b'}') {
            return Object {
                members,
                end: cut(text, lead_start, i),
            };
        }
        let lead = cut(text, lead_start, i);
        let key_start = i;
        i = skip_string(b, i);
        let json = cut(text, key_start, i);
        let name = if json.contains('\\') {
            Cow::Owned(serde_json::from_str::<String>(json).unwrap_or_default())
        } else {
            Cow::Borrowed(cut(json, 1, json.len().saturating_sub(1)))
        };
        let colon_start = i;
        i = skip_ws(b, i) + 1;
        i = skip_ws(b, i);
        let colon = cut(text, colon_start, i);
        let value_start = i;
        i = skip_value(b, i);
        let value = Node::Raw(cut(text, value_start, i));
        let trail_start = i;
        i = skip_ws(b, i);
        let key = Key::Text { json, name };
        if b.get(i) == Some(&b',') {
            members.push(Member {
                lead,
                key,
                colon,
                value,
                trail: cut(text, trail_start, i),
            });
            i += 1;
        } else {
            members.push(Member {
                lead,
                key,
                colon,
                value,
                trail: "",
            });
            return Object {
                members,
                end: cut(text, trail_start, i),
            };
        }
    }
}

/// Splits a validated array's text into items.
fn parse_array(text: &str) -> Array<'_> {
    let b = text.as_bytes();
    let mut items = Vec::new();
    let mut i = 1;
    loop {
        let lead_start = i;
        i = skip_ws(b, i);
        if b.get(i).is_none_or(|&c| c == b']') {
            return Array {
                items,
                end: cut(text, lead_start, i),
            };
        }
        let lead = cut(text, lead_start, i);
        let value_start = i;
        i = skip_value(b, i);
        let value = Node::Raw(cut(text, value_start, i));
        let trail_start = i;
        i = skip_ws(b, i);
        if b.get(i) == Some(&b',') {
            items.push(Item {
                lead,
                value,
                trail: cut(text, trail_start, i),
            });
            i += 1;
        } else {
            items.push(Item {
                lead,
                value,
                trail: "",
            });
            return Array {
                items,
                end: cut(text, trail_start, i),
            };
        }
    }
}

impl<'a> Node<'a> {
    /// Splits a container into its members (once); scalars stay as they are.
    fn expand(&mut self) {
        match self {
            Node::Raw(text) => match text.as_bytes().first() {
                Some(b'{') => *self = Node::Object(parse_object(text)),
                Some(b'[') => *self = Node::Array(parse_array(text)),
                _ => {}
            },
            Node::Value(Value::Object(map)) => {
                let members = std::mem::take(map)
                    .into_iter()
                    .map(|(name, value)| Member {
                        lead: "",
                        key: Key::Owned(name),
                        colon: ":",
                        value: Node::Value(value),
                        trail: "",
                    })
                    .collect();
                *self = Node::Object(Object { members, end: "" });
            }
            Node::Value(Value::Array(values)) => {
                let items = std::mem::take(values)
                    .into_iter()
                    .map(|value| Item {
                        lead: "",
                        value: Node::Value(value),
                        trail: "",
                    })
                    .collect();
                *self = Node::Array(Array { items, end: "" });
            }
            _ => {}
        }
    }

    /// Calls `f` on every node `tokens` reaches; whether any call changed
    /// something.
    pub(crate) fn visit(
        &mut self,
        tokens: &[Token],
        f: &mut dyn FnMut(&mut Node<'a>) -> bool,
    ) -> bool {
        let Some((first, rest)) = tokens.split_first() else {
            return f(self);
        };
        self.expand();
        match self {
            Node::Object(object) => {
                let key = first.key();
                let mut changed = false;
                for member in object.members.iter_mut().filter(|m| m.key.name() == key) {
                    changed |= member.value.visit(rest, f);
                }
                changed
            }
            Node::Array(array) => match first {
                Token::Index(i, _) => array
                    .items
                    .get_mut(*i)
                    .is_some_and(|item| item.value.visit(rest, f)),
                Token::Every => array
                    .items
                    .iter_mut()
                    .fold(false, |changed, item| item.value.visit(rest, f) | changed),
                // A member name applied to a list applies to each element.
                Token::Key(_) => array
                    .items
                    .iter_mut()
                    .fold(false, |changed, item| item.value.visit(tokens, f) | changed),
            },
            _ => false,
        }
    }

    /// Calls `f` on the object at `tokens`, or on each object element if an
    /// array is there.
    pub(crate) fn for_each_object(
        &mut self,
        tokens: &[Token],
        f: &mut dyn FnMut(&mut Object<'a>) -> bool,
    ) -> bool {
        self.visit(tokens, &mut |target| {
            target.expand();
            match target {
                Node::Object(object) => f(object),
                Node::Array(array) => array.items.iter_mut().fold(false, |changed, item| {
                    item.value.expand();
                    match &mut item.value {
                        Node::Object(object) => f(object) | changed,
                        _ => changed,
                    }
                }),
                _ => false,
            }
        })
    }

    /// Runs `serde_json::Value` edits, in order, on this subtree; values
    /// they leave equal keep their text, members their order.
    pub(crate) fn edit(&mut self, edits: &[&dyn Fn(&mut Value)]) -> bool {
        if let Node::Value(value) = self {
            let before = value.clone();
            for edit in edits {
                edit(value);
            }
            return *value != before;
        }
        let parsed = match self {
            Node::Raw(text) => serde_json::from_str::<Value>(text),
            _ => {
                let mut text = Vec::new();
                self.write(&mut text);
                serde_json::from_slice::<Value>(&text)
            }
        };
        // A number beyond what a `Value` holds (`1e400`): the edits cannot
        // see this subtree, so they are not run on it; say so.
        let mut value = match parsed {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "a change's closure was skipped: serde_json cannot read this part of the body into a Value; declare the change as operations instead"
                );
                return false;
            }
        };
        for edit in edits {
            edit(&mut value);
        }
        let node = std::mem::replace(self, Node::Raw(""));
        let (node, changed) = restore(node, value);
        *self = node;
        changed
    }

    /// Writes the migrated document in place of the one in `original`,
    /// keeping the whitespace around it (a trailing newline, say).
    pub(crate) fn write_document(&self, original: &[u8], out: &mut Vec<u8>) {
        let lead = original.len() - original.trim_ascii_start().len();
        let trail = original.len() - original.trim_ascii_end().len();
        out.extend_from_slice(&original[..lead]);
        self.write(out);
        out.extend_from_slice(&original[original.len() - trail..]);
    }

    /// Appends the document's text to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Node::Raw(text) => out.extend_from_slice(text.as_bytes()),
            Node::Value(value) => {
                // Writing a `Value` into a `Vec` cannot fail.
                let _ = serde_json::to_writer(&mut *out, value);
            }
            Node::Object(object) => {
                out.push(b'{');
                for (i, member) in object.members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(member.lead.as_bytes());
                    match &member.key {
                        Key::Text { json, .. } => out.extend_from_slice(json.as_bytes()),
                        Key::Owned(name) => {
                            let _ = serde_json::to_writer(&mut *out, name);
                        }
                    }
                    out.extend_from_slice(member.colon.as_bytes());
                    member.value.write(out);
                    out.extend_from_slice(member.trail.as_bytes());
                }
                out.extend_from_slice(object.end.as_bytes());
                out.push(b'}');
            }
            Node::Array(array) => {
                out.push(b'[');
                for (i, item) in array.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(item.lead.as_bytes());
                    item.value.write(out);
                    out.extend_from_slice(item.trail.as_bytes());
                }
                out.extend_from_slice(array.end.as_bytes());
                out.push(b']');
            }
        }
    }

    /// The document as a `serde_json::Value` (numbers through `f64` where
    /// they do not fit an integer, as `serde_json` reads them).
    pub(crate) fn into_value(self) -> Value {
        match self {
            Node::Raw(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            Node::Value(value) => value,
            Node::Object(object) => Value::Object(
                object
                    .members
                    .into_iter()
                    .map(|m| (m.key.name().to_owned(), m.value.into_value()))
                    .collect(),
            ),
            Node::Array(array) => Value::Array(
                array
                    .items
                    .into_iter()
                    .map(|item| item.value.into_value())
                    .collect(),
            ),
        }
    }
}

impl<'a> Object<'a> {
    /// Renames member `from` to the key written `to_json` (named `to`); a
    /// member already named `to` is dropped, so no key appears twice.
    pub(crate) fn rename(&mut self, from: &str, to: &'a str, to_json: &'a str) -> bool {
        if !self.members.iter().any(|m| m.key.name() == from) {
            return false;
        }
        self.remove(to);
        for member in self.members.iter_mut().filter(|m| m.key.name() == from) {
            member.key = Key::Text {
                json: to_json,
                name: Cow::Borrowed(to),
            };
        }
        true
    }

    /// Removes every member named `name`.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.key.name() != name);
        self.members.len() != before
    }

    /// Adds member `name` (written `name_json`) with the value written
    /// `value_json` if there is none; it takes the layout of the last member.
    pub(crate) fn insert_default(
        &mut self,
        name: &'a str,
        name_json: &'a str,
        value_json: &'a str,
    ) -> bool {
        if self.members.iter().any(|m| m.key.name() == name) {
            return false;
        }
        let (lead, colon) = self
            .members
            .last()
            .map_or(("", ":"), |last| (last.lead, last.colon));
        self.members.push(Member {
            lead,
            key: Key::Text {
                json: name_json,
                name: Cow::Borrowed(name),
            },
            colon,
            value: Node::Raw(value_json),
            trail: "",
        });
        true
    }
}

/// The edited value `after` as a node, reusing `node`'s text wherever
/// `after` equals what that text says; and whether anything differs.
fn restore<'a>(mut node: Node<'a>, after: Value) -> (Node<'a>, bool) {
    node.expand();
    match (node, after) {
        (Node::Object(mut object), Value::Object(mut map)) => {
            // New members take the layout of the object's last one.
            let (lead, colon) = object
                .members
                .last()
                .map_or(("", ":"), |last| (last.lead, last.colon));
            let mut changed = false;
            let mut members = Vec::with_capacity(map.len());
            for mut member in object.members.drain(..) {
                match map.remove(member.key.name()) {
                    Some(value) => {
                        let (value, differs) = restore(member.value, value);
                        member.value = value;
                        changed |= differs;
                        members.push(member);
                    }
                    None => changed = true,
                }
            }
            changed |= !map.is_empty();
            for (name, value) in map {
                members.push(Member {
                    lead,
                    key: Key::Owned(name),
                    colon,
                    value: Node::Value(value),
                    trail: "",
                });
            }
            object.members = members;
            (Node::Object(object), changed)
        }
        (Node::Array(mut array), Value::Array(values)) if values.len() == array.items.len() => {
            let mut changed = false;
            for (item, value) in array.items.iter_mut().zip(values) {
                let taken = std::mem::replace(&mut item.value, Node::Raw(""));
                let (value, differs) = restore(taken, value);
                item.value = value;
                changed |= differs;
            }
            (Node::Array(array), changed)
        }
        (Node::Raw(text), after) if scalar_equals(text, &after) => (Node::Raw(text), false),
        (Node::Value(before), after) => {
            let changed = before != after;
            (Node::Value(after), changed)
        }
        (_, after) => (Node::Value(after), true),
    }
}

/// Whether the text of a scalar says `value` (numbers compared as
/// `serde_json` reads them, so `2.50` equals `2.5`).
fn scalar_equals(text: &str, value: &Value) -> bool {
    match (text.as_bytes().first(), value) {
        (Some(b'"'), Value::String(string)) => {
            if text.contains('\\') {
                serde_json::from_str::<String>(text).is_ok_and(|decoded| decoded == *string)
            } else {
                text.get(1..text.len() - 1) == Some(string.as_str())
            }
        }
        (Some(b'n'), Value::Null) => text == "null",
        (Some(b't'), Value::Bool(true)) => text == "true",
        (Some(b'f'), Value::Bool(false)) => text == "false",
        (Some(b'-' | b'0'..=b'9'), Value::Number(number)) => number_equals(text, number),
        _ => false,
    }
}

/// Whether a number's text reads as `number` the way `serde_json` reads it:
/// an integer that fits `u64` or `i64` as that integer (checked here),
/// anything else as an `f64` by `serde_json` itself (its default float
/// parsing is not always correctly rounded, so `str::parse` could differ).
fn number_equals(text: &str, number: &serde_json::Number) -> bool {
    let integer = !text.contains(['.', 'e', 'E']);
    if let Some(n) = number.as_u64() {
        integer && text.parse::<u64>() == Ok(n)
    } else if let Some(n) = number.as_i64() {
        integer && text.parse::<i64>() == Ok(n)
    } else {
        serde_json::from_str::<serde_json::Number>(text).is_ok_and(|read| read == *number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::pointer::Pointer;

    fn round_trip(text: &str, f: impl FnOnce(&mut Node<'_>) -> bool) -> (bool, String) {
        let valid = validate(text.as_bytes()).expect("valid json");
        let mut node = Node::Raw(valid);
        let changed = f(&mut node);
        let mut out = Vec::new();
        node.write(&mut out);
        (changed, String::from_utf8(out).expect("utf-8"))
    }

    const DOC: &str = r#"{ "total" : 123456789012345678901234567890, "z": 1, "a": [ {"x": 0.1000000000000000055511151231257827, "b\u0061d": "\u00e9"}, 7, {"x": 1e400} ] ,"name":"Ada"}"#;

    #[test]
    fn untouched_documents_come_out_byte_for_byte() {
        let (changed, out) = round_trip(DOC, |node| {
            node.expand();
            node.for_each_object(Pointer::parse("/a").expect("pointer").tokens(), &mut |_| {
                false
            })
        });
        assert!(!changed);
        assert_eq!(out, DOC);
    }

    #[test]
    fn edits_touch_only_what_they_name() {
        let tokens = Pointer::parse("/a").expect("pointer");
        let (changed, out) = round_trip(DOC, |node| {
            node.for_each_object(tokens.tokens(), &mut |o| o.rename("x", "y", "\"y\""))
        });
        assert!(changed);
        assert_eq!(
            out,
            r#"{ "total" : 123456789012345678901234567890, "z": 1, "a": [ {"y": 0.1000000000000000055511151231257827, "b\u0061d": "\u00e9"}, 7, {"y": 1e400} ] ,"name":"Ada"}"#
        );
        let (_, out) = round_trip(DOC, |node| {
            node.for_each_object(&[], &mut |o| o.remove("z") | o.remove("name"))
        });
        assert_eq!(
            out,
            r#"{ "total" : 123456789012345678901234567890, "a": [ {"x": 0.1000000000000000055511151231257827, "b\u0061d": "\u00e9"}, 7, {"x": 1e400} ] }"#
        );
        let (_, out) = round_trip(DOC, |node| {
            node.for_each_object(
                Pointer::parse("/a/*").expect("pointer").tokens(),
                &mut |o| o.insert_default("bad", "\"n\"", "[1, 2]"),
            )
        });
        // The escaped key `b\u0061d` is `bad`: present in the first object only.
        assert_eq!(
            out,
            r#"{ "total" : 123456789012345678901234567890, "z": 1, "a": [ {"x": 0.1000000000000000055511151231257827, "b\u0061d": "\u00e9"}, 7, {"x": 1e400,"n": [1, 2]} ] ,"name":"Ada"}"#
        );
    }

    #[test]
    fn pretty_documents_keep_their_layout() {
        let pretty = "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": []\n  }\n}";
        let (_, out) = round_trip(pretty, |node| {
            node.for_each_object(&[], &mut |o| o.insert_default("d", "\"d\"", "null"))
        });
        assert_eq!(
            out,
            "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": []\n  },\n  \"d\": null\n}"
        );
        let (_, out) = round_trip("{ }", |node| {
            node.for_each_object(&[], &mut |o| o.insert_default("d", "\"d\"", "0"))
        });
        assert_eq!(out, "{\"d\":0 }");
        let (_, out) = round_trip("[ ]", |node| node.for_each_object(&[], &mut |_| true));
        assert_eq!(out, "[ ]");
    }

    #[test]
    fn closure_edits_keep_the_text_of_values_they_leave_alone() {
        // `1e400` is beyond what a `Value` holds: a closure cannot run there.
        let (changed, _) = round_trip(DOC, |node| node.edit(&[&|v: &mut Value| *v = Value::Null]));
        assert!(!changed);
        let doc = DOC.replace("1e400", "1e300");
        let doc = doc.as_str();
        let (changed, out) = round_trip(doc, |node| {
            node.edit(&[&|value: &mut Value| {
                if let Some(map) = value.as_object_mut() {
                    map.insert("added".into(), 5.into());
                    map.remove("z");
                }
            }])
        });
        assert!(changed);
        assert_eq!(
            out,
            r#"{ "total" : 123456789012345678901234567890, "a": [ {"x": 0.1000000000000000055511151231257827, "b\u0061d": "\u00e9"}, 7, {"x": 1e300} ] ,"name":"Ada","added":5}"#
        );
        let (changed, out) = round_trip(doc, |node| node.edit(&[&|_: &mut Value| {}]));
        assert!(!changed);
        assert_eq!(out, doc);
    }

    #[test]
    fn number_text_compares_as_serde_json_reads_it() {
        for text in [
            "0",
            "7",
            "-7",
            "18446744073709551615",
            "-9223372036854775808",
            "18446744073709551616",
            "123456789012345678901234567890",
            "1.0",
            "2.50",
            "1e2",
            "-0.0",
            "0.1000000000000000055511151231257827",
            "1E-7",
            "9876543210987654321063",
            "0.100000000000000005551115123125782763",
        ] {
            let read: Value = serde_json::from_str(text).expect(text);
            let Value::Number(number) = &read else {
                panic!("{text}")
            };
            assert!(number_equals(text, number), "{text}");
            for other in ["1", "1.5", "-1", "18446744073709551614", "1e300"] {
                let other: Value = serde_json::from_str(other).expect(other);
                assert_eq!(
                    scalar_equals(text, &other),
                    read == other,
                    "{text} vs {other}"
                );
            }
        }
        // `5` is an integer to serde_json, `5.0` a float: not the same value.
        assert!(!scalar_equals("5", &serde_json::json!(5.0)));
        assert!(!scalar_equals("5.0", &serde_json::json!(5)));
    }

    #[test]
    fn invalid_documents_are_refused() {
        for bad in [&b"{"[..], b"{\"a\":}", b"[1,]", b"\"\xff\"", b"", b"1 2"] {
            assert!(validate(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(validate(b"  {\"a\": 1}\n").expect("valid"), "{\"a\": 1}");
    }
}
