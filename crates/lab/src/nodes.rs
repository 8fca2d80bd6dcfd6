//! Node processes other than `exec` commands: container nodes, started once
//! the lab's network is up (so their interfaces exist before the
//! entrypoint runs), probed for readiness, and stopped with SIGTERM then
//! SIGKILL.
//!
//! Each container runs under `warren __container`, a single-threaded helper
//! that dies with the supervisor and takes the container with it.

use crate::images;
use crate::state::LabState;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use warren_runtime::container::{
    BindMount, ContainerSpec, DEFAULT_CAPABILITIES, NOTIFY_SOCKET, Rootfs, SYSTEM_CAPABILITIES,
    SystemBoot,
};
use warren_runtime::procs::ProcessId;
use warren_runtime::vm::{Console, PtyConsole};
use warren_topology::Lab;
use warren_topology::model::{Node, NodeKind};

/// Errors starting or probing a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node's image could not be had.
    #[error("node {node}: image {image}")]
    Image {
        /// Node.
        node: String,
        /// Image reference.
        image: String,
        /// The cause.
        #[source]
        source: Box<images::ImageError>,
    },
    /// The node's process could not be started.
    #[error("starting node {node}")]
    Start {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// systemd could not be installed into the node's image.
    #[error("node {node}: provisioning image {image}")]
    Provision {
        /// Node.
        node: String,
        /// Image reference.
        image: String,
        /// The cause.
        #[source]
        source: Box<crate::provision::ProvisionError>,
    },
    /// The node did not become ready in time.
    #[error("node {node} was not ready after {secs} s ({why})")]
    NotReady {
        /// Node.
        node: String,
        /// Seconds waited.
        secs: u64,
        /// The last probe's outcome.
        why: String,
    },
}

/// A running container node.
#[derive(Debug)]
pub struct RunningNode {
    /// Node name.
    pub name: String,
    helper: Child,
    /// The container's init (host pid).
    pub init: ProcessId,
    /// The signal that asks it to stop: SIGRTMIN+3 for systemd, else SIGTERM.
    stop_signal: i32,
    /// `(lab, node)` of a system node, whose cgroups go at stop.
    cgroups: Option<(String, String)>,
    /// A system node's `/dev/console`; dropped (drained, logs complete)
    /// after the helper is gone.
    console: Option<PtyConsole>,
    /// A system node's sd_notify socket (see [`ContainerSpec::notify`]).
    notify: Option<UnixDatagram>,
}

impl RunningNode {
    /// A handle on the node's console reading from now on, if it has one.
    pub fn console(&self) -> Option<Console> {
        self.console.as_ref().map(PtyConsole::console)
    }

    /// The socket `warren console` attaches to, if the node has a console.
    pub fn console_socket(&self) -> Option<&Path> {
        self.console.as_ref().map(PtyConsole::share_socket)
    }
}

/// A container left running when bring-up fails is killed with its helper.
impl Drop for RunningNode {
    fn drop(&mut self) {
        if matches!(self.helper.try_wait(), Ok(None)) {
            self.init.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.helper.kill();
            let _ = self.helper.wait();
        }
        if let Some((lab, node)) = &self.cgroups {
            crate::system::remove_cgroups(lab, node);
        }
    }
}

/// Resolves every container node's image before anything is built, so a
/// missing image fails `up` early; a system node with `provision: true`
/// gets systemd installed (once per image, see [`crate::provision`]).
/// `program` is this executable.
pub fn resolve_images(
    lab: &Lab,
    program: &Path,
) -> Result<Vec<(String, images::Resolved)>, NodeError> {
    lab.nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Container | NodeKind::System))
        .map(|n| {
            let c = n.container.clone().unwrap_or_default();
            let node = n.name.value.clone();
            let resolved = images::resolve(&c.image, false).map_err(|source| NodeError::Image {
                node: node.clone(),
                image: c.image.clone(),
                source: Box::new(source),
            })?;
            let resolved = if c.provision {
                crate::provision::provisioned(&c.image, resolved, program).map_err(|source| {
                    NodeError::Provision {
                        node: node.clone(),
                        image: c.image.clone(),
                        source: Box::new(source),
                    }
                })?
            } else {
                resolved
            };
            Ok((node, resolved))
        })
        .collect()
}

/// `/etc/hosts` of the lab: every node's addresses under its name.
pub fn hosts_file(lab: &Lab) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for n in &lab.nodes {
        for i in &n.interfaces {
            for a in i.addresses() {
                s.push_str(&format!("{}\t{}", a.value.addr, n.name.value));
                n.aliases
                    .iter()
                    .for_each(|al| s.push_str(&format!(" {al}")));
                s.push('\n');
            }
        }
    }
    s
}

/// Host-side channels of a system node: its console's pty slave and its
/// notify socket.
struct Channels<'a> {
    console: Option<&'a Path>,
    notify: Option<PathBuf>,
}

fn spec_for(
    lab: &Lab,
    node: &Node,
    image: &images::Resolved,
    st: &LabState,
    dir: &Path,
    channels: Channels<'_>,
) -> io::Result<ContainerSpec> {
    let c = node.container.clone().unwrap_or_default();
    let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    for p in [&upper, &work, &merged] {
        std::fs::create_dir_all(p)?;
    }
    let system = node.kind == NodeKind::System;
    if system && c.cmd.is_none() && !crate::provision::has_systemd(&image.layers) {
        return Err(io::Error::other(format!(
            "image {} has no systemd (/lib/systemd/systemd); a system node needs an OS image with systemd installed, or `provision: true`",
            c.image
        )));
    }
    // A system node boots the image's init unless the lab file says otherwise.
    let (entrypoint, cmd) = if system {
        (
            c.entrypoint.unwrap_or_default(),
            c.cmd.unwrap_or_else(|| vec!["/sbin/init".into()]),
        )
    } else {
        (
            c.entrypoint.unwrap_or_else(|| image.entrypoint.clone()),
            c.cmd.unwrap_or_else(|| image.cmd.clone()),
        )
    };
    let mut env = image.env.clone();
    for (k, v) in &node.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env.push(("WARREN_LAB".into(), lab.name.clone()));
    env.push(("WARREN_NODE".into(), node.name.value.clone()));
    if system {
        env.push(("container".into(), "warren".into()));
        if channels.notify.is_some() {
            env.push(("NOTIFY_SOCKET".into(), NOTIFY_SOCKET.into()));
        }
        if node.netconf.is_some() {
            crate::system::render_netconf(node, &upper, &image.layers)?;
        }
        crate::system::console_autologin(&upper)?;
    }
    let base = if system {
        SYSTEM_CAPABILITIES
    } else {
        DEFAULT_CAPABILITIES
    };
    let caps = warren_runtime::security::caps::resolve(base, &c.capabilities, &c.cap_drop)
        .map_err(io::Error::other)?;
    Ok(ContainerSpec {
        rootfs: Rootfs::Overlay {
            lowers: image.layers.clone(),
            upper,
            work,
            merged,
            scratch: None,
        },
        netns: st.netns_path(&node.name.value),
        hostname: node.name.value.clone(),
        argv: entrypoint.into_iter().chain(cmd).collect(),
        env,
        workdir: c.workdir.unwrap_or_else(|| image.workdir.clone()),
        user: c.user.or_else(|| image.user.clone()),
        binds: c
            .binds
            .iter()
            .map(|b| BindMount {
                // Relative to the lab file's folder, as a vm's disk is.
                source: st
                    .file
                    .parent()
                    .map_or_else(|| PathBuf::from(&b.source), |d| d.join(&b.source)),
                target: b.target.clone(),
                readonly: b.readonly,
            })
            .collect(),
        hosts: hosts_file(lab),
        resolv: "nameserver 127.0.0.1\n".into(),
        capabilities: caps,
        privileged: c.privileged,
        system: if system {
            Some(SystemBoot {
                cgroups: crate::system::create_cgroups(&lab.name, &node.name.value)?,
            })
        } else {
            None
        },
        console: channels.console.map(Path::to_path_buf),
        notify: channels.notify,
    })
}

/// Starts every container node: writes its spec, starts the helper with the
/// node's log as stdout and stderr, and waits for the container's init pid.
pub fn start_containers(
    lab: &Lab,
    images: &[(String, images::Resolved)],
    st: &LabState,
    state_dir: &Path,
    program: &Path,
) -> Result<Vec<RunningNode>, NodeError> {
    images
        .iter()
        .filter(|(name, _)| lab.node(name).is_some())
        .map(|(name, image)| {
            start_container(lab, name, image, st, state_dir, program, &|mut c| c.spawn())
        })
        .collect()
}

/// What starts a node's helper process (see [`Spawner`]).
pub type Spawn<'s> = dyn Fn(Command) -> io::Result<Child> + 's;

/// A request to a [`Spawner`]: the command, and where its child goes.
type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// A thread that lives as long as the supervisor and starts the helpers
/// of nodes started again on request. A helper's parent-death signal fires
/// when the *thread* that forked it ends, and control requests are served
/// on threads that end with their connection.
#[derive(Debug)]
pub struct Spawner {
    jobs: mpsc::Sender<SpawnJob>,
}

impl Spawner {
    /// Starts the spawning thread; it ends when the spawner is dropped.
    pub fn start() -> io::Result<Spawner> {
        let (jobs, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("warren-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Spawner { jobs })
    }

    /// Spawns `cmd` from the spawning thread.
    pub fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let gone = || io::Error::other("the spawning thread is gone");
        let (tx, rx) = mpsc::channel();
        self.jobs.send((cmd, tx)).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

/// Starts container node `name` from `image` (its overlay's upper layer is
/// kept, so a restarted container finds the files it wrote).
pub fn start_container(
    lab: &Lab,
    name: &str,
    image: &images::Resolved,
    st: &LabState,
    state_dir: &Path,
    program: &Path,
    spawn: &Spawn<'_>,
) -> Result<RunningNode, NodeError> {
    let err = |source: io::Error| NodeError::Start {
        node: name.to_string(),
        source,
    };
    let node = lab
        .node(name)
        .ok_or_else(|| err(io::Error::other("the lab has no such node")))?;
    let logs = st.results.join("logs");
    let dir = state_dir.join("nodes").join(name);
    let system = node.kind == NodeKind::System;
    // A system node's console is a pty logged like a vm's serial
    // console; systemd writes its boot there and runs a getty on it.
    let console = if system {
        let logs = st.results.join("console");
        std::fs::create_dir_all(&logs).map_err(err)?;
        std::fs::create_dir_all(&dir).map_err(err)?;
        Some(
            PtyConsole::start(
                &logs.join(format!("{name}.log")),
                &logs.join(format!("{name}.txt")),
                &dir.join("console.sock"),
                Some(crate::system::CONSOLE_SHELL_UP),
            )
            .map_err(|e| err(io::Error::other(e)))?,
        )
    } else {
        None
    };
    // systemd says when its boot has finished on this socket. A path
    // too long for a socket address only costs the wait its speed.
    let notify_path = dir.join("notify");
    let notify = if system {
        let _ = std::fs::remove_file(&notify_path);
        UnixDatagram::bind(&notify_path).ok()
    } else {
        None
    };
    let channels = Channels {
        console: console.as_ref().map(PtyConsole::slave_path),
        notify: notify.as_ref().map(|_| notify_path),
    };
    let spec = spec_for(lab, node, image, st, &dir, channels).map_err(err)?;
    let spec_path = dir.join("spec.json");
    std::fs::write(
        &spec_path,
        serde_json::to_vec_pretty(&spec)
            .map_err(io::Error::other)
            .map_err(err)?,
    )
    .map_err(err)?;
    std::fs::create_dir_all(&logs).map_err(err)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("{name}.log")))
        .map_err(err)?;
    let pid_file = dir.join("init.pid");
    // A pid left by an earlier run of the node is not this one's.
    let _ = std::fs::remove_file(&pid_file);
    let exit_file = logs.join(format!("{name}.exit"));
    let mut cmd = Command::new(program);
    cmd.arg("__container")
        .arg("--spec")
        .arg(&spec_path)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--exit-file")
        .arg(&exit_file)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(err)?)
        .stderr(log);
    // SAFETY: the hook only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(warren_runtime::pidns::lab_child());
    }
    let mut helper = spawn(cmd).map_err(err)?;
    let init = wait_for_pid(&pid_file, &mut helper).map_err(err)?;
    Ok(RunningNode {
        name: name.to_string(),
        helper,
        init,
        stop_signal: if system {
            libc::SIGRTMIN() + 3
        } else {
            libc::SIGTERM
        },
        cgroups: system.then(|| (lab.name.clone(), name.to_string())),
        console,
        notify,
    })
}

fn wait_for_pid(pid_file: &Path, helper: &mut Child) -> io::Result<ProcessId> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(pid_file)
            && let Ok(pid) = text.trim().parse::<i32>()
            && let Some(id) = ProcessId::of(pid)
        {
            return Ok(id);
        }
        if let Some(status) = helper.try_wait()? {
            return Err(io::Error::other(format!(
                "the container exited before it started ({status}); see its log"
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("the container did not start within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for nodes with a `ready.exec` probe: the command, run inside the
/// node through `program __spawn`-style joining, must exit 0.
pub fn wait_ready(
    lab: &Lab,
    st: &LabState,
    program: &Path,
    running: &[RunningNode],
) -> Result<(), NodeError> {
    for node in lab.nodes.iter().filter(|n| n.kind == NodeKind::System) {
        let mine = running.iter().find(|r| r.name == node.name.value);
        wait_booted(node, st, program, mine.and_then(|r| r.notify.as_ref()))?;
        if let Some(pattern) = node.ready.as_ref().and_then(|r| r.console.as_deref())
            && let Some(console) = mine.and_then(|r| r.console.as_ref())
        {
            let timeout = node
                .ready
                .as_ref()
                .and_then(|r| r.timeout)
                .map_or(Duration::from_secs(120), |d| d.to_std());
            console
                .console_from_start()
                .expect(pattern, timeout)
                .map_err(|e| NodeError::NotReady {
                    node: node.name.value.clone(),
                    secs: timeout.as_secs(),
                    why: e.to_string(),
                })?;
        }
    }
    for node in &lab.nodes {
        wait_probe(node, st, program)?;
    }
    Ok(())
}

/// Waits for one node as [`wait_ready`] does: a system node's boot, then
/// its `ready.exec` probe.
pub fn wait_node_ready(
    node: &Node,
    st: &LabState,
    program: &Path,
    running: Option<&RunningNode>,
) -> Result<(), NodeError> {
    if node.kind == NodeKind::System {
        wait_booted(node, st, program, running.and_then(|r| r.notify.as_ref()))?;
    }
    wait_probe(node, st, program)
}

/// Runs a node's `ready.exec` probe until it exits 0 or time runs out.
fn wait_probe(node: &Node, st: &LabState, program: &Path) -> Result<(), NodeError> {
    let Some(ready) = &node.ready else {
        return Ok(());
    };
    let Some(probe) = &ready.exec else {
        return Ok(());
    };
    let name = node.name.value.clone();
    let timeout = ready
        .timeout
        .map_or(Duration::from_secs(60), |d| d.to_std());
    let interval = ready
        .interval
        .map_or(Duration::from_millis(200), |d| d.to_std());
    let started = Instant::now();
    loop {
        let out = probe_command(st, &name, &probe.argv(), program)
            .output()
            .map_err(|source| NodeError::Start {
                node: name.clone(),
                source,
            })?;
        if out.status.success() {
            return Ok(());
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

/// Waits until `systemctl is-system-running` inside a system node answers
/// one of `ready.system_state` (default `running` or `degraded`): the boot
/// has finished.
///
/// With the node's notify socket, and only finished-boot states accepted,
/// it asks once systemd has sent `READY=1` there (asking every second
/// meanwhile, in case the init never says).
fn wait_booted(
    node: &Node,
    st: &LabState,
    program: &Path,
    notify: Option<&UnixDatagram>,
) -> Result<(), NodeError> {
    let name = node.name.value.clone();
    let ready = node.ready.clone().unwrap_or_default();
    let states = if ready.system_state.is_empty() {
        vec!["running".to_string(), "degraded".to_string()]
    } else {
        ready.system_state.clone()
    };
    let timeout = ready
        .timeout
        .map_or(Duration::from_secs(120), |d| d.to_std());
    let interval = ready
        .interval
        .map_or(Duration::from_millis(100), |d| d.to_std());
    let started = Instant::now();
    // Until systemd listens on its private socket, systemctl cannot answer:
    // watch for the socket through the init's root, which costs a stat
    // rather than a process per look.
    if let Some(init) = st.containers.get(&name) {
        let private = PathBuf::from(format!("/proc/{}/root/run/systemd/private", init.pid));
        while !private.exists() && started.elapsed() < timeout {
            if !ProcessId::from(*init).alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let early = states
        .iter()
        .any(|s| matches!(s.as_str(), "initializing" | "starting"));
    let mut ready_sent = false;
    let argv = vec!["systemctl".to_string(), "is-system-running".to_string()];
    loop {
        let listen = notify.filter(|_| !early && !ready_sent);
        if let Some(sock) = listen {
            let left = timeout.saturating_sub(started.elapsed());
            ready_sent = wait_notified(sock, left.min(Duration::from_secs(1)));
        }
        let out = probe_command(st, &name, &argv, program)
            .output()
            .map_err(|source| NodeError::Start {
                node: name.clone(),
                source,
            })?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if states.contains(&state) {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(NodeError::NotReady {
                node: name,
                secs: timeout.as_secs(),
                why: format!("systemctl is-system-running says `{state}`"),
            });
        }
        // Listening for READY=1 is the pause, until it has come.
        if listen.is_none() {
            std::thread::sleep(interval);
        }
    }
}

/// Reads sd_notify messages until one says `READY=1` (true) or `wait`
/// passes (false).
fn wait_notified(sock: &UnixDatagram, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match sock.recv(&mut buf) {
            Ok(n) if buf[..n].split(|&b| b == b'\n').any(|l| l == b"READY=1") => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// A command that runs `argv` inside `node` through `warren __spawn`.
pub fn probe_command(st: &LabState, node: &str, argv: &[String], program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("__spawn");
    if let Some(ns) = crate::lifecycle::node_namespaces(st, node) {
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

/// Stops containers: SIGTERM to each (forwarded by its helper), up to
/// `grace` for all to exit, then SIGKILL.
pub fn stop_containers(nodes: &mut Vec<RunningNode>, grace: Duration) {
    for n in nodes.iter() {
        n.init.signal_number(n.stop_signal);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && nodes
            .iter_mut()
            .any(|n| matches!(n.helper.try_wait(), Ok(None)))
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    // Killing the init lets each helper record the exit code before it
    // goes; the kernel may take a while to empty a pid namespace on a busy
    // host, so give it time before the helpers are killed too.
    for n in nodes.iter() {
        n.init.signal(nix::sys::signal::Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && nodes
            .iter_mut()
            .any(|n| matches!(n.helper.try_wait(), Ok(None)))
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Dropping kills any helper that is still there.
    nodes.clear();
}
