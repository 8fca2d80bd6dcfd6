//! The one way a command runs in a node. [`exec_spec`] asks the node's
//! kind what runs (argv and environment, pure); [`spawn_command`] runs it
//! through `warren __spawn`, a single-threaded helper that joins the
//! node's namespaces, for the supervisor's `exec` requests, the lab's
//! `exec:` commands and readiness probes. `warren exec` joins the same
//! namespaces itself (it may need a terminal) and runs the same spec.

use super::{NodeError, ReadyCx};
use crate::state::LabState;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use warren_topology::Lab;
use warren_topology::model::{Node, Ready};

/// A command to run in a node, as a client asks for it.
#[derive(Debug, Clone, Default)]
pub struct ExecCommand<'a> {
    /// Program and arguments; empty means the node's shell.
    pub argv: &'a [String],
    /// Environment on top of the node's `env:`.
    pub env: &'a [(String, String)],
    /// Run it as a transient systemd unit, where the kind has systemd.
    pub unit: bool,
    /// The shell for an empty `argv` where the node shares the host's
    /// filesystem (the caller's `$SHELL`).
    pub shell: &'a str,
}

/// What runs: the program with its arguments and the environment added
/// to the caller's (a kind that starts commands from a clean environment
/// says so in `argv`, through `env -i`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment added.
    pub env: Vec<(String, String)>,
}

/// Why a command cannot run in a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The lab has no such node.
    #[error("no node called {0}")]
    NoNode(String),
    /// The node has no container of that name in its `containers:`.
    #[error("node {node} has no container called {container} (its containers: {known})")]
    NoContainer {
        /// Node.
        node: String,
        /// The container asked for.
        container: String,
        /// The node's containers, comma-separated.
        known: String,
    },
    /// The node's kind takes no commands.
    #[error("{node} is a {kind} node; run commands there with console_run")]
    NoCommands {
        /// Node.
        node: String,
        /// Its kind.
        kind: &'static str,
    },
}

/// How `cmd` runs in `node` of `lab`, as its kind says; `NODE/CONTAINER`
/// names one of the node's `containers:` (see [`super::pod`]).
pub fn exec_spec(lab: &Lab, node: &str, cmd: &ExecCommand<'_>) -> Result<ExecSpec, ExecError> {
    let (node, member) = match node.split_once('/') {
        Some((n, m)) => (n, Some(m)),
        None => (node, None),
    };
    let n = lab
        .node(node)
        .ok_or_else(|| ExecError::NoNode(node.to_string()))?;
    match member {
        None => super::of(n.kind).exec(&lab.name, n, cmd),
        Some(m) => super::pod::exec(&lab.name, n, m, cmd),
    }
}

/// The environment a command in a node that shares the host's view of
/// processes gets: the node's `env:`, `extra`, and which lab and node it
/// runs in.
pub(super) fn node_env(
    lab: &str,
    node: &Node,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = node
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(extra.iter().cloned());
    env.push(("WARREN_LAB".into(), lab.to_string()));
    env.push(("WARREN_NODE".into(), node.name.value.clone()));
    env
}

/// A command that runs `argv` inside `node` through `warren __spawn`: in
/// the node's network namespace and the lab's pid namespace, or in all of
/// a container's namespaces. Its stdin is empty unless the caller says.
pub fn spawn_command(st: &LabState, node: &str, argv: &[String], program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("__spawn");
    if let Some(ns) = st.node_namespaces(node) {
        cmd.arg("--netns").arg(&ns.net);
        if let Some(p) = &ns.pid {
            cmd.arg("--pidns").arg(p);
        }
        if let Some(init) = st.containers.get(node) {
            cmd.arg("--container").arg(init.pid.to_string());
        }
    }
    cmd.arg("--").args(argv).stdin(Stdio::null());
    cmd
}

/// Runs a node's `ready.exec` probe until it exits 0 or time runs out.
pub fn wait_probe(node: &Node, cx: &ReadyCx<'_>) -> Result<(), NodeError> {
    probe_until_ready(&node.name.value, node.ready.as_ref(), cx)
}

/// Runs the `ready.exec` probe of `ready` in `target` (a node, or
/// `NODE/CONTAINER`) until it exits 0 or time runs out.
pub(super) fn probe_until_ready(
    target: &str,
    ready: Option<&Ready>,
    cx: &ReadyCx<'_>,
) -> Result<(), NodeError> {
    let Some(ready) = ready else {
        return Ok(());
    };
    let Some(probe) = &ready.exec else {
        return Ok(());
    };
    let name = target.to_string();
    let timeout = ready
        .timeout
        .map_or(Duration::from_secs(60), |d| d.to_std());
    let interval = ready
        .interval
        .map_or(Duration::from_millis(200), |d| d.to_std());
    let started = Instant::now();
    tracing::info!(progress = "start", step = "ready", node = %name, "probing");
    loop {
        let out = spawn_command(cx.state, &name, &probe.argv(), cx.program)
            .output()
            .map_err(|source| NodeError::Start {
                node: name.clone(),
                source,
            })?;
        tracing::debug!(node = %name, status = %out.status, "readiness: probe");
        if out.status.success() {
            tracing::info!(progress = "done", step = "ready", node = %name, "probe passed");
            return Ok(());
        }
        if let Some(e) = exited(cx, &name) {
            return Err(e);
        }
        if started.elapsed() >= timeout {
            let why = format!(
                "probe exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Err(NodeError::NotReady {
                node: name,
                secs: timeout.as_secs(),
                why,
            });
        }
        std::thread::sleep(interval);
    }
}

/// The error for a container node whose process has ended, so that no
/// probe can pass any more: its exit code (which its helper wrote beside
/// its log) and its log.
fn exited(cx: &ReadyCx<'_>, node: &str) -> Option<NodeError> {
    let rec = cx.state.containers.get(node)?;
    if warren_runtime::procs::ProcessId::from(*rec).alive() {
        return None;
    }
    let logs = cx.state.results.join("logs");
    let code = std::fs::read_to_string(logs.join(format!("{node}.exit")))
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    Some(NodeError::Exited {
        node: node.to_string(),
        status: code.map_or_else(|| "exit code unknown".into(), |c| format!("exit code {c}")),
        log: logs.join(format!("{node}.log")).display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> Lab {
        warren_topology::load(
            "name: x\nnodes:\n  n:\n    env: {A: one}\n  os:\n    kind: system\n    image: /srv/os\n    env: {B: two}\n  c:\n    kind: container\n    image: /srv/c\n  dut:\n    kind: vm\n    kernel: k\n",
            "x",
        )
        .lab
        .expect("valid lab")
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_netns_command_gets_the_node_env_the_extra_env_and_its_names() {
        let lab = lab();
        let a = argv(&["ip", "addr"]);
        let extra = [("X".to_string(), "1".to_string())];
        let cmd = ExecCommand {
            argv: &a,
            env: &extra,
            ..Default::default()
        };
        let spec = exec_spec(&lab, "n", &cmd).expect("netns runs commands");
        assert_eq!(spec.argv, a);
        let env: Vec<(&str, &str)> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("A", "one"),
                ("X", "1"),
                ("WARREN_LAB", "x"),
                ("WARREN_NODE", "n")
            ]
        );
    }

    #[test]
    fn an_empty_command_is_the_callers_shell_on_shared_roots_and_sh_in_an_os() {
        let lab = lab();
        let cmd = ExecCommand {
            shell: "/bin/zsh",
            ..Default::default()
        };
        assert_eq!(exec_spec(&lab, "n", &cmd).unwrap().argv, ["/bin/zsh"]);
        assert_eq!(exec_spec(&lab, "c", &cmd).unwrap().argv, ["/bin/zsh"]);
        let os = exec_spec(&lab, "os", &cmd).unwrap().argv;
        assert_eq!(os.last().map(String::as_str), Some("/bin/sh"), "{os:?}");
    }

    #[test]
    fn a_system_command_starts_from_a_clean_environment_with_only_the_extra_env() {
        let lab = lab();
        let a = argv(&["systemctl", "status"]);
        let extra = [("X".to_string(), "y".to_string())];
        let cmd = ExecCommand {
            argv: &a,
            env: &extra,
            unit: true,
            ..Default::default()
        };
        let spec = exec_spec(&lab, "os", &cmd).expect("system runs commands");
        assert!(spec.env.is_empty(), "{:?}", spec.env);
        assert_eq!(&spec.argv[..2], ["env", "-i"]);
        assert!(spec.argv.contains(&"X=y".to_string()), "{:?}", spec.argv);
        assert!(
            !spec
                .argv
                .iter()
                .any(|a| a == "B=two" || a.starts_with("WARREN_")),
            "{:?}",
            spec.argv
        );
        let run = spec.argv.iter().position(|a| a == "systemd-run");
        let cmd_at = spec.argv.iter().position(|a| a == "systemctl");
        assert!(run.is_some() && run < cmd_at, "{:?}", spec.argv);
    }

    #[test]
    fn a_vm_and_an_unknown_node_take_no_commands_and_say_why() {
        let lab = lab();
        let a = argv(&["true"]);
        let cmd = ExecCommand {
            argv: &a,
            ..Default::default()
        };
        let e = exec_spec(&lab, "dut", &cmd).expect_err("a vm takes no exec");
        assert!(e.to_string().contains("console_run"), "{e}");
        let e = exec_spec(&lab, "ghost", &cmd).expect_err("no such node");
        assert!(matches!(e, ExecError::NoNode(ref n) if n == "ghost"), "{e}");
    }
}
