//! `warren test FILE`: up, the `tests:` section, JUnit XML and summary.md
//! in the run's evidence folder, down. Exit code 0 when every step passed,
//! 1 when one failed, 2 when the tests could not run (a bad lab file, a
//! lab that did not come up), so CI can tell a failing test from a broken
//! test bed.

use crate::Failure;
use crate::args::TestArgs;
use crate::testrun::report::{self, Totals};
use crate::testrun::{self, Context, Progress, StepReport, Verdict};
use nix::sys::signal::{SigSet, Signal};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use warren_lab::lifecycle;
use warren_lab::state::LabState;
use warren_topology::model::TestStep;

pub fn run(args: &TestArgs) -> Result<(), Failure> {
    match run_tests(args) {
        Err(f @ (Failure::Invalid { .. } | Failure::Error(_))) => {
            Err(Failure::Exit(f.print().max(2)))
        }
        other => other,
    }
}

fn run_tests(args: &TestArgs) -> Result<(), Failure> {
    let (lab, text) = args.lab.load()?;
    let shown = args.lab.file.display().to_string();
    if lab.tests.is_empty() {
        return Err(Failure::Error(miette::miette!(
            help = "add a `tests:` section (docs/testing.md), or use `warren up` to only build the lab",
            "{shown} has no tests to run"
        )));
    }
    // From here on the lab exists: Ctrl-C, SIGTERM or SIGHUP must still
    // tear it down. Blocked now, before any thread starts, so that only the
    // watcher below receives them (children get a clean mask from std).
    let signals = teardown_signals();
    signals
        .thread_block()
        .map_err(|e| miette::miette!("blocking signals: {e}"))?;
    let name = lab.name.clone();
    std::thread::spawn(move || {
        if let Ok(sig) = signals.wait() {
            eprintln!("warren test: {sig}, tearing lab {name} down");
            let _ = lifecycle::down(&name);
            std::process::exit(128 + sig as i32);
        }
    });
    let started = Instant::now();
    let dir = args.lab.bring_up(&lab, &text, false, !args.quiet)?;
    let results = LabState::read(&dir)
        .ok()
        .flatten()
        .map(|s| s.results)
        .ok_or_else(|| miette::miette!("lab {} vanished after coming up", lab.name))?;
    // Reported absolute: a CI step reading --json need not know our cwd.
    let results = std::fs::canonicalize(&results).unwrap_or(results);
    if !args.quiet {
        eprintln!(
            "lab {} is up in {:.2} s; running {} steps",
            lab.name,
            started.elapsed().as_secs_f64(),
            count_steps(&lab.tests)
        );
    }
    let cx = Context {
        lab_name: lab.name.clone(),
        state_dir: dir,
        results: results.clone(),
        program: std::env::current_exe()
            .map_err(|e| miette::miette!("finding this executable: {e}"))?,
        lab_dir: args
            .lab
            .file
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
        lab,
    };
    let live = Live {
        quiet: args.quiet,
        color: std::io::stderr().is_terminal(),
        lock: Mutex::new(()),
    };
    let reports = testrun::run(
        &cx,
        &cx.lab.tests,
        &testrun::Options {
            fail_fast: args.fail_fast,
            only: args.only.clone(),
        },
        &live,
    );
    let totals = Totals::of(&reports);
    write_reports(&cx, &reports, args.junit.as_deref())?;
    if args.json {
        let out = serde_json::json!({
            "lab": cx.lab_name, "results": results, "totals": totals, "steps": reports,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| miette::miette!("{e}"))?
        );
    } else {
        print_table(&reports);
    }
    let keep = args.keep && totals.failed > 0;
    if keep {
        eprintln!(
            "lab {} is kept up for debugging (--keep); `warren down {}` removes it",
            cx.lab_name, cx.lab_name
        );
    } else {
        lifecycle::down(&cx.lab_name).map_err(|e| {
            Failure::Error(Failure::report(e).wrap_err(format!("tearing lab {} down", cx.lab_name)))
        })?;
    }
    // After teardown, so the captures are complete (a kept lab's are
    // read as far as they go; `warren report` makes the page again). A
    // page that cannot be made does not change the run's verdict.
    if let Err(e) = super::report::write_into(&results) {
        eprintln!("warren test: no report.html:");
        e.print();
    }
    if !args.json {
        println!(
            "{}: {} passed, {} failed, {} skipped in {:.2} s; evidence in {}",
            if totals.failed == 0 { "ok" } else { "FAILED" },
            totals.passed,
            totals.failed,
            totals.skipped,
            started.elapsed().as_secs_f64(),
            results.display()
        );
    }
    if totals.failed > 0 {
        return Err(Failure::Exit(1));
    }
    Ok(())
}

fn teardown_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

fn count_steps(tests: &[warren_topology::model::Test]) -> usize {
    tests
        .iter()
        .map(|t| match t {
            warren_topology::model::Test::Step(_) => 1,
            warren_topology::model::Test::Parallel { parallel } => parallel.len(),
        })
        .sum()
}

/// junit.xml, steps.json and summary.md in the evidence folder (and the JUnit file
/// where `--junit` says).
fn write_reports(
    cx: &Context,
    reports: &[StepReport],
    junit_copy: Option<&Path>,
) -> Result<(), Failure> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let stamp = warren_lab::events::iso8601(warren_lab::events::now() as u64);
    let xml = report::junit(&cx.lab_name, &stamp, reports);
    let write = |path: PathBuf, text: &str| {
        std::fs::write(&path, text)
            .map_err(|e| Failure::Error(miette::miette!("writing {}: {e}", path.display())))
    };
    write(cx.results.join("junit.xml"), &xml)?;
    // Every step's result with its output, for report.html.
    let steps = serde_json::to_string_pretty(reports).map_err(|e| miette::miette!("{e}"))?;
    write(cx.results.join("steps.json"), &steps)?;
    if let Some(p) = junit_copy {
        write(p.to_path_buf(), &xml)?;
    }
    let evidence = evidence_files(&cx.results);
    write(
        cx.results.join("summary.md"),
        &report::summary(&cx.lab_name, reports, &evidence),
    )
}

/// The evidence folder's files, relative to it, sorted; summary.md lists
/// them (captures and logs are still being finished, so their names come
/// from what exists now).
fn evidence_files(results: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![results.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(results) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.push("summary.md".into());
    out.push("report.html".into());
    out.sort();
    out.dedup();
    out
}

fn print_table(reports: &[StepReport]) {
    let mut rows = vec![["STEP", "KIND", "RESULT", "SECONDS", "DETAIL"].map(String::from)];
    for r in reports {
        rows.push([
            r.name.clone(),
            r.kind.into(),
            report::verdict_word(r.verdict).into(),
            format!("{:.2}", r.seconds),
            r.message.clone(),
        ]);
    }
    print!("{}", crate::table::render(&rows));
}

/// A live line per step on stderr.
struct Live {
    quiet: bool,
    color: bool,
    lock: Mutex<()>,
}

impl Progress for Live {
    fn started(&self, step: &TestStep) {
        if self.quiet {
            return;
        }
        let _g = self.lock.lock();
        eprintln!("  run   {}", step.name.value);
    }

    fn ended(&self, r: &StepReport) {
        if self.quiet {
            return;
        }
        let (word, color) = match r.verdict {
            Verdict::Passed => ("ok", "32"),
            Verdict::Failed => ("FAIL", "31"),
            Verdict::Skipped => ("skip", "33"),
        };
        let word = if self.color {
            format!("\x1b[{color}m{word:<5}\x1b[0m")
        } else {
            format!("{word:<5}")
        };
        let _g = self.lock.lock();
        if r.message.is_empty() {
            eprintln!("  {word} {} ({:.2} s)", r.name, r.seconds);
        } else {
            eprintln!("  {word} {} ({:.2} s): {}", r.name, r.seconds, r.message);
        }
        if r.verdict == Verdict::Failed && !r.output.trim().is_empty() {
            for line in r.output.trim_end().lines().take(20) {
                eprintln!("        | {line}");
            }
        }
    }
}
