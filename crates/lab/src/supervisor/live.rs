//! The live lab: everything a running supervisor holds, shared by the
//! control thread, the fault runner and teardown, and what they do to it.

use crate::apply::Built;
use crate::captures::Captures;
use crate::kinds::Spawner;
use crate::restart::{NodeAction, RestartError};
use crate::running::Nodes;
use crate::state::LabState;
use crate::wires::RunningWire;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use warren_runtime::pidns::LabInit;
use warren_topology::Lab;
use warren_topology::model::Impair;
use warren_topology::plan::Plan;

/// Everything a running supervisor holds.
pub(super) struct Live {
    /// The lab, as `up` validated it.
    pub lab: Lab,
    /// Its plan.
    pub plan: Plan,
    /// Its state, as other warren processes read it.
    pub state: LabState,
    /// The state folder.
    pub dir: PathBuf,
    /// This executable.
    pub program: PathBuf,
    /// Namespaces, and the kernel ops that change them.
    pub built: Built,
    /// Running captures.
    pub captures: Captures,
    /// Running user-space wires.
    pub wires: Vec<RunningWire>,
    /// The nodes.
    pub nodes: Nodes,
    /// The init of the lab's pid namespace; dropping it ends every process
    /// of the lab.
    pub init: Option<LabInit>,
    /// Starts helpers of nodes started again on request.
    pub spawner: Spawner,
}

/// The live lab as the supervisor's threads share it.
pub(super) type Shared = Arc<Mutex<Live>>;

/// Locks the live lab; a thread that panicked holding it left it usable.
pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Live> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What an impairment replaced: a wire's parameters, or a plain link's
/// egress, which goes back to no qdisc.
#[derive(Debug, Clone, Copy)]
pub(super) enum Replaced {
    /// Both directions of the wire before.
    Wire([warren_wire::Params; 2]),
    /// A kernel qdisc was put on a plain link.
    Kernel,
}

/// Why a link's carrier or impairments could not be changed.
#[derive(Debug, thiserror::Error)]
pub(super) enum LinkStateError {
    /// On the wire.
    #[error(transparent)]
    Wire(crate::wires::ImpairError),
    /// On a plain link.
    #[error(transparent)]
    Plain(crate::links::LinkError),
}

impl Live {
    /// Stops, starts or restarts `node` (see [`crate::restart`]).
    pub fn node(
        &mut self,
        node: &str,
        action: NodeAction,
        by: &str,
    ) -> Result<serde_json::Value, RestartError> {
        let mut cx = crate::restart::NodeCx {
            lab: &self.lab,
            plan: &self.plan,
            state: &mut self.state,
            dir: &self.dir,
            program: &self.program,
            built: &mut self.built,
            wires: &self.wires,
            nodes: &mut self.nodes,
            spawner: &self.spawner,
        };
        crate::restart::act(&mut cx, node, action, by)
    }

    /// Takes a link's carrier away or gives it back: on the wire both
    /// taps' carrier, on a plain veth one end's admin state. Returns the
    /// link's name.
    pub fn set_link(&mut self, link: &str, up: bool) -> Result<String, LinkStateError> {
        match crate::wires::set_carrier(&self.wires, link, up) {
            Err(crate::wires::ImpairError::NotWired(_)) => {
                crate::links::set_state(&self.lab, &self.plan, &mut self.built, link, up)
                    .map_err(LinkStateError::Plain)
            }
            other => other.map_err(LinkStateError::Wire),
        }
    }

    /// Replaces the impairments of `link` (a link name or `node:if`): on
    /// the wire, or as a kernel qdisc on a plain link. Returns the link's
    /// name, the path taken, and what to put back.
    pub fn impair(
        &mut self,
        link: &str,
        i: &Impair,
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

    /// Puts back what [`Live::impair`] replaced on `link`.
    pub fn put_back(&mut self, link: &str, replaced: Replaced) -> Result<(), LinkStateError> {
        match replaced {
            Replaced::Wire(p) => {
                crate::wires::put(&mut self.wires, link, p).map_err(LinkStateError::Wire)
            }
            Replaced::Kernel => {
                let clear = Impair::default();
                crate::links::impair(&self.lab, &mut self.built, link, &clear)
                    .map(|_| ())
                    .map_err(LinkStateError::Plain)
            }
        }
    }
}
