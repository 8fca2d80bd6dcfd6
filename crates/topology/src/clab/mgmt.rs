//! The management network: `eth0` of every linux node on one lab network,
//! with containerlab's default subnets (or `mgmt:`'s), addressed as
//! containerlab's Docker network does: the gateway takes the first
//! address, nodes the next ones in file order, `mgmt-ipv4`/`mgmt-ipv6`
//! where given.

use super::node::Def;
use super::{Built, ignored, link};
use crate::decode::Cx;
use crate::raw::RawNetwork;
use crate::span::{Span, Spanned};
use crate::values::{IfAddr, Prefix};
use crate::yaml::Node;
use std::net::IpAddr;

/// The management interface of every node.
pub(super) const IFACE: &str = "eth0";
/// Keys of `mgmt` that warren applies.
const APPLIED: &[&str] = &["network", "ipv4-subnet", "ipv6-subnet", "mtu"];
/// Keys of `mgmt` that warren reads but does not apply, with why.
const NOT_APPLIED: &[(&str, &str)] = &[
    (
        "bridge",
        "the network is a bridge in the lab's hub, named after `network`",
    ),
    (
        "ipv4-gw",
        "the host side is not attached, so there is no gateway",
    ),
    (
        "ipv6-gw",
        "the host side is not attached, so there is no gateway",
    ),
    ("ipv4-range", "nodes take addresses from the whole subnet"),
    ("ipv6-range", "nodes take addresses from the whole subnet"),
    ("external-access", "the host side is not attached"),
    ("driver-opts", "Docker network driver options"),
];

/// A node's management addresses, IPv4 and IPv6.
type Pair = (Option<Spanned<IfAddr>>, Option<Spanned<IfAddr>>);

/// The management network's settings.
pub(super) struct Mgmt {
    network: Spanned<String>,
    ipv4: Spanned<Prefix>,
    ipv6: Spanned<Prefix>,
    mtu: Option<u32>,
}

impl Mgmt {
    /// Reads `mgmt`, or containerlab's defaults without it.
    pub(super) fn read(cx: &mut Cx<'_>, v: Option<&Node>) -> Mgmt {
        let default = |s: &str| s.parse::<Prefix>().expect("a valid default prefix");
        let span = v.map_or(Span::new(0, 0), |v| v.span);
        let mut m = Mgmt {
            network: Spanned::new("clab".into(), span),
            ipv4: Spanned::new(default("172.20.20.0/24"), span),
            ipv6: Spanned::new(default("3fff:172:20:20::/64"), span),
            mtu: None,
        };
        let Some(entries) = v.and_then(|v| cx.mapping(v, "mgmt")) else {
            return m;
        };
        for (k, val) in entries {
            let Some(key) = k.as_str() else { continue };
            if let Some((_, why)) = NOT_APPLIED.iter().find(|(n, _)| *n == key) {
                ignored(cx, k.span, &format!("`mgmt.{key}`"), why);
                continue;
            }
            match key {
                "network" => {
                    if let Some(n) = cx.string(val, "mgmt.network") {
                        m.network = n;
                    }
                }
                "ipv4-subnet" | "ipv6-subnet" => {
                    let v4 = key == "ipv4-subnet";
                    if val.as_str() == Some("auto") {
                        continue;
                    }
                    if let Some(p) = cx.parse::<Prefix>(val, key) {
                        if p.value.addr.is_ipv4() == v4 {
                            *(if v4 { &mut m.ipv4 } else { &mut m.ipv6 }) = p;
                        } else {
                            cx.error(
                                "warren::wrong-family",
                                p.span,
                                format!(
                                    "`{}` is not an IPv{} prefix",
                                    p.value,
                                    if v4 { 4 } else { 6 }
                                ),
                                "wrong address family",
                            );
                        }
                    }
                }
                "mtu" => {
                    m.mtu = cx
                        .uint(val, "mgmt.mtu", 68, 65535)
                        .and_then(|m| u32::try_from(m).ok());
                }
                _ => {
                    let known: Vec<&str> = APPLIED
                        .iter()
                        .copied()
                        .chain(NOT_APPLIED.iter().map(|(n, _)| *n))
                        .collect();
                    cx.push(
                        crate::Diagnostic::error(
                            "warren::unknown-key",
                            k.span,
                            format!("unknown key `{key}` in mgmt"),
                            "unknown key",
                        )
                        .with_help(format!("expected one of: {}", known.join(", "))),
                    );
                }
            }
        }
        m
    }

    /// Whether a node has a management interface.
    pub(super) fn has(&self, d: &Def) -> bool {
        d.network_mode.as_ref().is_none_or(|m| m.value != "none")
    }

    /// Puts every container node with a management interface on the network.
    pub(super) fn attach(
        &self,
        cx: &mut Cx<'_>,
        nodes: &[(Spanned<String>, Def)],
        out: &mut Built,
    ) {
        let members: Vec<&(Spanned<String>, Def)> =
            nodes.iter().filter(|(_, d)| self.has(d)).collect();
        if members.is_empty() {
            return;
        }
        // The management interface is the node's own: a link may not take it.
        let taken = |ep: &str| {
            ep.split_once(':')
                .is_some_and(|(n, i)| i == IFACE && members.iter().any(|(m, _)| m.value == n))
        };
        let uses: Vec<Span> = out
            .links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .chain(out.networks.iter().flat_map(|n| n.members.iter()))
            .filter(|e| taken(&e.value))
            .map(|e| e.span)
            .collect();
        for span in uses {
            cx.push(
                crate::Diagnostic::error(
                    "warren::endpoint-reused",
                    span,
                    format!("{IFACE} is the node's management interface"),
                    "management interface",
                )
                .with_help("use eth1 and up for links, or `network-mode: none` for a node without management"),
            );
        }
        let fixed = |cx: &mut Cx<'_>, v: &Option<Spanned<String>>, p: &Spanned<Prefix>| {
            let v = v.as_ref()?;
            let addr = v.value.split('/').next().unwrap_or_default();
            match addr.parse::<IpAddr>() {
                Ok(a) if p.value.contains(a) => Some(Spanned::new(
                    IfAddr {
                        addr: a,
                        prefix: p.value.len,
                    },
                    v.span,
                )),
                Ok(_) => {
                    cx.error(
                        "warren::subnet-mismatch",
                        v.span,
                        format!("{} is outside the management subnet {}", v.value, p.value),
                        "outside the subnet",
                    );
                    None
                }
                Err(_) => {
                    cx.error(
                        "warren::bad-value",
                        v.span,
                        format!("invalid management address `{}`", v.value),
                        "expected an IP address",
                    );
                    None
                }
            }
        };
        let mut addrs: Vec<Pair> = members
            .iter()
            .map(|(_, d)| {
                (
                    fixed(cx, &d.mgmt_ipv4, &self.ipv4),
                    fixed(cx, &d.mgmt_ipv6, &self.ipv6),
                )
            })
            .collect();
        // Dynamic addresses skip the gateway's (host 0) and every fixed one.
        for v4 in [true, false] {
            let prefix = if v4 { &self.ipv4 } else { &self.ipv6 };
            let pick = |a: &Pair| {
                if v4 { a.0 } else { a.1 }
            };
            let taken: Vec<IpAddr> = addrs
                .iter()
                .filter_map(|a| pick(a).map(|x| x.value.addr))
                .collect();
            let mut next: u128 = 1;
            for (i, (name, _)) in members.iter().enumerate() {
                if pick(&addrs[i]).is_some() {
                    continue;
                }
                let addr = loop {
                    match prefix.value.host(next) {
                        Some(a) if taken.contains(&a.addr) => next += 1,
                        other => break other,
                    }
                };
                next += 1;
                let Some(addr) = addr else {
                    cx.error(
                        "warren::prefix-too-small",
                        prefix.span,
                        format!(
                            "the management subnet {} has too few addresses for node `{}`",
                            prefix.value, name.value
                        ),
                        "too small",
                    );
                    continue;
                };
                let slot = if v4 { &mut addrs[i].0 } else { &mut addrs[i].1 };
                *slot = Some(Spanned::new(addr, name.span));
            }
        }
        let mut net = RawNetwork {
            name: self.network.clone(),
            members: Vec::new(),
            ipv4: None,
            ipv6: None,
            mtu: self.mtu,
            impair: None,
            capture: None,
            patch: false,
        };
        for ((name, _), (v4, v6)) in members.iter().zip(addrs) {
            let ep = Spanned::new(format!("{}:{IFACE}", name.value), name.span);
            net.members.push(ep.clone());
            let mut i = link::interface(ep);
            i.ipv4.extend(v4);
            i.ipv6.extend(v6);
            out.interfaces.push(i);
        }
        out.networks.push(net);
    }
}
