//! A YAML document as a tree of spanned nodes.
//!
//! The lab decoder walks this tree itself instead of going through serde, so
//! that it can report every problem in a file at once, each at its place.

use crate::diag::Diagnostic;
use crate::span::Span;
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// One node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where the node was written.
    pub span: Span,
}

/// The content of a YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all.
    Null,
    /// A scalar; `plain` is false when it was quoted or a block scalar.
    Scalar {
        /// The scalar's text.
        text: String,
        /// Written without quotes, so `true` and `12` are not strings.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's type for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Parses the first document of `text`. A syntax error is returned as a diagnostic.
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    let offsets = CharOffsets::new(text);
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        nodes: 0,
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let at = offsets.byte(e.marker().index());
            Diagnostic::error(
                "warren::yaml-syntax",
                Span::new(at, at + next_char_len(text, at)),
                format!("invalid YAML: {}", e.info()),
                "here",
            )
        })?;
        let span = Span::new(
            offsets.byte(span.start.index()),
            offsets.byte(span.end.index()),
        );
        builder.event(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        span: Span::new(0, 0),
    }))
}

fn next_char_len(text: &str, at: usize) -> usize {
    text[at.min(text.len())..]
        .chars()
        .next()
        .map_or(0, char::len_utf8)
}

/// Maps the parser's character indexes to byte offsets.
struct CharOffsets {
    /// Byte offset of every character, when the text is not pure ASCII.
    table: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let table = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        CharOffsets {
            table,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(t) => t.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

enum Open {
    Seq(Span, usize, Vec<Node>),
    Map(Span, usize, Vec<(Node, Node)>, Option<Node>),
}

struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    /// Nodes built so far, aliases counted at their expanded size.
    nodes: usize,
}

/// Most nodes a document may expand to; aliases of aliases grow
/// exponentially ("billion laughs"), and no lab needs this many.
const MAX_NODES: usize = 1_000_000;

fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

impl Builder {
    /// Feeds one event.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::error(
                        "warren::yaml-syntax",
                        span,
                        "a lab file holds one YAML document",
                        "a second document starts here",
                    ));
                }
            }
            Event::DocumentEnd => {}
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::Alias(id) => {
                let node = self.anchors.get(&id).ok_or_else(|| {
                    Diagnostic::error("warren::yaml-syntax", span, "unknown alias", "this alias")
                })?;
                self.nodes += size(node);
                if self.nodes > MAX_NODES {
                    return Err(Diagnostic::error(
                        "warren::yaml-syntax",
                        span,
                        format!("aliases expand the document past {MAX_NODES} nodes"),
                        "this alias",
                    ));
                }
                let node = node.clone();
                self.add(Node { span, ..node }, 0)?;
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let value = if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                self.add(Node { value, span }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(span, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(span, anchor, Vec::new(), None))
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(start, anchor, items)) = self.stack.pop() {
                    let node = Node {
                        value: Value::Seq(items),
                        span: Span::new(start.start, span.end.max(start.end)),
                    };
                    self.add(node, anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(start, anchor, entries, _)) = self.stack.pop() {
                    let node = Node {
                        value: Value::Map(entries),
                        span: Span::new(start.start, span.end.max(start.end)),
                    };
                    self.add(node, anchor)?;
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, pending)) => match pending.take() {
                None => {
                    if !matches!(node.value, Value::Scalar { .. } | Value::Null) {
                        return Err(Diagnostic::error(
                            "warren::yaml-syntax",
                            node.span,
                            "mapping keys must be plain text",
                            "complex key",
                        ));
                    }
                    *pending = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_byte_spans_of_scalars() {
        let text = "a: héllo\nb: [x, 'y']\n";
        let root = parse(text).expect("valid yaml");
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        let (_, b) = &entries[1];
        let Value::Seq(items) = &b.value else {
            panic!("not a seq")
        };
        assert_eq!(&text[items[0].span.start..items[0].span.end], "x");
        assert_eq!(items[1].as_str(), Some("y"));
        assert_eq!(entries[0].1.as_str(), Some("héllo"));
        assert_eq!(
            &text[entries[0].1.span.start..entries[0].1.span.end],
            "héllo"
        );
    }

    #[test]
    fn reports_syntax_errors_with_a_place() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("unclosed list");
        assert_eq!(err.code, "warren::yaml-syntax");
        assert!(err.span.is_some());
    }

    #[test]
    fn refuses_alias_bombs() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).expect_err("ten levels of ten aliases");
        assert!(err.message.contains("aliases expand"), "{}", err.message);
    }

    #[test]
    fn refuses_a_second_document() {
        let err = parse("name: x\n---\nname: y\n").expect_err("two documents");
        assert!(err.message.contains("one YAML document"), "{}", err.message);
    }

    #[test]
    fn resolves_aliases() {
        let root = parse("a: &x {k: 1}\nb: *x\n").expect("valid yaml");
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        assert!(matches!(entries[1].1.value, Value::Map(_)));
    }
}
