//! conlink-style compose labs from examples/compose/, run as root with
//! images from the local registry fixture.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn with_env(cwd: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    let mut c = warren(cwd);
    c.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    c.output().expect("warren runs")
}

fn must(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ping(cwd: &Path, lab: &str, from: &str, to: &str) {
    let out = run(
        cwd,
        &["exec", lab, from, "--", "ping", "-c", "1", "-W", "3", to],
    );
    must(&out, &format!("ping {from} -> {to}"));
}

#[test]
fn router_with_three_switched_spokes_pings_across_every_pair() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let dir = examples().join("compose/router");
    let compose = dir.join("compose.yaml");
    let net = dir.join("network.yaml");
    let (compose, net) = (compose.to_str().expect("path"), net.to_str().expect("path"));
    let out = with_env(
        tmp.path(),
        &env,
        &["up", "-q", compose, "--network-file", net],
    );
    must(&out, "up");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cap_add"),
        "a note names the ignored key"
    );
    let held = lab_netns("cl-router");
    let hosts = [
        ("host1_1", "10.61.1.10"),
        ("host2_1", "10.61.2.10"),
        ("host3_1", "10.61.3.10"),
    ];
    let result = std::panic::catch_unwind(|| {
        for (from, _) in hosts {
            for (to, addr) in hosts {
                if from != to {
                    ping(tmp.path(), "cl-router", from, addr);
                }
            }
            ping(tmp.path(), "cl-router", "router_1", hosts[0].1);
        }
        // The command from the network file ran once the links were up.
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-router",
                "router_1",
                "--",
                "cat",
                "/tmp/addresses",
            ],
        );
        assert!(must(&out, "cat").contains("10.61.3.1/24"));
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-router",
                "host2_1",
                "--",
                "ip",
                "link",
                "show",
                "eth0",
            ],
        );
        assert!(must(&out, "ip link").contains("02:00:00:61:02:10"));
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-router",
                "host3_1",
                "--",
                "ip",
                "link",
                "show",
                "eth0",
            ],
        );
        assert!(must(&out, "ip link").contains("mtu 1400"));
    });
    // `down` takes the compose file.
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-router", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn scaled_service_replicas_get_offset_addresses_and_reach_each_other() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/scaled/compose.yaml");
    let compose = compose.to_str().expect("path");
    let graph = must(
        &with_env(tmp.path(), &env, &["graph", "-f", "json", compose]),
        "graph",
    );
    assert!(graph.contains("10.62.0.13/24"), "{graph}");
    must(&with_env(tmp.path(), &env, &["up", "-q", compose]), "up");
    let held = lab_netns("cl-scaled");
    let result = std::panic::catch_unwind(|| {
        for i in 1..=3 {
            let node = format!("node_{i}");
            let out = run(
                tmp.path(),
                &["exec", "cl-scaled", &node, "--", "cat", "/tmp/addr"],
            );
            let addr = must(&out, "cat");
            assert!(addr.contains(&format!("10.62.0.1{i}/24")), "{addr}");
            assert!(addr.contains(&format!("02:00:00:62:00:1{i}")), "{addr}");
            let out = run(
                tmp.path(),
                &[
                    "exec",
                    "cl-scaled",
                    &node,
                    "--",
                    "sh",
                    "-c",
                    "echo $GREETING",
                ],
            );
            assert_eq!(must(&out, "env").trim(), "hello");
            for j in 1..=3 {
                if i != j {
                    ping(tmp.path(), "cl-scaled", &node, &format!("10.62.0.1{j}"));
                }
            }
        }
    });
    must(&run(tmp.path(), &["down", "cl-scaled"]), "down");
    assert_gone("cl-scaled", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// Runs `ip ARGS` on the host.
fn ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces joined by a veth stand in for two hosts' underlay.
struct Underlay;

impl Underlay {
    fn new() -> Underlay {
        let _ = ip(&["netns", "del", "wcl-a"]);
        let _ = ip(&["netns", "del", "wcl-b"]);
        for cmd in [
            "netns add wcl-a",
            "netns add wcl-b",
            "link add wcl-a0 netns wcl-a type veth peer name wcl-b0 netns wcl-b",
            "-n wcl-a addr add 192.0.2.1/24 dev wcl-a0",
            "-n wcl-b addr add 192.0.2.2/24 dev wcl-b0",
            "-n wcl-a link set wcl-a0 up",
            "-n wcl-b link set wcl-b0 up",
        ] {
            assert!(ip(&cmd.split(' ').collect::<Vec<_>>()), "ip {cmd}");
        }
        Underlay
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", "wcl-a"]);
        let _ = ip(&["netns", "del", "wcl-b"]);
    }
}

#[test]
fn two_labs_joined_by_a_vxlan_tunnel_carry_pings() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let _underlay = Underlay::new();
    let compose = examples().join("compose/vxlan/compose.yaml");
    let compose = compose.to_str().expect("path");
    let site = |name: &str, host_ip: &str, remote: &str, underlay: &str| {
        let mut e = env.clone();
        for (k, v) in [
            ("SITE", name),
            ("HOST_IP", host_ip),
            ("REMOTE", remote),
            ("UNDERLAY", underlay),
        ] {
            e.push((k.into(), v.into()));
        }
        must(&with_env(tmp.path(), &e, &["up", "-q", compose]), name);
    };
    site("cl-site-a", "10.63.0.1/24", "192.0.2.2", "wcl-a");
    let held_a = lab_netns("cl-site-a");
    let result = std::panic::catch_unwind(|| {
        site("cl-site-b", "10.63.0.2/24", "192.0.2.1", "wcl-b");
        ping(tmp.path(), "cl-site-a", "host_1", "10.63.0.2");
        ping(tmp.path(), "cl-site-b", "host_1", "10.63.0.1");
    });
    let _ = run(tmp.path(), &["down", "cl-site-b"]);
    must(&run(tmp.path(), &["down", "cl-site-a"]), "down");
    assert_gone("cl-site-a", &held_a);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// GET / from 127.0.0.1:`port`, retried while the server starts.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut last = String::new();
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains("200") {
                return body;
            }
            last = body;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("no answer on 127.0.0.1:{port}: {last:?}");
}

#[test]
fn a_forward_port_reaches_the_service_inside() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/web/compose.yaml");
    let compose = compose.to_str().expect("path");
    let out = with_env(tmp.path(), &env, &["up", "-q", compose]);
    must(&out, "up");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`ports`"));
    let held = lab_netns("cl-web");
    let result = std::panic::catch_unwind(|| {
        let one = http_get(18080);
        let two = http_get(18081);
        assert!(one.contains("hello from"), "{one}");
        assert!(two.contains("hello from"), "{two}");
        assert_ne!(
            one.lines().last(),
            two.lines().last(),
            "each port reaches its own replica"
        );
    });
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-web", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn macvlan_and_macvtap_children_of_a_host_interface_reach_each_other() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let _ = ip(&["link", "del", "wclm0"]);
    assert!(ip(&[
        "link", "add", "wclm0", "type", "veth", "peer", "name", "wclm1"
    ]));
    assert!(ip(&["link", "set", "wclm0", "up"]));
    assert!(ip(&["link", "set", "wclm1", "up"]));
    let compose = examples().join("compose/macvlan/compose.yaml");
    let compose = compose.to_str().expect("path");
    let mut e = env.clone();
    e.push(("PARENT".into(), "wclm0".into()));
    let up = with_env(tmp.path(), &e, &["up", "-q", compose]);
    let result = std::panic::catch_unwind(|| {
        must(&up, "up");
        ping(tmp.path(), "cl-macvlan", "left_1", "10.65.0.2");
        ping(tmp.path(), "cl-macvlan", "right_1", "10.65.0.1");
        // A macvtap lists its tap device under sysfs.
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-macvlan",
                "right_1",
                "--",
                "ls",
                "/sys/class/net/mv0/macvtap",
            ],
        );
        assert!(must(&out, "ls").contains("tap"));
    });
    let _ = run(tmp.path(), &["down", "cl-macvlan"]);
    let _ = ip(&["link", "del", "wclm0"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn unsupported_conlink_properties_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = examples().join("compose");
    let compose = dir.join("router/compose.yaml");
    let net = dir.join("unsupported/network.yaml");
    let out = run(
        tmp.path(),
        &[
            "graph",
            compose.to_str().expect("path"),
            "--network-file",
            net.to_str().expect("path"),
        ],
    );
    assert!(!out.status.success());
    // The report is wrapped to the terminal: compare with the wrapping undone.
    let err = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "CONFIG_DUMMY",
        "CONFIG_VLAN_8021Q",
        "CONFIG_IPVLAN",
        "`nat`",
        "CONFIG_NET_SCH_NETEM",
        "`ethtool`",
        "tcp only",
        "Open vSwitch",
        "links[0] (line 4)",
    ] {
        assert!(err.contains(needle), "{needle} missing in:\n{err}");
    }
}
