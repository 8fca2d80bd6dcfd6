//! Helpers for the privileged tests: the real binary against the real
//! kernel, as root, with checks that a lab leaves nothing behind.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Fails the test unless it runs as root: these tests need the kernel.
pub use warren_fixtures::require_root;

/// The warren binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_warren"))
}

/// The repository's examples folder.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A warren command with colour off, run in `cwd`.
pub fn warren(cwd: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd).env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

/// Runs a warren command and returns its output.
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    warren(cwd).args(args).output().expect("warren runs")
}

/// Runs a warren command that must succeed; returns stdout.
pub fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = run(cwd, args);
    assert!(
        out.status.success(),
        "warren {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary in `cwd` with `args` and the extra environment `env`.
pub fn with_env(cwd: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    warren(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren runs")
}

/// The stdout of `out`, failing the test with both streams unless it
/// succeeded; `what` names the command in the failure.
pub fn must(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pings `to` once from node `from` of lab `lab` through `warren exec`,
/// failing the test unless it answers.
pub fn ping(cwd: &Path, lab: &str, from: &str, to: &str) {
    let out = run(
        cwd,
        &["exec", lab, from, "--", "ping", "-c", "1", "-W", "3", to],
    );
    must(&out, &format!("ping {from} -> {to}"));
}

/// Writes a lab file into `dir` and returns its path.
pub fn write_lab(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).expect("write lab file");
    p
}

/// `net:[inode]` of every namespace the lab's supervisor holds, read while it runs.
pub fn lab_netns(lab: &str) -> BTreeSet<String> {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("/run/warren/{lab}/state.json")).expect("state of a running lab"),
    )
    .expect("state is JSON");
    let pid = state["supervisor"]["pid"].as_i64().expect("pid");
    state["netns"]
        .as_object()
        .expect("netns map")
        .values()
        .filter_map(|fd| std::fs::read_link(format!("/proc/{pid}/fd/{}", fd.as_i64()?)).ok())
        .map(|l| l.display().to_string())
        .collect()
}

/// Every namespace any process on the host refers to, by its namespace
/// links or its open files.
pub fn referenced_netns() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let path = p.path();
        if let Ok(l) = std::fs::read_link(path.join("ns/net")) {
            out.insert(l.display().to_string());
        }
        if let Ok(fds) = std::fs::read_dir(path.join("fd")) {
            for fd in fds.flatten() {
                if let Ok(l) = std::fs::read_link(fd.path()) {
                    let s = l.display().to_string();
                    if s.starts_with("net:[") {
                        out.insert(s);
                    }
                }
            }
        }
    }
    out
}

/// Asserts that nothing of lab `lab` is left: no state folder, no process
/// or fd holding one of its namespaces `held`, no mount under its state.
pub fn assert_gone(lab: &str, held: &BTreeSet<String>) {
    let dir = format!("/run/warren/{lab}");
    assert!(!Path::new(&dir).exists(), "{dir} still exists");
    // The kernel frees namespaces asynchronously once the last holder
    // exits; processes being killed may need a moment to go.
    let mut still: BTreeSet<String> = BTreeSet::new();
    for _ in 0..200 {
        let now = referenced_netns();
        still = held.intersection(&now).cloned().collect();
        if still.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        still.is_empty(),
        "namespaces of lab {lab} are still held: {still:?}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    assert!(!mounts.contains(&dir), "a mount under {dir} is left");
}

/// A lab that is brought down (and checked) when the guard drops, so a
/// failing assertion never leaves a lab running.
pub struct LabGuard {
    pub name: String,
    pub cwd: PathBuf,
    pub netns: BTreeSet<String>,
}

impl LabGuard {
    /// Brings `file` up (with results under `cwd`) and records its namespaces.
    pub fn up(cwd: &Path, file: &Path, name: &str) -> LabGuard {
        ok(cwd, &["up", "-q", file.to_str().expect("utf-8 path")]);
        LabGuard {
            name: name.into(),
            cwd: cwd.into(),
            netns: lab_netns(name),
        }
    }

    /// Runs a command in a node; returns (exit code, stdout, stderr).
    pub fn exec(&self, node: &str, cmd: &[&str]) -> (i32, String, String) {
        let mut args = vec!["exec", self.name.as_str(), node];
        // Options for `exec` itself come before their own `--`.
        if !cmd.first().is_some_and(|a| a.starts_with('-')) {
            args.push("--");
        }
        args.extend_from_slice(cmd);
        let out = run(&self.cwd, &args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Pings `target` from `node`, failing the test with the output if it does not answer.
    pub fn ping(&self, node: &str, target: &str, extra: &[&str]) {
        let mut cmd = vec!["ping", "-c", "1", "-W", "2"];
        cmd.extend_from_slice(extra);
        cmd.push(target);
        let (code, out, err) = self.exec(node, &cmd);
        assert_eq!(code, 0, "{node} -> {target} {extra:?} failed:\n{out}{err}");
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let out = run(&self.cwd, &["down", &self.name]);
        if !std::thread::panicking() {
            assert!(
                out.status.success(),
                "down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_gone(&self.name, &self.netns);
        }
    }
}

/// Starts (or reuses) the fixture registry with the busybox images and
/// returns the environment that points warren at it, with a store of the
/// test's own under `store`.
pub fn registry_env(store: &Path) -> Vec<(String, String)> {
    registry_env_with(store, "busybox")
}

/// Like [`registry_env`], also building the fixture's image set `set`
/// (`busybox`, `debian`, `systemd`) first.
pub fn registry_env_with(store: &Path, set: &str) -> Vec<(String, String)> {
    warren_fixtures::registry_env(store, set)
}

/// Starts the fixture registry with the systemd image; returns warren's environment.
pub fn systemd_env(store: &Path) -> Vec<(String, String)> {
    registry_env_with(store, "systemd");
    registry_env(store)
}

/// `warren up -q FILE` with the fixture's environment; fails the test if it fails.
pub fn up_with(cwd: &Path, file: &Path, env: &[(String, String)]) {
    let out = warren(cwd)
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary folder anyone may write to, for tests that run warren as
/// uid 65534 ([`as_nobody`]) in it.
pub fn tempdir_for_anyone() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    tmp
}

/// Runs warren as uid/gid 65534 with no supplementary groups and no runtime
/// dir, for the rootless tests.
pub fn as_nobody(cwd: &Path, args: &[&str]) -> Output {
    as_nobody_with(cwd, &[], args)
}

/// [`as_nobody`] with `env` added to warren's environment (the registry
/// fixture's, for a rootless lab that pulls images).
pub fn as_nobody_with(cwd: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("XDG_RUNTIME_DIR")
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("setpriv runs (util-linux)")
}

/// Every file below `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// warren helper processes (`__init`, `__spawn`, `__container`) with no
/// live supervisor above them: what a leak after a crash would look like.
/// Other tests' labs, whose helpers sit under their supervisors, do not count.
pub fn orphaned_warren_helpers() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = cmdline(pid);
        if !["__init", "__spawn", "__container"]
            .iter()
            .any(|h| cmd.contains(&format!("warren {h}")))
        {
            continue;
        }
        let mut up = parent(pid);
        let mut supervised = false;
        while let Some(pp) = up.filter(|p| *p > 1) {
            if cmdline(pp).contains("warren __supervise") {
                supervised = true;
                break;
            }
            up = parent(pp);
        }
        if !supervised {
            out.push(format!("{pid}: {cmd}"));
        }
    }
    out
}

/// Processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = cmdline(pid);
        if cmd.contains(marker) && pid != std::process::id() {
            out.push(format!("{pid}: {cmd}"));
        }
    }
    out
}

/// Runs a prepared command with `input` on its stdin; returns its output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// The DUT fixture's folder (vmlinuz, initrd.gz, uefi.img).
pub fn dut_fixture() -> PathBuf {
    warren_fixtures::dut().to_path_buf()
}

/// `warren inspect --json` of `lab`.
pub fn inspect(dir: &Path, lab: &str) -> serde_json::Value {
    serde_json::from_str(&ok(dir, &["inspect", lab, "--json"])).expect("inspect --json")
}

/// What a node's network looks like: each interface's admin state and
/// sorted addresses, and the sorted routes. Operational states are apart:
/// a wire's tap says `unknown` until its carrier is first switched.
#[derive(Debug, PartialEq)]
pub struct NodeNet {
    pub interfaces: std::collections::BTreeMap<String, (bool, Vec<String>)>,
    pub routes: Vec<String>,
    pub states: std::collections::BTreeMap<String, String>,
}

impl NodeNet {
    /// Interfaces, addresses and routes equal, whatever the carrier says.
    pub fn assert_same_config(&self, other: &NodeNet) {
        assert_eq!(
            (&self.interfaces, &self.routes),
            (&other.interfaces, &other.routes)
        );
    }
}

pub fn node_net(info: &serde_json::Value, node: &str) -> NodeNet {
    let n = info["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == node)
        .unwrap_or_else(|| panic!("no node {node} in {info}"));
    let strings = |v: &serde_json::Value| {
        let mut s: Vec<String> = v
            .as_array()
            .expect("list")
            .iter()
            .map(|x| x.as_str().expect("string").to_string())
            .collect();
        s.sort();
        s
    };
    let interfaces = n["interfaces"].as_array().expect("interfaces");
    let name = |i: &serde_json::Value| i["name"].as_str().expect("name").to_string();
    NodeNet {
        interfaces: interfaces
            .iter()
            .map(|i| {
                (
                    name(i),
                    (i["up"].as_bool().expect("up"), strings(&i["addresses"])),
                )
            })
            .collect(),
        routes: strings(&n["routes"]),
        states: interfaces
            .iter()
            .map(|i| (name(i), i["state"].as_str().expect("state").to_string()))
            .collect(),
    }
}

/// A busybox root: the static binary and its applet links, passwd and group.
pub fn busybox_root(dir: &Path) -> PathBuf {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "these tests need Debian's busybox-static (/bin/busybox); scripts/setup installs it"
    );
    let root = dir.join("root");
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "www",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new(busybox)
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join(applet);
        if !link.exists() {
            let _ = std::os::unix::fs::symlink("/bin/busybox", link);
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
    std::fs::write(root.join("www/index.html"), "hello from the image\n").expect("index");
    root
}
