//! Plain views of links, addresses and routes, as listed by
//! [`crate::Rtnl::links`], [`crate::Rtnl::addresses`] and
//! [`crate::Rtnl::routes`] (for `warren inspect`).

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, Prop, State,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};

use crate::net::{IpNet, MacAddr};

/// Operational state of a link (`IFLA_OPERSTATE`, RFC 2863).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperState {
    /// Up and able to pass packets.
    Up,
    /// Down.
    Down,
    /// Down because a lower device is down (e.g. veth peer down).
    LowerLayerDown,
    /// Unknown (typical for `lo` and tap devices without a reader).
    Unknown,
    /// Dormant, testing or not present.
    Other,
}

/// One link as listed by [`crate::Rtnl::links`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Link kind from `IFLA_INFO_KIND` (`veth`, `bridge`, `vxlan`, `tun`
    /// …), `None` for `lo` and physical devices.
    pub kind: Option<String>,
    /// MAC address, if the link has a 6-byte one.
    pub mac: Option<MacAddr>,
    /// MTU.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// Has carrier now (`IFF_LOWER_UP`). Unlike [`LinkInfo::oper_state`],
    /// which the kernel's link watch updates up to a second later for
    /// devices such as taps, this is the driver's current state.
    pub lower_up: bool,
    /// Operational state.
    pub oper_state: OperState,
    /// Ifindex of the bridge it belongs to, if any.
    pub master: Option<u32>,
    /// Interface alias, if set.
    pub alias: Option<String>,
    /// Alternative names (`altname`).
    pub altnames: Vec<String>,
    /// Kind of the root qdisc on its egress (`noqueue`, `tbf`, `netem` …).
    pub qdisc: Option<String>,
}

impl LinkInfo {
    pub(crate) fn from_message(m: &LinkMessage) -> LinkInfo {
        let mut info = LinkInfo {
            index: m.header.index,
            name: String::new(),
            kind: None,
            mac: None,
            mtu: 0,
            admin_up: m.header.flags.contains(LinkFlags::Up),
            lower_up: m.header.flags.contains(LinkFlags::LowerUp),
            oper_state: OperState::Unknown,
            master: None,
            alias: None,
            altnames: Vec::new(),
            qdisc: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => info.name.clone_from(n),
                LinkAttribute::Mtu(v) => info.mtu = *v,
                LinkAttribute::Address(b) => {
                    if let Ok(b) = <[u8; 6]>::try_from(b.as_slice()) {
                        info.mac = Some(MacAddr(b));
                    }
                }
                LinkAttribute::Controller(i) => info.master = Some(*i),
                LinkAttribute::IfAlias(s) => info.alias = Some(s.clone()),
                LinkAttribute::Qdisc(q) => info.qdisc = Some(q.clone()),
                LinkAttribute::PropList(props) => {
                    for p in props {
                        if let Prop::AltIfName(n) = p {
                            info.altnames.push(n.clone());
                        }
                    }
                }
                LinkAttribute::OperState(s) => {
                    info.oper_state = match s {
                        State::Up => OperState::Up,
                        State::Down => OperState::Down,
                        State::LowerLayerDown => OperState::LowerLayerDown,
                        State::Unknown => OperState::Unknown,
                        _ => OperState::Other,
                    }
                }
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let NlLinkInfo::Kind(k) = i {
                            info.kind = Some(kind_name(k));
                        }
                    }
                }
                _ => {}
            }
        }
        info
    }
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Other(s) => s.clone(),
        k => k.to_string(),
    }
}

/// One address as listed by [`crate::Rtnl::addresses`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddrInfo {
    /// Index of the link holding the address.
    pub ifindex: u32,
    /// The address with its prefix length.
    pub addr: IpNet,
}

impl AddrInfo {
    pub(crate) fn from_message(m: &AddressMessage) -> Option<AddrInfo> {
        // IFA_LOCAL is the interface's own address on point-to-point links;
        // otherwise IFA_ADDRESS.
        let mut addr = None;
        let mut local = None;
        for a in &m.attributes {
            match a {
                AddressAttribute::Address(ip) => addr = Some(*ip),
                AddressAttribute::Local(ip) => local = Some(*ip),
                _ => {}
            }
        }
        let ip: IpAddr = local.or(addr)?;
        Some(AddrInfo {
            ifindex: m.header.index,
            addr: IpNet::new(ip, m.header.prefix_len).ok()?,
        })
    }
}

/// One route as listed by [`crate::Rtnl::routes`] (main table, unicast).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteInfo {
    /// Destination prefix (`0.0.0.0/0` / `::/0` for default).
    pub dst: IpNet,
    /// Next hop, if any.
    pub gateway: Option<IpAddr>,
    /// Output interface index, if any.
    pub oif: Option<u32>,
    /// Metric (priority), if set.
    pub metric: Option<u32>,
}

impl RouteInfo {
    pub(crate) fn from_message(m: &RouteMessage) -> Option<RouteInfo> {
        if m.header.table != RouteHeader::RT_TABLE_MAIN || m.header.kind != RouteType::Unicast {
            return None;
        }
        let v4 = matches!(
            m.header.address_family,
            netlink_packet_route::AddressFamily::Inet
        );
        let mut dst = None;
        let mut info = RouteInfo {
            dst: IpNet::new(IpAddr::from([0u8; 4]), 0).ok()?,
            gateway: None,
            oif: None,
            metric: None,
        };
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => dst = route_ip(d),
                RouteAttribute::Gateway(g) => info.gateway = route_ip(g),
                RouteAttribute::Oif(i) => info.oif = Some(*i),
                RouteAttribute::Priority(p) => info.metric = Some(*p),
                _ => {}
            }
        }
        let dst = match dst {
            Some(d) => d,
            None if v4 => IpAddr::from([0u8; 4]),
            None => IpAddr::from([0u16; 8]),
        };
        info.dst = IpNet::new(dst, m.header.destination_prefix_length).ok()?;
        Some(info)
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
