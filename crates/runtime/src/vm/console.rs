//! A VM's serial console, or a container's `/dev/console` (a pty, see
//! [`PtyConsole`]): one reader thread from boot to teardown, the logs it
//! writes, expect/send/run on top of it, and a share socket through which
//! `warren console` attaches interactively.
//!
//! QEMU's chardev socket serves one client at a time, so the reader is the
//! only client; everything else (expect, the interactive attach) goes
//! through this module. Files written, for node `N` in directory `D`:
//!
//! - `D/N.log`: every byte the guest wrote, raw;
//! - `D/N.txt`: the same, one line per line, each prefixed with the seconds
//!   since the VM started, non-printable bytes escaped (`\x1b`, `\r`, `\\`).
//!
//! This module does not start QEMU; it is handed the socket path.
//! A container's pty it allocates itself.

use regex::bytes::Regex;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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
    /// A pty for a container's console could not be allocated.
    #[error("allocating a pty for the console")]
    Pty(#[source] io::Error),
}

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
enum Port {
    /// QEMU's serial chardev socket.
    Socket(UnixStream),
    /// The master of a pty whose slave is a container's `/dev/console`.
    /// The slave is held open until shutdown: with no process of the
    /// container holding the console (systemd opens it only to write), the
    /// master would read EIO instead of waiting.
    Pty {
        master: File,
        slave: Option<OwnedFd>,
    },
}

/// The shared state of one console: the buffer, the guest's port, clients.
pub(crate) struct Hub {
    buf: Mutex<Buf>,
    cond: Condvar,
    port: Mutex<Port>,
    clients: Mutex<Vec<UnixStream>>,
    stop: AtomicBool,
    share_path: Option<PathBuf>,
    /// What the console shows once its shell is up (a getty logs in after
    /// the boot): [`Console::run`] waits for it, from the start, first.
    shell_gate: Option<Regex>,
    /// The gate was seen.
    shell_up: AtomicBool,
    seq: AtomicU64,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let stream = super::qmp::connect_retry(serial, connect_timeout).map_err(|source| {
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

    /// Opens the log files and the share socket and starts the reader
    /// (`next` fills a chunk and returns its length, or `None` at the end;
    /// it is handed the hub to see a shutdown)
    /// and the share listener.
    fn with_port(
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
        let mut buf = lock(&self.buf);
        loop {
            if buf.end() > from {
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
    fn expect(
        &self,
        re: &Regex,
        pos: &mut u64,
        deadline: Instant,
    ) -> Result<ConsoleMatch, Option<()>> {
        let mut buf = lock(&self.buf);
        loop {
            let from = pos.saturating_sub(buf.base).min(buf.data.len() as u64) as usize;
            if let Some(caps) = re.captures(&buf.data[from..]) {
                let whole = caps.get(0).expect("group 0 always exists");
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let m = ConsoleMatch {
                    before: text(&buf.data[from..from + whole.start()]),
                    matched: text(whole.as_bytes()),
                    groups: caps
                        .iter()
                        .skip(1)
                        .map(|g| g.map(|g| text(g.as_bytes())))
                        .collect(),
                    offset: buf.base + (from + whole.start()) as u64,
                };
                *pos = buf.base + (from + whole.end()) as u64;
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

/// Writes the escaped, timestamped text log line by line.
struct TextLog<W: Write> {
    out: W,
    line: Vec<u8>,
    started: Instant,
    line_start: Option<Duration>,
}

impl<W: Write> TextLog<W> {
    fn new(out: W, started: Instant) -> Self {
        TextLog {
            out,
            line: Vec::new(),
            started,
            line_start: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.line_start.is_none() {
                self.line_start = Some(self.started.elapsed());
            }
            if b == b'\n' {
                self.flush_line();
            } else {
                self.line.push(b);
            }
        }
        let _ = self.out.flush();
    }

    fn flush_line(&mut self) {
        let at = self.line_start.take().unwrap_or_default();
        // A tty's output processing turns a "\r\n" written by the guest
        // into "\r\r\n": every CR at the end belongs to the line break.
        while self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let _ = writeln!(
            self.out,
            "[{:>4}.{:06}] {}",
            at.as_secs(),
            at.subsec_micros(),
            escape(&self.line)
        );
        self.line.clear();
    }

    fn finish(&mut self) {
        if !self.line.is_empty() {
            self.flush_line();
        }
        let _ = self.out.flush();
    }
}

/// Escapes one line: printable ASCII as is, `\\`, `\t`, `\r`, others `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn escape_lines(bytes: &[u8]) -> String {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| escape(l.strip_suffix(b"\r").unwrap_or(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What [`Console::expect`] matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMatch {
    /// The matched text (lossy UTF-8).
    pub matched: String,
    /// Capture groups 1.., `None` where a group did not take part.
    pub groups: Vec<Option<String>>,
    /// Output between the search start and the match.
    pub before: String,
    /// Absolute offset of the match in the console stream.
    pub offset: u64,
}

/// The result of [`Console::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The command's exit code (`$?`).
    pub code: i32,
    /// What it printed, `\r` removed, without the trailing newline.
    pub output: String,
}

/// A handle on a VM's console with its own read position. Clone it for
/// another independent cursor; all handles share one reader.
#[derive(Clone)]
pub struct Console {
    hub: Arc<Hub>,
    pos: Arc<Mutex<u64>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("pos", &*lock(&self.pos))
            .finish()
    }
}

impl Console {
    pub(crate) fn new(hub: Arc<Hub>, pos: u64) -> Console {
        Console {
            hub,
            pos: Arc::new(Mutex::new(pos)),
        }
    }

    /// The read position: absolute offset in the console stream.
    pub fn position(&self) -> u64 {
        *lock(&self.pos)
    }

    /// Moves the read position to the end of the output seen so far.
    pub fn skip_to_end(&self) {
        *lock(&self.pos) = self.hub.end();
    }

    /// Waits until `pattern` (a regex over the raw bytes, UTF-8 aware)
    /// appears after the read position, then moves the position past the
    /// match. On timeout or when QEMU exits, the error shows the console's
    /// tail.
    pub fn expect(&self, pattern: &str, timeout: Duration) -> Result<ConsoleMatch, ConsoleError> {
        let re = Regex::new(pattern).map_err(|source| ConsoleError::Pattern {
            pattern: pattern.to_owned(),
            source,
        })?;
        self.expect_re(&re, timeout)
    }

    /// [`Console::expect`] with a compiled regex.
    pub fn expect_re(&self, re: &Regex, timeout: Duration) -> Result<ConsoleMatch, ConsoleError> {
        let deadline = Instant::now() + timeout;
        let mut pos = lock(&self.pos);
        match self.hub.expect(re, &mut pos, deadline) {
            Ok(m) => Ok(m),
            Err(Some(())) => Err(ConsoleError::Timeout {
                pattern: re.as_str().to_owned(),
                timeout,
                tail: self.hub.tail(),
            }),
            Err(None) => Err(ConsoleError::Closed {
                pattern: re.as_str().to_owned(),
                tail: self.hub.tail(),
            }),
        }
    }

    /// Writes raw bytes to the guest's serial port.
    pub fn send(&self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.hub.send(bytes).map_err(ConsoleError::Send)
    }

    /// Writes `line` and a newline.
    pub fn send_line(&self, line: &str) -> Result<(), ConsoleError> {
        let mut b = line.as_bytes().to_vec();
        b.push(b'\n');
        self.send(&b)
    }

    /// Runs a one-line shell command on the console's shell and returns its
    /// exit code and output. The command is wrapped in unique markers that
    /// the shell's echo of the typed line cannot match (the marker is
    /// printed by `printf` from two halves), and followed by `echo $?`.
    /// Needs a POSIX shell at a prompt; the command is typed on one line
    /// (no newline, no trailing `&` or comment) and must not read stdin.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, ConsoleError> {
        if let Some(gate) = &self.hub.shell_gate
            && !self.hub.shell_up.load(Ordering::Acquire)
        {
            // Typed before the shell is up, the line would be flushed.
            Console::new(Arc::clone(&self.hub), 0).expect_re(gate, timeout)?;
            self.hub.shell_up.store(true, Ordering::Release);
        }
        let n = self.hub.seq.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id());
        let line = wrap_command(command, &tag);
        self.skip_to_end();
        self.send(line.as_bytes())?;
        let deadline = Instant::now() + timeout;
        let begin = format!(r"__WB{tag}\r?\n");
        self.expect(&begin, remaining(deadline))?;
        let end = format!(r"(?s)(.*?)\r?\n?__WE{tag} (\d+)\r?\n");
        let m = self.expect(&end, remaining(deadline))?;
        let mut output = m.groups[0].clone().unwrap_or_default().replace('\r', "");
        if output.ends_with('\n') {
            output.pop();
        }
        let code = m.groups[1]
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(-1);
        Ok(CommandOutput { code, output })
    }

    /// Escaped last part of the console output, for error messages.
    pub fn tail(&self) -> String {
        self.hub.tail()
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The line typed for [`Console::run`].
pub(crate) fn wrap_command(command: &str, tag: &str) -> String {
    format!("printf '\\n%s%s\\n' __WB '{tag}'; {command}; printf '\\n%s%s %d\\n' __WE '{tag}' $?\n")
}

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
    /// (escaped, timestamped), serving [`attach`] on the socket `share`.
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
        let (hub, slave) = Hub::start_pty(&files, Some(share), Instant::now(), gate)?;
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

    /// The share socket [`attach`] connects to.
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

/// The byte that ends [`attach`]: Ctrl-] (as in telnet and virsh).
pub const DETACH_KEY: u8 = 0x1d;

/// Relays a console share socket (`<state>/<node>.console`, see
/// [`crate::vm::Vm::console_socket`]) to this process's stdin and stdout
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_pty_console_logs_what_the_slave_writes_and_sends_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, txt) = (dir.path().join("c.log"), dir.path().join("c.txt"));
        let share = dir.path().join("c.sock");
        let pty = PtyConsole::start(&log, &txt, &share, Some("login: root")).expect("pty");
        assert!(share.exists());
        // What the container does with its /dev/console: open, write, close.
        let mut slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(pty.slave_path())
            .expect("slave");
        slave.write_all(b"Welcome\n").expect("write");
        let c = pty.console_from_start();
        c.expect("Welcome\r\n", Duration::from_secs(5))
            .expect("the tty's \\r\\n");
        drop(slave);
        // No process holds the console for a while: the reader keeps going.
        std::thread::sleep(Duration::from_millis(100));
        let mut slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(pty.slave_path())
            .expect("slave again");
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
    fn escapes_control_bytes() {
        assert_eq!(escape(b"a\\b\tc\x1b[6n\xff"), "a\\\\b\\tc\\x1b[6n\\xff");
    }

    #[test]
    fn text_log_timestamps_each_line() {
        let mut out = Vec::new();
        {
            let mut t = TextLog::new(&mut out, Instant::now());
            t.push(b"one\r\r\ntw");
            t.push(b"o\nthree");
            t.finish();
        }
        let s = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("] one"), "{s}");
        assert!(lines[1].ends_with("] two"), "{s}");
        assert!(lines[2].ends_with("] three"), "{s}");
        assert!(lines[0].starts_with("[   0."), "{s}");
    }

    #[test]
    fn wrapped_command_does_not_contain_its_markers() {
        let line = wrap_command("false", "9x1");
        assert!(!line.contains("__WB9x1"));
        assert!(!line.contains("__WE9x1"));
        assert!(line.ends_with("$?\n"));
    }
}
