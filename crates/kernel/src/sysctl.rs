//! Per-namespace sysctls: `/proc/sys/net/...` shows the values of the
//! network namespace of the *thread* that opens the file, so writes happen
//! on a helper thread that entered the namespace ([`Netns::run`]).

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::netns::{Netns, NetnsError};

/// Errors setting sysctls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysctlError {
    /// The key is empty, absolute, or contains `..`.
    #[error("invalid sysctl key {key:?}")]
    BadKey {
        /// The rejected key.
        key: String,
    },
    /// Writing the value failed (`ENOENT`: no such key in this namespace).
    #[error("setting sysctl {key}={value} in netns {netns}")]
    Write {
        /// The key, e.g. `net.ipv4.ip_forward`.
        key: String,
        /// The value written.
        value: String,
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// Reading the value failed.
    #[error("reading sysctl {key} in netns {netns}")]
    Read {
        /// The key.
        key: String,
        /// Namespace label.
        netns: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The namespace could not be entered.
    #[error("setting sysctls")]
    Netns(#[source] NetnsError),
}

/// `/proc/sys` path of a key in dotted (`net.ipv4.ip_forward`) or slashed
/// (`net/ipv4/ip_forward`) form. Interface names with dots must use the
/// slashed form.
pub fn sysctl_path(key: &str) -> Option<PathBuf> {
    if key.is_empty() || key.starts_with('/') || key.split(['/', '.']).any(|p| p.is_empty()) {
        return None;
    }
    let rel = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    if rel.split('/').any(|p| p == "..") {
        return None;
    }
    Some(PathBuf::from("/proc/sys").join(rel))
}

/// Sets sysctls inside `netns`, in order, on one helper thread.
///
/// Only namespaced keys (`net.*`, mostly) take effect per namespace; others
/// would change the host, so keys outside `net.` are refused as `BadKey`.
pub fn set_sysctls(netns: &Netns, settings: &[(&str, &str)]) -> Result<(), SysctlError> {
    let paths = net_paths(settings)?;
    let label = netns.label();
    let r = netns.run(|| write_here(label, settings, &paths));
    r.map_err(SysctlError::Netns)?
}

/// The `/proc/sys` paths of `settings`' keys, all of which must be `net.`
/// keys (else `BadKey`).
pub(crate) fn net_paths(settings: &[(&str, &str)]) -> Result<Vec<PathBuf>, SysctlError> {
    settings
        .iter()
        .map(|(key, _)| match sysctl_path(key) {
            Some(p) if key.starts_with("net.") || key.starts_with("net/") => Ok(p),
            _ => Err(SysctlError::BadKey {
                key: (*key).to_owned(),
            }),
        })
        .collect()
}

/// Writes `settings` to their `paths` (from [`net_paths`]) in the calling
/// thread's network namespace, which `label` names in errors.
fn write_here(
    label: &str,
    settings: &[(&str, &str)],
    paths: &[PathBuf],
) -> Result<(), SysctlError> {
    for ((key, value), path) in settings.iter().zip(paths) {
        std::fs::write(path, value.as_bytes()).map_err(|source| SysctlError::Write {
            key: (*key).to_owned(),
            value: (*value).to_owned(),
            netns: label.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// A sysctl to write in each new namespace: key, value, `/proc/sys` path.
pub(crate) type Setting = (String, String, PathBuf);

/// `settings` checked by [`net_paths`], with their paths.
pub(crate) fn new_netns_settings(settings: &[(&str, &str)]) -> Result<Vec<Setting>, SysctlError> {
    Ok(settings
        .iter()
        .zip(net_paths(settings)?)
        .map(|((k, v), p)| ((*k).to_owned(), (*v).to_owned(), p))
        .collect())
}

/// New namespaces one private proc instance serves: its lookups walk the
/// entries of at most this many.
const NETNS_PER_PROC: usize = 64;

/// Writes the same sysctls in each of the namespaces a thread creates one
/// after another, from inside each.
///
/// Opening `/proc/sys/net/...` looks `net` up among one directory entry
/// per namespace whose sysctls were ever opened, all under the same
/// parent and name, so a write in each of N new namespaces costs O(N²) in
/// all (0.8 ms a namespace at 3,000, 2 ms at 10,000). A private instance
/// of proc (`fsopen`, attached nowhere, gone with its fd) has entries of
/// its own: one per [`NETNS_PER_PROC`] namespaces keeps every lookup
/// short. Where the process may not make one (no `CAP_SYS_ADMIN` over its
/// pid namespace, as when rootless), it writes through `/proc/sys`.
pub(crate) struct NewNetnsSysctls<'s> {
    settings: &'s [Setting],
    proc: Option<OwnedFd>,
    /// Namespaces the current private proc may still serve.
    left: usize,
    /// False once making a private proc failed.
    private: bool,
}

impl<'s> NewNetnsSysctls<'s> {
    /// A writer of `settings` (from [`new_netns_settings`]).
    pub(crate) fn new(settings: &'s [Setting]) -> Self {
        NewNetnsSysctls {
            settings,
            proc: None,
            left: 0,
            private: true,
        }
    }

    /// Writes the settings in the calling thread's network namespace,
    /// which `label` names in errors.
    pub(crate) fn write_here(&mut self, label: &str) -> Result<(), SysctlError> {
        if self.settings.is_empty() {
            return Ok(());
        }
        if self.private && self.left == 0 {
            self.proc = None;
            match private_proc() {
                Ok(fd) => {
                    self.proc = Some(fd);
                    self.left = NETNS_PER_PROC;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no private proc: sysctls through /proc/sys");
                    self.private = false;
                }
            }
        }
        self.left = self.left.saturating_sub(1);
        for (key, value, path) in self.settings {
            let err = |source| SysctlError::Write {
                key: key.clone(),
                value: value.clone(),
                netns: label.to_owned(),
                source,
            };
            let mut file = match (&self.proc, path.strip_prefix("/proc")) {
                (Some(proc), Ok(rel)) => open_at(proc, rel).map_err(err)?,
                _ => std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(err)?,
            };
            file.write_all(value.as_bytes()).map_err(err)?;
        }
        Ok(())
    }
}

/// Opens `rel` for writing under the proc instance `proc`.
fn open_at(proc: &OwnedFd, rel: &Path) -> io::Result<std::fs::File> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let fd = openat(proc, rel, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

/// A new instance of proc, mounted nowhere: an fd on its root.
fn private_proc() -> io::Result<OwnedFd> {
    let owned = |r: libc::c_long| -> io::Result<OwnedFd> {
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd =
            libc::c_int::try_from(r).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: the kernel just returned this fd, and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    // SAFETY: fsopen takes a NUL-terminated name and flags.
    let fs =
        owned(unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), libc::FSOPEN_CLOEXEC) })?;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsmount takes the configured context's fd and flags.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, 0) })
}

/// Reads one sysctl inside `netns` (trailing newline removed).
pub fn read_sysctl(netns: &Netns, key: &str) -> Result<String, SysctlError> {
    let path = sysctl_path(key).ok_or_else(|| SysctlError::BadKey {
        key: key.to_owned(),
    })?;
    let label = netns.label();
    let r = netns.run(|| {
        std::fs::read_to_string(&path)
            .map(|s| s.trim_end().to_owned())
            .map_err(|source| SysctlError::Read {
                key: key.to_owned(),
                netns: label.to_owned(),
                source,
            })
    });
    r.map_err(SysctlError::Netns)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net/ipv6/conf/eth1.10/disable_ipv6").unwrap(),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth1.10/disable_ipv6")
        );
        assert!(sysctl_path("net/../../etc").is_none());
        assert!(sysctl_path("/etc/passwd").is_none());
        assert!(sysctl_path("").is_none());
    }
}
