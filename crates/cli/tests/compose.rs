//! conlink-style compose labs from examples/compose/, run as root with
//! images from the local registry fixture.

mod common;

use common::*;
use std::path::Path;

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
        // cap_add: the router's process holds CAP_NET_ADMIN (bit 12).
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-router",
                "router_1",
                "--",
                "cat",
                "/proc/1/status",
            ],
        );
        let status = must(&out, "status");
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .expect("CapEff");
        assert_ne!(eff & (1 << 12), 0, "CAP_NET_ADMIN in {eff:x}");
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
        "`nat` needs an IPv4 `ip`",
        "delay correlation has no equivalent",
        "`slot` has no equivalent",
        "CONFIG_NET_SCH_NETEM",
        "tcp and udp",
        "Open vSwitch",
        "network.yaml:4:28: links[0]: link type dummy",
    ] {
        assert!(err.contains(needle), "{needle} missing in:\n{err}");
    }
}

/// The path of `node`'s network namespace in the running lab `lab` (a
/// namespace fd its supervisor holds).
fn node_netns(lab: &str, node: &str) -> String {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("/run/warren/{lab}/state.json")).expect("state of a running lab"),
    )
    .expect("state is JSON");
    let pid = state["supervisor"]["pid"].as_i64().expect("pid");
    let fd = state["netns"][node].as_i64().expect("the node's netns fd");
    format!("/proc/{pid}/fd/{fd}")
}

/// The round-trip times `ping` printed, in milliseconds.
fn rtts(ping_output: &str) -> Vec<f64> {
    ping_output
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("time="))
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[test]
fn a_netem_delay_on_a_link_adds_its_round_trip_time() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/netem/compose.yaml");
    let compose = compose.to_str().expect("path");
    let plan = must(
        &with_env(tmp.path(), &env, &["up", "--dry-run", compose]),
        "dry run",
    );
    assert!(
        plan.contains("create wire slow_1:eth0 <-> hub:"),
        "the delayed member is on the wire:\n{plan}"
    );
    must(&with_env(tmp.path(), &env, &["up", "-q", compose]), "up");
    let held = lab_netns("cl-netem");
    let result = std::panic::catch_unwind(|| {
        // The first ping resolves the neighbours, whose answers are delayed too.
        ping(tmp.path(), "cl-netem", "fast_1", "10.67.0.1");
        for (from, to) in [("fast_1", "10.67.0.1"), ("slow_1", "10.67.0.2")] {
            let out = run(
                tmp.path(),
                &[
                    "exec", "cl-netem", from, "--", "ping", "-c", "10", "-i", "0.2", to,
                ],
            );
            let times = rtts(&must(&out, "ping"));
            assert_eq!(times.len(), 10, "ten replies from {to}");
            let mean = times.iter().sum::<f64>() / 10.0;
            let min = times.iter().copied().fold(f64::MAX, f64::min);
            eprintln!("{from} -> {to}: mean {mean:.2} ms, min {min:.2} ms over 10 pings");
            assert!(
                (35.0..60.0).contains(&mean) && min >= 35.0,
                "{from} -> {to}: 40 ms of netem delay on slow's egress, got {times:?}"
            );
        }
        let shown = must(&run(tmp.path(), &["inspect", "cl-netem"]), "inspect");
        assert!(shown.contains("network lan (user-space wire)"), "{shown}");
        // The member's wire answers to its endpoint at run time.
        must(
            &run(
                tmp.path(),
                &["impair", "cl-netem", "slow_1:eth0", "--clear"],
            ),
            "impair --clear",
        );
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-netem",
                "fast_1",
                "--",
                "ping",
                "-c",
                "5",
                "-i",
                "0.2",
                "10.67.0.1",
            ],
        );
        let times = rtts(&must(&out, "ping"));
        assert!(
            times.len() == 5 && times.iter().all(|t| *t < 10.0),
            "no delay once cleared: {times:?}"
        );
    });
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-netem", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// GET `/cgi-bin/who` from `addr` port 80 inside `node`, with busybox nc
/// (its static wget crashes looking up services), retried while the
/// server starts: the last line of the answer.
fn who(cwd: &Path, lab: &str, node: &str, addr: &str) -> String {
    let mut last = String::new();
    for _ in 0..25 {
        let out = run(
            cwd,
            &[
                "exec",
                lab,
                node,
                "--",
                "sh",
                "-c",
                &format!("printf 'GET /cgi-bin/who HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {addr} 80"),
            ],
        );
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && last.contains("200 OK") {
            return last.lines().last().unwrap_or_default().trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{node}: GET http://{addr}/cgi-bin/who failed: {last:?}");
}

#[test]
fn nat_forwards_through_the_gate_and_ethtool_turns_offloads_off() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/nat/compose.yaml");
    let compose = compose.to_str().expect("path");
    let plan = must(
        &with_env(tmp.path(), &env, &["up", "--dry-run", compose]),
        "dry run",
    );
    for step in [
        "in netns client_1: ethtool --offload eth0 rx off",
        "in netns gate_1: iptables -t nat -A PREROUTING -i eth0 -j DNAT --to-destination 10.68.2.10",
        "in netns gate_1: iptables -t nat -A POSTROUTING -o eth0 -j SNAT --to-source 10.68.1.1",
    ] {
        assert!(plan.contains(step), "{step} missing in:\n{plan}");
    }
    must(&with_env(tmp.path(), &env, &["up", "-q", compose]), "up");
    let held = lab_netns("cl-nat");
    let result = std::panic::catch_unwind(|| {
        // The client asks the gate; DNAT hands the request to the server,
        // which sees the client's own address.
        let got = who(tmp.path(), "cl-nat", "client_1", "10.68.1.1");
        assert!(got.starts_with("server_1 "), "the server answers: {got}");
        assert!(got.ends_with(":10.68.1.10]"), "from the client: {got}");
        // The server reaches the client, which has no route back to it:
        // SNAT on the gate's front leg makes the request come from there.
        let got = who(tmp.path(), "cl-nat", "server_1", "10.68.1.10");
        assert!(got.starts_with("client_1 "), "the client answers: {got}");
        assert!(
            got.ends_with(":10.68.1.1]"),
            "the client sees the gate: {got}"
        );
        // The rules are in the gate's namespace only.
        let rules = std::process::Command::new("nsenter")
            .arg(format!("--net={}", node_netns("cl-nat", "gate_1")))
            .args(["iptables", "-t", "nat", "-S"])
            .output()
            .expect("nsenter runs");
        let rules = String::from_utf8_lossy(&rules.stdout);
        assert!(rules.contains("--to-destination 10.68.2.10"), "{rules}");
        let features = std::process::Command::new("nsenter")
            .arg(format!("--net={}", node_netns("cl-nat", "client_1")))
            .args(["ethtool", "-k", "eth0"])
            .output()
            .expect("nsenter runs ethtool (scripts/setup installs it)");
        let features = String::from_utf8_lossy(&features.stdout);
        assert!(
            features.contains("rx-checksumming: off"),
            "ethtool --offload rx off applied:\n{features}"
        );
        let features = std::process::Command::new("nsenter")
            .arg(format!("--net={}", node_netns("cl-nat", "server_1")))
            .args(["ethtool", "-k", "eth0"])
            .output()
            .expect("nsenter runs ethtool");
        assert!(
            String::from_utf8_lossy(&features.stdout).contains("rx-checksumming: on"),
            "other interfaces keep their offloads"
        );
    });
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-nat", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_udp_forward_relays_datagrams_and_answers_to_each_sender() {
    use std::net::UdpSocket;
    use std::time::Duration;
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/udp/compose.yaml");
    let compose = compose.to_str().expect("path");
    must(&with_env(tmp.path(), &env, &["up", "-q", compose]), "up");
    let held = lab_netns("cl-udp");
    let result = std::panic::catch_unwind(|| {
        // An echo server bound inside the service's namespace, at its address.
        let netns = warren_kernel::Netns::open(node_netns("cl-udp", "echo_1"), "echo_1")
            .expect("the node's namespace opens");
        let server = netns
            .run(|| UdpSocket::bind("10.69.0.10:5353"))
            .expect("entering the namespace")
            .expect("binding in the node");
        drop(netns);
        server
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        // The echo thread owns the socket, so it is closed before `down`.
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = server.recv_from(&mut buf) {
                    let mut reply = format!("{from} ").into_bytes();
                    reply.extend_from_slice(&buf[..n]);
                    let _ = server.send_to(&reply, from);
                }
            }
        });
        let mut seen = Vec::new();
        for (i, msg) in ["one", "two"].iter().enumerate() {
            let client = UdpSocket::bind("127.0.0.1:0").expect("client socket");
            client
                .set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            for round in 0..3 {
                client
                    .send_to(format!("{msg}{round}").as_bytes(), "127.0.0.1:15353")
                    .expect("send");
                let mut buf = [0u8; 1500];
                let (n, from) = client.recv_from(&mut buf).expect("an answer");
                assert_eq!(from.port(), 15353, "answers come from the forward");
                let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (source, body) = reply.split_once(' ').expect("source and body");
                assert_eq!(body, format!("{msg}{round}"));
                assert!(
                    source.starts_with("10.69.0.10:"),
                    "sent from inside: {source}"
                );
                if round == 0 {
                    seen.push(source.to_string());
                } else {
                    assert_eq!(seen[i], source, "one session per client");
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        echo.join().expect("the echo thread ends");
        assert_ne!(seen[0], seen[1], "each client has a session of its own");
    });
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-udp", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_failing_interface_setting_stops_up_naming_the_interface_and_the_tool() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "toolfail",
        "
name: cl-toolfail
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth0, b:eth0]
    ipv4: [10.70.0.1/24, 10.70.0.2/24]
interfaces:
  a:eth0: {ethtool: ['--offload rx off', '--no-such-option']}
",
    );
    let out = run(tmp.path(), &["up", "-q", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!out.status.success(), "up fails: {err}");
    for needle in [
        "setting a:eth0 with `ethtool --no-such-option eth0` failed",
        "no-such-option",
    ] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
    assert!(
        !Path::new("/run/warren/cl-toolfail").exists(),
        "a failed up leaves no state"
    );
    assert!(
        orphaned_warren_helpers().is_empty(),
        "{:?}",
        orphaned_warren_helpers()
    );
}

#[test]
fn nat_and_ethtool_apply_in_a_rootless_lab() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let file = write_lab(
        tmp.path(),
        "cl-rlnat",
        "
name: cl-rlnat
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth0, b:eth0]
    ipv4: [10.71.0.1/24, 10.71.0.2/24]
interfaces:
  a:eth0: {ethtool: ['--offload rx off'], nat: 10.71.0.9}
",
    );
    let up = as_nobody(tmp.path(), &["up", "-q", file.to_str().expect("path")]);
    let result = std::panic::catch_unwind(|| {
        must(&up, "up as uid 65534");
        let out = as_nobody(
            tmp.path(),
            &[
                "exec",
                "cl-rlnat",
                "a",
                "--",
                "sh",
                "-c",
                "iptables -t nat -S; ethtool -k eth0",
            ],
        );
        let shown = must(&out, "iptables and ethtool in the node");
        assert!(
            shown.contains("-A PREROUTING -i eth0 -j DNAT --to-destination 10.71.0.9"),
            "{shown}"
        );
        assert!(
            shown.contains("-A POSTROUTING -o eth0 -j SNAT --to-source 10.71.0.1"),
            "{shown}"
        );
        assert!(shown.contains("rx-checksumming: off"), "{shown}");
    });
    let _ = as_nobody(tmp.path(), &["down", "cl-rlnat"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// `cat FILE` in `node` of `lab`.
fn cat(cwd: &Path, lab: &str, node: &str, file: &str) -> String {
    must(
        &run(cwd, &["exec", lab, node, "--", "cat", file]),
        &format!("cat {file} in {node}"),
    )
}

/// The `Name:` value of /proc/1/status of `node`, as a number.
fn status_number(cwd: &Path, lab: &str, node: &str, field: &str, radix: u32) -> u64 {
    let status = cat(cwd, lab, node, "/proc/1/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| u64::from_str_radix(v, radix).ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

#[test]
fn a_conlink_style_file_runs_without_its_conlink_service() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/conlink/compose.yaml");
    let compose = compose.to_str().expect("path");
    let out = with_env(tmp.path(), &env, &["up", "-q", compose]);
    must(&out, "up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("service network runs conlink"),
        "a note says the conlink service is not run:\n{stderr}"
    );
    let held = lab_netns("cl-conlink");
    let result = std::panic::catch_unwind(|| {
        let out = run(
            tmp.path(),
            &["exec", "cl-conlink", "network_1", "--", "true"],
        );
        assert!(!out.status.success(), "the conlink service has no node");
        // The string command kept its quoted script: the shell ran it and
        // exec'd the sleep at its end.
        for node in ["node_1", "node_2", "router_1"] {
            let cmdline = cat(tmp.path(), "cl-conlink", node, "/proc/1/cmdline");
            assert_eq!(cmdline, "sleep\0864000\0", "{node}");
        }
        // Through the router (forwarding is on in compose mode) to the
        // web service, whose link merges x-network and network.yaml.
        ping(tmp.path(), "cl-conlink", "node_2", "10.72.2.10");
        ping(tmp.path(), "cl-conlink", "web_1", "10.72.1.11");
        let web = must(
            &run(
                tmp.path(),
                &[
                    "exec",
                    "cl-conlink",
                    "web_1",
                    "--",
                    "ip",
                    "link",
                    "show",
                    "eth0",
                ],
            ),
            "ip link",
        );
        assert!(web.contains("mtu 1400"), "the link's own mtu: {web}");
        let node = must(
            &run(
                tmp.path(),
                &[
                    "exec",
                    "cl-conlink",
                    "node_1",
                    "--",
                    "ip",
                    "link",
                    "show",
                    "eth0",
                ],
            ),
            "ip link",
        );
        assert!(node.contains("mtu 9000"), "conlink's --default-mtu: {node}");
        let page = http_get(18090);
        assert!(page.contains("hello from web"), "{page}");
    });
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-conlink", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn every_mapped_service_key_and_interpolation_form_reaches_the_node() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let dir = examples().join("compose/keys");
    let compose = dir.join("compose.yaml");
    let compose = compose.to_str().expect("path");
    let mut c = warren(tmp.path());
    c.args(["up", "-q", compose])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("WORD")
        .env_remove("EMPTY")
        .env_remove("UNSET_X")
        .env_remove("UNSET_Y");
    let out = c.output().expect("warren runs");
    must(&out, "up");
    let held = lab_netns("cl-keys");
    let result = std::panic::catch_unwind(|| {
        // healthcheck became `ready`: up returned once the probe passed.
        cat(tmp.path(), "cl-keys", "app_1", "/tmp/healthy");
        let environ = cat(tmp.path(), "cl-keys", "app_1", "/proc/1/environ");
        let vars: Vec<&str> = environ.split('\0').collect();
        for want in [
            "PLAIN=word",
            "BRACED=word",
            "DEFAULT_UNSET=fallback",
            "DEFAULT_EMPTY=fallback",
            "DASH_UNSET=fallback",
            "DASH_EMPTY=",
            "REQUIRED=word",
            "REQUIRED_DEFINED=",
            "ALT=alt",
            "ALT_EMPTY=",
            "ALT_DEFINED=alt",
            "NESTED=word-deep",
            "DOLLAR=$WORD",
            "FROM_FILE=overridden",
            "ONLY_FILE=only",
        ] {
            assert!(vars.contains(&want), "{want} in {vars:?}");
        }
        // entrypoint list + string command split as Compose splits it.
        let cmdline = cat(tmp.path(), "cl-keys", "app_1", "/proc/1/cmdline");
        assert_eq!(cmdline, "sleep\0864000\0");
        let cwd = must(
            &run(
                tmp.path(),
                &["exec", "cl-keys", "app_1", "--", "readlink", "/proc/1/cwd"],
            ),
            "cwd",
        );
        assert_eq!(cwd.trim(), "/srv", "working_dir");
        assert_eq!(
            cat(tmp.path(), "cl-keys", "app_1", "/srv/content/hello.txt"),
            "mounted content\n"
        );
        let write = run(
            tmp.path(),
            &[
                "exec",
                "cl-keys",
                "app_1",
                "--",
                "touch",
                "/srv/content/new",
            ],
        );
        assert!(!write.status.success(), "a :ro volume is read-only");
        assert_eq!(
            cat(tmp.path(), "cl-keys", "app_1", "/mnt/content/hello.txt"),
            "mounted content\n"
        );
        let caps = status_number(tmp.path(), "cl-keys", "app_1", "CapEff:", 16);
        assert_ne!(caps & (1 << 12), 0, "cap_add NET_ADMIN in {caps:x}");
        assert_ne!(caps & (1 << 13), 0, "cap_add NET_RAW in {caps:x}");
        // sysctls override compose mode's forwarding; other services keep it.
        let fwd = |node: &str, key: &str| {
            cat(tmp.path(), "cl-keys", node, &format!("/proc/sys/net/{key}"))
                .trim()
                .to_string()
        };
        assert_eq!(fwd("app_1", "ipv4/ip_forward"), "0");
        assert_eq!(fwd("app_1", "ipv6/conf/all/forwarding"), "1");
        assert_eq!(fwd("peer_2", "ipv4/ip_forward"), "1");
        // deploy.replicas with offset addresses; their healthcheck pinged app.
        ping(tmp.path(), "cl-keys", "peer_2", "10.73.0.20");
        assert_eq!(
            status_number(tmp.path(), "cl-keys", "guest_1", "Uid:", 10),
            65534,
            "user"
        );
        // The named volume is one folder, shared by app and every peer.
        assert_eq!(
            cat(tmp.path(), "cl-keys", "peer_2", "/shared/note"),
            "shared\n"
        );
    });
    let volumes = Path::new("/run/warren-volumes/cl-keys");
    assert!(volumes.join("data/note").is_file(), "the volume's folder");
    let down = must(&run(tmp.path(), &["down", compose]), "down");
    assert!(down.contains("removed the volumes of cl-keys"), "{down}");
    assert!(!volumes.exists(), "down removes the lab's volumes");
    assert_gone("cl-keys", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn env_files_required_variables_and_errors_at_their_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let compose = examples().join("compose/keys/compose.yaml");
    let compose = compose.to_str().expect("path");
    let empty = tmp.path().join("empty.env");
    std::fs::write(&empty, "EMPTY=x\n").expect("write");
    let mut c = warren(tmp.path());
    c.args([
        "graph",
        compose,
        "--env-file",
        empty.to_str().expect("path"),
    ])
    .env_remove("WORD");
    let out = c.output().expect("warren runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // --env-file replaces .env, so WORD is unset; each use is reported once, at its place.
    let text = std::fs::read_to_string(compose).expect("read");
    let line = 1 + text
        .lines()
        .position(|l| l.contains("REQUIRED: ${WORD:?"))
        .expect("the REQUIRED line");
    let want = format!(
        "compose.yaml:{line}:17: required variable WORD is unset or empty: WORD must be set"
    );
    assert!(err.contains(&want), "{want} in {err}");
    assert_eq!(err.matches("required variable").count(), 1, "{err}");
    let other = tmp.path().join("other.env");
    std::fs::write(&other, "WORD=other\nEMPTY=\n").expect("write");
    let mut c = warren(tmp.path());
    c.args([
        "graph",
        "-f",
        "json",
        compose,
        "--env-file",
        other.to_str().expect("path"),
    ])
    .env_remove("WORD");
    let out = c.output().expect("warren runs");
    let json = must(&out, "graph");
    assert!(json.contains("\"NESTED\": \"other-deep\""), "{json}");
}

#[test]
fn compose_file_lists_and_the_project_name_come_from_the_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("My Project");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("base.yaml"),
        "services:\n  a:\n    image: busybox\n    command: sleep 1\n    x-network:\n      links: [{bridge: s1, ip: 10.74.0.1/24}]\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("more.yaml"),
        "services:\n  a:\n    command: [sleep, '2']\n  b:\n    image: busybox\n    x-network:\n      links: [{bridge: s1, ip: 10.74.0.2/24}]\n",
    )
    .expect("write");
    let graph = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = warren(&dir);
        c.args(args).env_remove("COMPOSE_PROJECT_NAME");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("warren runs");
        let text = must(&out, "graph");
        serde_json::from_str::<serde_json::Value>(&text).expect("json")
    };
    let lab = graph(
        &[("COMPOSE_FILE", "base.yaml:more.yaml")],
        &["graph", "-f", "json", "."],
    );
    assert_eq!(lab["name"], "my-project", "the folder's name");
    let names: Vec<&str> = lab["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["a_1", "b_1"]);
    assert_eq!(
        lab["nodes"][0]["container"]["cmd"],
        serde_json::json!(["sleep", "2"])
    );
    let lab = graph(
        &[("COMPOSE_PROJECT_NAME", "proj")],
        &[
            "graph",
            "-f",
            "json",
            "base.yaml",
            "--compose-file",
            "more.yaml",
        ],
    );
    assert_eq!(lab["name"], "proj");
    assert_eq!(lab["nodes"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_closed_stdout_ends_commands_quietly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let compose = examples().join("compose/keys/compose.yaml");
    for args in [
        vec!["graph", "-f", "json", compose.to_str().expect("path")],
        vec!["completions", "bash"],
        vec!["schema"],
    ] {
        let mut child = warren(tmp.path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close the reading end before warren writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}\n{stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn exec_into_a_service_that_exited_names_its_log() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let dir = tmp.path().join("cl-done");
    std::fs::create_dir(&dir).expect("mkdir");
    let compose = dir.join("compose.yaml");
    std::fs::write(
        &compose,
        "services:\n  done:\n    image: busybox\n    command: \"true\"\n    x-network:\n      links: [{bridge: s1, ip: 10.75.0.1/24}]\n  up:\n    image: busybox\n    command: sleep 864000\n    x-network:\n      links: [{bridge: s1, ip: 10.75.0.2/24}]\n",
    )
    .expect("write");
    let compose = compose.to_str().expect("path");
    let out = with_env(tmp.path(), &env, &["up", "-q", compose]);
    must(&out, "up: a command that ends on purpose is no failure");
    let held = lab_netns("cl-done");
    let result = std::panic::catch_unwind(|| {
        let mut err = String::new();
        // The process may take a moment to end after up returns.
        for _ in 0..50 {
            let out = run(tmp.path(), &["exec", "cl-done", "done_1", "--", "true"]);
            err = String::from_utf8_lossy(&out.stderr).into_owned();
            if !out.status.success() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(err.contains("node done_1 has exited"), "{err}");
        assert!(err.contains("logs/done_1.log"), "{err}");
        ping(tmp.path(), "cl-done", "up_1", "10.75.0.2");
    });
    must(&run(tmp.path(), &["down", compose]), "down");
    assert_gone("cl-done", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
