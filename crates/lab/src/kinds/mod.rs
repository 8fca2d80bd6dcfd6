//! Node kinds: what runs in a node, how it starts, when it is ready, how a
//! command runs there and how it stops.
//!
//! Each kind is one module implementing [`Kind`] (a stateless value, one
//! per kind) whose [`Kind::start`] returns the node's [`NodeHandle`] (the
//! running node). What differs between kinds as plain facts (takes an
//! image, has a console, pauses on `warren node stop`, ...) is data in its
//! [`KindInfo`], which the rest of the lab crate asks instead of comparing
//! kinds. [`of`] is the one place the kinds are registered: adding a kind
//! is one module and one arm there.

mod container;
mod exec;
mod netns;
pub(crate) mod oci;
pub mod pod;
pub mod system;
pub mod vm;

use crate::images;
use crate::state::LabState;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;
use warren_runtime::procs::ProcessId;
use warren_runtime::vm::{Console, Qmp};
use warren_topology::Lab;
use warren_topology::model::{Node, NodeKind};

pub use exec::{ExecCommand, ExecError, ExecSpec, exec_spec, spawn_command, wait_probe};
pub use oci::{Spawn, Spawner};
pub use pod::{prepare, start};

/// What a kind is, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind in the lab file.
    pub kind: NodeKind,
    /// Runs an image (`image:`), resolved (pulled, provisioned) before
    /// anything is built.
    pub takes_image: bool,
    /// Has a console: `warren console`, `console_expect`, `console_send`,
    /// `console_run`.
    pub has_console: bool,
    /// Lives in a network namespace of its own. A vm's NICs are taps in
    /// its peers' namespaces instead, so it has no interfaces to set down
    /// or up and no processes to find there.
    pub has_netns: bool,
    /// Commands run inside it (`exec:`, `warren exec`, the control
    /// protocol's `exec`); a vm takes commands at its console instead.
    pub runs_commands: bool,
    /// `warren node stop` pauses it and `start` resumes it, rather than
    /// ending its processes and starting them anew (a vm: its QEMU holds
    /// its NICs' taps, which are its peers' interfaces).
    pub pauses: bool,
    /// Its readiness is awaited before the lab's `exec:` commands run,
    /// so they can reach it (a vm's boot); others' after them.
    pub ready_before_commands: bool,
    /// Bring-up waits for it even without a `ready:` key (a system node's
    /// boot).
    pub always_waits: bool,
    /// When it is ready, as `up --dry-run` says.
    pub ready_when: &'static str,
}

/// What [`Kind::prepare`] resolved for a node, kept for every later start.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The node's image, for kinds that take one.
    pub image: Option<images::Resolved>,
    /// The images of the node's `containers:`, in their order.
    pub members: Vec<images::Resolved>,
}

/// What starting a node needs of the lab.
pub struct StartCx<'a> {
    /// The lab.
    pub lab: &'a Lab,
    /// Its state (namespace paths, results folder).
    pub state: &'a LabState,
    /// The lab's state folder.
    pub dir: &'a Path,
    /// This executable, for the hidden helper subcommands.
    pub program: &'a Path,
    /// Starts helper processes (see [`Spawner`]).
    pub spawn: &'a Spawn<'a>,
    /// The vm NICs' backends `apply` opened, not yet handed to a vm;
    /// a vm takes its own.
    pub nics: &'a mut Vec<crate::apply::VmNic>,
    /// The lab's journal, where a kind records what it makes outside the
    /// lab's namespaces before it makes it (see [`crate::journal::Undo`]).
    pub journal: &'a mut crate::journal::Journal,
}

/// What waiting for a node needs of the lab.
pub struct ReadyCx<'a> {
    /// The lab's state (namespace paths, container pids).
    pub state: &'a LabState,
    /// This executable, for `warren __spawn`.
    pub program: &'a Path,
}

/// How a node stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// For good: the lab is torn down. `grace` is the time between asking
    /// and killing.
    End {
        /// Time to stop before being killed.
        grace: Duration,
    },
    /// `warren node stop` (or a node fault): kinds that pause
    /// ([`KindInfo::pauses`]) pause, others end as for [`Stop::End`].
    Node {
        /// Time to stop before being killed.
        grace: Duration,
    },
}

/// A running node's own processes and channels, as `inspect` and the lab
/// state show them.
#[derive(Debug, Clone, Default)]
pub struct HandleInfo {
    /// The node's init (a container's), which `warren exec` joins.
    pub init: Option<ProcessId>,
    /// Host pids of the node's own process (its init, or QEMU).
    pub pids: Vec<i32>,
    /// The socket `warren console` attaches to.
    pub console_socket: Option<std::path::PathBuf>,
    /// The init of each of the node's `containers:`, by `NODE/CONTAINER`.
    pub members: Vec<(String, ProcessId)>,
}

/// A node kind. Implementations are stateless; the running node is the
/// [`NodeHandle`] that [`Kind::start`] returns.
pub trait Kind: Sync {
    /// What the kind is, as data.
    fn info(&self) -> &'static KindInfo;

    /// Resolves what `node` needs before anything is built (its image,
    /// unless `up` resolved it already and passes it as `image`), so that
    /// a missing one fails `up` before the network exists. Kinds that
    /// take no image (netns, vm) have nothing to prepare.
    fn prepare(
        &self,
        _node: &Node,
        _program: &Path,
        _image: Option<images::Resolved>,
    ) -> Result<Prepared, NodeError> {
        Ok(Prepared::default())
    }

    /// Starts the node's own process once its interfaces exist.
    fn start(
        &self,
        cx: &mut StartCx<'_>,
        node: &Node,
        prepared: &Prepared,
    ) -> Result<Box<dyn NodeHandle>, NodeError>;

    /// How `cmd` runs inside `node` of lab `lab`: pure, so that the CLI
    /// (which joins the node's namespaces itself), the supervisor (through
    /// `warren __spawn`) and the lab's `exec:` commands run it alike.
    fn exec(&self, lab: &str, node: &Node, cmd: &ExecCommand<'_>) -> Result<ExecSpec, ExecError>;
}

/// A kind shows as its name.
impl fmt::Debug for dyn Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().kind.as_str())
    }
}

/// A running node.
pub trait NodeHandle: Send + fmt::Debug {
    /// Waits until the node is ready (its boot, its console regex, its
    /// `ready.exec` probe, as the lab file asks).
    fn ready(&self, node: &Node, cx: &ReadyCx<'_>) -> Result<(), NodeError>;

    /// Stops the node (see [`Stop`]); returns the host pids it stopped.
    fn stop(&mut self, how: Stop) -> Result<Vec<i32>, NodeError>;

    /// Brings back a node that [`Stop::Node`] paused. Kinds that do not
    /// pause are started anew instead, and keep this default.
    fn resume(&mut self) -> Result<(), NodeError> {
        Ok(())
    }

    /// A handle on the node's console reading from now on, if it has one.
    fn console(&self) -> Option<Console>;

    /// The node's machine monitor, if it has one (a vm's QMP).
    fn qmp(&self) -> Option<&Qmp> {
        None
    }

    /// The node's own processes and channels.
    fn inspect(&self) -> HandleInfo;
}

/// The implementation of `kind`: the one registration of every kind.
pub fn of(kind: NodeKind) -> &'static dyn Kind {
    match kind {
        NodeKind::Netns => &netns::Netns,
        NodeKind::Container => &container::Container,
        NodeKind::System => &system::System,
        NodeKind::Vm => &vm::Vm,
    }
}

/// What `kind` is, as data.
pub fn info(kind: NodeKind) -> &'static KindInfo {
    of(kind).info()
}

/// Errors preparing, starting, probing or stopping a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node's image could not be had.
    #[error("node {node}: image {image}")]
    Image {
        /// Node.
        node: String,
        /// Image reference.
        image: String,
        /// The cause.
        #[source]
        source: Box<images::ImageError>,
    },
    /// The node's process could not be started.
    #[error("starting node {node}")]
    Start {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// systemd could not be installed into the node's image.
    #[error("node {node}: provisioning image {image}")]
    Provision {
        /// Node.
        node: String,
        /// Image reference.
        image: String,
        /// The cause.
        #[source]
        source: Box<crate::provision::ProvisionError>,
    },
    /// The node's process ended before its `ready` probe passed.
    #[error("node {node} exited before it was ready ({status}); its output is in {log}")]
    Exited {
        /// Node.
        node: String,
        /// `exit code N`, or `exit code unknown`.
        status: String,
        /// The node's log.
        log: String,
    },
    /// The node did not become ready in time.
    #[error("node {node} was not ready after {secs} s ({why})")]
    NotReady {
        /// Node.
        node: String,
        /// Seconds waited.
        secs: u64,
        /// The last probe's outcome.
        why: String,
    },
    /// A node that others start after once it completes ended with
    /// another exit status than 0.
    #[error(
        "node {node} ended with exit status {code}, and other nodes start after it completes (see {})",
        log.display()
    )]
    Failed {
        /// Node.
        node: String,
        /// Its exit status.
        code: i32,
        /// Its log.
        log: std::path::PathBuf,
    },
    /// QEMU did not start, take a command, or the guest did not become ready.
    #[error("vm node {node}")]
    Vm {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: Box<warren_runtime::vm::VmError>,
    },
    /// A vm did not take a QMP command.
    #[error("vm node {node}: QMP {command}")]
    Qmp {
        /// Node.
        node: String,
        /// The QMP command.
        command: &'static str,
        /// The cause.
        #[source]
        source: warren_runtime::vm::QmpError,
    },
}

/// `/etc/hosts` of the lab: every node's addresses under its name and
/// its aliases.
pub fn hosts_file(lab: &Lab) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for n in &lab.nodes {
        for i in &n.interfaces {
            for a in i.addresses() {
                s.push_str(&format!("{}\t{}", a.value.addr, n.name.value));
                n.aliases
                    .iter()
                    .for_each(|al| s.push_str(&format!(" {al}")));
                s.push('\n');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [NodeKind; 4] = [
        NodeKind::Netns,
        NodeKind::Container,
        NodeKind::System,
        NodeKind::Vm,
    ];

    #[test]
    fn every_kind_is_registered_under_its_own_name() {
        for k in ALL {
            assert_eq!(
                info(k).kind,
                k,
                "{} is registered as another kind",
                k.as_str()
            );
        }
    }

    #[test]
    fn kinds_differ_in_data_as_documented() {
        let with = |f: fn(&KindInfo) -> bool| {
            ALL.into_iter()
                .filter(|k| f(info(*k)))
                .map(NodeKind::as_str)
                .collect::<Vec<_>>()
        };
        assert_eq!(with(|i| i.takes_image), ["container", "system"]);
        assert_eq!(with(|i| i.has_console), ["system", "vm"]);
        assert_eq!(with(|i| i.has_netns), ["netns", "container", "system"]);
        assert_eq!(with(|i| i.runs_commands), ["netns", "container", "system"]);
        assert_eq!(with(|i| i.pauses), ["vm"]);
        assert_eq!(with(|i| i.ready_before_commands), ["vm"]);
        assert_eq!(with(|i| i.always_waits), ["system"]);
    }

    #[test]
    fn hosts_file_lists_every_address_under_its_node() {
        let lab = warren_topology::load(
            "name: h\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n    ipv4: [10.0.0.1/30, 10.0.0.2/30]\n",
            "h",
        )
        .lab
        .expect("valid lab");
        let hosts = hosts_file(&lab);
        assert!(hosts.contains("10.0.0.1\ta\n"), "{hosts}");
        assert!(hosts.contains("10.0.0.2\tb\n"), "{hosts}");
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    }

    #[test]
    fn hosts_file_lists_a_nodes_aliases_after_its_name() {
        let mut lab = warren_topology::load(
            "name: h\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n    ipv4: [10.0.0.1/30, 10.0.0.2/30]\n",
            "h",
        )
        .lab
        .expect("valid lab");
        lab.nodes[0].aliases = vec!["clab-h-a".into(), "alpha".into()];
        let hosts = hosts_file(&lab);
        assert!(hosts.contains("10.0.0.1\ta clab-h-a alpha\n"), "{hosts}");
        assert!(hosts.contains("10.0.0.2\tb\n"), "{hosts}");
    }
}
