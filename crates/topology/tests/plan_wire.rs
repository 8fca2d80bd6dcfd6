//! Impaired links are planned as user-space wires (two taps), others as
//! veth pairs.

use warren_topology::plan::{Step, plan};

const LAB: &str = "
nodes: {a: {}, b: {}, c: {}}
links:
  - endpoints: [a:eth1, b:eth1]
  - endpoints: [a:eth2, c:eth2]
    impair: {delay: 10ms}
  - endpoints: [b:eth3, c:eth3]
interfaces:
  b:eth3: {mac: \"02:00:00:00:00:03\", impair: {loss: 1%}}
";

#[test]
fn impaired_links_become_wires() {
    let lab = warren_topology::load(LAB, "w").lab.expect("valid lab");
    let p = plan(&lab);
    let mut veths = Vec::new();
    let mut wires = Vec::new();
    for s in &p.steps {
        match s {
            Step::CreateVeth { what, .. } => veths.push(what.clone()),
            Step::CreateWire { a, b, link, what } => {
                wires.push((link.clone(), what.clone()));
                if a.ifname == "eth3" {
                    assert!(a.mac.is_some(), "the planned MAC goes to the tap");
                }
                assert_ne!(a.ns, b.ns);
            }
            _ => {}
        }
    }
    assert_eq!(veths, ["a:eth1 <-> b:eth1"]);
    assert_eq!(
        wires.iter().map(|w| w.1.as_str()).collect::<Vec<_>>(),
        ["a:eth2 <-> c:eth2", "b:eth3 <-> c:eth3"]
    );
    assert!(
        p.to_string().contains("create wire a:eth2 <-> c:eth2"),
        "{p}"
    );
}

const MEMBERS: &str = "
nodes: {a: {}, b: {}, c: {}}
networks:
  lan:
    members: [a:eth0, b:eth0]
    ipv4: 10.0.0.0/24
  slow:
    members: [c:eth0, a:eth1]
    impair: {delay: 5ms}
interfaces:
  b:eth0: {impair: {delay: 40ms}}
";

#[test]
fn impaired_network_members_join_their_bridge_through_a_wire() {
    let lab = warren_topology::load(MEMBERS, "m").lab.expect("valid lab");
    let p = plan(&lab);
    let mut veths = Vec::new();
    let mut wires = Vec::new();
    for s in &p.steps {
        match s {
            Step::CreateVeth { what, .. } => veths.push(what.clone()),
            Step::CreateWire { a, b, link, .. } => {
                assert_eq!(
                    b.ns,
                    warren_topology::plan::Ns::Hub,
                    "the bridge's port is second"
                );
                wires.push(format!("{}:{} {link}", a.ns, a.ifname));
            }
            _ => {}
        }
    }
    assert_eq!(veths, ["a:eth0 <-> network lan"]);
    assert_eq!(
        wires,
        [
            "b:eth0 b.eth0-lan",
            "c:eth0 c.eth0-slow",
            "a:eth1 a.eth1-slow"
        ]
    );
    let text = p.to_string();
    assert!(text.contains("create wire b:eth0 <-> hub:n0m1"), "{text}");
    assert!(text.contains("attach hub:n0m1 to bridge lan"), "{text}");
}

#[test]
fn nat_and_ethtool_run_after_routes_and_before_commands() {
    let lab = warren_topology::load(
        "
nodes:
  gw: {exec: [echo up]}
  vm1: {kind: vm, kernel: vmlinuz}
links:
  - endpoints: [gw:eth0, vm1:eth0]
    ipv4: [10.0.0.1/24, 10.0.0.2/24]
interfaces:
  gw:eth0:
    nat: 10.0.1.9
    ethtool: ['--offload rx off', '-K tx off sg off']
    routes: [10.9.0.0/16 via 10.0.0.2]
",
        "n",
    )
    .lab
    .expect("valid lab");
    let p = plan(&lab);
    let shown: Vec<String> = p.steps.iter().map(ToString::to_string).collect();
    let at = |needle: &str| {
        shown
            .iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("{needle} missing in {shown:#?}"))
    };
    let tools = [
        "in netns gw: ethtool --offload eth0 rx off",
        "in netns gw: ethtool -K eth0 tx off sg off",
        "in netns gw: iptables -t nat -A PREROUTING -i eth0 -j DNAT --to-destination 10.0.1.9",
        "in netns gw: iptables -t nat -A POSTROUTING -o eth0 -j SNAT --to-source 10.0.0.1",
    ];
    let order: Vec<usize> = tools.iter().map(|t| at(t)).collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in order: {shown:#?}"
    );
    assert!(at("route gw:") < order[0], "after routes");
    assert!(order[3] < at("exec gw:"), "before commands");
}

#[test]
fn nat_needs_an_ipv4_address_and_a_host_namespace() {
    let bad = warren_topology::load(
        "
nodes: {a: {}, b: {}, v: {kind: vm, kernel: vmlinuz}}
links:
  - [a:eth0, b:eth0]
  - endpoints: [a:eth1, v:eth0]
    ipv6: ['2001:db8::1/64', '2001:db8::2/64']
interfaces:
  a:eth0: {nat: 10.0.0.9}
  a:eth1: {nat: 10.0.0.8, ethtool: ['rx off']}
  v:eth0: {ethtool: ['-K rx off']}
",
        "n",
    );
    assert!(bad.lab.is_none());
    let messages: Vec<String> = bad
        .diagnostics
        .0
        .iter()
        .map(|d| d.message.clone())
        .collect();
    let all = messages.join("\n");
    assert!(
        all.contains("`nat` on a:eth0 needs an IPv4 address"),
        "{all}"
    );
    assert!(
        all.contains("`nat` on a:eth1 needs an IPv4 address"),
        "{all}"
    );
    assert!(all.contains("invalid ethtool entry `rx off`"), "{all}");
    assert!(
        all.contains("v:eth0: `nat` and `ethtool` apply to netns"),
        "{all}"
    );
}
