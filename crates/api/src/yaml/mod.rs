//! YAML documents as trees that remember the line of every node.
//!
//! The event parser is `saphyr-parser` (the maintained successor of
//! yaml-rust). Scalars keep their text and whether they were quoted, so the
//! deserializer in [`de`] resolves them the way the target type wants, as
//! Kubernetes' YAML-to-JSON step followed by JSON decoding would.

pub mod de;
mod fast;

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// A YAML node and the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node<'a> {
    /// 1-based line of the node's first character.
    pub line: u32,
    /// What the node holds.
    pub value: Value<'a>,
}

/// The content of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// A scalar: its text, and whether it was plain (unquoted, so `80`,
    /// `true` and `null` are not strings).
    Scalar {
        /// The scalar's text after unescaping.
        text: Cow<'a, str>,
        /// Written without quotes or block style.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node<'a>>),
    /// A mapping, in document order.
    Map(Vec<(Node<'a>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Whether the node is a YAML null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    /// The value under `key` when the node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// How many nodes this one holds, itself included.
    pub fn size(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }

    /// Calls `visit(path, line)` for this node and every node below it, with
    /// paths written as in diagnostics (`spec.addresses[0]`).
    pub fn walk(&self, path: &mut String, visit: &mut impl FnMut(&str, u32)) {
        match &self.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    visit(path, item.line);
                    item.walk(path, visit);
                    path.truncate(len);
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key.as_str().unwrap_or("?"));
                    visit(path, key.line);
                    value.walk(path, visit);
                    path.truncate(len);
                }
            }
        }
    }
}

/// The most nodes that aliases may copy in one stream.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// The deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 128;

/// Plain-scalar spellings of null in YAML 1.2's core schema.
pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A document that is not well-formed YAML.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// 1-based line of the problem.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl SyntaxError {
    fn shifted(mut self, lines: u32) -> Self {
        self.line += lines;
        self
    }
}

impl From<ScanError> for SyntaxError {
    fn from(e: ScanError) -> Self {
        SyntaxError {
            line: line_of(e.marker().line()),
            message: format!("invalid YAML: {} (column {})", e.info(), e.marker().col() + 1),
        }
    }
}

fn line_of(line: usize) -> u32 {
    u32::try_from(line).unwrap_or(u32::MAX)
}

/// Parses every document of a YAML stream. Documents before a syntax error
/// are returned together with the error; nothing after it can be trusted.
pub fn parse_documents(text: &str) -> (Vec<Node<'_>>, Option<SyntaxError>) {
    let mut documents = Vec::new();
    let error = for_each_document(text, |doc| documents.push(doc)).err();
    (documents, error)
}

/// Hands each document of a YAML stream to `handle` as soon as it is complete,
/// so a large stream never sits in memory as trees all at once.
pub fn for_each_document<'a>(text: &'a str, mut handle: impl FnMut(Node<'a>)) -> Result<(), SyntaxError> {
    match documents(text) {
        Some(documents) => {
            let mut first_error = None;
            for document in documents {
                if let Err(e) = document.parse(&mut handle) {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        }
        None => parse_full(text, 1, &mut handle),
    }
}

/// One document of a stream, not parsed yet.
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    /// The document's text, without its `---` line.
    pub text: &'a str,
    /// The stream line of its first line.
    pub first_line: u32,
}

impl<'a> Document<'a> {
    /// Parses the document (the plain block style through the fast reader,
    /// anything else through the full parser) and hands its node to `handle`;
    /// nothing for an empty document.
    pub fn parse(&self, handle: &mut impl FnMut(Node<'a>)) -> Result<(), SyntaxError> {
        match fast::parse_document(self.text, self.first_line) {
            Some(Some(node)) => {
                handle(node);
                Ok(())
            }
            Some(None) => Ok(()),
            None => parse_full(self.text, self.first_line, handle),
        }
    }
}

/// The documents of a stream with the line each starts on, split at `---`
/// lines (which YAML forbids inside any scalar, so the split is exact), to
/// parse one by one or on several threads.
/// `None` when the stream needs the full parser as a whole: directives,
/// `...` markers, content on a `---` line, a byte-order mark.
pub fn documents(text: &str) -> Option<Vec<Document<'_>>> {
    let bytes = text.as_bytes();
    let mut documents = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let (mut line_start, mut line_number) = (0, 1u32);
    // Only lines starting with one of these bytes matter; a 100k-Service file
    // has 700k lines, so each other line costs one look at its first byte.
    let mut newlines = memchr::memchr_iter(b'\n', bytes);
    loop {
        let newline = newlines.next();
        let end = newline.map_or(bytes.len(), |i| i + 1);
        if matches!(bytes.get(line_start), Some(b'%' | b'.' | b'-' | 0xEF)) {
            let content = text[line_start..end].trim_end_matches(['\n', '\r']);
            if content.starts_with(['%', '\u{feff}']) || content.starts_with("...") {
                return None;
            }
            if let Some(rest) =
                content.strip_prefix("---").filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
            {
                let rest = rest.trim_start_matches([' ', '\t']);
                if !(rest.is_empty() || rest.starts_with('#')) {
                    return None;
                }
                documents.push(Document { text: &text[start..line_start], first_line: start_line });
                start = end;
                start_line = line_number.checked_add(1)?;
            }
        }
        if newline.is_none() {
            break;
        }
        line_start = end;
        line_number = line_number.checked_add(1)?;
    }
    documents.push(Document { text: &text[start..], first_line: start_line });
    Some(documents)
}

/// Parses with the full YAML parser; `first_line` is the stream line of the
/// text's first line.
fn parse_full<'a>(
    text: &'a str,
    first_line: u32,
    handle: &mut impl FnMut(Node<'a>),
) -> Result<(), SyntaxError> {
    let mut builder = Builder {
        handle,
        stack: Vec::new(),
        pending_keys: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        line_offset: first_line - 1,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxError::from(e).shifted(first_line - 1))?;
        builder.event(event, span)?;
    }
    Ok(())
}

/// Assembles nodes from parser events.
struct Builder<'a, F> {
    handle: F,
    /// Added to every line: the text parsed may start inside a stream.
    line_offset: u32,
    /// Open sequences and mappings, innermost last, with their anchor id.
    stack: Vec<(Node<'a>, usize)>,
    /// A mapping key waiting for its value, per open mapping.
    pending_keys: Vec<Option<Node<'a>>>,
    /// Anchored nodes, with how many nodes each holds.
    anchors: HashMap<usize, (Node<'a>, usize)>,
    /// Nodes copied by aliases so far, bounded by [`MAX_ALIAS_NODES`].
    expanded: usize,
}

impl<'a, F: FnMut(Node<'a>)> Builder<'a, F> {
    fn event(&mut self, event: Event<'a>, span: Span) -> Result<(), SyntaxError> {
        let line = line_of(span.start.line()) + self.line_offset;
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let node = Node { line, value: Value::Scalar { text, plain } };
                self.remember(anchor, &node);
                self.push(node)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.check_depth(line)?;
                self.stack.push((Node { line, value: Value::Seq(Vec::new()) }, anchor));
                self.pending_keys.push(None);
            }
            Event::MappingStart(anchor, _) => {
                self.check_depth(line)?;
                self.stack.push((Node { line, value: Value::Map(Vec::new()) }, anchor));
                self.pending_keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.pending_keys.pop();
                if let Some((mut node, anchor)) = self.stack.pop() {
                    merge_keys(&mut node);
                    self.remember(anchor, &node);
                    self.push(node)?;
                }
            }
            Event::Alias(id) => {
                let (node, size) = self.anchors.get(&id).cloned().ok_or_else(|| SyntaxError {
                    line,
                    message: "invalid YAML: alias to an unknown anchor".into(),
                })?;
                // Aliases of aliases grow exponentially ("billion laughs").
                self.expanded += size;
                if self.expanded > MAX_ALIAS_NODES {
                    return Err(SyntaxError {
                        line,
                        message: format!(
                            "invalid YAML: aliases expand to more than {MAX_ALIAS_NODES} nodes (expected a Kubernetes object)"
                        ),
                    });
                }
                self.push(node)?;
            }
            Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => {
                if matches!(event, Event::DocumentStart(_)) {
                    self.anchors.clear();
                }
            }
        }
        Ok(())
    }

    /// Refuses nesting deeper than [`MAX_DEPTH`]: no configuration needs it,
    /// and dropping or walking such a tree would exhaust the stack.
    fn check_depth(&self, line: u32) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError {
                line,
                message: format!(
                    "invalid YAML: nested deeper than {MAX_DEPTH} levels (expected a Kubernetes object)"
                ),
            });
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node<'a>) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), node.size()));
        }
    }

    /// Attaches a finished node to the open collection, or ends a document.
    fn push(&mut self, node: Node<'a>) -> Result<(), SyntaxError> {
        let Some((parent, _)) = self.stack.last_mut() else {
            (self.handle)(node);
            return Ok(());
        };
        match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => {
                let pending = self.pending_keys.last_mut().expect("one pending slot per open collection");
                match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => {
                        if let Some(name) = key.as_str()
                            && let Some((first, _)) =
                                entries.iter().find(|(k, _)| k.as_str() == Some(name) && name != "<<")
                        {
                            return Err(SyntaxError {
                                line: key.line,
                                message: format!("duplicate key {name:?} (first on line {})", first.line),
                            });
                        }
                        entries.push((key, node));
                    }
                }
            }
            Value::Scalar { .. } => unreachable!("only collections are stacked"),
        }
        Ok(())
    }
}

/// Applies YAML merge keys (`<<: *base`), which Kubernetes' YAML reader honours:
/// keys of the merged mappings are added unless the mapping has them already.
fn merge_keys(node: &mut Node<'_>) {
    let Value::Map(entries) = &mut node.value else { return };
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) =
        std::mem::take(entries).into_iter().partition(|(k, _)| is_merge_key(k));
    for (_, source) in merges {
        let sources = match source.value {
            Value::Seq(items) => items,
            other => vec![Node { line: source.line, value: other }],
        };
        for source in sources {
            if let Value::Map(inherited) = source.value {
                for (k, v) in inherited {
                    if !own.iter().any(|(o, _)| o.as_str() == k.as_str()) {
                        own.push((k, v));
                    }
                }
            }
        }
    }
    *entries = own;
}

fn is_merge_key(key: &Node<'_>) -> bool {
    matches!(&key.value, Value::Scalar { text, plain: true } if text == "<<")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar<'n>(node: &'n Node<'_>) -> (&'n str, u32) {
        (node.as_str().unwrap(), node.line)
    }

    #[test]
    fn every_node_knows_its_line() {
        let (docs, err) = parse_documents("a: 1\nb:\n  - x\n  - 'y'\n---\nc: {d: e}\n");
        assert_eq!(err, None);
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        let Value::Seq(items) = &b.value else { panic!("b is a sequence") };
        assert_eq!(scalar(&items[1]), ("y", 4));
        assert_eq!(items[1].value, Value::Scalar { text: "y".into(), plain: false });
        assert_eq!(scalar(docs[1].get("c").unwrap().get("d").unwrap()), ("e", 6));
    }

    #[test]
    fn walk_yields_paths_and_lines() {
        let (docs, _) = parse_documents("spec:\n  addresses:\n  - 192.0.2.0/28\n  - 192.0.2.64/28\n");
        let mut seen = Vec::new();
        docs[0].walk(&mut String::new(), &mut |p, l| seen.push((p.to_owned(), l)));
        assert_eq!(
            seen,
            [
                ("spec".to_owned(), 1),
                ("spec.addresses".to_owned(), 2),
                ("spec.addresses[0]".to_owned(), 3),
                ("spec.addresses[1]".to_owned(), 4)
            ]
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let (_, err) = parse_documents("a: 1\nb: 2\na: 3\n");
        assert_eq!(
            err,
            Some(SyntaxError { line: 3, message: "duplicate key \"a\" (first on line 1)".into() })
        );
    }

    #[test]
    fn syntax_error_keeps_earlier_documents() {
        let (docs, err) = parse_documents("a: 1\n---\nb: [1, 2\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(err.unwrap().line, 4);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let (_, err) = parse_documents(&text);
        assert!(err.unwrap().message.contains("aliases expand to more than"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let (docs, err) = parse_documents("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n");
        assert_eq!(err, None);
        let used = docs[0].get("use").unwrap();
        assert_eq!(used.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(used.get("y").unwrap().as_str(), Some("3"));
    }

    /// The splitter as first written, line by line: [`documents`] must
    /// split every stream exactly as it does.
    fn documents_line_by_line(text: &str) -> Option<Vec<(&str, u32)>> {
        let mut documents = Vec::new();
        let (mut start, mut start_line, mut offset) = (0, 1, 0);
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let line_number = u32::try_from(i).ok()? + 1;
            let content = line.trim_end_matches(['\n', '\r']);
            if content.starts_with(['%', '\u{feff}']) || content.starts_with("...") {
                return None;
            }
            if let Some(rest) =
                content.strip_prefix("---").filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
            {
                if !matches!(rest.trim_start_matches([' ', '\t']).chars().next(), None | Some('#')) {
                    return None;
                }
                documents.push((&text[start..offset], start_line));
                start = offset + line.len();
                start_line = line_number + 1;
            }
            offset += line.len();
        }
        documents.push((&text[start..], start_line));
        Some(documents)
    }

    proptest::proptest! {
        #[test]
        fn documents_split_as_line_by_line(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("---".to_owned()),
                    proptest::strategy::Just("--- # c".to_owned()),
                    proptest::strategy::Just("--- x".to_owned()),
                    proptest::strategy::Just("---x".to_owned()),
                    proptest::strategy::Just("...".to_owned()),
                    proptest::strategy::Just("%YAML 1.2".to_owned()),
                    proptest::strategy::Just("\u{feff}a: 1".to_owned()),
                    "[a-z: -]{0,8}",
                ],
                0..20,
            ),
            crlf in proptest::bool::ANY,
            trailing_newline in proptest::bool::ANY,
        ) {
            let mut text = lines.join(if crlf { "\r\n" } else { "\n" });
            if trailing_newline {
                text.push('\n');
            }
            let fast = documents(&text).map(|d| d.iter().map(|d| (d.text, d.first_line)).collect::<Vec<_>>());
            proptest::prop_assert_eq!(fast, documents_line_by_line(&text));
        }
    }
}
