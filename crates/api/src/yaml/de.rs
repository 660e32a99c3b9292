//! A serde `Deserializer` over a [`Node`] that knows where it is.
//!
//! Every error carries the field path and line where it happened, and every
//! mapping key that the target struct does not know is collected (not
//! silently dropped) with the closest known name, so a typo such as
//! `avoidBuggyIps` is reported as `did you mean "avoidBuggyIPs"?`.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::{Node, Value, is_null_text};

/// A deserialization failure, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What is wrong and what was expected.
    pub message: String,
    /// Field path (`spec.peerPort`); empty for the document root.
    pub path: String,
    /// 1-based line.
    pub line: Option<u32>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error { message: msg.to_string(), path: String::new(), line: None }
    }
}

/// A mapping key that the target type does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField {
    /// Path of the unknown key (`spec.avoidBuggyIps`).
    pub path: String,
    /// Line of the key.
    pub line: u32,
    /// The closest known field, if one is close enough to be a typo.
    pub suggestion: Option<&'static str>,
    /// Every field the type knows at that place.
    pub expected: &'static [&'static str],
}

impl UnknownField {
    /// `unknown field "x" (did you mean "y"?)` or `(expected one of ...)`.
    pub fn message(&self) -> String {
        let name = self.path.rsplit('.').next().unwrap_or(&self.path);
        match self.suggestion {
            Some(s) => format!("unknown field {name:?} (did you mean {s:?}?)"),
            None => format!("unknown field {name:?} (expected one of: {})", self.expected.join(", ")),
        }
    }
}

/// Deserializes `node` into `T`. `root_fields` are extra keys accepted at the
/// top level without being fields of `T` (`apiVersion` and `kind` of an object
/// whose type does not store them).
pub fn from_node<'de, T: de::Deserialize<'de>>(
    node: &'de Node<'de>,
    root_fields: &'static [&'static str],
) -> Result<(T, Vec<UnknownField>), Error> {
    let state = RefCell::new(State { path: Vec::new(), unknown: Vec::new() });
    let value =
        T::deserialize(De { node, state: &state, root_fields }).map_err(|e| locate(e, node, &state))?;
    Ok((value, state.into_inner().unknown))
}

#[derive(Clone, Copy)]
enum Segment<'de> {
    Key(&'de str),
    Index(usize),
}

struct State<'de> {
    path: Vec<Segment<'de>>,
    unknown: Vec<UnknownField>,
}

impl State<'_> {
    fn render(&self) -> String {
        render_path(&self.path)
    }
}

fn render_path(path: &[Segment<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Gives an error without a place the place of `node`.
fn locate(mut e: Error, node: &Node<'_>, state: &RefCell<State<'_>>) -> Error {
    if e.line.is_none() {
        e.line = Some(node.line);
        e.path = state.borrow().render();
    }
    e
}

struct De<'de, 's> {
    node: &'de Node<'de>,
    state: &'s RefCell<State<'de>>,
    root_fields: &'static [&'static str],
}

impl<'de, 's> De<'de, 's> {
    fn child(&self, node: &'de Node<'de>) -> De<'de, 's> {
        De { node, state: self.state, root_fields: &[] }
    }

    fn error(&self, message: String) -> Error {
        Error { message, path: self.state.borrow().render(), line: Some(self.node.line) }
    }

    fn invalid_type(&self, exp: &dyn de::Expected) -> Error {
        self.error(format!("invalid type: {}, expected {exp}", describe(self.node)))
    }

    /// The text of a plain scalar, for numbers and booleans.
    fn plain_text(&self) -> Option<&'de str> {
        match &self.node.value {
            Value::Scalar { text, plain: true } => Some(text),
            _ => None,
        }
    }

    fn integer<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.plain_text().and_then(parse_int) {
            Some(n) if n < 0 => match i64::try_from(n) {
                Ok(n) => visitor.visit_i64(n),
                Err(_) => Err(self.invalid_type(&visitor)),
            },
            Some(n) => match u64::try_from(n) {
                Ok(n) => visitor.visit_u64(n),
                Err(_) => Err(self.invalid_type(&visitor)),
            },
            None if self.node.is_null() => visitor.visit_u64(0),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn float<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.plain_text().and_then(|t| parse_int(t).map(|n| n as f64).or_else(|| parse_float(t))) {
            Some(f) => visitor.visit_f64(f),
            None if self.node.is_null() => visitor.visit_f64(0.0),
            None => Err(self.invalid_type(&visitor)),
        }
    }

    fn map<V: Visitor<'de>>(
        self,
        visitor: V,
        fields: Option<&'static [&'static str]>,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
                de: self.child(self.node),
                fields,
                root_fields: self.root_fields,
            }),
            _ if self.node.is_null() => {
                visitor.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(&str, &str)>()))
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }
}

impl<'de> de::Deserializer<'de> for De<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(_) => self.deserialize_seq(visitor),
            Value::Map(_) => self.map(visitor, None),
            Value::Scalar { text, plain: false } => visitor.visit_borrowed_str(text),
            Value::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(n) if n < 0 => visitor.visit_i64(n as i64),
                Resolved::Int(n) => match u64::try_from(n) {
                    Ok(n) => visitor.visit_u64(n),
                    Err(_) => visitor.visit_borrowed_str(text),
                },
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str => visitor.visit_borrowed_str(text),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // YAML 1.1 spellings too: Kubernetes reads YAML with a 1.1 parser.
        match self.plain_text() {
            Some("true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON") => {
                visitor.visit_bool(true)
            }
            Some("false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF") => {
                visitor.visit_bool(false)
            }
            _ if self.node.is_null() => visitor.visit_bool(false),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.float(v)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.float(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            _ if self.node.is_null() => visitor.visit_borrowed_str(""),
            Value::Scalar { text, .. } => visitor.visit_borrowed_str(text),
            _ => Err(self.invalid_type(&visitor)),
        }
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() { visitor.visit_none() } else { visitor.visit_some(self) }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() { visitor.visit_unit() } else { Err(self.invalid_type(&visitor)) }
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        self.deserialize_unit(v)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => {
                visitor.visit_seq(SeqAccess { items: items.iter().enumerate(), de: self.child(self.node) })
            }
            _ if self.node.is_null() => {
                visitor.visit_seq(SeqAccess { items: [].iter().enumerate(), de: self })
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.map(visitor, None)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.map(visitor, Some(fields))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar { text, .. } => visitor.visit_enum((&**text).into_deserializer()),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumAccess { de: self }),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'de, 's, I> {
    items: I,
    de: De<'de, 's>,
}

impl<'de, I: Iterator<Item = (usize, &'de Node<'de>)>> de::SeqAccess<'de> for SeqAccess<'de, '_, I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some((index, node)) = self.items.next() else { return Ok(None) };
        self.de.state.borrow_mut().path.push(Segment::Index(index));
        let result = seed.deserialize(self.de.child(node)).map_err(|e| locate(e, node, self.de.state));
        self.de.state.borrow_mut().path.pop();
        result.map(Some)
    }
}

struct MapAccess<'de, 's, I> {
    entries: I,
    /// The key and value node of the entry whose key was just returned.
    value: Option<(&'de str, &'de Node<'de>)>,
    de: De<'de, 's>,
    /// Known field names when deserializing a struct.
    fields: Option<&'static [&'static str]>,
    root_fields: &'static [&'static str],
}

impl<'de, I: Iterator<Item = &'de (Node<'de>, Node<'de>)>> de::MapAccess<'de> for MapAccess<'de, '_, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        loop {
            let Some((key, value)) = self.entries.next() else { return Ok(None) };
            let Some(name) = key.as_str() else {
                return Err(self.de.child(key).error("a mapping key must be a string".into()));
            };
            if let Some(fields) = self.fields {
                if self.root_fields.contains(&name) {
                    continue;
                }
                if !fields.contains(&name) {
                    self.record_unknown(name, key.line, fields);
                    continue;
                }
            }
            self.value = Some((name, value));
            return seed.deserialize(de::value::BorrowedStrDeserializer::new(name)).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (name, node) = self.value.take().expect("serde asks for a value after its key");
        self.de.state.borrow_mut().path.push(Segment::Key(name));
        let result = seed.deserialize(self.de.child(node)).map_err(|e| locate(e, node, self.de.state));
        self.de.state.borrow_mut().path.pop();
        result
    }
}

impl<'de, I> MapAccess<'de, '_, I> {
    fn record_unknown(&self, name: &str, line: u32, fields: &'static [&'static str]) {
        let mut state = self.de.state.borrow_mut();
        let mut path = render_path(&state.path);
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        state.unknown.push(UnknownField { path, line, suggestion: closest(name, fields), expected: fields });
    }
}

struct EnumAccess<'de, 's> {
    de: De<'de, 's>,
}

impl<'de, 's> de::EnumAccess<'de> for EnumAccess<'de, 's> {
    type Error = Error;
    type Variant = De<'de, 's>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), Error> {
        let Value::Map(entries) = &self.de.node.value else { unreachable!("checked by deserialize_enum") };
        let (key, value) = &entries[0];
        let name = key.as_str().unwrap_or_default();
        let variant = seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(name))?;
        Ok((variant, self.de.child(value)))
    }
}

impl<'de> de::VariantAccess<'de> for De<'de, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, v)
    }
}

/// The closest known field to a misspelt one, if it is close enough.
fn closest(name: &str, fields: &[&'static str]) -> Option<&'static str> {
    if let Some(same) = fields.iter().find(|f| f.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    fields
        .iter()
        .map(|f| (strsim::jaro_winkler(name, f), *f))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f)
}

enum Resolved {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str,
}

/// Resolves a plain scalar by YAML 1.2's core schema.
fn resolve(text: &str) -> Resolved {
    if is_null_text(text) {
        return Resolved::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Resolved::Int(n);
    }
    parse_float(text).map_or(Resolved::Str, Resolved::Float)
}

fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_numeric { text.parse().ok() } else { None }
}

/// How a node reads in "invalid type: ..., expected ..." messages.
fn describe(node: &Node<'_>) -> String {
    match &node.value {
        Value::Seq(_) => "a sequence".into(),
        Value::Map(_) => "a mapping".into(),
        Value::Scalar { text, plain: false } => Unexpected::Str(text).to_string(),
        Value::Scalar { text, plain: true } => match resolve(text) {
            Resolved::Null => "null".into(),
            Resolved::Bool(b) => Unexpected::Bool(b).to_string(),
            Resolved::Int(n) => format!("integer `{n}`"),
            Resolved::Float(f) => Unexpected::Float(f).to_string(),
            Resolved::Str => Unexpected::Str(text).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Peer {
        my_asn: u32,
        #[serde(default)]
        hold_time: Option<String>,
        #[serde(default)]
        addresses: Vec<String>,
        #[serde(default)]
        enabled: bool,
    }

    fn parse<T: for<'a> Deserialize<'a>>(text: &str) -> Result<(T, Vec<UnknownField>), Error> {
        let (docs, err) = parse_documents(text);
        assert_eq!(err, None);
        from_node(&docs[0], &["kind"])
    }

    #[test]
    fn scalars_resolve_for_the_target_type() {
        let (peer, unknown) =
            parse::<Peer>("kind: x\nmyAsn: 64512\nholdTime: 30s\naddresses:\n- 192.0.2.1\nenabled: yes\n")
                .unwrap();
        assert_eq!(
            peer,
            Peer {
                my_asn: 64512,
                hold_time: Some("30s".into()),
                addresses: vec!["192.0.2.1".into()],
                enabled: true
            }
        );
        assert!(unknown.is_empty());
    }

    #[test]
    fn null_is_the_zero_value_as_in_kubernetes() {
        let (peer, _) = parse::<Peer>("myAsn: 1\naddresses:\nholdTime: ~\n").unwrap();
        assert_eq!(peer.addresses, Vec::<String>::new());
        assert_eq!(peer.hold_time, None);
    }

    #[test]
    fn type_errors_have_path_and_line() {
        let err = parse::<Peer>("myAsn: 1\naddresses:\n- a\n- [b]\n").unwrap_err();
        assert_eq!(err.path, "addresses[1]");
        assert_eq!(err.line, Some(4));
        assert_eq!(err.message, "invalid type: a sequence, expected a string");
    }

    #[test]
    fn out_of_range_numbers_are_errors() {
        let err = parse::<Peer>("myAsn: 4294967296\n").unwrap_err();
        assert_eq!((err.path.as_str(), err.line), ("myAsn", Some(1)));
        assert!(err.message.contains("4294967296"), "{}", err.message);
    }

    #[test]
    fn missing_fields_point_at_the_struct() {
        let err = parse::<Peer>("holdTime: 3s\n").unwrap_err();
        assert_eq!(err.message, "missing field `myAsn`");
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn unknown_fields_are_collected_with_a_suggestion() {
        let (_, unknown) = parse::<Peer>("myAsn: 1\nholdtime: 3s\nbogus: 1\n").unwrap();
        assert_eq!(unknown.len(), 2);
        assert_eq!(unknown[0].message(), "unknown field \"holdtime\" (did you mean \"holdTime\"?)");
        assert_eq!(unknown[0].line, 2);
        assert_eq!(
            unknown[1].message(),
            "unknown field \"bogus\" (expected one of: myAsn, holdTime, addresses, enabled)"
        );
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let err = parse::<Peer>("myAsn: \"64512\"\n").unwrap_err();
        assert_eq!(err.message, "invalid type: string \"64512\", expected u32");
    }
}
