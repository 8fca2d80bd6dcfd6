//! Typed reads from the spanned YAML tree that record problems instead of stopping.
//!
//! Each reader returns `None` after recording a diagnostic, so decoding goes
//! on and every problem in the file is reported in one run.

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::span::{Span, Spanned, line_col};
use crate::yaml::{Node, Value};
use std::str::FromStr;

/// Decoding state: the source (for line numbers in hints) and the problems found.
pub(crate) struct Cx<'s> {
    pub src: &'s str,
    pub diags: Diagnostics,
}

impl<'s> Cx<'s> {
    pub fn new(src: &'s str) -> Self {
        Cx {
            src,
            diags: Diagnostics::default(),
        }
    }

    pub fn error(
        &mut self,
        code: &'static str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, span, message, label));
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// "line N" of a span, for hints that point at a second place.
    pub fn line_of(&self, span: Span) -> usize {
        line_col(self.src, span.start).0
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.error(
            "warren::wrong-type",
            node.span,
            format!("{what} must be {expected}, found {}", node.type_name()),
            format!("expected {expected}"),
        );
    }

    /// Reads a mapping with a fixed set of keys; unknown and repeated keys are reported.
    pub fn fields<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'a>> {
        self.fields_or_extensions(node, what, allowed, false)
    }

    /// As [`Cx::fields`], also accepting and skipping extension keys
    /// (`x-` followed by anything), the place for YAML anchors that compose
    /// files and lab files share.
    pub fn fields_with_extensions<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'a>> {
        self.fields_or_extensions(node, what, allowed, true)
    }

    fn fields_or_extensions<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: &[&str],
        extensions: bool,
    ) -> Option<Fields<'a>> {
        let entries = self.mapping(node, what)?;
        let mut out = Fields {
            entries: Vec::new(),
            span: node.span,
        };
        for (key, value) in entries {
            let name = key.as_str().unwrap_or("");
            if extensions && name.starts_with("x-") {
                continue;
            }
            if !allowed.contains(&name) {
                let mut d = Diagnostic::error(
                    "warren::unknown-key",
                    key.span,
                    format!("unknown key `{name}` in {what}"),
                    "unknown key",
                );
                d = match did_you_mean(name, allowed.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("expected one of: {}", allowed.join(", "))),
                };
                self.push(d);
                continue;
            }
            out.entries.push((name, key.span, value));
        }
        Some(out)
    }

    /// Reads a mapping with free keys; repeated keys are reported.
    pub fn mapping<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => {
                // First use of each key, in a map: a search of the keys
                // before each one made a 10,000-node lab quadratic.
                let mut seen = std::collections::HashMap::with_capacity(entries.len());
                for (i, (key, _)) in entries.iter().enumerate() {
                    let first = *seen.entry(key.as_str()).or_insert(i);
                    if first != i {
                        let first = &entries[first];
                        let line = self.line_of(first.0.span);
                        self.push(
                            Diagnostic::error(
                                "warren::duplicate-key",
                                key.span,
                                format!(
                                    "key `{}` appears twice in {what}",
                                    key.as_str().unwrap_or("")
                                ),
                                "repeated key",
                            )
                            .with_help(format!("first written on line {line}")),
                        );
                    }
                }
                Some(entries)
            }
            Value::Null => Some(&[]),
            _ => {
                self.wrong_type(node, what, "a mapping");
                None
            }
        }
    }

    /// Reads a list; null reads as an empty list.
    pub fn list<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            Value::Null => Some(&[]),
            _ => {
                self.wrong_type(node, what, "a list");
                None
            }
        }
    }

    /// Reads a scalar as text.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Scalar { text, .. } => Some(Spanned::new(text.clone(), node.span)),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    /// Reads a scalar and parses it; the parser's message becomes the error.
    pub fn parse<T: FromStr<Err = String>>(
        &mut self,
        node: &Node,
        what: &str,
    ) -> Option<Spanned<T>> {
        let s = self.string(node, what)?;
        match s.value.parse::<T>() {
            Ok(v) => Some(Spanned::new(v, s.span)),
            Err(msg) => {
                self.error(
                    "warren::bad-value",
                    s.span,
                    format!("invalid {what}: {msg}"),
                    "invalid value",
                );
                None
            }
        }
    }

    /// Reads an unsigned integer in `min..=max`.
    pub fn uint(&mut self, node: &Node, what: &str, min: u64, max: u64) -> Option<u64> {
        let s = self.string(node, what)?;
        match s.value.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.error(
                    "warren::bad-value",
                    s.span,
                    format!(
                        "invalid {what}: `{}` is not a whole number from {min} to {max}",
                        s.value
                    ),
                    "invalid value",
                );
                None
            }
        }
    }

    /// Reads a signed integer.
    pub fn int(&mut self, node: &Node, what: &str) -> Option<i32> {
        let s = self.string(node, what)?;
        match s.value.parse::<i32>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(
                    "warren::bad-value",
                    s.span,
                    format!("invalid {what}: `{}` is not a whole number", s.value),
                    "invalid value",
                );
                None
            }
        }
    }

    /// Reads `true` or `false`.
    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar { text, plain: true }
                if matches!(text.as_str(), "true" | "True" | "TRUE") =>
            {
                Some(true)
            }
            Value::Scalar { text, plain: true }
                if matches!(text.as_str(), "false" | "False" | "FALSE") =>
            {
                Some(false)
            }
            _ => {
                self.wrong_type(node, what, "true or false");
                None
            }
        }
    }

    /// Reads one of a fixed set of words.
    pub fn choice<T: Copy>(&mut self, node: &Node, what: &str, choices: &[(&str, T)]) -> Option<T> {
        let s = self.string(node, what)?;
        if let Some((_, v)) = choices.iter().find(|(n, _)| *n == s.value) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let mut d = Diagnostic::error(
            "warren::bad-value",
            s.span,
            format!("invalid {what} `{}`", s.value),
            "not one of the choices",
        );
        d = match did_you_mean(&s.value, names.iter().copied()) {
            Some(m) => d.with_help(format!("did you mean `{m}`? ({})", names.join(", "))),
            None => d.with_help(format!("expected one of: {}", names.join(", "))),
        };
        self.push(d);
        None
    }

    /// Reads a list of strings; a single string reads as a one-element list.
    pub fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Scalar { text, .. } => Some(vec![text.clone()]),
            _ => {
                let items = self.list(node, what)?;
                items
                    .iter()
                    .map(|i| self.string(i, what).map(|s| s.value))
                    .collect()
            }
        }
    }

    /// Reads a mapping of names to scalars, such as `env` and `sysctls`.
    pub fn string_map(&mut self, node: &Node, what: &str) -> Option<Vec<(String, String)>> {
        let entries = self.mapping(node, what)?;
        let mut out = Vec::new();
        for (k, v) in entries {
            let key = self.string(k, what)?.value;
            let value = match &v.value {
                Value::Null => String::new(),
                _ => self.string(v, what)?.value,
            };
            out.push((key, value));
        }
        Some(out)
    }
}

/// The known keys of one mapping, in file order.
pub(crate) struct Fields<'a> {
    entries: Vec<(&'a str, Span, &'a Node)>,
    /// Span of the whole mapping.
    pub span: Span,
}

impl<'a> Fields<'a> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// The keys present, with their spans.
    pub fn keys(&self) -> impl Iterator<Item = (&'a str, Span)> + '_ {
        self.entries.iter().map(|(k, s, _)| (*k, *s))
    }
}
