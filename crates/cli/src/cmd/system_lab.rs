//! A one-node lab whose node boots an OS image's systemd, for `warren run
//! --boot` and `warren probe`: systemd is installed first into an image
//! that lacks it (`provision: true`, the same cached derived layer a lab
//! node gets), and the lab goes down when the value is dropped.

use crate::Failure;
use std::path::{Path, PathBuf};
use std::time::Duration;
use warren_lab::lifecycle::{self, UpOptions};
use warren_lab::state::LabState;
use warren_runtime::procs::ProcessId;

/// How often the boot is polled: the caller waits for little else.
pub const POLL: Duration = Duration::from_millis(20);

/// What to boot.
pub struct Spec<'a> {
    /// The lab's name.
    pub lab: String,
    /// The node's name (its host name).
    pub node: &'a str,
    /// The image: a reference, a local image or a root directory.
    pub image: &'a str,
    /// Bind mounts, `SRC:DST[:ro]`.
    pub binds: Vec<String>,
    /// Wait for the boot to finish (`running` or `degraded`), rather than
    /// only for systemd to answer.
    pub booted: bool,
    /// Show pull progress.
    pub progress: bool,
    /// Boot in a user namespace of its own (`userns: true`).
    pub userns: bool,
    /// A private folder for the lab file and results.
    pub work: &'a Path,
}

/// A booted one-node lab, torn down when dropped, whatever happens in between.
pub struct SystemLab {
    /// The lab's name.
    pub name: String,
    /// The node's name.
    pub node: String,
    /// Its state, as `up` left it.
    pub state: LabState,
    /// This executable, for `__spawn` and `exec`.
    pub program: PathBuf,
}

/// Nothing in the lab is kept (its writable layer goes with it), so its
/// systemd is killed outright rather than asked to halt, and the lab is
/// torn down after it.
impl Drop for SystemLab {
    fn drop(&mut self) {
        if let Some(init) = self.state.containers.get(&self.node) {
            ProcessId::from(*init).kill();
        }
        let _ = lifecycle::down(&self.name);
    }
}

/// The lab file: one system node with systemd provisioned if missing.
///
/// With `booted`, the lab is up once the boot has finished; otherwise as
/// soon as systemd answers.
fn lab_text(spec: &Spec<'_>) -> String {
    let states = if spec.booted {
        "[running, degraded]"
    } else {
        "[initializing, starting, running, degraded]"
    };
    let mut s = format!(
        "name: {}\ncapture: none\nnodes:\n  {}:\n    kind: system\n    image: {:?}\n    provision: true\n    ready: {{system_state: {states}, interval: {}ms}}\n",
        spec.lab,
        spec.node,
        spec.image,
        POLL.as_millis()
    );
    if spec.userns {
        s.push_str("    userns: true\n");
    }
    if !spec.binds.is_empty() {
        s.push_str("    binds:\n");
        for b in &spec.binds {
            s.push_str(&format!("      - {b:?}\n"));
        }
    }
    s
}

impl SystemLab {
    /// Pulls or loads the image if needed, then brings the lab up.
    pub fn up(spec: &Spec<'_>) -> Result<SystemLab, Failure> {
        let program =
            std::env::current_exe().map_err(|e| miette::miette!("finding this executable: {e}"))?;
        let text = lab_text(spec);
        let file = spec.work.join("lab.yaml");
        std::fs::write(&file, &text).map_err(|e| miette::miette!("{}: {e}", file.display()))?;
        let loaded = warren_topology::load(&text, &spec.lab);
        let lab = loaded.lab.ok_or_else(|| {
            miette::miette!(
                "the lab for {} did not validate: {:?}",
                spec.image,
                loaded.diagnostics.0.first()
            )
        })?;
        // Resolved here, with progress on a terminal; the supervisor runs it.
        let image =
            warren_lab::images::resolve(spec.image, spec.progress).map_err(Failure::error)?;
        let opts = UpOptions {
            replace: false,
            foreground: false,
            results_root: spec.work.join("results"),
            images: [(spec.image.to_string(), image)].into(),
        };
        let dir = lifecycle::up(&lab, &text, &file, &opts, &program).map_err(Failure::error)?;
        let state = match LabState::read(&dir) {
            Ok(Some(state)) => state,
            // The lab is up but unusable: it goes down before the error.
            other => {
                let _ = lifecycle::down(&spec.lab);
                return Err(match other {
                    Err(e) => Failure::error(e),
                    _ => miette::miette!("the lab {} has no state", spec.lab).into(),
                });
            }
        };
        Ok(SystemLab {
            name: spec.lab.clone(),
            node: spec.node.to_owned(),
            state,
            program,
        })
    }

    /// A command that runs `argv` in the node through `warren __spawn`, stdin closed.
    pub fn command(&self, argv: &[&str]) -> std::process::Command {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        warren_lab::kinds::spawn_command(&self.state, &self.node, &argv, &self.program)
    }
}

/// A private working folder under the state root, named for `what` and this process.
pub fn work_dir(what: &str) -> Result<PathBuf, Failure> {
    let dir = warren_lab::state::state_root().join(format!("{what}-work-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| miette::miette!("{}: {e}", dir.display()))?;
    Ok(dir)
}
