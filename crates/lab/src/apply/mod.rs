//! Applies a plan's kernel steps: namespaces first, then every link and
//! bridge in one batch, then sysctls, then one batch per namespace with its
//! addresses, up states and routes.
//!
//! Every kernel request goes through a [`NetOps`]: [`LinuxNetOps`] in a
//! lab, `FakeNetOps` in this module's tests, which run without root.
//!
//! Each link gets a fixed interface index in its namespace (lo is 1, lab
//! links count up from 2), so addresses and routes can name interfaces in
//! the same batch without a lookup. Everything created lives inside the
//! lab's namespaces: dropping the returned [`Built`] frees all of it.

mod outside;
mod reconfigure;
#[cfg(test)]
mod tests;

use crate::journal::Journal;
pub use outside::remove_host_link;
use outside::{create_host_veths, create_macvlans, create_tunnel};
pub(crate) use reconfigure::node_ns;
pub use reconfigure::{node_down, node_interfaces, node_up, wait_node_up, wait_oper_up};
use std::collections::HashMap;
use std::sync::Arc;
use warren_kernel::{
    IpNet, KernelError, LinkRef, LinkSpec, LinuxNetOps, MacAddr, NetOps, Netns, RouteSpec,
    TapOptions,
};
use warren_topology::plan::{Ns, Plan, PlannedRoute, Step, VethEnd};
use warren_topology::values::{IfAddr, Mac, Prefix};

/// Errors bringing a lab's network up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A kernel request failed.
    #[error("{phase}")]
    Kernel {
        /// The phase that failed.
        phase: String,
        /// What the kernel said.
        #[source]
        source: KernelError,
    },
    /// The journal could not be written.
    #[error("writing the journal")]
    Journal(#[source] std::io::Error),
    /// A socket pair for a vm-to-vm link could not be made.
    #[error("creating a socket pair for a vm-to-vm link")]
    Socket(#[source] std::io::Error),
    /// Captures could not start.
    #[error("starting captures")]
    Capture(#[source] warren_capture::CaptureError),
    /// The lab needs something this kernel or warren does not support.
    #[error("{0}")]
    Unsupported(String),
    /// A user-space wire could not start.
    #[error("starting a user-space wire")]
    Wire(#[source] warren_wire::WireError),
    /// A host link's host end has the name of an interface the host has.
    #[error(
        "the host has an interface called {0} already: a host link makes its host end under that name; pick another"
    )]
    HostNameTaken(String),
    /// The plan names a namespace, bridge or interface it does not create (a bug).
    #[error("the plan names {0}, which it does not create")]
    NotInPlan(String),
}

pub(super) fn kernel(phase: impl Into<String>) -> impl FnOnce(KernelError) -> ApplyError {
    let phase = phase.into();
    move |source| ApplyError::Kernel { phase, source }
}

/// Sysctls every lab namespace gets before its links are created.
pub(crate) const NO_DAD: &[(&str, &str)] = &[
    ("net.ipv6.conf.all.accept_dad", "0"),
    ("net.ipv6.conf.default.accept_dad", "0"),
];

/// Namespaces whose route sockets are open at once while a lab is built:
/// opening a run of them from one thread costs little, and the supervisor
/// stays near one open file per namespace (10,000 namespaces with a socket
/// each would pass the 20,000 open files a process may be limited to).
const SOCKETS_AT_ONCE: usize = 256;

/// Runs `f` on each `(namespace index, item)` of `work`, in order, with
/// the route sockets of at most [`SOCKETS_AT_ONCE`] of `netns` held at a
/// time; every socket is closed again before this returns.
pub(super) fn each_with_socket<T>(
    ops: &dyn NetOps,
    netns: &[&Netns],
    work: impl IntoIterator<Item = (usize, T)>,
    mut f: impl FnMut(usize, T) -> Result<(), ApplyError>,
) -> Result<(), ApplyError> {
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        let part: Vec<(usize, T)> = work.by_ref().take(SOCKETS_AT_ONCE).collect();
        let mut held = Vec::with_capacity(part.len());
        for (n, _) in &part {
            held.push(
                *netns
                    .get(*n)
                    .ok_or_else(|| ApplyError::NotInPlan(format!("namespace number {n}")))?,
            );
        }
        let r = ops
            .hold_sockets(&held)
            .map_err(kernel("opening route sockets"))
            .and_then(|()| part.into_iter().try_for_each(|(n, t)| f(n, t)));
        ops.release_sockets(&held);
        r?;
    }
    Ok(())
}

/// The lab's namespaces with every link and bridge of the plan created,
/// nothing configured yet: what [`create`] returns and [`configure`]
/// finishes. Captures start in between, so they see every frame.
pub struct Created<'p> {
    plan: &'p Plan,
    ops: Arc<dyn NetOps>,
    netns: Vec<Netns>,
    idx: Indexes<'p>,
    nics: Vec<VmNic>,
    wires: Vec<WireTaps>,
}

impl Created<'_> {
    /// Every namespace, by what the plan calls it.
    pub fn namespaces(&self) -> Vec<(Ns, &Netns)> {
        self.plan
            .namespaces
            .iter()
            .cloned()
            .zip(self.netns.iter())
            .collect()
    }
}

/// Where each of the plan's namespaces is in its list.
fn positions(plan: &Plan) -> HashMap<&Ns, usize> {
    plan.namespaces
        .iter()
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect()
}

/// The lab's namespaces, in plan order, and what changes them.
#[derive(Debug)]
pub struct Built {
    /// The namespaces.
    pub namespaces: Vec<(Ns, Netns)>,
    /// Every kernel request on them goes through it.
    pub ops: Arc<dyn NetOps>,
    /// The open backend of every vm NIC (a tap or one end of a socket
    /// pair), by vm and NIC index, with the NIC's MAC.
    pub nics: Vec<VmNic>,
    /// The two taps of every wired (impaired) link, until the supervisor
    /// starts its wire.
    pub wires: Vec<WireTaps>,
}

/// The taps of a link that runs through the user-space wire.
#[derive(Debug)]
pub struct WireTaps {
    /// The link's name.
    pub link: String,
    /// The first endpoint's tap.
    pub a: std::os::fd::OwnedFd,
    /// The second endpoint's tap.
    pub b: std::os::fd::OwnedFd,
}

/// A vm NIC's backend, held until the vm starts.
#[derive(Debug)]
pub struct VmNic {
    /// The vm.
    pub vm: String,
    /// NIC index in the guest.
    pub nic: usize,
    /// The guest NIC's MAC.
    pub mac: warren_topology::values::Mac,
    /// A tap's fd, or one end of a socket pair.
    pub fd: std::os::fd::OwnedFd,
    /// True for a socket pair end (a vm-to-vm link).
    pub socket: bool,
}

impl Built {
    /// The namespace `ns`, if the lab has it.
    pub fn netns(&self, ns: &Ns) -> Option<&Netns> {
        self.namespaces
            .iter()
            .find(|(n, _)| n == ns)
            .map(|(_, fd)| fd)
    }
}

pub(super) fn ipnet(a: &IfAddr) -> IpNet {
    IpNet::new(a.addr, a.prefix).expect("a validated address has a valid prefix length")
}

fn prefix_net(p: &Prefix) -> IpNet {
    IpNet::new(p.addr, p.len).expect("a validated prefix has a valid length")
}

pub(super) fn mac(m: &Mac) -> MacAddr {
    MacAddr(m.0)
}

/// Interface indexes handed out per namespace.
pub(super) struct Indexes<'p> {
    next: Vec<u32>,
    by_name: HashMap<(usize, &'p str), u32>,
}

impl<'p> Indexes<'p> {
    pub(super) fn alloc(&mut self, ns: usize, name: &'p str) -> u32 {
        let i = self.next[ns];
        self.next[ns] += 1;
        self.by_name.insert((ns, name), i);
        i
    }

    /// Indexes for the two ends of a veth, never equal: the kernel's link
    /// watch takes a veth whose index equals its peer's (`ifindex ==
    /// iflink`) for a device of its own and delays its carrier event by up
    /// to a second, which the carrier wait of every lab then paid.
    pub(super) fn alloc_pair(&mut self, a: (usize, &'p str), b: (usize, &'p str)) -> (u32, u32) {
        let ia = self.alloc(a.0, a.1);
        if self.next[b.0] == ia {
            self.next[b.0] += 1;
        }
        (ia, self.alloc(b.0, b.1))
    }

    /// The link `name` in namespace `ns`: by its fixed index when warren
    /// created it (lo is always 1), else by name.
    fn get(&self, ns: usize, name: &str) -> LinkRef {
        if name == "lo" {
            return LinkRef::from(1u32);
        }
        match self.by_name.get(&(ns, name)) {
            Some(i) => LinkRef::from(*i),
            None => LinkRef::from(name),
        }
    }
}

/// The real kernel, for a lab.
pub fn linux() -> Arc<dyn NetOps> {
    Arc::new(LinuxNetOps)
}

/// Creates the plan's namespaces and every link, bridge, tunnel, tap and
/// socket pair in them, through `ops`. On error, what was built is
/// dropped, which frees it.
pub fn create<'p>(
    plan: &'p Plan,
    ops: Arc<dyn NetOps>,
    journal: &mut Journal,
) -> Result<Created<'p>, ApplyError> {
    let labels: Vec<String> = plan.namespaces.iter().map(ToString::to_string).collect();
    // Lab addresses are planned, so duplicate address detection only delays
    // IPv6. Turning it off as each namespace is created, before any link
    // exists, covers link-local addresses too, which neighbour discovery
    // needs at once; and the thread that creates a namespace is in it then,
    // so no thread has to enter each one for it later.
    let netns = ops.create_netns(&labels, NO_DAD).map_err(kernel(
        "creating the lab's network namespaces with IPv6 DAD off",
    ))?;
    journal
        .record("namespaces", &format!("{} created", netns.len()))
        .map_err(ApplyError::Journal)?;
    let pos = positions(plan);
    let at = |ns: &Ns| {
        pos.get(ns)
            .copied()
            .ok_or_else(|| ApplyError::NotInPlan(format!("namespace {ns}")))
    };
    let mut idx = Indexes {
        next: vec![2; netns.len()],
        by_name: HashMap::new(),
    };

    // Links and bridges: one batch, sent on any socket, since every link
    // carries the namespace it belongs in.
    if let Some(first) = netns.first() {
        let mut batch = first.batch();
        let end = |e: &VethEnd| -> Result<LinkSpec<'_>, ApplyError> {
            let n = at(&e.ns)?;
            let mut spec = LinkSpec::new(e.ifname.clone()).netns(&netns[n]);
            if let Some(m) = e.mtu {
                spec = spec.mtu(m);
            }
            if let Some(m) = &e.mac {
                spec = spec.mac(mac(m));
            }
            Ok(spec)
        };
        // A veth end the plan brings up is created up (its peer cannot be:
        // the kernel refuses). Each time the kernel's link watch runs, which
        // is after each namespace's configuration, it walks every device
        // with a pending event that is still down: 20,000 down ends made a
        // 10,000-node chain's configuration quadratic. No frame passes
        // before the peer is up, in `configure`, after captures start.
        let raised: std::collections::HashSet<(&Ns, &str)> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::SetUp { ns, ifname } => Some((ns, ifname.as_str())),
                _ => None,
            })
            .collect();
        for step in &plan.steps {
            match step {
                Step::CreateVeth { a, b, what } => {
                    let (na, nb) = (at(&a.ns)?, at(&b.ns)?);
                    let (ia, ib) = idx.alloc_pair((na, &a.ifname), (nb, &b.ifname));
                    let mut sa = end(a)?.ifindex(ia);
                    if raised.contains(&(&a.ns, a.ifname.as_str())) {
                        sa = sa.up();
                    }
                    let sb = end(b)?.ifindex(ib);
                    batch
                        .create_veth(sa, sb)
                        .describe(format!("creating veth {what}"));
                }
                Step::CreateBridge { name, mtu } => {
                    let h = at(&Ns::Hub)?;
                    let i = idx.alloc(h, name);
                    let mut spec = LinkSpec::new(name.clone()).netns(&netns[h]).ifindex(i);
                    if let Some(m) = mtu {
                        spec = spec.mtu(*m);
                    }
                    batch
                        .create_bridge(spec)
                        .describe(format!("creating bridge {name} in the hub"));
                }
                _ => {}
            }
        }
        if !batch.is_empty() {
            ops.execute(first, batch)
                .map_err(kernel("creating links"))?;
        }
    }
    create_macvlans(&*ops, plan, &netns, &at, &mut idx)?;
    create_host_veths(&*ops, plan, &netns, &at, &mut idx, journal)?;
    for step in &plan.steps {
        if let Step::CreateTunnel { name, tunnel } = step {
            let h = at(&Ns::Hub)?;
            let i = idx.alloc(h, name);
            create_tunnel(&*ops, &netns[h], name, i, tunnel)?;
        }
    }
    // vm NICs: taps opened inside their namespace (the fd goes to QEMU),
    // and socket pairs between two vms.
    let mut nics = Vec::new();
    let mut wires = Vec::new();
    for step in &plan.steps {
        match step {
            Step::CreateWire { a, b, link, what } => {
                let mut taps = Vec::with_capacity(2);
                for e in [a, b] {
                    let n = at(&e.ns)?;
                    let fd = ops
                        .create_tap(&netns[n], &e.ifname, &TapOptions::default())
                        .map_err(kernel(format!("creating tap {e} for wire {what}")))?;
                    let index = ops
                        .link_index(&netns[n], &e.ifname)
                        .map_err(kernel(format!("finding tap {e}")))?;
                    idx.by_name.insert((n, e.ifname.as_str()), index);
                    taps.push(fd);
                }
                let (Some(tb), Some(ta)) = (taps.pop(), taps.pop()) else {
                    return Err(ApplyError::NotInPlan(format!("wire {what}")));
                };
                wires.push(WireTaps {
                    link: link.clone(),
                    a: ta,
                    b: tb,
                });
            }
            Step::CreateTap {
                ns,
                ifname,
                vm,
                nic,
                mac,
                ..
            } => {
                let n = at(ns)?;
                // As `warren_runtime::vm::open_tap` opens it: QEMU's
                // netdev takes frames without a virtio-net header.
                let opts = TapOptions::default().vnet_hdr(false);
                let fd = ops
                    .create_tap(&netns[n], ifname, &opts)
                    .map_err(kernel(format!("creating tap {ns}:{ifname} for vm {vm}")))?;
                let index = ops
                    .link_index(&netns[n], ifname)
                    .map_err(kernel(format!("finding tap {ns}:{ifname}")))?;
                idx.by_name.insert((n, ifname.as_str()), index);
                nics.push(VmNic {
                    vm: vm.clone(),
                    nic: *nic,
                    mac: *mac,
                    fd,
                    socket: false,
                });
            }
            Step::PairVms { a, b } => {
                let (fa, fb) = warren_runtime::vm::socket_pair().map_err(ApplyError::Socket)?;
                for ((vm, nic, mac), fd) in [(a, fa), (b, fb)] {
                    nics.push(VmNic {
                        vm: vm.clone(),
                        nic: *nic,
                        mac: *mac,
                        fd,
                        socket: true,
                    });
                }
            }
            _ => {}
        }
    }
    journal
        .record("links", "created")
        .map_err(ApplyError::Journal)?;
    Ok(Created {
        plan,
        ops,
        netns,
        idx,
        nics,
        wires,
    })
}

/// Applies the plan's sysctls, then per namespace its bridge ports,
/// addresses, up states and routes, in one batch each.
pub fn configure(created: Created<'_>, journal: &mut Journal) -> Result<Built, ApplyError> {
    let Created {
        plan,
        ops,
        netns,
        idx,
        nics,
        wires,
    } = created;
    let pos = positions(plan);
    let at = |ns: &Ns| {
        pos.get(ns)
            .copied()
            .ok_or_else(|| ApplyError::NotInPlan(format!("namespace {ns}")))
    };
    let mut sysctls: Vec<Vec<(&str, &str)>> = vec![Vec::new(); netns.len()];
    for step in &plan.steps {
        if let Step::SetSysctl { ns, key, value } = step {
            sysctls[at(ns)?].push((key, value));
        }
    }
    for (n, settings) in sysctls.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
        ops.set_sysctls(&netns[n], settings)
            .map_err(kernel(format!("setting sysctls in {}", plan.namespaces[n])))?;
    }
    journal
        .record("sysctls", "set")
        .map_err(ApplyError::Journal)?;

    // Per namespace: lo up, bridge ports, addresses, up states, routes, in plan order.
    let mut batches: Vec<_> = netns
        .iter()
        .map(|s| {
            let mut b = s.batch();
            b.set_up("lo");
            b
        })
        .collect();
    for step in &plan.steps {
        match step {
            Step::SetMaster { port, bridge } => {
                let h = at(&Ns::Hub)?;
                let LinkRef::Index(bi) = idx.get(h, bridge) else {
                    return Err(ApplyError::NotInPlan(format!("bridge {bridge}")));
                };
                batches[h].set_master(idx.get(h, port), bi);
            }
            Step::Patch { a, b, .. } => {
                let h = at(&Ns::Hub)?;
                let (LinkRef::Index(ai), LinkRef::Index(bi)) = (idx.get(h, a), idx.get(h, b))
                else {
                    return Err(ApplyError::NotInPlan(format!("patch ports {a} and {b}")));
                };
                batches[h]
                    .add_ingress_qdisc(ai)
                    .add_ingress_qdisc(bi)
                    .redirect_ingress(ai, bi)
                    .redirect_ingress(bi, ai);
            }
            Step::AddAltname {
                ns,
                ifname,
                altname,
            } => {
                let n = at(ns)?;
                batches[n].add_altname(idx.get(n, ifname), altname);
            }
            Step::AddAddress { ns, ifname, addr } => {
                let n = at(ns)?;
                let LinkRef::Index(i) = idx.get(n, ifname) else {
                    return Err(ApplyError::NotInPlan(format!("interface {ns}:{ifname}")));
                };
                batches[n].add_address(i, ipnet(addr));
            }
            Step::CreateTap {
                ns,
                ifname,
                mtu: Some(m),
                ..
            } => {
                let n = at(ns)?;
                batches[n].set_mtu(idx.get(n, ifname), *m);
            }
            Step::CreateTunnel { name, .. } => {
                let h = at(&Ns::Hub)?;
                batches[h].set_up(idx.get(h, name));
            }
            Step::CreateWire { a, b, .. } => {
                for e in [a, b] {
                    let n = at(&e.ns)?;
                    if let Some(m) = e.mtu {
                        batches[n].set_mtu(idx.get(n, &e.ifname), m);
                    }
                    if let Some(m) = &e.mac {
                        batches[n].set_mac(idx.get(n, &e.ifname), mac(m));
                    }
                }
            }
            Step::SetUp { ns, ifname } => {
                let n = at(ns)?;
                batches[n].set_up(idx.get(n, ifname));
            }
            Step::AddRoute { ns, route } => {
                let n = at(ns)?;
                let oif = match idx.get(n, &route.dev) {
                    LinkRef::Index(i) => Some(i),
                    LinkRef::Name(_) => None,
                };
                batches[n].add_route(&route_spec(route, oif));
            }
            _ => {}
        }
    }
    let refs: Vec<&Netns> = netns.iter().collect();
    each_with_socket(&*ops, &refs, batches.into_iter().enumerate(), |n, batch| {
        ops.execute(&netns[n], batch)
            .map_err(kernel(format!("configuring {}", plan.namespaces[n])))?;
        journal
            .record("configured", &plan.namespaces[n].to_string())
            .map_err(ApplyError::Journal)
    })?;
    Ok(Built {
        namespaces: plan.namespaces.iter().cloned().zip(netns).collect(),
        ops,
        nics,
        wires,
    })
}

/// The kernel route of a planned route, out of `oif` when it is known.
pub(super) fn route_spec(route: &PlannedRoute, oif: Option<u32>) -> RouteSpec {
    let dst = match &route.to {
        Some(p) => prefix_net(p),
        None if route.ipv4 => IpNet::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0).expect("/0"),
        None => IpNet::new(std::net::Ipv6Addr::UNSPECIFIED.into(), 0).expect("/0"),
    };
    let mut spec = match (route.via, oif) {
        (Some(via), _) => RouteSpec::via(dst, via),
        (None, Some(i)) => RouteSpec::dev(dst, i),
        // The interface is found by name when the batch runs.
        (None, None) => RouteSpec {
            gateway: None,
            ..RouteSpec::via(dst, dst.addr())
        },
    };
    if let Some(i) = oif {
        spec = spec.oif(i);
    }
    if let Some(m) = route.metric {
        spec = spec.metric(m);
    }
    if let Some(s) = route.src {
        spec = spec.src(s);
    }
    if route.onlink {
        spec = spec.onlink();
    }
    spec
}
