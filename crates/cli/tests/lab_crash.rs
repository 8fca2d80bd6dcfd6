//! Crash safety: `kill -9` of the supervisor or of `warren up` at any point
//! of a 20-node lab's bring-up, then `warren down NAME`, leaves nothing
//! behind. Needs root.

mod common;
use common::*;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// The background command of the crash labs' nodes, unique to these tests:
/// a leftover one is a process the lab leaked.
const MARKER: &str = "6001.25";

/// Ten routers in a chain, ten hosts on a LAN behind the first router, and
/// background processes on some nodes that must die with the lab.
fn twenty_nodes(name: &str) -> String {
    let mut s = format!("name: {name}\nnodes:\n");
    for i in 0..10 {
        let _ = writeln!(
            s,
            "  r{i}:\n    sysctls: {{net.ipv4.ip_forward: 1}}\n    exec: [\"sleep 600 &\"]"
        );
    }
    for i in 0..10 {
        let _ = writeln!(s, "  h{i}: {{}}");
    }
    s.push_str("links:\n");
    for i in 1..10 {
        let _ = writeln!(
            s,
            "  - endpoints: [r{}:e{i}, r{i}:w{i}]\n    ipv4: [10.60.{i}.1/24, 10.60.{i}.2/24]",
            i - 1
        );
    }
    s.push_str("networks:\n  lan:\n    ipv4: 10.61.0.0/24\n    members: [r0:lan");
    for i in 0..10 {
        let _ = write!(s, ", h{i}:eth0");
    }
    s.push_str("]\n");
    s
}

/// After `down`, nothing of the lab is left: no state, no supervisor, no
/// node process (they carry `MARKER`), and no warren helper without a live
/// supervisor (which would hold the lab's namespaces). Namespaces held only
/// by the dead supervisor were freed by the kernel with it.
fn assert_clean(cwd: &Path, lab: &str, what: &str) {
    ok(cwd, &["down", lab]);
    assert!(
        !Path::new(&format!("/run/warren/{lab}")).exists(),
        "{what}: state left"
    );
    let mut leaks = Vec::new();
    for _ in 0..400 {
        leaks = processes_with(&format!("sleep {MARKER}"));
        leaks.extend(orphaned_warren_helpers());
        leaks.extend(processes_with(&format!("/run/warren/{lab}")));
        if leaks.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(leaks.is_empty(), "{what}: processes left behind: {leaks:?}");
}

#[test]
fn killing_the_supervisor_after_each_step_leaves_nothing_after_down() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = "crash-sup";
    let file = write_lab(tmp.path(), lab, &twenty_nodes(lab));
    let mut crashed = 0;
    for n in 1..200 {
        let out = warren(tmp.path())
            .args(["up", "-q", file.to_str().expect("path")])
            .env("WARREN_CRASH_AFTER_RECORD", n.to_string())
            .output()
            .expect("warren up runs");
        let what = format!("killed after journal record {n}");
        if out.status.success() {
            // The bring-up has fewer records than n: every step was covered.
            assert_clean(tmp.path(), lab, "complete run");
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("exited during bring-up"), "{what}: {err}");
        crashed += 1;
        assert_clean(tmp.path(), lab, &what);
    }
    assert!(
        crashed >= 20,
        "only {crashed} crash points: the journal should record every namespace"
    );
}

#[test]
fn killing_warren_up_or_the_supervisor_at_any_moment_leaves_nothing_after_down() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = "crash-time";
    let file = write_lab(tmp.path(), lab, &twenty_nodes(lab));
    for (i, delay_ms) in [0u64, 2, 5, 10, 20, 40, 80, 150, 300, 600, 1200]
        .into_iter()
        .enumerate()
    {
        let mut up = warren(tmp.path())
            .args(["up", "-q", file.to_str().expect("path")])
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if i % 2 == 0 {
            // Kill `warren up` itself; its supervisor runs on detached.
            let _ = up.kill();
        } else if let Ok(t) = std::fs::read_to_string(format!("/run/warren/{lab}/state.json"))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
            && let Some(pid) = v["supervisor"]["pid"].as_i64()
            && pid != i64::from(up.id())
        {
            // Kill the supervisor by the pid its state names (it is ours).
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        let _ = up.wait();
        assert_clean(tmp.path(), lab, &format!("killed after {delay_ms} ms"));
    }
}
