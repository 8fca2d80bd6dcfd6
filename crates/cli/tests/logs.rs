//! Logs and progress of `warren up`: `WARREN_LOG` shows the supervisor's
//! netlink batches and readiness checks, `supervisor.log` lands in the
//! evidence folder, a terminal sees the phases (a vm's boot with its last
//! console line), and `-q` or a pipe see none of it. Needs root, QEMU and
//! the DUT fixture.

mod common;
use common::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The newest run folder of `lab` under `cwd/results`.
fn run_folder(cwd: &Path, lab: &str) -> PathBuf {
    std::fs::read_dir(cwd.join("results").join(lab))
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("run folder")
}

/// A guard that takes `name` down (and checks it is gone) when dropped.
fn guard(cwd: &Path, name: &str) -> LabGuard {
    LabGuard {
        name: name.into(),
        cwd: cwd.into(),
        netns: lab_netns(name),
    }
}

#[test]
fn warren_log_debug_shows_netlink_batches_and_readiness_checks() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "logs1",
        "name: logs1
nodes:
  a: {}
  b:
    ready: {exec: [test, -e, /proc/self], interval: 50ms}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.91.0.1/24, 10.91.0.2/24]
",
    );
    let out = warren(tmp.path())
        .env("WARREN_LOG", "debug")
        .args(["up", file.to_str().expect("path")])
        .output()
        .expect("warren up");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "up failed:\n{stderr}");
    let _lab = guard(tmp.path(), "logs1");
    // The supervisor's batches, relayed while `up` waited.
    let batch = |what: &str| {
        stderr.lines().any(|l| {
            l.starts_with("[supervisor]") && l.contains("netlink batch netns=a") && l.contains(what)
        })
    };
    assert!(batch("creating veth a:eth1 <-> b:eth1"), "{stderr}");
    assert!(batch("adding address 10.91.0.1/24"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("readiness: probe") && l.contains("node=b")),
        "no readiness check of node b in:\n{stderr}"
    );
    // stdout stays the table a script parses; no progress display on a pipe.
    assert!(stdout.contains("lab logs1 is up"), "{stdout}");
    assert!(!stdout.contains("netlink"), "{stdout}");
    assert!(!stderr.contains('✓'), "no spinners on a pipe:\n{stderr}");
    // The same log is evidence.
    let log = std::fs::read_to_string(run_folder(tmp.path(), "logs1").join("supervisor.log"))
        .expect("supervisor.log in the evidence folder");
    assert!(log.contains("netlink batch netns=b"), "{log}");
    assert!(log.contains("progress=\"done\" step=\"links\""), "{log}");
    assert!(
        !Path::new("/run/warren/logs1/supervisor.log").exists(),
        "the log is not kept in the state folder"
    );
}

#[test]
fn up_resolves_each_image_once_and_the_supervisor_runs_what_it_resolved() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    // Two nodes of one image: one lookup, by `up`, for both.
    let file = write_lab(
        tmp.path(),
        "logs-img",
        "name: logs-img
nodes:
  a: {kind: container, image: busybox, cmd: [sleep, '3600']}
  b: {kind: container, image: busybox, cmd: [sleep, '3600']}
links:
  - endpoints: [a:eth0, b:eth0]
",
    );
    let out = warren(tmp.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("WARREN_LOG", "debug")
        .args(["up", file.to_str().expect("path")])
        .output()
        .expect("warren up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "up failed:\n{stderr}");
    let _lab = guard(tmp.path(), "logs-img");
    let lookups: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("resolving image"))
        .collect();
    assert_eq!(lookups.len(), 1, "{stderr}");
    assert!(!lookups[0].starts_with("[supervisor]"), "{stderr}");
    for node in ["a", "b"] {
        assert!(
            stderr.lines().any(|l| l.starts_with("[supervisor]")
                && l.contains("image resolved by up")
                && l.contains(&format!("node={node}"))),
            "node {node} did not run the image up resolved:\n{stderr}"
        );
    }
    // What the supervisor was handed, in its state folder.
    let images = std::fs::read_to_string("/run/warren/logs-img/images.json").expect("images.json");
    let images: serde_json::Value = serde_json::from_str(&images).expect("JSON");
    assert!(
        images["busybox"]["layers"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{images}"
    );
}

#[test]
fn without_warren_log_up_relays_nothing_and_the_log_still_records_phases() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "logs2",
        "name: logs2\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n",
    );
    let out = warren(tmp.path())
        .env_remove("WARREN_LOG")
        .args(["up", file.to_str().expect("path")])
        .output()
        .expect("warren up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "up failed:\n{stderr}");
    let _lab = guard(tmp.path(), "logs2");
    assert!(!stderr.contains("[supervisor]"), "{stderr}");
    let run = run_folder(tmp.path(), "logs2");
    let log = std::fs::read_to_string(run.join("supervisor.log")).expect("supervisor.log");
    // The default level is info: phases, not netlink batches.
    assert!(log.contains("step=\"carrier\""), "{log}");
    assert!(!log.contains("netlink batch"), "{log}");
    // Progress events are evidence too, in order.
    let events = std::fs::read_to_string(run.join("events.jsonl")).expect("events");
    let steps: Vec<String> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "progress")
        .map(|v| {
            format!(
                "{} {}",
                v["progress"].as_str().unwrap_or(""),
                v["step"].as_str().unwrap_or("")
            )
        })
        .collect();
    // Only the phases this lab has: no images, containers or node commands.
    assert_eq!(
        steps,
        ["start links", "done links", "start carrier", "done carrier"],
        "{events}"
    );
}

/// Runs `warren ARGS` in `cwd` with stderr on a fresh 200-column pty;
/// returns (success, stdout, everything the terminal received).
fn on_a_terminal(cwd: &Path, args: &[&str]) -> (bool, String, String) {
    use nix::fcntl::OFlag;
    // Both ends close-on-exec: a detached supervisor that inherited the
    // slave would keep the terminal open after `warren` exits.
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .expect("posix_openpt");
    nix::pty::grantpt(&master).expect("grantpt");
    nix::pty::unlockpt(&master).expect("unlockpt");
    let slave_path = nix::pty::ptsname_r(&master).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .expect("open the slave");
    let size = nix::libc::winsize {
        ws_row: 50,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer given.
    let set = unsafe {
        nix::libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&slave),
            nix::libc::TIOCSWINSZ,
            &size,
        )
    };
    assert_eq!(set, 0, "setting the terminal size");
    let mut master = std::fs::File::from(OwnedFd::from(master));
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the last holder of the slave (warren) has exited.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    let out = warren(cwd)
        .env_remove("WARREN_LOG")
        .env_remove("CI")
        .env("TERM", "xterm")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave))
        .output()
        .expect("warren runs");
    let seen = reader.join().expect("pty reader");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

#[test]
fn a_terminal_sees_each_phase_and_a_vms_boot_with_its_console() {
    require_root();
    let fixture = dut_fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "name: logs3
nodes:
  left: {{}}
  dut:
    kind: vm
    kernel: {k}
    initrd: {i}
    append: console=ttyS0 dut_name=dut dut_ip0=10.92.1.1/24
    accel: tcg
    memory: 256
    ready: {{console: 'DUT-READY', timeout: 90s}}
links:
  - endpoints: [left:eth0, dut:eth0]
    ipv4: [10.92.1.2/24, ~]
",
        k = fixture.join("vmlinuz").display(),
        i = fixture.join("initrd.gz").display()
    );
    let file = write_lab(tmp.path(), "logs3", &text);
    let (ok, stdout, terminal) = on_a_terminal(tmp.path(), &["up", file.to_str().expect("path")]);
    assert!(ok, "up failed:\n{terminal}");
    let _lab = guard(tmp.path(), "logs3");
    for done in ["✓ links", "✓ carrier", "✓ boot dut"] {
        assert!(
            terminal.contains(done),
            "no `{done}` on the terminal:\n{terminal}"
        );
    }
    // While it booted, the spinner showed lines of the vm's console.
    let console = std::fs::read_to_string(run_folder(tmp.path(), "logs3").join("console/dut.txt"))
        .expect("console text log");
    let shown = console
        .lines()
        .filter_map(|l| l.split_once("] ").map(|(_, t)| t.trim()))
        .filter(|t| t.len() > 12)
        .filter(|t| terminal.contains(&format!("booting: {}", &t[..12])))
        .count();
    assert!(shown > 0, "no console line on the terminal:\n{terminal}");
    // stdout is not the terminal: the table, no spinner.
    assert!(stdout.contains("lab logs3 is up"), "{stdout}");
    assert!(!stdout.contains('✓'), "{stdout}");
}

#[test]
fn quiet_up_on_a_terminal_shows_nothing() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "logs4",
        "name: logs4\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n",
    );
    let (ok, stdout, terminal) =
        on_a_terminal(tmp.path(), &["-q", "up", file.to_str().expect("path")]);
    assert!(ok, "up failed:\n{terminal}");
    let _lab = guard(tmp.path(), "logs4");
    assert_eq!((stdout.as_str(), terminal.as_str()), ("", ""));
}
