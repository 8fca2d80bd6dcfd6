//! `warren exec NAME NODE [-it] -- CMD...`: a command inside a node, as
//! its kind runs commands (the same spec the supervisor's `exec` and the
//! lab's `exec:` commands use), here with this process joining the node's
//! namespaces so that it can hold a terminal.

use crate::Failure;
use crate::args::ExecArgs;
use warren_lab::kinds::{self, ExecCommand, ExecError};
use warren_lab::state::{self, LabState};

pub fn run(args: &ExecArgs) -> Result<(), Failure> {
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
    let text = std::fs::read_to_string(dir.join("lab.yaml")).unwrap_or_default();
    let lab = warren_topology::load(&text, &st.lab).lab.map(|mut l| {
        l.name.clone_from(&st.lab);
        l
    });
    let Some(lab) = lab else {
        return Err(Failure::Error(miette::miette!(
            "the lab file of {} saved in {} does not validate",
            args.name,
            dir.display()
        )));
    };
    // A container whose process has ended has no namespaces to join: say
    // so, and where its output went, instead of failing to open them.
    // A process that has just ended may linger as a zombie: alive by its
    // start time, but without namespaces.
    if let Some(rec) = st.containers.get(&args.node)
        && (!warren_runtime::procs::ProcessId::from(*rec).alive()
            || std::fs::read_link(format!("/proc/{}/ns/net", rec.pid)).is_err())
    {
        return Err(Failure::Error(miette::miette!(
            "node {} has exited: its process {} is gone; its output is in {}",
            args.node,
            rec.pid,
            st.results
                .join("logs")
                .join(format!("{}.log", args.node))
                .display()
        )));
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
    let spec = match kinds::exec_spec(&lab, &args.node, &cmd) {
        Ok(spec) => spec,
        Err(ExecError::NoNode(_)) => {
            let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.value.as_str()).collect();
            return Err(Failure::Error(miette::miette!(
                "lab {} has no node called {} (nodes: {})",
                args.name,
                args.node,
                names.join(", ")
            )));
        }
        Err(e) => return Err(Failure::error(e)),
    };
    let ns = st.node_namespaces(&args.node).ok_or_else(|| {
        miette::miette!(
            "node {} has no namespace yet; is the lab still starting?",
            args.node
        )
    })?;
    // A container or system node's commands get its confinement, as its
    // init did (compiled before joining: the spec is a host file).
    let confinement = match st.containers.get(&args.node) {
        Some(init) if !args.privileged => {
            Some(warren_lab::helpers::confinement_of(init.pid).map_err(Failure::error)?)
        }
        _ => None,
    };
    // Joining namespaces needs a single-threaded process: nothing before
    // this point started a thread.
    ns.join().map_err(Failure::error)?;
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
