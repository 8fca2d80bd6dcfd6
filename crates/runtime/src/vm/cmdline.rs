//! The QEMU command line of a VM, as a pure function of its config, the
//! accelerator chosen and the fd numbers the NICs are passed as.
//!
//! QEMU starts paused (`-S`): the supervisor connects the console and QMP
//! first and then sends `cont`, so no console byte is lost.

use std::os::fd::RawFd;
use std::path::Path;

use super::config::{Accel, Boot, DiskFormat, Firmware, VmConfig, VmPaths};
use super::nic::{nic_args, qemu_escape};

/// The arguments after the program name. `accel` is `Kvm` or `Tcg`;
/// `disk_format` is the base image's format when booting a disk.
pub(crate) fn qemu_args(
    cfg: &VmConfig,
    paths: &VmPaths,
    accel: Accel,
    fds: &[RawFd],
) -> Vec<String> {
    let p = |path: &Path| qemu_escape(&path.to_string_lossy());
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| (*s).to_owned()));
    push(&["-name", &qemu_escape(&cfg.name)]);
    push(&["-nodefaults", "-no-user-config", "-display", "none", "-S"]);
    push(&["-machine", &cfg.machine, "-accel", accel.as_str()]);
    if let Some(cpu) = &cfg.cpu {
        push(&["-cpu", cpu]);
    }
    push(&[
        "-m",
        &cfg.memory_mib.to_string(),
        "-smp",
        &cfg.cpus.to_string(),
    ]);
    if let Firmware::Uefi(ovmf) = &cfg.firmware {
        push(&[
            "-drive",
            &format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                p(&ovmf.code)
            ),
            "-drive",
            &format!("if=pflash,format=raw,unit=1,file={}", p(&paths.vars)),
        ]);
    }
    match &cfg.boot {
        Boot::Kernel {
            kernel,
            initrd,
            append,
        } => {
            push(&["-kernel", &kernel.to_string_lossy()]);
            if let Some(initrd) = initrd {
                push(&["-initrd", &initrd.to_string_lossy()]);
            }
            push(&["-append", append]);
        }
        Boot::Disk { .. } => {
            push(&[
                "-drive",
                &format!(
                    "file={},format={},if={}",
                    p(&paths.overlay),
                    DiskFormat::Qcow2.as_str(),
                    cfg.disk_interface
                ),
            ]);
        }
    }
    if cfg.seed.is_some() {
        push(&[
            "-drive",
            &format!("file={},format=raw,if=virtio,readonly=on", p(&paths.seed)),
        ]);
    }
    push(&[
        "-chardev",
        &format!(
            "socket,id=serial0,path={},server=on,wait=off",
            p(&paths.serial)
        ),
        "-serial",
        "chardev:serial0",
        "-chardev",
        &format!("socket,id=qmp0,path={},server=on,wait=off", p(&paths.qmp)),
        "-mon",
        "chardev=qmp0,mode=control",
    ]);
    for (i, (nic, fd)) in cfg.nics.iter().zip(fds).enumerate() {
        a.extend(nic_args(i, nic, &cfg.nic_model, *fd));
    }
    a.extend(cfg.extra_args.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::nic::{NicBackend, NicSpec, socket_pair};
    use warren_kernel::MacAddr;

    #[test]
    fn a_seed_is_a_read_only_raw_drive() {
        let mut cfg = VmConfig::new(
            "img",
            Boot::Kernel {
                kernel: "/k".into(),
                initrd: None,
                append: String::new(),
            },
            "/run/w",
            "/res",
        );
        let paths = VmPaths::of(&cfg);
        let without = qemu_args(&cfg, &paths, Accel::Tcg, &[]).join(" ");
        assert!(!without.contains("seed"), "{without}");
        cfg.seed = Some(vec![("meta-data".into(), "instance-id: x\n".into())]);
        let args = qemu_args(&cfg, &paths, Accel::Tcg, &[]).join(" ");
        assert!(
            args.contains("-drive file=/run/w/img.seed.img,format=raw,if=virtio,readonly=on"),
            "{args}"
        );
    }

    #[test]
    fn kernel_boot_with_one_nic() {
        let mut cfg = VmConfig::new(
            "dut",
            Boot::Kernel {
                kernel: "/k".into(),
                initrd: Some("/i".into()),
                append: "console=ttyS0 a=b".into(),
            },
            "/run/w",
            "/res",
        );
        let (a, _b) = socket_pair().expect("socketpair");
        cfg.nics
            .push(NicSpec::new(MacAddr::local(1), NicBackend::Socket(a)).capture("/res/x.pcap"));
        cfg.extra_args = vec!["-rtc".into(), "base=utc".into()];
        let paths = VmPaths::of(&cfg);
        let args = qemu_args(&cfg, &paths, Accel::Tcg, &[5]).join(" ");
        assert_eq!(
            args,
            "-name dut -nodefaults -no-user-config -display none -S -machine pc -accel tcg \
             -m 256 -smp 1 -kernel /k -initrd /i -append console=ttyS0 a=b \
             -chardev socket,id=serial0,path=/run/w/dut.serial,server=on,wait=off \
             -serial chardev:serial0 \
             -chardev socket,id=qmp0,path=/run/w/dut.qmp,server=on,wait=off \
             -mon chardev=qmp0,mode=control \
             -netdev socket,id=nic0,fd=5 -device virtio-net-pci,netdev=nic0,mac=02:00:00:00:00:01 \
             -object filter-dump,id=dump0,netdev=nic0,file=/res/x.pcap -rtc base=utc"
        );
    }

    #[test]
    fn uefi_disk_boot_uses_overlay_and_vars_copy() {
        let mut cfg = VmConfig::new(
            "u",
            Boot::Disk {
                path: "/img.raw".into(),
                format: None,
            },
            "/s",
            "/c",
        );
        cfg.firmware = Firmware::Uefi(Default::default());
        let paths = VmPaths::of(&cfg);
        let args = qemu_args(&cfg, &paths, Accel::Kvm, &[]).join(" ");
        assert!(args.contains("-accel kvm"));
        assert!(args.contains(
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
        ));
        assert!(args.contains("if=pflash,format=raw,unit=1,file=/s/u.vars.fd"));
        assert!(args.contains("-drive file=/s/u.overlay.qcow2,format=qcow2,if=virtio"));
        assert!(
            !args.contains("/img.raw"),
            "the base image is never opened directly"
        );
    }
}
