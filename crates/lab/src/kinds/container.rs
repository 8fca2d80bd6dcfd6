//! `container` nodes: an OCI image's entrypoint in its own mount, pid,
//! uts and ipc namespaces on an overlay of the image's layers, started
//! once the lab's network is up (so its interfaces exist before the
//! entrypoint runs), ready when its `ready.exec` probe passes, stopped
//! with SIGTERM then SIGKILL.

use super::oci::{self, OciProcess};
use super::{
    ExecCommand, ExecError, ExecSpec, HandleInfo, Kind, KindInfo, NodeError, NodeHandle, Prepared,
    ReadyCx, StartCx, Stop,
};
use std::path::Path;
use warren_runtime::vm::Console;
use warren_topology::model::{Node, NodeKind};

/// The `container` kind.
pub struct Container;

static INFO: KindInfo = KindInfo {
    kind: NodeKind::Container,
    takes_image: true,
    has_console: false,
    has_netns: true,
    runs_commands: true,
    pauses: false,
    ready_before_commands: false,
    always_waits: false,
    ready_when: "its ready.exec probe passes",
};

impl Kind for Container {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn prepare(
        &self,
        node: &Node,
        _: &Path,
        image: Option<crate::images::Resolved>,
    ) -> Result<Prepared, NodeError> {
        oci::resolve(node, image)
    }

    fn start(
        &self,
        cx: &mut StartCx<'_>,
        node: &Node,
        prepared: &Prepared,
    ) -> Result<Box<dyn NodeHandle>, NodeError> {
        let name = &node.name.value;
        let err = |source| NodeError::Start {
            node: name.clone(),
            source,
        };
        let image = oci::image(node, prepared)?;
        let dir = oci::node_dir(cx.dir, name);
        let spec = oci::spec_for(cx.lab, node, image, cx.state, &dir).map_err(err)?;
        let c = node.container.as_ref();
        // Validated as a signal name when the lab file was read.
        let stop_signal = c
            .and_then(|c| c.stop_signal.as_deref())
            .and_then(|s| s.parse::<nix::sys::signal::Signal>().ok())
            .map_or(libc::SIGTERM, |s| s as i32);
        let process = oci::launch(cx, name, &spec, stop_signal).map_err(err)?;
        Ok(Box::new(Running {
            process,
            grace: c.and_then(|c| c.stop_grace_period).map(|d| d.to_std()),
        }))
    }

    fn exec(&self, lab: &str, node: &Node, cmd: &ExecCommand<'_>) -> Result<ExecSpec, ExecError> {
        Ok(ExecSpec {
            argv: super::netns::shared_root_argv(cmd),
            env: super::exec::node_env(lab, node, cmd.env),
        })
    }
}

/// A running container node.
#[derive(Debug)]
struct Running {
    process: OciProcess,
    /// The node's `stop_grace_period`, over warren's.
    grace: Option<std::time::Duration>,
}

impl NodeHandle for Running {
    fn ready(&self, node: &Node, cx: &ReadyCx<'_>) -> Result<(), NodeError> {
        super::wait_probe(node, cx)
    }

    fn stop(&mut self, how: Stop) -> Result<Vec<i32>, NodeError> {
        let (Stop::End { grace } | Stop::Node { grace }) = how;
        Ok(self.process.stop(self.grace.unwrap_or(grace)))
    }

    fn console(&self) -> Option<Console> {
        None
    }

    fn inspect(&self) -> HandleInfo {
        HandleInfo {
            init: Some(self.process.init),
            pids: vec![self.process.init.pid],
            console_socket: None,
            members: Vec::new(),
        }
    }
}
