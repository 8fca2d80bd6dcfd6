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
    /// An interface's `ethtool` or `nat` setting failed.
    #[error(transparent)]
    Tool(#[from] crate::tools::ToolError),
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
    /// The console cursor of each vm and system node for
    /// `console_expect`/`console_send`, starting where the lab became ready.
    consoles: std::collections::HashMap<String, warren_runtime::vm::Console>,
    /// What `warren node` needs to stop and start a node.
    nodes: NodeParts,
}

/// The parts of a running lab only node stop and start use.
struct NodeParts {
    plan: Plan,
    dir: PathBuf,
    program: PathBuf,
    images: Vec<(String, crate::images::Resolved)>,
    stopped: std::collections::BTreeSet<String>,
    spawner: nodes::Spawner,
}

impl Running {
    /// Stops, starts or restarts `node` (see [`crate::restart`]).
    fn node(
        &mut self,
        node: &str,
        action: crate::restart::NodeAction,
        by: &str,
    ) -> Result<serde_json::Value, crate::restart::RestartError> {
        let mut cx = crate::restart::NodeCx {
            lab: &self.lab,
            plan: &self.nodes.plan,
            state: &mut self.state,
            dir: &self.nodes.dir,
            program: &self.nodes.program,
            built: &mut self.built,
            wires: &self.wires,
            containers: &mut self.containers,
            vms: &self.vms,
            images: &self.nodes.images,
            stopped: &mut self.nodes.stopped,
            spawner: &self.nodes.spawner,
        };
        let done = crate::restart::act(&mut cx, node, action, by);
        // A restarted system node has a new console; expect and send
        // follow it from its start.
        if let Some(c) = self
            .containers
            .iter()
            .find(|c| c.name == node)
            .and_then(RunningNode::console)
        {
            self.consoles.insert(node.to_string(), c);
        }
        done
    }

    /// Takes a link's carrier away or gives it back: on the wire both
    /// taps' carrier, on a plain veth one end's admin state. Returns the
    /// link's name.
    fn set_link(&mut self, link: &str, up: bool) -> Result<String, LinkStateError> {
        match crate::wires::set_carrier(&self.wires, link, up) {
            Err(crate::wires::ImpairError::NotWired(_)) => {
                crate::links::set_state(&self.lab, &self.nodes.plan, &mut self.built, link, up)
                    .map_err(LinkStateError::Plain)
            }
            other => other.map_err(LinkStateError::Wire),
        }
    }

    /// Replaces the impairments of `link` (a link name or `node:if`): on
    /// the wire, or as a kernel qdisc on a plain link. Returns the link's
    /// name, the path taken, and what to put back.
    fn impair(
        &mut self,
        link: &str,
        i: &warren_topology::model::Impair,
    ) -> Result<(String, &'static str, Replaced), LinkStateError> {
        match crate::wires::get(&self.wires, link) {
            Ok(before) => {
                let name =
                    crate::wires::set(&mut self.wires, link, i).map_err(LinkStateError::Wire)?;
                Ok((name, "wire", Replaced::Wire(before)))
            }
            Err(crate::wires::ImpairError::NotWired(_)) => {
                let (name, path) = crate::links::impair(&self.lab, &mut self.built, link, i)
                    .map_err(LinkStateError::Plain)?;
                Ok((name, path.as_str(), Replaced::Kernel))
            }
            Err(e) => Err(LinkStateError::Wire(e)),
        }
    }

    /// Puts back what [`Running::impair`] replaced on `link`.
    fn put_back(&mut self, link: &str, replaced: Replaced) -> Result<(), LinkStateError> {
        match replaced {
            Replaced::Wire(p) => {
                crate::wires::put(&mut self.wires, link, p).map_err(LinkStateError::Wire)
            }
            Replaced::Kernel => {
                let clear = warren_topology::model::Impair::default();
                crate::links::impair(&self.lab, &mut self.built, link, &clear)
                    .map(|_| ())
                    .map_err(LinkStateError::Plain)
            }
        }
    }
}

/// What an impairment replaced: a wire's parameters, or a plain link's
/// egress, which goes back to no qdisc.
#[derive(Debug, Clone, Copy)]
enum Replaced {
    /// Both directions of the wire before.
    Wire([warren_wire::Params; 2]),
    /// A kernel qdisc was put on a plain link.
    Kernel,
}

/// Why a link's carrier or impairments could not be changed.
#[derive(Debug, thiserror::Error)]
enum LinkStateError {
    /// On the wire.
    #[error(transparent)]
    Wire(crate::wires::ImpairError),
    /// On a plain link.
    #[error(transparent)]
    Plain(crate::links::LinkError),
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
    let mut lab = warren_topology::load(&text, &st.lab)
        .lab
        .ok_or_else(|| SupervisorError::Lab(dir.to_path_buf()))?;
    // The state names the lab: `up` may have renamed it (`--name`, or
    // `Options::name` of the client library), and the file's `name:`
    // would otherwise win.
    lab.name.clone_from(&st.lab);
    let plan = warren_topology::plan::plan(&lab);
    tracing::info!(progress = "start", step = "images", "images of the nodes");
    let images =
        nodes::resolve_images(&lab, program).map_err(|e| SupervisorError::Node(Box::new(e)))?;
    tracing::info!(progress = "done", step = "images", "{} ready", images.len());

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
    tracing::info!(
        progress = "start",
        step = "links",
        "namespaces, links, addresses, routes"
    );
    let mut built = apply::build(&plan, &mut journal, &mut |namespaces| {
        captures = Captures::start(&lab, namespaces, &results).map_err(ApplyError::Capture)?;
        Ok(())
    })
    .map_err(apply_err)?;
    tracing::info!(
        progress = "done",
        step = "links",
        "{} namespaces",
        built.namespaces.len()
    );
    crate::events::append(
        &st.results,
        "created",
        serde_json::json!({ "lab": lab.name, "nodes": lab.nodes.len(), "links": lab.links.len(), "networks": lab.networks.len() }),
    );
    let mut wires = crate::wires::start(&lab, std::mem::take(&mut built.wires))
        .map_err(|e| apply_err(ApplyError::Wire(e)))?;
    crate::members::configure(&lab, &mut wires);
    let _ = journal.record("wires", &format!("{} started", wires.len()));
    // A veth whose peer is down (`up: false`) never gets carrier; don't fail on it.
    tracing::info!(progress = "start", step = "carrier", "waiting for carrier");
    let not_up = apply::wait_oper_up(&plan, &mut built, OPER_UP_TIMEOUT).map_err(apply_err)?;
    tracing::info!(
        progress = "done",
        step = "carrier",
        "{} without carrier",
        not_up.len()
    );
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
    let tools = crate::tools::run(&plan, &st, program)?;
    let _ = journal.record("tools", &format!("{tools} interface settings applied"));
    let node_err = |e| SupervisorError::Node(Box::new(e));
    tracing::info!(
        progress = "start",
        step = "containers",
        "starting containers"
    );
    let containers = nodes::start_containers(&lab, &images, &st, dir, program).map_err(node_err)?;
    tracing::info!(
        progress = "done",
        step = "containers",
        "{} started",
        containers.len()
    );
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
    tracing::info!(progress = "start", step = "exec", "node commands");
    run_exec_steps(&lab, &plan, program, &st, Some(&mut journal), None)?;
    tracing::info!(progress = "done", step = "exec", "node commands ran");
    nodes::wait_ready(&lab, &st, program, &containers).map_err(node_err)?;
    crate::forward::start(&lab, &built)?;
    let spawner = nodes::Spawner::start().map_err(io_err("starting the node spawner for", dir))?;
    st.status = Status::Running;
    st.write(dir)?;
    crate::events::append(&st.results, "ready", serde_json::json!({ "lab": lab.name }));
    tracing::info!(lab = %lab.name, "ready");
    let consoles = vms
        .iter()
        .map(|v| (v.name.clone(), v.vm.console()))
        .chain(
            containers
                .iter()
                .filter_map(|c| Some((c.name.clone(), c.console()?))),
        )
        .collect();
    Ok(Running {
        lab,
        state: st,
        built,
        captures,
        wires,
        vms,
        containers,
        init: Some(init),
        consoles,
        nodes: NodeParts {
            plan,
            dir: dir.to_path_buf(),
            program: program.to_path_buf(),
            images,
            stopped: std::collections::BTreeSet::new(),
            spawner,
        },
    })
}

fn shutdown_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Runs every `exec` step in order (only `only`'s, when given), each in its
/// node's namespaces with its output appended to the node's log, and fails
/// on a non-zero exit.
///
/// Each command starts through `warren __spawn`, a single-threaded helper
/// that joins the node's namespaces (a netns node's network namespace and
/// the lab's pid namespace, or all of a container's) and forks the command
/// there: this multi-threaded process cannot join a pid namespace itself.
pub(crate) fn run_exec_steps(
    lab: &Lab,
    plan: &Plan,
    program: &Path,
    st: &LabState,
    mut journal: Option<&mut Journal>,
    only: Option<&str>,
) -> Result<(), SupervisorError> {
    let logs = st.results.join("logs");
    for step in &plan.steps {
        let Step::Exec { node, command } = step else {
            continue;
        };
        if only.is_some_and(|o| o != node) {
            continue;
        }
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
        // SAFETY: the hook only calls async-signal-safe functions.
        unsafe {
            cmd.pre_exec(warren_runtime::pidns::lab_child());
        }
        let status = cmd.status().map_err(&fail)?;
        if !status.success() {
            return Err(fail(io::Error::other(format!(
                "exited with {}; output in {}",
                exit_code(status),
                log_path.display()
            ))));
        }
        if let Some(j) = journal.as_deref_mut() {
            j.record("exec", &format!("{node}: {shown}"))
                .map_err(&fail)?;
        }
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
    let (timeline, results) = {
        let r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            crate::faults::timeline(&r.lab.faults),
            r.state.results.clone(),
        )
    };
    if !timeline.is_empty() {
        let for_faults = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("warren-faults".into())
            .spawn(move || run_faults(&timeline, &results, &for_faults))
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

/// What faults replaced, by link or endpoint, until they restore it.
type Saved = std::collections::HashMap<String, Replaced>;

/// Why a fault action failed.
type FaultError = Box<dyn std::error::Error>;

/// Applies one action of the fault called `fault` to the running lab;
/// returns what it did, as logged, and whether that worked.
fn apply_fault(
    r: &mut Running,
    saved: &mut Saved,
    fault: &str,
    action: &crate::faults::Action,
) -> (String, Result<(), FaultError>) {
    use crate::faults::Action;
    match action {
        Action::Carrier { link, up } => (
            format!("link {link} {}", if *up { "up" } else { "down" }),
            r.set_link(link, *up).map(|_| ()).map_err(Into::into),
        ),
        Action::Impair { on, impair } => {
            let res = r.impair(on, impair).map(|(_, _, before)| {
                saved.entry(on.clone()).or_insert(before);
            });
            (format!("impair {on}"), res.map_err(Into::into))
        }
        Action::Restore { on } => {
            let res = match saved.remove(on) {
                Some(before) => r.put_back(on, before),
                None => Ok(()),
            };
            (format!("impair {on} restored"), res.map_err(Into::into))
        }
        Action::Node { node, action } => (
            format!("node {node} {}", action.as_str()),
            r.node(node, *action, fault).map(|_| ()).map_err(Into::into),
        ),
    }
}

/// Runs `actions` (offsets from now) in order against the lab, logging each
/// as a `fault` event with `extra` fields in the run's evidence folder
/// `results`, until the lab stops running.
/// Returns the first action that failed, if any.
fn run_actions(
    fault_of: &dyn Fn(usize) -> String,
    actions: &[(std::time::Duration, crate::faults::Action)],
    results: &Path,
    shared: &Arc<Mutex<Running>>,
    extra: &serde_json::Value,
) -> Option<(String, FaultError)> {
    let start = std::time::Instant::now();
    let mut saved = Saved::new();
    let mut first_err = None;
    for (i, (at, action)) in actions.iter().enumerate() {
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.state.status != Status::Running {
            break;
        }
        let fault = fault_of(i);
        let (what, result) = apply_fault(&mut r, &mut saved, &fault, action);
        drop(r);
        let mut line = serde_json::json!({
            "fault": fault,
            "at": at.as_secs_f64(),
            "elapsed": start.elapsed().as_secs_f64(),
            "action": what,
        });
        if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
            line.extend(extra.clone());
        }
        if let Err(e) = result {
            line["error"] = serde_json::Value::String(warren_kernel::error_chain(&*e));
            first_err.get_or_insert((what, e));
        }
        crate::events::append(results, "fault", line);
    }
    first_err
}

/// Applies the `faults:` schedule, times relative to now (the lab is up),
/// and appends each action, with its time, to the run's events file.
fn run_faults(timeline: &[crate::faults::Timed], results: &Path, shared: &Arc<Mutex<Running>>) {
    crate::events::append(
        results,
        "faults-start",
        serde_json::json!({ "scheduled": timeline.len() }),
    );
    let actions: Vec<_> = timeline.iter().map(|t| (t.at, t.action.clone())).collect();
    let fault_of = |i: usize| timeline[i].fault.clone();
    run_actions(&fault_of, &actions, results, shared, &serde_json::json!({}));
}

/// Fires the fault called `name` now and answers once its last action is done.
fn fire_fault(name: &str, shared: &Arc<Mutex<Running>>) -> Reply {
    let (actions, results) = {
        let r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            crate::faults::named(&r.lab.faults, name),
            r.state.results.clone(),
        )
    };
    let Some(actions) = actions else {
        let e = io::Error::new(
            io::ErrorKind::NotFound,
            format!("the lab has no fault called {name}"),
        );
        return Reply::err("not-found", &e);
    };
    let fault_of = |_| name.to_string();
    let extra = serde_json::json!({ "trigger": "request" });
    match run_actions(&fault_of, &actions, &results, shared, &extra) {
        None => Reply::ok(serde_json::json!({ "fault": name, "actions": actions.len() })),
        Some((what, e)) => {
            let e = io::Error::other(format!(
                "fault {name}: {what}: {}",
                warren_kernel::error_chain(&*e)
            ));
            Reply::err("fault", &e)
        }
    }
}

fn teardown(dir: &Path, running: &mut Running) -> Result<(), SupervisorError> {
    if let Ok(mut j) = Journal::open(dir) {
        let _ = j.record("teardown", "start");
    }
    let results = running.state.results.clone();
    tracing::info!(lab = %running.lab.name, "teardown");
    crate::events::append(
        &results,
        "teardown",
        serde_json::json!({ "lab": running.lab.name }),
    );
    nodes::stop_containers(&mut running.containers, STOP_GRACE);
    vms::stop_vms(&mut running.vms, STOP_GRACE);
    // Captures end after the nodes, so their last frames are in the files.
    let finals = running.captures.stop();
    // Stopping the wires closes their taps; all are asked before any is
    // waited for.
    for w in &running.wires {
        w.wire.request_stop();
    }
    running.wires.clear();
    if let Ok(mut j) = Journal::open(dir) {
        let lines: Vec<String> = finals
            .iter()
            .map(|c| format!("{}: {} frames, {} dropped", c.name, c.captured, c.dropped))
            .collect();
        let _ = j.record_all("capture", lines.iter().map(String::as_str));
    }
    // Dropping the init kills every process of the lab's pid namespace.
    drop(running.init.take());
    // Closing the namespace fds lets the kernel free the namespaces and
    // every interface in them.
    running.built.sockets.clear();
    running.built.namespaces.clear();
    crate::events::append(
        &results,
        "down",
        serde_json::json!({ "lab": running.lab.name, "captures": finals }),
    );
    tracing::info!(lab = %running.lab.name, "down");
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
            Ok(env) if env.v > crate::proto::VERSION => {
                let e = io::Error::other(format!(
                    "protocol version {} is newer than this supervisor's {}",
                    env.v,
                    crate::proto::VERSION
                ));
                Reply::err("version", &e)
            }
            Ok(Envelope {
                request: Request::Capture { link },
                ..
            }) => return stream_capture(&stream, &link, shared),
            Ok(Envelope {
                request:
                    Request::Exec {
                        node,
                        argv,
                        env,
                        stdin,
                        timeout_secs,
                    },
                ..
            }) => {
                let exec = ExecRequest {
                    node,
                    argv,
                    env,
                    stdin,
                    timeout_secs,
                };
                return stream_exec(&stream, exec, shared);
            }
            Ok(Envelope {
                request: Request::Events,
                ..
            }) => {
                let events = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .state
                    .results
                    .clone();
                let events = crate::events::path(&events);
                let reply = Reply::ok(serde_json::json!({ "streaming": "events" }));
                if write_reply(&stream, &reply).is_ok() {
                    crate::streams::events(&stream, &events);
                }
                return;
            }
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

/// The fields of [`Request::Exec`].
struct ExecRequest {
    node: String,
    argv: Vec<String>,
    env: std::collections::BTreeMap<String, String>,
    stdin: Option<String>,
    timeout_secs: Option<u64>,
}

fn not_found(what: String) -> Reply {
    Reply::err("not-found", &io::Error::new(io::ErrorKind::NotFound, what))
}

/// Starts a command in a node through `warren __spawn`, in a process group
/// of its own so that a timeout or a vanished client can kill all of it,
/// answers, then streams its output and exit.
fn stream_exec(stream: &UnixStream, req: ExecRequest, shared: &Arc<Mutex<Running>>) {
    use warren_topology::model::NodeKind;
    let started = {
        let r = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match r.lab.node(&req.node) {
            None => Err(not_found(format!("no node called {}", req.node))),
            Some(n) if n.kind == NodeKind::Vm => Err(Reply::err(
                "bad-request",
                &io::Error::other(format!(
                    "{} is a vm node; run commands there with console_run",
                    req.node
                )),
            )),
            Some(_) if req.argv.is_empty() => Err(Reply::err(
                "bad-request",
                &io::Error::other("exec needs a command (argv is empty)"),
            )),
            Some(n) => {
                let extra: Vec<(String, String)> = req.env.into_iter().collect();
                let mut cmd = if n.kind == NodeKind::System {
                    let argv = crate::system::command_argv(&req.argv, &extra, false);
                    nodes::probe_command(&r.state, &req.node, &argv, &r.nodes.program)
                } else {
                    let mut cmd =
                        nodes::probe_command(&r.state, &req.node, &req.argv, &r.nodes.program);
                    cmd.envs(n.env.clone())
                        .envs(extra)
                        .env("WARREN_LAB", &r.lab.name)
                        .env("WARREN_NODE", &req.node);
                    cmd
                };
                cmd.stdin(if req.stdin.is_some() {
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
    crate::streams::exec(
        stream,
        child,
        pid,
        req.stdin.map(String::into_bytes),
        req.timeout_secs.map(std::time::Duration::from_secs),
    );
}

/// The console cursor of vm or system node `node`, shared by every client.
fn console_of(
    shared: &Arc<Mutex<Running>>,
    node: &str,
) -> Result<warren_runtime::vm::Console, Reply> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .consoles
        .get(node)
        .cloned()
        .ok_or_else(|| not_found(format!("no vm or system node called {node}")))
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
                nodes,
                ..
            } = &mut *r;
            match crate::inspect::inspect(lab, state, built) {
                Ok(mut info) => {
                    info.captures = captures.info();
                    for n in &mut info.nodes {
                        n.stopped = nodes.stopped.contains(&n.name);
                    }
                    Reply::ok(serde_json::to_value(info).unwrap_or_default())
                }
                Err(e) => Reply::err("kernel", &e),
            }
        }
        Request::Impair { link, impair } => {
            let mut r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let keys = match crate::wires::parse_keys(&impair) {
                Ok(i) => i,
                Err(e) => return Reply::err("bad-request", &e),
            };
            match r.impair(&link, &keys) {
                Ok((name, path, _)) => Reply::ok(serde_json::json!({
                    "link": name, "impair": impair, "path": path,
                })),
                Err(e @ LinkStateError::Plain(crate::links::LinkError::NotFound(_))) => {
                    Reply::err("not-found", &e)
                }
                Err(
                    e @ LinkStateError::Plain(crate::links::LinkError::Qdisc { .. })
                    | e @ LinkStateError::Wire(_),
                ) => Reply::err("kernel", &e),
                Err(e) => Reply::err("unsupported", &e),
            }
        }
        Request::Link { link, up } => {
            let mut r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match r.set_link(&link, up) {
                Ok(name) => Reply::ok(serde_json::json!({ "link": name, "up": up })),
                Err(e @ LinkStateError::Plain(crate::links::LinkError::NotFound(_))) => {
                    Reply::err("not-found", &e)
                }
                Err(e @ LinkStateError::Plain(crate::links::LinkError::VmEnd(_))) => {
                    Reply::err("bad-request", &e)
                }
                Err(e) => Reply::err("kernel", &e),
            }
        }
        Request::Node { node, action } => {
            let action = match action.parse::<crate::restart::NodeAction>() {
                Ok(a) => a,
                Err(e) => return Reply::err("bad-request", &e),
            };
            let mut r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match r.node(&node, action, "warren node") {
                Ok(done) => Reply::ok(done),
                Err(e @ crate::restart::RestartError::NoNode(_)) => Reply::err("not-found", &e),
                Err(e @ crate::restart::RestartError::Running(_)) => Reply::err("bad-request", &e),
                Err(e) => Reply::err("node", &e),
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
        Request::ConsoleExpect {
            node,
            pattern,
            timeout_secs,
        } => {
            // Cloned out of the lock: the wait may be long. Clones share the cursor.
            let console = match console_of(shared, &node) {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            match console.expect(&pattern, std::time::Duration::from_secs(timeout_secs)) {
                Ok(m) => Reply::ok(serde_json::json!({
                    "matched": m.matched,
                    "groups": m.groups,
                    "before": m.before,
                })),
                Err(e @ warren_runtime::vm::ConsoleError::Pattern { .. }) => {
                    Reply::err("bad-request", &e)
                }
                Err(e @ warren_runtime::vm::ConsoleError::Timeout { .. }) => {
                    Reply::err("timeout", &e)
                }
                Err(e) => Reply::err("console", &e),
            }
        }
        Request::ConsoleSend { node, text } => {
            let console = match console_of(shared, &node) {
                Ok(c) => c,
                Err(reply) => return reply,
            };
            console.skip_to_end();
            match console.send(text.as_bytes()) {
                Ok(()) => Reply::ok(serde_json::json!({ "sent": text.len() })),
                Err(e) => Reply::err("console", &e),
            }
        }
        Request::Fault { name } => fire_fault(&name, shared),
        Request::Qmp {
            node,
            command,
            arguments,
        } => {
            let r = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(v) = r.vms.iter().find(|v| v.name == node) else {
                return not_found(format!("no vm node called {node}"));
            };
            match v.vm.qmp().execute_with(
                &command,
                arguments.as_ref(),
                warren_runtime::vm::qmp::QMP_TIMEOUT,
            ) {
                Ok(value) => Reply::ok(value),
                Err(e) => Reply::err("qmp", &e),
            }
        }
        Request::Capture { .. } | Request::Exec { .. } | Request::Events => {
            let e = io::Error::other("this request is answered by streaming");
            Reply::err("bad-request", &e)
        }
    }
}

/// The identity of the supervisor recorded in `st`, if it is still alive.
pub fn alive(st: &LabState) -> Option<ProcessId> {
    let p = ProcessId::from(st.supervisor);
    p.alive().then_some(p)
}
