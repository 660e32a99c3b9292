//! A fast reader for the plain block style that nearly every Kubernetes
//! manifest is written in, producing the same [`Node`] trees as the full
//! parser.
//!
//! Why: the full YAML parser reads about 15 MB/s on a small machine, and a
//! standalone file for a large cluster (100k Services, ~25 MB) must load in
//! well under a second. This reader handles block mappings and sequences,
//! single-line plain and quoted scalars, single-line flow collections and
//! comments, and gives up (`None`) on anything else (anchors, tags, block
//! scalars, multi-line scalars, odd indentation, duplicate keys...), so the
//! caller falls back to the full parser for that document. A property test
//! checks that both agree wherever this one answers.

use std::borrow::Cow;

use super::{MAX_DEPTH, Node, Value};

/// One non-blank line of a document, comment removed.
#[derive(Clone, Copy)]
struct Line<'a> {
    /// Column of the first character of `text`.
    indent: usize,
    /// The content, without indentation, comment or trailing spaces.
    text: &'a str,
    /// 1-based line number in the whole stream.
    number: u32,
}

/// Parses one document (the text between two `---` lines) whose first line
/// is line `first_line` of the stream. `None` when the document uses YAML
/// this reader leaves to the full parser, or is not well-formed.
pub(super) fn parse_document(text: &str, first_line: u32) -> Option<Option<Node<'_>>> {
    // Lines of a Service document average some 20 bytes: one allocation.
    let mut lines = Vec::with_capacity(text.len() / 16 + 1);
    for (i, raw) in text.lines().enumerate() {
        let number = first_line + u32::try_from(i).ok()?;
        let content = raw.trim_start_matches(' ');
        if content.starts_with('\t') {
            return None;
        }
        let text = strip_comment(content)?.trim_end_matches([' ', '\t', '\r']);
        if !text.is_empty() {
            lines.push(Line { indent: raw.len() - content.len(), text, number });
        }
    }
    let Some(indent) = lines.first().map(|l| l.indent) else { return Some(None) };
    let mut reader = Reader { lines, next: 0, depth: 0 };
    let node = reader.block(indent)?;
    (reader.next == reader.lines.len()).then_some(Some(node))
}

/// The content before a comment (`#` at the start or after a space, outside
/// quotes). `None` when a quote is left open at the end of the line.
fn strip_comment(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    // Most lines have neither a comment nor a quote: one vectorised look.
    if memchr::memchr3(b'#', b'"', b'\'', bytes).is_none() {
        return Some(text);
    }
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(b'"') if b == b'\\' => i += 1,
            Some(_) => {}
            // A quote opens a quoted scalar only where a scalar can start.
            None if (b == b'"' || b == b'\'') && starts_scalar(bytes, i) => quote = Some(b),
            None if b == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') => {
                return Some(&text[..i]);
            }
            None => {}
        }
        i += 1;
    }
    quote.is_none().then_some(text)
}

/// Whether position `i` can begin a scalar: line start, or after a space or
/// a flow indicator.
fn starts_scalar(bytes: &[u8], i: usize) -> bool {
    i == 0 || matches!(bytes[i - 1], b' ' | b'[' | b'{' | b',')
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    next: usize,
    /// Block collections open; past [`MAX_DEPTH`] the full parser decides.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.next).copied()
    }

    /// A block node whose lines start at column `indent`.
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        let line = self.peek()?;
        if line.indent != indent || self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let node = if is_item(line.text) { self.sequence(indent) } else { self.mapping(indent) };
        self.depth -= 1;
        node
    }

    fn sequence(&mut self, indent: usize) -> Option<Node<'a>> {
        let start = self.peek()?.number;
        let mut items = Vec::new();
        while let Some(line) = self.peek().filter(|l| l.indent == indent && is_item(l.text)) {
            let rest = line.text[1..].trim_start_matches(' ');
            if rest.is_empty() {
                self.next += 1;
                items.push(self.nested_or_null(indent, line.number, false)?);
            } else {
                // `- key: value` or `- - x`: a block node that starts on this
                // line, at the column of its first character.
                let column = indent + (line.text.len() - rest.len());
                if is_item(rest) || split_key(rest).is_some() {
                    self.lines[self.next] = Line { indent: column, text: rest, number: line.number };
                    items.push(self.block(column)?);
                } else {
                    self.next += 1;
                    items.push(inline(rest, line.number)?);
                    self.forbid_continuation(indent)?;
                }
            }
        }
        Some(Node { line: start, value: Value::Seq(items) })
    }

    fn mapping(&mut self, indent: usize) -> Option<Node<'a>> {
        let start = self.peek()?.number;
        let mut entries: Vec<(Node<'a>, Node<'a>)> = Vec::new();
        while let Some(line) = self.peek().filter(|l| l.indent == indent && !is_item(l.text)) {
            let (key, rest) = split_key(line.text)?;
            if (key.plain && key.text == "<<") || entries.iter().any(|(k, _)| k.as_str() == Some(&key.text)) {
                return None; // merge keys and duplicates: the full parser's business
            }
            let key_node =
                Node { line: line.number, value: Value::Scalar { text: key.text, plain: key.plain } };
            self.next += 1;
            let value = if rest.is_empty() {
                self.nested_or_null(indent, line.number, true)?
            } else {
                let value = inline(rest, line.number)?;
                self.forbid_continuation(indent)?;
                value
            };
            entries.push((key_node, value));
        }
        Some(Node { line: start, value: Value::Map(entries) })
    }

    /// The value of a key or item with nothing after it on its line: a block
    /// indented deeper, a sequence at the same column (`key:` then `- x`,
    /// allowed for mapping values), or null.
    fn nested_or_null(&mut self, indent: usize, line: u32, in_mapping: bool) -> Option<Node<'a>> {
        match self.peek() {
            Some(next) if next.indent > indent => self.block(next.indent),
            Some(next) if in_mapping && next.indent == indent && is_item(next.text) => self.sequence(indent),
            _ => Some(Node { line, value: Value::Scalar { text: Cow::Borrowed(""), plain: true } }),
        }
    }

    /// After a value that ends on its line, a deeper line would continue a
    /// multi-line scalar: left to the full parser.
    fn forbid_continuation(&self, indent: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// A mapping key as written.
struct Key<'a> {
    text: Cow<'a, str>,
    plain: bool,
}

/// Splits `key: value` (or `key:`), `None` when the line is not a simple
/// mapping entry.
fn split_key(text: &str) -> Option<(Key<'_>, &str)> {
    let (key, rest) = if text.starts_with(['"', '\'']) {
        let (value, len) = quoted(text)?;
        (Key { text: value, plain: false }, &text[len..])
    } else {
        let colon = find_mapping_colon(text)?;
        let key = text[..colon].trim_end_matches(' ');
        if key.is_empty() || !plain_can_start(key) {
            return None;
        }
        (Key { text: Cow::Borrowed(key), plain: true }, &text[colon..])
    };
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// The first `:` followed by a space or the end of the line.
fn find_mapping_colon(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b':', bytes).find(|&i| matches!(bytes.get(i + 1), None | Some(b' ')))
}

/// Whether a plain scalar may start this way (no indicator characters).
fn plain_can_start(text: &str) -> bool {
    let Some(&first) = text.as_bytes().first() else { return false };
    match first {
        b'[' | b']' | b'{' | b'}' | b',' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%'
        | b'@' | b'`' => false,
        b'-' | b'?' | b':' => text.len() > 1 && text.as_bytes()[1] != b' ',
        _ => true,
    }
}

/// A value that fits on its line: a quoted or plain scalar, or a flow collection.
fn inline(text: &str, line: u32) -> Option<Node<'_>> {
    match text.as_bytes()[0] {
        b'"' | b'\'' => {
            let (value, len) = quoted(text)?;
            (len == text.len()).then_some(Node { line, value: Value::Scalar { text: value, plain: false } })
        }
        b'[' | b'{' => {
            let mut flow = Flow { text: text.as_bytes(), src: text, pos: 0, line, depth: 0 };
            let node = flow.node()?;
            flow.skip_spaces();
            (flow.pos == text.len()).then_some(node)
        }
        _ if plain_can_start(text) && find_mapping_colon(text).is_none() => {
            Some(Node { line, value: Value::Scalar { text: Cow::Borrowed(text), plain: true } })
        }
        _ => None,
    }
}

/// A quoted scalar at the start of `text`: its value and its length as written.
fn quoted(text: &str) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    let quote = bytes[0];
    let mut value: Option<String> = None; // only once an escape forces a copy
    let mut i = 1;
    let mut run = 1; // start of the current run of literal characters
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if quote == b'\'' => {
                if bytes.get(i + 1) == Some(&b'\'') {
                    let v = value.get_or_insert_with(String::new);
                    v.push_str(&text[run..i]);
                    v.push('\'');
                    i += 2;
                    run = i;
                    continue;
                }
                return Some((finish(text, value, run, i), i + 1));
            }
            b'"' if quote == b'"' => return Some((finish(text, value, run, i), i + 1)),
            b'\\' if quote == b'"' => {
                let v = value.get_or_insert_with(String::new);
                v.push_str(&text[run..i]);
                v.push(match bytes.get(i + 1)? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'n' => '\n',
                    b't' => '\t',
                    b'r' => '\r',
                    b'0' => '\0',
                    b' ' => ' ',
                    _ => return None,
                });
                i += 2;
                run = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of a quoted scalar ending at `end`: borrowed when nothing was
/// unescaped, else the copy with its last run of literal characters.
fn finish(text: &str, value: Option<String>, run: usize, end: usize) -> Cow<'_, str> {
    match value {
        None => Cow::Borrowed(&text[run..end]),
        Some(mut v) => {
            v.push_str(&text[run..end]);
            Cow::Owned(v)
        }
    }
}

/// A flow collection (`[a, b]`, `{k: v}`) that opens and closes on one line.
struct Flow<'a> {
    text: &'a [u8],
    src: &'a str,
    pos: usize,
    line: u32,
    /// Collections open on this line.
    depth: usize,
}

impl<'a> Flow<'a> {
    fn skip_spaces(&mut self) {
        while self.text.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn node(&mut self) -> Option<Node<'a>> {
        self.skip_spaces();
        match *self.text.get(self.pos)? {
            b'[' => self.collection(b']'),
            b'{' => self.collection(b'}'),
            b'"' | b'\'' => {
                let (text, len) = quoted(&self.src[self.pos..])?;
                self.pos += len;
                Some(Node { line: self.line, value: Value::Scalar { text, plain: false } })
            }
            _ => self.plain(),
        }
    }

    fn plain(&mut self) -> Option<Node<'a>> {
        let start = self.pos;
        while let Some(&b) = self.text.get(self.pos) {
            let ends_key =
                b == b':' && matches!(self.text.get(self.pos + 1), None | Some(b' ' | b',' | b']' | b'}'));
            if matches!(b, b',' | b'[' | b']' | b'{' | b'}') || ends_key {
                break;
            }
            self.pos += 1;
        }
        let text = self.src[start..self.pos].trim_end_matches(' ');
        (!text.is_empty() && plain_can_start(text)).then_some(Node {
            line: self.line,
            value: Value::Scalar { text: Cow::Borrowed(text), plain: true },
        })
    }

    /// A sequence (closed by `]`) or a mapping (closed by `}`).
    fn collection(&mut self, close: u8) -> Option<Node<'a>> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let node = self.collection_body(close);
        self.depth -= 1;
        node
    }

    fn collection_body(&mut self, close: u8) -> Option<Node<'a>> {
        self.pos += 1;
        let mut items = Vec::new();
        let mut entries: Vec<(Node<'a>, Node<'a>)> = Vec::new();
        loop {
            self.skip_spaces();
            if self.text.get(self.pos) == Some(&close) {
                self.pos += 1;
                break;
            }
            let first = self.node()?;
            self.skip_spaces();
            if close == b'}' {
                if self.text.get(self.pos) != Some(&b':') || first.as_str().is_none() {
                    return None;
                }
                self.pos += 1;
                self.skip_spaces();
                let value = if matches!(self.text.get(self.pos), Some(b',' | b'}')) {
                    Node { line: self.line, value: Value::Scalar { text: Cow::Borrowed(""), plain: true } }
                } else {
                    self.node()?
                };
                if entries.iter().any(|(k, _)| k.as_str() == first.as_str()) {
                    return None;
                }
                entries.push((first, value));
            } else {
                if self.text.get(self.pos) == Some(&b':') {
                    return None; // `[a: b]`, a single-pair mapping
                }
                items.push(first);
            }
            self.skip_spaces();
            match self.text.get(self.pos)? {
                b',' => self.pos += 1,
                &b if b == close => {}
                _ => return None,
            }
        }
        let value = if close == b'}' { Value::Map(entries) } else { Value::Seq(items) };
        Some(Node { line: self.line, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The full parser's reading of `text` (one document), if it is YAML.
    fn full(text: &str) -> Option<Option<Node<'_>>> {
        let mut docs = Vec::new();
        super::super::parse_full(text, 1, &mut |d| docs.push(d)).ok()?;
        match docs.len() {
            0 => Some(None),
            1 => Some(docs.pop()),
            _ => None,
        }
    }

    /// Same shape, text and lines; the line of an implicit null is not compared.
    fn same(a: &Node, b: &Node) -> bool {
        if a.is_null() && b.is_null() {
            return true;
        }
        a.line == b.line
            && match (&a.value, &b.value) {
                (Value::Scalar { .. }, Value::Scalar { .. }) => a.value == b.value,
                (Value::Seq(x), Value::Seq(y)) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
                }
                (Value::Map(x), Value::Map(y)) => {
                    x.len() == y.len()
                        && x.iter().zip(y).all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
                }
                _ => false,
            }
    }

    fn agrees(text: &str) -> Result<(), TestCaseError> {
        if let Some(fast) = parse_document(text, 1) {
            let Some(full) = full(text) else {
                return Err(TestCaseError::fail(format!("fast reader accepted invalid YAML:\n{text}")));
            };
            let equal = match (&fast, &full) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a, b),
                (None, Some(b)) => b.is_null(),
                _ => false,
            };
            prop_assert!(equal, "readings differ for:\n{text}\nfast: {fast:?}\nfull: {full:?}");
        }
        Ok(())
    }

    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web  # the front\n  namespace: default\n  annotations:\n    metallb.io/allow-shared-ip: \"dns\"\n    metallb.io/loadBalancerIPs: '192.0.2.1, 2001:db8::1'\nspec:\n  type: LoadBalancer\n  ipFamilies: [IPv4, \"IPv6\"]\n  ports:\n  - name: http\n    port: 80\n  -   port: 443\n      protocol: TCP\n  selector: {app: web, tier: ''}\n  list:\n  - - a\n    - b\n  -\n    c: d\n  empty:\n  seq-at-key-column:\n  - x\n";

    #[test]
    fn a_typical_manifest_takes_the_fast_path_and_agrees() {
        let fast = parse_document(SERVICE, 1).expect("plain block style is read fast").unwrap();
        assert!(same(&fast, &full(SERVICE).unwrap().unwrap()));
    }

    #[test]
    fn unusual_yaml_is_left_to_the_full_parser() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "a: |\n  text\n",
            "a: multi\n  line\n",
            "a: [1,\n  2]\n",
            "a: 1\na: 2\n",
            "<<: {a: 1}\n",
            "a: 'open\n",
            "\ta: 1\n",
            "? complex\n: key\n",
            "- a\nb: c\n",
        ] {
            assert!(parse_document(text, 1).is_none(), "{text:?}");
        }
    }

    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "a",
            "\"x\\ty\"",
            "key",
            "b c",
            "80",
            "-1",
            "0x1F",
            "true",
            "~",
            "null",
            "",
            "192.0.2.1",
            "2001:db8::",
            "2001:db8::/64",
            "http://x",
            "a:b",
            "a: b",
            "a #c",
            "#c",
            "'q'",
            "'it''s'",
            "\"d\"",
            "\"e\\\"f\"",
            "\"\\q\"",
            "[a, b]",
            "[a, [b]]",
            "{a: 1}",
            "{a: 1, b: [2]}",
            "{a}",
            "[a: 1]",
            "[a,]",
            "[",
            "]",
            "{",
            "- x",
            "-",
            "&a x",
            "*a",
            "!t x",
            "|",
            ">",
            "?",
            "@x",
            "`x",
            "%x",
            ",",
            "-x",
            ":x",
            "a:",
            "'",
            "\"",
            "'a' b",
            "\"a\" b",
            "x # y",
            "x#y",
        ])
    }

    fn line() -> impl Strategy<Value = String> {
        (
            0usize..7,
            prop::sample::select(vec!["k: ", "- ", "", "k:", "- k: ", "-", "'q k': ", "\"d\": "]),
            token(),
        )
            .prop_map(|(indent, lead, tok)| format!("{}{lead}{tok}", " ".repeat(indent)))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn fast_reader_agrees_with_the_full_parser(lines in prop::collection::vec(line(), 1..8)) {
            agrees(&(lines.join("\n") + "\n"))?;
        }
    }
}
