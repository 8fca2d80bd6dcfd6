//! `warren test`: every example lab's `tests:` section passes, with the
//! evidence the run promises; a failing step is a JUnit failure naming the
//! step with its output and a non-zero exit; a step over its timeout is
//! killed; the lab is gone afterwards unless `--keep`. Needs root.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// One `warren test` run and its evidence folder.
struct TestRun {
    out: Output,
    results: PathBuf,
}

impl TestRun {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.results.join(name))
            .unwrap_or_else(|e| panic!("{name} in {}: {e}", self.results.display()))
    }

    fn events(&self) -> Vec<serde_json::Value> {
        self.file("events.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("each event is JSON"))
            .collect()
    }
}

/// Runs `warren test FILE --name NAME` with evidence under `cwd/results`.
fn warren_test(
    cwd: &Path,
    file: &Path,
    name: &str,
    extra: &[&str],
    env: &[(String, String)],
) -> TestRun {
    let results = cwd.join("results");
    let out = warren(cwd)
        .args(["test", file.to_str().expect("path"), "--name", name])
        .arg("--results")
        .arg(&results)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren test runs");
    let runs: Vec<PathBuf> = std::fs::read_dir(results.join(name))
        .unwrap_or_else(|e| {
            panic!(
                "no evidence folder for {name} ({e}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1, "one run folder: {runs:?}");
    TestRun {
        out,
        results: runs[0].clone(),
    }
}

/// The lab is not running any more and left no state.
fn assert_torn_down(cwd: &Path, name: &str) {
    assert!(
        !Path::new("/run/warren").join(name).exists(),
        "state of {name} is left"
    );
    let ps = ok(cwd, &["ps", "--json"]);
    assert!(
        !ps.contains(&format!("\"{name}\"")),
        "{name} still listed:\n{ps}"
    );
}

/// A passing run of `steps` steps: exit 0, JUnit and summary agree,
/// every step started and ended in the events between ready and teardown,
/// the resolved lab and its plan are kept, and the lab is gone.
fn assert_passed(cwd: &Path, name: &str, run: &TestRun, steps: usize) {
    assert!(
        run.out.status.success(),
        "warren test failed:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
    let junit = run.file("junit.xml");
    assert!(
        junit.contains(&format!(
            "<testsuite name=\"{name}\" tests=\"{steps}\" failures=\"0\" errors=\"0\" skipped=\"0\""
        )),
        "{junit}"
    );
    assert_eq!(junit.matches("<testcase ").count(), steps);
    assert!(
        run.file("summary.md")
            .contains(&format!("{steps} of {steps} steps passed, 0 failed"))
    );
    let events = run.events();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k} event: {kinds:?}"))
    };
    let (ready, teardown) = (at("ready"), at("teardown"));
    assert!(at("created") < ready && ready < teardown && teardown < at("down"));
    for k in ["step-start", "step-end"] {
        let positions: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i] == k).collect();
        assert_eq!(positions.len(), steps, "{k} events: {kinds:?}");
        assert!(positions.iter().all(|&i| ready < i && i < teardown));
    }
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "step-end")
            .all(|e| e["result"] == "passed")
    );
    let lab: serde_json::Value = serde_json::from_str(&run.file("lab.json")).expect("lab.json");
    assert!(lab["tests"].as_array().is_some_and(|t| !t.is_empty()));
    let plan: serde_json::Value = serde_json::from_str(&run.file("plan.json")).expect("plan.json");
    assert!(plan["steps"].as_array().is_some_and(|s| !s.is_empty()));
    assert_torn_down(cwd, name);
}

#[test]
fn triangle_example_passes_its_tests() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = warren_test(
        tmp.path(),
        &examples().join("triangle.yaml"),
        "tt-tri",
        &[],
        &[],
    );
    assert_passed(tmp.path(), "tt-tri", &run, 9);
    // The capture step read the run's own capture of that link.
    assert!(run.results.join("capture/r1.eth1-r2.eth1.pcapng").exists());
}

#[test]
fn dualstack_example_passes_its_tests() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = examples().join("dualstack.yaml");
    let run = warren_test(tmp.path(), &file, "tt-dual", &["--json"], &[]);
    assert_passed(tmp.path(), "tt-dual", &run, 5);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).expect("--json output");
    assert_eq!(json["totals"]["passed"], 5);
    assert_eq!(json["steps"][1]["name"], "IPv6 end to end");
    assert_eq!(json["steps"][1]["verdict"], "passed");
}

#[test]
fn lan_example_passes_its_tests() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = warren_test(tmp.path(), &examples().join("lan.yaml"), "tt-lan", &[], &[]);
    assert_passed(tmp.path(), "tt-lan", &run, 6);
    // The final table names every step.
    for step in [
        "h1 reaches h5",
        "upstream reaches every host",
        "the LAN carried ARP",
    ] {
        assert!(run.stdout().contains(step), "{}", run.stdout());
    }
}

#[test]
fn client_example_lab_passes_its_tests() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = examples().join("client/lab.yaml");
    let run = warren_test(tmp.path(), &file, "tt-client", &[], &[]);
    assert_passed(tmp.path(), "tt-client", &run, 6);
    // The fault fired by a step is in the events with both of its actions.
    let faults: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "fault")
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect();
    assert_eq!(faults, ["link r1:eth2 down", "link r1:eth2 up"]);
}

#[test]
fn allkinds_example_passes_its_tests() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    // The example names its DUT files beside itself; here they come from
    // the DUT fixture, the images from the registry fixture.
    let dut = dut_fixture();
    let dir = tmp.path().join("lab");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::copy(examples().join("allkinds.yaml"), dir.join("allkinds.yaml")).expect("copy");
    for f in ["vmlinuz", "initrd.gz"] {
        std::os::unix::fs::symlink(dut.join(f), dir.join(f)).expect("symlink");
    }
    let store = tmp.path().join("store");
    let env = systemd_env(&store);
    let run = warren_test(tmp.path(), &dir.join("allkinds.yaml"), "tt-all", &[], &env);
    assert_passed(tmp.path(), "tt-all", &run, 11);
    // Console evidence of the DUT is kept with the rest.
    let files = walk(&run.results);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("console")),
        "{files:?}"
    );
}

const FAILING: &str = "name: tt-fail
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:eth0, b:eth0]
    ipv4: [10.77.0.1/24, 10.77.0.2/24]
tests:
  - name: passes first
    ping: {from: a, to: b, count: 1}
  - name: wrong exit code
    exec: {node: a, cmd: 'echo visible-output; echo on-stderr >&2; exit 3'}
  - name: unreachable address
    ping: {from: a, to: 10.77.0.9, count: 2}
  - name: unroutable address
    ping: {from: a, to: 10.78.0.1, count: 1}
  - name: still runs after failures
    exec: {node: b, cmd: [ip, -o, addr, show, eth0], stdout: '10\\.77\\.0\\.2/24'}
  - name: nothing listens
    http: {from: a, url: 'http://10.77.0.2:8080/', status: 200}
  - name: slow step
    timeout: 1s
    exec: {node: a, cmd: [sleep, '31.4159']}
";

#[test]
fn failing_steps_are_junit_failures_with_their_output() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "fail", FAILING);
    let junit_copy = tmp.path().join("copy.xml");
    let run = warren_test(
        tmp.path(),
        &file,
        "tt-fail",
        &["--junit", junit_copy.to_str().expect("path")],
        &[],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    let junit = run.file("junit.xml");
    assert_eq!(
        std::fs::read_to_string(&junit_copy).expect("--junit copy"),
        junit
    );
    assert!(
        junit.contains("tests=\"7\" failures=\"5\" errors=\"0\" skipped=\"0\""),
        "{junit}"
    );
    let case = |name: &str| {
        let start = junit
            .find(&format!("<testcase name=\"{name}\""))
            .unwrap_or_else(|| panic!("no testcase {name}:\n{junit}"));
        let rest = &junit[start..];
        let end = rest.find("</testcase>").map_or(rest.len(), |e| e + 11);
        rest[..end].to_string()
    };
    let wrong = case("wrong exit code");
    assert!(
        wrong.contains("<failure message=\"exit code 3, expected 0\" type=\"exec\">"),
        "{wrong}"
    );
    assert!(
        wrong.contains("visible-output") && wrong.contains("on-stderr"),
        "{wrong}"
    );
    let unreachable = case("unreachable address");
    assert!(
        unreachable.contains("2 of 2 echo requests to 10.77.0.9 unanswered"),
        "{unreachable}"
    );
    let unroutable = case("unroutable address");
    assert!(
        unroutable.contains("no replies from 10.78.0.1: ping: connect: Network is unreachable"),
        "{unroutable}"
    );
    assert!(case("nothing listens").contains("GET http://10.77.0.2:8080/ failed"));
    let slow = case("slow step");
    assert!(slow.contains("timed out after 1.0 s"), "{slow}");
    assert!(!case("passes first").contains("<failure"));
    assert!(!case("still runs after failures").contains("<failure"));
    // The timed-out command was killed, not left behind.
    assert!(processes_with("31.4159").is_empty());
    // The table and summary say which steps failed.
    assert!(
        run.stdout()
            .contains("FAILED: 2 passed, 5 failed, 0 skipped"),
        "{}",
        run.stdout()
    );
    assert!(run.file("summary.md").contains("## wrong exit code failed"));
    assert_torn_down(tmp.path(), "tt-fail");
}

#[test]
fn fail_fast_skips_the_rest_and_keep_leaves_the_lab_up() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "fail", FAILING);
    let run = warren_test(
        tmp.path(),
        &file,
        "tt-keep",
        &["--fail-fast", "--keep"],
        &[],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    let junit = run.file("junit.xml");
    assert!(
        junit.contains("tests=\"7\" failures=\"1\" errors=\"0\" skipped=\"5\""),
        "{junit}"
    );
    assert!(junit.contains("<skipped message=\"an earlier step failed (--fail-fast)\"/>"));
    // Kept for debugging: still running and usable, until `down`.
    let ps = ok(tmp.path(), &["ps", "--json"]);
    assert!(ps.contains("\"tt-keep\""), "{ps}");
    let lab = LabGuard {
        name: "tt-keep".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("tt-keep"),
    };
    lab.ping("a", "10.77.0.2", &[]);
    drop(lab);
    assert_torn_down(tmp.path(), "tt-keep");
}

#[test]
fn a_lab_without_tests_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "plain", "name: tt-none\nnodes:\n  a: {}\n");
    let out = run(tmp.path(), &["test", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no tests to run"), "{err}");
    assert!(!tmp.path().join("results").exists());
    let bad = run(
        tmp.path(),
        &["test", file.to_str().expect("path"), "--name", "Bad_Name"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must match [a-z0-9][a-z0-9-]*"));
}

#[test]
fn an_unprivileged_user_tests_a_lab() {
    require_root();
    let tmp = tempdir_for_anyone();
    let file = tmp.path().join("dualstack.yaml");
    std::fs::copy(examples().join("dualstack.yaml"), &file).expect("copy");
    let out = as_nobody(
        tmp.path(),
        &[
            "test",
            "dualstack.yaml",
            "--name",
            "tt-rootless",
            "-q",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json");
    assert_eq!(json["totals"]["passed"], 5, "{json}");
    // Ping and http steps join the node's network namespace through the
    // lab's user namespace; nothing of the lab is left for the user.
    assert!(!Path::new("/tmp/warren-65534/tt-rootless").exists());
    let results = Path::new(json["results"].as_str().expect("results"));
    let junit = std::fs::read_to_string(results.join("junit.xml")).expect("junit");
    assert!(junit.contains("failures=\"0\""));
}
