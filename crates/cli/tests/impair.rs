//! Impairments on the real kernel through the user-space wire: delay,
//! seeded loss and rate are measured with ping and iperf3. Needs root and
//! iperf3.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

/// A two-node lab whose link carries `a_impair` on a's egress; static
/// neighbours and no IPv6, so the only frames a sends are the test's own.
fn lab(name: &str, a_impair: &str, seed: u64) -> String {
    lab_with(name, a_impair, seed, "")
}

fn lab_with(name: &str, a_impair: &str, seed: u64, extra: &str) -> String {
    format!(
        "
name: {name}
seed: {seed}
defaults:
  sysctls: {{net.ipv6.conf.all.disable_ipv6: 1, net.ipv6.conf.default.disable_ipv6: 1}}
nodes:
  a:
    exec: [\"ip neigh replace 10.61.0.2 lladdr 02:00:00:00:61:02 dev eth1 nud permanent\"]
  b:
    exec: [\"ip neigh replace 10.61.0.1 lladdr 02:00:00:00:61:01 dev eth1 nud permanent\"]
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.61.0.1/24, 10.61.0.2/24]
interfaces:
  a:eth1: {{mac: \"02:00:00:00:61:01\", impair: {a_impair}}}
  b:eth1: {{mac: \"02:00:00:00:61:02\"}}
{extra}"
    )
}

fn up(dir: &std::path::Path, name: &str, impair: &str, seed: u64) -> LabGuard {
    let file = write_lab(dir, name, &lab(name, impair, seed));
    LabGuard::up(dir, &file, name)
}

/// Round-trip times in milliseconds from ping's output.
fn rtts(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Sequence numbers answered, from ping's output.
fn answered(out: &str) -> BTreeSet<u32> {
    out.lines()
        .filter_map(|l| l.split("icmp_seq=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn rtt_across_a_50ms_delay_is_50ms_within_5ms() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = up(tmp.path(), "imp-delay", "{delay: 50ms}", 1);
    let (code, out, err) = lab.exec("a", &["ping", "-c", "20", "-i", "0.05", "10.61.0.2"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = rtts(&out);
    assert_eq!(r.len(), 20, "{out}");
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    eprintln!(
        "rtt over 50ms delay: mean {mean:.3} ms, min {:.3}, max {:.3}",
        r.iter().copied().fold(f64::MAX, f64::min),
        r.iter().copied().fold(0.0, f64::max)
    );
    // The mean is the measure; single pings may meet a busy scheduler.
    assert!((45.0..=55.0).contains(&mean), "{r:?}");
    let mut sorted = r.clone();
    sorted.sort_by(f64::total_cmp);
    assert!((48.0..=52.0).contains(&sorted[10]), "median: {r:?}");
    // The wired link is captured like any other: 20 requests, 20 replies.
    drop(lab);
    let run = std::fs::read_dir(tmp.path().join("results/imp-delay"))
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("run folder");
    let pcap = run.join("capture/a.eth1-b.eth1.pcapng");
    let f = std::fs::File::open(&pcap).unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
    let frames = warren_capture::reader::PcapngReader::new(f)
        .filter(|b| matches!(b, Ok(warren_capture::reader::Block::Packet(_))))
        .count();
    assert!(frames >= 40, "{frames} frames captured on the wired link");
}

fn lost_sequence(dir: &std::path::Path, name: &str) -> BTreeSet<u32> {
    let lab = up(dir, name, "{loss: 10%}", 4242);
    let (_, out, err) = lab.exec(
        "a",
        &["ping", "-c", "1000", "-i", "0.005", "-W", "1", "10.61.0.2"],
    );
    let got = answered(&out);
    assert!(!got.is_empty(), "{out}{err}");
    (1..=1000).filter(|s| !got.contains(s)).collect()
}

#[test]
fn seeded_loss_drops_the_same_pings_on_two_runs() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = lost_sequence(tmp.path(), "imp-loss1");
    let second = lost_sequence(tmp.path(), "imp-loss2");
    eprintln!(
        "10% loss, seed 4242: {} of 1000 lost, first {:?}",
        first.len(),
        first.iter().take(10).collect::<Vec<_>>()
    );
    assert!((70..=130).contains(&first.len()), "{} lost", first.len());
    assert_eq!(first, second);
}

/// TCP goodput in bits per second from `a` to `target` in `b`, 5 s
/// after a 1 s warm-up, with iperf3's server on `port`.
fn iperf3(lab: &LabGuard, target: &str, port: u16) -> f64 {
    let port = port.to_string();
    let mut server = Command::new(bin())
        .current_dir(&lab.cwd)
        .args([
            "exec", &lab.name, "b", "--", "iperf3", "-s", "-1", "-p", &port,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 server");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (code, out, err) = lab.exec(
        "a",
        &[
            "iperf3", "-c", target, "-p", &port, "-t", "5", "-O", "1", "-J",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("iperf3 json");
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .expect("bits_per_second")
}

#[test]
fn iperf3_across_a_rate_limit_lands_within_10_percent() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = up(tmp.path(), "imp-rate", "{rate: 20mbit}", 1);
    let bps = iperf3(&lab, "10.61.0.2", 5261);
    eprintln!("iperf3 across 20mbit: {:.2} Mbit/s", bps / 1e6);
    assert!((18e6..=22e6).contains(&bps), "{bps}");
}

fn mean_rtt(lab: &LabGuard) -> f64 {
    let (code, out, err) = lab.exec("a", &["ping", "-c", "10", "-i", "0.05", "10.61.0.2"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = rtts(&out);
    assert_eq!(r.len(), 10, "{out}");
    r.iter().sum::<f64>() / r.len() as f64
}

#[test]
fn warren_impair_changes_and_clears_a_wire_at_run_time() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = up(tmp.path(), "imp-rt", "{}", 1);
    let before = mean_rtt(&lab);
    ok(
        tmp.path(),
        &["impair", "imp-rt", "a:eth1", "--delay", "50ms"],
    );
    let delayed = mean_rtt(&lab);
    ok(tmp.path(), &["impair", "imp-rt", "a:eth1", "--clear"]);
    let cleared = mean_rtt(&lab);
    eprintln!(
        "run-time impair: {before:.3} ms, with --delay 50ms {delayed:.3} ms, cleared {cleared:.3} ms"
    );
    assert!(before < 5.0, "{before}");
    assert!((45.0..=55.0).contains(&delayed), "{delayed}");
    assert!(cleared < 5.0, "{cleared}");
    let out = run(
        tmp.path(),
        &["impair", "imp-rt", "nosuch:eth9", "--delay", "1ms"],
    );
    assert!(!out.status.success());
}

/// `ip link show` of `ifname` in a node.
fn link_flags(lab: &LabGuard, node: &str) -> String {
    let (code, out, err) = lab.exec(node, &["ip", "-o", "link", "show", "eth1"]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn warren_link_down_drops_carrier_on_both_ends_and_up_restores_the_link() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = up(tmp.path(), "imp-carrier", "{}", 1);
    lab.ping("a", "10.61.0.2", &[]);
    ok(tmp.path(), &["link", "imp-carrier", "a:eth1", "down"]);
    for node in ["a", "b"] {
        let f = link_flags(&lab, node);
        assert!(f.contains("NO-CARRIER") && f.contains(",UP"), "{node}: {f}");
    }
    let (code, _, _) = lab.exec("a", &["ping", "-c", "1", "-W", "1", "10.61.0.2"]);
    assert_ne!(code, 0, "ping crossed a link without carrier");
    ok(tmp.path(), &["link", "imp-carrier", "a:eth1", "up"]);
    for node in ["a", "b"] {
        let f = link_flags(&lab, node);
        assert!(!f.contains("NO-CARRIER"), "{node}: {f}");
    }
    // Addresses (and the static neighbour) survived: the link just works.
    let (_, addrs, _) = lab.exec("a", &["ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(addrs.contains("10.61.0.1/24"), "{addrs}");
    lab.ping("a", "10.61.0.2", &["-w", "3"]);
}

#[test]
fn a_scheduled_link_down_shows_in_a_ping_log_at_the_right_seconds() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let name = "imp-fault";
    let text = lab_with(
        name,
        "{}",
        1,
        "faults:\n  - {name: cut, at: 3s, link: a:eth1, down: 2s}\n",
    );
    let file = write_lab(tmp.path(), name, &text);
    let lab = LabGuard::up(tmp.path(), &file, name);
    // -D: each reply carries its unix time.
    let (_, out, _) = lab.exec(
        "a",
        &["ping", "-D", "-i", "0.1", "-w", "7", "-W", "1", "10.61.0.2"],
    );
    let replies: Vec<f64> = out
        .lines()
        .filter(|l| l.contains("time="))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    let results = std::fs::read_dir(tmp.path().join("results").join(name))
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("run folder");
    let events = std::fs::read_to_string(results.join("events.jsonl")).expect("events");
    let ev: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let time_of = |what: &str| {
        ev.iter()
            .find(|e| e["action"] == what || e["event"] == what)
            .and_then(|e| e["t"].as_f64())
            .unwrap_or_else(|| panic!("no {what} in {events}"))
    };
    let (start, down, up) = (
        time_of("faults-start"),
        time_of("link a:eth1 down"),
        time_of("link a:eth1 up"),
    );
    eprintln!(
        "fault cut: down at +{:.3}s, up at +{:.3}s; replies {} (last before down +{:.3}s, first after +{:.3}s)",
        down - start,
        up - start,
        replies.len(),
        replies
            .iter()
            .filter(|t| **t < down)
            .fold(0f64, |a, t| a.max(*t))
            - start,
        replies
            .iter()
            .find(|t| **t > down)
            .map_or(0.0, |t| t - start),
    );
    assert!(
        (2.9..=3.3).contains(&(down - start)),
        "down at {}",
        down - start
    );
    assert!((1.9..=2.3).contains(&(up - down)), "down for {}", up - down);
    // No reply while the carrier is off; replies before and after.
    assert!(
        !replies.iter().any(|t| *t > down + 0.01 && *t < up),
        "a reply during the cut: {out}"
    );
    assert!(replies.iter().filter(|t| **t < down).count() > 5, "{out}");
    assert!(replies.iter().filter(|t| **t > up).count() > 5, "{out}");
}

#[test]
fn warren_link_on_a_plain_veth_takes_the_peers_carrier_and_up_restores_addresses_and_routes() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = write_lab(
        dir,
        "imp-veth",
        "
name: imp-veth
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.62.0.1/24, 10.62.0.2/24]
    ipv6: [2001:db8:62::1/64, 2001:db8:62::2/64]
interfaces:
  a:lo:
    ipv4: [10.255.62.1/32]
    ipv6: [2001:db8:ff62::1/128]
    routes: [10.255.62.2/32 via 10.62.0.2, 2001:db8:ff62::2/128 via 2001:db8:62::2]
  b:lo:
    ipv4: [10.255.62.2/32]
    ipv6: [2001:db8:ff62::2/128]
    routes: [10.255.62.1/32 via 10.62.0.1, 2001:db8:ff62::1/128 via 2001:db8:62::1]
",
    );
    let lab = LabGuard::up(dir, &file, "imp-veth");
    let before = inspect(dir, "imp-veth");
    let (a0, b0) = (node_net(&before, "a"), node_net(&before, "b"));
    ok(dir, &["link", "imp-veth", "a:eth1", "down"]);
    let a_flags = link_flags(&lab, "a");
    let b_flags = link_flags(&lab, "b");
    assert!(!a_flags.contains(",UP"), "a's end is down: {a_flags}");
    assert!(
        b_flags.contains("NO-CARRIER") && b_flags.contains(",UP"),
        "b lost carrier only: {b_flags}"
    );
    let (code, _, _) = lab.exec("b", &["ping", "-c", "1", "-W", "1", "10.62.0.1"]);
    assert_ne!(code, 0, "ping crossed a link without carrier");
    assert_eq!(node_net(&inspect(dir, "imp-veth"), "b").routes, b0.routes);
    ok(dir, &["link", "imp-veth", "a.eth1-b.eth1", "up"]);
    // The first end is a's: the link name brings it back.
    let after = inspect(dir, "imp-veth");
    node_net(&after, "a").assert_same_config(&a0);
    node_net(&after, "b").assert_same_config(&b0);
    lab.ping("b", "10.62.0.1", &["-w", "3"]);
    lab.ping(
        "a",
        "2001:db8:ff62::2",
        &["-6", "-I", "2001:db8:ff62::1", "-w", "3"],
    );
    lab.ping("a", "10.255.62.2", &["-I", "10.255.62.1"]);
    let bad = run(dir, &["link", "imp-veth", "a:eth7", "down"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no link called a:eth7"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn warren_impair_rate_on_a_plain_veth_uses_tbf_and_other_keys_name_the_missing_netem() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = write_lab(
        dir,
        "imp-tbf",
        "
name: imp-tbf
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.63.0.1/24, 10.63.0.2/24]
",
    );
    let lab = LabGuard::up(dir, &file, "imp-tbf");
    let said = ok(dir, &["impair", "imp-tbf", "a:eth1", "--rate", "20mbit"]);
    assert_eq!(said.trim(), "a.eth1-b.eth1: kernel-tbf");
    let (_, qdisc, _) = lab.exec("a", &["tc", "qdisc", "show", "dev", "eth1"]);
    assert!(qdisc.contains("tbf") && qdisc.contains("20Mbit"), "{qdisc}");
    // inspect says which path each end's egress takes.
    let path = |node: &str| {
        let info = inspect(dir, "imp-tbf");
        let n = info["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["name"] == node)
            .cloned()
            .expect("node");
        n["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .find(|i| i["name"] == "eth1")
            .map(|i| i["path"].clone())
            .expect("eth1")
    };
    assert_eq!(
        (path("a"), path("b")),
        ("kernel-tbf".into(), "plain".into())
    );
    let limited = iperf3(&lab, "10.63.0.2", 5263);
    eprintln!("iperf3 across tbf 20mbit: {:.2} Mbit/s", limited / 1e6);
    assert!((18e6..=22e6).contains(&limited), "{limited}");
    // netem is absent here: the answer names it and the way out, and the
    // rate limit in force stays.
    let out = run(dir, &["impair", "imp-tbf", "a:eth1", "--delay", "50ms"]);
    // The report wraps its lines behind a margin; read it as one line.
    let err = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!out.status.success());
    assert!(
        err.contains("no netem") && err.contains("impair: {}"),
        "{err}"
    );
    let (_, qdisc, _) = lab.exec("a", &["tc", "qdisc", "show", "dev", "eth1"]);
    assert!(qdisc.contains("tbf"), "{qdisc}");
    let said = ok(dir, &["impair", "imp-tbf", "a.eth1-b.eth1", "--clear"]);
    assert_eq!(said.trim(), "a.eth1-b.eth1: plain");
    let (_, qdisc, _) = lab.exec("a", &["tc", "qdisc", "show", "dev", "eth1"]);
    assert!(!qdisc.contains("tbf"), "{qdisc}");
    assert_eq!(path("a"), "plain");
    let free = iperf3(&lab, "10.63.0.2", 5264);
    eprintln!("iperf3 after --clear: {:.2} Mbit/s", free / 1e6);
    assert!(free > 200e6, "{free}");
}

#[test]
fn a_network_impairs_each_member_through_the_wire_with_any_key() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let text = |name: &str, impair: &str| {
        format!(
            "
name: {name}
nodes: {{a: {{}}, b: {{}}}}
networks:
  lan:
    members: [a:eth1, b:eth1]
    ipv4: 10.64.0.0/24
    impair: {impair}
"
        )
    };
    let file = write_lab(dir, "imp-net", &text("imp-net", "{rate: 20mbit}"));
    let lab = LabGuard::up(dir, &file, "imp-net");
    assert!(
        inspect(dir, "imp-net")
            .to_string()
            .contains(r#""path":"wire""#),
        "inspect names the wire"
    );
    let bps = iperf3(&lab, "10.64.0.2", 5265);
    eprintln!(
        "iperf3 across a network with rate 20mbit: {:.2} Mbit/s",
        bps / 1e6
    );
    assert!((18e6..=22e6).contains(&bps), "{bps}");
    drop(lab);

    // Delay needs netem in the kernel, which this one lacks; the wire
    // gives it anyway: 10 ms on each member's egress, 20 ms a round trip.
    let file = write_lab(dir, "imp-netd", &text("imp-netd", "{delay: 10ms}"));
    let lab = LabGuard::up(dir, &file, "imp-netd");
    let (code, out, err) = lab.exec("a", &["ping", "-c", "5", "-i", "0.2", "10.64.0.2"]);
    assert_eq!(code, 0, "{out}{err}");
    let avg: f64 = out
        .lines()
        .find_map(|l| l.split(" = ").nth(1))
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rtt summary in {out}"));
    assert!((19.0..30.0).contains(&avg), "average rtt {avg} ms:\n{out}");
}
