//! The running lab's nodes: one entry per node of the lab file, holding
//! its kind, what was prepared for it, and its handle while it runs.
//! Bring-up, `warren node`, faults, the control protocol and teardown all
//! find a node here.

use crate::kinds::{self, HandleInfo, Kind, NodeHandle, Prepared, Stop};
use crate::state::LabState;
use std::collections::BTreeMap;
use warren_runtime::vm::Console;
use warren_topology::Lab;

/// One node of a running lab.
#[derive(Debug)]
pub struct LiveNode {
    /// Its kind.
    pub kind: &'static dyn Kind,
    /// Its image, resolved once before bring-up.
    pub prepared: Prepared,
    /// The running node; `None` before its start, and after a stop of a
    /// kind that does not pause.
    pub handle: Option<Box<dyn NodeHandle>>,
    /// Stopped by `warren node … stop` (or a node fault) and not started since.
    pub stopped: bool,
    /// The console cursor `console_expect`/`console_send` share, from
    /// where the lab became ready (or the node last started).
    pub cursor: Option<Console>,
}

/// Every node of a running lab, by name.
#[derive(Debug, Default)]
pub struct Nodes {
    nodes: BTreeMap<String, LiveNode>,
}

impl Nodes {
    /// One entry per node of `lab`, with what `prepared` resolved for it.
    pub fn new(lab: &Lab, mut prepared: BTreeMap<String, Prepared>) -> Nodes {
        let nodes = lab
            .nodes
            .iter()
            .map(|n| {
                let name = n.name.value.clone();
                let live = LiveNode {
                    kind: kinds::of(n.kind),
                    prepared: prepared.remove(&name).unwrap_or_default(),
                    handle: None,
                    stopped: false,
                    cursor: None,
                };
                (name, live)
            })
            .collect();
        Nodes { nodes }
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Option<&LiveNode> {
        self.nodes.get(name)
    }

    /// The node called `name`, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut LiveNode> {
        self.nodes.get_mut(name)
    }

    /// Adds a node scaled into the running lab, stopped until started.
    pub fn add_stopped(&mut self, node: &warren_topology::model::Node, prepared: Prepared) {
        let live = LiveNode {
            kind: kinds::of(node.kind),
            prepared,
            handle: None,
            stopped: true,
            cursor: None,
        };
        self.nodes.insert(node.name.value.clone(), live);
    }

    /// Forgets a node scaled out of the running lab (stopped first).
    pub fn remove(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Is `name` stopped by `warren node`?
    pub fn is_stopped(&self, name: &str) -> bool {
        self.nodes.get(name).is_some_and(|n| n.stopped)
    }

    /// What each running node shows of itself.
    fn infos(&self) -> impl Iterator<Item = (&String, HandleInfo)> {
        self.nodes
            .iter()
            .filter_map(|(name, n)| Some((name, n.handle.as_ref()?.inspect())))
    }

    /// Writes the nodes' inits and console sockets into `st`, where `warren
    /// exec` and `warren console` find them.
    pub fn record(&self, st: &mut LabState) {
        st.containers = self
            .infos()
            .flat_map(|(name, i)| {
                let own = i.init.map(|init| (name.clone(), init.into()));
                // A node's `containers:` under `NODE/CONTAINER`.
                let members = i.members.into_iter().map(|(m, init)| (m, init.into()));
                own.into_iter().chain(members)
            })
            .collect();
        st.consoles = self
            .infos()
            .filter_map(|(name, i)| Some((name.clone(), i.console_socket?)))
            .collect();
    }

    /// Sets every node's console cursor to read from now on.
    pub fn mark_consoles(&mut self) {
        for n in self.nodes.values_mut() {
            n.cursor = n.handle.as_ref().and_then(|h| h.console());
        }
    }

    /// Stops every node for good, all at once (each gets its own `grace`),
    /// and drops their handles.
    pub fn stop_all(&mut self, grace: std::time::Duration) {
        std::thread::scope(|s| {
            for (name, n) in &mut self.nodes {
                if let Some(mut h) = n.handle.take() {
                    s.spawn(move || {
                        if let Err(e) = h.stop(Stop::End { grace }) {
                            tracing::warn!(node = %name, error = %e, "stopping");
                        }
                    });
                }
            }
        });
    }
}
