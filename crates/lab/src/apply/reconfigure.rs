//! A built lab's interfaces changed at run time and waited for: a node's
//! interfaces set down and configured again as the plan had them
//! (`warren node`, `warren link`), and the wait for carrier.

use super::{ApplyError, Built, ipnet, kernel, route_spec};
use std::collections::HashMap;
use warren_kernel::Netns;
use warren_topology::plan::{Ns, Plan, Step};

/// The position of `node`'s namespace in `built`.
pub(crate) fn node_ns(built: &Built, node: &str) -> Result<usize, ApplyError> {
    built
        .namespaces
        .iter()
        .position(|(n, _)| matches!(n, Ns::Node(x) if x == node))
        .ok_or_else(|| ApplyError::NotInPlan(format!("namespace {node}")))
}

/// The interfaces the plan sets up in `node`'s namespace, loopback aside.
pub fn node_interfaces<'p>(plan: &'p Plan, node: &str) -> Vec<&'p str> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::SetUp {
                ns: Ns::Node(n),
                ifname,
            } if n == node && ifname != "lo" => Some(ifname.as_str()),
            _ => None,
        })
        .collect()
}

/// Sets every interface the plan brought up in `node` (or only `only`)
/// administratively down, loopback aside: the peer of a veth loses its
/// carrier, and the kernel drops the node's routes through them (and
/// their IPv6 addresses).
pub fn node_down(
    plan: &Plan,
    built: &mut Built,
    node: &str,
    only: Option<&str>,
) -> Result<(), ApplyError> {
    let n = node_ns(built, node)?;
    let netns = &built.namespaces[n].1;
    let mut batch = netns.batch();
    for ifname in node_interfaces(plan, node) {
        if only.is_none_or(|o| o == ifname) {
            batch.set_down(ifname);
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    built
        .ops
        .execute(netns, batch)
        .map_err(kernel(format!("setting the interfaces of {node} down")))
}

/// Puts `node`'s interfaces (or only `only`) back as the plan configured
/// them: every address (replaced, so the ones IPv4 kept are no error) and
/// up state, then every route of the node, in plan order.
pub fn node_up(
    plan: &Plan,
    built: &mut Built,
    node: &str,
    only: Option<&str>,
) -> Result<(), ApplyError> {
    let n = node_ns(built, node)?;
    let what = || format!("configuring {node} again");
    let netns = &built.namespaces[n].1;
    let indexes: HashMap<String, u32> = built
        .ops
        .links(netns)
        .map_err(kernel(what()))?
        .into_iter()
        .map(|l| (l.name, l.index))
        .collect();
    let index = |ifname: &str| {
        indexes
            .get(ifname)
            .copied()
            .ok_or_else(|| ApplyError::NotInPlan(format!("interface {node}:{ifname}")))
    };
    let mut batch = netns.batch();
    let mine =
        |ns: &Ns, ifname: &str| *ns == built.namespaces[n].0 && only.is_none_or(|o| o == ifname);
    for step in &plan.steps {
        match step {
            Step::AddAddress { ns, ifname, addr } if mine(ns, ifname) => {
                batch.replace_address(index(ifname)?, ipnet(addr));
            }
            Step::SetUp { ns, ifname } if mine(ns, ifname) => {
                batch.set_up(index(ifname)?);
            }
            Step::AddRoute { ns, route } if *ns == built.namespaces[n].0 => {
                batch.replace_route(&route_spec(route, indexes.get(&route.dev).copied()));
            }
            _ => {}
        }
    }
    built.ops.execute(netns, batch).map_err(kernel(what()))
}

/// Waits, as [`wait_oper_up`] does, for the interfaces the plan sets up
/// in `node` (or only `only`). Returns those still without carrier (a
/// peer that is down too) when `timeout` runs out.
pub fn wait_node_up(
    plan: &Plan,
    built: &mut Built,
    node: &str,
    only: Option<&str>,
    timeout: std::time::Duration,
) -> Result<Vec<String>, ApplyError> {
    let mine = Plan {
        lab: plan.lab.clone(),
        namespaces: plan.namespaces.clone(),
        steps: plan
            .steps
            .iter()
            .filter(|s| {
                matches!(s, Step::SetUp { ns: Ns::Node(n), ifname }
                    if n == node && ifname != "lo" && only.is_none_or(|o| o == ifname))
            })
            .cloned()
            .collect(),
    };
    wait_oper_up(&mine, built, timeout)
}

/// Waits until every interface the plan sets up is operationally up, at
/// most `timeout`. The kernel reports carrier changes through its link
/// watch, which may lag up to a second; IPv6 does not use an interface
/// before that, so a lab is only ready once it has happened. Returns the
/// interfaces still not up when time ran out.
pub fn wait_oper_up(
    plan: &Plan,
    built: &mut Built,
    timeout: std::time::Duration,
) -> Result<Vec<String>, ApplyError> {
    let deadline = std::time::Instant::now() + timeout;
    // A map, not a search per interface: that was quadratic in a chain.
    let at: HashMap<&Ns, usize> = built
        .namespaces
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n, i))
        .collect();
    let mut pending: Vec<(usize, String)> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::SetUp { ns, ifname } => at.get(ns).map(|&i| (i, ifname.clone())),
            _ => None,
        })
        .collect();
    loop {
        let mut still = Vec::new();
        let mut by_ns: HashMap<usize, Vec<String>> = HashMap::new();
        for (n, name) in pending.drain(..) {
            by_ns.entry(n).or_default().push(name);
        }
        let mut by_ns: Vec<(usize, Vec<String>)> = by_ns.into_iter().collect();
        by_ns.sort_unstable_by_key(|(n, _)| *n);
        let refs: Vec<&Netns> = built.namespaces.iter().map(|(_, ns)| ns).collect();
        super::each_with_socket(&*built.ops, &refs, by_ns, |n, names| {
            let links = built
                .ops
                .links(refs[n])
                .map_err(kernel(format!("listing links of {}", plan.namespaces[n])))?;
            for name in names {
                // A tap (kind `tun`) has carrier while its reader (the
                // wire, QEMU) holds it, and passes traffic from then on;
                // its operational state may say `unknown` for good, or
                // `up` only after the link watch's rate limit (up to a
                // second), so waiting for `Up` cost a wired link 1-5 s.
                let up = links.iter().any(|l| {
                    l.name == name
                        && (l.oper_state == warren_kernel::OperState::Up
                            || (l.kind.as_deref() == Some("tun") && l.admin_up && l.lower_up))
                });
                if !up {
                    still.push((n, name));
                }
            }
            Ok(())
        })?;
        if still.is_empty() {
            return Ok(Vec::new());
        }
        if std::time::Instant::now() >= deadline {
            return Ok(still
                .into_iter()
                .map(|(n, name)| format!("{}:{name}", plan.namespaces[n]))
                .collect());
        }
        pending = still;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
