//! Stopping and starting one node of a running lab (`warren node`, and
//! `node: … restart` faults) while the supervisor keeps holding its network
//! namespace, so its links survive:
//!
//! - stop: the node's interfaces go administratively down (a veth peer
//!   loses its carrier; a wired link's carrier goes off on both taps),
//!   then its processes stop: a container's tree through the container
//!   stop path, and every process left in the node's network namespace
//!   (what its `exec:` commands started, `warren exec` sessions) with
//!   SIGTERM, then SIGKILL;
//! - start: the plan's addresses, up states and routes of the node are
//!   applied again (IPv6 addresses and routes through the interfaces went
//!   with the admin down), wired carriers come back on, a container starts
//!   again on its kept overlay, the node's `exec:` commands run again and
//!   its `ready` probe is awaited;
//! - a vm is paused over QMP on stop and reset and resumed on start: its
//!   QEMU (which holds its NICs' taps, the peers' interfaces) is kept.
//!
//! Each stop and start is appended to the run's `events.jsonl`.

use crate::apply::{self, ApplyError, Built};
use crate::kinds::{NodeError, ReadyCx, StartCx, Stop};
use crate::running::Nodes;
use crate::state::LabState;
use crate::wires::{ImpairError, RunningWire};
use std::path::Path;
use std::time::Duration;
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;
use warren_topology::plan::Plan;

/// What `warren node` does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    /// Interfaces down, processes stopped.
    Stop,
    /// Interfaces and processes back.
    Start,
    /// Stop, then start.
    Restart,
}

impl NodeAction {
    /// Its name in requests and events.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeAction::Stop => "stop",
            NodeAction::Start => "start",
            NodeAction::Restart => "restart",
        }
    }
}

impl std::str::FromStr for NodeAction {
    type Err = RestartError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stop" => Ok(NodeAction::Stop),
            "start" => Ok(NodeAction::Start),
            "restart" => Ok(NodeAction::Restart),
            other => Err(RestartError::Action(other.to_string())),
        }
    }
}

/// Errors stopping or starting a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestartError {
    /// The lab has no such node.
    #[error("no node called {0}")]
    NoNode(String),
    /// The action is not stop, start or restart.
    #[error("unknown node action {0}; use stop, start or restart")]
    Action(String),
    /// `start` on a node that runs.
    #[error("node {0} is running; stop it first, or restart it")]
    Running(String),
    /// The node's interfaces could not be set down or configured again.
    #[error("setting the interfaces of node {node} {state}")]
    Interfaces {
        /// Node.
        node: String,
        /// `down` or `up`.
        state: &'static str,
        /// The cause.
        #[source]
        source: Box<ApplyError>,
    },
    /// A wired link's carrier could not be switched.
    #[error("switching the carrier of {endpoint}")]
    Carrier {
        /// The node's end of the link.
        endpoint: String,
        /// The cause.
        #[source]
        source: ImpairError,
    },
    /// The processes of the node could not be listed.
    #[error("listing the processes of node {node}")]
    Processes {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The node did not stop, start again or become ready.
    #[error(transparent)]
    Node(Box<NodeError>),
    /// The node's `exec:` commands failed when run again.
    #[error("running the commands of node {node} again")]
    Exec {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: Box<crate::commands::CommandError>,
    },
    /// The lab's state could not be saved.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// The parts of a running lab that stopping and starting a node touches.
pub struct NodeCx<'a> {
    /// The lab.
    pub lab: &'a Lab,
    /// Its plan.
    pub plan: &'a Plan,
    /// Its state (container pids are updated on start).
    pub state: &'a mut LabState,
    /// The lab's state folder.
    pub dir: &'a Path,
    /// This executable, for `__container` and `__spawn`.
    pub program: &'a Path,
    /// Namespaces, and the kernel ops that change them.
    pub built: &'a mut Built,
    /// Running wires.
    pub wires: &'a [RunningWire],
    /// The lab's nodes.
    pub nodes: &'a mut Nodes,
    /// Starts container helpers from a thread that outlives the request.
    pub spawner: &'a crate::kinds::Spawner,
}

/// How long a node's processes get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long start waits for the node's interfaces to have carrier.
const CARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// Stops, starts or restarts `node`; `by` says who asked (`warren node`,
/// or a fault's name) in the events file. Returns what was done.
pub fn act(
    cx: &mut NodeCx<'_>,
    node: &str,
    action: NodeAction,
    by: &str,
) -> Result<serde_json::Value, RestartError> {
    let kind = cx
        .lab
        .node(node)
        .map(|n| n.kind)
        .ok_or_else(|| RestartError::NoNode(node.to_string()))?;
    let mut out = serde_json::json!({ "node": node, "kind": kind.as_str() });
    if action != NodeAction::Start {
        if cx.nodes.is_stopped(node) {
            out["stopped"] = serde_json::json!([]);
        } else {
            let pids = stop(cx, node)?;
            set_stopped(cx, node, true);
            log(cx, "node-stop", node, by, &pids);
            out["stopped"] = serde_json::json!(pids);
        }
    }
    if action != NodeAction::Stop {
        if !cx.nodes.is_stopped(node) {
            return Err(RestartError::Running(node.to_string()));
        }
        start(cx, node)?;
        set_stopped(cx, node, false);
        let pids = node_pids(cx, node);
        log(cx, "node-start", node, by, &pids);
        out["started"] = serde_json::json!(pids);
    }
    Ok(out)
}

fn set_stopped(cx: &mut NodeCx<'_>, node: &str, stopped: bool) {
    if let Some(n) = cx.nodes.get_mut(node) {
        n.stopped = stopped;
    }
}

/// The host pids of the processes now in `node`: its own process (a
/// container's init, a vm's QEMU) first, then the rest of its namespace.
fn node_pids(cx: &NodeCx<'_>, node: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = cx
        .nodes
        .get(node)
        .and_then(|n| n.handle.as_ref())
        .map(|h| h.inspect().pids)
        .unwrap_or_default();
    if let Some(path) = cx.state.netns_path(node) {
        for p in warren_runtime::procs::in_netns(&path).unwrap_or_default() {
            if !pids.contains(&p.pid) {
                pids.push(p.pid);
            }
        }
    }
    pids
}

fn log(cx: &NodeCx<'_>, event: &str, node: &str, by: &str, pids: &[i32]) {
    crate::events::append(
        &cx.state.results,
        event,
        serde_json::json!({ "node": node, "by": by, "pids": pids }),
    );
}

/// The node's ends of wired links (`node:if`).
fn wired_ends(cx: &NodeCx<'_>, node: &str) -> Vec<String> {
    apply::node_interfaces(cx.plan, node)
        .into_iter()
        .map(|i| format!("{node}:{i}"))
        .filter(|e| cx.wires.iter().any(|w| w.ends.contains(e)))
        .collect()
}

fn carrier(cx: &NodeCx<'_>, node: &str, up: bool) -> Result<(), RestartError> {
    for endpoint in wired_ends(cx, node) {
        crate::wires::set_carrier(cx.wires, &endpoint, up)
            .map_err(|source| RestartError::Carrier { endpoint, source })?;
    }
    Ok(())
}

/// Takes the node off its links, then stops its processes (or pauses a
/// kind that pauses). Returns the host pids that were stopped.
fn stop(cx: &mut NodeCx<'_>, node: &str) -> Result<Vec<i32>, RestartError> {
    let live = cx
        .nodes
        .get_mut(node)
        .ok_or_else(|| RestartError::NoNode(node.to_string()))?;
    let info = live.kind.info();
    let node_err = |e| RestartError::Node(Box::new(e));
    if info.pauses {
        return match live.handle.as_mut() {
            Some(h) => h.stop(Stop::Node { grace: STOP_GRACE }).map_err(node_err),
            None => Ok(Vec::new()),
        };
    }
    // Interfaces first: the peers see the carrier go before any process
    // of the node could say goodbye on the wire.
    apply::node_down(cx.plan, cx.built, node, None).map_err(|e| RestartError::Interfaces {
        node: node.to_string(),
        state: "down",
        source: Box::new(e),
    })?;
    carrier(cx, node, false)?;
    let mut pids = Vec::new();
    if let Some(mut h) = cx.nodes.get_mut(node).and_then(|n| n.handle.take()) {
        pids = h.stop(Stop::Node { grace: STOP_GRACE }).map_err(node_err)?;
    }
    let netns = cx
        .state
        .netns_path(node)
        .ok_or_else(|| RestartError::NoNode(node.to_string()))?;
    let procs = |node: &str| {
        warren_runtime::procs::in_netns(&netns).map_err(|source| RestartError::Processes {
            node: node.to_string(),
            source,
        })
    };
    let left = procs(node)?;
    pids.extend(left.iter().map(|p| p.pid));
    signal_all(&left, nix::sys::signal::Signal::SIGTERM, STOP_GRACE);
    signal_all(
        &procs(node)?,
        nix::sys::signal::Signal::SIGKILL,
        Duration::from_secs(5),
    );
    Ok(pids)
}

/// Sends `sig` to every process and waits up to `wait` for them to go.
fn signal_all(procs: &[ProcessId], sig: nix::sys::signal::Signal, wait: Duration) {
    for p in procs {
        p.signal(sig);
    }
    let deadline = std::time::Instant::now() + wait;
    while procs.iter().any(ProcessId::alive) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Puts the node's interfaces back, then starts its processes again (or
/// resumes a kind that pauses).
fn start(cx: &mut NodeCx<'_>, node: &str) -> Result<(), RestartError> {
    let node_err = |e| RestartError::Node(Box::new(e));
    let model = cx
        .lab
        .node(node)
        .ok_or_else(|| RestartError::NoNode(node.to_string()))?;
    let live = cx
        .nodes
        .get_mut(node)
        .ok_or_else(|| RestartError::NoNode(node.to_string()))?;
    if live.kind.info().pauses {
        if let Some(h) = live.handle.as_mut() {
            h.resume().map_err(node_err)?;
        }
        return Ok(());
    }
    let up_err = |e| RestartError::Interfaces {
        node: node.to_string(),
        state: "up",
        source: Box::new(e),
    };
    apply::node_up(cx.plan, cx.built, node, None).map_err(up_err)?;
    carrier(cx, node, true)?;
    // Commands that use the interfaces must find them up, as at bring-up;
    // an interface whose peer is stopped too stays without carrier.
    apply::wait_node_up(cx.plan, cx.built, node, None, CARRIER_TIMEOUT).map_err(up_err)?;
    // A handle already there came from a start that failed later on;
    // starting again must not make it two.
    let Some(live) = cx.nodes.get_mut(node).filter(|n| n.handle.is_none()) else {
        return run_again(cx, node);
    };
    let spawner = cx.spawner;
    let spawn = |c| spawner.spawn(c);
    let mut no_nics = Vec::new();
    let mut journal = crate::journal::Journal::open(cx.dir).map_err(|source| {
        RestartError::State(crate::state::StateError::Io {
            action: "opening the journal in",
            path: cx.dir.to_path_buf(),
            source,
        })
    })?;
    let mut start_cx = StartCx {
        lab: cx.lab,
        state: cx.state,
        dir: cx.dir,
        program: cx.program,
        spawn: &spawn,
        nics: &mut no_nics,
        journal: &mut journal,
    };
    let handle =
        crate::kinds::start(live.kind, &mut start_cx, model, &live.prepared).map_err(node_err)?;
    live.cursor = handle.console();
    live.handle = Some(handle);
    cx.nodes.record(cx.state);
    cx.state.write(cx.dir)?;
    run_again(cx, node)
}

/// Runs the node's `exec:` commands again and waits until it is ready.
fn run_again(cx: &mut NodeCx<'_>, node: &str) -> Result<(), RestartError> {
    crate::commands::run(cx.lab, cx.plan, cx.program, cx.state, None, Some(node)).map_err(|e| {
        RestartError::Exec {
            node: node.to_string(),
            source: Box::new(e),
        }
    })?;
    let ready = ReadyCx {
        state: cx.state,
        program: cx.program,
    };
    if let (Some(model), Some(h)) = (
        cx.lab.node(node),
        cx.nodes.get(node).and_then(|n| n.handle.as_ref()),
    ) {
        h.ready(model, &ready)
            .map_err(|e| RestartError::Node(Box::new(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_anything_else_is_named_in_the_error() {
        assert_eq!("stop".parse::<NodeAction>().ok(), Some(NodeAction::Stop));
        assert_eq!("start".parse::<NodeAction>().ok(), Some(NodeAction::Start));
        assert_eq!(
            "restart".parse::<NodeAction>().ok(),
            Some(NodeAction::Restart)
        );
        let e = "reboot".parse::<NodeAction>().expect_err("not an action");
        assert!(e.to_string().contains("reboot"), "{e}");
    }
}
