//! Run-time changes to plain links (veth pairs, not on the user-space
//! wire): `warren link … down|up` sets one end administratively down,
//! which takes the other end's carrier, and brings it back with its
//! addresses and routes.

use crate::apply::{self, ApplyError, Built};
use warren_topology::Lab;
use warren_topology::model::{Link, NodeKind};
use warren_topology::plan::Plan;

/// How long `up` waits for the link's carrier.
const CARRIER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Errors changing a plain link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// No link has that name or endpoint.
    #[error("no link called {0} (give a link name or an endpoint node:if)")]
    NotFound(String),
    /// The chosen end is a vm's NIC, which has no interface warren holds.
    #[error("{0} is a vm's NIC; name the link's other end")]
    VmEnd(String),
    /// A kernel request failed.
    #[error("setting link {link} {state}")]
    Kernel {
        /// The link's name.
        link: String,
        /// `down` or `up`.
        state: &'static str,
        /// The cause.
        #[source]
        source: Box<ApplyError>,
    },
}

/// The link `name` (its name, or `node:if` of either end) and which of its
/// ends to act on: the named end, or for a link name the first end that is
/// not a vm.
pub fn find<'l>(lab: &'l Lab, name: &str) -> Result<(&'l Link, usize), LinkError> {
    let not_vm = |l: &Link, i: usize| {
        lab.node(&l.endpoints[i].value.node)
            .is_some_and(|n| n.kind != NodeKind::Vm)
    };
    for l in &lab.links {
        if l.name == name {
            let end = (0..2).find(|i| not_vm(l, *i)).unwrap_or(0);
            return Ok((l, end));
        }
        if let Some(end) = (0..2).find(|i| l.endpoints[*i].value.to_string() == name) {
            return Ok((l, end));
        }
    }
    Err(LinkError::NotFound(name.to_string()))
}

/// Takes a plain link's carrier away (`up: false`) by setting one end
/// administratively down, or brings that end back with its addresses and
/// the node's routes. Returns the link's name.
pub fn set_state(
    lab: &Lab,
    plan: &Plan,
    built: &mut Built,
    name: &str,
    up: bool,
) -> Result<String, LinkError> {
    let (link, end) = find(lab, name)?;
    let e = &link.endpoints[end].value;
    if lab.node(&e.node).is_some_and(|n| n.kind == NodeKind::Vm) {
        return Err(LinkError::VmEnd(e.to_string()));
    }
    let result = if up {
        // Back once it has carrier again (unless its peer is down too),
        // as at bring-up: IPv6 uses an interface only from then on.
        apply::node_up(plan, built, &e.node, Some(&e.iface)).and_then(|()| {
            apply::wait_node_up(plan, built, &e.node, Some(&e.iface), CARRIER_TIMEOUT).map(|_| ())
        })
    } else {
        apply::node_down(plan, built, &e.node, Some(&e.iface))
    };
    result.map_err(|source| LinkError::Kernel {
        link: link.name.clone(),
        state: if up { "up" } else { "down" },
        source: Box::new(source),
    })?;
    Ok(link.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_found_by_name_or_either_end_and_a_vm_end_is_skipped() {
        let lab = warren_topology::load(
            "
nodes:
  a: {}
  b: {}
  v: {kind: vm, kernel: k}
links:
  - endpoints: [a:eth1, b:eth1]
  - endpoints: [v:eth0, b:eth2]
",
            "t",
        )
        .lab
        .expect("valid lab");
        let (l, end) = find(&lab, "b:eth1").expect("endpoint");
        assert_eq!((l.name.as_str(), end), ("a.eth1-b.eth1", 1));
        let (l, end) = find(&lab, "a.eth1-b.eth1").expect("name");
        assert_eq!((l.name.as_str(), end), ("a.eth1-b.eth1", 0));
        let (l, end) = find(&lab, "v.eth0-b.eth2").expect("name");
        assert_eq!((l.name.as_str(), end), ("v.eth0-b.eth2", 1));
        assert!(matches!(find(&lab, "a:eth9"), Err(LinkError::NotFound(_))));
    }
}
