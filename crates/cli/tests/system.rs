//! `kind: system` nodes and `warren probe`: systemd as PID 1 on the
//! debian:systemd image the registry fixture builds with debootstrap.
//! Needs root and the fixture's packages.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// Brings up lab `name`: one system node `os` on the fixture's
/// debian:systemd image. Returns warren's environment for the fixture.
fn up_os_lab(dir: &Path, name: &str) -> Vec<(String, String)> {
    let env = systemd_env(&dir.join("store"));
    let text = format!("name: {name}\nnodes:\n  os: {{kind: system, image: 'debian:systemd'}}\n");
    up_with(dir, &write_lab(dir, name, &text), &env);
    env
}

/// The state file of the running lab `name`.
fn lab_state(name: &str) -> serde_json::Value {
    let path = format!("/run/warren/{name}/state.json");
    serde_json::from_slice(&std::fs::read(&path).expect("state")).expect("json")
}

fn cgroup_dirs(lab: &str) -> Vec<PathBuf> {
    ["unified", "systemd"]
        .iter()
        .map(|h| Path::new("/sys/fs/cgroup").join(h).join("warren").join(lab))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn a_system_node_boots_configures_its_own_network_and_leaves_nothing() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let file = write_lab(
        tmp.path(),
        "sys-lab",
        "name: sys-lab
nodes:
  h: {}
  os:
    kind: system
    image: debian:systemd
    netconf: {renderer: networkd}
links:
  - endpoints: [h:eth0, os:eth0]
    ipv4: [10.97.0.1/24, 10.97.0.2/24]
interfaces:
  os:eth0: {routes: ['10.98.0.0/16 via 10.97.0.1']}
",
    );
    // warren leaves the system node's addresses and routes to its networkd.
    let plan = ok(
        tmp.path(),
        &["up", "--dry-run", file.to_str().expect("path")],
    );
    assert!(
        plan.contains("address h:eth0") && !plan.contains("address os:eth0"),
        "{plan}"
    );
    up_with(tmp.path(), &file, &env);
    let lab = LabGuard {
        name: "sys-lab".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("sys-lab"),
    };
    let (code, state, _) = lab.exec("os", &["systemctl", "is-system-running"]);
    assert!(code == 0 || state.trim() == "degraded", "{state}");
    assert!(matches!(state.trim(), "running" | "degraded"), "{state}");
    let (_, pid1, _) = lab.exec("os", &["cat", "/proc/1/comm"]);
    assert_eq!(pid1.trim(), "systemd");
    let (_, units, _) = lab.exec(
        "os",
        &[
            "sh",
            "-c",
            "ls /etc/systemd/network; systemctl is-active systemd-networkd",
        ],
    );
    assert!(
        units.contains(".network") && units.contains("active"),
        "{units}"
    );
    let (_, routes, _) = lab.exec("os", &["ip", "-4", "route"]);
    assert!(
        routes.contains("10.98.0.0/16 via 10.97.0.1"),
        "networkd set the route: {routes}"
    );
    lab.ping("h", "10.97.0.2", &[]);
    // Commands start from a clean environment, or in a unit of their own.
    let (_, env, _) = lab.exec("os", &["env"]);
    assert!(!env.contains("WARREN_") && !env.contains("CARGO"), "{env}");
    let (code, cg, _) = lab.exec("os", &["--unit", "--", "cat", "/proc/self/cgroup"]);
    assert_eq!(code, 0);
    assert!(
        cg.contains("0::/system.slice/run-"),
        "a transient unit: {cg}"
    );
    // Only the cgroup2 view inside: no v1 controller of the host.
    let (_, cg, _) = lab.exec("os", &["sh", "-c", "grep cgroup /proc/self/mounts"]);
    assert!(cg.contains("cgroup2") && !cg.contains(" cgroup "), "{cg}");
    assert!(
        !cgroup_dirs("sys-lab").is_empty(),
        "the node has cgroups of its own"
    );
    // A restart halts systemd and boots it again on the same links; its
    // networkd configures the interface again.
    let done: serde_json::Value = serde_json::from_str(&ok(
        tmp.path(),
        &["node", "sys-lab", "os", "restart", "--json"],
    ))
    .expect("node --json");
    let (old, new) = (&done["stopped"][0], &done["started"][0]);
    assert!(old.is_i64() && new.is_i64() && old != new, "{done}");
    let comm = |pid: &serde_json::Value| std::fs::read_to_string(format!("/proc/{pid}/comm"));
    assert!(comm(old).is_err(), "the old systemd is gone: {done}");
    assert_eq!(comm(new).expect("new init").trim(), "systemd");
    let (_, state, _) = lab.exec("os", &["systemctl", "is-system-running"]);
    assert!(matches!(state.trim(), "running" | "degraded"), "{state}");
    let (_, routes, _) = lab.exec("os", &["ip", "-4", "route"]);
    assert!(routes.contains("10.98.0.0/16 via 10.97.0.1"), "{routes}");
    lab.ping("h", "10.97.0.2", &["-w", "5"]);
    drop(lab);
    assert!(cgroup_dirs("sys-lab").is_empty(), "cgroups left behind");
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    assert!(!String::from_utf8_lossy(&ps.stdout).contains("/run/warren/sys-lab"));
}

/// A system node's `/dev/console` is a pty: systemd's boot is logged to
/// the run's results like a vm's serial console, `warren console -c` runs a
/// command in the autologin shell there (waiting for it, right after
/// `up`), and `warren console` attaches.
#[test]
fn a_system_nodes_console_is_logged_runs_commands_and_attaches() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = up_os_lab(tmp.path(), "sys-con");
    let lab = LabGuard {
        name: "sys-con".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("sys-con"),
    };
    let state = lab_state("sys-con");
    // Results are relative to the directory `up` ran in.
    let results = tmp.path().join(state["results"].as_str().expect("results"));
    let socket = PathBuf::from(state["consoles"]["os"].as_str().expect("console socket"));
    assert!(socket.exists(), "{}", socket.display());
    // One command at the console's shell, typed once the getty has logged
    // root in: its output and its exit code.
    let out = warren(tmp.path())
        .args(["console", "sys-con", "os", "-c", "tty; cat /proc/1/comm"])
        .output()
        .expect("warren console -c");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "/dev/console\nsystemd"
    );
    let txt = std::fs::read_to_string(results.join("console/os.txt")).expect("console text log");
    assert!(txt.contains("os login: root (automatic login)"), "{txt}");
    assert!(
        txt.contains("Welcome to Debian") && txt.contains("[  OK  ] Reached target"),
        "systemd's boot on the console:\n{txt}"
    );
    // The console is not the init's controlling terminal: a hangup of it
    // would reach systemd as SIGHUP and reload it in the middle of the boot.
    assert!(!txt.contains("Received SIGHUP"), "{txt}");
    let raw = std::fs::read(results.join("console/os.log")).expect("raw console log");
    assert!(
        raw.windows(2).any(|w| w == b"\r\n") && !txt.contains("\\r\n"),
        "the raw log keeps the tty's line ends, the text log drops them"
    );
    let out = warren(tmp.path())
        .args(["console", "sys-con", "os", "-c", "test -e /no/such"])
        .output()
        .expect("warren console -c");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // A file goes up through the console's shell (bash, coreutils) as
    // through a vm's, checked per chunk, with its mode.
    let blob: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let src = tmp.path().join("blob");
    std::fs::write(&src, &blob).expect("blob");
    let up = ok(
        tmp.path(),
        &[
            "console",
            "sys-con",
            "os",
            "--upload",
            src.to_str().expect("path"),
            "/root/blob",
            "--mode",
            "600",
        ],
    );
    assert!(
        up.contains("10000 bytes in 4 chunks") && up.contains("(base64, sha256sum)"),
        "{up}"
    );
    let local = std::process::Command::new("sha256sum")
        .arg(&src)
        .output()
        .expect("sha256sum");
    let local = String::from_utf8_lossy(&local.stdout);
    let far = ok(
        tmp.path(),
        &[
            "console",
            "sys-con",
            "os",
            "-c",
            "sha256sum < /root/blob; stat -c %a /root/blob",
        ],
    );
    assert_eq!(
        far.trim(),
        format!(
            "{}  -\n600",
            local.split_whitespace().next().expect("digest")
        )
    );
    // Attached, typed input reaches the shell and its output comes back;
    // Ctrl-] detaches.
    let mut child = warren(tmp.path())
        .args(["console", "sys-con", "os"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("warren console");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::io::Write::write_all(&mut stdin, b"echo attached-$((6*7))\n").expect("type");
    std::thread::sleep(std::time::Duration::from_secs(1));
    std::io::Write::write_all(&mut stdin, b"\x1d").expect("detach");
    let out = child.wait_with_output().expect("warren console");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("attached-42"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (_, typed, _) = lab.exec(
        "os",
        &["sh", "-c", "cat /root/.bash_history 2>/dev/null; who"],
    );
    assert!(
        typed.contains("console"),
        "root is logged in on the console: {typed}"
    );
    drop(lab);
    assert!(!socket.exists(), "the console socket goes with the lab");
    let txt = std::fs::read_to_string(results.join("console/os.txt")).expect("console text log");
    assert!(txt.contains("attached-42"), "what was typed is logged too");
    // A console pattern that never shows fails the bring-up, and names it.
    let file = write_lab(
        tmp.path(),
        "sys-con",
        "name: sys-con\nnodes:\n  os: {kind: system, image: 'debian:systemd', ready: {console: 'never printed', timeout: 2s}}\n",
    );
    let out = warren(tmp.path())
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node os was not ready") && err.contains("/never printed/"),
        "{err}"
    );
    assert!(!Path::new("/run/warren/sys-con").exists());
    assert!(
        cgroup_dirs("sys-con").is_empty(),
        "a failed bring-up leaves no cgroup"
    );
}

/// A .deb with a unit serving HTTP with a static busybox it ships; with
/// `broken`, the unit's program does not exist.
fn web_deb(dir: &Path, broken: bool) -> PathBuf {
    let root = dir.join(if broken { "broken" } else { "good" });
    let lib = root.join("usr/lib/probe-web");
    std::fs::create_dir_all(&lib).expect("mkdir");
    std::fs::create_dir_all(root.join("lib/systemd/system")).expect("mkdir");
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::copy("/bin/busybox", lib.join("busybox")).expect("busybox-static");
    std::fs::write(lib.join("index.html"), "probe ok\n").expect("index");
    let program = if broken {
        "/usr/lib/probe-web/missing"
    } else {
        "/usr/lib/probe-web/busybox"
    };
    std::fs::write(
        root.join("lib/systemd/system/probe-web.service"),
        format!("[Unit]\nDescription=probe test web server\n[Service]\nExecStart={program} httpd -f -p 8080 -h /usr/lib/probe-web\n[Install]\nWantedBy=multi-user.target\n"),
    )
    .expect("unit");
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: probe-web\nVersion: 1.0\nArchitecture: amd64\nMaintainer: warren tests <tests@warren.invalid>\nDescription: probe test web server\n",
    )
    .expect("control");
    let postinst = root.join("DEBIAN/postinst");
    std::fs::write(
        &postinst,
        "#!/bin/sh\nset -e\nsystemctl enable --now probe-web.service || true\n",
    )
    .expect("postinst");
    std::fs::set_permissions(
        &postinst,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let deb = dir.join(if broken {
        "probe-web-broken.deb"
    } else {
        "probe-web.deb"
    });
    let out = std::process::Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}

#[test]
fn probe_installs_a_package_checks_its_unit_and_url_and_reports_failures() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let probe = |deb: &Path| {
        let child = warren(tmp.path())
            .args(["probe", "--image", "debian:systemd", "--package"])
            .arg(deb)
            .args([
                "--check-unit",
                "probe-web",
                "--check-network",
                "http://127.0.0.1:8080/",
                "--check-cmd",
                "test -x /usr/lib/probe-web/busybox",
            ])
            .args(["--settle", "10", "--json"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("warren probe");
        // The probe's lab and work folder are named after its pid; other
        // probes may run on the host at the same time.
        let pid = child.id();
        let out = child.wait_with_output().expect("warren probe");
        for left in [format!("probe{pid}"), format!("probe-work-{pid}")] {
            assert!(
                !Path::new("/run/warren").join(&left).exists(),
                "{left} left behind"
            );
        }
        out
    };
    let out = probe(&web_deb(tmp.path(), false));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 5, "boot, install, unit, url, cmd: {report}");
    assert!(checks.iter().all(|c| c["ok"] == true));
    let out = probe(&web_deb(tmp.path(), true));
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .filter_map(|c| c["check"].as_str())
        .collect();
    assert_eq!(
        failed,
        ["unit probe-web", "network http://127.0.0.1:8080/"],
        "{report}"
    );
}

/// Without packages a probe does not wait for the whole boot: its unit
/// checks retry while systemd brings units up, and still fail for a unit
/// that never comes.
#[test]
fn a_probe_without_packages_checks_units_while_systemd_comes_up() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let out = warren(tmp.path())
        .args(["probe", "--image", "debian:systemd"])
        .args(["--check-unit", "systemd-journald"])
        .args(["--check-unit", "no-such-unit"])
        .args(["--settle", "2", "--json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(out.status.code(), Some(1), "{report}");
    let result = |name: &str| {
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {report}"))
            .clone()
    };
    assert_eq!(result("unit systemd-journald")["ok"], true, "{report}");
    assert_eq!(result("unit systemd-journald")["detail"], "active");
    assert_eq!(result("unit no-such-unit")["ok"], false, "{report}");
    assert_eq!(result("unit no-such-unit")["detail"], "inactive");
    // The unknown unit was retried for the whole settle time.
    let checks = report["seconds"]["checks"].as_f64().expect("seconds");
    assert!(checks >= 2.0, "{report}");
    assert!(report["seconds"]["up"].as_f64().expect("up") > 0.0);
    assert!(report["seconds"]["down"].as_f64().expect("down") > 0.0);
}

/// Curated names: `--list-images` shows the built-in list with the file's
/// entries over it, and `--image NAME` boots what the name stands for.
#[test]
fn probe_resolves_a_curated_image_name_through_the_images_file() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut env = systemd_env(&tmp.path().join("store"));
    let images = tmp.path().join("images.json");
    std::fs::write(
        &images,
        r#"{"images": {"debian-bookworm": {"image": "debian:systemd", "description": "the fixture's"}}}"#,
    )
    .expect("images file");
    env.push(("WARREN_IMAGES".into(), images.display().to_string()));
    let out = warren(tmp.path())
        .args(["probe", "--list-images", "--json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe --list-images");
    assert!(out.status.success(), "{out:?}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let entry = |name: &str| {
        list.as_array()
            .expect("array")
            .iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .clone()
    };
    assert_eq!(entry("debian-bookworm")["image"], "debian:systemd");
    assert_eq!(
        entry("debian-bookworm")["source"],
        images.display().to_string()
    );
    assert_eq!(entry("ubuntu-noble")["source"], "built-in");
    let out = warren(tmp.path())
        .args(["probe", "--image", "debian-bookworm"])
        .args(["--check-unit", "systemd-journald", "--json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["image"], "debian-bookworm");
    assert_eq!(report["reference"], "debian:systemd");
    assert_eq!(
        report["checks"][0]["check"],
        "boot debian-bookworm (debian:systemd)"
    );
    // A broken file is an error that names it, and nothing is booted.
    std::fs::write(&images, r#"{"images": {"Bad Name": {"image": "debian"}}}"#).expect("write");
    let out = warren(tmp.path())
        .args(["probe", "--image", "debian-bookworm"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren probe");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "no probe ran: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`Bad Name`") && err.contains("images.json"),
        "{err}"
    );
}

/// `provision: true` installs systemd into a minbase Debian root with the
/// image's own apt, once: the derived layer is kept in the store and used
/// again. The packages come from a file: repository inside the root (the
/// fixture downloads them once), so the test needs no network.
#[test]
fn provision_installs_systemd_once_and_keeps_the_derived_layer() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let env = registry_env_with(&store, "debian");
    let root = tmp.path().join("rootfs");
    std::fs::create_dir(&root).expect("mkdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixtures");
    let sh = |script: &str| {
        let out = std::process::Command::new("bash")
            .args(["-c", script])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("WARREN", bin())
            .env("ROOT", &root)
            .env("FIXTURES", &fixtures)
            .output()
            .expect("bash");
        assert!(out.status.success(), "{script}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // debian:bookworm (minbase, no systemd) as a root directory whose apt
    // reads a local repository.
    sh(
        "set -o pipefail; \"$WARREN\" run --rm debian:bookworm tar -C / --exclude=./proc --exclude=./sys --exclude=./dev -cf - . | tar -C \"$ROOT\" -xf -",
    );
    assert!(!root.join("usr/sbin/init").exists(), "minbase has no init");
    let repo = sh("bash \"$FIXTURES/systemd-debs.sh\" \"$ROOT/var/lib/dpkg/status\"");
    sh(&format!(
        "cp -r {repo:?} \"$ROOT/srv/warren-debs\" && rm -f \"$ROOT\"/etc/apt/sources.list.d/* && echo 'deb [trusted=yes] file:/srv/warren-debs ./' > \"$ROOT/etc/apt/sources.list\""
    ));
    let file = write_lab(
        tmp.path(),
        "sys-prov",
        &format!(
            "name: sys-prov\nnodes:\n  os: {{kind: system, image: {:?}, provision: true}}\n",
            root.display().to_string()
        ),
    );
    let derived = store.join("derived");
    for round in 0..2 {
        up_with(tmp.path(), &file, &env);
        let lab = LabGuard {
            name: "sys-prov".into(),
            cwd: tmp.path().into(),
            netns: lab_netns("sys-prov"),
        };
        let (_, out, _) = lab.exec(
            "os",
            &["sh", "-c", "cat /proc/1/comm; systemctl is-system-running"],
        );
        assert!(
            out.starts_with("systemd\n") && (out.contains("running") || out.contains("degraded")),
            "round {round}: {out}"
        );
        drop(lab);
        let dirs: Vec<_> = std::fs::read_dir(&derived)
            .expect("derived images")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(dirs.len(), 1, "one derived image, made once: {dirs:?}");
        assert!(dirs[0].join("done").exists() && dirs[0].join("layer/usr/sbin/init").exists());
        let log = std::fs::read_to_string(dirs[0].join("provision.log")).expect("log");
        assert!(log.contains("Setting up systemd "), "{log}");
        if round == 0 {
            // Marked, so the second round can tell the layer was not made again.
            std::fs::write(dirs[0].join("layer/round0"), "").expect("mark");
        } else {
            assert!(dirs[0].join("layer/round0").exists(), "made again");
        }
    }
    assert!(
        !root.join("usr/sbin/init").exists(),
        "the image is not changed"
    );
    // `image prune` keeps a derived layer while what it was made over is
    // there, and removes it after.
    let prune = || {
        let out = warren(tmp.path())
            .args(["image", "prune", "--json"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("warren image prune");
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["derived"].as_u64().expect("derived")
    };
    assert_eq!(prune(), 0);
    std::fs::remove_dir_all(&root).expect("remove the root");
    assert_eq!(prune(), 1);
    assert_eq!(std::fs::read_dir(&derived).expect("derived").count(), 0);
    // An image without a package manager: a clear error, nothing running.
    let env = registry_env(&store);
    let file = write_lab(
        tmp.path(),
        "sys-prov",
        "name: sys-prov\nnodes:\n  os: {kind: system, image: busybox, provision: true}\n",
    );
    let out = warren(tmp.path())
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    assert!(!out.status.success());
    // The report wraps long lines.
    let err = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("exit code 3") && err.contains("no apt-get, dnf, yum or zypper"),
        "{err}"
    );
    assert!(!Path::new("/run/warren/sys-prov").exists());
    assert!(cgroup_dirs("sys-prov").is_empty());
}

#[test]
fn down_after_a_killed_supervisor_removes_the_system_nodes_cgroups() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let _ = up_os_lab(tmp.path(), "sys-crash");
    let held = lab_netns("sys-crash");
    let state = lab_state("sys-crash");
    let pid = state["supervisor"]["pid"].as_i64().expect("pid");
    assert!(!cgroup_dirs("sys-crash").is_empty());
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    ok(tmp.path(), &["down", "sys-crash"]);
    assert_gone("sys-crash", &held);
    assert!(
        cgroup_dirs("sys-crash").is_empty(),
        "down removes what the killed supervisor left"
    );
}
