//! Links asked for from outside the lab's namespaces: macvlans and
//! macvtaps from the host namespace (where their parents are) straight
//! into their nodes, host links (veths with one end in the host
//! namespace), and tunnels from their underlay namespace into the hub, so
//! that the tunnel's UDP socket stays in the underlay.

use super::{ApplyError, Indexes, kernel, mac};
use crate::journal::{Journal, Undo};
use warren_kernel::{LinkSpec, NetOps, Netns, Rtnl};
use warren_topology::plan::{Ns, Plan, Step};

/// Creates every macvlan and macvtap of the plan, asked for from the host
/// namespace (where their parents are) directly into their nodes.
pub(super) fn create_macvlans<'p>(
    ops: &dyn NetOps,
    plan: &'p Plan,
    netns: &[Netns],
    at: &dyn Fn(&Ns) -> Result<usize, ApplyError>,
    idx: &mut Indexes<'p>,
) -> Result<(), ApplyError> {
    let mut host: Option<Netns> = None;
    for step in &plan.steps {
        let Step::CreateMacvlan {
            ns,
            ifname,
            macvlan,
            mac: m,
            mtu,
        } = step
        else {
            continue;
        };
        let kind = if macvlan.tap { "macvtap" } else { "macvlan" };
        let what = format!(
            "creating {kind} {ns}:{ifname} on host interface {}",
            macvlan.parent
        );
        let host = match &mut host {
            Some(h) => h,
            None => host.insert(ops.open_netns(None).map_err(kernel(what.clone()))?),
        };
        let parent = ops
            .link_index(host, &macvlan.parent)
            .map_err(kernel(format!(
                "{what}: finding the parent {}",
                macvlan.parent
            )))?;
        let n = at(ns)?;
        let i = idx.alloc(n, ifname);
        let mut link = LinkSpec::new(ifname.clone()).netns(&netns[n]).ifindex(i);
        if let Some(v) = mtu {
            link = link.mtu(*v);
        }
        if let Some(v) = m {
            link = link.mac(mac(v));
        }
        let mut batch = host.batch();
        batch
            .create_macvlan(warren_kernel::MacvlanSpec {
                link,
                parent,
                mode: macvlan.mode.clone(),
                tap: macvlan.tap,
            })
            .describe(what.clone());
        // EOPNOTSUPP (95): the kernel knows no such link kind.
        ops.execute(host, batch).map_err(|e| match e.errno() {
            Some(95) => ApplyError::Unsupported(format!(
                "{what}: this kernel has no {kind} support (CONFIG_{})",
                kind.to_uppercase()
            )),
            _ => kernel(what)(e),
        })?;
    }
    Ok(())
}

/// Creates every host link of the plan: a veth from the node's namespace
/// to the host's, its host end up. Each is journaled before it is made,
/// so `down` removes it even after the supervisor was killed; a host end
/// whose name the host has already is refused before anything is made.
pub(super) fn create_host_veths<'p>(
    ops: &dyn NetOps,
    plan: &'p Plan,
    netns: &[Netns],
    at: &dyn Fn(&Ns) -> Result<usize, ApplyError>,
    idx: &mut Indexes<'p>,
    journal: &mut Journal,
) -> Result<(), ApplyError> {
    let links: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateHostVeth {
                ns,
                ifname,
                host,
                mac: m,
                mtu,
            } => Some((ns, ifname, host, m, mtu)),
            _ => None,
        })
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    let here = ops
        .open_netns(None)
        .map_err(kernel("opening the host namespace"))?;
    let taken = ops
        .links(&here)
        .map_err(kernel("listing the host's interfaces"))?;
    if let Some((.., host, _, _)) = links
        .iter()
        .find(|(.., h, _, _)| taken.iter().any(|l| l.name == h.as_str()))
    {
        return Err(ApplyError::HostNameTaken((*host).clone()));
    }
    for (ns, ifname, host, m, mtu) in links {
        let what = format!("creating veth {ns}:{ifname} <-> host:{host}");
        journal
            .undo(&Undo::HostLink { name: host.clone() })
            .map_err(ApplyError::Journal)?;
        let n = at(ns)?;
        let i = idx.alloc(n, ifname);
        let mut node_end = LinkSpec::new(ifname.clone()).netns(&netns[n]).ifindex(i);
        let mut host_end = LinkSpec::new(host.clone());
        if let Some(v) = mtu {
            node_end = node_end.mtu(*v);
            host_end = host_end.mtu(*v);
        }
        if let Some(v) = m {
            node_end = node_end.mac(mac(v));
        }
        let mut batch = here.batch();
        batch.create_veth(node_end, host_end).describe(what.clone());
        // EPERM (1): a rootless lab's user namespace owns no host interfaces.
        ops.execute(&here, batch).map_err(|e| match e.errno() {
            Some(1) => ApplyError::Unsupported(format!(
                "{what}: host links need root; a rootless lab cannot add interfaces to the host's namespace"
            )),
            _ => kernel(what)(e),
        })?;
        // Up once both ends exist: a veth will not open before its peer does.
        let mut batch = here.batch();
        batch.set_up(host.as_str());
        ops.execute(&here, batch)
            .map_err(kernel(format!("bringing host:{host} up")))?;
    }
    Ok(())
}

/// Deletes the host end of a host link called `name` if the host still
/// has it as a veth (what a lab's journal says it made); anything else of
/// that name is left alone.
pub fn remove_host_link(name: &str) {
    let Ok(mut rtnl) = Rtnl::open_here("host") else {
        return;
    };
    let Ok(Some(link)) = rtnl.link(name) else {
        return;
    };
    if link.kind.as_deref() != Some("veth") {
        return;
    }
    let mut batch = rtnl.batch();
    batch.delete_link(link.index);
    // ENODEV: the kernel removed it with its node's namespace meanwhile.
    if let Err(e) = rtnl.execute(batch)
        && e.errno() != Some(19)
    {
        tracing::warn!(link = name, error = %e, "removing a host link");
    }
}

/// Creates tunnel `t` as `name` (with index `index`) in the hub, asked for
/// from its underlay namespace, so that its UDP socket stays there and uses
/// that namespace's addresses and routes.
pub(super) fn create_tunnel(
    ops: &dyn NetOps,
    hub: &Netns,
    name: &str,
    index: u32,
    t: &warren_topology::model::Tunnel,
) -> Result<(), ApplyError> {
    use warren_topology::model::TunnelType;
    let what = format!(
        "creating tunnel {name} (vni {}) to {} for network {}",
        t.vni, t.remote, t.network.value
    );
    if t.kind == TunnelType::Geneve {
        return Err(ApplyError::Unsupported(format!(
            "{what}: geneve needs the kernel's geneve driver (CONFIG_GENEVE), which warren does not drive yet; use vxlan"
        )));
    }
    let underlay = ops
        .open_netns(t.netns.as_deref())
        .map_err(kernel(match &t.netns {
            Some(ns) => format!("{what}: opening underlay namespace {ns}"),
            None => format!("{what}: opening the host namespace"),
        }))?;
    let mut batch = underlay.batch();
    batch
        .create_vxlan(warren_kernel::VxlanSpec {
            link: LinkSpec::new(name.to_string()).netns(hub).ifindex(index),
            vni: t.vni,
            remote: Some(t.remote),
            local: t.local,
            dstport: Some(t.dstport),
            underlay: None,
        })
        .describe(what.clone());
    // EOPNOTSUPP (95): the kernel knows no link kind "vxlan".
    ops.execute(&underlay, batch).map_err(|e| match e.errno() {
        Some(95) => ApplyError::Unsupported(format!(
            "{what}: this kernel has no VXLAN support (CONFIG_VXLAN, module vxlan)"
        )),
        _ => kernel(what)(e),
    })
}
