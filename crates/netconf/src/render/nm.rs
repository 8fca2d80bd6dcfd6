//! NetworkManager keyfiles:
//! `etc/NetworkManager/system-connections/cloud-init-<id>.nmconnection`
//! (mode 0600), one connection per interface, plus
//! `etc/udev/rules.d/70-persistent-net.rules` for NICs renamed by MAC
//! (NetworkManager does not rename devices).
//!
//! Connection UUIDs are derived from the interface id, so rendering twice
//! gives the same files and ports can name their controller by UUID. The
//! global DNS goes to every interface with layer-3 configuration.
//! Refused: set-name without a MAC match, IPv4 routes without an IPv4 address or DHCPv4 (a keyfile cannot
//! hold them: `method=manual` needs an address).

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{IniFile, Renderer, name_of, plain_default, udev_rename_rules, unsupported, write};
use crate::model::{Control, Interface, Kind, NetworkModel, RoutingRule, Unit};
use crate::{Error, Task};

const R: Renderer = Renderer::NetworkManager;
/// The keyfile directory.
const DIR: &str = "etc/NetworkManager/system-connections";

/// Renders the model as keyfiles.
pub(crate) fn render(model: &NetworkModel) -> Result<Vec<Task>, Error> {
    let mut tasks = Vec::new();
    for i in &model.interfaces {
        if let Kind::Physical(p) = &i.kind
            && p.set_name.is_some()
            && p.mac.is_none()
        {
            // NetworkManager does not rename; the udev rules rename by MAC only.
            return Err(unsupported(
                R,
                format!("interface {}: set-name without a MAC match", i.id),
            ));
        }
        tasks.push(write(
            format!("{DIR}/cloud-init-{}.nmconnection", i.id),
            Some(0o600),
            keyfile(model, i)?,
        ));
    }
    tasks.extend(udev_rename_rules(model));
    Ok(tasks)
}

/// A stable UUID for the connection of interface `id`: 128 bits of two
/// FNV-1a hashes, marked as a version 8 (custom) RFC 9562 UUID.
pub(crate) fn uuid(id: &str) -> String {
    let fnv = |seed: u64| {
        id.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let hi = (fnv(0xcbf2_9ce4_8422_2325) & !0xf000) | 0x8000;
    let lo = (fnv(0x6c62_272e_07bb_0142) & !(0b11 << 62)) | (0b10 << 62);
    let b = (u128::from(hi) << 64) | u128::from(lo);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `a;b;` as keyfile lists are written.
fn list<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string() + ";").collect()
}

/// One connection.
fn keyfile(model: &NetworkModel, i: &Interface) -> Result<String, Error> {
    let mut k = IniFile::default();
    k.section("connection");
    k.set("id", format!("cloud-init {}", i.id));
    k.set("uuid", uuid(&i.id));
    let ty = match &i.kind {
        Kind::Physical(p) if p.infiniband => "infiniband",
        Kind::Physical(_) => "ethernet",
        Kind::Bond(_) => "bond",
        Kind::Bridge(_) => "bridge",
        Kind::Vlan(_) => "vlan",
    };
    k.set("type", ty);
    if let Some(dev) = i.device_name() {
        k.set("interface-name", dev);
    }
    if i.control == Control::Manual {
        k.set("autoconnect", "false");
    }
    let parent = model.parent_of(&i.id);
    if let Some(p) = parent {
        k.set("master", uuid(&p.id));
        k.set(
            "slave-type",
            if matches!(p.kind, Kind::Bond(_)) {
                "bond"
            } else {
                "bridge"
            },
        );
    }
    let pattern = i.device_name().is_none();
    if let Kind::Physical(p) = &i.kind
        && ((pattern && p.match_name.is_some()) || p.driver.is_some())
    {
        k.section("match");
        if let Some(n) = p.match_name.as_ref().filter(|_| pattern) {
            k.set("interface-name", format!("{n};"));
        }
        if let Some(d) = &p.driver {
            k.set("driver", format!("{d};"));
        }
    }
    let wol = matches!(&i.kind, Kind::Physical(p) if p.wakeonlan);
    let mac = match &i.kind {
        Kind::Physical(p) => p.mac.clone(),
        _ => None,
    };
    if matches!(&i.kind, Kind::Physical(p) if p.infiniband) {
        k.section("infiniband");
        if let Some(mac) = mac {
            k.set("mac-address", mac.to_ascii_uppercase());
        }
        if let Some(mtu) = i.mtu {
            k.set("mtu", mtu);
        }
        // What cloud-init's NetworkManager renderer sets for IPoIB.
        k.set("transport-mode", "datagram");
    } else if i.mtu.is_some() || wol || mac.is_some() || i.macaddress.is_some() {
        k.section("ethernet");
        if let Some(mac) = &i.macaddress {
            k.set("cloned-mac-address", mac.to_ascii_uppercase());
        }
        if let Some(mac) = mac {
            k.set("mac-address", mac.to_ascii_uppercase());
        }
        if let Some(mtu) = i.mtu {
            k.set("mtu", mtu);
        }
        if wol {
            // NM_SETTING_WIRED_WAKE_ON_LAN_MAGIC
            k.set("wake-on-lan", 64);
        }
    }
    kind_sections(&mut k, model, i)?;
    if let Some(Kind::Bridge(b)) = parent.map(|p| &p.kind) {
        let (prio, cost) = (b.port_priority.get(&i.id), b.path_cost.get(&i.id));
        if prio.is_some() || cost.is_some() {
            k.section("bridge-port");
            if let Some(p) = prio {
                k.set("priority", p);
            }
            if let Some(c) = cost {
                k.set("path-cost", c);
            }
        }
    }
    if parent.is_none() {
        ip_sections(&mut k, model, i)?;
    }
    Ok(k.finish())
}

/// A routing rule as NetworkManager writes it back (priority first, TOS
/// and mark in hex), so a keyfile round-trips unchanged.
fn routing_rule(rule: &RoutingRule) -> String {
    let mut out = Vec::new();
    if let Some(p) = rule.priority {
        out.push(format!("priority {p}"));
    }
    if let Some(f) = rule.from {
        out.push(format!("from {f}"));
    }
    if let Some(t) = rule.to {
        out.push(format!("to {t}"));
    }
    if let Some(t) = rule.type_of_service {
        out.push(format!("tos 0x{t:02x}"));
    }
    if let Some(m) = rule.mark {
        out.push(format!("fwmark 0x{m:x}"));
    }
    if let Some(t) = rule.table {
        out.push(format!("table {t}"));
    }
    out.join(" ")
}

/// `[bond]`, `[bridge]` or `[vlan]`.
fn kind_sections(k: &mut IniFile, model: &NetworkModel, i: &Interface) -> Result<(), Error> {
    match &i.kind {
        Kind::Physical(_) => {}
        Kind::Bond(b) => {
            k.section("bond");
            for (o, v) in &b.params {
                k.set(
                    o.kernel_name(),
                    v.kernel_text(",", |w| name_of(R, model, w).unwrap_or(w).to_owned()),
                );
            }
        }
        Kind::Bridge(b) => {
            k.section("bridge");
            for (o, v) in &b.params {
                let v = match o.unit() {
                    Unit::Flag => (*v != 0).to_string(),
                    _ => v.to_string(),
                };
                k.set(o.netplan_name(), v);
            }
        }
        Kind::Vlan(v) => {
            k.section("vlan");
            k.set("id", v.id);
            k.set("parent", uuid(&v.link));
        }
    }
    Ok(())
}

/// `[ipv4]` and `[ipv6]`.
fn ip_sections(k: &mut IniFile, model: &NetworkModel, i: &Interface) -> Result<(), Error> {
    let dns = model.effective_dns(i);
    for v4 in [true, false] {
        let addrs: Vec<_> = i.addresses.iter().filter(|a| a.is_v4() == v4).collect();
        let routes: Vec<_> = i.routes.iter().filter(|r| r.is_v4() == v4).collect();
        let method = if v4 {
            match (i.dhcp4, addrs.is_empty()) {
                (true, _) => "auto",
                (false, false) => "manual",
                (false, true) if routes.is_empty() => "disabled",
                (false, true) => {
                    return Err(unsupported(
                        R,
                        format!(
                            "interface {}: IPv4 routes without an IPv4 address or DHCPv4",
                            i.id
                        ),
                    ));
                }
            }
        } else {
            match (i.dhcp6, i.accept_ra, addrs.is_empty()) {
                (true, Some(false), _) => "dhcp",
                (true, _, _) | (false, Some(true), _) => "auto",
                (false, _, false) => "manual",
                // No SLAAC, but the link-local address stays, as elsewhere.
                (false, Some(false), true) if routes.is_empty() => "link-local",
                (false, _, true) if routes.is_empty() => "ignore",
                (false, _, true) => {
                    return Err(unsupported(
                        R,
                        format!(
                            "interface {}: IPv6 routes without an IPv6 address, DHCPv6 or SLAAC",
                            i.id
                        ),
                    ));
                }
            }
        };
        k.section(if v4 { "ipv4" } else { "ipv6" });
        k.set("method", method);
        for (n, a) in addrs.iter().enumerate() {
            k.set(&format!("address{}", n + 1), a);
        }
        let plain = plain_default(i, v4);
        if let Some(gw) = plain.and_then(|r| r.via) {
            if addrs.is_empty() {
                return Err(unsupported(
                    R,
                    format!(
                        "interface {}: a default gateway without a static address of its family",
                        i.id
                    ),
                ));
            }
            k.set("gateway", gw);
        }
        let mut n = 0;
        for r in &routes {
            if plain.is_some_and(|p| std::ptr::eq(p, *r)) {
                continue;
            }
            n += 1;
            let mut value = r.to_cidr();
            match (r.via, r.metric) {
                (Some(via), Some(m)) => {
                    let _ = write!(value, ",{via},{m}");
                }
                (Some(via), None) => {
                    let _ = write!(value, ",{via}");
                }
                (None, Some(m)) => {
                    let _ = write!(value, ",,{m}");
                }
                (None, None) => {}
            }
            k.set(&format!("route{n}"), value);
            let mut options = Vec::new();
            if r.on_link {
                options.push("onlink=true".to_owned());
            }
            if let Some(src) = r.from {
                options.push(format!("src={src}"));
            }
            if let Some(t) = r.table {
                options.push(format!("table={t}"));
            }
            if let Some(ty) = &r.kind {
                options.push(format!("type={ty}"));
            }
            if !options.is_empty() {
                k.set(&format!("route{n}_options"), options.join(","));
            }
        }
        let rules: Vec<_> = i
            .routing_policy
            .iter()
            .filter(|r| r.is_v4() == v4)
            .collect();
        for (n, rule) in rules.iter().enumerate() {
            if rule.priority.is_none() {
                return Err(unsupported(
                    R,
                    format!(
                        "interface {}: a routing-policy rule without a priority (NetworkManager needs one)",
                        i.id
                    ),
                ));
            }
            k.set(&format!("routing-rule{}", n + 1), routing_rule(rule));
        }
        let o = if v4 {
            &i.dhcp4_overrides
        } else {
            &i.dhcp6_overrides
        };
        if (v4 && i.dhcp4) || (!v4 && i.dhcp6) {
            if let Some(h) = &o.hostname {
                k.set("dhcp-hostname", h);
            }
            if let Some(b) = o.send_hostname {
                k.set("dhcp-send-hostname", b);
            }
            if let Some(b) = o.use_dns {
                k.set("ignore-auto-dns", !b);
            }
            if let Some(b) = o.use_routes {
                k.set("ignore-auto-routes", !b);
            }
            if let Some(m) = o.route_metric {
                k.set("route-metric", m);
            }
        }
        if !v4 && i.ipv6_privacy {
            k.set("ip6-privacy", 2);
        }
        let ns: Vec<&IpAddr> = dns
            .nameservers
            .iter()
            .filter(|a| a.is_ipv4() == v4)
            .collect();
        if !ns.is_empty() {
            k.set("dns", list(ns.iter()));
        }
        let search_here = if v4 {
            method != "disabled"
        } else {
            i.addresses.iter().all(|a| !a.is_v4()) && !i.dhcp4
        };
        if search_here && !dns.search.is_empty() {
            k.set("dns-search", list(dns.search.iter()));
        }
    }
    Ok(())
}
