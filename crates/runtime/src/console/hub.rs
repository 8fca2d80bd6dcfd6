//! The hub of one console: the single reader of the guest's port, the
//! in-memory buffer expect searches, the raw and text logs, and the share
//! socket whose clients see the output and type into the guest.

use super::cursor::{ConsoleMatch, search};
use super::logs::{TextLog, escape_lines};
use super::{ConsoleError, lock};
use regex::bytes::Regex;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bytes kept in memory for expect; older output stays in the log files.
const KEEP: usize = 8 << 20;
/// Bytes shown in error messages.
const TAIL: usize = 1500;

struct Buf {
    data: Vec<u8>,
    /// Absolute offset of `data[0]` in the console stream.
    base: u64,
    closed: bool,
}

impl Buf {
    fn end(&self) -> u64 {
        self.base + self.data.len() as u64
    }
}

/// The guest's side of a console: what the reader reads, and what
/// [`Hub::send`] writes to.
pub(super) enum Port {
    /// QEMU's serial chardev socket.
    Socket(UnixStream),
    /// The master of a pty whose slave is a container's `/dev/console`.
    /// The slave is held open until shutdown: with no process of the
    /// container holding the console (systemd opens it only to write), the
    /// master would read EIO instead of waiting.
    Pty {
        /// The master, read and written here.
        master: File,
        /// The held slave, dropped at shutdown.
        slave: Option<OwnedFd>,
    },
}

/// The shared state of one console: the buffer, the guest's port, clients.
pub(crate) struct Hub {
    buf: Mutex<Buf>,
    cond: Condvar,
    port: Mutex<Port>,
    clients: Mutex<Vec<UnixStream>>,
    pub(super) stop: AtomicBool,
    share_path: Option<PathBuf>,
    /// What the console shows once its shell is up (a getty logs in after
    /// the boot): [`super::Console::run`] waits for it, from the start, first.
    pub(super) shell_gate: Option<Regex>,
    /// The gate was seen.
    pub(super) shell_up: AtomicBool,
    /// The shell's prompt (a vm's `console.prompt`):
    /// [`super::Console::run`] waits for it after each command, so the
    /// next line is typed at a prompt.
    pub(super) prompt: Mutex<Option<Regex>>,
    /// Numbers the markers of [`super::Console::run`].
    pub(super) seq: AtomicU64,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// Where a console's files go.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleFiles {
    pub(crate) log: PathBuf,
    pub(crate) txt: PathBuf,
    /// Append instead of truncating (a restarted QEMU, e.g. after a KVM
    /// fallback).
    pub(crate) append: bool,
}

impl Hub {
    /// Connects to QEMU's serial socket, opens the log files, starts the
    /// reader thread and, if `share` is given, the share listener.
    pub(crate) fn start(
        serial: &Path,
        files: &ConsoleFiles,
        share: Option<&Path>,
        started: Instant,
        connect_timeout: Duration,
    ) -> Result<Arc<Hub>, ConsoleError> {
        let stream = crate::vm::qmp::connect_retry(serial, connect_timeout).map_err(|source| {
            ConsoleError::Connect {
                path: serial.to_owned(),
                source,
            }
        })?;
        let connect_err = |source| ConsoleError::Connect {
            path: serial.to_owned(),
            source,
        };
        let mut reader = stream.try_clone().map_err(connect_err)?;
        let next = move |_: &Hub, chunk: &mut [u8]| loop {
            match reader.read(chunk) {
                Ok(0) => return None,
                Ok(n) => return Some(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        };
        Hub::with_port(Port::Socket(stream), next, files, share, started, None)
    }

    /// Opens the log files and the share socket and starts the reader
    /// (`next` fills a chunk and returns its length, or `None` at the end;
    /// it is handed the hub to see a shutdown)
    /// and the share listener.
    pub(super) fn with_port(
        port: Port,
        next: impl FnMut(&Hub, &mut [u8]) -> Option<usize> + Send + 'static,
        files: &ConsoleFiles,
        share: Option<&Path>,
        started: Instant,
        shell_gate: Option<Regex>,
    ) -> Result<Arc<Hub>, ConsoleError> {
        let open = |p: &Path| -> Result<File, ConsoleError> {
            let mut o = OpenOptions::new();
            o.create(true);
            if files.append {
                o.append(true);
            } else {
                o.write(true).truncate(true);
            }
            o.open(p).map_err(|source| ConsoleError::Create {
                path: p.to_owned(),
                source,
            })
        };
        let log = open(&files.log)?;
        let txt = open(&files.txt)?;
        let listener = match share {
            Some(p) => {
                let _ = std::fs::remove_file(p);
                Some(
                    UnixListener::bind(p).map_err(|source| ConsoleError::Create {
                        path: p.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let hub = Arc::new(Hub {
            buf: Mutex::new(Buf {
                data: Vec::new(),
                base: 0,
                closed: false,
            }),
            cond: Condvar::new(),
            port: Mutex::new(port),
            clients: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            share_path: share.map(Path::to_owned),
            shell_gate,
            shell_up: AtomicBool::new(false),
            prompt: Mutex::new(None),
            seq: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
        });
        let h = Arc::clone(&hub);
        let spawn_err = |source| ConsoleError::Create {
            path: files.log.clone(),
            source,
        };
        let t = std::thread::Builder::new()
            .name("warren-console".into())
            .spawn(move || h.read_loop(next, log, txt, started))
            .map_err(spawn_err)?;
        lock(&hub.threads).push(t);
        if let Some(listener) = listener {
            let h = Arc::clone(&hub);
            let t = std::thread::Builder::new()
                .name("warren-console-share".into())
                .spawn(move || h.accept_loop(listener))
                .map_err(spawn_err)?;
            lock(&hub.threads).push(t);
        }
        Ok(hub)
    }

    fn read_loop(
        &self,
        mut next: impl FnMut(&Hub, &mut [u8]) -> Option<usize>,
        log: File,
        txt: File,
        started: Instant,
    ) {
        let mut log = BufWriter::new(log);
        let mut txt = TextLog::new(BufWriter::new(txt), started);
        let mut chunk = [0u8; 8192];
        while let Some(n) = next(self, &mut chunk) {
            let bytes = &chunk[..n];
            let _ = log.write_all(bytes);
            let _ = log.flush();
            txt.push(bytes);
            {
                let mut buf = lock(&self.buf);
                buf.data.extend_from_slice(bytes);
                if buf.data.len() > KEEP {
                    let drop_n = buf.data.len() - KEEP / 2;
                    buf.data.drain(..drop_n);
                    buf.base += drop_n as u64;
                }
            }
            self.cond.notify_all();
            lock(&self.clients).retain_mut(|c| c.write_all(bytes).is_ok());
        }
        txt.finish();
        let _ = log.flush();
        lock(&self.buf).closed = true;
        self.cond.notify_all();
        for c in lock(&self.clients).drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn accept_loop(self: Arc<Self>, listener: UnixListener) {
        for conn in listener.incoming() {
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
            let Ok(out) = conn.try_clone() else { continue };
            lock(&self.clients).push(out);
            let hub = Arc::clone(&self);
            let _ = std::thread::Builder::new()
                .name("warren-console-client".into())
                .spawn(move || {
                    let mut conn = conn;
                    let mut chunk = [0u8; 1024];
                    while let Ok(n) = conn.read(&mut chunk) {
                        if n == 0 || hub.send(&chunk[..n]).is_err() {
                            break;
                        }
                    }
                });
        }
    }

    pub(crate) fn send(&self, bytes: &[u8]) -> io::Result<()> {
        match &mut *lock(&self.port) {
            Port::Socket(s) => s.write_all(bytes),
            Port::Pty { master, .. } => master.write_all(bytes),
        }
    }

    pub(crate) fn end(&self) -> u64 {
        lock(&self.buf).end()
    }

    /// Waits until the output grows past `from` or `deadline` passes.
    /// Returns whether it grew.
    pub(crate) fn wait_output(&self, from: u64, deadline: Instant) -> bool {
        self.wait_until(deadline, |buf| buf.end() > from)
    }

    /// Waits until the output, seen from its end, matches `re` (anchored
    /// there by the caller), or `deadline` passes; returns whether it did.
    /// Only the last [`TAIL`] bytes are searched.
    pub(crate) fn wait_tail(&self, re: &Regex, deadline: Instant) -> bool {
        self.wait_until(deadline, |buf| {
            re.is_match(&buf.data[buf.data.len().saturating_sub(TAIL)..])
        })
    }

    /// Waits until `done` holds for the buffer, checked at once and after
    /// each new output; false when the console closes or `deadline` passes
    /// first.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&Buf) -> bool) -> bool {
        let mut buf = lock(&self.buf);
        loop {
            if done(&buf) {
                return true;
            }
            let now = Instant::now();
            if buf.closed || now >= deadline {
                return false;
            }
            buf = self
                .cond
                .wait_timeout(buf, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The last [`TAIL`] bytes, escaped.
    pub(crate) fn tail(&self) -> String {
        let buf = lock(&self.buf);
        let start = buf.data.len().saturating_sub(TAIL);
        escape_lines(&buf.data[start..])
    }

    /// Searches `re` from absolute offset `*pos`, waiting until `deadline`.
    /// `Err(Some(()))` is a timeout, `Err(None)` the console closing.
    pub(super) fn expect(
        &self,
        re: &Regex,
        pos: &mut u64,
        deadline: Instant,
    ) -> Result<ConsoleMatch, Option<()>> {
        let mut buf = lock(&self.buf);
        loop {
            if let Some((m, next)) = search(&buf.data, buf.base, re, *pos) {
                *pos = next;
                return Ok(m);
            }
            let now = Instant::now();
            if buf.closed {
                return Err(None);
            }
            if now >= deadline {
                return Err(Some(()));
            }
            buf = self
                .cond
                .wait_timeout(buf, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the share listener, disconnects clients and the guest's port,
    /// and joins the threads (the reader ends when QEMU closes the socket,
    /// or once a pty has nothing more to read).
    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(p) = &self.share_path {
            // Wake the accept loop, then remove the socket file.
            let _ = UnixStream::connect(p);
            let _ = std::fs::remove_file(p);
        }
        match &mut *lock(&self.port) {
            Port::Socket(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Port::Pty { slave, .. } => drop(slave.take()),
        }
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        for c in lock(&self.clients).drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{CommandOutput, Console};

    /// A scripted serial port: echoes typed input like a tty (`\r\n`), and
    /// answers a wrapped command line like a shell would.
    fn fake_shell(dir: &Path) -> PathBuf {
        let path = dir.join("serial.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let mut w = conn.try_clone().expect("clone");
            let mut r = io::BufReader::new(conn);
            w.write_all(b"boot\r\n\x1b[6ndut# ").expect("prompt");
            let tag_re = regex::Regex::new(r"__WB '([^']+)'; (.*); printf").expect("re");
            let mut line = String::new();
            while io::BufRead::read_line(&mut r, &mut line)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                let typed = line.trim_end().to_owned();
                line.clear();
                let mut out = format!("{typed}\r\n");
                if let Some(c) = tag_re.captures(&typed) {
                    let (tag, cmd) = (&c[1], &c[2]);
                    let (text, code) = match cmd {
                        "echo hello" => ("hello\r\n", 0),
                        _ => ("", 1),
                    };
                    out.push_str(&format!("\r\n__WB{tag}\r\n{text}\r\n__WE{tag} {code}\r\n"));
                }
                out.push_str("dut# ");
                w.write_all(out.as_bytes()).expect("write");
            }
        });
        path
    }

    #[test]
    fn expect_and_run_over_a_fake_serial_port() {
        let dir = tempfile::tempdir().expect("tempdir");
        let serial = fake_shell(dir.path());
        let files = ConsoleFiles {
            log: dir.path().join("n.log"),
            txt: dir.path().join("n.txt"),
            append: false,
        };
        let share = dir.path().join("n.console");
        let hub = Hub::start(
            &serial,
            &files,
            Some(&share),
            Instant::now(),
            Duration::from_secs(5),
        )
        .expect("hub");
        let c = Console::new(Arc::clone(&hub), 0);
        let m = c.expect(r"dut# ", Duration::from_secs(5)).expect("prompt");
        assert!(m.before.contains("boot"));
        let ok = c.run("echo hello", Duration::from_secs(5)).expect("run");
        assert_eq!(
            ok,
            CommandOutput {
                code: 0,
                output: "hello".into()
            }
        );
        let bad = c.run("false", Duration::from_secs(5)).expect("run");
        assert_eq!((bad.code, bad.output.as_str()), (1, ""));
        let err = c
            .expect("never", Duration::from_millis(100))
            .expect_err("timeout");
        let msg = err.to_string();
        assert!(msg.contains("last output") && msg.contains("__WE"), "{msg}");
        hub.shutdown();
        let txt = std::fs::read_to_string(&files.txt).expect("txt");
        assert!(txt.contains("] \\x1b[6ndut# "), "{txt}");
        assert!(!share.exists(), "share socket removed");
    }
}
