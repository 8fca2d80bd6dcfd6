//! [`Rtnl`]: a synchronous route-netlink socket bound to one network
//! namespace, which sends [`Batch`]es and reads their ACKs, and lists links,
//! addresses and routes.
//!
//! A batch is sent in chunks of [`CHUNK`] requests, several messages per
//! `send` call; after each chunk every ACK is read and mapped back to its
//! request by sequence number. Chunking keeps the ACKs within the socket's
//! receive buffer, so none is dropped.

use std::collections::HashMap;
use std::io;

use netlink_packet_core::{
    NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::inspect::{AddrInfo, LinkInfo, RouteInfo};
use crate::msg::{Batch, Entry, NLMSG_HDRLEN, dump_request, getlink_request};
use crate::netns::NetnsError;

/// Requests sent before their ACKs are read. Each ACK costs about 1 KiB of
/// receive buffer (skb overhead); the default buffer is 208 KiB.
pub const CHUNK: usize = 96;

/// Receive buffer size: enough for one dump datagram (the kernel sends at
/// most 32 KiB per datagram) and many ACKs.
const RECV_BUF: usize = 64 * 1024;

/// A `recv` waiting longer than this fails with `EAGAIN` instead of
/// hanging.
const RECV_TIMEOUT_SECS: i64 = 30;

/// `NLMSGERR_ATTR_MSG`: extended ACK text attribute.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLM_F_CAPPED`: the ACK carries only the request's header.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS`: the ACK carries extended-ACK attributes.
const NLM_F_ACK_TLVS: u16 = 0x200;

/// One request of a batch that the kernel refused.
#[derive(Debug, thiserror::Error)]
#[error("{description}{}", kernel_message.as_ref().map(|m| format!(" (kernel: {m})")).unwrap_or_default())]
#[non_exhaustive]
pub struct RequestError {
    /// What the request did, e.g. `creating veth r1:eth1 <-> r2:eth1`.
    pub description: String,
    /// Label of the namespace whose socket sent the request.
    pub netns: String,
    /// Position of the request in its batch.
    pub index: usize,
    /// The extended-ACK text, when the kernel gave one.
    pub kernel_message: Option<String>,
    /// The errno from the kernel's ACK.
    #[source]
    pub source: io::Error,
}

impl RequestError {
    /// The errno the kernel answered, e.g. `libc::EEXIST`.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// Some requests of a batch failed; the others were applied.
///
/// Its [`source`](std::error::Error::source) is the first failure, so an
/// error chain reads `1 of 3 netlink requests failed in netns hub: creating
/// veth r1:eth1 <-> r2:eth1: File exists (os error 17)`.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchError {
    /// Label of the namespace whose socket sent the batch.
    pub netns: String,
    /// Number of requests in the batch.
    pub total: usize,
    /// Every failed request, in batch order (never empty).
    pub failures: Vec<RequestError>,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} netlink requests failed in netns {}",
            self.failures.len(),
            self.total,
            self.netns
        )
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures
            .first()
            .map(|f| f as &(dyn std::error::Error + 'static))
    }
}

impl BatchError {
    /// The first failure, usually the cause of the others.
    pub fn first(&self) -> &RequestError {
        &self.failures[0]
    }
}

/// Errors of the route-netlink socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtnlError {
    /// Opening or configuring the socket failed.
    #[error("opening route netlink socket in netns {netns}")]
    Open {
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// Entering the namespace to open the socket failed.
    #[error("opening route netlink socket in netns {netns}")]
    Netns {
        /// Namespace label.
        netns: String,
        /// Why the namespace could not be entered.
        #[source]
        source: Box<NetnsError>,
    },
    /// `send` failed.
    #[error("sending netlink requests in netns {netns}")]
    Send {
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// `recv` failed (`ENOBUFS` means replies were lost).
    #[error("receiving netlink replies in netns {netns}")]
    Recv {
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// A reply could not be decoded.
    #[error("decoding netlink reply to {operation} in netns {netns}")]
    Decode {
        /// Namespace label.
        netns: String,
        /// What was asked.
        operation: String,
        /// The decoder's error.
        #[source]
        source: netlink_packet_core::DecodeError,
    },
    /// The kernel sent something that is not a netlink reply we expect.
    #[error("malformed netlink reply to {operation} in netns {netns}")]
    Malformed {
        /// Namespace label.
        netns: String,
        /// What was asked.
        operation: String,
    },
    /// One request (of a one-shot call or a dump) failed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Some requests of a batch failed.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A link looked up by name does not exist.
    #[error("no link named {ifname} in netns {netns}")]
    NoSuchLink {
        /// The name looked up.
        ifname: String,
        /// Namespace label.
        netns: String,
    },
}

impl RtnlError {
    /// The errno of the (first) failed request, if the kernel refused one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RtnlError::Request(e) => e.errno(),
            RtnlError::Batch(e) => e.first().errno(),
            _ => None,
        }
    }
}

/// A batch's request descriptions joined by `; `, formatted only when a
/// log line is written.
struct Descriptions<'e>(&'e [Entry]);

impl std::fmt::Display for Descriptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&e.description)?;
        }
        Ok(())
    }
}

/// A route-netlink socket opened inside one network namespace. Every
/// request sent on it acts in that namespace (except links created with an
/// explicit target namespace).
///
/// Not `Sync`: use one per thread, or guard it with a mutex.
#[derive(Debug)]
pub struct Rtnl {
    sock: Socket,
    label: String,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace. Prefer
    /// [`crate::Netns::open_rtnl`] or [`crate::create_netns_many`], which do the
    /// namespace switch on a helper thread.
    pub fn open_here(label: impl Into<String>) -> Result<Self, RtnlError> {
        let label = label.into();
        let open = |label: &str| -> Result<Socket, RtnlError> {
            let err = |source| RtnlError::Open {
                netns: label.to_owned(),
                source,
            };
            let mut sock = Socket::new(NETLINK_ROUTE).map_err(err)?;
            sock.bind_auto().map_err(err)?;
            sock.connect(&SocketAddr::new(0, 0)).map_err(err)?;
            // ACKs carry only the request header: smaller replies.
            sock.set_cap_ack(true).map_err(err)?;
            // Ask for the kernel's error text; older kernels refuse, which
            // only loses that text.
            let _ignored = sock.set_ext_ack(true);
            // Never block forever if the kernel lost a reply.
            let timeout = nix::sys::time::TimeVal::new(RECV_TIMEOUT_SECS, 0);
            nix::sys::socket::setsockopt(
                &sock,
                nix::sys::socket::sockopt::ReceiveTimeout,
                &timeout,
            )
            .map_err(|e| err(io::Error::from(e)))?;
            Ok(sock)
        };
        let sock = open(&label)?;
        Ok(Rtnl {
            sock,
            label,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// The namespace label given at creation.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A new empty batch whose descriptions use this socket's label.
    pub fn batch<'a>(&self) -> Batch<'a> {
        Batch::new(self.label.clone())
    }

    fn next_seq(&mut self, n: usize) -> u32 {
        let base = self.seq.wrapping_add(1);
        // n is at most CHUNK, far below u32::MAX.
        self.seq = self.seq.wrapping_add(u32::try_from(n).unwrap_or(u32::MAX));
        base
    }

    fn recv(&mut self) -> Result<usize, RtnlError> {
        self.buf.clear();
        self.buf.reserve(RECV_BUF);
        loop {
            match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                Ok(n) if n > self.buf.len() => {
                    return Err(RtnlError::Recv {
                        netns: self.label.clone(),
                        source: io::Error::from_raw_os_error(libc::EMSGSIZE),
                    });
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(RtnlError::Recv {
                        netns: self.label.clone(),
                        source,
                    });
                }
            }
        }
    }

    fn send(&self, bytes: &[u8]) -> Result<(), RtnlError> {
        loop {
            match self.sock.send(bytes, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(RtnlError::Send {
                        netns: self.label.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Sends every request of `batch` and waits for all ACKs.
    ///
    /// Returns `Ok` when all succeeded, else [`RtnlError::Batch`] listing
    /// each failed request with its description and errno. The kernel
    /// applies requests in order and a failure does not stop later ones.
    pub fn execute(&mut self, batch: Batch<'_>) -> Result<(), RtnlError> {
        let Batch {
            mut buf, entries, ..
        } = batch;
        let total = entries.len();
        tracing::debug!(
            netns = %self.label,
            requests = total,
            batch = %Descriptions(&entries),
            "netlink batch"
        );
        let mut failures = Vec::new();
        let mut start = 0;
        while start < total {
            let end = (start + CHUNK).min(total);
            let chunk = &entries[start..end];
            let base = self.next_seq(chunk.len());
            for (i, e) in chunk.iter().enumerate() {
                let seq = base.wrapping_add(u32::try_from(i).unwrap_or(0));
                buf[e.offset + 8..e.offset + 12].copy_from_slice(&seq.to_ne_bytes());
            }
            let from = chunk[0].offset;
            let to = chunk[chunk.len() - 1].offset + chunk[chunk.len() - 1].len;
            self.send(&buf[from..to])?;
            self.collect_acks(base, chunk, start, &mut failures)?;
            start = end;
        }
        if failures.is_empty() {
            Ok(())
        } else {
            // The caller gets the error; this records every refusal with the
            // kernel's own words, which the error chain shows only for the
            // first.
            for f in &failures {
                tracing::debug!(
                    netns = %self.label,
                    index = f.index,
                    request = %f.description,
                    errno = f.errno().unwrap_or_default(),
                    kernel = f.kernel_message.as_deref().unwrap_or("-"),
                    "netlink request refused: {}",
                    f.source
                );
            }
            Err(RtnlError::Batch(BatchError {
                netns: self.label.clone(),
                total,
                failures,
            }))
        }
    }

    /// Sends one batch of a single request and returns its error directly
    /// (as [`RtnlError::Request`]).
    pub fn execute_one(&mut self, batch: Batch<'_>) -> Result<(), RtnlError> {
        match self.execute(batch) {
            Err(RtnlError::Batch(mut b)) if b.failures.len() == 1 => {
                Err(RtnlError::Request(b.failures.remove(0)))
            }
            other => other,
        }
    }

    fn collect_acks(
        &mut self,
        base: u32,
        chunk: &[Entry],
        first_index: usize,
        failures: &mut Vec<RequestError>,
    ) -> Result<(), RtnlError> {
        let mut pending = chunk.len();
        let mut answered = vec![false; chunk.len()];
        let chunk_failures_start = failures.len();
        while pending > 0 {
            let n = self.recv()?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let h = Header::parse(&self.buf[off..n]);
                if h.len < NLMSG_HDRLEN || off + h.len > n {
                    return Err(self.malformed("reading acks"));
                }
                let msg = &self.buf[off..off + h.len];
                off += (h.len + 3) & !3;
                if h.msg_type != NLMSG_ERROR {
                    continue;
                }
                let i = h.seq.wrapping_sub(base) as usize;
                if i >= chunk.len() || answered[i] {
                    // A stale reply from an earlier, aborted exchange.
                    continue;
                }
                answered[i] = true;
                pending -= 1;
                let Some((code, text)) = parse_ack(msg, h.flags) else {
                    return Err(self.malformed(&chunk[i].description));
                };
                if code != 0 {
                    failures.push(RequestError {
                        description: chunk[i].description.clone(),
                        netns: self.label.clone(),
                        index: first_index + i,
                        kernel_message: text,
                        source: io::Error::from_raw_os_error(code.saturating_abs()),
                    });
                }
            }
        }
        failures[chunk_failures_start..].sort_by_key(|f| f.index);
        Ok(())
    }

    fn malformed(&self, operation: &str) -> RtnlError {
        RtnlError::Malformed {
            netns: self.label.clone(),
            operation: operation.to_owned(),
        }
    }

    /// Runs a dump request and returns the decoded messages.
    fn dump(
        &mut self,
        request: &[u8],
        operation: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, RtnlError> {
        // A dump interrupted by a concurrent change is retried.
        for _attempt in 0..5 {
            let (msgs, interrupted) = self.dump_once(request, operation)?;
            if !interrupted {
                return Ok(msgs);
            }
        }
        let (msgs, _) = self.dump_once(request, operation)?;
        Ok(msgs)
    }

    fn dump_once(
        &mut self,
        request: &[u8],
        operation: &str,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), RtnlError> {
        tracing::trace!(netns = %self.label, operation, "netlink dump");
        let mut req = request.to_vec();
        let seq = self.next_seq(1);
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.send(&req)?;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let h = Header::parse(&self.buf[off..n]);
                if h.len < NLMSG_HDRLEN || off + h.len > n {
                    return Err(self.malformed(operation));
                }
                let start = off;
                off += (h.len + 3) & !3;
                if h.seq != seq {
                    continue;
                }
                if h.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match h.msg_type {
                    NLMSG_DONE => return Ok((out, interrupted)),
                    NLMSG_ERROR => {
                        let msg = &self.buf[start..start + h.len];
                        let Some((code, text)) = parse_ack(msg, h.flags) else {
                            return Err(self.malformed(operation));
                        };
                        if code == 0 {
                            return Ok((out, interrupted));
                        }
                        return Err(RtnlError::Request(RequestError {
                            description: operation.to_owned(),
                            netns: self.label.clone(),
                            index: 0,
                            kernel_message: text,
                            source: io::Error::from_raw_os_error(code.saturating_abs()),
                        }));
                    }
                    _ => {
                        let bytes = &self.buf[start..start + h.len];
                        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
                            Ok(m) => {
                                if let NetlinkPayload::InnerMessage(inner) = m.payload {
                                    out.push(inner);
                                }
                            }
                            Err(source) => {
                                return Err(RtnlError::Decode {
                                    netns: self.label.clone(),
                                    operation: operation.to_owned(),
                                    source,
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Lists every link in the namespace.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>, RtnlError> {
        let req = dump_request(libc::RTM_GETLINK, AddressFamily::Unspec);
        let msgs = self.dump(&req, "listing links")?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(LinkInfo::from_message(&l)),
                _ => None,
            })
            .collect())
    }

    /// Maps every link name in the namespace to its ifindex (one dump).
    /// Use it after creating links to address them by index.
    pub fn link_indexes(&mut self) -> Result<HashMap<String, u32>, RtnlError> {
        Ok(self
            .links()?
            .into_iter()
            .map(|l| (l.name, l.index))
            .collect())
    }

    /// The ifindex of one link, by name.
    pub fn link_index(&mut self, ifname: &str) -> Result<u32, RtnlError> {
        match self.link(ifname)? {
            Some(l) => Ok(l.index),
            None => Err(RtnlError::NoSuchLink {
                ifname: ifname.to_owned(),
                netns: self.label.clone(),
            }),
        }
    }

    /// One link by name, or `None` if absent.
    pub fn link(&mut self, ifname: &str) -> Result<Option<LinkInfo>, RtnlError> {
        let mut req = getlink_request(ifname);
        let seq = self.next_seq(1);
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.send(&req)?;
        let operation = format!("looking up link {}:{ifname}", self.label);
        let mut found = None;
        loop {
            let n = self.recv()?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let h = Header::parse(&self.buf[off..n]);
                if h.len < NLMSG_HDRLEN || off + h.len > n {
                    return Err(self.malformed(&operation));
                }
                let bytes = &self.buf[off..off + h.len];
                off += (h.len + 3) & !3;
                if h.seq != seq {
                    continue;
                }
                if h.msg_type == NLMSG_ERROR {
                    let Some((code, text)) = parse_ack(bytes, h.flags) else {
                        return Err(self.malformed(&operation));
                    };
                    return match code {
                        0 => Ok(found),
                        c if c.saturating_abs() == libc::ENODEV => Ok(None),
                        c => Err(RtnlError::Request(RequestError {
                            description: operation,
                            netns: self.label.clone(),
                            index: 0,
                            kernel_message: text,
                            source: io::Error::from_raw_os_error(c.saturating_abs()),
                        })),
                    };
                }
                match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
                    Ok(m) => {
                        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) =
                            m.payload
                        {
                            found = Some(LinkInfo::from_message(&l));
                        }
                    }
                    Err(source) => {
                        return Err(RtnlError::Decode {
                            netns: self.label.clone(),
                            operation,
                            source,
                        });
                    }
                }
            }
        }
    }

    /// Lists every IPv4 and IPv6 address in the namespace.
    pub fn addresses(&mut self) -> Result<Vec<AddrInfo>, RtnlError> {
        let req = dump_request(libc::RTM_GETADDR, AddressFamily::Unspec);
        let msgs = self.dump(&req, "listing addresses")?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => AddrInfo::from_message(&a),
                _ => None,
            })
            .collect())
    }

    /// Lists the unicast IPv4 and IPv6 routes of the main table.
    pub fn routes(&mut self) -> Result<Vec<RouteInfo>, RtnlError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let req = dump_request(libc::RTM_GETROUTE, family);
            let msgs = self.dump(&req, "listing routes")?;
            out.extend(msgs.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => RouteInfo::from_message(&r),
                _ => None,
            }));
        }
        Ok(out)
    }
}

/// The fixed part of a `struct nlmsghdr`.
struct Header {
    len: usize,
    msg_type: u16,
    flags: u16,
    seq: u32,
}

impl Header {
    /// Parses a header; the caller checked `buf.len() >= NLMSG_HDRLEN`.
    fn parse(buf: &[u8]) -> Header {
        let u32_at = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let u16_at = |i: usize| u16::from_ne_bytes([buf[i], buf[i + 1]]);
        Header {
            len: u32_at(0) as usize,
            msg_type: u16_at(4),
            flags: u16_at(6),
            seq: u32_at(8),
        }
    }
}

/// Parses an `NLMSG_ERROR` message: the (negative) errno, 0 for an ACK,
/// and the extended-ACK text if present.
fn parse_ack(msg: &[u8], flags: u16) -> Option<(i32, Option<String>)> {
    let p = msg.get(NLMSG_HDRLEN..)?;
    let code = i32::from_ne_bytes(p.get(0..4)?.try_into().ok()?);
    let mut text = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        // After the errno: the request's header (capped) or whole request.
        let orig = p.get(4..)?;
        let orig_len = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32::from_ne_bytes(orig.get(0..4)?.try_into().ok()?) as usize
        };
        let mut tlvs = orig.get(((orig_len + 3) & !3).min(orig.len())..)?;
        while tlvs.len() >= 4 {
            let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
            let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
            if len < 4 || len > tlvs.len() {
                break;
            }
            if kind == NLMSGERR_ATTR_MSG {
                let s = &tlvs[4..len];
                let s = s.split(|b| *b == 0).next().unwrap_or(s);
                text = Some(String::from_utf8_lossy(s).into_owned());
            }
            tlvs = tlvs.get(((len + 3) & !3).min(tlvs.len())..)?;
        }
    }
    Some((code, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(code: i32, flags: u16, tlv_text: Option<&str>) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0u32.to_ne_bytes()); // length, patched below
        v.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&7u32.to_ne_bytes()); // seq
        v.extend_from_slice(&0u32.to_ne_bytes()); // pid
        v.extend_from_slice(&code.to_ne_bytes());
        // The capped original header.
        v.extend_from_slice(&[16, 0, 0, 0, 16, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        if let Some(t) = tlv_text {
            let len = 4 + t.len() + 1;
            v.extend_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
            v.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            v.extend_from_slice(t.as_bytes());
            v.push(0);
            while v.len() % 4 != 0 {
                v.push(0);
            }
        }
        let n = u32::try_from(v.len()).unwrap();
        v[0..4].copy_from_slice(&n.to_ne_bytes());
        v
    }

    #[test]
    fn parses_plain_and_extended_acks() {
        let ok = ack(0, NLM_F_CAPPED, None);
        assert_eq!(parse_ack(&ok, NLM_F_CAPPED), Some((0, None)));
        let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        let err = ack(-libc::EEXIST, flags, Some("Device already exists"));
        let h = Header::parse(&err);
        assert_eq!((h.msg_type, h.seq, h.len), (NLMSG_ERROR, 7, err.len()));
        assert_eq!(
            parse_ack(&err, flags),
            Some((-libc::EEXIST, Some("Device already exists".to_owned())))
        );
        assert_eq!(parse_ack(&err[..10], flags), None, "truncated");
    }

    #[test]
    fn batch_error_chain_names_first_failure() {
        let e = RtnlError::Batch(BatchError {
            netns: "hub".into(),
            total: 3,
            failures: vec![RequestError {
                description: "creating veth r1:eth1 <-> r2:eth1".into(),
                netns: "hub".into(),
                index: 1,
                kernel_message: None,
                source: io::Error::from_raw_os_error(libc::EEXIST),
            }],
        });
        assert_eq!(
            crate::error_chain(&e),
            "1 of 3 netlink requests failed in netns hub: creating veth r1:eth1 <-> r2:eth1: \
             File exists (os error 17)"
        );
        assert_eq!(e.errno(), Some(libc::EEXIST));
    }
}
