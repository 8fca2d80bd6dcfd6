//! `FakeNetOps`: an in-memory [`NetOps`] for tests without root. It decodes
//! every batched request exactly as built for the kernel, applies it to a
//! small model (namespaces, links, addresses, routes, sysctls, taps), logs
//! it, and answers the kernel's errno for the common failures (`EEXIST`,
//! `ENODEV`, `EBUSY`, `EADDRNOTAVAIL`, `ESRCH`), or one a test asks for
//! ([`FakeNetOps::fail`]).
//!
//! Fake namespaces are [`Netns`] values wrapping an fd on `/dev/null`; use
//! them only through the `FakeNetOps` that made them. Namespaces opened by
//! name ([`NetOps::open_netns`], the host's with `None`) are made on first
//! use, and every later open of the same name reaches the same one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

use netlink_packet_core::{NLM_F_CREATE, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoVeth, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, Prop,
};
use netlink_packet_route::route::RouteMessage;

use crate::inspect::{AddrInfo, LinkInfo, OperState, RouteInfo};
use crate::msg::{Batch, RTM_NEWLINKPROP};
use crate::net::{IpNet, MacAddr};
use crate::netns::{Netns, NetnsError};
use crate::ops::NetOps;
use crate::rtnl::{BatchError, RequestError, RtnlError};
use crate::tap::TapOptions;
use crate::{KernelError, LinkRef};

/// One logged call on a [`FakeNetOps`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeCall {
    /// Label of the namespace the call was made on.
    pub netns: String,
    /// The request's description (as in errors), or the call's name.
    pub description: String,
    /// The errno the fake answered, if it refused.
    pub errno: Option<i32>,
}

#[derive(Debug, Clone)]
struct FakeLink {
    info: LinkInfo,
    /// The other end of a veth: namespace key and ifindex.
    peer: Option<(RawFd, u32)>,
}

#[derive(Debug, Default)]
struct FakeNs {
    links: Vec<FakeLink>,
    next_index: u32,
    addrs: Vec<AddrInfo>,
    routes: Vec<RouteInfo>,
    sysctls: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    ns: HashMap<RawFd, FakeNs>,
    log: Vec<FakeCall>,
    /// Fds of namespaces opened by name, to the key of the one they open.
    alias: HashMap<RawFd, RawFd>,
    /// Namespaces opened by name, held so that their keys stay unique.
    named: HashMap<String, Netns>,
    /// Requests to refuse: description and errno.
    fail: Vec<(String, i32)>,
    /// Namespace keys whose sockets are held (`hold_sockets`).
    held: HashSet<RawFd>,
    /// The most sockets held at once.
    peak_held: usize,
}

/// An in-memory [`NetOps`]; see the module docs.
#[derive(Debug, Default)]
pub struct FakeNetOps {
    state: Mutex<State>,
}

impl FakeNetOps {
    /// An empty fake.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state().log.clone()
    }

    /// A sysctl value set in a fake namespace.
    pub fn sysctl(&self, netns: &Netns, key: &str) -> Option<String> {
        let st = self.state();
        st.ns
            .get(&st.key(netns.as_raw_fd()))
            .and_then(|n| n.sysctls.get(key).cloned())
    }

    /// How many namespaces hold a socket now (opened by
    /// [`NetOps::hold_sockets`] and not released).
    pub fn held_sockets(&self) -> usize {
        self.state().held.len()
    }

    /// The most sockets held at once so far.
    pub fn peak_held_sockets(&self) -> usize {
        self.state().peak_held
    }

    /// Makes every later request described as `description` fail with
    /// `errno`, as the kernel would refuse it; the rest of its batch still
    /// runs.
    pub fn fail(&self, description: &str, errno: i32) {
        self.state().fail.push((description.to_owned(), errno));
    }
}

/// A fake namespace: an fd nothing else uses, and the model of a fresh
/// namespace (only `lo`, down).
fn fake_netns(label: &str) -> Result<(Netns, FakeNs), KernelError> {
    let fd: OwnedFd = std::fs::File::open("/dev/null")
        .map_err(|source| {
            KernelError::Netns(NetnsError::Create {
                netns: label.to_owned(),
                source,
            })
        })?
        .into();
    let lo = LinkInfo {
        index: 1,
        name: "lo".into(),
        kind: None,
        mac: Some(MacAddr([0; 6])),
        mtu: 65536,
        admin_up: false,
        lower_up: false,
        oper_state: OperState::Down,
        master: None,
        alias: None,
        altnames: Vec::new(),
        qdisc: None,
    };
    let model = FakeNs {
        links: vec![FakeLink {
            info: lo,
            peer: None,
        }],
        next_index: 2,
        ..FakeNs::default()
    };
    Ok((Netns::from_fd(fd, label.to_owned()), model))
}

fn fake_ns_missing(netns: &Netns) -> KernelError {
    KernelError::Netns(NetnsError::Enter {
        netns: netns.label().to_owned(),
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })
}

impl State {
    /// The key of the namespace `fd` reaches.
    fn key(&self, fd: RawFd) -> RawFd {
        self.alias.get(&fd).copied().unwrap_or(fd)
    }

    fn ns_mut(&mut self, key: RawFd) -> Result<&mut FakeNs, i32> {
        self.ns.get_mut(&key).ok_or(libc::EINVAL)
    }

    fn find(&self, key: RawFd, link: &LinkRef) -> Result<usize, i32> {
        let ns = self.ns.get(&key).ok_or(libc::EINVAL)?;
        ns.links
            .iter()
            .position(|l| match link {
                LinkRef::Index(i) => l.info.index == *i,
                LinkRef::Name(n) => l.info.name == *n || l.info.altnames.contains(n),
            })
            .ok_or(libc::ENODEV)
    }

    /// Adds a link; returns its ifindex.
    fn add_link(&mut self, key: RawFd, m: &LinkMessage, kind: Option<&str>) -> Result<u32, i32> {
        let name = link_name(m).ok_or(libc::EINVAL)?;
        let ns = self.ns_mut(key)?;
        if ns.links.iter().any(|l| l.info.name == name) {
            return Err(libc::EEXIST);
        }
        let index = if m.header.index != 0 {
            if ns.links.iter().any(|l| l.info.index == m.header.index) {
                return Err(libc::EBUSY);
            }
            m.header.index
        } else {
            while ns.links.iter().any(|l| l.info.index == ns.next_index) {
                ns.next_index += 1;
            }
            ns.next_index
        };
        let mut info = LinkInfo {
            index,
            name,
            kind: kind.map(str::to_owned),
            mac: None,
            mtu: 1500,
            admin_up: false,
            lower_up: false,
            oper_state: OperState::Down,
            master: None,
            alias: None,
            altnames: Vec::new(),
            qdisc: None,
        };
        apply_link_attrs(&mut info, m);
        ns.links.push(FakeLink { info, peer: None });
        Ok(index)
    }

    fn apply(&mut self, key: RawFd, msg: RouteNetlinkMessage, flags: u16) -> Result<(), i32> {
        match msg {
            RouteNetlinkMessage::NewLink(m) if flags & NLM_F_CREATE != 0 => {
                self.create_link(key, &m)
            }
            RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::SetLink(m) => {
                let i = self.find(key, &link_ref(&m))?;
                let ns = self.ns_mut(key)?;
                apply_link_attrs(&mut ns.links[i].info, &m);
                Ok(())
            }
            RouteNetlinkMessage::NewLinkProp(m) => {
                let i = self.find(key, &link_ref(&m))?;
                let ns = self.ns_mut(key)?;
                for a in &m.attributes {
                    if let LinkAttribute::PropList(props) = a {
                        for p in props {
                            if let Prop::AltIfName(n) = p {
                                ns.links[i].info.altnames.push(n.clone());
                            }
                        }
                    }
                }
                Ok(())
            }
            RouteNetlinkMessage::DelLink(m) => {
                let i = self.find(key, &link_ref(&m))?;
                let ns = self.ns_mut(key)?;
                let link = ns.links.remove(i);
                let index = link.info.index;
                ns.addrs.retain(|a| a.ifindex != index);
                ns.routes.retain(|r| r.oif != Some(index));
                if let Some((pk, pi)) = link.peer
                    && let Some(pns) = self.ns.get_mut(&pk)
                {
                    pns.links.retain(|l| l.info.index != pi);
                    pns.addrs.retain(|a| a.ifindex != pi);
                    pns.routes.retain(|r| r.oif != Some(pi));
                }
                Ok(())
            }
            RouteNetlinkMessage::NewAddress(m) => {
                let a = addr_of(&m).ok_or(libc::EINVAL)?;
                self.find(key, &LinkRef::Index(a.ifindex))?;
                let ns = self.ns_mut(key)?;
                if ns.addrs.contains(&a) {
                    if flags & netlink_packet_core::NLM_F_REPLACE == 0 {
                        return Err(libc::EEXIST);
                    }
                } else {
                    ns.addrs.push(a);
                }
                Ok(())
            }
            RouteNetlinkMessage::DelAddress(m) => {
                let a = addr_of(&m).ok_or(libc::EINVAL)?;
                let ns = self.ns_mut(key)?;
                let before = ns.addrs.len();
                ns.addrs.retain(|x| *x != a);
                if ns.addrs.len() == before {
                    return Err(libc::EADDRNOTAVAIL);
                }
                Ok(())
            }
            RouteNetlinkMessage::NewRoute(m) => {
                let r = route_of(&m)?;
                if let Some(oif) = r.oif {
                    self.find(key, &LinkRef::Index(oif))?;
                }
                let ns = self.ns_mut(key)?;
                let same = |x: &RouteInfo| x.dst == r.dst && x.metric == r.metric;
                if let Some(pos) = ns.routes.iter().position(same) {
                    if flags & netlink_packet_core::NLM_F_REPLACE == 0 {
                        return Err(libc::EEXIST);
                    }
                    ns.routes[pos] = r;
                } else {
                    ns.routes.push(r);
                }
                Ok(())
            }
            RouteNetlinkMessage::DelRoute(m) => {
                let r = route_of(&m)?;
                let ns = self.ns_mut(key)?;
                let pos = ns
                    .routes
                    .iter()
                    .position(|x| x.dst == r.dst && (r.gateway.is_none() || x.gateway == r.gateway))
                    .ok_or(libc::ESRCH)?;
                ns.routes.remove(pos);
                Ok(())
            }
            _ => Err(libc::EOPNOTSUPP),
        }
    }

    fn create_link(&mut self, key: RawFd, m: &LinkMessage) -> Result<(), i32> {
        let mut kind = None;
        let mut peer = None;
        for a in &m.attributes {
            if let LinkAttribute::LinkInfo(infos) = a {
                for i in infos {
                    match i {
                        NlLinkInfo::Kind(k) => kind = Some(k.to_string()),
                        NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))) => {
                            peer = Some(p.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
        let here = netns_fd(m).map_or(key, |fd| self.key(fd));
        match peer {
            Some(p) => {
                let there = netns_fd(&p).map_or(key, |fd| self.key(fd));
                if p.header.flags.contains(LinkFlags::Up) {
                    return Err(libc::ENOTCONN);
                }
                // Check both names first, as the kernel does.
                let pname = link_name(&p).ok_or(libc::EINVAL)?;
                if self
                    .ns
                    .get(&there)
                    .ok_or(libc::EINVAL)?
                    .links
                    .iter()
                    .any(|l| l.info.name == pname)
                {
                    return Err(libc::EEXIST);
                }
                let pi = self.add_link(there, &p, Some("veth"))?;
                let ai = match self.add_link(here, m, Some("veth")) {
                    Ok(i) => i,
                    Err(e) => {
                        if let Some(ns) = self.ns.get_mut(&there) {
                            ns.links.retain(|l| l.info.index != pi);
                        }
                        return Err(e);
                    }
                };
                self.set_peer(here, ai, (there, pi));
                self.set_peer(there, pi, (here, ai));
                Ok(())
            }
            None => self.add_link(here, m, kind.as_deref()).map(|_| ()),
        }
    }

    fn set_peer(&mut self, key: RawFd, index: u32, peer: (RawFd, u32)) {
        if let Some(l) = self
            .ns
            .get_mut(&key)
            .and_then(|n| n.links.iter_mut().find(|l| l.info.index == index))
        {
            l.peer = Some(peer);
        }
    }
}

fn link_name(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_ref(m: &LinkMessage) -> LinkRef {
    if m.header.index != 0 {
        return LinkRef::Index(m.header.index);
    }
    let alt = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Other(nla) if netlink_packet_core::Nla::kind(nla) == 53 => {
            let mut v = vec![0u8; netlink_packet_core::Nla::value_len(nla)];
            netlink_packet_core::Nla::emit_value(nla, &mut v);
            let s = v.split(|b| *b == 0).next().unwrap_or(&v).to_vec();
            Some(String::from_utf8_lossy(&s).into_owned())
        }
        _ => None,
    });
    LinkRef::Name(link_name(m).or(alt).unwrap_or_default())
}

fn netns_fd(m: &LinkMessage) -> Option<RawFd> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::NetNsFd(fd) => Some(*fd),
        _ => None,
    })
}

fn apply_link_attrs(info: &mut LinkInfo, m: &LinkMessage) {
    if m.header.change_mask.contains(LinkFlags::Up) {
        info.admin_up = m.header.flags.contains(LinkFlags::Up);
        info.lower_up = info.admin_up;
        info.oper_state = if info.admin_up {
            OperState::Up
        } else {
            OperState::Down
        };
    }
    for a in &m.attributes {
        match a {
            LinkAttribute::Mtu(v) => info.mtu = *v,
            LinkAttribute::Address(b) => {
                if let Ok(b) = <[u8; 6]>::try_from(b.as_slice()) {
                    info.mac = Some(MacAddr(b));
                }
            }
            LinkAttribute::IfAlias(s) => info.alias = Some(s.clone()),
            LinkAttribute::Controller(0) => info.master = None,
            LinkAttribute::Controller(i) => info.master = Some(*i),
            _ => {}
        }
    }
}

fn addr_of(m: &AddressMessage) -> Option<AddrInfo> {
    let ip = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    })?;
    Some(AddrInfo {
        ifindex: m.header.index,
        addr: IpNet::new(ip, m.header.prefix_len).ok()?,
    })
}

fn route_of(m: &RouteMessage) -> Result<RouteInfo, i32> {
    // The real decoder only keeps main-table unicast routes; the fake's
    // requests are exactly those, so reuse it.
    let mut m = m.clone();
    if m.attributes.iter().all(|a| {
        !matches!(
            a,
            netlink_packet_route::route::RouteAttribute::Destination(_)
        )
    }) && m.header.destination_prefix_length != 0
    {
        return Err(libc::EINVAL);
    }
    m.header.kind = netlink_packet_route::route::RouteType::Unicast;
    RouteInfo::from_message(&m).ok_or(libc::EINVAL)
}

impl NetOps for FakeNetOps {
    fn create_netns(
        &self,
        labels: &[String],
        sysctls: &[(&str, &str)],
    ) -> Result<Vec<Netns>, KernelError> {
        let mut out = Vec::with_capacity(labels.len());
        let mut st = self.state();
        for label in labels {
            let (ns, mut model) = fake_netns(label)?;
            // The fd may be one a dropped namespace opened by name had.
            st.alias.remove(&ns.as_raw_fd());
            st.held.remove(&ns.as_raw_fd());
            st.log.push(FakeCall {
                netns: label.clone(),
                description: format!("creating netns {label}"),
                errno: None,
            });
            for (k, v) in sysctls {
                model.sysctls.insert((*k).to_owned(), (*v).to_owned());
                st.log.push(FakeCall {
                    netns: label.clone(),
                    description: format!("setting sysctl {k}={v} at creation"),
                    errno: None,
                });
            }
            st.ns.insert(ns.as_raw_fd(), model);
            out.push(ns);
        }
        Ok(out)
    }

    fn hold_sockets(&self, netns: &[&Netns]) -> Result<(), KernelError> {
        let mut st = self.state();
        for ns in netns {
            let key = st.key(ns.as_raw_fd());
            if !st.ns.contains_key(&key) {
                return Err(fake_ns_missing(ns));
            }
            st.held.insert(key);
            st.log.push(FakeCall {
                netns: ns.label().to_owned(),
                description: "holding a socket".to_owned(),
                errno: None,
            });
        }
        st.peak_held = st.peak_held.max(st.held.len());
        Ok(())
    }

    fn release_sockets(&self, netns: &[&Netns]) {
        let mut st = self.state();
        for ns in netns {
            let key = st.key(ns.as_raw_fd());
            if st.held.remove(&key) {
                st.log.push(FakeCall {
                    netns: ns.label().to_owned(),
                    description: "releasing the socket".to_owned(),
                    errno: None,
                });
            }
        }
    }

    fn open_netns(&self, name: Option<&str>) -> Result<Netns, KernelError> {
        let label = name.unwrap_or("host");
        let mut st = self.state();
        let key = match st.named.get(label) {
            Some(ns) => ns.as_raw_fd(),
            None => {
                let (ns, model) = fake_netns(label)?;
                let key = ns.as_raw_fd();
                st.alias.remove(&key);
                st.ns.insert(key, model);
                st.named.insert(label.to_owned(), ns);
                key
            }
        };
        let (ns, _) = fake_netns(label)?;
        st.alias.insert(ns.as_raw_fd(), key);
        st.log.push(FakeCall {
            netns: label.to_owned(),
            description: format!("opening netns {label}"),
            errno: None,
        });
        Ok(ns)
    }

    fn execute(&self, netns: &Netns, batch: Batch<'_>) -> Result<(), KernelError> {
        let mut st = self.state();
        let key = st.key(netns.as_raw_fd());
        if !st.ns.contains_key(&key) {
            return Err(fake_ns_missing(netns));
        }
        let total = batch.entries.len();
        let mut failures = Vec::new();
        for (index, e) in batch.entries.iter().enumerate() {
            let bytes = &batch.buf[e.offset..e.offset + e.len];
            let flags = u16::from_ne_bytes([bytes[6], bytes[7]]);
            let msg_type = u16::from_ne_bytes([bytes[4], bytes[5]]);
            // netlink-packet-route cannot parse RTM_NEWLINKPROP: parse it as
            // the RTM_NEWLINK it is shaped like.
            let mut owned = bytes.to_vec();
            if msg_type == RTM_NEWLINKPROP {
                owned[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
            }
            let refused = st
                .fail
                .iter()
                .find(|(d, _)| *d == e.description)
                .map(|(_, errno)| *errno);
            let result = if let Some(errno) = refused {
                Err(errno)
            } else {
                match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&owned) {
                    Ok(NetlinkMessage {
                        payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)),
                        ..
                    }) if msg_type == RTM_NEWLINKPROP => {
                        st.apply(key, RouteNetlinkMessage::NewLinkProp(m), flags)
                    }
                    Ok(NetlinkMessage {
                        payload: NetlinkPayload::InnerMessage(m),
                        ..
                    }) => st.apply(key, m, flags),
                    _ => Err(libc::EINVAL),
                }
            };
            st.log.push(FakeCall {
                netns: netns.label().to_owned(),
                description: e.description.clone(),
                errno: result.err(),
            });
            if let Err(errno) = result {
                failures.push(RequestError {
                    description: e.description.clone(),
                    netns: netns.label().to_owned(),
                    index,
                    kernel_message: None,
                    source: io::Error::from_raw_os_error(errno),
                });
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(KernelError::Rtnl(RtnlError::Batch(BatchError {
                netns: netns.label().to_owned(),
                total,
                failures,
            })))
        }
    }

    fn links(&self, netns: &Netns) -> Result<Vec<LinkInfo>, KernelError> {
        let st = self.state();
        let ns = st
            .ns
            .get(&st.key(netns.as_raw_fd()))
            .ok_or_else(|| fake_ns_missing(netns))?;
        Ok(ns.links.iter().map(|l| l.info.clone()).collect())
    }

    fn link_index(&self, netns: &Netns, ifname: &str) -> Result<u32, KernelError> {
        let st = self.state();
        let key = st.key(netns.as_raw_fd());
        match st.find(key, &LinkRef::Name(ifname.to_owned())) {
            Ok(i) => Ok(st.ns[&key].links[i].info.index),
            Err(libc::EINVAL) => Err(fake_ns_missing(netns)),
            Err(_) => Err(KernelError::Rtnl(RtnlError::NoSuchLink {
                ifname: ifname.to_owned(),
                netns: netns.label().to_owned(),
            })),
        }
    }

    fn addresses(&self, netns: &Netns) -> Result<Vec<AddrInfo>, KernelError> {
        let st = self.state();
        let ns = st
            .ns
            .get(&st.key(netns.as_raw_fd()))
            .ok_or_else(|| fake_ns_missing(netns))?;
        Ok(ns.addrs.clone())
    }

    fn routes(&self, netns: &Netns) -> Result<Vec<RouteInfo>, KernelError> {
        let st = self.state();
        let ns = st
            .ns
            .get(&st.key(netns.as_raw_fd()))
            .ok_or_else(|| fake_ns_missing(netns))?;
        Ok(ns.routes.clone())
    }

    fn set_sysctls(&self, netns: &Netns, settings: &[(&str, &str)]) -> Result<(), KernelError> {
        let mut st = self.state();
        let label = netns.label().to_owned();
        let key = st.key(netns.as_raw_fd());
        let ns = st.ns.get_mut(&key).ok_or_else(|| fake_ns_missing(netns))?;
        for (k, v) in settings {
            ns.sysctls.insert((*k).to_owned(), (*v).to_owned());
        }
        for (k, v) in settings {
            st.log.push(FakeCall {
                netns: label.clone(),
                description: format!("setting sysctl {k}={v}"),
                errno: None,
            });
        }
        Ok(())
    }

    fn create_tap(
        &self,
        netns: &Netns,
        ifname: &str,
        _opts: &TapOptions,
    ) -> Result<OwnedFd, KernelError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(ifname.to_owned()));
        let mut st = self.state();
        let key = st.key(netns.as_raw_fd());
        if !st.ns.contains_key(&key) {
            return Err(fake_ns_missing(netns));
        }
        let r = st.add_link(key, &m, Some("tun"));
        st.log.push(FakeCall {
            netns: netns.label().to_owned(),
            description: format!("creating tap {ifname}"),
            errno: r.err(),
        });
        if let Err(errno) = r {
            return Err(KernelError::Tap(crate::TapError::Create {
                ifname: ifname.to_owned(),
                netns: netns.label().to_owned(),
                source: io::Error::from_raw_os_error(errno),
            }));
        }
        std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|source| {
                KernelError::Tap(crate::TapError::Open {
                    ifname: ifname.to_owned(),
                    netns: netns.label().to_owned(),
                    source,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LinkSpec, RouteSpec, error_chain};

    #[test]
    fn fake_models_veths_addresses_routes_and_errors() {
        let ops = FakeNetOps::new();
        let nss = ops
            .create_netns(&["a".to_owned(), "b".to_owned()], &[])
            .unwrap();
        let (a, b) = (&nss[0], &nss[1]);
        let mut bt = a.batch();
        bt.create_veth(
            LinkSpec::new("eth1").netns(a).ifindex(5).up(),
            LinkSpec::new("eth1").netns(b),
        );
        bt.add_address(5, "10.0.0.1/30".parse().unwrap());
        bt.add_route(&RouteSpec::via(
            "0.0.0.0/0".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
        ));
        bt.add_altname("eth1", "a-eth1-tag");
        ops.execute(a, bt).unwrap();
        let la = ops.links(a).unwrap();
        let eth1 = la.iter().find(|l| l.name == "eth1").unwrap();
        assert_eq!((eth1.index, eth1.admin_up), (5, true));
        assert_eq!(eth1.altnames, ["a-eth1-tag"]);
        let lb = ops.links(b).unwrap();
        assert_eq!(lb.iter().find(|l| l.name == "eth1").unwrap().index, 2);
        assert_eq!(ops.addresses(a).unwrap().len(), 1);
        assert_eq!(ops.routes(a).unwrap().len(), 1);
        // Replacing what is there changes nothing and does not fail.
        let mut bt = a.batch();
        bt.replace_address(5, "10.0.0.1/30".parse().unwrap());
        ops.execute(a, bt).unwrap();
        assert_eq!(ops.addresses(a).unwrap().len(), 1);

        let mut bt = a.batch();
        bt.create_veth(
            LinkSpec::new("eth1").netns(a),
            LinkSpec::new("eth2").netns(b),
        );
        bt.set_up("nope");
        let err = ops.execute(a, bt).unwrap_err();
        let text = error_chain(&err);
        assert!(
            text.contains("creating veth a:eth1 <-> b:eth2: File exists"),
            "{text}"
        );
        assert_eq!(err.errno(), Some(libc::EEXIST));

        // Deleting one end removes the peer too.
        let mut bt = b.batch();
        bt.delete_link("eth1");
        ops.execute(b, bt).unwrap();
        assert!(!ops.links(a).unwrap().iter().any(|l| l.name == "eth1"));
        assert!(ops.addresses(a).unwrap().is_empty());

        ops.set_sysctls(a, &[("net.ipv4.ip_forward", "1")]).unwrap();
        assert_eq!(ops.sysctl(a, "net.ipv4.ip_forward").as_deref(), Some("1"));
        let _tap = ops.create_tap(b, "tap0", &TapOptions::default()).unwrap();
        assert!(ops.create_tap(b, "tap0", &TapOptions::default()).is_err());
        let calls = ops.calls();
        assert_eq!(calls[0].description, "creating netns a");
        assert!(calls.iter().any(|c| c.errno == Some(libc::ENODEV)));
    }
}
