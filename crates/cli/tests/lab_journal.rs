//! `warren down` after a supervisor was killed with SIGKILL: it undoes,
//! from the lab's journal, what was made outside the lab's namespaces (a
//! system node's cgroups), while what lived in the namespaces (a macvlan
//! child of a host interface, the veths) went with the supervisor. Needs
//! root, the fixture registry and the systemd image.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cgroup folders the journal in `dir` says to remove.
fn journaled_cgroups(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).expect("the lab has a journal");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "undo" && v["undo"]["kind"] == "cgroup")
        .filter_map(|v| v["undo"]["path"].as_str().map(PathBuf::from))
        .collect()
}

#[test]
fn down_after_a_killed_supervisor_undoes_the_journal() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    // A host interface for the macvlan's parent: one end of a veth pair
    // in the host namespace, which this test owns and removes.
    let _ = ip(&["link", "del", "wjr0"]);
    assert!(ip(&[
        "link", "add", "wjr0", "type", "veth", "peer", "name", "wjr1"
    ]));
    assert!(ip(&["link", "set", "wjr0", "up"]));
    let lab = "jr-kill";
    let file = write_lab(
        tmp.path(),
        lab,
        "name: jr-kill
nodes:
  os: {kind: system, image: 'debian:systemd'}
  h: {}
interfaces:
  h:mv0: {macvlan: {parent: wjr0, mode: bridge}, ipv4: [10.71.0.1/24]}
links:
  - endpoints: [h:eth1, os:eth1]
    ipv4: [10.71.1.1/24, 10.71.1.2/24]
",
    );
    let result = std::panic::catch_unwind(|| {
        up_with(tmp.path(), &file, &env);
        let held = lab_netns(lab);
        let dir = PathBuf::from(format!("/run/warren/{lab}"));
        let cgroups = journaled_cgroups(&dir);
        assert!(
            !cgroups.is_empty(),
            "the system node's cgroups are journaled"
        );
        for c in &cgroups {
            assert!(c.ends_with(format!("warren/{lab}/os")), "{}", c.display());
            assert!(c.is_dir(), "{} exists while the lab runs", c.display());
        }
        let out = run(
            tmp.path(),
            &["exec", lab, "h", "--", "ip", "-d", "link", "show", "mv0"],
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("macvlan"),
            "{out:?}"
        );

        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("state.json")).expect("state"))
                .expect("state json");
        let pid = state["supervisor"]["pid"].as_i64().expect("supervisor pid");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Nothing ran the node's teardown: its cgroups are still there.
        assert!(
            cgroups.iter().all(|c| c.is_dir()),
            "the cgroups outlive a killed supervisor"
        );

        ok(tmp.path(), &["down", lab]);
        for c in &cgroups {
            assert!(!c.exists(), "{} is left after down", c.display());
        }
        assert!(!dir.exists(), "state left");
        // The macvlan lived in the node's namespace, gone with the supervisor.
        assert_gone(lab, &held);
    });
    let _ = run(tmp.path(), &["down", lab]);
    let _ = ip(&["link", "del", "wjr0"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
