//! `inspect`: the running lab read back from the kernel, namespace by
//! namespace, with each interface tied to what the lab file attached it to.

use crate::apply::Built;
use crate::proto::{ContainerInfo, InterfaceInfo, LabInfo, NodeInfo};
use crate::state::{HUB_KEY, LabState};
use std::collections::HashMap;
use warren_kernel::{KernelError, OperState};
use warren_topology::Lab;
use warren_topology::model::{Attachment, Link};
use warren_topology::plan::Ns;

fn oper(s: OperState) -> &'static str {
    match s {
        OperState::Up => "up",
        OperState::Down => "down",
        OperState::LowerLayerDown => "lowerlayerdown",
        OperState::Unknown => "unknown",
        _ => "other",
    }
}

/// The path a link's impairments take, seen from one end whose egress
/// has the root qdisc `qdisc`: impaired links in the file run through the
/// user-space wire; a plain link may carry a run-time kernel qdisc.
fn link_path(lab: &Lab, link: &Link, qdisc: Option<&str>) -> &'static str {
    let wired = link.impair.is_some()
        || link.endpoints.iter().any(|e| {
            lab.node(&e.value.node)
                .and_then(|n| n.interface(&e.value.iface))
                .is_some_and(|i| i.impair.is_some())
        });
    if wired { "wire" } else { qdisc_path(qdisc) }
}

/// The kernel path an egress with root qdisc `qdisc` takes.
fn qdisc_path(qdisc: Option<&str>) -> &'static str {
    match qdisc {
        Some("tbf") => "kernel-tbf",
        Some("netem") => "kernel-netem",
        _ => "plain",
    }
}

/// Reads every namespace of the lab.
pub fn inspect(lab: &Lab, st: &LabState, built: &mut Built) -> Result<LabInfo, KernelError> {
    let mut nodes = Vec::new();
    for (ns, netns) in &built.namespaces {
        let links = built.ops.links(netns)?;
        let addrs = built.ops.addresses(netns)?;
        let routes = built.ops.routes(netns)?;
        let names: HashMap<u32, &str> = links.iter().map(|l| (l.index, l.name.as_str())).collect();
        let (name, kind, model) = match ns {
            Ns::Hub => (HUB_KEY.to_string(), "hub".to_string(), None),
            Ns::Node(n) => {
                let node = lab.node(n);
                (
                    n.clone(),
                    node.map_or("netns", |n| n.kind.as_str()).to_string(),
                    node,
                )
            }
        };
        let interfaces = links
            .iter()
            .map(|l| {
                let mut path = None;
                let attached = model
                    .and_then(|m| m.interface(&l.name))
                    .map(|i| match &i.attach {
                        Attachment::Link { link, peer } => {
                            let link = &lab.links[*link];
                            let p = link_path(lab, link, l.qdisc.as_deref());
                            path = Some(p.to_string());
                            let shown = match p {
                                "wire" => ", user-space wire",
                                "kernel-tbf" => ", kernel tbf",
                                "kernel-netem" => ", kernel netem",
                                _ => "",
                            };
                            format!("link {} (peer {peer}{shown})", link.name)
                        }
                        // An impaired member joins its bridge through the wire.
                        Attachment::Network { network } if i.impair.is_some() => {
                            path = Some("wire".to_string());
                            format!("network {network} (user-space wire)")
                        }
                        Attachment::Network { network } => {
                            path = Some(qdisc_path(l.qdisc.as_deref()).to_string());
                            format!("network {network}")
                        }
                        Attachment::Loopback => "loopback".to_string(),
                        Attachment::Macvlan(m) => format!("macvlan of host {}", m.parent),
                        Attachment::Host { peer } => format!("veth to host {peer}"),
                    });
                let attached = attached.or_else(|| {
                    l.master
                        .and_then(|m| names.get(&m))
                        .map(|b| format!("bridge {b}"))
                });
                InterfaceInfo {
                    name: l.name.clone(),
                    index: l.index,
                    kind: l.kind.clone(),
                    mac: l.mac.map(|m| m.to_string()),
                    mtu: l.mtu,
                    up: l.admin_up,
                    state: oper(l.oper_state).to_string(),
                    addresses: addrs
                        .iter()
                        .filter(|a| a.ifindex == l.index)
                        .map(|a| a.addr.to_string())
                        .collect(),
                    attached,
                    path,
                }
            })
            .collect();
        let routes = routes
            .iter()
            .map(|r| {
                let mut s = if r.dst.prefix_len() == 0 {
                    "default".to_string()
                } else {
                    r.dst.to_string()
                };
                if let Some(g) = r.gateway {
                    s.push_str(&format!(" via {g}"));
                }
                if let Some(dev) = r.oif.and_then(|i| names.get(&i)) {
                    s.push_str(&format!(" dev {dev}"));
                }
                if let Some(m) = r.metric {
                    s.push_str(&format!(" metric {m}"));
                }
                s
            })
            .collect();
        let containers = model.map(|m| containers(m, st)).unwrap_or_default();
        nodes.push(NodeInfo {
            name,
            kind,
            interfaces,
            routes,
            stopped: false,
            containers,
        });
    }
    // Nodes first in file order, the hub last.
    nodes.sort_by_key(|n| n.name == HUB_KEY);
    Ok(LabInfo {
        lab: st.lab.clone(),
        file: st.file.display().to_string(),
        status: st.status,
        supervisor_pid: st.supervisor.pid,
        init_pid: st.init.map(|i| i.pid),
        rootless: st.rootless,
        created: st.created,
        results: st.results.display().to_string(),
        nodes,
        captures: Vec::new(),
    })
}

/// What `node`'s `containers:` are doing: the pid of each one running,
/// the exit code of each one that has ended (its helper writes it next
/// to its log).
fn containers(node: &warren_topology::model::Node, st: &LabState) -> Vec<ContainerInfo> {
    node.containers
        .iter()
        .map(|m| {
            let name = crate::kinds::pod::target(&node.name.value, &m.name.value);
            let logs = st.results.join("logs");
            let exit = std::fs::read_to_string(logs.join(format!("{name}.exit")))
                .ok()
                .and_then(|t| t.trim().parse().ok());
            let pid = st
                .containers
                .get(&name)
                .filter(|p| warren_runtime::procs::ProcessId::from(**p).alive())
                .map(|p| p.pid);
            ContainerInfo {
                log: logs.join(format!("{name}.log")).display().to_string(),
                image: m.container.image.clone(),
                // An exit code left by an earlier run of a restarted container is not this one's.
                exit: exit.filter(|_| pid.is_none()),
                pid,
                name,
            }
        })
        .collect()
}
