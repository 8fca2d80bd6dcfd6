//! A node's console: a VM's serial port (QEMU's chardev socket) or a
//! container's `/dev/console` (a pty, see [`PtyConsole`]), read by one
//! thread from boot to teardown, logged, scripted (expect, send, run), and
//! shared through a socket that `warren console` attaches to.
//!
//! QEMU's chardev socket serves one client at a time, so the reader is the
//! only client; everything else (expect, the interactive attach) goes
//! through the hub. Files written, for node `N` in directory `D`:
//!
//! - `D/N.log`: every byte the guest wrote, raw;
//! - `D/N.txt`: the same, one line per line, each prefixed with the seconds
//!   since the console started, non-printable bytes escaped (`\x1b`, `\r`,
//!   `\\`); see [`logs`].
//!
//! The modules: `hub` (the reader, the buffer, the share socket),
//! [`logs`] (the text log and escaping), [`cursor`] (a handle with its own
//! read position: expect, send, run), [`login`] (logging in at a login
//! prompt), [`upload`] (a file sent through the shell with base64 or
//! printf, checksummed per chunk), [`pty`] (a container's console) and
//! [`attach`](mod@attach) (the interactive client). This module does not start QEMU;
//! it is handed the socket path. A container's pty it allocates itself.

pub mod attach;
pub mod cursor;
pub(crate) mod hub;
pub mod login;
pub mod logs;
pub mod pty;
pub mod upload;

pub use attach::{DETACH_KEY, attach};
pub use cursor::{CommandOutput, Console, ConsoleMatch};
pub use login::Login;
pub use logs::escape;
pub use pty::PtyConsole;
pub use upload::{Checksum, Encoding, UploadReport};

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Errors of the console.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// Connecting to QEMU's serial socket failed.
    #[error("connecting to the serial console socket {path}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// A log file or the share socket could not be created.
    #[error("creating {path}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// A pattern is not a valid regex.
    #[error("bad console pattern /{pattern}/")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        #[source]
        source: regex::Error,
    },
    /// The pattern did not appear in time.
    #[error("console did not show /{pattern}/ within {timeout:?}; last output:\n{tail}")]
    Timeout {
        /// The pattern.
        pattern: String,
        /// How long we waited.
        timeout: Duration,
        /// The end of the console output, escaped.
        tail: String,
    },
    /// The console closed (QEMU exited) before the pattern appeared.
    #[error("console closed before /{pattern}/ appeared; last output:\n{tail}")]
    Closed {
        /// The pattern.
        pattern: String,
        /// The end of the console output, escaped.
        tail: String,
    },
    /// Writing to the console failed.
    #[error("writing to the console")]
    Send(#[source] io::Error),
    /// The interactive relay failed.
    #[error("relaying the console to the terminal")]
    Attach(#[source] io::Error),
    /// Logging in at the console failed (wrong password, no prompt after).
    #[error("logging in at the console as {user}: {why}; last output:\n{tail}")]
    Login {
        /// The user name.
        user: String,
        /// What went wrong.
        why: String,
        /// The end of the console output, escaped.
        tail: String,
    },
    /// An upload over the console failed: the far side lacks the tools,
    /// a command failed, or a checksum did not match.
    #[error("uploading {dst} over the console: {why}")]
    Upload {
        /// The destination path on the far side.
        dst: String,
        /// What went wrong.
        why: String,
    },
    /// A pty for a container's console could not be allocated.
    #[error("allocating a pty for the console")]
    Pty(#[source] io::Error),
}

/// Locks `m`, ignoring poisoning: a panicked reader must not take the
/// lab's consoles down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
