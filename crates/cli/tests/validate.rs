//! `warren validate` and `warren graph` run as a user would run them: the
//! real binary, real files, rendered diagnostics compared with snapshots.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn warren() -> Command {
    let mut c = Command::cargo_bin("warren").expect("the warren binary is built");
    c.env("NO_COLOR", "1");
    c
}

fn invalid(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/invalid")
        .join(format!("{name}.yaml"))
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs `warren validate` on a bad file from the directory of the test
/// files (so the snapshot shows a relative path), checks the exit code and
/// that `code` is reported, and returns stderr.
fn reject(name: &str, code: &str) -> String {
    let out = warren()
        .current_dir(invalid(name).parent().expect("has a parent"))
        .args(["validate", &format!("{name}.yaml")])
        .output()
        .expect("warren runs");
    assert_eq!(out.status.code(), Some(1), "an invalid file exits 1");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for an invalid file"
    );
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(stderr.contains(code), "expected {code} in:\n{stderr}");
    stderr
}

macro_rules! rule {
    ($test:ident, $file:literal, $code:literal) => {
        #[test]
        fn $test() {
            let stderr = reject($file, $code);
            insta::assert_snapshot!(stringify!($test), stderr);
        }
    };
}

rule!(unknown_key, "unknown-key", "warren::unknown-key");
rule!(unknown_node, "unknown-node", "warren::unknown-node");
rule!(
    unknown_interface,
    "unknown-interface",
    "warren::unknown-interface"
);
rule!(
    unknown_reference,
    "unknown-reference",
    "warren::unknown-reference"
);
rule!(
    endpoint_reused,
    "endpoint-reused",
    "warren::endpoint-reused"
);
rule!(bad_ifname, "bad-ifname", "warren::bad-ifname");
rule!(bad_cidr, "bad-cidr", "warren::bad-value");
rule!(bad_mac, "bad-mac", "warren::bad-value");
rule!(bad_duration, "bad-duration", "warren::bad-value");
rule!(bad_rate, "bad-rate", "warren::bad-value");
rule!(wrong_family, "wrong-family", "warren::wrong-family");
rule!(
    duplicate_address,
    "duplicate-address",
    "warren::duplicate-address"
);
rule!(
    subnet_mismatch,
    "subnet-mismatch",
    "warren::subnet-mismatch"
);
rule!(
    unreachable_gateway,
    "unreachable-gateway",
    "warren::unreachable-gateway"
);
rule!(
    prefix_too_small,
    "prefix-too-small",
    "warren::prefix-too-small"
);
rule!(vm_boot, "vm-boot", "warren::vm-boot");
rule!(
    key_not_for_kind,
    "key-not-for-kind",
    "warren::key-not-for-kind"
);
rule!(missing_image, "missing-image", "warren::missing-key");
rule!(lab_name, "lab-name", "warren::lab-name");
rule!(yaml_syntax, "yaml-syntax", "warren::yaml-syntax");
rule!(wrong_type, "wrong-type", "warren::wrong-type");
rule!(duplicate_key, "duplicate-key", "warren::duplicate-key");
rule!(node_name, "node-name", "warren::node-name");
rule!(no_console, "no-console", "warren::no-console");
rule!(bad_endpoint, "bad-endpoint", "warren::bad-endpoint");
rule!(bad_test, "bad-test", "warren::missing-key");
rule!(bad_fault, "bad-fault", "warren::missing-key");
rule!(duplicate_name, "duplicate-name", "warren::duplicate-name");
rule!(host_sysctl, "host-sysctl", "warren::host-sysctl");
rule!(bad_capability, "bad-capability", "warren::bad-value");
rule!(bad_upload_mode, "bad-upload", "warren::bad-value");

#[test]
fn every_rule_file_has_a_test() {
    let src = include_str!("validate.rs");
    for entry in std::fs::read_dir(invalid("x").parent().expect("dir")).expect("tests/invalid") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
        assert!(
            src.contains(&format!("\"{stem}\"")),
            "{stem}.yaml has no test"
        );
    }
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let stderr = reject("unknown-reference", "warren::unknown-reference");
    // capture list, fault link, ping target and fault step: four references.
    assert_eq!(
        stderr.matches("warren::unknown-reference").count(),
        4,
        "{stderr}"
    );
    assert!(stderr.contains("(4 problems)"), "{stderr}");
}

#[test]
fn diagnostics_carry_file_line_and_column() {
    let stderr = reject("unknown-node", "warren::unknown-node");
    assert!(stderr.starts_with("unknown-node.yaml:6:15: "), "{stderr}");
    assert!(stderr.contains("did you mean `r1`?"), "{stderr}");
}

#[test]
fn every_example_is_valid() {
    let files = examples();
    assert!(files.len() >= 4, "at least four example labs");
    let mut cmd = warren();
    cmd.arg("validate").args(&files);
    let out = cmd.output().expect("warren runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "examples must validate:\n{stderr}");
    assert!(
        stderr.is_empty(),
        "examples must have no warnings:\n{stderr}"
    );
}

#[test]
fn json_output_lists_each_file_and_problem() {
    let out = warren()
        .args(["validate", "--json"])
        .arg(invalid("subnet-mismatch"))
        .arg(&examples()[0])
        .output()
        .expect("warren runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    let files = v.as_array().expect("an array of files");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["valid"], false);
    let d = &files[0]["diagnostics"][0];
    assert_eq!(d["code"], "warren::subnet-mismatch");
    assert_eq!(d["line"], 7);
    assert_eq!(d["column"], 12);
    assert_eq!(files[1]["valid"], true);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = warren()
        .args(["validate", "/nonexistent/lab.yaml"])
        .output()
        .expect("warren runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading lab file /nonexistent/lab.yaml"),
        "{stderr}"
    );
}

#[test]
fn graph_json_is_the_resolved_lab() {
    let lan = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lan.yaml");
    let out = warren()
        .args(["graph", "--format", "json"])
        .arg(&lan)
        .output()
        .expect("warren runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["name"], "lan");
    let h5 = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == "h5")
        .expect("h5");
    // gw is the first member and takes .1; h1..h5 follow in member order.
    assert_eq!(h5["interfaces"][0]["ipv4"][0], "192.168.50.6/24");
    assert_eq!(h5["interfaces"][0]["routes"][0]["via"], "192.168.50.1");
}

#[test]
fn graph_formats_match_snapshots() {
    let tri = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/triangle.yaml");
    for format in ["dot", "mermaid"] {
        let out = warren()
            .args(["graph", "--format", format])
            .arg(&tri)
            .output()
            .expect("warren runs");
        assert!(out.status.success());
        insta::assert_snapshot!(
            format!("graph_triangle_{format}"),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn schema_is_json() {
    let out = warren().arg("schema").output().expect("warren runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert_eq!(v["title"], "warren lab file (version 1)");
}

#[test]
fn completions_and_man_page_are_generated() {
    let out = warren()
        .args(["completions", "bash"])
        .output()
        .expect("warren runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("validate"));
    let out = warren().arg("man").output().expect("warren runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH warren"));
}
