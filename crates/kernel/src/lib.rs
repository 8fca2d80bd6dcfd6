//! `warren-kernel`: every Linux network side effect of warren goes through
//! this crate: network namespaces (held by fd), links (veth, bridge, vxlan,
//! tap), addresses, routes, sysctls, and listing them back.
//!
//! It knows nothing of labs: it takes names, namespace fds, addresses and
//! human descriptions, and returns errors that name the object and the
//! operation. It never spawns `ip`.
//!
//! # Model
//!
//! - A [`Netns`] is an open fd on a network namespace and a label, and
//!   while one is held, the namespace's route-netlink socket ([`Rtnl`];
//!   without one, each request opens and closes its own). Nothing is
//!   mounted in `/run/netns`; the namespace dies with its last holder.
//!   [`Netns::create_many`] creates many at once on one helper thread,
//!   opening each socket while inside and holding it;
//!   [`create_netns_many`] hands each socket out beside its `Netns`;
//!   [`Netns::create_many_with_sysctls`] opens none (one fd per namespace)
//!   and sets sysctls while inside. [`Netns::hold_rtnl_many`] opens the
//!   sockets of a bounded run of namespaces from one thread.
//! - Requests are queued in a [`Batch`], each with a description
//!   ("creating veth r1:eth1 <-> r2:eth1"), and sent together by
//!   [`Netns::execute`] (several messages per `send`, then all ACKs read);
//!   every failure comes back as a [`RequestError`] naming its request.
//!   `execute` takes `&self`: calls from several threads are serialized.
//! - Veth pairs are created with each end directly in its namespace
//!   ([`LinkSpec::netns`]), in one request sent on any socket.
//!
//! # Naming links: by name or by fixed ifindex
//!
//! Link requests (up/down, MTU, MAC, master, delete) take a [`LinkRef`],
//! which may be a name. Addresses and routes need an ifindex. Two ways:
//!
//! 1. **Fixed ifindex (fastest):** request one at creation with
//!    [`LinkSpec::ifindex`]. Indexes are per namespace; in a fresh
//!    namespace `lo` is 1, so a caller can number its links 2, 3, … and put
//!    creation, addresses and routes in the same batch. Both veth ends
//!    honour it. A taken index fails with `EBUSY`.
//! 2. **Lookup:** after creating links, [`Netns::link_indexes`] (one dump
//!    per namespace) or [`Netns::link_index`] (one request).
//!
//! # Threads
//!
//! `setns`/`unshare` affect the calling thread, so this crate does them only
//! on threads it spawns (never on the caller's, never on an async
//! runtime's), except [`enter_netns`], which is meant for `pre_exec`.
//!
//! # Rootless
//!
//! Everything works unchanged inside a user namespace in which the process
//! has `CAP_NET_ADMIN`/`CAP_SYS_ADMIN` (e.g. `unshare -Ur`): namespaces
//! created there are owned by that user namespace.
//!
//! # Verified on kernel 6.18 (this crate's tests)
//!
//! - One `RTM_NEWLINK` with `IFLA_NET_NS_FD` on the main end and on the
//!   `VETH_INFO_PEER` message creates both ends directly in their
//!   namespaces, with names, MTU, MAC and requested ifindex on both ends;
//!   it may be sent on any namespace's socket.
//! - The main end may be created up; the peer may not (`ENOTCONN`, the
//!   kernel opens the peer before linking it). `IFLA_IFALIAS` is ignored at
//!   creation; set it with [`Batch::set_alias`] afterwards.
//! - `/proc/sys/net` shows the network namespace of the *calling thread*:
//!   `set_sysctls` on a thread that `setns`'d changes only that namespace
//!   (also per-interface keys such as `net/ipv4/conf/eth2/forwarding`).
//!   Looking `net` up under `/proc/sys` walks one entry per namespace whose
//!   sysctls were ever opened there, so a write in each of N new
//!   namespaces is O(N²) in all; a private proc instance (`fsopen`,
//!   mounted nowhere) has entries of its own, which
//!   [`Netns::create_many_with_sysctls`] uses.
//! - A tap belongs to the namespace of the thread that opened
//!   `/dev/net/tun`, and vanishes when its fd closes.
//! - Dropping the namespace fds and sockets frees the namespaces and every
//!   veth in them, including peers in surviving namespaces (the kernel does
//!   it asynchronously, within a second or so); the host is untouched.
//! - All tests pass under `unshare -Ur` (root) and as uid 65534 inside
//!   `unshare -Ur`, except taps there: `/dev/net/tun` is mode 0600 on this
//!   machine (0666 on most distributions), so an unprivileged user cannot
//!   open it.
//! - Namespace fds and netlink sockets are close-on-exec: child processes
//!   never keep a lab's namespaces alive by accident.
//!
//! # Example
//!
//! ```no_run
//! use warren_kernel::{LinkSpec, IpNet, Netns};
//! # fn main() -> Result<(), warren_kernel::KernelError> {
//! let nss = Netns::create_many(["r1", "r2"])?;
//! let (r1, r2) = (&nss[0], &nss[1]);
//! let mut b = r1.batch();
//! b.create_veth(
//!     LinkSpec::new("eth1").netns(r1).ifindex(2).up(),
//!     LinkSpec::new("eth1").netns(r2).ifindex(2),
//! );
//! b.set_up("lo");
//! b.add_address(2, "10.0.0.1/30".parse::<IpNet>()?);
//! r1.execute(b)?;
//! let mut b = r2.batch();
//! b.set_up("lo").set_up("eth1");
//! b.add_address(2, "10.0.0.2/30".parse::<IpNet>()?);
//! r2.execute(b)?;
//! # Ok(()) }
//! ```

#[cfg(any(test, feature = "fake"))]
mod fake;
mod inspect;
mod msg;
mod net;
mod netns;
mod ops;
mod patch;
mod qdisc;
mod rtnl;
mod sysctl;
mod tap;

#[cfg(any(test, feature = "fake"))]
pub use fake::{FakeCall, FakeNetOps};
pub use inspect::{AddrInfo, LinkInfo, OperState, RouteInfo};
pub use msg::{Batch, LinkRef, LinkSpec, MacvlanSpec, RouteSpec, VxlanSpec};
pub use net::{IpNet, IpNetError, MacAddr, MacAddrError};
pub use netns::{Netns, NetnsError, create_netns_many, enter_netns, enter_netns_raw};
pub use ops::{LinuxNetOps, NetOps};
pub use qdisc::{NetemSpec, TbfSpec};
pub use rtnl::{BatchError, CHUNK, RequestError, Rtnl, RtnlError};
pub use sysctl::{SysctlError, read_sysctl, set_sysctls, sysctl_path};
pub use tap::{TapError, TapOptions, create_tap};

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A namespace could not be created, opened or entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A netlink socket or request failed.
    #[error(transparent)]
    Rtnl(#[from] RtnlError),
    /// A tap could not be created.
    #[error(transparent)]
    Tap(#[from] TapError),
    /// A sysctl could not be set.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// An address did not parse.
    #[error(transparent)]
    IpNet(#[from] IpNetError),
}

impl KernelError {
    /// The errno of the failed kernel request, if the kernel refused one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Rtnl(e) => e.errno(),
            _ => None,
        }
    }
}

/// Formats an error with its chain of sources joined by `": "`, e.g.
/// `1 of 4 netlink requests failed in netns hub: creating veth r1:eth1 <->
/// r2:eth1: File exists (os error 17)`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}
