//! containerlab links, brief (`endpoints: ["a:eth1", "b:eth1"]`) and
//! extended (`type: veth|macvlan|vxlan|...`), turned into warren links,
//! bridge members, macvlan interfaces and tunnels.

use super::{Built, ignored};
use crate::decode::{Cx, Fields};
use crate::model::{Macvlan, TunnelType};
use crate::raw::{RawInterface, RawLink, RawNetwork, RawTunnel};
use crate::span::{Span, Spanned};
use crate::values::{IfAddr, Mac};
use crate::yaml::{Node, Value};

/// Keys of a brief link.
const BRIEF_KEYS: &[&str] = &["endpoints", "mtu", "vars", "labels", "ipv4", "ipv6"];
/// Keys of an extended link, all types together (each type checks its own).
const EXTENDED_KEYS: &[&str] = &[
    "type",
    "endpoints",
    "endpoint",
    "mtu",
    "vars",
    "labels",
    "host-interface",
    "mode",
    "remote",
    "vni",
    "dst-port",
    "udp-port",
    "src-port",
    "parent-interface",
];
/// Keys of one endpoint in the extended form.
const ENDPOINT_KEYS: &[&str] = &["node", "interface", "mac", "ipv4", "ipv6", "vars"];

/// One end as the link wrote it.
struct End {
    /// `node:interface`, spanned at what named it.
    text: Spanned<String>,
    node: String,
    mac: Option<Mac>,
    ipv4: Option<Spanned<IfAddr>>,
    ipv6: Option<Spanned<IfAddr>>,
}

/// Reads every link into `out`.
pub(super) fn links(cx: &mut Cx<'_>, v: &Node, out: &mut Built) {
    let Some(items) = cx.list(v, "topology.links") else {
        return;
    };
    for item in items {
        let is_extended = matches!(&item.value, Value::Map(m) if m.iter().any(|(k, _)| k.as_str() == Some("type")));
        if is_extended {
            extended(cx, item, out);
        } else {
            brief(cx, item, out);
        }
    }
}

/// Warns about `vars` and `labels`, which only feed containerlab's templates.
fn template_keys(cx: &mut Cx<'_>, f: &Fields<'_>) {
    for (k, span) in f.keys() {
        if k == "vars" || k == "labels" {
            ignored(
                cx,
                span,
                &format!("link `{k}`"),
                "they only feed containerlab's configuration templates",
            );
        }
    }
}

fn mtu(cx: &mut Cx<'_>, f: &Fields<'_>) -> Option<u32> {
    f.get("mtu")
        .and_then(|v| cx.uint(v, "mtu", 68, 65535))
        .and_then(|m| u32::try_from(m).ok())
}

/// An address written in a link; empty means none.
fn address(cx: &mut Cx<'_>, v: &Node, what: &str) -> Option<Spanned<IfAddr>> {
    match v.as_str() {
        Some("") | None if !matches!(v.value, Value::Seq(_) | Value::Map(_)) => None,
        _ => cx.parse(v, what),
    }
}

fn brief(cx: &mut Cx<'_>, item: &Node, out: &mut Built) {
    let Some(f) = cx.fields(item, "a link", BRIEF_KEYS) else {
        return;
    };
    template_keys(cx, &f);
    let Some(list) = two_endpoints(
        cx,
        &f,
        item.span,
        "a link",
        "expected [\"node:if\", \"node:if\"]",
    ) else {
        return;
    };
    let addrs = |cx: &mut Cx<'_>, key: &str, what: &str| -> Vec<Option<Spanned<IfAddr>>> {
        let Some(v) = f.get(key) else {
            return vec![None, None];
        };
        let items = cx.list(v, key).unwrap_or_default();
        if items.len() > 2 {
            cx.error(
                "warren::bad-value",
                v.span,
                format!("{key} takes at most one address per endpoint"),
                "expected [a, b]",
            );
        }
        (0..2)
            .map(|i| items.get(i).and_then(|n| address(cx, n, what)))
            .collect()
    };
    let v4 = addrs(cx, "ipv4", "IPv4 address");
    let v6 = addrs(cx, "ipv6", "IPv6 address");
    let mtu = mtu(cx, &f);
    let mut ends = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let Some(text) = cx.string(e, "an endpoint (node:interface)") else {
            return;
        };
        let Some((node, iface)) = text.value.split_once(':') else {
            cx.error(
                "warren::bad-endpoint",
                text.span,
                format!("`{}` is not an endpoint", text.value),
                "expected node:interface",
            );
            return;
        };
        match node {
            "mgmt-net" => {
                special_end(cx, node, text.span);
                return;
            }
            "macvlan" => {
                // The other end is the node; this one names the parent.
                let other = list.get(1 - i).and_then(|o| o.as_str()).unwrap_or_default();
                let ospan = list.get(1 - i).map_or(text.span, |o| o.span);
                let end = Spanned::new(other.to_string(), ospan);
                macvlan(cx, out, end, iface, None, (None, mtu));
                return;
            }
            _ => {}
        }
        ends.push(End {
            node: node.to_string(),
            mac: None,
            ipv4: v4[i],
            ipv6: v6[i],
            text,
        });
    }
    join(cx, out, ends, mtu);
}

/// `mgmt-net:IF` ends and the `mgmt-net` type.
fn special_end(cx: &mut Cx<'_>, what: &str, span: Span) {
    let why = "the management network's host side: warren does not attach the management network to the host";
    cx.push(
        crate::Diagnostic::error(
            "warren::clab-unsupported",
            span,
            format!("{what} links are not supported: {why}"),
            "not supported",
        )
        .with_help("see docs/containerlab.md"),
    );
}

fn extended(cx: &mut Cx<'_>, item: &Node, out: &mut Built) {
    let Some(f) = cx.fields(item, "a link", EXTENDED_KEYS) else {
        return;
    };
    template_keys(cx, &f);
    let Some(t) = f.get("type").and_then(|t| cx.string(t, "link type")) else {
        return;
    };
    let mtu = mtu(cx, &f);
    let allowed: &[&str] = match t.value.as_str() {
        "veth" => &["type", "endpoints", "mtu", "vars", "labels"],
        "macvlan" => &[
            "type",
            "endpoint",
            "host-interface",
            "mode",
            "mtu",
            "vars",
            "labels",
        ],
        "vxlan" => &[
            "type",
            "endpoint",
            "remote",
            "vni",
            "dst-port",
            "udp-port",
            "src-port",
            "mtu",
            "vars",
            "labels",
            "parent-interface",
        ],
        "host" => &[
            "type",
            "endpoint",
            "host-interface",
            "mtu",
            "vars",
            "labels",
        ],
        "mgmt-net" => {
            special_end(cx, &t.value, t.span);
            return;
        }
        other => {
            cx.push(
                crate::Diagnostic::error(
                    "warren::clab-unsupported",
                    t.span,
                    format!("link type `{other}` is not supported"),
                    "not supported",
                )
                .with_help(
                    "warren takes veth, host, macvlan and vxlan links (see docs/containerlab.md)",
                ),
            );
            return;
        }
    };
    for (k, span) in f.keys() {
        if !allowed.contains(&k) {
            cx.error(
                "warren::unknown-key",
                span,
                format!("`{k}` does not apply to a {} link", t.value),
                "not for this link type",
            );
        }
    }
    match t.value.as_str() {
        "veth" => {
            let Some(list) =
                two_endpoints(cx, &f, item.span, "a veth link", "expected two endpoints")
            else {
                return;
            };
            let ends: Option<Vec<End>> = list.iter().map(|e| end(cx, e)).collect();
            if let Some(ends) = ends {
                join(cx, out, ends, mtu);
            }
        }
        "macvlan" => {
            let (Some(e), Some(parent)) = (
                one_end(cx, &f, item.span),
                f.get("host-interface")
                    .and_then(|h| cx.string(h, "host-interface")),
            ) else {
                if f.get("host-interface").is_none() {
                    cx.error(
                        "warren::missing-key",
                        item.span,
                        "a macvlan link needs `host-interface`",
                        "this link",
                    );
                }
                return;
            };
            let mode = f.get("mode").and_then(|m| {
                cx.choice(
                    m,
                    "macvlan mode",
                    &[
                        ("bridge", "bridge"),
                        ("private", "private"),
                        ("vepa", "vepa"),
                        ("passthru", "passthru"),
                        ("source", "source"),
                    ],
                )
            });
            macvlan(cx, out, e.text, &parent.value, mode, (e.mac, mtu));
        }
        "host" => {
            let (Some(e), Some(host)) = (
                one_end(cx, &f, item.span),
                f.get("host-interface")
                    .and_then(|h| cx.string(h, "host-interface")),
            ) else {
                if f.get("host-interface").is_none() {
                    cx.error(
                        "warren::missing-key",
                        item.span,
                        "a host link needs `host-interface`",
                        "this link",
                    );
                }
                return;
            };
            host_link(out, e, host, mtu);
        }
        _ => vxlan(cx, out, &f, item.span, mtu),
    }
}

/// Whether an end is in the host's namespace: `host:IF`, or an interface
/// of a `kind: host` node.
fn is_host(out: &Built, e: &End) -> bool {
    e.node == "host" || out.hosts.iter().any(|h| h.value == e.node)
}

/// A veth from `end`'s node to `host` in the host's namespace: the node's
/// interface names its peer there.
fn host_link(out: &mut Built, end: End, host: Spanned<String>, mtu: Option<u32>) {
    let mut i = interface(end.text);
    i.host = Some(host);
    i.ipv4.extend(end.ipv4);
    i.ipv6.extend(end.ipv6);
    i.mac = end.mac;
    i.mtu = mtu;
    out.interfaces.push(i);
}

/// The one `endpoint` of a macvlan or vxlan link.
/// A link's `endpoints`, which must be exactly two; `what` names the link
/// in messages and `expected` labels a list of the wrong length.
fn two_endpoints<'a>(
    cx: &mut Cx<'_>,
    f: &Fields<'a>,
    span: Span,
    what: &str,
    expected: &str,
) -> Option<&'a [Node]> {
    let Some(eps) = f.get("endpoints") else {
        cx.error(
            "warren::missing-key",
            span,
            format!("{what} needs `endpoints`"),
            "this link",
        );
        return None;
    };
    let list = cx.list(eps, "endpoints")?;
    if list.len() != 2 {
        cx.error(
            "warren::bad-value",
            eps.span,
            format!("{what} joins exactly two endpoints, found {}", list.len()),
            expected,
        );
        return None;
    }
    Some(list)
}

fn one_end(cx: &mut Cx<'_>, f: &Fields<'_>, span: Span) -> Option<End> {
    match f.get("endpoint") {
        Some(e) => end(cx, e),
        None => {
            cx.error(
                "warren::missing-key",
                span,
                "this link needs `endpoint`",
                "this link",
            );
            None
        }
    }
}

/// One endpoint of the extended form.
fn end(cx: &mut Cx<'_>, v: &Node) -> Option<End> {
    let f = cx.fields(v, "an endpoint", ENDPOINT_KEYS)?;
    if let Some((_, span)) = f.keys().find(|(k, _)| *k == "vars") {
        ignored(
            cx,
            span,
            "endpoint `vars`",
            "they only feed containerlab's configuration templates",
        );
    }
    let node = f.get("node").and_then(|n| cx.string(n, "node"));
    let iface = f.get("interface").and_then(|n| cx.string(n, "interface"));
    let (Some(node), Some(iface)) = (node, iface) else {
        cx.error(
            "warren::missing-key",
            v.span,
            "an endpoint needs `node` and `interface`",
            "this endpoint",
        );
        return None;
    };
    Some(End {
        text: Spanned::new(
            format!("{}:{}", node.value, iface.value),
            Span::new(node.span.start, iface.span.end.max(node.span.end)),
        ),
        node: node.value,
        mac: f
            .get("mac")
            .and_then(|m| cx.parse::<Mac>(m, "MAC address"))
            .map(|m| m.value),
        ipv4: f.get("ipv4").and_then(|a| address(cx, a, "IPv4 address")),
        ipv6: f.get("ipv6").and_then(|a| address(cx, a, "IPv6 address")),
    })
}

/// A link between two ends: a warren link, or membership of a bridge when
/// one end is a `bridge` node.
fn join(cx: &mut Cx<'_>, out: &mut Built, mut ends: Vec<End>, mtu: Option<u32>) {
    match (is_host(out, &ends[0]), is_host(out, &ends[1])) {
        (true, true) => {
            cx.error(
                "warren::clab-unsupported",
                ends[1].text.span,
                "a link between two host ends joins nothing of the lab",
                "second host end",
            );
            return;
        }
        (a, b) if a || b => {
            let host = ends.remove(usize::from(b));
            let node = ends.remove(0);
            let iface = host.text.value.split_once(':').map_or("", |(_, i)| i);
            let name = Spanned::new(iface.to_string(), host.text.span);
            host_link(out, node, name, mtu);
            return;
        }
        _ => {}
    }
    let bridge_of = |e: &End| out.bridges.iter().position(|b| b.value == e.node);
    match (bridge_of(&ends[0]), bridge_of(&ends[1])) {
        (None, None) => {
            let mut l = RawLink {
                name: None,
                endpoints: Vec::new(),
                ipv4: Vec::new(),
                ipv6: Vec::new(),
                mtu,
                mac: Vec::new(),
                impair: None,
                capture: None,
            };
            for e in ends {
                l.endpoints.push(e.text);
                l.ipv4.push(e.ipv4);
                l.ipv6.push(e.ipv6);
                l.mac.push(e.mac);
            }
            out.links.push(l);
        }
        (Some(b), None) | (None, Some(b)) => {
            // The bridge's own port name is the hub's business (n<N>m<M>).
            let member = if bridge_of(&ends[0]).is_some() {
                &ends[1]
            } else {
                &ends[0]
            };
            let name = out.bridges[b].clone();
            member_of(out, &name, member, mtu);
        }
        (Some(_), Some(_)) => cx.error(
            "warren::clab-unsupported",
            ends[1].text.span,
            "a link between two bridges is not supported",
            "second bridge",
        ),
    }
}

/// Makes `member` a port of the network `bridge`, with its addresses.
fn member_of(out: &mut Built, bridge: &Spanned<String>, member: &End, mtu: Option<u32>) {
    let net = match out
        .networks
        .iter_mut()
        .position(|n| n.name.value == bridge.value)
    {
        Some(i) => &mut out.networks[i],
        None => {
            out.networks.push(RawNetwork {
                name: bridge.clone(),
                members: Vec::new(),
                ipv4: None,
                ipv6: None,
                mtu: None,
                impair: None,
                capture: None,
                patch: false,
            });
            out.networks.last_mut().expect("just pushed")
        }
    };
    net.members.push(member.text.clone());
    if net.mtu.is_none() {
        net.mtu = mtu;
    }
    if member.ipv4.is_some() || member.ipv6.is_some() || member.mac.is_some() {
        let mut i = interface(member.text.clone());
        i.ipv4.extend(member.ipv4);
        i.ipv6.extend(member.ipv6);
        i.mac = member.mac;
        out.interfaces.push(i);
    }
}

/// An empty `interfaces` entry for `endpoint`.
pub(super) fn interface(endpoint: Spanned<String>) -> RawInterface {
    RawInterface {
        endpoint,
        ipv4: Vec::new(),
        ipv6: Vec::new(),
        mac: None,
        mtu: None,
        routes: Vec::new(),
        up: None,
        impair: None,
        macvlan: None,
        nat: None,
        ethtool: Vec::new(),
        host: None,
    }
}

/// A macvlan child of the host's `parent` as the node's interface.
fn macvlan(
    cx: &mut Cx<'_>,
    out: &mut Built,
    endpoint: Spanned<String>,
    parent: &str,
    mode: Option<&str>,
    (mac, mtu): (Option<Mac>, Option<u32>),
) {
    if !endpoint.value.contains(':') {
        cx.error(
            "warren::bad-endpoint",
            endpoint.span,
            format!("`{}` is not an endpoint", endpoint.value),
            "expected node:interface",
        );
        return;
    }
    let mut i = interface(endpoint);
    i.macvlan = Some(Macvlan {
        parent: parent.to_string(),
        mode: mode.map(str::to_string),
        tap: false,
    });
    i.mac = mac;
    i.mtu = mtu;
    out.interfaces.push(i);
}

/// A vxlan link: the node's end is a member of a network of its own in
/// the lab's hub, which a vxlan tunnel to `remote` joins.
fn vxlan(cx: &mut Cx<'_>, out: &mut Built, f: &Fields<'_>, span: Span, mtu: Option<u32>) {
    let Some(e) = one_end(cx, f, span) else {
        return;
    };
    for (k, span) in f.keys() {
        if k == "src-port" || k == "parent-interface" {
            ignored(
                cx,
                span,
                &format!("vxlan `{k}`"),
                "the kernel picks the source port and the route to `remote` picks the interface",
            );
        }
    }
    let remote = f.get("remote").and_then(|r| {
        let s = cx.string(r, "remote")?;
        match s.value.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.error(
                    "warren::bad-value",
                    s.span,
                    format!("invalid remote: `{}` is not an IP address", s.value),
                    "expected an IP address",
                );
                None
            }
        }
    });
    let vni = f.get("vni").and_then(|v| cx.uint(v, "vni", 0, 16_777_215));
    let port = f
        .get("dst-port")
        .or_else(|| f.get("udp-port"))
        .and_then(|p| cx.uint(p, "dst-port", 1, 65535))
        .and_then(|p| u16::try_from(p).ok());
    for key in ["remote", "vni"] {
        if f.get(key).is_none() {
            cx.error(
                "warren::missing-key",
                span,
                format!("a vxlan link needs `{key}`"),
                "this link",
            );
        }
    }
    let (Some(remote), Some(vni)) = (remote, vni) else {
        return;
    };
    let name = Spanned::new(format!("vx{}", out.tunnels.len()), e.text.span);
    member_of(out, &name, &e, mtu);
    out.tunnels.push(RawTunnel {
        kind: TunnelType::Vxlan,
        network: name,
        remote,
        vni: u32::try_from(vni).unwrap_or_default(),
        local: None,
        dstport: port,
        netns: None,
    });
}
