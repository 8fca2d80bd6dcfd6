//! Pure netlink request builders: specs for links, addresses and routes,
//! and [`Batch`], which encodes requests into one buffer, each tagged with
//! a human description. No I/O here; [`crate::Rtnl::execute`] sends a batch.

use std::marker::PhantomData;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    DefaultNla, Emitable, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoMacVtap, InfoVeth, InfoVxlan, LinkAttribute, LinkFlags,
    LinkInfo, LinkMessage, MacVlanMode, Prop,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};

use crate::net::{IpNet, MacAddr};
use crate::netns::Netns;

/// `RTM_NEWLINKPROP` (not in libc yet).
pub(crate) const RTM_NEWLINKPROP: u16 = 108;

/// Length of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;

/// A link named in a request: by name (the kernel resolves it, works for
/// every link request) or by ifindex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkRef {
    /// The interface name (at most 15 bytes) or one of its altnames.
    Name(String),
    /// The interface index in the socket's namespace.
    Index(u32),
}

impl std::fmt::Display for LinkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkRef::Name(n) => f.write_str(n),
            LinkRef::Index(i) => write!(f, "ifindex {i}"),
        }
    }
}

impl From<&str> for LinkRef {
    fn from(s: &str) -> Self {
        LinkRef::Name(s.to_owned())
    }
}

impl From<String> for LinkRef {
    fn from(s: String) -> Self {
        LinkRef::Name(s)
    }
}

impl From<&String> for LinkRef {
    fn from(s: &String) -> Self {
        LinkRef::Name(s.clone())
    }
}

impl From<u32> for LinkRef {
    fn from(i: u32) -> Self {
        LinkRef::Index(i)
    }
}

/// Common settings of a new link (also each end of a veth pair).
///
/// `netns: None` means "the namespace of the socket the batch is sent on".
#[derive(Debug, Clone)]
pub struct LinkSpec<'a> {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// Namespace to create the link in directly; `None`: the socket's.
    pub netns: Option<&'a Netns>,
    /// MTU; `None` keeps the kernel default (1500).
    pub mtu: Option<u32>,
    /// MAC address; `None` lets the kernel pick a random one.
    pub mac: Option<MacAddr>,
    /// Requested ifindex in the target namespace; `None`: the kernel
    /// allocates one. Fixed indexes let a caller address links in the same
    /// batch without a lookup (see the crate docs).
    pub ifindex: Option<u32>,
    /// Create the link administratively up (see [`LinkSpec::up`]).
    pub up: bool,
}

impl<'a> LinkSpec<'a> {
    /// A link named `name` in the socket's namespace, defaults elsewhere.
    pub fn new(name: impl Into<String>) -> Self {
        LinkSpec {
            name: name.into(),
            netns: None,
            mtu: None,
            mac: None,
            ifindex: None,
            up: false,
        }
    }

    /// Puts the link directly into `netns`.
    pub fn netns(mut self, netns: &'a Netns) -> Self {
        self.netns = Some(netns);
        self
    }

    /// Sets the MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Sets the MAC address.
    pub fn mac(mut self, mac: MacAddr) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Requests a fixed ifindex.
    pub fn ifindex(mut self, ifindex: u32) -> Self {
        self.ifindex = Some(ifindex);
        self
    }

    /// Creates the link administratively up.
    ///
    /// Not for the *second* end of a veth pair: the kernel cannot open a
    /// veth end before its peer exists and answers `ENOTCONN`; bring that
    /// end up with [`Batch::set_up`] on its namespace's socket.
    pub fn up(mut self) -> Self {
        self.up = true;
        self
    }

    /// `label:name`, or just `name` when the namespace is the socket's.
    fn display(&self) -> String {
        match self.netns {
            Some(ns) => format!("{}:{}", ns.label(), self.name),
            None => self.name.clone(),
        }
    }

    /// The link message for this spec, without kind-specific info.
    fn message(&self) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = self.ifindex.unwrap_or(0);
        if self.up {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        }
        m.attributes.push(LinkAttribute::IfName(self.name.clone()));
        if let Some(ns) = self.netns {
            m.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        if let Some(mtu) = self.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = self.mac {
            m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        m
    }
}

/// A VXLAN device (created in the socket's namespace or `link.netns`).
#[derive(Debug, Clone)]
pub struct VxlanSpec<'a> {
    /// Name, namespace, MTU, MAC, ifindex of the device.
    pub link: LinkSpec<'a>,
    /// The VXLAN network identifier (24 bits).
    pub vni: u32,
    /// Remote endpoint (unicast) for the default FDB entry, if any.
    pub remote: Option<IpAddr>,
    /// Local source address, if any.
    pub local: Option<IpAddr>,
    /// UDP destination port (IANA: 4789); `None`: kernel default (8472).
    pub dstport: Option<u16>,
    /// Underlying device ifindex (in the namespace the socket is in).
    pub underlay: Option<u32>,
}

/// A macvlan or macvtap child of an interface of the socket's namespace.
#[derive(Debug, Clone)]
pub struct MacvlanSpec<'a> {
    /// Name, namespace, MTU, MAC, ifindex of the device.
    pub link: LinkSpec<'a>,
    /// Index of the parent interface in the socket's namespace.
    pub parent: u32,
    /// `private`, `vepa`, `bridge`, `passthru` or `source`; `None`: the kernel's default (vepa).
    pub mode: Option<String>,
    /// A macvtap (with a tap character device) instead of a macvlan.
    pub tap: bool,
}

/// A route to add or delete in the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix; `0.0.0.0/0` or `::/0` for a default route.
    pub dst: IpNet,
    /// Next hop, same family as `dst`; `None` for an on-link route.
    pub gateway: Option<IpAddr>,
    /// Output interface index; required for on-link routes.
    pub oif: Option<u32>,
    /// Route metric (priority); `None`: 0 for IPv4, 1024 for IPv6.
    pub metric: Option<u32>,
    /// Preferred source address (`src`), one of the namespace's own.
    pub src: Option<IpAddr>,
    /// The gateway is on the link even if no subnet holds it (`onlink`).
    pub onlink: bool,
}

impl RouteSpec {
    /// A route to `dst` via `gateway`.
    pub fn via(dst: IpNet, gateway: IpAddr) -> Self {
        RouteSpec {
            dst: dst.network(),
            gateway: Some(gateway),
            oif: None,
            metric: None,
            src: None,
            onlink: false,
        }
    }

    /// An on-link route to `dst` out of interface `oif`.
    pub fn dev(dst: IpNet, oif: u32) -> Self {
        RouteSpec {
            dst: dst.network(),
            gateway: None,
            oif: Some(oif),
            metric: None,
            src: None,
            onlink: false,
        }
    }

    /// Sets the output interface.
    pub fn oif(mut self, oif: u32) -> Self {
        self.oif = Some(oif);
        self
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    /// Sets the preferred source address.
    pub fn src(mut self, src: IpAddr) -> Self {
        self.src = Some(src);
        self
    }

    /// Takes the gateway as on the link.
    pub fn onlink(mut self) -> Self {
        self.onlink = true;
        self
    }

    fn message(&self) -> RouteMessage {
        let mut m = RouteMessage::default();
        let v4 = self.dst.is_ipv4();
        m.header.address_family = if v4 {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.destination_prefix_length = self.dst.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Static;
        m.header.kind = RouteType::Unicast;
        m.header.scope = if self.gateway.is_none() && v4 {
            RouteScope::Link
        } else {
            RouteScope::Universe
        };
        if self.dst.prefix_len() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    self.dst.network().addr(),
                )));
        }
        if let Some(gw) = self.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        if let Some(oif) = self.oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        if let Some(metric) = self.metric {
            m.attributes.push(RouteAttribute::Priority(metric));
        }
        if let Some(src) = self.src {
            m.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if self.onlink {
            m.header.flags |= RouteFlags::Onlink;
        }
        m
    }
}

/// One queued request: where its bytes are in the batch buffer and what it
/// does, in words, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) offset: usize,
    pub(crate) len: usize,
    pub(crate) description: String,
}

/// A queue of route-netlink requests, encoded as they are added, sent
/// together by [`crate::Rtnl::execute`].
///
/// Each request carries a description ("creating veth r1:eth1 <->
/// r2:eth1"); a failed request's error names it. Descriptions are generated
/// from the batch's namespace label and the arguments; override the last
/// one with [`Batch::describe`].
///
/// The lifetime ties the batch to the [`Netns`] values it refers to (veth
/// and other links created directly in a namespace carry its fd number), so
/// a namespace cannot be closed while a batch still names it.
///
/// Requests are executed in order; a failure does not stop later requests
/// (the kernel has them already), so a batch reports every failure.
#[derive(Debug, Clone, Default)]
pub struct Batch<'a> {
    label: String,
    pub(crate) buf: Vec<u8>,
    pub(crate) entries: Vec<Entry>,
    _netns: PhantomData<&'a Netns>,
}

impl<'a> Batch<'a> {
    /// An empty batch whose default descriptions name links as
    /// `label:ifname`; use the label of the namespace whose socket will run
    /// it (see [`crate::Rtnl::batch`]).
    pub fn new(label: impl Into<String>) -> Self {
        Batch {
            label: label.into(),
            buf: Vec::new(),
            entries: Vec::new(),
            _netns: PhantomData,
        }
    }

    /// Number of queued requests.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no request is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Replaces the description of the last queued request.
    pub fn describe(&mut self, description: impl Into<String>) -> &mut Self {
        if let Some(e) = self.entries.last_mut() {
            e.description = description.into();
        }
        self
    }

    /// The description of each queued request, in order.
    pub fn descriptions(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.description.as_str())
    }

    /// The label of the namespace the batch is for.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn push(
        &mut self,
        msg_type: u16,
        flags: u16,
        payload: &dyn Emitable,
        description: String,
    ) {
        let offset = self.buf.len();
        let payload_len = payload.buffer_len();
        let len = NLMSG_HDRLEN + payload_len;
        let aligned = (len + 3) & !3;
        self.buf.resize(offset + aligned, 0);
        let hdr = &mut self.buf[offset..offset + NLMSG_HDRLEN];
        // The u32 length cannot overflow: netlink messages are bounded by
        // attribute sizes (u16 each) and a handful of attributes.
        hdr[0..4].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
        hdr[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        hdr[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        // seq (8..12) is assigned when sent; pid (12..16) stays 0.
        payload.emit(&mut self.buf[offset + NLMSG_HDRLEN..offset + len]);
        self.entries.push(Entry {
            offset,
            len: aligned,
            description,
        });
    }

    fn name(&self, link: &LinkRef) -> String {
        format!("{}:{}", self.label, link)
    }

    /// Creates a veth pair, each end directly in its namespace
    /// (`LinkSpec::netns`), with name, MTU, MAC and ifindex per end, in one
    /// request that may be sent on any namespace's socket. Fails with
    /// `EEXIST` if a name is taken, `EBUSY` if a requested ifindex is.
    ///
    /// Only `a` may be created up (`b.up` fails with `ENOTCONN`, see
    /// [`LinkSpec::up`]). The kernel ignores an alias at creation: set it
    /// afterwards with [`Batch::set_alias`] in the end's namespace.
    pub fn create_veth(&mut self, a: LinkSpec<'a>, b: LinkSpec<'a>) -> &mut Self {
        let description = format!("creating veth {} <-> {}", a.display(), b.display());
        let peer = b.message();
        let mut m = a.message();
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.push(
            libc::RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &m,
            description,
        );
        self
    }

    /// Creates a bridge (STP off, the kernel default).
    pub fn create_bridge(&mut self, spec: LinkSpec<'a>) -> &mut Self {
        let description = format!("creating bridge {}", self.spec_name(&spec));
        let mut m = spec.message();
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.push(
            libc::RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &m,
            description,
        );
        self
    }

    /// Creates a VXLAN device.
    pub fn create_vxlan(&mut self, spec: VxlanSpec<'a>) -> &mut Self {
        let description = format!(
            "creating vxlan {} (vni {})",
            self.spec_name(&spec.link),
            spec.vni
        );
        let mut data = vec![InfoVxlan::Id(spec.vni)];
        match spec.remote {
            Some(IpAddr::V4(a)) => data.push(InfoVxlan::Group(a)),
            Some(IpAddr::V6(a)) => data.push(InfoVxlan::Group6(a)),
            None => {}
        }
        match spec.local {
            Some(IpAddr::V4(a)) => data.push(InfoVxlan::Local(a)),
            Some(IpAddr::V6(a)) => data.push(InfoVxlan::Local6(a)),
            None => {}
        }
        if let Some(port) = spec.dstport {
            data.push(InfoVxlan::Port(port));
        }
        if let Some(dev) = spec.underlay {
            data.push(InfoVxlan::Link(dev));
        }
        let mut m = spec.link.message();
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        self.push(
            libc::RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &m,
            description,
        );
        self
    }

    /// Creates a macvlan or macvtap device on `spec.parent`. An unknown
    /// mode name is sent as the kernel's default.
    pub fn create_macvlan(&mut self, spec: MacvlanSpec<'a>) -> &mut Self {
        let kind = if spec.tap { "macvtap" } else { "macvlan" };
        let description = format!("creating {kind} {}", self.spec_name(&spec.link));
        let mode = match spec.mode.as_deref() {
            Some("private") => Some(MacVlanMode::Private),
            Some("vepa") => Some(MacVlanMode::Vepa),
            Some("bridge") => Some(MacVlanMode::Bridge),
            Some("passthru") => Some(MacVlanMode::Passthrough),
            Some("source") => Some(MacVlanMode::Source),
            _ => None,
        };
        let info = if spec.tap {
            vec![
                LinkInfo::Kind(InfoKind::MacVtap),
                LinkInfo::Data(InfoData::MacVtap(
                    mode.into_iter().map(InfoMacVtap::Mode).collect(),
                )),
            ]
        } else {
            vec![
                LinkInfo::Kind(InfoKind::MacVlan),
                LinkInfo::Data(InfoData::MacVlan(
                    mode.into_iter().map(InfoMacVlan::Mode).collect(),
                )),
            ]
        };
        let mut m = spec.link.message();
        m.attributes.push(LinkAttribute::Link(spec.parent));
        m.attributes.push(LinkAttribute::LinkInfo(info));
        self.push(
            libc::RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &m,
            description,
        );
        self
    }

    fn spec_name(&self, spec: &LinkSpec<'_>) -> String {
        match spec.netns {
            Some(_) => spec.display(),
            None => format!("{}:{}", self.label, spec.name),
        }
    }

    /// A change message for an existing link.
    fn set_message(link: &LinkRef) -> LinkMessage {
        let mut m = LinkMessage::default();
        match link {
            LinkRef::Name(n) => m.attributes.push(name_attr(n)),
            LinkRef::Index(i) => m.header.index = *i,
        }
        m
    }

    fn set_link(&mut self, m: LinkMessage, description: String) -> &mut Self {
        // RTM_NEWLINK without NLM_F_CREATE changes an existing link and,
        // unlike RTM_SETLINK, accepts a link named by IFLA_IFNAME alone.
        self.push(libc::RTM_NEWLINK, 0, &m, description);
        self
    }

    /// Sets a link administratively up.
    pub fn set_up(&mut self, link: impl Into<LinkRef>) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        let d = format!("setting {} up", self.name(&link));
        self.set_link(m, d)
    }

    /// Sets a link administratively down.
    pub fn set_down(&mut self, link: impl Into<LinkRef>) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.header.change_mask = LinkFlags::Up;
        let d = format!("setting {} down", self.name(&link));
        self.set_link(m, d)
    }

    /// Sets a link's MTU.
    pub fn set_mtu(&mut self, link: impl Into<LinkRef>, mtu: u32) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        let d = format!("setting mtu {mtu} on {}", self.name(&link));
        self.set_link(m, d)
    }

    /// Renames link `ifindex`. A link that is up may be renamed on this
    /// kernel (6.18, checked by warren's scaling tests); older kernels
    /// answer `EBUSY`.
    pub fn rename(&mut self, ifindex: u32, name: &str) -> &mut Self {
        let link = LinkRef::Index(ifindex);
        let mut m = Self::set_message(&link);
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let d = format!("renaming {} to {name}", self.name(&link));
        self.set_link(m, d)
    }

    /// Sets a link's MAC address.
    pub fn set_mac(&mut self, link: impl Into<LinkRef>, mac: MacAddr) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        let d = format!("setting mac {mac} on {}", self.name(&link));
        self.set_link(m, d)
    }

    /// Sets a link's alias (`ifalias`), e.g. an ownership tag such as
    /// `warren:LAB`, shown by `ip link` and [`crate::LinkInfo::alias`].
    pub fn set_alias(&mut self, link: impl Into<LinkRef>, alias: &str) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.attributes.push(LinkAttribute::IfAlias(alias.to_owned()));
        let d = format!("setting alias {alias:?} on {}", self.name(&link));
        self.set_link(m, d)
    }

    /// Adds an alternative name (`altname`, up to 127 bytes) to a link, e.g.
    /// an ownership tag; `ip link show` lists it and it can be used
    /// wherever the name can. `EEXIST` if another link has it.
    pub fn add_altname(&mut self, link: impl Into<LinkRef>, altname: &str) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.attributes
            .push(LinkAttribute::PropList(vec![Prop::AltIfName(
                altname.to_owned(),
            )]));
        let d = format!("adding altname {altname} to {}", self.name(&link));
        self.push(RTM_NEWLINKPROP, NLM_F_CREATE | NLM_F_EXCL, &m, d);
        self
    }

    /// Enslaves `link` to the bridge with ifindex `bridge` (in the same
    /// namespace).
    pub fn set_master(&mut self, link: impl Into<LinkRef>, bridge: u32) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.attributes.push(LinkAttribute::Controller(bridge));
        let d = format!("adding {} to bridge ifindex {bridge}", self.name(&link));
        self.set_link(m, d)
    }

    /// Removes `link` from its bridge.
    pub fn set_nomaster(&mut self, link: impl Into<LinkRef>) -> &mut Self {
        let link = link.into();
        let mut m = Self::set_message(&link);
        m.attributes.push(LinkAttribute::Controller(0));
        let d = format!("removing {} from its bridge", self.name(&link));
        self.set_link(m, d)
    }

    /// Deletes a link (both ends, for a veth). `ENODEV` if it is absent.
    pub fn delete_link(&mut self, link: impl Into<LinkRef>) -> &mut Self {
        let link = link.into();
        let m = Self::set_message(&link);
        let d = format!("deleting link {}", self.name(&link));
        self.push(libc::RTM_DELLINK, 0, &m, d);
        self
    }

    fn address_message(ifindex: u32, addr: IpNet) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.index = ifindex;
        m.header.prefix_len = addr.prefix_len();
        m.header.scope = AddressScope::Universe;
        match addr.addr() {
            IpAddr::V4(a) => {
                m.header.family = AddressFamily::Inet;
                m.attributes.push(AddressAttribute::Local(IpAddr::V4(a)));
                m.attributes.push(AddressAttribute::Address(IpAddr::V4(a)));
                if let Some(b) = addr.broadcast() {
                    m.attributes.push(AddressAttribute::Broadcast(b));
                }
            }
            IpAddr::V6(a) => {
                m.header.family = AddressFamily::Inet6;
                m.header.flags = AddressHeaderFlags::Nodad;
                m.attributes.push(AddressAttribute::Address(IpAddr::V6(a)));
                m.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        m
    }

    /// Adds an address to the link `ifindex`: IPv4 with its broadcast
    /// address, IPv6 with `IFA_F_NODAD` so it is usable at once. `EEXIST`
    /// if the address is already there.
    pub fn add_address(&mut self, ifindex: u32, addr: IpNet) -> &mut Self {
        let m = Self::address_message(ifindex, addr);
        let d = format!("adding address {addr} to {}:ifindex {ifindex}", self.label);
        self.push(libc::RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &m, d);
        self
    }

    /// Adds an address to the link `ifindex`, or refreshes it when it is
    /// already there (as [`Batch::add_address`], without `EEXIST`).
    pub fn replace_address(&mut self, ifindex: u32, addr: IpNet) -> &mut Self {
        let m = Self::address_message(ifindex, addr);
        let d = format!(
            "replacing address {addr} on {}:ifindex {ifindex}",
            self.label
        );
        self.push(libc::RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &m, d);
        self
    }

    /// Removes an address from the link `ifindex`.
    pub fn delete_address(&mut self, ifindex: u32, addr: IpNet) -> &mut Self {
        let m = Self::address_message(ifindex, addr);
        let d = format!(
            "deleting address {addr} from {}:ifindex {ifindex}",
            self.label
        );
        self.push(libc::RTM_DELADDR, 0, &m, d);
        self
    }

    /// Adds a route to the main table (`EEXIST` if present).
    pub fn add_route(&mut self, route: &RouteSpec) -> &mut Self {
        let d = format!("adding route {} in {}", describe_route(route), self.label);
        self.push(
            libc::RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL,
            &route.message(),
            d,
        );
        self
    }

    /// Adds or replaces a route in the main table.
    pub fn replace_route(&mut self, route: &RouteSpec) -> &mut Self {
        let d = format!(
            "replacing route {} in {}",
            describe_route(route),
            self.label
        );
        self.push(
            libc::RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_REPLACE,
            &route.message(),
            d,
        );
        self
    }

    /// Deletes a route from the main table.
    pub fn delete_route(&mut self, route: &RouteSpec) -> &mut Self {
        let d = format!("deleting route {} in {}", describe_route(route), self.label);
        self.push(libc::RTM_DELROUTE, 0, &route.message(), d);
        self
    }
}

fn describe_route(r: &RouteSpec) -> String {
    let mut s = if r.dst.prefix_len() == 0 {
        "default".to_owned()
    } else {
        r.dst.to_string()
    };
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = r.oif {
        s.push_str(&format!(" dev ifindex {oif}"));
    }
    if let Some(m) = r.metric {
        s.push_str(&format!(" metric {m}"));
    }
    if let Some(src) = r.src {
        s.push_str(&format!(" src {src}"));
    }
    if r.onlink {
        s.push_str(" onlink");
    }
    s
}

/// `IFLA_ALT_IFNAME`: look a link up by one of its altnames.
const IFLA_ALT_IFNAME: u16 = 53;

/// The attribute naming an existing link: `IFLA_IFNAME` for names that fit
/// in `IFNAMSIZ`, `IFLA_ALT_IFNAME` for longer (alternative) names.
fn name_attr(name: &str) -> LinkAttribute {
    if name.len() < libc::IFNAMSIZ {
        LinkAttribute::IfName(name.to_owned())
    } else {
        let mut v = name.as_bytes().to_vec();
        v.push(0);
        LinkAttribute::Other(DefaultNla::new(IFLA_ALT_IFNAME, v))
    }
}

/// Encodes a dump request (`NLM_F_DUMP`) of type `msg_type` for `family`.
pub(crate) fn dump_request(msg_type: u16, family: AddressFamily) -> Vec<u8> {
    let mut b = Batch::new("");
    match msg_type {
        libc::RTM_GETADDR => {
            let mut m = AddressMessage::default();
            m.header.family = family;
            b.push(msg_type, NLM_F_DUMP, &m, String::new());
        }
        libc::RTM_GETROUTE => {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            b.push(msg_type, NLM_F_DUMP, &m, String::new());
        }
        _ => {
            let mut m = LinkMessage::default();
            m.header.interface_family = family;
            b.push(msg_type, NLM_F_DUMP, &m, String::new());
        }
    }
    // Dumps are answered by data and NLMSG_DONE, not by an ACK.
    let mut buf = b.buf;
    let flags = u16::from_ne_bytes([buf[6], buf[7]]) & !NLM_F_ACK;
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf
}

/// Encodes an `RTM_GETLINK` for one link by name (answered by one
/// `RTM_NEWLINK`, then an ACK).
pub(crate) fn getlink_request(name: &str) -> Vec<u8> {
    let mut b = Batch::new("");
    let mut m = LinkMessage::default();
    m.attributes.push(name_attr(name));
    b.push(libc::RTM_GETLINK, 0, &m, String::new());
    b.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(buf: &[u8]) -> (u32, u16, u16) {
        (
            u32::from_ne_bytes(buf[0..4].try_into().unwrap()),
            u16::from_ne_bytes(buf[4..6].try_into().unwrap()),
            u16::from_ne_bytes(buf[6..8].try_into().unwrap()),
        )
    }

    #[test]
    fn batch_encodes_back_to_back_messages() {
        let mut b = Batch::new("r1");
        b.set_up("eth1");
        b.add_address(3, "10.0.0.1/30".parse().unwrap());
        b.add_address(3, "2001:db8::1/64".parse().unwrap())
            .describe("custom");
        assert_eq!(b.len(), 3);
        let d: Vec<_> = b.descriptions().collect();
        assert_eq!(
            d,
            [
                "setting r1:eth1 up",
                "adding address 10.0.0.1/30 to r1:ifindex 3",
                "custom"
            ]
        );
        let mut off = 0;
        for e in &b.entries {
            assert_eq!(e.offset, off);
            let (len, _, flags) = hdr(&b.buf[off..]);
            assert!(len as usize <= e.len);
            assert_eq!(e.len % 4, 0);
            assert_ne!(flags & NLM_F_ACK, 0);
            assert_ne!(flags & NLM_F_REQUEST, 0);
            off += e.len;
        }
        assert_eq!(off, b.buf.len());
        let (_, t, _) = hdr(&b.buf[b.entries[1].offset..]);
        assert_eq!(t, libc::RTM_NEWADDR);
    }

    #[test]
    fn v4_address_has_broadcast_v6_has_nodad() {
        let m = Batch::address_message(2, "10.1.0.1/24".parse().unwrap());
        assert!(
            m.attributes
                .contains(&AddressAttribute::Broadcast("10.1.0.255".parse().unwrap()))
        );
        let m = Batch::address_message(2, "10.1.0.1/31".parse().unwrap());
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Broadcast(_)))
        );
        let m = Batch::address_message(2, "2001:db8::1/64".parse().unwrap());
        assert!(
            m.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad))
        );
    }

    #[test]
    fn replacing_an_address_may_create_it_and_never_fails_on_eexist() {
        let mut b = Batch::new("r1");
        b.replace_address(3, "2001:db8::1/64".parse().unwrap());
        let (_, t, flags) = hdr(&b.buf);
        assert_eq!(t, libc::RTM_NEWADDR);
        assert_ne!(flags & NLM_F_REPLACE, 0);
        assert_ne!(flags & NLM_F_CREATE, 0);
        assert_eq!(flags & NLM_F_EXCL, 0);
    }

    #[test]
    fn default_route_has_no_destination() {
        let r =
            RouteSpec::via("0.0.0.0/0".parse().unwrap(), "10.0.0.1".parse().unwrap()).metric(10);
        let m = r.message();
        assert_eq!(m.header.destination_prefix_length, 0);
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Destination(_)))
        );
        assert!(m.attributes.contains(&RouteAttribute::Priority(10)));
        assert_eq!(describe_route(&r), "default via 10.0.0.1 metric 10");
        let r = RouteSpec::dev("10.9.0.0/16".parse().unwrap(), 4);
        assert_eq!(r.message().header.scope, RouteScope::Link);
    }

    #[test]
    fn dump_request_has_no_ack() {
        let b = dump_request(libc::RTM_GETLINK, AddressFamily::Unspec);
        let (_, t, flags) = hdr(&b);
        assert_eq!(t, libc::RTM_GETLINK);
        assert_eq!(flags & NLM_F_ACK, 0);
        assert_eq!(flags & NLM_F_DUMP, NLM_F_DUMP);
    }
}
