//! From the file as written to the resolved [`Lab`]: defaults applied,
//! endpoints turned into interfaces, `interfaces:` entries merged, network
//! addresses assigned. Problems with names and references are reported here;
//! rules over addresses and routes live in [`crate::validate`].

use crate::decode::Cx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{
    After, Attachment, CaptureMode, ContainerSpec, Endpoint, Interface, Lab, Link, Member, Network,
    Node, NodeKind, Route, Tunnel, VmSpec,
};
use crate::raw::{RawLab, RawMember, RawNode, kinds_taking};
use crate::span::{Span, Spanned};
use std::collections::{BTreeMap, HashMap};

/// Longest lab name. Every name warren gives a kernel object outside the
/// lab's own namespaces is `w` + lab name + a two-character suffix, and
/// kernel interface names hold at most 15 bytes.
pub const MAX_LAB_NAME: usize = 12;
/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;
/// Default UDP port of VXLAN tunnels (IANA).
pub const VXLAN_PORT: u16 = 4789;
/// Default UDP port of GENEVE tunnels (IANA).
pub const GENEVE_PORT: u16 = 6081;

/// Why a lab name is unusable, if it is.
pub fn lab_name_problem(name: &str) -> Option<String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid_chars || !first_ok {
        return Some(format!(
            "lab name `{name}` must match [a-z0-9][a-z0-9-]* (lower-case letters, digits and dashes)"
        ));
    }
    (name.len() > MAX_LAB_NAME).then(|| {
        format!(
            "lab name `{name}` is {} bytes long; at most {MAX_LAB_NAME} fit into the kernel names warren derives from it",
            name.len()
        )
    })
}

/// Why an interface name is one the kernel refuses, if it is.
pub fn ifname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an interface name cannot be empty".into())
    } else if name.len() > MAX_IFNAME {
        Some(format!(
            "interface name `{name}` is {} bytes long; the kernel takes at most {MAX_IFNAME}",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some(format!("`{name}` is not a valid interface name"))
    } else if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
        Some(format!(
            "interface name `{name}` contains '/', ':' or whitespace, which the kernel refuses"
        ))
    } else {
        None
    }
}

fn node_name_problem(name: &str) -> Option<String> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name.len() <= 63;
    (!ok).then(|| format!("node name `{name}` must be 1 to 63 letters, digits, '-' or '_', starting with a letter or digit"))
}

/// Builds the resolved lab. `stem` is the file name without extension.
pub(crate) fn resolve(cx: &mut Cx<'_>, raw: RawLab, stem: &str) -> Lab {
    let name = match &raw.name {
        Some(n) => {
            if let Some(p) = lab_name_problem(&n.value) {
                cx.error("warren::lab-name", n.span, p, "invalid lab name");
            }
            n.value.clone()
        }
        None => {
            if let Some(p) = lab_name_problem(stem) {
                cx.push(
                    Diagnostic::error(
                        "warren::lab-name",
                        Span::new(0, 0),
                        p,
                        "the name comes from the file name",
                    )
                    .with_help("set `name:` in the file"),
                );
            }
            stem.to_string()
        }
    };
    let nodes: Vec<Node> = raw
        .nodes
        .iter()
        .map(|(n, raw_node)| node(n, raw_node.clone().inherit(&raw.defaults)))
        .collect();
    let mut by_name = HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        by_name.entry(n.name.value.clone()).or_insert(i);
    }
    let mut r = Resolver {
        cx,
        nodes,
        by_name,
        uses: HashMap::new(),
    };
    for ((name, own), node) in raw.nodes.iter().zip(&r.nodes) {
        check_node(r.cx, name, own, node);
    }
    let links = r.links(&raw);
    let networks = r.networks(&raw);
    r.interfaces(&raw);
    r.assign_network_addresses(&networks);
    let tunnels = raw
        .tunnels
        .iter()
        .map(|t| Tunnel {
            kind: t.kind,
            network: t.network.clone(),
            remote: t.remote,
            vni: t.vni,
            local: t.local,
            netns: t.netns.clone(),
            dstport: t.dstport.unwrap_or(match t.kind {
                crate::model::TunnelType::Vxlan => VXLAN_PORT,
                crate::model::TunnelType::Geneve => GENEVE_PORT,
            }),
        })
        .collect();
    let capture = raw
        .capture
        .as_ref()
        .map_or(CaptureMode::All, |c| c.value.clone());
    let mut lab = Lab {
        name,
        nodes: r.nodes,
        links,
        networks,
        tunnels,
        forwards: Vec::new(),
        capture,
        capture_buffer: raw.capture_buffer,
        results: raw.results.clone(),
        seed: raw.seed,
        tests: Vec::new(),
        faults: Vec::new(),
        node_index: Default::default(),
    };
    apply_capture_mode(&mut lab, &raw);
    lab.forwards = raw
        .forwards
        .iter()
        .filter_map(|f| forward(cx, &lab, f))
        .collect();
    lab
}

/// A forward's target: the first address of the interface it names.
fn forward(
    cx: &mut Cx<'_>,
    lab: &Lab,
    f: &crate::raw::RawForward,
) -> Option<crate::model::Forward> {
    let target = f.to.value.split_once(':').and_then(|(node, iface)| {
        let addr = lab
            .node(node)?
            .interface(iface)?
            .addresses()
            .next()?
            .value
            .addr;
        Some((node, iface, addr))
    });
    let Some((node, iface, addr)) = target else {
        cx.error(
            "warren::bad-forward",
            f.to.span,
            format!(
                "forward to {}: no such interface with an address",
                f.to.value
            ),
            "needs a node:if with an address",
        );
        return None;
    };
    Some(crate::model::Forward {
        host: f.host,
        node: node.to_string(),
        iface: iface.to_string(),
        target: addr,
        port: f.port,
        proto: f.proto,
    })
}

/// A node with defaults applied and no interfaces yet.
fn node(name: &Spanned<String>, n: RawNode) -> Node {
    let kind = n.kind.map_or(NodeKind::Netns, |k| k.value);
    let containers = n.containers.iter().flatten().filter_map(member).collect();
    let container = matches!(kind, NodeKind::Container | NodeKind::System).then(|| ContainerSpec {
        image: n.image.map(|i| i.value).unwrap_or_default(),
        cmd: n.cmd,
        entrypoint: n.entrypoint,
        workdir: n.workdir,
        user: n.user,
        binds: n.binds.unwrap_or_default(),
        capabilities: n.capabilities.unwrap_or_default(),
        provision: kind == NodeKind::System && n.provision.unwrap_or(false),
        privileged: n.privileged.unwrap_or(false),
        cap_drop: n.cap_drop.unwrap_or_default(),
        userns: n.userns.unwrap_or(false),
        hostname: n.process.hostname,
        extra_hosts: n.process.extra_hosts.unwrap_or_default(),
        init: n.process.init.unwrap_or(false),
        tmpfs: n.process.tmpfs.unwrap_or_default(),
        stop_signal: n.process.stop_signal,
        stop_grace_period: n.process.stop_grace_period,
    });
    let vm = (kind == NodeKind::Vm).then(|| VmSpec {
        kernel: n.kernel,
        initrd: n.initrd,
        append: n.append,
        disk: n.disk,
        firmware: n.firmware.unwrap_or_default(),
        memory: n.memory.unwrap_or(256),
        cpus: n.cpus.unwrap_or(1),
        accel: n.accel.unwrap_or_default(),
        console: n.console,
        nic_model: n.nic_model.unwrap_or_else(|| "virtio-net-pci".into()),
        qemu_args: n.qemu_args.unwrap_or_default(),
        cloud_init: n.cloud_init,
    });
    Node {
        name: name.clone(),
        kind,
        exec: n.exec.unwrap_or_default(),
        env: n.env.into_iter().collect::<BTreeMap<_, _>>(),
        sysctls: n.sysctls.into_iter().collect::<BTreeMap<_, _>>(),
        ready: n.ready,
        container,
        vm,
        // Inherited from `defaults`, netconf only reaches the kinds that take it.
        netconf: n
            .netconf
            .flatten()
            .filter(|_| matches!(kind, NodeKind::System | NodeKind::Vm)),
        interfaces: Vec::new(),
        aliases: n.aliases,
        containers,
        after: n
            .after
            .into_iter()
            .map(|(node, when)| After { node, when })
            .collect(),
        start_delay: n.start_delay,
    }
}

/// A `containers:` entry; `None` without a name (reported by [`check_node`]).
fn member(m: &RawMember) -> Option<Member> {
    Some(Member {
        name: m.name.clone()?,
        container: ContainerSpec {
            image: m
                .image
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            cmd: m.cmd.clone(),
            entrypoint: m.entrypoint.clone(),
            workdir: m.workdir.clone(),
            user: m.user.clone(),
            binds: m.binds.clone(),
            capabilities: m.capabilities.clone(),
            privileged: m.privileged,
            cap_drop: m.cap_drop.clone(),
            // A node's user namespace and process settings (host name,
            // init, stop signal...) are not a member's.
            ..ContainerSpec::default()
        },
        env: m.env.iter().cloned().collect(),
        ready: m.ready.clone(),
        pid: m.pid,
    })
}

/// A node's `containers:`: each has a valid name unique in the node, and
/// an image; its readiness is a probe, since it has no console.
fn check_members(cx: &mut Cx<'_>, node: &Spanned<String>, own: &RawNode) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for m in own.containers.iter().flatten() {
        let Some(name) = &m.name else {
            cx.error(
                "warren::missing-key",
                m.span,
                format!("a container of node `{}` has no `name`", node.value),
                "no name",
            );
            continue;
        };
        if let Some(p) = node_name_problem(&name.value) {
            let p = p.replacen("node name", "container name", 1);
            cx.error(
                "warren::container-name",
                name.span,
                p,
                "invalid container name",
            );
        }
        if let Some(first) = seen.insert(&name.value, name.span) {
            let line = cx.line_of(first);
            cx.push(
                Diagnostic::error(
                    "warren::duplicate-container",
                    name.span,
                    format!(
                        "node `{}` has two containers called `{}`",
                        node.value, name.value
                    ),
                    "second container of this name",
                )
                .with_help(format!(
                    "the first is on line {line}; give each its own name"
                )),
            );
        }
        if m.image.is_none() {
            cx.error(
                "warren::missing-key",
                name.span,
                format!("container `{}/{}` needs an `image`", node.value, name.value),
                "no image",
            );
        }
        if let Some(at) = m.ready_console {
            cx.push(
                Diagnostic::error(
                    "warren::no-console",
                    at,
                    format!(
                        "container `{}/{}` has no console for `ready.console`",
                        node.value, name.value
                    ),
                    "console regex on a container",
                )
                .with_help("probe it with `ready.exec`"),
            );
        }
    }
}

/// Kind-specific checks on one node: keys that do not apply, required keys.
fn check_node(cx: &mut Cx<'_>, name: &Spanned<String>, own: &RawNode, node: &Node) {
    if let Some(p) = node_name_problem(&name.value) {
        cx.error("warren::node-name", name.span, p, "invalid node name");
    }
    check_members(cx, name, own);
    let kind = node.kind;
    for (key, span) in &own.keys {
        let Some(kinds) = kinds_taking(key) else {
            continue;
        };
        if !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            cx.push(
                Diagnostic::error(
                    "warren::key-not-for-kind",
                    *span,
                    format!("`{key}` does not apply to {} nodes", kind.as_str()),
                    format!("node `{}` is of kind {}", name.value, kind.as_str()),
                )
                .with_help(format!("`{key}` is for {} nodes", names.join(" and "))),
            );
        }
    }
    if let Some(c) = &node.container
        && c.image.is_empty()
    {
        cx.error(
            "warren::missing-key",
            name.span,
            format!("{} node `{}` needs an `image`", kind.as_str(), name.value),
            "no image",
        );
    }
    if let Some(vm) = &node.vm {
        if vm.kernel.is_none() && vm.disk.is_none() {
            cx.push(
                Diagnostic::error(
                    "warren::vm-boot",
                    name.span,
                    format!("vm node `{}` has neither `kernel` nor `disk`", name.value),
                    "nothing to boot",
                )
                .with_help("set `kernel` (with `initrd` and `append`) for direct boot, or `disk` for a disk image"),
            );
        }
        // A vm's network config goes to its cloud-init, which picks the
        // guest's renderer itself.
        if let Some(nc) = &node.netconf
            && nc.renderer != "auto"
            && let Some((_, span)) = own.keys.iter().find(|(k, _)| *k == "netconf")
        {
            cx.push(
                Diagnostic::error(
                    "warren::netconf-renderer",
                    *span,
                    format!(
                        "vm node `{}`: netconf renderer `{}` does not apply to a vm",
                        name.value, nc.renderer
                    ),
                    "renderer on a vm",
                )
                .with_help("a vm gets cloud-init's network-config (v2), whose renderer cloud-init picks in the guest: write `netconf: true`"),
            );
        }
        if vm.initrd.is_some() && vm.kernel.is_none() {
            cx.error(
                "warren::vm-boot",
                name.span,
                format!("vm node `{}` has an `initrd` but no `kernel`", name.value),
                "initrd without kernel",
            );
        }
    }
}

struct Resolver<'c, 's> {
    cx: &'c mut Cx<'s>,
    nodes: Vec<Node>,
    /// Each node's position in `nodes`, by name: endpoints are looked up
    /// here, since a search per endpoint made a 10,000-node lab quadratic.
    by_name: HashMap<String, usize>,
    /// Where each endpoint was first used.
    uses: HashMap<Endpoint, Span>,
}

impl Resolver<'_, '_> {
    /// Parses `node:if` and checks both parts; reports and returns `None` on a problem.
    fn endpoint(&mut self, text: &Spanned<String>) -> Option<(usize, Endpoint)> {
        let Some((node, iface)) = text.value.split_once(':') else {
            self.cx.error(
                "warren::bad-endpoint",
                text.span,
                format!("`{}` is not an endpoint", text.value),
                "expected node:interface",
            );
            return None;
        };
        let Some(&idx) = self.by_name.get(node) else {
            let mut d = Diagnostic::error(
                "warren::unknown-node",
                text.span,
                format!("no node called `{node}`"),
                "unknown node",
            );
            if let Some(s) = did_you_mean(node, self.nodes.iter().map(|n| n.name.value.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.cx.push(d);
            return None;
        };
        let (kernel, mapped) = match crate::ifname::kernel_name(iface) {
            Ok(k) => k,
            Err(p) => {
                self.cx
                    .error("warren::bad-ifname", text.span, p, "invalid interface name");
                return None;
            }
        };
        Some((
            idx,
            Endpoint {
                node: node.into(),
                iface: kernel,
                altname: mapped.then(|| iface.to_string()),
            },
        ))
    }

    /// Records a use of an endpoint; a second use is an error.
    fn claim(&mut self, ep: &Endpoint, span: Span) -> bool {
        // Two written names with one kernel name are one interface.
        let ep = &Endpoint {
            altname: None,
            ..ep.clone()
        };
        if let Some(first) = self.uses.get(ep) {
            let line = self.cx.line_of(*first);
            self.cx.push(
                Diagnostic::error(
                    "warren::endpoint-reused",
                    span,
                    format!("endpoint `{ep}` is used twice"),
                    "second use",
                )
                .with_help(format!(
                    "first used on line {line}; every interface joins one link or network"
                )),
            );
            return false;
        }
        if ep.iface == "lo" {
            self.cx.error(
                "warren::bad-endpoint",
                span,
                "`lo` is the loopback and cannot join a link or network",
                "loopback",
            );
            return false;
        }
        self.uses.insert(ep.clone(), span);
        true
    }

    fn add_interface(&mut self, node: usize, iface: Interface) {
        self.nodes[node].interfaces.push(iface);
    }

    fn links(&mut self, raw: &RawLab) -> Vec<Link> {
        let mut out = Vec::new();
        for l in &raw.links {
            let eps: Vec<Option<(usize, Endpoint)>> =
                l.endpoints.iter().map(|e| self.endpoint(e)).collect();
            let [Some(a), Some(b)] = eps.as_slice() else {
                continue;
            };
            let (a, b) = (a.clone(), b.clone());
            let claimed_a = self.claim(&a.1, l.endpoints[0].span);
            let claimed_b = self.claim(&b.1, l.endpoints[1].span);
            if !(claimed_a && claimed_b) {
                continue;
            }
            let index = out.len();
            for (side, ((node, ep), (_, peer))) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
                let ipv4 = l.ipv4.get(side).cloned().flatten().into_iter().collect();
                let ipv6 = l.ipv6.get(side).cloned().flatten().into_iter().collect();
                self.add_interface(
                    *node,
                    Interface {
                        name: ep.iface.clone(),
                        altname: ep.altname.clone(),
                        attach: Attachment::Link {
                            link: index,
                            peer: peer.clone(),
                        },
                        ipv4,
                        ipv6,
                        mac: l.mac.get(side).copied().flatten(),
                        mtu: l.mtu,
                        routes: Vec::new(),
                        up: true,
                        impair: None,
                        nat: None,
                        ethtool: Vec::new(),
                        span: l.endpoints[side].span,
                    },
                );
            }
            let name = l.name.as_ref().map_or_else(
                || format!("{}.{}-{}.{}", a.1.node, a.1.iface, b.1.node, b.1.iface),
                |n| n.value.clone(),
            );
            out.push(Link {
                name,
                endpoints: [
                    Spanned::new(a.1, l.endpoints[0].span),
                    Spanned::new(b.1, l.endpoints[1].span),
                ],
                mtu: l.mtu,
                impair: l.impair.clone(),
                capture: l.capture.unwrap_or(true),
            });
        }
        out
    }

    fn networks(&mut self, raw: &RawLab) -> Vec<Network> {
        let mut out = Vec::new();
        for n in &raw.networks {
            if let Some(p) = ifname_problem(&n.name.value) {
                self.cx.push(
                    Diagnostic::error("warren::bad-ifname", n.name.span, p, "invalid network name")
                        .with_help("a network becomes a bridge of the same name in the lab's hub namespace"),
                );
            }
            let mut members = Vec::new();
            for m in &n.members {
                let Some((node, ep)) = self.endpoint(m) else {
                    continue;
                };
                if !self.claim(&ep, m.span) {
                    continue;
                }
                self.add_interface(
                    node,
                    Interface {
                        name: ep.iface.clone(),
                        altname: ep.altname.clone(),
                        attach: Attachment::Network {
                            network: n.name.value.clone(),
                        },
                        ipv4: Vec::new(),
                        ipv6: Vec::new(),
                        mac: None,
                        mtu: n.mtu,
                        routes: Vec::new(),
                        up: true,
                        impair: n.impair.clone(),
                        nat: None,
                        ethtool: Vec::new(),
                        span: m.span,
                    },
                );
                members.push(Spanned::new(ep, m.span));
            }
            for (prefix, v4) in [(&n.ipv4, true), (&n.ipv6, false)] {
                if let Some(p) = prefix
                    && p.value.addr.is_ipv4() != v4
                {
                    self.cx.error(
                        "warren::wrong-family",
                        p.span,
                        format!(
                            "`{}` is not an {} prefix",
                            p.value,
                            if v4 { "IPv4" } else { "IPv6" }
                        ),
                        "wrong address family",
                    );
                }
            }
            out.push(Network {
                name: n.name.clone(),
                members,
                ipv4: n.ipv4.filter(|p| p.value.addr.is_ipv4()),
                ipv6: n.ipv6.filter(|p| p.value.addr.is_ipv6()),
                mtu: n.mtu,
                impair: n.impair.clone(),
                capture: n.capture.unwrap_or(true),
                patch: n.patch,
            });
        }
        out
    }

    /// Merges `interfaces:` entries into the interfaces that links and networks made.
    fn interfaces(&mut self, raw: &RawLab) {
        for ri in &raw.interfaces {
            let Some((node, ep)) = self.endpoint(&ri.endpoint) else {
                continue;
            };
            let pos = self.nodes[node]
                .interfaces
                .iter()
                .position(|i| i.name == ep.iface);
            let pos = match pos {
                Some(p) => p,
                None if ep.iface == "lo" || ri.macvlan.is_some() || ri.host.is_some() => {
                    self.add_interface(
                        node,
                        Interface {
                            name: ep.iface.clone(),
                            altname: ep.altname.clone(),
                            attach: match (&ri.macvlan, &ri.host) {
                                (Some(m), _) => Attachment::Macvlan(m.clone()),
                                (None, Some(h)) => Attachment::Host {
                                    peer: h.value.clone(),
                                },
                                (None, None) => Attachment::Loopback,
                            },
                            ipv4: Vec::new(),
                            ipv6: Vec::new(),
                            mac: None,
                            mtu: None,
                            routes: Vec::new(),
                            up: true,
                            impair: None,
                            nat: None,
                            ethtool: Vec::new(),
                            span: ri.endpoint.span,
                        },
                    );
                    self.nodes[node].interfaces.len() - 1
                }
                None => {
                    let names: Vec<&str> = self.nodes[node]
                        .interfaces
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect();
                    let mut d = Diagnostic::error(
                        "warren::unknown-interface",
                        ri.endpoint.span,
                        format!("node `{}` has no interface `{}`", ep.node, ep.iface),
                        "on no link or network",
                    );
                    d = match did_you_mean(&ep.iface, names.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{}:{s}`?", ep.node)),
                        None => d.with_help("interfaces come from `links` and `networks`; only `lo` exists without them"),
                    };
                    self.cx.push(d);
                    continue;
                }
            };
            let iface = &mut self.nodes[node].interfaces[pos];
            iface.ipv4.extend(ri.ipv4.iter().cloned());
            iface.ipv6.extend(ri.ipv6.iter().cloned());
            if ri.mac.is_some() {
                iface.mac = ri.mac;
            }
            if ri.mtu.is_some() {
                iface.mtu = ri.mtu;
            }
            if let Some(up) = ri.up {
                iface.up = up;
            }
            if ri.impair.is_some() {
                iface.impair.clone_from(&ri.impair);
            }
            if ri.nat.is_some() {
                iface.nat = ri.nat;
            }
            iface.ethtool.extend(ri.ethtool.iter().cloned());
            iface.routes = ri
                .routes
                .iter()
                .map(|r| {
                    Spanned::new(
                        Route {
                            to: r.value.to,
                            via: r.value.via,
                            dev: r.value.dev.clone(),
                            metric: r.value.metric,
                            src: r.value.src,
                            onlink: r.value.onlink,
                        },
                        r.span,
                    )
                })
                .collect();
        }
    }

    /// Gives network members without an address of a family the lowest free
    /// host address of the network's prefix, in member order.
    fn assign_network_addresses(&mut self, networks: &[Network]) {
        for net in networks {
            for (prefix, v4) in [(&net.ipv4, true), (&net.ipv6, false)] {
                let Some(prefix) = prefix else { continue };
                let members: Vec<(usize, usize)> = net
                    .members
                    .iter()
                    .filter_map(|m| {
                        let n = self
                            .nodes
                            .iter()
                            .position(|n| n.name.value == m.value.node)?;
                        let i = self.nodes[n]
                            .interfaces
                            .iter()
                            .position(|i| i.name == m.value.iface)?;
                        Some((n, i))
                    })
                    .collect();
                let taken: Vec<std::net::IpAddr> = members
                    .iter()
                    .flat_map(|&(n, i)| {
                        self.nodes[n].interfaces[i]
                            .addresses()
                            .map(|a| a.value.addr)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let mut next: u128 = 0;
                let mut short = 0usize;
                for &(n, i) in &members {
                    let iface = &self.nodes[n].interfaces[i];
                    let has = if v4 {
                        !iface.ipv4.is_empty()
                    } else {
                        !iface.ipv6.is_empty()
                    };
                    if has {
                        continue;
                    }
                    let addr = loop {
                        match prefix.value.host(next) {
                            Some(a) if taken.contains(&a.addr) => next += 1,
                            other => break other,
                        }
                    };
                    next += 1;
                    let Some(addr) = addr else {
                        short += 1;
                        continue;
                    };
                    let iface = &mut self.nodes[n].interfaces[i];
                    let list = if v4 { &mut iface.ipv4 } else { &mut iface.ipv6 };
                    list.push(Spanned::new(addr, prefix.span));
                }
                if short > 0 {
                    self.cx.push(
                        Diagnostic::error(
                            "warren::prefix-too-small",
                            prefix.span,
                            format!(
                                "{} has {} usable addresses, too few for the members of network `{}` that need one",
                                prefix.value,
                                prefix.value.usable_hosts(),
                                net.name.value
                            ),
                            format!("{short} member(s) get no address"),
                        )
                        .with_help("use a shorter prefix length"),
                    );
                }
            }
        }
    }
}

/// Applies `capture: none` and `capture: [names]`; unknown names are reported by validation.
fn apply_capture_mode(lab: &mut Lab, raw: &RawLab) {
    match &lab.capture {
        CaptureMode::All => {}
        CaptureMode::None => {
            lab.links.iter_mut().for_each(|l| l.capture = false);
            lab.networks.iter_mut().for_each(|n| n.capture = false);
        }
        CaptureMode::Only(_) => {
            let names: Vec<&str> = raw.capture_names.iter().map(|s| s.value.as_str()).collect();
            for l in &mut lab.links {
                let by_ep = l
                    .endpoints
                    .iter()
                    .any(|e| names.contains(&e.value.to_string().as_str()));
                l.capture = l.capture && (names.contains(&l.name.as_str()) || by_ep);
            }
            for n in &mut lab.networks {
                n.capture = n.capture && names.contains(&n.name.value.as_str());
            }
        }
    }
}
