//! Containers that cannot reach the host (issue 18): a container node's
//! processes, the commands `warren exec` runs in it and `warren run` get
//! runc's masked and read-only paths, no_new_privs, Docker's seccomp
//! profile and Docker's capability set. An escape helper built here with
//! `gcc -static` (tests/attack/attack.c) tries each way out from inside;
//! every attempt must be refused, and the host must be as it was. The
//! attempts are built so that they change nothing even if let through.
//! Needs root.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// What each attempt must end in, as the helper prints it.
const REFUSED: &[(&str, &str)] = &[
    ("write-core_pattern", "refused EROFS"),
    ("write-sysrq-trigger", "refused EROFS"),
    ("write-drop_caches", "refused EROFS"),
    ("write-uevent_helper", "refused EROFS"),
    ("write-cgroup", "refused ENOENT"),
    ("read-kcore", "refused empty"),
    ("read-keys", "refused empty"),
    ("read-timer_list", "refused empty"),
    ("mount", "refused EPERM"),
    ("umount", "refused EPERM"),
    ("pivot_root", "refused EPERM"),
    ("unshare-user", "refused EPERM"),
    ("init_module", "refused EPERM"),
    ("finit_module", "refused EPERM"),
    ("kexec_load", "refused EPERM"),
    ("bpf", "refused EPERM"),
    ("perf_event_open", "refused EPERM"),
    ("keyctl", "refused EPERM"),
    ("ptrace-host", "refused ESRCH"),
    ("open_by_handle_at", "refused EPERM"),
    ("mknod-block", "refused EPERM"),
    ("open-own-device", "refused EACCES"),
];

/// Builds the escape helper into the busybox root at /bin/attack, and a
/// setuid-root copy at /bin/suid-attack.
fn root_with_attack(dir: &Path) -> std::path::PathBuf {
    let root = busybox_root(dir);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attack/attack.c");
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-Wall", "-o"])
        .arg(root.join("bin/attack"))
        .arg(&source)
        .output()
        .expect("gcc runs (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "building the escape helper: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let suid = root.join("bin/suid-attack");
    std::fs::copy(root.join("bin/attack"), &suid).expect("copy");
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    root
}

/// The helper's report: attempt name -> outcome.
fn outcomes(report: &str) -> BTreeMap<String, String> {
    report
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The paths attempts use that a kernel may be built without (this
/// machine's has no sysrq, uevent helper or kcore): where the host has no
/// such file, the container has none either.
const OPTIONAL: &[(&str, &str)] = &[
    ("write-sysrq-trigger", "/proc/sysrq-trigger"),
    ("write-uevent_helper", "/sys/kernel/uevent_helper"),
    ("read-kcore", "/proc/kcore"),
];

fn assert_all_refused(report: &str, who: &str) {
    assert_all_refused_with(report, who, &[]);
}

/// [`assert_all_refused`], where `earlier` names attempts refused for
/// another reason first (and how).
fn assert_all_refused_with(report: &str, who: &str, earlier: &[(&str, &str)]) {
    let got = outcomes(report);
    let mut holes = Vec::new();
    for (name, want) in REFUSED {
        let absent = OPTIONAL
            .iter()
            .any(|(n, path)| n == name && !Path::new(path).exists());
        let want = match earlier.iter().find(|(n, _)| n == name) {
            Some((_, other)) => other,
            None if absent => "refused ENOENT",
            None => want,
        };
        match got.get(*name) {
            Some(v) if v == want => {}
            other => holes.push(format!("{name}: want `{want}`, got {other:?}")),
        }
    }
    assert!(
        holes.is_empty(),
        "{who} let attempts through:\n{}\nfull report:\n{report}",
        holes.join("\n")
    );
}

/// What the attempts could have changed on the host, read without changing it.
fn host_state() -> Vec<(String, String)> {
    [
        "/proc/sys/kernel/core_pattern",
        "/sys/kernel/uevent_helper",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/vm/overcommit_memory",
    ]
    .iter()
    .map(|p| {
        (
            p.to_string(),
            std::fs::read_to_string(p).unwrap_or_default(),
        )
    })
    .chain(
        ["/tmp/warren-blk", "/tmp/warren-kmsg", "/warren-no-such-dir"]
            .map(|p| (p.to_string(), Path::new(p).exists().to_string())),
    )
    .collect()
}

/// `Name:\tvalue` lines of a /proc status file, as printed by grep.
fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn host_full_caps() -> String {
    // CapBnd of this root test process: every capability the kernel has.
    status_field(
        &std::fs::read_to_string("/proc/self/status").expect("status"),
        "CapBnd",
    )
}

fn cap_bit(caps_hex: &str, bit: u32) -> bool {
    u64::from_str_radix(caps_hex, 16).expect("hex") & (1 << bit) != 0
}

#[test]
fn warren_run_refuses_every_escape_and_leaves_the_host_unchanged() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_with_attack(tmp.path());
    let rootfs = root.to_str().expect("path");
    let before = host_state();
    let pid = std::process::id().to_string();
    let out = run(
        tmp.path(),
        &["run", "--rootfs", rootfs, "/bin/attack", "escape", &pid],
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_all_refused(&report, "warren run");
    assert_eq!(host_state(), before, "the host changed");

    let status = ok(
        tmp.path(),
        &[
            "run",
            "--rootfs",
            rootfs,
            "grep",
            "-E",
            "^(NoNewPrivs|Seccomp|CapEff):",
            "/proc/self/status",
        ],
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), "1", "{status}");
    assert_eq!(status_field(&status, "Seccomp"), "2", "{status}");
    // Docker's default set plus NET_ADMIN.
    assert_eq!(
        status_field(&status, "CapEff"),
        "00000000a80435fb",
        "{status}"
    );

    // A setuid-root binary gives nothing under no_new_privs; privileged,
    // it does (which shows the check above could have failed).
    let euid = |extra: &[&str]| {
        let mut args = vec!["run", "-u", "nobody"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--rootfs", rootfs, "/bin/suid-attack", "whoami"]);
        ok(tmp.path(), &args).trim().to_string()
    };
    assert_eq!(euid(&[]), "euid 65534");
    assert_eq!(euid(&["--privileged"]), "euid 0");

    // --cap-add and --cap-drop change the set; unknown names are refused.
    let status = ok(
        tmp.path(),
        &[
            "run",
            "--cap-add",
            "SYS_TIME",
            "--cap-drop",
            "net_raw",
            "--rootfs",
            rootfs,
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
    );
    let eff = status_field(&status, "CapEff");
    assert!(
        cap_bit(&eff, 25) && !cap_bit(&eff, 13),
        "SYS_TIME in, NET_RAW out: {eff}"
    );
    let out = run(
        tmp.path(),
        &["run", "--cap-add", "NET_ADMN", "--rootfs", rootfs, "true"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown capability NET_ADMN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!Path::new("/run/warren/run").exists(), "state is removed");
}

#[test]
fn container_nodes_and_exec_are_confined_unless_privileged() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_with_attack(tmp.path());
    let before = host_state();
    let pid = std::process::id();
    let file = write_lab(
        tmp.path(),
        "sec-lab",
        &format!(
            "name: sec-lab
nodes:
  web:
    kind: container
    image: {root}
    cmd: [sh, -c, \"/bin/attack escape {pid} > /report; exec sleep 1000\"]
    ready: {{exec: [test, -s, /report], timeout: 10s}}
    exec: [\"grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status > /exec-status\"]
  tuned:
    kind: container
    image: {root}
    cmd: [sleep, \"1000\"]
    capabilities: [SYS_TIME]
    cap_drop: [NET_RAW]
  free:
    kind: container
    image: {root}
    cmd: [sleep, \"1000\"]
    privileged: true
",
            root = root.display()
        ),
    );
    let lab = LabGuard::up(tmp.path(), &file, "sec-lab");

    // The node's own process.
    let (code, report, err) = lab.exec("web", &["cat", "/report"]);
    assert_eq!(code, 0, "{err}");
    assert_all_refused(&report, "a container node's process");
    // A command `warren exec` runs there.
    let (code, report, err) = lab.exec("web", &["/bin/attack", "escape", &pid.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert_all_refused(&report, "warren exec");
    assert_eq!(host_state(), before, "the host changed");

    // exec gets the node's capabilities, filter and no_new_privs.
    let fields = "^(NoNewPrivs|Seccomp|CapEff|CapBnd):";
    let (_, init, _) = lab.exec("web", &["grep", "-E", fields, "/proc/1/status"]);
    let (_, own, _) = lab.exec("web", &["grep", "-E", fields, "/proc/self/status"]);
    for f in ["CapEff", "CapBnd", "NoNewPrivs", "Seccomp"] {
        assert_eq!(
            status_field(&own, f),
            status_field(&init, f),
            "{f}: exec {own} init {init}"
        );
    }
    assert_eq!(status_field(&own, "CapEff"), "00000000a80435fb");
    assert_eq!(status_field(&own, "Seccomp"), "2");
    // So do the node's own `exec:` commands, which run the image's programs.
    let (_, lab_exec, _) = lab.exec("web", &["cat", "/exec-status"]);
    for f in ["CapEff", "CapBnd", "NoNewPrivs", "Seccomp"] {
        assert_eq!(
            status_field(&lab_exec, f),
            status_field(&init, f),
            "{f}: exec: {lab_exec} init {init}"
        );
    }
    // --privileged escalates on purpose.
    let (code, esc, err) = lab.exec(
        "web",
        &[
            "--privileged",
            "--",
            "grep",
            "-E",
            fields,
            "/proc/self/status",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_field(&esc, "CapEff"), host_full_caps(), "{esc}");
    assert_eq!(status_field(&esc, "Seccomp"), "0", "{esc}");
    assert_eq!(status_field(&esc, "NoNewPrivs"), "0", "{esc}");

    // capabilities: adds, cap_drop removes, for the node and its execs.
    for path in ["/proc/1/status", "/proc/self/status"] {
        let (_, st, _) = lab.exec("tuned", &["grep", "CapEff", path]);
        let eff = status_field(&st, "CapEff");
        assert!(cap_bit(&eff, 25), "SYS_TIME added ({path}): {eff}");
        assert!(!cap_bit(&eff, 13), "NET_RAW dropped ({path}): {eff}");
    }

    // privileged: true restores the old, unconfined behaviour.
    let (_, st, _) = lab.exec("free", &["grep", "-E", fields, "/proc/1/status"]);
    assert_eq!(status_field(&st, "CapEff"), host_full_caps(), "{st}");
    assert_eq!(status_field(&st, "Seccomp"), "0", "{st}");
    assert_eq!(status_field(&st, "NoNewPrivs"), "0", "{st}");
    let (code, _, _) = lab.exec("free", &["test", "-w", "/proc/sys/kernel/core_pattern"]);
    assert_eq!(code, 0, "a privileged node's /proc/sys is writable");
    let (_, report, _) = lab.exec("free", &["/bin/attack", "escape", &pid.to_string()]);
    let got = outcomes(&report);
    assert_eq!(
        got.get("mount").map(String::as_str),
        Some("refused ENOENT"),
        "a privileged node's mount reaches the kernel: {report}"
    );
    // Nothing is mounted over /proc/keys there, unlike in a confined node.
    let masked = |node: &str| {
        let (_, info, _) = lab.exec(node, &["cat", "/proc/self/mountinfo"]);
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some("/proc/keys"))
    };
    assert!(masked("web") && !masked("free"));
    drop(lab);
    assert_eq!(host_state(), before, "the host changed");
}

/// Attempts a system node must refuse as systemd-nspawn's filter does
/// (mounting and namespaces are open to it: systemd needs them).
const SYSTEM_REFUSED: &[&str] = &[
    "write-core_pattern",
    "write-drop_caches",
    "read-keys",
    "read-timer_list",
    "init_module",
    "finit_module",
    "kexec_load",
    "bpf",
    "perf_event_open",
    "keyctl",
    "ptrace-host",
    "open_by_handle_at",
    "mknod-block",
    "open-own-device",
];

#[test]
fn system_nodes_get_nspawns_confinement_and_exec_shares_it() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let tools = root_with_attack(tmp.path()).join("bin");
    let pid = std::process::id().to_string();
    let before = host_state();
    let file = write_lab(
        tmp.path(),
        "sec-sys",
        &format!(
            "name: sec-sys
nodes:
  os:
    kind: system
    image: debian:systemd
    binds: ['{}:/opt/warren-test:ro']
",
            tools.display()
        ),
    );
    up_with(tmp.path(), &file, &env);
    let lab = LabGuard {
        name: "sec-sys".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("sec-sys"),
    };
    let fields = "^(NoNewPrivs|Seccomp|CapEff|CapBnd):";
    let (_, init, _) = lab.exec("os", &["grep", "-E", fields, "/proc/1/status"]);
    let (_, own, _) = lab.exec("os", &["grep", "-E", fields, "/proc/self/status"]);
    for f in ["CapBnd", "NoNewPrivs", "Seccomp"] {
        assert_eq!(
            status_field(&own, f),
            status_field(&init, f),
            "{f}: {own} {init}"
        );
    }
    // systemd's setuid tools work: no no_new_privs, as under nspawn.
    assert_eq!(status_field(&init, "NoNewPrivs"), "0", "{init}");
    assert_eq!(status_field(&init, "Seccomp"), "2", "{init}");
    let bnd = status_field(&init, "CapBnd");
    assert!(cap_bit(&bnd, 21), "SYS_ADMIN kept: {bnd}");
    for (bit, name) in [(16, "SYS_MODULE"), (17, "SYS_RAWIO"), (25, "SYS_TIME")] {
        assert!(!cap_bit(&bnd, bit), "{name} dropped: {bnd}");
    }

    let (code, report, err) = lab.exec("os", &["/opt/warren-test/attack", "escape", &pid]);
    assert_eq!(code, 0, "{err}");
    let got = outcomes(&report);
    let want: BTreeMap<&str, &str> = REFUSED.iter().copied().collect();
    for name in SYSTEM_REFUSED {
        assert_eq!(
            got.get(*name).map(String::as_str),
            Some(want[name]),
            "{name} in a system node:\n{report}"
        );
    }
    // nspawn's list lets mount through to the kernel (ENOENT, the path).
    assert_eq!(got.get("mount").map(String::as_str), Some("refused ENOENT"));
    // The node's own network sysctls stay writable; the kernel's do not.
    let (code, _, _) = lab.exec("os", &["test", "-w", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(code, 0, "/proc/sys/net is writable in a system node");
    let (code, _, _) = lab.exec("os", &["test", "-w", "/proc/sys/kernel/core_pattern"]);
    assert_ne!(code, 0, "/proc/sys/kernel is read-only in a system node");
    drop(lab);
    assert_eq!(host_state(), before, "the host changed");
}

/// The host pid of container node `node`'s init in running lab `lab`.
fn init_pid(lab: &str, node: &str) -> i64 {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("/run/warren/{lab}/state.json")).expect("state of a running lab"),
    )
    .expect("state is JSON");
    state["containers"][node]["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no init of {node} in {state}"))
}

/// The single `0 HOST COUNT` line of a uid_map or gid_map: (HOST, COUNT).
fn root_mapping(map: &str) -> (u64, u64) {
    let fields: Vec<u64> = map
        .split_whitespace()
        .map(|f| f.parse().expect("number"))
        .collect();
    match fields.as_slice() {
        [0, host, count] => (*host, *count),
        _ => panic!("not one range from 0: {map:?}"),
    }
}

/// Owner uid and gid of a host file.
fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).expect("stat");
    (m.uid(), m.gid())
}

/// `userns: true` (issue 18): the container's root is an unprivileged host
/// id, its image files still look like root's (idmapped layers), files it
/// makes in a bind mount belong to that host id, `warren exec` enters the
/// same user namespace as its root, the node keeps its network, and every
/// escape attempt is still refused. A node without it keeps the host's ids.
#[test]
fn userns_nodes_map_root_to_an_unprivileged_host_range_and_keep_their_network() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = root_with_attack(tmp.path());
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).expect("mkdir");
    std::fs::set_permissions(&share, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let before = host_state();
    let pid = std::process::id();
    let file = write_lab(
        tmp.path(),
        "sec-userns",
        &format!(
            "name: sec-userns
nodes:
  mapped:
    kind: container
    image: {root}
    userns: true
    binds: [\"{share}:/share\"]
    cmd: [sh, -c, \"touch /share/by-init; exec sleep 1000\"]
    ready: {{exec: [test, -e, /share/by-init], timeout: 10s}}
  plain:
    kind: container
    image: {root}
    cmd: [sleep, \"1000\"]
links:
  - endpoints: [mapped:eth0, plain:eth0]
    ipv4: [10.73.0.1/24, 10.73.0.2/24]
",
            root = root.display(),
            share = share.display()
        ),
    );
    let lab = LabGuard::up(tmp.path(), &file, "sec-userns");
    let init = init_pid("sec-userns", "mapped");
    let map = |which: &str, pid: i64| {
        std::fs::read_to_string(format!("/proc/{pid}/{which}")).expect("id map")
    };
    let (host_uid, count) = root_mapping(&map("uid_map", init));
    assert!(host_uid >= 1 << 30, "root maps to host uid {host_uid}");
    assert_eq!(count, 65536);
    assert_eq!(root_mapping(&map("gid_map", init)).0, host_uid);
    // Seen from the host, the node's root is that id, not root.
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).expect("status");
    assert_eq!(
        status_field(&status, "Uid"),
        format!("{host_uid}\t{host_uid}\t{host_uid}\t{host_uid}")
    );
    // The node without userns shares the host's ids.
    let plain = init_pid("sec-userns", "plain");
    assert_eq!(root_mapping(&map("uid_map", plain)), (0, 4294967295));

    // Inside, it is root, and the image's files are root's.
    let (code, out, err) = lab.exec(
        "mapped",
        &[
            "sh",
            "-c",
            "id -u; stat -c '%u %g' /etc/passwd /bin/busybox; cat /proc/self/uid_map",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["0", "0 0", "0 0"], "{out}");
    assert_eq!(
        root_mapping(lines[3]),
        (host_uid, 65536),
        "exec joins the node's user namespace"
    );
    // It writes its root filesystem as root (copy-up on idmapped layers).
    let (code, _, err) = lab.exec(
        "mapped",
        &["sh", "-c", "echo x >> /etc/passwd && mkdir /made"],
    );
    assert_eq!(code, 0, "{err}");
    // Files it makes in a bind mount belong to the mapped id on the host,
    // from the init and from `warren exec` alike.
    let (code, _, err) = lab.exec("mapped", &["touch", "/share/by-exec"]);
    assert_eq!(code, 0, "{err}");
    for f in ["by-init", "by-exec"] {
        let want = u32::try_from(host_uid).expect("u32");
        assert_eq!(owner(&share.join(f)), (want, want), "{f}");
    }
    // exec keeps the node's confinement.
    let (_, own, _) = lab.exec("mapped", &["grep", "CapEff", "/proc/self/status"]);
    assert_eq!(status_field(&own, "CapEff"), "00000000a80435fb");

    // The node keeps its network: its interface, address and link.
    let (code, out, err) = lab.exec("mapped", &["ip", "-4", "addr", "show", "eth0"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10.73.0.1/24"), "{out}");
    lab.ping("plain", "10.73.0.1", &[]);
    // Raw sockets need CAP_NET_RAW in the user namespace that owns the
    // node's network namespace (the host's), so busybox's ping cannot run
    // there; TCP both ways, with a server on a low port, does.
    for (node, args) in [("mapped", "-p 80"), ("plain", "-p 8080")] {
        let (code, _, err) = lab.exec(node, &["sh", "-c", &format!("httpd {args} -h /www")]);
        assert_eq!(code, 0, "httpd in {node}: {err}");
    }
    for (node, url) in [
        ("plain", "http://10.73.0.1/"),
        ("mapped", "http://10.73.0.2:8080/"),
    ] {
        let (code, out, err) = lab.exec(node, &["wget", "-q", "-O", "-", url]);
        assert_eq!(
            (code, out.as_str()),
            (0, "hello from the image\n"),
            "{node} -> {url}: {err}"
        );
    }

    // Confinement still holds inside the user namespace.
    let (code, report, err) = lab.exec("mapped", &["/bin/attack", "escape", &pid.to_string()]);
    assert_eq!(code, 0, "{err}");
    // In the user namespace, some are refused before what a container
    // without one relies on: /proc/sys's files belong to the host's root,
    // whom the container's root is not (EACCES before the read-only
    // mount's EROFS), and making a device node at all needs CAP_MKNOD in
    // the host's user namespace (EPERM before nodev's EACCES on open).
    assert_all_refused_with(
        &report,
        "a userns node",
        &[
            ("write-core_pattern", "refused EACCES"),
            ("write-drop_caches", "refused EACCES"),
            ("open-own-device", "refused EPERM"),
        ],
    );
    drop(lab);
    assert_eq!(host_state(), before, "the host changed");
}

/// `warren run --userns`: the same mapping for a one-off container, whose
/// own network namespace (created inside the user namespace) has lo up.
#[test]
fn warren_run_userns_maps_root_and_cleans_up() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = busybox_root(tmp.path());
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).expect("mkdir");
    std::fs::set_permissions(&share, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let vol = format!("{}:/share", share.display());
    let out = run(
        tmp.path(),
        &[
            "run",
            "--userns",
            "--name",
            "sec-run-userns",
            "-v",
            &vol,
            "--rootfs",
            root.to_str().expect("utf-8"),
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u; stat -c %u /bin/busybox; touch /share/made; ping -c1 -W2 127.0.0.1 >/dev/null && echo lo-ok",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let (host_uid, count) = root_mapping(lines[0]);
    assert!(host_uid >= 1 << 30 && count == 65536, "{text}");
    assert_eq!(lines[1..], ["0", "0", "lo-ok"], "{text}");
    let want = u32::try_from(host_uid).expect("u32");
    assert_eq!(owner(&share.join("made")), (want, want));
    // Its state and mounts are gone.
    assert!(!Path::new("/run/warren/run/sec-run-userns").exists());
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
    assert!(!mounts.contains("sec-run-userns"), "{mounts}");
}
