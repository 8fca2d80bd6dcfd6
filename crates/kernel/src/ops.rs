//! [`NetOps`]: the seam between warren's lab logic and the kernel. The lab
//! code takes a `&dyn NetOps`; [`LinuxNetOps`] does the real work and
//! `FakeNetOps` (feature `fake`) keeps an in-memory model for tests that
//! run without root.

use std::os::fd::OwnedFd;

use crate::inspect::{AddrInfo, LinkInfo, RouteInfo};
use crate::msg::Batch;
use crate::netns::Netns;
use crate::tap::{TapOptions, create_tap};
use crate::{KernelError, set_sysctls};

/// Every network side effect warren needs, per namespace.
///
/// Requests are built as [`Batch`]es (pure data) and handed to
/// [`NetOps::execute`], so a fake sees exactly what the real kernel would.
pub trait NetOps: Send + Sync + std::fmt::Debug {
    /// Creates one namespace per label, in order, each with `sysctls`
    /// (`net.` keys) set before anything else happens in it.
    fn create_netns(
        &self,
        labels: &[String],
        sysctls: &[(&str, &str)],
    ) -> Result<Vec<Netns>, KernelError>;
    /// Opens a route socket for each of `netns` and holds it for the calls
    /// that follow, until [`NetOps::release_sockets`]: faster than a socket
    /// per call, at one open file each, so hold a bounded number at once.
    fn hold_sockets(&self, netns: &[&Netns]) -> Result<(), KernelError>;
    /// Closes the sockets [`NetOps::hold_sockets`] opened for `netns`.
    fn release_sockets(&self, netns: &[&Netns]);
    /// Opens an existing namespace: `/run/netns/NAME`, or with `None` the
    /// caller's own (the host's, labelled `host`).
    fn open_netns(&self, name: Option<&str>) -> Result<Netns, KernelError>;
    /// Applies every request of `batch` in `netns`; see [`Netns::execute`].
    fn execute(&self, netns: &Netns, batch: Batch<'_>) -> Result<(), KernelError>;
    /// Lists the links of `netns`.
    fn links(&self, netns: &Netns) -> Result<Vec<LinkInfo>, KernelError>;
    /// The ifindex of the link called `ifname` (or with that altname).
    fn link_index(&self, netns: &Netns, ifname: &str) -> Result<u32, KernelError>;
    /// Lists the addresses of `netns`.
    fn addresses(&self, netns: &Netns) -> Result<Vec<AddrInfo>, KernelError>;
    /// Lists the main-table routes of `netns`.
    fn routes(&self, netns: &Netns) -> Result<Vec<RouteInfo>, KernelError>;
    /// Sets `net.*` sysctls in `netns`, in order.
    fn set_sysctls(&self, netns: &Netns, settings: &[(&str, &str)]) -> Result<(), KernelError>;
    /// Creates a tap in `netns`; it lives while the returned fd is open.
    fn create_tap(
        &self,
        netns: &Netns,
        ifname: &str,
        opts: &TapOptions,
    ) -> Result<OwnedFd, KernelError>;
}

/// The real [`NetOps`]: netlink, `unshare`, `/proc/sys`, `/dev/net/tun`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxNetOps;

impl NetOps for LinuxNetOps {
    fn create_netns(
        &self,
        labels: &[String],
        sysctls: &[(&str, &str)],
    ) -> Result<Vec<Netns>, KernelError> {
        Ok(Netns::create_many_with_sysctls(
            labels.iter().cloned(),
            sysctls,
        )?)
    }

    fn hold_sockets(&self, netns: &[&Netns]) -> Result<(), KernelError> {
        Ok(Netns::hold_rtnl_many(netns)?)
    }

    fn release_sockets(&self, netns: &[&Netns]) {
        for ns in netns {
            ns.release_rtnl();
        }
    }

    fn open_netns(&self, name: Option<&str>) -> Result<Netns, KernelError> {
        Ok(match name {
            Some(n) => Netns::open(format!("/run/netns/{n}"), n)?,
            None => Netns::current("host")?,
        })
    }

    fn execute(&self, netns: &Netns, batch: Batch<'_>) -> Result<(), KernelError> {
        Ok(netns.execute(batch)?)
    }

    fn links(&self, netns: &Netns) -> Result<Vec<LinkInfo>, KernelError> {
        Ok(netns.links()?)
    }

    fn link_index(&self, netns: &Netns, ifname: &str) -> Result<u32, KernelError> {
        Ok(netns.link_index(ifname)?)
    }

    fn addresses(&self, netns: &Netns) -> Result<Vec<AddrInfo>, KernelError> {
        Ok(netns.addresses()?)
    }

    fn routes(&self, netns: &Netns) -> Result<Vec<RouteInfo>, KernelError> {
        Ok(netns.routes()?)
    }

    fn set_sysctls(&self, netns: &Netns, settings: &[(&str, &str)]) -> Result<(), KernelError> {
        Ok(set_sysctls(netns, settings)?)
    }

    fn create_tap(
        &self,
        netns: &Netns,
        ifname: &str,
        opts: &TapOptions,
    ) -> Result<OwnedFd, KernelError> {
        Ok(create_tap(netns, ifname, opts)?)
    }
}
