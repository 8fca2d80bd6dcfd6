//! The reports of a test run: JUnit XML for CI, summary.md for people.

use super::{StepReport, Verdict};
use std::fmt::Write;

/// Counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Steps that passed.
    pub passed: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps that did not run.
    pub skipped: usize,
}

impl Totals {
    /// Counts `reports`.
    pub fn of(reports: &[StepReport]) -> Totals {
        let count = |v| reports.iter().filter(|r| r.verdict == v).count();
        Totals {
            passed: count(Verdict::Passed),
            failed: count(Verdict::Failed),
            skipped: count(Verdict::Skipped),
        }
    }

    /// Every step.
    pub fn total(self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

/// JUnit XML of a run: one test suite named after the lab, one test case
/// per step; a failure carries the step's message and output.
pub fn junit(lab: &str, timestamp: &str, reports: &[StepReport]) -> String {
    let t = Totals::of(reports);
    let time: f64 = reports.iter().map(|r| r.seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"warren\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time:.3}\">",
        t.total(),
        t.failed,
        t.skipped
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time:.3}\" timestamp=\"{}\">",
        esc(lab),
        t.total(),
        t.failed,
        t.skipped,
        esc(timestamp)
    );
    for r in reports {
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{:.3}\"",
            esc(&r.name),
            esc(lab),
            r.kind,
            r.seconds
        );
        match r.verdict {
            Verdict::Passed if r.output.is_empty() => x.push_str("/>\n"),
            Verdict::Passed => {
                let _ = writeln!(
                    x,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    esc(&r.output)
                );
            }
            Verdict::Failed => {
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    esc(&r.message),
                    r.kind,
                    esc(&format!("{}\n\n{}", r.message, r.output))
                );
            }
            Verdict::Skipped => {
                let _ = writeln!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(&r.message)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Escapes text for XML content and attributes, dropping characters XML
/// 1.0 cannot hold (a console's escape sequences).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The run in Markdown: totals, a table of steps, then each failure with
/// its output, then where the rest of the evidence is.
pub fn summary(lab: &str, reports: &[StepReport], evidence: &[String]) -> String {
    let t = Totals::of(reports);
    let mut md = format!(
        "# warren test: {lab}\n\n{} of {} steps passed, {} failed, {} skipped.\n\n",
        t.passed,
        t.total(),
        t.failed,
        t.skipped
    );
    md.push_str("| step | kind | result | seconds | detail |\n|---|---|---|---|---|\n");
    for r in reports {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {} |",
            cell(&r.name),
            r.kind,
            verdict_word(r.verdict),
            r.seconds,
            cell(&r.message)
        );
    }
    for r in reports.iter().filter(|r| r.verdict == Verdict::Failed) {
        let _ = write!(md, "\n## {} failed\n\n{}\n", r.name, r.message);
        if !r.output.trim().is_empty() {
            let _ = write!(
                md,
                "\n```\n{}\n```\n",
                r.output.trim_end().replace("```", "'''")
            );
        }
    }
    if !evidence.is_empty() {
        md.push_str("\n## Evidence\n\n");
        for e in evidence {
            let _ = writeln!(md, "- {e}");
        }
    }
    md
}

/// The word for a verdict in tables.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "pass",
        Verdict::Failed => "FAIL",
        Verdict::Skipped => "skip",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, verdict: Verdict, message: &str, output: &str) -> StepReport {
        StepReport {
            name: name.into(),
            kind: "exec",
            verdict,
            seconds: 0.25,
            message: message.into(),
            output: output.into(),
        }
    }

    #[test]
    fn junit_names_the_failing_step_with_its_output() {
        let reports = [
            step("ok", Verdict::Passed, "", ""),
            step(
                "a <b> & \"c\"",
                Verdict::Failed,
                "exit code 1, expected 0",
                "boom\x1b[0m",
            ),
            step("later", Verdict::Skipped, "an earlier step failed", ""),
        ];
        let x = junit("lab1", "2026-11-23T15:00:00Z", &reports);
        assert!(x.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(x.contains("<testcase name=\"ok\" classname=\"lab1.exec\" time=\"0.250\"/>"));
        assert!(x.contains("name=\"a &lt;b&gt; &amp; &quot;c&quot;\""));
        assert!(x.contains(
            "<failure message=\"exit code 1, expected 0\" type=\"exec\">exit code 1, expected 0\n\nboom[0m</failure>"
        ));
        assert!(x.contains("<skipped message=\"an earlier step failed\"/>"));
        assert!(!x.contains('\x1b'));
    }

    #[test]
    fn summary_lists_steps_and_failures() {
        let reports = [
            step("ok", Verdict::Passed, "", ""),
            step("bad | step", Verdict::Failed, "exit code 2", "out"),
        ];
        let md = summary("lab1", &reports, &["junit.xml".into()]);
        assert!(md.contains("1 of 2 steps passed, 1 failed, 0 skipped."));
        assert!(md.contains("| bad \\| step | exec | FAIL | 0.25 | exit code 2 |"));
        assert!(md.contains("## bad | step failed\n\nexit code 2\n\n```\nout\n```"));
        assert!(md.contains("- junit.xml"));
    }
}
