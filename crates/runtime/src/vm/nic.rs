//! A VM's network cards and what each is wired to.
//!
//! Every NIC is backed by an open file descriptor handed to QEMU
//! (`-netdev tap,fd=N` or `-netdev socket,fd=N`), never by a name QEMU
//! opens itself: the caller creates the tap inside the peer's namespace
//! (from a dedicated thread, through `warren_kernel::create_tap`), so the
//! tap *is* the peer's interface, there is no window in which it sits in
//! the wrong namespace, and QEMU needs no access to `/dev/net/tun`.
//!
//! Backends:
//!
//! - [`NicBackend::Tap`]: a tap fd, `vnet_hdr` off (so `filter-dump`
//!   writes plain Ethernet frames). Used for a vm end of a link to a node
//!   (tap in the node's namespace, named as the node's interface) and for a
//!   vm joining a network (tap in the hub namespace, enslaved to the
//!   bridge). A vm–vm link may also use two taps in the hub joined by a
//!   bridge, which keeps both ends visible to kernel tools.
//! - [`NicBackend::Socket`]: one end of a `socketpair(AF_UNIX,
//!   SOCK_STREAM)` (see [`socket_pair`]); the other end goes to the other
//!   VM. QEMU frames each packet with a 4-byte length. Nothing exists in
//!   any namespace: the link is captured by each VM's `filter-dump`.
//!
//! This module builds QEMU arguments and opens fds; it does not run QEMU.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use warren_kernel::{MacAddr, Netns, TapError, TapOptions, create_tap};

/// What a NIC's frames go to.
#[derive(Debug)]
#[non_exhaustive]
pub enum NicBackend {
    /// An open tap (`IFF_TAP | IFF_NO_PI`, without `IFF_VNET_HDR`); see
    /// [`open_tap`].
    Tap(OwnedFd),
    /// A connected stream socket; see [`socket_pair`].
    Socket(OwnedFd),
}

impl NicBackend {
    pub(crate) fn fd(&self) -> &OwnedFd {
        match self {
            NicBackend::Tap(fd) | NicBackend::Socket(fd) => fd,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            NicBackend::Tap(_) => "tap",
            NicBackend::Socket(_) => "socket",
        }
    }
}

/// One NIC of a VM.
#[derive(Debug)]
#[non_exhaustive]
pub struct NicSpec {
    /// The guest MAC address.
    pub mac: MacAddr,
    /// QEMU device model (`virtio-net-pci`, `e1000`, …); `None` takes the
    /// VM's [`super::VmConfig::nic_model`].
    pub model: Option<String>,
    /// What the NIC is wired to.
    pub backend: NicBackend,
    /// Where `filter-dump` writes this NIC's frames (classic pcap, both
    /// directions), if anywhere.
    pub capture: Option<PathBuf>,
}

impl NicSpec {
    /// A NIC with the VM's default model and no capture.
    pub fn new(mac: MacAddr, backend: NicBackend) -> NicSpec {
        NicSpec {
            mac,
            model: None,
            backend,
            capture: None,
        }
    }

    /// Sets the device model.
    pub fn model(mut self, model: impl Into<String>) -> NicSpec {
        self.model = Some(model.into());
        self
    }

    /// Captures this NIC's frames into `path`.
    pub fn capture(mut self, path: impl Into<PathBuf>) -> NicSpec {
        self.capture = Some(path.into());
        self
    }
}

/// Creates tap `ifname` inside `netns` (on a dedicated thread that enters
/// it) with `vnet_hdr` off, ready for [`NicBackend::Tap`]. The tap exists
/// as long as an fd to it is open: once QEMU has it and the caller's copy
/// is dropped, it disappears when QEMU exits. Bring it up and address it
/// like any link of the namespace.
pub fn open_tap(netns: &Netns, ifname: &str) -> Result<OwnedFd, TapError> {
    create_tap(netns, ifname, &TapOptions::default().vnet_hdr(false))
}

/// A connected `AF_UNIX` stream socket pair (close-on-exec) for a vm–vm
/// link without a kernel interface: give one end to each VM as
/// [`NicBackend::Socket`].
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    Ok((a.into(), b.into()))
}

/// The QEMU arguments of NIC `index`, its backend passed as inherited
/// `fd`: `-netdev`, `-device` and, when captured, `-object filter-dump`.
pub(crate) fn nic_args(index: usize, nic: &NicSpec, default_model: &str, fd: RawFd) -> Vec<String> {
    let id = format!("nic{index}");
    let model = nic.model.as_deref().unwrap_or(default_model);
    let mut args = vec![
        "-netdev".into(),
        format!("{},id={id},fd={fd}", nic.backend.kind()),
        "-device".into(),
        format!("{model},netdev={id},mac={}", nic.mac),
    ];
    if let Some(pcap) = &nic.capture {
        args.push("-object".into());
        args.push(format!(
            "filter-dump,id=dump{index},netdev={id},file={}",
            qemu_escape(&pcap.to_string_lossy())
        ));
    }
    args
}

/// The raw fds to pass, in NIC order.
pub(crate) fn raw_fds(nics: &[NicSpec]) -> Vec<RawFd> {
    nics.iter().map(|n| n.backend.fd().as_raw_fd()).collect()
}

/// Escapes a value for QEMU's `key=value,...` option syntax (`,` → `,,`).
pub(crate) fn qemu_escape(v: &str) -> String {
    v.replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_netdev_device_and_dump() {
        let (a, _b) = socket_pair().expect("socketpair");
        let nic = NicSpec::new(MacAddr([0x52, 0x54, 0, 0, 0, 1]), NicBackend::Socket(a))
            .capture("/tmp/a,b.pcap");
        let args = nic_args(2, &nic, "virtio-net-pci", 9);
        assert_eq!(
            args,
            [
                "-netdev",
                "socket,id=nic2,fd=9",
                "-device",
                "virtio-net-pci,netdev=nic2,mac=52:54:00:00:00:01",
                "-object",
                "filter-dump,id=dump2,netdev=nic2,file=/tmp/a,,b.pcap",
            ]
        );
    }
}
