//! The supervisor's control protocol: JSON lines over the unix socket
//! `control.sock` in the lab's state folder, a stable interface documented
//! in `docs/control-protocol.md`. Each request is one line, and each answer
//! one line; a streaming request (`exec`, `events`, `capture`) is followed
//! by its stream on the same connection. New fields are optional, so older
//! clients keep working; `v` is bumped only for incompatible changes, and a
//! supervisor refuses a newer `v` than its own.

use serde::{Deserialize, Serialize};

/// Protocol version.
pub const VERSION: u32 = 1;

/// A request to a lab's supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// Is the supervisor there, and in what state?
    Ping,
    /// Everything about the running lab, read live from the kernel.
    Inspect,
    /// Tear the lab down and exit.
    Down,
    /// Control a vm over QMP: `reset`, `powerdown`, `pause`, `resume`, `quit`.
    Vm {
        /// The vm node.
        node: String,
        /// The action.
        action: String,
    },
    /// Run a command at a vm's console and return its output and exit code.
    ConsoleRun {
        /// The vm node.
        node: String,
        /// The command (one line).
        command: String,
        /// Seconds to wait for it.
        timeout_secs: u64,
    },
    /// Stream live pcapng of a link or network: after the reply line, the
    /// connection carries pcapng bytes until the client closes it.
    Capture {
        /// Link name, an endpoint of the link (`r1:eth1`), or network name.
        link: String,
    },
    /// Replace the impairments of a wired link at run time: both
    /// directions for a link name, one egress for an endpoint (`r1:eth1`).
    Impair {
        /// Link name or endpoint.
        link: String,
        /// Impairment keys as in the lab file (`delay: 50ms`, `loss: 2%`);
        /// empty clears every impairment.
        #[serde(default)]
        impair: std::collections::BTreeMap<String, String>,
    },
    /// Turn a wired link's carrier off or on, as both ends see it.
    Link {
        /// Link name or endpoint (`r1:eth1`).
        link: String,
        /// Carrier on (true) or off.
        up: bool,
    },
    /// Run a command in a netns, container or system node. Streams: after
    /// the reply line, one [`ExecFrame`] per line, the last an exit frame.
    Exec {
        /// The node.
        node: String,
        /// Program and arguments (no shell).
        argv: Vec<String>,
        /// Extra environment, on top of the node's `env:`.
        #[serde(default)]
        env: std::collections::BTreeMap<String, String>,
        /// Bytes written to the command's stdin, which is then closed;
        /// without it stdin is empty.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdin: Option<String>,
        /// Kill the command after this many seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u64>,
    },
    /// Wait until a vm's console shows `pattern` after the console cursor
    /// (the end of the last match, or the point of the last send).
    ConsoleExpect {
        /// The vm node.
        node: String,
        /// A regex over the console output.
        pattern: String,
        /// Seconds to wait.
        timeout_secs: u64,
    },
    /// Type text at a vm's console, as is (add `\n` for Enter). The
    /// console cursor moves to the end of the output first.
    ConsoleSend {
        /// The vm node.
        node: String,
        /// The text.
        text: String,
        /// Wait (up to 5 s) until the console's output ends in the vm's
        /// `console.prompt` before typing, so the line is not typed ahead
        /// of the prompt.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        at_prompt: bool,
    },
    /// Write a file on a vm's or system node's console, through its shell:
    /// base64 (or printf escapes) in chunks, each checked with a checksum
    /// the far side computes; answers with the bytes, chunks and time.
    ConsoleUpload {
        /// The vm or system node.
        node: String,
        /// Where the file goes on the node.
        path: String,
        /// The file's bytes, base64.
        data: String,
        /// Its mode in octal digits, as `chmod` takes them (`"0755"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<String>,
        /// Seconds the whole upload may take.
        timeout_secs: u64,
    },
    /// Stream the run's events: every line of `events.jsonl` so far, then
    /// each new one, until the client closes the connection.
    Events,
    /// Fire a named entry of the lab's `faults:` now; answers when its last
    /// action (the end of a `down:` or `for:`) has been applied.
    Fault {
        /// The fault's `name:`.
        name: String,
    },
    /// A raw QMP command to a vm; the result is QMP's `return` value.
    Qmp {
        /// The vm node.
        node: String,
        /// The QMP command (`query-status`).
        command: String,
        /// Its arguments, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arguments: Option<serde_json::Value>,
    },
    /// Stop, start or restart a node while its links stay: `stop` takes
    /// its interfaces down and stops its processes, `start` brings both
    /// back with the same addresses and routes.
    Node {
        /// The node.
        node: String,
        /// `stop`, `start` or `restart`.
        action: String,
    },
    /// Replace the running lab with `lab` (a lab file's text) that
    /// differs only in its nodes: nodes only in the old lab are stopped
    /// and removed, nodes only in the new one added and started, the
    /// rest keep running (`warren scale`).
    Scale {
        /// The new lab file.
        lab: String,
    },
}

impl Request {
    /// A `console_upload` of `data` to `path` on `node`, the bytes
    /// base64-encoded; `mode` in octal digits (`"0755"`).
    pub fn console_upload(
        node: &str,
        path: &str,
        data: &[u8],
        mode: Option<String>,
        timeout_secs: u64,
    ) -> Request {
        use base64::Engine;
        Request::ConsoleUpload {
            node: node.to_string(),
            path: path.to_string(),
            data: base64::engine::general_purpose::STANDARD.encode(data),
            mode,
            timeout_secs,
        }
    }
}

/// One line of an `exec` stream. Output is sent as UTF-8 text when it is
/// valid UTF-8, as base64 otherwise; chunks never split a character.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecFrame {
    /// Output on stdout, as text.
    Stdout(String),
    /// Output on stdout that is not UTF-8, base64-encoded.
    StdoutB64(String),
    /// Output on stderr, as text.
    Stderr(String),
    /// Output on stderr that is not UTF-8, base64-encoded.
    StderrB64(String),
    /// The command ended with this exit code (128 + signal when killed);
    /// always the last frame.
    Exit(i32),
    /// The command was killed at its `timeout_secs`; an exit frame follows.
    TimedOut(u64),
}

/// A request with its protocol version, as sent on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version of the sender.
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

impl ExecFrame {
    /// The output bytes this frame carries and whether they are stderr's;
    /// `None` for exit and timeout frames, or base64 that does not decode.
    pub fn output(&self) -> Option<(bool, Vec<u8>)> {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok();
        match self {
            ExecFrame::Stdout(s) => Some((false, s.clone().into_bytes())),
            ExecFrame::Stderr(s) => Some((true, s.clone().into_bytes())),
            ExecFrame::StdoutB64(s) => b64(s).map(|b| (false, b)),
            ExecFrame::StderrB64(s) => b64(s).map(|b| (true, b)),
            ExecFrame::Exit(_) | ExecFrame::TimedOut(_) => None,
        }
    }
}

/// An answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// The request succeeded; what it returns.
    Ok {
        /// Always true.
        ok: bool,
        /// The result.
        result: serde_json::Value,
    },
    /// The request failed.
    Err {
        /// Always false.
        ok: bool,
        /// Why.
        error: ReplyError,
    },
}

/// A failed request: a stable code, a message, and the chain of causes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyError {
    /// Stable identifier, such as `bad-request`.
    pub code: String,
    /// What failed.
    pub message: String,
    /// The causes, outermost first.
    #[serde(default)]
    pub causes: Vec<String>,
}

impl Reply {
    /// A success carrying `result`.
    pub fn ok(result: serde_json::Value) -> Reply {
        Reply::Ok { ok: true, result }
    }

    /// A failure.
    pub fn err(code: &str, err: &(dyn std::error::Error + 'static)) -> Reply {
        let mut causes = Vec::new();
        let mut cur = err.source();
        while let Some(e) = cur {
            causes.push(e.to_string());
            cur = e.source();
        }
        Reply::Err {
            ok: false,
            error: ReplyError {
                code: code.into(),
                message: err.to_string(),
                causes,
            },
        }
    }
}

/// One interface as `inspect` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterfaceInfo {
    /// Kernel name.
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Link kind (`veth`, `bridge`, …).
    pub kind: Option<String>,
    /// MAC address.
    pub mac: Option<String>,
    /// MTU.
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// Operational state (`up`, `down`, `lowerlayerdown`, …).
    pub state: String,
    /// Addresses with prefix length.
    pub addresses: Vec<String>,
    /// What the lab file attaches it to (`link r1.eth1-r2.eth1`, `network lan`).
    pub attached: Option<String>,
    /// For a link's or network member's interface, the path its egress
    /// impairments take: `wire` (the user-space wire), `kernel-tbf`,
    /// `kernel-netem`, or `plain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One node (or the hub) as `inspect` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node name, or `#hub`.
    pub name: String,
    /// Node kind.
    pub kind: String,
    /// Interfaces, lo included.
    pub interfaces: Vec<InterfaceInfo>,
    /// Routes (`10.0.0.0/24 via 10.0.12.2 dev eth1`).
    pub routes: Vec<String>,
    /// Stopped by `warren node … stop` (or a node fault) and not started since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// The node's `containers:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerInfo>,
}

/// One of a node's `containers:`, as `inspect` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// `NODE/CONTAINER`, which `exec` takes.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its init's host pid while it runs.
    pub pid: Option<i32>,
    /// Its exit code once it has ended.
    pub exit: Option<i32>,
    /// Its log.
    pub log: String,
}

/// The answer to `inspect`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabInfo {
    /// Lab name.
    pub lab: String,
    /// The lab file.
    pub file: String,
    /// Lifecycle state.
    pub status: crate::state::Status,
    /// Supervisor pid (host).
    pub supervisor_pid: i32,
    /// Init of the lab's pid namespace (host pid).
    pub init_pid: Option<i32>,
    /// Rootless lab.
    pub rootless: bool,
    /// Seconds since the epoch at start.
    pub created: u64,
    /// Results folder of this run.
    pub results: String,
    /// Nodes, then the hub when the lab has networks.
    pub nodes: Vec<NodeInfo>,
    /// Captured and dropped frames per captured link and network.
    #[serde(default)]
    pub captures: Vec<crate::captures::CaptureInfo>,
}
