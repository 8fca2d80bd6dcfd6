//! The control socket: one thread per connection, each request line
//! decoded (see [`super::decode`]) and then answered against the live
//! lab; `exec`, `events` and `capture` stream on after their answer.

use super::decode::{Action, ExecAction, VmAction, decode};
use super::live::{LinkStateError, Shared, lock};
use crate::kinds::{self, ExecCommand};
use crate::proto::Reply;
use crate::restart::RestartError;
use nix::sys::signal::Signal;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;
use warren_runtime::vm::{Console, ConsoleError, Qmp};
use warren_topology::plan::Ns;

/// How long a `console_send` with `at_prompt` waits for the prompt.
const AT_PROMPT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves every connection to `listener`, each on a thread of its own.
pub(super) fn accept_loop(listener: &UnixListener, shared: &Shared) {
    for stream in listener.incoming().flatten() {
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("warren-client".into())
            .spawn(move || handle(stream, &shared));
    }
}

fn handle(stream: UnixStream, shared: &Shared) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        let action = decode(&line);
        line.clear();
        tracing::debug!(request = ?action, "control request");
        let reply = match action {
            Ok(Action::Capture { link }) => return stream_capture(&stream, &link, shared),
            Ok(Action::Exec(exec)) => return stream_exec(&stream, exec, shared),
            Ok(Action::Events) => {
                let events = crate::events::path(&lock(shared).state.results);
                let reply = Reply::ok(serde_json::json!({ "streaming": "events" }));
                if write_reply(&stream, &reply).is_ok() {
                    crate::streams::events(&stream, &events);
                }
                return;
            }
            Ok(action) => answer(action, shared),
            Err(refused) => Reply::err(refused.code, &refused),
        };
        if write_reply(&stream, &reply).is_err() {
            return;
        }
    }
}

fn write_reply(mut stream: &UnixStream, reply: &Reply) -> io::Result<()> {
    let mut out = serde_json::to_vec(reply).map_err(io::Error::other)?;
    out.push(b'\n');
    stream.write_all(&out)
}

fn not_found(what: String) -> Reply {
    Reply::err("not-found", &io::Error::new(io::ErrorKind::NotFound, what))
}

/// Answers a capture request, then copies pcapng to the client until it
/// goes away or the capture ends.
fn stream_capture(stream: &UnixStream, link: &str, shared: &Shared) {
    let started = {
        let mut r = lock(shared);
        let live = &mut *r;
        let named: Vec<(Ns, &warren_kernel::Netns)> = live
            .built
            .namespaces
            .iter()
            .map(|(n, fd)| (n.clone(), fd))
            .collect();
        live.captures.stream(&live.lab, &named, link)
    };
    let (sub, own) = match started {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = write_reply(
                stream,
                &not_found(format!("no link or network called {link}")),
            );
            return;
        }
        Err(e) => {
            let _ = write_reply(stream, &Reply::err("capture", &e));
            return;
        }
    };
    if write_reply(stream, &Reply::ok(serde_json::json!({ "streaming": link }))).is_err() {
        return;
    }
    let mut out = stream;
    let _ = sub.copy_to(&mut out);
    if let Some(c) = own {
        let _ = c.stop();
    }
}

/// Starts a command in a node as its kind says, through `warren __spawn`,
/// in a process group of its own so that a timeout or a vanished client
/// can kill all of it; answers, then streams its output and exit.
fn stream_exec(stream: &UnixStream, req: ExecAction, shared: &Shared) {
    let started = {
        let r = lock(shared);
        let cmd = ExecCommand {
            argv: &req.argv,
            env: &req.env,
            ..Default::default()
        };
        match kinds::exec_spec(&r.lab, &req.node, &cmd) {
            Err(e @ (kinds::ExecError::NoNode(_) | kinds::ExecError::NoContainer { .. })) => {
                Err(Reply::err("not-found", &e))
            }
            Err(e) => Err(Reply::err("bad-request", &e)),
            Ok(spec) => {
                let mut cmd = kinds::spawn_command(&r.state, &req.node, &spec.argv, &r.program);
                cmd.envs(spec.env)
                    .stdin(if req.stdin.is_some() {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .process_group(0);
                // SAFETY: the hook only calls async-signal-safe functions.
                unsafe {
                    cmd.pre_exec(warren_runtime::pidns::lab_child());
                }
                cmd.spawn().map_err(|e| Reply::err("exec", &e))
            }
        }
    };
    let child = match started {
        Ok(c) => c,
        Err(reply) => {
            let _ = write_reply(stream, &reply);
            return;
        }
    };
    let pid = child.id().cast_signed();
    let reply = Reply::ok(serde_json::json!({ "streaming": "exec", "node": req.node }));
    if write_reply(stream, &reply).is_err() {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    crate::streams::exec(stream, child, pid, req.stdin, req.timeout);
}

/// The shared console cursor of node `node`, taken out of the lock (a
/// wait on it may be long; clones share the cursor).
fn cursor_of(shared: &Shared, node: &str) -> Result<Console, Reply> {
    lock(shared)
        .nodes
        .get(node)
        .and_then(|n| n.cursor.clone())
        .ok_or_else(|| not_found(format!("no vm or system node called {node}")))
}

/// A console of node `node` reading from now on, of its own (not the
/// shared cursor), taken out of the lock: a command or an upload may take
/// a while.
fn console_of(shared: &Shared, node: &str) -> Result<Console, Reply> {
    lock(shared)
        .nodes
        .get(node)
        .and_then(|n| n.handle.as_ref())
        .and_then(|h| h.console())
        .ok_or_else(|| not_found(format!("no vm or system node called {node}")))
}

/// Runs `f` on vm `node`'s QMP.
fn with_qmp(shared: &Shared, node: &str, f: impl FnOnce(&Qmp) -> Reply) -> Reply {
    let r = lock(shared);
    match r
        .nodes
        .get(node)
        .and_then(|n| n.handle.as_ref())
        .and_then(|h| h.qmp())
    {
        Some(qmp) => f(qmp),
        None => not_found(format!("no vm node called {node}")),
    }
}

fn answer(action: Action, shared: &Shared) -> Reply {
    match action {
        Action::Ping => {
            let r = lock(shared);
            Reply::ok(serde_json::json!({ "lab": r.state.lab, "status": r.state.status }))
        }
        Action::Inspect => {
            let mut r = lock(shared);
            let live = &mut *r;
            match crate::inspect::inspect(&live.lab, &live.state, &mut live.built) {
                Ok(mut info) => {
                    info.captures = live.captures.info();
                    for n in &mut info.nodes {
                        n.stopped = live.nodes.is_stopped(&n.name);
                    }
                    Reply::ok(serde_json::to_value(info).unwrap_or_default())
                }
                Err(e) => Reply::err("kernel", &e),
            }
        }
        Action::Impair { link, keys, impair } => match lock(shared).impair(&link, &impair) {
            Ok((name, path, _)) => Reply::ok(serde_json::json!({
                "link": name, "impair": keys, "path": path,
            })),
            Err(e @ LinkStateError::Plain(crate::links::LinkError::NotFound(_))) => {
                Reply::err("not-found", &e)
            }
            Err(
                e @ LinkStateError::Plain(crate::links::LinkError::Qdisc { .. })
                | e @ LinkStateError::Wire(_),
            ) => Reply::err("kernel", &e),
            Err(e) => Reply::err("unsupported", &e),
        },
        Action::Link { link, up } => match lock(shared).set_link(&link, up) {
            Ok(name) => Reply::ok(serde_json::json!({ "link": name, "up": up })),
            Err(e @ LinkStateError::Plain(crate::links::LinkError::NotFound(_))) => {
                Reply::err("not-found", &e)
            }
            Err(e @ LinkStateError::Plain(crate::links::LinkError::VmEnd(_))) => {
                Reply::err("bad-request", &e)
            }
            Err(e) => Reply::err("kernel", &e),
        },
        Action::Node { node, action } => match lock(shared).node(&node, action, "warren node") {
            Ok(done) => Reply::ok(done),
            Err(e @ RestartError::NoNode(_)) => Reply::err("not-found", &e),
            Err(e @ RestartError::Running(_)) => Reply::err("bad-request", &e),
            Err(e) => Reply::err("node", &e),
        },
        Action::Scale { text } => {
            let mut live = lock(shared);
            // The lab keeps its running name, whatever the file says.
            let lab = warren_topology::load(&text, &live.lab.name)
                .lab
                .map(|mut l| {
                    l.name.clone_from(&live.lab.name);
                    l
                });
            match lab {
                Some(l) => match live.scale(l, &text) {
                    Ok(done) => Reply::ok(done),
                    Err(e) => Reply::err("scale", &e),
                },
                None => Reply::err(
                    "bad-request",
                    &io::Error::other("the scaled lab is not valid"),
                ),
            }
        }
        Action::Down => {
            // The main thread tears down on SIGTERM; answer first.
            let me = nix::unistd::getpid();
            let _ = nix::sys::signal::kill(me, Signal::SIGTERM);
            Reply::ok(serde_json::json!({ "stopping": true }))
        }
        Action::Vm { node, action } => with_qmp(shared, &node, |qmp| {
            let (done, name) = match action {
                VmAction::Reset => (qmp.reset(), "reset"),
                VmAction::Powerdown => (qmp.system_powerdown(), "powerdown"),
                VmAction::Pause => (qmp.stop(), "pause"),
                VmAction::Resume => (qmp.cont(), "resume"),
                VmAction::Quit => (qmp.quit(), "quit"),
            };
            match done {
                Ok(()) => Reply::ok(serde_json::json!({ "node": node, "done": name })),
                Err(e) => Reply::err("qmp", &e),
            }
        }),
        Action::ConsoleRun {
            node,
            command,
            timeout,
        } => {
            let console = match console_of(shared, &node) {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match console.run(&command, timeout) {
                Ok(out) => Reply::ok(serde_json::json!({ "code": out.code, "output": out.output })),
                Err(e) => Reply::err("console", &e),
            }
        }
        Action::ConsoleUpload {
            node,
            path,
            data,
            mode,
            timeout,
        } => {
            let console = match console_of(shared, &node) {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match console.upload(&data, &path, mode, timeout) {
                Ok(r) => Reply::ok(serde_json::json!({
                    "node": node,
                    "path": path,
                    "bytes": r.bytes,
                    "chunks": r.chunks,
                    "encoding": r.encoding.as_str(),
                    "checksum": r.checksum.as_str(),
                    "seconds": r.elapsed.as_secs_f64(),
                    "bytes_per_second": r.throughput(),
                })),
                Err(e @ ConsoleError::Upload { .. }) => Reply::err("upload", &e),
                Err(e) => Reply::err("console", &e),
            }
        }
        Action::ConsoleExpect {
            node,
            pattern,
            timeout,
        } => {
            let console = match cursor_of(shared, &node) {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match console.expect(&pattern, timeout) {
                Ok(m) => Reply::ok(serde_json::json!({
                    "matched": m.matched,
                    "groups": m.groups,
                    "before": m.before,
                })),
                Err(e @ ConsoleError::Pattern { .. }) => Reply::err("bad-request", &e),
                Err(e @ ConsoleError::Timeout { .. }) => Reply::err("timeout", &e),
                Err(e) => Reply::err("console", &e),
            }
        }
        Action::ConsoleSend {
            node,
            text,
            at_prompt,
        } => {
            let console = match cursor_of(shared, &node) {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            if at_prompt {
                // Not there in time (a message after the prompt, a program
                // that is not the shell): typed anyway, as a user would.
                console.wait_at_prompt(AT_PROMPT_GRACE);
            }
            console.skip_to_end();
            match console.send(text.as_bytes()) {
                Ok(()) => Reply::ok(serde_json::json!({ "sent": text.len() })),
                Err(e) => Reply::err("console", &e),
            }
        }
        Action::Fault { name } => super::fault_runner::fire(&name, shared),
        Action::Qmp {
            node,
            command,
            arguments,
        } => with_qmp(shared, &node, |qmp| {
            match qmp.execute_with(
                &command,
                arguments.as_ref(),
                warren_runtime::vm::qmp::QMP_TIMEOUT,
            ) {
                Ok(value) => Reply::ok(value),
                Err(e) => Reply::err("qmp", &e),
            }
        }),
        Action::Capture { .. } | Action::Exec(_) | Action::Events => {
            let e = io::Error::other("this request is answered by streaming");
            Reply::err("bad-request", &e)
        }
    }
}
