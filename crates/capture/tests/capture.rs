//! Privileged tests of issue 6 (capture every link): real namespaces, veth
//! pairs and a bridge, real `ping`, files checked with the crate's pcapng
//! reader AND with `tshark`. They need root and tshark and FAIL otherwise.
//!
//! Every object lives in private namespaces held by fd, so tests run in
//! parallel and leave nothing behind.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use warren_capture::reader::{InterfaceBlock, PacketBlock, StatsBlock};
use warren_capture::{
    Block, Capture, CaptureError, CaptureOptions, Direction, Job, PcapngReader, PointSpec, Sink,
    Subscription,
};
use warren_kernel::{IpNet, LinkSpec, Netns, OperState, Rtnl, create_netns_many};

const N: usize = 5;

fn require_root_and_tshark() {
    let euid = nix::unistd::geteuid();
    assert!(
        euid.is_root(),
        "capture tests need root: they create network namespaces and AF_PACKET sockets; euid is {euid}"
    );
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "capture tests need tshark: DEBIAN_FRONTEND=noninteractive apt-get install -y tshark"
    );
}

fn nss(labels: &[&str]) -> Vec<(Netns, Rtnl)> {
    require_root_and_tshark();
    create_netns_many(labels.iter().copied()).expect("creating namespaces")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("valid test prefix")
}

fn wait_up(r: &mut Rtnl, ifname: &str) {
    let t = Instant::now();
    while r.link(ifname).unwrap().unwrap().oper_state != OperState::Up {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{ifname} never came up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `ping -c count` inside `ns`; returns whether all replies came.
fn ping(ns: &Netns, dst: &str, count: usize) -> bool {
    let fd = ns.raw_fd();
    let mut cmd = Command::new("ping");
    cmd.args([
        "-n",
        "-q",
        "-c",
        &count.to_string(),
        "-i",
        "0.05",
        "-W",
        "2",
        dst,
    ]);
    // SAFETY: the closure only calls setns (async-signal-safe) on an fd
    // that stays open in the child until exec.
    unsafe {
        cmd.pre_exec(move || warren_kernel::enter_netns_raw(fd));
    }
    let out = cmd.output().expect("running ping");
    out.status.success()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// ICMPv4 type of an Ethernet frame (after an optional 802.1Q tag), and
/// the VLAN id if tagged.
fn icmp_type(frame: &[u8]) -> Option<(u8, Option<u16>)> {
    let (mut off, mut vlan) = (12, None);
    let mut ethertype = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    if ethertype == 0x8100 {
        vlan = Some(u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff);
        off += 4;
        ethertype = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    }
    let ip = off + 2;
    if ethertype != 0x0800 || *frame.get(ip + 9)? != 1 {
        return None;
    }
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    Some((*frame.get(ip + ihl)?, vlan))
}

struct Parsed {
    interfaces: Vec<InterfaceBlock>,
    packets: Vec<PacketBlock>,
    stats: Vec<StatsBlock>,
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut p = Parsed {
        interfaces: vec![],
        packets: vec![],
        stats: vec![],
    };
    let mut sections = 0;
    for b in PcapngReader::new(bytes) {
        match b.expect("well-formed pcapng") {
            Block::Section { application, .. } => {
                sections += 1;
                assert!(application.unwrap().starts_with("warren"));
            }
            Block::Interface(i) => p.interfaces.push(i),
            Block::Packet(pk) => p.packets.push(pk),
            Block::Stats(s) => p.stats.push(s),
            other => panic!("unexpected block {other:?}"),
        }
    }
    assert_eq!(sections, 1);
    p
}

/// (interface name, direction, icmp type) -> count, from the reader.
fn icmp_by_reader(p: &Parsed) -> BTreeMap<(String, &'static str, u8), usize> {
    let mut m = BTreeMap::new();
    for pk in &p.packets {
        if let Some((t, _)) = icmp_type(&pk.data) {
            let name = p.interfaces[pk.interface as usize].name.clone().unwrap();
            let dir = match pk.flags.and_then(|f| f.direction) {
                Some(Direction::Inbound) => "in",
                Some(Direction::Outbound) => "out",
                None => "?",
            };
            *m.entry((name, dir, t)).or_insert(0) += 1;
        }
    }
    m
}

/// The same from `tshark -r`.
fn icmp_by_tshark(path: &Path) -> BTreeMap<(String, &'static str, u8), usize> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-Y",
            "icmp",
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.packet_flags_direction",
            "-e",
            "icmp.type",
        ])
        .output()
        .expect("running tshark");
    assert!(
        out.status.success(),
        "tshark failed to read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 3, "tshark line {line:?}");
        let dir = match f[1] {
            "1" | "0x00000001" | "0x1" => "in",
            "2" | "0x00000002" | "0x2" => "out",
            other => panic!("tshark direction {other:?} in {line:?}"),
        };
        *m.entry((f[0].to_owned(), dir, f[2].parse().unwrap()))
            .or_insert(0) += 1;
    }
    m
}

fn expect(entries: &[(&str, &'static str, u8)]) -> BTreeMap<(String, &'static str, u8), usize> {
    entries
        .iter()
        .map(|(n, d, t)| ((n.to_string(), *d, *t), N))
        .collect()
}

/// Two namespaces joined by a veth pair a:eth1 <-> b:eth1, addressed.
fn veth_pair() -> (Netns, Rtnl, Netns, Rtnl) {
    let mut v = nss(&["cap-a", "cap-b"]);
    let (nb, mut rb) = v.pop().unwrap();
    let (na, mut ra) = v.pop().unwrap();
    let mut bt = ra.batch();
    bt.create_veth(
        LinkSpec::new("eth1").netns(&na).ifindex(2).up(),
        LinkSpec::new("eth1").netns(&nb).ifindex(2),
    );
    bt.set_up("lo");
    bt.add_address(2, net("10.0.0.1/24"));
    ra.execute(bt).expect("side a");
    let mut bt = rb.batch();
    bt.set_up("lo");
    bt.set_up(2);
    bt.add_address(2, net("10.0.0.2/24"));
    rb.execute(bt).expect("side b");
    wait_up(&mut ra, "eth1");
    (na, ra, nb, rb)
}

#[test]
fn issue_6_veth_ping_each_frame_once() {
    let (na, _ra, nb, _rb) = veth_pair();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results/lab/run/capture/a-b.pcapng");
    let t0 = now_ns();
    let cap = Capture::start_file(
        "a-b",
        &[PointSpec::link_end(&na, "eth1", "a:eth1")],
        &path,
        &CaptureOptions::default(),
    )
    .expect("starting capture");
    assert!(ping(&na, "10.0.0.2", N), "a pings b");
    assert!(!cap.is_finished());
    let stats = cap.stop().expect("stopping capture");
    let t1 = now_ns();
    drop(nb);

    let bytes = std::fs::read(&path).unwrap();
    let p = parse(&bytes);
    assert_eq!(p.interfaces.len(), 1);
    let i = &p.interfaces[0];
    assert_eq!(i.name.as_deref(), Some("a:eth1"));
    assert_eq!(i.linktype, 1);
    assert_eq!(i.tsresol, Some(9));
    assert_eq!(i.description.as_deref(), Some("cap-a:eth1"));

    let want = expect(&[("a:eth1", "in", 0), ("a:eth1", "out", 8)]);
    assert_eq!(icmp_by_reader(&p), want, "reader");
    assert_eq!(icmp_by_tshark(&path), want, "tshark");

    // Nanosecond timestamps from this run, in order.
    for pk in &p.packets {
        assert!(pk.ts >= t0 && pk.ts <= t1, "timestamp {} not in run", pk.ts);
        assert_eq!(pk.orig_len as usize, pk.data.len());
    }
    assert!(p.packets.windows(2).all(|w| w[0].ts <= w[1].ts));

    // One ISB with the counters; stats agree with the file.
    assert_eq!(p.stats.len(), 1);
    let s = &p.stats[0];
    assert_eq!(s.dropped, Some(0));
    assert_eq!(s.delivered, Some(p.packets.len() as u64));
    assert!(s.received.unwrap() >= p.packets.len() as u64);
    assert!(s.start.unwrap() >= t0 && s.end.unwrap() <= t1);
    assert_eq!(stats.captured(), p.packets.len() as u64);
    assert_eq!(stats.dropped(), 0);
    assert_eq!(stats.points[0].name, "a:eth1");
}

/// A hub with bridge br0 (ifindex 10) and ports nK-eth1 toward nodes
/// nK (K = 1..=3), each with eth1 = 198.51.100.K/24.
fn bridge_lan() -> (Netns, Vec<(Netns, Rtnl)>) {
    let mut v = nss(&["cap-hub", "cap-n1", "cap-n2", "cap-n3"]);
    let mut nodes: Vec<(Netns, Rtnl)> = v.split_off(1);
    let (hub, mut rh) = v.pop().unwrap();

    let mut bt = rh.batch();
    bt.create_bridge(LinkSpec::new("br0").ifindex(10).up());
    for (k, (n, _)) in nodes.iter().enumerate() {
        bt.create_veth(
            LinkSpec::new(format!("n{}-eth1", k + 1)).netns(&hub),
            LinkSpec::new("eth1").netns(n).ifindex(2),
        );
    }
    for k in 1..=3 {
        bt.set_master(format!("n{k}-eth1"), 10);
        bt.set_up(format!("n{k}-eth1"));
    }
    rh.execute(bt).expect("hub");
    for (k, (_, r)) in nodes.iter_mut().enumerate() {
        let mut bt = r.batch();
        bt.set_up("lo");
        bt.set_up(2);
        bt.add_address(2, net(&format!("198.51.100.{}/24", k + 1)));
        r.execute(bt).expect("member");
        wait_up(r, "eth1");
    }
    drop(rh);
    (hub, nodes)
}

#[test]
fn issue_6_bridge_ping_each_frame_once() {
    let (hub, nodes) = bridge_lan();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lan.pcapng");
    let points: Vec<PointSpec<'_>> = (1..=3)
        .map(|k| PointSpec::bridge_port(&hub, format!("n{k}-eth1"), format!("n{k}:eth1")))
        .collect();
    let cap = Capture::start_file("lan", &points, &path, &CaptureOptions::default())
        .expect("starting capture");
    assert!(ping(&nodes[0].0, "198.51.100.2", N), "n1 pings n2");
    assert!(ping(&nodes[2].0, "198.51.100.1", N), "n3 pings n1");
    let stats = cap.stop().expect("stopping capture");

    let bytes = std::fs::read(&path).unwrap();
    let p = parse(&bytes);
    let names: Vec<_> = p
        .interfaces
        .iter()
        .map(|i| i.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["n1:eth1", "n2:eth1", "n3:eth1"]);
    assert!(p.interfaces.iter().all(|i| i.tsresol == Some(9)));
    // Each frame once, at the member that sent it: requests from n1 and
    // n3, replies from n2 and n1; nothing twice.
    let want = expect(&[
        ("n1:eth1", "out", 0),
        ("n1:eth1", "out", 8),
        ("n2:eth1", "out", 0),
        ("n3:eth1", "out", 8),
    ]);
    assert_eq!(icmp_by_reader(&p), want, "reader");
    assert_eq!(icmp_by_tshark(&path), want, "tshark");
    assert_eq!(p.stats.len(), 3);
    assert!(p.stats.iter().all(|s| s.dropped == Some(0)));
    assert_eq!(stats.captured(), p.packets.len() as u64);
    drop(nodes);
}

/// Scaling a running lab: a member added to a running capture is in the
/// same section from then on (its IDB after earlier blocks), and a member
/// closed early gets its ISB then, while the others go on.
#[test]
fn members_join_and_leave_a_running_capture() {
    let (hub, nodes) = bridge_lan();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lan.pcapng");
    let opts = CaptureOptions::default();
    let point = |k: usize| PointSpec::bridge_port(&hub, format!("n{k}-eth1"), format!("n{k}:eth1"));
    let cap =
        Capture::start_file("lan", &[point(1), point(2)], &path, &opts).expect("starting capture");
    assert!(ping(&nodes[0].0, "198.51.100.2", N), "n1 pings n2");
    cap.add_point(&point(3), &opts).expect("adding n3");
    assert!(ping(&nodes[2].0, "198.51.100.1", N), "n3 pings n1");
    cap.close_point("n2:eth1").expect("closing n2");
    let e = cap.close_point("n2:eth1").expect_err("n2 is closed");
    assert!(
        e.to_string().contains("no open capture point n2:eth1"),
        "{e}"
    );
    // n2's requests are no longer captured; n1's replies are.
    assert!(ping(&nodes[1].0, "198.51.100.1", N), "n2 pings n1");
    let stats = cap.stop().expect("stopping capture");

    let bytes = std::fs::read(&path).unwrap();
    let p = parse(&bytes);
    let names: Vec<_> = p
        .interfaces
        .iter()
        .map(|i| i.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["n1:eth1", "n2:eth1", "n3:eth1"]);
    let mut want = expect(&[
        ("n1:eth1", "out", 8),
        ("n1:eth1", "out", 0),
        ("n2:eth1", "out", 0),
        ("n3:eth1", "out", 8),
    ]);
    want.insert(("n1:eth1".into(), "out", 0), 2 * N);
    assert_eq!(icmp_by_reader(&p), want, "reader");
    assert_eq!(icmp_by_tshark(&path), want, "tshark");
    // One ISB each; the closed point's first, written when it closed.
    let isbs: Vec<u32> = p.stats.iter().map(|s| s.interface).collect();
    assert_eq!(isbs, [1, 0, 2]);
    assert_eq!(stats.points.len(), 3);
    assert_eq!(stats.captured(), p.packets.len() as u64);
    drop(nodes);
}

/// Why networks are captured on the ports: the bridge device itself (not
/// promiscuous) sees only what the bridge delivers to its own stack, so
/// unicast between members never shows up there.
#[test]
fn bridge_device_misses_forwarded_unicast() {
    let (hub, nodes) = bridge_lan();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("br0.pcapng");
    let cap = Capture::start_file(
        "br0",
        &[PointSpec::link_end(&hub, "br0", "hub:br0")],
        &path,
        &CaptureOptions::default(),
    )
    .unwrap();
    assert!(ping(&nodes[0].0, "198.51.100.2", N));
    cap.stop().unwrap();
    let p = parse(&std::fs::read(&path).unwrap());
    assert!(icmp_by_reader(&p).is_empty(), "{:?}", icmp_by_reader(&p));
}

#[test]
fn issue_6_live_subscriber_gets_a_valid_stream() {
    let (na, _ra, _nb, _rb) = veth_pair();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a-b.pcapng");
    let cap = Capture::start_file(
        "a-b",
        &[PointSpec::link_end(&na, "eth1", "a:eth1")],
        &path,
        &CaptureOptions::default(),
    )
    .unwrap();
    // Traffic before subscribing goes to the file only.
    assert!(ping(&na, "10.0.0.2", N));
    std::thread::sleep(Duration::from_millis(100));
    let sub: Subscription = cap.subscribe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut live = Vec::new();
        sub.copy_to(&mut live).unwrap();
        (live, sub.lost_chunks())
    });
    assert!(ping(&na, "10.0.0.2", N));
    cap.stop().unwrap();
    let (live, lost) = reader.join().unwrap();
    assert_eq!(lost, 0);

    let live_path = dir.path().join("live.pcapng");
    std::fs::write(&live_path, &live).unwrap();
    let want = expect(&[("a:eth1", "in", 0), ("a:eth1", "out", 8)]);
    assert_eq!(icmp_by_reader(&parse(&live)), want, "live stream, reader");
    assert_eq!(icmp_by_tshark(&live_path), want, "live stream, tshark");
    // The file has both rounds.
    let all = icmp_by_reader(&parse(&std::fs::read(&path).unwrap()));
    assert!(all.values().all(|&c| c == 2 * N), "{all:?}");
}

/// Sends `frames` raw on ifindex 2 of `ns` with an AF_PACKET socket.
fn send_raw(ns: &Netns, frames: &[Vec<u8>]) {
    send_raw_on(ns, 2, frames);
}

/// Sends `frames` raw on interface `ifindex` of `ns`.
fn send_raw_on(ns: &Netns, ifindex: i32, frames: &[Vec<u8>]) {
    ns.run(|| {
        // SAFETY: plain syscalls on a socket we own; the address and frame
        // buffers outlive each call.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = ifindex;
            sll.sll_halen = 6;
            for f in frames {
                let n = libc::sendto(
                    fd,
                    f.as_ptr().cast(),
                    f.len(),
                    0,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(n as usize, f.len(), "{}", std::io::Error::last_os_error());
            }
            libc::close(fd);
        }
    })
    .expect("entering namespace");
}

/// The receiving side strips 802.1Q tags into `tp_vlan_tci` (in
/// `__netif_receive_skb_core`, before packet taps); the file must have
/// them back, byte for byte.
#[test]
fn issue_6_vlan_tags_are_reinserted() {
    let (na, _ra, nb, _rb) = veth_pair();
    let frames: Vec<Vec<u8>> = (0..3u8)
        .map(|k| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
            f.extend_from_slice(&[0x81, 0x00, 0x60, 0x0a]); // prio 3, VLAN 10
            f.extend_from_slice(&[0x88, 0xb5]); // local experimental
            f.extend(std::iter::repeat_n(k, 50));
            f
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vlan.pcapng");
    let cap = Capture::start_file(
        "a-b",
        &[PointSpec::link_end(&nb, "eth1", "b:eth1")],
        &path,
        &CaptureOptions::default(),
    )
    .unwrap();
    send_raw(&na, &frames);
    cap.stop().unwrap();

    let p = parse(&std::fs::read(&path).unwrap());
    let got: Vec<&PacketBlock> = p
        .packets
        .iter()
        .filter(|pk| pk.data.len() > 18 && pk.data[16..18] == [0x88, 0xb5])
        .collect();
    assert_eq!(got.len(), frames.len(), "{:?}", p.packets);
    for (pk, f) in got.iter().zip(&frames) {
        assert_eq!(&pk.data, f, "tag re-inserted byte for byte");
        assert_eq!(pk.orig_len as usize, f.len());
        assert_eq!(pk.flags.and_then(|f| f.direction), Some(Direction::Inbound));
    }
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .args([
            "-Y",
            "vlan.id == 10 && vlan.priority == 3 && vlan.etype == 0x88b5",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        frames.len(),
        "tshark sees the tagged frames"
    );
    drop(na);
}

/// CPU time (user + system, clock ticks) of this process's thread named
/// `comm`.
fn thread_ticks(comm: &str) -> u64 {
    for t in std::fs::read_dir(format!("/proc/{}/task", std::process::id())).unwrap() {
        let dir = t.unwrap().path();
        if std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == comm) {
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            // Fields 14 and 15 of stat; `after` starts at field 3.
            return f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        }
    }
    panic!("no thread named {comm}");
}

/// The supervisor starts captures as soon as the veth exists, before it
/// is up; the capture must neither spin on the socket's ENETDOWN nor lose
/// frames after the link comes up or flaps.
#[test]
fn issue_6_capture_from_creation_through_a_flap() {
    let mut v = nss(&["dn-a", "dn-b"]);
    let (nb, mut rb) = v.pop().unwrap();
    let (na, mut ra) = v.pop().unwrap();
    let mut bt = ra.batch();
    bt.create_veth(
        LinkSpec::new("eth1").netns(&na).ifindex(2),
        LinkSpec::new("eth1").netns(&nb).ifindex(2),
    );
    bt.add_address(2, net("10.0.0.1/24"));
    ra.execute(bt).unwrap();
    let mut bt = rb.batch();
    bt.add_address(2, net("10.0.0.2/24"));
    rb.execute(bt).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("down.pcapng");
    let cap = Capture::start_file(
        "down",
        &[PointSpec::link_end(&na, "eth1", "a:eth1")],
        &path,
        &CaptureOptions::default(),
    )
    .expect("capture starts on a down interface");
    std::thread::sleep(Duration::from_millis(100));
    let t0 = thread_ticks("capture-down");
    std::thread::sleep(Duration::from_millis(500));
    let spent = thread_ticks("capture-down") - t0;
    assert!(
        spent < 10,
        "capture thread busy on a down link: {spent} ticks"
    );

    let up = |ra: &mut Rtnl, rb: &mut Rtnl| {
        let mut bt = ra.batch();
        bt.set_up(2);
        ra.execute(bt).unwrap();
        let mut bt = rb.batch();
        bt.set_up(2);
        rb.execute(bt).unwrap();
        wait_up(ra, "eth1");
    };
    up(&mut ra, &mut rb);
    assert!(ping(&na, "10.0.0.2", N));
    let mut bt = ra.batch();
    bt.set_down(2);
    ra.execute(bt).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t0 = thread_ticks("capture-down");
    std::thread::sleep(Duration::from_millis(300));
    let spent = thread_ticks("capture-down") - t0;
    assert!(
        spent < 10,
        "capture thread busy after a flap: {spent} ticks"
    );
    up(&mut ra, &mut rb);
    assert!(ping(&na, "10.0.0.2", N));
    let stats = cap.stop().unwrap();

    let p = parse(&std::fs::read(&path).unwrap());
    let want: BTreeMap<_, _> = expect(&[("a:eth1", "in", 0), ("a:eth1", "out", 8)])
        .into_iter()
        .map(|(k, v)| (k, 2 * v))
        .collect();
    assert_eq!(icmp_by_reader(&p), want);
    assert_eq!(icmp_by_tshark(&path), want);
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn missing_interface_is_a_clear_error() {
    let mut v = nss(&["cap-err"]);
    let (n, _) = v.pop().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pcapng");
    let err = Capture::start_file(
        "x",
        &[PointSpec::link_end(&n, "nope0", "r9:eth9")],
        &path,
        &CaptureOptions::default(),
    )
    .unwrap_err();
    let chain = warren_kernel::error_chain(&err);
    assert!(
        chain.contains("r9:eth9") && chain.contains("nope0"),
        "{chain}"
    );
    assert!(!path.exists(), "no file for a failed start");
}

/// A sink whose writes wait until `open` is set: a disk that stalls.
struct StalledSink {
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl std::io::Write for StalledSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        while !self.open.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue 19: rings are small by default and do not grow, so a burst that
/// outruns a stalled output must be COUNTED: with the smallest ring (one
/// 256 KiB block) and a write queue of one chunk held up by a stalled
/// sink, 1.5 MB of numbered frames overflow the ring. Every frame the file
/// holds is there once, every frame sent is either in the file or in the
/// drop count, and the statistics block and the stats agree with the
/// kernel's counters.
#[test]
fn issue_19_burst_past_a_small_ring_is_counted_as_drops() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use warren_capture::RingConfig;
    use warren_capture::ring::MIN_BUFFER;

    const FRAMES: u32 = 1500;
    let (na, _ra, nb, _rb) = veth_pair();
    let open = Arc::new(AtomicBool::new(false));
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = StalledSink {
        open: Arc::clone(&open),
        out: Arc::clone(&out),
    };
    let opts = CaptureOptions {
        ring: RingConfig::for_buffer(MIN_BUFFER).unwrap(),
        write_queue: 1,
        ..CaptureOptions::default()
    };
    assert_eq!(opts.ring.block_count, 1);
    let cap = Capture::start(
        "a-b",
        &[PointSpec::link_end(&nb, "eth1", "b:eth1")],
        Box::new(sink),
        &opts,
    )
    .unwrap();
    let frames: Vec<Vec<u8>> = (0..FRAMES)
        .map(|k| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
            f.extend_from_slice(&[0x88, 0xb5]); // local experimental
            f.extend_from_slice(&k.to_be_bytes());
            f.resize(1000, 0x5a);
            f
        })
        .collect();
    // Batches with a pause, so the receive backlog never overflows and
    // the ring is the only place frames can be lost.
    for batch in frames.chunks(100) {
        send_raw(&na, batch);
        std::thread::sleep(Duration::from_millis(2));
    }
    open.store(true, Ordering::Release);
    let stats = cap.stop().unwrap();
    drop(na);

    let p = parse(&out.lock().unwrap());
    let mut seen = std::collections::BTreeSet::new();
    for pk in p
        .packets
        .iter()
        .filter(|pk| pk.data.get(12..14) == Some(&[0x88, 0xb5][..]))
    {
        let k = u32::from_be_bytes(pk.data[14..18].try_into().unwrap());
        assert!(seen.insert(k), "frame {k} recorded twice");
        assert_eq!(pk.data.len(), 1000);
    }
    let dropped = stats.dropped();
    assert!(dropped > 0, "the burst overflowed the ring: {stats:?}");
    assert!(
        (seen.len() as u64) < u64::from(FRAMES),
        "some frames were lost: {} of {FRAMES} recorded",
        seen.len()
    );
    assert!(
        seen.len() as u64 + dropped >= u64::from(FRAMES),
        "every frame is recorded or counted: {} + {dropped} < {FRAMES}",
        seen.len()
    );
    // The kernel's count of frames offered is exactly recorded + dropped.
    let pt = &stats.points[0];
    assert_eq!(pt.captured, p.packets.len() as u64);
    assert_eq!(pt.received, pt.captured + pt.dropped, "{pt:?}");
    assert_eq!(p.stats.len(), 1);
    assert_eq!(p.stats[0].dropped, Some(dropped));
    assert_eq!(p.stats[0].delivered, Some(pt.captured));
    assert_eq!(p.stats[0].received, Some(pt.received));
    drop(nb);
}

/// Issue 19: a network's ports share ONE ring, filtered to the captured
/// ports. Members n1 and n2 are captured, n3 is not; each sends numbered
/// frames in a burst that outruns the ring (the smallest buffer, a stalled
/// sink). Every recorded frame is there once, on the member that sent it;
/// nothing of n3's is recorded; every frame of n1 and n2 is recorded or
/// counted as dropped, and the drops are on the first point.
#[test]
fn issue_19_network_ports_share_one_ring_and_count_its_drops() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use warren_capture::RingConfig;
    use warren_capture::ring::MIN_BUFFER;

    const FRAMES: u32 = 1000;
    let (hub, nodes) = bridge_lan();
    let open = Arc::new(AtomicBool::new(false));
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = StalledSink {
        open: Arc::clone(&open),
        out: Arc::clone(&out),
    };
    let opts = CaptureOptions {
        ring: RingConfig::for_buffer(MIN_BUFFER).unwrap(),
        write_queue: 1,
        ..CaptureOptions::default()
    };
    let points: Vec<PointSpec<'_>> = (1..=2)
        .map(|k| PointSpec::bridge_port(&hub, format!("n{k}-eth1"), format!("n{k}:eth1")))
        .collect();
    let cap = Capture::start("lan", &points, Box::new(sink), &opts).unwrap();
    // Frame `seq` of member `k`: broadcast, source 02::0k, type 0x88b5,
    // then k and seq.
    let frame = |k: u8, seq: u32| {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, k]);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.push(k);
        f.extend_from_slice(&seq.to_be_bytes());
        f.resize(1000, 0x5a);
        f
    };
    for start in (0..FRAMES).step_by(100) {
        for (k, (ns, _)) in (1u8..).zip(&nodes) {
            let batch: Vec<Vec<u8>> = (start..start + 100).map(|s| frame(k, s)).collect();
            send_raw(ns, &batch);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    open.store(true, Ordering::Release);
    let stats = cap.stop().unwrap();

    let p = parse(&out.lock().unwrap());
    let names: Vec<_> = p
        .interfaces
        .iter()
        .map(|i| i.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["n1:eth1", "n2:eth1"]);
    let mut seen = std::collections::BTreeSet::new();
    for pk in p
        .packets
        .iter()
        .filter(|pk| pk.data.get(12..14) == Some(&[0x88, 0xb5][..]))
    {
        let k = pk.data[14];
        let seq = u32::from_be_bytes(pk.data[15..19].try_into().unwrap());
        assert_ne!(k, 3, "n3 is not captured, yet its frame {seq} is");
        assert_eq!(
            names[pk.interface as usize],
            format!("n{k}:eth1"),
            "frame {seq} of n{k} on the wrong interface"
        );
        assert_eq!(
            pk.flags.and_then(|f| f.direction),
            Some(Direction::Outbound)
        );
        assert!(seen.insert((k, seq)), "frame {seq} of n{k} recorded twice");
    }
    let dropped = stats.dropped();
    assert!(
        dropped > 0,
        "the burst overflowed the shared ring: {stats:?}"
    );
    assert!(
        seen.len() as u64 + dropped >= 2 * u64::from(FRAMES),
        "every frame of n1 and n2 is recorded or counted: {} + {dropped}",
        seen.len()
    );
    for k in 1..=2u8 {
        assert!(
            seen.iter().any(|(m, _)| *m == k),
            "some frames of n{k} are recorded"
        );
    }
    assert_eq!(stats.points[0].dropped, dropped, "{stats:?}");
    assert_eq!(stats.points[1].dropped, 0, "{stats:?}");
    assert_eq!(p.stats.len(), 2);
    assert_eq!(p.stats[0].dropped, Some(dropped));
    assert_eq!(p.stats[1].dropped, Some(0));
    assert_eq!(stats.captured(), p.packets.len() as u64);
    drop(nodes);
}

/// Names of this process's threads that start with `prefix`.
fn threads_named(prefix: &str) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{}/task", std::process::id()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| c.starts_with(prefix))
        .collect()
}

/// Issue 19: the captures of a lab share a few poll threads and one
/// writer. 24 links, one capture each, started together: at most
/// `MAX_POLLERS` poll threads and one writer serve them all; numbered
/// frames sent on every link right after the start (before the writer has
/// created every file) are each in their own link's file exactly once,
/// inbound, none in another's; a capture whose file cannot be created
/// ends with that error at stop while the others go on.
#[test]
fn issue_19_one_pool_serves_many_captures_each_frame_once() {
    use warren_capture::session::MAX_POLLERS;
    const LINKS: u32 = 24;
    const FRAMES: u32 = 20;
    let mut v = nss(&["pool-a", "pool-b"]);
    let (nb, mut rb) = v.pop().unwrap();
    let (na, mut ra) = v.pop().unwrap();
    let mut bt = ra.batch();
    for i in 0..LINKS {
        bt.create_veth(
            LinkSpec::new(format!("p{i}"))
                .netns(&na)
                .ifindex(i + 2)
                .up(),
            LinkSpec::new(format!("q{i}")).netns(&nb).ifindex(i + 2),
        );
    }
    ra.execute(bt).expect("veth pairs");
    let mut bt = rb.batch();
    for i in 0..LINKS {
        bt.set_up(i + 2);
    }
    rb.execute(bt).expect("peers up");
    for i in 0..LINKS {
        wait_up(&mut ra, &format!("p{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = |i: u32| dir.path().join(format!("capture/l{i}.pcapng"));
    // A directory where the last capture's file should be.
    std::fs::create_dir_all(file(LINKS)).unwrap();
    let jobs = (0..=LINKS)
        .map(|i| Job {
            name: format!("l{i}"),
            points: vec![PointSpec::link_end(
                &na,
                format!("p{}", i % LINKS),
                format!("a:p{i}"),
            )],
            sink: Sink::File(file(i)),
        })
        .collect();
    let caps = Capture::start_all(jobs, &CaptureOptions::default()).expect("starting");
    let frame = |link: u32, seq: u32| {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(&link.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.resize(100, 0x5a);
        f
    };
    for i in 0..LINKS {
        let frames: Vec<Vec<u8>> = (0..FRAMES).map(|s| frame(i, s)).collect();
        send_raw_on(&nb, (i + 2) as i32, &frames);
    }
    let pollers = threads_named("capture-all-");
    assert!(
        (1..=MAX_POLLERS).contains(&pollers.len()),
        "poll threads: {pollers:?}"
    );
    assert_eq!(threads_named("capture-w-all"), ["capture-w-all"]);
    std::thread::sleep(Duration::from_millis(100));
    let results = Capture::stop_all(caps);

    assert_eq!(results.len() as u32, LINKS + 1);
    match &results[LINKS as usize] {
        Err(CaptureError::Create { path, .. }) => assert_eq!(path, &file(LINKS)),
        other => panic!("the capture without a file: {other:?}"),
    }
    for (i, r) in (0..LINKS).zip(&results) {
        let stats = r.as_ref().expect("stopping a capture");
        let p = parse(&std::fs::read(file(i)).unwrap());
        assert_eq!(p.interfaces.len(), 1);
        assert_eq!(p.interfaces[0].name, Some(format!("a:p{i}")));
        let mut seen = std::collections::BTreeSet::new();
        for pk in p
            .packets
            .iter()
            .filter(|pk| pk.data.get(12..14) == Some(&[0x88, 0xb5][..]))
        {
            let link = u32::from_be_bytes(pk.data[14..18].try_into().unwrap());
            let seq = u32::from_be_bytes(pk.data[18..22].try_into().unwrap());
            assert_eq!(link, i, "frame {seq} of link {link} in link {i}'s file");
            assert_eq!(pk.flags.and_then(|f| f.direction), Some(Direction::Inbound));
            assert!(seen.insert(seq), "frame {seq} of link {i} recorded twice");
        }
        assert_eq!(seen.len() as u32, FRAMES, "link {i}: {seen:?}");
        assert_eq!(stats.dropped(), 0);
        assert_eq!(stats.captured(), p.packets.len() as u64);
        assert_eq!(p.stats.len(), 1);
        assert_eq!(p.stats[0].delivered, Some(p.packets.len() as u64));
    }
    drop(nb);
}
