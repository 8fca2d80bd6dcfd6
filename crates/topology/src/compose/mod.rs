//! conlink-style compose files and network files, converted into a warren
//! lab file.
//!
//! The conversion produces the text of an ordinary lab file (JSON, which
//! is YAML), so the lab that runs is exactly what `warren graph` shows and
//! what the supervisor reloads. Like the rest of this crate it reads
//! nothing itself: the caller passes the compose text, the network files'
//! texts, `env_file` contents and the environment.

pub mod interpolate;
pub mod network_file;
mod offset;

use crate::yaml;
use network_file::{Entry, NetConf};
use serde_json::{Map, Value, json};
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

/// Compose service keys warren uses.
const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "scale",
    "deploy",
    "x-network",
    "build",
    "sysctls",
    "container_name",
];

/// Link properties conlink defines.
const LINK_KEYS: &[&str] = &[
    "type",
    "service",
    "container",
    "bridge",
    "dev",
    "outer-dev",
    "ip",
    "mac",
    "mtu",
    "route",
    "nat",
    "netem",
    "mode",
    "vlanid",
    "forward",
    "ethtool",
];

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

/// Records the line of every node below `node` by its JSON pointer.
fn lines(node: &yaml::Node, text: &str, pointer: &str, out: &mut BTreeMap<String, usize>) {
    out.insert(
        pointer.to_string(),
        crate::span::line_col(text, node.span.start).0,
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

/// A file read into JSON, with the line of each value by JSON pointer.
struct Read {
    value: Value,
    lines: BTreeMap<String, usize>,
}

impl Read {
    /// A line finder for the value at `base`.
    fn at<'a>(&'a self, base: &'a str) -> impl Fn(&str) -> Option<usize> + 'a {
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
        for svc in services.values() {
            match svc.get("env_file") {
                Some(Value::String(s)) => out.push(s.clone()),
                Some(Value::Array(a)) => out.extend(
                    a.iter()
                        .filter_map(|v| v.as_str().or_else(|| v.get("path")?.as_str()))
                        .map(str::to_string),
                ),
                _ => {}
            }
        }
    }
    out
}

/// A compose service, reduced to what warren uses.
struct Service {
    name: String,
    /// `container_name:`, which `container:` links may use.
    container_name: Option<String>,
    replicas: u32,
    node: Map<String, Value>,
}

fn argv_or_string(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) | Value::Array(_) => Some(v.clone()),
        _ => None,
    }
}

fn service(
    name: &str,
    svc: &Value,
    input: &Input,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Option<Service> {
    let Some(map) = svc.as_object() else {
        errors.push(format!("service {name}: expected a mapping"));
        return None;
    };
    for key in map.keys().filter(|k| !SERVICE_KEYS.contains(&k.as_str())) {
        notes.push(format!(
            "service {name}: `{key}` does not apply to warren; ignored"
        ));
    }
    let Some(image) = map.get("image").and_then(Value::as_str) else {
        if map.contains_key("build") {
            errors.push(format!(
                "service {name}: `build:` without `image:`; warren does not build images: build and push it, then name it in `image:`"
            ));
        } else {
            errors.push(format!("service {name}: `image:` is required"));
        }
        return None;
    };
    if map.contains_key("build") {
        notes.push(format!(
            "service {name}: `build:` ignored; using image {image}"
        ));
    }
    let mut node = Map::new();
    node.insert("kind".into(), json!("container"));
    node.insert("image".into(), json!(image));
    if let Some(c) = map.get("command").and_then(argv_or_string) {
        node.insert("cmd".into(), c);
    }
    if let Some(e) = map.get("entrypoint").and_then(argv_or_string) {
        node.insert("entrypoint".into(), e);
    }
    match map.get("sysctls") {
        Some(Value::Object(m)) => {
            node.insert("sysctls".into(), Value::Object(m.clone()));
        }
        Some(Value::Array(a)) => {
            let m: Map<String, Value> = a
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.split_once('='))
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            node.insert("sysctls".into(), Value::Object(m));
        }
        _ => {}
    }
    let mut env = Map::new();
    for file in env_file_names_of(map) {
        match input.env_files.get(&file) {
            Some(text) => {
                for (k, v) in interpolate::parse_env_file(text) {
                    env.insert(k, Value::String(v));
                }
            }
            None => errors.push(format!("service {name}: env_file {file} was not read")),
        }
    }
    match map.get("environment") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                env.insert(k.clone(), Value::String(v.as_str().unwrap_or("").into()));
            }
        }
        Some(Value::Array(a)) => {
            for item in a.iter().filter_map(Value::as_str) {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                env.insert(k.into(), Value::String(v.into()));
            }
        }
        _ => {}
    }
    if !env.is_empty() {
        node.insert("env".into(), Value::Object(env));
    }
    let count = map
        .get("deploy")
        .and_then(|d| d.get("replicas"))
        .or_else(|| map.get("scale"));
    let replicas = match count.and_then(Value::as_str) {
        None => 1,
        Some(s) => match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(format!(
                    "service {name}: replicas `{s}` is not a whole number"
                ));
                1
            }
        },
    };
    Some(Service {
        name: name.into(),
        container_name: map
            .get("container_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        replicas,
        node,
    })
}

fn env_file_names_of(map: &Map<String, Value>) -> Vec<String> {
    match map.get("env_file") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().or_else(|| v.get("path")?.as_str()))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
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

/// Where a link's outer end goes.
enum Attach<'e> {
    /// A port of this bridge (veth).
    Bridge(&'e str),
    /// A macvlan/macvtap child of a host interface: the lab file's `macvlan` entry.
    Macvlan(Map<String, Value>),
}

/// Link types and properties that need kernel or model support warren does
/// not have yet, with what is missing.
fn unsupported(key: &str, value: &str) -> Option<String> {
    match (key, value) {
        ("type", "veth" | "macvlan" | "macvtap") => None,
        ("type", "dummy") => Some("link type dummy: needs the dummy driver (CONFIG_DUMMY), which this kernel lacks; warren does not create dummy interfaces".into()),
        ("type", "vlan") => Some("link type vlan: needs 802.1Q (CONFIG_VLAN_8021Q) on a host parent interface, which warren does not attach yet".into()),
        ("type", t @ ("ipvlan" | "ipvtap")) => Some(format!("link type {t}: needs the kernel's ipvlan driver (CONFIG_IPVLAN) on a host parent interface, which warren does not attach yet")),
        ("type", t) => Some(format!("link type {t} is not a conlink link type")),
        ("nat", _) => Some("`nat`: not supported yet (needs netfilter NAT rules)".into()),
        ("netem", _) => Some("`netem`: needs the netem qdisc (CONFIG_NET_SCH_NETEM), which this kernel lacks; not supported yet".into()),
        ("ethtool", _) => Some("`ethtool`: not supported yet".into()),
        ("vlanid", _) => Some("`vlanid`: needs link type vlan, which is not supported yet".into()),
        ("mode", "bridge" | "private" | "vepa" | "passthru" | "source") => None,
        ("mode", m) => Some(format!("`mode` {m}: a macvlan mode is bridge, private, vepa, passthru or source")),
        _ => None,
    }
}

fn link(
    e: &Entry,
    services: &[Service],
    project: &str,
    out: &mut Out,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    for key in e.props.keys() {
        if !LINK_KEYS.contains(&key.as_str()) {
            errors.push(format!("{}: unknown link property `{key}`", e.origin));
        }
    }
    let mut bad = false;
    for key in ["type", "nat", "netem", "ethtool", "vlanid", "mode"] {
        if let Some(v) = e.props.get(key)
            && let Some(msg) = unsupported(key, v.as_str().unwrap_or(""))
        {
            errors.push(format!("{}: {msg}", e.origin));
            bad = true;
        }
    }
    let kind = e.str("type").unwrap_or("veth");
    let attach = if kind == "veth" {
        if e.props.contains_key("mode") {
            errors.push(format!(
                "{}: `mode` applies to macvlan and macvtap links",
                e.origin
            ));
            bad = true;
        }
        let Some(bridge) = e.str("bridge") else {
            errors.push(format!(
                "{}: a veth link needs `bridge` (warren keeps the outer end on that bridge)",
                e.origin
            ));
            return;
        };
        if e.props.contains_key("outer-dev") {
            notes.push(format!(
                "{}: `outer-dev` ignored; warren names the bridge side of a link itself",
                e.origin
            ));
        }
        Attach::Bridge(bridge)
    } else {
        let Some(parent) = e.str("outer-dev") else {
            errors.push(format!(
                "{}: a {kind} link needs `outer-dev`, the host interface it is a child of",
                e.origin
            ));
            return;
        };
        let mut m = Map::new();
        m.insert("parent".into(), json!(parent));
        m.insert("tap".into(), json!(kind == "macvtap"));
        if let Some(mode) = e.str("mode") {
            m.insert("mode".into(), json!(mode));
        }
        Attach::Macvlan(m)
    };
    if bad {
        return;
    }
    if e.props.contains_key("forward") && e.str("ip").is_none() {
        errors.push(format!(
            "{}: `forward` needs `ip`, the address connections are relayed to",
            e.origin
        ));
        return;
    }
    let dev = e.str("dev").unwrap_or("eth0");
    for (node, index) in targets(e, services, project, errors) {
        let key = format!("{node}:{dev}");
        match &attach {
            Attach::Bridge(bridge) => {
                let net = out
                    .networks
                    .entry((*bridge).to_string())
                    .or_insert_with(|| json!({"members": []}));
                if let Some(m) = net.get_mut("members").and_then(Value::as_array_mut) {
                    m.push(Value::String(key.clone()));
                }
            }
            Attach::Macvlan(m) => {
                out.iface(&key)
                    .insert("macvlan".into(), Value::Object(m.clone()));
            }
        }
        let iface = out.iface(&key);
        if let Some(ip) = e.str("ip") {
            match offset::ip(ip, index) {
                Ok((addr, v6)) => {
                    iface.insert(if v6 { "ipv6" } else { "ipv4" }.into(), json!([addr]));
                }
                Err(m) => errors.push(format!("{}: ip {ip}: {m}", e.origin)),
            }
        }
        if let Some(mac) = e.str("mac") {
            match offset::mac(mac, index) {
                Ok(m) => {
                    iface.insert("mac".into(), json!(m));
                }
                Err(m) => errors.push(format!("{}: mac {mac}: {m}", e.origin)),
            }
        }
        if let Some(mtu) = e.str("mtu") {
            iface.insert("mtu".into(), json!(mtu));
        }
        let routes = e.strings("route");
        if !routes.is_empty() {
            iface.insert("routes".into(), json!(routes));
        }
        for fwd in e.strings("forward") {
            match offset::forward(&fwd, index) {
                Ok((host, port, proto)) => out.forwards.push(json!({
                    "host": host.to_string(),
                    "to": key,
                    "port": port.to_string(),
                    "proto": proto,
                })),
                Err(m) => errors.push(format!("{}: forward {fwd}: {m}", e.origin)),
            }
        }
    }
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
            if let Some(s) = service(name, svc, input, &mut notes, &mut errors) {
                services.push(s);
            }
            if let Some(x) = svc.get("x-network") {
                let base = format!("/services/{name}/x-network");
                net.add_located(
                    x,
                    &format!("{} service {name} x-network", src.name),
                    Some(name),
                    &mut errors,
                    &read.at(&base),
                );
            }
        }
        if let Some(x) = root.get("x-network") {
            net.add_located(
                x,
                &format!("{} x-network", src.name),
                None,
                &mut errors,
                &read.at("/x-network"),
            );
        }
    }
    for src in &input.network_files {
        if let Some(read) = read_lines(src, &input.env, &mut errors) {
            net.add_located(&read.value, &src.name, None, &mut errors, &read.at(""));
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
        link(l, &services, &input.name, &mut out, &mut notes, &mut errors);
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
            "{}: `netem` on a tunnel: needs the netem qdisc (CONFIG_NET_SCH_NETEM); not supported yet",
            t.origin
        ));
    }
    out.tunnels.push(Value::Object(tun));
}

#[cfg(test)]
mod tests;
