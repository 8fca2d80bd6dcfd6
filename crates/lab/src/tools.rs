//! The plan's `NetnsTool` steps: the host's `ethtool` and `iptables` run in
//! one node's network namespace only, for the interface settings (`ethtool`,
//! `nat`) that have no netlink form warren drives. Each runs through
//! `warren __spawn --netns`, which joins the namespace and mounts its own
//! sysfs, as `ip netns exec` does, while the tool itself, its libraries
//! and the host's `/etc` stay the host's, so a container needs neither tool.

use crate::state::LabState;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use warren_topology::plan::{Plan, Step};

/// A setting's program could not run or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The program failed; `output` is what it wrote to stderr.
    #[error("setting {node}:{ifname} with `{command}` failed ({status}): {output}")]
    Failed {
        /// Node.
        node: String,
        /// Interface.
        ifname: String,
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stderr (and stdout), trimmed.
        output: String,
    },
    /// The node has no namespace, or the helper could not start.
    #[error("setting {node}:{ifname} with `{command}`")]
    Start {
        /// Node.
        node: String,
        /// Interface.
        ifname: String,
        /// The command line.
        command: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Runs every `NetnsTool` step of `plan`, in order, through `program`
/// (this executable); stops at the first failure.
pub fn run(plan: &Plan, st: &LabState, program: &Path) -> Result<usize, ToolError> {
    let mut ran = 0;
    for step in &plan.steps {
        let Step::NetnsTool { node, ifname, argv } = step else {
            continue;
        };
        let command = argv.join(" ");
        let start = |source| ToolError::Start {
            node: node.clone(),
            ifname: ifname.clone(),
            command: command.clone(),
            source,
        };
        let netns = st
            .netns_path(node)
            .ok_or_else(|| start(io::Error::other("the node has no network namespace")))?;
        let mut cmd = Command::new(program);
        cmd.arg("__spawn")
            .arg("--netns")
            .arg(netns)
            .arg("--")
            .args(argv)
            .stdin(Stdio::null());
        // SAFETY: the hook only calls async-signal-safe functions.
        unsafe {
            cmd.pre_exec(warren_runtime::pidns::lab_child());
        }
        let out = cmd.output().map_err(start)?;
        if !out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if text.is_empty() {
                text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            return Err(ToolError::Failed {
                node: node.clone(),
                ifname: ifname.clone(),
                command,
                status: out.status.to_string(),
                output: text,
            });
        }
        ran += 1;
    }
    Ok(ran)
}
