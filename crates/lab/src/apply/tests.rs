//! apply against the in-memory kernel (`FakeNetOps`): what each plan
//! leaves in the namespaces, in what order the requests went, and what a
//! refused request leaves.

use super::*;
use warren_kernel::{AddrInfo, FakeNetOps, LinkInfo, error_chain};

fn plan_of(text: &str) -> Plan {
    let loaded = warren_topology::load(text, "t");
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    crate::steps::plan(&lab).network
}

/// Runs create and configure against `fake`; returns the result and the
/// journal's events in order.
fn apply(plan: &Plan, fake: &Arc<FakeNetOps>) -> (Result<Built, ApplyError>, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut journal = Journal::open(dir.path()).expect("journal");
    let built = create(plan, fake.clone(), &mut journal).and_then(|c| configure(c, &mut journal));
    let text = std::fs::read_to_string(journal.path()).expect("journal text");
    let events = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            format!(
                "{} {}",
                v["event"].as_str().unwrap_or(""),
                v["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    (built, events)
}

fn netns<'b>(built: &'b Built, name: &str) -> &'b Netns {
    built
        .namespaces
        .iter()
        .find(|(ns, _)| ns.to_string() == name)
        .map(|(_, n)| n)
        .unwrap_or_else(|| panic!("no namespace {name}"))
}

fn link(fake: &FakeNetOps, built: &Built, ns: &str, name: &str) -> LinkInfo {
    fake.links(netns(built, ns))
        .expect("links")
        .into_iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no link {ns}:{name}"))
}

fn addrs(fake: &FakeNetOps, built: &Built, ns: &str) -> Vec<String> {
    fake.addresses(netns(built, ns))
        .expect("addresses")
        .iter()
        .map(|a: &AddrInfo| format!("{}:{}", a.ifindex, a.addr))
        .collect()
}

/// Where the first call matching `f` is in the fake's log.
fn first(fake: &FakeNetOps, f: impl Fn(&str, &str) -> bool) -> usize {
    fake.calls()
        .iter()
        .position(|c| f(&c.netns, &c.description))
        .expect("a matching call")
}

const ROUTED: &str = "name: t
nodes:
  r1: {sysctls: {net.ipv4.ip_forward: 1}}
  r2: {}
  h: {}
links:
  - endpoints: [r1:eth1, r2:eth1]
    ipv4: [10.0.12.1/30, 10.0.12.2/30]
    mtu: 9000
networks:
  lan:
    members: [r2:lan, h:eth0]
    ipv4: 192.168.50.0/24
    mtu: 1400
interfaces:
  h:eth0: {routes: [10.0.12.0/30 via 192.168.50.1]}
";

#[test]
fn a_routed_lab_gets_its_links_bridge_addresses_routes_mtus_and_sysctls() {
    let plan = plan_of(ROUTED);
    let fake = Arc::new(FakeNetOps::new());
    let (built, journal) = apply(&plan, &fake);
    let built = built.expect("the lab applies");

    // The veth: both ends in their nodes, at the planned index (never
    // the peer's: see `Indexes::alloc_pair`), MTU 9000, up.
    for (ns, index) in [("r1", 2), ("r2", 3)] {
        let eth1 = link(&fake, &built, ns, "eth1");
        assert_eq!(
            (eth1.index, eth1.kind.as_deref(), eth1.mtu, eth1.admin_up),
            (index, Some("veth"), 9000, true),
            "{ns}:eth1"
        );
        assert!(link(&fake, &built, ns, "lo").admin_up, "{ns}:lo is up");
    }
    assert_eq!(addrs(&fake, &built, "r1"), ["2:10.0.12.1/30"]);
    assert_eq!(
        addrs(&fake, &built, "r2"),
        ["3:10.0.12.2/30", "4:192.168.50.1/24"]
    );
    // The network: a bridge in the hub with the network's MTU, both
    // members' hub ends enslaved to it and up.
    let bridge = link(&fake, &built, "hub", "lan");
    assert_eq!(
        (bridge.kind.as_deref(), bridge.mtu, bridge.admin_up),
        (Some("bridge"), 1400, true)
    );
    let ports: Vec<LinkInfo> = fake
        .links(netns(&built, "hub"))
        .expect("hub links")
        .into_iter()
        .filter(|l| l.kind.as_deref() == Some("veth"))
        .collect();
    assert_eq!(ports.len(), 2, "{ports:?}");
    for p in &ports {
        assert_eq!(
            (p.master, p.mtu, p.admin_up),
            (Some(bridge.index), 1400, true),
            "{p:?}"
        );
    }
    assert_eq!(link(&fake, &built, "h", "eth0").mtu, 1400);
    // The route, out of the interface by its planned index.
    let routes = fake.routes(netns(&built, "h")).expect("routes");
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].dst.to_string(), "10.0.12.0/30");
    assert_eq!(routes[0].gateway, Some("192.168.50.1".parse().expect("ip")));
    assert_eq!(routes[0].oif, Some(2));
    // Sysctls: DAD off everywhere, the node's own only in it.
    for ns in ["hub", "r1", "r2", "h"] {
        let n = netns(&built, ns);
        assert_eq!(
            fake.sysctl(n, "net.ipv6.conf.all.accept_dad").as_deref(),
            Some("0")
        );
    }
    assert_eq!(
        fake.sysctl(netns(&built, "r1"), "net.ipv4.ip_forward")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        fake.sysctl(netns(&built, "r2"), "net.ipv4.ip_forward"),
        None
    );

    // Order: namespaces, DAD off before any link, every link in one batch
    // on the first namespace, the node's sysctls before any address.
    let calls = fake.calls();
    let dad = first(&fake, |_, d| d.contains("accept_dad"));
    // ... set as each namespace was created, by the thread inside it.
    assert!(
        calls
            .iter()
            .filter(|c| c.description.contains("accept_dad"))
            .all(|c| c.description.ends_with("at creation")),
        "{calls:#?}"
    );
    let veth = first(&fake, |_, d| d.starts_with("creating veth"));
    let forward = first(&fake, |_, d| d.contains("ip_forward"));
    let address = first(&fake, |_, d| d.starts_with("adding address"));
    assert!(
        calls[..dad]
            .iter()
            .all(|c| c.description.starts_with("creating netns"))
    );
    assert!(
        dad < veth && veth < forward && forward < address,
        "{calls:#?}"
    );
    let creations: Vec<&str> = calls
        .iter()
        .filter(|c| c.description.starts_with("creating ") && !c.description.contains("netns"))
        .map(|c| c.netns.as_str())
        .collect();
    assert_eq!(creations, ["hub"; 4], "{calls:#?}");
    assert!(calls.iter().all(|c| c.errno.is_none()));
    assert_eq!(
        journal,
        [
            "namespaces 4 created",
            "links created",
            "sysctls set",
            "configured hub",
            "configured r1",
            "configured r2",
            "configured h"
        ]
    );
}

const OUTSIDE: &str = "name: t
nodes:
  h: {}
  g: {}
networks:
  lan:
    members: [g:eth0]
    ipv4: 192.168.60.0/24
interfaces:
  h:mv0: {macvlan: {parent: eth0, mode: bridge}, ipv4: [192.168.70.5/24], mtu: 1300}
tunnels:
  - {network: lan, remote: 198.51.100.20, vni: 5001}
";

#[test]
fn macvlans_and_tunnels_are_asked_for_from_the_host_into_the_lab() {
    let plan = plan_of(OUTSIDE);
    let fake = Arc::new(FakeNetOps::new());
    // The host's interface the macvlan hangs off.
    let host = fake.open_netns(None).expect("host");
    let mut b = host.batch();
    b.create_bridge(LinkSpec::new("eth0"));
    fake.execute(&host, b).expect("a host interface");

    let (built, _) = apply(&plan, &fake);
    let built = built.expect("the lab applies");
    let mv = link(&fake, &built, "h", "mv0");
    assert_eq!(
        (mv.kind.as_deref(), mv.index, mv.mtu, mv.admin_up),
        (Some("macvlan"), 2, 1300, true)
    );
    assert_eq!(addrs(&fake, &built, "h"), ["2:192.168.70.5/24"]);
    let calls = fake.calls();
    let asked = calls
        .iter()
        .find(|c| c.description.starts_with("creating macvlan"))
        .expect("the macvlan request");
    assert_eq!(asked.netns, "host", "{calls:#?}");
    assert_eq!(
        asked.description,
        "creating macvlan h:mv0 on host interface eth0"
    );
    // The tunnel: asked for from the host, made in the hub, on the bridge.
    let vx = calls
        .iter()
        .find(|c| c.description.starts_with("creating tunnel"))
        .expect("the tunnel request");
    assert_eq!(vx.netns, "host");
    let bridge = link(&fake, &built, "hub", "lan");
    let tunnel = fake
        .links(netns(&built, "hub"))
        .expect("hub links")
        .into_iter()
        .find(|l| l.kind.as_deref() == Some("vxlan"))
        .expect("a vxlan in the hub");
    assert_eq!((tunnel.master, tunnel.admin_up), (Some(bridge.index), true));
    // Nothing of the lab stays in the host.
    let left: Vec<String> = fake
        .links(&host)
        .expect("host links")
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left, ["lo", "eth0"]);
}

#[test]
fn a_missing_macvlan_parent_stops_before_the_links_are_journaled() {
    let plan = plan_of(OUTSIDE);
    let fake = Arc::new(FakeNetOps::new());
    let (built, journal) = apply(&plan, &fake);
    let err = built.expect_err("no eth0 on the host");
    let text = error_chain(&err);
    assert!(
        text.contains("creating macvlan h:mv0 on host interface eth0: finding the parent eth0")
            && text.contains("no link named eth0 in netns host"),
        "{text}"
    );
    assert_eq!(journal, ["namespaces 3 created"]);
    // Nothing was configured.
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.description.starts_with("adding address"))
    );
}

#[test]
fn a_refused_link_fails_the_batch_after_the_rest_of_it_ran() {
    let plan = plan_of(ROUTED);
    let fake = Arc::new(FakeNetOps::new());
    fake.fail("creating veth r2:lan <-> network lan", libc::EEXIST);
    let (built, journal) = apply(&plan, &fake);
    let err = built.expect_err("a refused veth");
    let text = error_chain(&err);
    assert!(text.starts_with("creating links: "), "{text}");
    assert!(
        text.contains("creating veth r2:lan <-> network lan: File exists"),
        "{text}"
    );
    let calls = fake.calls();
    let refused: Vec<&str> = calls
        .iter()
        .filter(|c| c.errno.is_some())
        .map(|c| c.description.as_str())
        .collect();
    assert_eq!(refused, ["creating veth r2:lan <-> network lan"]);
    // The kernel runs every request of a batch: the one after it was made.
    let after = first(&fake, |_, d| d == "creating veth h:eth0 <-> network lan");
    assert!(calls[after].errno.is_none());
    // Nothing after the batch ran, and the journal stops before the links.
    assert_eq!(calls.len(), after + 1, "{calls:#?}");
    assert_eq!(journal, ["namespaces 4 created"]);
}

#[test]
fn a_refused_address_stops_at_its_namespace() {
    let plan = plan_of(ROUTED);
    let fake = Arc::new(FakeNetOps::new());
    fake.fail(
        "adding address 10.0.12.2/30 to r2:ifindex 3",
        libc::EADDRNOTAVAIL,
    );
    let (built, journal) = apply(&plan, &fake);
    let err = built.expect_err("a refused address");
    let text = error_chain(&err);
    assert!(text.starts_with("configuring r2: "), "{text}");
    // r2's batch ran whole (its other address, its up states); h's never ran.
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.description == "adding address 192.168.50.1/24 to r2:ifindex 4")
    );
    assert!(
        calls
            .iter()
            .any(|c| c.description == "setting r2:ifindex 3 up")
    );
    // (Its socket was held with r2's: holding one is no request.)
    assert!(!calls.iter().any(|c| c.netns == "h"
        && !c.description.contains("sysctl")
        && !c.description.contains("netns")
        && !c.description.contains("socket")));
    assert_eq!(
        journal[journal.len() - 2..],
        ["configured hub", "configured r1"]
    );
}

#[test]
fn a_node_goes_down_and_comes_back_as_planned() {
    let plan = plan_of(ROUTED);
    let fake = Arc::new(FakeNetOps::new());
    let (built, _) = apply(&plan, &fake);
    let mut built = built.expect("the lab applies");
    assert!(
        wait_oper_up(&plan, &mut built, std::time::Duration::ZERO)
            .expect("wait")
            .is_empty()
    );

    node_down(&plan, &mut built, "r2", Some("eth1")).expect("down");
    assert!(!link(&fake, &built, "r2", "eth1").admin_up);
    assert!(
        link(&fake, &built, "r2", "lan").admin_up,
        "only eth1 went down"
    );
    let pending = wait_node_up(&plan, &mut built, "r2", None, std::time::Duration::ZERO);
    assert_eq!(pending.expect("wait"), ["r2:eth1"]);

    node_up(&plan, &mut built, "r2", None).expect("up");
    assert!(link(&fake, &built, "r2", "eth1").admin_up);
    // Addresses are replaced, not added twice.
    assert_eq!(
        addrs(&fake, &built, "r2"),
        ["3:10.0.12.2/30", "4:192.168.50.1/24"]
    );
    assert!(
        wait_node_up(&plan, &mut built, "r2", None, std::time::Duration::ZERO)
            .expect("wait")
            .is_empty()
    );
}

#[test]
fn a_veth_end_the_plan_raises_is_created_up_and_its_peer_down() {
    let plan = plan_of(
        "name: t
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:e1, b:e1]
  - endpoints: [a:e2, b:e2]
interfaces:
  a:e2: {up: false}
",
    );
    let fake = Arc::new(FakeNetOps::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut journal = Journal::open(dir.path()).expect("journal");
    let created = create(&plan, fake.clone(), &mut journal).expect("create");
    let up = |ns: &str, name: &str| {
        let (_, netns) = created
            .namespaces()
            .into_iter()
            .find(|(n, _)| n.to_string() == ns)
            .expect("namespace");
        fake.links(netns)
            .expect("links")
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.admin_up)
            .expect("link")
    };
    // Before captures start and anything is configured: only the first
    // end of a link that comes up is up, so no frame can pass yet.
    assert!(up("a", "e1"));
    assert!(!up("b", "e1"));
    assert!(!up("a", "e2"), "an end the lab keeps down");
    assert!(!up("b", "e2"));
    let built = configure(created, &mut journal).expect("configure");
    assert!(link(&fake, &built, "b", "e1").admin_up);
    assert!(!link(&fake, &built, "a", "e2").admin_up);
    assert!(link(&fake, &built, "b", "e2").admin_up);
}

#[test]
fn a_long_chain_is_configured_with_a_bounded_number_of_sockets_held() {
    // More namespaces than SOCKETS_AT_ONCE, so configure and the carrier
    // wait each take several runs.
    let n = SOCKETS_AT_ONCE + 44;
    let mut text = String::from("name: t\nnodes:\n");
    for i in 0..n {
        text.push_str(&format!("  n{i}: {{}}\n"));
    }
    text.push_str("links:\n");
    for i in 1..n {
        text.push_str(&format!(
            "  - endpoints: [n{}:e{i}, n{i}:w{i}]\n    ipv4: [10.{}.{}.1/30, 10.{}.{}.2/30]\n",
            i - 1,
            i >> 6,
            (i & 63) << 2,
            i >> 6,
            (i & 63) << 2
        ));
    }
    let plan = plan_of(&text);
    let fake = Arc::new(FakeNetOps::new());
    let (built, _) = apply(&plan, &fake);
    let mut built = built.expect("the chain applies");
    assert_eq!(built.namespaces.len(), n);
    assert_eq!(fake.held_sockets(), 0, "configure left sockets open");
    assert!(
        wait_oper_up(&plan, &mut built, std::time::Duration::ZERO)
            .expect("wait")
            .is_empty()
    );
    assert_eq!(fake.held_sockets(), 0, "the carrier wait left sockets open");
    assert_eq!(fake.peak_held_sockets(), SOCKETS_AT_ONCE);

    // Every namespace's addresses went over its held socket.
    let mut held = std::collections::HashSet::new();
    let mut addresses = 0;
    for c in fake.calls() {
        match c.description.as_str() {
            "holding a socket" => assert!(held.insert(c.netns.clone()), "{c:?}"),
            "releasing the socket" => assert!(held.remove(&c.netns), "{c:?}"),
            d if d.starts_with("adding address") => {
                assert!(held.contains(&c.netns), "{c:?} without a held socket");
                addresses += 1;
            }
            _ => {}
        }
    }
    assert_eq!(addresses, 2 * (n - 1));
}

const TAPS: &str = "name: t
nodes:
  r1: {}
  r2: {}
  v: {kind: vm, kernel: vmlinuz, memory: 256M}
links:
  - endpoints: [r1:eth1, v:eth0]
    ipv4: [10.0.1.1/24, ~]
networks:
  lan:
    members: [r1:lan, r2:lan]
    ipv4: 192.168.60.0/24
    mtu: 1400
    impair: {duplicate: 1%}
";

#[test]
fn vm_nics_and_wired_members_are_taps_named_by_their_kernel_index() {
    let plan = plan_of(TAPS);
    let fake = Arc::new(FakeNetOps::new());
    let (built, _) = apply(&plan, &fake);
    let built = built.expect("the lab applies");
    // The vm's NIC: a tap in its peer's namespace, handed over for QEMU.
    let tap = link(&fake, &built, "r1", "eth1");
    assert_eq!((tap.kind.as_deref(), tap.admin_up), (Some("tun"), true));
    assert_eq!(
        addrs(&fake, &built, "r1").first().map(String::as_str),
        Some(format!("{}:10.0.1.1/24", tap.index).as_str()),
        "the address names the tap by the index the kernel gave it"
    );
    let nics: Vec<(&str, usize, bool)> = built
        .nics
        .iter()
        .map(|n| (n.vm.as_str(), n.nic, n.socket))
        .collect();
    assert_eq!(nics, [("v", 0, false)]);
    // Each wired member: a tap in the node and one in the hub, both with
    // the network's MTU, the hub's on the bridge, held for the wire.
    assert_eq!(built.wires.len(), 2);
    let bridge = link(&fake, &built, "hub", "lan");
    for ns in ["r1", "r2"] {
        let member = link(&fake, &built, ns, "lan");
        assert_eq!(
            (member.kind.as_deref(), member.mtu, member.admin_up),
            (Some("tun"), 1400, true),
            "{ns}:lan"
        );
    }
    let hub_taps: Vec<LinkInfo> = fake
        .links(netns(&built, "hub"))
        .expect("hub links")
        .into_iter()
        .filter(|l| l.kind.as_deref() == Some("tun"))
        .collect();
    assert_eq!(hub_taps.len(), 2, "{hub_taps:?}");
    for t in &hub_taps {
        assert_eq!((t.master, t.mtu), (Some(bridge.index), 1400), "{t:?}");
    }
}
