//! RHEL ifcfg files: `etc/sysconfig/network`,
//! `etc/sysconfig/network-scripts/ifcfg-<dev>`, `route-<dev>` and
//! `route6-<dev>` (ip-style lines), the global DNS in `etc/resolv.conf`,
//! and `etc/udev/rules.d/70-persistent-net.rules` for NICs renamed by MAC.
//!
//! Refused: matching by driver or a name pattern, static IPv4 addresses
//! together with DHCPv4 (initscripts and NetworkManager's ifcfg-rh read
//! that differently), and the bridge hello time, max age and ageing time
//! (initscripts passes `BRIDGING_OPTS` to sysfs in centiseconds, ifcfg-rh
//! reads seconds).

use std::fmt::Write as _;

use super::{
    HEADER, Renderer, dependency_order, device_name, name_of, plain_default, require_name_or_mac,
    udev_rename_rules, unsupported, write,
};
use crate::model::{BridgeOption, Control, Interface, Kind, NetworkModel, Route, RouteTo};
use crate::{Error, Task};

const R: Renderer = Renderer::Sysconfig;
/// The ifcfg directory.
const DIR: &str = "etc/sysconfig/network-scripts";

/// Renders the model as ifcfg files.
pub(crate) fn render(model: &NetworkModel) -> Result<Vec<Task>, Error> {
    let mut tasks = vec![write(
        "etc/sysconfig/network".into(),
        None,
        format!("{HEADER}NETWORKING=yes\nNETWORKING_IPV6=yes\n"),
    )];
    for i in dependency_order(model) {
        require_name_or_mac(R, i)?;
        let dev = device_name(R, i)?;
        tasks.push(write(
            format!("{DIR}/ifcfg-{dev}"),
            None,
            ifcfg(model, i, dev)?,
        ));
        for (v4, file) in [(true, "route"), (false, "route6")] {
            let lines: String = extra_routes(i, v4).map(|r| route_line(r) + "\n").collect();
            if !lines.is_empty() {
                tasks.push(write(
                    format!("{DIR}/{file}-{dev}"),
                    None,
                    format!("{HEADER}{lines}"),
                ));
            }
        }
        for (v4, file) in [(true, "rule"), (false, "rule6")] {
            let lines: String = i
                .routing_policy
                .iter()
                .filter(|r| r.is_v4() == v4)
                .map(|r| r.ip_args() + "\n")
                .collect();
            if !lines.is_empty() {
                tasks.push(write(
                    format!("{DIR}/{file}-{dev}"),
                    None,
                    format!("{HEADER}{lines}"),
                ));
            }
        }
    }
    if !model.dns.is_empty() {
        let mut text = HEADER.to_owned();
        for n in &model.dns.nameservers {
            let _ = writeln!(text, "nameserver {n}");
        }
        if !model.dns.search.is_empty() {
            let _ = writeln!(text, "search {}", model.dns.search.join(" "));
        }
        tasks.push(write("etc/resolv.conf".into(), None, text));
    }
    tasks.extend(udev_rename_rules(model));
    Ok(tasks)
}

/// The routes of a family that go to the route file.
fn extra_routes(i: &Interface, v4: bool) -> impl Iterator<Item = &Route> {
    let plain = plain_default(i, v4);
    i.routes
        .iter()
        .filter(move |r| r.is_v4() == v4 && !plain.is_some_and(|p| std::ptr::eq(p, *r)))
}

/// An ip-style route line: `[TYPE] NET [via GW] [onlink] [scope S] [src
/// A] [metric N] [table N]`.
fn route_line(r: &Route) -> String {
    let mut line = r.kind.as_ref().map(|k| format!("{k} ")).unwrap_or_default();
    line.push_str(&match r.to {
        RouteTo::Default => "default".to_owned(),
        RouteTo::Net(c) => c.to_string(),
    });
    if let Some(via) = r.via {
        let _ = write!(line, " via {via}");
    }
    if r.on_link {
        line.push_str(" onlink");
    }
    if let Some(sc) = &r.scope {
        let _ = write!(line, " scope {sc}");
    }
    if let Some(src) = r.from {
        let _ = write!(line, " src {src}");
    }
    if let Some(m) = r.metric {
        let _ = write!(line, " metric {m}");
    }
    if let Some(t) = r.table {
        let _ = write!(line, " table {t}");
    }
    line
}

/// One `ifcfg-<dev>` file.
fn ifcfg(model: &NetworkModel, i: &Interface, dev: &str) -> Result<String, Error> {
    let mut kv: Vec<(String, String)> = vec![("DEVICE".to_owned(), dev.to_owned())];
    match &i.kind {
        Kind::Physical(p) => {
            let ty = if p.infiniband {
                "InfiniBand"
            } else {
                "Ethernet"
            };
            kv.push(("TYPE".to_owned(), ty.into()));
            if let Some(mac) = &p.mac {
                kv.push(("HWADDR".to_owned(), mac.clone()));
            }
            if p.wakeonlan {
                kv.push(("ETHTOOL_OPTS".to_owned(), "\"wol g\"".into()));
            }
        }
        Kind::Bond(b) => {
            kv.push(("TYPE".to_owned(), "Bond".into()));
            kv.push(("BONDING_MASTER".to_owned(), "yes".into()));
            let opts: Vec<String> = b
                .params
                .iter()
                .map(|(o, v)| {
                    format!(
                        "{}={}",
                        o.kernel_name(),
                        v.kernel_text(",", |w| name_of(R, model, w).unwrap_or(w).to_owned())
                    )
                })
                .collect();
            if !opts.is_empty() {
                kv.push(("BONDING_OPTS".to_owned(), format!("\"{}\"", opts.join(" "))));
            }
        }
        Kind::Bridge(b) => {
            kv.push(("TYPE".to_owned(), "Bridge".into()));
            let mut opts = Vec::new();
            for (o, v) in &b.params {
                match o {
                    BridgeOption::Stp => {
                        kv.push(("STP".to_owned(), if *v != 0 { "yes" } else { "no" }.into()))
                    }
                    BridgeOption::ForwardDelay => kv.push(("DELAY".to_owned(), v.to_string())),
                    BridgeOption::Priority => opts.push(format!("priority={v}")),
                    other => {
                        return Err(unsupported(
                            R,
                            format!(
                                "interface {}: bridge {} (initscripts and ifcfg-rh read its unit differently)",
                                i.id,
                                other.netplan_name()
                            ),
                        ));
                    }
                }
            }
            if !opts.is_empty() {
                kv.push((
                    "BRIDGING_OPTS".to_owned(),
                    format!("\"{}\"", opts.join(" ")),
                ));
            }
        }
        Kind::Vlan(v) => {
            kv.push(("VLAN".to_owned(), "yes".into()));
            kv.push(("PHYSDEV".to_owned(), name_of(R, model, &v.link)?.to_owned()));
            kv.push(("VLAN_ID".to_owned(), v.id.to_string()));
        }
    }
    let onboot = if i.control == Control::Manual {
        "no"
    } else {
        "yes"
    };
    kv.push(("ONBOOT".to_owned(), onboot.into()));
    if let Some(mac) = &i.macaddress {
        kv.push(("MACADDR".to_owned(), mac.clone()));
    }
    if let Some(p) = model.parent_of(&i.id) {
        let parent = name_of(R, model, &p.id)?.to_owned();
        match &p.kind {
            Kind::Bond(_) => {
                kv.push(("MASTER".to_owned(), parent));
                kv.push(("SLAVE".to_owned(), "yes".into()));
            }
            Kind::Bridge(b) => {
                kv.push(("BRIDGE".to_owned(), parent));
                let mut opts = Vec::new();
                if let Some(n) = b.port_priority.get(&i.id) {
                    opts.push(format!("priority={n}"));
                }
                if let Some(n) = b.path_cost.get(&i.id) {
                    opts.push(format!("path_cost={n}"));
                }
                if !opts.is_empty() {
                    kv.push((
                        "BRIDGING_OPTS".to_owned(),
                        format!("\"{}\"", opts.join(" ")),
                    ));
                }
            }
            _ => {}
        }
    }
    let v4: Vec<_> = i.addresses.iter().filter(|a| a.is_v4()).collect();
    let v6: Vec<_> = i.addresses.iter().filter(|a| !a.is_v4()).collect();
    if i.dhcp4 && !v4.is_empty() {
        return Err(unsupported(
            R,
            format!(
                "interface {}: static IPv4 addresses together with DHCPv4",
                i.id
            ),
        ));
    }
    kv.push((
        "BOOTPROTO".to_owned(),
        if i.dhcp4 { "dhcp" } else { "none" }.into(),
    ));
    if i.dhcp4 {
        let o = &i.dhcp4_overrides;
        let yn = |b: bool| if b { "yes" } else { "no" }.to_owned();
        for (k, v) in [
            ("PEERDNS", o.use_dns.map(yn)),
            ("PEERROUTES", o.use_routes.map(yn)),
            ("DHCP_HOSTNAME", o.hostname.clone()),
            ("DHCP_SEND_HOSTNAME", o.send_hostname.map(yn)),
            ("IPV4_ROUTE_METRIC", o.route_metric.map(|m| m.to_string())),
        ] {
            if let Some(v) = v {
                kv.push((k.to_owned(), v));
            }
        }
    }
    for (n, a) in v4.iter().enumerate() {
        let suffix = if n == 0 { String::new() } else { n.to_string() };
        kv.push((format!("IPADDR{suffix}"), a.addr.to_string()));
        kv.push((format!("PREFIX{suffix}"), a.prefix.to_string()));
    }
    if let Some(gw) = plain_default(i, true).and_then(|r| r.via) {
        kv.push(("GATEWAY".to_owned(), gw.to_string()));
    }
    if !v6.is_empty()
        || i.dhcp6
        || i.accept_ra.is_some()
        || i.ipv6_privacy
        || i.routes.iter().any(|r| !r.is_v4())
    {
        kv.push(("IPV6INIT".to_owned(), "yes".into()));
        if let Some((first, rest)) = v6.split_first() {
            kv.push(("IPV6ADDR".to_owned(), first.to_string()));
            if !rest.is_empty() {
                let rest: Vec<String> = rest.iter().map(ToString::to_string).collect();
                kv.push((
                    "IPV6ADDR_SECONDARIES".to_owned(),
                    format!("\"{}\"", rest.join(" ")),
                ));
            }
        }
        if let Some(gw) = plain_default(i, false).and_then(|r| r.via) {
            kv.push(("IPV6_DEFAULTGW".to_owned(), gw.to_string()));
        }
        if let Some(ra) = i.accept_ra {
            kv.push((
                "IPV6_AUTOCONF".to_owned(),
                if ra { "yes" } else { "no" }.into(),
            ));
        }
        if i.dhcp6 {
            kv.push(("DHCPV6C".to_owned(), "yes".into()));
        }
        if i.ipv6_privacy {
            kv.push(("IPV6_PRIVACY".to_owned(), "rfc3041".into()));
        }
    }
    if let Some(mtu) = i.mtu {
        kv.push(("MTU".to_owned(), mtu.to_string()));
    }
    for (n, ns) in i.dns.nameservers.iter().enumerate() {
        kv.push((format!("DNS{}", n + 1), ns.to_string()));
    }
    if !i.dns.search.is_empty() {
        kv.push((
            "DOMAIN".to_owned(),
            format!("\"{}\"", i.dns.search.join(" ")),
        ));
    }
    let mut text = HEADER.to_owned();
    for (k, v) in kv {
        let _ = writeln!(text, "{k}={v}");
    }
    Ok(text)
}
