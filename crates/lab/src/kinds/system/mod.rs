//! `system` nodes: systemd as PID 1 on an overlay of an OS image, with a
//! cgroup of its own, its lab interfaces rendered by its `netconf` renderer,
//! its `/dev/console` a pty logged like a vm's serial console (with a
//! root shell on it), ready once `systemctl is-system-running` says its
//! boot has finished, and its commands started from a clean environment
//! as systemd's own services are.

pub mod setup;

use super::oci::{self, OciProcess};
use super::{
    ExecCommand, ExecError, ExecSpec, HandleInfo, Kind, KindInfo, NodeError, NodeHandle, Prepared,
    ReadyCx, StartCx, Stop,
};
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use warren_runtime::container::{NOTIFY_SOCKET, SYSTEM_CAPABILITIES, SystemBoot};
use warren_runtime::procs::ProcessId;
use warren_runtime::vm::{Console, PtyConsole};
use warren_topology::model::{Node, NodeKind};

pub use setup::CONSOLE_SHELL_UP;

/// The `system` kind.
pub struct System;

static INFO: KindInfo = KindInfo {
    kind: NodeKind::System,
    takes_image: true,
    has_console: true,
    has_netns: true,
    runs_commands: true,
    pauses: false,
    ready_before_commands: false,
    always_waits: true,
    ready_when: "systemd has finished booting, then its ready.console and ready.exec",
};

impl Kind for System {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    /// The image, with systemd installed when the node asks for
    /// `provision: true` (once per image, see [`crate::provision`]).
    fn prepare(
        &self,
        node: &Node,
        program: &Path,
        image: Option<crate::images::Resolved>,
    ) -> Result<Prepared, NodeError> {
        let prepared = oci::resolve(node, image)?;
        let c = node.container.clone().unwrap_or_default();
        let (true, Some(image)) = (c.provision, prepared.image.clone()) else {
            return Ok(prepared);
        };
        let image = crate::provision::provisioned(&c.image, image, program).map_err(|source| {
            NodeError::Provision {
                node: node.name.value.clone(),
                image: c.image.clone(),
                source: Box::new(source),
            }
        })?;
        Ok(Prepared {
            image: Some(image),
            ..Prepared::default()
        })
    }

    fn start(
        &self,
        cx: &mut StartCx<'_>,
        node: &Node,
        prepared: &Prepared,
    ) -> Result<Box<dyn NodeHandle>, NodeError> {
        let name = &node.name.value;
        let err = |source: io::Error| NodeError::Start {
            node: name.clone(),
            source,
        };
        let image = oci::image(node, prepared)?;
        let c = node.container.clone().unwrap_or_default();
        if c.cmd.is_none() && !crate::provision::has_systemd(&image.layers) {
            return Err(err(io::Error::other(format!(
                "image {} has no systemd (/lib/systemd/systemd); a system node needs an OS image with systemd installed, or `provision: true`",
                c.image
            ))));
        }
        let dir = oci::node_dir(cx.dir, name);
        // The console is a pty logged like a vm's serial console; systemd
        // writes its boot there and runs a getty on it.
        let logs = cx.state.results.join("console");
        std::fs::create_dir_all(&logs).map_err(err)?;
        std::fs::create_dir_all(&dir).map_err(err)?;
        let console = PtyConsole::start(
            &logs.join(format!("{name}.log")),
            &logs.join(format!("{name}.txt")),
            &dir.join("console.sock"),
            Some(CONSOLE_SHELL_UP),
        )
        .map_err(|e| err(io::Error::other(e)))?;
        // systemd says when its boot has finished on this socket. A path
        // too long for a socket address only costs the wait its speed.
        let notify_path = dir.join("notify");
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).ok();
        let mut handle = Running {
            process: None,
            cgroups: (cx.lab.name.clone(), name.clone()),
            console: Some(console),
            notify,
        };
        let mut spec = oci::spec_for(cx.lab, node, image, cx.state, &dir).map_err(err)?;
        spec.capabilities = oci::capabilities(SYSTEM_CAPABILITIES, &c).map_err(err)?;
        // The image's init boots unless the lab file says otherwise.
        spec.argv = c
            .entrypoint
            .unwrap_or_default()
            .into_iter()
            .chain(c.cmd.unwrap_or_else(|| vec!["/sbin/init".into()]))
            .collect();
        spec.env.push(("container".into(), "warren".into()));
        if handle.notify.is_some() {
            spec.env
                .push(("NOTIFY_SOCKET".into(), NOTIFY_SOCKET.into()));
        }
        let upper = dir.join("upper");
        if node.netconf.is_some() {
            setup::render_netconf(node, &upper, &image.layers).map_err(err)?;
        }
        setup::console_autologin(&upper).map_err(err)?;
        spec.system = Some(SystemBoot {
            cgroups: setup::create_cgroups(&cx.lab.name, name, &mut |u| cx.journal.undo(u))
                .map_err(err)?,
        });
        spec.console = handle
            .console
            .as_ref()
            .map(|c| c.slave_path().to_path_buf());
        spec.notify = handle.notify.as_ref().map(|_| notify_path);
        handle.process = Some(oci::launch(cx, name, &spec, libc::SIGRTMIN() + 3).map_err(err)?);
        Ok(Box::new(handle))
    }

    /// From a clean environment holding only a default `PATH` and the
    /// extra environment, as systemd starts its own services (the node's
    /// `env:` is its init's), optionally as a transient unit; an empty
    /// command is the image's `/bin/sh`.
    fn exec(&self, _: &str, _: &Node, cmd: &ExecCommand<'_>) -> Result<ExecSpec, ExecError> {
        let sh = ["/bin/sh".to_string()];
        let argv = if cmd.argv.is_empty() { &sh } else { cmd.argv };
        Ok(ExecSpec {
            argv: command_argv(argv, cmd.env, cmd.unit),
            env: Vec::new(),
        })
    }
}

/// `argv` as it runs in a system node: from a clean environment holding
/// only a default `PATH` and `env`, as systemd's own services start, and
/// as a transient unit through `systemd-run` when `unit` is set.
pub fn command_argv(argv: &[String], env: &[(String, String)], unit: bool) -> Vec<String> {
    let mut out: Vec<String> = vec![
        "env".into(),
        "-i".into(),
        format!("PATH={}", crate::images::DEFAULT_PATH),
    ];
    out.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    if unit {
        out.extend(
            [
                "systemd-run",
                "--wait",
                "--pipe",
                "--quiet",
                "--collect",
                "--",
            ]
            .map(String::from),
        );
    }
    out.extend(argv.iter().cloned());
    out
}

/// A running system node.
#[derive(Debug)]
struct Running {
    /// None until launched, and after stop.
    process: Option<OciProcess>,
    /// `(lab, node)`, whose cgroups go once the node's processes have.
    cgroups: (String, String),
    /// `/dev/console`; dropped (drained, logs complete) after the helper
    /// is gone.
    console: Option<PtyConsole>,
    /// The sd_notify socket (see `ContainerSpec::notify`).
    notify: Option<UnixDatagram>,
}

/// The helper goes first (it holds the node's processes), then the
/// cgroups they were in; the console drains after both.
impl Drop for Running {
    fn drop(&mut self) {
        drop(self.process.take());
        setup::remove_cgroups(&self.cgroups.0, &self.cgroups.1);
    }
}

impl NodeHandle for Running {
    fn ready(&self, node: &Node, cx: &ReadyCx<'_>) -> Result<(), NodeError> {
        let name = &node.name.value;
        // The boot's progress names the console log, whose last line a
        // terminal shows while it lasts.
        let console = cx.state.results.join("console").join(format!("{name}.txt"));
        tracing::info!(progress = "start", step = "boot", node = %name, console = %console.display(), "booting");
        wait_booted(node, cx, self.notify.as_ref())?;
        if let Some(pattern) = node.ready.as_ref().and_then(|r| r.console.as_deref())
            && let Some(console) = &self.console
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
        tracing::info!(progress = "done", step = "boot", node = %name, "ready");
        super::wait_probe(node, cx)
    }

    fn stop(&mut self, how: Stop) -> Result<Vec<i32>, NodeError> {
        let (Stop::End { grace } | Stop::Node { grace }) = how;
        Ok(self
            .process
            .as_mut()
            .map(|p| p.stop(grace))
            .unwrap_or_default())
    }

    fn console(&self) -> Option<Console> {
        self.console.as_ref().map(PtyConsole::console)
    }

    fn inspect(&self) -> HandleInfo {
        let init = self.process.as_ref().map(|p| p.init);
        HandleInfo {
            init,
            pids: init.map(|i| i.pid).into_iter().collect(),
            console_socket: self
                .console
                .as_ref()
                .map(|c| c.share_socket().to_path_buf()),
            members: Vec::new(),
        }
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
    cx: &ReadyCx<'_>,
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
    if let Some(init) = cx.state.containers.get(&name) {
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
        let out = super::spawn_command(cx.state, &name, &argv, cx.program)
            .output()
            .map_err(|source| NodeError::Start {
                node: name.clone(),
                source,
            })?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        tracing::debug!(node = %name, state = %state, "readiness: systemctl is-system-running");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_in_an_os_starts_from_a_clean_environment() {
        let env = [("A".to_string(), "1".to_string())];
        let argv = command_argv(&["id".to_string()], &env, false);
        assert_eq!(argv[..2], ["env", "-i"]);
        assert!(argv[2].starts_with("PATH="), "{argv:?}");
        assert_eq!(argv[3..], ["A=1", "id"]);
    }

    #[test]
    fn a_unit_runs_through_systemd_run_and_waits() {
        let argv = command_argv(&["id".to_string()], &[], true);
        let at = argv
            .iter()
            .position(|a| a == "systemd-run")
            .expect("systemd-run");
        assert!(argv[at..].contains(&"--wait".to_string()), "{argv:?}");
        assert_eq!(argv.last().map(String::as_str), Some("id"));
    }

    #[test]
    fn ready_means_sd_notify_said_ready() {
        let (a, b) = UnixDatagram::pair().expect("socket pair");
        a.send(b"STATUS=booting\n").expect("send");
        assert!(
            !wait_notified(&b, Duration::from_millis(50)),
            "not ready yet"
        );
        a.send(b"STATUS=up\nREADY=1\n").expect("send");
        assert!(wait_notified(&b, Duration::from_secs(5)));
    }
}
