//! `warren exec NAME NODE[/CONTAINER] [-c CONTAINER] [-it] -- CMD...`: a
//! command inside a node (or one of its `containers:`), as
//! its kind runs commands (the same spec the supervisor's `exec` and the
//! lab's `exec:` commands use), here with this process joining the node's
//! namespaces so that it can hold a terminal.

use crate::Failure;
use crate::args::ExecArgs;
use warren_lab::kinds::{self, ExecCommand, ExecError};
use warren_lab::state::{self, LabState};

pub fn run(args: &ExecArgs) -> Result<(), Failure> {
    // `-c CONTAINER` is `NODE/CONTAINER`: one of the node's `containers:`.
    let target = match &args.container {
        Some(c) if args.node.contains('/') => {
            return Err(Failure::Error(miette::miette!(
                "{} already names a container; drop `-c {c}` or the `/CONTAINER`",
                args.node
            )));
        }
        Some(c) => warren_lab::kinds::pod::target(&args.node, c),
        None => args.node.clone(),
    };
    let node = target.as_str();
    let dir = state::lab_dir(&args.name);
    let st = match LabState::read(&dir).map_err(Failure::error)? {
        Some(st) if st.supervisor_alive() => st,
        _ => {
            return Err(Failure::Error(miette::miette!(
                "no lab called {} is running",
                args.name
            )));
        }
    };
    // The lab as `up` validated it, not the file parsed again.
    let lab = warren_lab::saved::read_lab(&dir).map_err(Failure::error)?;
    if let Some(gone) = exited(&st, node) {
        return Err(gone);
    }
    // A terminal's type goes along, as the user's shell would have it.
    let term: Vec<(String, String)> = std::env::var("TERM")
        .map(|t| vec![("TERM".into(), t)])
        .unwrap_or_default();
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    let cmd = ExecCommand {
        argv: &args.command,
        env: &term,
        unit: args.unit,
        shell: &shell,
    };
    let spec = match kinds::exec_spec(&lab, node, &cmd) {
        Ok(spec) => spec,
        Err(ExecError::NoNode(missing)) => {
            let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.value.as_str()).collect();
            return Err(Failure::Error(miette::miette!(
                "lab {} has no node called {} (nodes: {})",
                args.name,
                missing,
                names.join(", ")
            )));
        }
        Err(e) => return Err(Failure::error(e)),
    };
    let ns = st.node_namespaces(node).ok_or_else(|| {
        miette::miette!(
            "node {} has no namespace yet; is the lab still starting?",
            node
        )
    })?;
    // A container or system node's commands get its confinement, as its
    // init did (compiled before joining: the spec is a host file).
    let confinement = match st.containers.get(node) {
        Some(init) if !args.privileged => {
            let c = warren_lab::helpers::confinement_of(init.pid);
            Some(c.map_err(|e| exited(&st, node).unwrap_or_else(|| Failure::error(e)))?)
        }
        _ => None,
    };
    // Joining namespaces needs a single-threaded process: nothing before
    // this point started a thread. The container may end meanwhile.
    ns.join()
        .map_err(|e| exited(&st, node).unwrap_or_else(|| Failure::error(e)))?;
    if let Some(c) = confinement {
        c.apply().map_err(Failure::error)?;
    }
    let tty = args.tty
        || (args.command.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin()));
    let code = if tty {
        warren_runtime::exec::run_pty(&spec.argv, &spec.env)
    } else {
        warren_runtime::exec::run(&spec.argv, &spec.env)
    }
    .map_err(Failure::error)?;
    Err(Failure::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
}

/// A container whose process has ended has no namespaces to join: say
/// so, and where its output went, instead of failing to open them. One
/// that is ending (a zombie not yet reaped) has lost its namespaces too.
fn exited(st: &LabState, node: &str) -> Option<Failure> {
    let rec = st.containers.get(node)?;
    let ns = std::path::PathBuf::from(format!("/proc/{}/ns/net", rec.pid));
    if warren_runtime::procs::ProcessId::from(*rec).alive() && std::fs::read_link(ns).is_ok() {
        return None;
    }
    Some(Failure::Error(miette::miette!(
        "node {} has exited: its process {} is gone; its output is in {}",
        node,
        rec.pid,
        st.results
            .join("logs")
            .join(format!("{node}.log"))
            .display()
    )))
}
