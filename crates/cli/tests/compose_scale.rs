//! Scaling a running compose lab (examples/compose/live-scale/), as root
//! with the fixture registry: `warren up --scale node=5 FILE` on the
//! running lab and `warren scale LAB node=2` add and remove replicas with
//! their offset addresses, while a ping between two nodes never scaled
//! keeps going, and the network's capture takes replicas in and out.

mod common;

use common::*;
use std::path::Path;
use std::process::{Output, Stdio};

/// The lab's node names, as `warren inspect --json` lists them.
fn nodes(cwd: &Path) -> Vec<String> {
    let info = inspect(cwd, "cl-live");
    let mut names: Vec<String> = info["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .filter(|n| !n.starts_with('#'))
        .collect();
    names.sort();
    names
}

/// Checks replica `i`: its offset address and MAC, its route, and that
/// it reaches `a` and `a` reaches it.
fn replica_works(cwd: &Path, i: u32) {
    let node = format!("node_{i}");
    let addr = must(
        &run(cwd, &["exec", "cl-live", &node, "--", "cat", "/tmp/addr"]),
        "the command's record of eth0",
    );
    assert!(addr.contains(&format!("10.77.0.1{i}/24")), "{node}: {addr}");
    let link = must(
        &run(
            cwd,
            &["exec", "cl-live", &node, "--", "ip", "link", "show", "eth0"],
        ),
        "ip link",
    );
    assert!(
        link.contains(&format!("02:00:00:77:00:1{i}")),
        "{node}: {link}"
    );
    let routes = must(
        &run(cwd, &["exec", "cl-live", &node, "--", "ip", "route"]),
        "ip route",
    );
    assert!(
        routes.contains("10.77.9.0/24 via 10.77.0.1"),
        "{node}: {routes}"
    );
    for (from, to) in [
        (node.as_str(), "10.77.0.1".to_string()),
        ("a_1", format!("10.77.0.1{i}")),
    ] {
        must(
            &run(
                cwd,
                &[
                    "exec", "cl-live", from, "--", "ping", "-c", "1", "-W", "3", &to,
                ],
            ),
            &format!("ping {from} -> {to}"),
        );
    }
}

/// The capture file of network `lan`, as `inspect` names it.
fn lan_capture(cwd: &Path) -> std::path::PathBuf {
    let info = inspect(cwd, "cl-live");
    let file = info["captures"]
        .as_array()
        .expect("captures")
        .iter()
        .find(|c| c["name"] == "lan")
        .and_then(|c| c["file"].as_str())
        .unwrap_or_else(|| panic!("lan is captured: {info}"))
        .to_string();
    // Relative to the folder `up` ran in.
    cwd.join(file)
}

/// What a capture file holds, every block read and valid: its interface
/// names in IDB order, the interface of each ICMP echo request, and the
/// interfaces that have a statistics block.
struct Captured {
    names: Vec<String>,
    echo_requests_from: Vec<String>,
    stats_of: Vec<String>,
}

fn read_capture(path: &Path) -> Captured {
    use warren_capture::reader::{Block, PcapngReader};
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut c = Captured {
        names: Vec::new(),
        echo_requests_from: Vec::new(),
        stats_of: Vec::new(),
    };
    let name = |names: &[String], i: u32| {
        names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| panic!("block for interface {i} before its IDB ({names:?})"))
    };
    for block in PcapngReader::new(f) {
        match block.expect("a valid pcapng block") {
            Block::Interface(i) => c.names.push(i.name.clone().unwrap_or_default()),
            Block::Packet(p) => {
                let d = &p.data;
                // Ethernet + IPv4 + ICMP echo request.
                if d.len() > 34 && d[12..14] == [0x08, 0x00] && d[23] == 1 {
                    let ihl = usize::from(d[14] & 0x0f) * 4;
                    if d.get(14 + ihl) == Some(&8) {
                        c.echo_requests_from.push(name(&c.names, p.interface));
                    }
                }
            }
            Block::Stats(st) => c.stats_of.push(name(&c.names, st.interface)),
            _ => {}
        }
    }
    c
}

/// The capture writer flushes what the kernel retired (within 100 ms) as
/// it goes; a moment's wait lets the last pings reach the file.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

#[test]
fn scaling_2_to_5_to_2_keeps_the_other_nodes_running() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/live-scale/compose.yaml");
    let compose = compose.to_str().expect("path");
    must(&with_env(tmp.path(), &env, &["up", "-q", compose]), "up");
    let held = lab_netns("cl-live");
    let result = std::panic::catch_unwind(|| {
        assert_eq!(nodes(tmp.path()), ["a_1", "b_1", "node_1", "node_2"]);
        // a_1's container init, as the state records it.
        let a_pid = || {
            let st: serde_json::Value = serde_json::from_slice(
                &std::fs::read("/run/warren/cl-live/state.json").expect("state"),
            )
            .expect("state is JSON");
            st["containers"]["a_1"].clone()
        };
        let before = a_pid();
        assert!(!before.is_null(), "a_1 has a container init");
        // A ping from a to b for the whole time both scalings take.
        let pinger = warren(tmp.path())
            .args([
                "exec",
                "cl-live",
                "a_1",
                "--",
                "ping",
                "-c",
                "25",
                "-W",
                "1",
                "10.77.0.2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ping starts");
        std::thread::sleep(std::time::Duration::from_secs(2));
        let up = must(
            &with_env(tmp.path(), &env, &["up", "--scale", "node=5", compose]),
            "up --scale node=5 on the running lab",
        );
        assert!(up.contains("added node_3 node_4 node_5"), "{up}");
        assert_eq!(
            nodes(tmp.path()),
            [
                "a_1", "b_1", "node_1", "node_2", "node_3", "node_4", "node_5"
            ]
        );
        for i in 1..=5 {
            replica_works(tmp.path(), i);
        }
        // The new replicas are captured like the ones `up` started: their
        // IDBs follow in the same section and their pings are in it.
        let lan = lan_capture(tmp.path());
        settle();
        let grown = read_capture(&lan);
        for i in 1..=5 {
            let me = format!("node_{i}:eth0");
            assert!(grown.names.contains(&me), "{me} in {:?}", grown.names);
            assert!(
                grown.echo_requests_from.contains(&me),
                "{me}'s pings to a_1 are in {}",
                lan.display()
            );
        }
        assert!(grown.stats_of.is_empty(), "{:?}", grown.stats_of);
        let down = must(
            &with_env(tmp.path(), &env, &["scale", "cl-live", "node=2"]),
            "scale node=2",
        );
        assert!(down.contains("removed node_3 node_4 node_5"), "{down}");
        assert_eq!(nodes(tmp.path()), ["a_1", "b_1", "node_1", "node_2"]);
        for i in 1..=2 {
            replica_works(tmp.path(), i);
        }
        // Removed replicas' points were closed with their statistics; the
        // file stays one valid section that goes on with the others.
        settle();
        let shrunk = read_capture(&lan);
        assert_eq!(shrunk.names, grown.names, "no interface more or less");
        let mut closed = shrunk.stats_of.clone();
        closed.sort();
        assert_eq!(closed, ["node_3:eth0", "node_4:eth0", "node_5:eth0"]);
        let count =
            |c: &Captured, who: &str| c.echo_requests_from.iter().filter(|f| *f == who).count();
        assert!(
            count(&shrunk, "node_1:eth0") > count(&grown, "node_1:eth0"),
            "node_1 is still captured after the scale-down"
        );
        let gone = run(
            tmp.path(),
            &[
                "exec",
                "cl-live",
                "a_1",
                "--",
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                "10.77.0.15",
            ],
        );
        assert!(!gone.status.success(), "node_5's address still answers");
        let ping = pinger.wait_with_output().expect("ping ends");
        let text = String::from_utf8_lossy(&ping.stdout);
        assert!(ping.status.success(), "{text}");
        assert!(
            text.contains("25 packets received"),
            "a_1 -> b_1 lost packets while scaling: {text}"
        );
        assert_eq!(a_pid(), before, "a_1 kept its process");
    });
    let lan = std::panic::catch_unwind(|| lan_capture(tmp.path()));
    must(&run(tmp.path(), &["down", "cl-live"]), "down");
    assert_gone("cl-live", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    // At the end every interface has exactly one statistics block.
    let ended = read_capture(&lan.expect("lan's capture"));
    let mut stats = ended.stats_of;
    stats.sort();
    let mut names = ended.names;
    names.sort();
    assert_eq!(stats, names);
}

#[test]
fn scale_refuses_what_it_cannot_do_and_changes_nothing() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = |out: &Output| {
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let out = run(tmp.path(), &["scale", "no-such-lab", "node=2"]);
    assert!(
        err(&out).contains("no lab called no-such-lab is running"),
        "{}",
        err(&out)
    );
    let compose = examples().join("compose/live-scale/compose.yaml");
    let out = run(
        tmp.path(),
        &[
            "up",
            "--dry-run",
            "--scale",
            "nosuch=2",
            compose.to_str().expect("path"),
        ],
    );
    assert!(
        err(&out).contains("--scale nosuch: no service called nosuch (services: a, b, node)"),
        "{}",
        err(&out)
    );
    // A lab file's lab has no services to scale.
    let lab = examples().join("routes.yaml");
    must(
        &run(
            tmp.path(),
            &[
                "up",
                "-q",
                "--name",
                "scale-lab",
                lab.to_str().expect("path"),
            ],
        ),
        "up",
    );
    let out = run(tmp.path(), &["scale", "scale-lab", "a=2"]);
    let nodes_after = inspect(tmp.path(), "scale-lab")["nodes"]
        .as_array()
        .map(Vec::len);
    must(&run(tmp.path(), &["down", "scale-lab"]), "down");
    assert!(
        err(&out).contains("lab scale-lab was not brought up by `warren up` from a compose file"),
        "{}",
        err(&out)
    );
    assert_eq!(nodes_after, Some(2), "a and b (no networks, so no hub)");
}
