//! Bring-up: from the saved lab to a live one. Every node is prepared
//! (images resolved) before anything is built; then the lab's init, the
//! network with its captures, wires, interface tools, each node's start,
//! readiness, the lab's `exec:` commands and forwards, each phase
//! journaled before the next.

use super::live::Live;
use super::{SupervisorError, io_err, shutdown_signals};
use crate::apply::{self, ApplyError};
use crate::captures::Captures;
use crate::journal::Journal;
use crate::kinds::{self, NodeHandle, Prepared, ReadyCx, Spawner, StartCx};
use crate::running::Nodes;
use crate::state::{HUB_KEY, LabState, Status};
use std::collections::BTreeMap;
use std::path::Path;
use warren_runtime::pidns::LabInit;
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;
use warren_topology::plan::Ns;

/// How long bring-up waits for interfaces to become operationally up.
const OPER_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Resolves what each node needs before anything is built, so that a
/// missing image fails `up` early.
fn prepare(lab: &Lab, program: &Path) -> Result<BTreeMap<String, Prepared>, SupervisorError> {
    lab.nodes
        .iter()
        .map(|n| {
            let p = kinds::of(n.kind)
                .prepare(n, program)
                .map_err(|e| SupervisorError::Node(Box::new(e)))?;
            Ok((n.name.value.clone(), p))
        })
        .collect()
}

/// Reads the lab `up` saved in `dir`, under the name the state gives it.
fn saved_lab(dir: &Path, st: &LabState) -> Result<Lab, SupervisorError> {
    let src_path = dir.join("lab.yaml");
    let text = std::fs::read_to_string(&src_path).map_err(io_err("reading", &src_path))?;
    let mut lab = warren_topology::load(&text, &st.lab)
        .lab
        .ok_or_else(|| SupervisorError::Lab(dir.to_path_buf()))?;
    // The state names the lab: `up` may have renamed it (`--name`, or
    // `Options::name` of the client library), and the file's `name:`
    // would otherwise win.
    lab.name.clone_from(&st.lab);
    Ok(lab)
}

/// Brings the lab saved in `dir` up. Must be called while the process is
/// single-threaded.
pub(super) fn bring_up(dir: &Path, program: &Path) -> Result<Live, SupervisorError> {
    let mut st = LabState::read(dir)?.ok_or_else(|| SupervisorError::Lab(dir.to_path_buf()))?;
    if let Some(me) = ProcessId::of(std::process::id().cast_signed()) {
        st.supervisor = me.into();
    }
    let lab = saved_lab(dir, &st)?;
    let plan = warren_topology::plan::plan(&lab);
    let prepared = prepare(&lab, program)?;

    // Signals that end the lab are taken by sigwait in the main thread, so
    // block them before any thread exists: every thread inherits the mask.
    shutdown_signals()
        .thread_block()
        .map_err(|e| io_err("blocking signals in", dir)(e.into()))?;
    if st.rootless {
        warren_runtime::userns::become_root()?;
    }
    let init = LabInit::start(program, &["__init"])?;
    st.init = Some(init.id.into());
    st.write(dir)?;
    tracing::info!(lab = %lab.name, nodes = lab.nodes.len(), "bring-up");

    let mut journal = Journal::open(dir).map_err(io_err("opening the journal in", dir))?;
    let apply_err = |source| SupervisorError::Apply {
        lab: lab.name.clone(),
        source: Box::new(source),
    };
    let mut captures = Captures::default();
    let results = st.results.clone();
    let mut built = apply::build(&plan, &mut journal, &mut |namespaces| {
        captures = Captures::start(&lab, namespaces, &results).map_err(ApplyError::Capture)?;
        Ok(())
    })
    .map_err(apply_err)?;
    crate::events::append(
        &st.results,
        "created",
        serde_json::json!({ "lab": lab.name, "nodes": lab.nodes.len(), "links": lab.links.len(), "networks": lab.networks.len() }),
    );
    let mut wires = crate::wires::start(&lab, std::mem::take(&mut built.wires))
        .map_err(|e| apply_err(ApplyError::Wire(e)))?;
    crate::members::configure(&lab, &mut wires);
    let _ = journal.record("wires", &format!("{} started", wires.len()));
    // A veth whose peer is down (`up: false`) never gets carrier; don't fail on it.
    let not_up = apply::wait_oper_up(&plan, &mut built, OPER_UP_TIMEOUT).map_err(apply_err)?;
    let _ = journal.record(
        "carrier",
        &format!("{} interfaces without carrier", not_up.len()),
    );
    st.netns = built
        .namespaces
        .iter()
        .map(|(ns, fd)| {
            let key = match ns {
                Ns::Hub => HUB_KEY.to_string(),
                Ns::Node(n) => n.clone(),
            };
            (key, std::os::fd::AsRawFd::as_raw_fd(fd))
        })
        .collect();
    st.write(dir)?;
    let tools = crate::tools::run(&plan, &st, program)?;
    let _ = journal.record("tools", &format!("{tools} interface settings applied"));

    let mut nodes = Nodes::new(&lab, prepared);
    start_nodes(&lab, &mut nodes, &mut built.nics, &st, dir, program)?;
    nodes.record(&mut st);
    st.write(dir)?;
    let _ = journal.record("nodes", &format!("{} started", lab.nodes.len()));
    wait_ready(&lab, &nodes, &st, program, true)?;
    crate::commands::run(&lab, &plan, program, &st, Some(&mut journal), None)?;
    wait_ready(&lab, &nodes, &st, program, false)?;
    let _ = journal.record("ready", &format!("{} nodes", lab.nodes.len()));
    crate::forward::start(&lab, &built)?;
    let spawner = Spawner::start().map_err(io_err("starting the node spawner for", dir))?;
    st.status = Status::Running;
    st.write(dir)?;
    crate::events::append(&st.results, "ready", serde_json::json!({ "lab": lab.name }));
    tracing::info!(lab = %lab.name, "ready");
    nodes.mark_consoles();
    Ok(Live {
        lab,
        plan,
        state: st,
        dir: dir.to_path_buf(),
        program: program.to_path_buf(),
        built,
        captures,
        wires,
        nodes,
        init: Some(init),
        spawner,
    })
}

/// Starts every node in file order, from this (the main) thread: a vm's
/// QEMU and a container's helper die with the thread that started them.
fn start_nodes(
    lab: &Lab,
    nodes: &mut Nodes,
    nics: &mut Vec<apply::VmNic>,
    st: &LabState,
    dir: &Path,
    program: &Path,
) -> Result<(), SupervisorError> {
    let spawn = |mut c: std::process::Command| c.spawn();
    let mut cx = StartCx {
        lab,
        state: st,
        dir,
        program,
        spawn: &spawn,
        nics,
    };
    for node in &lab.nodes {
        let Some(live) = nodes.get_mut(&node.name.value) else {
            continue;
        };
        tracing::debug!(node = %node.name.value, kind = node.kind.as_str(), "starting");
        let handle: Box<dyn NodeHandle> = live
            .kind
            .start(&mut cx, node, &live.prepared)
            .map_err(|e| SupervisorError::Node(Box::new(e)))?;
        live.handle = Some(handle);
    }
    Ok(())
}

/// Waits for every node whose kind is awaited `before_commands` (or
/// after them) to be ready.
fn wait_ready(
    lab: &Lab,
    nodes: &Nodes,
    st: &LabState,
    program: &Path,
    before_commands: bool,
) -> Result<(), SupervisorError> {
    let cx = ReadyCx { state: st, program };
    for node in &lab.nodes {
        let Some(live) = nodes.get(&node.name.value) else {
            continue;
        };
        if live.kind.info().ready_before_commands != before_commands {
            continue;
        }
        if let Some(h) = &live.handle {
            h.ready(node, &cx)
                .map_err(|e| SupervisorError::Node(Box::new(e)))?;
            tracing::debug!(node = %node.name.value, "ready");
        }
    }
    Ok(())
}
