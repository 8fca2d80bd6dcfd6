//! Bring-up: the executor of the bring-up plan ([`crate::steps`]). It runs
//! each step in order against the lab, journaling each once done, and
//! ends with a [`Live`] lab. Whatever it made is dropped (and so freed)
//! when a step fails.

use super::live::Live;
use super::{SupervisorError, io_err, shutdown_signals};
use crate::apply::{self, ApplyError, Built, Created};
use crate::captures::Captures;
use crate::journal::Journal;
use crate::kinds::{self, Prepared, ReadyCx, Spawner, StartCx};
use crate::running::Nodes;
use crate::saved::{Images, Saved};
use crate::state::{HUB_KEY, LabState, Status};
use crate::steps::{BringUp, Phase};
use crate::wires::RunningWire;
use std::collections::BTreeMap;
use std::path::Path;
use warren_runtime::pidns::LabInit;
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;
use warren_topology::plan::Ns;

/// How long bring-up waits for interfaces to become operationally up.
const OPER_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Brings the lab saved in `dir` up. Must be called while the process is
/// single-threaded.
pub(super) fn bring_up(dir: &Path, program: &Path) -> Result<Live, SupervisorError> {
    let mut st = LabState::read(dir)?.ok_or_else(|| SupervisorError::Lab(dir.to_path_buf()))?;
    if let Some(me) = ProcessId::of(std::process::id().cast_signed()) {
        st.supervisor = me.into();
    }
    // What `up` validated, planned and resolved: nothing is parsed again.
    let Saved { lab, plan, images } = crate::saved::read(dir)?;
    let journal = Journal::open(dir).map_err(io_err("opening the journal in", dir))?;
    tracing::info!(lab = %lab.name, steps = plan.steps.len(), "bring-up");
    let mut run = Run {
        lab: &lab,
        plan: &plan,
        dir,
        program,
        st,
        journal,
        images,
        prepared: BTreeMap::new(),
        init: None,
        created: None,
        built: None,
        captures: Captures::default(),
        wires: Vec::new(),
        nodes: None,
        spawner: None,
        without_carrier: 0,
    };
    let spans = progress_spans(&plan.steps);
    for (i, phase) in plan.steps.iter().enumerate() {
        for (g, _) in spans.iter().filter(|(_, (first, _))| *first == i) {
            tracing::info!(progress = "start", step = g.step(), "{}", g.doing());
        }
        tracing::debug!(step = %phase, "bring-up step");
        run.step(phase)?;
        run.journal
            .step(phase)
            .map_err(io_err("writing the journal in", dir))?;
        for (g, _) in spans.iter().filter(|(_, (_, last))| *last == i) {
            tracing::info!(progress = "done", step = g.step(), "{}", run.done(*g));
        }
    }
    let Run {
        st,
        init,
        built,
        captures,
        wires,
        nodes,
        spawner,
        ..
    } = run;
    let (Some(built), Some(nodes), Some(spawner)) = (built, nodes, spawner) else {
        return Err(SupervisorError::OutOfOrder(
            "the plan ends before the lab is ready",
        ));
    };
    let network = plan.network;
    Ok(Live {
        lab,
        plan: network,
        state: st,
        dir: dir.to_path_buf(),
        program: program.to_path_buf(),
        built,
        captures,
        wires,
        nodes,
        init,
        spawner,
    })
}

/// A phase of bring-up the user sees as it happens (a progress event at
/// its start and end: a spinner on a terminal, a line in the run's
/// events); each node's boot and readiness have their own (see the kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// Resolving, pulling and provisioning images.
    Images,
    /// Namespaces, links, captures, addresses and routes.
    Links,
    /// Waiting for carrier.
    Carrier,
    /// Starting container and system nodes.
    Containers,
    /// The nodes' `exec:` commands.
    Exec,
}

impl Shown {
    /// The one a step belongs to, if any.
    fn of(phase: &Phase) -> Option<Shown> {
        Some(match phase {
            Phase::Prepare { .. } => Shown::Images,
            Phase::CreateLinks | Phase::Captures { .. } | Phase::Configure => Shown::Links,
            Phase::Carrier => Shown::Carrier,
            Phase::StartNode { kind, .. } if kinds::info(*kind).takes_image => Shown::Containers,
            Phase::Exec { .. } => Shown::Exec,
            _ => return None,
        })
    }

    /// Its `step` field.
    fn step(self) -> &'static str {
        match self {
            Shown::Images => "images",
            Shown::Links => "links",
            Shown::Carrier => "carrier",
            Shown::Containers => "containers",
            Shown::Exec => "exec",
        }
    }

    /// What its start event says.
    fn doing(self) -> &'static str {
        match self {
            Shown::Images => "images of the nodes",
            Shown::Links => "namespaces, links, addresses, routes",
            Shown::Carrier => "waiting for carrier",
            Shown::Containers => "starting containers",
            Shown::Exec => "node commands",
        }
    }
}

/// Each shown phase the plan has, with the positions of its first and
/// last step: its start event goes before the first, its done event
/// after the last.
fn progress_spans(steps: &[Phase]) -> Vec<(Shown, (usize, usize))> {
    let mut out: Vec<(Shown, (usize, usize))> = Vec::new();
    for (i, phase) in steps.iter().enumerate() {
        let Some(g) = Shown::of(phase) else { continue };
        match out.iter_mut().find(|(h, _)| *h == g) {
            Some((_, (_, last))) => *last = i,
            None => out.push((g, (i, i))),
        }
    }
    out
}

/// What the executor holds while it runs the plan.
struct Run<'a> {
    lab: &'a Lab,
    plan: &'a BringUp,
    dir: &'a Path,
    program: &'a Path,
    st: LabState,
    journal: Journal,
    /// The images `up` resolved, by reference.
    images: Images,
    prepared: BTreeMap<String, Prepared>,
    init: Option<LabInit>,
    created: Option<Created<'a>>,
    built: Option<Built>,
    captures: Captures,
    wires: Vec<RunningWire>,
    nodes: Option<Nodes>,
    spawner: Option<Spawner>,
    /// Interfaces still without carrier after the carrier wait.
    without_carrier: usize,
}

/// The node called `name` of `lab`.
fn model_of<'l>(
    lab: &'l Lab,
    name: &str,
) -> Result<&'l warren_topology::model::Node, SupervisorError> {
    missing(lab.node(name), "a step names a node the lab lacks")
}

/// A step that needs what an earlier step makes (a bug in the plan).
fn missing<T>(what: Option<T>, step: &'static str) -> Result<T, SupervisorError> {
    what.ok_or(SupervisorError::OutOfOrder(step))
}

impl Run<'_> {
    fn apply_err(&self, source: ApplyError) -> SupervisorError {
        SupervisorError::Apply {
            lab: self.lab.name.clone(),
            source: Box::new(source),
        }
    }

    /// What the done event of `shown` says.
    fn done(&self, shown: Shown) -> String {
        match shown {
            Shown::Images => format!("{} ready", self.prepared.len()),
            Shown::Links => format!(
                "{} namespaces",
                self.built.as_ref().map_or(0, |b| b.namespaces.len())
            ),
            Shown::Carrier => format!("{} without carrier", self.without_carrier),
            Shown::Containers => format!(
                "{} started",
                self.lab
                    .nodes
                    .iter()
                    .filter(|n| kinds::info(n.kind).takes_image)
                    .count()
            ),
            Shown::Exec => "node commands ran".to_string(),
        }
    }

    fn write_state(&self) -> Result<(), SupervisorError> {
        Ok(self.st.write(self.dir)?)
    }

    /// Runs one step.
    fn step(&mut self, phase: &Phase) -> Result<(), SupervisorError> {
        let node_err = |e| SupervisorError::Node(Box::new(e));
        match phase {
            Phase::Prepare { node, .. } => {
                let n = model_of(self.lab, node)?;
                let p = kinds::prepare(kinds::of(n.kind), n, self.program, &self.images)
                    .map_err(node_err)?;
                self.prepared.insert(node.clone(), p);
            }
            Phase::Init => {
                // Signals that end the lab are taken by sigwait in the main
                // thread, so block them before any thread exists: every
                // thread inherits the mask.
                shutdown_signals()
                    .thread_block()
                    .map_err(|e| io_err("blocking signals in", self.dir)(e.into()))?;
                if self.st.rootless {
                    warren_runtime::userns::become_root()?;
                }
                let init = LabInit::start(self.program, &["__init"])?;
                self.st.init = Some(init.id.into());
                self.init = Some(init);
                self.write_state()?;
            }
            Phase::CreateLinks => {
                let created = apply::create(&self.plan.network, apply::linux(), &mut self.journal);
                self.created = Some(created.map_err(|e| self.apply_err(e))?);
            }
            Phase::Captures { names } => {
                let created = missing(self.created.as_ref(), "captures before links")?;
                let namespaces = created.namespaces();
                self.captures = Captures::start(self.lab, names, &namespaces, &self.st.results)
                    .map_err(|e| self.apply_err(ApplyError::Capture(e)))?;
            }
            Phase::Configure => {
                let created = missing(self.created.take(), "configuring before links")?;
                let built =
                    apply::configure(created, &mut self.journal).map_err(|e| self.apply_err(e))?;
                crate::events::append(
                    &self.st.results,
                    "created",
                    serde_json::json!({ "lab": self.lab.name, "nodes": self.lab.nodes.len(), "links": self.lab.links.len(), "networks": self.lab.networks.len() }),
                );
                self.st.netns = built
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
                self.built = Some(built);
                self.write_state()?;
            }
            Phase::Wires { .. } => {
                let built = missing(self.built.as_mut(), "wires before the network")?;
                let taps = std::mem::take(&mut built.wires);
                let mut wires = crate::wires::start(self.lab, taps)
                    .map_err(|e| self.apply_err(ApplyError::Wire(e)))?;
                crate::members::configure(self.lab, &mut wires);
                self.wires = wires;
            }
            Phase::Carrier => {
                let built = missing(self.built.as_mut(), "carrier before the network")?;
                // A veth whose peer is down (`up: false`) never gets
                // carrier; don't fail on it.
                let not_up = apply::wait_oper_up(&self.plan.network, built, OPER_UP_TIMEOUT);
                let not_up = not_up.map_err(|e| self.apply_err(e))?;
                tracing::debug!(without_carrier = ?not_up, "carrier");
                self.without_carrier = not_up.len();
            }
            Phase::Tools => {
                crate::tools::run(&self.plan.network, &self.st, self.program)?;
            }
            Phase::Delay { delay, .. } => std::thread::sleep(delay.to_std()),
            Phase::WaitCompleted { node } => {
                crate::start_order::wait_completed(&self.st.results, node).map_err(node_err)?;
            }
            Phase::StartNode { node, .. } => self.start_node(node)?,
            Phase::WaitReady { node, .. } => {
                let n = model_of(self.lab, node)?;
                let nodes = missing(self.nodes.as_ref(), "a wait before any start")?;
                let live = missing(nodes.get(node), "a wait for a node never started")?;
                let handle = missing(live.handle.as_ref(), "a wait for a node never started")?;
                let cx = ReadyCx {
                    state: &self.st,
                    program: self.program,
                };
                handle.ready(n, &cx).map_err(node_err)?;
            }
            Phase::Exec { node, command } => {
                crate::commands::run_one(self.lab, self.program, &self.st, node, command)?;
            }
            Phase::Forward { host, proto, .. } => {
                let f = self
                    .lab
                    .forwards
                    .iter()
                    .find(|f| f.host == *host && f.proto == *proto);
                let f = missing(f, "a forward the lab lacks")?;
                let built = missing(self.built.as_ref(), "a forward before the network")?;
                crate::forward::start(f, built)?;
            }
            Phase::Ready => {
                let spawner =
                    Spawner::start().map_err(io_err("starting the node spawner for", self.dir))?;
                self.spawner = Some(spawner);
                self.st.status = Status::Running;
                self.write_state()?;
                crate::events::append(
                    &self.st.results,
                    "ready",
                    serde_json::json!({ "lab": self.lab.name }),
                );
                if let Some(nodes) = self.nodes.as_mut() {
                    nodes.mark_consoles();
                }
                tracing::info!(lab = %self.lab.name, "ready");
            }
        }
        Ok(())
    }

    /// Starts a node from this (the main) thread: a vm's QEMU and a
    /// container's helper die with the thread that started them.
    fn start_node(&mut self, name: &str) -> Result<(), SupervisorError> {
        let lab = self.lab;
        let model = model_of(lab, name)?;
        let prepared = &mut self.prepared;
        let nodes = self
            .nodes
            .get_or_insert_with(|| Nodes::new(lab, std::mem::take(prepared)));
        let built = missing(self.built.as_mut(), "a node started before the network")?;
        let live = missing(nodes.get_mut(name), "a node the lab lacks")?;
        let spawn = |mut c: std::process::Command| c.spawn();
        let mut cx = StartCx {
            lab,
            state: &self.st,
            dir: self.dir,
            program: self.program,
            spawn: &spawn,
            nics: &mut built.nics,
            journal: &mut self.journal,
        };
        let handle = kinds::start(live.kind, &mut cx, model, &live.prepared)
            .map_err(|e| SupervisorError::Node(Box::new(e)))?;
        // Only a node with an init, a console or containers changes the
        // state file: rewriting it after each of 10,000 bare nodes was
        // quadratic.
        let info = handle.inspect();
        live.handle = Some(handle);
        if info.init.is_none() && info.console_socket.is_none() && info.members.is_empty() {
            return Ok(());
        }
        nodes.record(&mut self.st);
        self.write_state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shown_phase_spans_its_first_to_its_last_step() {
        let lab = warren_topology::load(
            "name: p\nnodes:\n  a: {}\n  c: {kind: container, image: /srv/c, exec: [[true]]}\n  d: {kind: container, image: /srv/d}\nlinks:\n  - endpoints: [a:eth1, c:eth1]\n",
            "p",
        )
        .lab
        .expect("valid lab");
        let steps = crate::steps::plan(&lab).steps;
        let spans = progress_spans(&steps);
        let at = |g: Shown| spans.iter().find(|(h, _)| *h == g).map(|(_, s)| *s);
        let pos = |f: &dyn Fn(&Phase) -> bool| steps.iter().position(f).expect("a step");
        let last = |f: &dyn Fn(&Phase) -> bool| steps.iter().rposition(f).expect("a step");
        let prepare = |p: &Phase| matches!(p, Phase::Prepare { .. });
        assert_eq!(at(Shown::Images), Some((pos(&prepare), last(&prepare))));
        assert_eq!(
            at(Shown::Links),
            Some((
                pos(&|p| *p == Phase::CreateLinks),
                pos(&|p| *p == Phase::Configure)
            ))
        );
        let oci = |p: &Phase| matches!(p, Phase::StartNode { kind, .. } if *kind != warren_topology::model::NodeKind::Netns);
        assert_eq!(at(Shown::Containers), Some((pos(&oci), last(&oci))));
        let exec = |p: &Phase| matches!(p, Phase::Exec { .. });
        assert_eq!(at(Shown::Exec), Some((pos(&exec), last(&exec))));
        // In the order they start: images before links before carrier.
        let order: Vec<Shown> = spans.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            order,
            [
                Shown::Images,
                Shown::Links,
                Shown::Carrier,
                Shown::Containers,
                Shown::Exec
            ]
        );
    }

    #[test]
    fn a_lab_without_images_or_commands_shows_neither() {
        let lab = warren_topology::load("name: q\nnodes:\n  a: {}\n", "q")
            .lab
            .expect("valid lab");
        let spans = progress_spans(&crate::steps::plan(&lab).steps);
        let shown: Vec<&str> = spans.iter().map(|(g, _)| g.step()).collect();
        assert_eq!(shown, ["links", "carrier"]);
    }
}
