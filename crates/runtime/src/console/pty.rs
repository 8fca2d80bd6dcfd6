//! A container's console: a pty whose slave the container binds at
//! `/dev/console`, its master read by a hub (`super::hub`).

use super::hub::{ConsoleFiles, Hub, Port};
use super::{Console, ConsoleError};
use regex::bytes::Regex;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A container's console: a pty whose slave the container binds at
/// `/dev/console` (and its init uses as stdin, stdout and stderr), read,
/// logged, shared and scripted like a VM's serial console. Dropping it
/// drains what is left and stops its threads; drop it after the container
/// has exited.
pub struct PtyConsole {
    hub: Arc<Hub>,
    slave: PathBuf,
    share: PathBuf,
}

impl std::fmt::Debug for PtyConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyConsole")
            .field("slave", &self.slave)
            .field("share", &self.share)
            .finish()
    }
}

impl PtyConsole {
    /// Allocates the pty and starts logging to `log` (raw) and `txt`
    /// (escaped, timestamped), serving [`super::attach()`] on the socket `share`.
    /// With `shell`, a regex the console shows once its shell is up,
    /// [`Console::run`] first waits for it (from the console's start).
    pub fn start(
        log: &Path,
        txt: &Path,
        share: &Path,
        shell: Option<&str>,
    ) -> Result<PtyConsole, ConsoleError> {
        let files = ConsoleFiles {
            log: log.to_owned(),
            txt: txt.to_owned(),
            append: false,
        };
        let gate = shell
            .map(|p| {
                Regex::new(p).map_err(|source| ConsoleError::Pattern {
                    pattern: p.to_owned(),
                    source,
                })
            })
            .transpose()?;
        let (hub, slave) = start_pty(&files, Some(share), Instant::now(), gate)?;
        Ok(PtyConsole {
            hub,
            slave,
            share: share.to_owned(),
        })
    }

    /// The pty slave (`/dev/pts/N` of this process's devpts), for the
    /// container to open and bind at `/dev/console`.
    pub fn slave_path(&self) -> &Path {
        &self.slave
    }

    /// The share socket [`super::attach()`] connects to.
    pub fn share_socket(&self) -> &Path {
        &self.share
    }

    /// A console handle reading from now on.
    pub fn console(&self) -> Console {
        Console::new(Arc::clone(&self.hub), self.hub.end())
    }

    /// A console handle reading from the first byte.
    pub fn console_from_start(&self) -> Console {
        Console::new(Arc::clone(&self.hub), 0)
    }
}

impl Drop for PtyConsole {
    fn drop(&mut self) {
        self.hub.shutdown();
    }
}

/// Allocates a pty (both ends close-on-exec, neither a controlling
/// terminal of this process) and starts a hub on its master; returns
/// the hub and the slave's path, for the container to open and bind.
fn start_pty(
    files: &ConsoleFiles,
    share: Option<&Path>,
    started: Instant,
    shell_gate: Option<Regex>,
) -> Result<(Arc<Hub>, PathBuf), ConsoleError> {
    use nix::fcntl::OFlag;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let pty_err = |e: nix::Error| ConsoleError::Pty(e.into());
    let master = nix::pty::posix_openpt(flags).map_err(pty_err)?;
    nix::pty::grantpt(&master).map_err(pty_err)?;
    nix::pty::unlockpt(&master).map_err(pty_err)?;
    let path = PathBuf::from(nix::pty::ptsname_r(&master).map_err(pty_err)?);
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .map_err(ConsoleError::Pty)?;
    let master = File::from(OwnedFd::from(master));
    let mut reader = master.try_clone().map_err(ConsoleError::Pty)?;
    // Reads until shutdown: EIO (no slave open for a moment, or a
    // vhangup) is waited out, and at shutdown what is left is drained.
    let next = move |hub: &Hub, chunk: &mut [u8]| loop {
        let stopping = || hub.stop.load(Ordering::Acquire);
        let readable = {
            let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
            matches!(poll(&mut fds, PollTimeout::from(100u8)), Ok(n) if n > 0)
        };
        if readable {
            match reader.read(chunk) {
                Ok(0) => return None,
                Ok(n) => return Some(n),
                // Shutdown drops the held slave, which wakes the poll
                // with a hangup once the container's copies are gone.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    if stopping() {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        } else if stopping() {
            return None;
        }
    };
    let port = Port::Pty {
        master,
        slave: Some(OwnedFd::from(slave)),
    };
    let hub = Hub::with_port(port, next, files, share, started, shell_gate)?;
    Ok((hub, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Opens the console's slave as a container's process does.
    fn open_slave(pty: &PtyConsole, what: &str) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(pty.slave_path())
            .expect(what)
    }

    #[test]
    fn a_pty_console_logs_what_the_slave_writes_and_sends_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, txt) = (dir.path().join("c.log"), dir.path().join("c.txt"));
        let share = dir.path().join("c.sock");
        let pty = PtyConsole::start(&log, &txt, &share, Some("login: root")).expect("pty");
        assert!(share.exists());
        // What the container does with its /dev/console: open, write, close.
        let mut slave = open_slave(&pty, "slave");
        slave.write_all(b"Welcome\n").expect("write");
        let c = pty.console_from_start();
        c.expect("Welcome\r\n", Duration::from_secs(5))
            .expect("the tty's \\r\\n");
        drop(slave);
        // No process holds the console for a while: the reader keeps going.
        std::thread::sleep(Duration::from_millis(100));
        let mut slave = open_slave(&pty, "slave again");
        slave.write_all(b"again\n").expect("write");
        c.expect("again", Duration::from_secs(5))
            .expect("after a close");
        pty.console().send_line("typed").expect("send");
        let mut buf = [0u8; 64];
        let n = slave.read(&mut buf).expect("read");
        assert_eq!(&buf[..n], b"typed\n");
        // A command waits for the shell gate before it is typed.
        let c2 = pty.console();
        let err = c2
            .run("true", Duration::from_millis(200))
            .expect_err("no shell yet");
        assert!(err.to_string().contains("/login: root/"), "{err}");
        drop(slave);
        drop(pty);
        assert!(!share.exists(), "share socket removed");
        let text = std::fs::read_to_string(&txt).expect("txt");
        assert!(
            text.contains("] Welcome\n") && text.contains("] again"),
            "{text}"
        );
    }

    #[test]
    fn a_send_at_the_prompt_waits_until_the_output_ends_in_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, txt) = (dir.path().join("c.log"), dir.path().join("c.txt"));
        let share = dir.path().join("c.sock");
        let pty = PtyConsole::start(&log, &txt, &share, None).expect("pty");
        let mut slave = open_slave(&pty, "slave");
        let c = pty.console_from_start();
        // No prompt set: nothing to wait for.
        assert!(c.wait_at_prompt(Duration::ZERO));
        c.set_prompt(r"me@dut \$ ").expect("prompt");
        slave.write_all(b"me@dut $ ").expect("write");
        assert!(c.wait_at_prompt(Duration::from_secs(5)), "at the prompt");
        // A command's answer came, its prompt not yet: a line typed now
        // would be typed ahead.
        slave.write_all(b"echo typed\ntyped\n").expect("write");
        // Once the console has read it (the reader runs on its own).
        c.expect(r"\ntyped\r\n", Duration::from_secs(5))
            .expect("the answer read");
        let started = std::time::Instant::now();
        assert!(!c.wait_at_prompt(Duration::from_millis(300)), "busy");
        assert!(started.elapsed() >= Duration::from_millis(300));
        // The prompt arriving while it waits ends the wait.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            slave.write_all(b"me@dut $ ").expect("write");
            slave
        });
        assert!(c.wait_at_prompt(Duration::from_secs(5)), "the prompt came");
        drop(writer.join().expect("writer"));
    }
}
