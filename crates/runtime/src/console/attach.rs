//! The interactive client of a console's share socket: `warren console`.

use super::ConsoleError;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The byte that ends [`attach`]: Ctrl-] (as in telnet and virsh).
pub const DETACH_KEY: u8 = 0x1d;

/// Relays a console share socket (`<state>/<node>.console`, see
/// [`crate::vm::Vm::console_socket`] or
/// [`super::PtyConsole::share_socket`]) to this process's stdin and stdout
/// until the VM's console closes or the user types `detach` (normally
/// [`DETACH_KEY`], Ctrl-]). A terminal on stdin is put in raw mode for the
/// duration and restored afterwards.
pub fn attach(socket: &Path, detach: u8) -> Result<(), ConsoleError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::termios::{self, SetArg};
    use std::os::fd::AsFd;

    let mut conn = UnixStream::connect(socket).map_err(|source| ConsoleError::Connect {
        path: socket.to_owned(),
        source,
    })?;
    let stdin = io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
    }
    let result = (|| -> io::Result<()> {
        let mut stdout = io::stdout();
        let mut buf = [0u8; 4096];
        loop {
            let (sock_ready, in_ready) = {
                let mut fds = [
                    PollFd::new(conn.as_fd(), PollFlags::POLLIN),
                    PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
                ];
                poll(&mut fds, PollTimeout::NONE).map_err(io::Error::from)?;
                let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), ready(&fds[1]))
            };
            if sock_ready {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
            if in_ready {
                let n = io::stdin().lock().read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                if let Some(i) = buf[..n].iter().position(|&b| b == detach) {
                    conn.write_all(&buf[..i])?;
                    return Ok(());
                }
                conn.write_all(&buf[..n])?;
            }
        }
    })();
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, t);
    }
    result.map_err(ConsoleError::Attach)
}
