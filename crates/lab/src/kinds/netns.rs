//! `netns` nodes (the default): a bare network namespace sharing the
//! host's filesystem. Nothing runs in it but its `exec:` commands and
//! what `warren exec` starts, so it has no process of its own to start or
//! stop; it is ready once its `ready.exec` probe passes.

use super::{
    ExecCommand, ExecError, ExecSpec, HandleInfo, Kind, KindInfo, NodeError, NodeHandle, Prepared,
    ReadyCx, StartCx, Stop,
};
use warren_runtime::vm::Console;
use warren_topology::model::{Node, NodeKind};

/// The `netns` kind.
pub struct Netns;

static INFO: KindInfo = KindInfo {
    kind: NodeKind::Netns,
    takes_image: false,
    has_console: false,
    has_netns: true,
    runs_commands: true,
    pauses: false,
    ready_before_commands: false,
    always_waits: false,
    ready_when: "its ready.exec probe passes",
};

impl Kind for Netns {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn start(
        &self,
        _: &mut StartCx<'_>,
        _: &Node,
        _: &Prepared,
    ) -> Result<Box<dyn NodeHandle>, NodeError> {
        Ok(Box::new(Bare))
    }

    fn exec(&self, lab: &str, node: &Node, cmd: &ExecCommand<'_>) -> Result<ExecSpec, ExecError> {
        Ok(ExecSpec {
            argv: shared_root_argv(cmd),
            env: super::exec::node_env(lab, node, cmd.env),
        })
    }
}

/// The argv of `cmd` in a node whose programs are the host's (or an
/// image's with the caller's shell): the command, or the caller's shell.
pub(super) fn shared_root_argv(cmd: &ExecCommand<'_>) -> Vec<String> {
    if cmd.argv.is_empty() {
        let shell = if cmd.shell.is_empty() {
            "/bin/sh"
        } else {
            cmd.shell
        };
        vec![shell.to_string()]
    } else {
        cmd.argv.to_vec()
    }
}

/// A running netns node: its namespace is the supervisor's to hold, and
/// its processes are found there when it stops (see [`crate::restart`]).
#[derive(Debug)]
struct Bare;

impl NodeHandle for Bare {
    fn ready(&self, node: &Node, cx: &ReadyCx<'_>) -> Result<(), NodeError> {
        super::wait_probe(node, cx)
    }

    fn stop(&mut self, _: Stop) -> Result<Vec<i32>, NodeError> {
        Ok(Vec::new())
    }

    fn console(&self) -> Option<Console> {
        None
    }

    fn inspect(&self) -> HandleInfo {
        HandleInfo::default()
    }
}
