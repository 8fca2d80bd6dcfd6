use super::*;

fn input(compose: &str, nets: &[&str]) -> Input {
    Input {
        name: "t".into(),
        compose: Some(Source {
            name: "compose.yaml".into(),
            text: compose.into(),
        }),
        network_files: nets
            .iter()
            .enumerate()
            .map(|(i, t)| Source {
                name: format!("net{i}.yaml"),
                text: (*t).into(),
            })
            .collect(),
        env: [("NET".to_string(), "10.9".to_string())].into(),
        env_files: [("app.env".to_string(), "MODE=test\n".to_string())].into(),
    }
}

const COMPOSE: &str = "
services:
  r:
    image: busybox
    container_name: the-router
    command: [sleep, '3600']
    cap_add: [NET_ADMIN]
    x-network:
      links:
        - {bridge: s1, dev: e1, ip: '${NET}.1.1/24'}
  h:
    image: busybox
    scale: 2
    env_file: app.env
    environment: [A=1]
    x-network:
      links:
        - {bridge: s1, ip: '${NET}.1.10/24', mac: '02:00:00:00:00:0a', route: 'default via ${NET}.1.1', mtu: 1400}
      commands:
        - {command: 'echo hi'}
";

#[test]
fn compose_becomes_a_lab() {
    let c = convert(&input(COMPOSE, &[]));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert!(
        !c.notes.iter().any(|n| n.contains("cap_add")),
        "cap_add is used: {:?}",
        c.notes
    );
    let text = c.lab_text.expect("lab");
    let loaded = crate::load(&text, "t");
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{:?}\n{text}", loaded.diagnostics));
    let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.value.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let r = lab
        .node("r_1")
        .and_then(|n| n.container.clone())
        .expect("r_1");
    assert_eq!(
        r.capabilities,
        ["NET_ADMIN"],
        "cap_add becomes capabilities"
    );
    assert!(!r.privileged);
    let h2 = lab.node("h_2").expect("h_2");
    let eth0 = h2.interface("eth0").expect("eth0");
    let addrs: Vec<String> = eth0.addresses().map(|a| a.value.to_string()).collect();
    assert_eq!(addrs, ["10.9.1.11/24"]);
    assert!(text.contains("02:00:00:00:00:0b"));
    assert!(text.contains("\"MODE\": \"test\""));
    assert!(text.contains("echo hi"));
}

#[test]
fn network_files_merge_with_compose() {
    let net = "
links:
  - {container: the-router, bridge: s2, dev: e2, ip: 10.2.0.1/24}
  - {container: t-h-2, bridge: s2, dev: e2, ip: 10.2.0.2/24}
bridges:
  - {bridge: s2, mode: linux}
tunnels:
  - {type: vxlan, bridge: s2, remote: 192.0.2.2, vni: 7}
commands:
  - {service: r, command: [ip, addr]}
";
    let c = convert(&input(COMPOSE, &[net]));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let text = c.lab_text.expect("lab");
    let lab = crate::load(&text, "t").lab.expect("valid");
    assert!(lab.node("h_2").and_then(|n| n.interface("e2")).is_some());
    assert!(lab.node("h_1").and_then(|n| n.interface("e2")).is_none());
    assert!(lab.node("r_1").and_then(|n| n.interface("e2")).is_some());
    assert_eq!(lab.tunnels.len(), 1);
}

#[test]
fn unsupported_things_are_named() {
    let net = "
links:
  - {service: r, type: dummy, dev: d0}
  - {service: r, bridge: s1, netem: 'delay 10ms 1ms 25%'}
  - {service: r, bridge: s1, dev: e7, forward: ['80:80']}
  - {service: r, bridge: s1, dev: e8, nat: 10.0.0.9}
bridges:
  - {bridge: s1, mode: ovs}
";
    let c = convert(&input(COMPOSE, &[net]));
    let all = c.errors.join("\n");
    assert!(all.contains("dummy"), "{all}");
    assert!(all.contains("net0.yaml:3:5: links[0]"), "{all}");
    assert!(
        all.contains("netem `delay 10ms 1ms 25%`: delay correlation"),
        "{all}"
    );
    assert!(all.contains("Open vSwitch"), "{all}");
    assert!(all.contains("`nat` needs an IPv4 `ip`"), "{all}");
    assert!(all.contains("`forward` needs `ip`"), "{all}");
    let c = convert(&input("services:\n  x: {build: .}\n", &[]));
    assert!(c.errors[0].contains("build"), "{:?}", c.errors);
}

#[test]
fn detects_compose() {
    assert!(is_compose("services: {}\n"));
    assert!(!is_compose("nodes: {}\n"));
}

#[test]
fn macvlan_links_become_host_children() {
    let net = "
links:
  - {service: h, type: macvtap, outer-dev: eth9, mode: bridge, dev: mv0, ip: 10.3.0.1/24}
  - {service: r, type: macvlan, dev: mv1}
  - {service: r, bridge: s1, dev: e9, mode: bridge}
";
    let c = convert(&input(COMPOSE, &[net]));
    let all = c.errors.join("\n");
    assert!(all.contains("needs `outer-dev`"), "{all}");
    assert!(all.contains("`mode` applies to macvlan"), "{all}");
    assert_eq!(c.errors.len(), 2, "{all}");
    let net = "links:\n  - {service: h, type: macvtap, outer-dev: eth9, mode: bridge, dev: mv0, ip: 10.3.0.1/24}\n";
    let c = convert(&input(COMPOSE, &[net]));
    let text = c.lab_text.expect("lab");
    let lab = crate::load(&text, "t").lab.expect("valid");
    let mv = lab
        .node("h_2")
        .and_then(|n| n.interface("mv0"))
        .expect("mv0");
    assert_eq!(
        mv.attach,
        crate::model::Attachment::Macvlan(crate::model::Macvlan {
            parent: "eth9".into(),
            mode: Some("bridge".into()),
            tap: true,
        })
    );
    assert_eq!(mv.ipv4[0].value.to_string(), "10.3.0.2/24");
}

#[test]
fn netem_nat_and_ethtool_become_interface_keys() {
    let net = "
links:
  - {service: h, bridge: s2, dev: e2, ip: 10.4.0.10/24, netem: [delay 40ms 5ms, loss 1%],
     nat: 10.4.1.9, ethtool: ['--offload rx off', '-K tx off']}
";
    let c = convert(&input(COMPOSE, &[net]));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let text = c.lab_text.expect("lab");
    let lab = crate::load(&text, "t").lab.expect("valid");
    for (node, addr) in [("h_1", "10.4.0.10"), ("h_2", "10.4.0.11")] {
        let i = lab.node(node).and_then(|n| n.interface("e2")).expect("e2");
        let imp = i.impair.as_ref().expect("impair");
        assert_eq!(imp.delay.map(|d| d.0), Some(40_000_000));
        assert_eq!(imp.jitter.map(|d| d.0), Some(5_000_000));
        assert_eq!(imp.loss.map(|p| p.0), Some(1.0));
        assert_eq!(
            i.nat.map(|n| n.value.to_string()).as_deref(),
            Some("10.4.1.9")
        );
        assert_eq!(i.ipv4[0].value.addr.to_string(), addr);
        let eth: Vec<(&str, &[String])> = i
            .ethtool
            .iter()
            .map(|e| (e.option.as_str(), e.args.as_slice()))
            .collect();
        assert_eq!(
            eth,
            [
                ("--offload", &["rx".to_string(), "off".to_string()][..]),
                ("-K", &["tx".to_string(), "off".to_string()][..])
            ]
        );
    }
    let mv =
        "links:\n  - {service: r, type: macvlan, outer-dev: eth9, dev: m0, netem: delay 1ms}\n";
    let c = convert(&input(COMPOSE, &[mv]));
    assert!(
        c.errors.join("\n").contains("veth links only"),
        "{:?}",
        c.errors
    );
    let tunnel =
        "tunnels:\n  - {type: vxlan, bridge: s1, remote: 192.0.2.1, vni: 5, netem: delay 1ms}\n";
    let c = convert(&input(COMPOSE, &[tunnel]));
    assert!(
        c.errors.join("\n").contains("CONFIG_NET_SCH_NETEM"),
        "{:?}",
        c.errors
    );
}

#[test]
fn privileged_and_cap_drop_carry_over() {
    let compose = "
services:
  fw:
    image: busybox
    privileged: true
    cap_drop: [NET_RAW, MKNOD]
";
    let c = convert(&input(compose, &[]));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    let text = c.lab_text.expect("lab");
    let lab = crate::load(&text, "t").lab.expect("valid");
    let fw = lab.nodes[0].container.clone().expect("a container node");
    assert!(fw.privileged);
    assert_eq!(fw.cap_drop, ["NET_RAW", "MKNOD"]);
}
