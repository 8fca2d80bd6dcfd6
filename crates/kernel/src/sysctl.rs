//! Per-namespace sysctls: `/proc/sys/net/...` shows the values of the
//! network namespace of the *thread* that opens the file, so writes happen
//! on a helper thread that entered the namespace ([`Netns::run`]).

use std::io;
use std::path::PathBuf;

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
pub(crate) fn write_here(
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
