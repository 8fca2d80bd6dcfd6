//! A synchronous client of the control socket, used by the CLI and by
//! [`crate::handle::Lab`].

use crate::proto::{Envelope, ExecFrame, Reply, ReplyError, Request, VERSION};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors talking to a supervisor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket could not be reached or used.
    #[error("talking to the lab's supervisor at {path}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The supervisor answered something this client does not understand.
    #[error("the lab's supervisor sent an unreadable answer")]
    Protocol(#[source] serde_json::Error),
    /// The supervisor refused or failed the request.
    #[error("the lab's supervisor answered: {}", .0.message)]
    Remote(ReplyError),
}

/// Connects to the supervisor whose state folder is `dir`, sends `request`
/// and reads the reply line; returns the reader positioned after it.
fn send(
    dir: &Path,
    request: Request,
    timeout: Option<Duration>,
) -> Result<(BufReader<UnixStream>, Reply), ClientError> {
    let path = dir.join("control.sock");
    let io_err = |source| ClientError::Io {
        path: path.clone(),
        source,
    };
    let stream = UnixStream::connect(&path).map_err(io_err)?;
    stream.set_read_timeout(timeout).map_err(io_err)?;
    let mut line = serde_json::to_vec(&Envelope {
        v: VERSION,
        request,
    })
    .map_err(ClientError::Protocol)?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io_err)?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).map_err(io_err)?;
    let reply = serde_json::from_str::<Reply>(&answer).map_err(ClientError::Protocol)?;
    Ok((reader, reply))
}

/// Sends a streaming request (`exec`, `events`, `capture`) and returns the
/// connection positioned after the reply line, with the reply's result.
pub fn open(
    dir: &Path,
    request: Request,
) -> Result<(BufReader<UnixStream>, serde_json::Value), ClientError> {
    match send(dir, request, None)? {
        (reader, Reply::Ok { result, .. }) => Ok((reader, result)),
        (_, Reply::Err { error, .. }) => Err(ClientError::Remote(error)),
    }
}

/// Sends an [`Request::Exec`] and hands each output frame to `on_frame` as
/// it comes; returns the command's exit code.
pub fn exec(
    dir: &Path,
    request: Request,
    on_frame: &mut dyn FnMut(&ExecFrame),
) -> Result<i32, ClientError> {
    let (mut reader, _) = open(dir, request)?;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|source| ClientError::Io {
                path: dir.join("control.sock"),
                source,
            })?;
        if n == 0 {
            return Err(ClientError::Io {
                path: dir.join("control.sock"),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the exec stream ended without an exit code",
                ),
            });
        }
        let frame: ExecFrame = serde_json::from_str(&line).map_err(ClientError::Protocol)?;
        if let ExecFrame::Exit(code) = frame {
            return Ok(code);
        }
        on_frame(&frame);
    }
}

/// Sends a streaming request and copies what follows the reply line to
/// `out` until the supervisor or `out` closes the stream.
pub fn stream(dir: &Path, request: Request, out: &mut dyn Write) -> Result<(), ClientError> {
    let (mut reader, _) = open(dir, request)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut reader, &mut buf).map_err(|source| ClientError::Io {
            path: dir.join("control.sock"),
            source,
        })?;
        if n == 0 {
            return Ok(());
        }
        // A closed pipe (`| tshark ... -c 10`) ends the stream normally.
        if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}

/// Sends one request to the supervisor whose state folder is `dir` and returns its result.
pub fn call(
    dir: &Path,
    request: Request,
    timeout: Duration,
) -> Result<serde_json::Value, ClientError> {
    match send(dir, request, Some(timeout))?.1 {
        Reply::Ok { result, .. } => Ok(result),
        Reply::Err { error, .. } => Err(ClientError::Remote(error)),
    }
}
