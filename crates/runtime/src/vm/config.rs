//! What a VM is: boot source, firmware, size, accelerator, NICs, where its
//! files go. Plain data; [`super::Vm::start`] acts on it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

use super::nic::NicSpec;
use super::qmp::QmpEvent;

/// What the VM boots.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Boot {
    /// A kernel (`-kernel`), an optional initrd and a command line.
    Kernel {
        /// The kernel image (bzImage, or an ELF vmlinux with a PVH note).
        kernel: PathBuf,
        /// The initrd, if any.
        initrd: Option<PathBuf>,
        /// The kernel command line.
        append: String,
    },
    /// A disk image, run on a throwaway qcow2 overlay in the state
    /// directory so the image itself is never written.
    Disk {
        /// The base image.
        path: PathBuf,
        /// Its format; `None` detects qcow2 by its magic, raw otherwise.
        format: Option<DiskFormat>,
    },
}

/// A disk image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiskFormat {
    /// QEMU copy-on-write v2/v3.
    Qcow2,
    /// A plain image.
    Raw,
}

impl DiskFormat {
    /// QEMU's name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Raw => "raw",
        }
    }
}

/// Firmware.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Firmware {
    /// SeaBIOS, QEMU's default.
    #[default]
    Bios,
    /// OVMF: the code read-only, and a per-VM copy of the variable store
    /// (removed at stop).
    Uefi(Ovmf),
}

/// Where OVMF's two flash images are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    /// The firmware code (read-only).
    pub code: PathBuf,
    /// The template of the variable store, copied per VM.
    pub vars: PathBuf,
}

impl Default for Ovmf {
    /// Debian's `ovmf` package (4 MiB flash, no secure boot).
    fn default() -> Self {
        Ovmf {
            code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
        }
    }
}

/// Which accelerator runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Accel {
    /// KVM if `/dev/kvm` opens and the guest shows signs of life under it
    /// within [`VmConfig::kvm_probe`]; TCG otherwise (see [`super::Vm::accel_note`]).
    #[default]
    Auto,
    /// KVM, no fallback.
    Kvm,
    /// TCG (software emulation).
    Tcg,
}

impl Accel {
    /// The name QEMU's `-accel` takes (`auto` for [`Accel::Auto`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Something that happened to a VM, for the lab's events file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum VmEvent {
    /// A QMP event (`SHUTDOWN`, `RESET`, `POWERDOWN`, `STOP`, `RESUME`, …),
    /// unknown ones included.
    Qmp {
        /// The VM's name.
        vm: String,
        /// The event.
        event: QmpEvent,
    },
    /// `accel: auto` did not use KVM.
    AccelFallback {
        /// The VM's name.
        vm: String,
        /// Why (no usable `/dev/kvm`, an emulation failure, no output).
        reason: String,
    },
}

/// A VM to start. Build it with [`VmConfig::new`] and set fields.
#[derive(Debug)]
#[non_exhaustive]
pub struct VmConfig {
    /// The node's name: names the log files and sockets.
    pub name: String,
    /// What to boot.
    pub boot: Boot,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Memory in MiB (default 256).
    pub memory_mib: u32,
    /// vCPUs (default 1).
    pub cpus: u32,
    /// Accelerator (default auto).
    pub accel: Accel,
    /// `-cpu` model; `None` keeps QEMU's default (`-cpu host` aborts on
    /// some nested hosts).
    pub cpu: Option<String>,
    /// `-machine` type (default `pc`).
    pub machine: String,
    /// Default NIC model (default `virtio-net-pci`).
    pub nic_model: String,
    /// Interface of the boot disk (default `virtio`).
    pub disk_interface: String,
    /// The NICs, in guest order (eth0, eth1, … with virtio-net).
    pub nics: Vec<NicSpec>,
    /// Extra QEMU arguments, appended last.
    pub extra_args: Vec<String>,
    /// The files of a cloud-init NoCloud seed (`meta-data`, `user-data`,
    /// `network-config`): when set, they are written to a FAT volume
    /// labelled `CIDATA` (`STATE/NAME.seed.img`) attached as a read-only
    /// drive, so a cloud image configures itself at boot.
    pub seed: Option<Vec<(String, String)>>,
    /// Sockets, the overlay, the variable store and the seed; all removed at stop.
    /// Unix socket paths must fit in 107 bytes.
    pub state_dir: PathBuf,
    /// Console logs (`NAME.log`, `NAME.txt`) and QEMU's own output
    /// (`NAME.qemu.log`); kept.
    pub console_dir: PathBuf,
    /// The QEMU binary (default `qemu-system-x86_64` from `PATH`).
    pub qemu: PathBuf,
    /// `qemu-img`, for disk overlays (default from `PATH`).
    pub qemu_img: PathBuf,
    /// A program and arguments QEMU's command line is appended to (for
    /// example a helper that joins the lab's pid namespace and execs the
    /// rest). The NIC fds are inherited through it.
    pub wrapper: Vec<OsString>,
    /// How long `accel: auto` waits for the first console byte under KVM
    /// before it restarts the guest under TCG (default 10 s).
    pub kvm_probe: Duration,
    /// What counts as "the guest works under KVM" for `accel: auto`: this
    /// regex on the console within [`VmConfig::kvm_probe`] (pass the lab's
    /// readiness regex); `None` accepts any console output.
    pub kvm_probe_pattern: Option<String>,
    /// Serve the console share socket `STATE/NAME.console` for
    /// [`crate::console::attach()`] (default on).
    pub share_console: bool,
    /// Where QMP events and accelerator notes go.
    pub events: Option<Sender<VmEvent>>,
}

impl VmConfig {
    /// A VM with defaults: BIOS, 256 MiB, 1 vCPU, accel auto, `pc`,
    /// `virtio-net-pci`, no NICs.
    pub fn new(
        name: impl Into<String>,
        boot: Boot,
        state_dir: impl Into<PathBuf>,
        console_dir: impl Into<PathBuf>,
    ) -> VmConfig {
        VmConfig {
            name: name.into(),
            boot,
            firmware: Firmware::Bios,
            memory_mib: 256,
            cpus: 1,
            accel: Accel::Auto,
            cpu: None,
            machine: "pc".into(),
            nic_model: "virtio-net-pci".into(),
            disk_interface: "virtio".into(),
            nics: Vec::new(),
            extra_args: Vec::new(),
            seed: None,
            state_dir: state_dir.into(),
            console_dir: console_dir.into(),
            qemu: "qemu-system-x86_64".into(),
            qemu_img: "qemu-img".into(),
            wrapper: Vec::new(),
            kvm_probe: Duration::from_secs(10),
            kvm_probe_pattern: None,
            share_console: true,
            events: None,
        }
    }
}

/// The files of one VM, derived from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    /// QMP socket (`STATE/NAME.qmp`).
    pub qmp: PathBuf,
    /// QEMU's serial socket (`STATE/NAME.serial`); only the reader uses it.
    pub serial: PathBuf,
    /// The console share socket (`STATE/NAME.console`).
    pub console: PathBuf,
    /// The disk overlay (`STATE/NAME.overlay.qcow2`).
    pub overlay: PathBuf,
    /// The UEFI variable store copy (`STATE/NAME.vars.fd`).
    pub vars: PathBuf,
    /// The cloud-init seed volume (`STATE/NAME.seed.img`).
    pub seed: PathBuf,
    /// Raw console log (`CONSOLE/NAME.log`).
    pub log: PathBuf,
    /// Escaped, timestamped console log (`CONSOLE/NAME.txt`).
    pub txt: PathBuf,
    /// QEMU's stdout and stderr (`CONSOLE/NAME.qemu.log`).
    pub qemu_log: PathBuf,
}

impl VmPaths {
    /// The paths of `cfg`.
    pub fn of(cfg: &VmConfig) -> VmPaths {
        let s = |ext: &str| cfg.state_dir.join(format!("{}.{ext}", cfg.name));
        let c = |ext: &str| cfg.console_dir.join(format!("{}.{ext}", cfg.name));
        VmPaths {
            qmp: s("qmp"),
            serial: s("serial"),
            console: s("console"),
            overlay: s("overlay.qcow2"),
            vars: s("vars.fd"),
            seed: s("seed.img"),
            log: c("log"),
            txt: c("txt"),
            qemu_log: c("qemu.log"),
        }
    }
}
