//! `warren node NAME NODE stop|start|restart` and `node: … restart` faults
//! on the real kernel: the node's processes are replaced, its interfaces
//! come back with the same addresses and routes, and its peers reach it
//! again. Needs root and the registry fixture.

mod common;
use common::*;
use std::path::Path;

/// The host pid of the one process whose command line has `marker`.
fn only_pid(marker: &str) -> u32 {
    // A process being killed, or one just forked and not yet exec'd, may
    // be seen for a moment; what counts is that exactly one settles.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut found = processes_with(marker);
    while found.len() != 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        found = processes_with(marker);
    }
    assert_eq!(found.len(), 1, "processes with `{marker}`: {found:?}");
    found[0]
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid")
}

/// Runs `warren node LAB NODE ACTION --json` and returns its answer.
fn node(dir: &Path, lab: &str, name: &str, action: &str) -> serde_json::Value {
    serde_json::from_str(&ok(dir, &["node", lab, name, action, "--json"])).expect("node --json")
}

/// Brings `text` up with the registry fixture's environment.
fn up_with_registry(dir: &Path, name: &str, text: &str) -> LabGuard {
    let env = registry_env(&dir.join("store"));
    let file = write_lab(dir, name, text);
    let out = warren(dir)
        .args(["up", "-q", file.to_str().expect("utf-8 path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren runs");
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

const MAIN: &str = "
name: nrs-main
nodes:
  r:
    exec: [\"sleep 3617 </dev/null >/dev/null 2>&1 &\"]
  c: {kind: container, image: busybox, cmd: [sleep, '3629']}
links:
  - endpoints: [r:eth1, c:eth0]
    ipv4: [10.73.0.1/24, 10.73.0.2/24]
    ipv6: [2001:db8:73::1/64, 2001:db8:73::2/64]
interfaces:
  r:lo:
    ipv4: [10.255.73.1/32]
    ipv6: [2001:db8:ff73::1/128]
    routes: [10.255.73.2/32 via 10.73.0.2, 2001:db8:ff73::2/128 via 2001:db8:73::2]
  c:lo:
    ipv4: [10.255.73.2/32]
    ipv6: [2001:db8:ff73::2/128]
    routes: [10.255.73.1/32 via 10.73.0.1, 2001:db8:ff73::1/128 via 2001:db8:73::1]
";

#[test]
fn restarted_nodes_keep_their_links_addresses_and_routes() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let lab = up_with_registry(dir, "nrs-main", MAIN);
    let before = inspect(dir, "nrs-main");
    let (r0, c0) = (node_net(&before, "r"), node_net(&before, "c"));
    assert!(
        r0.routes
            .iter()
            .any(|r| r.starts_with("2001:db8:ff73::2/128 via")),
        "{r0:?}"
    );
    let sleeper = only_pid("sleep 3617");
    let container = only_pid("sleep 3629");

    // Stopped: r's processes are gone, its end is down, c has no carrier.
    let stopped = node(dir, "nrs-main", "r", "stop");
    assert!(
        stopped["stopped"]
            .as_array()
            .expect("stopped pids")
            .contains(&sleeper.into()),
        "{stopped}"
    );
    assert!(processes_with("sleep 3617").is_empty());
    // The kernel's link watch reports the peer's lost carrier within a
    // second or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let (r1, c1) = loop {
        let during = inspect(dir, "nrs-main");
        let (r1, c1) = (node_net(&during, "r"), node_net(&during, "c"));
        if c1.states["eth0"] != "up" || std::time::Instant::now() > deadline {
            break (r1, c1);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!r1.interfaces["eth1"].0, "r:eth1 is admin down: {r1:?}");
    assert!(c1.interfaces["eth0"].0, "c:eth0 stays admin up: {c1:?}");
    assert_ne!(c1.states["eth0"], "up", "c:eth0 lost carrier: {c1:?}");
    assert_eq!(c1.routes, c0.routes, "the peer keeps its routes");
    let table = ok(dir, &["inspect", "nrs-main"]);
    assert!(table.contains("r (stopped)"), "{table}");
    let (code, out, _) = lab.exec("c", &["ping", "-c", "1", "-W", "1", "10.73.0.1"]);
    assert_ne!(code, 0, "a stopped node answers no ping: {out}");
    // A second stop changes nothing.
    assert_eq!(
        node(dir, "nrs-main", "r", "stop")["stopped"],
        serde_json::json!([])
    );

    // Started: the same addresses and routes, a new process, pings answer.
    ok(dir, &["node", "nrs-main", "r", "start"]);
    let after = inspect(dir, "nrs-main");
    assert_eq!(node_net(&after, "r"), r0);
    assert_eq!(node_net(&after, "c"), c0, "c has carrier again");
    assert!(!after.to_string().contains("\"stopped\""), "{after}");
    let sleeper2 = only_pid("sleep 3617");
    assert_ne!(sleeper2, sleeper, "the exec command ran again");
    lab.ping("c", "10.73.0.1", &[]);
    lab.ping("c", "10.255.73.1", &[]);
    lab.ping("r", "2001:db8:ff73::2", &["-6"]);
    lab.ping("r", "10.255.73.2", &["-I", "10.255.73.1"]);
    let again = run(dir, &["node", "nrs-main", "r", "start"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("node r is running"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A container node: its container is replaced, its network and files kept.
    let (code, _, err) = lab.exec("c", &["touch", "/kept"]);
    assert_eq!(code, 0, "{err}");
    let restarted = node(dir, "nrs-main", "c", "restart");
    let (code, _, _) = lab.exec("c", &["test", "-e", "/kept"]);
    assert_eq!(code, 0, "the container's files survive a restart");
    let container2 = only_pid("sleep 3629");
    assert_ne!(container2, container);
    assert!(
        restarted["started"]
            .as_array()
            .expect("started pids")
            .contains(&container2.into()),
        "{restarted}"
    );
    let after = inspect(dir, "nrs-main");
    assert_eq!(node_net(&after, "c"), c0);
    assert_eq!(node_net(&after, "r"), r0);
    lab.ping("r", "2001:db8:73::2", &["-6"]);
    lab.ping("r", "10.255.73.2", &["-I", "10.255.73.1"]);
    lab.ping("c", "10.255.73.1", &[]);

    let bad = run(dir, &["node", "nrs-main", "nope", "restart"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no node called nope"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_scheduled_node_restart_fault_replaces_the_node_and_is_logged() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let text = "
name: nrs-fault
nodes:
  r:
    exec: [\"sleep 3618 </dev/null >/dev/null 2>&1 &\"]
  s: {}
links:
  - endpoints: [r:eth1, s:eth1]
    ipv4: [10.74.0.1/24, 10.74.0.2/24]
    ipv6: [2001:db8:74::1/64, 2001:db8:74::2/64]
    impair: {}
  - endpoints: [r:eth2, s:eth2]
    ipv4: [10.74.1.1/24, 10.74.1.2/24]
faults:
  - {name: squeeze, at: 1s, impair: {rate: 1mbit}, on: r:eth2, for: 1s}
  - {name: cut, at: 2s, link: s:eth2, down: 1s}
  - {name: bounce, at: 4s, node: r, restart: true}
  - {name: nap, at: 7s, node: r, down: 2s}
";
    let file = write_lab(dir, "nrs-fault", text);
    let lab = LabGuard::up(dir, &file, "nrs-fault");
    let sleeper = only_pid("sleep 3618");
    let info = inspect(dir, "nrs-fault");
    let r0 = node_net(&info, "r");
    assert!(
        info.to_string().contains(r#""path":"wire""#),
        "inspect names the wire: {info}"
    );
    let results = std::fs::read_dir(dir.join("results/nrs-fault"))
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("run folder");
    let events = results.join("events.jsonl");
    // The events file once it has `faults` fault lines.
    let wait_faults = |faults: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&events).unwrap_or_default();
            let ev: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if ev.iter().filter(|e| e["event"] == "fault").count() >= faults {
                break ev;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not {faults} faults in 30 s: {text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let ev = wait_faults(5);
    let find = |event: &str| {
        ev.iter()
            .find(|e| e["event"] == event)
            .unwrap_or_else(|| panic!("no {event} in {ev:?}"))
    };
    let faults: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event"] == "fault").collect();
    assert_eq!(
        faults
            .iter()
            .map(|f| (f["fault"].clone(), f["action"].clone()))
            .collect::<Vec<_>>(),
        [
            ("squeeze".into(), "impair r:eth2".into()),
            ("squeeze".into(), "impair r:eth2 restored".into()),
            ("cut".into(), "link s:eth2 down".into()),
            ("cut".into(), "link s:eth2 up".into()),
            ("bounce".into(), "node r restart".into())
        ],
        "{faults:?}"
    );
    assert!(
        faults.iter().all(|f| f.get("error").is_none()),
        "{faults:?}"
    );
    let (stop, start) = (find("node-stop"), find("node-start"));
    assert_eq!(
        (&stop["node"], &stop["by"]),
        (&"r".into(), &"bounce".into())
    );
    assert_eq!(start["by"], "bounce");
    assert!(
        stop["pids"]
            .as_array()
            .expect("pids")
            .contains(&sleeper.into()),
        "{stop}"
    );
    assert!(stop["t"].as_f64() <= start["t"].as_f64());
    let sleeper2 = only_pid("sleep 3618");
    assert_ne!(sleeper2, sleeper);
    // The wired link's carrier is back on: the peer reaches r on both families.
    node_net(&inspect(dir, "nrs-fault"), "r").assert_same_config(&r0);
    lab.ping("s", "10.74.0.1", &[]);
    lab.ping("s", "2001:db8:74::1", &["-6"]);

    // `down: 2s`: stopped at 7 s, started again 2 s later.
    let ev = wait_faults(7);
    let nap: Vec<&serde_json::Value> = ev.iter().filter(|e| e["by"] == "nap").collect();
    assert_eq!(
        nap.iter().map(|e| e["event"].clone()).collect::<Vec<_>>(),
        ["node-stop", "node-start"],
        "{ev:?}"
    );
    let stopped_for = nap[1]["t"].as_f64().expect("t") - nap[0]["t"].as_f64().expect("t");
    eprintln!("fault nap (down: 2s): node r stopped for {stopped_for:.3} s");
    assert!((1.9..3.0).contains(&stopped_for), "{stopped_for}");
    let faults: Vec<&serde_json::Value> = ev.iter().filter(|e| e["fault"] == "nap").collect();
    assert_eq!(faults[0]["action"], "node r stop");
    assert_eq!(faults[1]["action"], "node r start");
    assert!(
        faults.iter().all(|f| f.get("error").is_none()),
        "{faults:?}"
    );
    assert_ne!(only_pid("sleep 3618"), sleeper2);
    lab.ping("s", "10.74.0.1", &[]);
    // The plain link the `cut` fault took down works again.
    lab.ping("s", "10.74.1.1", &[]);
}
