//! Where a running lab's state lives and what it holds.
//!
//! As root: `/run/warren/<lab>/`. Rootless: `$XDG_RUNTIME_DIR/warren/<lab>/`,
//! or `/tmp/warren-<uid>/<lab>/` when that variable is unset. The folder
//! holds `state.json` (written atomically), the resolved lab, the plan, the
//! journal, the control socket and the supervisor's log. Evidence goes to
//! the results folder instead, which outlives the lab.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use warren_runtime::procs::ProcessId;

/// Errors reading or writing lab state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file or folder of the state could not be read or written.
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
    /// `state.json` is not what this warren writes.
    #[error("reading {path}: not a warren state file")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// What `up` saved for the supervisor ([`crate::saved`]) is not what
    /// this warren writes.
    #[error("{path}: not a lab as `warren up` saves it")]
    Saved {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

fn io_err<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StateError + 'p {
    move |source| StateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The folder that holds every lab's state for the calling user.
pub fn state_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/warren");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("warren"),
        _ => PathBuf::from(format!("/tmp/warren-{}", nix::unistd::geteuid())),
    }
}

/// Where the lab called `name` keeps its state.
pub fn lab_dir(name: &str) -> PathBuf {
    state_root().join(name)
}

/// Lifecycle of a lab as its supervisor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being built.
    Starting,
    /// Built and serving.
    Running,
    /// Being torn down.
    Stopping,
}

/// A process recorded in the state, with its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Host pid.
    pub pid: i32,
    /// Start time in clock ticks since boot.
    pub start: u64,
}

impl From<ProcessId> for ProcessRecord {
    fn from(p: ProcessId) -> Self {
        ProcessRecord {
            pid: p.pid,
            start: p.start,
        }
    }
}

impl From<ProcessRecord> for ProcessId {
    fn from(p: ProcessRecord) -> Self {
        ProcessId {
            pid: p.pid,
            start: p.start,
        }
    }
}

/// `state.json`: what other warren processes need to find and enter a lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// Format version of this file.
    pub version: u32,
    /// Lab name.
    pub lab: String,
    /// The lab file it was started from.
    pub file: PathBuf,
    /// Lifecycle.
    pub status: Status,
    /// The supervisor process.
    pub supervisor: ProcessRecord,
    /// The init of the lab's pid namespace, once started.
    pub init: Option<ProcessRecord>,
    /// True when the lab lives in a user namespace of its own (rootless).
    pub rootless: bool,
    /// Each namespace's fd number in the supervisor (`/proc/PID/fd/N`), by
    /// node name; the hub is `#hub`.
    pub netns: BTreeMap<String, i32>,
    /// The init process of each running container node, by node name.
    #[serde(default)]
    pub containers: BTreeMap<String, ProcessRecord>,
    /// The console socket of each vm node, by node name.
    #[serde(default)]
    pub consoles: BTreeMap<String, PathBuf>,
    /// Where this run's evidence goes.
    pub results: PathBuf,
    /// Seconds since the epoch when the lab was started.
    pub created: u64,
}

/// Key of the hub in [`LabState::netns`]; `#` cannot start a node name.
pub const HUB_KEY: &str = "#hub";

impl LabState {
    /// Current format version.
    pub const VERSION: u32 = 1;

    /// Reads `state.json` of the lab in `dir`, if the file exists.
    pub fn read(dir: &Path) -> Result<Option<LabState>, StateError> {
        let path = dir.join("state.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StateError::Corrupt { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    /// Writes `state.json` atomically: a temporary file renamed over the old one.
    pub fn write(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join("state.json");
        let tmp = dir.join(format!("state.json.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))
    }

    /// True while the recorded supervisor process is alive.
    pub fn supervisor_alive(&self) -> bool {
        ProcessId::from(self.supervisor).alive()
    }

    /// `/proc` path of a namespace fd held by the supervisor.
    pub fn netns_path(&self, key: &str) -> Option<PathBuf> {
        let fd = self.netns.get(key)?;
        Some(PathBuf::from(format!(
            "/proc/{}/fd/{fd}",
            self.supervisor.pid
        )))
    }

    /// The namespaces `warren exec` joins to run a command on `node`: its
    /// network namespace and the lab's pid namespace, or all of a
    /// container's (its mount, uts, ipc and pid namespaces too); the lab's
    /// user namespace when it is rootless.
    pub fn node_namespaces(&self, node: &str) -> Option<warren_runtime::exec::NodeNamespaces> {
        let user = self
            .rootless
            .then(|| PathBuf::from(format!("/proc/{}/ns/user", self.supervisor.pid)));
        if let Some(init) = self.containers.get(node) {
            return Some(warren_runtime::exec::NodeNamespaces::of_container(
                init.pid, user,
            ));
        }
        Some(warren_runtime::exec::NodeNamespaces {
            user,
            net: self.netns_path(node)?,
            pid: self.init.map(|i| warren_runtime::pidns::pidns_path(i.pid)),
            ..Default::default()
        })
    }

    /// A state with results in `results` and nothing running, for unit
    /// tests of code that reads paths from it.
    #[cfg(test)]
    pub(crate) fn for_tests(results: &Path) -> LabState {
        LabState {
            version: LabState::VERSION,
            lab: "test".into(),
            file: results.join("lab.yaml"),
            status: Status::Starting,
            supervisor: ProcessRecord { pid: 0, start: 0 },
            init: None,
            rootless: false,
            netns: BTreeMap::new(),
            containers: BTreeMap::new(),
            consoles: BTreeMap::new(),
            results: results.to_path_buf(),
            created: 0,
        }
    }
}

/// Every lab folder under the state root, by name.
pub fn list() -> Result<Vec<(String, PathBuf)>, StateError> {
    let root = state_root();
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("listing", &root)(e)),
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    out.sort();
    Ok(out)
}

/// Creates the lab's state folder; fails if it exists (another lab of that
/// name is starting or running).
pub fn create_dir(dir: &Path) -> Result<(), StateError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        set_private(parent);
    }
    std::fs::create_dir(dir).map_err(io_err("creating", dir))?;
    set_private(dir);
    Ok(())
}

/// State is only for its owner: it names processes and namespace fds.
fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// Removes a lab's state folder and everything in it; a missing folder is fine.
pub fn remove_dir(dir: &Path) -> Result<(), StateError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", dir)(e)),
    }
}
