//! Privileged tests against the real kernel. They need root (or root in a
//! user namespace: `unshare -Ur cargo test ...`) and FAIL otherwise.
//!
//! Every object is created inside private namespaces held by fd, with
//! unique names, so tests run in parallel and leave nothing behind.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use warren_kernel::{
    IpNet, LinkSpec, MacAddr, Netns, OperState, RouteSpec, RtnlError, TapOptions, VxlanSpec,
    create_netns_many, create_tap, error_chain, read_sysctl, set_sysctls,
};

fn require_root() {
    let euid = nix::unistd::geteuid();
    assert!(
        euid.is_root(),
        "these tests need root (or `unshare -Ur`): they create network namespaces; euid is {euid}"
    );
}

fn net(s: &str) -> IpNet {
    s.parse().expect("valid test prefix")
}

fn nss(labels: &[&str]) -> Vec<Netns> {
    require_root();
    Netns::create_many(labels.iter().copied()).expect("creating namespaces")
}

/// Sends one UDP datagram from `from` (inside `src`) to `to` (inside
/// `dst`) and checks it arrives.
fn udp_reaches(src: &Netns, from: IpAddr, dst: &Netns, to: IpAddr) -> bool {
    let rx = dst
        .run(move || UdpSocket::bind(SocketAddr::new(to, 0)))
        .expect("enter dst")
        .expect("bind rx");
    rx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let tx = src
        .run(move || UdpSocket::bind(SocketAddr::new(from, 0)))
        .expect("enter src")
        .expect("bind tx");
    let payload = b"warren-kernel-test";
    // Resend a few times: the first packet may wait for ARP/ND.
    for _ in 0..10 {
        tx.send_to(payload, SocketAddr::new(to, port)).unwrap();
        let mut buf = [0u8; 64];
        rx.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        if let Ok((n, peer)) = rx.recv_from(&mut buf) {
            assert_eq!(&buf[..n], payload);
            assert_eq!(peer.ip(), from);
            return true;
        }
    }
    false
}

#[test]
fn veth_between_namespaces_addresses_and_traffic() {
    let mut v = nss(&["a", "b"]);
    let nb = v.pop().unwrap();
    let na = v.pop().unwrap();

    let mut bt = na.batch();
    bt.create_veth(
        LinkSpec::new("eth1")
            .netns(&na)
            .ifindex(7)
            .mtu(1400)
            .mac(MacAddr::local(0xa1))
            .up(),
        LinkSpec::new("eth9")
            .netns(&nb)
            .ifindex(9)
            .mtu(1400)
            .mac(MacAddr::local(0xb1)),
    );
    bt.set_up("lo");
    bt.set_alias(7, "warren:test");
    bt.add_address(7, net("10.10.0.1/30"));
    bt.add_address(7, net("2001:db8:10::1/64"));
    na.execute(bt).expect("side a");

    let mut bt = nb.batch();
    bt.set_up("lo");
    // The second end of a veth cannot be created up (ENOTCONN).
    bt.set_up(9);
    bt.add_address(9, net("10.10.0.2/30"));
    bt.add_address(9, net("2001:db8:10::2/64"));
    nb.execute(bt).expect("side b");

    // Listing through our own API.
    let links = na.links().unwrap();
    let eth1 = links.iter().find(|l| l.name == "eth1").expect("eth1 in a");
    assert_eq!(eth1.index, 7, "requested ifindex honoured");
    assert_eq!(eth1.mtu, 1400);
    assert_eq!(eth1.mac, Some(MacAddr::local(0xa1)));
    assert_eq!(eth1.kind.as_deref(), Some("veth"));
    assert_eq!(eth1.alias.as_deref(), Some("warren:test"));
    assert!(eth1.admin_up);
    let lo = links.iter().find(|l| l.name == "lo").unwrap();
    assert!(lo.admin_up);
    let eth9 = nb.link("eth9").unwrap().expect("eth9 in b");
    assert_eq!(eth9.index, 9, "veth peer honours requested ifindex");
    assert_eq!(eth9.mac, Some(MacAddr::local(0xb1)));
    assert!(nb.link("eth1").unwrap().is_none(), "eth1 only in a");
    assert_eq!(nb.link_index("eth9").unwrap(), 9);
    assert!(matches!(
        nb.link_index("nope0"),
        Err(RtnlError::NoSuchLink { .. })
    ));

    // Oper state goes up once both ends are up.
    let t = Instant::now();
    while na.link("eth1").unwrap().unwrap().oper_state != OperState::Up {
        assert!(t.elapsed() < Duration::from_secs(5), "eth1 never came up");
        std::thread::sleep(Duration::from_millis(20));
    }

    let addrs = na.addresses().unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a.ifindex == 7 && a.addr == net("10.10.0.1/30"))
    );
    assert!(
        addrs
            .iter()
            .any(|a| a.ifindex == 7 && a.addr == net("2001:db8:10::1/64"))
    );
    // The kernel's connected routes are listed.
    let routes = na.routes().unwrap();
    assert!(
        routes
            .iter()
            .any(|r| r.dst == net("10.10.0.0/30") && r.oif == Some(7))
    );

    // Real traffic, v4 and v6 (v6 without DAD wait thanks to NODAD).
    assert!(udp_reaches(
        &na,
        "10.10.0.1".parse().unwrap(),
        &nb,
        "10.10.0.2".parse().unwrap()
    ));
    assert!(udp_reaches(
        &nb,
        "2001:db8:10::2".parse().unwrap(),
        &na,
        "2001:db8:10::1".parse().unwrap()
    ));
}

#[test]
fn routed_path_through_a_router_with_forwarding() {
    // a --- r --- b, default routes on a and b, forwarding on r.
    let mut v = nss(&["ra", "rr", "rb"]);
    let nb = v.pop().unwrap();
    let nr = v.pop().unwrap();
    let na = v.pop().unwrap();

    let mut bt = nr.batch();
    bt.create_veth(
        LinkSpec::new("eth1").netns(&na).ifindex(2).up(),
        LinkSpec::new("eth1").netns(&nr).ifindex(2),
    );
    bt.create_veth(
        LinkSpec::new("eth2").netns(&nr).ifindex(3).up(),
        LinkSpec::new("eth1").netns(&nb).ifindex(2),
    );
    bt.set_up(2);
    bt.add_address(2, net("192.168.1.1/24"));
    bt.add_address(3, net("192.168.2.1/24"));
    bt.add_address(2, net("2001:db8:1::1/64"));
    bt.add_address(3, net("2001:db8:2::1/64"));
    nr.execute(bt).expect("router");
    set_sysctls(
        &nr,
        &[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
        ],
    )
    .expect("forwarding on");
    assert_eq!(read_sysctl(&nr, "net.ipv4.ip_forward").unwrap(), "1");
    // The sysctl is per namespace: a and the test's own namespace are
    // untouched.
    assert_eq!(read_sysctl(&na, "net.ipv4.ip_forward").unwrap(), "0");
    // Interface-specific keys exist only where the interface does.
    assert_eq!(
        read_sysctl(&nr, "net/ipv4/conf/eth2/forwarding").unwrap(),
        "1"
    );
    assert!(read_sysctl(&na, "net/ipv4/conf/eth2/forwarding").is_err());

    for (rt, addr4, gw4, addr6, gw6) in [
        (
            &na,
            "192.168.1.2/24",
            "192.168.1.1",
            "2001:db8:1::2/64",
            "2001:db8:1::1",
        ),
        (
            &nb,
            "192.168.2.2/24",
            "192.168.2.1",
            "2001:db8:2::2/64",
            "2001:db8:2::1",
        ),
    ] {
        let mut bt = rt.batch();
        bt.set_up(2);
        bt.add_address(2, net(addr4));
        bt.add_address(2, net(addr6));
        bt.add_route(&RouteSpec::via(net("0.0.0.0/0"), gw4.parse().unwrap()).metric(100));
        bt.add_route(&RouteSpec::via(net("::/0"), gw6.parse().unwrap()).oif(2));
        rt.execute(bt).expect("end host");
    }
    let routes = na.routes().unwrap();
    assert!(routes.iter().any(|r| r.dst == net("0.0.0.0/0")
        && r.gateway == Some("192.168.1.1".parse().unwrap())
        && r.metric == Some(100)));
    assert!(
        routes
            .iter()
            .any(|r| r.dst == net("::/0") && r.oif == Some(2))
    );

    assert!(udp_reaches(
        &na,
        "192.168.1.2".parse().unwrap(),
        &nb,
        "192.168.2.2".parse().unwrap()
    ));
    assert!(udp_reaches(
        &nb,
        "2001:db8:2::2".parse().unwrap(),
        &na,
        "2001:db8:1::2".parse().unwrap()
    ));

    // Deleting a route makes it vanish from the listing.
    let mut bt = na.batch();
    bt.delete_route(&RouteSpec::via(
        net("0.0.0.0/0"),
        "192.168.1.1".parse().unwrap(),
    ));
    na.execute(bt).expect("delete route");
    assert!(
        !na.routes()
            .unwrap()
            .iter()
            .any(|r| r.dst == net("0.0.0.0/0"))
    );
}

#[test]
fn bridge_with_members_in_a_hub() {
    let mut v = nss(&["hub", "n1", "n2"]);
    let n2 = v.pop().unwrap();
    let n1 = v.pop().unwrap();
    let hub = v.pop().unwrap();

    let mut bt = hub.batch();
    bt.create_bridge(LinkSpec::new("br0").ifindex(10).mtu(1450).up());
    bt.create_veth(
        LinkSpec::new("n1-eth1").netns(&hub).mtu(1450),
        LinkSpec::new("eth1").netns(&n1).ifindex(2).mtu(1450),
    );
    bt.create_veth(
        LinkSpec::new("n2-eth1").netns(&hub).mtu(1450),
        LinkSpec::new("eth1").netns(&n2).ifindex(2).mtu(1450),
    );
    bt.set_master("n1-eth1", 10);
    bt.set_master("n2-eth1", 10);
    bt.set_up("n1-eth1");
    bt.set_up("n2-eth1");
    hub.execute(bt).expect("hub");
    let links = hub.links().unwrap();
    for m in ["n1-eth1", "n2-eth1"] {
        let l = links.iter().find(|l| l.name == m).unwrap();
        assert_eq!(l.master, Some(10), "{m} enslaved");
    }
    let br = links.iter().find(|l| l.name == "br0").unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));

    let mut bt = n1.batch();
    bt.set_up(2);
    bt.add_address(2, net("198.51.100.1/24"));
    n1.execute(bt).unwrap();
    let mut r2 = n2.open_rtnl().expect("second socket in n2");
    let mut bt = r2.batch();
    bt.set_up(2);
    bt.add_address(2, net("198.51.100.2/24"));
    r2.execute(bt).unwrap();

    assert!(udp_reaches(
        &n1,
        "198.51.100.1".parse().unwrap(),
        &n2,
        "198.51.100.2".parse().unwrap()
    ));

    // Taking a member out breaks the path.
    let mut bt = hub.batch();
    bt.set_nomaster("n2-eth1");
    hub.execute(bt).unwrap();
    assert_eq!(hub.link("n2-eth1").unwrap().unwrap().master, None);
}

#[test]
fn errors_name_the_request_and_the_cause() {
    let mut v = nss(&["e1", "e2"]);
    let n2 = v.pop().unwrap();
    let n1 = v.pop().unwrap();
    let mut bt = n1.batch();
    bt.create_veth(
        LinkSpec::new("eth1").netns(&n1),
        LinkSpec::new("eth1").netns(&n2),
    );
    n1.execute(bt).expect("first veth");

    let mut bt = n1.batch();
    bt.set_up("lo");
    bt.create_veth(
        LinkSpec::new("eth1").netns(&n1),
        LinkSpec::new("eth2").netns(&n2),
    );
    bt.set_up("missing0");
    bt.add_address(1, net("10.0.0.1/8"));
    let err = n1.execute(bt).expect_err("duplicate veth");
    let text = error_chain(&err);
    assert!(
        text.contains("creating veth e1:eth1 <-> e2:eth2: File exists (os error 17)"),
        "{text}"
    );
    assert!(
        text.starts_with("2 of 4 netlink requests failed in netns e1"),
        "{text}"
    );
    assert_eq!(err.errno(), Some(libc::EEXIST));
    let RtnlError::Batch(b) = &err else {
        panic!("batch error expected: {err:?}")
    };
    assert_eq!(b.failures.len(), 2);
    assert_eq!(b.failures[0].index, 1);
    assert_eq!(b.failures[1].index, 2);
    assert_eq!(b.failures[1].description, "setting e1:missing0 up");
    assert_eq!(b.failures[1].errno(), Some(libc::ENODEV));
    // The requests around the failures were applied.
    assert!(n1.link("lo").unwrap().unwrap().admin_up);
    assert!(
        n1.addresses()
            .unwrap()
            .iter()
            .any(|a| a.addr == net("10.0.0.1/8"))
    );

    // A one-shot call returns the request error itself.
    let mut bt = n1.batch();
    bt.delete_link("missing0")
        .describe("deleting e1's missing0");
    let err = n1.execute_one(bt).expect_err("no such link");
    assert_eq!(
        error_chain(&err),
        "deleting e1's missing0: No such device (os error 19)"
    );
}

#[test]
fn big_batch_is_chunked_without_losing_acks() {
    let mut v = nss(&["big"]);
    let _n = v.pop().unwrap();
    let mut bt = _n.batch();
    bt.create_bridge(LinkSpec::new("br0").ifindex(2));
    for i in 0..1000u32 {
        let a = std::net::Ipv4Addr::from(0x0a00_0000 + i * 4 + 1);
        bt.add_address(2, IpNet::new(a.into(), 30).unwrap());
    }
    _n.execute(bt).expect("1001 requests");
    assert_eq!(
        _n.addresses()
            .unwrap()
            .iter()
            .filter(|a| a.ifindex == 2)
            .count(),
        1000
    );
}

#[test]
fn tap_is_created_inside_the_namespace() {
    let mut v = nss(&["tap"]);
    let n = v.pop().unwrap();
    let fd = create_tap(&n, "tap0", &TapOptions::default()).expect("tap");
    assert!(fd.as_raw_fd() >= 0);
    let l = n.link("tap0").unwrap().expect("tap0 in the namespace");
    assert_eq!(l.kind.as_deref(), Some("tun"));
    let mut bt = n.batch();
    bt.set_up("tap0").set_mtu("tap0", 9000);
    n.execute(bt).unwrap();
    assert_eq!(n.link("tap0").unwrap().unwrap().mtu, 9000);
    // A second tap of the same name is refused while the first is open.
    let err = create_tap(&n, "tap0", &TapOptions::default()).expect_err("busy");
    assert!(error_chain(&err).contains("creating tap tap0 in netns tap"));
    assert!(
        !host_links().contains(&"tap0".to_owned()),
        "tap not in host"
    );
    drop(fd);
    assert!(n.link("tap0").unwrap().is_none(), "tap gone with its fd");
    // vnet_hdr taps work too.
    let _fd = create_tap(&n, "tap1", &TapOptions::default().vnet_hdr(true)).expect("vnet tap");
    assert!(n.link("tap1").unwrap().is_some());
}

#[test]
fn vxlan_in_a_namespace() {
    let mut v = nss(&["vx"]);
    let _n = v.pop().unwrap();
    let mut bt = _n.batch();
    bt.create_bridge(LinkSpec::new("under0").ifindex(2).up());
    bt.add_address(2, net("203.0.113.1/24"));
    bt.create_vxlan(VxlanSpec {
        link: LinkSpec::new("vx42").mtu(1450).up(),
        vni: 42,
        remote: Some("203.0.113.2".parse().unwrap()),
        local: Some("203.0.113.1".parse().unwrap()),
        dstport: Some(4789),
        underlay: Some(2),
    });
    _n.execute(bt).expect("vxlan");
    let l = _n.link("vx42").unwrap().unwrap();
    assert_eq!(l.kind.as_deref(), Some("vxlan"));
    assert_eq!(l.mtu, 1450);
}

#[test]
fn link_changes_by_name() {
    let mut v = nss(&["chg", "chg2"]);
    let n2 = v.pop().unwrap();
    let n1 = v.pop().unwrap();
    let mut bt = n1.batch();
    bt.create_veth(
        LinkSpec::new("x0").netns(&n1),
        LinkSpec::new("x0").netns(&n2),
    );
    bt.set_mtu("x0", 1300)
        .set_mac("x0", "02:00:00:00:aa:bb".parse().unwrap())
        .set_alias("x0", "warren:chg")
        .add_altname("x0", "warren-chg-x0-tag")
        .set_up("x0");
    n1.execute(bt).unwrap();
    let l = n1.link("x0").unwrap().unwrap();
    assert_eq!((l.mtu, l.admin_up), (1300, true));
    assert_eq!(l.mac.unwrap().to_string(), "02:00:00:00:aa:bb");
    assert_eq!(l.alias.as_deref(), Some("warren:chg"));
    assert_eq!(l.altnames, ["warren-chg-x0-tag"]);
    // The altname works wherever the name does.
    assert_eq!(n1.link_index("warren-chg-x0-tag").unwrap(), l.index);
    let mut bt = n1.batch();
    bt.set_down("x0");
    n1.execute(bt).unwrap();
    assert!(!n1.link("x0").unwrap().unwrap().admin_up);
    let mut bt = n1.batch();
    bt.delete_link("x0");
    n1.execute(bt).unwrap();
    assert!(n1.link("x0").unwrap().is_none());
}

#[test]
fn dropping_namespace_fds_frees_everything() {
    require_root();
    let host_before = host_links();
    let keep = Netns::create("keep").unwrap();

    {
        // The pair form: each namespace with its own socket beside it.
        let mut v = create_netns_many(["gone1", "gone2"]).unwrap();
        let (g2, _r2) = v.pop().unwrap();
        let (g1, mut r1) = v.pop().unwrap();
        let mut bt = r1.batch();
        bt.create_veth(
            LinkSpec::new("eth1").netns(&g1),
            LinkSpec::new("to-g1").netns(&keep),
        );
        bt.create_veth(
            LinkSpec::new("eth1").netns(&g2),
            LinkSpec::new("to-g2").netns(&keep),
        );
        r1.execute(bt).unwrap();
        let _tap = create_tap(&g2, "tap9", &TapOptions::default()).unwrap();
        assert!(keep.link("to-g1").unwrap().is_some());
        // Everything of g1/g2 (sockets, fds, tap fd) is dropped here.
    }
    // The kernel destroys the namespaces asynchronously; their veths take
    // the peers in `keep` with them.
    let t = Instant::now();
    loop {
        let names: Vec<String> = keep.links().unwrap().into_iter().map(|l| l.name).collect();
        if names == ["lo"] {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "peers still present: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(host_links(), host_before, "host namespace changed");
}

/// Names of the host's interfaces (the test process's namespace).
fn host_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(str::to_owned))
        .collect();
    v.sort();
    v
}

#[test]
fn namespace_reachable_through_proc_fd_path() {
    let mut v = nss(&["path"]);
    let n = v.pop().unwrap();
    let mut bt = n.batch();
    bt.create_bridge(LinkSpec::new("marker0"));
    n.execute(bt).unwrap();
    // Another opener (like `warren exec` in another process) uses the path.
    let again = Netns::open(n.proc_path(), "path-again").unwrap();
    let mut r2 = again.open_rtnl().unwrap();
    assert!(r2.link("marker0").unwrap().is_some());
    // nsenter (a separate process) sees it too.
    let out = Command::new("nsenter")
        .arg(format!("--net={}", n.proc_path().display()))
        .args(["ip", "-o", "link", "show", "marker0"])
        .output()
        .expect("nsenter");
    assert!(out.status.success(), "{out:?}");
    // A child process configured to enter the namespace sees it too.
    let mut cmd = Command::new("ip");
    cmd.args(["-o", "link", "show", "marker0"]);
    n.configure_command(&mut cmd);
    let out = cmd.output().expect("ip in netns");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("marker0"));
}

#[test]
fn vxlan_tunnel_carries_traffic() {
    // u1 and u2 share an underlay veth; a VXLAN (vni 100, port 4789) on
    // each side carries an overlay subnet.
    let v = nss(&["u1", "u2"]);
    let (u1, u2) = (&v[0], &v[1]);
    let mut bt = u1.batch();
    bt.create_veth(
        LinkSpec::new("under").netns(u1).ifindex(2).up(),
        LinkSpec::new("under").netns(u2).ifindex(2),
    );
    u1.execute(bt).unwrap();
    for (ns, local, remote, overlay) in [
        (u1, "198.51.100.1", "198.51.100.2", "10.200.0.1/24"),
        (u2, "198.51.100.2", "198.51.100.1", "10.200.0.2/24"),
    ] {
        let mut bt = ns.batch();
        bt.set_up(2);
        bt.add_address(2, net(&format!("{local}/24")));
        bt.create_vxlan(VxlanSpec {
            link: LinkSpec::new("vx100").ifindex(3).mtu(1450).up(),
            vni: 100,
            remote: Some(remote.parse().unwrap()),
            local: Some(local.parse().unwrap()),
            dstport: Some(4789),
            underlay: Some(2),
        });
        bt.add_address(3, net(overlay));
        ns.execute(bt).expect("vxlan side");
    }
    assert!(udp_reaches(
        u1,
        "10.200.0.1".parse().unwrap(),
        u2,
        "10.200.0.2".parse().unwrap()
    ));
}

/// A network operating system's interface name, with `/` and longer than
/// the kernel's 15 bytes, is taken as an altname and names the link in
/// every request (what lab files and containerlab topologies rely on).
#[test]
fn vendor_interface_names_are_altnames_that_name_the_link() {
    let mut v = nss(&["alt", "alt2"]);
    let n2 = v.pop().unwrap();
    let n1 = v.pop().unwrap();
    let mut bt = n1.batch();
    bt.create_veth(
        LinkSpec::new("GE0-0-1").netns(&n1),
        LinkSpec::new("e1-1").netns(&n2),
    );
    bt.add_altname("GE0-0-1", "GigabitEthernet0/0/1");
    n1.execute(bt).unwrap();
    let mut bt = n1.batch();
    bt.set_mtu("GigabitEthernet0/0/1", 1400)
        .set_up("GigabitEthernet0/0/1");
    n1.execute(bt).unwrap();
    let l = n1.link("GigabitEthernet0/0/1").unwrap().unwrap();
    assert_eq!(l.name, "GE0-0-1");
    assert_eq!(l.altnames, ["GigabitEthernet0/0/1"]);
    assert_eq!((l.mtu, l.admin_up), (1400, true));
}

/// Collects what a fmt subscriber writes, for assertions on logs.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_refused_request_logs_the_kernels_extended_ack() {
    let mut v = nss(&["xack"]);
    let n = v.pop().unwrap();
    // In a fresh namespace lo is down, and the kernel refuses a route
    // through a down device with an extended-ACK message.
    let lo = n.link_index("lo").expect("lo");
    let logs = LogBuf::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let err = tracing::subscriber::with_default(subscriber, || {
        let mut bt = n.batch();
        bt.add_route(&RouteSpec::dev(net("10.77.0.0/16"), lo));
        n.execute_one(bt).expect_err("route via a down device")
    });
    let RtnlError::Request(req) = &err else {
        panic!("request error expected: {err:?}")
    };
    assert_eq!(req.errno(), Some(libc::ENETDOWN));
    let ack = req
        .kernel_message
        .clone()
        .expect("the kernel sent ext-ack text");
    assert!(ack.contains("not up"), "{ack}");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let batch = text
        .lines()
        .find(|l| l.contains("netlink batch"))
        .unwrap_or_else(|| panic!("no batch line in {text}"));
    assert!(
        batch.contains("netns=xack")
            && batch.contains("requests=1")
            && batch.contains("10.77.0.0/16"),
        "{batch}"
    );
    let refused = text
        .lines()
        .find(|l| l.contains("netlink request refused"))
        .unwrap_or_else(|| panic!("no refusal line in {text}"));
    assert!(
        refused.contains(&format!("kernel=\"{ack}\""))
            || refused.contains(&format!("kernel={ack}")),
        "{refused}"
    );
    assert!(refused.contains("errno=100"), "{refused}");
}

#[test]
fn many_namespaces_get_their_sysctls_at_creation_and_hold_no_socket() {
    require_root();
    const DAD_OFF: &[(&str, &str)] = &[
        ("net.ipv6.conf.all.accept_dad", "0"),
        ("net.ipv6.conf.default.accept_dad", "0"),
    ];
    // More than one creating thread's share (250), so every thread writes them.
    let labels: Vec<String> = (0..300).map(|i| format!("dad{i}")).collect();
    let nss = Netns::create_many_with_sysctls(labels.iter().cloned(), DAD_OFF).expect("create");
    assert_eq!(nss.len(), 300);
    for ns in &nss {
        for (key, _) in DAD_OFF {
            assert_eq!(
                read_sysctl(ns, key).unwrap(),
                "0",
                "{key} in {}",
                ns.label()
            );
        }
        assert!(!ns.holds_rtnl(), "{} holds a socket", ns.label());
    }
    // The kernel's default for new interfaces, which the sysctls changed.
    let plain = Netns::create("dad-plain").expect("create");
    assert_eq!(
        read_sysctl(&plain, "net.ipv6.conf.default.accept_dad").unwrap(),
        "1"
    );

    // Without a held socket a request opens one for itself and closes it.
    let links = nss[0].links().expect("links without a held socket");
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(!nss[0].holds_rtnl());

    // Held sockets serve requests until released.
    let refs: Vec<&Netns> = nss.iter().take(40).collect();
    Netns::hold_rtnl_many(&refs).expect("hold");
    assert!(refs.iter().all(|ns| ns.holds_rtnl()));
    assert!(!nss[40].holds_rtnl());
    let mut batch = refs[39].batch();
    batch.set_up("lo");
    refs[39].execute(batch).expect("lo up on the held socket");
    let lo = refs[39].link("lo").unwrap().expect("lo");
    assert!(lo.admin_up, "{lo:?}");
    for ns in &refs {
        ns.release_rtnl();
    }
    assert!(nss.iter().all(|ns| !ns.holds_rtnl()));

    // A key outside `net.` is refused before anything is created.
    let err = Netns::create_many_with_sysctls(["dad-bad"], &[("kernel.hostname", "x")])
        .expect_err("a host-wide key");
    assert!(
        error_chain(&err).contains("invalid sysctl key \"kernel.hostname\""),
        "{}",
        error_chain(&err)
    );
}
