//! cloud-init network config version 1 into the model.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Fields, bond_value, bridge_value, check_keys, cidr, merge_dns, obj};
use crate::Error;
use crate::model::{
    Bond, BondOption, Bridge, BridgeOption, Control, Dns, Interface, Kind, NetworkModel, Physical,
    Route, RouteTo, Vlan,
};

/// Keys of a `subnets` entry.
const SUBNET_KEYS: &[&str] = &[
    "type",
    "broadcast",
    "ipv4",
    "ipv6",
    "metric",
    "address",
    "netmask",
    "gateway",
    "dns_nameservers",
    "dns_search",
    "routes",
    "control",
];

/// Parses the top-level mapping (`version: 1` already checked).
pub(crate) fn parse(map: &Map<String, Value>) -> Result<NetworkModel, Error> {
    check_keys(map, "network", &["version", "config"])?;
    let entries = match map.get("config") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(Value::String(s)) if s == "disabled" => &[],
        Some(v) => return Err(Error::config("config", format!("expected a list, got {v}"))),
        None => return Err(Error::config("config", "missing")),
    };
    let mut model = NetworkModel::default();
    let mut global_routes = Vec::new();
    let mut nameservers = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let path = format!("config[{n}]");
        let ty = obj(entry, &path)?
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::config(format!("{path}.type"), "missing or not a string"))?;
        match ty {
            "physical" | "infiniband" => {
                let f = Fields::new(
                    entry,
                    path,
                    &device_keys(&["mac_address", "wakeonlan", "keep_configuration"]),
                )?;
                let mac = f.str("mac_address")?.map(|m| m.to_ascii_lowercase());
                let name = f.req_str("name")?;
                let p = Physical {
                    set_name: mac.as_ref().map(|_| name.clone()),
                    mac,
                    wakeonlan: f.bool("wakeonlan")?.unwrap_or(false),
                    infiniband: ty == "infiniband",
                    ..Physical::default()
                };
                let mut iface = device(&f, Kind::Physical(p))?;
                iface.critical = f.bool("keep_configuration")?.unwrap_or(false);
                model.interfaces.push(iface);
            }
            "bond" => {
                let f = Fields::new(
                    entry,
                    path,
                    &device_keys(&["bond_interfaces", "params", "mac_address"]),
                )?;
                let kind = Kind::Bond(bond(&f)?);
                let mut iface = device(&f, kind)?;
                iface.macaddress = f.str("mac_address")?.map(|m| m.to_ascii_lowercase());
                model.interfaces.push(iface);
            }
            "bridge" => {
                let f = Fields::new(entry, path, &device_keys(&["bridge_interfaces", "params"]))?;
                let (b, hw) = bridge(&f)?;
                let mut iface = device(&f, Kind::Bridge(b))?;
                iface.macaddress = hw;
                model.interfaces.push(iface);
            }
            "vlan" => {
                let f = Fields::new(
                    entry,
                    path,
                    &device_keys(&["vlan_link", "vlan_id", "mac_address"]),
                )?;
                let id = f
                    .u32("vlan_id")?
                    .ok_or_else(|| f.err("vlan_id", "missing"))?;
                let kind = Kind::Vlan(Vlan {
                    id: u16::try_from(id)
                        .ok()
                        .filter(|i| (1..=4094).contains(i))
                        .ok_or_else(|| {
                            f.err("vlan_id", format!("{id} is not a VLAN id (1..4094)"))
                        })?,
                    link: f.req_str("vlan_link")?,
                });
                let mut iface = device(&f, kind)?;
                iface.macaddress = f.str("mac_address")?.map(|m| m.to_ascii_lowercase());
                model.interfaces.push(iface);
            }
            "nameserver" => {
                // An entry naming an interface may come before or after it.
                let f = Fields::new(entry, path, &["type", "address", "search", "interface"])?;
                let dns = Dns {
                    nameservers: f.ips("address")?,
                    search: f.strs("search")?,
                };
                nameservers.push((f.str("interface")?, dns, f.at("interface")));
            }
            "route" => {
                let f = Fields::new(
                    entry,
                    path,
                    &[
                        "type",
                        "destination",
                        "network",
                        "netmask",
                        "gateway",
                        "metric",
                    ],
                )?;
                global_routes.push((route(&f)?, f.at("gateway")));
            }
            other => {
                return Err(Error::config(
                    format!("{path}.type"),
                    format!("{other:?} is not supported"),
                ));
            }
        }
    }
    for (id, dns, key) in nameservers {
        match id {
            None => merge_dns(&mut model.dns, dns),
            Some(id) => {
                let iface = model
                    .interfaces
                    .iter_mut()
                    .find(|i| i.id == id)
                    .ok_or_else(|| Error::config(&key, format!("{id:?} is not defined")))?;
                merge_dns(&mut iface.dns, dns);
            }
        }
    }
    for (r, key) in global_routes {
        attach_route(&mut model, r, &key)?;
    }
    Ok(model)
}

/// The keys of a device entry: the common ones plus `extra`.
fn device_keys<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    ["type", "name", "mtu", "subnets", "accept-ra"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect()
}

/// Name, MTU and subnets of a device entry.
fn device(f: &Fields<'_>, kind: Kind) -> Result<Interface, Error> {
    let mut iface = Interface::new(f.req_str("name")?, kind);
    iface.mtu = f.u32("mtu")?;
    let mut control = None;
    for (n, s) in f.list("subnets")?.iter().enumerate() {
        let sf = Fields::new(s, format!("{}[{n}]", f.at("subnets")), SUBNET_KEYS)?;
        let c = match sf.str("control")?.as_deref() {
            None | Some("auto") => Control::Auto,
            Some("manual") => Control::Manual,
            Some("hotplug") => Control::Hotplug,
            Some(other) => {
                return Err(sf.err(
                    "control",
                    format!("{other:?} is not one of auto, manual, hotplug"),
                ));
            }
        };
        // cloud-init's renderers take the mode of the interface from its
        // subnets; two different ones cannot both hold.
        if control.is_some_and(|prev| prev != c) {
            return Err(sf.err("control", "differs from an earlier subnet's"));
        }
        control = Some(c);
        subnet(&mut iface, &sf)?;
    }
    iface.control = control.unwrap_or_default();
    // Device-level accept-ra is the v2 meaning; a subnet's SLAAC type
    // already set it to true.
    if let Some(ra) = f.bool("accept-ra")? {
        if iface.accept_ra == Some(true) && !ra {
            return Err(f.err(
                "accept-ra",
                "false contradicts an ipv6_slaac or stateless subnet",
            ));
        }
        iface.accept_ra = Some(ra);
    }
    Ok(iface)
}

/// Adds one `subnets` entry to the interface.
fn subnet(iface: &mut Interface, f: &Fields<'_>) -> Result<(), Error> {
    let first_route = iface.routes.len();
    let ty = f.req_str("type")?;
    match ty.as_str() {
        "static" | "static6" => {
            let address = f.req_str("address")?;
            let netmask = f.str("netmask")?;
            let c = cidr(&address, netmask.as_deref(), &f.at("address"))?;
            for (key, v4) in [("ipv4", true), ("ipv6", false)] {
                if f.bool(key)? == Some(c.is_v4() != v4) {
                    return Err(f.err(key, format!("contradicts the address {c}")));
                }
            }
            if let Some(b) = f.ip("broadcast")? {
                // Only the network's own broadcast address can be rendered
                // everywhere (it is what every renderer's system derives).
                if c.broadcast_v4() != Some(b) {
                    return Err(f.err(
                        "broadcast",
                        format!(
                            "{b} is not the broadcast address of {c} (only that one is supported)"
                        ),
                    ));
                }
            }
            iface.addresses.push(c);
            if let Some(gw) = f.ip("gateway")? {
                iface.routes.push(Route {
                    to: RouteTo::Default,
                    via: Some(gw),
                    ..Route::default()
                });
            }
        }
        "dhcp" | "dhcp4" => iface.dhcp4 = true,
        "dhcp6" | "ipv6_dhcpv6-stateful" => iface.dhcp6 = true,
        "ipv6_dhcpv6-stateless" => {
            iface.dhcp6 = true;
            iface.accept_ra = Some(true);
        }
        "ipv6_slaac" => iface.accept_ra = Some(true),
        "manual" => {}
        other => return Err(f.err("type", format!("{other:?} is not supported"))),
    }
    if !matches!(ty.as_str(), "static" | "static6") {
        for key in ["address", "netmask", "broadcast", "gateway"] {
            if f.get(key).is_some() {
                return Err(f.err(key, format!("only applies to static subnets, not {ty}")));
            }
        }
    }
    for (n, r) in f.list("routes")?.iter().enumerate() {
        let rf = Fields::new(
            r,
            format!("{}[{n}]", f.at("routes")),
            &[
                "type",
                "destination",
                "network",
                "netmask",
                "gateway",
                "metric",
            ],
        )?;
        iface.routes.push(route(&rf)?);
    }
    // The subnet's metric is the default for its routes and gateway.
    if let Some(m) = f.u32("metric")? {
        for r in &mut iface.routes[first_route..] {
            r.metric.get_or_insert(m);
        }
    }
    merge_dns(
        &mut iface.dns,
        Dns {
            nameservers: f.ips("dns_nameservers")?,
            search: f.strs("dns_search")?,
        },
    );
    Ok(())
}

/// A route entry: `destination` or `network` (+ `netmask`), `gateway`, `metric`.
fn route(f: &Fields<'_>) -> Result<Route, Error> {
    let dest = match f.str("destination")? {
        Some(d) => d,
        None => f.req_str("network")?,
    };
    let netmask = f.str("netmask")?;
    let to = match (dest.as_str(), netmask.as_deref()) {
        ("default" | "0.0.0.0" | "::", None | Some("0" | "0.0.0.0"))
        | ("0.0.0.0/0" | "::/0", None) => RouteTo::Default,
        (d, m) => RouteTo::Net(cidr(d, m, &f.at("destination"))?),
    };
    if let Some(t) = f.str("type")?
        && t != "route"
    {
        return Err(f.err("type", format!("{t:?} is not route")));
    }
    Ok(Route {
        to,
        via: f.ip("gateway")?,
        metric: f.u32("metric")?,
        ..Route::default()
    })
}

/// Puts a global route on the interface whose static address network
/// holds its gateway.
fn attach_route(model: &mut NetworkModel, r: Route, key: &str) -> Result<(), Error> {
    let via = r
        .via
        .ok_or_else(|| Error::config(key, "a global route needs a gateway"))?;
    let iface = model
        .interfaces
        .iter_mut()
        .find(|i| i.addresses.iter().any(|a| a.contains(via)))
        .ok_or_else(|| {
            Error::config(
                key,
                format!("no interface has an address in the network of {via}"),
            )
        })?;
    iface.routes.push(r);
    Ok(())
}

/// `bond_interfaces` and `params` (`bond-mode`, `bond_miimon`…).
fn bond(f: &Fields<'_>) -> Result<Bond, Error> {
    let mut b = Bond {
        members: f.strs("bond_interfaces")?,
        ..Bond::default()
    };
    for (k, v) in params(f)? {
        let key = format!("{}.{k}", f.at("params"));
        let name = k
            .strip_prefix("bond-")
            .or_else(|| k.strip_prefix("bond_"))
            .unwrap_or(k)
            .replace('-', "_");
        let opt = match name.as_str() {
            // ifenslave's spelling of the member list.
            "slaves" => {
                let slaves = Fields {
                    map: params(f)?,
                    path: f.at("params"),
                };
                for m in slaves.strs(k)? {
                    if m != "none" && !b.members.contains(&m) {
                        b.members.push(m);
                    }
                }
                continue;
            }
            // The kernel's older name for the same counter.
            "num_unsol_na" => BondOption::NumGratArp,
            "ad_actor_key" | "ad_aggregator" | "ad_num_ports" | "ad_partner_key"
            | "ad_partner_mac" | "mii_status" => {
                return Err(Error::config(
                    &key,
                    "a read-only status of the bonding driver, not a setting",
                ));
            }
            "active_slave" => {
                return Err(Error::config(
                    &key,
                    "a run-time choice the driver remakes on failover; use bond-primary",
                ));
            }
            "queue_id" => {
                return Err(Error::config(
                    &key,
                    "a per-member queue mapping no renderer can write",
                ));
            }
            _ => BondOption::from_kernel_name(&name)
                .ok_or_else(|| Error::config(&key, "not a bond parameter warren knows"))?,
        };
        b.params.insert(opt, bond_value(opt, v, &key)?);
    }
    Ok(b)
}

/// `bridge_interfaces` and `params` (`bridge_stp`, `bridge_portprio`…),
/// with the bridge's MAC address (`bridge_hw`).
fn bridge(f: &Fields<'_>) -> Result<(Bridge, Option<String>), Error> {
    let mut b = Bridge {
        members: f.strs("bridge_interfaces")?,
        ..Bridge::default()
    };
    let mut hw = None;
    let pf = Fields {
        map: params(f)?,
        path: f.at("params"),
    };
    for (k, v) in params(f)? {
        let key = format!("{}.{k}", f.at("params"));
        let name = k
            .strip_prefix("bridge_")
            .or_else(|| k.strip_prefix("bridge-"))
            .unwrap_or(k);
        match name {
            "portprio" => b.port_priority = port_values(v, &key)?,
            "pathcost" => b.path_cost = port_values(v, &key)?,
            "hw" => hw = pf.str(k)?.map(|m| m.to_ascii_lowercase()),
            "ports" => {
                for m in pf.strs(k)? {
                    if !b.members.contains(&m) {
                        b.members.push(m);
                    }
                }
            }
            _ => {
                let opt = BridgeOption::from_kernel_name(name)
                    .ok_or_else(|| Error::config(&key, "not a bridge parameter warren knows"))?;
                b.params.insert(opt, bridge_value(opt, v, &key)?);
            }
        }
    }
    Ok((b, hw))
}

/// The `params` mapping (missing = empty).
fn params<'a>(f: &Fields<'a>) -> Result<&'a Map<String, Value>, Error> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    match f.get("params") {
        Some(p) => obj(p, &f.at("params")),
        None => Ok(&EMPTY),
    }
}

/// `["eth0 32", "eth1 64"]` (or a mapping) into port → value.
fn port_values(v: &Value, key: &str) -> Result<BTreeMap<String, u32>, Error> {
    let bad = || Error::config(key, format!("expected a list of \"PORT VALUE\", got {v}"));
    let mut out = BTreeMap::new();
    match v {
        Value::Object(m) => {
            for (port, n) in m {
                out.insert(port.clone(), super::to_u32(n).ok_or_else(bad)?);
            }
        }
        Value::Array(items) => {
            for item in items {
                let (port, n) = item
                    .as_str()
                    .and_then(|s| s.split_once(' '))
                    .ok_or_else(bad)?;
                out.insert(port.to_owned(), n.trim().parse().map_err(|_| bad())?);
            }
        }
        _ => return Err(bad()),
    }
    Ok(out)
}
