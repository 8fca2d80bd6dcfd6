//! The client library's views on one part of a running lab: a node's
//! console, a vm's QMP, and the streams of a capture and of the run's
//! events.

use super::{CALL_TIMEOUT, CONSOLE_MARGIN, Lab, LabError};
use crate::client;
use crate::proto::Request;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// What [`Console::expect`] matched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ConsoleMatch {
    /// The matched text.
    pub matched: String,
    /// Capture groups 1.., `None` where a group did not take part.
    pub groups: Vec<Option<String>>,
    /// The output between the console cursor and the match.
    pub before: String,
}

/// What [`Console::upload`] did: the `console_upload` answer.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Uploaded {
    /// Bytes written.
    pub bytes: u64,
    /// Chunks sent, each checked on the far side.
    pub chunks: usize,
    /// `base64` or `printf`.
    pub encoding: String,
    /// `sha256sum`, `cksum` or `sh-adler32`.
    pub checksum: String,
    /// How long it took.
    pub seconds: f64,
    /// Bytes per second.
    pub bytes_per_second: f64,
}

impl std::fmt::Display for Uploaded {
    /// `760 bytes in 1 chunk, 0.3 s, 2968 B/s (base64, sha256sum)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes in {} chunk{}, {:.1} s, {:.0} B/s ({}, {})",
            self.bytes,
            self.chunks,
            if self.chunks == 1 { "" } else { "s" },
            self.seconds,
            self.bytes_per_second,
            self.encoding,
            self.checksum
        )
    }
}

/// A vm node's serial console. All handles on one node, in every client,
/// share one cursor in the supervisor: it starts where the lab became
/// ready, moves past each match, and to the end of the output at each send.
#[derive(Debug)]
pub struct Console<'l> {
    pub(super) lab: &'l Lab,
    pub(super) node: String,
}

impl Console<'_> {
    /// Waits until `pattern` (a regex) appears after the cursor.
    pub fn expect(&self, pattern: &str, timeout: Duration) -> Result<ConsoleMatch, LabError> {
        let request = Request::ConsoleExpect {
            node: self.node.clone(),
            pattern: pattern.to_string(),
            timeout_secs: timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0),
        };
        let v = client::call(&self.lab.dir, request, timeout + CONSOLE_MARGIN)?;
        serde_json::from_value(v).map_err(|source| LabError::Answer {
            request: "console_expect",
            source,
        })
    }

    /// Types `text` as is (end it with `\n` for Enter).
    pub fn send(&self, text: &str) -> Result<(), LabError> {
        let request = Request::ConsoleSend {
            node: self.node.clone(),
            text: text.to_string(),
            at_prompt: false,
        };
        client::call(&self.lab.dir, request, CALL_TIMEOUT)?;
        Ok(())
    }

    /// Runs a one-line command at the console's shell and returns its exit
    /// code and output.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<(i32, String), LabError> {
        let request = Request::ConsoleRun {
            node: self.node.clone(),
            command: command.to_string(),
            timeout_secs: timeout.as_secs().max(1),
        };
        let v = client::call(&self.lab.dir, request, timeout + CONSOLE_MARGIN)?;
        #[derive(serde::Deserialize)]
        struct Ran {
            code: i32,
            output: String,
        }
        let ran: Ran = serde_json::from_value(v).map_err(|source| LabError::Answer {
            request: "console_run",
            source,
        })?;
        Ok((ran.code, ran.output))
    }

    /// Writes `data` to `path` on the node through the console's shell
    /// (base64 or printf, each chunk checked by a checksum the far side
    /// computes), with file mode `mode` (`0o755`) if given.
    pub fn upload(
        &self,
        data: &[u8],
        path: &str,
        mode: Option<u32>,
        timeout: Duration,
    ) -> Result<Uploaded, LabError> {
        let request = Request::console_upload(
            &self.node,
            path,
            data,
            mode.map(|m| format!("{m:o}")),
            timeout.as_secs().max(1),
        );
        let v = client::call(&self.lab.dir, request, timeout + CONSOLE_MARGIN)?;
        serde_json::from_value(v).map_err(|source| LabError::Answer {
            request: "console_upload",
            source,
        })
    }
}

/// A vm node's QMP monitor.
#[derive(Debug)]
pub struct Qmp<'l> {
    pub(super) lab: &'l Lab,
    pub(super) node: String,
}

impl Qmp<'_> {
    /// Runs a QMP command and returns its `return` value.
    pub fn execute(
        &self,
        command: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, LabError> {
        let request = Request::Qmp {
            node: self.node.clone(),
            command: command.to_string(),
            arguments,
        };
        Ok(client::call(&self.lab.dir, request, CALL_TIMEOUT)?)
    }
}

/// Live pcapng of a link or network: a section header, an interface
/// description, then a packet block per frame. Blocks until frames come;
/// see [`Capture::set_timeout`].
#[derive(Debug)]
pub struct Capture {
    pub(super) reader: BufReader<UnixStream>,
    pub(super) lab: String,
}

impl Capture {
    /// Makes reads fail with [`io::ErrorKind::WouldBlock`] after `timeout`
    /// without data (`None`: wait forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), LabError> {
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|source| LabError::Stream {
                stream: "capture",
                lab: self.lab.clone(),
                source,
            })
    }
}

impl Read for Capture {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

/// One line of the run's `events.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Event {
    /// Unix time, in seconds.
    pub t: f64,
    /// What happened: `fault`, `faults-start`, `qmp`, …
    pub event: String,
    /// The other fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The run's events, oldest first; see [`Lab::events`].
#[derive(Debug)]
pub struct Events {
    pub(super) reader: BufReader<UnixStream>,
    pub(super) lab: String,
}

impl Events {
    /// Ends the iteration when no event comes for `idle` (by default it
    /// waits as long as the lab runs).
    pub fn idle_timeout(self, idle: Duration) -> Result<Events, LabError> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(idle))
            .map_err(|source| LabError::Stream {
                stream: "events",
                lab: self.lab.clone(),
                source,
            })?;
        Ok(self)
    }
}

impl Iterator for Events {
    type Item = Result<Event, LabError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_str(&line).map_err(|source| LabError::Answer {
                    request: "events",
                    source,
                }),
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(source) => Some(Err(LabError::Stream {
                stream: "events",
                lab: self.lab.clone(),
                source,
            })),
        }
    }
}
