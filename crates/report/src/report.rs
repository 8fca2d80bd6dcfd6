//! `report.html`: one self-contained page per test run. In order: totals,
//! the topology, the timeline, each failed step with its message and
//! output, every step, the captures with their frames per second, the
//! consoles of vm and system nodes (the lines console steps expected
//! marked), and links to every evidence file.

use crate::evidence::{Console, Evidence};
use crate::html::{esc, page};
use crate::timeline::{self, Axis, Timeline};
use crate::topology::{Faults, Topology};
use crate::{svg, traffic};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Width of the timeline and the charts.
const WIDTH: f64 = 1160.0;

/// The page for the evidence `e`.
pub fn render(e: &Evidence) -> String {
    let lab_name = e.lab["name"].as_str().unwrap_or("lab");
    let run = e
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fired: BTreeSet<String> = e
        .events
        .iter()
        .filter(|ev| ev.event == "fault")
        .map(|ev| ev.text("fault"))
        .collect();
    let topo = Topology::from_lab_json(&e.lab, Faults::Fired(&fired));
    let counters: BTreeMap<String, String> = e
        .captures
        .iter()
        .map(|c| (c.name.clone(), format!("{} frames", c.frames)))
        .collect();
    let (t0, end) = (e.start(), e.end());
    let tl = Timeline::of(&e.events, t0, end);
    let axis = Axis::new(tl.span, WIDTH);

    let mut b = String::new();
    let count = |v: &str| e.steps.iter().filter(|s| s.verdict == v).count();
    let (passed, failed, skipped) = (count("passed"), count("failed"), count("skipped"));
    let _ = write!(
        b,
        "<h1>warren test: {}</h1>\n<p>Run <code>{}</code>.</p>\n<p class=\"totals\" data-passed=\"{passed}\" \
         data-failed=\"{failed}\" data-skipped=\"{skipped}\"><span class=\"passed\">{passed} passed</span>\
         <span class=\"failed\">{failed} failed</span><span class=\"skipped\">{skipped} skipped</span></p>\n",
        esc(lab_name),
        esc(&run)
    );
    b.push_str("<h2 id=\"topology\">Topology</h2>\n");
    b.push_str(&svg::topology(&topo, &counters));
    b.push_str(
        "<p>Dashed orange: impaired (the impairment is written on the link). Red with ⚡: hit by a fault during the run.</p>\n",
    );
    b.push_str("<h2 id=\"timeline\">Timeline</h2>\n");
    b.push_str(&timeline::svg(&tl, &axis));
    failures(&mut b, e);
    steps_table(&mut b, e);
    captures(&mut b, e, t0, &axis);
    consoles(&mut b, e);
    b.push_str("<h2 id=\"evidence\">Evidence</h2>\n<ul class=\"files\">\n");
    for f in &e.files {
        let _ = writeln!(b, "<li><a href=\"{}\">{}</a></li>", href(f), esc(f));
    }
    b.push_str("</ul>\n");
    page(&format!("warren test: {lab_name} {run}"), &b, "")
}

/// A relative link to an evidence file: its path with characters that
/// mean something in a URL escaped.
fn href(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn failures(b: &mut String, e: &Evidence) {
    let failed: Vec<_> = e.steps.iter().filter(|s| s.verdict == "failed").collect();
    if failed.is_empty() {
        return;
    }
    b.push_str("<h2 id=\"failures\">Failed steps</h2>\n");
    for s in failed {
        let _ = write!(
            b,
            "<section class=\"failure\" data-step=\"{}\"><h3 class=\"failed\">{}</h3>\
             <p class=\"message\">{}</p>",
            esc(&s.name),
            esc(&s.name),
            esc(&s.message)
        );
        if !s.output.trim().is_empty() {
            let _ = write!(
                b,
                "<pre class=\"output\">{}</pre>",
                esc(s.output.trim_end())
            );
        }
        b.push_str("</section>\n");
    }
}

fn steps_table(b: &mut String, e: &Evidence) {
    if e.steps.is_empty() {
        return;
    }
    b.push_str(
        "<h2 id=\"steps\">Steps</h2>\n<table class=\"steps\"><tr><th>step</th><th>kind</th><th>result</th>\
         <th>seconds</th><th>detail</th></tr>\n",
    );
    for s in &e.steps {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{:.2}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.kind),
            esc(&s.verdict),
            esc(&s.verdict),
            s.seconds,
            esc(&s.message)
        );
    }
    b.push_str("</table>\n");
}

fn captures(b: &mut String, e: &Evidence, t0: f64, axis: &Axis) {
    if e.captures.is_empty() {
        return;
    }
    b.push_str(
        "<h2 id=\"captures\">Captures</h2>\n<table class=\"captures\"><tr><th>link or network</th><th>file</th>\
         <th>frames</th><th>bytes</th><th>dropped</th></tr>\n",
    );
    for c in &e.captures {
        let _ = writeln!(
            b,
            "<tr data-capture=\"{}\" data-frames=\"{}\" data-bytes=\"{}\" data-dropped=\"{}\"><td>{}</td>\
             <td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            c.frames,
            c.bytes,
            c.dropped,
            esc(&c.name),
            href(&c.file),
            esc(&c.file),
            c.frames,
            c.bytes,
            c.dropped
        );
    }
    b.push_str("</table>\n<p>Frames per second, on the timeline's time axis:</p>\n");
    for c in &e.captures {
        b.push_str(&traffic::chart(c, t0, axis));
    }
}

/// The regexes console steps expected on each node (`expect`, `stdout`).
fn expected(lab: &serde_json::Value) -> BTreeMap<String, Vec<Regex>> {
    let mut out: BTreeMap<String, Vec<Regex>> = BTreeMap::new();
    let tests = lab["tests"].as_array().cloned().unwrap_or_default();
    let steps = tests.iter().flat_map(|t| match t["parallel"].as_array() {
        Some(group) => group.clone(),
        None => vec![t.clone()],
    });
    for s in steps {
        let c = &s["console"];
        let Some(node) = c["node"].as_str() else {
            continue;
        };
        for key in ["expect", "stdout"] {
            if let Some(re) = c[key].as_str().and_then(|p| Regex::new(p).ok()) {
                out.entry(node.to_string()).or_default().push(re);
            }
        }
    }
    out
}

fn consoles(b: &mut String, e: &Evidence) {
    if e.consoles.is_empty() {
        return;
    }
    let expected = expected(&e.lab);
    b.push_str(
        "<h2 id=\"consoles\">Consoles</h2>\n<p>Lines a console step expected are marked.</p>\n",
    );
    for c in &e.consoles {
        console(b, c, expected.get(&c.node).map_or(&[][..], Vec::as_slice));
    }
}

fn console(b: &mut String, c: &Console, patterns: &[Regex]) {
    let mut marked = 0;
    let mut body = String::new();
    for line in c.text.lines() {
        if patterns.iter().any(|p| p.is_match(line)) {
            marked += 1;
            let _ = writeln!(body, "<mark>{}</mark>", esc(line));
        } else {
            let _ = writeln!(body, "{}", esc(line));
        }
    }
    let _ = write!(
        b,
        "<details class=\"console\" data-node=\"{}\" data-marked=\"{marked}\"><summary>{} \
         ({} lines, {marked} expected; <a href=\"{}\">{}</a>)</summary>",
        esc(&c.node),
        esc(&c.node),
        c.text.lines().count(),
        href(&c.file),
        esc(&c.file)
    );
    if c.cut > 0 {
        let _ = write!(
            b,
            "<p>The first {} bytes are left out; the file has them.</p>",
            c.cut
        );
    }
    let _ = writeln!(b, "<pre>{body}</pre></details>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_shows_failures_consoles_and_links_without_loading_anything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let lab = serde_json::json!({
            "name": "rep",
            "nodes": [{"name": "dut", "kind": "vm", "interfaces": []}],
            "links": [], "networks": [],
            "tests": [{"parallel": [{"name": "c", "console": {"node": "dut", "expect": "marker-4[2]"}}]}],
        });
        std::fs::write(d.join("lab.json"), lab.to_string()).expect("write");
        std::fs::write(
            d.join("steps.json"),
            r#"[{"name":"c","kind":"console","verdict":"failed","seconds":1.0,"message":"no <match>","output":"line 1"}]"#,
        )
        .expect("write");
        std::fs::create_dir(d.join("console")).expect("mkdir");
        std::fs::write(
            d.join("console/dut.txt"),
            "boot\necho marker-42\nmarker-42\n",
        )
        .expect("write");
        std::fs::write(d.join("odd name#.txt"), "").expect("write");
        let html = render(&Evidence::read(d).expect("read"));
        assert!(html.contains("data-failed=\"1\""));
        assert!(html.contains("<section class=\"failure\" data-step=\"c\"><h3 class=\"failed\">c</h3><p class=\"message\">no &lt;match&gt;</p><pre class=\"output\">line 1</pre>"));
        assert!(html.contains("<mark>echo marker-42</mark>\n<mark>marker-42</mark>"));
        assert!(html.contains("data-marked=\"2\""));
        assert!(html.contains("<a href=\"odd%20name%23.txt\">"));
        assert!(html.contains("data-node=\"dut\" data-kind=\"vm\""));
        assert!(!html.contains("src=") && !html.contains("<link"));
    }
}
