//! The hidden helper subcommands the supervisor starts the `warren`
//! binary as, behind one library entry point each: the CLI parses their
//! arguments and calls these.
//!
//! - `warren __supervise DIR`: [`supervise`], the lab's supervisor;
//! - `warren __init`: [`init`], the init of the lab's pid namespace;
//! - `warren __container --spec F --pid-file P --exit-file E`:
//!   [`container`], one container node's process;
//! - `warren __spawn [--netns N] [--pidns P] [--container PID] -- CMD`:
//!   [`spawn`], a command in a node's namespaces.

use std::path::{Path, PathBuf};
use warren_runtime::container::ContainerSpec;
use warren_runtime::exec::NodeNamespaces;
use warren_runtime::security::{Confinement, Prepared};

/// Why a helper could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HelperError {
    /// This executable could not be found (for the supervisor's children).
    #[error("finding this executable")]
    Program(#[source] std::io::Error),
    /// The supervisor failed.
    #[error(transparent)]
    Supervisor(#[from] crate::supervisor::SupervisorError),
    /// A container spec could not be read.
    #[error("reading the container spec {path}")]
    Spec {
        /// The spec's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The container could not run.
    #[error(transparent)]
    Container(#[from] warren_runtime::container::ContainerError),
    /// The node's namespaces could not be joined, or the command not run.
    #[error(transparent)]
    Exec(#[from] warren_runtime::exec::ExecError),
    /// A container's confinement could not be read.
    #[error("reading the confinement of process {pid}")]
    Confinement {
        /// The container's init.
        pid: i32,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A container's confinement could not be compiled or applied.
    #[error(transparent)]
    Security(#[from] warren_runtime::security::SecurityError),
}

/// Runs the supervisor of the lab whose state folder is `dir` until the
/// lab is torn down. `warren up` hands it its ready pipe as fd 3.
pub fn supervise(dir: &Path) -> Result<(), HelperError> {
    let program = std::env::current_exe().map_err(HelperError::Program)?;
    let ready = warren_runtime::procs::inherited_file(3);
    Ok(crate::supervisor::run(dir, &program, ready)?)
}

/// Becomes the init of a new pid namespace for the lab; never returns.
pub fn init() -> ! {
    warren_runtime::pidns::init_main()
}

/// Runs the container of `spec`, writing its init's host pid to
/// `pid_file` once it runs and its exit code to `exit_file` when it ends;
/// returns that exit code.
pub fn container(spec: &Path, pid_file: &Path, exit_file: &Path) -> Result<i32, HelperError> {
    let spec_err = |source: Box<dyn std::error::Error + Send + Sync>| HelperError::Spec {
        path: spec.to_path_buf(),
        source,
    };
    let text = std::fs::read(spec).map_err(|e| spec_err(Box::new(e)))?;
    let spec: ContainerSpec = serde_json::from_slice(&text).map_err(|e| spec_err(Box::new(e)))?;
    let code = warren_runtime::container::launch(&spec, None, &mut |pid| {
        let _ = std::fs::write(pid_file, pid.to_string());
    })?;
    let _ = std::fs::write(exit_file, format!("{code}\n"));
    Ok(code)
}

/// Where [`spawn`] runs its command: a container's namespaces, or a
/// network namespace and optionally a pid namespace.
#[derive(Debug, Clone)]
pub enum SpawnIn {
    /// All namespaces of the container whose init has this host pid.
    Container(i32),
    /// A network namespace, and the lab's pid namespace if given.
    Netns {
        /// The network namespace (a `/proc/PID/fd/N` path).
        net: PathBuf,
        /// The pid namespace.
        pid: Option<PathBuf>,
    },
}

/// The confinement of the container whose init is `pid` (its
/// capabilities, seccomp filter, no-new-privileges), compiled and ready
/// to apply once its namespaces are joined: a command in a container
/// runs its image's programs, so it gets what its init got.
pub fn confinement_of(pid: i32) -> Result<Prepared, HelperError> {
    let c =
        Confinement::of_process(pid).map_err(|source| HelperError::Confinement { pid, source })?;
    Ok(c.prepare()?)
}

/// Joins the namespaces of `within` (this process must be
/// single-threaded), with a container's confinement, runs `argv` there
/// and returns its exit code.
pub fn spawn(within: SpawnIn, argv: &[String]) -> Result<i32, HelperError> {
    let (ns, confinement) = match within {
        SpawnIn::Container(pid) => (
            NodeNamespaces::of_container(pid, None),
            Some(confinement_of(pid)?),
        ),
        SpawnIn::Netns { net, pid } => (
            NodeNamespaces {
                net,
                pid,
                ..Default::default()
            },
            None,
        ),
    };
    ns.join()?;
    if let Some(c) = confinement {
        c.apply()?;
    }
    Ok(warren_runtime::exec::run(argv, &[])?)
}
