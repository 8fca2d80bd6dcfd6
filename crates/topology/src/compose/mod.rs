//! conlink-style compose files and network files, converted into a warren
//! lab file.
//!
//! The conversion produces the text of an ordinary lab file (JSON, which
//! is YAML), so the lab that runs is exactly what `warren graph` shows and
//! what the supervisor reloads. Like the rest of this crate it reads
//! nothing itself: the caller passes the compose text, the network files'
//! texts, `env_file` contents and the environment.

pub mod conlink;
mod doc;
pub mod interpolate;
mod link;
mod netem;
pub mod network_file;
mod network_mode;
mod offset;
mod service;
pub mod words;

use doc::{Doc, Place};
use network_file::{Entry, NetConf};
use serde_json::{Map, Value, json};
use service::{Service, argv_or_string};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The compose files, merged in order as Compose merges `-f` files.
    pub compose: Vec<Source>,
    /// conlink network files, merged in order after the compose files'
    /// `x-network` (the conlink service's `--network-file`s included).
    pub network_files: Vec<Source>,
    /// Variables for `${VAR}` interpolation (the environment over `.env`).
    pub env: BTreeMap<String, String>,
    /// Contents of the `env_file`s the compose file names, by the name written there.
    pub env_files: BTreeMap<String, String>,
    /// The project folder, which relative bind sources are relative to;
    /// empty keeps them as written.
    pub dir: String,
    /// The folder that holds the lab's named volumes, one folder each;
    /// empty refuses named volumes.
    pub volumes_dir: String,
    /// Replica counts by service name (`--scale SERVICE=N`), over the
    /// files' `scale` and `deploy.replicas`.
    pub scale: BTreeMap<String, u32>,
}

/// The outcome: the lab file text when there were no errors, notes about
/// what was ignored, and errors.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// The lab file, when there are no errors.
    pub lab_text: Option<String>,
    /// One-line notes about keys warren ignores.
    pub notes: Vec<String>,
    /// Problems that stop the lab, each once at its place in the user's file.
    pub errors: Vec<String>,
    /// The named volumes' folders, for the caller to create before `up`.
    pub volumes: Vec<String>,
}

/// A JSON pointer token for `key`.
fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The conversion's places and messages.
struct Cx<'a> {
    /// The compose files' names, for messages without a place.
    file: String,
    places: &'a BTreeMap<String, Place>,
    notes: Vec<String>,
    errors: Vec<String>,
    /// Named volume folders the services bind.
    volumes: BTreeSet<String>,
}

impl Cx<'_> {
    /// The place of the compose value at `pointer`.
    fn at(&self, pointer: &str) -> String {
        self.places
            .get(pointer)
            .map_or_else(|| self.file.clone(), Place::to_string)
    }

    fn error(&mut self, pointer: &str, message: &str) {
        let m = format!("{}: {message}", self.at(pointer));
        self.errors.push(m);
    }

    fn note(&mut self, pointer: &str, message: &str) {
        let m = format!("{}: {message}", self.at(pointer));
        self.notes.push(m);
    }
}

/// The compose files read, interpolated and merged: the root as JSON and
/// the place of every value.
fn read_compose(
    input: &Input,
    errors: &mut Vec<String>,
    unset: &mut Vec<String>,
) -> Option<(Value, BTreeMap<String, Place>)> {
    let mut merged: Option<Doc> = None;
    for src in &input.compose {
        let Some(d) = doc::read(&src.name, &src.text, &input.env, errors, unset) else {
            continue;
        };
        match &mut merged {
            None => merged = Some(d),
            Some(m) => doc::merge(m, d, ""),
        }
    }
    merged.map(|d| d.flatten())
}

/// True when `text` is a compose file: its root mapping has `services`.
pub fn is_compose(text: &str) -> bool {
    matches!(crate::yaml::parse(text), Ok(crate::yaml::Node { value: crate::yaml::Value::Map(pairs), .. })
        if pairs.iter().any(|(k, _)| k.as_str() == Some("services")))
}

/// What the caller has to read before [`convert`], which reads nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needed {
    /// The compose files' top-level `name:`, interpolated.
    pub name: Option<String>,
    /// The `env_file` names the services refer to, relative to the project folder.
    pub env_files: Vec<String>,
    /// The conlink service's options, if there is one.
    pub conlink: Option<conlink::Conlink>,
}

/// Reads what [`convert`] needs from outside: the project name, `env_file`s
/// and the conlink service's files.
pub fn needed(input: &Input) -> Needed {
    let mut out = Needed::default();
    let Some((root, _)) = read_compose(input, &mut Vec::new(), &mut Vec::new()) else {
        return out;
    };
    out.name = root.get("name").and_then(Value::as_str).map(str::to_string);
    if let Some(services) = root.get("services").and_then(Value::as_object) {
        for (name, svc) in services {
            if conlink::is_conlink(svc) {
                out.conlink
                    .get_or_insert_with(|| conlink::options(name, svc));
            } else if let Some(m) = svc.as_object() {
                out.env_files.extend(service::env_file_names_of(m));
            }
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
    /// Where the user wrote what became each part of the lab, by JSON
    /// pointer into it: the first writer of a part is kept.
    origins: BTreeMap<String, String>,
}

impl Out {
    fn origin(&mut self, pointer: &str, origin: &str) {
        self.origins
            .entry(pointer.to_string())
            .or_insert_with(|| origin.to_string());
    }

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
/// A service that could not be converted (its errors already reported)
/// or the conlink service gives none, without a further error.
fn targets(
    e: &Entry,
    services: &[Service],
    skipped: &BTreeSet<String>,
    project: &str,
    errors: &mut Vec<String>,
) -> Vec<(String, u32)> {
    let key = if e.props.contains_key("service") {
        "service"
    } else {
        "container"
    };
    if let Some(s) = e.str("service") {
        return match services.iter().find(|x| x.name == s) {
            Some(svc) if svc.joins.is_some() => {
                let mode = svc.joins.as_deref().unwrap_or_default();
                errors.push(format!("{}: service {s} has network_mode {mode} and no interfaces of its own; link the service whose network it shares", e.at(key)));
                Vec::new()
            }
            Some(svc) if svc.node.is_some() => (1..=svc.replicas)
                .map(|i| (format!("{s}_{i}"), i - 1))
                .collect(),
            Some(_) => Vec::new(),
            None if skipped.contains(s) => {
                errors.push(format!("{}: service {s} is the conlink service, which warren replaces and does not run", e.at(key)));
                Vec::new()
            }
            None => {
                errors.push(format!("{}: no service called {s}", e.at(key)));
                Vec::new()
            }
        };
    }
    if let Some(c) = e.str("container") {
        if let Some((svc, i)) = container(services, project, c) {
            return match svc.node {
                Some(_) => vec![(format!("{}_{i}", svc.name), i - 1)],
                None => Vec::new(),
            };
        }
        errors.push(format!("{}: no container called {c}", e.at(key)));
        return Vec::new();
    }
    errors.push(format!("{}: needs `service` or `container`", e.origin));
    Vec::new()
}

/// The service and replica (from 1) of the container Compose would call
/// `c`: `PROJECT-SERVICE-N`, `PROJECT_SERVICE_N`, `SERVICE_N`, or a
/// single replica's `container_name`.
fn container<'s>(services: &'s [Service], project: &str, c: &str) -> Option<(&'s Service, u32)> {
    services.iter().find_map(|svc| {
        (1..=svc.replicas).find_map(|i| {
            let names = [
                format!("{project}-{}-{i}", svc.name),
                format!("{project}_{}_{i}", svc.name),
                format!("{}_{i}", svc.name),
            ];
            let named = names.iter().any(|n| n == c)
                || (svc.replicas == 1 && svc.container_name.as_deref() == Some(c));
            named.then_some((svc, i))
        })
    })
}

/// Converts the compose files and network files in `input` into a lab file.
pub fn convert(input: &Input) -> Converted {
    let mut errors = Vec::new();
    let mut unset = Vec::new();
    let read = read_compose(input, &mut errors, &mut unset);
    let empty = BTreeMap::new();
    let file = input
        .compose
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let places = read.as_ref().map_or(&empty, |(_, p)| p);
    let mut cx = Cx {
        file: file.clone(),
        places,
        notes: Vec::new(),
        errors,
        volumes: BTreeSet::new(),
    };
    let mut net = NetConf::default();
    let mut services = Vec::new();
    let mut skipped = BTreeSet::new();
    let mut options = conlink::Conlink::default();
    let locate =
        |base: String| move |p: &str| places.get(&format!("{base}{p}")).map(Place::to_string);
    if let Some((root, _)) = &read {
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
                    && !key.starts_with("x-")
                {
                    cx.note(
                        &format!("/{}", pointer_key(key)),
                        &format!("top-level `{key}` ignored"),
                    );
                }
            }
        }
        // conlink's order: the top-level x-network, then each service's.
        if let Some(x) = root.get("x-network") {
            net.add_located(
                x,
                &file,
                "x-network",
                None,
                &mut cx.errors,
                &locate("/x-network".into()),
            );
        }
        let no_services = Map::new();
        let svcs = match root.get("services") {
            Some(Value::Object(m)) => m,
            _ => &no_services,
        };
        for (name, svc) in svcs {
            let base = format!("/services/{}", pointer_key(name));
            if conlink::is_conlink(svc) {
                if skipped.is_empty() {
                    options = conlink::options(name, svc);
                    for e in std::mem::take(&mut options.errors) {
                        cx.error(&format!("{base}/command"), &format!("service {name}: {e}"));
                    }
                    if !options.ignored.is_empty() {
                        cx.note(
                            &format!("{base}/command"),
                            &format!(
                                "service {name}: conlink options {} ignored",
                                options.ignored.join(" ")
                            ),
                        );
                    }
                    for (p, host) in &options.network_files {
                        if host.is_none() {
                            cx.error(&format!("{base}/command"), &format!("service {name}: --network-file {p}: no volume of the service mounts it, so warren cannot find it on the host; mount its folder or pass --network-file"));
                        }
                    }
                    for (p, host) in &options.compose_files {
                        let known = host
                            .as_deref()
                            .is_some_and(|h| input.compose.iter().any(|c| same_file(&c.name, h)));
                        if !known {
                            cx.error(&format!("{base}/command"), &format!("service {name}: --compose-file {p} is not a compose file warren runs; add it with --compose-file"));
                        }
                    }
                }
                cx.note(
                    &base,
                    &format!(
                        "service {name} runs conlink: warren does its work and does not run it"
                    ),
                );
                skipped.insert(name.clone());
                continue;
            }
            services.push(service::service(&mut cx, input, name, svc));
            if let Some(x) = svc.get("x-network") {
                net.add_located(
                    x,
                    &file,
                    &format!("service {name} x-network"),
                    Some(name),
                    &mut cx.errors,
                    &locate(format!("{base}/x-network")),
                );
            }
        }
        if !matches!(root.get("services"), Some(Value::Object(_))) {
            cx.error("", "no services: a compose file with `services:` is needed");
        } else if services.is_empty() {
            cx.error(
                "/services",
                "no services but conlink's: there is nothing to run",
            );
        }
    } else if input.compose.is_empty() {
        cx.errors
            .push("no services: a compose file with `services:` is needed".into());
    }
    for name in input.scale.keys() {
        if !services.iter().any(|s| s.name == *name) {
            cx.errors.push(format!(
                "--scale {name}: no service called {name} (services: {})",
                services
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for src in &input.network_files {
        if let Some(d) = doc::read(&src.name, &src.text, &input.env, &mut cx.errors, &mut unset) {
            let (value, places) = d.flatten();
            net.add_located(&value, &src.name, "", None, &mut cx.errors, &|p: &str| {
                places.get(p).map(Place::to_string)
            });
        }
    }
    let mut seen = BTreeSet::new();
    for name in unset {
        if seen.insert(name.clone()) {
            cx.notes
                .push(format!("variable {name} is not set; using an empty string"));
        }
    }
    let mut out = Out::default();
    for svc in &services {
        if let Some(node) = &svc.node {
            let base = format!("/services/{}", pointer_key(&svc.name));
            let mut node = node.clone();
            if let Some(after) = after(&mut cx, svc, &services, &skipped) {
                node.insert("after".into(), after);
            }
            for i in 1..=svc.replicas {
                let name = format!("{}_{i}", svc.name);
                out.origin(&format!("/nodes/{name}"), &cx.at(&base));
                for (lab_key, key) in SERVICE_ORIGINS {
                    let at = cx.at(&format!("{base}/{key}"));
                    out.origin(&format!("/nodes/{name}/{lab_key}"), &at);
                }
                out.nodes.insert(name, Value::Object(node.clone()));
            }
        }
    }
    network_mode::join(&mut cx, &services, &input.name, &mut out);
    let mut errors = std::mem::take(&mut cx.errors);
    let mut notes = std::mem::take(&mut cx.notes);
    let link_opts = link::Options {
        project: &input.name,
        default_mtu: options.default_mtu.as_deref(),
        skipped: &skipped,
    };
    for l in &net.links {
        link::link(l, &services, &link_opts, &mut out, &mut notes, &mut errors);
    }
    let default_mode = options.default_bridge_mode.as_deref().unwrap_or("auto");
    for b in &net.bridges {
        let mode = b.str("mode").unwrap_or(default_mode);
        let at = if b.props.contains_key("mode") {
            b.at("mode").to_string()
        } else {
            b.origin.clone()
        };
        if bridge_mode(b.str("bridge"), mode, &at, &mut errors)
            && let Some(name) = b.str("bridge")
        {
            patch(&mut out, name, &at, &mut errors);
        }
    }
    if default_mode != "auto" {
        let unlisted: Vec<String> = out
            .networks
            .keys()
            .filter(|name| !net.bridges.iter().any(|b| b.str("bridge") == Some(name)))
            .cloned()
            .collect();
        let at = format!(
            "{}: service {} --default-bridge-mode",
            cx.at(&format!(
                "/services/{}/command",
                pointer_key(&options.service)
            )),
            options.service
        );
        for name in unlisted {
            if !bridge_mode(Some(&name), default_mode, &at, &mut errors) {
                break;
            }
            patch(&mut out, &name, &at, &mut errors);
        }
    }
    for t in &net.tunnels {
        out.origin(&format!("/tunnels/{}", out.tunnels.len()), &t.origin);
        tunnel(t, &mut out, &mut errors);
    }
    for c in &net.commands {
        let Some(cmd) = c.props.get("command").and_then(argv_or_string) else {
            errors.push(format!("{}: needs `command`, a string or a list", c.origin));
            continue;
        };
        for (node, _) in targets(c, &services, &skipped, &input.name, &mut errors) {
            if let Some(e) = out.node_exec(&node) {
                let at = format!("/nodes/{node}/exec/{}", e.len());
                e.push(cmd.clone());
                out.origin(&at, &c.origin);
            }
        }
    }
    if !errors.is_empty() {
        return Converted {
            lab_text: None,
            notes,
            errors,
            volumes: Vec::new(),
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
    let lab_text = serde_json::to_string_pretty(&Value::Object(lab)).unwrap_or_default();
    let errors = check(&lab_text, &input.name, &out.origins, &file);
    Converted {
        lab_text: errors.is_empty().then_some(lab_text),
        notes,
        errors,
        volumes: cx.volumes.into_iter().collect(),
    }
}

/// Lab node keys and the compose service keys they come from.
const SERVICE_ORIGINS: &[(&str, &str)] = &[
    ("image", "image"),
    ("cmd", "command"),
    ("entrypoint", "entrypoint"),
    ("workdir", "working_dir"),
    ("user", "user"),
    ("capabilities", "cap_add"),
    ("sysctls", "sysctls"),
    ("env", "environment"),
    ("binds", "volumes"),
    ("ready", "healthcheck"),
    ("after", "depends_on"),
];

/// A service's `depends_on` as its nodes' `after:`: every replica of each
/// service it depends on, with what that service must have done. The
/// conlink service is left out (warren does its work before any node
/// starts); an absent service is an error unless `required: false`.
fn after(
    cx: &mut Cx<'_>,
    svc: &Service,
    services: &[Service],
    skipped: &BTreeSet<String>,
) -> Option<Value> {
    let mut after = Map::new();
    for d in &svc.depends_on {
        if skipped.contains(&d.service) {
            continue;
        }
        let Some(other) = services.iter().find(|s| s.name == d.service) else {
            let message = format!(
                "service {}: depends_on {}: no such service",
                svc.name, d.service
            );
            if d.required {
                cx.error(&d.at, &message);
            } else {
                cx.note(&d.at, &format!("{message}; not required, so ignored"));
            }
            continue;
        };
        if d.when == "ready"
            && other
                .node
                .as_ref()
                .is_some_and(|n| !n.contains_key("ready"))
        {
            cx.error(
                &d.at,
                &format!(
                    "service {}: depends_on {} with condition service_healthy, but {} has no healthcheck",
                    svc.name, d.service, d.service
                ),
            );
            continue;
        }
        for i in 1..=other.replicas {
            after.insert(format!("{}_{i}", other.name), json!(d.when));
        }
    }
    (!after.is_empty()).then_some(Value::Object(after))
}

/// Loads the converted lab as `warren up` will, and reports each of its
/// errors at the place in the user's files that the offending part came
/// from (the nearest recorded part above it), so no message points into
/// the generated lab.
fn check(
    lab_text: &str,
    name: &str,
    origins: &BTreeMap<String, String>,
    file: &str,
) -> Vec<String> {
    let loaded = crate::load(lab_text, name);
    let root = crate::yaml::parse(lab_text).ok();
    let mut out = Vec::new();
    for d in loaded
        .diagnostics
        .0
        .iter()
        .filter(|d| d.severity == crate::Severity::Error)
    {
        let pointer = match (d.span, &root) {
            (Some(span), Some(root)) => pointer_at(root, span.start),
            _ => String::new(),
        };
        let mut p = pointer.as_str();
        let origin = loop {
            if let Some(o) = origins.get(p) {
                break o.as_str();
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break file,
            }
        };
        // A help that names a line means a line of the generated lab: left out.
        let help = d
            .help
            .as_deref()
            .filter(|h| !h.contains("line "))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        let m = format!("{origin}: {}{help}", d.message);
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// The JSON pointer of the deepest value (or mapping key) of `node` at byte `offset`.
fn pointer_at(node: &crate::yaml::Node, offset: usize) -> String {
    let inside = |s: crate::Span| s.start <= offset && offset < s.end.max(s.start + 1);
    match &node.value {
        crate::yaml::Value::Map(pairs) => {
            for (k, v) in pairs {
                let key = pointer_key(k.as_str().unwrap_or_default());
                if inside(k.span) {
                    return format!("/{key}");
                }
                if inside(v.span) {
                    return format!("/{key}{}", pointer_at(v, offset));
                }
            }
            String::new()
        }
        crate::yaml::Value::Seq(items) => items
            .iter()
            .position(|i| inside(i.span))
            .map(|i| format!("/{i}{}", pointer_at(&items[i], offset)))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// True when the compose file `name` is the file `host` names: the same
/// file name (the conlink container sees the project through a volume, so
/// folders differ).
fn same_file(name: &str, host: &str) -> bool {
    let file = |p: &str| std::path::Path::new(p).file_name().map(|f| f.to_owned());
    file(name).is_some() && file(name) == file(host)
}

/// Checks a bridge's mode: Linux bridges for `auto` (conlink's choice
/// when Open vSwitch is not loaded, which warren never drives) and
/// `linux`. True for `patch`; false for those and for an error.
fn bridge_mode(bridge: Option<&str>, mode: &str, at: &str, errors: &mut Vec<String>) -> bool {
    match (bridge, mode) {
        (None, _) => errors.push(format!("{at}: needs `bridge`")),
        (Some(_), "auto" | "linux") => {}
        (Some(_), "ovs") => errors.push(format!(
            "{at}: mode ovs needs Open vSwitch, which warren does not drive; use mode linux or auto (a Linux bridge)"
        )),
        (Some(_), "patch") => return true,
        (Some(_), m) => errors.push(format!("{at}: unknown bridge mode {m} (auto, linux, patch or ovs)")),
    }
    false
}

/// Makes the network `name` a patch: its two members joined by tc mirred
/// with no bridge. A patch with other than two members is an error at
/// `at`, the place its mode was given.
fn patch(out: &mut Out, name: &str, at: &str, errors: &mut Vec<String>) {
    let Some(net) = out.networks.get_mut(name).and_then(Value::as_object_mut) else {
        // A bridge no link uses: nothing to join.
        return;
    };
    let members: Vec<&str> = net
        .get("members")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if members.len() != 2 {
        errors.push(format!(
            "{at}: bridge {name} is mode patch with {} members ({}); a patch joins exactly two, \
             since tc mirred redirects each one's frames to the other; use mode linux or auto for more",
            members.len(),
            members.join(", ")
        ));
        return;
    }
    net.insert("mode".into(), json!("patch"));
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
