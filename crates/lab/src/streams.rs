//! The streaming answers of the control protocol that are not pcapng: a
//! command's output as [`ExecFrame`] lines, and the run's events file
//! replayed then followed. Both end early when the client goes away.

use crate::proto::ExecFrame;
use base64::Engine;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use warren_runtime::exec::exit_code;

/// How often a quiet stream checks its deadline and its client.
const TICK: Duration = Duration::from_millis(50);

/// Whether the peer of `stream` has closed its end: a peek that reads
/// nothing without blocking means end of file.
pub(crate) fn client_gone(stream: &UnixStream) -> bool {
    use nix::sys::socket::{MsgFlags, recv};
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    match recv(
        stream.as_raw_fd(),
        &mut byte,
        MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e != nix::errno::Errno::EAGAIN && e != nix::errno::Errno::EINTR,
    }
}

fn write_line(mut out: &UnixStream, value: &impl serde::Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// Turns output bytes into frames: text while they are UTF-8, base64 from
/// the first byte that is not to the end of the chunk. An
/// incomplete character at the end waits in `carry` for the next chunk;
/// `bytes` empty flushes whatever is left.
pub(crate) fn frames(carry: &mut Vec<u8>, bytes: &[u8], stderr: bool) -> Vec<ExecFrame> {
    let text = |s: String| {
        if stderr {
            ExecFrame::Stderr(s)
        } else {
            ExecFrame::Stdout(s)
        }
    };
    let b64 = |b: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(b);
        if stderr {
            ExecFrame::StderrB64(s)
        } else {
            ExecFrame::StdoutB64(s)
        }
    };
    let flush = bytes.is_empty();
    carry.extend_from_slice(bytes);
    if carry.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    match std::str::from_utf8(carry) {
        Ok(s) => {
            out.push(text(s.to_owned()));
            carry.clear();
        }
        // Only the last character is incomplete: send the rest, keep it.
        Err(e) if e.error_len().is_none() && !flush => {
            let valid = e.valid_up_to();
            if valid > 0 {
                out.push(text(String::from_utf8_lossy(&carry[..valid]).into_owned()));
                carry.drain(..valid);
            }
        }
        // Text up to the first bad byte, the rest of the chunk in base64.
        Err(e) => {
            let valid = e.valid_up_to();
            if valid > 0 {
                out.push(text(String::from_utf8_lossy(&carry[..valid]).into_owned()));
            }
            out.push(b64(&carry[valid..]));
            carry.clear();
        }
    }
    out
}

/// Relays a started command to `out` as [`ExecFrame`] lines: stdout and
/// stderr as they come, then its exit. `group` is the process group the
/// command runs in; it is killed at `timeout` or when the client goes away.
pub(crate) fn exec(
    out: &UnixStream,
    mut child: Child,
    group: i32,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
) {
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    let pipes: [(bool, Option<Box<dyn Read + Send>>); 2] = [
        (
            false,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            true,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ];
    for (is_err, pipe) in pipes {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        let _ = std::thread::Builder::new()
            .name("warren-exec-out".into())
            .spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 || tx.send((is_err, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            });
    }
    drop(tx);
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A command that never reads its stdin must not block the relay.
        let _ = std::thread::Builder::new()
            .name("warren-exec-in".into())
            .spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
    }
    let kill = || {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut carry = [Vec::new(), Vec::new()];
    let mut gone = false;
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(TICK) {
            Ok((is_err, bytes)) => {
                if gone {
                    continue;
                }
                for f in frames(&mut carry[usize::from(is_err)], &bytes, is_err) {
                    if write_line(out, &f).is_err() {
                        gone = true;
                        kill();
                        break;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
                    timed_out = true;
                    kill();
                }
                if !gone && client_gone(out) {
                    gone = true;
                    kill();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let code = child.wait().map_or(-1, exit_code);
    if gone {
        return;
    }
    let mut last: Vec<ExecFrame> = Vec::new();
    for (i, c) in carry.iter_mut().enumerate() {
        last.extend(frames(c, &[], i == 1));
    }
    if timed_out {
        last.push(ExecFrame::TimedOut(timeout.map_or(0, |t| t.as_secs())));
    }
    last.push(ExecFrame::Exit(code));
    for f in &last {
        if write_line(out, f).is_err() {
            return;
        }
    }
}

/// Copies the events file at `path` to `out` line by line, from its first
/// line, then follows it until the client closes the connection. A file
/// that does not exist yet is waited for.
pub(crate) fn events(out: &UnixStream, path: &Path) {
    let mut file: Option<std::fs::File> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut w = out;
    loop {
        if file.is_none() {
            file = std::fs::File::open(path).ok();
        }
        let n = file.as_mut().map_or(0, |f| f.read(&mut buf).unwrap_or(0));
        if n == 0 {
            if client_gone(out) {
                return;
            }
            std::thread::sleep(TICK);
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        // Only whole lines: a writer may be half-way through one.
        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
            let whole: Vec<u8> = pending.drain(..=end).collect();
            if w.write_all(&whole).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_characters_whole_and_fall_back_to_base64() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(
            frames(&mut carry, &[b'a', euro[0]], false),
            [ExecFrame::Stdout("a".into())]
        );
        assert_eq!(carry, [euro[0]]);
        assert_eq!(
            frames(&mut carry, &euro[1..], false),
            [ExecFrame::Stdout("€".into())]
        );
        assert!(carry.is_empty());
        assert_eq!(
            frames(&mut carry, &[0xff, b'x'], true),
            [ExecFrame::StderrB64("/3g=".into())]
        );
        assert_eq!(
            frames(&mut carry, b"ok\xff", false),
            [
                ExecFrame::Stdout("ok".into()),
                ExecFrame::StdoutB64("/w==".into())
            ]
        );
        // A cut character left at the very end is flushed as base64.
        frames(&mut carry, &euro[..2], false);
        assert_eq!(
            frames(&mut carry, &[], false),
            [ExecFrame::StdoutB64("4oI=".into())]
        );
        assert!(frames(&mut carry, &[], false).is_empty());
    }

    #[test]
    fn exec_frames_are_one_key_objects() {
        let line = |f: &ExecFrame| serde_json::to_string(f).expect("json");
        assert_eq!(
            line(&ExecFrame::Stdout("hi\n".into())),
            r#"{"stdout":"hi\n"}"#
        );
        assert_eq!(
            line(&ExecFrame::StderrB64("/w==".into())),
            r#"{"stderr_b64":"/w=="}"#
        );
        assert_eq!(line(&ExecFrame::Exit(3)), r#"{"exit":3}"#);
        assert_eq!(line(&ExecFrame::TimedOut(5)), r#"{"timed_out":5}"#);
    }
}
