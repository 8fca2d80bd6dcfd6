//! systemd-networkd units under `etc/systemd/network/`:
//! `10-cloud-init-<id>.network` for every interface, `.netdev` for bonds,
//! bridges and VLANs, `.link` for NICs that are renamed, wake on LAN or
//! have an MTU.
//!
//! The global DNS goes to every interface with layer-3 configuration.

use super::{IniFile, Renderer, unsupported, write};
use crate::model::{
    BondOption, Control, DhcpOverrides, Interface, Kind, NetworkModel, OverrideValue, ParamValue,
    Unit,
};
use crate::{Error, Task};

/// The directory and file prefix cloud-init's networkd renderer uses.
const PREFIX: &str = "etc/systemd/network/10-cloud-init-";

/// Renders the model as networkd units.
pub(crate) fn render(model: &NetworkModel) -> Result<Vec<Task>, Error> {
    let mut tasks = Vec::new();
    for i in &model.interfaces {
        if i.routes.iter().any(|r| r.scope.is_some() && !r.is_v4()) {
            return Err(unsupported(
                Renderer::Networkd,
                format!(
                    "interface {}: a scope on an IPv6 route (networkd ignores it)",
                    i.id
                ),
            ));
        }
        if let Some(link) = link_file(i) {
            tasks.push(write(format!("{PREFIX}{}.link", i.id), None, link));
        }
        if let Some(netdev) = netdev_file(i) {
            tasks.push(write(format!("{PREFIX}{}.netdev", i.id), None, netdev));
        }
        tasks.push(write(
            format!("{PREFIX}{}.network", i.id),
            None,
            network_file(model, i),
        ));
    }
    Ok(tasks)
}

/// The `[Match]` lines that find a NIC by its original properties.
fn physical_match(u: &mut IniFile, i: &Interface, for_link: bool) {
    let Kind::Physical(p) = &i.kind else {
        u.set("Name", &i.id);
        return;
    };
    if let Some(mac) = &p.mac {
        u.set("MACAddress", mac);
    }
    if let Some(d) = &p.driver {
        u.set("Driver", d);
    }
    match (&p.match_name, &p.set_name) {
        (Some(n), _) if for_link => u.set("OriginalName", n),
        (_, Some(n)) if !for_link => u.set("Name", n),
        (Some(n), _) => u.set("Name", n),
        (None, _) if p.mac.is_none() && p.driver.is_none() => {
            u.set(if for_link { "OriginalName" } else { "Name" }, &i.id)
        }
        _ => {}
    }
}

/// A `.link` file for a NIC that is renamed, wakes on LAN or has an MTU.
fn link_file(i: &Interface) -> Option<String> {
    let Kind::Physical(p) = &i.kind else {
        return None;
    };
    if p.set_name.is_none() && !p.wakeonlan && i.mtu.is_none() {
        return None;
    }
    let mut u = IniFile::default();
    u.section("Match");
    physical_match(&mut u, i, true);
    u.section("Link");
    if let Some(n) = &p.set_name {
        u.set("Name", n);
    }
    if p.wakeonlan {
        u.set("WakeOnLan", "magic");
    }
    if let Some(mtu) = i.mtu {
        u.set("MTUBytes", mtu);
    }
    Some(u.finish())
}

/// A `.netdev` file for a bond, bridge or VLAN.
fn netdev_file(i: &Interface) -> Option<String> {
    let mut u = IniFile::default();
    u.section("NetDev");
    u.set("Name", &i.id);
    if let Some(mac) = &i.macaddress {
        u.set("MACAddress", mac);
    }
    match &i.kind {
        Kind::Physical(_) => return None,
        Kind::Bond(b) => {
            u.set("Kind", "bond");
            if let Some(mtu) = i.mtu {
                u.set("MTUBytes", mtu);
            }
            // The primary is `PrimarySlave=` in the member's .network.
            let params: Vec<_> = b
                .params
                .iter()
                .filter(|(o, _)| **o != BondOption::Primary)
                .collect();
            if !params.is_empty() {
                u.section("Bond");
                for (opt, v) in params {
                    u.set(opt.networkd_name(), value(opt.unit(), v));
                }
            }
        }
        Kind::Bridge(b) => {
            u.set("Kind", "bridge");
            if let Some(mtu) = i.mtu {
                u.set("MTUBytes", mtu);
            }
            if !b.params.is_empty() {
                u.section("Bridge");
                for (opt, v) in &b.params {
                    let v = match opt.unit() {
                        Unit::Flag => yes_no(*v != 0).to_owned(),
                        _ => v.to_string(),
                    };
                    u.set(opt.networkd_name(), v);
                }
            }
        }
        Kind::Vlan(v) => {
            u.set("Kind", "vlan");
            if let Some(mtu) = i.mtu {
                u.set("MTUBytes", mtu);
            }
            u.section("VLAN");
            u.set("Id", v.id);
        }
    }
    Some(u.finish())
}

/// A bond parameter's networkd value.
fn value(unit: Unit, v: &ParamValue) -> String {
    match (v, unit) {
        (ParamValue::Number(n), Unit::Millis) => format!("{n}ms"),
        (ParamValue::Number(n), Unit::Seconds) => format!("{n}s"),
        (ParamValue::Flag(f), _) => yes_no(*f).to_owned(),
        (ParamValue::Addresses(a), _) => a
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        (v, _) => v.kernel_text(" ", str::to_owned),
    }
}

/// `[DHCPv4]`/`[DHCPv6]` with the overrides, when that client runs.
fn dhcp_section(u: &mut IniFile, section: &str, o: &DhcpOverrides, on: bool) {
    let set = o.set();
    if !on || set.is_empty() {
        return;
    }
    u.section(section);
    for (k, v) in set {
        match v {
            OverrideValue::Flag(b) => u.set(k.networkd_name(), yes_no(b)),
            v => u.set(k.networkd_name(), v),
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The `.network` file: match, MTU, DHCP, addresses, DNS, membership,
/// VLANs carried, routes and bridge port settings.
fn network_file(model: &NetworkModel, i: &Interface) -> String {
    let mut u = IniFile::default();
    u.section("Match");
    physical_match(&mut u, i, false);
    if i.mtu.is_some() || i.macaddress.is_some() || i.optional || i.control == Control::Manual {
        u.section("Link");
        if let Some(mtu) = i.mtu {
            u.set("MTUBytes", mtu);
        }
        if let Some(mac) = &i.macaddress {
            u.set("MACAddress", mac);
        }
        // An interface brought up by hand must not hold up boot either.
        if i.optional || i.control == Control::Manual {
            u.set("RequiredForOnline", "no");
        }
        if i.control == Control::Manual {
            u.set("ActivationPolicy", "manual");
        }
    }
    u.section("Network");
    match (i.dhcp4, i.dhcp6) {
        (true, true) => u.set("DHCP", "yes"),
        (true, false) => u.set("DHCP", "ipv4"),
        (false, true) => u.set("DHCP", "ipv6"),
        (false, false) => {}
    }
    if let Some(ra) = i.accept_ra {
        u.set("IPv6AcceptRA", yes_no(ra));
    }
    if let Some(ll) = i.link_local {
        u.set(
            "LinkLocalAddressing",
            match (ll.ipv4, ll.ipv6) {
                (true, true) => "yes",
                (true, false) => "ipv4",
                (false, true) => "ipv6",
                (false, false) => "no",
            },
        );
    }
    if i.ipv6_privacy {
        u.set("IPv6PrivacyExtensions", "yes");
    }
    if i.critical {
        u.set("KeepConfiguration", "yes");
    }
    for a in &i.addresses {
        u.set("Address", a);
    }
    let dns = model.effective_dns(i);
    for n in &dns.nameservers {
        u.set("DNS", n);
    }
    if !dns.search.is_empty() {
        u.set("Domains", dns.search.join(" "));
    }
    let parent = model.parent_of(&i.id);
    if let Some(p) = parent {
        match &p.kind {
            Kind::Bond(b) => {
                u.set("Bond", &p.id);
                if b.params.get(&BondOption::Primary) == Some(&ParamValue::Word(i.id.clone())) {
                    u.set("PrimarySlave", "yes");
                }
            }
            _ => u.set("Bridge", &p.id),
        }
    }
    for v in model.vlans_on(&i.id) {
        u.set("VLAN", &v.id);
    }
    for r in &i.routes {
        u.section("Route");
        u.set("Destination", r.to_cidr());
        if let Some(via) = r.via {
            u.set("Gateway", via);
        }
        if let Some(src) = r.from {
            u.set("PreferredSource", src);
        }
        if r.on_link {
            u.set("GatewayOnLink", "yes");
        }
        // networkd has scopes for IPv4 routes only (it ignores one on an
        // IPv6 route, saying so).
        match (&r.scope, r.via, &r.kind) {
            (Some(scope), _, _) => u.set("Scope", scope),
            // A directly connected unicast network, as netplan writes it.
            (None, None, None) if r.is_v4() => u.set("Scope", "link"),
            _ => {}
        }
        if let Some(kind) = &r.kind {
            u.set("Type", kind);
        }
        if let Some(m) = r.metric {
            u.set("Metric", m);
        }
        if let Some(t) = r.table {
            u.set("Table", t);
        }
    }
    for rule in &i.routing_policy {
        u.section("RoutingPolicyRule");
        if let Some(f) = rule.from {
            u.set("From", f);
        }
        if let Some(t) = rule.to {
            u.set("To", t);
        }
        if let Some(t) = rule.table {
            u.set("Table", t);
        }
        if let Some(p) = rule.priority {
            u.set("Priority", p);
        }
        if let Some(m) = rule.mark {
            u.set("FirewallMark", m);
        }
        if let Some(t) = rule.type_of_service {
            u.set("TypeOfService", t);
        }
    }
    for (section, o, on) in [
        ("DHCPv4", &i.dhcp4_overrides, i.dhcp4),
        ("DHCPv6", &i.dhcp6_overrides, i.dhcp6),
    ] {
        dhcp_section(&mut u, section, o, on);
    }
    if let Some(Kind::Bridge(b)) = parent.map(|p| &p.kind) {
        let prio = b.port_priority.get(&i.id);
        let cost = b.path_cost.get(&i.id);
        if prio.is_some() || cost.is_some() {
            u.section("Bridge");
            if let Some(p) = prio {
                u.set("Priority", p);
            }
            if let Some(c) = cost {
                u.set("Cost", c);
            }
        }
    }
    u.finish()
}
