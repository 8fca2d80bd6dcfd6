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
                        value: Value::Map(merge_keys(entries)?),
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

/// True for the YAML merge key: a plain `<<`, not a quoted one.
fn is_merge_key(key: &Node) -> bool {
    matches!(&key.value, Value::Scalar { text, plain: true } if text == "<<")
}

/// Expands YAML merge keys (`<<: *base`, `<<: [*a, *b]`) in one mapping's
/// entries. The mapping's own keys win over merged ones, and an earlier map
/// of a merge list wins over a later one, as the YAML merge type says.
/// Merged entries keep the spans where they were written, so errors inside
/// them point into the anchored map.
fn merge_keys(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, Diagnostic> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(entries);
    }
    let mut own = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (key, value) in entries {
        if !is_merge_key(&key) {
            own.push((key, value));
            continue;
        }
        let maps = match value.value {
            Value::Map(pairs) => vec![pairs],
            Value::Seq(items) => items
                .into_iter()
                .map(|item| match item.value {
                    Value::Map(pairs) => Ok(pairs),
                    _ => Err(not_a_map(item.span)),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(not_a_map(value.span)),
        };
        for (k, v) in maps.into_iter().flatten() {
            if !merged.iter().any(|(m, _)| m.as_str() == k.as_str()) {
                merged.push((k, v));
            }
        }
    }
    merged.retain(|(k, _)| !own.iter().any(|(o, _)| o.as_str() == k.as_str()));
    merged.extend(own);
    Ok(merged)
}

fn not_a_map(span: Span) -> Diagnostic {
    Diagnostic::error(
        "warren::yaml-syntax",
        span,
        "a merge key `<<` takes a mapping or a list of mappings",
        "not a mapping",
    )
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

    fn entries(node: &Node) -> Vec<(String, String)> {
        let Value::Map(pairs) = &node.value else {
            panic!("not a map")
        };
        pairs
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .map_or_else(|| v.type_name().to_string(), str::to_string);
                (k.as_str().unwrap_or_default().to_string(), v)
            })
            .collect()
    }

    #[test]
    fn merge_keys_let_own_keys_win_and_earlier_maps_win() {
        let text = "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: own\n";
        let root = parse(text).expect("valid yaml");
        let Value::Map(top) = &root.value else {
            panic!("not a map")
        };
        let c = entries(&top[2].1);
        let get = |k: &str| c.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("x"), Some("own"));
        assert_eq!(get("y"), Some("1"), "the first map of the list wins");
        assert_eq!(get("z"), Some("2"));
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(c.iter().all(|(k, _)| k != "<<"));
    }

    #[test]
    fn merged_values_keep_the_place_they_were_written() {
        let text = "base: &base\n  image: alpine\nsvc:\n  <<: *base\n";
        let root = parse(text).expect("valid yaml");
        let Value::Map(top) = &root.value else {
            panic!("not a map")
        };
        let Value::Map(svc) = &top[1].1.value else {
            panic!("not a map")
        };
        let image = &svc[0].1;
        assert_eq!(crate::span::line_col(text, image.span.start), (2, 10));
    }

    #[test]
    fn quoted_merge_key_is_an_ordinary_key_and_bad_merges_are_errors() {
        let root = parse("a: {'<<': 1}\n").expect("valid yaml");
        let Value::Map(top) = &root.value else {
            panic!("not a map")
        };
        assert_eq!(
            entries(&top[0].1),
            vec![("<<".to_string(), "1".to_string())]
        );
        let err = parse("a: {<<: 1}\n").expect_err("merge of a scalar");
        assert!(err.message.contains("merge key"), "{}", err.message);
        let err =
            parse("a: &a {k: 1}\nb: {<<: [*a, 2]}\n").expect_err("merge of a list with a scalar");
        assert!(err.message.contains("merge key"), "{}", err.message);
    }
}
