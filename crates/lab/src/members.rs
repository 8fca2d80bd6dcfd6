//! Impaired network members on the user-space wire. The plan makes such a
//! member a wire whose first end is the member's tap and whose second is
//! its port on the network's bridge, so the member's `impair` (its own
//! `interfaces` entry, or its network's block) shapes the first direction,
//! the member's egress, and the second direction is left clear.

use crate::wires::{RunningWire, params};
use warren_topology::Lab;
use warren_topology::plan::{hub_port_name, member_wire_name};
use warren_wire::Params;

/// Gives the wires of impaired network members their endpoints and their
/// egress impairments; the wires of links are left as they are.
pub fn configure(lab: &Lab, wires: &mut [RunningWire]) {
    for (ni, net) in lab.networks.iter().enumerate() {
        for (mi, m) in net.members.iter().enumerate() {
            let name = member_wire_name(&m.value, &net.name.value);
            let Some(w) = wires.iter_mut().find(|w| w.link == name) else {
                continue;
            };
            let egress = lab
                .node(&m.value.node)
                .and_then(|n| n.interface(&m.value.iface))
                .and_then(|i| i.impair.as_ref())
                .map(params)
                .unwrap_or_default();
            w.ends = [
                m.value.to_string(),
                format!("hub:{}", hub_port_name(ni, mi)),
            ];
            w.params = [egress, Params::default()];
            w.wire.set_params(w.params[0], w.params[1]);
        }
    }
}
