//! containerlab topology files (`*.clab.yml`), read into warren's own lab
//! model.
//!
//! The file is decoded straight into the records a lab file decodes into
//! ([`crate::raw::RawLab`]), keeping every value's place, so resolution and
//! validation report problems at the `.clab.yml`'s own lines and columns,
//! and the supervisor reloads the very same file. docs/containerlab.md
//! lists what maps to what, what is refused and what is not applied.

mod link;
mod mgmt;
mod netmode;
mod node;

use crate::decode::{Cx, Fields};
use crate::diag::Diagnostic;
use crate::model::{NodeKind, Proto};
use crate::raw::{RawForward, RawInterface, RawLab, RawLink, RawNetwork, RawNode, RawTunnel};
use crate::span::{Span, Spanned};
use crate::yaml::{Node, Value};
use node::{Def, Levels};

/// Top-level keys of a containerlab topology, with warren's `tests` and
/// `faults` (which containerlab itself does not accept).
const TOP_KEYS: &[&str] = &[
    "name",
    "prefix",
    "topology",
    "mgmt",
    "settings",
    "tests",
    "faults",
    ENV_FILES_KEY,
];
/// The key under which the warren CLI appends the contents of the
/// topology's `env-files` (see [`with_env_files`]).
pub const ENV_FILES_KEY: &str = "x-warren-env-files";
/// Keys of `topology`.
const TOPOLOGY_KEYS: &[&str] = &["nodes", "links", "kinds", "defaults", "groups"];
/// containerlab's default container name prefix.
const DEFAULT_PREFIX: &str = "clab";

/// Whether `text` is a containerlab topology: its root mapping has `topology`.
pub fn is_clab(text: &str) -> bool {
    crate::yaml::parse(text).is_ok_and(|root| is_clab_root(&root))
}

/// Whether a parsed file is a containerlab topology.
pub(crate) fn is_clab_root(root: &Node) -> bool {
    matches!(&root.value, Value::Map(pairs) if pairs.iter().any(|(k, _)| k.as_str() == Some("topology")))
}

/// The `env-files` the topology's nodes, groups, kinds and defaults name,
/// for the caller to read (relative to the topology's folder) and hand to
/// [`with_env_files`].
pub fn env_file_names(text: &str) -> Vec<String> {
    let Ok(root) = crate::yaml::parse(text) else {
        return Vec::new();
    };
    let get = |n: &Node, key: &str| match &n.value {
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v.clone()),
        _ => None,
    };
    let values = |n: Option<Node>| match n.map(|n| n.value) {
        Some(Value::Map(pairs)) => pairs.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    let Some(topo) = get(&root, "topology") else {
        return Vec::new();
    };
    let mut defs: Vec<Node> = get(&topo, "defaults").into_iter().collect();
    for key in ["kinds", "groups", "nodes"] {
        defs.extend(values(get(&topo, key)));
    }
    let mut out: Vec<String> = Vec::new();
    for d in defs {
        if let Some(Value::Seq(items)) = get(&d, "env-files").map(|n| n.value) {
            for name in items.iter().filter_map(|i| i.as_str()) {
                if !out.iter().any(|o| o == name) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// `text` with the contents of its env files appended under
/// [`ENV_FILES_KEY`], so that the lab file carries them: the supervisor
/// reloads the file and reads nothing else. What was written keeps its
/// lines and columns.
pub fn with_env_files(text: &str, files: &[(String, String)]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = text.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(ENV_FILES_KEY);
    out.push_str(":\n");
    for (name, content) in files {
        out.push_str(&format!("  {}: {}\n", quote(name), quote(content)));
    }
    out
}

/// Notes a key warren reads but does not apply, at its place.
pub(crate) fn ignored(cx: &mut Cx<'_>, span: Span, what: &str, why: &str) {
    cx.push(
        Diagnostic::error(
            "warren::clab-ignored",
            span,
            format!("{what} is not applied: {why}"),
            "not applied",
        )
        .warning(),
    );
}

/// What the topology turns into.
#[derive(Default)]
struct Built {
    nodes: Vec<(Spanned<String>, RawNode)>,
    links: Vec<RawLink>,
    networks: Vec<RawNetwork>,
    interfaces: Vec<RawInterface>,
    tunnels: Vec<RawTunnel>,
    forwards: Vec<RawForward>,
    /// `bridge` and `ovs-bridge` nodes: lab networks.
    bridges: Vec<Spanned<String>>,
    /// `host` nodes: the host's namespace, whose link ends are host ends.
    hosts: Vec<Spanned<String>>,
}

/// Decodes a containerlab topology. Tests and faults are decoded by [`crate::steps`].
pub(crate) fn lab<'a>(cx: &mut Cx<'_>, root: &'a Node) -> Option<(RawLab, Fields<'a>)> {
    let f = cx.fields(root, "the topology file", TOP_KEYS)?;
    if let Some((_, span)) = f.keys().find(|(k, _)| *k == "settings") {
        ignored(
            cx,
            span,
            "`settings`",
            "containerlab's certificate authority settings",
        );
    }
    let name = match f.get("name").and_then(|n| cx.string(n, "the lab name")) {
        Some(n) => n,
        None => {
            if f.get("name").is_none() {
                cx.error(
                    "warren::missing-key",
                    Span::new(0, 0),
                    "a containerlab topology needs `name`",
                    "no name",
                );
            }
            return None;
        }
    };
    let prefix = f
        .get("prefix")
        .and_then(|p| cx.string(p, "prefix"))
        .map_or_else(|| DEFAULT_PREFIX.to_string(), |p| p.value);
    let topo = f.get("topology")?;
    let t = cx.fields(topo, "topology", TOPOLOGY_KEYS)?;
    let defaults = t
        .get("defaults")
        .map(|d| node::def(cx, d, "topology.defaults"))
        .unwrap_or_default();
    let named = |cx: &mut Cx<'_>, key: &str| -> Vec<(Spanned<String>, Def)> {
        let Some(v) = t.get(key) else {
            return Vec::new();
        };
        let entries = cx.mapping(v, key).unwrap_or_default();
        entries
            .iter()
            .filter_map(|(k, v)| {
                let n = cx.string(k, key)?;
                let what = format!("topology.{key}.{}", n.value);
                Some((n, node::def(cx, v, &what)))
            })
            .collect()
    };
    let kinds = named(cx, "kinds");
    let groups = named(cx, "groups");
    let levels = Levels {
        defaults: &defaults,
        kinds: &kinds,
        groups: &groups,
    };
    let mgmt = mgmt::Mgmt::read(cx, f.get("mgmt"));
    let env_files = f
        .get(ENV_FILES_KEY)
        .and_then(|v| cx.string_map(v, ENV_FILES_KEY))
        .unwrap_or_default();
    let mut out = Built::default();
    let mut containers = Vec::new();
    let mut joiners = Vec::new();
    if let Some(nodes) = t.get("nodes").and_then(|n| cx.mapping(n, "topology.nodes")) {
        for (k, v) in nodes {
            let Some(node_name) = cx.string(k, "a node name") else {
                continue;
            };
            let own = node::def(cx, v, &format!("node `{}`", node_name.value));
            let r = levels.resolve(cx, &node_name, &own);
            if let Some(k) = r
                .def
                .kind
                .as_ref()
                .filter(|k| matches!(k.value.as_str(), "host" | "bridge" | "ovs-bridge"))
            {
                nothing_runs(cx, &k.value, &own);
            }
            if let Some(raw) = kind(cx, &node_name, &r, &env_files, &mut out) {
                if let Some(host) = netmode::host_of(&r.def) {
                    joiners.push(netmode::joiner(cx, node_name, host, &r.def, raw));
                    continue;
                }
                let host = host_name(&prefix, &name.value, &node_name.value);
                let raw = RawNode {
                    aliases: host.into_iter().collect(),
                    ..raw
                };
                containers.push((node_name.clone(), r.def));
                out.nodes.push((node_name, raw));
            }
        }
    } else if t.get("nodes").is_none() {
        cx.error(
            "warren::missing-key",
            topo.span,
            "a topology needs `nodes`",
            "no nodes",
        );
    }
    netmode::join(cx, joiners, &mut out);
    if let Some(l) = t.get("links") {
        link::links(cx, l, &mut out);
    }
    mgmt.attach(cx, &containers, &mut out);
    for (node_name, def) in &containers {
        if let Some(ports) = &def.ports {
            for p in ports {
                if let Some(fw) = forward(cx, node_name, p, mgmt.has(def)) {
                    out.forwards.push(fw);
                }
            }
        }
    }
    let lab = RawLab {
        name: Some(Spanned::new(lab_name(cx, &name), name.span)),
        nodes: out.nodes,
        links: out.links,
        networks: out.networks,
        interfaces: out.interfaces,
        tunnels: out.tunnels,
        forwards: out.forwards,
        ..RawLab::default()
    };
    Some((lab, f))
}

/// Notes the keys a `host` or `bridge` node sets itself that only a
/// running node takes: nothing of the lab runs in the host's namespace or
/// in a bridge.
fn nothing_runs(cx: &mut Cx<'_>, kind: &str, own: &Def) {
    let set = [
        ("image", &own.image),
        ("cmd", &own.cmd),
        ("entrypoint", &own.entrypoint),
        ("user", &own.user),
        ("network-mode", &own.network_mode),
        ("mgmt-ipv4", &own.mgmt_ipv4),
        ("mgmt-ipv6", &own.mgmt_ipv6),
    ];
    for (key, v) in set {
        if let Some(v) = v {
            ignored(
                cx,
                v.span,
                &format!("`{key}` of a {kind} node"),
                "no node of the lab runs there",
            );
        }
    }
}

/// Puts each node's management interface first, so that the lab's
/// `/etc/hosts` lists the management addresses first under the node's
/// names, and containerlab's names resolve to them as in containerlab.
pub(crate) fn management_first(lab: &mut crate::Lab) {
    for n in &mut lab.nodes {
        let mgmt = n.interfaces.iter().position(|i| {
            i.name == mgmt::IFACE && matches!(i.attach, crate::model::Attachment::Network { .. })
        });
        if let Some(i) = mgmt {
            n.interfaces[..=i].rotate_right(1);
        }
    }
}

/// containerlab's container name for a node, which resolves inside the lab.
fn host_name(prefix: &str, lab: &str, node: &str) -> Option<String> {
    match prefix {
        "" => None,
        "__lab-name" => Some(format!("{lab}-{node}")),
        p => Some(format!("{p}-{lab}-{node}")),
    }
}

/// warren's name for the lab: containerlab's, lower case, other characters
/// as `-`, at most [`crate::resolve::MAX_LAB_NAME`] bytes; a change is noted.
fn lab_name(cx: &mut Cx<'_>, name: &Spanned<String>) -> String {
    if crate::resolve::lab_name_problem(&name.value).is_none() {
        return name.value.clone();
    }
    let mapped: String = name
        .value
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_start_matches('-')
        .chars()
        .take(crate::resolve::MAX_LAB_NAME)
        .collect();
    if crate::resolve::lab_name_problem(&mapped).is_some() {
        // Resolution reports the name as written.
        return name.value.clone();
    }
    cx.push(
        Diagnostic::error(
            "warren::clab-lab-name",
            name.span,
            format!(
                "the lab runs as `{mapped}`: warren's lab names are lower-case letters, digits and `-`, at most {} bytes",
                crate::resolve::MAX_LAB_NAME
            ),
            "renamed",
        )
        .warning()
        .with_help("`warren down` and `warren exec` take the new name; `--name` picks another"),
    );
    mapped
}

/// A refused node stays a (bare) node, so that its links report nothing
/// more than the refusal; the refusal is an error, so the lab never runs.
fn refused() -> Option<RawNode> {
    Some(RawNode::default())
}

/// The warren node for a containerlab node, by its kind; `None` for a
/// bridge (which becomes a network) and for a node without a kind.
fn kind(
    cx: &mut Cx<'_>,
    name: &Spanned<String>,
    r: &node::Resolved,
    env_files: &[(String, String)],
    out: &mut Built,
) -> Option<RawNode> {
    let refuse = |cx: &mut Cx<'_>, message: String, help: &str| {
        cx.push(
            Diagnostic::error("warren::clab-unsupported", r.kind_span, message, "refused")
                .with_help(help.to_string()),
        );
    };
    let Some(kind) = &r.def.kind else {
        cx.error(
            "warren::missing-key",
            name.span,
            format!(
                "node `{}` has no `kind` (nor its group, kind or defaults)",
                name.value
            ),
            "no kind",
        );
        return None;
    };
    match kind.value.as_str() {
        "linux" => container(cx, name, r, env_files),
        k @ ("keysight_ixia-c-one" | "sonic-vs") => {
            container(cx, name, r, env_files).map(|n| vendor_container(k, n))
        }
        "bridge" | "ovs-bridge" => {
            if kind.value == "ovs-bridge" {
                ignored(
                    cx,
                    kind.span,
                    "`ovs-bridge`",
                    "warren makes a Linux bridge in the lab's hub, not an Open vSwitch bridge",
                );
            }
            out.bridges.push(name.clone());
            out.networks.push(RawNetwork {
                name: name.clone(),
                members: Vec::new(),
                ipv4: None,
                ipv6: None,
                mtu: None,
                impair: None,
                capture: None,
                patch: false,
            });
            None
        }
        "host" => {
            out.hosts.push(name.clone());
            None
        }
        "ext-container" => {
            refuse(
                cx,
                "kind `ext-container` is not supported: it wires a container another engine started, and warren runs without one".into(),
                "make it a `kind: linux` node with its image",
            );
            refused()
        }
        other => {
            refuse(
                cx,
                format!("kind `{other}` is a vendor kind, which warren does not run"),
                "run the vendor's container image as `kind: linux` (a warren `kind: container` node), or write a warren lab file with `kind: vm` for a VM image (docs/containerlab.md)",
            );
            refused()
        }
    }
}

/// A `linux` node: a warren container node.
fn container(
    cx: &mut Cx<'_>,
    name: &Spanned<String>,
    r: &node::Resolved,
    env_files: &[(String, String)],
) -> Option<RawNode> {
    let d = &r.def;
    // The env files' variables first, `env` over them, as containerlab does.
    let mut env: Vec<(String, String)> = Vec::new();
    for f in &d.env_files {
        let Some((_, content)) = env_files.iter().find(|(n, _)| *n == f.value) else {
            cx.push(
                Diagnostic::error(
                    "warren::clab-env-file",
                    f.span,
                    format!("env file `{}` was not read", f.value),
                    "not read",
                )
                .with_help("the warren command reads env files beside the topology; the client library does not"),
            );
            continue;
        };
        for (k, v) in crate::compose::interpolate::parse_env_file(content) {
            env.retain(|(o, _)| *o != k);
            env.push((k, v));
        }
    }
    for (k, v) in &d.env {
        env.retain(|(o, _)| o != k);
        env.push((k.clone(), v.clone()));
    }
    if let Some(mode) = &d.network_mode {
        match mode.value.as_str() {
            "none" | "bridge" | "" => {}
            "host" => {
                cx.push(
                    Diagnostic::error(
                        "warren::clab-unsupported",
                        mode.span,
                        "network-mode host is not supported: warren runs every node in a network namespace of the lab",
                        "refused",
                    )
                    .with_help("use `ports` to reach the node from the host"),
                );
                return None;
            }
            // One of that node's containers (see `netmode.rs`).
            m if m.starts_with("container:") => {}
            m => {
                cx.error(
                    "warren::bad-value",
                    mode.span,
                    format!("invalid network-mode `{m}`"),
                    "expected none, host or container:NODE",
                );
                return None;
            }
        }
    }
    let Some(image) = d.image.clone() else {
        cx.error(
            "warren::missing-image",
            name.span,
            format!(
                "linux node `{}` has no `image` (nor its group, kind or defaults)",
                name.value
            ),
            "no image",
        );
        return None;
    };
    let split = |cx: &mut Cx<'_>, v: &Option<Spanned<String>>, what: &str| {
        let v = v.as_ref()?;
        match node::words(&v.value) {
            Ok(w) => Some(w),
            Err(e) => {
                cx.error(
                    "warren::bad-value",
                    v.span,
                    format!("invalid {what}: {e}"),
                    "invalid value",
                );
                None
            }
        }
    };
    Some(RawNode {
        kind: Some(Spanned::new(NodeKind::Container, r.kind_span)),
        exec: (!d.exec.is_empty()).then(|| d.exec.clone()),
        env,
        sysctls: with_forwarding(&d.sysctls),
        image: Some(image),
        cmd: split(cx, &d.cmd, "cmd"),
        entrypoint: split(cx, &d.entrypoint, "entrypoint"),
        user: d.user.as_ref().map(|u| u.value.clone()),
        binds: (!d.binds.is_empty()).then(|| d.binds.clone()),
        capabilities: {
            let mut caps = d.cap_add.clone();
            if d.privileged.unwrap_or(true) {
                let extra = node::PRIVILEGED_CAPS.iter().map(|c| (*c).to_string());
                caps.extend(extra.filter(|c| !d.cap_add.contains(c)));
            }
            (!caps.is_empty()).then_some(caps)
        },
        ready: d.healthcheck.clone(),
        after: d.wait_for.clone(),
        start_delay: d
            .startup_delay
            .map(|s| crate::values::Duration(s * 1_000_000_000)),
        ..RawNode::default()
    })
}

/// Vendor kinds that are a container image with the usual `eth1`...
/// interfaces, run as `linux` nodes with what containerlab adds for them:
/// `keysight_ixia-c-one` is ready once its init has written
/// `init-done`; `sonic-vs` starts `bgpd` once supervisord runs (warren
/// wires the interfaces before the image's own supervisord starts, which
/// is all containerlab's replaced entrypoint waits for).
fn vendor_container(kind: &str, mut n: RawNode) -> RawNode {
    use crate::model::{Command, Ready};
    const SECOND: u64 = 1_000_000_000;
    match kind {
        "keysight_ixia-c-one" => {
            n.ready.get_or_insert(Ready {
                exec: Some(Command::Argv(vec![
                    "test".into(),
                    "-e".into(),
                    "/home/keysight/ixia-c-one/init-done".into(),
                ])),
                interval: Some(crate::values::Duration(5 * SECOND)),
                timeout: Some(crate::values::Duration(300 * SECOND)),
                ..Ready::default()
            });
        }
        _ => {
            n.exec.get_or_insert_with(Vec::new).insert(
                0,
                Command::Shell(
                    "for i in $(seq 60); do supervisorctl start bgpd && exit 0; sleep 1; done; exit 1"
                        .into(),
                ),
            );
        }
    }
    n
}

/// A node's sysctls with IPv4 forwarding on unless it says otherwise: on a
/// containerlab host Docker has turned `net.ipv4.ip_forward` on, and every
/// container's namespace inherits it, which routing examples rely on.
fn with_forwarding(sysctls: &[(String, String)]) -> Vec<(String, String)> {
    const KEY: &str = "net.ipv4.ip_forward";
    let mut out = Vec::with_capacity(sysctls.len() + 1);
    if !sysctls.iter().any(|(k, _)| k == KEY) {
        out.push((KEY.to_string(), "1".to_string()));
    }
    out.extend(sysctls.iter().cloned());
    out
}

/// A `ports` entry, `[IP:]HOST:PORT[/PROTO]`, as a forward from the host's
/// 127.0.0.1 to the node's management address.
fn forward(
    cx: &mut Cx<'_>,
    node: &Spanned<String>,
    p: &Spanned<String>,
    has_mgmt: bool,
) -> Option<RawForward> {
    let bad = |cx: &mut Cx<'_>, why: &str| {
        cx.error(
            "warren::bad-value",
            p.span,
            format!("invalid port `{}`: {why}", p.value),
            "expected [127.0.0.1:]HOST:PORT[/tcp|/udp]",
        );
        None
    };
    let (spec, proto) = match p.value.split_once('/') {
        Some((s, "tcp")) => (s, Proto::Tcp),
        Some((s, "udp")) => (s, Proto::Udp),
        Some(_) => return bad(cx, "the protocol is tcp or udp"),
        None => (p.value.as_str(), Proto::Tcp),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, port) = match parts.as_slice() {
        [host, port] => (None, *host, *port),
        [ip, host, port] => (Some(*ip), *host, *port),
        _ => return bad(cx, "warren needs the host port (it picks none itself)"),
    };
    if let Some(ip) = ip.filter(|ip| !matches!(*ip, "127.0.0.1" | "0.0.0.0" | "")) {
        ignored(
            cx,
            p.span,
            &format!("the host address {ip}"),
            "warren forwards from 127.0.0.1 only",
        );
    }
    let (Ok(host), Ok(port)) = (host.parse::<u16>(), port.parse::<u16>()) else {
        return bad(
            cx,
            "ports are numbers from 1 to 65535 (ranges are not supported)",
        );
    };
    if host == 0 || port == 0 {
        return bad(cx, "ports are numbers from 1 to 65535");
    }
    if !has_mgmt {
        cx.error(
            "warren::clab-unsupported",
            p.span,
            format!(
                "node `{}` has no management interface (network-mode none) to forward to",
                node.value
            ),
            "nothing to forward to",
        );
        return None;
    }
    Some(RawForward {
        host,
        to: Spanned::new(format!("{}:{}", node.value, mgmt::IFACE), p.span),
        port,
        proto,
    })
}

#[cfg(test)]
mod tests;
