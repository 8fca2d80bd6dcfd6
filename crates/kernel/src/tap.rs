//! TAP devices created by `ioctl(TUNSETIFF)` on `/dev/net/tun` (netlink
//! cannot create them). A tap lives in the namespace of the thread that
//! opened `/dev/net/tun`, and exists while the returned fd is open (it is
//! not persistent), so closing the fd removes the device.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::netns::{Netns, NetnsError};

/// Options for [`create_tap`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TapOptions {
    /// Prepend a `virtio_net_hdr` to each frame (`IFF_VNET_HDR`), as QEMU's
    /// `vnet_hdr=on` expects. Off by default.
    pub vnet_hdr: bool,
}

impl TapOptions {
    /// Turns `IFF_VNET_HDR` on or off.
    pub fn vnet_hdr(mut self, on: bool) -> Self {
        self.vnet_hdr = on;
        self
    }
}

/// Errors creating a tap device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapError {
    /// The name does not fit in `IFNAMSIZ` (15 bytes) or contains NUL.
    #[error("tap name {ifname:?} is longer than 15 bytes or contains NUL")]
    BadName {
        /// The rejected name.
        ifname: String,
    },
    /// Opening `/dev/net/tun` failed.
    #[error("opening /dev/net/tun for tap {ifname} in netns {netns}")]
    Open {
        /// The tap name.
        ifname: String,
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// `TUNSETIFF` failed (`EBUSY`: the name is taken).
    #[error("creating tap {ifname} in netns {netns}")]
    Create {
        /// The tap name.
        ifname: String,
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The namespace could not be entered.
    #[error("creating tap {ifname}")]
    Netns {
        /// The tap name.
        ifname: String,
        /// Why.
        #[source]
        source: NetnsError,
    },
}

/// `struct ifreq` as used by `TUNSETIFF`: name, flags, padding to 40 bytes.
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates tap `ifname` inside `netns` and returns its fd (blocking,
/// close-on-exec). The device disappears when the fd is closed.
///
/// Flags: `IFF_TAP | IFF_NO_PI`, plus `IFF_VNET_HDR` if asked. Bring it up
/// and address it through [`crate::Rtnl`] like any link.
pub fn create_tap(netns: &Netns, ifname: &str, opts: &TapOptions) -> Result<OwnedFd, TapError> {
    let bytes = ifname.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) || bytes.is_empty() {
        return Err(TapError::BadName {
            ifname: ifname.to_owned(),
        });
    }
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if opts.vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    // All IFF_* flags used fit in 16 bits.
    req.flags = flags as libc::c_short;

    let label = netns.label().to_owned();
    let result = netns.run(move || -> Result<OwnedFd, TapError> {
        // The tap's namespace is that of the thread opening /dev/net/tun.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|source| TapError::Open {
                ifname: ifname.to_owned(),
                netns: label.clone(),
                source,
            })?;
        // SAFETY: `file` is an open /dev/net/tun fd and `req` is a valid,
        // properly sized `struct ifreq` that lives across the call; the
        // kernel reads and writes only within it.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(TapError::Create {
                ifname: ifname.to_owned(),
                netns: label,
                source: io::Error::last_os_error(),
            });
        }
        Ok(file.into())
    });
    match result {
        Ok(r) => r,
        Err(source) => Err(TapError::Netns {
            ifname: ifname.to_owned(),
            source,
        }),
    }
}
