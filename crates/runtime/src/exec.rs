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
#[derive(Debug, Clone)]
pub struct NodeNamespaces {
    /// The lab's user namespace, for rootless labs.
    pub user: Option<PathBuf>,
    /// The node's network namespace.
    pub net: PathBuf,
    /// The lab's pid namespace (joined for children).
    pub pid: Option<PathBuf>,
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

impl NodeNamespaces {
    /// Moves the calling process into the namespaces: user first (which
    /// gives the rights for the others), then network, then pid for the
    /// children it will spawn; then mounts the node's own sysfs in a
    /// private mount namespace. Call it while single-threaded.
    pub fn join(&self) -> Result<(), ExecError> {
        let steps = [
            ("user", self.user.as_ref(), CloneFlags::CLONE_NEWUSER),
            ("network", Some(&self.net), CloneFlags::CLONE_NEWNET),
            ("pid", self.pid.as_ref(), CloneFlags::CLONE_NEWPID),
        ];
        // Open every file before the first switch: after joining a user
        // namespace, /proc paths of the host may no longer be readable.
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
            setns(&file, flag).map_err(|e| ExecError::Join {
                kind,
                path: path.display().to_string(),
                source: e.into(),
            })?;
        }
        mount_own_sysfs()
    }
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

/// Runs `argv` on a new pseudo-terminal, relaying it to this process's
/// stdin and stdout (raw mode when stdin is a terminal), and returns the
/// exit code.
pub fn run_pty(argv: &[String], env: &[(String, String)]) -> Result<i32, ExecError> {
    let (program, args) = argv.split_first().ok_or_else(|| ExecError::Spawn {
        program: String::new(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
    })?;
    let size = window_size();
    let pty = openpty(size.as_ref(), None).map_err(|e| ExecError::Pty(e.into()))?;
    let slave = pty.slave;
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
    drop(slave);
    let raw = RawMode::enter();
    let master = File::from(pty.master);
    let mut to_master = master.try_clone().map_err(ExecError::Pty)?;
    // stdin -> pty on a thread: it ends with the process once the child exits.
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to_master.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut from_master = master;
    let mut stdout = io::stdout();
    let mut buf = [0u8; 4096];
    loop {
        match from_master.read(&mut buf) {
            // EIO means the slave side closed: the child and its children are gone.
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
    let status = child.wait().map_err(ExecError::Pty)?;
    drop(raw);
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
