//! What keeps a container's processes from reaching the host: runc's
//! masked and read-only paths ([`masks`]), a capability set ([`caps`]),
//! no_new_privs and a seccomp allow-list ([`seccomp`]). A privileged
//! node gets none of it.
//!
//! The same [`Confinement`] applies to a container's init and to every
//! command `warren exec` runs in it, as `docker exec` does.

pub mod caps;
pub mod idmap;
pub mod masks;
pub mod seccomp;

use std::io;

/// Errors confining a process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A capability name that is not one.
    #[error("unknown capability {0}")]
    UnknownCapability(String),
    /// Changing the capability sets failed.
    #[error("dropping capabilities: {0}")]
    Capabilities(String),
    /// Building a seccomp filter failed.
    #[error("building the seccomp filter: {0}")]
    Seccomp(String),
    /// The kernel refused a seccomp filter.
    #[error("installing the seccomp filter")]
    Install(#[source] io::Error),
    /// Setting no_new_privs failed.
    #[error("setting no_new_privs")]
    NoNewPrivs(#[source] io::Error),
    /// Masking or write-protecting a path failed.
    #[error("{step}")]
    Mount {
        /// What was being done.
        step: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
}

/// How a node's processes are confined.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// No confinement at all: every capability, no filter, no masks.
    pub privileged: bool,
    /// The seccomp allow-list.
    pub profile: seccomp::Profile,
    /// Set no_new_privs (setuid and file capabilities stop raising
    /// privileges). Off for system nodes, whose su, sudo and ping need them,
    /// as under systemd-nspawn.
    pub no_new_privs: bool,
    /// The capabilities kept, as names.
    pub capabilities: Vec<String>,
}

/// A [`Confinement`] ready to apply: names parsed and filters compiled,
/// so that applying it allocates nothing.
pub struct Prepared {
    privileged: bool,
    no_new_privs: bool,
    filters: Vec<seccompiler::BpfProgram>,
    caps: ::caps::CapsHashSet,
}

impl Confinement {
    /// The confinement of the running container whose init has host pid
    /// `pid`, read from its /proc status, for commands run beside it
    /// (`warren exec`, a node's `exec:` and `ready:` commands): no seccomp
    /// filter means a privileged node; no_new_privs tells a container
    /// (Docker's profile) from a system node (nspawn's); the bounding set
    /// is the node's capabilities. A process can only tighten any of these
    /// for itself, never loosen them.
    pub fn of_process(pid: i32) -> io::Result<Confinement> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
                .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
        };
        let bounding = u64::from_str_radix(field("CapBnd")?, 16).map_err(io::Error::other)?;
        let mut capabilities: Vec<String> = ::caps::all()
            .into_iter()
            .filter(|c| bounding & c.bitmask() != 0)
            .map(|c| c.to_string())
            .collect();
        capabilities.sort();
        let no_new_privs = field("NoNewPrivs")? == "1";
        Ok(Confinement {
            privileged: field("Seccomp")? == "0",
            profile: if no_new_privs {
                seccomp::Profile::Docker
            } else {
                seccomp::Profile::Nspawn
            },
            no_new_privs,
            capabilities,
        })
    }

    /// Parses the capabilities and compiles the seccomp filters.
    pub fn prepare(&self) -> Result<Prepared, SecurityError> {
        if self.privileged {
            return Ok(Prepared {
                privileged: true,
                no_new_privs: false,
                filters: Vec::new(),
                caps: ::caps::CapsHashSet::new(),
            });
        }
        let caps = caps::set_of(&self.capabilities)?;
        let filters = seccomp::filters_for(self.profile, &caps, seccomp::native_arch()?)?;
        Ok(Prepared {
            privileged: false,
            no_new_privs: self.no_new_privs,
            filters,
            caps,
        })
    }
}

impl Prepared {
    /// Confines the calling thread: no_new_privs, then the seccomp filters
    /// (while the thread may still install them without no_new_privs),
    /// then the capability sets. A root process's later exec keeps exactly
    /// the node's capabilities.
    pub fn apply(&self) -> Result<(), SecurityError> {
        if self.privileged {
            return Ok(());
        }
        if self.no_new_privs {
            // SAFETY: PR_SET_NO_NEW_PRIVS only sets a flag of the calling thread.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(SecurityError::NoNewPrivs(io::Error::last_os_error()));
            }
        }
        seccomp::install(&self.filters)?;
        caps::keep(&self.caps)
    }
}
