//! conlink network configuration (`links`, `bridges`, `tunnels`,
//! `commands`), read from network files and `x-network` blocks, and merged
//! as conlink merges them: lists concatenated in order, bridges by name,
//! and links by service (or container) and `dev`, the later keys winning.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One conlink object (a link, bridge, tunnel or command) with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The object's keys, scalars as text.
    pub props: Map<String, Value>,
    /// Where it was written, for messages (`net.yaml:3:5: links[2]`).
    pub origin: String,
    /// Where each key's value was written, when it came from a later entry
    /// merged into this one.
    pub key_origins: BTreeMap<String, String>,
}

impl Entry {
    /// Where `key` was written, for messages about its value.
    pub fn at(&self, key: &str) -> &str {
        self.key_origins.get(key).unwrap_or(&self.origin)
    }

    /// The text of `key`, if it is a scalar.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.props.get(key).and_then(Value::as_str)
    }

    /// `key` as a list of strings: a single string is a list of one.
    pub fn strings(&self, key: &str) -> Vec<String> {
        match self.props.get(key) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A merged network configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetConf {
    /// Links, in file order; a link for a service (or container) and
    /// `dev` already seen is merged into the first one.
    pub links: Vec<Entry>,
    /// Bridges, one per name; a later definition replaces an earlier one.
    pub bridges: Vec<Entry>,
    /// Tunnels, in file order.
    pub tunnels: Vec<Entry>,
    /// Commands, in file order.
    pub commands: Vec<Entry>,
}

/// The keys a network configuration takes.
pub const TOP_KEYS: &[&str] = &["links", "bridges", "tunnels", "commands"];

impl NetConf {
    /// Reads one configuration (a network file's root or an `x-network`
    /// block) from `value`, filling `service` into entries that name no
    /// service or container. Problems are pushed onto `errors`.
    pub fn add(
        &mut self,
        value: &Value,
        origin: &str,
        service: Option<&str>,
        errors: &mut Vec<String>,
    ) {
        self.add_located(value, origin, "", service, errors, &|_| None);
    }

    /// As [`NetConf::add`] for `value` read from `file` (where it is
    /// `what`, such as `service a x-network`, or empty for a file's root),
    /// with `locate` giving the place (`FILE:LINE:COLUMN`) of a JSON pointer
    /// below `value` (such as `/links/2`), which messages start with.
    pub fn add_located(
        &mut self,
        value: &Value,
        file: &str,
        what: &str,
        service: Option<&str>,
        errors: &mut Vec<String>,
        locate: &dyn Fn(&str) -> Option<String>,
    ) {
        // `FILE:LINE:COL: what tail`, or `FILE: what tail` without a place.
        let place = |pointer: &str, tail: &str| {
            let name = [what, tail]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let at = locate(pointer).unwrap_or_else(|| file.to_string());
            if name.is_empty() {
                at
            } else {
                format!("{at}: {name}")
            }
        };
        let origin = place("", "");
        let Some(map) = value.as_object() else {
            if !value.is_null() {
                errors.push(format!("{origin}: expected a mapping"));
            }
            return;
        };
        for (key, v) in map {
            let list = match key.as_str() {
                "links" => &mut self.links,
                "bridges" => &mut self.bridges,
                "tunnels" => &mut self.tunnels,
                "commands" => &mut self.commands,
                _ => {
                    errors.push(format!(
                        "{origin}: unknown key `{key}` (expected one of {})",
                        TOP_KEYS.join(", ")
                    ));
                    continue;
                }
            };
            let items = match v {
                Value::Array(a) => a.as_slice(),
                Value::Null => &[],
                _ => {
                    errors.push(format!("{origin}: `{key}` must be a list"));
                    continue;
                }
            };
            for (i, item) in items.iter().enumerate() {
                let Some(props) = item.as_object() else {
                    errors.push(format!("{origin}: {key}[{i}] must be a mapping"));
                    continue;
                };
                let mut props = props.clone();
                if let Some(s) = service
                    && key != "bridges"
                    && key != "tunnels"
                    && !props.contains_key("service")
                    && !props.contains_key("container")
                {
                    props.insert("service".into(), Value::String(s.into()));
                }
                let origin = place(&format!("/{key}/{i}"), &format!("{key}[{i}]"));
                let key_origins = props
                    .keys()
                    .map(|k| {
                        let at = place(
                            &format!("/{key}/{i}/{}", k.replace('~', "~0").replace('/', "~1")),
                            &format!("{key}[{i}]"),
                        );
                        (k.clone(), at)
                    })
                    .collect();
                let entry = Entry {
                    props,
                    origin,
                    key_origins,
                };
                if key == "links"
                    && let Some(old) = list.iter_mut().find(|l| same_link(l, &entry))
                {
                    merge_link(old, entry);
                } else if key == "bridges"
                    && let Some(name) = entry.str("bridge")
                    && let Some(old) = list.iter_mut().find(|b| b.str("bridge") == Some(name))
                {
                    *old = entry;
                } else {
                    list.push(entry);
                }
            }
        }
    }
}

/// conlink's merge key for links: the service (or container) and `dev`.
fn link_id(e: &Entry) -> Option<(&str, &str)> {
    let owner = e.str("service").or_else(|| e.str("container"))?;
    Some((owner, e.str("dev").unwrap_or("eth0")))
}

fn same_link(a: &Entry, b: &Entry) -> bool {
    link_id(a).is_some() && link_id(a) == link_id(b)
}

/// Merges a later link into an earlier one as conlink's deep merge does:
/// lists are concatenated, mappings merged, anything else replaced.
fn merge_link(old: &mut Entry, new: Entry) {
    for (k, v) in new.props {
        match (old.props.get_mut(&k), v) {
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (Some(Value::Object(a)), Value::Object(b)) => a.extend(b),
            (_, v) => {
                old.props.insert(k.clone(), v);
            }
        }
        let at = new.key_origins.get(&k).unwrap_or(&new.origin).clone();
        old.key_origins.insert(k, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_lists_and_bridges_by_name() {
        let mut n = NetConf::default();
        let mut errs = Vec::new();
        n.add(
            &json!({"links": [{"bridge": "s1"}], "bridges": [{"bridge": "s1", "mode": "ovs"}]}),
            "a.yaml",
            None,
            &mut errs,
        );
        n.add(
            &json!({"links": [{"bridge": "s2", "service": "x"}], "bridges": [{"bridge": "s1", "mode": "linux"}],
                    "commands": [{"command": "true"}]}),
            "b.yaml",
            Some("svc"),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(n.links.len(), 2);
        assert_eq!(n.links[1].str("service"), Some("x"));
        assert_eq!(n.commands[0].str("service"), Some("svc"));
        assert_eq!(n.bridges.len(), 1);
        assert_eq!(n.bridges[0].str("mode"), Some("linux"));
        n.add(&json!({"nodes": []}), "c.yaml", None, &mut errs);
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn links_of_one_service_and_dev_merge_with_later_keys_winning() {
        let mut n = NetConf::default();
        let mut errs = Vec::new();
        n.add(
            &json!({"links": [{"service": "a", "bridge": "s1", "netem": "delay 200ms", "route": ["r1"]},
                              {"service": "a", "dev": "eth1", "bridge": "s2"}]}),
            "a.yaml",
            None,
            &mut errs,
        );
        n.add(
            &json!({"links": [{"bridge": "s1", "dev": "eth0", "netem": "delay 40ms", "route": ["r2"]}]}),
            "b.yaml",
            Some("a"),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(n.links.len(), 2);
        assert_eq!(n.links[0].str("netem"), Some("delay 40ms"));
        assert_eq!(n.links[0].strings("route"), ["r1", "r2"]);
        assert_eq!(n.links[0].at("netem"), "b.yaml: links[0]");
        assert_eq!(n.links[0].at("bridge"), "b.yaml: links[0]");
        assert_eq!(n.links[0].origin, "a.yaml: links[0]");
    }
}
