//! report.html, `warren graph --format html` and `warren view`, looked at
//! in headless Chromium: every node and link is drawn, a failed step is
//! shown with its message and output, the page asks nothing of the
//! network, the timeline and capture charts agree with events.jsonl and
//! with tshark's reading of the same pcapng, and the live view shows a
//! link cut by `warren link` within two seconds. Needs root (labs) and
//! chromium (scripts/setup). Screenshots are kept in
//! `target/tmp/report-shots/`.

mod browser;
mod common;
use browser::{Browser, Page};
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the screenshots go, to look at after a run.
fn shot(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-shots");
    std::fs::create_dir_all(&dir).expect("shots dir");
    dir.join(format!("{name}.png"))
}

/// Runs `warren test` with results under `cwd/results`; returns the run's
/// evidence folder and the exit code.
fn warren_test(cwd: &Path, file: &Path, env: &[(String, String)]) -> (PathBuf, Option<i32>) {
    let out = warren(cwd)
        .args(["test", "-q", file.to_str().expect("path"), "--results"])
        .arg(cwd.join("results"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren test runs");
    let runs: Vec<PathBuf> = walk(&cwd.join("results"))
        .into_iter()
        .filter(|p| p.ends_with("report.html"))
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one report.html: {runs:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = runs[0].parent().expect("run folder").to_path_buf();
    (dir, out.status.code())
}

fn events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .expect("events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event"))
        .collect()
}

fn lab_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("lab.json")).expect("lab.json"))
        .expect("JSON")
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// Opens a local page and asserts it requested nothing but itself.
fn open_alone(b: &mut Browser, url: &str) -> Page {
    let page = b.open(url);
    // Let late requests (fonts, images, prefetches) show up.
    std::thread::sleep(Duration::from_millis(500));
    b.eval(&page, "1");
    assert_eq!(b.requests(&page), [url], "the page made other requests");
    page
}

/// The drawing has exactly the lab's nodes, networks, links and network
/// memberships.
fn assert_topology(b: &mut Browser, page: &Page, lab: &Value) {
    let drawn = |b: &mut Browser, attr: &str| {
        strings(&b.eval(
            page,
            &format!(
                "Array.from(document.querySelectorAll('svg.topology [data-{attr}]')).map(e => e.dataset.{attr})"
            ),
        ))
    };
    let names = |key: &str| -> BTreeSet<String> {
        lab[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| n["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(drawn(b, "node"), names("nodes"));
    assert_eq!(drawn(b, "network"), names("networks"));
    let mut links = names("links");
    for net in lab["networks"].as_array().into_iter().flatten() {
        for m in net["members"].as_array().expect("members") {
            links.insert(format!(
                "{}/{}",
                net["name"].as_str().expect("name"),
                m.as_str().expect("member")
            ));
        }
    }
    let edges = strings(&b.eval(
        page,
        "Array.from(document.querySelectorAll('svg.topology g.edge')).map(e => e.dataset.link)",
    ));
    assert_eq!(edges, links);
    // Each node's shape is inside the drawing's box and labelled.
    let visible = b.eval(
        page,
        "Array.from(document.querySelectorAll('svg.topology [data-node]')).every(g => {
           const r = g.getBoundingClientRect(), s = g.ownerSVGElement.getBoundingClientRect();
           return r.width > 20 && r.left >= s.left && r.right <= s.right + 1 && g.textContent.includes(g.dataset.node);
         })",
    );
    assert_eq!(visible, Value::Bool(true));
}

const FAILING: &str = "name: rep-fail
nodes:
  a: {}
  b: {}
  c: {}
links:
  - endpoints: [a:eth0, b:eth0]
    ipv4: [10.79.0.1/24, 10.79.0.2/24]
    impair: {delay: 5ms}
networks:
  lan:
    members: [a:lan, b:lan, c:lan]
    ipv4: 192.168.79.0/24
faults:
  - name: cut a-b
    link: a:eth0
    down: 1s
tests:
  - name: a reaches b
    ping: {from: a, to: 10.79.0.2, count: 3}
  - name: wrong exit code
    exec: {node: a, cmd: 'echo visible-output; exit 3'}
  - parallel:
      - name: cut the link
        fault: cut a-b
      - name: c reaches b over the lan
        ping: {from: c, to: 192.168.79.2, count: 4}
  - name: a reaches b again
    wait:
      ping: {from: a, to: 10.79.0.2, count: 1}
      retries: 10
      interval: 300ms
";

#[test]
fn a_failed_run_is_drawn_with_its_failure_timeline_and_captures() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "fail", FAILING);
    let (dir, code) = warren_test(tmp.path(), &file, &[]);
    assert_eq!(code, Some(1));
    let lab = lab_json(&dir);
    let mut b = Browser::launch();
    let url = format!("file://{}", dir.join("report.html").display());
    let page = open_alone(&mut b, &url);
    b.screenshot(&page, &shot("rep-fail"));
    assert_topology(&mut b, &page, &lab);
    // The impaired link says how, the fault marks it.
    let class = b.eval(
        &page,
        "document.querySelector('g.edge[data-link=\"a.eth0-b.eth0\"]').getAttribute('class')",
    );
    assert_eq!(class, "edge link impaired faulted");
    let text = b.eval(
        &page,
        "document.querySelector('g.edge[data-link=\"a.eth0-b.eth0\"]').textContent",
    );
    let text = text.as_str().expect("text");
    assert!(
        text.contains("delay 5ms") && text.contains("10.79.0.1/24") && text.contains("fault"),
        "{text}"
    );
    // The failed step, with its message and output.
    let failure = b.eval(
        &page,
        "Array.from(document.querySelectorAll('section.failure')).map(s => [s.dataset.step, s.querySelector('.message').textContent, s.querySelector('pre').textContent])",
    );
    assert_eq!(
        failure,
        serde_json::json!([[
            "wrong exit code",
            "exit code 3, expected 0",
            "visible-output"
        ]])
    );
    assert_timeline(&mut b, &page, &dir);
    assert_captures(&mut b, &page, &dir);
    // `warren report` makes the same page again.
    let again = ok(
        tmp.path(),
        &["report", dir.to_str().expect("path"), "-o", "-"],
    );
    assert!(
        again == std::fs::read_to_string(dir.join("report.html")).expect("report"),
        "warren report wrote a different page"
    );
}

/// Each step bar sits where its step-start and step-end events say, on
/// the drawing's own scale; each fault action is a marker at its time.
fn assert_timeline(b: &mut Browser, page: &Page, dir: &Path) {
    let evs = events(dir);
    let drawn = b.eval(
        page,
        "(() => { const s = document.querySelector('svg.timeline');
           return { t0: +s.dataset.t0, x0: +s.dataset.x0, scale: +s.dataset.scale,
             bars: Array.from(s.querySelectorAll('g[data-name]')).map(g => ({ name: g.dataset.name,
               start: +g.dataset.start, end: +g.dataset.end, result: g.dataset.result,
               x: +g.querySelector('rect').getAttribute('x'), w: +g.querySelector('rect').getAttribute('width') })),
             markers: Array.from(s.querySelectorAll('g.marker')).map(g => ({ kind: g.dataset.kind, at: +g.dataset.at })) }; })()",
    );
    let t0 = drawn["t0"].as_f64().expect("t0");
    let (x0, scale) = (
        drawn["x0"].as_f64().expect("x0"),
        drawn["scale"].as_f64().expect("scale"),
    );
    assert!(
        t0 <= evs[0]["t"].as_f64().expect("t"),
        "the timeline starts at or before the first event"
    );
    let ends: Vec<&Value> = evs.iter().filter(|e| e["event"] == "step-end").collect();
    let bars = drawn["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), ends.len(), "{bars:?}");
    assert_eq!(bars.len(), 5);
    for bar in bars {
        let name = bar["name"].as_str().expect("name");
        let time = |kind: &str| {
            evs.iter()
                .find(|e| e["event"] == kind && e["name"] == name)
                .and_then(|e| e["t"].as_f64())
                .unwrap_or_else(|| panic!("no {kind} of {name}"))
                - t0
        };
        let (start, end) = (time("step-start"), time("step-end"));
        let close = |a: f64, b: f64| (a - b).abs() < 0.002;
        assert!(close(bar["start"].as_f64().expect("start"), start), "{bar}");
        assert!(close(bar["end"].as_f64().expect("end"), end), "{bar}");
        let result = ends
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["result"].clone());
        assert_eq!(Some(bar["result"].clone()), result);
        // Geometry: x and width follow the scale.
        assert!((bar["x"].as_f64().expect("x") - (x0 + start * scale)).abs() < 0.05);
        let w = bar["w"].as_f64().expect("w");
        assert!((w - ((end - start) * scale).max(1.5)).abs() < 0.05, "{bar}");
    }
    // The parallel pair overlaps in time.
    let span = |n: &str| {
        let bar = bars.iter().find(|b| b["name"] == n).expect(n);
        (
            bar["start"].as_f64().expect("s"),
            bar["end"].as_f64().expect("e"),
        )
    };
    let (cut, lan) = (span("cut the link"), span("c reaches b over the lan"));
    assert!(cut.0 < lan.1 && lan.0 < cut.1, "{cut:?} {lan:?}");
    let faults: Vec<f64> = evs
        .iter()
        .filter(|e| e["event"] == "fault")
        .map(|e| e["t"].as_f64().expect("t") - t0)
        .collect();
    let markers: Vec<f64> = drawn["markers"]
        .as_array()
        .expect("markers")
        .iter()
        .filter(|m| m["kind"] == "fault")
        .map(|m| m["at"].as_f64().expect("at"))
        .collect();
    assert_eq!(markers.len(), 2, "the fault's down and up");
    assert_eq!(markers.len(), faults.len());
    for (m, f) in markers.iter().zip(&faults) {
        assert!((m - f).abs() < 0.002);
    }
}

/// tshark's reading of a capture: each frame's time and length.
fn tshark_frames(file: &Path) -> Vec<(f64, u64)> {
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"])
        .env("HOME", "/nonexistent")
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (t, len) = l.split_once('\t').expect("two fields");
            (
                t.parse().expect("time"),
                len.trim().parse().expect("length"),
            )
        })
        .collect()
}

/// Each capture's frames, bytes and frames per second match tshark's
/// reading of the same file and the supervisor's final counts.
fn assert_captures(b: &mut Browser, page: &Page, dir: &Path) {
    let rows = b.eval(
        page,
        "Array.from(document.querySelectorAll('table.captures tr[data-capture]')).map(r => ({ name: r.dataset.capture,
           frames: +r.dataset.frames, bytes: +r.dataset.bytes, file: r.querySelector('a').getAttribute('href') }))",
    );
    let rows = rows.as_array().expect("rows");
    let down = events(dir)
        .into_iter()
        .find(|e| e["event"] == "down")
        .expect("a down event");
    assert_eq!(
        rows.len(),
        down["captures"].as_array().expect("captures").len()
    );
    assert_eq!(rows.len(), 2, "the link and the network");
    for row in rows {
        let name = row["name"].as_str().expect("name");
        let frames = tshark_frames(&dir.join(row["file"].as_str().expect("href")));
        assert!(!frames.is_empty(), "{name} captured nothing");
        assert_eq!(row["frames"].as_u64(), Some(frames.len() as u64), "{name}");
        assert_eq!(
            row["bytes"].as_u64(),
            Some(frames.iter().map(|f| f.1).sum()),
            "{name}"
        );
        let fin = down["captures"]
            .as_array()
            .expect("captures")
            .iter()
            .find(|c| c["name"] == name)
            .expect("final count");
        assert_eq!(row["frames"], fin["captured"], "{name}");
        let chart = b.eval(
            page,
            &format!(
                "(() => {{ const s = document.querySelector('svg.traffic[data-capture=\"{name}\"]');
                   return {{ t0: +s.dataset.t0, bars: Array.from(s.querySelectorAll('rect[data-second]'))
                     .map(r => [+r.dataset.second, +r.dataset.frames]) }}; }})()"
            ),
        );
        let t0 = chart["t0"].as_f64().expect("t0");
        let mut want: std::collections::BTreeMap<u64, u64> = Default::default();
        for (t, _) in &frames {
            assert!(*t >= t0 - 1e-3, "a frame before the chart's start");
            *want.entry(((t - t0).max(0.0)).floor() as u64).or_default() += 1;
        }
        let got: std::collections::BTreeMap<u64, u64> = chart["bars"]
            .as_array()
            .expect("bars")
            .iter()
            .map(|p| (p[0].as_u64().expect("s"), p[1].as_u64().expect("n")))
            .collect();
        assert_eq!(got, want, "{name}: frames per second");
    }
}

#[test]
fn graph_html_draws_every_node_and_link_of_a_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = examples().join("allkinds.yaml");
    let html = ok(
        tmp.path(),
        &["graph", file.to_str().expect("path"), "--format", "html"],
    );
    // The SVG file is the same drawing, styled by itself.
    let svg = ok(
        tmp.path(),
        &["graph", file.to_str().expect("path"), "--format", "svg"],
    );
    assert!(svg.starts_with("<?xml") && svg.contains("<style>"));
    for node in ["client", "web", "os", "dut"] {
        let attr = format!("data-node=\"{node}\"");
        assert_eq!(svg.matches(&attr).count(), 1, "{node}");
        assert_eq!(html.matches(&attr).count(), 1, "{node}");
    }
    let page_file = tmp.path().join("graph.html");
    std::fs::write(&page_file, &html).expect("write");
    let lab: Value = serde_json::from_str(&ok(
        tmp.path(),
        &["graph", file.to_str().expect("path"), "--format", "json"],
    ))
    .expect("json");
    let mut b = Browser::launch();
    let page = open_alone(&mut b, &format!("file://{}", page_file.display()));
    b.screenshot(&page, &shot("graph-allkinds"));
    assert_topology(&mut b, &page, &lab);
    let kinds = b.eval(
        &page,
        "Object.fromEntries(Array.from(document.querySelectorAll('svg.topology [data-node]')).map(g => [g.dataset.node, [g.dataset.kind, g.querySelector('polygon') !== null, +g.querySelector('rect').getAttribute('rx')]]))",
    );
    assert_eq!(
        kinds,
        serde_json::json!({
            "client": ["netns", false, 0], "web": ["container", false, 10],
            "os": ["system", false, 10], "dut": ["vm", true, 0],
        })
    );
    let lan = b.eval(
        &page,
        "document.querySelector('svg.topology [data-network=\"mgmt\"]').textContent",
    );
    assert!(
        lan.as_str()
            .is_some_and(|t| t.contains("192.168.77.0/24") && t.contains("2001:db8:77::/64")),
        "{lan}"
    );
}

#[test]
fn the_allkinds_run_report_shows_every_kind_and_the_consoles() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dut = dut_fixture();
    let labdir = tmp.path().join("lab");
    std::fs::create_dir(&labdir).expect("mkdir");
    let text = std::fs::read_to_string(examples().join("allkinds.yaml"))
        .expect("example")
        .replace("name: allkinds", "name: rep-all");
    std::fs::write(labdir.join("allkinds.yaml"), text).expect("write");
    for f in ["vmlinuz", "initrd.gz"] {
        std::os::unix::fs::symlink(dut.join(f), labdir.join(f)).expect("symlink");
    }
    let env = systemd_env(&tmp.path().join("store"));
    let (dir, code) = warren_test(tmp.path(), &labdir.join("allkinds.yaml"), &env);
    assert_eq!(code, Some(0), "allkinds passes");
    let lab = lab_json(&dir);
    let mut b = Browser::launch();
    let page = open_alone(
        &mut b,
        &format!("file://{}", dir.join("report.html").display()),
    );
    b.screenshot(&page, &shot("rep-all"));
    assert_topology(&mut b, &page, &lab);
    assert_timeline_counts(&mut b, &page, &dir);
    // The consoles of the vm and the system node, with the lines the
    // console steps expected marked.
    let consoles = b.eval(
        &page,
        "Object.fromEntries(Array.from(document.querySelectorAll('details.console')).map(d => [d.dataset.node, Array.from(d.querySelectorAll('mark')).map(m => m.textContent)]))",
    );
    for (node, expected) in [("dut", "marker-42"), ("os", "os-42")] {
        let marks = consoles[node]
            .as_array()
            .unwrap_or_else(|| panic!("no console of {node}: {consoles}"));
        assert!(
            marks
                .iter()
                .any(|m| m.as_str().is_some_and(|m| m.contains(expected))),
            "{node}: {marks:?}"
        );
    }
    assert_eq!(
        b.eval(&page, "document.querySelector('.totals').dataset.passed"),
        "11"
    );
}

/// As many bars as steps, each with its result.
fn assert_timeline_counts(b: &mut Browser, page: &Page, dir: &Path) {
    let ends: Vec<(String, String)> = events(dir)
        .into_iter()
        .filter(|e| e["event"] == "step-end")
        .map(|e| {
            (
                e["name"].as_str().expect("name").into(),
                e["result"].as_str().expect("result").into(),
            )
        })
        .collect();
    let bars: Vec<(String, String)> = serde_json::from_value(b.eval(
        page,
        "Array.from(document.querySelectorAll('svg.timeline g[data-name]')).map(g => [g.dataset.name, g.dataset.result])",
    ))
    .expect("pairs");
    let (mut ends, mut bars) = (ends, bars);
    ends.sort();
    bars.sort();
    assert_eq!(bars, ends);
}

const VIEWED: &str = "name: rep-view
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:eth0, b:eth0]
    ipv4: [10.78.0.1/24, 10.78.0.2/24]
networks:
  lan:
    members: [a:lan, b:lan]
    ipv4: 192.168.78.0/24
";

/// `warren view` on a port the system chose, stopped by pid when dropped.
struct View {
    child: std::process::Child,
    url: String,
}

impl View {
    fn start(cwd: &Path, lab: &str) -> View {
        let mut child = warren(cwd)
            .args(["view", lab])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("warren view starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the URL");
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
        View { child, url }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_live_view_shows_a_cut_link_within_two_seconds() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "view", VIEWED);
    let lab = LabGuard::up(tmp.path(), &file, "rep-view");
    // `graph` takes a running lab's name too.
    let page = ok(tmp.path(), &["graph", "rep-view", "--format", "html"]);
    assert!(
        page.contains("data-node=\"a\"") && page.contains("data-link=\"lan/b:lan\""),
        "{page}"
    );
    let mut view = View::start(tmp.path(), "rep-view");
    let mut b = Browser::launch();
    let page = b.open(&view.url);
    let state = |b: &mut Browser| {
        b.eval(
            &page,
            "document.querySelector('g.edge[data-link=\"a.eth0-b.eth0\"]').dataset.state || ''",
        )
    };
    let until = |b: &mut Browser, want: &str, within: Duration| -> Duration {
        let start = Instant::now();
        while state(b) != want {
            assert!(
                start.elapsed() < within,
                "the link did not show {want} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        start.elapsed()
    };
    until(&mut b, "up", Duration::from_secs(5));
    ok(tmp.path(), &["link", "rep-view", "a:eth0", "down"]);
    let took = until(&mut b, "down", Duration::from_secs(2));
    eprintln!("the view showed the cut after {took:?}");
    b.screenshot(&page, &shot("rep-view"));
    // Node states, frame counters and events came along; the network
    // memberships stayed up.
    let seen = b.eval(
        &page,
        "({ nodes: Array.from(document.querySelectorAll('svg.topology [data-node]')).map(g => g.dataset.state),
            lan: Array.from(document.querySelectorAll('g.edge.member')).map(g => g.dataset.state),
            counter: document.querySelector('g.edge[data-link=\"a.eth0-b.eth0\"] .counter').textContent,
            lanCounter: document.querySelector('.counter[data-capture=\"lan\"]').textContent,
            events: Array.from(document.querySelectorAll('#events li')).map(l => l.textContent) })",
    );
    assert_eq!(seen["nodes"], serde_json::json!(["running", "running"]));
    assert_eq!(seen["lan"], serde_json::json!(["up", "up"]));
    assert!(
        seen["counter"]
            .as_str()
            .is_some_and(|c| c.ends_with(" frames")),
        "{seen}"
    );
    assert!(
        seen["events"].as_array().is_some_and(|e| e
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains(" ready ")))),
        "{seen}"
    );
    ok(tmp.path(), &["link", "rep-view", "a:eth0", "up"]);
    until(&mut b, "up", Duration::from_secs(2));
    // Only the view's own server was asked, and only to read.
    for u in b.requests(&page) {
        assert!(u.starts_with(&view.url), "{u}");
    }
    let post = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("{}state", view.url))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&post.stdout), "405");
    // The view stops by itself when the lab goes down.
    drop(lab);
    let start = Instant::now();
    loop {
        if let Some(status) = view.child.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "warren view still runs after the lab went down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn view_and_report_refuse_what_is_not_there() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run(tmp.path(), &["view", "rep-none"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no lab called rep-none is running"), "{err}");
    let out = run(tmp.path(), &["report", tmp.path().to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a readable evidence folder") && err.contains("lab.json"),
        "{err}"
    );
    assert!(!tmp.path().join("report.html").exists());
}
