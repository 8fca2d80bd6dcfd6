//! The client library: a running lab as a Rust value. [`Lab::up`] brings a
//! lab file up through a `warren` supervisor (see [`crate::binary`]) and
//! the handle tears it down when dropped; every method is one request of
//! the control protocol (`docs/control-protocol.md`).
//!
//! ```no_run
//! use std::time::Duration;
//! let lab = warren_lab::Lab::up("lab.yaml")?;
//! let out = lab.node("h1").exec(&["ping", "-c1", "10.0.2.2"])?;
//! assert!(out.success(), "{}", out.stderr_text());
//! lab.console("dut").expect("login:", Duration::from_secs(30))?;
//! # Ok::<(), warren_lab::LabError>(())
//! ```

mod scale;
mod streams;

pub use scale::Scaled;
pub use streams::{Capture, Console, ConsoleMatch, Event, Events, Qmp, Uploaded};

use crate::client::{self, ClientError};
use crate::lifecycle::{self, LifecycleError, UpOptions};
use crate::proto::{ExecFrame, LabInfo, Request};
use crate::state::{self, LabState};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors of the client library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The lab file could not be read.
    #[error("reading lab file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The lab file has errors; each problem is `file:line:column: message`.
    #[error("lab file {file} is not valid:\n{}", problems.join("\n"))]
    Invalid {
        /// The file.
        file: String,
        /// Every problem, in file order.
        problems: Vec<String>,
    },
    /// [`Options::name`] is not a usable lab name.
    #[error("{0}")]
    Name(String),
    /// No warren binary to run the supervisor.
    #[error(transparent)]
    NoWarren(#[from] crate::binary::NotFound),
    /// Bringing the lab up or down failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The lab's state could not be read.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// No lab of that name is running.
    #[error("no lab called {0} is running")]
    NotRunning(String),
    /// A request to the lab's supervisor failed.
    #[error(transparent)]
    Control(#[from] ClientError),
    /// The supervisor's answer did not have the expected shape.
    #[error("reading the supervisor's answer to {request}")]
    Answer {
        /// The request.
        request: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// `warren scale` failed: the lab was not brought up from a compose
    /// file, a service is unknown, or the supervisor refused the scaling.
    #[error("scaling lab {lab} failed: {message}")]
    Scale {
        /// Lab name.
        lab: String,
        /// What warren said.
        message: String,
    },
    /// Reading a stream (capture, events) failed.
    #[error("reading the {stream} stream of lab {lab}")]
    Stream {
        /// `events` or `capture`.
        stream: &'static str,
        /// Lab name.
        lab: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// How long a plain request may take to be answered.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time the supervisor gets beyond a console wait.
const CONSOLE_MARGIN: Duration = Duration::from_secs(5);
/// How long [`Lab::fault`] waits: a fault lasts as long as its `down:` or `for:`.
const FAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Options of [`Lab::up_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Run the lab under this name instead of the file's `name:` (or its
    /// stem), so that tests can run one file several times at once.
    pub name: Option<String>,
    /// The folder whose `<lab>/<run>/` receives the evidence; default: the
    /// file's `results:`, else `results` in the current directory.
    pub results: Option<PathBuf>,
    /// Tear down a running lab of the same name first.
    pub replace: bool,
    /// The warren binary; default: [`crate::binary::warren`].
    pub warren: Option<PathBuf>,
}

/// A running lab. Dropping a handle from [`Lab::up`] tears the lab down
/// (best effort, errors ignored); one from [`Lab::attach`] leaves it running.
#[derive(Debug)]
pub struct Lab {
    name: String,
    dir: PathBuf,
    results: PathBuf,
    owned: bool,
}

impl Lab {
    /// Brings the lab file at `path` up and returns once it is ready.
    pub fn up(path: impl AsRef<Path>) -> Result<Lab, LabError> {
        Lab::up_with(path, &Options::default())
    }

    /// [`Lab::up`] with options.
    pub fn up_with(path: impl AsRef<Path>, options: &Options) -> Result<Lab, LabError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("lab");
        let loaded = warren_topology::load(&text, stem);
        let file = path.display().to_string();
        let Some(mut lab) = loaded.lab else {
            let problems = loaded
                .diagnostics
                .0
                .iter()
                .map(|d| format!("{}: {}: {}", d.location(&file, &text), d.code, d.message))
                .collect();
            return Err(LabError::Invalid { file, problems });
        };
        if let Some(name) = &options.name {
            lab.rename(name).map_err(LabError::Name)?;
        }
        let program = match &options.warren {
            Some(p) => p.clone(),
            None => crate::binary::warren()?,
        };
        let opts = UpOptions {
            replace: options.replace,
            foreground: false,
            results_root: lifecycle::results_root(options.results.as_deref(), &lab),
            // Nothing shows a pull's progress here: the supervisor resolves
            // the images, once.
            images: Default::default(),
        };
        let dir = lifecycle::up(&lab, &text, path, &opts, &program)?;
        // Owned from here on, so that any later failure still tears it down.
        let results = LabState::read(&dir)
            .ok()
            .flatten()
            .map(|st| st.results)
            .unwrap_or_default();
        Ok(Lab {
            name: lab.name,
            dir,
            results,
            owned: true,
        })
    }

    /// A handle on the running lab called `name`; dropping it leaves the
    /// lab running.
    pub fn attach(name: &str) -> Result<Lab, LabError> {
        Lab::at(name.to_string(), state::lab_dir(name))
    }

    fn at(name: String, dir: PathBuf) -> Result<Lab, LabError> {
        match LabState::read(&dir)? {
            Some(st) if st.supervisor_alive() => Ok(Lab {
                name,
                dir,
                results: st.results,
                owned: false,
            }),
            _ => Err(LabError::NotRunning(name)),
        }
    }

    /// Tears the lab down now, whichever way the handle was made.
    pub fn down(mut self) -> Result<(), LabError> {
        self.owned = false;
        lifecycle::down(&self.name)?;
        Ok(())
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This run's results folder: captures, logs, `events.jsonl`. It stays
    /// after teardown.
    pub fn results_dir(&self) -> &Path {
        &self.results
    }

    /// Nodes, interfaces, addresses and routes, read live from the kernel.
    pub fn inspect(&self) -> Result<LabInfo, LabError> {
        let v = client::call(&self.dir, Request::Inspect, CALL_TIMEOUT)?;
        serde_json::from_value(v).map_err(|source| LabError::Answer {
            request: "inspect",
            source,
        })
    }

    /// A node, to run commands in (netns, container and system nodes);
    /// `NODE/CONTAINER` names one of its `containers:`.
    pub fn node(&self, name: &str) -> Node<'_> {
        Node {
            lab: self,
            name: name.to_string(),
        }
    }

    /// One of `node`'s `containers:`, to run commands in: the same as
    /// `node("NODE/CONTAINER")`.
    pub fn container(&self, node: &str, container: &str) -> Node<'_> {
        self.node(&crate::kinds::pod::target(node, container))
    }

    /// A vm node's serial console.
    pub fn console(&self, node: &str) -> Console<'_> {
        Console {
            lab: self,
            node: node.to_string(),
        }
    }

    /// A vm node's QMP monitor.
    pub fn qmp(&self, node: &str) -> Qmp<'_> {
        Qmp {
            lab: self,
            node: node.to_string(),
        }
    }

    /// Live pcapng of a link (its name or an endpoint, `r1:eth1`) or a
    /// network, from now until the returned reader is dropped.
    pub fn capture(&self, link: &str) -> Result<Capture, LabError> {
        let (reader, _) = client::open(
            &self.dir,
            Request::Capture {
                link: link.to_string(),
            },
        )?;
        Ok(Capture {
            reader,
            lab: self.name.clone(),
        })
    }

    /// Replaces the impairments of a wired link (both directions for a link
    /// name, one egress for `node:if`) with `keys` as in the lab file
    /// (`("delay", "50ms")`); no keys clears them.
    pub fn impair<K, V>(
        &self,
        link: &str,
        keys: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), LabError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let impair = keys
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let request = Request::Impair {
            link: link.to_string(),
            impair,
        };
        client::call(&self.dir, request, CALL_TIMEOUT)?;
        Ok(())
    }

    /// Turns a wired link's carrier on or off, as both ends see it.
    pub fn link(&self, link: &str, up: bool) -> Result<(), LabError> {
        let request = Request::Link {
            link: link.to_string(),
            up,
        };
        client::call(&self.dir, request, CALL_TIMEOUT)?;
        Ok(())
    }

    /// Fires the `faults:` entry called `name` and returns once its last
    /// action (the end of its `down:` or `for:`) is done.
    pub fn fault(&self, name: &str) -> Result<(), LabError> {
        let request = Request::Fault {
            name: name.to_string(),
        };
        client::call(&self.dir, request, FAULT_TIMEOUT)?;
        Ok(())
    }

    /// The run's events, from the first, then each new one as it happens.
    /// The iterator blocks for new events; see [`Events::idle_timeout`].
    pub fn events(&self) -> Result<Events, LabError> {
        let (reader, _) = client::open(&self.dir, Request::Events)?;
        Ok(Events {
            reader,
            lab: self.name.clone(),
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.owned {
            let _ = lifecycle::down(&self.name);
        }
    }
}

/// What a command run with [`Node::exec`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code; 128 + the signal when killed.
    pub status: i32,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// It was killed at [`ExecOptions::timeout`].
    pub timed_out: bool,
}

impl Output {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Options of [`Node::exec_with`].
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Extra environment, on top of the node's `env:`.
    pub env: BTreeMap<String, String>,
    /// Text written to the command's stdin; without it stdin is empty.
    pub stdin: Option<String>,
    /// Kill the command (its whole process group) after this long; whole
    /// seconds, rounded up.
    pub timeout: Option<Duration>,
}

/// A netns, container or system node of a [`Lab`].
#[derive(Debug)]
pub struct Node<'l> {
    lab: &'l Lab,
    name: String,
}

impl Node<'_> {
    /// Runs `argv` (no shell) in the node and collects its output.
    pub fn exec<S: AsRef<str>>(&self, argv: &[S]) -> Result<Output, LabError> {
        self.exec_with(argv, &ExecOptions::default())
    }

    /// [`Node::exec`] with environment, stdin and a timeout.
    pub fn exec_with<S: AsRef<str>>(
        &self,
        argv: &[S],
        options: &ExecOptions,
    ) -> Result<Output, LabError> {
        let mut out = Output::default();
        self.exec_streaming(argv, options, &mut |stderr, bytes| {
            if stderr {
                out.stderr.extend_from_slice(bytes);
            } else {
                out.stdout.extend_from_slice(bytes);
            }
        })
        .map(|(status, timed_out)| Output {
            status,
            timed_out,
            ..out
        })
    }

    /// Runs `argv` in the node and hands its output to `on_output` as it
    /// comes (`true` for stderr); returns the exit code and whether the
    /// timeout killed it.
    pub fn exec_streaming<S: AsRef<str>>(
        &self,
        argv: &[S],
        options: &ExecOptions,
        on_output: &mut dyn FnMut(bool, &[u8]),
    ) -> Result<(i32, bool), LabError> {
        let request = Request::Exec {
            node: self.name.clone(),
            argv: argv.iter().map(|a| a.as_ref().to_string()).collect(),
            env: options.env.clone(),
            stdin: options.stdin.clone(),
            timeout_secs: options
                .timeout
                .map(|t| t.as_secs() + u64::from(t.subsec_nanos() > 0)),
        };
        let mut timed_out = false;
        let code = client::exec(&self.lab.dir, request, &mut |frame| {
            if let Some((stderr, bytes)) = frame.output() {
                on_output(stderr, &bytes);
            } else if let ExecFrame::TimedOut(_) = frame {
                timed_out = true;
            }
        })?;
        Ok((code, timed_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_file_is_refused_with_every_problem_at_its_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, "nodes:\n  r1: {}\nlinks:\n  - [r1:eth1, r3:eth1]\n").expect("write");
        let err = Lab::up(&file).expect_err("invalid");
        let LabError::Invalid { problems, .. } = &err else {
            panic!("{err}");
        };
        let at = format!("{}:4:15: warren::unknown-node: ", file.display());
        assert!(problems.iter().any(|p| p.starts_with(&at)), "{problems:?}");
        assert!(err.to_string().contains("no node called `r3`"), "{err}");
    }

    #[test]
    fn a_bad_name_override_is_refused_before_anything_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("ok.yaml");
        std::fs::write(&file, "nodes:\n  r1: {}\n").expect("write");
        let options = Options {
            name: Some("Far-Too-Long-Name".into()),
            ..Options::default()
        };
        let err = Lab::up_with(&file, &options).expect_err("bad name");
        assert!(matches!(err, LabError::Name(_)), "{err}");
        assert!(matches!(
            Lab::attach("no-such-lab"),
            Err(LabError::NotRunning(_))
        ));
    }
}
