//! The lab after parsing and resolution: defaults applied, references
//! checked, addresses assigned.
//!
//! Fields that later checks or errors point back at keep their [`Spanned`]
//! place in the file; serializing a [`Lab`] gives the resolved lab that
//! `warren graph --format json` prints.

use crate::span::{Span, Spanned};
use crate::values::{Duration, IfAddr, Mac, Percent, Prefix, Rate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A whole lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lab {
    /// The lab's name (from `name:` or the file stem).
    pub name: String,
    /// Nodes in file order.
    pub nodes: Vec<Node>,
    /// Point-to-point links in file order.
    pub links: Vec<Link>,
    /// Shared layer-2 segments.
    pub networks: Vec<Network>,
    /// Tunnels from the lab's hub to other hosts.
    pub tunnels: Vec<Tunnel>,
    /// Host TCP ports forwarded to ports inside nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
    /// Which links and networks are captured.
    pub capture: CaptureMode,
    /// Ring bytes per capture point (`capture: {buffer: ...}`); `None`
    /// means the capture crate's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_buffer: Option<u64>,
    /// Where evidence goes (`results:`); `None` means `./results`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    /// Seed for the user-space wire's random choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The `tests:` section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<Test>,
    /// The `faults:` section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// `nodes` by name, for [`Lab::node`]; a cache, never serialized.
    #[serde(skip)]
    pub(crate) node_index: crate::node_index::NodeIndex,
}

impl Lab {
    /// The node called `name`, found through an index (O(1); a node
    /// added or renamed since the last lookup is still found).
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.node_index.find(&self.nodes, name)
    }

    /// Reads back a lab `up` saved (its serialized form, `lab.json`), for
    /// the supervisor and the other commands of a running lab, which do
    /// not parse the lab file again.
    pub fn from_saved(json: &str) -> Result<Lab, serde_json::Error> {
        let mut lab: Lab = serde_json::from_str(json)?;
        // Endpoints are saved as `node:iface`: their altnames come back
        // from the interfaces, which keep them.
        let altnames: BTreeMap<(String, String), String> = lab
            .nodes
            .iter()
            .flat_map(|n| {
                n.interfaces.iter().filter_map(|i| {
                    let a = i.altname.clone()?;
                    Some(((n.name.value.clone(), i.name.clone()), a))
                })
            })
            .collect();
        let fix = |e: &mut Endpoint| {
            e.altname = altnames.get(&(e.node.clone(), e.iface.clone())).cloned();
        };
        for l in &mut lab.links {
            l.endpoints.iter_mut().for_each(|e| fix(&mut e.value));
        }
        for n in &mut lab.networks {
            n.members.iter_mut().for_each(|e| fix(&mut e.value));
        }
        for i in lab.nodes.iter_mut().flat_map(|n| n.interfaces.iter_mut()) {
            if let Attachment::Link { peer, .. } = &mut i.attach {
                fix(peer);
            }
        }
        Ok(lab)
    }

    /// Gives the lab another name (`warren up --name`, so one file can run
    /// as several labs at once); fails with the reason when the name is
    /// unusable.
    pub fn rename(&mut self, name: &str) -> Result<(), String> {
        if let Some(problem) = crate::resolve::lab_name_problem(name) {
            return Err(problem);
        }
        self.name = name.to_string();
        Ok(())
    }
}

/// What runs in a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Commands in a bare network namespace sharing the host filesystem.
    #[default]
    Netns,
    /// An OCI image's entrypoint in its own namespaces.
    Container,
    /// systemd as PID 1 on an OS image.
    System,
    /// A QEMU virtual machine.
    Vm,
}

impl NodeKind {
    /// Every kind with its name in the lab file.
    pub const ALL: [(&'static str, NodeKind); 4] = [
        ("netns", NodeKind::Netns),
        ("container", NodeKind::Container),
        ("system", NodeKind::System),
        ("vm", NodeKind::Vm),
    ];

    /// The kind's name in the lab file.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("netns", |(n, _)| n)
    }
}

/// A command: a string runs through `sh -c`, a list runs directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    /// Run through `sh -c`.
    Shell(String),
    /// Run directly, first element is the program.
    Argv(Vec<String>),
}

impl Command {
    /// The argument vector to execute.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(s) => vec!["sh".into(), "-c".into(), s.clone()],
            Command::Argv(a) => a.clone(),
        }
    }
}

/// One node of the lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// The node's name (its key under `nodes:`).
    pub name: Spanned<String>,
    /// What runs in it.
    pub kind: NodeKind,
    /// Commands run in order once all of the node's interfaces are up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<Command>,
    /// Environment of the node's processes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Sysctls set in the node's namespace, such as `net.ipv4.ip_forward: 1`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// How to know the node is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<Ready>,
    /// Image and process settings of container and system nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSpec>,
    /// Machine settings of vm nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmSpec>,
    /// Render native network configuration into the node's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netconf: Option<NetconfSpec>,
    /// Every interface of the node, with resolved addresses.
    pub interfaces: Vec<Interface>,
    /// Further names of the node in the lab's `/etc/hosts`, such as
    /// containerlab's `clab-LAB-NODE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Application containers that run in the node's namespaces
    /// (`containers:`), each from its own image, started once the node's
    /// own process has started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Member>,
    /// Nodes this one starts after (`after:`), in the order written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<After>,
    /// Time waited before the node starts, once what it starts after is
    /// done (`start_delay:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_delay: Option<Duration>,
}

/// One entry of a node's `containers:`: an application container in the
/// node's network namespace, with its own root, logs, exit code and
/// readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Its name, unique in the node; `warren exec LAB NODE/NAME` reaches it.
    pub name: Spanned<String>,
    /// Its image and process settings.
    pub container: ContainerSpec,
    /// Its environment (the node's `env:` is not inherited).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How to know it is up (`ready.exec` only: it has no console).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<Ready>,
    /// Whose pid namespace it runs in.
    #[serde(default)]
    pub pid: PidMode,
}

/// Whose pid namespace a node's member container runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PidMode {
    /// One of its own, where its command is pid 1 (the default).
    #[default]
    Own,
    /// The node's: a container or system node's init's, or the lab's for
    /// a netns node (as `docker run --pid container:NODE`).
    Node,
}

/// One entry of a node's `after:`: another node and what it must have done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    /// The other node.
    pub node: Spanned<String>,
    /// What it must have done.
    pub when: StartAfter,
}

/// What a node waits for of a node it starts after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StartAfter {
    /// Its process was started.
    Started,
    /// It is ready: started, and its `ready` passed (if it has one).
    #[default]
    Ready,
    /// Its process ended with exit status 0 (a container node).
    Completed,
}

impl StartAfter {
    /// Every value with its name in the lab file.
    pub const ALL: [(&'static str, StartAfter); 3] = [
        ("started", StartAfter::Started),
        ("ready", StartAfter::Ready),
        ("completed", StartAfter::Completed),
    ];
}

impl Node {
    /// The interface called `name` (its kernel name or its altname).
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces
            .iter()
            .find(|i| i.name == name || i.altname.as_deref() == Some(name))
    }

    /// The container called `name` of the node's `containers:`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.containers.iter().find(|m| m.name.value == name)
    }
}

/// How to know a node is up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Ready {
    /// A regex the console must print.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// A command that must exit 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<Command>,
    /// What `systemctl is-system-running` may answer (system nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_state: Vec<String>,
    /// How long to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How often to retry a probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
}

/// Image and process settings of container and system nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerSpec {
    /// Image reference, or a root filesystem directory for system nodes.
    pub image: String,
    /// Overrides the image's command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Overrides the image's entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Overrides the image's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Bind mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<Bind>,
    /// Capabilities added to the default set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Install systemd into images that lack it (system nodes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provision: bool,
    /// Run unconfined: every capability, no seccomp filter, no masked or
    /// read-only paths, no no_new_privs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// Capabilities removed from the default set (after `capabilities`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Run in a user namespace of its own, root mapped to an unprivileged
    /// host id range.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub userns: bool,
    /// The container's host name; `None`: the node's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Further `/etc/hosts` entries: a name and its addresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Run the command under a small init that forwards signals to it and
    /// reaps the zombies of its processes (Docker's `--init`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// tmpfs mounts: `TARGET` or `TARGET:OPTIONS` (`size=64m,mode=1777`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// The signal that asks the node's process to stop (`SIGTERM` when
    /// `None`), as a name such as `SIGUSR1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// How long the process has after its stop signal before SIGKILL;
    /// `None`: warren's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
}

/// A bind mount `SRC:DST[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// Path on the host.
    pub source: String,
    /// Path in the node.
    pub target: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Firmware a vm boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// SeaBIOS, or direct kernel boot.
    #[default]
    Bios,
    /// OVMF.
    Uefi,
}

/// Which accelerator a vm uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when it boots the guest, TCG otherwise.
    #[default]
    Auto,
    /// KVM only.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// Machine settings of a vm node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VmSpec {
    /// Kernel image for direct boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Initial ramdisk for direct boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initrd: Option<String>,
    /// Kernel command line for direct boot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// Disk image (qcow2 or raw), run on a throwaway overlay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Memory in MiB.
    pub memory: u64,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Accelerator choice.
    pub accel: Accel,
    /// Console prompt and login for scripted console use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleSpec>,
    /// NIC model (`virtio-net-pci` by default).
    pub nic_model: String,
    /// Extra QEMU arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qemu_args: Vec<String>,
    /// What goes on the cloud-init NoCloud seed besides the network config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitSpec>,
}

/// A vm's `cloud_init`: a NoCloud seed drive for a cloud image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CloudInitSpec {
    /// A file (relative to the lab file) passed through as `user-data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

/// How to drive a vm's serial console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConsoleSpec {
    /// Regex of the shell prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// User name to log in with, when the console asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Password to log in with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Native network configuration rendered into a node's root before boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetconfSpec {
    /// `auto`, `eni`, `sysconfig`, `netplan`, `networkd` or `network-manager`.
    pub renderer: String,
}

/// What an interface is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Attachment {
    /// One end of a point-to-point link.
    Link {
        /// Index of the link in [`Lab::links`].
        link: usize,
        /// The other end.
        peer: Endpoint,
    },
    /// A member of a network.
    Network {
        /// Name of the network.
        network: String,
    },
    /// The node's loopback interface.
    Loopback,
    /// A macvlan or macvtap child of a host interface.
    Macvlan(Macvlan),
    /// One end of a veth whose other end is in the host's namespace.
    Host {
        /// The other end's name in the host's namespace.
        peer: String,
    },
}

/// A macvlan or macvtap child of a host interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Macvlan {
    /// The host interface (in the host's namespace).
    pub parent: String,
    /// `bridge`, `private`, `vepa`, `passthru` or `source`; `None`: the kernel's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A macvtap instead of a macvlan.
    pub tap: bool,
}

/// One interface of a node, resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interface {
    /// Kernel name inside the node.
    pub name: String,
    /// The name as written, when the kernel could not take it (longer than
    /// 15 bytes, or with `/`): the interface's altname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub altname: Option<String>,
    /// What it is attached to.
    pub attach: Attachment,
    /// IPv4 addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv4: Vec<Spanned<IfAddr>>,
    /// IPv6 addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6: Vec<Spanned<IfAddr>>,
    /// MAC address; the kernel picks one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    /// MTU; the kernel default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Routes through this interface's gateways.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Spanned<Route>>,
    /// Administratively up.
    pub up: bool,
    /// Impairments on this interface's egress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<Impair>,
    /// Address that traffic arriving on the interface is DNATed to, while
    /// traffic leaving it is SNATed to the interface's first IPv4 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat: Option<Spanned<std::net::Ipv4Addr>>,
    /// ethtool settings, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ethtool: Vec<Ethtool>,
    /// Where the interface was first named.
    #[serde(skip)]
    pub span: Span,
}

impl Interface {
    /// All addresses, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = &Spanned<IfAddr>> {
        self.ipv4.iter().chain(&self.ipv6)
    }
}

/// One ethtool setting of an interface: `ethtool OPTION IF ARGS...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ethtool {
    /// The ethtool option, such as `--offload` or `-K`.
    pub option: String,
    /// What follows the interface name, such as `rx off`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// A route, in any form `ip route add` takes it:
/// `DEST [via GATEWAY] [dev IF] [metric N] [src ADDR] [onlink]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination; `None` is the default route of the route's family.
    pub to: Option<Prefix>,
    /// Gateway; `None` for a route straight out of the interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// Output interface, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Route metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// Preferred source address, one of the node's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// The gateway is on the link even if no subnet of the node holds it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
}

impl Route {
    /// True for an IPv4 route: the family of its destination, gateway or
    /// source, and IPv4 for `default dev IF` as `ip route` takes it.
    pub fn is_ipv4(&self) -> bool {
        self.to
            .map(|p| p.addr)
            .or(self.via)
            .or(self.src)
            .is_none_or(|a| a.is_ipv4())
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("default")?,
        }
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        Ok(())
    }
}

/// `node:interface`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Node name.
    pub node: String,
    /// Interface name inside the node.
    pub iface: String,
    /// The interface's name as written, when the kernel name differs.
    pub altname: Option<String>,
}

impl Endpoint {
    /// Whether `text` names this endpoint: `node:if` with the kernel name
    /// or with the name as written.
    pub fn is(&self, text: &str) -> bool {
        text.split_once(':').is_some_and(|(node, iface)| {
            node == self.node && (iface == self.iface || self.altname.as_deref() == Some(iface))
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.node, self.iface)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads `node:iface` back; the altname is not in that text, and
/// [`Lab::from_saved`] puts it back from the node's interface.
impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (node, iface) = text
            .split_once(':')
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not node:interface")))?;
        Ok(Endpoint {
            node: node.to_string(),
            iface: iface.to_string(),
            altname: None,
        })
    }
}

/// A point-to-point link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    /// The link's name (`name:` or `a.if-b.if`), used for capture files.
    pub name: String,
    /// Its two ends.
    pub endpoints: [Spanned<Endpoint>; 2],
    /// MTU of both ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Impairments in both directions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<Impair>,
    /// Whether the link is captured.
    pub capture: bool,
}

/// A shared layer-2 segment: a bridge in the lab's hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// The network's name.
    pub name: Spanned<String>,
    /// Member interfaces.
    pub members: Vec<Spanned<Endpoint>>,
    /// Prefix that member IPv4 addresses are assigned from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Spanned<Prefix>>,
    /// Prefix that member IPv6 addresses are assigned from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Spanned<Prefix>>,
    /// MTU of the bridge and its members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Impairments on every member's egress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<Impair>,
    /// Whether the network is captured.
    pub capture: bool,
    /// `mode: patch`: its two members are joined by tc mirred redirects
    /// in the hub, with no bridge.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub patch: bool,
}

/// Tunnel encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    /// VXLAN.
    Vxlan,
    /// GENEVE.
    Geneve,
}

/// A tunnel joining a network to another host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tunnel {
    /// Encapsulation.
    #[serde(rename = "type")]
    pub kind: TunnelType,
    /// The network whose bridge the tunnel joins.
    pub network: Spanned<String>,
    /// The other host's address.
    pub remote: IpAddr,
    /// Virtual network identifier.
    pub vni: u32,
    /// The local address to send from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    /// UDP destination port.
    pub dstport: u16,
    /// The namespace (a name under `/run/netns`) whose addresses and
    /// routes carry the tunnel; `None`: the host's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
}

/// A host TCP port forwarded to a port on a node's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The port on the host's 127.0.0.1.
    pub host: u16,
    /// The node.
    pub node: String,
    /// The node's interface whose address receives the connections.
    pub iface: String,
    /// That interface's first address.
    pub target: IpAddr,
    /// The port on the node.
    pub port: u16,
    /// TCP or UDP.
    pub proto: Proto,
}

/// The protocol of a forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP: each connection is relayed.
    Tcp,
    /// UDP: each client's datagrams are relayed over a socket of its own.
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// Which links and networks are captured by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureMode {
    /// Every link and network.
    All,
    /// Nothing.
    None,
    /// Only the named links and networks.
    Only(Vec<String>),
}

/// Distribution of delay jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform.
    Uniform,
    /// Normal.
    Normal,
    /// Pareto.
    Pareto,
    /// Pareto-normal.
    Paretonormal,
}

/// Network impairments on an egress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Impair {
    /// Added delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Delay variation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Duration>,
    /// Shape of the delay variation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// Share of frames dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Percent>,
    /// Correlation of successive losses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_correlation: Option<Percent>,
    /// Share of frames sent twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Percent>,
    /// Share of frames sent out of order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Percent>,
    /// Share of frames with a flipped bit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<Percent>,
    /// Rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Queue limit in frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One test of the `tests:` section, or a group run together.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Test {
    /// A single named step.
    Step(TestStep),
    /// Steps run together.
    Parallel {
        /// The steps.
        parallel: Vec<TestStep>,
    },
}

/// A named test step with its timeout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestStep {
    /// The step's name.
    pub name: Spanned<String>,
    /// How long the step may take.
    pub timeout: Duration,
    /// What the step does.
    #[serde(flatten)]
    pub action: StepAction,
}

/// What a test step does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepAction {
    /// Run a command on a node.
    Exec(ExecCheck),
    /// Ping from a node.
    Ping(PingCheck),
    /// HTTP GET from a node.
    Http(HttpCheck),
    /// Drive a console.
    Console(ConsoleStep),
    /// Retry another step until it passes.
    Wait(WaitStep),
    /// Fire an entry of `faults:`.
    Fault(Spanned<String>),
    /// Count captured frames.
    Capture(CaptureCheck),
}

/// `exec` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecCheck {
    /// Node to run on.
    pub node: Spanned<String>,
    /// The command.
    pub cmd: Command,
    /// Expected exit code.
    pub exit: i32,
    /// Regex stdout must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Regex stderr must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

/// `ping` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingCheck {
    /// Node to ping from.
    pub from: Spanned<String>,
    /// A node, `node:if`, or an address.
    pub to: Spanned<String>,
    /// Echo requests to send.
    pub count: u32,
    /// Share of replies that may be missing.
    pub loss: Percent,
}

/// `http` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpCheck {
    /// Node to send from.
    pub from: Spanned<String>,
    /// URL to GET.
    pub url: String,
    /// Expected status.
    pub status: u16,
    /// Regex the body must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// `console` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleStep {
    /// vm or system node.
    pub node: Spanned<String>,
    /// Regex to wait for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Text to send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Command to run at the prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Expected exit code of `run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// Regex the output of `run` must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// A file to send through the console's shell, before `send` and `run`
    /// (boxed: rare, and large beside the other steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<Box<UploadStep>>,
}

/// A console step's `upload`: a local file written on the node through
/// its console's shell, each chunk checked there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadStep {
    /// The local file, relative to the lab file's folder.
    pub src: Spanned<String>,
    /// Where it goes on the node.
    pub dst: String,
    /// Its mode (`chmod`), from octal digits (`"0755"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `wait` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitStep {
    /// The step to retry.
    pub step: Box<StepAction>,
    /// Attempts before giving up.
    pub retries: u32,
    /// Pause between attempts.
    pub interval: Duration,
}

/// Comparison of a frame count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CountOp {
    /// Exactly.
    #[serde(rename = "==")]
    Eq,
    /// At least.
    #[serde(rename = ">=")]
    Ge,
    /// At most.
    #[serde(rename = "<=")]
    Le,
}

/// `capture` step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureCheck {
    /// Link or network name, or an endpoint of a link.
    pub link: Spanned<String>,
    /// Display filter.
    pub filter: String,
    /// Comparison.
    pub op: CountOp,
    /// Frame count.
    pub count: u64,
}

/// One entry of `faults:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// Name, for `fault:` test steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// Time after lab start; `None` fires only from a test step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Duration>,
    /// What happens.
    #[serde(flatten)]
    pub action: FaultAction,
}

/// What a fault does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", untagged)]
pub enum FaultAction {
    /// Set a link down, for a while or for good.
    LinkDown {
        /// `node:if` of the link.
        link: Spanned<String>,
        /// How long it stays down; `None` is until the lab ends.
        down: Option<Duration>,
    },
    /// Impair an interface, link or network for a while.
    Impair {
        /// The impairment.
        impair: Impair,
        /// What is impaired.
        on: Spanned<String>,
        /// For how long; `None` is until the lab ends.
        #[serde(rename = "for")]
        duration: Option<Duration>,
    },
    /// Restart a node (or stop it for a while).
    NodeRestart {
        /// The node.
        node: Spanned<String>,
        /// How long it stays stopped; `None` restarts it at once.
        #[serde(skip_serializing_if = "Option::is_none")]
        down: Option<Duration>,
    },
}
