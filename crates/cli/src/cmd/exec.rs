//! `warren exec NAME NODE [-it] -- CMD...`: a command inside a node.

use crate::Failure;
use crate::args::ExecArgs;
use warren_lab::state::{self, LabState};
use warren_runtime::security::{Confinement, Prepared};

/// The confinement of the container whose init is `pid`, ready to apply.
pub fn confinement_of(pid: i32) -> Result<Prepared, Failure> {
    let c = Confinement::of_process(pid)
        .map_err(|e| miette::miette!("reading the confinement of process {pid}: {e}"))?;
    c.prepare().map_err(Failure::error)
}

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
    let Some(node) = lab.as_ref().and_then(|l| l.node(&args.node)) else {
        let names = lab.map(|l| {
            l.nodes
                .iter()
                .map(|n| n.name.value.clone())
                .collect::<Vec<_>>()
                .join(", ")
        });
        return Err(Failure::Error(miette::miette!(
            "lab {} has no node called {} (nodes: {})",
            args.name,
            args.node,
            names.unwrap_or_default()
        )));
    };
    // A container whose process has ended has no namespaces to join: say
    // so, and where its output went, instead of failing to open them.
    if let Some(rec) = st.containers.get(&args.node)
        && !warren_runtime::procs::ProcessId::from(*rec).alive()
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
    let ns = warren_lab::lifecycle::node_namespaces(&st, &args.node).ok_or_else(|| {
        miette::miette!(
            "node {} has no namespace yet; is the lab still starting?",
            args.node
        )
    })?;
    let mut env: Vec<(String, String)> = node
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.push(("WARREN_LAB".into(), st.lab.clone()));
    env.push(("WARREN_NODE".into(), args.node.clone()));
    let system = node.kind == warren_topology::model::NodeKind::System;
    let mut argv: Vec<String> = if args.command.is_empty() {
        vec![if system {
            "/bin/sh".into()
        } else {
            std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())
        }]
    } else {
        args.command.clone()
    };
    if system {
        // An OS container's commands start from a clean environment, as
        // systemd's own services do, optionally as a transient unit.
        let term: Vec<(String, String)> = std::env::var("TERM")
            .map(|t| vec![("TERM".into(), t)])
            .unwrap_or_default();
        argv = warren_lab::system::command_argv(&argv, &term, args.unit);
        env.clear();
    }
    // A container or system node's commands get its confinement, as its
    // init did (compiled before joining: the spec is a host file).
    let confinement = match st.containers.get(&args.node) {
        Some(init) if !args.privileged => Some(confinement_of(init.pid)?),
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
        warren_runtime::exec::run_pty(&argv, &env)
    } else {
        warren_runtime::exec::run(&argv, &env)
    }
    .map_err(Failure::error)?;
    Err(Failure::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
}
