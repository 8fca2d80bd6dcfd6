//! The runner of a lab's `tests:` section: steps in order, `parallel:`
//! groups side by side, each with its timeout, each logged to the run's
//! events file as it starts and ends.

pub mod netexec;
mod process;
pub mod report;
mod steps;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warren_lab::events;
use warren_lab::proto::Request;
use warren_topology::model::{Attachment, Lab, NodeKind, Test, TestStep};

/// A running lab, as the steps see it.
pub struct Context {
    /// The lab, resolved.
    pub lab: Lab,
    /// Its name.
    pub lab_name: String,
    /// Its state folder (the control socket lives there).
    pub state_dir: PathBuf,
    /// This run's evidence folder.
    pub results: PathBuf,
    /// The warren binary, for `exec` and `__netexec`.
    pub program: PathBuf,
    /// The lab file's folder: console uploads name files relative to it.
    pub lab_dir: PathBuf,
}

impl Context {
    /// The kind of node `name`.
    pub fn kind(&self, name: &str) -> Option<NodeKind> {
        self.lab.node(name).map(|n| n.kind)
    }

    /// The address a `ping` to `target` goes to: an address as written; a
    /// `node:if`'s first address (IPv4 first); for a node, the first
    /// address the lab gives its loopback (a router's own address), else
    /// the first on any of its links or networks.
    pub fn address_of(&self, target: &str) -> Option<IpAddr> {
        if let Ok(a) = target.parse::<IpAddr>() {
            return Some(a);
        }
        if let Some((node, iface)) = target.split_once(':') {
            let i = self.lab.node(node)?.interface(iface)?;
            return i.addresses().next().map(|a| a.value.addr);
        }
        let node = self.lab.node(target)?;
        let on = |lo: bool| {
            node.interfaces
                .iter()
                .filter(move |i| (i.attach == Attachment::Loopback) == lo)
                .flat_map(|i| i.addresses())
                .map(|a| a.value.addr)
                .next()
        };
        on(true).or_else(|| on(false))
    }

    /// Sends a request to the lab's supervisor; errors become one line.
    pub fn call(&self, request: Request, timeout: Duration) -> Result<serde_json::Value, String> {
        warren_lab::client::call(&self.state_dir, request, timeout).map_err(|e| {
            let mut text = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cur = c.source();
            }
            text
        })
    }

    /// The capture file of a link (by name or either endpoint) or network.
    pub fn capture_file(&self, name: &str) -> Result<PathBuf, String> {
        let canonical = self
            .lab
            .links
            .iter()
            .find(|l| l.name == name || l.endpoints.iter().any(|e| e.value.is(name)))
            .map(|l| l.name.clone())
            .or_else(|| {
                self.lab
                    .networks
                    .iter()
                    .find(|n| n.name.value == name)
                    .map(|n| n.name.value.clone())
            })
            .ok_or_else(|| format!("no link or network called {name}"))?;
        let info = self.call(Request::Inspect, Duration::from_secs(10))?;
        info["captures"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == canonical.as_str())
            .and_then(|c| c["file"].as_str())
            .map(PathBuf::from)
            .ok_or_else(|| format!("{canonical} is not captured (set `capture: true` on it)"))
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// It did what it says.
    Passed,
    /// It did not.
    Failed,
    /// It did not run (`--fail-fast` after a failure, or `--only`).
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// Its kind (`exec`, `ping`, ...).
    pub kind: &'static str,
    /// How it ended.
    pub verdict: Verdict,
    /// Seconds it took.
    pub seconds: f64,
    /// Why it failed (or was skipped); empty when it passed.
    pub message: String,
    /// What it saw.
    pub output: String,
}

/// What the runner reports as it goes.
pub trait Progress: Sync {
    /// A step starts.
    fn started(&self, step: &TestStep);
    /// A step ended.
    fn ended(&self, report: &StepReport);
}

/// Runner options.
#[derive(Debug, Default)]
pub struct Options {
    /// Skip everything after the first failure.
    pub fail_fast: bool,
    /// Run only steps whose name contains one of these (all when empty).
    pub only: Vec<String>,
}

/// Runs `tests` against the lab in `cx`, in order.
pub fn run(
    cx: &Context,
    tests: &[Test],
    opts: &Options,
    progress: &dyn Progress,
) -> Vec<StepReport> {
    let mut reports = Vec::new();
    let mut failed = false;
    for test in tests {
        let group: &[TestStep] = match test {
            Test::Step(s) => std::slice::from_ref(s),
            Test::Parallel { parallel } => parallel,
        };
        let skip = |s: &TestStep| {
            if failed && opts.fail_fast {
                Some("an earlier step failed (--fail-fast)")
            } else if !opts.only.is_empty() && !opts.only.iter().any(|o| s.name.value.contains(o)) {
                Some("not selected by --only")
            } else {
                None
            }
        };
        let results: Vec<StepReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|s| match skip(s) {
                    Some(why) => Err(skipped(s, why)),
                    None => Ok(scope.spawn(move || run_step(cx, s, progress))),
                })
                .collect();
            handles
                .into_iter()
                .zip(group)
                .map(|(h, s)| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| StepReport {
                        name: s.name.value.clone(),
                        kind: kind_of(s),
                        verdict: Verdict::Failed,
                        seconds: 0.0,
                        message: "the step's thread panicked".into(),
                        output: String::new(),
                    }),
                    Err(r) => r,
                })
                .collect()
        });
        for r in results {
            if r.verdict == Verdict::Skipped {
                progress.ended(&r);
            }
            failed |= r.verdict == Verdict::Failed;
            reports.push(r);
        }
    }
    reports
}

fn skipped(s: &TestStep, why: &str) -> StepReport {
    StepReport {
        name: s.name.value.clone(),
        kind: kind_of(s),
        verdict: Verdict::Skipped,
        seconds: 0.0,
        message: why.into(),
        output: String::new(),
    }
}

fn run_step(cx: &Context, step: &TestStep, progress: &dyn Progress) -> StepReport {
    progress.started(step);
    events::append(
        &cx.results,
        "step-start",
        serde_json::json!({ "name": step.name.value, "kind": kind_of(step) }),
    );
    let start = Instant::now();
    let timeout = step.timeout.to_std();
    let outcome = steps::run(cx, &step.action, start + timeout);
    let seconds = start.elapsed().as_secs_f64();
    let (verdict, message, output) = match outcome {
        Ok(p) => (Verdict::Passed, String::new(), p.output),
        Err(f) if start.elapsed() >= timeout => (
            Verdict::Failed,
            format!(
                "timed out after {:.1} s: {}",
                timeout.as_secs_f64(),
                f.message
            ),
            f.output,
        ),
        Err(f) => (Verdict::Failed, f.message, f.output),
    };
    let report = StepReport {
        name: step.name.value.clone(),
        kind: kind_of(step),
        verdict,
        seconds,
        message,
        output,
    };
    events::append(
        &cx.results,
        "step-end",
        serde_json::json!({
            "name": report.name, "result": report.verdict,
            "seconds": report.seconds, "message": report.message,
        }),
    );
    progress.ended(&report);
    report
}

fn kind_of(step: &TestStep) -> &'static str {
    use warren_topology::model::StepAction as A;
    match step.action {
        A::Exec(_) => "exec",
        A::Ping(_) => "ping",
        A::Http(_) => "http",
        A::Console(_) => "console",
        A::Wait(_) => "wait",
        A::Fault(_) => "fault",
        A::Capture(_) => "capture",
    }
}
