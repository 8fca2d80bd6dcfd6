//! VM nodes: QEMU with every NIC on an fd the caller opened (a tap in the
//! peer's namespace, or a socket), every NIC's frames captured by
//! `filter-dump`, the serial console logged and scriptable, QMP.
//!
//! [`Vm::start`] turns a [`VmConfig`] into a running, resumed QEMU; the
//! returned [`Vm`] hands out [`Console`]s and its [`Qmp`] client and is
//! torn down by [`Vm::stop`] (QMP `quit`, then SIGKILL after a grace
//! period; sockets, overlay, variable store and cloud-init seed removed;
//! logs and captures kept). Dropping a `Vm` kills QEMU.
//!
//! QEMU gets a parent-death signal: it is killed when the *thread* that
//! called [`Vm::start`] exits, so call it from a thread that lives as long
//! as the VM should (the supervisor's main thread). A [`VmConfig::wrapper`]
//! that changes credentials clears that signal unless it re-arms it
//! (`setpriv --pdeathsig keep`).
//!
//! This module knows nothing of labs: it does not create namespaces, name
//! taps or bring interfaces up.
//!
//! ```no_run
//! use std::time::Duration;
//! use warren_kernel::{MacAddr, Netns};
//! use warren_runtime::vm::{Boot, NicBackend, NicSpec, Vm, VmConfig, open_tap};
//! # fn f(peer: &Netns) -> Result<(), Box<dyn std::error::Error>> {
//! let tap = open_tap(peer, "eth1")?; // r1:eth1 *is* the tap
//! let mut cfg = VmConfig::new(
//!     "dut",
//!     Boot::Kernel { kernel: "vmlinuz".into(), initrd: Some("initrd.gz".into()),
//!                    append: "console=ttyS0".into() },
//!     "/run/warren/lab1", "results/lab1");
//! cfg.nics.push(NicSpec::new(MacAddr::local(1), NicBackend::Tap(tap))
//!     .capture("results/lab1/dut-eth0.pcap"));
//! let vm = Vm::start(cfg)?;
//! vm.wait_ready("login:", Duration::from_secs(120))?;
//! let out = vm.console().run("uname -r", Duration::from_secs(10))?;
//! vm.stop(Duration::from_secs(5))?;
//! # Ok(()) }
//! ```

mod cmdline;
mod config;
mod launch;
pub mod nic;
pub mod qmp;
pub mod seed;

pub use config::{Accel, Boot, DiskFormat, Firmware, Ovmf, VmConfig, VmEvent, VmPaths};
// The console lives in `crate::console`; these names stay for callers.
pub use crate::console::{
    CommandOutput, Console, ConsoleError, ConsoleMatch, DETACH_KEY, PtyConsole,
    attach as attach_console,
};
pub use nic::{NicBackend, NicSpec, open_tap, socket_pair};
pub use qmp::{Qmp, QmpError, QmpEvent, QmpStatus};

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use launch::Launched;

/// Errors starting, driving or stopping a VM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VmError {
    /// A directory or file could not be created, read or copied.
    #[error("preparing {path}")]
    File {
        /// The path.
        path: PathBuf,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// A unix socket path is longer than `sun_path` allows.
    #[error("socket path {path} is longer than 107 bytes; use a shorter state directory")]
    SocketPath {
        /// The path.
        path: PathBuf,
    },
    /// `qemu-img create` failed.
    #[error("creating the disk overlay {path}: {stderr}")]
    Overlay {
        /// The overlay.
        path: PathBuf,
        /// qemu-img's message.
        stderr: String,
    },
    /// QEMU or qemu-img could not be started.
    #[error("starting {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// QEMU exited while starting.
    #[error("QEMU exited while starting ({status}): {output}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The tail of its output.
        output: String,
    },
    /// QEMU created neither socket in time (it was killed).
    #[error("QEMU did not create its sockets within {waited:?}: {output}")]
    NoSockets {
        /// How long we waited.
        waited: Duration,
        /// The tail of its output.
        output: String,
    },
    /// The console failed (or readiness timed out; the message shows the tail).
    #[error("console of VM {vm}")]
    Console {
        /// The VM.
        vm: String,
        /// Why.
        #[source]
        source: ConsoleError,
    },
    /// QMP failed.
    #[error("QMP of VM {vm}")]
    QmpOf {
        /// The VM.
        vm: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The console while starting.
    #[error("connecting the console")]
    ConsoleStart(#[source] ConsoleError),
    /// QMP while starting.
    #[error("connecting QMP")]
    QmpStart(#[source] QmpError),
    /// Waiting for QEMU failed.
    #[error("waiting for QEMU of VM {vm}")]
    Wait {
        /// The VM.
        vm: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
}

/// How a VM ended, from [`Vm::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    /// QEMU's exit status.
    pub status: ExitStatus,
    /// Whether it had to be killed after the grace period.
    pub killed: bool,
}

/// A running VM.
pub struct Vm {
    name: String,
    paths: VmPaths,
    run: Option<Launched>,
    accel: Accel,
    accel_note: Option<String>,
    exit: Option<ExitStatus>,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("accel", &self.accel)
            .finish()
    }
}

impl Vm {
    /// Prepares the VM's files, starts QEMU paused with the NIC fds
    /// inherited, connects the console reader and QMP, and resumes it.
    /// With [`Accel::Auto`] it first tries KVM and restarts under TCG if
    /// the guest fails there (see [`Vm::accel_note`]). The caller's copies
    /// of the NIC fds are closed before this returns, so taps vanish with
    /// QEMU.
    pub fn start(cfg: VmConfig) -> Result<Vm, VmError> {
        let paths = VmPaths::of(&cfg);
        let result = Vm::start_inner(cfg, &paths);
        if result.is_err() {
            remove_state_files(&paths);
        }
        result
    }

    fn start_inner(cfg: VmConfig, paths: &VmPaths) -> Result<Vm, VmError> {
        let paths = paths.clone();
        launch::prepare(&cfg, &paths)?;
        let (run, accel, note) = match cfg.accel {
            Accel::Kvm | Accel::Tcg => (
                launch::launch(&cfg, &paths, cfg.accel, false)?,
                cfg.accel,
                None,
            ),
            Accel::Auto => match launch::kvm_usable() {
                Err(reason) => (
                    launch::launch(&cfg, &paths, Accel::Tcg, false)?,
                    Accel::Tcg,
                    Some(reason),
                ),
                Ok(()) => {
                    let pattern = match &cfg.kvm_probe_pattern {
                        Some(p) => Some(regex::bytes::Regex::new(p).map_err(|source| {
                            VmError::Console {
                                vm: cfg.name.clone(),
                                source: ConsoleError::Pattern {
                                    pattern: p.clone(),
                                    source,
                                },
                            }
                        })?),
                        None => None,
                    };
                    let mut l = launch::launch(&cfg, &paths, Accel::Kvm, false)?;
                    match launch::watch_kvm(&mut l, cfg.kvm_probe, pattern.as_ref(), &paths) {
                        Ok(()) => (l, Accel::Kvm, None),
                        Err(reason) => {
                            l.kill();
                            launch::note_in_text_log(
                                &paths,
                                &format!("{reason}; restarting under TCG"),
                            );
                            (
                                launch::launch(&cfg, &paths, Accel::Tcg, true)?,
                                Accel::Tcg,
                                Some(reason),
                            )
                        }
                    }
                }
            },
        };
        tracing::info!(vm = %cfg.name, accel = ?accel, fallback = note.as_deref().unwrap_or("-"), "qemu started");
        if let (Some(reason), Some(tx)) = (&note, &cfg.events) {
            let _ = tx.send(VmEvent::AccelFallback {
                vm: cfg.name.clone(),
                reason: reason.clone(),
            });
        }
        // `cfg.nics` (our copies of the fds) drops here.
        Ok(Vm {
            name: cfg.name,
            paths,
            run: Some(run),
            accel,
            accel_note: note,
            exit: None,
        })
    }

    /// The VM's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// QEMU's pid (of the wrapper, if one execs QEMU).
    pub fn pid(&self) -> Option<u32> {
        self.run.as_ref().map(|r| r.child.id())
    }

    /// The accelerator in use: `Kvm` or `Tcg`.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// Why `accel: auto` ended on TCG, if it did.
    pub fn accel_note(&self) -> Option<&str> {
        self.accel_note.as_deref()
    }

    /// The VM's files (logs, sockets).
    pub fn paths(&self) -> &VmPaths {
        &self.paths
    }

    /// The console share socket `warren console` attaches to (see
    /// [`attach_console()`]).
    pub fn console_socket(&self) -> &std::path::Path {
        &self.paths.console
    }

    fn launched(&self) -> &Launched {
        self.run
            .as_ref()
            .expect("a Vm holds its QEMU until stop consumes it")
    }

    /// A console handle reading from now on.
    pub fn console(&self) -> Console {
        let hub = std::sync::Arc::clone(&self.launched().hub);
        let end = hub.end();
        Console::new(hub, end)
    }

    /// A console handle reading from the first byte of this boot.
    pub fn console_from_start(&self) -> Console {
        Console::new(std::sync::Arc::clone(&self.launched().hub), 0)
    }

    /// The QMP client.
    pub fn qmp(&self) -> &Qmp {
        &self.launched().qmp
    }

    /// Waits until the console, from the start of the boot, matches
    /// `pattern` (the lab's `ready: {console: ...}`). On timeout the error
    /// shows the console's tail.
    pub fn wait_ready(&self, pattern: &str, timeout: Duration) -> Result<ConsoleMatch, VmError> {
        tracing::debug!(vm = %self.name, pattern, ?timeout, "waiting for the console");
        let m = self
            .console_from_start()
            .expect(pattern, timeout)
            .map_err(|source| VmError::Console {
                vm: self.name.clone(),
                source,
            })?;
        tracing::debug!(vm = %self.name, offset = m.offset, "console showed the ready pattern");
        Ok(m)
    }

    /// Waits up to `timeout` for QEMU to exit by itself (after a guest
    /// poweroff, say). `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, VmError> {
        if self.exit.is_some() {
            return Ok(self.exit);
        }
        let deadline = Instant::now() + timeout;
        let Some(run) = self.run.as_mut() else {
            return Ok(self.exit);
        };
        loop {
            match run.child.try_wait() {
                Ok(Some(st)) => {
                    self.exit = Some(st);
                    return Ok(Some(st));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => return Ok(None),
                Err(source) => {
                    return Err(VmError::Wait {
                        vm: self.name.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Tears the VM down: QMP `quit`, SIGKILL if QEMU still runs after
    /// `grace`; then the console reader is joined (logs complete) and the
    /// sockets, overlay, variable store and cloud-init seed are removed.
    /// Logs, QEMU's output and captures stay.
    pub fn stop(mut self, grace: Duration) -> Result<StopReport, VmError> {
        let mut killed = false;
        if self.wait_exit(Duration::ZERO)?.is_none() {
            let _ = self.qmp().quit();
            if self.wait_exit(grace)?.is_none() {
                if let Some(run) = self.run.as_mut() {
                    let _ = run.child.kill();
                }
                killed = true;
                self.wait_exit(Duration::from_secs(10))?;
            }
        }
        let status = match self.exit {
            Some(st) => st,
            None => {
                let run = self.run.as_mut().expect("not yet stopped");
                run.child.wait().map_err(|source| VmError::Wait {
                    vm: self.name.clone(),
                    source,
                })?
            }
        };
        self.teardown();
        Ok(StopReport { status, killed })
    }

    fn teardown(&mut self) {
        if let Some(mut run) = self.run.take() {
            if self.exit.is_none() {
                let _ = run.child.kill();
                let _ = run.child.wait();
            }
            run.hub.shutdown();
            drop(run.qmp);
        }
        remove_state_files(&self.paths);
    }
}

fn remove_state_files(p: &VmPaths) {
    for f in [&p.qmp, &p.serial, &p.console, &p.overlay, &p.vars, &p.seed] {
        let _ = std::fs::remove_file(f);
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Vm>();
        send_sync::<Console>();
        send_sync::<Qmp>();
    }
}
