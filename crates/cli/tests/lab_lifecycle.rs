//! `up`, `down`, `ps`, `inspect` and `exec` on the real kernel. Needs root.

mod common;
use common::*;

const PAIR: &str = "
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.7.0.1/24, 10.7.0.2/24]
";

fn pair(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    write_lab(dir, name, &format!("name: {name}\n{PAIR}"))
}

#[test]
fn up_twice_fails_naming_the_lab_and_replace_rebuilds_it() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = pair(tmp.path(), "lc-twice");
    let lab = LabGuard::up(tmp.path(), &file, "lc-twice");
    let out = run(tmp.path(), &["up", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lab lc-twice is already running"), "{err}");
    ok(
        tmp.path(),
        &["up", "-q", "--replace", file.to_str().expect("path")],
    );
    // The replaced lab's namespaces are gone; the new ones work.
    assert_gone_but_running(&lab);
    lab.ping("a", "10.7.0.2", &[]);
}

/// After `--replace`, the old namespaces are freed while the lab runs on.
fn assert_gone_but_running(lab: &LabGuard) {
    let now = lab_netns(&lab.name);
    assert!(
        now.is_disjoint(&lab.netns),
        "the replaced lab kept its old namespaces"
    );
    let mut still = lab.netns.clone();
    for _ in 0..200 {
        still = still.intersection(&referenced_netns()).cloned().collect();
        if still.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(still.is_empty(), "old namespaces still held: {still:?}");
}

#[test]
fn down_needs_only_the_name_or_the_file_and_a_second_down_is_a_no_op() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = pair(tmp.path(), "lc-down");
    ok(tmp.path(), &["up", "-q", file.to_str().expect("path")]);
    let held = lab_netns("lc-down");
    // Down by file path, from another directory.
    let out = ok(
        std::path::Path::new("/"),
        &["down", file.to_str().expect("path")],
    );
    assert!(out.contains("lab lc-down is down"), "{out}");
    assert_gone("lc-down", &held);
    let out = ok(tmp.path(), &["down", "lc-down"]);
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn two_labs_with_the_same_node_names_run_side_by_side() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let one = LabGuard::up(tmp.path(), &pair(tmp.path(), "lc-side1"), "lc-side1");
    let two = LabGuard::up(tmp.path(), &pair(tmp.path(), "lc-side2"), "lc-side2");
    one.ping("a", "10.7.0.2", &[]);
    two.ping("b", "10.7.0.1", &[]);
    let ps = ok(tmp.path(), &["ps", "--json"]);
    let labs: serde_json::Value = serde_json::from_str(&ps).expect("json");
    let names: Vec<&str> = labs
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|l| l["lab"].as_str())
        .collect();
    assert!(
        names.contains(&"lc-side1") && names.contains(&"lc-side2"),
        "{names:?}"
    );
}

#[test]
fn exec_passes_stdin_stdout_stderr_and_the_exit_code() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = LabGuard::up(tmp.path(), &pair(tmp.path(), "lc-exec"), "lc-exec");
    let out = output_with_stdin(
        warren(tmp.path()).args([
            "exec",
            "lc-exec",
            "a",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; echo oops >&2; exit 3",
        ]),
        b"hello lab\n",
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO LAB\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"));
    // The command runs in the node's namespace and sees its interfaces in /sys.
    let (code, stdout, _) = lab.exec(
        "b",
        &[
            "sh",
            "-c",
            "ip -o -4 addr show eth1; cat /sys/class/net/eth1/address",
        ],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("10.7.0.2/24"), "{stdout}");
    let (code, _, err) = lab.exec("nosuch", &["true"]);
    assert_eq!(code, 1);
    assert!(err.contains("no node called nosuch"), "{err}");
}

#[test]
fn inspect_reports_interfaces_addresses_routes_and_pids() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "lc-insp",
        "name: lc-insp\nnodes:\n  a: {}\n  b: {}\n  c: {}\nnetworks:\n  lan:\n    members: [a:e0, b:e0, c:e0]\n    ipv4: 10.8.0.0/24\n    mtu: 1400\ninterfaces:\n  c:e0: {routes: [10.9.0.0/16 via 10.8.0.1]}\n",
    );
    let lab = LabGuard::up(tmp.path(), &file, "lc-insp");
    let v: serde_json::Value =
        serde_json::from_str(&ok(tmp.path(), &["inspect", "lc-insp", "--json"])).expect("json");
    assert_eq!(v["lab"], "lc-insp");
    assert_eq!(v["status"], "running");
    assert!(v["supervisor_pid"].as_i64().is_some_and(|p| p > 1));
    assert!(v["init_pid"].as_i64().is_some_and(|p| p > 1));
    let nodes = v["nodes"].as_array().expect("nodes");
    let c = nodes.iter().find(|n| n["name"] == "c").expect("node c");
    let e0 = c["interfaces"]
        .as_array()
        .expect("ifs")
        .iter()
        .find(|i| i["name"] == "e0")
        .expect("e0");
    assert_eq!(e0["addresses"][0], "10.8.0.3/24");
    assert_eq!(e0["mtu"], 1400);
    assert_eq!(e0["attached"], "network lan");
    assert!(
        c["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .any(|r| r == "10.9.0.0/16 via 10.8.0.1 dev e0"),
        "{c}"
    );
    let hub = nodes.iter().find(|n| n["name"] == "#hub").expect("hub");
    let ports: Vec<_> = hub["interfaces"]
        .as_array()
        .expect("ifs")
        .iter()
        .filter(|i| i["attached"] == "bridge lan")
        .collect();
    assert_eq!(ports.len(), 3, "{hub}");
    lab.ping("a", "10.8.0.2", &[]);
    let text = ok(tmp.path(), &["inspect", "lc-insp"]);
    assert!(
        text.contains("10.8.0.1/24") && text.contains("route c: 10.9.0.0/16 via 10.8.0.1 dev e0"),
        "{text}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = pair(tmp.path(), "lc-dry");
    let out = ok(
        tmp.path(),
        &["up", "--dry-run", file.to_str().expect("path")],
    );
    assert!(out.contains("create veth a:eth1 <-> b:eth1"), "{out}");
    assert!(out.contains("address a:eth1 10.7.0.1/24"), "{out}");
    assert!(!std::path::Path::new("/run/warren/lc-dry").exists());
    assert!(!tmp.path().join("results").exists());
    assert_nothing_left();
}

#[test]
fn a_failing_exec_command_undoes_the_lab_and_names_node_and_command() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = format!("name: lc-fail\n{PAIR}")
        .replace("  b: {}", "  b:\n    exec: [\"echo starting\", \"exit 4\"]");
    let file = write_lab(tmp.path(), "lc-fail", &text);
    let out = run(tmp.path(), &["up", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("running `exit 4` on node b"), "{err}");
    assert!(err.contains("exited with 4"), "{err}");
    assert!(
        !std::path::Path::new("/run/warren/lc-fail").exists(),
        "state left behind"
    );
    // The node's log keeps what the commands printed.
    let logs: Vec<_> = walk(&tmp.path().join("results/lc-fail"));
    assert!(
        logs.iter().any(|p| p.ends_with("logs/b.log")
            && std::fs::read_to_string(p).is_ok_and(|t| t.contains("starting"))),
        "no b.log with the command's output among {logs:?}"
    );
    assert_nothing_left();
}

#[test]
fn kernel_errors_name_the_object_and_the_operation() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "lc-kerr",
        &format!("name: lc-kerr\n{PAIR}").replace(
            "  a: {}",
            "  a:\n    sysctls: {net.ipv4.conf.eth9.forwarding: 1}",
        ),
    );
    let out = run(tmp.path(), &["up", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("setting sysctls in a"), "{err}");
    assert!(err.contains("net.ipv4.conf.eth9.forwarding"), "{err}");
    assert!(!std::path::Path::new("/run/warren/lc-kerr").exists());
    assert_nothing_left();
}

/// Nothing of a failed bring-up is left running: no warren helper without
/// its supervisor. The namespaces, held only by the supervisor that exited,
/// were freed with it.
fn assert_nothing_left() {
    let mut leaks = Vec::new();
    for _ in 0..200 {
        leaks = orphaned_warren_helpers();
        if leaks.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("a failed bring-up left processes behind: {leaks:?}");
}

/// What the fds of `pid` point at: how many are sockets and how many
/// network namespaces.
fn sockets_and_netns(pid: i64) -> (usize, usize) {
    let mut sockets = 0;
    let mut netns = 0;
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fds") {
        let Ok(target) = std::fs::read_link(e.expect("fd").path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        sockets += usize::from(target.starts_with("socket:"));
        netns += usize::from(target.starts_with("net:"));
    }
    (sockets, netns)
}

#[test]
fn a_running_lab_holds_one_fd_per_namespace_and_no_socket_per_namespace() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    // More nodes than the supervisor opens route sockets for at once (256),
    // so bring-up takes several runs of them.
    let n = 300;
    let net = |i: usize| format!("10.{}.{}", 20 + (i >> 8), i & 255);
    let mut text = String::from("name: lc-fds\ncapture: none\nnodes:\n");
    for i in 0..n {
        text.push_str(&format!("  n{i}: {{}}\n"));
    }
    text.push_str("links:\n");
    for i in 1..n {
        text.push_str(&format!(
            "  - endpoints: [n{}:e{i}, n{i}:w{i}]\n    ipv4: [{net}.1/24, {net}.2/24]\n",
            i - 1,
            net = net(i)
        ));
    }
    let file = write_lab(tmp.path(), "lc-fds", &text);
    let lab = LabGuard::up(tmp.path(), &file, "lc-fds");
    let pid = inspect(tmp.path(), "lc-fds")["supervisor_pid"]
        .as_i64()
        .expect("supervisor pid");
    let (sockets, netns) = sockets_and_netns(pid);
    assert_eq!(netns, n, "one fd per node namespace");
    // Its control socket and a few more, never one per namespace.
    assert!(sockets < 16, "{sockets} sockets for {n} namespaces");

    // Requests after bring-up open a socket for themselves and close it.
    let far = format!("{}.2", net(n - 1));
    lab.ping("n298", &far, &[]);
    let info = inspect(tmp.path(), "lc-fds");
    let last = info["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|x| x["name"] == "n299")
        .expect("n299");
    assert!(last.to_string().contains(&format!("{far}/24")), "{last}");
    assert_eq!(sockets_and_netns(pid), (sockets, netns));
}
