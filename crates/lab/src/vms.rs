//! vm nodes: QEMU started once the lab's network exists, each NIC backed by
//! the tap (or socket pair) `apply` opened, console logged into the run's
//! results, QMP events written to the run's events file, readiness by a
//! console regex, and a QMP quit (then a kill) at teardown.

use crate::apply::{Built, VmNic};
use crate::state::LabState;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use warren_kernel::MacAddr;
use warren_runtime::vm::{
    Accel, Boot, Firmware, NicBackend, NicSpec, Ovmf, Vm, VmConfig, VmError, VmEvent,
};
use warren_topology::Lab;
use warren_topology::model::{self, Attachment, NodeKind};

/// Errors starting a vm node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VmNodeError {
    /// QEMU did not start or the guest did not become ready.
    #[error("vm node {node}")]
    Vm {
        /// Node.
        node: String,
        /// The cause.
        #[source]
        source: Box<VmError>,
    },
}

/// How long a vm may take to print its ready regex, unless `ready.timeout` says.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running vm node.
#[derive(Debug)]
pub struct RunningVm {
    /// Node name.
    pub name: String,
    /// QEMU.
    pub vm: Vm,
}

/// A path from the lab file, relative to the file's folder.
fn from_lab_dir(lab_dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        lab_dir.join(p)
    }
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
pub fn event_writer(results: &Path) -> mpsc::Sender<VmEvent> {
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

/// Starts every vm node with the NICs in `built`, then waits for those with
/// a console regex to print it. Call it from the supervisor's main thread:
/// QEMU dies with the thread that started it.
pub fn start_vms(
    lab: &Lab,
    built: &mut Built,
    st: &LabState,
    state_dir: &Path,
    events: &mpsc::Sender<VmEvent>,
) -> Result<Vec<RunningVm>, VmNodeError> {
    let lab_dir = st.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = Vec::new();
    for node in lab.nodes.iter().filter(|n| n.kind == NodeKind::Vm) {
        let name = node.name.value.clone();
        let err = |source| VmNodeError::Vm {
            node: name.clone(),
            source: Box::new(source),
        };
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
            (None, None) => continue,
        };
        let mut cfg = VmConfig::new(
            &name,
            boot,
            state_dir.join("vm"),
            st.results.join("console"),
        );
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
        let ready = node.ready.as_ref().and_then(|r| r.console.clone());
        cfg.kvm_probe_pattern = ready.clone();
        cfg.events = Some(events.clone());
        let names = nic_names(node);
        let mut mine: Vec<VmNic> = Vec::new();
        let mut rest = Vec::new();
        for n in built.nics.drain(..) {
            if n.vm == name {
                mine.push(n)
            } else {
                rest.push(n)
            }
        }
        built.nics = rest;
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
                crate::netconf::vm_seed(&lab.name, node, &nics, &lab_dir).map_err(|source| {
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
        let vm = Vm::start(cfg).map_err(err)?;
        out.push(RunningVm { name, vm });
    }
    for r in &out {
        let Some(node) = lab.node(&r.name) else {
            continue;
        };
        let Some(ready) = &node.ready else { continue };
        let Some(pattern) = &ready.console else {
            continue;
        };
        let timeout = ready.timeout.map_or(READY_TIMEOUT, |d| d.to_std());
        r.vm.wait_ready(pattern, timeout)
            .map_err(|source| VmNodeError::Vm {
                node: r.name.clone(),
                source: Box::new(source),
            })?;
    }
    Ok(out)
}

/// Stops every vm: QMP quit, then a kill after `grace`.
pub fn stop_vms(vms: &mut Vec<RunningVm>, grace: Duration) {
    for r in vms.drain(..) {
        let _ = r.vm.stop(grace);
    }
}
