//! The alpy example (examples/alpy/): a DUT vm that asks for a login on
//! its serial console routes between two nodes, each with a busybox app
//! container beside it (node1/web serves HTTP, node0/fetch fetches it
//! through the DUT); `warren test` checks the fetch from inside the
//! container, logs in, uploads the check script over the console, runs
//! it, and checks the traffic (ICMP, ARP and HTTP) in the captures of both
//! DUT NICs. As root, and as uid 65534 (a rootless lab). Needs root (to
//! switch users), QEMU, tshark, the DUT fixture and the registry fixture's
//! busybox image.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The example copied into `dir/lab` with the DUT fixture's files beside
/// it, as the example's header says; returns the lab file.
fn example_in(dir: &Path, name: &str) -> PathBuf {
    let lab = dir.join("lab");
    std::fs::create_dir(&lab).expect("mkdir");
    let text = std::fs::read_to_string(examples().join("alpy/lab.yaml"))
        .expect("example")
        .replace("name: alpy", &format!("name: {name}"));
    std::fs::write(lab.join("lab.yaml"), text).expect("write");
    std::fs::copy(examples().join("alpy/check.sh"), lab.join("check.sh")).expect("copy");
    let dut = dut_fixture();
    for f in ["vmlinuz", "initrd.gz"] {
        std::os::unix::fs::symlink(dut.join(f), lab.join(f)).expect("symlink");
    }
    std::fs::set_permissions(&lab, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    lab.join("lab.yaml")
}

/// The registry fixture's environment with an image store in `dir`, which
/// the user warren runs as must be able to create.
fn images(dir: &Path) -> Vec<(String, String)> {
    registry_env(&dir.join("store"))
}

/// What `warren test --json` said and where the evidence is.
fn check_run(out: &Output, results: &Path, name: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "warren test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("--json output");
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(json["totals"]["passed"], 17, "{json:#}");
    assert_eq!(steps.len(), 17);
    // A send without expect waited for the prompt that followed the answer.
    let typed = steps
        .iter()
        .find(|s| s["name"] == "after a typed line the prompt comes back")
        .expect("send step");
    let seen = typed["output"].as_str().unwrap_or_default();
    let answer = seen
        .find("\nagain-42")
        .unwrap_or_else(|| panic!("the answer after the echo: {typed:#}"));
    assert!(seen[answer..].contains("alpy@dut $ "), "{typed:#}");
    // The upload step reports what went over the console.
    let upload = steps
        .iter()
        .find(|s| s["name"] == "the check script goes up over the console and passes")
        .expect("upload step");
    let output = upload["output"].as_str().unwrap_or_default();
    assert!(
        output.contains("uploaded check.sh to dut:/tmp/check.sh")
            && output.contains("base64, sha256sum")
            && output.contains("alpy-check: ok dut"),
        "{upload:#}"
    );
    eprintln!("{}", output.lines().next().unwrap_or_default());
    // Both NICs' captures and the console logs are in the evidence.
    let run = std::fs::read_dir(results.join(name))
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("run folder");
    for f in ["capture/dut-eth0.pcap", "capture/dut-eth1.pcap"] {
        let len = std::fs::metadata(run.join(f)).map_or(0, |m| m.len());
        assert!(len > 24, "{f} holds frames: {len} bytes");
    }
    // So are the app containers' logs.
    for f in ["logs/node0/fetch.log", "logs/node1/web.log"] {
        assert!(run.join(f).is_file(), "{f} in {}", run.display());
    }
    let console = std::fs::read_to_string(run.join("console/dut.txt")).expect("console log");
    assert!(
        console.contains("dut login: alpy") && console.contains("Password:"),
        "the console log shows the login:\n{console}"
    );
}

#[test]
fn the_alpy_example_passes_as_root() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = example_in(tmp.path(), "alpy");
    let results = tmp.path().join("results");
    let out = warren(tmp.path())
        .args(["test", file.to_str().expect("path"), "--json", "--results"])
        .arg(&results)
        .envs(images(tmp.path()))
        .output()
        .expect("warren test runs");
    check_run(&out, &results, "alpy");
    assert!(!Path::new("/run/warren/alpy").exists(), "state left");
}

#[test]
fn the_alpy_example_passes_as_an_unprivileged_user() {
    require_root();
    let tmp = tempdir_for_anyone();
    let file = example_in(tmp.path(), "alpy-rl");
    let results = tmp.path().join("results");
    let out = as_nobody_with(
        tmp.path(),
        &images(tmp.path()),
        &[
            "test",
            file.to_str().expect("path"),
            "--json",
            "--results",
            results.to_str().expect("path"),
        ],
    );
    check_run(&out, &results, "alpy-rl");
    assert!(
        !Path::new("/tmp/warren-65534/alpy-rl").exists(),
        "state left"
    );
}

/// `warren console --upload SRC DST --mode` on the running example: the
/// file arrives with its mode and runs; a bad mode or a missing file is
/// refused before anything is sent.
#[test]
fn warren_console_uploads_a_file_with_its_mode() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = example_in(tmp.path(), "alpy-cli");
    up_with(tmp.path(), &file, &images(tmp.path()));
    let lab = LabGuard {
        name: "alpy-cli".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("alpy-cli"),
    };
    // check.sh wants traffic seen on the NIC it checks. node0's fetch
    // container asked for the DUT's address before the DUT had booted, so
    // the first request may meet a failed neighbour entry: ping until one
    // answer, for up to 10 s (ping stops at its first error, so retry it).
    let (code, out, err) = lab.exec(
        "node0",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 1 192.168.10.1 && exit 0; sleep 1; done; exit 1",
        ],
    );
    assert_eq!(code, 0, "node0 never reached the DUT:\n{out}{err}");
    let script = file.with_file_name("check.sh");
    let out = ok(
        tmp.path(),
        &[
            "console",
            "alpy-cli",
            "dut",
            "--upload",
            script.to_str().expect("path"),
            "/tmp/check.sh",
            "--mode",
            "0750",
        ],
    );
    let size = std::fs::metadata(&script).expect("script").len();
    assert!(
        out.contains(&format!("dut:/tmp/check.sh: {size} bytes in"))
            && out.contains("(base64, sha256sum)"),
        "{out}"
    );
    eprintln!("{out}");
    let out = ok(
        tmp.path(),
        &[
            "console",
            "alpy-cli",
            "dut",
            "-c",
            "stat -c %a /tmp/check.sh && /tmp/check.sh eth0",
        ],
    );
    assert_eq!(
        out, "750\nalpy-check: ok dut forwards between eth0",
        "{out}"
    );
    for (args, says) in [
        (
            vec![
                "--upload",
                script.to_str().expect("path"),
                "/tmp/x",
                "--mode",
                "8",
            ],
            "--mode",
        ),
        (
            vec!["--upload", "/nonexistent/file", "/tmp/x"],
            "/nonexistent/file",
        ),
    ] {
        let mut all = vec!["console", "alpy-cli", "dut"];
        all.extend(args);
        let out = run(tmp.path(), &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
    }
    let out = ok(tmp.path(), &["console", "alpy-cli", "dut", "-c", "ls /tmp"]);
    assert!(!out.contains('x'), "nothing was written: {out}");
}

/// A wrong `console.password` fails the bring-up with what the console
/// said, and leaves no lab behind.
#[test]
fn a_wrong_console_password_fails_the_bring_up() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = example_in(tmp.path(), "alpy-pw");
    let text = std::fs::read_to_string(&file)
        .expect("lab")
        .replace("password: alpy-pass,", "password: not-it,");
    std::fs::write(&file, text).expect("write");
    let out = warren(tmp.path())
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(images(tmp.path()))
        .output()
        .expect("warren up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("logging in at the console as alpy")
            && err.contains("refused")
            && err.contains("Login incorrect"),
        "{err}"
    );
    assert!(!Path::new("/run/warren/alpy-pw").exists(), "state left");
    let left = processes_with("/run/warren/alpy-pw/");
    assert!(left.is_empty(), "QEMU or helpers left: {left:?}");
}
