//! The supervisor: one process per lab that owns its namespaces and
//! processes, serves the control socket, and tears the lab down.
//!
//! Start-up order matters for crash safety. The supervisor enters its user
//! namespace (rootless) and unshares its pid namespace while still
//! single-threaded, starts the lab's init (which dies with it), and only
//! then builds the network and runs node commands. Whatever moment it is
//! killed at, the kernel then frees the namespaces, and `warren down` only
//! has the state folder left to remove.
//!
//! - [`bringup`]: from the saved lab to a [`live::Live`] lab;
//! - [`decode`]: each control request decoded into a typed action (pure);
//! - [`control`]: the socket server answering those actions;
//! - [`fault_runner`]: the lab's `faults:` schedule and fired faults;
//! - [`teardown`]: the live lab undone.

mod bringup;
mod control;
pub mod decode;
mod fault_runner;
mod live;
mod scale;
mod teardown;

use crate::state::{self, LabState, Status};
use live::{Shared, lock};
use nix::sys::signal::{SigSet, Signal};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use warren_runtime::procs::ProcessId;

/// Errors that stop a supervisor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The lab's state could not be read or written.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The state folder has no lab state (`up` writes it first).
    #[error("{0} holds no lab state")]
    Lab(PathBuf),
    /// Entering the lab's user namespace failed.
    #[error(transparent)]
    Userns(#[from] warren_runtime::userns::UsernsError),
    /// Setting up the lab's pid namespace failed.
    #[error(transparent)]
    Pidns(#[from] warren_runtime::pidns::PidnsError),
    /// Building the network failed.
    #[error("building lab {lab}")]
    Apply {
        /// Lab name.
        lab: String,
        /// The cause.
        #[source]
        source: Box<crate::apply::ApplyError>,
    },
    /// A node could not be prepared, started or did not become ready.
    #[error(transparent)]
    Node(Box<crate::kinds::NodeError>),
    /// The bring-up plan has a step before what it needs (a bug).
    #[error("the bring-up plan is out of order: {0}")]
    OutOfOrder(&'static str),
    /// A node's `exec:` command could not run or failed.
    #[error(transparent)]
    Command(#[from] crate::commands::CommandError),
    /// A forward could not start.
    #[error(transparent)]
    Forward(#[from] crate::forward::ForwardError),
    /// An interface's `ethtool` or `nat` setting failed.
    #[error(transparent)]
    Tool(#[from] crate::tools::ToolError),
    /// A file of the supervisor could not be used.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> SupervisorError + 'p {
    move |source| SupervisorError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What the supervisor tells `warren up` once bring-up ends: one JSON line
/// on the ready pipe.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ReadyMessage {
    /// True when the lab is up.
    pub ok: bool,
    /// The error and its causes, when it is not.
    #[serde(default)]
    pub error: Vec<String>,
}

/// Open files the supervisor asks for: it holds a namespace fd per node
/// and, with capture on, a ring per captured link or network; route
/// sockets only for a bounded run of namespaces at a time while it builds
/// the lab (`apply::SOCKETS_AT_ONCE`). A 10,000-node chain so needs about
/// 10,300 with `capture: none` and 20,300 with capture, above the 20,000
/// hard limit some hosts set, which even root may not raise past where
/// the limit is enforced from outside (a container's): then the
/// supervisor goes as far as the hard limit. Not the kernel's ceiling
/// either: nodes inherit the limit, and programs that close every
/// possible fd would walk a million.
const OPEN_FILES: u64 = 1 << 18;

/// Raises the open-file limit to [`OPEN_FILES`] where it is lower (the
/// hard limit too, which root may), else leaves it.
fn raise_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= OPEN_FILES {
        return;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, OPEN_FILES, hard.max(OPEN_FILES)).is_err() {
        // Without the privilege to raise the hard limit, go as far as it.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Runs a lab's supervisor for the state folder `dir` until the lab is torn
/// down. `ready` receives one [`ReadyMessage`] line when bring-up ends.
/// `program` is this executable, started again as the lab's init.
///
/// Must be called while the process is single-threaded.
pub fn run(dir: &Path, program: &Path, ready: Option<File>) -> Result<(), SupervisorError> {
    let mut ready = ready;
    raise_open_files();
    let result = bringup::bring_up(dir, program);
    let running = match result {
        Ok(r) => r,
        Err(e) => {
            // What was built is already dropped, which freed it; remove the
            // state before answering, so `up` returns to a clean host.
            crate::lifecycle::remove_host_links(&crate::journal::undos(dir));
            let _ = state::remove_dir(dir);
            if let Some(f) = ready.as_mut() {
                let _ = send_ready(f, Err(&e));
            }
            return Err(e);
        }
    };
    // Listen before saying ready, so that `up` can inspect the lab at once.
    let sock_path = dir.join("control.sock");
    let listener = match UnixListener::bind(&sock_path) {
        Ok(l) => l,
        Err(source) => {
            let e = SupervisorError::Io {
                action: "listening on",
                path: sock_path,
                source,
            };
            let mut running = running;
            let _ = teardown::teardown(dir, &mut running);
            if let Some(f) = ready.as_mut() {
                let _ = send_ready(f, Err(&e));
            }
            return Err(e);
        }
    };
    if let Some(mut f) = ready.take() {
        let _ = send_ready(&mut f, Ok(()));
    }
    serve(dir, listener, running)
}

fn send_ready(f: &mut File, outcome: Result<(), &SupervisorError>) -> io::Result<()> {
    let msg = match outcome {
        Ok(()) => ReadyMessage {
            ok: true,
            error: Vec::new(),
        },
        Err(e) => {
            let mut chain = vec![e.to_string()];
            let mut cur = std::error::Error::source(e);
            while let Some(c) = cur {
                chain.push(c.to_string());
                cur = c.source();
            }
            ReadyMessage {
                ok: false,
                error: chain,
            }
        }
    };
    let mut line = serde_json::to_vec(&msg).map_err(io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

/// The signals that end a lab, taken by sigwait in the main thread.
fn shutdown_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Serves the control socket until a `down` request or a shutdown signal,
/// then tears the lab down.
fn serve(dir: &Path, listener: UnixListener, live: live::Live) -> Result<(), SupervisorError> {
    let shared: Shared = Arc::new(Mutex::new(live));
    let for_server = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("warren-control".into())
        .spawn(move || control::accept_loop(&listener, &for_server))
        .map_err(io_err("starting the control thread for", dir))?;
    let (timeline, results) = {
        let r = lock(&shared);
        (
            crate::faults::timeline(&r.lab.faults),
            r.state.results.clone(),
        )
    };
    if !timeline.is_empty() {
        let for_faults = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("warren-faults".into())
            .spawn(move || fault_runner::run_schedule(&timeline, &results, &for_faults))
            .map_err(io_err("starting the fault schedule for", dir))?;
    }
    // Wait for SIGTERM, SIGINT or SIGHUP; a `down` request sends SIGTERM to us.
    let _ = shutdown_signals().wait();
    let mut live = lock(&shared);
    live.state.status = Status::Stopping;
    let _ = live.state.write(dir);
    teardown::teardown(dir, &mut live)
}

/// The identity of the supervisor recorded in `st`, if it is still alive.
pub fn alive(st: &LabState) -> Option<ProcessId> {
    let p = ProcessId::from(st.supervisor);
    p.alive().then_some(p)
}
