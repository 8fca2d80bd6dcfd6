//! Several containers in one node (`containers:`) on the real kernel, with
//! busybox images from the registry fixture: alpy's pattern of a node
//! container holding the network namespace and application containers
//! joined to it. Each has its own root, pid namespace (or the node's),
//! log, exit code and readiness; `exec NODE/CONTAINER` reaches one;
//! `warren node` stops and restarts all of them; the capture sees their
//! traffic. Compose `network_mode: service:X` and containerlab
//! `network-mode: container:NODE` map onto the same thing. Needs root.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Brings `file` up as lab `name` with the registry fixture.
fn up(dir: &Path, file: &Path, name: &str) -> LabGuard {
    let env = registry_env(&dir.join("store"));
    let out = with_env(dir, &env, &["up", "-q", file.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    LabGuard {
        name: name.into(),
        cwd: dir.into(),
        netns: lab_netns(name),
    }
}

/// Runs `cmd` in `target` until its stdout contains `want`, for up to 15 s.
fn eventually(lab: &LabGuard, target: &str, cmd: &[&str], want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, out, err) = lab.exec(target, cmd);
        if code == 0 && out.contains(want) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{target} {cmd:?} never printed {want:?}: {code} {out}{err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The host pid of container `name` (`NODE/CONTAINER`) in `inspect --json`.
fn container_pid(dir: &Path, lab: &str, name: &str) -> Option<i64> {
    let info = inspect(dir, lab);
    info["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|n| n["containers"].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {info}"))["pid"]
        .as_i64()
}

const LAB: &str = "
name: mcn
nodes:
  node0:
    # The node container holding the namespace, as alpy's node0.
    kind: container
    image: busybox
    cmd: [sleep, '3611']
    containers:
      - name: web
        image: busybox
        cmd: [sh, -c, 'mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 80 -h /www']
        env: {ROLE: web}
        ready: {exec: [wget, -qO-, 'http://127.0.0.1/'], timeout: 20s}
      - name: tools
        image: busybox
        pid: node
        cmd: [sleep, '3612']
      - name: once
        image: busybox
        cmd: [sh, -c, 'echo once-ran; exit 3']
  node1:
    containers:
      - name: fetch
        image: busybox
        cmd: [sh, -c, 'while :; do wget -qO- http://10.81.0.1/ >> /tmp/got 2>&1; sleep 0.5; done']
links:
  - endpoints: [node0:eth1, node1:eth1]
    ipv4: [10.81.0.1/24, 10.81.0.2/24]
faults:
  - {name: bounce, node: node0, down: 1s}
";

#[test]
fn containers_of_a_node_share_its_network_and_keep_their_own_roots_logs_and_exit_codes() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = write_lab(dir, "mcn", LAB);
    let lab = up(dir, &file, "mcn");

    // web: its own root and pid namespace, the node's interfaces and host name.
    let (code, out, err) = lab.exec(
        "node0/web",
        &["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; echo $ROLE $WARREN_NODE $WARREN_CONTAINER; ip -o -4 addr show eth1"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("httpd -f -p 80"), "{out}");
    assert_eq!(lines[1], "node0");
    assert_eq!(lines[2], "web node0 web");
    assert!(lines[3].contains("10.81.0.1/24"), "{out}");
    // The node's own container has a root of its own, without web's files.
    let (code, _, _) = lab.exec("node0", &["test", "-e", "/www/index.html"]);
    assert_ne!(code, 0, "node0's root is not web's");
    // tools (`-c`) shares the node's pid namespace: the node's init is its pid 1.
    let (code, out, err) = lab.exec("node0", &["-c", "tools", "--", "cat", "/proc/1/cmdline"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.replace('\0', " ").trim(), "sleep 3611");
    // fetch in node1 gets web's page across the link.
    eventually(&lab, "node1/fetch", &["cat", "/tmp/got"], "served-by-web");
    // The Rust client reaches a container the same way.
    let client = warren_lab::Lab::attach("mcn").expect("attach");
    let page = client
        .container("node0", "web")
        .exec(&["cat", "/www/index.html"])
        .expect("exec over the control socket");
    assert_eq!(page.stdout_text(), "served-by-web\n");
    // An unknown container is named with the node's.
    let (code, _, err) = lab.exec("node0/nope", &["true"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no container called nope") && err.contains("web, tools, once"),
        "{err}"
    );
    // `once` ended with its own exit code and log; inspect shows each.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut table = ok(dir, &["inspect", "mcn"]);
    while !table.contains("exited (3)") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        table = ok(dir, &["inspect", "mcn"]);
    }
    assert!(
        table.contains("node0/once") && table.contains("exited (3)"),
        "{table}"
    );
    assert!(
        table.contains("node0/web") && table.contains("running (pid"),
        "{table}"
    );

    // `warren node … restart` restarts every container of the node.
    let before = container_pid(dir, "mcn", "node0/web").expect("web runs");
    ok(dir, &["node", "mcn", "node0", "restart"]);
    let after = container_pid(dir, "mcn", "node0/web").expect("web runs again");
    assert_ne!(before, after, "web was started anew");
    eventually(
        &lab,
        "node1/fetch",
        &["wget", "-qO-", "http://10.81.0.1/"],
        "served-by-web",
    );
    // A node fault takes all of them down and brings them back.
    ok(dir, &["node", "mcn", "node0", "stop"]);
    assert_eq!(
        container_pid(dir, "mcn", "node0/web"),
        None,
        "web stopped with its node"
    );
    let (code, _, _) = lab.exec(
        "node1/fetch",
        &["wget", "-qO-", "-T", "1", "http://10.81.0.1/"],
    );
    assert_ne!(code, 0, "nothing answers while node0 is down");
    ok(dir, &["node", "mcn", "node0", "start"]);
    eventually(
        &lab,
        "node1/fetch",
        &["wget", "-qO-", "http://10.81.0.1/"],
        "served-by-web",
    );
    // The lab file's node fault (down 1 s, then up) restarts them too.
    let before = container_pid(dir, "mcn", "node0/web").expect("web runs");
    client.fault("bounce").expect("fault fires");
    let deadline = Instant::now() + Duration::from_secs(15);
    while container_pid(dir, "mcn", "node0/web").is_none_or(|p| p == before) {
        assert!(
            Instant::now() < deadline,
            "web was not restarted by the fault"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eventually(
        &lab,
        "node1/fetch",
        &["wget", "-qO-", "http://10.81.0.1/"],
        "served-by-web",
    );
    drop(client);
    drop(lab);

    // Logs and exit codes stay in the results, one per container.
    let files = walk(&dir.join("results/mcn"));
    let has = |end: &str| files.iter().any(|p| p.ends_with(end));
    assert!(
        has("logs/node0/web.log") && has("logs/node1/fetch.log"),
        "{files:?}"
    );
    let once_log = files
        .iter()
        .find(|p| p.ends_with("logs/node0/once.log"))
        .expect("once's log");
    assert!(
        std::fs::read_to_string(once_log)
            .expect("log")
            .contains("once-ran")
    );
    // The capture of the link saw the page go from web to fetch.
    let pcap = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .expect("a capture");
    let bytes = std::fs::read(pcap).expect("pcapng");
    let seen = bytes.windows(13).filter(|w| *w == b"served-by-web").count();
    assert!(seen >= 3, "the capture has the page {seen} times");
}

const COMPOSE: &str = "
name: mcc
services:
  node0:
    image: busybox
    command: sleep 3621
    x-network:
      links:
        - {bridge: s1, dev: eth1, ip: 10.82.0.1/24}
  web:
    image: busybox
    network_mode: service:node0
    command: sh -c 'mkdir -p /www && echo compose-web > /www/index.html && exec httpd -f -p 80 -h /www'
  node1:
    image: busybox
    command: sleep 3622
    x-network:
      links:
        - {bridge: s1, dev: eth1, ip: 10.82.0.2/24}
";

#[test]
fn compose_network_mode_service_runs_in_the_services_node() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = dir.join("compose.yaml");
    std::fs::write(&file, COMPOSE).expect("write");
    let lab = up(dir, &file, "mcc");
    let (code, out, err) = lab.exec("node0_1/web_1", &["hostname"]);
    assert_eq!((code, out.trim()), (0, "node0_1"), "{err}");
    eventually(
        &lab,
        "node1_1",
        &["wget", "-qO-", "http://10.82.0.1/"],
        "compose-web",
    );
    let (code, _, _) = lab.exec("web_1", &["true"]);
    assert_ne!(code, 0, "web is no node of its own");
}

const CLAB: &str = "
name: mcl
topology:
  nodes:
    node0: {kind: linux, image: busybox, cmd: sleep 3631}
    web:
      kind: linux
      image: busybox
      network-mode: container:node0
      cmd: >-
        sh -c 'mkdir -p /www && echo clab-web > /www/index.html && exec httpd -f -p 80 -h /www'
    node1: {kind: linux, image: busybox, cmd: sleep 3632}
  links:
    - endpoints: [node0:eth1, node1:eth1]
";

#[test]
fn clab_network_mode_container_runs_in_that_nodes_namespaces() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = dir.join("mcl.clab.yml");
    std::fs::write(&file, CLAB).expect("write");
    let lab = up(dir, &file, "mcl");
    // web serves on node0's management address, which its host name has.
    let (code, out, err) = lab.exec("node0/web", &["ip", "-o", "-4", "addr", "show", "eth0"]);
    assert_eq!(code, 0, "{err}");
    let addr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no address on eth0: {out}"))
        .to_string();
    eventually(
        &lab,
        "node1",
        &["wget", "-qO-", &format!("http://{addr}/")],
        "clab-web",
    );
    let (code, out, _) = lab.exec("node0/web", &["ip", "-o", "link", "show", "eth1"]);
    assert_eq!(code, 0, "node0's link is web's too: {out}");
}

#[test]
fn a_container_whose_image_is_missing_fails_up_naming_it_and_leaves_nothing() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let env = registry_env(&dir.join("store"));
    let file = write_lab(
        dir,
        "mcx",
        "name: mcx\nnodes:\n  a:\n    containers:\n      - {name: app, image: 'busybox:no-such-tag'}\n",
    );
    let out = with_env(dir, &env, &["up", "-q", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up of a missing image succeeded");
    assert!(err.contains("container a/app"), "{err}");
    assert!(!Path::new("/run/warren/mcx").exists(), "state left behind");
    // A container that cannot start fails `up` and takes the node's
    // container and the containers started before it along.
    let file = write_lab(
        dir,
        "mcx",
        "name: mcx\nnodes:\n  a:\n    kind: container\n    image: busybox\n    cmd: [sleep, '3641']\n    containers:\n      - {name: ok, image: busybox, cmd: [sleep, '3642']}\n      - {name: bad, image: busybox, cmd: [/no/such/program]}\n",
    );
    let out = with_env(dir, &env, &["up", "-q", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "up with a container that cannot start succeeded"
    );
    assert!(err.contains("a/bad"), "{err}");
    assert!(!Path::new("/run/warren/mcx").exists(), "state left behind");
    for marker in ["sleep 3641", "sleep 3642"] {
        assert!(processes_with(marker).is_empty(), "{marker} left running");
    }
    assert!(
        orphaned_warren_helpers().is_empty(),
        "{:?}",
        orphaned_warren_helpers()
    );
}

/// `warren ARGS` as uid/gid 65534 (as `as_nobody`), with `env`.
fn nobody_with_env(cwd: &Path, env: &[(String, String)], args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
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
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv runs (util-linux)")
}

#[test]
fn an_unprivileged_user_runs_containers_in_a_node() {
    require_root();
    let tmp = tempdir_for_anyone();
    let dir = tmp.path();
    let store = dir.join("store");
    std::fs::create_dir(&store).expect("mkdir");
    std::fs::set_permissions(&store, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let env = registry_env(&store);
    let file = write_lab(
        dir,
        "mcr",
        "name: mcr\nnodes:\n  a:\n    containers:\n      - {name: web, image: busybox, cmd: [sh, -c, 'mkdir -p /www && echo rootless-web > /www/index.html && exec httpd -f -p 80 -h /www']}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n    ipv4: [10.84.0.1/24, 10.84.0.2/24]\n",
    );
    let up = nobody_with_env(dir, &env, &["up", "-q", file.to_str().expect("path")]);
    let result = std::panic::catch_unwind(|| {
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let st: serde_json::Value = serde_json::from_slice(
            &std::fs::read("/tmp/warren-65534/mcr/state.json")
                .expect("state in the fallback folder"),
        )
        .expect("json");
        assert_eq!(st["rootless"], true, "{st}");
        assert!(st["containers"]["a/web"]["pid"].is_i64(), "{st}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = nobody_with_env(
                dir,
                &env,
                &[
                    "exec",
                    "mcr",
                    "b",
                    "--",
                    "wget",
                    "-qO-",
                    "http://10.84.0.1/",
                ],
            );
            if String::from_utf8_lossy(&out.stdout).contains("rootless-web") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "b never got web's page: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = nobody_with_env(
            dir,
            &env,
            &["exec", "mcr", "a/web", "--", "cat", "/www/index.html"],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "rootless-web\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let down = nobody_with_env(dir, &env, &["down", "mcr"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}
