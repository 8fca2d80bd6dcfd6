//! Process identity. A pid alone can be reused, so warren records a
//! process's start time next to its pid and acts on the pid only while
//! both still match.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use stat::start_time;

/// A process warren started: its pid and its start time in clock ticks
/// since boot (field 22 of `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    /// The pid, as seen from the host's pid namespace.
    pub pid: i32,
    /// Start time in clock ticks since boot.
    pub start: u64,
}

impl ProcessId {
    /// The identity of a running process, if it exists.
    pub fn of(pid: i32) -> Option<ProcessId> {
        start_time(pid).map(|start| ProcessId { pid, start })
    }

    /// True while the same process (not a reuse of its pid) is alive.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }

    /// Sends `sig` if the process is still the one recorded. Returns
    /// whether it was sent.
    pub fn signal(&self, sig: Signal) -> bool {
        self.alive() && kill(Pid::from_raw(self.pid), sig).is_ok()
    }

    /// Sends SIGKILL if the process is still the one recorded.
    pub fn kill(&self) -> bool {
        self.signal(Signal::SIGKILL)
    }

    /// Like [`ProcessId::signal`] for a signal number, such as the real-time
    /// SIGRTMIN+3 that asks systemd to halt.
    pub fn signal_number(&self, sig: i32) -> bool {
        // SAFETY: kill only sends a signal; the pid is checked to be the recorded process.
        self.alive() && unsafe { libc::kill(self.pid, sig) } == 0
    }
}

/// Every process (but this one) whose network namespace is the one at
/// `netns` (such as `/proc/self/fd/N` of a namespace fd warren holds), as
/// the host's `/proc` shows them.
pub fn in_netns(netns: &std::path::Path) -> std::io::Result<Vec<ProcessId>> {
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata(netns)?;
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // A process that exits meanwhile is simply not listed.
        let Ok(m) = std::fs::metadata(entry.path().join("ns/net")) else {
            continue;
        };
        if (m.dev(), m.ino()) == (ns.dev(), ns.ino())
            && let Some(id) = i32::try_from(pid).ok().and_then(ProcessId::of)
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// Takes ownership of file descriptor `fd` inherited from the parent
/// process, if it is open. Call it once per fd, early in `main`.
pub fn inherited_file(fd: std::os::fd::RawFd) -> Option<std::fs::File> {
    // SAFETY: F_GETFD only queries the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // Children must not inherit it: it is this process's to close.
    // SAFETY: F_SETFD only changes the descriptor's close-on-exec flag.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: the fd is open, was inherited (nothing in this process owns
    // it yet), and the caller takes it once.
    Some(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Reading `/proc/PID/stat` without a parser dependency.
mod stat {
    /// Start time of `pid` in clock ticks, if the process exists and is not a zombie.
    pub fn start_time(pid: i32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces
        // or parentheses itself, so split after its last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state); start time is field 22.
        if fields.first() == Some(&"Z") {
            return None;
        }
        fields.get(22 - 3)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_itself_and_not_a_free_pid() {
        let me = ProcessId::of(std::process::id() as i32).expect("own stat");
        assert!(me.alive());
        let other = ProcessId {
            start: me.start + 1,
            ..me
        };
        assert!(
            !other.alive(),
            "a different start time is a different process"
        );
    }

    #[test]
    fn a_child_in_this_network_namespace_is_found_and_this_process_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let found = in_netns(std::path::Path::new("/proc/self/ns/net")).expect("/proc");
        let _ = child.kill();
        let _ = child.wait();
        let pid = i32::try_from(child.id()).expect("pid fits");
        assert!(found.iter().any(|p| p.pid == pid), "{found:?}");
        assert!(!found.iter().any(|p| p.pid == std::process::id() as i32));
    }
}
