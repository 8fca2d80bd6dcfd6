//! `warren image` as a user runs it, against the fixture registry (Debian's
//! docker-registry on 127.0.0.1, docker.io mirrored to it), each test with
//! its own store.

#[path = "../../image/tests/common/fixture.rs"]
mod fixture;

use assert_cmd::Command;

fn warren(store: &std::path::Path) -> Command {
    let fx = fixture::busybox();
    let mut c = Command::cargo_bin("warren").expect("the warren binary is built");
    c.env("NO_COLOR", "1")
        .env("WARREN_STORE", store)
        .env("WARREN_REGISTRIES", &fx.registries)
        .env("CI", "true");
    c
}

fn stdout(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pull_ls_rm_prune() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let out = stdout(warren(s).args(["image", "pull", "alpine", "busybox"]));
    assert!(out.contains("alpine:latest: sha256:"), "{out}");
    assert!(out.contains("busybox:latest: sha256:"), "{out}");
    assert!(
        out.contains("up to date"),
        "busybox shares alpine's blobs: {out}"
    );
    let ls = stdout(warren(s).args(["image", "ls"]));
    assert!(ls.starts_with("REPOSITORY"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.starts_with("alpine ") && l.contains("latest")),
        "{ls}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(warren(s).args(["image", "ls", "--json"]))).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["reference"], "docker.io/library/alpine:latest");
    assert_eq!(arr[0]["config"]["config"]["Cmd"][0], "sh");
    let rm: serde_json::Value =
        serde_json::from_str(&stdout(warren(s).args(["image", "rm", "--json", "alpine"]))).unwrap();
    assert_eq!(rm["removed"][0], "docker.io/library/alpine:latest");
    // busybox still holds the blobs.
    let p: serde_json::Value =
        serde_json::from_str(&stdout(warren(s).args(["image", "prune", "--json"]))).unwrap();
    assert_eq!(p["blobs"], 0);
    stdout(warren(s).args(["image", "rm", "busybox"]));
    let p: serde_json::Value =
        serde_json::from_str(&stdout(warren(s).args(["image", "prune", "--json"]))).unwrap();
    assert_eq!(p["blobs"], 3);
    assert_eq!(
        stdout(warren(s).args(["image", "ls", "--json"])).trim(),
        "[]"
    );
}

#[test]
fn pull_json_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let fx = fixture::busybox();
    let r = format!("{}/library/busybox:multi", fx.registry);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(warren(s).args(["image", "pull", "--json", &r]))).unwrap();
    assert!(v[0]["index"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v[0]["downloaded"].as_array().unwrap().len(), 2);
    let out = warren(s).args(["image", "rm", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such image: nope"));
    let out = warren(s)
        .args(["image", "pull", "Bad:ref"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = warren(s)
        .args(["image", "pull", &format!("{}/library/nosuch", fx.registry)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MANIFEST_UNKNOWN"));
}
