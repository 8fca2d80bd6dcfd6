//! `warren image load` and local image names: a `docker save`-format
//! tarball and an OCI archive, made here with skopeo from the registry
//! fixture's busybox, are loaded (from a file and from stdin) and run, and
//! `oci-archive:` / `docker-archive:` / `oci:` names run without a load.
//! Needs root and the registry fixture.

mod common;
use common::*;

fn skopeo(args: &[&str]) {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (scripts/setup installs it)");
    assert!(out.status.success(), "skopeo {args:?}: {out:?}");
}

fn value<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {env:?}"))
}

#[test]
fn docker_save_and_oci_archives_load_and_run() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let registry = value(&env, "WARREN_FIXTURE_REGISTRY");
    let src = format!("docker://{registry}/library/busybox:latest");
    let docker_tar = tmp.path().join("busy.tar");
    let oci_tar = tmp.path().join("busy-oci.tar");
    let oci_dir = tmp.path().join("layout");
    let tls = "--src-tls-verify=false";
    skopeo(&[
        "copy",
        tls,
        &src,
        &format!("docker-archive:{}:lab/busy:1", docker_tar.display()),
    ]);
    skopeo(&[
        "copy",
        tls,
        &src,
        &format!("oci-archive:{}:v1", oci_tar.display()),
    ]);
    skopeo(&["copy", tls, &src, &format!("oci:{}:v2", oci_dir.display())]);
    let w = |args: &[&str], input: &[u8]| {
        let mut cmd = warren(tmp.path());
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        output_with_stdin(&mut cmd, input)
    };
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    // docker load -i FILE: named by the archive's RepoTags.
    let out = w(
        &["image", "load", "-i", docker_tar.to_str().expect("path")],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "Loaded image: lab/busy:1\n");
    let out = w(
        &[
            "run",
            "--rm",
            "lab/busy:1",
            "sh",
            "-c",
            "echo docker; exit 3",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(stdout(&out), "docker\n");
    // An OCI archive on stdin, under a name given.
    let bytes = std::fs::read(&oci_tar).expect("oci archive");
    let out = w(&["image", "load", "--tag", "lab/busy-oci:2"], &bytes);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "Loaded image: lab/busy-oci:2\n");
    let out = w(&["run", "--rm", "lab/busy-oci:2", "echo", "oci"], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "oci\n");
    let out = w(&["image", "ls", "--json"], b"");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(
        names.contains(&"lab/busy:1") && names.contains(&"lab/busy-oci:2"),
        "{names:?}"
    );
    // Local names run directly; docker:// names the registry.
    for image in [
        format!("oci-archive:{}:v1", oci_tar.display()),
        format!("docker-archive:{}", docker_tar.display()),
        format!("oci:{}:v2", oci_dir.display()),
        format!("docker://{registry}/library/busybox"),
    ] {
        let out = w(&["run", "--rm", &image, "echo", "local"], b"");
        assert!(out.status.success(), "{image}: {out:?}");
        assert_eq!(stdout(&out), "local\n", "{image}");
    }
    // Not an archive: a clear error, nothing recorded.
    let count = || {
        let out = w(&["image", "ls", "--json"], b"");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v.as_array().map_or(0, Vec::len)
    };
    let before = count();
    let out = w(&["image", "load"], b"not a tar");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stdin"),
        "names its input: {out:?}"
    );
    assert_eq!(count(), before);
}
