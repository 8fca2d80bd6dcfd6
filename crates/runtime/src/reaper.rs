//! A container's init when its node asks for one (`init: true`, Docker's
//! `--init`): the container's pid 1 forks the command and stays behind
//! as a small init. It forwards every signal it gets to the command (a
//! pid 1 without handlers would ignore them, so `SIGTERM` would not stop
//! a plain `sleep`), reaps every zombie in the container (orphans come to
//! pid 1), and exits with the command's status once the command ends.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::io;

/// Forks: returns `Ok` in the child, which goes on to exec the command;
/// the parent never returns, serving as the init until the command ends.
///
/// Must be called while the process is single-threaded.
pub(crate) fn become_init() -> io::Result<()> {
    let all = SigSet::all();
    let mut before = SigSet::empty();
    // Blocked signals reach even a pid 1 without handlers, and wait here
    // for `sigwait`; the child gets the old mask back before it execs.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut before)).map_err(io::Error::from)?;
    // SAFETY: single-threaded (documented precondition).
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&before), None).map_err(io::Error::from)?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            // The init needs no file: closing them all lets the pipe that
            // tells the helper the command started see its exec.
            // SAFETY: close_range only closes this process's descriptors.
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
            serve(child, &all)
        }
    }
}

/// Forwards signals to `child` and reaps until `child` exits, then exits
/// with its status.
fn serve(child: Pid, set: &SigSet) -> ! {
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(child) {
                    // SAFETY: _exit ends this process without unwinding.
                    unsafe { libc::_exit(code) }
                }
            }
            Ok(sig) => {
                let _ = kill(child, sig);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every exited child; the command's exit code (128 + a signal's
/// number) once the command itself is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, c)) if pid == child => code = Some(c),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => code = Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => {}
        }
    }
}
