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
use crate::nodes::{self, NodeError, RunningNode};
use crate::state::LabState;
use crate::vms::RunningVm;
use crate::wires::{ImpairError, RunningWire};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;
use warren_topology::model::NodeKind;
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
    /// A container node did not start again or become ready.
    #[error(transparent)]
    Node(Box<NodeError>),
    /// A vm did not take a QMP command.
    #[error("vm node {node}: QMP {command}")]
    Vm {
        /// Node.
        node: String,
        /// The QMP command.
        command: &'static str,
        /// The cause.
        #[source]
        source: warren_runtime::vm::QmpError,
    },
    /// The node's `exec:` commands failed when run again.
    #[error("running the commands of node {node} again")]
    Exec {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: Box<crate::supervisor::SupervisorError>,
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
    /// Namespaces and their sockets.
    pub built: &'a mut Built,
    /// Running wires.
    pub wires: &'a [RunningWire],
    /// Running containers.
    pub containers: &'a mut Vec<RunningNode>,
    /// Running vms.
    pub vms: &'a [RunningVm],
    /// Resolved images of container and system nodes.
    pub images: &'a [(String, crate::images::Resolved)],
    /// Nodes stopped now.
    pub stopped: &'a mut BTreeSet<String>,
    /// Starts container helpers from a thread that outlives the request.
    pub spawner: &'a nodes::Spawner,
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
        if cx.stopped.contains(node) {
            out["stopped"] = serde_json::json!([]);
        } else {
            let pids = stop(cx, node, kind)?;
            cx.stopped.insert(node.to_string());
            log(cx, "node-stop", node, by, &pids);
            out["stopped"] = serde_json::json!(pids);
        }
    }
    if action != NodeAction::Stop {
        if !cx.stopped.contains(node) {
            return Err(RestartError::Running(node.to_string()));
        }
        start(cx, node, kind)?;
        cx.stopped.remove(node);
        let pids = node_pids(cx, node);
        log(cx, "node-start", node, by, &pids);
        out["started"] = serde_json::json!(pids);
    }
    Ok(out)
}

/// The host pids of the processes now in `node` (its container's init
/// first), or the vm's QEMU.
fn node_pids(cx: &NodeCx<'_>, node: &str) -> Vec<i32> {
    if let Some(v) = cx.vms.iter().find(|v| v.name == node) {
        return v
            .vm
            .pid()
            .and_then(|p| i32::try_from(p).ok())
            .into_iter()
            .collect();
    }
    let mut pids: Vec<i32> = cx
        .containers
        .iter()
        .filter(|c| c.name == node)
        .map(|c| c.init.pid)
        .collect();
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

/// Takes the node off its links, then stops its processes. Returns the
/// host pids that were stopped.
fn stop(cx: &mut NodeCx<'_>, node: &str, kind: NodeKind) -> Result<Vec<i32>, RestartError> {
    if kind == NodeKind::Vm {
        let v = vm(cx, node)?;
        v.vm.qmp().stop().map_err(|source| RestartError::Vm {
            node: node.to_string(),
            command: "stop",
            source,
        })?;
        return Ok(Vec::new());
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
    if let Some(pos) = cx.containers.iter().position(|c| c.name == node) {
        let c = cx.containers.remove(pos);
        pids.push(c.init.pid);
        nodes::stop_containers(&mut vec![c], STOP_GRACE);
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

fn vm<'v>(cx: &NodeCx<'v>, node: &str) -> Result<&'v RunningVm, RestartError> {
    cx.vms
        .iter()
        .find(|v| v.name == node)
        .ok_or_else(|| RestartError::NoNode(node.to_string()))
}

/// Puts the node's interfaces back, then starts its processes again.
fn start(cx: &mut NodeCx<'_>, node: &str, kind: NodeKind) -> Result<(), RestartError> {
    if kind == NodeKind::Vm {
        let v = vm(cx, node)?;
        let qmp_err = |command| {
            move |source| RestartError::Vm {
                node: node.to_string(),
                command,
                source,
            }
        };
        v.vm.qmp().reset().map_err(qmp_err("system_reset"))?;
        v.vm.qmp().cont().map_err(qmp_err("cont"))?;
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
    let node_err = |e| RestartError::Node(Box::new(e));
    // A container already there came from a start that failed later on;
    // starting again must not make it two.
    if let Some((name, image)) = cx
        .images
        .iter()
        .find(|(n, _)| n == node)
        .filter(|_| !cx.containers.iter().any(|c| c.name == node))
    {
        let spawner = cx.spawner;
        let c = nodes::start_container(cx.lab, name, image, cx.state, cx.dir, cx.program, &|c| {
            spawner.spawn(c)
        })
        .map_err(node_err)?;
        cx.state.containers.insert(name.clone(), c.init.into());
        cx.containers.push(c);
        cx.state.write(cx.dir)?;
    }
    crate::supervisor::run_exec_steps(cx.lab, cx.plan, cx.program, cx.state, None, Some(node))
        .map_err(|e| RestartError::Exec {
            node: node.to_string(),
            source: Box::new(e),
        })?;
    if let Some(n) = cx.lab.node(node) {
        let running = cx.containers.iter().find(|c| c.name == node);
        nodes::wait_node_ready(n, cx.state, cx.program, running).map_err(node_err)?;
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
