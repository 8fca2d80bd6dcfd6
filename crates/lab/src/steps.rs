//! The bring-up plan: every step `warren up` takes, in order, as data.
//! Pure: [`plan`] derives it from the validated lab (and the kernel plan
//! of `warren_topology::plan`), `warren up --dry-run` prints it, and the
//! supervisor's executor runs it step by step, journaling each.

use crate::kinds;
use serde::{Deserialize, Serialize};
use std::fmt;
use warren_topology::Lab;
use warren_topology::model::{Command, NodeKind, Proto, StartAfter};
use warren_topology::plan::{Plan, Step};
use warren_topology::values::Duration;

/// One step of bring-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Phase {
    /// Resolve a node's image (pull it if missing, provision systemd).
    Prepare {
        /// The node.
        node: String,
        /// Its image reference.
        image: String,
    },
    /// Start the lab's init, whose pid namespace every lab process joins.
    Init,
    /// Create the namespaces and every link in them: the kernel plan's
    /// `create` steps.
    CreateLinks,
    /// Start capturing links and networks, before anything can send.
    Captures {
        /// The captured links and networks.
        names: Vec<String>,
    },
    /// Sysctls, bridge ports, addresses, up states and routes: the kernel
    /// plan's configuration steps.
    Configure,
    /// Start the user-space wires of impaired links.
    Wires {
        /// Their links.
        links: Vec<String>,
    },
    /// Wait for every interface brought up to have carrier.
    Carrier,
    /// Interface tools (`ethtool`, `nat`) in their nodes' namespaces.
    Tools,
    /// Wait before starting a node (`start_delay:`).
    Delay {
        /// The node.
        node: String,
        /// How long.
        delay: Duration,
    },
    /// Wait until a container node's process has ended with exit status 0
    /// (a node that starts after it `completed`).
    WaitCompleted {
        /// The node.
        node: String,
    },
    /// Start a node's own process.
    StartNode {
        /// The node.
        node: String,
        /// Its kind.
        kind: NodeKind,
        /// What it starts after (`after:`), as `NODE CONDITION`; the
        /// steps that wait for each come before this one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        after: Vec<String>,
    },
    /// Wait until a node is ready.
    WaitReady {
        /// The node.
        node: String,
        /// Its kind.
        kind: NodeKind,
    },
    /// Run one of a node's `exec:` commands.
    Exec {
        /// The node.
        node: String,
        /// The command.
        command: Command,
    },
    /// Forward a host port into a node.
    Forward {
        /// The port on the host's 127.0.0.1.
        host: u16,
        /// The node.
        node: String,
        /// The node's port.
        port: u16,
        /// TCP or UDP.
        proto: Proto,
    },
    /// The lab is up: its status turns `running`.
    Ready,
}

/// Every step of bring-up, with the kernel plan the network steps apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BringUp {
    /// The lab's name.
    pub lab: String,
    /// The kernel plan [`Phase::CreateLinks`], [`Phase::Configure`] and
    /// [`Phase::Tools`] apply.
    pub network: Plan,
    /// The steps, in order.
    pub steps: Vec<Phase>,
}

/// What part of bring-up a kernel step belongs to.
fn network_phase(step: &Step) -> Option<fn() -> Phase> {
    match step {
        Step::CreateNetns { .. }
        | Step::CreateVeth { .. }
        | Step::CreateTap { .. }
        | Step::CreateWire { .. }
        | Step::PairVms { .. }
        | Step::CreateBridge { .. }
        | Step::CreateTunnel { .. }
        | Step::CreateMacvlan { .. }
        | Step::CreateHostVeth { .. } => Some(|| Phase::CreateLinks),
        Step::SetMaster { .. }
        | Step::Patch { .. }
        | Step::AddAltname { .. }
        | Step::SetSysctl { .. }
        | Step::AddAddress { .. }
        | Step::SetUp { .. }
        | Step::AddRoute { .. } => Some(|| Phase::Configure),
        Step::NetnsTool { .. } => Some(|| Phase::Tools),
        Step::Exec { .. } => None,
    }
}

/// The links and networks the lab captures.
pub fn captured(lab: &Lab) -> Vec<String> {
    lab.links
        .iter()
        .filter(|l| l.capture)
        .map(|l| l.name.clone())
        .chain(
            lab.networks
                .iter()
                .filter(|n| n.capture)
                .map(|n| n.name.value.clone()),
        )
        .collect()
}

/// Does bring-up wait for `node`?
fn waits_for(node: &warren_topology::model::Node) -> bool {
    kinds::info(node.kind).always_waits
        || node
            .ready
            .as_ref()
            .is_some_and(|r| r.exec.is_some() || r.console.is_some())
        || node
            .containers
            .iter()
            .any(|m| m.ready.as_ref().is_some_and(|r| r.exec.is_some()))
        // A vm with `console.login` is ready once logged in.
        || node
            .vm
            .as_ref()
            .and_then(|v| v.console.as_ref())
            .is_some_and(|c| c.login.is_some())
}

/// Plans the bring-up of a validated lab.
pub fn plan(lab: &Lab) -> BringUp {
    let network = warren_topology::plan::plan(lab);
    let mut phases: Vec<Phase> = lab
        .nodes
        .iter()
        .filter(|n| kinds::info(n.kind).takes_image || !n.containers.is_empty())
        .map(|n| Phase::Prepare {
            node: n.name.value.clone(),
            // The node's image, then its containers' (`containers:`).
            image: n
                .container
                .iter()
                .map(|c| c.image.as_str())
                .chain(n.containers.iter().map(|m| m.container.image.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    phases.push(Phase::Init);
    phases.push(Phase::CreateLinks);
    let names = captured(lab);
    if !names.is_empty() {
        phases.push(Phase::Captures { names });
    }
    phases.push(Phase::Configure);
    let wires: Vec<String> = network
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateWire { link, .. } => Some(link.clone()),
            _ => None,
        })
        .collect();
    if !wires.is_empty() {
        phases.push(Phase::Wires { links: wires });
    }
    phases.push(Phase::Carrier);
    if network
        .steps
        .iter()
        .any(|s| matches!(s, Step::NetnsTool { .. }))
    {
        phases.push(Phase::Tools);
    }
    let waited = start_nodes(lab, &mut phases);
    let wait = |before: bool| {
        lab.nodes
            .iter()
            .filter(move |n| kinds::info(n.kind).ready_before_commands == before && waits_for(n))
            .filter(|n| !waited.contains(&n.name.value))
            .map(|n| Phase::WaitReady {
                node: n.name.value.clone(),
                kind: n.kind,
            })
    };
    phases.extend(wait(true));
    phases.extend(network.steps.iter().filter_map(|s| match s {
        Step::Exec { node, command } => Some(Phase::Exec {
            node: node.clone(),
            command: command.clone(),
        }),
        _ => None,
    }));
    phases.extend(wait(false));
    phases.extend(lab.forwards.iter().map(|f| Phase::Forward {
        host: f.host,
        node: f.node.clone(),
        port: f.port,
        proto: f.proto,
    }));
    phases.push(Phase::Ready);
    BringUp {
        lab: lab.name.clone(),
        network,
        steps: phases,
    }
}

/// Plans the nodes' starts in their start order
/// ([`warren_topology::order::start_order`]): before each node, a wait
/// for every node it starts after (unless an earlier step waited already)
/// and its delay. Returns the nodes whose readiness was waited for here.
fn start_nodes(lab: &Lab, phases: &mut Vec<Phase>) -> Vec<String> {
    // A validated lab has no cycle; file order is the fallback regardless.
    let order =
        warren_topology::order::start_order(lab).unwrap_or_else(|_| (0..lab.nodes.len()).collect());
    let mut waited: Vec<String> = Vec::new();
    for n in order.into_iter().map(|i| &lab.nodes[i]) {
        for a in &n.after {
            let Some(other) = lab.node(&a.node.value) else {
                continue;
            };
            let name = &other.name.value;
            let wait = match a.when {
                StartAfter::Started => None,
                StartAfter::Ready => waits_for(other).then(|| Phase::WaitReady {
                    node: name.clone(),
                    kind: other.kind,
                }),
                StartAfter::Completed => Some(Phase::WaitCompleted { node: name.clone() }),
            };
            if let Some(w) = wait.filter(|w| !phases.contains(w)) {
                waited.push(name.clone());
                phases.push(w);
            }
        }
        if let Some(delay) = n.start_delay.filter(|d| d.0 > 0) {
            phases.push(Phase::Delay {
                node: n.name.value.clone(),
                delay,
            });
        }
        phases.push(Phase::StartNode {
            node: n.name.value.clone(),
            kind: n.kind,
            after: n
                .after
                .iter()
                .map(|a| {
                    let when = StartAfter::ALL
                        .iter()
                        .find(|(_, w)| *w == a.when)
                        .map_or("ready", |(s, _)| s);
                    format!("{} {when}", a.node.value)
                })
                .collect(),
        });
    }
    waited
}

impl BringUp {
    /// The kernel steps a network phase applies, in plan order.
    pub fn network_steps(&self, phase: &Phase) -> impl Iterator<Item = &Step> {
        self.network
            .steps
            .iter()
            .filter(move |s| network_phase(s).is_some_and(|p| p() == *phase))
    }

    /// Every line `up --dry-run` prints: each phase, the kernel steps of
    /// a network phase under it.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.steps {
            out.push(p.to_string());
            // Only these phases have kernel steps; asking each node's
            // phases too walked every step once per node.
            if matches!(p, Phase::CreateLinks | Phase::Configure | Phase::Tools) {
                out.extend(self.network_steps(p).map(|s| format!("  {s}")));
            }
        }
        out
    }
}

impl fmt::Display for BringUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = 0;
        for line in self.lines() {
            if let Some(step) = line.strip_prefix("  ") {
                writeln!(f, "         {step}")?;
            } else {
                n += 1;
                writeln!(f, "{n:>5}  {line}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Prepare { node, image } => write!(f, "prepare image {image} for node {node}"),
            Phase::Init => f.write_str("start the lab's init (its pid namespace)"),
            Phase::CreateLinks => f.write_str("create namespaces and links:"),
            Phase::Captures { names } => write!(f, "start captures: {}", names.join(", ")),
            Phase::Configure => f.write_str("configure interfaces:"),
            Phase::Wires { links } => write!(f, "start wires: {}", links.join(", ")),
            Phase::Carrier => f.write_str("wait for carrier on every interface brought up"),
            Phase::Tools => f.write_str("run interface tools:"),
            Phase::Delay { node, delay } => write!(f, "wait {delay} before starting node {node}"),
            Phase::WaitCompleted { node } => {
                write!(f, "wait for node {node} to complete (exit status 0)")
            }
            Phase::StartNode { node, kind, after } => {
                write!(f, "start {} node {node}", kind.as_str())?;
                if !after.is_empty() {
                    write!(f, " (after {})", after.join(", "))?;
                }
                Ok(())
            }
            Phase::WaitReady { node, kind } => write!(
                f,
                "wait for node {node}: ready when {}",
                kinds::info(*kind).ready_when
            ),
            Phase::Exec { node, command } => match command {
                Command::Shell(s) => write!(f, "exec {node}: sh -c {s:?}"),
                Command::Argv(a) => write!(f, "exec {node}: {a:?}"),
            },
            Phase::Forward {
                host,
                node,
                port,
                proto,
            } => write!(
                f,
                "forward {} 127.0.0.1:{host} to {node} port {port}",
                match proto {
                    Proto::Tcp => "tcp",
                    Proto::Udp => "udp",
                }
            ),
            Phase::Ready => f.write_str("lab ready"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(text: &str) -> Lab {
        warren_topology::load(text, "t").lab.expect("valid lab")
    }

    fn position(b: &BringUp, pred: impl Fn(&Phase) -> bool) -> usize {
        b.steps
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing phase in {:?}", b.steps))
    }

    const ALL: &str = "name: t
nodes:
  c: {exec: [echo hi]}
  web: {kind: container, image: busybox, ready: {exec: [true]}}
  os: {kind: system, image: 'debian:systemd'}
  dut: {kind: vm, kernel: k, ready: {console: UP}}
links:
  - endpoints: [c:eth1, dut:eth0]
    ipv4: [10.2.1.2/24, ~]
  - endpoints: [web:eth1, os:eth1]
    ipv4: [10.2.2.1/24, 10.2.2.2/24]
    impair: {delay: 5ms}
forwards:
  - {host: 18080, to: 'web:eth1', port: 80}
";

    #[test]
    fn every_step_of_bring_up_is_planned_in_order() {
        let b = plan(&lab(ALL));
        let prepare = position(
            &b,
            |p| matches!(p, Phase::Prepare { node, .. } if node == "web"),
        );
        let init = position(&b, |p| *p == Phase::Init);
        let links = position(&b, |p| *p == Phase::CreateLinks);
        let captures = position(&b, |p| matches!(p, Phase::Captures { .. }));
        let configure = position(&b, |p| *p == Phase::Configure);
        let wires = position(&b, |p| matches!(p, Phase::Wires { .. }));
        let start_dut = position(
            &b,
            |p| matches!(p, Phase::StartNode { node, .. } if node == "dut"),
        );
        let dut_ready = position(
            &b,
            |p| matches!(p, Phase::WaitReady { node, .. } if node == "dut"),
        );
        let exec = position(&b, |p| matches!(p, Phase::Exec { node, .. } if node == "c"));
        let os_ready = position(
            &b,
            |p| matches!(p, Phase::WaitReady { node, .. } if node == "os"),
        );
        let forward = position(&b, |p| matches!(p, Phase::Forward { host: 18080, .. }));
        let order = [
            prepare, init, links, captures, configure, wires, start_dut, dut_ready, exec, os_ready,
            forward,
        ];
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{order:?}: {:#?}",
            b.steps
        );
        assert_eq!(b.steps.last(), Some(&Phase::Ready));
        // The netns node waits for nothing; every node starts.
        assert!(
            !b.steps
                .iter()
                .any(|p| matches!(p, Phase::WaitReady { node, .. } if node == "c"))
        );
        let starts = b
            .steps
            .iter()
            .filter(|p| matches!(p, Phase::StartNode { .. }));
        assert_eq!(starts.count(), 4);
    }

    #[test]
    fn the_dry_run_lists_each_phase_with_its_kernel_steps_under_it() {
        let b = plan(&lab(ALL));
        let text = b.to_string();
        let links = text.find("create namespaces and links:").expect(&text);
        let veth = text.find("create wire web:eth1 <-> os:eth1").expect(&text);
        let configure = text.find("configure interfaces:").expect(&text);
        let address = text.find("address web:eth1 10.2.2.1/24").expect(&text);
        let ready = text.find("lab ready").expect(&text);
        assert!(
            links < veth && veth < configure && configure < address && address < ready,
            "{text}"
        );
        assert!(
            text.contains("prepare image busybox for node web"),
            "{text}"
        );
        assert!(
            text.contains("wait for node dut: ready when its console prints"),
            "{text}"
        );
        assert!(
            text.contains("forward tcp 127.0.0.1:18080 to web port 80"),
            "{text}"
        );
        // Every kernel step of the plan is listed exactly once.
        let listed: usize = b.steps.iter().map(|p| b.network_steps(p).count()).sum();
        let execs = b
            .network
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Exec { .. }))
            .count();
        assert_eq!(listed + execs, b.network.steps.len());
    }

    #[test]
    fn nodes_start_in_their_start_order_after_the_waits_they_ask_for() {
        let b = plan(&lab("name: t
nodes:
  web: {kind: container, image: busybox, after: {db: ready, seed: completed, log: started}, start_delay: 2s}
  db: {kind: container, image: busybox, ready: {exec: [true]}}
  seed: {kind: container, image: busybox, after: [db]}
  log: {kind: container, image: busybox}
  other: {after: [db]}
"));
        let starts: Vec<&str> = b
            .steps
            .iter()
            .filter_map(|p| match p {
                Phase::StartNode { node, .. } => Some(node.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(starts, ["db", "seed", "log", "web", "other"]);
        let at = |f: &dyn Fn(&Phase) -> bool| position(&b, f);
        let start = |n: &'static str| move |p: &Phase| matches!(p, Phase::StartNode { node, .. } if node == n);
        let db_ready = at(&|p| matches!(p, Phase::WaitReady { node, .. } if node == "db"));
        let seed_done = at(&|p| matches!(p, Phase::WaitCompleted { node } if node == "seed"));
        let delay = at(&|p| matches!(p, Phase::Delay { node, .. } if node == "web"));
        let order = [
            at(&start("db")),
            db_ready,
            at(&start("seed")),
            at(&start("log")),
            seed_done,
            delay,
            at(&start("web")),
            at(&start("other")),
        ];
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{order:?}: {:#?}",
            b.steps
        );
        // db's readiness is waited for once, before seed starts.
        let db_waits = b
            .steps
            .iter()
            .filter(|p| matches!(p, Phase::WaitReady { node, .. } if node == "db"));
        assert_eq!(db_waits.count(), 1);
        let text = b.to_string();
        assert!(
            text.contains("start container node web (after db ready, seed completed, log started)"),
            "{text}"
        );
        assert!(text.contains("wait 2s before starting node web"), "{text}");
        assert!(
            text.contains("wait for node seed to complete (exit status 0)"),
            "{text}"
        );
    }

    #[test]
    fn a_lab_without_captures_wires_or_tools_plans_none() {
        let b = plan(&lab(
            "name: t\ncapture: none\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n",
        ));
        assert!(
            !b.steps.iter().any(|p| matches!(
                p,
                Phase::Captures { .. }
                    | Phase::Wires { .. }
                    | Phase::Tools
                    | Phase::WaitReady { .. }
            )),
            "{:?}",
            b.steps
        );
    }
}
