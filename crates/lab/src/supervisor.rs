//! The supervisor: one process per lab that owns its namespaces and
//! processes, serves the control socket, and tears the lab down.
//!
//! Start-up order matters for crash safety. The supervisor enters its user
//! namespace (rootless) and unshares its pid namespace while still
//! single-threaded, starts the lab's init (which dies with it), and only
//! then builds the network and runs node commands. Whatever moment it is
//! killed at, the kernel then frees the namespaces, and `warren down` only
//! has the state folder left to remove.

use crate::apply::{self, ApplyError, Built};
use crate::captures::Captures;
use crate::journal::Journal;
use crate::nodes::{self, RunningNode};
use crate::proto::{Envelope, Reply, Request};
use crate::state::{self, HUB_KEY, LabState, Status};
use crate::vms::{self, RunningVm};
use nix::sys::signal::{SigSet, Signal};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use warren_runtime::exec::exit_code;
use warren_runtime::pidns::LabInit;
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;
use warren_topology::model::Command as NodeCommand;
use warren_topology::plan::{Ns, Plan, Step};

/// Errors that stop a supervisor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The lab's state could not be read or written.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The saved lab file no longer validates (it was validated by `up`).
    #[error("the lab file saved in {0} does not validate")]
    Lab(PathBuf),
    /// Entering the lab's user namespace failed.
    #[error(transparent)]
    Userns(#[from] warren_runtime::userns::UsernsError),
    /// Setting up the lab's pid namespace failed.
    #[error(transparent)]
    Pidns(#[from] warren_runtime::pidns::PidnsError),
    /// Building the network failed.
    #[error("building lab {lab}")]
    Apply {
        /// Lab name.
        lab: String,
        /// The cause.
        #[source]
        source: Box<ApplyError>,
    },
    /// A node could not be started or did not become ready.
    #[error(transparent)]
    Node(Box<nodes::NodeError>),
    /// A vm node did not start or become ready.
    #[error(transparent)]
    Vm(Box<vms::VmNodeError>),
    /// A node's command could not run or failed.
    #[error("running `{command}` on node {node}")]
    Exec {
        /// Node.
        node: String,
        /// The command as written.
        command: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A forward could not start.
    #[error(transparent)]
    Forward(#[from] crate::forward::ForwardError),
    /// A file of the supervisor could not be used.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> SupervisorError + 'p {
    move |source| SupervisorError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// How long bring-up waits for interfaces to become operationally up.
const OPER_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the supervisor tells `warren up` once bring-up ends: one JSON line
/// on the ready pipe.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ReadyMessage {
    /// True when the lab is up.
    pub ok: bool,
    /// The error and its causes, when it is not.
    #[serde(default)]
    pub error: Vec<String>,
}

/// Everything a running supervisor holds.
struct Running {
    lab: Lab,
    state: LabState,
    built: Built,
    captures: Captures,
    wires: Vec<crate::wires::RunningWire>,
    vms: Vec<RunningVm>,
    containers: Vec<RunningNode>,
    init: Option<LabInit>,
}

/// How long containers get between SIGTERM and SIGKILL at teardown.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs a lab's supervisor for the state folder `dir` until the lab is torn
/// down. `ready` receives one [`ReadyMessage`] line when bring-up ends.
/// `program` is this executable, started again as the lab's init.
///
/// Must be called while the process is single-threaded.
pub fn run(dir: &Path, program: &Path, ready: Option<File>) -> Result<(), SupervisorError> {
    let mut ready = ready;
    let result = bring_up(dir, program);
    let running = match result {
        Ok(r) => r,
        Err(e) => {
            // What was built is already dropped, which freed it; remove the
            // state before answering, so `up` returns to a clean host.
            let _ = state::remove_dir(dir);
            if let Some(f) = ready.as_mut() {
                let _ = send_ready(f, Err(&e));
            }
            return Err(e);
        }
    };
    // Listen before saying ready, so that `up` can inspect the lab at once.
    let sock_path = dir.join("control.sock");
    let listener = match UnixListener::bind(&sock_path) {
        Ok(l) => l,
        Err(source) => {
            let e = SupervisorError::Io {
                action: "listening on",
                path: sock_path,
                source,
            };
            let mut running = running;
            let _ = teardown(dir, &mut running);
            if let Some(f) = ready.as_mut() {
                let _ = send_ready(f, Err(&e));
            }
            return Err(e);
        }
    };
    if let Some(mut f) = ready.take() {
        let _ = send_ready(&mut f, Ok(()));
    }
    serve(dir, listener, running)
}

fn send_ready(f: &mut File, outcome: Result<(), &SupervisorError>) -> io::Result<()> {
    let msg = match outcome {
        Ok(()) => ReadyMessage {
            ok: true,
            error: Vec::new(),
        },
        Err(e) => {
            let mut chain = vec![e.to_string()];
            let mut cur = std::error::Error::source(e);
            while let Some(c) = cur {
                chain.push(c.to_string());
                cur = c.source();
            }
            ReadyMessage {
                ok: false,
                error: chain,
            }
        }
    };
    let mut line = serde_json::to_vec(&msg).map_err(io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

fn bring_up(dir: &Path, program: &Path) -> Result<Running, SupervisorError> {
    let mut st = LabState::read(dir)?.ok_or_else(|| SupervisorError::Lab(dir.to_path_buf()))?;
    if let Some(me) = ProcessId::of(std::process::id().cast_signed()) {
        st.supervisor = me.into();
    }
    let src_path = dir.join("lab.yaml");
    let text = std::fs::read_to_string(&src_path).map_err(io_err("reading", &src_path))?;
    let lab = warren_topology::load(&text, &st.lab)
        .lab
        .ok_or_else(|| SupervisorError::Lab(dir.to_path_buf()))?;
    let plan = warren_topology::plan::plan(&lab);
    let images =
        nodes::resolve_images(&lab, program).map_err(|e| SupervisorError::Node(Box::new(e)))?;

    // Signals that end the lab are taken by sigwait in the main thread, so
    // block them before any thread exists: every thread inherits the mask.
    shutdown_signals()
        .thread_block()
        .map_err(|e| io_err("blocking signals in", dir)(e.into()))?;
    if st.rootless {
        warren_runtime::userns::become_root()?;
    }
    let init = LabInit::start(program, &["__init"])?;
    st.init = Some(init.id.into());
    st.write(dir)?;

    let mut journal = Journal::open(dir).map_err(io_err("opening the journal in", dir))?;
    let apply_err = |source| SupervisorError::Apply {
        lab: lab.name.clone(),
        source: Box::new(source),
    };
    let mut captures = Captures::default();
    let results = st.results.clone();
    let mut built = apply::build(&plan, &mut journal, &mut |namespaces| {
        captures = Captures::start(&lab, namespaces, &results).map_err(ApplyError::Capture)?;
        Ok(())
    })
    .map_err(apply_err)?;
    let wires = crate::wires::start(&lab, std::mem::take(&mut built.wires))
        .map_err(|e| apply_err(ApplyError::Wire(e)))?;
    let _ = journal.record("wires", &format!("{} started", wires.len()));
    // A veth whose peer is down (`up: false`) never gets carrier; don't fail on it.
    let not_up = apply::wait_oper_up(&plan, &mut built, OPER_UP_TIMEOUT).map_err(apply_err)?;
    let _ = journal.record(
        "carrier",
        &format!("{} interfaces without carrier", not_up.len()),
    );
    st.netns = built
        .namespaces
        .iter()
        .map(|(ns, fd)| {
            let key = match ns {
                Ns::Hub => HUB_KEY.to_string(),
                Ns::Node(n) => n.clone(),
            };
            (key, std::os::fd::AsRawFd::as_raw_fd(fd))
        })
        .collect();
    st.write(dir)?;
    let node_err = |e| SupervisorError::Node(Box::new(e));
    let containers = nodes::start_containers(&lab, &images, &st, dir, program).map_err(node_err)?;
    st.containers = containers
        .iter()
        .map(|c| (c.name.clone(), c.init.into()))
        .collect();
    st.write(dir)?;
    let _ = journal.record("containers", &format!("{} started", containers.len()));
    let events = vms::event_writer(&st.results);
    let vms = vms::start_vms(&lab, &mut built, &st, dir, &events)
        .map_err(|e| SupervisorError::Vm(Box::new(e)))?;
    st.consoles = vms
        .iter()
        .map(|v| (v.name.clone(), v.vm.console_socket().to_path_buf()))
        .chain(containers.iter().filter_map(|c| {
            c.console_socket()
                .map(|p| (c.name.clone(), p.to_path_buf()))
        }))
        .collect();
    st.write(dir)?;
    let _ = journal.record("vms", &format!("{} ready", vms.len()));
    run_exec_steps(&lab, &plan, program, &st, &mut journal)?;
    nodes::wait_ready(&lab, &st, program, &containers).map_err(node_err)?;
    crate::forward::start(&lab, &built)?;
    st.status = Status::Running;
    st.write(dir)?;
    Ok(Running {
        lab,
        state: st,
        built,
        captures,
        wires,
        vms,
        containers,
        init: Some(init),
    })
}

fn shutdown_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Runs every `exec` step in order, each in its node's namespaces with its
/// output appended to the node's log, and fails on a non-zero exit.
///
/// Each command starts through `warren __spawn`, a single-threaded helper
/// that joins the node's namespaces (a netns node's network namespace and
/// the lab's pid namespace, or all of a container's) and forks the command
/// there: this multi-threaded process cannot join a pid namespace itself.
fn run_exec_steps(
    lab: &Lab,
    plan: &Plan,
    program: &Path,
    st: &LabState,
    journal: &mut Journal,
) -> Result<(), SupervisorError> {
    let logs = st.results.join("logs");
    for step in &plan.steps {
        let Step::Exec { node, command } = step else {
            continue;
        };
        let shown = match command {
            NodeCommand::Shell(s) => s.clone(),
            NodeCommand::Argv(a) => a.join(" "),
        };
        let fail = |source: io::Error| SupervisorError::Exec {
            node: node.clone(),
            command: shown.clone(),
            source,
        };
        std::fs::create_dir_all(&logs).map_err(&fail)?;
        let log_path = logs.join(format!("{node}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(&fail)?;
        let env = lab.node(node).map(|n| n.env.clone()).unwrap_or_default();
        let mut cmd = nodes::probe_command(st, node, &command.argv(), program);
        cmd.envs(env)
            .env("WARREN_LAB", &lab.name)
            .env("WARREN_NODE", node)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(&fail)?)
            .stderr(log);
        // SAFETY: die_with_parent only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(warren_runtime::pidns::die_with_parent);
        }
        let status = cmd.status().map_err(&fail)?;
        if !status.success() {
            return Err(fail(io::Error::other(format!(
                "exited with {}; output in {}",
                exit_code(status),
                log_path.display()
            ))));
        }
        journal
            .record("exec", &format!("{node}: {shown}"))
            .map_err(&fail)?;
    }
    Ok(())
}

/// Serves the control socket until a `down` request or a shutdown signal,
/// then tears the lab down.
fn serve(dir: &Path, listener: UnixListener, running: Running) -> Result<(), SupervisorError> {
    let shared = Arc::new(Mutex::new(running));
    let for_server = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("warren-control".into())
        .spawn(move || accept_loop(&listener, &for_server))
        .map_err(io_err("starting the control thread for", dir))?;
    let (timeline, events) = {
        let r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            crate::faults::timeline(&r.lab.faults),
            r.state.results.join("events.jsonl"),
        )
    };
    if !timeline.is_empty() {
        let for_faults = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("warren-faults".into())
            .spawn(move || run_faults(&timeline, &events, &for_faults))
            .map_err(io_err("starting the fault schedule for", dir))?;
    }
    // Wait for SIGTERM, SIGINT or SIGHUP; a `down` request sends SIGTERM to us.
    let _ = shutdown_signals().wait();
    let mut running = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    running.state.status = Status::Stopping;
    let _ = running.state.write(dir);
    teardown(dir, &mut running)
}

/// Applies the `faults:` schedule, times relative to now (the lab is up),
/// and appends each action, with its time, to the run's events file.
fn run_faults(timeline: &[crate::faults::Timed], events: &Path, shared: &Arc<Mutex<Running>>) {
    use crate::faults::Action;
    use std::io::Write;
    let start = std::time::Instant::now();
    let mut saved: std::collections::HashMap<String, [warren_wire::Params; 2]> =
        std::collections::HashMap::new();
    let log = |value: serde_json::Value| {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(events)
        {
            let _ = writeln!(f, "{value}");
        }
    };
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    log(serde_json::json!({ "t": unix(), "event": "faults-start", "scheduled": timeline.len() }));
    for t in timeline {
        if let Some(wait) = t.at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.state.status != Status::Running {
            return;
        }
        let (what, result) = match &t.action {
            Action::Carrier { link, up } => (
                format!("link {link} {}", if *up { "up" } else { "down" }),
                crate::wires::set_carrier(&r.wires, link, *up).map(|_| ()),
            ),
            Action::Impair { on, impair } => {
                let res = crate::wires::get(&r.wires, on).and_then(|before| {
                    saved.entry(on.clone()).or_insert(before);
                    crate::wires::set(&mut r.wires, on, impair).map(|_| ())
                });
                (format!("impair {on}"), res)
            }
            Action::Restore { on } => {
                let res = match saved.remove(on) {
                    Some(p) => crate::wires::put(&mut r.wires, on, p),
                    None => Ok(()),
                };
                (format!("impair {on} restored"), res)
            }
            Action::NodeRestart { node } => (
                format!("node {node} restart"),
                Err(crate::wires::ImpairError::Value {
                    key: "restart".into(),
                    message: "node restarts are not supported yet".into(),
                }),
            ),
        };
        drop(r);
        let mut line = serde_json::json!({
            "t": unix(),
            "event": "fault",
            "fault": t.fault,
            "at": t.at.as_secs_f64(),
            "elapsed": start.elapsed().as_secs_f64(),
            "action": what,
        });
        if let Err(e) = result {
            line["error"] = serde_json::Value::String(e.to_string());
        }
        log(line);
    }
}

fn teardown(dir: &Path, running: &mut Running) -> Result<(), SupervisorError> {
    if let Ok(mut j) = Journal::open(dir) {
        let _ = j.record("teardown", "start");
    }
    nodes::stop_containers(&mut running.containers, STOP_GRACE);
    vms::stop_vms(&mut running.vms, STOP_GRACE);
    // Captures end after the nodes, so their last frames are in the files.
    let finals = running.captures.stop();
    // Stopping the wires closes their taps.
    running.wires.clear();
    if let Ok(mut j) = Journal::open(dir) {
        for c in &finals {
            let _ = j.record(
                "capture",
                &format!("{}: {} frames, {} dropped", c.name, c.captured, c.dropped),
            );
        }
    }
    // Dropping the init kills every process of the lab's pid namespace.
    drop(running.init.take());
    // Closing the namespace fds lets the kernel free the namespaces and
    // every interface in them.
    running.built.sockets.clear();
    running.built.namespaces.clear();
    state::remove_dir(dir)?;
    Ok(())
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Mutex<Running>>) {
    for stream in listener.incoming().flatten() {
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("warren-client".into())
            .spawn(move || handle(stream, &shared));
    }
}

fn handle(stream: UnixStream, shared: &Arc<Mutex<Running>>) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        let request = serde_json::from_str::<Envelope>(&line);
        line.clear();
        let reply = match request {
            Ok(Envelope {
                request: Request::Capture { link },
                ..
            }) => return stream_capture(&stream, &link, shared),
            Ok(env) => answer(env.request, shared),
            Err(e) => Reply::err("bad-request", &e),
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

/// Answers a capture request, then copies pcapng to the client until it
/// goes away or the capture ends.
fn stream_capture(stream: &UnixStream, link: &str, shared: &Arc<Mutex<Running>>) {
    let started = {
        let mut r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Running {
            lab,
            built,
            captures,
            ..
        } = &mut *r;
        let named: Vec<(Ns, &warren_kernel::Netns)> = built
            .namespaces
            .iter()
            .map(|(n, fd)| (n.clone(), fd))
            .collect();
        captures.stream(lab, &named, link)
    };
    let (sub, own) = match started {
        Ok(Some(s)) => s,
        Ok(None) => {
            let e = io::Error::new(
                io::ErrorKind::NotFound,
                format!("no link or network called {link}"),
            );
            let _ = write_reply(stream, &Reply::err("not-found", &e));
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

fn answer(request: Request, shared: &Arc<Mutex<Running>>) -> Reply {
    match request {
        Request::Ping => {
            let r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Reply::ok(serde_json::json!({ "lab": r.state.lab, "status": r.state.status }))
        }
        Request::Inspect => {
            let mut r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Running {
                lab,
                state,
                built,
                captures,
                ..
            } = &mut *r;
            match crate::inspect::inspect(lab, state, built) {
                Ok(mut info) => {
                    info.captures = captures.info();
                    Reply::ok(serde_json::to_value(info).unwrap_or_default())
                }
                Err(e) => Reply::err("kernel", &e),
            }
        }
        Request::Impair { link, impair } => {
            let mut r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match crate::wires::parse_keys(&impair)
                .and_then(|i| crate::wires::set(&mut r.wires, &link, &i))
            {
                Ok(name) => Reply::ok(serde_json::json!({ "link": name, "impair": impair })),
                Err(e @ crate::wires::ImpairError::NotWired(_)) => Reply::err("not-found", &e),
                Err(e) => Reply::err("bad-request", &e),
            }
        }
        Request::Link { link, up } => {
            let r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match crate::wires::set_carrier(&r.wires, &link, up) {
                Ok(name) => Reply::ok(serde_json::json!({ "link": name, "up": up })),
                Err(e @ crate::wires::ImpairError::NotWired(_)) => Reply::err("not-found", &e),
                Err(e) => Reply::err("kernel", &e),
            }
        }
        Request::Down => {
            // The main thread tears down on SIGTERM; answer first.
            let me = nix::unistd::getpid();
            let _ = nix::sys::signal::kill(me, Signal::SIGTERM);
            Reply::ok(serde_json::json!({ "stopping": true }))
        }
        Request::Vm { node, action } => {
            let r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(v) = r.vms.iter().find(|v| v.name == node) else {
                return Reply::err(
                    "not-found",
                    &io::Error::new(io::ErrorKind::NotFound, format!("no vm node called {node}")),
                );
            };
            let qmp = v.vm.qmp();
            let done = match action.as_str() {
                "reset" => qmp.reset(),
                "powerdown" => qmp.system_powerdown(),
                "pause" => qmp.stop(),
                "resume" => qmp.cont(),
                "quit" => qmp.quit(),
                other => {
                    let e = io::Error::other(format!(
                        "unknown vm action {other}; use reset, powerdown, pause, resume or quit"
                    ));
                    return Reply::err("bad-request", &e);
                }
            };
            match done {
                Ok(()) => Reply::ok(serde_json::json!({ "node": node, "done": action })),
                Err(e) => Reply::err("qmp", &e),
            }
        }
        Request::ConsoleRun {
            node,
            command,
            timeout_secs,
        } => {
            // The console is taken out of the lock: a command may run for a while.
            let console = {
                let r = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                r.vms
                    .iter()
                    .find(|v| v.name == node)
                    .map(|v| v.vm.console())
                    .or_else(|| {
                        r.containers
                            .iter()
                            .find(|c| c.name == node)
                            .and_then(RunningNode::console)
                    })
            };
            let Some(console) = console else {
                return Reply::err(
                    "not-found",
                    &io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no vm or system node called {node}"),
                    ),
                );
            };
            match console.run(&command, std::time::Duration::from_secs(timeout_secs)) {
                Ok(out) => Reply::ok(serde_json::json!({ "code": out.code, "output": out.output })),
                Err(e) => Reply::err("console", &e),
            }
        }
        Request::Capture { .. } => {
            let e = io::Error::other("capture requests are answered by streaming");
            Reply::err("bad-request", &e)
        }
    }
}

/// The identity of the supervisor recorded in `st`, if it is still alive.
pub fn alive(st: &LabState) -> Option<ProcessId> {
    let p = ProcessId::from(st.supervisor);
    p.alive().then_some(p)
}
