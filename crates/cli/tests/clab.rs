//! containerlab topologies (`*.clab.yml`) from examples/clab/, run as root
//! with images from the local registry fixture: busybox, and FRR built
//! from Debian's frr package.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The fixture's environment with both image sets pushed.
fn env(store: &Path) -> Vec<(String, String)> {
    registry_env(store);
    registry_env_with(store, "frr")
}

/// `warren test FILE --json` passes every step of the file, and the lab is
/// gone afterwards; returns the step names that passed.
fn passes(file: &Path, lab: &str, steps: usize) -> Vec<String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = env(&tmp.path().join("store"));
    let out = with_env(
        tmp.path(),
        &env,
        &["test", "--json", file.to_str().expect("path")],
    );
    assert_gone(lab, &Default::default());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let results = v["steps"].as_array().expect("steps");
    let passed: Vec<String> = results
        .iter()
        .filter(|s| s["verdict"] == "passed")
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(passed.len(), steps, "{v:#}");
    passed
}

#[test]
fn frr_ring_converges_pings_and_reroutes_around_a_cut_link() {
    require_root();
    let passed = passes(
        &examples().join("clab/frr-ring/frr-ring.clab.yml"),
        "frr-ring",
        12,
    );
    for step in [
        "OSPF gives r1 a route to r2's loopback over the r1-r2 link",
        "r1 reaches r2's loopback",
        "during the cut r1 reaches r2's loopback through r3",
        "during the cut r1's pings to r2's loopback cross r3",
        "after the cut OSPF takes the r1-r2 link again",
    ] {
        assert!(passed.iter().any(|p| p == step), "{step}: {passed:#?}");
    }
}

#[test]
fn linux_nodes_with_inheritance_a_bridge_management_and_long_names_pass_their_tests() {
    require_root();
    passes(
        &examples().join("clab/linux-bridge.clab.yml"),
        "clab-lnx",
        10,
    );
}

#[test]
fn link_down_and_up_and_ip_inside_take_the_interface_name_the_file_wrote() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = env(&tmp.path().join("store"));
    let file = examples().join("clab/linux-bridge.clab.yml");
    // Under a name of its own: the other test runs the file as it is.
    let out = with_env(
        tmp.path(),
        &env,
        &[
            "up",
            "-q",
            "--name",
            "clab-lnx-2",
            file.to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let lab = LabGuard {
        name: "clab-lnx-2".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("clab-lnx-2"),
    };
    lab.ping("h3", "192.168.61.1", &[]);
    ok(
        tmp.path(),
        &["link", "clab-lnx-2", "r1:GigabitEthernet0/0/1", "down"],
    );
    let (code, out, err) = lab.exec("h3", &["ping", "-c", "1", "-W", "1", "192.168.61.1"]);
    assert_ne!(code, 0, "the link is down, yet:\n{out}{err}");
    ok(
        tmp.path(),
        &["link", "clab-lnx-2", "r1:GigabitEthernet0/0/1", "up"],
    );
    // Back once the carrier is: the first ping may race it.
    let back = (0..20).any(|_| {
        lab.exec("h3", &["ping", "-c", "1", "-W", "1", "192.168.61.1"])
            .0
            == 0
    });
    assert!(back, "h3 reaches r1 again after the link is up");
    let (code, out, err) = lab.exec("r1", &["ip", "-o", "link", "show", "GigabitEthernet0/0/1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("GE0-0-1") && out.contains("altname GigabitEthernet0/0/1"),
        "{out}"
    );
}

#[test]
fn refused_keys_are_errors_at_their_line_and_unapplied_ones_warnings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("refused.clab.yml");
    std::fs::write(
        &file,
        "name: refused\ntopology:\n  nodes:\n    a: {kind: linux, image: busybox, shm-size: 1gb}\n    b: {kind: linux, image: busybox, network-mode: \"container:nope\"}\n    srl: {kind: nokia_srlinux}\n",
    )
    .expect("write");
    let out = run(tmp.path(), &["validate", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused.clab.yml:5:52"),
        "network-mode at its place:\n{err}"
    );
    assert!(err.contains("container:nope names no node"), "{err}");
    assert!(
        err.contains("refused.clab.yml:6:17"),
        "the vendor kind at its place:\n{err}"
    );
    assert!(
        err.contains("`kind: vm`"),
        "points to warren's kinds:\n{err}"
    );
    assert!(
        err.contains("refused.clab.yml:4:38"),
        "shm-size noted:\n{err}"
    );
    assert!(err.contains("not applied"), "{err}");
}

#[test]
fn a_file_named_as_a_topology_without_one_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("x.clab.yml");
    std::fs::write(&file, "name: x\nnodes: {a: {}}\n").expect("write");
    let out = run(tmp.path(), &["validate", file.to_str().expect("path")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("named as a containerlab topology"),
        "{}",
        text(&out)
    );
}

#[test]
fn every_clab_example_is_valid() {
    for f in walk(&examples().join("clab")) {
        let name = f.to_string_lossy();
        if name.ends_with(".clab.yml") {
            ok(Path::new("."), &["validate", &name]);
        }
    }
}
