//! The control boundary: each request line decoded into a typed
//! [`Action`] before anything of the lab is touched. Pure: no socket, no
//! lab; every way a request can be refused before it runs is decided here.

use crate::proto::{Envelope, Request, VERSION};
use crate::restart::NodeAction;
use std::collections::BTreeMap;
use std::time::Duration;
use warren_topology::model::Impair;

/// What a vm does on a `vm` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmAction {
    /// `system_reset`.
    Reset,
    /// ACPI power button.
    Powerdown,
    /// Pause the guest's CPUs.
    Pause,
    /// Resume them.
    Resume,
    /// End QEMU.
    Quit,
}

impl std::str::FromStr for VmAction {
    type Err = Refused;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "reset" => VmAction::Reset,
            "powerdown" => VmAction::Powerdown,
            "pause" => VmAction::Pause,
            "resume" => VmAction::Resume,
            "quit" => VmAction::Quit,
            other => {
                return Err(Refused::bad(format!(
                    "unknown vm action {other}; use reset, powerdown, pause, resume or quit"
                )));
            }
        })
    }
}

/// A command to run in a node, streamed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecAction {
    /// The node.
    pub node: String,
    /// Program and arguments; never empty.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Bytes for its stdin, which is then closed.
    pub stdin: Option<Vec<u8>>,
    /// Kill it after this long.
    pub timeout: Option<Duration>,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Is the supervisor there?
    Ping,
    /// The running lab, read live.
    Inspect,
    /// Tear the lab down.
    Down,
    /// A vm action over QMP.
    Vm {
        /// The vm node.
        node: String,
        /// What to do.
        action: VmAction,
    },
    /// A command at a console.
    ConsoleRun {
        /// The node.
        node: String,
        /// One line.
        command: String,
        /// How long to wait for it.
        timeout: Duration,
    },
    /// Live pcapng of a link or network (streams).
    Capture {
        /// Link, endpoint or network.
        link: String,
    },
    /// New impairments on a link or endpoint.
    Impair {
        /// Link or endpoint.
        link: String,
        /// The keys as sent, echoed in the answer.
        keys: BTreeMap<String, String>,
        /// The keys parsed.
        impair: Impair,
    },
    /// A link's carrier off or on.
    Link {
        /// Link or endpoint.
        link: String,
        /// On or off.
        up: bool,
    },
    /// A command in a node (streams).
    Exec(ExecAction),
    /// Wait for a regex on a console.
    ConsoleExpect {
        /// The node.
        node: String,
        /// The regex.
        pattern: String,
        /// How long to wait.
        timeout: Duration,
    },
    /// Type at a console.
    ConsoleSend {
        /// The node.
        node: String,
        /// The text.
        text: String,
        /// Wait for the prompt first.
        at_prompt: bool,
    },
    /// Write a file through a console's shell.
    ConsoleUpload {
        /// The node.
        node: String,
        /// Where the file goes.
        path: String,
        /// Its bytes.
        data: Vec<u8>,
        /// Its mode, if given.
        mode: Option<u32>,
        /// How long the upload may take.
        timeout: Duration,
    },
    /// The run's events (streams).
    Events,
    /// Fire a named fault now.
    Fault {
        /// Its name.
        name: String,
    },
    /// A raw QMP command.
    Qmp {
        /// The vm node.
        node: String,
        /// The command.
        command: String,
        /// Its arguments.
        arguments: Option<serde_json::Value>,
    },
    /// Stop, start or restart a node.
    Node {
        /// The node.
        node: String,
        /// What to do.
        action: NodeAction,
    },
    /// Replace the lab by one that differs in its nodes.
    Scale {
        /// The new lab file's text, which validates.
        text: String,
    },
}

/// A request refused before it ran: the reply's code and message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// The reply's error code (`bad-request`, `version`).
    pub code: &'static str,
    /// Why.
    pub message: String,
}

impl Refused {
    fn bad(message: impl Into<String>) -> Refused {
        Refused {
            code: "bad-request",
            message: message.into(),
        }
    }
}

/// Decodes one request line.
pub fn decode(line: &str) -> Result<Action, Refused> {
    let env: Envelope = serde_json::from_str(line).map_err(|e| Refused::bad(e.to_string()))?;
    if env.v > VERSION {
        return Err(Refused {
            code: "version",
            message: format!(
                "protocol version {} is newer than this supervisor's {VERSION}",
                env.v
            ),
        });
    }
    action(env.request)
}

/// The action a request asks for.
pub fn action(request: Request) -> Result<Action, Refused> {
    Ok(match request {
        Request::Ping => Action::Ping,
        Request::Inspect => Action::Inspect,
        Request::Down => Action::Down,
        Request::Vm { node, action } => Action::Vm {
            node,
            action: action.parse()?,
        },
        Request::ConsoleRun {
            node,
            command,
            timeout_secs,
        } => Action::ConsoleRun {
            node,
            command,
            timeout: Duration::from_secs(timeout_secs),
        },
        Request::Capture { link } => Action::Capture { link },
        Request::Impair { link, impair } => Action::Impair {
            link,
            impair: crate::wires::parse_keys(&impair).map_err(|e| Refused::bad(e.to_string()))?,
            keys: impair,
        },
        Request::Link { link, up } => Action::Link { link, up },
        Request::Exec {
            node,
            argv,
            env,
            stdin,
            timeout_secs,
        } => {
            if argv.is_empty() {
                return Err(Refused::bad("exec needs a command (argv is empty)"));
            }
            Action::Exec(ExecAction {
                node,
                argv,
                env: env.into_iter().collect(),
                stdin: stdin.map(String::into_bytes),
                timeout: timeout_secs.map(Duration::from_secs),
            })
        }
        Request::ConsoleExpect {
            node,
            pattern,
            timeout_secs,
        } => Action::ConsoleExpect {
            node,
            pattern,
            timeout: Duration::from_secs(timeout_secs),
        },
        Request::ConsoleSend {
            node,
            text,
            at_prompt,
        } => Action::ConsoleSend {
            node,
            text,
            at_prompt,
        },
        Request::ConsoleUpload {
            node,
            path,
            data,
            mode,
            timeout_secs,
        } => {
            use base64::Engine;
            if path.is_empty() || path.contains('\n') {
                return Err(Refused::bad("console_upload needs a path on one line"));
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| Refused::bad(format!("console_upload data is not base64: {e}")))?;
            let mode = mode.as_deref().map(parse_mode).transpose()?;
            Action::ConsoleUpload {
                node,
                path,
                data,
                mode,
                timeout: Duration::from_secs(timeout_secs),
            }
        }
        Request::Events => Action::Events,
        Request::Fault { name } => Action::Fault { name },
        Request::Qmp {
            node,
            command,
            arguments,
        } => Action::Qmp {
            node,
            command,
            arguments,
        },
        Request::Scale { lab } => {
            // Validated here, so that a lab that does not load changes nothing.
            let loaded = warren_topology::load(&lab, "scale");
            if loaded.lab.is_none() {
                let problems: Vec<String> = loaded
                    .diagnostics
                    .0
                    .iter()
                    .map(|d| d.message.clone())
                    .collect();
                return Err(Refused::bad(format!(
                    "the scaled lab is not valid: {}",
                    problems.join("; ")
                )));
            }
            Action::Scale { text: lab }
        }
        Request::Node { node, action } => Action::Node {
            node,
            action: action
                .parse()
                .map_err(|e: crate::restart::RestartError| Refused::bad(e.to_string()))?,
        },
    })
}

/// A file mode in octal digits, as `chmod` takes them (`0755`, `644`).
pub fn parse_mode(mode: &str) -> Result<u32, Refused> {
    u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !mode.is_empty())
        .ok_or_else(|| Refused::bad(format!("mode {mode:?} is not octal digits up to 7777")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_request_decodes_to_its_typed_action() {
        let a = decode(r#"{"v":1,"op":"node","node":"r1","action":"restart"}"#).expect("valid");
        assert_eq!(
            a,
            Action::Node {
                node: "r1".into(),
                action: NodeAction::Restart
            }
        );
        let e = decode(r#"{"v":1,"op":"node","node":"r1","action":"reboot"}"#)
            .expect_err("not an action");
        assert_eq!(e.code, "bad-request");
        assert!(e.message.contains("reboot"), "{e}");
    }

    #[test]
    fn every_vm_action_decodes_and_others_are_refused_by_name() {
        for (s, want) in [
            ("reset", VmAction::Reset),
            ("powerdown", VmAction::Powerdown),
            ("pause", VmAction::Pause),
            ("resume", VmAction::Resume),
            ("quit", VmAction::Quit),
        ] {
            let line = format!(r#"{{"v":1,"op":"vm","node":"dut","action":"{s}"}}"#);
            assert_eq!(
                decode(&line).expect("valid"),
                Action::Vm {
                    node: "dut".into(),
                    action: want
                }
            );
        }
        let e = decode(r#"{"v":1,"op":"vm","node":"dut","action":"explode"}"#)
            .expect_err("no such action");
        assert_eq!(e.code, "bad-request");
        assert!(e.message.contains("explode"), "{e}");
    }

    #[test]
    fn impairments_are_parsed_at_the_boundary() {
        let a =
            decode(r#"{"v":1,"op":"impair","link":"l1","impair":{"delay":"20ms","loss":"1%"}}"#)
                .expect("valid");
        let Action::Impair { link, keys, impair } = a else {
            panic!("not an impair action: {a:?}");
        };
        assert_eq!(link, "l1");
        assert_eq!(keys.len(), 2);
        assert!(
            impair.delay.is_some() && impair.loss.is_some(),
            "{impair:?}"
        );
        let e = decode(r#"{"v":1,"op":"impair","link":"l1","impair":{"delay":"soon"}}"#)
            .expect_err("bad duration");
        assert_eq!(e.code, "bad-request");
    }

    #[test]
    fn exec_needs_a_command_and_carries_stdin_and_timeout() {
        let e = decode(r#"{"v":1,"op":"exec","node":"n","argv":[]}"#).expect_err("empty argv");
        assert_eq!(e.code, "bad-request");
        let a = decode(
            r#"{"v":1,"op":"exec","node":"n","argv":["cat"],"env":{"A":"1"},"stdin":"hi","timeout_secs":3}"#,
        )
        .expect("valid");
        assert_eq!(
            a,
            Action::Exec(ExecAction {
                node: "n".into(),
                argv: vec!["cat".into()],
                env: vec![("A".into(), "1".into())],
                stdin: Some(b"hi".to_vec()),
                timeout: Some(Duration::from_secs(3)),
            })
        );
    }

    #[test]
    fn a_scale_request_carries_a_lab_that_validates() {
        let lab = "name: s\nnodes:\n  a: {}\n";
        let line = serde_json::json!({"v": 1, "op": "scale", "lab": lab}).to_string();
        assert_eq!(
            decode(&line).expect("valid"),
            Action::Scale { text: lab.into() }
        );
        let line = serde_json::json!({"v": 1, "op": "scale", "lab": "nodes: {a: {colour: red}}"})
            .to_string();
        let e = decode(&line).expect_err("invalid lab");
        assert_eq!(e.code, "bad-request");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn a_newer_protocol_and_bad_json_are_refused_with_their_codes() {
        let e = decode(r#"{"v":99,"op":"ping"}"#).expect_err("newer");
        assert_eq!(e.code, "version");
        assert!(e.message.contains("99"), "{e}");
        assert_eq!(decode("{").expect_err("not json").code, "bad-request");
        assert_eq!(
            decode(r#"{"v":1,"op":"teleport"}"#)
                .expect_err("unknown op")
                .code,
            "bad-request"
        );
        assert_eq!(
            decode(r#"{"v":1,"op":"ping"}"#).expect("ping"),
            Action::Ping
        );
    }

    #[test]
    fn an_upload_carries_its_bytes_and_mode_and_bad_ones_are_refused() {
        let a = decode(
            r#"{"v":1,"op":"console_upload","node":"dut","path":"/tmp/x","data":"aGk=","mode":"0755","timeout_secs":9}"#,
        )
        .expect("valid");
        assert_eq!(
            a,
            Action::ConsoleUpload {
                node: "dut".into(),
                path: "/tmp/x".into(),
                data: b"hi".to_vec(),
                mode: Some(0o755),
                timeout: Duration::from_secs(9),
            }
        );
        for (bad, why) in [
            (r#""data":"!!","mode":"644""#, "base64"),
            (r#""data":"aGk=","mode":"0788""#, "0788"),
            (r#""data":"aGk=","mode":"17777""#, "17777"),
        ] {
            let line = format!(
                r#"{{"v":1,"op":"console_upload","node":"d","path":"/x",{bad},"timeout_secs":1}}"#
            );
            let e = decode(&line).expect_err(why);
            assert_eq!(e.code, "bad-request");
            assert!(e.message.contains(why), "{e}");
        }
        let e = decode(
            r#"{"v":1,"op":"console_upload","node":"d","path":"","data":"","timeout_secs":1}"#,
        )
        .expect_err("no path");
        assert!(e.message.contains("path"), "{e}");
    }

    #[test]
    fn console_timeouts_become_durations() {
        let a = decode(
            r#"{"v":1,"op":"console_expect","node":"d","pattern":"login:","timeout_secs":7}"#,
        )
        .expect("valid");
        assert_eq!(
            a,
            Action::ConsoleExpect {
                node: "d".into(),
                pattern: "login:".into(),
                timeout: Duration::from_secs(7)
            }
        );
    }
}
