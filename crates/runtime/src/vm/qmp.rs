//! QEMU Machine Protocol client: JSON lines over a unix socket.
//!
//! One reader thread per connection demultiplexes replies (matched by the
//! `id` we put on each command) from asynchronous events. Events are kept as
//! [`serde_json::Value`] so an event or field this client does not know is
//! passed on, never an error. Message building and parsing are pure
//! functions, tested without QEMU.
//!
//! This module owns the socket and the reader thread; it does not start or
//! stop QEMU.

use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Errors talking QMP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QmpError {
    /// The socket could not be connected before the deadline.
    #[error("connecting to QMP socket {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The last errno.
        #[source]
        source: io::Error,
    },
    /// The greeting or the capabilities negotiation failed.
    #[error("QMP handshake on {path}: {reason}")]
    Handshake {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing the socket failed.
    #[error("QMP i/o while sending {command}")]
    Io {
        /// The command being sent.
        command: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// QEMU answered with an error.
    #[error("QMP command {command} failed: {class}: {desc}")]
    Command {
        /// The command.
        command: String,
        /// QEMU's error class (`GenericError`, `CommandNotFound`, …).
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// No reply within the timeout.
    #[error("QMP command {command} got no reply within {timeout:?}")]
    Timeout {
        /// The command.
        command: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The connection closed (QEMU exited) before the reply came.
    #[error("QMP connection closed before {command} was answered")]
    Closed {
        /// The command.
        command: String,
    },
}

/// An asynchronous QMP event (`SHUTDOWN`, `RESET`, `POWERDOWN`, `STOP`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    /// The event name.
    pub event: String,
    /// The `data` member, `Value::Null` when absent.
    pub data: Value,
    /// QEMU's timestamp as seconds since the epoch, when present.
    pub timestamp: Option<f64>,
    /// The whole message as received, unknown fields included.
    pub raw: Value,
}

/// A reply from `query-status`.
#[derive(Debug, Clone, PartialEq)]
pub struct QmpStatus {
    /// `running`, `paused`, `shutdown`, `internal-error`, `guest-panicked`, …
    pub status: String,
    /// Whether the vCPUs run.
    pub running: bool,
    /// The whole `return` value.
    pub raw: Value,
}

/// One message from QEMU, classified.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QmpMessage {
    /// The greeting `{"QMP": {...}}`.
    Greeting(Value),
    /// `{"return": ..., "id": ...}`.
    Return {
        /// Our id, if echoed back.
        id: Option<u64>,
        /// The value.
        value: Value,
    },
    /// `{"error": {"class", "desc"}, "id": ...}`.
    Error {
        /// Our id, if echoed back.
        id: Option<u64>,
        /// Error class.
        class: String,
        /// Description.
        desc: String,
    },
    /// An event.
    Event(QmpEvent),
    /// Valid JSON of no known shape (kept, never fatal).
    Other(Value),
}

/// Encodes one command line (with its trailing newline).
pub fn encode_command(id: u64, command: &str, arguments: Option<&Value>) -> String {
    let mut obj = Map::new();
    obj.insert("execute".into(), Value::String(command.into()));
    if let Some(args) = arguments {
        obj.insert("arguments".into(), args.clone());
    }
    obj.insert("id".into(), json!(id));
    let mut s = Value::Object(obj).to_string();
    s.push('\n');
    s
}

/// Parses one line from QEMU. `None` if it is not JSON at all.
pub fn parse_message(line: &str) -> Option<QmpMessage> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let id = v.get("id").and_then(Value::as_u64);
    if v.get("QMP").is_some() {
        return Some(QmpMessage::Greeting(v));
    }
    if let Some(ret) = v.get("return") {
        return Some(QmpMessage::Return {
            id,
            value: ret.clone(),
        });
    }
    if let Some(err) = v.get("error") {
        let field = |k: &str| {
            err.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        return Some(QmpMessage::Error {
            id,
            class: field("class"),
            desc: field("desc"),
        });
    }
    if let Some(name) = v.get("event").and_then(Value::as_str) {
        let timestamp = v.get("timestamp").and_then(|t| {
            let secs = t.get("seconds")?.as_f64()?;
            let micros = t.get("microseconds").and_then(Value::as_f64).unwrap_or(0.0);
            Some(secs + micros / 1e6)
        });
        return Some(QmpMessage::Event(QmpEvent {
            event: name.to_owned(),
            data: v.get("data").cloned().unwrap_or(Value::Null),
            timestamp,
            raw: v.clone(),
        }));
    }
    Some(QmpMessage::Other(v))
}

type Reply = Result<Value, (String, String)>;

#[derive(Default)]
struct Shared {
    pending: HashMap<u64, SyncSender<Reply>>,
    subscribers: Vec<Sender<QmpEvent>>,
    closed: bool,
}

/// A connected QMP client. Cheap to share by reference; every method takes
/// `&self` and may be called from any thread.
pub struct Qmp {
    path: PathBuf,
    writer: Mutex<UnixStream>,
    shared: Arc<Mutex<Shared>>,
    next_id: AtomicU64,
    greeting: Value,
    reader: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Qmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qmp").field("path", &self.path).finish()
    }
}

/// Default time a command waits for its reply.
pub const QMP_TIMEOUT: Duration = Duration::from_secs(10);

impl Qmp {
    /// Connects to `path` (retrying while the socket does not exist or
    /// refuses, until `timeout`), reads the greeting, negotiates
    /// capabilities and starts the reader thread. Every event is also sent
    /// to `events`, if given.
    pub fn connect(
        path: &Path,
        timeout: Duration,
        events: Option<Sender<QmpEvent>>,
    ) -> Result<Qmp, QmpError> {
        let stream = connect_retry(path, timeout).map_err(|source| QmpError::Connect {
            path: path.to_owned(),
            source,
        })?;
        let handshake = |reason: String| QmpError::Handshake {
            path: path.to_owned(),
            reason,
        };
        let read_half = stream
            .try_clone()
            .map_err(|e| handshake(format!("cloning the socket: {e}")))?;
        read_half
            .set_read_timeout(Some(timeout))
            .map_err(|e| handshake(format!("setting a read timeout: {e}")))?;
        let mut reader = BufReader::new(read_half);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| handshake(format!("reading the greeting: {e}")))?;
        let greeting = match parse_message(&line) {
            Some(QmpMessage::Greeting(g)) => g,
            _ => return Err(handshake(format!("unexpected greeting {line:?}"))),
        };
        let mut writer = stream;
        writer
            .write_all(encode_command(0, "qmp_capabilities", None).as_bytes())
            .map_err(|e| handshake(format!("sending qmp_capabilities: {e}")))?;
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| handshake(format!("reading the capabilities reply: {e}")))?;
            if n == 0 {
                return Err(handshake("closed during negotiation".into()));
            }
            match parse_message(&line) {
                Some(QmpMessage::Return { .. }) => break,
                Some(QmpMessage::Error { desc, .. }) => return Err(handshake(desc)),
                _ => continue,
            }
        }
        reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(|e| handshake(format!("clearing the read timeout: {e}")))?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        if let Some(tx) = events {
            lock(&shared).subscribers.push(tx);
        }
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("warren-qmp".into())
            .spawn(move || read_loop(reader, &thread_shared))
            .map_err(|e| handshake(format!("starting the reader thread: {e}")))?;
        Ok(Qmp {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            shared,
            next_id: AtomicU64::new(1),
            greeting,
            reader: Mutex::new(Some(handle)),
        })
    }

    /// The greeting QEMU sent (`{"QMP": {"version": ...}}`).
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// A new receiver of every event from now on.
    pub fn subscribe(&self) -> Receiver<QmpEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.shared).subscribers.push(tx);
        rx
    }

    /// Whether the connection has closed (QEMU exited).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }

    /// Runs `command` with optional `arguments` and returns its `return`
    /// value, waiting at most `timeout`.
    pub fn execute_with(
        &self,
        command: &str,
        arguments: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut sh = lock(&self.shared);
            if sh.closed {
                return Err(QmpError::Closed {
                    command: command.into(),
                });
            }
            sh.pending.insert(id, tx);
        }
        let line = encode_command(id, command, arguments);
        let sent = lock(&self.writer).write_all(line.as_bytes());
        if let Err(source) = sent {
            lock(&self.shared).pending.remove(&id);
            return Err(QmpError::Io {
                command: command.into(),
                source,
            });
        }
        let started = std::time::Instant::now();
        let reply = rx.recv_timeout(timeout);
        match &reply {
            Ok(Ok(_)) => tracing::debug!(
                command,
                id,
                arguments = %arguments.unwrap_or(&serde_json::Value::Null),
                ms = started.elapsed().as_millis(),
                "qmp"
            ),
            Ok(Err((class, desc))) => {
                tracing::debug!(command, id, class, desc, "qmp command failed");
            }
            Err(_) => tracing::debug!(command, id, "qmp command got no reply"),
        }
        match reply {
            Ok(Ok(v)) => Ok(v),
            Ok(Err((class, desc))) => Err(QmpError::Command {
                command: command.into(),
                class,
                desc,
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&self.shared).pending.remove(&id);
                Err(QmpError::Timeout {
                    command: command.into(),
                    timeout,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(QmpError::Closed {
                command: command.into(),
            }),
        }
    }

    /// Runs `command` without arguments, waiting at most [`QMP_TIMEOUT`].
    pub fn execute(&self, command: &str) -> Result<Value, QmpError> {
        self.execute_with(command, None, QMP_TIMEOUT)
    }

    /// `query-status`.
    pub fn query_status(&self) -> Result<QmpStatus, QmpError> {
        let v = self.execute("query-status")?;
        Ok(QmpStatus {
            status: v
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            running: v.get("running").and_then(Value::as_bool).unwrap_or(false),
            raw: v,
        })
    }

    /// `system_reset`: a hard reset of the machine.
    pub fn reset(&self) -> Result<(), QmpError> {
        self.execute("system_reset").map(drop)
    }

    /// `system_powerdown`: presses the ACPI power button; the guest decides.
    pub fn system_powerdown(&self) -> Result<(), QmpError> {
        self.execute("system_powerdown").map(drop)
    }

    /// `stop`: pauses the vCPUs.
    pub fn stop(&self) -> Result<(), QmpError> {
        self.execute("stop").map(drop)
    }

    /// `cont`: resumes the vCPUs.
    pub fn cont(&self) -> Result<(), QmpError> {
        self.execute("cont").map(drop)
    }

    /// `quit`: QEMU exits at once. A connection that closes before the
    /// reply counts as success.
    pub fn quit(&self) -> Result<(), QmpError> {
        match self.execute_with("quit", None, Duration::from_secs(5)) {
            Ok(_) | Err(QmpError::Closed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Qmp {
    fn drop(&mut self) {
        let _ = lock(&self.writer).shutdown(std::net::Shutdown::Both);
        if let Some(h) = lock(&self.reader).take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_loop(mut reader: BufReader<UnixStream>, shared: &Mutex<Shared>) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(msg) = parse_message(&line) else {
            continue;
        };
        let mut sh = lock(shared);
        match msg {
            QmpMessage::Return {
                id: Some(id),
                value,
            } => {
                if let Some(tx) = sh.pending.remove(&id) {
                    let _ = tx.send(Ok(value));
                }
            }
            QmpMessage::Error {
                id: Some(id),
                class,
                desc,
            } => {
                if let Some(tx) = sh.pending.remove(&id) {
                    let _ = tx.send(Err((class, desc)));
                }
            }
            QmpMessage::Event(ev) => {
                tracing::debug!(event = %ev.event, data = %ev.data, "qmp event");
                sh.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
            }
            _ => {}
        }
    }
    let mut sh = lock(shared);
    sh.closed = true;
    // Dropping the senders wakes every waiter with `Disconnected`.
    sh.pending.clear();
    sh.subscribers.clear();
}

/// Connects to a unix socket, retrying on "not there yet" until `timeout`.
pub(crate) fn connect_retry(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted QEMU: greeting, capabilities, then one reply (or error)
    /// per command, with an unknown event before the first reply.
    fn fake_qemu(dir: &Path) -> PathBuf {
        use std::os::unix::net::UnixListener;
        let path = dir.join("q.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let mut w = conn.try_clone().expect("clone");
            let mut r = BufReader::new(conn);
            let mut line = String::new();
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                .expect("greeting");
            let mut first = true;
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                let v: Value = serde_json::from_str(&line).expect("json command");
                line.clear();
                let id = v["id"].clone();
                let reply = match v["execute"].as_str() {
                    Some("qmp_capabilities") => json!({"return": {}, "id": id}),
                    Some("query-status") => {
                        json!({"return": {"status": "running", "running": true}, "id": id})
                    }
                    Some("quit") => break,
                    _ => json!({"error": {"class": "CommandNotFound", "desc": "no"}, "id": id}),
                };
                if first && v["execute"] != "qmp_capabilities" {
                    first = false;
                    let ev = json!({"event": "BRAND_NEW", "data": {"x": 1}, "extra": true});
                    w.write_all(format!("{ev}\n").as_bytes()).expect("event");
                }
                w.write_all(format!("{reply}\n").as_bytes()).expect("reply");
            }
        });
        path
    }

    #[test]
    fn client_matches_replies_and_passes_unknown_events_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fake_qemu(dir.path());
        let (tx, rx) = mpsc::channel();
        let qmp = Qmp::connect(&path, Duration::from_secs(5), Some(tx)).expect("connect");
        let st = qmp.query_status().expect("query-status");
        assert_eq!((st.status.as_str(), st.running), ("running", true));
        let ev = rx.recv_timeout(Duration::from_secs(5)).expect("event");
        assert_eq!(ev.event, "BRAND_NEW");
        assert_eq!(ev.raw["extra"], true);
        let err = qmp.execute("bogus").expect_err("error reply");
        assert!(matches!(err, QmpError::Command { ref class, .. } if class == "CommandNotFound"));
        qmp.quit().expect("quit: a closed connection is success");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !qmp.is_closed() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(
            qmp.execute("query-status"),
            Err(QmpError::Closed { .. })
        ));
    }

    #[test]
    fn encodes_commands_with_id_and_arguments() {
        assert_eq!(
            encode_command(7, "query-status", None),
            "{\"execute\":\"query-status\",\"id\":7}\n"
        );
        let args = json!({"device": "n0"});
        let line = encode_command(8, "x", Some(&args));
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["arguments"]["device"], "n0");
        assert_eq!(v["id"], 8);
    }

    #[test]
    fn parses_every_message_kind() {
        let g = parse_message(r#"{"QMP": {"version": {}, "capabilities": ["oob"]}}"#);
        assert!(matches!(g, Some(QmpMessage::Greeting(_))));
        let r = parse_message(r#"{"return": {"status": "running"}, "id": 3}"#);
        assert!(matches!(r, Some(QmpMessage::Return { id: Some(3), .. })));
        let e =
            parse_message(r#"{"id": 4, "error": {"class": "CommandNotFound", "desc": "nope"}}"#);
        assert_eq!(
            e,
            Some(QmpMessage::Error {
                id: Some(4),
                class: "CommandNotFound".into(),
                desc: "nope".into()
            })
        );
        let ev = parse_message(
            r#"{"timestamp": {"seconds": 10, "microseconds": 500000}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit", "new": 1}}"#,
        );
        let Some(QmpMessage::Event(ev)) = ev else {
            panic!("not an event")
        };
        assert_eq!(ev.event, "SHUTDOWN");
        assert_eq!(ev.data["new"], 1, "unknown fields are kept");
        assert_eq!(ev.timestamp, Some(10.5));
        assert!(matches!(
            parse_message(r#"{"surprise": 1}"#),
            Some(QmpMessage::Other(_))
        ));
        assert_eq!(parse_message("not json"), None);
    }
}
