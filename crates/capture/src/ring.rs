//! An AF_PACKET socket with a TPACKET_V3 receive ring, bound to one
//! interface inside one network namespace.
//!
//! Owns the socket, the mmap'ed ring and the walk over its blocks; it
//! knows nothing of pcapng or labs. All of the crate's `unsafe` code is
//! here; every block has a `// SAFETY:` comment.
//!
//! The socket is created on a throwaway thread inside the namespace
//! ([`Netns::run`], or an opener thread that entered it and calls
//! [`Ring::open_here`]); a socket stays in the namespace it was created
//! in, so the ring can then be read from any thread.
//!
//! Kernel pitfalls handled here:
//! - VLAN tags are stripped into `tp_vlan_tci`; [`Frame::vlan`] returns
//!   them so the caller re-inserts them.
//! - `PACKET_STATISTICS` resets on read; [`Ring::take_stats`] says so.
//! - Frames sent by the interface appear as `PACKET_OUTGOING`, with
//!   `TP_STATUS_CSUMNOTREADY` on veth TX (checksum left to offload):
//!   [`Frame::csum_not_ready`].

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use warren_kernel::{Netns, NetnsError};

/// Errors from opening or reading a capture ring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// Could not run the opening code inside the namespace.
    #[error("entering network namespace {netns} to capture on {ifname}")]
    Netns {
        /// Namespace label.
        netns: String,
        /// Interface name.
        ifname: String,
        /// The namespace error.
        #[source]
        source: NetnsError,
    },
    /// The interface does not exist in the namespace.
    #[error("no interface {ifname} in network namespace {netns}")]
    NoSuchInterface {
        /// Namespace label.
        netns: String,
        /// Interface name.
        ifname: String,
        /// The lookup error.
        #[source]
        source: io::Error,
    },
    /// A socket call failed.
    #[error("{step} for capture on {netns}:{ifname}")]
    Socket {
        /// The failed step (`socket`, `setsockopt PACKET_RX_RING`, `mmap`, …).
        step: &'static str,
        /// Namespace label.
        netns: String,
        /// Interface name.
        ifname: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The ring geometry is invalid.
    #[error("invalid ring geometry for {ifname}: {what}")]
    Geometry {
        /// Interface name.
        ifname: String,
        /// What is wrong.
        what: &'static str,
    },
}

/// Geometry and behaviour of a receive ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block; a power of two multiple of the page size, 1–4 MiB.
    pub block_size: u32,
    /// Number of blocks (ring memory = `block_size * block_count`).
    pub block_count: u32,
    /// Milliseconds after which the kernel hands over a partly filled block.
    pub retire_ms: u32,
    /// Drop frames the interface sends (`PACKET_IGNORE_OUTGOING`): for
    /// capture points that record only what enters through the interface.
    pub ignore_outgoing: bool,
}

impl Default for RingConfig {
    /// 2 blocks of 128 KiB (256 KiB per capture point), 100 ms retire
    /// timeout, both directions. The kernel re-arms a ring's retire timer
    /// forever, even on an idle link: at 20 ms the rings of a 1000-link
    /// chain fired 40,000 timers a second, idle or not, and made its `up`
    /// cost visibly more CPU; 100 ms bounds how late a frame reaches a
    /// file or live stream, and what stopping a capture waits for. The kernel allocates a ring in full and
    /// zeroes its pages when it is set up, so this is what every idle
    /// capture point costs: a lab captures every link by default, 32 MiB
    /// rings made a 300-link chain take 5 GB, and with 1 MiB rings zeroing
    /// was still 13% of the CPU a 1000-link chain's `up` took. A block
    /// still holds a 64 KiB GSO frame. Links that carry bulk traffic set a
    /// larger ring ([`RingConfig::for_buffer`], the lab file's
    /// `capture: {buffer: ...}`); drops are counted either way.
    fn default() -> Self {
        RingConfig {
            block_size: 128 << 10,
            block_count: 2,
            retire_ms: 100,
            ignore_outgoing: false,
        }
    }
}

/// Smallest ring [`RingConfig::for_buffer`] accepts: the default ring.
pub const MIN_BUFFER: u64 = 256 << 10;
/// Largest ring [`RingConfig::for_buffer`] accepts.
pub const MAX_BUFFER: u64 = 1 << 30;

impl RingConfig {
    /// A ring of about `bytes` (rounded down to whole blocks): blocks of
    /// a quarter of it, 256 KiB to 4 MiB and a power of two, so a larger
    /// buffer also means fewer, larger blocks. `None` outside
    /// [`MIN_BUFFER`]..=[`MAX_BUFFER`].
    pub fn for_buffer(bytes: u64) -> Option<RingConfig> {
        if !(MIN_BUFFER..=MAX_BUFFER).contains(&bytes) {
            return None;
        }
        let quarter = (bytes / 4).max(1);
        // Largest power of two not above a quarter, clamped.
        let block = (1u64 << (63 - quarter.leading_zeros())).clamp(256 << 10, 4 << 20);
        Some(RingConfig {
            block_size: u32::try_from(block).ok()?,
            block_count: u32::try_from((bytes / block).max(1)).ok()?,
            ..RingConfig::default()
        })
    }

    /// Ring memory in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.block_size) * u64::from(self.block_count)
    }
}

/// Kernel counters of a ring since the previous read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Frames the socket saw, including dropped ones.
    pub packets: u64,
    /// Frames dropped because no block was free.
    pub drops: u64,
    /// Times the ring was frozen (all blocks full).
    pub freeze_count: u64,
}

/// Packet type from `sll_pkttype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// To this host.
    Host,
    /// Broadcast.
    Broadcast,
    /// Multicast.
    Multicast,
    /// To another host (promiscuous).
    OtherHost,
    /// Sent by this interface.
    Outgoing,
    /// Anything else (loopback, user, kernel).
    Other(u8),
}

impl PacketType {
    fn from_raw(v: u8) -> Self {
        match v {
            libc::PACKET_HOST => PacketType::Host,
            libc::PACKET_BROADCAST => PacketType::Broadcast,
            libc::PACKET_MULTICAST => PacketType::Multicast,
            libc::PACKET_OTHERHOST => PacketType::OtherHost,
            libc::PACKET_OUTGOING => PacketType::Outgoing,
            other => PacketType::Other(other),
        }
    }
}

/// A VLAN tag the kernel stripped from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100 or 0x88a8).
    pub tpid: u16,
    /// Tag control information (priority, DEI, VLAN id).
    pub tci: u16,
}

impl VlanTag {
    /// The four bytes to insert after the MAC addresses.
    pub fn bytes(self) -> [u8; 4] {
        let p = self.tpid.to_be_bytes();
        let t = self.tci.to_be_bytes();
        [p[0], p[1], t[0], t[1]]
    }
}

/// One frame in a ring block, valid while its [`BlockGuard`] lives.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The bytes from the MAC header on (without a stripped VLAN tag).
    pub data: &'a [u8],
    /// Length on the wire, without a stripped VLAN tag.
    pub orig_len: u32,
    /// `sll_pkttype`.
    pub pkttype: PacketType,
    /// The raw `tp_status`.
    pub status: u32,
    /// Index of the interface the frame was seen on (`sll_ifindex`): what
    /// tells the ports of a shared ring ([`Ring::open_shared`]) apart.
    pub ifindex: u32,
    vlan_tci: u32,
    vlan_tpid: u16,
}

impl<'a> Frame<'a> {
    /// A frame built by hand, for tests of the layers above the ring.
    #[cfg(test)]
    pub(crate) fn synthetic(data: &'a [u8], pkttype: PacketType, vlan: Option<VlanTag>) -> Self {
        Frame {
            ts_ns: 7,
            data,
            orig_len: u32::try_from(data.len()).expect("small test frame"),
            pkttype,
            status: if vlan.is_some() {
                libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID
            } else {
                0
            },
            ifindex: 0,
            vlan_tci: vlan.map_or(0, |v| u32::from(v.tci)),
            vlan_tpid: vlan.map_or(0, |v| v.tpid),
        }
    }

    /// The VLAN tag the kernel stripped, if any (`TP_STATUS_VLAN_VALID`).
    pub fn vlan(&self) -> Option<VlanTag> {
        if self.status & libc::TP_STATUS_VLAN_VALID == 0 {
            return None;
        }
        let tpid = if self.status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && self.vlan_tpid != 0 {
            self.vlan_tpid
        } else {
            0x8100
        };
        Some(VlanTag {
            tpid,
            tci: (self.vlan_tci & 0xffff) as u16,
        })
    }

    /// The checksum is left to offload (`TP_STATUS_CSUMNOTREADY`, veth TX):
    /// the L4 checksum in `data` is not final.
    pub fn csum_not_ready(&self) -> bool {
        self.status & libc::TP_STATUS_CSUMNOTREADY != 0
    }
}

/// An open AF_PACKET socket with a TPACKET_V3 ring.
#[derive(Debug)]
pub struct Ring {
    fd: OwnedFd,
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    block_count: usize,
    next: usize,
    label: String,
}

// SAFETY: the mapping is owned by this value alone and only touched through
// `&mut self` (or the guard that borrows it mutably); moving it to another
// thread is as safe as moving the fd.
unsafe impl Send for Ring {}

fn errno(step: &'static str, netns: &str, ifname: &str) -> RingError {
    RingError::Socket {
        step,
        netns: netns.to_owned(),
        ifname: ifname.to_owned(),
        source: io::Error::last_os_error(),
    }
}

fn setsockopt<T>(fd: BorrowedFd<'_>, opt: libc::c_int, val: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>()).expect("option struct fits socklen_t");
    // SAFETY: `val` points to a live `T` of `len` bytes for the whole call
    // and `fd` is an open socket.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (val as *const T).cast(),
            len,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Most interfaces one shared ring takes ([`Ring::open_shared`]): its
/// filter spends two instructions on each, within the kernel's 4096.
pub const MAX_SHARED: usize = 2000;

/// What a ring's socket is bound to.
#[derive(Clone, Copy)]
enum Bind<'a> {
    /// One interface, by index.
    One(u32),
    /// Every interface of the namespace, filtered down to these indexes.
    Among(&'a [u32]),
}

/// `SO_ATTACH_FILTER` (asm-generic, as on x86_64 and aarch64); the libc
/// crate lacks it for Linux.
const SO_ATTACH_FILTER: libc::c_int = 26;

/// The index of `ifname` in the calling thread's namespace.
fn ifindex_here(label: &str, ifname: &str) -> Result<u32, RingError> {
    let cname = std::ffi::CString::new(ifname).map_err(|_nul| RingError::Geometry {
        ifname: ifname.to_owned(),
        what: "NUL in name",
    })?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(RingError::NoSuchInterface {
            netns: label.to_owned(),
            ifname: ifname.to_owned(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(ifindex)
}

/// A classic BPF program that accepts whole frames seen on one of
/// `ifindexes` and drops the rest: load the interface index, then per
/// index "equal: accept, else go on"; nothing matched: drop.
fn ifindex_filter(ifindexes: &[u32]) -> Vec<libc::sock_filter> {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: u16::try_from(code).expect("BPF opcodes fit 16 bits"),
        jt,
        jf,
        k,
    };
    let ld_ifindex = (libc::SKF_AD_OFF + libc::SKF_AD_IFINDEX).cast_unsigned();
    let mut prog = vec![op(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        0,
        0,
        ld_ifindex,
    )];
    for &i in ifindexes {
        prog.push(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, i));
        prog.push(op(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX));
    }
    prog.push(op(libc::BPF_RET | libc::BPF_K, 0, 0, 0));
    prog
}

/// Attaches [`ifindex_filter`] to `fd` before it is bound, so no frame of
/// another interface ever reaches the ring.
fn attach_ifindex_filter(fd: BorrowedFd<'_>, ifindexes: &[u32]) -> io::Result<()> {
    let mut prog = ifindex_filter(ifindexes);
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_big| io::Error::from(io::ErrorKind::InvalidInput))?,
        filter: prog.as_mut_ptr(),
    };
    let len = libc::socklen_t::try_from(size_of::<libc::sock_fprog>()).expect("fits socklen_t");
    // SAFETY: `fprog` points to `prog`, alive for the call; the kernel
    // copies the program.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            len,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Ring {
    /// Opens a ring on `ifname` inside `netns`, capturing both directions
    /// (or only incoming frames with [`RingConfig::ignore_outgoing`]).
    pub fn open(netns: &Netns, ifname: &str, cfg: &RingConfig) -> Result<Ring, RingError> {
        let label = netns.label().to_owned();
        match netns.run(|| Ring::open_here(&label, ifname, cfg)) {
            Ok(r) => r,
            Err(source) => Err(RingError::Netns {
                netns: label,
                ifname: ifname.to_owned(),
                source,
            }),
        }
    }

    /// Opens a ring in the calling thread's current namespace; `label`
    /// names it in errors.
    pub fn open_here(label: &str, ifname: &str, cfg: &RingConfig) -> Result<Ring, RingError> {
        let ifindex = ifindex_here(label, ifname)?;
        Ring::open_socket(label, ifname, cfg, Bind::One(ifindex))
    }

    /// Opens ONE ring for the interfaces `ifnames` of `netns`: the socket
    /// takes every interface of the namespace, and a socket filter keeps
    /// only frames seen on these (by interface index). Returns the ring and
    /// the index of each interface, in order, to tell them apart
    /// ([`Frame::ifindex`]). A ring is set up in full (its pages zeroed)
    /// and waits for an RCU grace period, so the 500 ports of a network
    /// cost 500 MiB and 1.3 s with a ring each; sharing one costs one.
    /// At most [`MAX_SHARED`] interfaces.
    pub fn open_shared(
        netns: &Netns,
        ifnames: &[&str],
        cfg: &RingConfig,
    ) -> Result<(Ring, Vec<u32>), RingError> {
        let label = netns.label().to_owned();
        let first = ifnames.first().copied().unwrap_or_default();
        match netns.run(|| Ring::open_shared_here(&label, ifnames, cfg)) {
            Ok(r) => r,
            Err(source) => Err(RingError::Netns {
                netns: label,
                ifname: first.to_owned(),
                source,
            }),
        }
    }

    /// Like [`Ring::open_shared`] in the calling thread's current
    /// namespace; `label` names it in errors.
    pub fn open_shared_here(
        label: &str,
        ifnames: &[&str],
        cfg: &RingConfig,
    ) -> Result<(Ring, Vec<u32>), RingError> {
        let ifindexes = ifnames
            .iter()
            .map(|n| ifindex_here(label, n))
            .collect::<Result<Vec<u32>, RingError>>()?;
        let first = ifnames.first().copied().unwrap_or_default();
        let ring = Ring::open_socket(label, first, cfg, Bind::Among(&ifindexes))?;
        Ok((ring, ifindexes))
    }

    /// The index of `ifname` inside `netns`: what a port joining a shared
    /// ring is told apart by ([`Ring::set_filter`]).
    pub fn ifindex_in(netns: &Netns, ifname: &str) -> Result<u32, RingError> {
        let label = netns.label().to_owned();
        match netns.run(|| ifindex_here(&label, ifname)) {
            Ok(r) => r,
            Err(source) => Err(RingError::Netns {
                netns: label,
                ifname: ifname.to_owned(),
                source,
            }),
        }
    }

    /// Replaces the filter of a shared ring ([`Ring::open_shared`]) while
    /// it runs: from now on it takes frames seen on `ifindexes` only (a
    /// member joined or left its network). Frames already in the ring stay.
    pub fn set_filter(&self, ifindexes: &[u32]) -> Result<(), RingError> {
        attach_ifindex_filter(self.fd.as_fd(), ifindexes).map_err(|source| {
            let (netns, ifname) = self.label.rsplit_once(':').unwrap_or((&self.label, ""));
            RingError::Socket {
                step: "setsockopt SO_ATTACH_FILTER",
                netns: netns.to_owned(),
                ifname: ifname.to_owned(),
                source,
            }
        })
    }

    /// Stops the ring taking frames (a filter that drops every frame),
    /// for any ring. The kernel counts a frame as received when the ring
    /// takes it, but hands a partly filled block over only when it
    /// retires: a frame taken after the last retire before a capture ends
    /// would be counted and never read. Frames already in the ring stay.
    pub fn take_no_more(&self) -> Result<(), RingError> {
        self.set_filter(&[])
    }

    /// Creates the socket, its ring and mapping, and binds it as `bind`
    /// says; `ifname` names it in errors.
    fn open_socket(
        label: &str,
        ifname: &str,
        cfg: &RingConfig,
        bind: Bind<'_>,
    ) -> Result<Ring, RingError> {
        let geometry = |what| RingError::Geometry {
            ifname: ifname.to_owned(),
            what,
        };
        if !cfg.block_size.is_power_of_two() || cfg.block_size < 4096 {
            return Err(geometry(
                "block size must be a power of two of at least 4096",
            ));
        }
        if cfg.block_count == 0 {
            return Err(geometry("block count must be positive"));
        }
        let map_len = (cfg.block_size as usize)
            .checked_mul(cfg.block_count as usize)
            .ok_or_else(|| geometry("ring too large"))?;

        // Protocol 0: receive nothing until `bind` names the interface, so
        // frames of other interfaces never reach the ring.
        // SAFETY: plain syscall with constant arguments.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(errno("socket(AF_PACKET)", label, ifname));
        }
        // SAFETY: `raw` is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(fd.as_fd(), libc::PACKET_VERSION, &version).map_err(|source| {
            RingError::Socket {
                step: "setsockopt PACKET_VERSION",
                netns: label.to_owned(),
                ifname: ifname.to_owned(),
                source,
            }
        })?;
        if let Bind::Among(ifindexes) = bind {
            attach_ifindex_filter(fd.as_fd(), ifindexes).map_err(|source| RingError::Socket {
                step: "setsockopt SO_ATTACH_FILTER",
                netns: label.to_owned(),
                ifname: ifname.to_owned(),
                source,
            })?;
        }
        if cfg.ignore_outgoing {
            let one: libc::c_int = 1;
            setsockopt(fd.as_fd(), libc::PACKET_IGNORE_OUTGOING, &one).map_err(|source| {
                RingError::Socket {
                    step: "setsockopt PACKET_IGNORE_OUTGOING",
                    netns: label.to_owned(),
                    ifname: ifname.to_owned(),
                    source,
                }
            })?;
        }
        let frame_size: u32 = 2048;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: frame_size,
            tp_frame_nr: (cfg.block_size / frame_size) * cfg.block_count,
            tp_retire_blk_tov: cfg.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(fd.as_fd(), libc::PACKET_RX_RING, &req).map_err(|source| RingError::Socket {
            step: "setsockopt PACKET_RX_RING",
            netns: label.to_owned(),
            ifname: ifname.to_owned(),
            source,
        })?;
        // SAFETY: a fresh shared mapping of the ring the kernel just
        // allocated for this fd; length as requested.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        let map = if map == libc::MAP_FAILED {
            // MAP_LOCKED fails under a low RLIMIT_MEMLOCK; retry without.
            // SAFETY: as above.
            let m = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                return Err(errno("mmap of the ring", label, ifname));
            }
            m
        } else {
            map
        };
        let map = NonNull::new(map.cast::<u8>()).ok_or_else(|| geometry("mmap returned null"))?;
        // From here `ring` owns the mapping and unmaps it on error.
        let ring = Ring {
            fd,
            map,
            map_len,
            block_size: cfg.block_size as usize,
            block_count: cfg.block_count as usize,
            next: 0,
            label: format!("{label}:{ifname}"),
        };
        // Index 0 binds to every interface of the namespace.
        let ifindex = match bind {
            Bind::One(i) => i,
            Bind::Among(_) => 0,
        };

        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = i32::try_from(ifindex).map_err(|_big| geometry("ifindex too large"))?;
        // SAFETY: `sll` is a valid sockaddr_ll of the given length.
        let r = unsafe {
            libc::bind(
                ring.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(errno("bind to interface", label, ifname));
        }
        Ok(ring)
    }

    /// `netns:ifname`, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn block_status(&self, i: usize) -> &AtomicU32 {
        let off = offset_of!(libc::tpacket_block_desc, hdr)
            + offset_of!(libc::tpacket_hdr_v1, block_status);
        // SAFETY: block `i` < block_count lies inside the mapping; the
        // status word is 4-aligned (blocks are page-aligned) and shared with
        // the kernel, so it is accessed atomically only.
        unsafe { AtomicU32::from_ptr(self.map.as_ptr().add(i * self.block_size + off).cast()) }
    }

    /// The next block the kernel has handed over, if any, in ring order.
    /// Dropping the guard gives the block back to the kernel.
    pub fn next_block(&mut self) -> Option<BlockGuard<'_>> {
        let i = self.next;
        if self.block_status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        self.next = (i + 1) % self.block_count;
        // SAFETY: the block is inside the mapping and, with TP_STATUS_USER
        // set, owned by user space until we reset its status.
        let base = unsafe { self.map.as_ptr().add(i * self.block_size) };
        // SAFETY: the block descriptor is at the start of the block; the
        // kernel wrote it before publishing TP_STATUS_USER (acquire above).
        let desc = unsafe { &*(base as *const libc::tpacket_block_desc) };
        // SAFETY: TPACKET_V3 rings always use the `bh1` header.
        let bh1 = unsafe { &desc.hdr.bh1 };
        Some(BlockGuard {
            base,
            len: self.block_size,
            status: self.block_status(i),
            remaining: bh1.num_pkts,
            offset: bh1.offset_to_first_pkt as usize,
        })
    }

    /// Reads and resets the kernel's counters (`PACKET_STATISTICS`).
    pub fn take_stats(&self) -> io::Result<RingStats> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` is a writable tpacket_stats_v3 of `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RingStats {
            packets: u64::from(st.tp_packets),
            drops: u64::from(st.tp_drops),
            freeze_count: u64::from(st.tp_freeze_q_cnt),
        })
    }
}

impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping was created with this address and length and
        // no guard borrows it (guards borrow `self` mutably).
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}

/// A block owned by user space; iterate it for its frames. Dropping it
/// returns the block to the kernel.
#[derive(Debug)]
pub struct BlockGuard<'r> {
    base: *mut u8,
    len: usize,
    status: &'r AtomicU32,
    remaining: u32,
    offset: usize,
}

/// Offset of the `sockaddr_ll` after each frame header.
const SLL_OFFSET: usize = (size_of::<libc::tpacket3_hdr>() + libc::TPACKET_ALIGNMENT - 1)
    & !(libc::TPACKET_ALIGNMENT - 1);

impl<'r> Iterator for BlockGuard<'r> {
    type Item = Frame<'r>;

    fn next(&mut self) -> Option<Frame<'r>> {
        if self.remaining == 0
            || self.offset + SLL_OFFSET + size_of::<libc::sockaddr_ll>() > self.len
        {
            return None;
        }
        self.remaining -= 1;
        // SAFETY: the kernel laid out `num_pkts` frames inside this block,
        // each starting with an aligned tpacket3_hdr; the bound is checked
        // above and the block stays ours while the guard lives.
        let hdr = unsafe { &*(self.base.add(self.offset) as *const libc::tpacket3_hdr) };
        // SAFETY: the sockaddr_ll follows the aligned header (checked above).
        let sll =
            unsafe { &*(self.base.add(self.offset + SLL_OFFSET) as *const libc::sockaddr_ll) };
        let start = self.offset + usize::from(hdr.tp_mac);
        let end = start + hdr.tp_snaplen as usize;
        let data: &'r [u8] = if end <= self.len {
            // SAFETY: `start..end` lies inside the block (checked), which
            // user space owns while the guard lives.
            unsafe { std::slice::from_raw_parts(self.base.add(start), end - start) }
        } else {
            &[]
        };
        let frame = Frame {
            ts_ns: u64::from(hdr.tp_sec) * 1_000_000_000 + u64::from(hdr.tp_nsec),
            data,
            orig_len: hdr.tp_len,
            pkttype: PacketType::from_raw(sll.sll_pkttype),
            status: hdr.tp_status,
            ifindex: u32::try_from(sll.sll_ifindex).unwrap_or(0),
            vlan_tci: hdr.hv1.tp_vlan_tci,
            vlan_tpid: hdr.hv1.tp_vlan_tpid,
        };
        if hdr.tp_next_offset == 0 {
            self.remaining = 0;
        } else {
            self.offset += hdr.tp_next_offset as usize;
        }
        Some(frame)
    }
}

impl Drop for BlockGuard<'_> {
    fn drop(&mut self) {
        self.status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Ring {
    /// Reads and discards the socket's pending error (`SO_ERROR`); returns
    /// its errno, 0 if none.
    pub fn clear_error(&self) -> i32 {
        let mut err: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` is a writable c_int of `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r == 0 { err } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tag_bytes() {
        let t = VlanTag {
            tpid: 0x8100,
            tci: 0x2064,
        };
        assert_eq!(t.bytes(), [0x81, 0x00, 0x20, 0x64]);
    }

    #[test]
    fn sll_follows_aligned_header() {
        assert_eq!(size_of::<libc::tpacket3_hdr>(), 48);
        assert_eq!(SLL_OFFSET, 48);
        assert_eq!(offset_of!(libc::sockaddr_ll, sll_pkttype), 10);
    }

    #[test]
    fn buffer_sizes_map_to_blocks() {
        assert_eq!(RingConfig::default().bytes(), 256 << 10);
        let c = RingConfig::for_buffer(1 << 20).expect("1 MiB");
        assert_eq!((c.block_size, c.block_count), (256 << 10, 4));
        let c = RingConfig::for_buffer(64 << 20).expect("64 MiB");
        assert_eq!((c.block_size, c.block_count), (4 << 20, 16));
        let c = RingConfig::for_buffer(3 << 20).expect("3 MiB");
        assert_eq!((c.block_size, c.block_count), (512 << 10, 6));
        assert_eq!(
            RingConfig::for_buffer(MIN_BUFFER).map(|c| c.bytes()),
            Some(MIN_BUFFER)
        );
        assert!(RingConfig::for_buffer(MIN_BUFFER - 1).is_none());
        assert!(RingConfig::for_buffer(MAX_BUFFER + 1).is_none());
    }

    #[test]
    fn bad_geometry_is_rejected() {
        let cfg = RingConfig {
            block_size: 3000,
            ..RingConfig::default()
        };
        assert!(matches!(
            Ring::open_here("here", "lo", &cfg),
            Err(RingError::Geometry { .. })
        ));
    }
}
