//! The lab file as written: the YAML tree decoded into typed, spanned
//! records, before defaults, references and addresses are resolved.
//!
//! The key lists here are the single source of what each mapping accepts;
//! the JSON Schema test checks `schema/lab.schema.json` against them.

use crate::decode::{Cx, Fields};
use crate::model::{
    Accel, Bind, CloudInitSpec, Command, ConsoleSpec, Distribution, Firmware, Impair, NetconfSpec,
    NodeKind, PidMode, Ready, StartAfter, TunnelType,
};
use crate::span::{Span, Spanned};
use crate::values::{CapabilityName, Duration, IfAddr, Mac, Percent, Prefix, Rate};
use crate::yaml::{Node, Value};
use std::net::IpAddr;

/// Top-level keys.
pub const LAB_KEYS: &[&str] = &[
    "version",
    "name",
    "defaults",
    "nodes",
    "links",
    "networks",
    "interfaces",
    "tunnels",
    "forwards",
    "capture",
    "results",
    "seed",
    "tests",
    "faults",
];
/// Keys of a node (and of `defaults`).
pub const NODE_KEYS: &[&str] = &[
    "kind",
    "exec",
    "env",
    "sysctls",
    "ready",
    "image",
    "cmd",
    "entrypoint",
    "workdir",
    "user",
    "binds",
    "capabilities",
    "provision",
    "privileged",
    "cap_drop",
    "userns",
    "kernel",
    "initrd",
    "append",
    "disk",
    "firmware",
    "memory",
    "cpus",
    "accel",
    "console",
    "nic_model",
    "qemu_args",
    "netconf",
    "cloud_init",
    "containers",
    "after",
    "start_delay",
    "hostname",
    "extra_hosts",
    "init",
    "tmpfs",
    "stop_signal",
    "stop_grace_period",
];
/// Keys of an entry of a node's `containers:`.
pub const MEMBER_KEYS: &[&str] = &[
    "name",
    "image",
    "cmd",
    "entrypoint",
    "workdir",
    "user",
    "env",
    "binds",
    "capabilities",
    "cap_drop",
    "privileged",
    "ready",
    "pid",
];
/// Which node kinds take a node key; keys not listed apply to every kind.
pub fn kinds_taking(key: &str) -> Option<&'static [NodeKind]> {
    const IMAGE: &[NodeKind] = &[NodeKind::Container, NodeKind::System];
    const VM: &[NodeKind] = &[NodeKind::Vm];
    match key {
        "image" | "cmd" | "entrypoint" | "workdir" | "user" | "binds" | "capabilities"
        | "privileged" | "cap_drop" | "userns" => Some(IMAGE),
        "hostname" | "extra_hosts" | "init" | "tmpfs" | "stop_signal" | "stop_grace_period" => {
            Some(&[NodeKind::Container])
        }
        "provision" => Some(&[NodeKind::System]),
        "netconf" => Some(&[NodeKind::System, NodeKind::Vm]),
        "cloud_init" => Some(VM),
        "kernel" | "initrd" | "append" | "disk" | "firmware" | "memory" | "cpus" | "accel"
        | "nic_model" | "qemu_args" | "console" => Some(VM),
        // Members join the node's network namespace, which a vm has not.
        "containers" => Some(&[NodeKind::Netns, NodeKind::Container, NodeKind::System]),
        _ => None,
    }
}
/// Keys of a link in its full form.
pub const LINK_KEYS: &[&str] = &[
    "name",
    "endpoints",
    "ipv4",
    "ipv6",
    "mtu",
    "mac",
    "impair",
    "capture",
];
/// Keys of a network.
pub const NETWORK_KEYS: &[&str] = &[
    "members", "ipv4", "ipv6", "mtu", "impair", "capture", "mode",
];
/// Keys of an `interfaces` entry.
pub const INTERFACE_KEYS: &[&str] = &[
    "ipv4", "ipv6", "mac", "mtu", "routes", "up", "impair", "macvlan", "nat", "ethtool", "host",
];
/// Keys of an interface's `macvlan`.
pub const MACVLAN_KEYS: &[&str] = &["parent", "mode", "tap"];
/// Keys of a tunnel.
pub const TUNNEL_KEYS: &[&str] = &[
    "type", "network", "remote", "vni", "local", "dstport", "netns",
];
/// Keys of a forward.
pub const FORWARD_KEYS: &[&str] = &["host", "to", "port", "proto"];
/// Keys of an impairment.
pub const IMPAIR_KEYS: &[&str] = &[
    "delay",
    "jitter",
    "distribution",
    "loss",
    "loss_correlation",
    "duplicate",
    "reorder",
    "corrupt",
    "rate",
    "limit",
];
/// Keys of `ready`.
pub const READY_KEYS: &[&str] = &["console", "exec", "system_state", "timeout", "interval"];
/// Keys of a vm's `console`.
pub const CONSOLE_KEYS: &[&str] = &["prompt", "login", "password"];
/// Keys of a route in its mapping form.
pub const ROUTE_KEYS: &[&str] = &["to", "via", "dev", "metric", "src", "onlink"];
/// Keys of `netconf` in its mapping form.
pub const NETCONF_KEYS: &[&str] = &["renderer"];
/// Keys of a vm's `cloud_init`.
pub const CLOUD_INIT_KEYS: &[&str] = &["user_data"];
/// Renderers `netconf` accepts.
pub const RENDERERS: &[&str] = &[
    "auto",
    "eni",
    "sysconfig",
    "netplan",
    "networkd",
    "network-manager",
];

/// A container node's host name, hosts entries, init, tmpfs mounts and
/// how it is stopped, as written (also from `defaults`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProcessKeys {
    pub(crate) hostname: Option<String>,
    pub(crate) extra_hosts: Option<std::collections::BTreeMap<String, Vec<IpAddr>>>,
    pub(crate) init: Option<bool>,
    pub(crate) tmpfs: Option<Vec<String>>,
    pub(crate) stop_signal: Option<String>,
    pub(crate) stop_grace_period: Option<crate::values::Duration>,
}

/// Signal names `stop_signal` takes (with or without `SIG`).
const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

impl ProcessKeys {
    fn decode(cx: &mut Cx<'_>, f: &crate::decode::Fields<'_>) -> ProcessKeys {
        let text = |cx: &mut Cx<'_>, k: &str| f.get(k).and_then(|v| cx.string(v, k));
        let stop_signal = text(cx, "stop_signal").and_then(|s| {
            let name = s.value.to_ascii_uppercase();
            let bare = name.strip_prefix("SIG").unwrap_or(&name);
            if SIGNALS.contains(&bare) {
                Some(format!("SIG{bare}"))
            } else {
                cx.error(
                    "warren::bad-value",
                    s.span,
                    format!("unknown signal `{}`", s.value),
                    "expected a name such as SIGTERM or USR1",
                );
                None
            }
        });
        let tmpfs = f
            .get("tmpfs")
            .and_then(|v| cx.list(v, "tmpfs"))
            .map(|items| {
                let mut out = Vec::new();
                for i in items {
                    let Some(s) = cx.string(i, "a tmpfs mount") else {
                        continue;
                    };
                    if s.value.starts_with('/') {
                        out.push(s.value);
                    } else {
                        cx.error(
                            "warren::bad-value",
                            s.span,
                            format!("invalid tmpfs `{}`", s.value),
                            "expected /TARGET or /TARGET:OPTIONS",
                        );
                    }
                }
                out
            });
        let extra_hosts = f.get("extra_hosts").map(|v| extra_hosts(cx, v));
        ProcessKeys {
            hostname: text(cx, "hostname").map(|s| s.value),
            extra_hosts,
            init: f.get("init").and_then(|v| cx.boolean(v, "init")),
            tmpfs,
            stop_signal,
            stop_grace_period: f
                .get("stop_grace_period")
                .and_then(|v| cx.parse(v, "duration"))
                .map(|d| d.value),
        }
    }

    fn inherit(&mut self, d: &ProcessKeys) {
        fn or<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        or(&mut self.hostname, &d.hostname);
        or(&mut self.extra_hosts, &d.extra_hosts);
        or(&mut self.init, &d.init);
        or(&mut self.tmpfs, &d.tmpfs);
        or(&mut self.stop_signal, &d.stop_signal);
        or(&mut self.stop_grace_period, &d.stop_grace_period);
    }
}

/// `extra_hosts`: a mapping of names to an address or a list of them.
fn extra_hosts(cx: &mut Cx<'_>, v: &Node) -> std::collections::BTreeMap<String, Vec<IpAddr>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(entries) = cx.mapping(v, "extra_hosts") else {
        return out;
    };
    for (key, value) in entries {
        let Some(name) = cx.string(key, "a host name") else {
            continue;
        };
        let items: Vec<&Node> = match &value.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        let mut addrs = Vec::new();
        for i in items {
            let Some(a) = cx.string(i, "an IP address") else {
                continue;
            };
            match a.value.parse::<IpAddr>() {
                Ok(ip) => addrs.push(ip),
                Err(_) => cx.error(
                    "warren::bad-value",
                    a.span,
                    format!("`{}` is not an IP address", a.value),
                    "expected an IP address",
                ),
            }
        }
        out.insert(name.value, addrs);
    }
    out
}

/// A node's keys as written (also used for `defaults`).
#[derive(Debug, Clone, Default)]
pub(crate) struct RawNode {
    pub(crate) kind: Option<Spanned<NodeKind>>,
    pub(crate) exec: Option<Vec<Command>>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) sysctls: Vec<(String, String)>,
    pub(crate) ready: Option<Ready>,
    pub(crate) image: Option<Spanned<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) workdir: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) binds: Option<Vec<Bind>>,
    pub(crate) capabilities: Option<Vec<String>>,
    pub(crate) provision: Option<bool>,
    pub(crate) privileged: Option<bool>,
    pub(crate) cap_drop: Option<Vec<String>>,
    pub(crate) userns: Option<bool>,
    pub(crate) kernel: Option<String>,
    pub(crate) initrd: Option<String>,
    pub(crate) append: Option<String>,
    pub(crate) disk: Option<String>,
    pub(crate) firmware: Option<Firmware>,
    pub(crate) memory: Option<u64>,
    pub(crate) cpus: Option<u32>,
    pub(crate) accel: Option<Accel>,
    pub(crate) console: Option<ConsoleSpec>,
    pub(crate) nic_model: Option<String>,
    pub(crate) qemu_args: Option<Vec<String>>,
    pub(crate) netconf: Option<Option<NetconfSpec>>,
    pub(crate) cloud_init: Option<CloudInitSpec>,
    /// `after:`, a node's own (never inherited from `defaults`).
    pub(crate) after: Vec<(Spanned<String>, StartAfter)>,
    pub(crate) start_delay: Option<Duration>,
    pub(crate) process: ProcessKeys,
    /// Keys written on this node itself, for kind checks.
    pub(crate) keys: Vec<(&'static str, Span)>,
    /// Further host names (not a lab file key: containerlab's `clab-LAB-NODE`).
    pub(crate) aliases: Vec<String>,
    pub(crate) containers: Option<Vec<RawMember>>,
}

/// An entry of a node's `containers:` as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawMember {
    /// The entry itself, where a missing `name` or `image` is reported.
    pub(crate) span: Span,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) image: Option<Spanned<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) workdir: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) binds: Vec<Bind>,
    pub(crate) capabilities: Vec<String>,
    pub(crate) cap_drop: Vec<String>,
    pub(crate) privileged: bool,
    pub(crate) ready: Option<Ready>,
    /// Where `ready` is written when it has a `console` regex, which a
    /// member cannot have: it has no console.
    pub(crate) ready_console: Option<Span>,
    pub(crate) pid: PidMode,
}

impl RawNode {
    /// Fills what this node leaves unset from `d` (the lab's `defaults`).
    /// Maps merge key by key, with the node's own entries winning.
    pub(crate) fn inherit(mut self, d: &RawNode) -> RawNode {
        fn or<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        or(&mut self.kind, &d.kind);
        or(&mut self.exec, &d.exec);
        or(&mut self.ready, &d.ready);
        or(&mut self.image, &d.image);
        or(&mut self.cmd, &d.cmd);
        or(&mut self.entrypoint, &d.entrypoint);
        or(&mut self.workdir, &d.workdir);
        or(&mut self.user, &d.user);
        or(&mut self.binds, &d.binds);
        or(&mut self.capabilities, &d.capabilities);
        or(&mut self.provision, &d.provision);
        or(&mut self.privileged, &d.privileged);
        or(&mut self.cap_drop, &d.cap_drop);
        or(&mut self.userns, &d.userns);
        or(&mut self.kernel, &d.kernel);
        or(&mut self.initrd, &d.initrd);
        or(&mut self.append, &d.append);
        or(&mut self.disk, &d.disk);
        or(&mut self.firmware, &d.firmware);
        or(&mut self.memory, &d.memory);
        or(&mut self.cpus, &d.cpus);
        or(&mut self.accel, &d.accel);
        or(&mut self.console, &d.console);
        or(&mut self.nic_model, &d.nic_model);
        or(&mut self.qemu_args, &d.qemu_args);
        or(&mut self.netconf, &d.netconf);
        self.process.inherit(&d.process);
        or(&mut self.cloud_init, &d.cloud_init);
        or(&mut self.containers, &d.containers);
        or(&mut self.start_delay, &d.start_delay);
        for map in [(&mut self.env, &d.env), (&mut self.sysctls, &d.sysctls)] {
            let (own, inherited) = map;
            let mut merged: Vec<(String, String)> = inherited
                .iter()
                .filter(|(k, _)| !own.iter().any(|(o, _)| o == k))
                .cloned()
                .collect();
            merged.append(own);
            *own = merged;
        }
        self
    }
}

/// A link as written.
#[derive(Debug, Clone)]
pub(crate) struct RawLink {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) endpoints: Vec<Spanned<String>>,
    pub(crate) ipv4: Vec<Option<Spanned<IfAddr>>>,
    pub(crate) ipv6: Vec<Option<Spanned<IfAddr>>>,
    pub(crate) mtu: Option<u32>,
    pub(crate) mac: Vec<Option<Mac>>,
    pub(crate) impair: Option<Impair>,
    pub(crate) capture: Option<bool>,
}

/// A network as written.
#[derive(Debug, Clone)]
pub(crate) struct RawNetwork {
    pub(crate) name: Spanned<String>,
    pub(crate) members: Vec<Spanned<String>>,
    pub(crate) ipv4: Option<Spanned<Prefix>>,
    pub(crate) ipv6: Option<Spanned<Prefix>>,
    pub(crate) mtu: Option<u32>,
    pub(crate) impair: Option<Impair>,
    pub(crate) capture: Option<bool>,
    /// `mode: patch`: two members joined by tc mirred, no bridge.
    pub(crate) patch: bool,
}

/// An `interfaces` entry as written.
#[derive(Debug, Clone)]
pub(crate) struct RawInterface {
    pub(crate) endpoint: Spanned<String>,
    pub(crate) ipv4: Vec<Spanned<IfAddr>>,
    pub(crate) ipv6: Vec<Spanned<IfAddr>>,
    pub(crate) mac: Option<Mac>,
    pub(crate) mtu: Option<u32>,
    pub(crate) routes: Vec<Spanned<RawRoute>>,
    pub(crate) up: Option<bool>,
    pub(crate) impair: Option<Impair>,
    pub(crate) macvlan: Option<crate::model::Macvlan>,
    pub(crate) nat: Option<Spanned<std::net::Ipv4Addr>>,
    pub(crate) ethtool: Vec<crate::model::Ethtool>,
    /// `host`: the interface is a veth whose peer, of this name, is in the
    /// host's namespace.
    pub(crate) host: Option<Spanned<String>>,
}

/// A route as written, before its gateway is checked.
#[derive(Debug, Clone)]
pub(crate) struct RawRoute {
    pub(crate) to: Option<Prefix>,
    pub(crate) via: Option<IpAddr>,
    pub(crate) dev: Option<String>,
    pub(crate) metric: Option<u32>,
    pub(crate) src: Option<IpAddr>,
    pub(crate) onlink: bool,
}

/// The words of a route as written, before they are checked.
#[derive(Debug, Default)]
struct RouteWords {
    to: Option<String>,
    via: Option<String>,
    dev: Option<String>,
    metric: Option<String>,
    src: Option<String>,
    onlink: bool,
}

/// A tunnel as written.
#[derive(Debug, Clone)]
pub(crate) struct RawTunnel {
    pub(crate) kind: TunnelType,
    pub(crate) network: Spanned<String>,
    pub(crate) remote: IpAddr,
    pub(crate) vni: u32,
    pub(crate) local: Option<IpAddr>,
    pub(crate) dstport: Option<u16>,
    pub(crate) netns: Option<String>,
}

/// A forward as written: host port to a port on a node's interface.
#[derive(Debug, Clone)]
pub(crate) struct RawForward {
    pub(crate) host: u16,
    pub(crate) to: Spanned<String>,
    pub(crate) port: u16,
    pub(crate) proto: crate::model::Proto,
}

/// The whole file as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawLab {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) defaults: RawNode,
    pub(crate) nodes: Vec<(Spanned<String>, RawNode)>,
    pub(crate) links: Vec<RawLink>,
    pub(crate) networks: Vec<RawNetwork>,
    pub(crate) interfaces: Vec<RawInterface>,
    pub(crate) tunnels: Vec<RawTunnel>,
    pub(crate) forwards: Vec<RawForward>,
    pub(crate) capture: Option<Spanned<crate::model::CaptureMode>>,
    pub(crate) capture_names: Vec<Spanned<String>>,
    /// `capture: {buffer: ...}`: ring bytes per capture point.
    pub(crate) capture_buffer: Option<u64>,
    pub(crate) results: Option<String>,
    pub(crate) seed: Option<u64>,
}

/// Decodes the top level of a lab file. Tests and faults are decoded by [`crate::steps`].
pub(crate) fn lab<'a>(cx: &mut Cx<'_>, root: &'a Node) -> Option<(RawLab, Fields<'a>)> {
    if matches!(root.value, Value::Null) {
        cx.error(
            "warren::empty",
            root.span,
            "the lab file is empty",
            "nothing here",
        );
        return None;
    }
    let f = cx.fields_with_extensions(root, "the lab file", LAB_KEYS)?;
    let mut lab = RawLab::default();
    if let Some(v) = f.get("version")
        && let Some(n) = cx.uint(v, "version", 0, u64::MAX)
        && n != 1
    {
        cx.error(
            "warren::bad-value",
            v.span,
            format!("unsupported lab file version {n}"),
            "this warren reads version 1",
        );
    }
    lab.name = f.get("name").and_then(|v| cx.string(v, "the lab name"));
    if let Some(d) = f.get("defaults") {
        lab.defaults = node(cx, d, "defaults").unwrap_or_default();
    }
    if let Some(nodes) = f.get("nodes").and_then(|n| cx.mapping(n, "nodes")) {
        for (k, v) in nodes {
            let Some(name) = cx.string(k, "a node name") else {
                continue;
            };
            let what = format!("node `{}`", name.value);
            let n = node(cx, v, &what).unwrap_or_default();
            lab.nodes.push((name, n));
        }
    }
    if let Some(links) = f.get("links").and_then(|n| cx.list(n, "links")) {
        lab.links = links.iter().filter_map(|l| link(cx, l)).collect();
    }
    if let Some(nets) = f.get("networks").and_then(|n| cx.mapping(n, "networks")) {
        for (k, v) in nets {
            let Some(name) = cx.string(k, "a network name") else {
                continue;
            };
            if let Some(n) = network(cx, name, v) {
                lab.networks.push(n);
            }
        }
    }
    if let Some(ifs) = f
        .get("interfaces")
        .and_then(|n| cx.mapping(n, "interfaces"))
    {
        for (k, v) in ifs {
            let Some(ep) = cx.string(k, "an interface (node:if)") else {
                continue;
            };
            if let Some(i) = interface(cx, ep, v) {
                lab.interfaces.push(i);
            }
        }
    }
    if let Some(tuns) = f.get("tunnels").and_then(|n| cx.list(n, "tunnels")) {
        lab.tunnels = tuns.iter().filter_map(|t| tunnel(cx, t)).collect();
    }
    if let Some(fw) = f.get("forwards").and_then(|n| cx.list(n, "forwards")) {
        lab.forwards = fw.iter().filter_map(|t| forward(cx, t)).collect();
    }
    if let Some(c) = f.get("capture") {
        capture(cx, c, &mut lab);
    }
    lab.results = f
        .get("results")
        .and_then(|v| cx.string(v, "results"))
        .map(|s| s.value);
    lab.seed = f.get("seed").and_then(|v| cx.uint(v, "seed", 0, u64::MAX));
    Some((lab, f))
}

fn capture(cx: &mut Cx<'_>, c: &Node, lab: &mut RawLab) {
    use crate::model::CaptureMode;
    match &c.value {
        Value::Scalar { .. } => {
            if let Some(mode) = cx.choice(c, "capture", &[("all", 0), ("none", 1)]) {
                let m = if mode == 0 {
                    CaptureMode::All
                } else {
                    CaptureMode::None
                };
                lab.capture = Some(Spanned::new(m, c.span));
            }
        }
        Value::Map(_) => {
            // `{buffer: SIZE}` captures everything, `{buffer: SIZE, only:
            // [...]}` the named links and networks, with rings of SIZE.
            let Some(f) = cx.fields(c, "capture", CAPTURE_KEYS) else {
                return;
            };
            if let Some(b) = f.get("buffer") {
                lab.capture_buffer = capture_buffer(cx, b);
            }
            match f.get("only") {
                Some(only) => capture_list(cx, only, lab),
                None => lab.capture = Some(Spanned::new(CaptureMode::All, c.span)),
            }
        }
        _ => capture_list(cx, c, lab),
    }
}

/// Keys of the mapping form of `capture`.
pub const CAPTURE_KEYS: &[&str] = &["buffer", "only"];

/// Smallest and largest `capture: {buffer: ...}`, in bytes: one 256 KiB
/// ring block, and 1 GiB.
pub const CAPTURE_BUFFER_RANGE: (u64, u64) = (256 << 10, 1 << 30);

/// `buffer`: bytes as a number or with a binary unit (`512K`, `8M`, `1G`).
fn capture_buffer(cx: &mut Cx<'_>, v: &Node) -> Option<u64> {
    let s = cx.string(v, "capture.buffer")?;
    let t = s.value.trim().trim_end_matches(['B', 'b', 'i']);
    let (num, shift) = match t.chars().last() {
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        _ => (t, 0),
    };
    let (min, max) = CAPTURE_BUFFER_RANGE;
    match num
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
    {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            cx.error(
                "warren::bad-value",
                s.span,
                format!("invalid capture buffer `{}`", s.value),
                "expected a ring size per capture point from 256K to 1G, such as 4M",
            );
            None
        }
    }
}

/// The list form of `capture`: the names of the captured links and networks.
fn capture_list(cx: &mut Cx<'_>, c: &Node, lab: &mut RawLab) {
    use crate::model::CaptureMode;
    if let Some(items) = cx.list(c, "capture") {
        lab.capture_names = items
            .iter()
            .filter_map(|i| cx.string(i, "a captured link or network"))
            .collect();
        let names = lab.capture_names.iter().map(|s| s.value.clone()).collect();
        lab.capture = Some(Spanned::new(CaptureMode::Only(names), c.span));
    }
}

/// Decodes a node or the `defaults` mapping.
fn node(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<RawNode> {
    let f = cx.fields(v, what, NODE_KEYS)?;
    let mut n = RawNode {
        keys: f
            .keys()
            .filter_map(|(k, s)| NODE_KEYS.iter().find(|n| **n == k).map(|n| (*n, s)))
            .collect(),
        ..RawNode::default()
    };
    if let Some(k) = f.get("kind") {
        n.kind = cx
            .choice(k, "node kind", &NodeKind::ALL)
            .map(|kind| Spanned::new(kind, k.span));
    }
    n.exec = f.get("exec").and_then(|v| commands(cx, v, "exec"));
    if let Some(e) = f.get("env") {
        n.env = cx.string_map(e, "env").unwrap_or_default();
    }
    if let Some(s) = f.get("sysctls") {
        n.sysctls = cx.string_map(s, "sysctls").unwrap_or_default();
    }
    n.ready = f.get("ready").and_then(|v| ready(cx, v));
    n.image = f.get("image").and_then(|v| cx.string(v, "image"));
    n.cmd = f.get("cmd").and_then(|v| argv(cx, v, "cmd"));
    n.entrypoint = f.get("entrypoint").and_then(|v| argv(cx, v, "entrypoint"));
    n.workdir = f
        .get("workdir")
        .and_then(|v| cx.string(v, "workdir"))
        .map(|s| s.value);
    n.user = f
        .get("user")
        .and_then(|v| cx.string(v, "user"))
        .map(|s| s.value);
    n.binds = f.get("binds").and_then(|v| binds(cx, v));
    n.capabilities = f
        .get("capabilities")
        .and_then(|v| capabilities(cx, v, "capabilities"));
    n.provision = f.get("provision").and_then(|v| cx.boolean(v, "provision"));
    n.process = ProcessKeys::decode(cx, &f);
    n.privileged = f
        .get("privileged")
        .and_then(|v| cx.boolean(v, "privileged"));
    n.cap_drop = f
        .get("cap_drop")
        .and_then(|v| capabilities(cx, v, "cap_drop"));
    n.userns = f.get("userns").and_then(|v| cx.boolean(v, "userns"));
    n.kernel = f
        .get("kernel")
        .and_then(|v| cx.string(v, "kernel"))
        .map(|s| s.value);
    n.initrd = f
        .get("initrd")
        .and_then(|v| cx.string(v, "initrd"))
        .map(|s| s.value);
    n.append = f
        .get("append")
        .and_then(|v| cx.string(v, "append"))
        .map(|s| s.value);
    n.disk = f
        .get("disk")
        .and_then(|v| cx.string(v, "disk"))
        .map(|s| s.value);
    n.firmware = f.get("firmware").and_then(|v| {
        cx.choice(
            v,
            "firmware",
            &[("bios", Firmware::Bios), ("uefi", Firmware::Uefi)],
        )
    });
    n.memory = f.get("memory").and_then(|v| memory(cx, v));
    n.cpus = f
        .get("cpus")
        .and_then(|v| cx.uint(v, "cpus", 1, 255))
        .map(|c| u32::try_from(c).unwrap_or(1));
    n.accel = f.get("accel").and_then(|v| {
        cx.choice(
            v,
            "accel",
            &[
                ("auto", Accel::Auto),
                ("kvm", Accel::Kvm),
                ("tcg", Accel::Tcg),
            ],
        )
    });
    n.console = f.get("console").and_then(|v| console(cx, v));
    n.nic_model = f
        .get("nic_model")
        .and_then(|v| cx.string(v, "nic_model"))
        .map(|s| s.value);
    n.qemu_args = f.get("qemu_args").and_then(|v| argv(cx, v, "qemu_args"));
    n.netconf = f.get("netconf").and_then(|v| netconf(cx, v));
    n.cloud_init = f.get("cloud_init").and_then(|v| cloud_init(cx, v));
    n.containers = f.get("containers").and_then(|v| members(cx, v));
    if let Some(a) = f.get("after") {
        n.after = after(cx, a, what);
    }
    n.start_delay = duration(cx, &f, "start_delay");
    Some(n)
}

/// `after`: a list of node names (each waited for until ready), or a
/// mapping of node names to `started`, `ready` or `completed`.
fn after(cx: &mut Cx<'_>, v: &Node, what: &str) -> Vec<(Spanned<String>, StartAfter)> {
    if what == "defaults" {
        cx.error(
            "warren::bad-value",
            v.span,
            "`after` belongs on a node, not in `defaults`",
            "not inherited",
        );
        return Vec::new();
    }
    match &v.value {
        Value::Map(_) => cx
            .mapping(v, "after")
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, c)| {
                let name = cx.string(k, "a node name")?;
                let when = cx.choice(c, "after condition", &StartAfter::ALL)?;
                Some((name, when))
            })
            .collect(),
        _ => cx
            .list(v, "after")
            .unwrap_or_default()
            .iter()
            .filter_map(|i| cx.string(i, "a node name"))
            .map(|n| (n, StartAfter::Ready))
            .collect(),
    }
}

/// `containers:`: a list of application containers in the node.
fn members(cx: &mut Cx<'_>, v: &Node) -> Option<Vec<RawMember>> {
    let items = cx.list(v, "containers")?;
    items.iter().map(|i| member(cx, i)).collect()
}

fn member(cx: &mut Cx<'_>, v: &Node) -> Option<RawMember> {
    let f = cx.fields(v, "a container", MEMBER_KEYS)?;
    let ready_at = f.get("ready").map(|r| r.span);
    let ready = f.get("ready").and_then(|r| ready(cx, r));
    Some(RawMember {
        span: v.span,
        name: f.get("name").and_then(|v| cx.string(v, "name")),
        image: f.get("image").and_then(|v| cx.string(v, "image")),
        cmd: f.get("cmd").and_then(|v| argv(cx, v, "cmd")),
        entrypoint: f.get("entrypoint").and_then(|v| argv(cx, v, "entrypoint")),
        workdir: f
            .get("workdir")
            .and_then(|v| cx.string(v, "workdir"))
            .map(|s| s.value),
        user: f
            .get("user")
            .and_then(|v| cx.string(v, "user"))
            .map(|s| s.value),
        env: f
            .get("env")
            .and_then(|e| cx.string_map(e, "env"))
            .unwrap_or_default(),
        binds: f
            .get("binds")
            .and_then(|v| binds(cx, v))
            .unwrap_or_default(),
        capabilities: f
            .get("capabilities")
            .and_then(|v| capabilities(cx, v, "capabilities"))
            .unwrap_or_default(),
        cap_drop: f
            .get("cap_drop")
            .and_then(|v| capabilities(cx, v, "cap_drop"))
            .unwrap_or_default(),
        privileged: f
            .get("privileged")
            .and_then(|v| cx.boolean(v, "privileged"))
            .unwrap_or(false),
        ready_console: ready_at.filter(|_| ready.as_ref().is_some_and(|r| r.console.is_some())),
        ready,
        pid: f
            .get("pid")
            .and_then(|v| cx.choice(v, "pid", &[("own", PidMode::Own), ("node", PidMode::Node)]))
            .unwrap_or_default(),
    })
}

/// `exec`: a string, or a list whose items are strings (through `sh -c`) or lists (argv).
pub(crate) fn commands(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<Vec<Command>> {
    match &v.value {
        Value::Scalar { text, .. } => Some(vec![Command::Shell(text.clone())]),
        _ => {
            let items = cx.list(v, what)?;
            items.iter().map(|i| command(cx, i, what)).collect()
        }
    }
}

/// One command: a string runs through `sh -c`, a list runs directly.
pub(crate) fn command(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<Command> {
    match &v.value {
        Value::Scalar { text, .. } => Some(Command::Shell(text.clone())),
        Value::Seq(_) => {
            let argv = cx.strings(v, what)?;
            if argv.is_empty() {
                cx.error(
                    "warren::bad-value",
                    v.span,
                    format!("{what}: an empty command"),
                    "nothing to run",
                );
                return None;
            }
            Some(Command::Argv(argv))
        }
        _ => {
            cx.error(
                "warren::wrong-type",
                v.span,
                format!("{what} must be a string or a list"),
                "expected a command",
            );
            None
        }
    }
}

/// `cmd` and `entrypoint`: a list, or a string split on whitespace as docker's shell-less form.
fn argv(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<Vec<String>> {
    match &v.value {
        Value::Scalar { text, .. } => Some(text.split_whitespace().map(str::to_string).collect()),
        _ => cx.strings(v, what),
    }
}

/// A capability name or a list of them; unknown names are errors.
fn capabilities(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<Vec<String>> {
    let items = match &v.value {
        Value::Scalar { .. } => std::slice::from_ref(v),
        _ => cx.list(v, what)?,
    };
    let names: Vec<Option<String>> = items
        .iter()
        .map(|i| {
            cx.parse::<CapabilityName>(i, "capability")
                .map(|c| c.value.0)
        })
        .collect();
    names.into_iter().collect()
}

pub(crate) fn binds(cx: &mut Cx<'_>, v: &Node) -> Option<Vec<Bind>> {
    let items = cx.list(v, "binds")?;
    let mut out = Vec::new();
    for i in items {
        let s = cx.string(i, "a bind")?;
        let parts: Vec<&str> = s.value.split(':').collect();
        let bind = match parts.as_slice() {
            [src, dst] => Some((src, dst, false)),
            [src, dst, "ro"] => Some((src, dst, true)),
            [src, dst, "rw"] => Some((src, dst, false)),
            _ => None,
        };
        match bind {
            Some((src, dst, readonly)) if dst.starts_with('/') && !src.is_empty() => {
                out.push(Bind {
                    source: (*src).to_string(),
                    target: (*dst).to_string(),
                    readonly,
                })
            }
            _ => cx.error(
                "warren::bad-value",
                s.span,
                format!("invalid bind `{}`", s.value),
                "expected SOURCE:/TARGET or SOURCE:/TARGET:ro",
            ),
        }
    }
    Some(out)
}

/// `memory`: MiB as a number, or with a unit (`512M`, `2G`).
fn memory(cx: &mut Cx<'_>, v: &Node) -> Option<u64> {
    let s = cx.string(v, "memory")?;
    let t = s.value.trim().trim_end_matches(['B', 'b', 'i']);
    let (num, factor) = match t.chars().last() {
        Some('G' | 'g') => (&t[..t.len() - 1], 1024),
        Some('M' | 'm') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 && n.checked_mul(factor).is_some() => Some(n * factor),
        _ => {
            cx.error(
                "warren::bad-value",
                s.span,
                format!("invalid memory `{}`", s.value),
                "expected MiB such as 256, 512M or 2G",
            );
            None
        }
    }
}

fn ready(cx: &mut Cx<'_>, v: &Node) -> Option<Ready> {
    let f = cx.fields(v, "ready", READY_KEYS)?;
    Some(Ready {
        console: f
            .get("console")
            .and_then(|v| regex_text(cx, v, "ready.console")),
        exec: f.get("exec").and_then(|v| command(cx, v, "ready.exec")),
        system_state: f
            .get("system_state")
            .and_then(|v| cx.strings(v, "system_state"))
            .unwrap_or_default(),
        timeout: duration(cx, &f, "timeout"),
        interval: duration(cx, &f, "interval"),
    })
}

/// A regular expression; checked for size and balance only, since the pure
/// crate carries no regex engine: the runtime compiles it.
pub(crate) fn regex_text(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<String> {
    let s = cx.string(v, what)?;
    let mut depth: i32 = 0;
    let mut escaped = false;
    let mut in_class = false;
    for c in s.value.chars() {
        match (escaped, in_class, c) {
            (false, _, '\\') => escaped = true,
            (false, false, '[') => in_class = true,
            (false, true, ']') => in_class = false,
            (false, false, '(') => depth += 1,
            (false, false, ')') => depth -= 1,
            _ => escaped = false,
        }
        if depth < 0 {
            break;
        }
    }
    if depth != 0 {
        cx.error(
            "warren::bad-value",
            s.span,
            format!("invalid {what}: unbalanced parentheses"),
            "not a regular expression",
        );
        return None;
    }
    Some(s.value)
}

/// Reads an optional duration field.
pub(crate) fn duration(cx: &mut Cx<'_>, f: &Fields<'_>, key: &str) -> Option<Duration> {
    f.get(key)
        .and_then(|v| cx.parse::<Duration>(v, key))
        .map(|d| d.value)
}

fn console(cx: &mut Cx<'_>, v: &Node) -> Option<ConsoleSpec> {
    let f = cx.fields(v, "console", CONSOLE_KEYS)?;
    Some(ConsoleSpec {
        prompt: f
            .get("prompt")
            .and_then(|v| regex_text(cx, v, "console.prompt")),
        login: f
            .get("login")
            .and_then(|v| cx.string(v, "console.login"))
            .map(|s| s.value),
        password: f
            .get("password")
            .and_then(|v| cx.string(v, "console.password"))
            .map(|s| s.value),
    })
}

/// `cloud_init: {user_data: FILE}`.
fn cloud_init(cx: &mut Cx<'_>, v: &Node) -> Option<CloudInitSpec> {
    let f = cx.fields(v, "cloud_init", CLOUD_INIT_KEYS)?;
    Some(CloudInitSpec {
        user_data: f
            .get("user_data")
            .and_then(|v| cx.string(v, "user_data"))
            .map(|s| s.value),
    })
}

/// `netconf: true | false | {renderer: ...}`; `Some(None)` is an explicit `false`.
fn netconf(cx: &mut Cx<'_>, v: &Node) -> Option<Option<NetconfSpec>> {
    if let Value::Scalar { plain: true, .. } = &v.value {
        let on = cx.boolean(v, "netconf")?;
        return Some(on.then(|| NetconfSpec {
            renderer: "auto".into(),
        }));
    }
    let f = cx.fields(v, "netconf", NETCONF_KEYS)?;
    let renderer = match f.get("renderer") {
        Some(r) => {
            let choices: Vec<(&str, &str)> = RENDERERS.iter().map(|r| (*r, *r)).collect();
            cx.choice(r, "renderer", &choices)?.to_string()
        }
        None => "auto".to_string(),
    };
    Some(Some(NetconfSpec { renderer }))
}

/// Reads an MTU.
fn mtu(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<u32> {
    f.get("mtu")
        .and_then(|v| cx.uint(v, "mtu", 68, 65535))
        .and_then(|m| u32::try_from(m).ok())
}

/// Reads a pair written as `[a, b]`; either side may be null.
fn pair<T>(
    cx: &mut Cx<'_>,
    v: &Node,
    what: &str,
    mut one: impl FnMut(&mut Cx<'_>, &Node) -> Option<T>,
) -> Vec<Option<T>> {
    let Some(items) = cx.list(v, what) else {
        return Vec::new();
    };
    if items.len() != 2 {
        cx.error(
            "warren::bad-value",
            v.span,
            format!(
                "{what} needs two values, one per endpoint, found {}",
                items.len()
            ),
            "expected [a, b]",
        );
        return Vec::new();
    }
    items
        .iter()
        .map(|i| match i.value {
            Value::Null => None,
            _ => one(cx, i),
        })
        .collect()
}

fn link(cx: &mut Cx<'_>, v: &Node) -> Option<RawLink> {
    let mut l = RawLink {
        name: None,
        endpoints: Vec::new(),
        ipv4: Vec::new(),
        ipv6: Vec::new(),
        mtu: None,
        mac: Vec::new(),
        impair: None,
        capture: None,
    };
    let eps = match &v.value {
        Value::Seq(_) => v,
        _ => {
            let f = cx.fields(v, "a link", LINK_KEYS)?;
            l.name = f.get("name").and_then(|n| cx.string(n, "link name"));
            l.ipv4 = f
                .get("ipv4")
                .map(|n| pair(cx, n, "ipv4", |cx, i| cx.parse(i, "IPv4 address")))
                .unwrap_or_default();
            l.ipv6 = f
                .get("ipv6")
                .map(|n| pair(cx, n, "ipv6", |cx, i| cx.parse(i, "IPv6 address")))
                .unwrap_or_default();
            l.mtu = mtu(cx, &f);
            l.mac = f
                .get("mac")
                .map(|n| {
                    pair(cx, n, "mac", |cx, i| {
                        cx.parse::<Mac>(i, "MAC address").map(|m| m.value)
                    })
                })
                .unwrap_or_default();
            l.impair = f.get("impair").and_then(|n| impair(cx, n));
            l.capture = f.get("capture").and_then(|n| cx.boolean(n, "capture"));
            match f.get("endpoints") {
                Some(e) => e,
                None => {
                    cx.error(
                        "warren::missing-key",
                        v.span,
                        "a link needs `endpoints`",
                        "this link",
                    );
                    return None;
                }
            }
        }
    };
    let items = cx.list(eps, "endpoints")?;
    if items.len() != 2 {
        cx.error(
            "warren::bad-value",
            eps.span,
            format!("a link joins exactly two endpoints, found {}", items.len()),
            "expected [node:if, node:if]",
        );
        return None;
    }
    l.endpoints = items
        .iter()
        .filter_map(|i| cx.string(i, "an endpoint (node:if)"))
        .collect();
    (l.endpoints.len() == 2).then_some(l)
}

fn network(cx: &mut Cx<'_>, name: Spanned<String>, v: &Node) -> Option<RawNetwork> {
    let what = format!("network `{}`", name.value);
    let f = cx.fields(v, &what, NETWORK_KEYS)?;
    let members = f
        .get("members")
        .and_then(|m| cx.list(m, "members"))
        .map(|items| {
            items
                .iter()
                .filter_map(|i| cx.string(i, "a member (node:if)"))
                .collect()
        })
        .unwrap_or_default();
    Some(RawNetwork {
        members,
        ipv4: f.get("ipv4").and_then(|p| cx.parse(p, "IPv4 prefix")),
        ipv6: f.get("ipv6").and_then(|p| cx.parse(p, "IPv6 prefix")),
        mtu: mtu(cx, &f),
        impair: f.get("impair").and_then(|n| impair(cx, n)),
        capture: f.get("capture").and_then(|n| cx.boolean(n, "capture")),
        patch: f
            .get("mode")
            .and_then(|n| cx.choice(n, "network mode", &[("bridge", false), ("patch", true)]))
            .unwrap_or(false),
        name,
    })
}

fn interface(cx: &mut Cx<'_>, endpoint: Spanned<String>, v: &Node) -> Option<RawInterface> {
    let what = format!("interface `{}`", endpoint.value);
    let f = cx.fields(v, &what, INTERFACE_KEYS)?;
    let addrs = |cx: &mut Cx<'_>, key: &str, what: &str| -> Vec<Spanned<IfAddr>> {
        f.get(key)
            .and_then(|n| {
                cx.list(n, key)
                    .map(|items| items.iter().filter_map(|i| cx.parse(i, what)).collect())
            })
            .unwrap_or_default()
    };
    let ipv4 = addrs(cx, "ipv4", "IPv4 address");
    let ipv6 = addrs(cx, "ipv6", "IPv6 address");
    let routes = f
        .get("routes")
        .and_then(|n| cx.list(n, "routes"))
        .map(|items| items.iter().filter_map(|i| route(cx, i)).collect())
        .unwrap_or_default();
    Some(RawInterface {
        endpoint,
        ipv4,
        ipv6,
        mac: f
            .get("mac")
            .and_then(|n| cx.parse::<Mac>(n, "MAC address"))
            .map(|m| m.value),
        mtu: mtu(cx, &f),
        routes,
        up: f.get("up").and_then(|n| cx.boolean(n, "up")),
        impair: f.get("impair").and_then(|n| impair(cx, n)),
        macvlan: f.get("macvlan").and_then(|n| macvlan(cx, n)),
        nat: f.get("nat").and_then(|n| nat(cx, n)),
        ethtool: f
            .get("ethtool")
            .and_then(|n| cx.list(n, "ethtool"))
            .map(|items| items.iter().filter_map(|i| ethtool(cx, i)).collect())
            .unwrap_or_default(),
        host: f.get("host").and_then(|n| cx.string(n, "host")),
    })
}

/// `nat: IPV4`, the address traffic arriving on the interface is DNATed to.
fn nat(cx: &mut Cx<'_>, v: &Node) -> Option<Spanned<std::net::Ipv4Addr>> {
    let s = cx.string(v, "nat")?;
    match s.value.parse() {
        Ok(a) => Some(Spanned::new(a, s.span)),
        Err(_) => {
            cx.error(
                "warren::bad-value",
                s.span,
                format!("invalid nat: `{}` is not an IPv4 address", s.value),
                "expected an IPv4 address such as 10.0.0.9",
            );
            None
        }
    }
}

/// One `ethtool` entry: `"OPTION [ARGS...]"`, run as `ethtool OPTION IF ARGS...`.
fn ethtool(cx: &mut Cx<'_>, v: &Node) -> Option<crate::model::Ethtool> {
    let s = cx.string(v, "an ethtool entry")?;
    let mut words = s.value.split_whitespace().map(str::to_string);
    match words.next() {
        Some(option) if option.starts_with('-') && option.len() > 1 => {
            Some(crate::model::Ethtool {
                option,
                args: words.collect(),
            })
        }
        _ => {
            cx.error(
                "warren::bad-value",
                s.span,
                format!(
                    "invalid ethtool entry `{}`: it starts with an ethtool option",
                    s.value
                ),
                "expected such as `--offload rx off` (ethtool OPTION IF ARGS)",
            );
            None
        }
    }
}

/// `macvlan: {parent, mode, tap}`.
fn macvlan(cx: &mut Cx<'_>, v: &Node) -> Option<crate::model::Macvlan> {
    let f = cx.fields(v, "a macvlan", MACVLAN_KEYS)?;
    let Some(parent) = f.get("parent").and_then(|n| cx.string(n, "parent")) else {
        cx.error(
            "warren::missing-key",
            f.span,
            "a macvlan needs `parent`",
            "this macvlan",
        );
        return None;
    };
    let mode = match f.get("mode") {
        Some(m) => Some(cx.choice(
            m,
            "macvlan mode",
            &[
                ("bridge", "bridge"),
                ("private", "private"),
                ("vepa", "vepa"),
                ("passthru", "passthru"),
                ("source", "source"),
            ],
        )?),
        None => None,
    };
    Some(crate::model::Macvlan {
        parent: parent.value,
        mode: mode.map(str::to_string),
        tap: f
            .get("tap")
            .and_then(|n| cx.boolean(n, "tap"))
            .unwrap_or(false),
    })
}

/// A route: `"DEST [via GW] [dev IF] [metric N] [src ADDR] [onlink]"` or
/// `{to, via, dev, metric, src, onlink}`.
fn route(cx: &mut Cx<'_>, v: &Node) -> Option<Spanned<RawRoute>> {
    let parsed = match &v.value {
        Value::Scalar { text, .. } => route_text(text),
        _ => {
            let f = cx.fields(v, "a route", ROUTE_KEYS)?;
            let text =
                |cx: &mut Cx<'_>, k: &str| f.get(k).and_then(|n| cx.string(n, k)).map(|s| s.value);
            let onlink = match f.get("onlink") {
                Some(n) => cx.boolean(n, "onlink")?,
                None => false,
            };
            route_parts(RouteWords {
                to: text(cx, "to").filter(|t| t != "default"),
                via: text(cx, "via"),
                dev: text(cx, "dev"),
                metric: text(cx, "metric"),
                src: text(cx, "src"),
                onlink,
            })
        }
    };
    match parsed {
        Ok(r) => Some(Spanned::new(r, v.span)),
        Err(msg) => {
            cx.error(
                "warren::bad-value",
                v.span,
                format!("invalid route: {msg}"),
                "expected `DEST [via GATEWAY] [dev IF] [metric N] [src ADDR] [onlink]`",
            );
            None
        }
    }
}

/// A route in `ip route add`'s text form,
/// `DEST [via GATEWAY] [dev IF] [metric N] [src ADDR] [onlink]` (`default`
/// for DEST; a bare address is a host route), as lab files and conlink's
/// `route` write it. `preference`, `proto` and `scope` words are not taken.
pub(crate) fn route_text(text: &str) -> Result<RawRoute, String> {
    let mut w = RouteWords::default();
    let mut it = text.split_whitespace();
    match it.next() {
        Some("default") => {}
        Some(d) => w.to = Some(d.to_string()),
        None => return Err("empty".into()),
    }
    while let Some(word) = it.next() {
        if word == "onlink" {
            w.onlink = true;
            continue;
        }
        let slot = match word {
            "via" => &mut w.via,
            "dev" => &mut w.dev,
            "metric" | "priority" | "preference" => &mut w.metric,
            "src" => &mut w.src,
            other => return Err(format!("unknown word `{other}`")),
        };
        let Some(val) = it.next() else {
            return Err(format!("`{word}` needs a value"));
        };
        *slot = Some(val.to_string());
    }
    route_parts(w)
}

/// A route from its parts as written. A route needs a gateway (`via`) or
/// an interface (`dev`); without `dev`, the interface it is written under
/// is used.
fn route_parts(w: RouteWords) -> Result<RawRoute, String> {
    let to = match w.to {
        // `ip route add 10.0.0.5 dev eth0`: a host route.
        Some(t) if !t.contains('/') => Some(
            t.parse::<IpAddr>()
                .map(|a| Prefix {
                    addr: a,
                    len: if a.is_ipv4() { 32 } else { 128 },
                })
                .map_err(|_| format!("`{t}` is not an IP address or prefix"))?,
        ),
        Some(t) => Some(t.parse::<Prefix>()?),
        None => None,
    };
    let ip = |what: &str, v: Option<String>| match v.map(|v| (v.parse::<IpAddr>(), v)) {
        Some((Ok(a), _)) => Ok(Some(a)),
        Some((Err(_), v)) => Err(format!("{what} `{v}` is not an IP address")),
        None => Ok(None),
    };
    let via = ip("gateway", w.via)?;
    let src = ip("source", w.src)?;
    if via.is_none() && to.is_none() && w.dev.is_none() {
        return Err("no gateway (`via`) or interface (`dev`)".into());
    }
    if w.onlink && via.is_none() {
        return Err("`onlink` needs a gateway (`via`)".into());
    }
    let families = [
        to.map(|p| ("destination", p.addr.is_ipv4(), p.to_string())),
        via.map(|a| ("gateway", a.is_ipv4(), a.to_string())),
        src.map(|a| ("source", a.is_ipv4(), a.to_string())),
    ];
    let mut given = families.iter().flatten();
    if let Some((first, v4, a)) = given.next()
        && let Some((other, _, b)) = given.find(|(_, w4, _)| w4 != v4)
    {
        return Err(format!(
            "{first} {a} and {other} {b} are of different families"
        ));
    }
    let metric = match w.metric.map(|m| m.parse::<u32>()) {
        Some(Err(_)) => return Err("metric is not a whole number".into()),
        Some(Ok(m)) => Some(m),
        None => None,
    };
    Ok(RawRoute {
        to,
        via,
        dev: w.dev,
        metric,
        src,
        onlink: w.onlink,
    })
}

fn forward(cx: &mut Cx<'_>, v: &Node) -> Option<RawForward> {
    let f = cx.fields(v, "a forward", FORWARD_KEYS)?;
    for key in ["host", "to", "port"] {
        if f.get(key).is_none() {
            cx.error(
                "warren::missing-key",
                f.span,
                format!("a forward needs `{key}`"),
                "this forward",
            );
        }
    }
    let proto = match f.get("proto") {
        Some(p) => cx.choice(
            p,
            "forward proto",
            &[
                ("tcp", crate::model::Proto::Tcp),
                ("udp", crate::model::Proto::Udp),
            ],
        )?,
        None => crate::model::Proto::Tcp,
    };
    let port = |cx: &mut Cx<'_>, key: &str| {
        f.get(key)
            .and_then(|n| cx.uint(n, key, 1, 65535))
            .and_then(|p| u16::try_from(p).ok())
    };
    let host = port(cx, "host");
    let to_port = port(cx, "port");
    let to = f.get("to").and_then(|n| cx.string(n, "to"))?;
    Some(RawForward {
        host: host?,
        to,
        port: to_port?,
        proto,
    })
}

fn tunnel(cx: &mut Cx<'_>, v: &Node) -> Option<RawTunnel> {
    let f = cx.fields(v, "a tunnel", TUNNEL_KEYS)?;
    let mut missing = |key: &str| {
        if f.get(key).is_none() {
            cx.error(
                "warren::missing-key",
                f.span,
                format!("a tunnel needs `{key}`"),
                "this tunnel",
            );
        }
    };
    for key in ["network", "remote", "vni"] {
        missing(key);
    }
    let kind = match f.get("type") {
        Some(t) => cx.choice(
            t,
            "tunnel type",
            &[("vxlan", TunnelType::Vxlan), ("geneve", TunnelType::Geneve)],
        )?,
        None => TunnelType::Vxlan,
    };
    let ip = |cx: &mut Cx<'_>, key: &str| {
        f.get(key)
            .and_then(|n| cx.parse::<IpAddrText>(n, key))
            .map(|a| a.value.0)
    };
    let remote = ip(cx, "remote");
    let local = ip(cx, "local");
    let vni = f.get("vni").and_then(|n| cx.uint(n, "vni", 0, 16_777_215));
    let dstport = f
        .get("dstport")
        .and_then(|n| cx.uint(n, "dstport", 1, 65535))
        .and_then(|p| u16::try_from(p).ok());
    let netns = f
        .get("netns")
        .and_then(|n| cx.string(n, "netns"))
        .map(|s| s.value);
    let network = f.get("network").and_then(|n| cx.string(n, "network"))?;
    Some(RawTunnel {
        netns,
        kind,
        network,
        remote: remote?,
        vni: u32::try_from(vni?).ok()?,
        local,
        dstport,
    })
}

/// An IP address whose parse error reads well.
struct IpAddrText(IpAddr);

impl std::str::FromStr for IpAddrText {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse()
            .map(IpAddrText)
            .map_err(|_| format!("`{s}` is not an IP address"))
    }
}

/// Reads an `impair` mapping.
pub(crate) fn impair(cx: &mut Cx<'_>, v: &Node) -> Option<Impair> {
    let f = cx.fields(v, "impair", IMPAIR_KEYS)?;
    let pct = |cx: &mut Cx<'_>, k: &str| {
        f.get(k)
            .and_then(|n| cx.parse::<Percent>(n, k))
            .map(|p| p.value)
    };
    Some(Impair {
        delay: duration(cx, &f, "delay"),
        jitter: duration(cx, &f, "jitter"),
        distribution: f.get("distribution").and_then(|n| {
            cx.choice(
                n,
                "distribution",
                &[
                    ("uniform", Distribution::Uniform),
                    ("normal", Distribution::Normal),
                    ("pareto", Distribution::Pareto),
                    ("paretonormal", Distribution::Paretonormal),
                ],
            )
        }),
        loss: pct(cx, "loss"),
        loss_correlation: pct(cx, "loss_correlation"),
        duplicate: pct(cx, "duplicate"),
        reorder: pct(cx, "reorder"),
        corrupt: pct(cx, "corrupt"),
        rate: f
            .get("rate")
            .and_then(|n| cx.parse::<Rate>(n, "rate"))
            .map(|r| r.value),
        limit: f
            .get("limit")
            .and_then(|n| cx.uint(n, "limit", 1, u64::from(u32::MAX)))
            .and_then(|l| u32::try_from(l).ok()),
    })
}
