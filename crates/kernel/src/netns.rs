//! Network namespaces held by file descriptor.
//!
//! A [`Netns`] is an open fd on a network namespace plus a label used in
//! error messages. Nothing is bind-mounted in `/run/netns`: the namespace
//! lives exactly as long as some fd (or process) refers to it, so when the
//! supervisor that owns the fds dies, the kernel frees the namespaces and
//! every interface inside them.
//!
//! Namespace switches (`unshare`, `setns`) act on the calling *thread*, so
//! this module never does them on the caller's thread: it spawns a short
//! lived `std::thread`, switches there, and lets the thread die. Creating
//! many namespaces uses ONE such thread looping over them
//! ([`create_netns_many`], [`Netns::create_many`]), and so does opening the
//! route sockets of many ([`Netns::hold_rtnl_many`]). The only exception is
//! [`enter_netns`], meant for a `pre_exec` child or a thread the caller owns.
//!
//! # Open files
//!
//! A `Netns` is one fd. Its route-netlink socket is a second one, held only
//! between [`Netns::hold_rtnl_many`] (or [`Netns::create_many`]) and
//! [`Netns::release_rtnl`]; without one held, each request opens a socket
//! for itself and closes it. A lab of 10,000 namespaces so stays near
//! 10,000 fds, where one socket each would pass the 20,000 open files a
//! process may be limited to.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use nix::sched::{CloneFlags, setns, unshare};

use std::collections::HashMap;

use crate::inspect::{AddrInfo, LinkInfo, RouteInfo};
use crate::msg::Batch;
use crate::rtnl::{Rtnl, RtnlError};
use crate::sysctl::{NewNetnsSysctls, Setting, SysctlError, new_netns_settings};

/// Path of the calling thread's network namespace.
const THREAD_SELF_NET: &str = "/proc/thread-self/ns/net";

/// Errors from creating, opening or entering network namespaces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// `unshare(CLONE_NEWNET)` failed (EPERM without CAP_SYS_ADMIN).
    #[error("creating network namespace {netns}")]
    Create {
        /// Label of the namespace being created.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// Opening a namespace file failed.
    #[error("opening network namespace {netns} at {path}")]
    Open {
        /// Label of the namespace.
        netns: String,
        /// The path that was opened.
        path: PathBuf,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// `setns` into the namespace failed.
    #[error("entering network namespace {netns}")]
    Enter {
        /// Label of the namespace.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The helper thread could not be spawned.
    #[error("spawning a helper thread for network namespace {netns}")]
    Thread {
        /// Label of the namespace.
        netns: String,
        /// The error from `std::thread::Builder::spawn`.
        #[source]
        source: io::Error,
    },
    /// The helper thread panicked.
    #[error("helper thread for network namespace {netns} panicked")]
    ThreadPanicked {
        /// Label of the namespace.
        netns: String,
    },
    /// Opening the route netlink socket inside a new namespace failed.
    #[error("opening netlink socket in new network namespace {netns}")]
    Socket {
        /// Label of the namespace.
        netns: String,
        /// The socket error.
        #[source]
        source: Box<RtnlError>,
    },
    /// Setting a sysctl inside a new namespace failed.
    #[error("setting sysctls in new network namespace {netns}")]
    Sysctl {
        /// Label of the namespace.
        netns: String,
        /// The sysctl error.
        #[source]
        source: Box<SysctlError>,
    },
}

/// An open network namespace.
///
/// Holding a `Netns` keeps the namespace alive; dropping the last holder
/// (and the last process inside) lets the kernel free it along with every
/// interface inside it. The label only names the namespace in errors and
/// request descriptions.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    label: String,
    /// The namespace's route-netlink socket while one is held (see
    /// [`Netns::hold_rtnl_many`]). It is dropped with the `Netns` at the
    /// latest: a socket keeps its namespace alive, so it must not outlive
    /// the fd.
    rtnl: Mutex<Option<Rtnl>>,
}

impl Netns {
    /// Wraps an fd already open on a network namespace (`/proc/PID/ns/net`,
    /// `/run/netns/NAME`, an fd passed by another process).
    pub fn from_fd(fd: OwnedFd, label: impl Into<String>) -> Self {
        Netns {
            fd,
            label: label.into(),
            rtnl: Mutex::new(None),
        }
    }

    /// Opens a namespace by path: `/proc/<supervisor-pid>/fd/<n>`,
    /// `/proc/<pid>/ns/net` or `/run/netns/<name>`.
    pub fn open(path: impl AsRef<Path>, label: impl Into<String>) -> Result<Self, NetnsError> {
        let label = label.into();
        let path = path.as_ref();
        match File::open(path) {
            Ok(f) => Ok(Netns::from_fd(f.into(), label)),
            Err(source) => Err(NetnsError::Open {
                netns: label,
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Opens the calling thread's current network namespace (usually the
    /// host's, or the user namespace's initial one when rootless).
    pub fn current(label: impl Into<String>) -> Result<Self, NetnsError> {
        Netns::open(THREAD_SELF_NET, label)
    }

    /// Creates a new, empty network namespace (only `lo`, down).
    ///
    /// Spawns one throwaway thread. To create many, use
    /// [`create_netns_many`], which is much faster.
    pub fn create(label: impl Into<String>) -> Result<Self, NetnsError> {
        let label = label.into();
        let out = create_many_inner(vec![label], false, &[])?;
        let (ns, _) = out
            .into_iter()
            .next()
            .expect("one label gives one namespace");
        Ok(ns)
    }

    /// Creates one namespace per label like [`create_netns_many`], but
    /// keeps each namespace's socket inside its `Netns` (held as by
    /// [`Netns::hold_rtnl_many`]), ready for [`Netns::execute`],
    /// [`Netns::links`] and the like. Two fds per namespace: for many
    /// namespaces, see [`Netns::create_many_with_sysctls`].
    pub fn create_many<I, S>(labels: I) -> Result<Vec<Netns>, NetnsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        let out = create_many_inner(labels, true, &[])?;
        Ok(out
            .into_iter()
            .map(|(ns, rtnl)| {
                *ns.rtnl.lock().unwrap_or_else(PoisonError::into_inner) = rtnl;
                ns
            })
            .collect())
    }

    /// Creates one namespace per label, in order, as fast as
    /// [`Netns::create_many`], and writes `sysctls` (`net.` keys, in order)
    /// in each right after creating it, from the creating thread, which is
    /// inside it then: no thread enters the namespace for them later.
    /// Holds no socket: one fd per namespace.
    ///
    /// Keys outside `net.` are refused before anything is created.
    pub fn create_many_with_sysctls<I, S>(
        labels: I,
        sysctls: &[(&str, &str)],
    ) -> Result<Vec<Netns>, NetnsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        let settings = new_netns_settings(sysctls).map_err(|e| NetnsError::Sysctl {
            netns: labels.first().cloned().unwrap_or_default(),
            source: Box::new(e),
        })?;
        let out = create_many_inner(labels, false, &settings)?;
        Ok(out.into_iter().map(|(ns, _)| ns).collect())
    }

    /// Opens the route socket of each of `netns` that holds none, all from
    /// one helper thread that enters them in turn (far cheaper than a
    /// thread each), and holds it for [`Netns::execute`] and friends until
    /// [`Netns::release_rtnl`]. Each held socket is an open fd: hold a
    /// bounded number at a time.
    pub fn hold_rtnl_many(netns: &[&Netns]) -> Result<(), RtnlError> {
        let Some(first) = netns.first() else {
            return Ok(());
        };
        let to_netns_err = |ns: &Netns, source| RtnlError::Netns {
            netns: ns.label.clone(),
            source: Box::new(source),
        };
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("warren-netns-rtnl".into())
                .spawn_scoped(s, || -> Result<(), RtnlError> {
                    for ns in netns {
                        let mut held = ns.rtnl.lock().unwrap_or_else(PoisonError::into_inner);
                        if held.is_some() {
                            continue;
                        }
                        enter_netns(ns.fd.as_fd()).map_err(|source| {
                            to_netns_err(
                                ns,
                                NetnsError::Enter {
                                    netns: ns.label.clone(),
                                    source,
                                },
                            )
                        })?;
                        *held = Some(Rtnl::open_here(ns.label.clone())?);
                    }
                    Ok(())
                })
                .map_err(|source| {
                    to_netns_err(
                        first,
                        NetnsError::Thread {
                            netns: first.label.clone(),
                            source,
                        },
                    )
                })?;
            handle.join().unwrap_or_else(|_panic| {
                Err(to_netns_err(
                    first,
                    NetnsError::ThreadPanicked {
                        netns: first.label.clone(),
                    },
                ))
            })
        })
    }

    /// Closes the route socket this namespace holds, if any; later
    /// requests open one each until a socket is held again.
    pub fn release_rtnl(&self) {
        drop(
            self.rtnl
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }

    /// True while this namespace holds a route socket.
    pub fn holds_rtnl(&self) -> bool {
        self.rtnl
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The label given at creation.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The raw fd number, for `/proc/<pid>/fd/<n>` paths and for
    /// [`enter_netns_raw`] in a `pre_exec` child.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A path other processes can open to reach this namespace while this
    /// process lives: `/proc/<our pid>/fd/<n>`.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), self.raw_fd()))
    }

    /// Duplicates the fd, for handing to a child process or another owner.
    pub fn try_clone(&self) -> Result<Netns, NetnsError> {
        match self.fd.try_clone() {
            Ok(fd) => Ok(Netns::from_fd(fd, self.label.clone())),
            Err(source) => Err(NetnsError::Open {
                netns: self.label.clone(),
                path: self.proc_path(),
                source,
            }),
        }
    }

    /// Runs `f` on a fresh thread that has entered this namespace, and
    /// returns its result. Everything `f` opens (sockets, `/proc/sys/net`
    /// files, `/dev/net/tun`) belongs to this namespace.
    ///
    /// The thread is never reused, so the caller's thread and any async
    /// runtime are left untouched.
    pub fn run<F, R>(&self, f: F) -> Result<R, NetnsError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let fd = self.fd.as_fd();
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("warren-netns".into())
                .spawn_scoped(s, move || {
                    enter_netns(fd)?;
                    Ok(f())
                })
                .map_err(|source| NetnsError::Thread {
                    netns: self.label.clone(),
                    source,
                })?;
            match handle.join() {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(source)) => Err(NetnsError::Enter {
                    netns: self.label.clone(),
                    source,
                }),
                Err(_panic) => Err(NetnsError::ThreadPanicked {
                    netns: self.label.clone(),
                }),
            }
        })
    }

    /// Makes `cmd` run its child inside this namespace: a `pre_exec` hook
    /// calls `setns` in the forked child before `exec`. This `Netns` must
    /// stay open until the child is spawned.
    ///
    /// ```no_run
    /// # fn f(ns: &warren_kernel::Netns) -> std::io::Result<()> {
    /// let mut cmd = std::process::Command::new("ip");
    /// cmd.args(["-o", "addr"]);
    /// ns.configure_command(&mut cmd);
    /// let out = cmd.output()?;
    /// # Ok(()) }
    /// ```
    pub fn configure_command(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let fd = self.raw_fd();
        // SAFETY: the hook only calls setns, which is async-signal-safe and
        // allocates nothing; `fd` is inherited by the child (it is closed
        // only at exec, by O_CLOEXEC), so it is open when the hook runs.
        unsafe {
            cmd.pre_exec(move || enter_netns_raw(fd));
        }
    }

    /// Opens a new, separate route netlink socket inside this namespace,
    /// on a helper thread (for a caller that wants its own; most use
    /// [`Netns::execute`] and friends).
    pub fn open_rtnl(&self) -> Result<Rtnl, RtnlError> {
        match self.run(|| Rtnl::open_here(self.label.clone())) {
            Ok(r) => r,
            Err(source) => Err(RtnlError::Netns {
                netns: self.label.clone(),
                source: Box::new(source),
            }),
        }
    }
}

impl Netns {
    /// Runs `f` with the socket this namespace holds; without one, with a
    /// socket opened for this call on a helper thread ([`Netns::open_rtnl`])
    /// and closed after it. Calls from several threads are serialized.
    pub fn with_rtnl<R>(
        &self,
        f: impl FnOnce(&mut Rtnl) -> Result<R, RtnlError>,
    ) -> Result<R, RtnlError> {
        let mut guard = self.rtnl.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(rtnl) => f(rtnl),
            None => f(&mut self.open_rtnl()?),
        }
    }

    /// A new empty batch whose descriptions use this namespace's label.
    pub fn batch<'a>(&self) -> Batch<'a> {
        Batch::new(self.label.clone())
    }

    /// Sends `batch` on this namespace's socket and waits for every ACK;
    /// see [`Rtnl::execute`].
    pub fn execute(&self, batch: Batch<'_>) -> Result<(), RtnlError> {
        self.with_rtnl(|r| r.execute(batch))
    }

    /// Like [`Netns::execute`], but a single failure comes back as
    /// [`RtnlError::Request`]; see [`Rtnl::execute_one`].
    pub fn execute_one(&self, batch: Batch<'_>) -> Result<(), RtnlError> {
        self.with_rtnl(|r| r.execute_one(batch))
    }

    /// Lists the links in this namespace.
    pub fn links(&self) -> Result<Vec<LinkInfo>, RtnlError> {
        self.with_rtnl(Rtnl::links)
    }

    /// One link by name or altname, or `None`.
    pub fn link(&self, ifname: &str) -> Result<Option<LinkInfo>, RtnlError> {
        self.with_rtnl(|r| r.link(ifname))
    }

    /// The ifindex of a link, by name or altname.
    pub fn link_index(&self, ifname: &str) -> Result<u32, RtnlError> {
        self.with_rtnl(|r| r.link_index(ifname))
    }

    /// Maps every link name to its ifindex (one dump).
    pub fn link_indexes(&self) -> Result<HashMap<String, u32>, RtnlError> {
        self.with_rtnl(Rtnl::link_indexes)
    }

    /// Lists the IPv4 and IPv6 addresses in this namespace.
    pub fn addresses(&self) -> Result<Vec<AddrInfo>, RtnlError> {
        self.with_rtnl(Rtnl::addresses)
    }

    /// Lists the main-table unicast routes in this namespace.
    pub fn routes(&self) -> Result<Vec<RouteInfo>, RtnlError> {
        self.with_rtnl(Rtnl::routes)
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Netns {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Moves the calling thread into the network namespace `fd` with `setns`.
///
/// Only a syscall: async-signal-safe, so usable in a `pre_exec` closure or a
/// thread you own. Never call it on an async runtime's worker thread.
pub fn enter_netns(fd: BorrowedFd<'_>) -> Result<(), io::Error> {
    setns(fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Like [`enter_netns`] for a raw fd number, for `pre_exec` closures that
/// captured [`Netns::raw_fd`]. Async-signal-safe.
///
/// # Safety
///
/// `fd` must be an open file descriptor for the duration of the call.
pub unsafe fn enter_netns_raw(fd: RawFd) -> Result<(), io::Error> {
    // SAFETY: the caller guarantees `fd` is open for the duration of this
    // call, which is all `BorrowedFd` requires here.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    enter_netns(fd)
}

/// Creates one network namespace per label, in order, and opens a route
/// netlink socket inside each; returns each namespace with its socket.
///
/// Dedicated threads (one per 250 namespaces, at most 8, each with a run
/// of the labels) loop: `unshare(CLONE_NEWNET)`, open
/// `/proc/thread-self/ns/net`, open the socket, repeat; then they exit. On
/// error the namespaces created so far are dropped (and so freed).
///
/// Drop the `Rtnl` with its `Netns`: a socket keeps its namespace alive.
/// [`Netns::create_many`] does the same but keeps each socket inside its
/// `Netns` (used by [`Netns::execute`] and friends).
pub fn create_netns_many<I, S>(labels: I) -> Result<Vec<(Netns, Rtnl)>, NetnsError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
    let out = create_many_inner(labels, true, &[])?;
    Ok(out
        .into_iter()
        .filter_map(|(ns, rtnl)| rtnl.map(|r| (ns, r)))
        .collect())
}

type Created = Vec<(Netns, Option<Rtnl>)>;

/// Namespaces one creating thread makes before another thread is added:
/// a namespace takes the kernel 1-2 ms, much of it outside any global
/// lock, so a 10,000-node lab's namespaces come up several at a time.
const PER_CREATOR: usize = 250;
/// Most creating threads.
const CREATORS: usize = 8;

fn create_many_inner(
    labels: Vec<String>,
    with_socket: bool,
    sysctls: &[Setting],
) -> Result<Created, NetnsError> {
    let threads = labels.len().div_ceil(PER_CREATOR).clamp(1, CREATORS);
    let chunk = labels.len().div_ceil(threads).max(1);
    let mut parts = Vec::with_capacity(threads);
    let mut rest = labels;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    let handles = parts
        .into_iter()
        .map(|part| {
            let first = part.first().cloned().unwrap_or_default();
            let sysctls = sysctls.to_vec();
            std::thread::Builder::new()
                .name("warren-netns-create".into())
                .spawn(move || create_in_this_thread(part, with_socket, &sysctls))
                .map(|h| (first.clone(), h))
                .map_err(|source| NetnsError::Thread {
                    netns: first,
                    source,
                })
        })
        .collect::<Vec<_>>();
    // Join every thread before returning, even after an error, so no
    // namespace outlives the call unowned; the parts come back in order.
    let mut out = Vec::new();
    let mut err = None;
    for h in handles {
        let r = h.and_then(|(first, h)| match h.join() {
            Ok(r) => r,
            Err(_panic) => Err(NetnsError::ThreadPanicked { netns: first }),
        });
        match r {
            Ok(part) => out.extend(part),
            Err(e) => {
                err.get_or_insert(e);
            }
        }
    }
    match err {
        None => Ok(out),
        Some(e) => Err(e),
    }
}

/// Creates a namespace per label from the calling thread (which ends up
/// in the last one: call it on a thread of its own), writes `sysctls` in
/// each, and opens its route netlink socket when `with_socket`.
fn create_in_this_thread(
    labels: Vec<String>,
    with_socket: bool,
    sysctls: &[Setting],
) -> Result<Created, NetnsError> {
    let mut writer = NewNetnsSysctls::new(sysctls);
    let mut out = Vec::with_capacity(labels.len());
    for label in labels {
        if let Err(e) = unshare(CloneFlags::CLONE_NEWNET) {
            return Err(NetnsError::Create {
                netns: label,
                source: e.into(),
            });
        }
        let ns = Netns::current(label)?;
        writer
            .write_here(&ns.label)
            .map_err(|e| NetnsError::Sysctl {
                netns: ns.label.clone(),
                source: Box::new(e),
            })?;
        let rtnl = if with_socket {
            match Rtnl::open_here(ns.label.clone()) {
                Ok(r) => Some(r),
                Err(e) => {
                    return Err(NetnsError::Socket {
                        netns: ns.label.clone(),
                        source: Box::new(e),
                    });
                }
            }
        } else {
            None
        };
        out.push((ns, rtnl));
    }
    Ok(out)
}
