//! Scaling a running lab (`warren scale`, `warren up --scale` on a lab
//! that runs): the lab is replaced by another that differs only in which
//! nodes it has, as `docker compose up --scale` changes a service's
//! replicas. Nodes only in the old lab are stopped and unplugged; nodes
//! only in the new one get a namespace, their network ports and then a
//! start as `warren node … start` does it (addresses, routes, process,
//! commands, readiness). Every other node keeps running untouched; the
//! hub-side ports of network members whose place in a network's member
//! list moves are renamed live, so the plan's port names stay true.
//! Captures go on: a removed node's capture points close (with their
//! statistics) before its ports go, and a new member of a captured
//! network joins the network's running capture.

use super::live::Live;
use crate::apply::{self, Built};
use crate::restart::{NodeAction, RestartError};
use crate::state::HUB_KEY;
use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use warren_kernel::{LinkSpec, MacAddr};
use warren_topology::Lab;
use warren_topology::model::{Attachment, Node};
use warren_topology::plan::{Ns, hub_port_name};

/// Why a lab could not be scaled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(super) enum ScaleError {
    /// The new lab differs in more than its nodes.
    #[error("scaling changes only which nodes there are: {0}")]
    Shape(String),
    /// A node scaling does not handle.
    #[error("node {node} cannot be added or removed while the lab runs: {why}")]
    Node {
        /// The node.
        node: String,
        /// Why.
        why: &'static str,
    },
    /// A kernel request failed.
    #[error("{what}")]
    Kernel {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Stopping or starting a node failed.
    #[error(transparent)]
    Restart(#[from] RestartError),
    /// A new node's image or forward could not be prepared.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

fn kernel<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> ScaleError {
    let what = what.into();
    move |e| ScaleError::Kernel {
        what,
        source: Box::new(e),
    }
}

/// The nodes of `old` and `new` that one of them lacks: (removed, added).
pub(super) fn difference(old: &Lab, new: &Lab) -> (Vec<String>, Vec<String>) {
    let names =
        |l: &Lab| -> BTreeSet<String> { l.nodes.iter().map(|n| n.name.value.clone()).collect() };
    let (o, n) = (names(old), names(new));
    (
        o.difference(&n).cloned().collect(),
        n.difference(&o).cloned().collect(),
    )
}

/// Checks that `new` differs from `old` only in nodes that scaling can
/// add or remove: the same networks in the same order, no point-to-point
/// links, tunnels or patch networks touched, and the nodes concerned are
/// containers or netns nodes whose every interface is a plain network
/// member. Removed nodes may not have forwards (their listeners cannot be
/// closed while the lab runs).
pub(super) fn check(
    old: &Lab,
    new: &Lab,
    removed: &[String],
    added: &[String],
) -> Result<(), ScaleError> {
    let nets =
        |l: &Lab| -> Vec<String> { l.networks.iter().map(|n| n.name.value.clone()).collect() };
    if nets(old) != nets(new) {
        return Err(ScaleError::Shape(format!(
            "the networks were {:?} and would be {:?}",
            nets(old),
            nets(new)
        )));
    }
    if old.links.len() != new.links.len() || old.tunnels != new.tunnels {
        return Err(ScaleError::Shape(
            "the point-to-point links or tunnels would change".into(),
        ));
    }
    let concerned = removed
        .iter()
        .filter_map(|r| old.node(r).map(|n| (n, old)))
        .chain(added.iter().filter_map(|a| new.node(a).map(|n| (n, new))));
    for (node, lab) in concerned {
        let fail = |why| {
            Err(ScaleError::Node {
                node: node.name.value.clone(),
                why,
            })
        };
        if !matches!(
            node.kind,
            warren_topology::model::NodeKind::Container | warren_topology::model::NodeKind::Netns
        ) {
            return fail("only container and netns nodes scale");
        }
        for i in &node.interfaces {
            match &i.attach {
                Attachment::Loopback => {}
                Attachment::Network { network } => {
                    if i.impair.is_some() {
                        return fail(
                            "an impaired (netem) member runs through a wire started with the lab",
                        );
                    }
                    if lab
                        .networks
                        .iter()
                        .any(|n| n.name.value == *network && n.patch)
                    {
                        return fail("a patch joins exactly two members");
                    }
                }
                _ => return fail("only network members scale, not links or macvlans"),
            }
        }
        if std::ptr::eq(lab, old) && old.forwards.iter().any(|f| f.node == node.name.value) {
            return fail("its forward's listener stays until the lab ends");
        }
    }
    Ok(())
}

/// Where each member of each network is: (network index, member index).
fn member_places(lab: &Lab) -> Vec<((usize, usize), String)> {
    lab.networks
        .iter()
        .enumerate()
        .flat_map(|(ni, n)| {
            n.members
                .iter()
                .enumerate()
                .map(move |(mi, m)| ((ni, mi), m.value.to_string()))
        })
        .collect()
}

impl Live {
    /// Replaces the lab with `new` (its text `text`), adding and removing
    /// nodes. Returns the nodes removed and added.
    pub(super) fn scale(&mut self, new: Lab, text: &str) -> Result<serde_json::Value, ScaleError> {
        let (removed, added) = difference(&self.lab, &new);
        check(&self.lab, &new, &removed, &added)?;
        for node in &removed {
            self.remove_node(node)?;
        }
        self.rename_ports(&new)?;
        let new_plan = crate::steps::plan(&new);
        for node in &added {
            let model = new.node(node).cloned().ok_or_else(|| {
                ScaleError::Shape(format!("node {node} vanished from the new lab"))
            })?;
            self.plug_node(&new, &model)?;
        }
        // From here the lab is the new one: starting the added nodes
        // configures them from its plan, as a node start does.
        crate::saved::rewrite(&self.dir, &new, &new_plan)
            .map_err(|e| ScaleError::Other(Box::new(e)))?;
        self.lab = new;
        self.plan = new_plan.network;
        // The evidence keeps the lab file the lab now runs.
        std::fs::write(self.state.results.join("lab.yaml"), text)
            .map_err(|e| ScaleError::Other(Box::new(e)))?;
        for node in &added {
            self.node(node, NodeAction::Start, "warren scale")?;
        }
        for f in self.lab.forwards.iter().filter(|f| added.contains(&f.node)) {
            crate::forward::start(f, &self.built).map_err(|e| ScaleError::Other(Box::new(e)))?;
        }
        self.state
            .write(&self.dir)
            .map_err(|e| ScaleError::Other(Box::new(e)))?;
        let done = serde_json::json!({ "removed": removed, "added": added });
        crate::events::append(&self.state.results, "scale", done.clone());
        Ok(done)
    }

    /// Stops `node`, deletes its hub ports (which deletes the veth pairs)
    /// and drops its namespace.
    fn remove_node(&mut self, node: &str) -> Result<(), ScaleError> {
        if !self.nodes.is_stopped(node) {
            self.node(node, NodeAction::Stop, "warren scale")?;
        }
        let members: Vec<((usize, usize), String)> = member_places(&self.lab)
            .into_iter()
            .filter(|(_, m)| m.split_once(':').is_some_and(|(n, _)| n == node))
            .collect();
        // Its capture points close while its ports still exist, so the
        // files keep its last frames and get its statistics.
        for ((ni, _), member) in &members {
            let network = &self.lab.networks[*ni].name.value;
            self.captures
                .remove_member(network, member)
                .map_err(kernel(format!("closing the capture of {member}")))?;
        }
        let ports: Vec<String> = members
            .iter()
            .map(|((ni, mi), _)| hub_port_name(*ni, *mi))
            .collect();
        let h = hub(&self.built)?;
        let hub_ns = &self.built.namespaces[h].1;
        let mut batch = hub_ns.batch();
        for p in &ports {
            batch.delete_link(p.as_str());
        }
        self.built
            .ops
            .execute(hub_ns, batch)
            .map_err(kernel(format!("deleting the hub ports of {node}")))?;
        let n = apply::node_ns(&self.built, node).map_err(|e| ScaleError::Other(Box::new(e)))?;
        self.built.namespaces.remove(n);
        self.state.netns.remove(node);
        self.nodes.remove(node);
        self.nodes.record(&mut self.state);
        Ok(())
    }

    /// Renames the hub ports of members that keep running but sit at
    /// another place in `new`'s member lists, through temporary names so
    /// that no two ports ever share one.
    fn rename_ports(&mut self, new: &Lab) -> Result<(), ScaleError> {
        let old_places = member_places(&self.lab);
        let moves: Vec<(String, String)> = member_places(new)
            .into_iter()
            .filter_map(|(to, m)| {
                let (from, _) = old_places.iter().find(|(_, o)| *o == m)?;
                (*from != to).then(|| (hub_port_name(from.0, from.1), hub_port_name(to.0, to.1)))
            })
            .collect();
        if moves.is_empty() {
            return Ok(());
        }
        let h = hub(&self.built)?;
        let hub_ns = &self.built.namespaces[h].1;
        let indexes: std::collections::HashMap<String, u32> = self
            .built
            .ops
            .links(hub_ns)
            .map_err(kernel("listing the hub's ports"))?
            .into_iter()
            .map(|l| (l.name, l.index))
            .collect();
        for (stage, pick) in [("moving aside", 0), ("renaming", 1)] {
            let mut batch = hub_ns.batch();
            for (i, (from, to)) in moves.iter().enumerate() {
                let Some(&ix) = indexes.get(from) else {
                    return Err(ScaleError::Shape(format!("no hub port {from}")));
                };
                let name = if pick == 0 {
                    format!("s{i}")
                } else {
                    to.clone()
                };
                batch.rename(ix, &name);
            }
            self.built
                .ops
                .execute(hub_ns, batch)
                .map_err(kernel(format!("{stage} the hub ports of moved members")))?;
        }
        Ok(())
    }

    /// Gives a new node its namespace (with the lab's sysctls) and a veth
    /// to each of its networks' bridges, left down: the node's start
    /// configures and raises them.
    fn plug_node(&mut self, new: &Lab, node: &Node) -> Result<(), ScaleError> {
        let name = &node.name.value;
        let ops = self.built.ops.clone();
        let sysctls: Vec<(&str, &str)> = apply::NO_DAD
            .iter()
            .copied()
            .chain(node.sysctls.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        let netns = ops
            .create_netns(std::slice::from_ref(name), &sysctls)
            .map_err(kernel(format!(
                "creating the namespace of {name} with its sysctls"
            )))?
            .pop()
            .ok_or_else(|| ScaleError::Shape(format!("no namespace for {name}")))?;
        let h = hub(&self.built)?;
        let places = member_places(new);
        let mut ports = Vec::new();
        {
            let hub_ns = &self.built.namespaces[h].1;
            let mut batch = hub_ns.batch();
            for i in &node.interfaces {
                let Attachment::Network { network } = &i.attach else {
                    continue;
                };
                let me = format!("{name}:{}", i.name);
                let Some(((ni, mi), _)) = places.iter().find(|(_, m)| *m == me) else {
                    continue;
                };
                let port = hub_port_name(*ni, *mi);
                let net = &new.networks[*ni];
                let mut a = LinkSpec::new(i.name.clone()).netns(&netns);
                if let Some(m) = i.mtu {
                    a = a.mtu(m);
                }
                if let Some(m) = &i.mac {
                    a = a.mac(MacAddr(m.0));
                }
                let mut b = LinkSpec::new(port.clone()).netns(hub_ns);
                if let Some(m) = net.mtu {
                    b = b.mtu(m);
                }
                batch
                    .create_veth(a, b)
                    .describe(format!("creating veth {me} <-> network {network}"));
                ports.push((port, network.clone(), (*ni, *mi), me));
            }
            ops.execute(hub_ns, batch)
                .map_err(kernel(format!("creating the links of {name}")))?;
            let mut batch = hub_ns.batch();
            for (port, network, _, _) in &ports {
                let bridge = ops
                    .link_index(hub_ns, network)
                    .map_err(kernel(format!("finding bridge {network}")))?;
                batch
                    .set_master(port.as_str(), bridge)
                    .set_up(port.as_str());
            }
            ops.execute(hub_ns, batch)
                .map_err(kernel(format!("attaching {name} to its bridges")))?;
            // Captured as the members `up` plugged in are.
            for (_, _, place, member) in &ports {
                self.captures
                    .add_member(new, *place, member, hub_ns)
                    .map_err(kernel(format!("capturing {member}")))?;
            }
        }
        // A new replica's images are looked up in the store, where `up`
        // put them.
        let prepared = crate::kinds::prepare(
            crate::kinds::of(node.kind),
            node,
            &self.program,
            &crate::saved::Images::new(),
        )
        .map_err(|e| ScaleError::Other(Box::new(e)))?;
        self.state.netns.insert(name.clone(), netns.as_raw_fd());
        self.built.namespaces.push((Ns::Node(name.clone()), netns));
        self.nodes.add_stopped(node, prepared);
        Ok(())
    }
}

/// The position of the hub in `built`.
fn hub(built: &Built) -> Result<usize, ScaleError> {
    built
        .namespaces
        .iter()
        .position(|(n, _)| *n == Ns::Hub)
        .ok_or_else(|| ScaleError::Shape(format!("the lab has no hub ({HUB_KEY})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(replicas: usize, extra: &str) -> Lab {
        let mut text = String::from("name: s\nnodes:\n  r: {}\n");
        let mut members = vec!["r:eth0".to_string()];
        for i in 1..=replicas {
            text.push_str(&format!("  n_{i}: {{}}\n"));
            members.push(format!("n_{i}:eth0"));
        }
        text.push_str(&format!(
            "networks:\n  lan:\n    members: [{}]\n    ipv4: 10.76.0.0/24\n{extra}",
            members.join(", ")
        ));
        warren_topology::load(&text, "s").lab.expect("valid lab")
    }

    #[test]
    fn the_difference_is_the_nodes_one_side_lacks() {
        let (removed, added) = difference(&lab(2, ""), &lab(4, ""));
        assert_eq!(removed, Vec::<String>::new());
        assert_eq!(added, ["n_3", "n_4"]);
        let (removed, added) = difference(&lab(4, ""), &lab(1, ""));
        assert_eq!(removed, ["n_2", "n_3", "n_4"]);
        assert!(added.is_empty());
    }

    #[test]
    fn only_network_members_of_unchanged_networks_scale() {
        let (old, new) = (lab(1, ""), lab(2, ""));
        check(&old, &new, &[], &["n_2".into()]).expect("a replica more");
        let other = lab(2, "  wan:\n    members: [r:eth1]\n");
        let e = check(&old, &other, &[], &["n_2".into()]).expect_err("a network more");
        assert!(e.to_string().contains("networks were"), "{e}");
        let linked = warren_topology::load(
            "name: s\nnodes:\n  r: {}\n  n_1: {}\n  n_2: {}\nnetworks:\n  lan:\n    members: [r:eth0, n_1:eth0]\nlinks:\n  - endpoints: [n_2:eth1, r:eth1]\n",
            "s",
        )
        .lab
        .expect("valid lab");
        let e = check(&old, &linked, &[], &["n_2".into()]).expect_err("a link");
        assert!(e.to_string().contains("links"), "{e}");
    }

    #[test]
    fn members_are_placed_by_network_and_position() {
        let places = member_places(&lab(2, ""));
        assert_eq!(
            places,
            [
                ((0, 0), "r:eth0".to_string()),
                ((0, 1), "n_1:eth0".to_string()),
                ((0, 2), "n_2:eth0".to_string()),
            ]
        );
    }
}
