//! conlink links: veth to a bridge, or macvlan/macvtap to a host interface;
//! every property either mapped onto the lab or refused by name.

use super::network_file::Entry;
use super::service::Service;
use super::{Out, netem, offset, targets};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// What every link's conversion shares.
pub(super) struct Options<'a> {
    /// The compose project, for `container:` names.
    pub(super) project: &'a str,
    /// conlink's `--default-mtu`, for veth links without `mtu`.
    pub(super) default_mtu: Option<&'a str>,
    /// Services not run (the conlink service).
    pub(super) skipped: &'a BTreeSet<String>,
}

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
        ("vlanid", _) => Some("`vlanid`: needs link type vlan, which is not supported yet".into()),
        ("mode", "bridge" | "private" | "vepa" | "passthru" | "source") => None,
        ("mode", m) => Some(format!("`mode` {m}: a macvlan mode is bridge, private, vepa, passthru or source")),
        _ => None,
    }
}

/// The `netem` property's options as one text (a list is joined with
/// spaces, as conlink joins repeated `--netem` arguments); `None` when absent.
fn netem_options(e: &Entry) -> Option<Result<String, String>> {
    let v = e.props.get("netem")?;
    Some(match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Ok(e.strings("netem").join(" "))
        }
        _ => Err("`netem` is a string or a list of strings of tc netem options".into()),
    })
}

pub(super) fn link(
    e: &Entry,
    services: &[Service],
    opts: &Options<'_>,
    out: &mut Out,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    for key in e.props.keys() {
        if !LINK_KEYS.contains(&key.as_str()) {
            errors.push(format!("{}: unknown link property `{key}`", e.at(key)));
        }
    }
    let mut bad = false;
    for key in ["type", "vlanid", "mode"] {
        if let Some(v) = e.props.get(key)
            && let Some(msg) = unsupported(key, v.as_str().unwrap_or(""))
        {
            errors.push(format!("{}: {msg}", e.at(key)));
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
                e.at("mode")
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
    let impair = match netem_options(e) {
        Some(Ok(text)) => match netem::impair(&text) {
            Ok(m) => Some(m),
            Err(m) => {
                errors.push(format!("{}: netem `{text}`: {m}", e.at("netem")));
                return;
            }
        },
        Some(Err(m)) => {
            errors.push(format!("{}: {m}", e.at("netem")));
            return;
        }
        None => None,
    };
    if impair.is_some() && kind != "veth" {
        errors.push(format!(
            "{}: `netem` on a {kind} link: the kernel's netem qdisc (CONFIG_NET_SCH_NETEM) is absent here, and warren's user-space wire that stands in for it carries veth links only",
            e.at("netem")
        ));
        return;
    }
    if e.props.contains_key("nat") && e.str("ip").is_none_or(|ip| ip.contains(':')) {
        errors.push(format!(
            "{}: `nat` needs an IPv4 `ip`, the address NATed traffic leaves from",
            e.at("nat")
        ));
        return;
    }
    if e.props.contains_key("forward") && e.str("ip").is_none() {
        errors.push(format!(
            "{}: `forward` needs `ip`, the address connections are relayed to",
            e.at("forward")
        ));
        return;
    }
    // Checked here so that a bad route is reported where it was written,
    // not in the converted lab.
    for r in e.strings("route") {
        if let Err(m) = crate::raw::route_text(&r) {
            errors.push(format!(
                "{}: route `{r}`: {m}; warren takes `ip route add`'s form `DEST [via GATEWAY] [dev IF] [metric N] [src ADDR] [onlink]`",
                e.at("route")
            ));
            return;
        }
    }
    let dev = e.str("dev").unwrap_or("eth0");
    let mtu = e.str("mtu").or(if kind == "veth" {
        opts.default_mtu
    } else {
        None
    });
    for (node, index) in targets(e, services, opts.skipped, opts.project, errors) {
        let key = format!("{node}:{dev}");
        let here = format!("/interfaces/{key}");
        out.origin(&here, &e.origin);
        for (lab_key, link_key) in [
            ("ipv4", "ip"),
            ("ipv6", "ip"),
            ("mac", "mac"),
            ("mtu", "mtu"),
            ("routes", "route"),
            ("impair", "netem"),
            ("nat", "nat"),
            ("ethtool", "ethtool"),
            ("macvlan", "outer-dev"),
        ] {
            out.origin(&format!("{here}/{lab_key}"), e.at(link_key));
        }
        match &attach {
            Attach::Bridge(bridge) => {
                out.origin(&format!("/networks/{bridge}"), e.at("bridge"));
                let net = out
                    .networks
                    .entry((*bridge).to_string())
                    .or_insert_with(|| json!({"members": []}));
                if let Some(m) = net.get_mut("members").and_then(Value::as_array_mut) {
                    m.push(Value::String(key.clone()));
                    let at = format!("/networks/{bridge}/members/{}", m.len() - 1);
                    out.origin(&at, &e.origin);
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
                Err(m) => errors.push(format!("{}: ip {ip}: {m}", e.at("ip"))),
            }
        }
        if let Some(mac) = e.str("mac") {
            match offset::mac(mac, index) {
                Ok(m) => {
                    iface.insert("mac".into(), json!(m));
                }
                Err(m) => errors.push(format!("{}: mac {mac}: {m}", e.at("mac"))),
            }
        }
        if let Some(mtu) = mtu {
            iface.insert("mtu".into(), json!(mtu));
        }
        let routes = e.strings("route");
        if !routes.is_empty() {
            iface.insert("routes".into(), json!(routes));
        }
        if let Some(m) = &impair {
            iface.insert("impair".into(), Value::Object(m.clone()));
        }
        if let Some(target) = e.str("nat") {
            iface.insert("nat".into(), json!(target));
        }
        let ethtool = e.strings("ethtool");
        if !ethtool.is_empty() {
            iface.insert("ethtool".into(), json!(ethtool));
        }
        for fwd in e.strings("forward") {
            match offset::forward(&fwd, index) {
                Ok((host, port, proto)) => {
                    out.origin(
                        &format!("/forwards/{}", out.forwards.len()),
                        e.at("forward"),
                    );
                    out.forwards.push(json!({
                        "host": host.to_string(),
                        "to": key,
                        "port": port.to_string(),
                        "proto": proto,
                    }));
                }
                Err(m) => errors.push(format!("{}: forward {fwd}: {m}", e.at("forward"))),
            }
        }
    }
}
