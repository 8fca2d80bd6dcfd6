//! Links asked for from outside the lab's namespaces: macvlans and
//! macvtaps from the host namespace (where their parents are) straight
//! into their nodes, and tunnels from their underlay namespace into the
//! hub, so that the tunnel's UDP socket stays in the underlay.

use super::{ApplyError, Indexes, kernel, mac};
use warren_kernel::{LinkSpec, NetOps, Netns};
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
