//! Crash safety: `kill -9` of the supervisor or of `warren up` at any point
//! of a 20-node lab's bring-up, then `warren down NAME`, leaves nothing
//! behind. Needs root.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

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

/// Namespaces held by labs other than `lab` (other tests run in parallel).
fn other_labs_netns(lab: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(labs) = std::fs::read_dir("/run/warren") {
        for l in labs.flatten() {
            let Some(name) = l.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name != lab && Path::new(&format!("/run/warren/{name}/state.json")).exists() {
                out.extend(std::panic::catch_unwind(|| lab_netns(&name)).unwrap_or_default());
            }
        }
    }
    out
}

/// After `down`, nothing of the lab is left: no state, and no namespace
/// that was not there before except other labs'.
fn assert_clean(cwd: &Path, lab: &str, before: &BTreeSet<String>, what: &str) {
    ok(cwd, &["down", lab]);
    assert!(
        !Path::new(&format!("/run/warren/{lab}")).exists(),
        "{what}: state left"
    );
    let mut new = Vec::new();
    for _ in 0..400 {
        let others = other_labs_netns(lab);
        new = referenced_netns()
            .difference(before)
            .filter(|n| !others.contains(*n))
            .cloned()
            .collect();
        if new.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(new.is_empty(), "{what}: namespaces left behind: {new:?}");
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(
        !ps.contains(&format!("/run/warren/{lab}")),
        "{what}: a supervisor of {lab} still runs"
    );
}

#[test]
fn killing_the_supervisor_after_each_step_leaves_nothing_after_down() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = "crash-sup";
    let file = write_lab(tmp.path(), lab, &twenty_nodes(lab));
    let before = referenced_netns();
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
            assert_clean(tmp.path(), lab, &before, "complete run");
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("exited during bring-up"), "{what}: {err}");
        crashed += 1;
        assert_clean(tmp.path(), lab, &before, &what);
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
    let before = referenced_netns();
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
        assert_clean(
            tmp.path(),
            lab,
            &before,
            &format!("killed after {delay_ms} ms"),
        );
    }
}
