//! Debian ifupdown (`etc/network/interfaces.d/50-cloud-init`), plus
//! `etc/udev/rules.d/70-persistent-net.rules` for NICs renamed by MAC.
//!
//! One `iface` stanza per address family and method (ifupdown 0.8 allows
//! several per interface); interface-wide options (MTU, bond, bridge, VLAN,
//! DNS) go on the first. The global DNS goes on `lo`, as cloud-init does.
//! Routes other than a plain default gateway are `up`/`down` `ip route`
//! commands. Wake-on-LAN uses the `ethernet-wol` option of Debian's
//! `ethtool` package hooks; bond options need `ifenslave`, bridge options
//! `bridge-utils`. VLANs must be named `LINK.ID` (ifupdown's own) or
//! `vlanID` (with `vlan-raw-device`, Debian's `vlan` package).

use std::fmt::Write as _;

use super::{
    HEADER, Renderer, dependency_order, device_name, name_of, plain_default, require_name_or_mac,
    udev_rename_rules, unsupported, write,
};
use crate::model::{Control, Interface, Kind, NetworkModel, Route, RouteTo};
use crate::{Error, Task};

const R: Renderer = Renderer::Eni;
/// Where cloud-init's ENI renderer writes.
const PATH: &str = "etc/network/interfaces.d/50-cloud-init";

/// Renders the model as an ifupdown file.
pub(crate) fn render(model: &NetworkModel) -> Result<Vec<Task>, Error> {
    let mut out = format!("{HEADER}auto lo\niface lo inet loopback\n");
    dns_lines(&mut out, &model.dns);
    for i in dependency_order(model) {
        require_name_or_mac(R, i)?;
        if let Kind::Physical(p) = &i.kind
            && p.mac.is_some()
            && p.set_name.is_none()
        {
            // ifupdown finds NICs by name only; a MAC is honoured through
            // the udev rename rule, which needs set-name.
            return Err(unsupported(
                R,
                format!("interface {}: matching by MAC without set-name", i.id),
            ));
        }
        out.push('\n');
        interface(&mut out, model, i)?;
    }
    let mut tasks = vec![write(PATH.into(), None, out)];
    tasks.extend(udev_rename_rules(model));
    Ok(tasks)
}

/// `dns-nameservers` and `dns-search` (resolvconf) lines.
fn dns_lines(out: &mut String, dns: &crate::model::Dns) {
    if !dns.nameservers.is_empty() {
        let ns: Vec<String> = dns.nameservers.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "    dns-nameservers {}", ns.join(" "));
    }
    if !dns.search.is_empty() {
        let _ = writeln!(out, "    dns-search {}", dns.search.join(" "));
    }
}

/// One stanza (family, method, options) before it is written.
struct Stanza {
    family: &'static str,
    method: &'static str,
    options: Vec<String>,
}

/// Every stanza of one interface.
fn interface(out: &mut String, model: &NetworkModel, i: &Interface) -> Result<(), Error> {
    let name = device_name(R, i)?;
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut plain_gateway = [false, false];
    for v4 in [true, false] {
        let family = if v4 { "inet" } else { "inet6" };
        let gw = plain_default(i, v4);
        for (n, a) in i.addresses.iter().filter(|a| a.is_v4() == v4).enumerate() {
            let mut options = vec![format!("address {a}")];
            if n == 0 {
                if let Some(via) = gw.and_then(|r| r.via) {
                    options.push(format!("gateway {via}"));
                    plain_gateway[usize::from(!v4)] = true;
                }
                if !v4 && let Some(ra) = i.accept_ra {
                    options.push(format!("accept_ra {}", u8::from(ra)));
                }
            }
            stanzas.push(Stanza {
                family,
                method: "static",
                options,
            });
        }
    }
    if i.dhcp4 {
        // The overrides the keys table lets through: ifupdown's dhcp
        // method options.
        let mut options = Vec::new();
        if let Some(h) = &i.dhcp4_overrides.hostname {
            options.push(format!("hostname {h}"));
        }
        if let Some(m) = i.dhcp4_overrides.route_metric {
            options.push(format!("metric {m}"));
        }
        stanzas.push(Stanza {
            family: "inet",
            method: "dhcp",
            options,
        });
    }
    let has_static6 = i.addresses.iter().any(|a| !a.is_v4());
    if i.dhcp6 {
        let options = i
            .accept_ra
            .filter(|_| !has_static6)
            .map(|ra| format!("accept_ra {}", u8::from(ra)))
            .into_iter()
            .collect();
        stanzas.push(Stanza {
            family: "inet6",
            method: "dhcp",
            options,
        });
    } else if i.accept_ra == Some(true) && !has_static6 {
        stanzas.push(Stanza {
            family: "inet6",
            method: "auto",
            options: vec![],
        });
    } else if i.accept_ra == Some(false) && !has_static6 {
        return Err(unsupported(
            R,
            format!(
                "interface {}: accept-ra false without IPv6 addresses or DHCPv6",
                i.id
            ),
        ));
    }
    if i.ipv6_privacy {
        // `privext` belongs to the methods that take addresses from RAs.
        let Some(s) = stanzas
            .iter_mut()
            .find(|s| s.family == "inet6" && matches!(s.method, "auto" | "dhcp"))
        else {
            return Err(unsupported(
                R,
                format!(
                    "interface {}: ipv6-privacy without SLAAC or DHCPv6 (`privext` is an option of inet6 auto and dhcp)",
                    i.id
                ),
            ));
        };
        s.options.push("privext 2".into());
    }
    if stanzas.is_empty() {
        stanzas.push(Stanza {
            family: "inet",
            method: "manual",
            options: vec![],
        });
    }
    for r in &i.routes {
        let plain = plain_gateway[usize::from(!r.is_v4())]
            && plain_default(i, r.is_v4()).is_some_and(|p| std::ptr::eq(p, r));
        if plain {
            continue;
        }
        let fam = if r.is_v4() { "inet" } else { "inet6" };
        let idx = stanzas.iter().position(|s| s.family == fam).unwrap_or(0);
        let cmd = ip_route(r, name);
        stanzas[idx].options.push(format!("up ip {cmd}"));
        stanzas[idx].options.push(format!(
            "down ip {}",
            cmd.replacen("route add", "route del", 1)
        ));
    }
    for rule in &i.routing_policy {
        let fam = if rule.is_v4() { "inet" } else { "inet6" };
        let flag = if rule.is_v4() { "-4" } else { "-6" };
        let idx = stanzas.iter().position(|s| s.family == fam).unwrap_or(0);
        let args = rule.ip_args();
        stanzas[idx]
            .options
            .push(format!("up ip {flag} rule add {args}"));
        stanzas[idx]
            .options
            .push(format!("down ip {flag} rule del {args}"));
    }
    let first = &mut stanzas[0].options;
    let mut wide = Vec::new();
    if let Some(mtu) = i.mtu {
        wide.push(format!("mtu {mtu}"));
    }
    if let Some(mac) = &i.macaddress {
        wide.push(format!("hwaddress {mac}"));
    }
    kind_options(&mut wide, model, i)?;
    if let Some(p) = model.parent_of(&i.id)
        && matches!(p.kind, Kind::Bond(_))
    {
        wide.push(format!("bond-master {}", name_of(R, model, &p.id)?));
    }
    first.splice(0..0, wide);
    match i.control {
        Control::Auto => {
            let _ = writeln!(out, "auto {name}");
        }
        Control::Hotplug => {
            let _ = writeln!(out, "allow-hotplug {name}");
        }
        // Brought up with `ifup NAME` only.
        Control::Manual => {}
    }
    for (n, s) in stanzas.iter().enumerate() {
        let _ = writeln!(out, "iface {name} {} {}", s.family, s.method);
        for o in &s.options {
            let _ = writeln!(out, "    {o}");
        }
        if n == 0 {
            dns_lines(out, &i.dns);
        }
    }
    Ok(())
}

/// `route add …` for one route through `dev`.
fn ip_route(r: &Route, dev: &str) -> String {
    let mut cmd = format!(
        "{} route add {}{}",
        if r.is_v4() { "-4" } else { "-6" },
        r.kind.as_ref().map(|k| format!("{k} ")).unwrap_or_default(),
        match r.to {
            RouteTo::Default => "default".to_owned(),
            RouteTo::Net(c) => c.to_string(),
        }
    );
    if let Some(via) = r.via {
        let _ = write!(cmd, " via {via}");
    }
    // Only unicast routes go through a device.
    if r.kind.as_deref().is_none_or(|k| k == "unicast") {
        let _ = write!(cmd, " dev {dev}");
    }
    if r.on_link {
        cmd.push_str(" onlink");
    }
    if let Some(sc) = &r.scope {
        let _ = write!(cmd, " scope {sc}");
    }
    if let Some(src) = r.from {
        let _ = write!(cmd, " src {src}");
    }
    if let Some(m) = r.metric {
        let _ = write!(cmd, " metric {m}");
    }
    if let Some(t) = r.table {
        let _ = write!(cmd, " table {t}");
    }
    cmd
}

/// The options of the interface's kind: wake-on-LAN, bond, bridge, VLAN.
fn kind_options(opts: &mut Vec<String>, model: &NetworkModel, i: &Interface) -> Result<(), Error> {
    match &i.kind {
        Kind::Physical(p) => {
            if p.wakeonlan {
                opts.push("ethernet-wol g".into());
            }
        }
        Kind::Bond(b) => {
            opts.push(format!("bond-slaves {}", member_list(model, &b.members)?));
            for (opt, v) in &b.params {
                let text = v.kernel_text(" ", |w| name_of(R, model, w).unwrap_or(w).to_owned());
                opts.push(format!(
                    "bond-{} {text}",
                    opt.kernel_name().replace('_', "-")
                ));
            }
        }
        Kind::Bridge(b) => {
            opts.push(format!("bridge_ports {}", member_list(model, &b.members)?));
            for (opt, v) in &b.params {
                let text = match opt.unit() {
                    crate::model::Unit::Flag => {
                        if *v != 0 {
                            "on".to_owned()
                        } else {
                            "off".to_owned()
                        }
                    }
                    _ => v.to_string(),
                };
                opts.push(format!("bridge_{} {text}", opt.kernel_name()));
            }
            for (key, ports) in [("portprio", &b.port_priority), ("pathcost", &b.path_cost)] {
                for (port, v) in ports {
                    opts.push(format!("bridge_{key} {} {v}", name_of(R, model, port)?));
                }
            }
        }
        Kind::Vlan(v) => {
            // ifupdown creates LINK.ID itself; Debian's vlan package
            // creates vlanID from vlan-raw-device. Other names carry no id.
            let link = name_of(R, model, &v.link)?;
            let name = device_name(R, i)?;
            if name == format!("vlan{}", v.id) {
                opts.push(format!("vlan-raw-device {link}"));
            } else if name != format!("{link}.{}", v.id) {
                return Err(unsupported(
                    R,
                    format!(
                        "interface {}: a VLAN named other than {link}.{id} or vlan{id}",
                        i.id,
                        id = v.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `bond-slaves` / `bridge_ports` value: member names, or `none`.
fn member_list(model: &NetworkModel, members: &[String]) -> Result<String, Error> {
    let names = members
        .iter()
        .map(|m| name_of(R, model, m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(" ")
    })
}
