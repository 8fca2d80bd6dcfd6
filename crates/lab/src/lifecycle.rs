//! `up`, `down` and `ps` as the CLI calls them: preparing a lab's state
//! folder, starting its supervisor and waiting for it, stopping it and
//! sweeping what a crash left.

use crate::client;
use crate::proto::Request;
use crate::state::{self, LabState, ProcessRecord, Status};
use crate::supervisor::{self, ReadyMessage};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use warren_runtime::procs::ProcessId;
use warren_topology::Lab;

/// Errors of `up`, `down` and `ps`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// A lab of that name is already running.
    #[error(
        "lab {lab} is already running (from {file}); use `warren down {lab}` first or `warren up --replace`"
    )]
    AlreadyRunning {
        /// Lab name.
        lab: String,
        /// The file it runs from.
        file: String,
    },
    /// The state folder could not be used.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The supervisor could not be started.
    #[error("starting the supervisor of lab {lab}")]
    Spawn {
        /// Lab name.
        lab: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The supervisor reported a failed bring-up; `chain` holds its error and causes.
    #[error("{}", .chain.join(": "))]
    BringUp {
        /// The supervisor's error, then its causes.
        chain: Vec<String>,
    },
    /// The supervisor died during bring-up without a word.
    #[error("the supervisor of lab {lab} exited during bring-up; its log was {log}")]
    SupervisorDied {
        /// Lab name.
        lab: String,
        /// Its log file.
        log: PathBuf,
    },
    /// The supervisor did not stop in time.
    #[error("the supervisor of lab {lab} (pid {pid}) did not stop within {secs} s")]
    StopTimeout {
        /// Lab name.
        lab: String,
        /// Its pid.
        pid: i32,
        /// Seconds waited.
        secs: u64,
    },
}

/// Options of `warren up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Replace a running lab of the same name.
    pub replace: bool,
    /// Run the supervisor in this process until a signal.
    pub foreground: bool,
    /// The folder whose `<lab>/<run>/` receives evidence.
    pub results_root: PathBuf,
    /// The images of the lab's nodes, already resolved, by reference; the
    /// supervisor resolves the others itself.
    pub images: crate::saved::Images,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A run id that sorts by time: `20261123T124501Z`, with a suffix if taken.
fn run_dir(results_root: &Path, lab: &str) -> PathBuf {
    // 2026-11-23T14:57:57Z becomes 20261123T145757Z: sortable, no colons.
    let stamp: String = crate::events::iso8601(now_secs())
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let base = results_root.join(lab);
    let mut dir = base.join(&stamp);
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.join(format!("{stamp}-{n}"));
    }
    dir
}

/// Where a run's evidence goes: `flag` (`--results`), else the lab's
/// `results:`, else ./results.
pub fn results_root(flag: Option<&Path>, lab: &Lab) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| lab.results.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("results"))
}

/// Brings a validated lab up: state folder, supervisor, wait for ready.
/// The supervisor runs `lab` as validated here, with its plan and
/// `opts.images` ([`crate::saved`]); `text` is the lab file's source,
/// kept as evidence. Returns the state folder.
pub fn up(
    lab: &Lab,
    text: &str,
    file: &Path,
    opts: &UpOptions,
    program: &Path,
) -> Result<PathBuf, LifecycleError> {
    let dir = state::lab_dir(&lab.name);
    if let Some(st) = LabState::read(&dir)?
        && st.supervisor_alive()
    {
        if !opts.replace {
            return Err(LifecycleError::AlreadyRunning {
                lab: lab.name.clone(),
                file: st.file.display().to_string(),
            });
        }
        down(&lab.name)?;
    }
    // A folder without a live supervisor is what a crash left: sweep it.
    sweep(&dir)?;
    state::create_dir(&dir)?;
    let prepared = prepare(lab, text, file, opts, &dir);
    if let Err(e) = prepared {
        let _ = state::remove_dir(&dir);
        return Err(e);
    }
    if opts.foreground {
        let r = supervisor::run(&dir, program, None);
        return r
            .map(|()| dir)
            .map_err(|e| LifecycleError::BringUp { chain: chain(&e) });
    }
    start_detached(lab, &dir, program)?;
    Ok(dir)
}

fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push(c.to_string());
        cur = c.source();
    }
    out
}

fn prepare(
    lab: &Lab,
    text: &str,
    file: &Path,
    opts: &UpOptions,
    dir: &Path,
) -> Result<(), LifecycleError> {
    // The supervisor runs the lab as validated here, its plan and images.
    let plan = crate::steps::plan(lab);
    crate::saved::write(dir, lab, &plan, &opts.images)?;
    let resolved = serde_json::to_vec_pretty(lab).unwrap_or_default();
    let results = run_dir(&opts.results_root, &lab.name);
    std::fs::create_dir_all(&results).map_err(|source| state::StateError::Io {
        action: "creating",
        path: results.clone(),
        source,
    })?;
    // The evidence keeps what was asked for: the file as given (a compose
    // file converted), the resolved lab and its plan.
    let _ = std::fs::write(results.join("lab.yaml"), text);
    let _ = std::fs::write(results.join("lab.json"), &resolved);
    let _ = std::fs::write(
        results.join("plan.json"),
        serde_json::to_vec_pretty(&plan).unwrap_or_default(),
    );
    let me =
        ProcessId::of(std::process::id().cast_signed()).unwrap_or(ProcessId { pid: 0, start: 0 });
    let st = LabState {
        version: LabState::VERSION,
        lab: lab.name.clone(),
        file: std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()),
        status: Status::Starting,
        supervisor: ProcessRecord::from(me),
        init: None,
        rootless: !nix::unistd::geteuid().is_root(),
        netns: Default::default(),
        containers: Default::default(),
        consoles: Default::default(),
        results,
        created: now_secs(),
    };
    st.write(dir)?;
    Ok(())
}

/// Starts `program __supervise DIR` in its own session with the ready pipe
/// on fd 3, records it as the supervisor, and waits for its ready line.
fn start_detached(lab: &Lab, dir: &Path, program: &Path) -> Result<(), LifecycleError> {
    let spawn_err = |source| LifecycleError::Spawn {
        lab: lab.name.clone(),
        source,
    };
    let (read_end, write_end): (OwnedFd, OwnedFd) =
        nix::unistd::pipe().map_err(|e| spawn_err(e.into()))?;
    // The supervisor's log (its stderr) goes with the run's evidence,
    // which outlives the lab and a failed bring-up.
    let log_path = LabState::read(dir)?.map_or_else(
        || dir.join("supervisor.log"),
        |st| st.results.join("supervisor.log"),
    );
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(spawn_err)?;
    let wfd = write_end.as_raw_fd();
    let mut cmd = Command::new(program);
    cmd.arg("__supervise")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(spawn_err)?)
        .stderr(log);
    // SAFETY: setsid and dup2 are async-signal-safe; fd 3 receives the
    // pipe's write end (dup2 clears close-on-exec on the copy).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::dup2(wfd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The state must name the supervisor before it runs, so that a `down`
    // racing this `up` finds the right process.
    let child = cmd.spawn().map_err(spawn_err)?;
    drop(write_end);
    if let Some(id) = ProcessId::of(child.id().cast_signed())
        && let Some(mut st) = LabState::read(dir)?
    {
        st.supervisor = id.into();
        st.write(dir)?;
    }
    let mut line = String::new();
    let _ = BufReader::new(File::from(read_end)).read_line(&mut line);
    // The supervisor lives on in its own session; nobody waits for it here.
    drop(child);
    match serde_json::from_str::<ReadyMessage>(&line) {
        Ok(m) if m.ok => Ok(()),
        Ok(m) => Err(LifecycleError::BringUp { chain: m.error }),
        Err(_) => {
            let _ = sweep(dir);
            Err(LifecycleError::SupervisorDied {
                lab: lab.name.clone(),
                log: log_path,
            })
        }
    }
}

/// Removes what a dead supervisor left: its init, if somehow alive, what
/// its journal says was made outside the lab's namespaces (the cgroups of
/// system nodes), last first, and the state folder. The namespaces and
/// every process died with the supervisor.
fn sweep(dir: &Path) -> Result<(), LifecycleError> {
    if let Some(st) = LabState::read(dir).ok().flatten()
        && let Some(init) = st.init
    {
        ProcessId::from(init).signal(nix::sys::signal::Signal::SIGKILL);
    }
    undo_all(dir);
    state::remove_dir(dir)?;
    Ok(())
}

/// Undoes every undo record of the journal in `dir`, last first.
fn undo_all(dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for u in crate::journal::undos(dir).iter().rev() {
        tracing::info!(undo = ?u, "undoing what a crashed lab left");
        match u {
            crate::journal::Undo::Cgroup { path } => {
                crate::kinds::system::setup::remove_cgroup(path, deadline)
            }
            crate::journal::Undo::HostLink { name } => crate::apply::remove_host_link(name),
        }
    }
}

/// Stops the lab called `name` and removes everything it left. Returns
/// false when no such lab exists (a second `down` is a no-op).
pub fn down(name: &str) -> Result<bool, LifecycleError> {
    let dir = state::lab_dir(name);
    let Some(st) = LabState::read(&dir)? else {
        let existed = dir.exists();
        state::remove_dir(&dir)?;
        return Ok(existed);
    };
    // Read before the supervisor's teardown removes the folder: the host
    // ends of host links go with their nodes' namespaces only once the
    // kernel gets to it, so `down` removes them itself (below).
    let made = crate::journal::undos(&dir);
    let sup = ProcessId::from(st.supervisor);
    if sup.alive() {
        // Ask politely over the socket; fall back to SIGTERM by pid.
        if client::call(&dir, Request::Down, Duration::from_secs(5)).is_err() {
            sup.signal(nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while sup.alive() {
            if Instant::now() > deadline {
                sup.signal(nix::sys::signal::Signal::SIGKILL);
                std::thread::sleep(Duration::from_millis(200));
                if sup.alive() {
                    return Err(LifecycleError::StopTimeout {
                        lab: name.to_string(),
                        pid: sup.pid,
                        secs: 30,
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    sweep(&dir)?;
    remove_host_links(&made);
    Ok(true)
}

/// Removes the host ends of the host links `undos` records (see
/// [`crate::journal::Undo::HostLink`]): they go with their nodes'
/// namespaces only once the kernel gets to it.
pub(crate) fn remove_host_links(undos: &[crate::journal::Undo]) {
    for u in undos {
        if let crate::journal::Undo::HostLink { name } = u {
            crate::apply::remove_host_link(name);
        }
    }
}

/// One line of `warren ps`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LabSummary {
    /// Lab name.
    pub lab: String,
    /// `starting`, `running`, `stopping`, or `dead` when the supervisor is gone.
    pub status: String,
    /// Number of nodes.
    pub nodes: usize,
    /// Supervisor pid.
    pub pid: i32,
    /// The lab file.
    pub file: String,
    /// Seconds since the epoch at start.
    pub created: u64,
}

/// Every lab with state on this host for the calling user.
pub fn ps() -> Result<Vec<LabSummary>, LifecycleError> {
    let mut out = Vec::new();
    for (name, dir) in state::list()? {
        let Ok(Some(st)) = LabState::read(&dir) else {
            continue;
        };
        let status = if st.supervisor_alive() {
            serde_json::to_value(st.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        } else {
            "dead".to_string()
        };
        let nodes = std::fs::read_to_string(dir.join("lab.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["nodes"].as_array().map(Vec::len))
            .unwrap_or(0);
        out.push(LabSummary {
            lab: name,
            status,
            nodes,
            pid: st.supervisor.pid,
            file: st.file.display().to_string(),
            created: st.created,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undoing_removes_an_empty_cgroup_tree_and_its_empty_parents() {
        let root = tempfile::tempdir().expect("tempdir");
        let node = root.path().join("warren/lab/os");
        std::fs::create_dir_all(node.join("payload/init.scope")).expect("mkdir");
        let state = tempfile::tempdir().expect("tempdir");
        let mut j = crate::journal::Journal::open(state.path()).expect("journal");
        j.undo(&crate::journal::Undo::Cgroup { path: node.clone() })
            .expect("write");
        undo_all(state.path());
        assert!(!node.exists(), "the node's cgroup is gone");
        assert!(
            !root.path().join("warren").exists(),
            "and its empty parents"
        );
        assert!(root.path().exists());
    }
}
