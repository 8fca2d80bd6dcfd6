//! Commands run inside a node: join the lab's namespaces, then run with
//! stdin, stdout, stderr and the exit code passed through, or on a pty.

use nix::pty::openpty;
use nix::sched::{CloneFlags, setns};
use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

/// Errors running a command in a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// A namespace could not be joined.
    #[error("joining the {kind} namespace at {path}")]
    Join {
        /// `network`, `pid` or `user`.
        kind: &'static str,
        /// The namespace file.
        path: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The command could not be started.
    #[error("starting `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// Relaying the terminal failed.
    #[error("relaying the terminal")]
    Pty(#[source] io::Error),
}

/// The namespaces of a node, as files to open.
#[derive(Debug, Clone, Default)]
pub struct NodeNamespaces {
    /// The lab's user namespace, for rootless labs.
    pub user: Option<PathBuf>,
    /// The node's network namespace.
    pub net: PathBuf,
    /// A container's own user namespace (`userns: true`), joined after the
    /// network namespace, which the host's (or the lab's) user namespace owns.
    pub container_user: Option<PathBuf>,
    /// The pid namespace the command's children join.
    pub pid: Option<PathBuf>,
    /// A container's mount namespace (joining it also enters its root).
    pub mnt: Option<PathBuf>,
    /// A container's uts namespace.
    pub uts: Option<PathBuf>,
    /// A container's ipc namespace.
    pub ipc: Option<PathBuf>,
}

impl NodeNamespaces {
    /// The namespaces of a container whose init is `pid` (host pid), in a
    /// lab whose user namespace is `user` when rootless.
    pub fn of_container(pid: i32, user: Option<PathBuf>) -> NodeNamespaces {
        let ns = |kind: &str| PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
        // A container with a user namespace of its own is in another than
        // the lab's (the host's, for a lab run as root).
        let outer = user
            .clone()
            .unwrap_or_else(|| PathBuf::from("/proc/self/ns/user"));
        let own = std::fs::read_link(ns("user"))
            .ok()
            .filter(|l| std::fs::read_link(&outer).ok().as_ref() != Some(l))
            .map(|_| ns("user"));
        NodeNamespaces {
            user,
            net: ns("net"),
            container_user: own,
            pid: Some(ns("pid")),
            mnt: Some(ns("mnt")),
            uts: Some(ns("uts")),
            ipc: Some(ns("ipc")),
        }
    }

    /// Moves the calling process into the namespaces: user first (which
    /// gives the rights for the others), then network, the container's
    /// own user namespace (becoming its root), uts, ipc, pid (for the
    /// children it will spawn) and mount. Without a mount namespace to
    /// join (a netns node), it mounts the node's own sysfs in a private
    /// mount namespace instead. Call it while single-threaded.
    pub fn join(&self) -> Result<(), ExecError> {
        let steps = [
            ("user", self.user.as_ref(), CloneFlags::CLONE_NEWUSER),
            ("network", Some(&self.net), CloneFlags::CLONE_NEWNET),
            (
                "container user",
                self.container_user.as_ref(),
                CloneFlags::CLONE_NEWUSER,
            ),
            ("uts", self.uts.as_ref(), CloneFlags::CLONE_NEWUTS),
            ("ipc", self.ipc.as_ref(), CloneFlags::CLONE_NEWIPC),
            ("pid", self.pid.as_ref(), CloneFlags::CLONE_NEWPID),
            ("mount", self.mnt.as_ref(), CloneFlags::CLONE_NEWNS),
        ];
        // Open every file before the first switch: after joining a user
        // or mount namespace, host /proc paths may no longer be reachable.
        let mut opened = Vec::new();
        for (kind, path, flag) in steps {
            let Some(path) = path else { continue };
            let err = |source: io::Error| ExecError::Join {
                kind,
                path: path.display().to_string(),
                source,
            };
            opened.push((File::open(path).map_err(err)?, flag, kind, path));
        }
        for (file, flag, kind, path) in opened {
            let err = |e: nix::Error| ExecError::Join {
                kind,
                path: path.display().to_string(),
                source: e.into(),
            };
            setns(&file, flag).map_err(err)?;
            if kind == "container user" {
                // The host's root is nobody there: become its root.
                use nix::unistd::{Gid, Uid};
                let (g, u) = (Gid::from_raw(0), Uid::from_raw(0));
                nix::unistd::setresgid(g, g, g).map_err(err)?;
                nix::unistd::setgroups(&[g]).map_err(err)?;
                nix::unistd::setresuid(u, u, u).map_err(err)?;
            }
        }
        match self.mnt {
            Some(_) => Ok(()),
            None => mount_own_sysfs(),
        }
    }
}

/// Gives the calling process a private mount namespace with a sysfs of its
/// network namespace on `/sys`, as `ip netns exec` does: sysfs shows the
/// interfaces of the namespace that mounted it, so without this
/// `/sys/class/net` would list the host's. Call it after joining the
/// network namespace, while single-threaded.
pub fn mount_own_sysfs() -> Result<(), ExecError> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    let err = |source: nix::Error| ExecError::Join {
        kind: "mount",
        path: "/sys".into(),
        source: source.into(),
    };
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(err)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(err)?;
    // In a user namespace the inherited /sys is locked and cannot be
    // unmounted; the new sysfs then simply covers it.
    let _ = umount2("/sys", MntFlags::MNT_DETACH);
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(err)
}

/// The exit code a shell would report: the code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs `argv` with inherited stdio and returns its exit code.
pub fn run(argv: &[String], env: &[(String, String)]) -> Result<i32, ExecError> {
    let (program, args) = argv.split_first().ok_or_else(|| ExecError::Spawn {
        program: String::new(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
    })?;
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .map_err(|source| ExecError::Spawn {
            program: program.clone(),
            source,
        })?;
    Ok(exit_code(status))
}

/// Puts the terminal on stdin into raw mode until dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// A pseudo-terminal for a command, relayed to this process's stdin and
/// stdout from the calling thread alone (a process that has unshared a pid
/// namespace cannot start threads).
pub struct Pty {
    master: File,
    slave: Option<OwnedFd>,
    _raw: Option<RawMode>,
}

impl Pty {
    /// Opens a pty sized like this terminal and puts stdin into raw mode when it is one.
    pub fn open() -> Result<Pty, ExecError> {
        let size = window_size();
        let pty = openpty(size.as_ref(), None).map_err(|e| ExecError::Pty(e.into()))?;
        Ok(Pty {
            master: File::from(pty.master),
            slave: Some(pty.slave),
            _raw: RawMode::enter(),
        })
    }

    /// The slave side, for the command's stdio; taken once.
    pub fn take_slave(&mut self) -> Option<OwnedFd> {
        self.slave.take()
    }

    /// Copies stdin to the pty and the pty to stdout until the command's
    /// side closes.
    pub fn relay(&mut self) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        self.slave = None;
        let stdin = io::stdin();
        let mut stdout = io::stdout();
        let mut buf = [0u8; 4096];
        let mut stdin_open = true;
        loop {
            let (master_ready, stdin_ready) = {
                let mut fds = vec![PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
                if stdin_open {
                    fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                }
                if poll(&mut fds, PollTimeout::NONE).is_err() {
                    continue;
                }
                let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), fds.get(1).is_some_and(ready))
            };
            if master_ready {
                match self.master.read(&mut buf) {
                    // EIO means the slave side closed: the command is gone.
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stdout
                            .write_all(&buf[..n])
                            .and_then(|()| stdout.flush())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
            if stdin_ready {
                match stdin.lock().read(&mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        let _ = self.master.write_all(&buf[..n]);
                    }
                }
            }
        }
    }
}

/// Runs `argv` on a new pseudo-terminal relayed to this process's stdin and
/// stdout, and returns the exit code.
pub fn run_pty(argv: &[String], env: &[(String, String)]) -> Result<i32, ExecError> {
    let (program, args) = argv.split_first().ok_or_else(|| ExecError::Spawn {
        program: String::new(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
    })?;
    let mut pty = Pty::open()?;
    let slave = pty
        .take_slave()
        .ok_or_else(|| ExecError::Pty(io::Error::other("no pty slave")))?;
    let stdio = |fd: &OwnedFd| fd.try_clone().map(Stdio::from).map_err(ExecError::Pty);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(stdio(&slave)?)
        .stdout(stdio(&slave)?)
        .stderr(stdio(&slave)?);
    // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the pty slave here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        program: program.clone(),
        source,
    })?;
    // The command holds the slave now; any copy left here would keep the
    // pty open after it exits and the relay would never see the end.
    drop(cmd);
    drop(slave);
    pty.relay();
    let status = child.wait().map_err(ExecError::Pty)?;
    Ok(exit_code(status))
}

fn window_size() -> Option<nix::pty::Winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the pointed-to struct.
    let r = unsafe { libc::ioctl(io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some(nix::pty::Winsize {
        ws_row: ws.ws_row,
        ws_col: ws.ws_col,
        ws_xpixel: ws.ws_xpixel,
        ws_ypixel: ws.ws_ypixel,
    })
}
