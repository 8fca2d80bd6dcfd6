//! Host links, run as root with busybox from the local registry fixture:
//! containerlab's `kind: host` nodes, `host:IF` ends and `type: host`
//! links are veths whose other end is in the host's namespace, up there,
//! and gone after `down`, also when the supervisor was killed at any
//! journal record of the bring-up.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The host's interface `name` as `ip -d -o link show` prints it, if any.
fn host_link(name: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-d", "-o", "link", "show", "dev", name])
        .output()
        .expect("ip runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

const TOPOLOGY: &str = r#"name: clab-hst
topology:
  defaults:
    kind: linux
    image: busybox
    cmd: sleep 86400
  nodes:
    a: {}
    b: {}
    myhost: {kind: host}
  links:
    - endpoints: ["a:eth1", "host:wrn-hst-a"]
      ipv4: ["192.168.71.1/24", ""]
    - type: host
      endpoint: {node: b, interface: ethernet-1/1}
      host-interface: wrn-hst-b
      mtu: 9000
    - endpoints: ["myhost:wrn-hst-c", "b:eth2"]
"#;

/// Each test runs the topology as lab `clab-hstN` with host ends
/// `wrn-hstN-a`...: tests run at once, and host ends share one namespace.
fn write(dir: &Path, n: u8, text: &str) -> std::path::PathBuf {
    let file = dir.join("hst.clab.yml");
    let text = text
        .replace("clab-hst", &format!("clab-hst{n}"))
        .replace("wrn-hst", &format!("wrn-hst{n}"));
    std::fs::write(&file, text).expect("write");
    file
}

fn host_ends(n: u8) -> [String; 3] {
    ["a", "b", "c"].map(|e| format!("wrn-hst{n}-{e}"))
}

fn assert_host_ends_gone(n: u8, what: &str) {
    for name in &host_ends(n) {
        assert!(
            host_link(name).is_none(),
            "{what}: host end {name} is still there"
        );
    }
}

#[test]
fn host_ends_are_veths_up_in_the_host_namespace_until_down() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write(tmp.path(), 1, TOPOLOGY);
    let env = registry_env(&tmp.path().join("store"));
    up_with(tmp.path(), &file, &env);
    let lab = LabGuard {
        name: "clab-hst1".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("clab-hst1"),
    };
    for name in &host_ends(1) {
        let link = host_link(name).unwrap_or_else(|| panic!("host end {name} missing"));
        assert!(link.contains(" veth "), "{link}");
        assert!(link.contains(",UP"), "the host end is up: {link}");
    }
    assert!(
        host_link("wrn-hst1-b").is_some_and(|l| l.contains("mtu 9000")),
        "the link's mtu on the host end"
    );
    // The node ends: their peers are the host ends (the host end's index
    // is the node end's link index).
    let (code, out, err) = lab.exec("a", &["ip", "-o", "addr", "show", "eth1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("192.168.71.1/24"), "{out}");
    let (code, out, err) = lab.exec("b", &["cat", "/sys/class/net/e1-1/iflink"]);
    assert_eq!(code, 0, "{err}");
    let index = std::fs::read_to_string("/sys/class/net/wrn-hst1-b/ifindex").expect("ifindex");
    assert_eq!(
        out.trim(),
        index.trim(),
        "b's end is paired with wrn-hst1-b"
    );
    drop(lab);
    assert_host_ends_gone(1, "after down");
}

#[test]
fn a_host_end_named_as_a_host_interface_is_refused_and_nothing_is_left() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    // `lo` is every host's: refused before any host end is made.
    let file = write(
        tmp.path(),
        2,
        &TOPOLOGY.replace("host-interface: wrn-hst-b", "host-interface: lo"),
    );
    let env = registry_env(&tmp.path().join("store"));
    let out = warren(tmp.path())
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    // Down first, so that a lab that came up after all is not left behind.
    let _ = run(tmp.path(), &["down", "clab-hst2"]);
    assert_gone("clab-hst2", &Default::default());
    assert_host_ends_gone(2, "after a refused up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the host has an interface called lo already"),
        "{err}"
    );
}

#[test]
fn killing_the_supervisor_after_any_journal_record_leaves_no_host_end_after_down() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write(tmp.path(), 3, TOPOLOGY);
    let env = registry_env(&tmp.path().join("store"));
    for n in 1..100 {
        let out = warren(tmp.path())
            .args(["up", "-q", file.to_str().expect("path")])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("WARREN_CRASH_AFTER_RECORD", n.to_string())
            .output()
            .expect("warren up runs");
        let down = run(tmp.path(), &["down", "clab-hst3"]);
        assert!(
            down.status.success(),
            "{}",
            String::from_utf8_lossy(&down.stderr)
        );
        assert_host_ends_gone(3, &format!("killed after journal record {n}"));
        assert_gone("clab-hst3", &Default::default());
        if out.status.success() {
            // The bring-up has fewer records than n: every step was
            // covered, each by one run that crashed.
            assert!(n > 5, "only {} crash points", n - 1);
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("exited during bring-up"), "record {n}: {err}");
    }
    panic!("the lab never came up in full");
}

#[test]
fn a_bring_up_that_fails_after_the_host_ends_were_made_removes_them() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    // b's entrypoint does not exist: its start fails once the links are made.
    let file = write(
        tmp.path(),
        4,
        &TOPOLOGY.replace("    b: {}", "    b: {entrypoint: /nonexistent}"),
    );
    let env = registry_env(&tmp.path().join("store"));
    let out = warren(tmp.path())
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    // Looked at before anything else runs: the kernel removes a host end
    // with its node's namespace too, but only some time later.
    let left: Vec<String> = host_ends(4)
        .into_iter()
        .filter(|n| host_link(n).is_some())
        .collect();
    let _ = run(tmp.path(), &["down", "clab-hst4"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(left.is_empty(), "host ends left by the failed up: {left:?}");
    assert_host_ends_gone(4, "after down");
    assert_gone("clab-hst4", &Default::default());
}
