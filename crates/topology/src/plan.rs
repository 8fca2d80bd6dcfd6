//! A lab turned into the ordered list of kernel and process steps that
//! bring it up. Pure and deterministic: `warren up --dry-run` prints it and
//! snapshot tests pin it; the supervisor applies it.
//!
//! Order: namespaces (with `lo` up), links and bridges, bridge ports,
//! sysctls, addresses, interfaces up, routes, `ethtool` and `nat` settings,
//! then each node's `exec` commands, so that a node's commands never race
//! its own interfaces.

use crate::model::{Attachment, Command, Lab, NodeKind};
use crate::values::{IfAddr, Mac, Prefix};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// A network namespace of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ns {
    /// The lab's hub: bridges of networks and their ports.
    Hub,
    /// A node's namespace.
    Node(String),
}

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ns::Hub => f.write_str("hub"),
            Ns::Node(n) => f.write_str(n),
        }
    }
}

/// One end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VethEnd {
    /// Namespace the end is created in.
    pub ns: Ns,
    /// Interface name in that namespace.
    pub ifname: String,
    /// MAC address, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    /// MTU, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl fmt::Display for VethEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ns, self.ifname)
    }
}

/// A route with its output interface resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRoute {
    /// Destination; `None` is the default route of the route's family.
    pub to: Option<Prefix>,
    /// Gateway; `None` for a route straight out of `dev`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// Output interface.
    pub dev: String,
    /// Metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// Preferred source address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// The gateway is taken as on the link.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
    /// An IPv4 route (decides the family of `default` without a gateway).
    pub ipv4: bool,
}

/// One step of bringing a lab up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Create a network namespace and bring its loopback up.
    CreateNetns {
        /// The namespace.
        ns: Ns,
    },
    /// Create a veth pair with each end directly in its namespace.
    CreateVeth {
        /// One end.
        a: VethEnd,
        /// The other end.
        b: VethEnd,
        /// What the pair is, for messages (`r1:eth1 <-> r2:eth1`).
        what: String,
    },
    /// Create a tap for a vm's NIC: in the peer node's namespace under the
    /// peer's interface name (the tap *is* the peer's interface), or in the
    /// hub as a bridge port.
    CreateTap {
        /// Namespace of the tap.
        ns: Ns,
        /// Its name there.
        ifname: String,
        /// The vm.
        vm: String,
        /// The vm's NIC (0 is the guest's first).
        nic: usize,
        /// The guest NIC's MAC address.
        mac: Mac,
        /// MTU of the tap, when set.
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
    },
    /// Create an impaired link as two taps, one in each node's namespace
    /// under the node's interface name, joined by the supervisor's
    /// user-space wire (which applies the link's impairments).
    CreateWire {
        /// One end.
        a: VethEnd,
        /// The other end.
        b: VethEnd,
        /// The link's name, which seeds the wire's random choices.
        link: String,
        /// What the link is, for messages (`r1:eth1 <-> r2:eth1`).
        what: String,
    },
    /// Join two vms' NICs directly (a socket pair; no kernel interface).
    PairVms {
        /// One vm and its NIC.
        a: (String, usize, Mac),
        /// The other.
        b: (String, usize, Mac),
    },
    /// Create a bridge in the hub.
    CreateBridge {
        /// Bridge name (the network's name).
        name: String,
        /// MTU, when set.
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
    },
    /// Create a tunnel device from the underlay namespace into the hub
    /// (it keeps its socket in the underlay) and bring it up.
    CreateTunnel {
        /// Device name in the hub.
        name: String,
        /// The tunnel.
        tunnel: crate::model::Tunnel,
    },
    /// Create a macvlan or macvtap child of a host interface, directly in
    /// a node's namespace.
    CreateMacvlan {
        /// The node's namespace.
        ns: Ns,
        /// Interface name there.
        ifname: String,
        /// Parent, mode, tap.
        macvlan: crate::model::Macvlan,
        /// MAC, when set.
        #[serde(skip_serializing_if = "Option::is_none")]
        mac: Option<Mac>,
        /// MTU, when set.
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
    },
    /// Create a veth with one end in a node's namespace and the other in
    /// the host's, brought up there (`host:` of an interface).
    CreateHostVeth {
        /// The node's namespace.
        ns: Ns,
        /// The node's end.
        ifname: String,
        /// The host's end.
        host: String,
        /// MAC of the node's end, when set.
        #[serde(skip_serializing_if = "Option::is_none")]
        mac: Option<Mac>,
        /// MTU of both ends, when set.
        #[serde(skip_serializing_if = "Option::is_none")]
        mtu: Option<u32>,
    },
    /// Give an interface its name as written (`ethernet-1/1`) as an altname.
    AddAltname {
        /// The node's namespace.
        ns: Ns,
        /// The interface's kernel name.
        ifname: String,
        /// The name as written.
        altname: String,
    },
    /// Join two hub ports of a `mode: patch` network: an ingress qdisc on
    /// each, whose filter redirects every frame to the other's egress
    /// (tc mirred), with no bridge.
    Patch {
        /// The network.
        network: String,
        /// One hub port.
        a: String,
        /// The other.
        b: String,
    },
    /// Attach a hub port to a bridge.
    SetMaster {
        /// Port name in the hub.
        port: String,
        /// Bridge name.
        bridge: String,
    },
    /// Write a sysctl inside a namespace.
    SetSysctl {
        /// Namespace.
        ns: Ns,
        /// Dotted key, such as `net.ipv4.ip_forward`.
        key: String,
        /// Value.
        value: String,
    },
    /// Add an address (IPv6 without duplicate address detection).
    AddAddress {
        /// Namespace.
        ns: Ns,
        /// Interface.
        ifname: String,
        /// Address with prefix length.
        addr: IfAddr,
    },
    /// Set an interface administratively up.
    SetUp {
        /// Namespace.
        ns: Ns,
        /// Interface.
        ifname: String,
    },
    /// Add a route.
    AddRoute {
        /// Namespace.
        ns: Ns,
        /// The route.
        route: PlannedRoute,
    },
    /// Run a host program in a node's network namespace only (with that
    /// namespace's sysfs), for the interface settings that have no netlink
    /// form here: `ethtool` and `nat` (iptables).
    NetnsTool {
        /// Node.
        node: String,
        /// The interface the setting is for.
        ifname: String,
        /// The program and its arguments.
        argv: Vec<String>,
    },
    /// Run a node's command and wait for it.
    Exec {
        /// Node.
        node: String,
        /// The command.
        command: Command,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateNetns { ns } => write!(f, "create netns {ns}"),
            Step::CreateVeth { a, b, .. } => {
                write!(f, "create veth {a} <-> {b}")?;
                if let Some(m) = a.mtu.or(b.mtu) {
                    write!(f, " mtu {m}")?;
                }
                for end in [a, b] {
                    if let Some(mac) = end.mac {
                        write!(f, " {}:{} mac {mac}", end.ns, end.ifname)?;
                    }
                }
                Ok(())
            }
            Step::CreateTap {
                ns,
                ifname,
                vm,
                nic,
                mac,
                ..
            } => write!(f, "create tap {ns}:{ifname} for {vm} nic {nic} (mac {mac})"),
            Step::CreateWire { a, b, .. } => {
                write!(f, "create wire {a} <-> {b} (taps, user-space impairments)")
            }
            Step::PairVms { a, b } => write!(f, "pair {} nic {} <-> {} nic {}", a.0, a.1, b.0, b.1),
            Step::CreateBridge { name, mtu } => {
                write!(f, "create bridge hub:{name}")?;
                match mtu {
                    Some(m) => write!(f, " mtu {m}"),
                    None => Ok(()),
                }
            }
            Step::CreateMacvlan {
                ns,
                ifname,
                macvlan,
                ..
            } => write!(
                f,
                "create {} {ns}:{ifname} on host:{}",
                if macvlan.tap { "macvtap" } else { "macvlan" },
                macvlan.parent
            ),
            Step::CreateHostVeth {
                ns, ifname, host, ..
            } => write!(f, "create veth {ns}:{ifname} <-> host:{host}"),
            Step::CreateTunnel { name, tunnel } => write!(
                f,
                "create {:?} hub:{name} vni {} remote {} from netns {}",
                tunnel.kind,
                tunnel.vni,
                tunnel.remote,
                tunnel.netns.as_deref().unwrap_or("host")
            ),
            Step::AddAltname {
                ns,
                ifname,
                altname,
            } => write!(f, "altname {ns}:{ifname} {altname}"),
            Step::SetMaster { port, bridge } => write!(f, "attach hub:{port} to bridge {bridge}"),
            Step::Patch { network, a, b } => {
                write!(
                    f,
                    "patch hub:{a} <-> hub:{b} (network {network}, tc mirred)"
                )
            }
            Step::SetSysctl { ns, key, value } => write!(f, "sysctl {ns}: {key}={value}"),
            Step::AddAddress { ns, ifname, addr } => write!(f, "address {ns}:{ifname} {addr}"),
            Step::SetUp { ns, ifname } => write!(f, "up {ns}:{ifname}"),
            Step::AddRoute { ns, route } => {
                match route.to {
                    Some(p) => write!(f, "route {ns}: {p}")?,
                    None => write!(f, "route {ns}: default")?,
                }
                if let Some(v) = route.via {
                    write!(f, " via {v}")?;
                }
                write!(f, " dev {}", route.dev)?;
                if let Some(m) = route.metric {
                    write!(f, " metric {m}")?;
                }
                if let Some(s) = route.src {
                    write!(f, " src {s}")?;
                }
                if route.onlink {
                    f.write_str(" onlink")?;
                }
                Ok(())
            }
            Step::NetnsTool { node, argv, .. } => write!(f, "in netns {node}: {}", argv.join(" ")),
            Step::Exec { node, command } => match command {
                Command::Shell(s) => write!(f, "exec {node}: sh -c {s:?}"),
                Command::Argv(a) => write!(f, "exec {node}: {a:?}"),
            },
        }
    }
}

/// The steps that bring a lab up, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The lab's name.
    pub lab: String,
    /// Every namespace, hub first when the lab has networks.
    pub namespaces: Vec<Ns>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{:>5}  {s}", i + 1)?;
        }
        Ok(())
    }
}

/// Name of the hub-side port of member `m` of network `n`: short, unique in
/// the hub, and within the kernel's 15 bytes for any lab size warren plans.
pub fn hub_port_name(network: usize, member: usize) -> String {
    format!("n{network}m{member}")
}

/// Plans a resolved lab. `exec` steps are planned for `netns` and
/// `container` nodes (in a container they run once it has started); system
/// and vm nodes run their commands through their consoles.
pub fn plan(lab: &Lab) -> Plan {
    let mut namespaces = Vec::new();
    if !lab.networks.is_empty() {
        namespaces.push(Ns::Hub);
    }
    // A vm has no namespace of its own: its NICs are taps in its peers'.
    namespaces.extend(
        lab.nodes
            .iter()
            .filter(|n| n.kind != NodeKind::Vm)
            .map(|n| Ns::Node(n.name.value.clone())),
    );
    let is_vm = |node: &str| lab.node(node).is_some_and(|n| n.kind == NodeKind::Vm);
    let mut steps: Vec<Step> = namespaces
        .iter()
        .map(|ns| Step::CreateNetns { ns: ns.clone() })
        .collect();

    let iface = |node: &str, ifname: &str| lab.node(node).and_then(|n| n.interface(ifname));
    for l in &lab.links {
        let [a, b] = &l.endpoints;
        let end = |e: &crate::model::Endpoint| VethEnd {
            ns: Ns::Node(e.node.clone()),
            ifname: e.iface.clone(),
            mac: iface(&e.node, &e.iface).and_then(|i| i.mac),
            mtu: iface(&e.node, &e.iface).and_then(|i| i.mtu),
        };
        let impaired = l.impair.is_some()
            || [a, b]
                .iter()
                .any(|e| iface(&e.value.node, &e.value.iface).is_some_and(|i| i.impair.is_some()));
        let step = match (is_vm(&a.value.node), is_vm(&b.value.node)) {
            (false, false) if impaired => Step::CreateWire {
                a: end(&a.value),
                b: end(&b.value),
                link: l.name.clone(),
                what: format!("{} <-> {}", a.value, b.value),
            },
            (false, false) => Step::CreateVeth {
                a: end(&a.value),
                b: end(&b.value),
                what: format!("{} <-> {}", a.value, b.value),
            },
            (true, true) => Step::PairVms {
                a: vm_nic(lab, &a.value),
                b: vm_nic(lab, &b.value),
            },
            (a_vm, _) => {
                let (vm, peer) = if a_vm {
                    (&a.value, &b.value)
                } else {
                    (&b.value, &a.value)
                };
                let (vm, nic, mac) = vm_nic(lab, vm);
                Step::CreateTap {
                    ns: Ns::Node(peer.node.clone()),
                    ifname: peer.iface.clone(),
                    vm,
                    nic,
                    mac,
                    mtu: iface(&peer.node, &peer.iface).and_then(|i| i.mtu),
                }
            }
        };
        steps.push(step);
    }
    for (ni, net) in lab.networks.iter().enumerate() {
        if !net.patch {
            steps.push(Step::CreateBridge {
                name: net.name.value.clone(),
                mtu: net.mtu,
            });
        }
        for (mi, m) in net.members.iter().enumerate() {
            let i = iface(&m.value.node, &m.value.iface);
            if is_vm(&m.value.node) {
                let (vm, nic, mac) = vm_nic(lab, &m.value);
                steps.push(Step::CreateTap {
                    ns: Ns::Hub,
                    ifname: hub_port_name(ni, mi),
                    vm,
                    nic,
                    mac,
                    mtu: net.mtu,
                });
                continue;
            }
            let a = VethEnd {
                ns: Ns::Node(m.value.node.clone()),
                ifname: m.value.iface.clone(),
                mac: i.and_then(|i| i.mac),
                mtu: i.and_then(|i| i.mtu),
            };
            let b = VethEnd {
                ns: Ns::Hub,
                ifname: hub_port_name(ni, mi),
                mac: None,
                mtu: net.mtu,
            };
            let what = format!("{} <-> network {}", m.value, net.name.value);
            // An impaired member's egress runs through the user-space wire,
            // the member's tap first, the bridge's port second.
            steps.push(if i.is_some_and(|i| i.impair.is_some()) {
                Step::CreateWire {
                    a,
                    b,
                    link: member_wire_name(&m.value, &net.name.value),
                    what,
                }
            } else {
                Step::CreateVeth { a, b, what }
            });
        }
        if net.patch {
            steps.push(Step::Patch {
                network: net.name.value.clone(),
                a: hub_port_name(ni, 0),
                b: hub_port_name(ni, 1),
            });
            continue;
        }
        for mi in 0..net.members.len() {
            steps.push(Step::SetMaster {
                port: hub_port_name(ni, mi),
                bridge: net.name.value.clone(),
            });
        }
    }
    for n in lab.nodes.iter().filter(|n| n.kind != NodeKind::Vm) {
        for i in &n.interfaces {
            if let Attachment::Macvlan(m) = &i.attach {
                steps.push(Step::CreateMacvlan {
                    ns: Ns::Node(n.name.value.clone()),
                    ifname: i.name.clone(),
                    macvlan: m.clone(),
                    mac: i.mac,
                    mtu: i.mtu,
                });
            }
            if let Attachment::Host { peer } = &i.attach {
                steps.push(Step::CreateHostVeth {
                    ns: Ns::Node(n.name.value.clone()),
                    ifname: i.name.clone(),
                    host: peer.clone(),
                    mac: i.mac,
                    mtu: i.mtu,
                });
            }
        }
    }
    for n in lab.nodes.iter().filter(|n| n.kind != NodeKind::Vm) {
        for i in &n.interfaces {
            if let Some(altname) = &i.altname {
                steps.push(Step::AddAltname {
                    ns: Ns::Node(n.name.value.clone()),
                    ifname: i.name.clone(),
                    altname: altname.clone(),
                });
            }
        }
    }
    for (ti, t) in lab.tunnels.iter().enumerate() {
        let name = format!("tun{ti}");
        steps.push(Step::CreateTunnel {
            name: name.clone(),
            tunnel: t.clone(),
        });
        steps.push(Step::SetMaster {
            port: name,
            bridge: t.network.value.clone(),
        });
    }
    // A vm configures its own interfaces; the lab only wires its NICs.
    let hosts = || lab.nodes.iter().filter(|n| n.kind != NodeKind::Vm);
    for n in hosts() {
        for (k, v) in &n.sysctls {
            steps.push(Step::SetSysctl {
                ns: Ns::Node(n.name.value.clone()),
                key: k.clone(),
                value: v.clone(),
            });
        }
    }
    // A system node with `netconf` brings its addresses and routes up with
    // its own network configuration, as the distro would.
    let self_configured =
        |n: &crate::model::Node| n.kind == NodeKind::System && n.netconf.is_some();
    for n in hosts().filter(|n| !self_configured(n)) {
        for i in &n.interfaces {
            for a in i.addresses() {
                steps.push(Step::AddAddress {
                    ns: Ns::Node(n.name.value.clone()),
                    ifname: i.name.clone(),
                    addr: a.value,
                });
            }
        }
    }
    for (ni, net) in lab.networks.iter().enumerate() {
        if !net.patch {
            steps.push(Step::SetUp {
                ns: Ns::Hub,
                ifname: net.name.value.clone(),
            });
        }
        for mi in 0..net.members.len() {
            steps.push(Step::SetUp {
                ns: Ns::Hub,
                ifname: hub_port_name(ni, mi),
            });
        }
    }
    for n in hosts() {
        for i in n
            .interfaces
            .iter()
            .filter(|i| i.up && i.attach != Attachment::Loopback)
        {
            steps.push(Step::SetUp {
                ns: Ns::Node(n.name.value.clone()),
                ifname: i.name.clone(),
            });
        }
    }
    for n in hosts().filter(|n| !self_configured(n)) {
        for i in &n.interfaces {
            for r in &i.routes {
                steps.push(Step::AddRoute {
                    ns: Ns::Node(n.name.value.clone()),
                    route: PlannedRoute {
                        to: r.value.to,
                        via: r.value.via,
                        dev: r
                            .value
                            .dev
                            .clone()
                            .unwrap_or_else(|| route_dev(n, i, r.value.via)),
                        metric: r.value.metric,
                        src: r.value.src,
                        onlink: r.value.onlink,
                        ipv4: r.value.is_ipv4(),
                    },
                });
            }
        }
    }
    for n in hosts() {
        for i in &n.interfaces {
            steps.extend(netns_tools(i).into_iter().map(|argv| Step::NetnsTool {
                node: n.name.value.clone(),
                ifname: i.name.clone(),
                argv,
            }));
        }
    }
    for n in lab
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Netns | NodeKind::Container))
    {
        for c in &n.exec {
            steps.push(Step::Exec {
                node: n.name.value.clone(),
                command: c.clone(),
            });
        }
    }
    Plan {
        lab: lab.name.clone(),
        namespaces,
        steps,
    }
}

/// The wire name of an impaired network member, which seeds its wire's
/// random choices: `NODE.IF-NETWORK`, as a link's default name is
/// `NODE.IF-NODE.IF`.
pub fn member_wire_name(member: &crate::model::Endpoint, network: &str) -> String {
    format!("{}.{}-{network}", member.node, member.iface)
}

/// The host programs that apply an interface's `ethtool` settings and
/// `nat`, in that order (as conlink applies them): `ethtool OPTION IF
/// ARGS`, then a DNAT rule for what arrives on the interface and a SNAT
/// rule to its first IPv4 address for what leaves it.
fn netns_tools(i: &crate::model::Interface) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = i
        .ethtool
        .iter()
        .map(|e| {
            let mut argv = vec!["ethtool".to_string(), e.option.clone(), i.name.clone()];
            argv.extend(e.args.iter().cloned());
            argv
        })
        .collect();
    if let (Some(target), Some(source)) = (i.nat, i.ipv4.first()) {
        let rule = |chain: &str, dir: &str, jump: &str, to_opt: &str, to: String| {
            [
                "iptables", "-t", "nat", "-A", chain, dir, &i.name, "-j", jump, to_opt, &to,
            ]
            .map(str::to_string)
            .to_vec()
        };
        out.push(rule(
            "PREROUTING",
            "-i",
            "DNAT",
            "--to-destination",
            target.value.to_string(),
        ));
        out.push(rule(
            "POSTROUTING",
            "-o",
            "SNAT",
            "--to-source",
            source.value.addr.to_string(),
        ));
    }
    out
}

/// A vm endpoint's NIC: the vm, the NIC's index in the guest (its
/// interfaces in file order, loopback aside) and its MAC: the one the lab
/// file gives, or one derived from the lab, vm and NIC names, so that it is
/// the same on every run.
pub fn vm_nic(lab: &Lab, ep: &crate::model::Endpoint) -> (String, usize, Mac) {
    let node = lab.node(&ep.node);
    let nics: Vec<&crate::model::Interface> = node
        .map(|n| {
            n.interfaces
                .iter()
                .filter(|i| i.attach != Attachment::Loopback)
                .collect()
        })
        .unwrap_or_default();
    let index = nics.iter().position(|i| i.name == ep.iface).unwrap_or(0);
    let mac = nics.get(index).and_then(|i| i.mac).unwrap_or_else(|| {
        // FNV-1a over the names; 52:54:00 is QEMU's locally administered prefix.
        let mut h: u32 = 0x811c_9dc5;
        for b in format!("{}/{}/{}", lab.name, ep.node, ep.iface).bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let [_, x, y, z] = h.to_be_bytes();
        Mac([0x52, 0x54, 0x00, x, y, z])
    });
    (ep.node.clone(), index, mac)
}

/// The interface a route without `dev` leaves through: the one whose subnet
/// holds the gateway, else the interface it was written under.
fn route_dev(
    node: &crate::model::Node,
    written_on: &crate::model::Interface,
    via: Option<IpAddr>,
) -> String {
    via.and_then(|via| {
        node.interfaces
            .iter()
            .find(|i| i.addresses().any(|a| a.value.network().contains(via)))
    })
    .unwrap_or(written_on)
    .name
    .clone()
}
