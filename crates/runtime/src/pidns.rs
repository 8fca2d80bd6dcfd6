//! A lab's pid namespace. Every process of a lab's nodes runs inside it,
//! and its init dies with the supervisor (a parent-death signal at each
//! step), and when a pid namespace's init dies the kernel kills every
//! process in it. A killed supervisor therefore takes all node processes
//! with it, and with them the last references to the lab's network
//! namespaces.
//!
//! The supervisor cannot unshare the pid namespace itself: a process whose
//! children go to another pid namespace may not create threads. So the
//! supervisor starts `warren __init`, which unshares and forks the real
//! init; node processes join the namespace through
//! `/proc/<init>/ns/pid_for_children` from a single-threaded helper.

use crate::procs::ProcessId;
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{ForkResult, fork};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Errors setting up a lab's pid namespace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PidnsError {
    /// The init process could not be started.
    #[error("starting the lab's init process")]
    Spawn(#[source] io::Error),
}

/// Sets the calling thread's parent-death signal to SIGKILL. Async-signal-safe.
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag on the calling task.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A `pre_exec` hook for a lab's child processes; call it in the parent
/// and pass the result to `pre_exec`. In the child it:
/// - sets the parent-death signal ([`die_with_parent`]: it dies with the
///   thread that started it), and exits at once if this process died
///   between the fork and the hook (the signal only covers deaths after it
///   is set, so such a child would live on, orphaned);
/// - takes signals again: the supervisor blocks SIGTERM, SIGINT and SIGHUP
///   to wait for them, and a child inherits the mask, so a node's
///   processes could not otherwise be asked to stop.
///
/// Async-signal-safe.
pub fn lab_child() -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    let parent = std::process::id();
    move || {
        die_with_parent()?;
        // SAFETY: getppid has no preconditions and is async-signal-safe.
        let now = unsafe { libc::getppid() };
        if u32::try_from(now).ok() != Some(parent) {
            // SAFETY: _exit is async-signal-safe; nothing of the child runs after it.
            unsafe { libc::_exit(137) };
        }
        // SAFETY: sigemptyset and sigprocmask only touch the local set and the
        // calling thread's mask; both are async-signal-safe.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The init of a lab's pid namespace, seen from the supervisor.
#[derive(Debug)]
pub struct LabInit {
    child: Child,
    /// Identity of the outer init process on the host.
    pub id: ProcessId,
}

impl LabInit {
    /// Starts `program init_args...` (which must call [`init_main`]). It
    /// receives SIGKILL when the calling thread exits, so call this from the
    /// thread that lives as long as the supervisor.
    pub fn start(program: &Path, init_args: &[&str]) -> Result<LabInit, PidnsError> {
        let mut cmd = Command::new(program);
        cmd.args(init_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the hook only calls async-signal-safe functions.
        unsafe {
            cmd.pre_exec(lab_child());
        }
        let child = cmd.spawn().map_err(PidnsError::Spawn)?;
        let pid = i32::try_from(child.id()).map_err(|e| PidnsError::Spawn(io::Error::other(e)))?;
        let id = ProcessId::of(pid)
            .ok_or_else(|| PidnsError::Spawn(io::Error::other("init exited at once")))?;
        // The namespace exists once the outer init has unshared it; wait
        // until its pid_for_children differs from ours.
        let ours = std::fs::read_link("/proc/self/ns/pid").ok();
        for _ in 0..2000 {
            let theirs = std::fs::read_link(Self::path_of(pid)).ok();
            if theirs.is_some() && theirs != ours {
                return Ok(LabInit { child, id });
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(PidnsError::Spawn(io::Error::other(
            "the init did not create its pid namespace",
        )))
    }

    fn path_of(pid: i32) -> PathBuf {
        PathBuf::from(format!("/proc/{pid}/ns/pid_for_children"))
    }

    /// The namespace file that node processes join.
    pub fn pidns_path(&self) -> PathBuf {
        Self::path_of(self.id.pid)
    }
}

/// Dropping the init kills it, and with it every process in the lab's pid
/// namespace: a supervisor that fails half-way leaves no process behind.
impl Drop for LabInit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether every write end of the pipe whose read end is `r` is closed.
fn hung_up(r: &std::os::fd::OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).is_ok()
        && fds[0]
            .revents()
            .is_some_and(|e| e.contains(PollFlags::POLLHUP))
}

/// The namespace file node processes join, for an outer init recorded as `pid`.
pub fn pidns_path(pid: i32) -> PathBuf {
    LabInit::path_of(pid)
}

/// The body of `warren __init`: unshare a pid namespace, fork its pid 1,
/// and live exactly as long as it. Pid 1 reaps orphans until killed; a pid
/// namespace's init ignores every signal it has no handler for, so only
/// SIGKILL ends it, which the kernel sends when the outer init dies.
pub fn init_main() -> ! {
    if unshare(CloneFlags::CLONE_NEWPID).is_err() {
        std::process::exit(1);
    }
    // The child learns whether this process died before its parent-death
    // signal was set from this pipe: its write end lives only here, so a
    // hang-up on the read end means we are gone (getppid cannot tell: it
    // is 0 for a namespace's pid 1).
    let Ok((alive_r, alive_w)) = nix::unistd::pipe() else {
        std::process::exit(1);
    };
    // SAFETY: the process is single-threaded here; the child only calls
    // async-signal-safe functions (close, prctl, poll, waitpid, nanosleep).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(alive_w);
            let _ = die_with_parent();
            if hung_up(&alive_r) {
                // SAFETY: _exit is async-signal-safe.
                unsafe { libc::_exit(137) };
            }
            loop {
                // SAFETY: waitpid with a null status pointer only reaps children.
                let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
                if r < 0 {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(alive_r);
            let _ = nix::sys::wait::waitpid(child, None);
            drop(alive_w);
            std::process::exit(0);
        }
        Err(_) => std::process::exit(1),
    }
}
