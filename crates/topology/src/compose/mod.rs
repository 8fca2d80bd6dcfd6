//! conlink-style compose files and network files, converted into a warren
//! lab file.
//!
//! The conversion produces the text of an ordinary lab file (JSON, which
//! is YAML), so the lab that runs is exactly what `warren graph` shows and
//! what the supervisor reloads. Like the rest of this crate it reads
//! nothing itself: the caller passes the compose text, the network files'
//! texts, `env_file` contents and the environment.

pub mod interpolate;
mod link;
mod netem;
pub mod network_file;
mod offset;
mod service;

use crate::yaml;
use network_file::{Entry, NetConf};
use serde_json::{Map, Value, json};
use service::{Service, argv_or_string};
use std::collections::BTreeMap;

/// A file's name and text.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name for messages.
    pub name: String,
    /// The text.
    pub text: String,
}

/// What the conversion needs.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The lab name (the compose project name).
    pub name: String,
    /// The compose file, if any.
    pub compose: Option<Source>,
    /// conlink network files, merged in order after the compose file's `x-network`.
    pub network_files: Vec<Source>,
    /// Variables for `${VAR}` interpolation (the environment over `.env`).
    pub env: BTreeMap<String, String>,
    /// Contents of the `env_file`s the compose file names, by the name written there.
    pub env_files: BTreeMap<String, String>,
}

/// The outcome: the lab file text when there were no errors, notes about
/// what was ignored, and errors.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// The lab file, when there are no errors.
    pub lab_text: Option<String>,
    /// One-line notes about keys warren ignores.
    pub notes: Vec<String>,
    /// Problems that stop the lab.
    pub errors: Vec<String>,
}

/// Converts a YAML node into JSON with every scalar as text.
fn to_json(node: &yaml::Node) -> Value {
    match &node.value {
        yaml::Value::Null => Value::Null,
        yaml::Value::Scalar { text, .. } => Value::String(text.clone()),
        yaml::Value::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        yaml::Value::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// Records the line and column of every node below `node` by its JSON pointer.
fn lines(node: &yaml::Node, text: &str, pointer: &str, out: &mut BTreeMap<String, (usize, usize)>) {
    out.insert(
        pointer.to_string(),
        crate::span::line_col(text, node.span.start),
    );
    match &node.value {
        yaml::Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                lines(item, text, &format!("{pointer}/{i}"), out);
            }
        }
        yaml::Value::Map(pairs) => {
            for (k, v) in pairs {
                let key = k
                    .as_str()
                    .unwrap_or_default()
                    .replace('~', "~0")
                    .replace('/', "~1");
                lines(v, text, &format!("{pointer}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// A file read into JSON, with the line and column of each value by JSON
/// pointer (of the interpolated text: a `${VAR}` before it on its line
/// shifts the column by what it expands to).
struct Read {
    value: Value,
    lines: BTreeMap<String, (usize, usize)>,
}

impl Read {
    /// A place finder for the value at `base`.
    fn at<'a>(&'a self, base: &'a str) -> impl Fn(&str) -> Option<(usize, usize)> + 'a {
        move |p| self.lines.get(&format!("{base}{p}")).copied()
    }
}

/// Reads `src` with interpolation into JSON.
fn read(src: &Source, env: &BTreeMap<String, String>, errors: &mut Vec<String>) -> Option<Value> {
    read_lines(src, env, errors).map(|r| r.value)
}

/// Reads `src` with interpolation into JSON, keeping lines.
fn read_lines(
    src: &Source,
    env: &BTreeMap<String, String>,
    errors: &mut Vec<String>,
) -> Option<Read> {
    let text = match interpolate::interpolate(&src.text, env) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("{}: {e}", src.name));
            return None;
        }
    };
    match yaml::parse(&text) {
        Ok(root) => {
            let mut map = BTreeMap::new();
            lines(&root, &text, "", &mut map);
            Some(Read {
                value: to_json(&root),
                lines: map,
            })
        }
        Err(d) => {
            errors.push(format!("{}: {}", src.name, d.message));
            None
        }
    }
}

/// True when `text` is a compose file: its root mapping has `services`.
pub fn is_compose(text: &str) -> bool {
    matches!(yaml::parse(text), Ok(yaml::Node { value: yaml::Value::Map(pairs), .. })
        if pairs.iter().any(|(k, _)| k.as_str() == Some("services")))
}

/// The `env_file` names the compose file's services refer to, so the
/// caller can read them (relative to the compose file) before [`convert`].
pub fn env_file_names(compose: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut errors = Vec::new();
    let src = Source {
        name: String::new(),
        text: compose.to_string(),
    };
    let Some(root) = read(&src, env, &mut errors) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(services) = root.get("services").and_then(Value::as_object) {
        for svc in services.values().filter_map(Value::as_object) {
            out.extend(service::env_file_names_of(svc));
        }
    }
    out
}

/// The lab being built.
#[derive(Default)]
struct Out {
    nodes: Map<String, Value>,
    networks: Map<String, Value>,
    interfaces: BTreeMap<String, Map<String, Value>>,
    tunnels: Vec<Value>,
    forwards: Vec<Value>,
}

impl Out {
    fn iface(&mut self, key: &str) -> &mut Map<String, Value> {
        self.interfaces.entry(key.to_string()).or_default()
    }

    fn node_exec(&mut self, node: &str) -> Option<&mut Vec<Value>> {
        let n = self.nodes.get_mut(node)?.as_object_mut()?;
        let e = n.entry("exec").or_insert_with(|| Value::Array(Vec::new()));
        e.as_array_mut()
    }
}

/// The nodes a link or command applies to: every replica of its service,
/// or the one container it names, each with its replica index from 0.
fn targets(
    e: &Entry,
    services: &[Service],
    project: &str,
    errors: &mut Vec<String>,
) -> Vec<(String, u32)> {
    if let Some(s) = e.str("service") {
        return match services.iter().find(|x| x.name == s) {
            Some(svc) => (1..=svc.replicas)
                .map(|i| (format!("{s}_{i}"), i - 1))
                .collect(),
            None => {
                errors.push(format!("{}: no service called {s}", e.origin));
                Vec::new()
            }
        };
    }
    if let Some(c) = e.str("container") {
        for svc in services {
            for i in 1..=svc.replicas {
                let names = [
                    format!("{project}-{}-{i}", svc.name),
                    format!("{project}_{}_{i}", svc.name),
                    format!("{}_{i}", svc.name),
                ];
                if names.iter().any(|n| n == c)
                    || (svc.replicas == 1 && svc.container_name.as_deref() == Some(c))
                {
                    return vec![(format!("{}_{i}", svc.name), i - 1)];
                }
            }
        }
        errors.push(format!("{}: no container called {c}", e.origin));
        return Vec::new();
    }
    errors.push(format!("{}: needs `service` or `container`", e.origin));
    Vec::new()
}

/// Converts the compose file and network files in `input` into a lab file.
pub fn convert(input: &Input) -> Converted {
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let mut net = NetConf::default();
    let mut services = Vec::new();
    if let Some(src) = &input.compose
        && let Some(read) = read_lines(src, &input.env, &mut errors)
    {
        let root = &read.value;
        if let Some(map) = root.as_object() {
            for key in map.keys() {
                if ![
                    "services",
                    "x-network",
                    "version",
                    "name",
                    "networks",
                    "volumes",
                ]
                .contains(&key.as_str())
                {
                    notes.push(format!("{}: top-level `{key}` ignored", src.name));
                }
            }
        }
        let empty = Map::new();
        let svcs = root
            .get("services")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, svc) in svcs {
            if let Some(s) = service::service(name, svc, input, &mut notes, &mut errors) {
                services.push(s);
            }
            if let Some(x) = svc.get("x-network") {
                let base = format!("/services/{name}/x-network");
                net.add_located(
                    x,
                    &src.name,
                    &format!("service {name} x-network"),
                    Some(name),
                    &mut errors,
                    &read.at(&base),
                );
            }
        }
        if let Some(x) = root.get("x-network") {
            net.add_located(
                x,
                &src.name,
                "x-network",
                None,
                &mut errors,
                &read.at("/x-network"),
            );
        }
    }
    for src in &input.network_files {
        if let Some(read) = read_lines(src, &input.env, &mut errors) {
            net.add_located(&read.value, &src.name, "", None, &mut errors, &read.at(""));
        }
    }
    let mut out = Out::default();
    for svc in &services {
        for i in 1..=svc.replicas {
            out.nodes
                .insert(format!("{}_{i}", svc.name), Value::Object(svc.node.clone()));
        }
    }
    for l in &net.links {
        link::link(l, &services, &input.name, &mut out, &mut notes, &mut errors);
    }
    for b in &net.bridges {
        match (b.str("bridge"), b.str("mode").unwrap_or("auto")) {
            (None, _) => errors.push(format!("{}: needs `bridge`", b.origin)),
            (Some(_), "auto" | "linux") => {}
            (Some(_), "ovs") => errors.push(format!(
                "{}: mode ovs needs Open vSwitch, which warren does not drive; use mode linux or auto (a Linux bridge)",
                b.origin
            )),
            (Some(_), m) => errors.push(format!("{}: unknown bridge mode {m} (auto, linux or ovs)", b.origin)),
        }
    }
    for t in &net.tunnels {
        tunnel(t, &mut out, &mut errors);
    }
    for c in &net.commands {
        let Some(cmd) = c.props.get("command").and_then(argv_or_string) else {
            errors.push(format!("{}: needs `command`, a string or a list", c.origin));
            continue;
        };
        for (node, _) in targets(c, &services, &input.name, &mut errors) {
            if let Some(e) = out.node_exec(&node) {
                e.push(cmd.clone());
            }
        }
    }
    if services.is_empty() {
        errors.push("no services: a compose file with `services:` is needed".into());
    }
    if !errors.is_empty() {
        return Converted {
            lab_text: None,
            notes,
            errors,
        };
    }
    let mut lab = Map::new();
    lab.insert("version".into(), json!(1));
    lab.insert("name".into(), json!(input.name));
    lab.insert("nodes".into(), Value::Object(out.nodes));
    lab.insert("networks".into(), Value::Object(out.networks));
    let interfaces = out
        .interfaces
        .into_iter()
        .map(|(k, v)| (k, Value::Object(v)))
        .collect();
    lab.insert("interfaces".into(), Value::Object(interfaces));
    if !out.tunnels.is_empty() {
        lab.insert("tunnels".into(), Value::Array(out.tunnels));
    }
    if !out.forwards.is_empty() {
        lab.insert("forwards".into(), Value::Array(out.forwards));
    }
    let lab_text = serde_json::to_string_pretty(&Value::Object(lab)).ok();
    Converted {
        lab_text,
        notes,
        errors,
    }
}

fn tunnel(t: &Entry, out: &mut Out, errors: &mut Vec<String>) {
    let mut tun = Map::new();
    for (from, to) in [
        ("type", "type"),
        ("bridge", "network"),
        ("remote", "remote"),
        ("vni", "vni"),
        ("local", "local"),
        ("dstport", "dstport"),
        ("netns", "netns"),
    ] {
        if let Some(v) = t.str(from).filter(|v| !v.is_empty()) {
            tun.insert(to.into(), json!(v));
        }
    }
    for key in ["type", "bridge", "remote", "vni"] {
        if t.str(key).is_none() {
            errors.push(format!("{}: a tunnel needs `{key}`", t.origin));
        }
    }
    if t.props.contains_key("netem") {
        errors.push(format!(
            "{}: `netem` on a tunnel: needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM), which this kernel lacks, and warren's user-space wire carries links, not tunnels; put `netem` on the links that use the tunnel's bridge",
            t.origin
        ));
    }
    out.tunnels.push(Value::Object(tun));
}

#[cfg(test)]
mod tests;
