//! Compose services reduced to container nodes: each key either mapped to
//! its lab-file meaning or named in a note with the reason it has none.

use super::{Cx, Input, interpolate, words};
use crate::values::Duration;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Service keys with no meaning for warren, with the reason given in the note.
const NO_MEANING: &[(&str, &str)] = &[
    ("ports", "publish ports with a link's `forward` (x-network)"),
    ("expose", "every port of a node is reachable on its links"),
    ("networks", "links come from x-network and network files"),
    ("pid", "each node has its own PID namespace"),
    ("ipc", "each node has its own IPC namespace"),
    (
        "security_opt",
        "warren applies no AppArmor or SELinux profiles",
    ),
    ("restart", "warren does not restart exited nodes"),
    ("labels", "nothing reads labels without a Docker engine"),
    (
        "logging",
        "a node's output goes to its log in the lab's state folder",
    ),
    ("tty", "nodes run without a terminal"),
    ("stdin_open", "nodes run without a terminal"),
    ("platform", "images are pulled for this host's platform"),
    ("pull_policy", "images are pulled when absent"),
    ("devices", "warren passes no host devices into nodes"),
    ("dns", "warren writes no resolver configuration"),
    ("dns_search", "warren writes no resolver configuration"),
    ("mem_limit", "warren sets no resource limits"),
    ("cpus", "warren sets no resource limits"),
    ("ulimits", "warren sets no resource limits"),
    ("domainname", "warren sets a host name only (`hostname`)"),
];

/// A compose service, reduced to what warren uses.
pub(super) struct Service {
    pub(super) name: String,
    /// `container_name:`, which `container:` links may use.
    pub(super) container_name: Option<String>,
    pub(super) replicas: u32,
    /// The node, or `None` when the service could not be converted (its
    /// errors are reported; links to it then add none of their own).
    pub(super) node: Option<Map<String, Value>>,
    /// `network_mode: service:X` or `container:X` as written: the service
    /// runs as containers of X's node instead of as nodes of its own.
    pub(super) joins: Option<String>,
    /// `depends_on`: the services it starts after.
    pub(super) depends_on: Vec<Dependency>,
}

/// One entry of a service's `depends_on`.
pub(super) struct Dependency {
    /// The service depended on.
    pub(super) service: String,
    /// What it must have done, as the lab file's `after:` says it:
    /// `started`, `ready` (healthy) or `completed` (exited with status 0).
    pub(super) when: &'static str,
    /// `required: false` lets the service be absent.
    pub(super) required: bool,
    /// Where it is written (a JSON pointer into the compose files).
    pub(super) at: String,
}

/// Compose's `depends_on` conditions and the lab file's `after:` values.
const CONDITIONS: &[(&str, &str)] = &[
    ("service_started", "started"),
    ("service_healthy", "ready"),
    ("service_completed_successfully", "completed"),
];

/// `depends_on`, a list of services (each until started) or a mapping of
/// services to `condition`, `required` and `restart`.
fn depends_on(cx: &mut Cx<'_>, name: &str, v: &Value, at: &str) -> Vec<Dependency> {
    let entry = |service: &str, when, required| Dependency {
        service: service.to_string(),
        when,
        required,
        at: format!("{at}/{}", super::pointer_key(service)),
    };
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.as_str() {
                Some(s) => Some(Dependency {
                    at: format!("{at}/{i}"),
                    ..entry(s, "started", true)
                }),
                None => {
                    cx.error(
                        &format!("{at}/{i}"),
                        &format!("service {name}: `depends_on` lists service names"),
                    );
                    None
                }
            })
            .collect(),
        Value::Object(m) => {
            let mut out = Vec::new();
            for (service, spec) in m {
                let here = format!("{at}/{}", super::pointer_key(service));
                let condition = spec
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or("service_started");
                let Some((_, when)) = CONDITIONS.iter().find(|(c, _)| *c == condition) else {
                    cx.error(
                        &format!("{here}/condition"),
                        &format!("service {name}: depends_on {service}: unknown condition `{condition}` (service_started, service_healthy or service_completed_successfully)"),
                    );
                    continue;
                };
                let flag = |key: &str| match spec.get(key) {
                    Some(Value::Bool(b)) => Some(*b),
                    Some(Value::String(s)) => Some(s == "true"),
                    _ => None,
                };
                if flag("restart") == Some(true) {
                    cx.note(
                        &format!("{here}/restart"),
                        &format!("service {name}: depends_on {service}: `restart` ignored: warren restarts nodes with `warren node`, not with what they depend on"),
                    );
                }
                out.push(entry(service, when, flag("required").unwrap_or(true)));
            }
            out
        }
        _ => {
            cx.error(
                at,
                &format!("service {name}: `depends_on` is a list or a mapping"),
            );
            Vec::new()
        }
    }
}

pub(super) fn argv_or_string(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) | Value::Array(_) => Some(v.clone()),
        _ => None,
    }
}

/// `command`/`entrypoint`: a list as it is, a string split as Compose splits it.
fn argv(cx: &mut Cx<'_>, v: &Value, at: &str, key: &str) -> Option<Value> {
    match v {
        Value::Array(a) if a.iter().all(Value::is_string) => Some(v.clone()),
        Value::String(s) => match words::split(s) {
            Ok(w) => Some(json!(w)),
            Err(m) => {
                cx.error(at, &format!("`{key}`: {m}"));
                None
            }
        },
        _ => {
            cx.error(at, &format!("`{key}` is a string or a list of strings"));
            None
        }
    }
}

/// A `KEY=VALUE` list or a mapping as pairs; a list item without `=` has no value.
fn pairs(v: &Value) -> Vec<(String, Option<String>)> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s.to_string(), None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The sysctls that make a node route as a container on a Docker host does.
pub(super) const FORWARDING: &[&str] = &["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

pub(super) fn service(cx: &mut Cx<'_>, input: &Input, name: &str, svc: &Value) -> Service {
    let base = format!("/services/{}", super::pointer_key(name));
    let at = |k: &str| format!("{base}/{}", super::pointer_key(k));
    let mut out = Service {
        name: name.into(),
        container_name: None,
        replicas: 1,
        node: None,
        joins: None,
        depends_on: Vec::new(),
    };
    let Some(map) = svc.as_object() else {
        cx.error(&base, &format!("service {name}: expected a mapping"));
        return out;
    };
    if let Some(d) = map.get("depends_on") {
        out.depends_on = depends_on(cx, name, d, &at("depends_on"));
    }
    out.container_name = map
        .get("container_name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let count = map
        .get("deploy")
        .and_then(|d| d.get("replicas"))
        .map(|v| (v, format!("{base}/deploy/replicas")))
        .or_else(|| map.get("scale").map(|v| (v, at("scale"))));
    if let Some((v, p)) = count {
        match v.as_str().map(str::parse::<u32>) {
            Some(Ok(n)) => out.replicas = n,
            _ => cx.error(
                &p,
                &format!(
                    "service {name}: replicas `{}` is not a whole number",
                    v.as_str().unwrap_or("?")
                ),
            ),
        }
    }
    if let Some(n) = input.scale.get(name) {
        out.replicas = *n;
    }
    for key in map.keys() {
        if let Some((_, why)) = NO_MEANING.iter().find(|(k, _)| k == key) {
            cx.note(&at(key), &format!("service {name}: `{key}` ignored: {why}"));
        } else if !HANDLED.contains(&key.as_str()) && !key.starts_with("x-") {
            cx.note(
                &at(key),
                &format!("service {name}: `{key}` is not a compose key warren knows; ignored"),
            );
        }
    }
    if let Some(mode) = map.get("network_mode").and_then(Value::as_str) {
        if mode.starts_with("service:") || mode.starts_with("container:") {
            // It runs in another service's node (see `network_mode.rs`).
            out.joins = Some(mode.to_string());
        } else if mode != "none" {
            cx.note(
                &at("network_mode"),
                &format!("service {name}: network_mode `{mode}` ignored: a node has its own network namespace with only its links, as with `none`"),
            );
        }
    }
    let Some(image) = map.get("image").and_then(Value::as_str) else {
        if map.contains_key("build") {
            cx.error(&at("build"), &format!("service {name}: `build:` without `image:`: warren builds no images; build and push it, then name it in `image:`"));
        } else {
            cx.error(&base, &format!("service {name}: `image:` is required"));
        }
        return out;
    };
    if map.contains_key("build") {
        cx.note(
            &at("build"),
            &format!("service {name}: `build:` ignored; using image {image}"),
        );
    }
    let mut node = Map::new();
    node.insert("kind".into(), json!("container"));
    node.insert("image".into(), json!(image));
    let mut ok = true;
    for (key, to) in [("command", "cmd"), ("entrypoint", "entrypoint")] {
        if let Some(v) = map.get(key) {
            match argv(cx, v, &at(key), key) {
                Some(a) => {
                    node.insert(to.into(), a);
                }
                None => ok = false,
            }
        }
    }
    for (key, to) in [("working_dir", "workdir"), ("user", "user")] {
        if let Some(v) = map.get(key).and_then(Value::as_str) {
            node.insert(to.into(), json!(v));
        }
    }
    for (key, to) in [("cap_add", "capabilities"), ("cap_drop", "cap_drop")] {
        if let Some(caps) = map.get(key).and_then(Value::as_array) {
            let names: Vec<String> = caps
                .iter()
                .filter_map(Value::as_str)
                .map(|c| {
                    let c = c.to_ascii_uppercase();
                    c.strip_prefix("CAP_").unwrap_or(&c).to_string()
                })
                .collect();
            node.insert(to.into(), json!(names));
        }
    }
    // Values arrive as strings once interpolated.
    if let Some(v) = map.get("privileged") {
        match v.as_str().map_or_else(|| v.as_bool(), |s| s.parse().ok()) {
            Some(p) => {
                node.insert("privileged".into(), json!(p));
            }
            None => {
                cx.error(
                    &at("privileged"),
                    &format!("service {name}: privileged `{v}` is not true or false"),
                );
                ok = false;
            }
        }
    }
    let mut sysctls = Map::new();
    for s in FORWARDING {
        sysctls.insert((*s).into(), json!("1"));
    }
    for (k, v) in map.get("sysctls").map(pairs).unwrap_or_default() {
        sysctls.insert(k, json!(v.unwrap_or_default()));
    }
    node.insert("sysctls".into(), Value::Object(sysctls));
    let mut env = Map::new();
    for file in env_file_names_of(map) {
        match input.env_files.get(&file) {
            Some(text) => {
                for (k, v) in interpolate::parse_env_file(text) {
                    env.insert(k, Value::String(v));
                }
            }
            None => cx.error(
                &at("env_file"),
                &format!("service {name}: env_file {file} was not read"),
            ),
        }
    }
    for (k, v) in map.get("environment").map(pairs).unwrap_or_default() {
        // `- NAME` without a value takes NAME from warren's environment, as Compose does.
        match v.or_else(|| input.env.get(&k).cloned()) {
            Some(v) => {
                env.insert(k, Value::String(v));
            }
            None => {
                env.remove(&k);
            }
        }
    }
    if !env.is_empty() {
        node.insert("env".into(), Value::Object(env));
    }
    if let Some(v) = map.get("volumes") {
        ok &= volumes(cx, input, name, v, &at("volumes"), &mut node);
    }
    if let Some(h) = map.get("healthcheck") {
        ok &= healthcheck(cx, name, h, &at("healthcheck"), &mut node);
    }
    ok &= process_keys(cx, name, map, &at, &mut node);
    if ok {
        out.node = Some(node);
    }
    out
}

/// `hostname`, `extra_hosts`, `init`, `tmpfs`, `stop_signal` and
/// `stop_grace_period`: the lab file's keys of the same names (for
/// `extra_hosts` a mapping of each name to its addresses).
fn process_keys(
    cx: &mut Cx<'_>,
    name: &str,
    map: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    node: &mut Map<String, Value>,
) -> bool {
    let mut ok = true;
    for key in ["hostname", "stop_signal", "stop_grace_period"] {
        if let Some(v) = map.get(key).and_then(Value::as_str) {
            node.insert(key.into(), json!(v));
        }
    }
    if let Some(v) = map.get("init") {
        match v.as_str().map_or_else(|| v.as_bool(), |s| s.parse().ok()) {
            Some(b) => {
                node.insert("init".into(), json!(b));
            }
            None => {
                cx.error(
                    &at("init"),
                    &format!("service {name}: init `{v}` is not true or false"),
                );
                ok = false;
            }
        }
    }
    match map.get("tmpfs") {
        Some(Value::String(s)) => {
            node.insert("tmpfs".into(), json!([s]));
        }
        Some(Value::Array(a)) => {
            node.insert("tmpfs".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (host, addr) in map
        .get("extra_hosts")
        .map(extra_host_pairs)
        .unwrap_or_default()
    {
        match addr {
            Some(a) => hosts.entry(host).or_default().push(a),
            None => {
                cx.error(
                    &at("extra_hosts"),
                    &format!("service {name}: extra_hosts entry `{host}` has no address (HOST:IP or HOST=IP)"),
                );
                ok = false;
            }
        }
    }
    if !hosts.is_empty() {
        node.insert("extra_hosts".into(), json!(hosts));
    }
    ok
}

/// `extra_hosts` entries as (name, address): a mapping, or a list of
/// `HOST=IP` or `HOST:IP` (split at the first `:`, so IPv6 addresses
/// stay whole; `[...]` around one is taken off).
fn extra_host_pairs(v: &Value) -> Vec<(String, Option<String>)> {
    let unbracket = |a: &str| a.trim_start_matches('[').trim_end_matches(']').to_string();
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(unbracket)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| match s.split_once('=').or_else(|| s.split_once(':')) {
                Some((k, v)) => (k.to_string(), Some(unbracket(v))),
                None => (s.to_string(), None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Service keys [`service`] maps (or reads for the lab's shape).
const HANDLED: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "scale",
    "deploy",
    "sysctls",
    "container_name",
    "working_dir",
    "user",
    "cap_add",
    "cap_drop",
    "privileged",
    "volumes",
    "healthcheck",
    "network_mode",
    "depends_on",
    "hostname",
    "extra_hosts",
    "init",
    "tmpfs",
    "stop_signal",
    "stop_grace_period",
];

/// `volumes`: host paths become binds, named volumes binds of folders in
/// the lab's volumes folder (which the caller creates, and `down` removes).
fn volumes(
    cx: &mut Cx<'_>,
    input: &Input,
    name: &str,
    v: &Value,
    at: &str,
    node: &mut Map<String, Value>,
) -> bool {
    let Some(items) = v.as_array() else {
        cx.error(at, &format!("service {name}: `volumes` is a list"));
        return false;
    };
    let mut binds = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}/{i}");
        let (source, target, readonly) = match item {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                match parts.as_slice() {
                    [src, dst] => (src.to_string(), dst.to_string(), false),
                    [src, dst, opts] => (
                        src.to_string(),
                        dst.to_string(),
                        opts.split(',').any(|o| o == "ro"),
                    ),
                    [dst] => (String::new(), dst.to_string(), false),
                    _ => {
                        cx.error(
                            &here,
                            &format!("service {name}: volume `{s}` is not SOURCE:TARGET[:MODE]"),
                        );
                        ok = false;
                        continue;
                    }
                }
            }
            Value::Object(m) => {
                let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                if !matches!(s("type").as_str(), "bind" | "volume") {
                    cx.error(&here, &format!("service {name}: volume type `{}`: warren mounts host folders (type bind) only", s("type")));
                    ok = false;
                    continue;
                }
                (s("source"), s("target"), s("read_only") == "true")
            }
            _ => {
                cx.error(
                    &here,
                    &format!("service {name}: a volume is a string or a mapping"),
                );
                ok = false;
                continue;
            }
        };
        if source.is_empty() {
            cx.error(&here, &format!("service {name}: anonymous volume `{target}`: name it (NAME:{target}), and it becomes a folder of the lab's"));
            ok = false;
            continue;
        }
        let named = !source.starts_with(['.', '/', '~']);
        if named && !volume_name(&source) {
            cx.error(&here, &format!("service {name}: volume name `{source}`: a name is letters, digits, `_`, `.` and `-`, starting with a letter or digit"));
            ok = false;
            continue;
        }
        if named && input.volumes_dir.is_empty() {
            cx.error(&here, &format!("service {name}: named volume `{source}`: no folder for the lab's volumes was given"));
            ok = false;
            continue;
        }
        if !target.starts_with('/') {
            cx.error(
                &here,
                &format!("service {name}: volume target `{target}` is not an absolute path"),
            );
            ok = false;
            continue;
        }
        let source = if named {
            let dir = format!("{}/{source}", input.volumes_dir.trim_end_matches('/'));
            cx.volumes.insert(dir.clone());
            dir
        } else if let Some(home) = source.strip_prefix("~/") {
            format!(
                "{}/{home}",
                input.env.get("HOME").map_or("", String::as_str)
            )
        } else if source.starts_with('/') || input.dir.is_empty() {
            source
        } else {
            let rel = source.trim_start_matches("./");
            let dir = input.dir.trim_end_matches('/');
            if rel.is_empty() || rel == "." {
                dir.to_string()
            } else {
                format!("{dir}/{}", rel.trim_end_matches('/'))
            }
        };
        binds.push(json!(format!(
            "{source}:{target}{}",
            if readonly { ":ro" } else { "" }
        )));
    }
    if !binds.is_empty() {
        node.insert("binds".into(), Value::Array(binds));
    }
    ok
}

/// A Docker volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn volume_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `healthcheck` becomes the node's `ready`: its test is the probe, retried
/// every `interval` for `start_period` plus `interval` times `retries`.
fn healthcheck(
    cx: &mut Cx<'_>,
    name: &str,
    h: &Value,
    at: &str,
    node: &mut Map<String, Value>,
) -> bool {
    let Some(m) = h.as_object() else {
        cx.error(at, &format!("service {name}: `healthcheck` is a mapping"));
        return false;
    };
    if m.get("disable").and_then(Value::as_str) == Some("true") {
        return true;
    }
    let probe = match m.get("test") {
        Some(Value::String(s)) => json!(s),
        Some(Value::Array(a)) => {
            let words: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            match words.split_first() {
                Some((&"NONE", _)) => return true,
                Some((&"CMD", rest)) if !rest.is_empty() => json!(rest),
                Some((&"CMD-SHELL", [cmd])) => json!(cmd),
                _ => {
                    cx.error(&format!("{at}/test"), &format!("service {name}: healthcheck `test` is a string, [CMD, ARG...], [CMD-SHELL, COMMAND] or [NONE]"));
                    return false;
                }
            }
        }
        _ => {
            cx.error(at, &format!("service {name}: a healthcheck needs `test`"));
            return false;
        }
    };
    let mut ok = true;
    let mut duration = |key: &str, default: u64| -> u64 {
        match m.get(key).and_then(Value::as_str) {
            None => default,
            Some(s) => match s.parse::<Duration>() {
                Ok(d) => d.0,
                Err(e) => {
                    cx.error(
                        &format!("{at}/{key}"),
                        &format!("service {name}: healthcheck {key}: {e}"),
                    );
                    ok = false;
                    default
                }
            },
        }
    };
    // Compose's defaults: every 30s, 3 retries, no start period.
    let interval = duration("interval", 30_000_000_000);
    let start = duration("start_period", 0);
    let retries = match m.get("retries").and_then(Value::as_str) {
        None => 3,
        Some(r) => r.parse::<u64>().unwrap_or_else(|_| {
            cx.error(
                &format!("{at}/retries"),
                &format!("service {name}: healthcheck retries `{r}` is not a whole number"),
            );
            ok = false;
            3
        }),
    };
    let total = start.saturating_add(interval.saturating_mul(retries.max(1)));
    node.insert(
        "ready".into(),
        json!({
            "exec": probe,
            "interval": format!("{}ms", interval / 1_000_000),
            "timeout": format!("{}ms", total / 1_000_000),
        }),
    );
    ok
}

pub(super) fn env_file_names_of(map: &Map<String, Value>) -> Vec<String> {
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
