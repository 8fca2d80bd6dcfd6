//! Rootless labs: a user namespace in which the invoking user is root, so
//! that namespaces, veths and addresses can be made without privileges.

use nix::sched::{CloneFlags, setns, unshare};
use nix::unistd::{getgid, getuid};
use std::fs::File;
use std::io;
use std::path::Path;

/// Errors entering a user namespace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsernsError {
    /// `unshare(CLONE_NEWUSER)` failed.
    #[error(
        "creating a user namespace (are unprivileged user namespaces enabled? see /proc/sys/user/max_user_namespaces)"
    )]
    Create(#[source] io::Error),
    /// Writing an id map failed.
    #[error("writing {file} of the new user namespace")]
    Map {
        /// The file written.
        file: &'static str,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// Joining another process's user namespace failed.
    #[error("joining the user namespace at {path}")]
    Join {
        /// The namespace file.
        path: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
}

/// Moves the calling process into a new user namespace where its own uid
/// and gid map to 0. Only the invoking ids are mapped, which needs no
/// setuid helpers.
///
/// Call it while the process is single-threaded: the kernel refuses
/// `CLONE_NEWUSER` otherwise.
pub fn become_root() -> Result<(), UsernsError> {
    let (uid, gid) = (getuid(), getgid());
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| UsernsError::Create(e.into()))?;
    let write = |file: &'static str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|source| UsernsError::Map { file, source })
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1\n"))?;
    write("gid_map", format!("0 {gid} 1\n"))?;
    Ok(())
}

/// Joins the user namespace at `path` (such as `/proc/PID/ns/user`).
///
/// Call it while the process is single-threaded.
pub fn join(path: &Path) -> Result<(), UsernsError> {
    let err = |source: io::Error| UsernsError::Join {
        path: path.display().to_string(),
        source,
    };
    let f = File::open(path).map_err(err)?;
    setns(&f, CloneFlags::CLONE_NEWUSER).map_err(|e| err(e.into()))
}
