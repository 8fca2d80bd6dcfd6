//! Containers: a process in its own mount, pid, uts and ipc namespaces, in
//! a node's network namespace, on an overlay of an image's layers.
//!
//! [`launch`] runs in a single-threaded process (the `warren __container`
//! helper started by a supervisor, or `warren run`): it joins the network
//! namespace, unshares the others and forks the container's pid 1, which
//! builds the root (overlay, /proc, /sys, a minimal /dev, binds, /etc
//! files), masks and write-protects what runc does, pivots into it,
//! confines itself (no_new_privs, seccomp, capabilities; see
//! [`crate::security`]), switches user and execs the entrypoint. The
//! parent waits and returns the exit code. Both carry a parent-death
//! signal, so a killed supervisor takes the container with it. A
//! container with a user namespace of its own ([`ContainerSpec::userns`])
//! has its root built by the parent instead, on idmapped layers (see
//! [`crate::security::idmap`]), and its init does the rest as that
//! namespace's root.

use crate::pidns::die_with_parent;
use crate::security::idmap::{self, IdRange};
use crate::security::{self, Confinement, Prepared, seccomp::Profile};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, chdir, execvpe, fork, pivot_root, sethostname};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

/// Errors launching a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// A step before the entrypoint ran failed; `step` names it.
    #[error("{step}")]
    Setup {
        /// What was being done.
        step: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn setup(step: impl Into<String>) -> impl FnOnce(nix::Error) -> ContainerError {
    let step = step.into();
    move |e| ContainerError::Setup {
        step,
        source: e.into(),
    }
}

fn setup_io(step: impl Into<String>) -> impl FnOnce(io::Error) -> ContainerError {
    let step = step.into();
    move |source| ContainerError::Setup { step, source }
}

/// The container's root filesystem.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Rootfs {
    /// Read-only image layers (lowest first) under a writable upper directory.
    Overlay {
        /// Image layers, lowest first.
        lowers: Vec<PathBuf>,
        /// Writable layer.
        upper: PathBuf,
        /// overlayfs work directory (same filesystem as `upper`).
        work: PathBuf,
        /// Where the merged root is mounted.
        merged: PathBuf,
        /// When set, a tmpfs mounted here (inside the container's mount
        /// namespace) holds `upper` and `work`: the writable layer lives in
        /// memory and vanishes with the container, leaving nothing to clean.
        #[serde(default)]
        scratch: Option<PathBuf>,
    },
    /// A directory used as the root as it is (changes go into it).
    Dir(PathBuf),
}

/// A bind mount into the container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    /// Host path.
    pub source: PathBuf,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub readonly: bool,
}

/// Everything needed to start a container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerSpec {
    /// Root filesystem.
    pub rootfs: Rootfs,
    /// Network namespace to join; `None` creates one with only `lo`.
    pub netns: Option<PathBuf>,
    /// Host name (the node's name).
    pub hostname: String,
    /// Entrypoint and command.
    pub argv: Vec<String>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Working directory in the container.
    pub workdir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; root when `None`.
    pub user: Option<String>,
    /// Bind mounts.
    pub binds: Vec<BindMount>,
    /// Content of `/etc/hosts`.
    pub hosts: String,
    /// Content of `/etc/resolv.conf`.
    pub resolv: String,
    /// Capabilities kept, as `NET_ADMIN` or `CAP_NET_ADMIN`.
    pub capabilities: Vec<String>,
    /// Run unconfined: every capability, no seccomp filter, no
    /// no_new_privs, nothing masked or read-only in /proc (as
    /// `docker run --privileged`).
    #[serde(default)]
    pub privileged: bool,
    /// Boot an operating system with systemd as PID 1.
    #[serde(default)]
    pub system: Option<SystemBoot>,
    /// A pty slave (a path in this host's devpts) that becomes the
    /// container's `/dev/console` and its init's stdin, stdout, stderr and
    /// controlling terminal (see [`crate::vm::PtyConsole`]).
    #[serde(default)]
    pub console: Option<PathBuf>,
    /// A unix datagram socket of the supervisor, bound at
    /// `/run/host/notify` on a tmpfs `/run` (as systemd-nspawn does) for
    /// the init's sd_notify messages: systemd sends `READY=1` once its boot
    /// has finished. The init finds it in `$NOTIFY_SOCKET`.
    #[serde(default)]
    pub notify: Option<PathBuf>,
    /// Run in a user namespace of its own whose ids 0..count are these
    /// host ids (see [`crate::security::idmap`]): root in the container
    /// is an unprivileged id on the host.
    #[serde(default)]
    pub userns: Option<IdRange>,
    /// A pid namespace to join (`/proc/PID/ns/pid`) instead of creating
    /// one: a node's application container sharing the node's processes.
    #[serde(default)]
    pub pidns: Option<PathBuf>,
    /// tmpfs mounts, each `TARGET` or `TARGET:OPTIONS` (`size=64m,mode=1777`).
    #[serde(default)]
    pub tmpfs: Vec<String>,
    /// Run the command under a small init (pid 1) that forwards signals
    /// to it and reaps zombies, as `docker run --init` does.
    #[serde(default)]
    pub init: bool,
}

/// Where a container's init finds [`ContainerSpec::notify`].
pub const NOTIFY_SOCKET: &str = "/run/host/notify";

/// What booting systemd as a container's PID 1 needs beyond a container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SystemBoot {
    /// One cgroup directory per mounted hierarchy (the cgroup2 one first):
    /// the init moves into each, then takes a cgroup namespace rooted there
    /// and sees only the cgroup2 view. Given the v1 controllers, systemd
    /// would create unit cgroups in the host's hierarchies.
    pub cgroups: Vec<PathBuf>,
}

impl ContainerSpec {
    /// How the container's processes, and commands `warren exec` runs in
    /// it, are confined: Docker's defaults for containers, systemd-nspawn's
    /// for system containers (no no_new_privs, its seccomp allow-list).
    pub fn confinement(&self) -> Confinement {
        let system = self.system.is_some();
        Confinement {
            privileged: self.privileged,
            profile: if system {
                Profile::Nspawn
            } else {
                Profile::Docker
            },
            no_new_privs: !system,
            capabilities: self.capabilities.clone(),
        }
    }
}

/// Capabilities of a system container: close to systemd-nspawn's set.
pub const SYSTEM_CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "NET_ADMIN",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_NICE",
    "SYS_PTRACE",
    "SYS_TTY_CONFIG",
];

/// The capabilities a container keeps by default: Docker's default set plus
/// NET_ADMIN, which routers and appliances need.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
    "NET_ADMIN",
];

/// Pid of the container's init, for forwarding signals from the helper.
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Seconds a forwarded SIGTERM, SIGINT or SIGHUP gets before the container
/// is killed (see [`set_stop_grace`]).
static STOP_GRACE: AtomicU32 = AtomicU32::new(10);
/// Whether a stop signal was already forwarded.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Sets how long the container may take to exit after the helper forwards
/// it SIGTERM, SIGINT or SIGHUP before it gets SIGKILL (10 s by default, as
/// docker's stop timeout). A container's init ignores signals it has no
/// handler for (`cat` as PID 1 ignores SIGTERM), so without this neither
/// `timeout` nor Ctrl-C would end it. A second signal kills at once.
pub fn set_stop_grace(grace: std::time::Duration) {
    let secs = u32::try_from(grace.as_secs().max(1)).unwrap_or(u32::MAX);
    STOP_GRACE.store(secs, Ordering::Relaxed);
}

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid <= 0 {
        return;
    }
    // SAFETY: kill and alarm are async-signal-safe.
    unsafe {
        if STOPPING.swap(true, Ordering::Relaxed) {
            libc::kill(pid, libc::SIGKILL);
        } else {
            libc::kill(pid, sig);
            libc::alarm(STOP_GRACE.load(Ordering::Relaxed));
        }
    }
}

extern "C" fn escalate(_: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// From now on, SIGTERM, SIGINT and SIGHUP sent to this process go to
/// `pid`, which gets SIGKILL when it has not exited a grace period later
/// (see [`set_stop_grace`]) or at a second signal.
pub fn forward_stop_signals(pid: i32) {
    CHILD.store(pid, Ordering::Relaxed);
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only calls kill and alarm, which are async-signal-safe.
        let _ = unsafe { signal(sig, SigHandler::Handler(forward)) };
    }
    // SAFETY: the handler only calls kill, which is async-signal-safe.
    let _ = unsafe { signal(Signal::SIGALRM, SigHandler::Handler(escalate)) };
}

/// Starts the container and waits for it; returns its exit code. `stdio`
/// replaces stdin/stdout/stderr of the container (for a pty slave), and
/// `on_start` runs in the parent once the container's pid is known.
///
/// Call it from a single-threaded process.
pub fn launch(
    spec: &ContainerSpec,
    stdio: Option<OwnedFd>,
    on_start: &mut dyn FnMut(i32),
) -> Result<i32, ContainerError> {
    if let Some(path) = &spec.netns {
        let f = File::open(path).map_err(setup_io(format!(
            "opening network namespace {}",
            path.display()
        )))?;
        setns(&f, CloneFlags::CLONE_NEWNET)
            .map_err(setup("joining the node's network namespace"))?;
    }
    // Compiled before the fork: a bad capability name fails here, and the
    // container's init only installs the result.
    let confinement = spec
        .confinement()
        .prepare()
        .map_err(|e| setup_io("preparing the container's confinement")(io::Error::other(e)))?;
    let stdio = match (stdio, &spec.console) {
        (None, Some(path)) => Some(open_console(path)?),
        (stdio, _) => stdio,
    };
    if let Some(range) = spec.userns {
        if spec.pidns.is_some() {
            // The node's pid namespace belongs to the host's user
            // namespace: a process in a user namespace of its own cannot
            // join it.
            return Err(setup_io("joining the node's pid namespace")(
                io::Error::other(
                    "a container in a user namespace of its own (userns: true) cannot share the node's pid namespace (pid: node)",
                ),
            ));
        }
        return launch_in_userns(spec, range, &confinement, stdio, on_start);
    }
    // Only the pid namespace is unshared (or joined) here (it applies to the child);
    // the child unshares the rest itself, so that its pivot_root cannot
    // move this process's root along with its own.
    match &spec.pidns {
        Some(path) => {
            let f = File::open(path).map_err(setup_io(format!(
                "opening pid namespace {}",
                path.display()
            )))?;
            setns(&f, CloneFlags::CLONE_NEWPID)
                .map_err(setup("joining the node's pid namespace"))?;
        }
        None => unshare(CloneFlags::CLONE_NEWPID)
            .map_err(setup("creating the container's pid namespace"))?,
    }
    // The child reports a failure before exec on this pipe; exec closes it.
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(setup("creating a pipe"))?;
    // SAFETY: the process is single-threaded (documented precondition), so
    // the child may allocate and run any code before exec.
    match unsafe { fork() }.map_err(setup("forking the container's init"))? {
        ForkResult::Child => {
            drop(rd);
            let err = child(spec, &confinement, stdio, spec.netns.is_none(), false);
            report_and_exit(wr, &err)
        }
        ForkResult::Parent { child } => {
            drop(wr);
            drop(stdio);
            supervise(child, rd, on_start)
        }
    }
}

/// Writes why the container's setup failed for the parent, and exits.
fn report_and_exit(wr: OwnedFd, err: &ContainerError) -> ! {
    let mut w = File::from(wr);
    let _ = write!(w, "{}", chain(err));
    // SAFETY: _exit is always safe; nothing may run after a failed setup.
    unsafe { libc::_exit(127) }
}

/// The parent's part once the container's init is forked: forwards stop
/// signals, reads the init's setup error if any, else waits for its exit.
fn supervise(
    child: Pid,
    rd: OwnedFd,
    on_start: &mut dyn FnMut(i32),
) -> Result<i32, ContainerError> {
    forward_stop_signals(child.as_raw());
    let mut msg = String::new();
    let _ = File::from(rd).read_to_string(&mut msg);
    if !msg.is_empty() {
        let _ = waitpid(child, None);
        return Err(ContainerError::Setup {
            step: msg,
            source: io::Error::other("the container did not start"),
        });
    }
    on_start(child.as_raw());
    wait_code(child)
}

/// [`launch`] for a container in a user namespace of its own. The init
/// is cloned straight into a new user and pid namespace (so that the pid
/// namespace, and the mount namespace it unshares later, belong to the
/// user namespace and it may mount /proc there). Meanwhile this process,
/// still root on the host, takes a private mount namespace, writes the
/// init's id maps and builds what needs host privileges: the overlay over
/// idmapped layers, and /sys of the node's network namespace, which the
/// container's user namespace does not own. The init then copies that
/// mount namespace into its own and goes on as any container.
fn launch_in_userns(
    spec: &ContainerSpec,
    range: IdRange,
    confinement: &Prepared,
    stdio: Option<OwnedFd>,
    on_start: &mut dyn FnMut(i32),
) -> Result<i32, ContainerError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(setup("creating a private mount namespace"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(setup("making mounts private"))?;
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(setup("creating a pipe"))?;
    // The init waits on this pipe until its maps and root are ready; a
    // byte means go on, end of file means the parent gave up.
    let (go_rd, go_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(setup("creating a pipe"))?;
    // The init starts in the folder holding its root (see `child`); this
    // process goes back to where it was once it is forked.
    let cwd = std::env::current_dir().map_err(setup_io("reading the working directory"))?;
    let holder = root_path(spec).parent().unwrap_or(Path::new("/"));
    chdir(holder).map_err(setup(format!("entering {}", holder.display())))?;
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::SIGCHLD;
    // SAFETY: clone without a new stack or CLONE_VM behaves as fork; the
    // process is single-threaded (documented precondition of `launch`).
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    if pid < 0 {
        return Err(setup_io(
            "creating the container's user namespace (is /proc/sys/user/max_user_namespaces 0?)",
        )(io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(rd);
        drop(go_wr);
        let err = match wait_for_go(go_rd) {
            Ok(()) => child(spec, confinement, stdio, spec.netns.is_none(), true),
            Err(e) => e,
        };
        report_and_exit(wr, &err)
    }
    drop(wr);
    drop(go_rd);
    let _ = chdir(&cwd);
    let child = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    match prepare_host_side(spec, range, child) {
        Ok(()) => {
            let _ = File::from(go_wr).write_all(b"1");
        }
        Err(e) => {
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            return Err(e);
        }
    }
    drop(stdio);
    let code = supervise(child, rd, on_start);
    // The root was mounted in this process's namespace: unmount it before
    // the caller removes the folders it is mounted on.
    if let Rootfs::Overlay {
        merged, scratch, ..
    } = &spec.rootfs
    {
        let _ = umount2(merged, MntFlags::MNT_DETACH);
        if let Some(dir) = scratch {
            let _ = umount2(dir, MntFlags::MNT_DETACH);
        }
    }
    code
}

/// Lets the root of a container's user namespace ping and serve low ports
/// in the node's network namespace, which the host's user namespace owns
/// (so raw sockets and binding below 1024 need capabilities there): ICMP
/// echo sockets for every group and no privileged ports, as Docker sets
/// for every container. Values the lab file changed from the kernel's
/// defaults are left as they are.
fn unprivileged_network() -> Result<(), ContainerError> {
    for (key, default, open) in [
        ("net/ipv4/ping_group_range", "1\t0", "0 2147483647"),
        ("net/ipv4/ip_unprivileged_port_start", "1024", "0"),
    ] {
        let path = format!("/proc/sys/{key}");
        let now = std::fs::read_to_string(&path).map_err(setup_io(format!("reading {path}")))?;
        if now.trim() == default {
            std::fs::write(&path, open).map_err(setup_io(format!("writing {path}")))?;
        }
    }
    Ok(())
}

/// In the init of a container with its own user namespace: waits until
/// the parent has written the id maps and built the root, then becomes
/// the namespace's root.
fn wait_for_go(go: OwnedFd) -> Result<(), ContainerError> {
    die_with_parent().map_err(setup_io("setting the parent-death signal"))?;
    let mut byte = [0u8; 1];
    let n = File::from(go)
        .read(&mut byte)
        .map_err(setup_io("waiting for the id maps"))?;
    if n == 0 {
        return Err(setup_io("waiting for the id maps")(io::Error::other(
            "the parent gave up",
        )));
    }
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(setup("becoming the user namespace's root group"))?;
    nix::unistd::setgroups(&[Gid::from_raw(0)]).map_err(setup("setting groups"))?;
    nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(setup("becoming the user namespace's root"))
}

/// The parent's part of a container with its own user namespace: the id
/// maps of the init `child`, then the root on idmapped layers.
fn prepare_host_side(
    spec: &ContainerSpec,
    range: IdRange,
    child: Pid,
) -> Result<(), ContainerError> {
    range
        .write_maps(child.as_raw())
        .map_err(setup_io("mapping the container's ids"))?;
    let userns = File::open(format!("/proc/{child}/ns/user"))
        .map(OwnedFd::from)
        .map_err(setup_io("opening the container's user namespace"))?;
    let root = mount_rootfs(spec, Some((&userns, range)))?;
    if spec.netns.is_some() {
        mount_sysfs(&root)?;
        unprivileged_network()?;
    }
    populate_root(spec, &root, Some(range))?;
    if let Some(boot) = &spec.system {
        // The init cannot join cgroups the host's root owns; it is moved
        // here and given them, as systemd-nspawn -U gives its container's.
        for dir in &boot.cgroups {
            std::fs::write(dir.join("cgroup.procs"), child.to_string())
                .map_err(setup_io(format!("moving the init into {}", dir.display())))?;
            for f in [
                "",
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.threads",
            ] {
                let p = dir.join(f);
                if p.exists() {
                    range
                        .chown_to_root(&p)
                        .map_err(setup_io("giving the cgroup"))?;
                }
            }
        }
    }
    for p in [spec.console.as_ref(), spec.notify.as_ref()]
        .into_iter()
        .flatten()
    {
        range.chown_to_root(p).map_err(setup_io(
            "giving the container its console and notify socket",
        ))?;
    }
    Ok(())
}

/// Opens the console's pty slave without making it this process's
/// controlling terminal: the container's init takes it after `setsid`.
fn open_console(path: &Path) -> Result<OwnedFd, ContainerError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .map(OwnedFd::from)
        .map_err(setup_io(format!("opening the console {}", path.display())))
}

fn wait_code(child: Pid) -> Result<i32, ContainerError> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(setup("waiting for the container")(e)),
        }
    }
}

fn chain(e: &ContainerError) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The container's pid 1 up to exec; returns only on failure. With
/// `host_built`, the parent has mounted the root (and /sys when the
/// container joins a node's network namespace) and moved it into its
/// cgroups (see [`launch_in_userns`]).
fn child(
    spec: &ContainerSpec,
    confinement: &Prepared,
    stdio: Option<OwnedFd>,
    own_net: bool,
    host_built: bool,
) -> ContainerError {
    let r = (|| -> Result<std::convert::Infallible, ContainerError> {
        die_with_parent().map_err(setup_io("setting the parent-death signal"))?;
        if let Some(fd) = stdio {
            // SAFETY: setsid and the dup2/ioctl calls only affect this process's fds.
            unsafe {
                libc::setsid();
                for target in 0..3 {
                    libc::dup2(fd.as_raw_fd(), target);
                }
                // A console is not made the init's controlling terminal:
                // systemd as PID 1 would get SIGHUP, its reload signal,
                // when the getty hangs the console up (as under nspawn, it
                // is the getty's).
                if spec.console.is_none() {
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                }
            }
        }
        let mut flags =
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
        if own_net {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        unshare(flags).map_err(setup("creating the container's namespaces"))?;
        if own_net {
            set_loopback_up()?;
        }
        private_mounts()?;
        let root = if host_built {
            // Relative to the working directory the parent left this
            // process in: the host's root owns the folders above it, and
            // the user namespace's root may not pass through them.
            let root = PathBuf::from(root_path(spec).file_name().unwrap_or_default());
            // Bound onto itself: the parent's mounts are locked in this
            // namespace, and pivot_root refuses a locked root.
            mount(
                Some(&root),
                &root,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(setup("binding the root"))?;
            root
        } else {
            mount_rootfs(spec, None)?
        };
        if !host_built || own_net {
            mount_sysfs(&root)?;
        }
        mount_proc(&root)?;
        if !host_built {
            populate_root(spec, &root, None)?;
        }
        if let Some(boot) = &spec.system {
            system_mounts(&root, boot, !host_built)?;
        }
        if !spec.privileged {
            security::masks::apply(&root, spec.system.is_some())
                .map_err(|e| setup_io("masking /proc and /sys")(io::Error::other(e)))?;
        }
        sethostname(&spec.hostname).map_err(setup("setting the host name"))?;
        enter_root(&root)?;
        let dir = if spec.workdir.is_empty() {
            "/"
        } else {
            &spec.workdir
        };
        chdir(dir).map_err(setup(format!("changing to working directory {dir}")))?;
        // Before switching user: without no_new_privs (system nodes) only
        // a process with CAP_SYS_ADMIN may install a filter.
        confinement
            .apply()
            .map_err(|e| setup_io("confining the container")(io::Error::other(e)))?;
        if let Some(user) = &spec.user {
            switch_user(user)?;
        }
        let argv: Vec<CString> = spec
            .argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| setup_io("reading the command")(io::Error::other(e)))?;
        let env: Vec<CString> = spec
            .env
            .iter()
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
            .collect();
        let Some(program) = argv.first() else {
            return Err(setup_io("starting the container")(io::Error::other(
                "no command to run",
            )));
        };
        if spec.init {
            // Returns in the command's process; this one stays as pid 1.
            crate::reaper::become_init().map_err(setup_io("starting the init"))?;
        }
        // execvpe searches the PATH of the current environment: set the container's.
        for (k, v) in &spec.env {
            if k == "PATH" {
                // SAFETY: single-threaded child before exec.
                unsafe { std::env::set_var("PATH", v) };
            }
        }
        execvpe(program, &argv, &env).map_err(setup(format!("running {}", spec.argv[0])))
    })();
    match r {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Brings `lo` up in the calling thread's (new) network namespace.
fn set_loopback_up() -> Result<(), ContainerError> {
    let err =
        |e: warren_kernel::RtnlError| setup_io("bringing lo up")(io::Error::other(e.to_string()));
    let mut rtnl = warren_kernel::Rtnl::open_here("container").map_err(err)?;
    let mut batch = rtnl.batch();
    batch.set_up("lo");
    rtnl.execute(batch).map_err(err)
}

/// `MS_NODEV` unless privileged: device nodes in the root and in /dev do
/// not open (those warren binds into /dev are mounts of their own), so
/// without a device cgroup, a node the container makes itself cannot
/// reach a host device.
fn nodev(spec: &ContainerSpec) -> MsFlags {
    if spec.privileged {
        MsFlags::empty()
    } else {
        MsFlags::MS_NODEV
    }
}

/// Makes every mount of this (new) mount namespace private, so that
/// nothing mounted in it reaches the host's.
fn private_mounts() -> Result<(), ContainerError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(setup("making mounts private"))
}

/// Where the container's root is mounted.
fn root_path(spec: &ContainerSpec) -> &Path {
    match &spec.rootfs {
        Rootfs::Overlay { merged, .. } => merged,
        Rootfs::Dir(dir) => dir,
    }
}

/// Mounts the container's root: the overlay of the image's layers, or the
/// root directory bound onto itself; returns where it is. With `idmap`
/// (a user namespace and its ids), the layers (or the directory) are
/// idmapped through it, so that the host root's files are the container
/// root's, and the writable layer's top belongs to the container's root.
fn mount_rootfs(
    spec: &ContainerSpec,
    idmap: Option<(&OwnedFd, IdRange)>,
) -> Result<PathBuf, ContainerError> {
    let idmapped = |path: &Path, userns: &OwnedFd| {
        idmap::idmap_in_place(path, userns).map_err(setup_io(
            "giving the image's files to the container's user namespace",
        ))
    };
    let nodev = nodev(spec);
    let root = match &spec.rootfs {
        Rootfs::Overlay {
            lowers,
            upper,
            work,
            merged,
            scratch,
        } => {
            if let Some(dir) = scratch {
                mount(
                    Some("tmpfs"),
                    dir,
                    Some("tmpfs"),
                    MsFlags::empty(),
                    Some("mode=755"),
                )
                .map_err(setup(format!(
                    "mounting the scratch space at {}",
                    dir.display()
                )))?;
                for d in [upper, work] {
                    std::fs::create_dir_all(d)
                        .map_err(setup_io(format!("creating {}", d.display())))?;
                }
            }
            if let Some((userns, range)) = idmap {
                range.chown_to_root(upper).map_err(setup_io(
                    "giving the writable layer to the container's root",
                ))?;
                let mut done = std::collections::HashSet::new();
                for l in lowers {
                    if done.insert(l) {
                        idmapped(l, userns)?;
                    }
                }
            }
            let lower: Vec<String> = lowers
                .iter()
                .rev()
                .map(|p| p.display().to_string())
                .collect();
            let opts = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                upper.display(),
                work.display()
            );
            mount(
                Some("overlay"),
                merged,
                Some("overlay"),
                nodev,
                Some(opts.as_str()),
            )
            .map_err(setup(format!(
                "mounting the overlay root at {}",
                merged.display()
            )))?;
            merged.clone()
        }
        Rootfs::Dir(dir) => {
            match idmap {
                Some((userns, _)) => idmapped(dir, userns)?,
                None => mount(
                    Some(dir),
                    dir,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(setup(format!("binding the root {}", dir.display())))?,
            }
            if !nodev.is_empty() {
                remount_adding(dir, nodev)?;
            }
            dir.clone()
        }
    };
    Ok(root)
}

/// Mounts /sys, read-only: the sysfs of the calling process's network
/// namespace.
fn mount_sysfs(root: &Path) -> Result<(), ContainerError> {
    let sys = root.join("sys");
    std::fs::create_dir_all(&sys).map_err(setup_io("creating /sys"))?;
    mount(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(setup("mounting /sys"))
}

/// Mounts what goes into the root (/proc, /dev, the binds, ...) and
/// writes its /etc files.
fn populate_root(
    spec: &ContainerSpec,
    root: &Path,
    owner: Option<IdRange>,
) -> Result<(), ContainerError> {
    let nodev = nodev(spec);
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(setup_io(format!("creating {}", p.display())))
    };
    // What the parent makes for a container's root belongs to it.
    let give = |p: &Path| match owner {
        Some(range) => range
            .chown_to_root(p)
            .map_err(setup_io("giving a file to the container's root")),
        None => Ok(()),
    };
    let owned = |opts: &str| match owner {
        Some(r) => format!("{opts},uid={},gid={}", r.host_uid, r.host_gid),
        None => opts.to_string(),
    };
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mkdir(&at("proc"))?;
    mkdir(&at("sys"))?;
    mkdir(&at("dev"))?;
    mount(
        Some("tmpfs"),
        &at("dev"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | nodev,
        Some(owned("mode=755,size=65536k").as_str()),
    )
    .map_err(setup("mounting /dev"))?;
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = at(&format!("dev/{dev}"));
        File::create(&target).map_err(setup_io(format!("creating /dev/{dev}")))?;
        mount(
            Some(&*format!("/dev/{dev}")),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(setup(format!("binding /dev/{dev}")))?;
    }
    mkdir(&at("dev/pts"))?;
    mount(
        Some("devpts"),
        &at("dev/pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(setup("mounting /dev/pts"))?;
    mkdir(&at("dev/shm"))?;
    mount(
        Some("shm"),
        &at("dev/shm"),
        Some("tmpfs"),
        nosuid,
        Some("mode=1777,size=65536k"),
    )
    .map_err(setup("mounting /dev/shm"))?;
    if let Some(notify) = &spec.notify {
        mkdir(&at("run"))?;
        mount(
            Some("tmpfs"),
            &at("run"),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(owned("mode=755").as_str()),
        )
        .map_err(setup("mounting /run"))?;
        let target = at(NOTIFY_SOCKET);
        if let Some(p) = target.parent() {
            mkdir(p)?;
        }
        File::create(&target).map_err(setup_io(format!("creating {NOTIFY_SOCKET}")))?;
        mount(
            Some(notify),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(setup(format!(
            "binding the notify socket to {NOTIFY_SOCKET}"
        )))?;
    }
    if let Some(console) = &spec.console {
        let target = at("dev/console");
        File::create(&target).map_err(setup_io("creating /dev/console"))?;
        mount(
            Some(console),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(setup(format!(
            "binding {} to /dev/console",
            console.display()
        )))?;
    }
    for (link, target) in [
        ("dev/ptmx", "pts/ptmx"),
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, at(link))
            .map_err(setup_io(format!("linking /{link}")))?;
    }
    for b in &spec.binds {
        let target = at(&b.target);
        if b.source.is_dir() {
            mkdir(&target)?;
        } else {
            if let Some(p) = target.parent() {
                mkdir(p)?;
            }
            if !target.exists() {
                File::create(&target).map_err(setup_io(format!("creating {}", b.target)))?;
            }
        }
        let what = format!("binding {} to {}", b.source.display(), b.target);
        mount(
            Some(&b.source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(setup(what.clone()))?;
        if b.readonly {
            mount(
                None::<&str>,
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(setup(what))?;
        }
    }
    for t in &spec.tmpfs {
        let (target, options) = t.split_once(':').unwrap_or((t, ""));
        let dir = at(target);
        mkdir(&dir)?;
        mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            (!options.is_empty()).then_some(options),
        )
        .map_err(setup(format!("mounting a tmpfs on {target}")))?;
    }
    mkdir(&at("etc"))?;
    for (file, content) in [
        ("etc/hosts", &spec.hosts),
        ("etc/resolv.conf", &spec.resolv),
    ] {
        let p = at(file);
        // A symlink here (resolv.conf often is one) would point into the host after writing.
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, content).map_err(setup_io(format!("writing /{file}")))?;
        give(&p)?;
    }
    std::fs::write(at("etc/hostname"), format!("{}\n", spec.hostname))
        .map_err(setup_io("writing /etc/hostname"))?;
    give(&at("etc/hostname"))
}

/// Mounts /proc: that of the calling process's pid namespace.
fn mount_proc(root: &Path) -> Result<(), ContainerError> {
    let proc = root.join("proc");
    std::fs::create_dir_all(&proc).map_err(setup_io("creating /proc"))?;
    mount(
        Some("proc"),
        &proc,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(setup("mounting /proc"))
}

/// What systemd needs in its root: a cgroup namespace with only cgroup2
/// mounted read-write on `/sys/fs/cgroup` (its own subtree, as under
/// systemd-nspawn). /proc/sys is left to [`security::masks`]. With
/// `join`, the init moves into its cgroups first (else its parent did).
fn system_mounts(root: &Path, boot: &SystemBoot, join: bool) -> Result<(), ContainerError> {
    for dir in boot.cgroups.iter().filter(|_| join) {
        std::fs::write(dir.join("cgroup.procs"), "0")
            .map_err(setup_io(format!("joining cgroup {}", dir.display())))?;
    }
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(setup("creating the cgroup namespace"))?;
    let cg = root.join("sys/fs/cgroup");
    mount(
        Some("cgroup2"),
        &cg,
        Some("cgroup2"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(setup("mounting cgroup2 on /sys/fs/cgroup"))
}

/// Remounts the bind mount at `path` with `flags` added to those it has.
fn remount_adding(path: &Path, flags: MsFlags) -> Result<(), ContainerError> {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let what = || format!("remounting {}", path.display());
    let have = statvfs(path).map_err(setup(what()))?.flags();
    let mut keep = MsFlags::empty();
    for (st, ms) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if have.contains(st) {
            keep |= ms;
        }
    }
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | keep | flags,
        None::<&str>,
    )
    .map_err(setup(what()))
}

fn enter_root(root: &Path) -> Result<(), ContainerError> {
    chdir(root).map_err(setup("entering the root"))?;
    pivot_root(".", ".").map_err(setup("pivoting into the root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(setup("detaching the host's root"))?;
    chdir("/").map_err(setup("entering /"))
}

/// Looks `user` (name, uid, `user:group`) up in the container's own
/// /etc/passwd and /etc/group and switches to it.
fn switch_user(user: &str) -> Result<(), ContainerError> {
    let (u, g) = user
        .split_once(':')
        .map_or((user, None), |(u, g)| (u, Some(g)));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let lookup = |table: &str, name: &str, field: usize| -> Option<u32> {
        name.parse().ok().or_else(|| {
            table
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.first() == Some(&name))
                .and_then(|f| f.get(field)?.parse().ok())
        })
    };
    let uid = lookup(&passwd, u, 2).ok_or_else(|| {
        setup_io(format!("finding user {u}"))(io::Error::other("not in the image's /etc/passwd"))
    })?;
    let primary = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(uid))
        .and_then(|f| f.get(3)?.parse().ok());
    let gid = match g {
        Some(g) => lookup(&group, g, 2).ok_or_else(|| {
            setup_io(format!("finding group {g}"))(io::Error::other(
                "not in the image's /etc/group",
            ))
        })?,
        None => primary.unwrap_or(uid),
    };
    nix::unistd::setgroups(&[Gid::from_raw(gid)]).map_err(setup("setting groups"))?;
    nix::unistd::setgid(Gid::from_raw(gid)).map_err(setup("setting the group"))?;
    nix::unistd::setuid(Uid::from_raw(uid)).map_err(setup("setting the user"))
}
