//! vm nodes: QEMU started once the lab's network exists, each NIC backed by
//! the tap (or socket pair) `apply` opened, console logged into the run's
//! results, QMP events written to the run's events file, readiness by a
//! console regex, paused and resumed by `warren node`, and a QMP quit
//! (then a kill) at teardown.

use super::{
    ExecCommand, ExecError, ExecSpec, HandleInfo, Kind, KindInfo, NodeError, NodeHandle, Prepared,
    ReadyCx, StartCx, Stop,
};
use crate::apply::VmNic;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use warren_kernel::MacAddr;
use warren_runtime::console::Login;
use warren_runtime::vm::{
    Accel, Boot, Console, Firmware, NicBackend, NicSpec, Ovmf, Qmp, VmConfig, VmError, VmEvent,
};
use warren_topology::model::{self, Attachment, Node, NodeKind};

/// The `vm` kind.
pub struct Vm;

static INFO: KindInfo = KindInfo {
    kind: NodeKind::Vm,
    takes_image: false,
    has_console: true,
    has_netns: false,
    runs_commands: false,
    pauses: true,
    ready_before_commands: true,
    always_waits: false,
    ready_when: "its console prints ready.console, and it is logged in as console.login",
};

/// How long a vm may take to print its ready regex, unless `ready.timeout` says.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A path from the lab file, relative to the file's folder.
fn from_lab_dir(lab_dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        lab_dir.join(p)
    }
}

/// The console regex a vm is ready at (`ready.console`), if any.
fn ready_console(node: &Node) -> Option<String> {
    node.ready.as_ref().and_then(|r| r.console.clone())
}

/// Whether `ready` waits for the vm: for its ready regex or a login.
fn waits(node: &Node) -> bool {
    ready_console(node).is_some()
        || node
            .vm
            .as_ref()
            .and_then(|v| v.console.as_ref())
            .is_some_and(|c| c.login.is_some())
}

/// The guest's NIC names, in NIC order (its interfaces, loopback aside).
fn nic_names(node: &model::Node) -> Vec<String> {
    node.interfaces
        .iter()
        .filter(|i| i.attach != Attachment::Loopback)
        .map(|i| i.name.clone())
        .collect()
}

/// Writes every vm event as a JSON line to `<results>/events.jsonl`.
fn event_writer(results: &Path) -> mpsc::Sender<VmEvent> {
    let (tx, rx) = mpsc::channel::<VmEvent>();
    let results = results.to_path_buf();
    let _ = std::thread::Builder::new()
        .name("warren-events".into())
        .spawn(move || {
            for ev in rx {
                let (event, fields) = match ev {
                    VmEvent::Qmp { vm, event } => (
                        "qmp",
                        serde_json::json!({ "node": vm, "name": event.event, "data": event.data }),
                    ),
                    VmEvent::AccelFallback { vm, reason } => (
                        "accel-fallback",
                        serde_json::json!({ "node": vm, "reason": reason }),
                    ),
                    _ => ("vm", serde_json::Value::Null),
                };
                crate::events::append(&results, event, fields);
            }
        });
    tx
}

impl Kind for Vm {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    /// Starts QEMU with the NICs `apply` opened for this vm. Call it from
    /// the supervisor's main thread: QEMU dies with the thread that
    /// started it.
    fn start(
        &self,
        cx: &mut StartCx<'_>,
        node: &Node,
        _: &Prepared,
    ) -> Result<Box<dyn NodeHandle>, NodeError> {
        let name = node.name.value.clone();
        let err = |source| NodeError::Vm {
            node: name.clone(),
            source: Box::new(source),
        };
        let st = cx.state;
        let lab_dir = st.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let spec = node.vm.clone().unwrap_or_default();
        let boot = match (&spec.kernel, &spec.disk) {
            (Some(k), _) => Boot::Kernel {
                kernel: from_lab_dir(&lab_dir, k),
                initrd: spec.initrd.as_deref().map(|i| from_lab_dir(&lab_dir, i)),
                append: spec.append.clone().unwrap_or_default(),
            },
            (None, Some(d)) => Boot::Disk {
                path: from_lab_dir(&lab_dir, d),
                format: None,
            },
            // Validation requires one of them.
            (None, None) => return Ok(Box::new(Running { vm: None })),
        };
        let mut cfg = VmConfig::new(&name, boot, cx.dir.join("vm"), st.results.join("console"));
        cfg.firmware = match spec.firmware {
            model::Firmware::Uefi => Firmware::Uefi(Ovmf::default()),
            model::Firmware::Bios => Firmware::Bios,
        };
        cfg.memory_mib = u32::try_from(spec.memory).unwrap_or(u32::MAX);
        cfg.cpus = spec.cpus;
        cfg.accel = match spec.accel {
            model::Accel::Auto => Accel::Auto,
            model::Accel::Kvm => Accel::Kvm,
            model::Accel::Tcg => Accel::Tcg,
        };
        cfg.nic_model = spec.nic_model.clone();
        cfg.extra_args = spec.qemu_args.clone();
        cfg.kvm_probe_pattern = ready_console(node);
        cfg.events = Some(event_writer(&st.results));
        let names = nic_names(node);
        let (mut mine, rest): (Vec<VmNic>, Vec<VmNic>) =
            cx.nics.drain(..).partition(|n| n.vm == name);
        *cx.nics = rest;
        mine.sort_by_key(|n| n.nic);
        if node.netconf.is_some() || spec.cloud_init.is_some() {
            let nics: Vec<(&model::Interface, String)> = mine
                .iter()
                .filter_map(|n| {
                    let i = node.interface(names.get(n.nic)?)?;
                    Some((i, MacAddr(n.mac.0).to_string()))
                })
                .collect();
            let files =
                crate::netconf::vm_seed(&cx.lab.name, node, &nics, &lab_dir).map_err(|source| {
                    err(VmError::File {
                        path: lab_dir.clone(),
                        source,
                    })
                })?;
            cfg.seed = Some(files);
        }
        for n in mine {
            let backend = if n.socket {
                NicBackend::Socket(n.fd)
            } else {
                NicBackend::Tap(n.fd)
            };
            let ifname = names
                .get(n.nic)
                .cloned()
                .unwrap_or_else(|| format!("nic{}", n.nic));
            let pcap = st
                .results
                .join("capture")
                .join(format!("{name}-{ifname}.pcap"));
            cfg.nics
                .push(NicSpec::new(MacAddr(n.mac.0), backend).capture(pcap));
        }
        let _ = std::fs::create_dir_all(st.results.join("capture"));
        // The boot's progress names the console log, whose last line a
        // terminal shows while it lasts; it ends at the ready regex.
        let console = st.results.join("console").join(format!("{name}.txt"));
        tracing::info!(progress = "start", step = "boot", node = %name, console = %console.display(), "booting");
        let vm = warren_runtime::vm::Vm::start(cfg).map_err(err)?;
        tracing::debug!(node = %name, pid = ?vm.pid(), "vm started");
        // Every console command waits for the prompt from the first on.
        if let Some(prompt) = spec.console.as_ref().and_then(|c| c.prompt.as_deref()) {
            vm.console().set_prompt(prompt).map_err(|source| {
                err(VmError::Console {
                    vm: name.clone(),
                    source,
                })
            })?;
        }
        if !waits(node) {
            tracing::info!(progress = "done", step = "boot", node = %name, "started");
        }
        Ok(Box::new(Running { vm: Some(vm) }))
    }

    fn exec(&self, _: &str, node: &Node, _: &ExecCommand<'_>) -> Result<ExecSpec, ExecError> {
        Err(ExecError::NoCommands {
            node: node.name.value.clone(),
            kind: INFO.kind.as_str(),
        })
    }
}

/// A running vm node: its QEMU.
#[derive(Debug)]
struct Running {
    /// None once stopped for good.
    vm: Option<warren_runtime::vm::Vm>,
}

impl Running {
    fn qmp_do(
        &self,
        node: &str,
        command: &'static str,
        f: fn(&Qmp) -> Result<(), warren_runtime::vm::QmpError>,
    ) -> Result<(), NodeError> {
        match &self.vm {
            Some(vm) => f(vm.qmp()).map_err(|source| NodeError::Qmp {
                node: node.to_string(),
                command,
                source,
            }),
            None => Ok(()),
        }
    }
}

impl NodeHandle for Running {
    /// Waits for the console regex of `ready.console`, if any, then logs
    /// in as `console.login` when the console asks.
    fn ready(&self, node: &Node, _: &ReadyCx<'_>) -> Result<(), NodeError> {
        let Some(vm) = &self.vm else {
            return Ok(());
        };
        let err = |source| NodeError::Vm {
            node: node.name.value.clone(),
            source: Box::new(source),
        };
        let ready = node.ready.as_ref();
        let timeout = ready
            .and_then(|r| r.timeout)
            .map_or(READY_TIMEOUT, |d| d.to_std());
        let pattern = ready.and_then(|r| r.console.as_deref());
        if let Some(pattern) = pattern {
            vm.wait_ready(pattern, timeout).map_err(err)?;
        }
        let console = node.vm.as_ref().and_then(|v| v.console.as_ref());
        if let Some((user, console)) = console.and_then(|c| Some((c.login.as_ref()?, c))) {
            let login = Login {
                user: user.clone(),
                password: console.password.clone(),
                prompt: console.prompt.clone(),
            };
            tracing::info!(progress = "start", step = "login", node = %node.name.value, user = %user, "logging in");
            vm.console_from_start()
                .login(&login, timeout)
                .map_err(|source| {
                    err(VmError::Console {
                        vm: node.name.value.clone(),
                        source,
                    })
                })?;
        }
        if waits(node) {
            tracing::info!(progress = "done", step = "boot", node = %node.name.value, "ready");
        }
        Ok(())
    }

    /// For good: QMP quit, then a kill after the grace. For `warren node
    /// stop`: paused, so QEMU keeps holding its NICs' taps.
    fn stop(&mut self, how: Stop) -> Result<Vec<i32>, NodeError> {
        match how {
            Stop::End { grace } => {
                let pids = self.inspect().pids;
                if let Some(vm) = self.vm.take() {
                    let _ = vm.stop(grace);
                }
                Ok(pids)
            }
            Stop::Node { .. } => {
                let name = self.vm.as_ref().map(|v| v.name().to_string());
                self.qmp_do(&name.unwrap_or_default(), "stop", Qmp::stop)?;
                Ok(Vec::new())
            }
        }
    }

    /// Reset and resumed: the guest boots again on the same NICs.
    fn resume(&mut self) -> Result<(), NodeError> {
        let name = self
            .vm
            .as_ref()
            .map(|v| v.name().to_string())
            .unwrap_or_default();
        self.qmp_do(&name, "system_reset", Qmp::reset)?;
        self.qmp_do(&name, "cont", Qmp::cont)
    }

    fn console(&self) -> Option<Console> {
        self.vm.as_ref().map(warren_runtime::vm::Vm::console)
    }

    fn qmp(&self) -> Option<&Qmp> {
        self.vm.as_ref().map(warren_runtime::vm::Vm::qmp)
    }

    fn inspect(&self) -> HandleInfo {
        HandleInfo {
            init: None,
            pids: self
                .vm
                .as_ref()
                .and_then(warren_runtime::vm::Vm::pid)
                .and_then(|p| i32::try_from(p).ok())
                .into_iter()
                .collect(),
            console_socket: self.vm.as_ref().map(|v| v.console_socket().to_path_buf()),
            members: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_paths_are_relative_to_the_lab_file() {
        let dir = Path::new("/labs/a");
        assert_eq!(from_lab_dir(dir, "vmlinuz"), Path::new("/labs/a/vmlinuz"));
        assert_eq!(from_lab_dir(dir, "/boot/k"), Path::new("/boot/k"));
    }

    #[test]
    fn nics_are_the_interfaces_in_order_without_loopback() {
        let lab = warren_topology::load(
            "name: v\nnodes:\n  a: {}\n  b: {}\n  dut:\n    kind: vm\n    kernel: k\nlinks:\n  - endpoints: [a:eth1, dut:eth0]\n  - endpoints: [dut:eth1, b:eth1]\n",
            "v",
        )
        .lab
        .expect("valid lab");
        let dut = lab.node("dut").expect("dut");
        assert_eq!(nic_names(dut), ["eth0", "eth1"]);
    }
}
