//! `warren run` as racker's users use it: `--boot` runs commands inside the
//! image's booted systemd (the fixture's debian:systemd, and a minbase
//! root that gets systemd on the fly); stdin pipes end with and without
//! `-t`; SIGTERM ends a run, also during the boot; `warren probe selftest`
//! boots each image; Debian bullseye, bookworm and trixie, built by the
//! registry fixture, each boot. Needs root and the registry fixture.

mod common;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any one run may take before the test calls it hung (a boot is
/// about a second; provisioning is longer, and the machine is shared).
const HUNG: Duration = Duration::from_secs(180);

/// Runs `cmd` with `input` on stdin (closed after); fails the test, after
/// killing it, if it does not end within [`HUNG`]. Returns its pid too.
fn output_within(cmd: &mut Command, input: &[u8]) -> (u32, Output) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warren");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > HUNG {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!("{cmd:?} did not end: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id();
    (pid, child.wait_with_output().expect("wait"))
}

/// Nothing of run `pid` is left: no lab state, no work folder.
fn assert_run_left_nothing(pid: u32) {
    for left in [format!("run{pid}"), format!("run-work-{pid}")] {
        assert!(
            !Path::new("/run/warren").join(&left).exists(),
            "{left} left behind"
        );
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_boot_runs_commands_in_the_booted_system_with_stdio_and_exit_code() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let run = |args: &[&str], input: &[u8]| {
        let mut cmd = warren(tmp.path());
        // `--system` is `--boot`'s other name.
        let boot = if args.first() == Some(&"--system") {
            None
        } else {
            Some("--boot")
        };
        cmd.args(["run", "--rm"])
            .args(boot)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let (pid, out) = output_within(&mut cmd, input);
        assert_run_left_nothing(pid);
        out
    };
    // hostnamectl asks systemd-hostnamed over D-Bus: only a booted system answers.
    let out = run(&["--name", "booted", "debian:systemd", "hostnamectl"], b"");
    assert!(out.status.success(), "{out:?}");
    let o = text(&out.stdout);
    assert!(o.contains("Static hostname: booted"), "{o}");
    assert!(o.contains("Operating System: Debian GNU/Linux 12"), "{o}");
    let out = run(
        &["--system", "debian:systemd", "cat", "/etc/os-release"],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("VERSION_CODENAME=bookworm"));
    // The command runs under the booted systemd, not as PID 1.
    let out = run(
        &["debian:systemd", "sh", "-c", "cat /proc/1/comm; exit 7"],
        b"",
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(text(&out.stdout), "systemd\n");
    // A pipe's end reaches the command, with and without -t.
    for tty in [false, true] {
        let mut args = vec!["debian:systemd", "sh", "-c", "cat; echo done"];
        if tty {
            args.insert(0, "-t");
        }
        let out = run(&args, b"hello\nworld\n");
        assert!(out.status.success(), "-t {tty}: {out:?}");
        assert_eq!(text(&out.stdout), "hello\nworld\ndone\n", "-t {tty}");
    }
    // Options it cannot honour are refused before anything starts.
    let out = run(&["-e", "A=1", "debian:systemd", "true"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--boot does not take --env"),
        "{out:?}"
    );
    // Every run above, the refused one too, was checked for what it left
    // by its own pid: a look for any `run-work-*` here would see the runs
    // of tests in other processes.
}

#[test]
fn a_plain_run_passes_a_pipe_through_with_t_and_ends_on_sigterm() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    for args in [
        &["run", "--rm", "busybox", "cat"][..],
        &["run", "-it", "--rm", "busybox", "cat"],
    ] {
        let mut cmd = warren(tmp.path());
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        let (_, out) = output_within(&mut cmd, b"hello\n");
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(text(&out.stdout), "hello\n", "{args:?}");
    }
    // `sleep` as the container's PID 1 has no SIGTERM handler, so the
    // kernel drops a forwarded SIGTERM: the grace period ends it.
    let mut child = warren(tmp.path())
        .args([
            "run",
            "--rm",
            "--stop-timeout",
            "1",
            "busybox",
            "sleep",
            "600",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Until the container runs, its state folder does not exist.
    let state = Path::new("/run/warren/run").join(format!("run-{}", child.id()));
    let start = Instant::now();
    while !state.exists() && start.elapsed() < HUNG {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // The pid of a child this test started.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        assert!(start.elapsed() < HUNG, "SIGTERM did not end the run");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(137),
        "killed after the grace: {out:?}"
    );
    assert!(!state.exists(), "its state is removed");
}

#[test]
fn selftest_boots_each_image_and_prints_a_table() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let out = warren(tmp.path())
        .args([
            "probe",
            "selftest",
            "hostnamectl",
            "--image",
            "debian:systemd",
            "--json",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe selftest");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["image"], "debian:systemd");
    assert_eq!(v[0]["ok"], true);
    assert_eq!(
        v[0]["detail"],
        "Operating System: Debian GNU/Linux 12 (bookworm)"
    );
    let out = warren(tmp.path())
        .args(["probe", "selftest", "pkgprobe", "--image", "debian:systemd"])
        .args(["--image", "debian-stretch"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe selftest");
    assert_eq!(out.status.code(), Some(1), "stretch is gone: {out:?}");
    let o = text(&out.stdout);
    let row = |name: &str| {
        o.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row: {o}"))
            .to_owned()
    };
    let ok = row("debian:systemd");
    assert!(
        ok.contains(" ok ") && ok.contains("systemd-journald active; systemd 252"),
        "{ok}"
    );
    let gone = row("debian-stretch");
    assert!(
        gone.contains("FAIL") && gone.contains("`debian-bullseye`"),
        "{gone}"
    );
}

/// A root directory of the fixture's debian:bookworm (minbase, no
/// systemd) whose apt reads a local repository of systemd's packages
/// (downloaded once by scripts/fixtures/systemd-debs.sh), so installing
/// systemd into it needs no network.
fn slim_root_with_local_debs(dir: &Path, env: &[(String, String)]) -> std::path::PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir(&root).expect("mkdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixtures");
    let sh = |script: &str| {
        let out = Command::new("bash")
            .args(["-c", script])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("WARREN", bin())
            .env("ROOT", &root)
            .env("FIXTURES", &fixtures)
            .output()
            .expect("bash");
        assert!(out.status.success(), "{script}: {out:?}");
        text(&out.stdout).trim().to_string()
    };
    sh(
        "set -o pipefail; \"$WARREN\" run --rm debian:bookworm tar -C / --exclude=./proc --exclude=./sys --exclude=./dev -cf - . | tar -C \"$ROOT\" -xf -",
    );
    let repo = sh("bash \"$FIXTURES/systemd-debs.sh\" \"$ROOT/var/lib/dpkg/status\"");
    sh(&format!(
        "cp -r {repo:?} \"$ROOT/srv/warren-debs\" && rm -f \"$ROOT\"/etc/apt/sources.list.d/* && echo 'deb [trusted=yes] file:/srv/warren-debs ./' > \"$ROOT/etc/apt/sources.list\""
    ));
    assert!(!root.join("usr/sbin/init").exists(), "minbase has no init");
    root
}

/// `warren probe` and `warren run --boot` install systemd into an image
/// that lacks it, once, into the same derived layer.
#[test]
fn probe_and_run_boot_provision_a_slim_image_once() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let env = registry_env_with(&store, "debian");
    let root = slim_root_with_local_debs(tmp.path(), &env);
    let root_arg = root.display().to_string();
    let out = warren(tmp.path())
        .args([
            "probe",
            "--image",
            &root_arg,
            "--check-unit",
            "systemd-journald",
            "--json",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["checks"][1]["check"], "unit systemd-journald");
    let derived = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(store.join("derived"))
            .expect("derived layers")
            .flatten()
            .map(|e| e.path())
            .collect()
    };
    let made = derived();
    assert_eq!(made.len(), 1, "{made:?}");
    std::fs::write(made[0].join("layer/probe-made-me"), "").expect("mark");
    let mut cmd = warren(tmp.path());
    cmd.args(["run", "--boot", "--rm", &root_arg, "sh", "-c"])
        .arg("cat /proc/1/comm; test -e /probe-made-me && echo same layer")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let (pid, out) = output_within(&mut cmd, b"");
    assert_run_left_nothing(pid);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "systemd\nsame layer\n");
    assert_eq!(derived(), made, "provisioned once");
    assert!(
        !root.join("usr/sbin/init").exists(),
        "the image is not changed"
    );
}

/// A SIGTERM or SIGINT to `warren run --boot` while its system is still
/// booting ends the run before the command runs, and leaves no lab, work
/// folder, mount or helper process behind.
#[test]
fn a_stop_signal_during_the_boot_ends_the_run_and_leaves_nothing() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let marks = tmp.path().join("marks");
    std::fs::create_dir(&marks).expect("mkdir");
    let vol = format!("{}:/marks", marks.display());
    for (sig, code) in [("TERM", 143), ("INT", 130)] {
        let mut child = warren(tmp.path())
            .args(["run", "--boot", "--rm", "-v", &vol, "debian:systemd"])
            .args(["touch", &format!("/marks/{sig}")])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let pid = child.id();
        // The lab's folder appears when `up` starts; the boot follows.
        let state = Path::new("/run/warren").join(format!("run{pid}"));
        let start = Instant::now();
        while !state.join("state.json").exists() {
            assert!(start.elapsed() < HUNG, "the lab never started");
            assert!(child.try_wait().expect("try_wait").is_none(), "run ended");
            std::thread::sleep(Duration::from_millis(2));
        }
        // The pid of a child this test started.
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let start = Instant::now();
        while child.try_wait().expect("try_wait").is_none() {
            assert!(start.elapsed() < HUNG, "SIG{sig} did not end the run");
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(code), "SIG{sig}: {out:?}");
        assert!(!marks.join(sig).exists(), "the command ran after SIG{sig}");
        assert_run_left_nothing(pid);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(
            !mounts.contains(&format!("run{pid}")),
            "a mount of run{pid} is left"
        );
        assert_eq!(processes_with(&format!("run{pid}")), Vec::<String>::new());
        assert_eq!(orphaned_warren_helpers(), Vec::<String>::new());
    }
}

/// The Debian releases the fixture builds with systemd, and what their
/// booted systems say they are.
const RELEASES: &[(&str, &str)] = &[
    ("bullseye", "Debian GNU/Linux 11 (bullseye)"),
    ("bookworm", "Debian GNU/Linux 12 (bookworm)"),
    ("trixie", "Debian GNU/Linux 13 (trixie)"),
];

/// `warren run --boot` boots each release the fixture registry serves
/// (built with debootstrap: scripts/fixtures/registry.sh releases) and
/// runs hostnamectl and cat /etc/os-release in it.
#[test]
fn run_boot_boots_debian_bullseye_bookworm_and_trixie() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let env = registry_env_with(&store, "releases");
    for (suite, name) in RELEASES {
        let image = format!("debian:{suite}-systemd");
        let mut cmd = warren(tmp.path());
        cmd.args(["run", "--boot", "--rm", "--name", suite, &image])
            .args(["sh", "-c", "hostnamectl; cat /etc/os-release"])
            .envs(env.iter().map(|(k, v)| (k, v)));
        let (pid, out) = output_within(&mut cmd, b"");
        assert_run_left_nothing(pid);
        assert!(out.status.success(), "{image}: {out:?}");
        let o = text(&out.stdout);
        assert!(o.contains(&format!("Static hostname: {suite}")), "{o}");
        assert!(o.contains(&format!("Operating System: {name}")), "{o}");
        assert!(o.contains(&format!("VERSION_CODENAME={suite}")), "{o}");
    }
}

/// `warren probe selftest` over the three releases: one row each, all ok.
#[test]
fn selftest_runs_over_the_three_debian_releases() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env_with(&tmp.path().join("store"), "releases");
    let images: Vec<String> = RELEASES
        .iter()
        .map(|(s, _)| format!("debian:{s}-systemd"))
        .collect();
    let mut cmd = warren(tmp.path());
    cmd.args(["probe", "selftest", "hostnamectl", "--json"]);
    for i in &images {
        cmd.args(["--image", i]);
    }
    let out = cmd
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe selftest");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v.as_array().expect("rows");
    assert_eq!(rows.len(), RELEASES.len(), "{v}");
    for (row, (image, (_, name))) in rows.iter().zip(images.iter().zip(RELEASES)) {
        assert_eq!(row["image"], image.as_str(), "{v}");
        assert_eq!(row["ok"], true, "{v}");
        assert_eq!(row["detail"], format!("Operating System: {name}"), "{v}");
    }
}

/// `warren run --boot --userns`: the system boots in a user namespace of
/// its own (`userns: true` on its system node), its root an unprivileged
/// host id, and systemd still finishes its boot and answers hostnamectl.
#[test]
fn run_boot_userns_boots_with_root_mapped_to_an_unprivileged_range() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let mut cmd = warren(tmp.path());
    cmd.args(["run", "--boot", "--userns", "--rm", "--name", "mapped"])
        .args(["debian:systemd", "sh", "-c"])
        .arg("cat /proc/1/uid_map; id -u; systemctl is-system-running; hostnamectl")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let (pid, out) = output_within(&mut cmd, b"");
    assert_run_left_nothing(pid);
    assert!(out.status.success(), "{out:?}");
    let o = text(&out.stdout);
    let lines: Vec<&str> = o.lines().collect();
    let map: Vec<u64> = lines[0]
        .split_whitespace()
        .map(|f| f.parse().expect("number"))
        .collect();
    assert_eq!(map.len(), 3, "{o}");
    assert_eq!((map[0], map[2]), (0, 65536), "{o}");
    assert!(map[1] >= 1 << 30, "systemd's root is host uid {}", map[1]);
    assert_eq!(lines[1], "0", "{o}");
    assert!(["running", "degraded"].contains(&lines[2]), "{o}");
    assert!(o.contains("Static hostname: mapped"), "{o}");
}
