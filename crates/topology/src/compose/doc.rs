//! Compose and network files read into a tree whose every value remembers
//! the file, line and column it was written at, interpolated value by value,
//! and several compose files merged as Compose merges them.

use super::interpolate;
use crate::yaml;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// Where a value was written: `FILE:LINE:COLUMN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    file: Rc<str>,
    line: usize,
    column: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A value of a compose or network file with its place.
#[derive(Debug, Clone)]
pub(super) struct Doc {
    pub(super) at: Place,
    pub(super) kind: Kind,
}

/// What a [`Doc`] holds; every scalar is text, as conlink and Compose read them.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    Null,
    Str(String),
    List(Vec<Doc>),
    /// Entries in file order: key, the key's place, value.
    Map(Vec<(String, Place, Doc)>),
}

/// Reads `text` (named `file` in messages) into a [`Doc`], interpolating
/// every scalar value (not keys) from `env`. Problems go to `errors`, each
/// once at its place; names used but unset go to `unset`.
pub(super) fn read(
    file: &str,
    text: &str,
    env: &BTreeMap<String, String>,
    errors: &mut Vec<String>,
    unset: &mut Vec<String>,
) -> Option<Doc> {
    let file: Rc<str> = file.into();
    let place = |offset: usize| {
        let (line, column) = crate::span::line_col(text, offset);
        Place {
            file: file.clone(),
            line,
            column,
        }
    };
    match yaml::parse(text) {
        Ok(root) => Some(build(&root, text, env, &place, errors, unset)),
        Err(d) => {
            let at = d.span.map_or(0, |s| s.start);
            errors.push(format!("{}: {}", place(at), d.message));
            None
        }
    }
}

fn build(
    node: &yaml::Node,
    text: &str,
    env: &BTreeMap<String, String>,
    place: &dyn Fn(usize) -> Place,
    errors: &mut Vec<String>,
    unset: &mut Vec<String>,
) -> Doc {
    let at = place(node.span.start);
    let kind = match &node.value {
        yaml::Value::Null => Kind::Null,
        yaml::Value::Scalar { text: s, plain } => match interpolate::interpolate(s, env) {
            Ok(out) => {
                unset.extend(out.unset);
                Kind::Str(out.text)
            }
            Err(e) => {
                // A plain scalar is its own text, so the offset of the
                // failing `$` lands on it; in quoted text, on the value.
                let written = text.get(node.span.start..node.span.end) == Some(s.as_str());
                let offset = node.span.start + if *plain && written { e.offset } else { 0 };
                errors.push(format!("{}: {}", place(offset), e.reason));
                Kind::Str(String::new())
            }
        },
        yaml::Value::Seq(items) => Kind::List(
            items
                .iter()
                .map(|i| build(i, text, env, place, errors, unset))
                .collect(),
        ),
        yaml::Value::Map(pairs) => Kind::Map(
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap_or_default().to_string(),
                        place(k.span.start),
                        build(v, text, env, place, errors, unset),
                    )
                })
                .collect(),
        ),
    };
    Doc { at, kind }
}

impl Doc {
    /// The value at `key` of a mapping.
    pub(super) fn get(&self, key: &str) -> Option<&Doc> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub(super) fn str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as JSON (scalars as text) and the place of every value
    /// below it by JSON pointer (`/services/a/image`).
    pub(super) fn flatten(&self) -> (Value, BTreeMap<String, Place>) {
        let mut places = BTreeMap::new();
        let value = self.json("", &mut places);
        (value, places)
    }

    fn json(&self, pointer: &str, places: &mut BTreeMap<String, Place>) -> Value {
        places.insert(pointer.to_string(), self.at.clone());
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Str(s) => Value::String(s.clone()),
            Kind::List(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, d)| d.json(&format!("{pointer}/{i}"), places))
                    .collect(),
            ),
            Kind::Map(entries) => {
                let mut m = Map::new();
                for (k, _, v) in entries {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    m.insert(k.clone(), v.json(&format!("{pointer}/{key}"), places));
                }
                Value::Object(m)
            }
        }
    }
}

/// Service keys whose list, when a later file sets it, replaces the
/// earlier one instead of being appended to (the compose merge rules).
const REPLACED: &[&str] = &["command", "entrypoint", "test", "dns", "dns_search"];
/// Service keys written as a list of `KEY=VALUE` or a mapping, merged by key.
const KEYED: &[&str] = &["environment", "sysctls", "labels", "extra_hosts"];

/// Merges `over` (a later compose file) into `base` as Compose does:
/// mappings key by key, lists appended except the ones a later file
/// replaces, `environment`-style lists by key, `volumes` by target path,
/// scalars replaced.
pub(super) fn merge(base: &mut Doc, over: Doc, key: &str) {
    match (&mut base.kind, over.kind) {
        (Kind::Map(entries), Kind::Map(more)) => {
            for (k, kat, v) in more {
                match entries.iter_mut().find(|(e, _, _)| *e == k) {
                    Some((_, _, old)) => merge(old, v, &k),
                    None => entries.push((k, kat, v)),
                }
            }
        }
        (_, kind) if KEYED.contains(&key) => {
            let old = std::mem::replace(&mut base.kind, Kind::Null);
            let mut entries = keyed(old);
            for (k, kat, v) in keyed(kind) {
                entries.retain(|(e, _, _)| *e != k);
                entries.push((k, kat, v));
            }
            base.kind = Kind::Map(entries);
            base.at = over.at;
        }
        (Kind::List(items), Kind::List(more)) if !REPLACED.contains(&key) => {
            for item in more {
                let target = volume_target(&item);
                match items
                    .iter_mut()
                    .find(|i| key == "volumes" && target.is_some() && volume_target(i) == target)
                {
                    Some(old) => *old = item,
                    None => items.push(item),
                }
            }
        }
        (_, kind) => {
            base.kind = kind;
            base.at = over.at;
        }
    }
}

/// A `KEY=VALUE` list or a mapping as mapping entries.
fn keyed(kind: Kind) -> Vec<(String, Place, Doc)> {
    match kind {
        Kind::Map(entries) => entries,
        Kind::List(items) => items
            .into_iter()
            .filter_map(|d| {
                let s = d.str()?.to_string();
                let (k, v) = match s.split_once(['=', ':']) {
                    Some((k, v)) => (k.to_string(), Kind::Str(v.to_string())),
                    None => (s, Kind::Null),
                };
                Some((k, d.at.clone(), Doc { at: d.at, kind: v }))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The container path of a `volumes` entry, short or long form.
fn volume_target(d: &Doc) -> Option<String> {
    match &d.kind {
        Kind::Str(s) => Some(s.split(':').nth(1).unwrap_or(s).to_string()),
        Kind::Map(_) => d.get("target").and_then(Doc::str).map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(file: &str, text: &str) -> Doc {
        let env = [("V".to_string(), "10.0.0.1".to_string())].into();
        let mut errors = Vec::new();
        let d = read(file, text, &env, &mut errors, &mut Vec::new()).expect("reads");
        assert!(errors.is_empty(), "{errors:?}");
        d
    }

    #[test]
    fn values_are_interpolated_and_keep_their_places() {
        let d = doc("c.yaml", "a:\n  b: ${V}/24\n  $c: x\n");
        let (v, places) = d.flatten();
        assert_eq!(v["a"]["b"], "10.0.0.1/24");
        assert!(v["a"].get("$c").is_some(), "keys are not interpolated");
        assert_eq!(places["/a/b"].to_string(), "c.yaml:2:6");
    }

    #[test]
    fn errors_point_into_the_value() {
        let env = BTreeMap::new();
        let mut errors = Vec::new();
        read(
            "c.yaml",
            "a:\n  b: x ${N:?needed}\n  c: '${M?}'\n",
            &env,
            &mut errors,
            &mut Vec::new(),
        );
        assert_eq!(
            errors,
            vec![
                "c.yaml:2:8: required variable N is unset or empty: needed".to_string(),
                "c.yaml:3:6: required variable M is unset".to_string(),
            ]
        );
    }

    #[test]
    fn interpolation_cannot_change_the_structure() {
        let env = [("V".to_string(), "x\ny: [1]".to_string())].into();
        let d = read("c.yaml", "a: $V\n", &env, &mut Vec::new(), &mut Vec::new()).expect("reads");
        let (v, _) = d.flatten();
        assert_eq!(v, serde_json::json!({"a": "x\ny: [1]"}));
    }

    #[test]
    fn files_merge_as_compose_merges_them() {
        let mut base = doc(
            "a.yaml",
            "services:\n  s:\n    image: one\n    command: [a, b]\n    environment: [A=1, B=2]\n    volumes: [./x:/x, ./y:/y]\n    cap_add: [NET_ADMIN]\n",
        );
        let over = doc(
            "b.yaml",
            "services:\n  s:\n    image: two\n    command: [c]\n    environment: {B: 3, C: 4}\n    volumes: [./z:/x]\n    cap_add: [SYS_ADMIN]\n  t:\n    image: three\n",
        );
        merge(&mut base, over, "");
        let (v, places) = base.flatten();
        let s = &v["services"]["s"];
        assert_eq!(s["image"], "two");
        assert_eq!(s["command"], serde_json::json!(["c"]));
        assert_eq!(
            s["environment"],
            serde_json::json!({"A": "1", "B": "3", "C": "4"})
        );
        assert_eq!(s["volumes"], serde_json::json!(["./z:/x", "./y:/y"]));
        assert_eq!(s["cap_add"], serde_json::json!(["NET_ADMIN", "SYS_ADMIN"]));
        assert_eq!(v["services"]["t"]["image"], "three");
        assert_eq!(places["/services/s/image"].to_string(), "b.yaml:3:12");
        assert_eq!(places["/services/s/volumes/1"].to_string(), "a.yaml:6:23");
    }
}
