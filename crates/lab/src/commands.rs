//! The lab file's `exec:` commands: run in order once the network is up
//! (and again when `warren node` starts a node), each in its node as its
//! kind says ([`crate::kinds::exec_spec`]), with its output appended to
//! the node's log; a non-zero exit fails bring-up.

use crate::journal::Journal;
use crate::kinds::{self, ExecCommand};
use crate::state::LabState;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use warren_runtime::exec::exit_code;
use warren_topology::Lab;
use warren_topology::model::Command as NodeCommand;
use warren_topology::plan::{Plan, Step};

/// A node's command that could not run or failed.
#[derive(Debug, thiserror::Error)]
#[error("running `{command}` on node {node}")]
pub struct CommandError {
    /// Node.
    pub node: String,
    /// The command as written.
    pub command: String,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// The command as the lab file wrote it.
pub fn shown(command: &NodeCommand) -> String {
    match command {
        NodeCommand::Shell(s) => s.clone(),
        NodeCommand::Argv(a) => a.join(" "),
    }
}

/// Runs every `exec` step of `plan` in order (only `only`'s, when given),
/// journaling each.
///
/// Each command starts through `warren __spawn`, a single-threaded helper
/// that joins the node's namespaces and forks the command there: this
/// multi-threaded process cannot join a pid namespace itself.
pub fn run(
    lab: &Lab,
    plan: &Plan,
    program: &Path,
    st: &LabState,
    mut journal: Option<&mut Journal>,
    only: Option<&str>,
) -> Result<(), CommandError> {
    for step in &plan.steps {
        let Step::Exec { node, command } = step else {
            continue;
        };
        if only.is_some_and(|o| o != node) {
            continue;
        }
        run_one(lab, program, st, node, command)?;
        if let Some(j) = journal.as_deref_mut() {
            let detail = format!("{node}: {}", shown(command));
            j.record("exec", &detail).map_err(|source| CommandError {
                node: node.clone(),
                command: shown(command),
                source,
            })?;
        }
    }
    Ok(())
}

/// Runs `command` in `node`, its output appended to the node's log.
pub fn run_one(
    lab: &Lab,
    program: &Path,
    st: &LabState,
    node: &str,
    command: &NodeCommand,
) -> Result<(), CommandError> {
    let fail = |source: io::Error| CommandError {
        node: node.to_string(),
        command: shown(command),
        source,
    };
    let logs = st.results.join("logs");
    std::fs::create_dir_all(&logs).map_err(fail)?;
    let log_path = logs.join(format!("{node}.log"));
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(fail)?;
    let argv = command.argv();
    let spec = kinds::exec_spec(
        lab,
        node,
        &ExecCommand {
            argv: &argv,
            ..Default::default()
        },
    )
    .map_err(|e| fail(io::Error::other(e)))?;
    tracing::debug!(node, command = %shown(command), "exec");
    let mut cmd = kinds::spawn_command(st, node, &spec.argv, program);
    cmd.envs(spec.env)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(fail)?)
        .stderr(log);
    // SAFETY: the hook only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(warren_runtime::pidns::lab_child());
    }
    let status = cmd.status().map_err(fail)?;
    if !status.success() {
        return Err(fail(io::Error::other(format!(
            "exited with {}; output in {}",
            exit_code(status),
            log_path.display()
        ))));
    }
    Ok(())
}
