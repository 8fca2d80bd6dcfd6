//! Run-time changes to plain links (veth pairs, not on the user-space
//! wire): `warren link … down|up` sets one end administratively down,
//! which takes the other end's carrier, and brings it back with its
//! addresses and routes; `warren impair` puts a kernel qdisc on an end's
//! egress: `tbf` for a rate limit alone, `netem` for the rest where the
//! kernel has it. Network members get their `impair` the same way at
//! bring-up.

use crate::apply::{self, ApplyError, Built};
use warren_kernel::{NetemSpec, TbfSpec};
use warren_topology::Lab;
use warren_topology::model::{Distribution, Impair, Link};
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
    /// Delay, loss and the like on the kernel path, and no netem here.
    #[error(
        "{what}: this kernel has no netem (CONFIG_NET_SCH_NETEM), \
         so only a rate limit (tbf) can be set; {hint}"
    )]
    NoNetem {
        /// `link NAME` or `network NAME`.
        what: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// A jitter distribution netem cannot take without its tables.
    #[error("{what}: the kernel path takes uniform jitter only; {hint}")]
    Distribution {
        /// `link NAME` or `network NAME`.
        what: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// A qdisc request failed.
    #[error("setting the impairments of {endpoint}")]
    Qdisc {
        /// The end whose egress it was.
        endpoint: String,
        /// The cause.
        #[source]
        source: warren_kernel::KernelError,
    },
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
            .is_some_and(|n| crate::kinds::info(n.kind).has_netns)
    };
    for l in &lab.links {
        if l.name == name {
            let end = (0..2).find(|i| not_vm(l, *i)).unwrap_or(0);
            return Ok((l, end));
        }
        if let Some(end) = (0..2).find(|i| l.endpoints[*i].value.is(name)) {
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
    if lab
        .node(&e.node)
        .is_some_and(|n| !crate::kinds::info(n.kind).has_netns)
    {
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

/// The kernel path that carries a plain link's impairments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    /// No qdisc: the interface's default.
    Plain,
    /// A `tbf` rate limit.
    Tbf,
    /// `netem`.
    Netem,
}

impl KernelPath {
    /// Its name in replies and `inspect`.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelPath::Plain => "plain",
            KernelPath::Tbf => "kernel-tbf",
            KernelPath::Netem => "kernel-netem",
        }
    }

    /// The path an impairment block needs: none, a rate (and queue
    /// limit) alone, or anything else.
    pub fn of(i: &Impair) -> KernelPath {
        let others = i.delay.is_some()
            || i.jitter.is_some()
            || i.loss.is_some()
            || i.duplicate.is_some()
            || i.reorder.is_some()
            || i.corrupt.is_some();
        match (others, i.rate.is_some()) {
            (false, false) if i.limit.is_none() => KernelPath::Plain,
            (false, true) => KernelPath::Tbf,
            _ => KernelPath::Netem,
        }
    }
}

/// Bytes of queue per frame when a frame limit becomes tbf's byte limit.
const FRAME_BYTES: u32 = 1514;

/// What to do instead of netem on a link.
const LINK_HINT: &str = "for delay, loss and the rest give the link `impair: {}` in the lab file, \
     which runs it through the user-space wire";

/// Why one egress could not take its impairments.
enum EgressError {
    /// No netem in this kernel.
    NoNetem,
    /// Not a uniform jitter.
    Distribution,
    /// Anything else.
    Link(LinkError),
}

/// Puts the qdisc `i` needs at the root of `node:iface`'s egress (none for
/// an empty block). Returns the path taken.
fn set_egress(
    built: &mut Built,
    node: &str,
    iface: &str,
    i: &Impair,
) -> Result<KernelPath, EgressError> {
    let path = KernelPath::of(i);
    if path == KernelPath::Netem
        && i.distribution
            .is_some_and(|d| !matches!(d, Distribution::Uniform))
    {
        return Err(EgressError::Distribution);
    }
    let p = crate::wires::params(i);
    let endpoint = format!("{node}:{iface}");
    let n = apply::node_ns(built, node).map_err(|source| {
        EgressError::Link(LinkError::Kernel {
            link: endpoint.clone(),
            state: "impaired",
            source: Box::new(source),
        })
    })?;
    let qdisc_err = |source| {
        EgressError::Link(LinkError::Qdisc {
            endpoint: endpoint.clone(),
            source,
        })
    };
    let netns = &built.namespaces[n].1;
    let ifindex = built.ops.link_index(netns, iface).map_err(qdisc_err)?;
    let mut batch = netns.batch();
    match path {
        KernelPath::Plain => batch.delete_root_qdisc(ifindex),
        KernelPath::Tbf => batch.replace_tbf(
            ifindex,
            &TbfSpec::new(p.rate_bps, i.limit.map(|f| f.saturating_mul(FRAME_BYTES))),
        ),
        KernelPath::Netem => batch.replace_netem(
            ifindex,
            &NetemSpec {
                delay_ns: p.delay_ns,
                jitter_ns: p.jitter_ns,
                loss: p.loss,
                loss_correlation: p.loss_correlation,
                duplicate: p.duplicate,
                reorder: p.reorder,
                corrupt: p.corrupt,
                rate_bps: p.rate_bps,
                limit: p.limit,
            },
        ),
    };
    match built.ops.execute(netns, batch) {
        Ok(()) => Ok(path),
        // No root qdisc to remove: already plain.
        Err(e) if path == KernelPath::Plain && matches!(e.errno(), Some(2 | 22)) => Ok(path),
        // The kernel knows no qdisc of that kind.
        Err(e) if path == KernelPath::Netem && matches!(e.errno(), Some(2 | 95)) => {
            Err(EgressError::NoNetem)
        }
        Err(e) => Err(qdisc_err(e)),
    }
}

impl EgressError {
    fn for_what(self, what: String, hint: &'static str) -> LinkError {
        match self {
            EgressError::NoNetem => LinkError::NoNetem { what, hint },
            EgressError::Distribution => LinkError::Distribution { what, hint },
            EgressError::Link(e) => e,
        }
    }
}

/// Replaces the impairments of a plain link's egress with a kernel qdisc:
/// both ends for a link name, one for an endpoint `node:if`. An empty
/// block removes the qdisc. Returns the link's name and the path used.
pub fn impair(
    lab: &Lab,
    built: &mut Built,
    name: &str,
    i: &Impair,
) -> Result<(String, KernelPath), LinkError> {
    let (link, end) = find(lab, name)?;
    let ends: Vec<usize> = if link.name == name {
        vec![0, 1]
    } else {
        vec![end]
    };
    let mut path = KernelPath::of(i);
    for end in ends {
        let e = &link.endpoints[end].value;
        if lab
            .node(&e.node)
            .is_some_and(|n| !crate::kinds::info(n.kind).has_netns)
        {
            return Err(LinkError::VmEnd(e.to_string()));
        }
        path = set_egress(built, &e.node, &e.iface, i)
            .map_err(|err| err.for_what(format!("link {} (a plain veth)", link.name), LINK_HINT))?;
    }
    Ok((link.name.clone(), path))
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

    #[test]
    fn a_rate_alone_takes_tbf_and_anything_else_netem() {
        let keys = |kv: &[(&str, &str)]| {
            let m = kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            KernelPath::of(&crate::wires::parse_keys(&m).expect("valid keys"))
        };
        assert_eq!(keys(&[]), KernelPath::Plain);
        assert_eq!(keys(&[("rate", "10mbit")]), KernelPath::Tbf);
        assert_eq!(
            keys(&[("rate", "10mbit"), ("limit", "50")]),
            KernelPath::Tbf
        );
        assert_eq!(keys(&[("limit", "50")]), KernelPath::Netem);
        assert_eq!(
            keys(&[("rate", "1mbit"), ("delay", "5ms")]),
            KernelPath::Netem
        );
        assert_eq!(keys(&[("loss", "1%")]), KernelPath::Netem);
    }
}
