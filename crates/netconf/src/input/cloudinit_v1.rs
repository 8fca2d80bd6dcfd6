//! cloud-init network config version 1 into the model.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Fields, bond_value, bridge_value, check_keys, cidr, merge_dns, obj};
use crate::Error;
use crate::model::{
    Bond, BondOption, Bridge, BridgeOption, Dns, Interface, Kind, NetworkModel, Physical, Route,
    RouteTo, Vlan,
};

/// Keys of a `subnets` entry.
const SUBNET_KEYS: &[&str] = &[
    "type",
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
    for (n, entry) in entries.iter().enumerate() {
        let path = format!("config[{n}]");
        let ty = obj(entry, &path)?
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::config(format!("{path}.type"), "missing or not a string"))?;
        match ty {
            "physical" => {
                let f = Fields::new(entry, path, &device_keys(&["mac_address", "wakeonlan"]))?;
                let mac = f.str("mac_address")?.map(|m| m.to_ascii_lowercase());
                let name = f.req_str("name")?;
                let p = Physical {
                    set_name: mac.as_ref().map(|_| name.clone()),
                    mac,
                    wakeonlan: f.bool("wakeonlan")?.unwrap_or(false),
                    ..Physical::default()
                };
                model.interfaces.push(device(&f, Kind::Physical(p))?);
            }
            "bond" => {
                let f = Fields::new(entry, path, &device_keys(&["bond_interfaces", "params"]))?;
                let kind = Kind::Bond(bond(&f)?);
                model.interfaces.push(device(&f, kind)?);
            }
            "bridge" => {
                let f = Fields::new(entry, path, &device_keys(&["bridge_interfaces", "params"]))?;
                let kind = Kind::Bridge(bridge(&f)?);
                model.interfaces.push(device(&f, kind)?);
            }
            "vlan" => {
                let f = Fields::new(entry, path, &device_keys(&["vlan_link", "vlan_id"]))?;
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
                model.interfaces.push(device(&f, kind)?);
            }
            "nameserver" => {
                let f = Fields::new(entry, path, &["type", "address", "search", "interface"])?;
                let dns = Dns {
                    nameservers: f.ips("address")?,
                    search: f.strs("search")?,
                };
                match f.str("interface")? {
                    None => merge_dns(&mut model.dns, dns),
                    Some(id) => {
                        let iface = model
                            .interfaces
                            .iter_mut()
                            .find(|i| i.id == id)
                            .ok_or_else(|| {
                                f.err("interface", format!("{id:?} is not defined before it"))
                            })?;
                        merge_dns(&mut iface.dns, dns);
                    }
                }
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
    for (r, key) in global_routes {
        attach_route(&mut model, r, &key)?;
    }
    Ok(model)
}

/// The keys of a device entry: the common ones plus `extra`.
fn device_keys<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    ["type", "name", "mtu", "subnets"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect()
}

/// Name, MTU and subnets of a device entry.
fn device(f: &Fields<'_>, kind: Kind) -> Result<Interface, Error> {
    let mut iface = Interface::new(f.req_str("name")?, kind);
    iface.mtu = f.u32("mtu")?;
    for (n, s) in f.list("subnets")?.iter().enumerate() {
        subnet(
            &mut iface,
            &Fields::new(s, format!("{}[{n}]", f.at("subnets")), SUBNET_KEYS)?,
        )?;
    }
    Ok(iface)
}

/// Adds one `subnets` entry to the interface.
fn subnet(iface: &mut Interface, f: &Fields<'_>) -> Result<(), Error> {
    if let Some(c) = f.str("control")?
        && c != "auto"
    {
        return Err(f.err("control", format!("{c:?} is not supported (only auto)")));
    }
    match f.req_str("type")?.as_str() {
        "static" | "static6" => {
            let address = f.req_str("address")?;
            let netmask = f.str("netmask")?;
            iface
                .addresses
                .push(cidr(&address, netmask.as_deref(), &f.at("address"))?);
            if let Some(gw) = f.ip("gateway")? {
                iface.routes.push(Route {
                    to: RouteTo::Default,
                    via: Some(gw),
                    metric: None,
                    table: None,
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
    for (n, r) in f.list("routes")?.iter().enumerate() {
        let rf = Fields::new(
            r,
            format!("{}[{n}]", f.at("routes")),
            &["destination", "network", "netmask", "gateway", "metric"],
        )?;
        iface.routes.push(route(&rf)?);
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
    Ok(Route {
        to,
        via: f.ip("gateway")?,
        metric: f.u32("metric")?,
        table: None,
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
        let opt = BondOption::from_kernel_name(&name)
            .ok_or_else(|| Error::config(&key, "not a bond parameter warren knows"))?;
        b.params.insert(opt, bond_value(opt, v, &key)?);
    }
    Ok(b)
}

/// `bridge_interfaces` and `params` (`bridge_stp`, `bridge_portprio`…).
fn bridge(f: &Fields<'_>) -> Result<Bridge, Error> {
    let mut b = Bridge {
        members: f.strs("bridge_interfaces")?,
        ..Bridge::default()
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
            _ => {
                let opt = BridgeOption::from_kernel_name(name)
                    .ok_or_else(|| Error::config(&key, "not a bridge parameter warren knows"))?;
                b.params.insert(opt, bridge_value(opt, v, &key)?);
            }
        }
    }
    Ok(b)
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
