//! The paths runc and crun hide or make read-only in every container's
//! /proc and /sys: kernel memory, keys, timers and hardware are masked,
//! and the kernel's tunables (/proc/sys and friends) can be read but not
//! written. A system node keeps /proc/sys/net writable, as
//! systemd-nspawn does for a container with its own network namespace:
//! it only reaches the node's own network namespace.

use super::SecurityError;
use nix::mount::{MsFlags, mount};
use std::path::Path;

/// Paths covered with an empty read-only directory or with /dev/null.
pub const MASKED: &[&str] = &[
    "proc/acpi",
    "proc/asound",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

/// Paths bound read-only onto themselves.
pub const READ_ONLY: &[&str] = &[
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

fn failed(what: &str, path: &Path) -> impl FnOnce(nix::Error) -> SecurityError {
    let step = format!("{what} {}", path.display());
    move |e| SecurityError::Mount {
        step,
        source: e.into(),
    }
}

/// Masks and write-protects the paths under `root` (the container's root
/// before it pivots there, with /proc and /sys mounted). With
/// `writable_net`, /proc/sys/net stays writable.
pub fn apply(root: &Path, writable_net: bool) -> Result<(), SecurityError> {
    let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for rel in MASKED {
        let path = root.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                &path,
                Some("tmpfs"),
                locked | MsFlags::MS_RDONLY,
                Some("size=0,mode=555"),
            )
            .map_err(failed("masking", &path))?;
        } else {
            mount(
                Some("/dev/null"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(failed("masking", &path))?;
        }
    }
    if writable_net {
        // A mount of its own, which the read-only remount of /proc/sys
        // below (not recursive) leaves writable.
        let net = root.join("proc/sys/net");
        mount(
            Some(&net),
            &net,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(failed("keeping writable", &net))?;
    }
    for rel in READ_ONLY {
        let path = root.join(rel);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        mount(
            Some(&path),
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(failed("binding", &path))?;
        mount(
            None::<&str>,
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
            None::<&str>,
        )
        .map_err(failed("making read-only", &path))?;
    }
    Ok(())
}
