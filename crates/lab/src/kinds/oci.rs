//! What container and system nodes share: an image resolved before
//! bring-up, a [`ContainerSpec`] on an overlay of its layers (the upper
//! layer is kept, so a restarted node finds the files it wrote), and the
//! `warren __container` helper that runs it, dies with the supervisor and
//! takes the container with it.

use super::{NodeError, Prepared, StartCx};
use crate::images;
use crate::state::LabState;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use warren_runtime::container::{BindMount, ContainerSpec, DEFAULT_CAPABILITIES, Rootfs};
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;
use warren_topology::model::Node;

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

/// `node`'s image: `given` when `up` resolved it already, else resolved
/// here (pulled into the store if missing).
pub(super) fn resolve(node: &Node, given: Option<images::Resolved>) -> Result<Prepared, NodeError> {
    let c = node.container.clone().unwrap_or_default();
    if given.is_some() {
        tracing::debug!(node = %node.name.value, image = %c.image, "image resolved by up");
    }
    let image = match given {
        Some(image) => image,
        None => images::resolve(&c.image, false).map_err(|source| NodeError::Image {
            node: node.name.value.clone(),
            image: c.image.clone(),
            source: Box::new(source),
        })?,
    };
    Ok(Prepared {
        image: Some(image),
        ..Prepared::default()
    })
}

/// The image [`resolve`] found for `node`.
pub(super) fn image<'p>(
    node: &Node,
    prepared: &'p Prepared,
) -> Result<&'p images::Resolved, NodeError> {
    prepared.image.as_ref().ok_or_else(|| NodeError::Start {
        node: node.name.value.clone(),
        source: io::Error::other("its image was not resolved before it started"),
    })
}

/// The folder of `node`'s spec, overlay and channels in the state folder.
pub(super) fn node_dir(state_dir: &Path, node: &str) -> PathBuf {
    state_dir.join("nodes").join(node)
}

/// The spec of an application container: the image's entrypoint and
/// command unless the lab file overrides them, the image's environment
/// under the node's `env:`, the default capabilities with those the lab
/// file adds and drops, bind sources from the lab file's folder. A system
/// node adjusts it (see [`super::system`]).
pub(super) fn spec_for(
    lab: &Lab,
    node: &Node,
    image: &images::Resolved,
    st: &LabState,
    dir: &Path,
) -> io::Result<ContainerSpec> {
    let c = node.container.clone().unwrap_or_default();
    let app = App {
        c: &c,
        env: &node.env,
        node: &node.name.value,
        member: None,
    };
    app_spec(lab, &app, image, st, dir)
}

/// What an application container is made of: the node's own (a
/// container or system node) or one of its `containers:`.
pub(super) struct App<'a> {
    /// Image and process settings.
    pub c: &'a warren_topology::model::ContainerSpec,
    /// Environment over the image's.
    pub env: &'a std::collections::BTreeMap<String, String>,
    /// The node whose network namespace it runs in.
    pub node: &'a str,
    /// Its name among the node's `containers:`, for a member.
    pub member: Option<&'a str>,
}

/// The spec of `app` in its node's network namespace (see [`spec_for`]).
pub(super) fn app_spec(
    lab: &Lab,
    app: &App<'_>,
    image: &images::Resolved,
    st: &LabState,
    dir: &Path,
) -> io::Result<ContainerSpec> {
    let c = app.c.clone();
    if c.userns && st.rootless {
        // The lab's own user namespace maps one id: there is no block to
        // give a node (and the whole lab is confined by it already).
        return Err(io::Error::other(
            "userns: true needs a lab run as root; a rootless lab already runs in a user namespace of its own",
        ));
    }
    let caps = capabilities(DEFAULT_CAPABILITIES, &c)?;
    let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    for p in [&upper, &work, &merged] {
        std::fs::create_dir_all(p)?;
    }
    let entrypoint = c.entrypoint.unwrap_or_else(|| image.entrypoint.clone());
    let cmd = c.cmd.unwrap_or_else(|| image.cmd.clone());
    let mut env = image.env.clone();
    for (k, v) in app.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env.push(("WARREN_LAB".into(), lab.name.clone()));
    env.push(("WARREN_NODE".into(), app.node.to_string()));
    if let Some(m) = app.member {
        env.push(("WARREN_CONTAINER".into(), m.to_string()));
    }
    Ok(ContainerSpec {
        rootfs: Rootfs::Overlay {
            lowers: image.layers.clone(),
            upper,
            work,
            merged,
            scratch: None,
        },
        netns: st.netns_path(app.node),
        hostname: c.hostname.clone().unwrap_or_else(|| app.node.to_string()),
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
        hosts: super::hosts_file(lab) + &extra_hosts(&c.extra_hosts),
        resolv: "nameserver 127.0.0.1\n".into(),
        capabilities: caps,
        privileged: c.privileged,
        system: None,
        console: None,
        notify: None,
        // One id block per lab (see warren_runtime::security::idmap).
        userns: c
            .userns
            .then(|| warren_runtime::security::idmap::IdRange::for_name(&lab.name)),
        pidns: None,
        tmpfs: c.tmpfs.clone(),
        init: c.init,
    })
}

/// The node's own `/etc/hosts` lines (`extra_hosts`), after the lab's.
fn extra_hosts(hosts: &std::collections::BTreeMap<String, Vec<std::net::IpAddr>>) -> String {
    hosts
        .iter()
        .flat_map(|(name, addrs)| addrs.iter().map(move |a| format!("{a}\t{name}\n")))
        .collect()
}

/// `base` with the capabilities the lab file adds (`capabilities:`) and
/// drops (`cap_drop:`), as Docker combines them.
pub(super) fn capabilities(
    base: &[&str],
    c: &warren_topology::model::ContainerSpec,
) -> io::Result<Vec<String>> {
    warren_runtime::security::caps::resolve(base, &c.capabilities, &c.cap_drop)
        .map_err(io::Error::other)
}

/// A container's `warren __container` helper and the container's init.
#[derive(Debug)]
pub(super) struct OciProcess {
    helper: Child,
    /// The container's init (host pid).
    pub init: ProcessId,
    /// The signal that asks it to stop: SIGRTMIN+3 for systemd, else SIGTERM.
    stop_signal: i32,
}

impl OciProcess {
    /// Stops the container: its stop signal (forwarded by its helper), up
    /// to `grace` to exit, then SIGKILL. Returns the init's pid.
    pub fn stop(&mut self, grace: Duration) -> Vec<i32> {
        self.init.signal_number(self.stop_signal);
        self.wait(grace, Duration::from_millis(2));
        // Killing the init lets the helper record the exit code before it
        // goes; the kernel may take a while to empty a pid namespace on a
        // busy host, so give it time before the helper is killed too.
        self.init.signal(nix::sys::signal::Signal::SIGKILL);
        self.wait(Duration::from_secs(10), Duration::from_millis(5));
        let _ = self.helper.kill();
        let _ = self.helper.wait();
        vec![self.init.pid]
    }

    /// Waits up to `wait` for the helper to exit, looking every `every`.
    fn wait(&mut self, wait: Duration, every: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && matches!(self.helper.try_wait(), Ok(None)) {
            std::thread::sleep(every);
        }
    }
}

/// A container left running when bring-up fails is killed with its helper.
impl Drop for OciProcess {
    fn drop(&mut self) {
        if matches!(self.helper.try_wait(), Ok(None)) {
            self.init.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.helper.kill();
            let _ = self.helper.wait();
        }
    }
}

/// Starts `spec` as node `name`: writes the spec, starts the helper with
/// the node's log as stdout and stderr, and waits for the container's
/// init pid. `stop_signal` is what asks the init to stop.
pub(super) fn launch(
    cx: &StartCx<'_>,
    name: &str,
    spec: &ContainerSpec,
    stop_signal: i32,
) -> io::Result<OciProcess> {
    let dir = node_dir(cx.dir, name);
    let spec_path = dir.join("spec.json");
    std::fs::write(
        &spec_path,
        serde_json::to_vec_pretty(spec).map_err(io::Error::other)?,
    )?;
    let logs = cx.state.results.join("logs");
    let log_path = logs.join(format!("{name}.log"));
    // A member's (`NODE/CONTAINER`) log is in its node's folder.
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let pid_file = dir.join("init.pid");
    // A pid left by an earlier run of the node is not this one's.
    let _ = std::fs::remove_file(&pid_file);
    let exit_file = logs.join(format!("{name}.exit"));
    let mut cmd = Command::new(cx.program);
    cmd.arg("__container")
        .arg("--spec")
        .arg(&spec_path)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--exit-file")
        .arg(&exit_file)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: the hook only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(warren_runtime::pidns::lab_child());
    }
    let mut helper = (cx.spawn)(cmd)?;
    let init = wait_for_pid(&pid_file, &mut helper, &log_path)?;
    tracing::debug!(node = name, init = init.pid, "container started");
    Ok(OciProcess {
        helper,
        init,
        stop_signal,
    })
}

/// Waits for the helper to write the container init's pid once the
/// command was started. A command that has already ended again (`true`)
/// did start: that is no error here (its `ready`, if any, decides), and
/// the node's process is recorded as gone.
fn wait_for_pid(pid_file: &Path, helper: &mut Child, log: &Path) -> io::Result<ProcessId> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let written = || {
        std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
    };
    loop {
        if let Some(pid) = written()
            && let Some(id) = ProcessId::of(pid)
        {
            return Ok(id);
        }
        if let Some(status) = helper.try_wait()? {
            if let Some(pid) = written() {
                // No live process starts at tick 0, so this identity is
                // never alive: `exec` then says the node has exited.
                return Ok(ProcessId { pid, start: 0 });
            }
            return Err(io::Error::other(format!(
                "the container exited before its command started ({status}); its output is in {}",
                log.display()
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("the container did not start within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_file_adds_to_and_drops_from_the_base_set() {
        let c = warren_topology::model::ContainerSpec {
            capabilities: vec!["NET_ADMIN".to_string()],
            cap_drop: vec!["CAP_KILL".to_string()],
            ..Default::default()
        };
        let caps = capabilities(&["CHOWN", "KILL"], &c).expect("known names");
        assert_eq!(caps, ["CHOWN", "NET_ADMIN"]);
    }

    #[test]
    fn an_application_container_runs_the_image_unless_the_file_says_otherwise() {
        let lab = warren_topology::load(
            "name: o\nnodes:\n  c:\n    kind: container\n    image: /srv/c\n    env: {PATH: /x}\n    cmd: [sleep, '9']\n",
            "o",
        )
        .lab
        .expect("valid lab");
        let node = lab.node("c").expect("node c");
        let image = images::Resolved {
            layers: vec![PathBuf::from("/l0")],
            entrypoint: vec!["/entry".into()],
            cmd: vec!["serve".into()],
            env: vec![("PATH".into(), "/bin".into()), ("HOME".into(), "/".into())],
            workdir: "/w".into(),
            user: None,
        };
        let st_dir = tempfile::tempdir().expect("tempdir");
        let st = LabState::for_tests(st_dir.path());
        let spec = spec_for(&lab, node, &image, &st, st_dir.path()).expect("spec");
        assert_eq!(spec.argv, ["/entry", "sleep", "9"]);
        assert_eq!(spec.workdir, "/w");
        let path: Vec<&str> = spec
            .env
            .iter()
            .filter(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(path, ["/x"], "the node's env wins over the image's");
        assert!(spec.env.contains(&("WARREN_NODE".into(), "c".into())));
        assert!(spec.system.is_none() && spec.console.is_none());
        assert!(
            spec.capabilities
                .iter()
                .any(|c| c == DEFAULT_CAPABILITIES[0])
        );
        assert_eq!(spec.userns, None, "no user namespace unless asked");
    }

    #[test]
    fn userns_from_the_defaults_gives_the_labs_id_block_and_is_refused_rootless() {
        let lab = warren_topology::load(
            "name: u\ndefaults: {userns: true}\nnodes:\n  c: {kind: container, image: /srv/c}\n  n: {}\n",
            "u",
        )
        .lab
        .expect("valid lab");
        let node = lab.node("c").expect("node c");
        let image = images::Resolved {
            layers: vec![PathBuf::from("/l0")],
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec![],
            workdir: "/".into(),
            user: None,
        };
        let st_dir = tempfile::tempdir().expect("tempdir");
        let mut st = LabState::for_tests(st_dir.path());
        let spec = spec_for(&lab, node, &image, &st, st_dir.path()).expect("spec");
        assert_eq!(
            spec.userns,
            Some(warren_runtime::security::idmap::IdRange::for_name("u"))
        );
        st.rootless = true;
        let err = spec_for(&lab, node, &image, &st, st_dir.path()).expect_err("rootless");
        assert!(err.to_string().contains("needs a lab run as root"), "{err}");
    }

    #[test]
    fn an_image_up_resolved_is_used_without_a_second_lookup() {
        // A root directory that does not exist: looking it up fails.
        let lab = warren_topology::load(
            "name: o\nnodes:\n  c: {kind: container, image: /nonexistent/warren-root}\n",
            "o",
        )
        .lab
        .expect("valid lab");
        let node = lab.node("c").expect("node c");
        let given = images::Resolved {
            layers: vec![PathBuf::from("/store/layer0")],
            entrypoint: Vec::new(),
            cmd: vec!["sh".into()],
            env: Vec::new(),
            workdir: "/".into(),
            user: None,
        };
        let prepared = resolve(node, Some(given)).expect("the image up resolved");
        let layers = prepared.image.map(|i| i.layers);
        assert_eq!(layers, Some(vec![PathBuf::from("/store/layer0")]));
        let looked_up = resolve(node, None).expect_err("no such directory");
        assert!(
            matches!(looked_up, NodeError::Image { .. }),
            "{looked_up:?}"
        );
    }
}
