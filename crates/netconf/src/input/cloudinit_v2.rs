//! cloud-init network config version 2 (the netplan format) into the model.

use serde_json::{Map, Value};

use super::{Fields, bond_value, bridge_value, check_keys, cidr, obj, to_u32};
use crate::Error;
use crate::model::{
    Bond, BondOption, Bridge, BridgeOption, Cidr, DhcpOverride, DhcpOverrides, Dns, Interface,
    Kind, LinkLocal, NetworkModel, Physical, ROUTE_SCOPES, ROUTE_TYPES, Route, RouteTo,
    RoutingRule, Vlan,
};

/// Keys every device type takes.
const COMMON: &[&str] = &[
    "renderer",
    "macaddress",
    "optional",
    "critical",
    "link-local",
    "ipv6-privacy",
    "dhcp4-overrides",
    "dhcp6-overrides",
    "routing-policy",
    "mtu",
    "addresses",
    "dhcp4",
    "dhcp6",
    "accept-ra",
    "gateway4",
    "gateway6",
    "nameservers",
    "routes",
];

/// Parses the top-level mapping (`version: 2` already checked).
pub(crate) fn parse(map: &Map<String, Value>) -> Result<NetworkModel, Error> {
    check_keys(
        map,
        "network",
        &[
            "version",
            "renderer",
            "ethernets",
            "bonds",
            "bridges",
            "vlans",
        ],
    )?;
    let mut model = NetworkModel::default();
    for (section, parse_one) in [
        (
            "ethernets",
            ethernet as fn(&Fields<'_>) -> Result<Kind, Error>,
        ),
        ("bonds", bond),
        ("bridges", bridge),
        ("vlans", vlan),
    ] {
        let Some(devices) = map.get(section).filter(|v| !v.is_null()) else {
            continue;
        };
        for (id, dev) in obj(devices, section)? {
            let path = format!("{section}.{id}");
            let known: Vec<&str> = COMMON
                .iter()
                .copied()
                .chain(extra_keys(section).iter().copied())
                .collect();
            let f = Fields::new(dev, path, &known)?;
            let kind = parse_one(&f)?;
            model.interfaces.push(common(id, kind, &f)?);
        }
    }
    Ok(model)
}

/// The keys of one section beyond [`COMMON`].
fn extra_keys(section: &str) -> &'static [&'static str] {
    match section {
        "ethernets" => &["match", "set-name", "wakeonlan"],
        "bonds" | "bridges" => &["interfaces", "parameters"],
        _ => &["id", "link"],
    }
}

/// The layer-3 settings shared by every device type.
fn common(id: &str, kind: Kind, f: &Fields<'_>) -> Result<Interface, Error> {
    let mut iface = Interface::new(id, kind);
    iface.mtu = f.u32("mtu")?;
    iface.dhcp4 = f.bool("dhcp4")?.unwrap_or(false);
    iface.dhcp6 = f.bool("dhcp6")?.unwrap_or(false);
    iface.accept_ra = f.bool("accept-ra")?;
    iface.macaddress = f.str("macaddress")?.map(|m| m.to_ascii_lowercase());
    iface.optional = f.bool("optional")?.unwrap_or(false);
    iface.critical = f.bool("critical")?.unwrap_or(false);
    iface.ipv6_privacy = f.bool("ipv6-privacy")?.unwrap_or(false);
    if f.get("link-local").is_some() {
        let mut ll = LinkLocal::default();
        for fam in f.strs("link-local")? {
            match fam.as_str() {
                "ipv4" => ll.ipv4 = true,
                "ipv6" => ll.ipv6 = true,
                other => {
                    return Err(f.err("link-local", format!("{other:?} is neither ipv4 nor ipv6")));
                }
            }
        }
        iface.link_local = Some(ll);
    }
    iface.dhcp4_overrides = overrides(f, "dhcp4-overrides")?;
    iface.dhcp6_overrides = overrides(f, "dhcp6-overrides")?;
    for (n, r) in f.list("routing-policy")?.iter().enumerate() {
        iface.routing_policy.push(rule(&Fields::new(
            r,
            format!("{}[{n}]", f.at("routing-policy")),
            &["from", "to", "table", "priority", "mark", "type-of-service"],
        )?)?);
    }
    iface.addresses = f
        .strs("addresses")?
        .iter()
        .map(|a| cidr(a, None, &f.at("addresses")))
        .collect::<Result<_, _>>()?;
    for gw in ["gateway4", "gateway6"] {
        if let Some(via) = f.ip(gw)? {
            if via.is_ipv4() != (gw == "gateway4") {
                return Err(f.err(gw, format!("{via} is of the wrong address family")));
            }
            iface.routes.push(Route {
                to: RouteTo::Default,
                via: Some(via),
                ..Route::default()
            });
        }
    }
    for (n, r) in f.list("routes")?.iter().enumerate() {
        iface.routes.push(route(&Fields::new(
            r,
            format!("{}[{n}]", f.at("routes")),
            &[
                "to", "via", "metric", "table", "on-link", "scope", "type", "from",
            ],
        )?)?);
    }
    if let Some(ns) = f.get("nameservers") {
        let ns = Fields::new(ns, f.at("nameservers"), &["addresses", "search"])?;
        iface.dns = Dns {
            nameservers: ns.ips("addresses")?,
            search: ns.strs("search")?,
        };
    }
    Ok(iface)
}

/// One route: `to` (a network or `default`), `via`, `metric`, `table`,
/// `on-link`, `scope`, `type`, `from`.
fn route(f: &Fields<'_>) -> Result<Route, Error> {
    let to = f.req_str("to")?;
    let via = f.ip("via")?;
    let to = match to.as_str() {
        "default" | "0.0.0.0/0" | "::/0" => RouteTo::Default,
        net => RouteTo::Net(cidr(net, None, &f.at("to"))?),
    };
    let word = |key: &str, allowed: &[&str]| -> Result<Option<String>, Error> {
        f.str(key)?
            .map(|w| {
                if allowed.contains(&w.as_str()) {
                    Ok(w)
                } else {
                    Err(f.err(key, format!("{w:?} is not one of {}", allowed.join(", "))))
                }
            })
            .transpose()
    };
    let route = Route {
        to,
        via,
        metric: f.u32("metric")?,
        table: f.u32("table")?,
        on_link: f.bool("on-link")?.unwrap_or(false),
        scope: word("scope", ROUTE_SCOPES)?,
        kind: word("type", ROUTE_TYPES)?,
        from: f.ip("from")?,
    };
    if route.on_link && route.via.is_none() {
        return Err(f.err("on-link", "needs a gateway (`via`)"));
    }
    let family = route.is_v4();
    for (key, ip) in [("via", route.via), ("from", route.from)] {
        if ip.is_some_and(|ip| ip.is_ipv4() != family) {
            return Err(f.err(key, "is of a different address family than the destination"));
        }
    }
    Ok(route)
}

/// One `routing-policy` rule.
fn rule(f: &Fields<'_>) -> Result<RoutingRule, Error> {
    let net = |key: &str| -> Result<Option<Cidr>, Error> {
        f.str(key)?.map(|s| cidr(&s, None, &f.at(key))).transpose()
    };
    let rule = RoutingRule {
        from: net("from")?,
        to: net("to")?,
        table: f.u32("table")?,
        priority: f.u32("priority")?,
        mark: f.u32("mark")?,
        type_of_service: f
            .u32("type-of-service")?
            .map(|t| u8::try_from(t).map_err(|_| f.err("type-of-service", "is not in 0..255")))
            .transpose()?,
    };
    if let (Some(a), Some(b)) = (rule.from, rule.to)
        && a.is_v4() != b.is_v4()
    {
        return Err(f.err("to", "is of a different address family than `from`"));
    }
    if rule.from.is_none()
        && rule.to.is_none()
        && rule.mark.is_none()
        && rule.type_of_service.is_none()
    {
        return Err(Error::config(
            &f.path,
            "a rule needs from, to, mark or type-of-service",
        ));
    }
    Ok(rule)
}

/// A `dhcp4-overrides`/`dhcp6-overrides` mapping.
fn overrides(f: &Fields<'_>, key: &str) -> Result<DhcpOverrides, Error> {
    let Some(v) = f.get(key) else {
        return Ok(DhcpOverrides::default());
    };
    let names: Vec<&str> = DhcpOverride::ALL.iter().map(|o| o.netplan_name()).collect();
    let o = Fields::new(v, f.at(key), &names)?;
    Ok(DhcpOverrides {
        use_dns: o.bool("use-dns")?,
        use_ntp: o.bool("use-ntp")?,
        send_hostname: o.bool("send-hostname")?,
        use_hostname: o.bool("use-hostname")?,
        use_mtu: o.bool("use-mtu")?,
        hostname: o.str("hostname")?,
        use_routes: o.bool("use-routes")?,
        route_metric: o.u32("route-metric")?,
        use_domains: o.bool("use-domains")?,
    })
}

fn ethernet(f: &Fields<'_>) -> Result<Kind, Error> {
    let mut p = Physical {
        set_name: f.str("set-name")?,
        wakeonlan: f.bool("wakeonlan")?.unwrap_or(false),
        ..Physical::default()
    };
    if let Some(m) = f.get("match") {
        let m = Fields::new(m, f.at("match"), &["macaddress", "name", "driver"])?;
        p.mac = m.str("macaddress")?.map(|s| s.to_ascii_lowercase());
        p.match_name = m.str("name")?;
        p.driver = m.str("driver")?;
    }
    if p.set_name.is_some() && p.mac.is_none() && p.driver.is_none() && p.match_name.is_none() {
        return Err(f.err("set-name", "needs a match"));
    }
    Ok(Kind::Physical(p))
}

fn bond(f: &Fields<'_>) -> Result<Kind, Error> {
    let mut b = Bond {
        members: f.strs("interfaces")?,
        ..Bond::default()
    };
    if let Some(params) = f.get("parameters") {
        let path = f.at("parameters");
        for (k, v) in obj(params, &path)? {
            let key = format!("{path}.{k}");
            let opt = BondOption::from_netplan_name(k)
                .ok_or_else(|| Error::config(&key, "not a bond parameter warren knows"))?;
            b.params.insert(opt, bond_value(opt, v, &key)?);
        }
    }
    Ok(Kind::Bond(b))
}

fn bridge(f: &Fields<'_>) -> Result<Kind, Error> {
    let mut b = Bridge {
        members: f.strs("interfaces")?,
        ..Bridge::default()
    };
    if let Some(params) = f.get("parameters") {
        let path = f.at("parameters");
        for (k, v) in obj(params, &path)? {
            let key = format!("{path}.{k}");
            let ports = match k.as_str() {
                "port-priority" => &mut b.port_priority,
                "path-cost" => &mut b.path_cost,
                _ => {
                    let opt = BridgeOption::from_netplan_name(k).ok_or_else(|| {
                        Error::config(&key, "not a bridge parameter warren knows")
                    })?;
                    b.params.insert(opt, bridge_value(opt, v, &key)?);
                    continue;
                }
            };
            for (port, n) in obj(v, &key)? {
                let n = to_u32(n).ok_or_else(|| {
                    Error::config(
                        format!("{key}.{port}"),
                        format!("expected a number, got {n}"),
                    )
                })?;
                ports.insert(port.clone(), n);
            }
        }
    }
    Ok(Kind::Bridge(b))
}

fn vlan(f: &Fields<'_>) -> Result<Kind, Error> {
    let id = f.u32("id")?.ok_or_else(|| f.err("id", "missing"))?;
    Ok(Kind::Vlan(Vlan {
        id: u16::try_from(id)
            .ok()
            .filter(|i| (1..=4094).contains(i))
            .ok_or_else(|| f.err("id", format!("{id} is not a VLAN id (1..4094)")))?,
        link: f.req_str("link")?,
    }))
}
