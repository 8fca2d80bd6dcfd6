//! conlink links: veth to a bridge, or macvlan/macvtap to a host interface;
//! every property either mapped onto the lab or refused by name.

use super::network_file::Entry;
use super::service::Service;
use super::{Out, offset, targets};
use serde_json::{Map, Value, json};

/// Link properties conlink defines.
const LINK_KEYS: &[&str] = &[
    "type",
    "service",
    "container",
    "bridge",
    "dev",
    "outer-dev",
    "ip",
    "mac",
    "mtu",
    "route",
    "nat",
    "netem",
    "mode",
    "vlanid",
    "forward",
    "ethtool",
];

/// Where a link's outer end goes.
enum Attach<'e> {
    /// A port of this bridge (veth).
    Bridge(&'e str),
    /// A macvlan/macvtap child of a host interface: the lab file's `macvlan` entry.
    Macvlan(Map<String, Value>),
}

/// Link types and properties that need kernel or model support warren does
/// not have yet, with what is missing.
fn unsupported(key: &str, value: &str) -> Option<String> {
    match (key, value) {
        ("type", "veth" | "macvlan" | "macvtap") => None,
        ("type", "dummy") => Some("link type dummy: needs the dummy driver (CONFIG_DUMMY), which this kernel lacks; warren does not create dummy interfaces".into()),
        ("type", "vlan") => Some("link type vlan: needs 802.1Q (CONFIG_VLAN_8021Q) on a host parent interface, which warren does not attach yet".into()),
        ("type", t @ ("ipvlan" | "ipvtap")) => Some(format!("link type {t}: needs the kernel's ipvlan driver (CONFIG_IPVLAN) on a host parent interface, which warren does not attach yet")),
        ("type", t) => Some(format!("link type {t} is not a conlink link type")),
        ("nat", _) => Some("`nat`: not supported yet (needs netfilter NAT rules)".into()),
        ("netem", _) => Some("`netem`: needs the netem qdisc (CONFIG_NET_SCH_NETEM), which this kernel lacks; not supported yet".into()),
        ("ethtool", _) => Some("`ethtool`: not supported yet".into()),
        ("vlanid", _) => Some("`vlanid`: needs link type vlan, which is not supported yet".into()),
        ("mode", "bridge" | "private" | "vepa" | "passthru" | "source") => None,
        ("mode", m) => Some(format!("`mode` {m}: a macvlan mode is bridge, private, vepa, passthru or source")),
        _ => None,
    }
}

pub(super) fn link(
    e: &Entry,
    services: &[Service],
    project: &str,
    out: &mut Out,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    for key in e.props.keys() {
        if !LINK_KEYS.contains(&key.as_str()) {
            errors.push(format!("{}: unknown link property `{key}`", e.origin));
        }
    }
    let mut bad = false;
    for key in ["type", "nat", "netem", "ethtool", "vlanid", "mode"] {
        if let Some(v) = e.props.get(key)
            && let Some(msg) = unsupported(key, v.as_str().unwrap_or(""))
        {
            errors.push(format!("{}: {msg}", e.origin));
            bad = true;
        }
    }
    if bad {
        return;
    }
    let kind = e.str("type").unwrap_or("veth");
    let attach = if kind == "veth" {
        if e.props.contains_key("mode") {
            errors.push(format!(
                "{}: `mode` applies to macvlan and macvtap links",
                e.origin
            ));
            bad = true;
        }
        let Some(bridge) = e.str("bridge") else {
            errors.push(format!(
                "{}: a veth link needs `bridge` (warren keeps the outer end on that bridge)",
                e.origin
            ));
            return;
        };
        if e.props.contains_key("outer-dev") {
            notes.push(format!(
                "{}: `outer-dev` ignored; warren names the bridge side of a link itself",
                e.origin
            ));
        }
        Attach::Bridge(bridge)
    } else {
        let Some(parent) = e.str("outer-dev") else {
            errors.push(format!(
                "{}: a {kind} link needs `outer-dev`, the host interface it is a child of",
                e.origin
            ));
            return;
        };
        let mut m = Map::new();
        m.insert("parent".into(), json!(parent));
        m.insert("tap".into(), json!(kind == "macvtap"));
        if let Some(mode) = e.str("mode") {
            m.insert("mode".into(), json!(mode));
        }
        Attach::Macvlan(m)
    };
    if bad {
        return;
    }
    if e.props.contains_key("forward") && e.str("ip").is_none() {
        errors.push(format!(
            "{}: `forward` needs `ip`, the address connections are relayed to",
            e.origin
        ));
        return;
    }
    let dev = e.str("dev").unwrap_or("eth0");
    for (node, index) in targets(e, services, project, errors) {
        let key = format!("{node}:{dev}");
        match &attach {
            Attach::Bridge(bridge) => {
                let net = out
                    .networks
                    .entry((*bridge).to_string())
                    .or_insert_with(|| json!({"members": []}));
                if let Some(m) = net.get_mut("members").and_then(Value::as_array_mut) {
                    m.push(Value::String(key.clone()));
                }
            }
            Attach::Macvlan(m) => {
                out.iface(&key)
                    .insert("macvlan".into(), Value::Object(m.clone()));
            }
        }
        let iface = out.iface(&key);
        if let Some(ip) = e.str("ip") {
            match offset::ip(ip, index) {
                Ok((addr, v6)) => {
                    iface.insert(if v6 { "ipv6" } else { "ipv4" }.into(), json!([addr]));
                }
                Err(m) => errors.push(format!("{}: ip {ip}: {m}", e.origin)),
            }
        }
        if let Some(mac) = e.str("mac") {
            match offset::mac(mac, index) {
                Ok(m) => {
                    iface.insert("mac".into(), json!(m));
                }
                Err(m) => errors.push(format!("{}: mac {mac}: {m}", e.origin)),
            }
        }
        if let Some(mtu) = e.str("mtu") {
            iface.insert("mtu".into(), json!(mtu));
        }
        let routes = e.strings("route");
        if !routes.is_empty() {
            iface.insert("routes".into(), json!(routes));
        }
        for fwd in e.strings("forward") {
            match offset::forward(&fwd, index) {
                Ok((host, port, proto)) => out.forwards.push(json!({
                    "host": host.to_string(),
                    "to": key,
                    "port": port.to_string(),
                    "proto": proto,
                })),
                Err(m) => errors.push(format!("{}: forward {fwd}: {m}", e.origin)),
            }
        }
    }
}
