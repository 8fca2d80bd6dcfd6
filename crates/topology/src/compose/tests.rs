use super::*;

fn input(compose: &str, nets: &[&str]) -> Input {
    Input {
        name: "t".into(),
        compose: vec![Source {
            name: "compose.yaml".into(),
            text: compose.into(),
        }],
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
        dir: "/project".into(),
        volumes_dir: "/run/warren-volumes/t".into(),
        scale: BTreeMap::new(),
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
    let text = c.lab_text.expect("lab");
    let loaded = crate::load(&text, "t");
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{:?}\n{text}", loaded.diagnostics));
    let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.value.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let h2 = lab.node("h_2").expect("h_2");
    let eth0 = h2.interface("eth0").expect("eth0");
    let addrs: Vec<String> = eth0.addresses().map(|a| a.value.to_string()).collect();
    assert_eq!(addrs, ["10.9.1.11/24"]);
    assert!(text.contains("02:00:00:00:00:0b"));
    assert!(text.contains("\"MODE\": \"test\""));
    assert!(text.contains("echo hi"));
    let r = lab
        .node("r_1")
        .and_then(|n| n.container.as_ref())
        .expect("container");
    assert_eq!(r.capabilities, ["NET_ADMIN"]);
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
    assert!(all.contains("net0.yaml:3:24: links[0]"), "{all}");
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

fn lab_of(c: Converted) -> (crate::Lab, String) {
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let text = c.lab_text.expect("lab");
    let loaded = crate::load(&text, "t");
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{:?}\n{text}", loaded.diagnostics));
    (lab, text)
}

#[test]
fn the_conlink_service_is_not_run_and_its_options_hold() {
    let compose = "
services:
  network:
    build: {context: ../}
    volumes: ['./:/test']
    command: /app/build/conlink.js --default-mtu 5111 --compose-file /test/compose.yaml
  node:
    image: alpine
    scale: 2
    x-network:
      links:
        - {bridge: s1, ip: 10.0.1.1/16}
        - {bridge: s2, dev: eth1, mtu: 1400}
";
    let c = convert(&input(compose, &[]));
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("service network runs conlink")),
        "{:?}",
        c.notes
    );
    let (lab, _) = lab_of(c);
    assert!(lab.node("network_1").is_none());
    let n = lab.node("node_2").expect("node_2");
    assert_eq!(n.interface("eth0").and_then(|i| i.mtu), Some(5111));
    assert_eq!(n.interface("eth1").and_then(|i| i.mtu), Some(1400));
    let bad = compose.replace(
        "--default-mtu 5111",
        "--default-bridge-mode ovs --network-file /elsewhere/n.yaml",
    );
    let c = convert(&input(&bad, &[]));
    let all = c.errors.join("\n");
    assert!(
        all.contains(
            "compose.yaml:6:14: service network: --network-file /elsewhere/n.yaml: no volume"
        ),
        "{all}"
    );
    assert!(
        all.contains("--default-bridge-mode: mode ovs needs Open vSwitch"),
        "{all}"
    );
    assert_eq!(c.errors.len(), 2, "{all}");
}

#[test]
fn string_commands_split_as_compose_splits_them() {
    let compose = "services:\n  n:\n    image: alpine\n    command: sh -c 'while ! ip link show eth0 up; do sleep 1; done; sleep 864000'\n    entrypoint: [\"/bin/env\", \"A=1 2\"]\n";
    let (lab, _) = lab_of(convert(&input(compose, &[])));
    let c = lab
        .node("n_1")
        .and_then(|n| n.container.as_ref())
        .expect("container");
    assert_eq!(
        c.cmd.as_deref(),
        Some(
            &[
                "sh".to_string(),
                "-c".into(),
                "while ! ip link show eth0 up; do sleep 1; done; sleep 864000".into()
            ][..]
        )
    );
    assert_eq!(
        c.entrypoint.as_deref(),
        Some(&["/bin/env".to_string(), "A=1 2".into()][..])
    );
    let c = convert(&input(
        "services:\n  n:\n    image: alpine\n    command: sh -c 'x\n",
        &[],
    ));
    assert_eq!(
        c.errors,
        ["compose.yaml:4:14: `command`: a `'` quote is not closed"]
    );
}

#[test]
fn merge_keys_extensions_and_errors_inside_merged_maps() {
    let compose = "
x-base: &base
  image: alpine
  command: sleep 1
  working_dir: /tmp
  frobnicate: 1
x-links: &links
  links:
    - {bridge: s1, colour: red}
services:
  a:
    <<: *base
    x-network: *links
  b:
    <<: [*base]
    command: [sleep, '2']
";
    let c = convert(&input(compose, &[]));
    assert_eq!(
        c.errors,
        ["compose.yaml:9:28: service a x-network links[0]: unknown link property `colour`"]
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("compose.yaml:6:15: service a: `frobnicate`")),
        "{:?}",
        c.notes
    );
    let (lab, _) = lab_of(convert(&input(&compose.replace(", colour: red", ""), &[])));
    let b = lab
        .node("b_1")
        .and_then(|n| n.container.as_ref())
        .expect("b");
    assert_eq!(b.workdir.as_deref(), Some("/tmp"));
    assert_eq!(
        b.cmd.as_deref(),
        Some(&["sleep".to_string(), "2".into()][..])
    );
    assert!(lab.node("a_1").and_then(|n| n.interface("eth0")).is_some());
}

#[test]
fn links_merge_by_service_and_dev_with_one_error_at_its_place() {
    let compose = "
services:
  node:
    image: alpine
    x-network:
      links:
        - {bridge: s1, ip: 10.0.1.1/16, netem: delay 40ms}
  other:
    image: alpine
    build: .
x-network:
  links:
    - {service: node, bridge: s1, netem: delay 200ms, mtu: 1300}
";
    let (lab, _) = lab_of(convert(&input(compose, &[])));
    let eth0 = lab
        .node("node_1")
        .and_then(|n| n.interface("eth0"))
        .expect("eth0");
    assert_eq!(
        eth0.impair.as_ref().and_then(|i| i.delay).map(|d| d.0),
        Some(40_000_000),
        "the service's link comes later and wins"
    );
    assert_eq!(eth0.mtu, Some(1300));
    let bad = format!(
        "{compose}    - {{service: node, mac: 'zz'}}\n    - {{service: other, bridge: s1}}\n"
    );
    let c = convert(&input(
        &bad.replace("image: alpine\n    build", "build"),
        &[],
    ));
    assert_eq!(c.errors.len(), 2, "{:?} {:?}", c.errors, c.lab_text);
    assert!(
        c.errors[0].starts_with("compose.yaml:9:12: service other: `build:` without `image:`"),
        "{:?}",
        c.errors
    );
    assert!(
        c.errors[1].starts_with("compose.yaml:13:28: x-network links[1]: mac zz"),
        "{:?}",
        c.errors
    );
}

#[test]
fn interpolation_errors_point_into_the_file_and_unset_names_are_noted() {
    let compose = "services:\n  n:\n    image: ${IMAGE:?set IMAGE}\n    environment: {A: $UNSET, B: '${NET:+x}${NET-y}'}\n";
    let c = convert(&input(compose, &[]));
    assert_eq!(
        c.errors,
        ["compose.yaml:3:12: required variable IMAGE is unset or empty: set IMAGE"]
    );
    let (lab, _) = lab_of(convert(&input(
        &compose.replace("${IMAGE:?set IMAGE}", "alpine"),
        &[],
    )));
    let n = lab.node("n_1").expect("n");
    let env: Vec<(&str, &str)> = n
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", ""), ("B", "x10.9")]);
    let c = convert(&input(
        &compose.replace("${IMAGE:?set IMAGE}", "alpine"),
        &[],
    ));
    assert!(
        c.notes
            .contains(&"variable UNSET is not set; using an empty string".to_string()),
        "{:?}",
        c.notes
    );
}

#[test]
fn several_compose_files_merge() {
    let mut i = input(
        "services:\n  n:\n    image: alpine\n    command: sleep 1\n    environment: [A=1]\n",
        &[],
    );
    i.compose.push(Source {
        name: "override.yaml".into(),
        text: "services:\n  n:\n    command: [sleep, '2']\n    environment: {B: '2'}\n    volumes: ['./conf:/etc/conf:ro']\n".into(),
    });
    let (lab, _) = lab_of(convert(&i));
    let n = lab.node("n_1").expect("n");
    let c = n.container.as_ref().expect("container");
    assert_eq!(
        c.cmd.as_deref(),
        Some(&["sleep".to_string(), "2".into()][..])
    );
    assert_eq!(n.env.len(), 2);
    assert_eq!(c.binds[0].source, "/project/conf");
    assert!(c.binds[0].readonly);
}

#[test]
fn services_route_like_containers_on_a_docker_host() {
    let compose =
        "services:\n  r:\n    image: alpine\n    sysctls: [net.ipv6.conf.all.forwarding=0]\n";
    let (lab, _) = lab_of(convert(&input(compose, &[])));
    let n = lab.node("r_1").expect("r");
    let get = |k: &str| n.sysctls.get(k).map(String::as_str);
    assert_eq!(get("net.ipv4.ip_forward"), Some("1"));
    assert_eq!(get("net.ipv6.conf.all.forwarding"), Some("0"));
}

#[test]
fn a_route_warren_cannot_take_is_reported_where_it_was_written() {
    let compose = "services:\n  n:\n    image: alpine\n    x-network:\n      links:\n        - {bridge: s1, ip: 10.0.0.2/24, route: '10.1.0.0/16 via eth0'}\n";
    let c = convert(&input(compose, &[]));
    assert_eq!(
        c.errors,
        [
            "compose.yaml:6:48: service n x-network links[0]: route `10.1.0.0/16 via eth0`: gateway `eth0` is not an IP address; warren takes `ip route add`'s form `DEST [via GATEWAY] [dev IF] [metric N] [src ADDR] [onlink]`"
        ]
    );
}

#[test]
fn named_volumes_are_folders_of_the_lab() {
    let compose = "services:\n  a:\n    image: alpine\n    volumes: [data:/var/lib/data, 'cache:/c:ro']\n  b:\n    image: alpine\n    volumes: [{type: volume, source: data, target: /d}]\n";
    let c = convert(&input(compose, &[]));
    assert_eq!(
        c.volumes,
        ["/run/warren-volumes/t/cache", "/run/warren-volumes/t/data"]
    );
    let (lab, _) = lab_of(c);
    let binds = |n: &str| {
        let c = lab
            .node(n)
            .and_then(|n| n.container.clone())
            .expect("container");
        c.binds
            .iter()
            .map(|b| (b.source.clone(), b.target.clone(), b.readonly))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        binds("a_1"),
        [
            (
                "/run/warren-volumes/t/data".to_string(),
                "/var/lib/data".to_string(),
                false
            ),
            (
                "/run/warren-volumes/t/cache".to_string(),
                "/c".to_string(),
                true
            )
        ]
    );
    assert_eq!(binds("b_1")[0].0, "/run/warren-volumes/t/data");
    let c = convert(&input(
        "services:\n  a:\n    image: alpine\n    volumes: [/anon, 'bad name:/x']\n",
        &[],
    ));
    assert_eq!(c.errors.len(), 2, "{:?}", c.errors);
    assert!(
        c.errors[0].starts_with("compose.yaml:4:15: service a: anonymous volume `/anon`"),
        "{:?}",
        c.errors
    );
}

#[test]
fn problems_the_lab_finds_are_reported_where_the_user_wrote_them() {
    let compose = "
services:
  a:
    image: alpine
    x-network:
      links:
        - {bridge: s1, ip: 10.0.0.1/24}
  b:
    image: alpine
    x-network:
      links:
        - {bridge: s1, ip: 10.0.0.1/24}
        - {bridge: averyveryverylongbridgename, dev: eth1}
        - {bridge: s2, dev: eth2, mtu: 99999999999}
";
    let c = convert(&input(compose, &[]));
    assert!(c.lab_text.is_none());
    assert_eq!(
        c.errors,
        [
            "compose.yaml:12:28: service b x-network links[0]: address 10.0.0.1 is given to both a_1:eth0 and b_1:eth0",
            "compose.yaml:14:40: service b x-network links[2]: invalid mtu: `99999999999` is not a whole number from 68 to 65535",
            "compose.yaml:13:20: service b x-network links[1]: interface name `averyveryverylongbridgename` is 27 bytes long; the kernel takes at most 15 (a network becomes a bridge of the same name in the lab's hub namespace)",
        ]
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

#[test]
fn depends_on_orders_the_starts_in_list_and_map_form() {
    use crate::model::StartAfter;
    let compose = "
services:
  web:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
      seed: {condition: service_completed_successfully, restart: true}
      log: {condition: service_started}
  db:
    image: busybox
    healthcheck: {test: [CMD-SHELL, 'test -e /tmp/up'], interval: 1s}
  seed:
    image: busybox
    depends_on: [log]
  log:
    image: busybox
    scale: 2
";
    let c = convert(&input(compose, &[]));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("restart") && n.contains("compose.yaml:7:")),
        "{:?}",
        c.notes
    );
    let lab = crate::load(&c.lab_text.expect("lab"), "t")
        .lab
        .expect("valid");
    let after = |n: &str| -> Vec<(String, StartAfter)> {
        lab.node(n)
            .expect("node")
            .after
            .iter()
            .map(|a| (a.node.value.clone(), a.when))
            .collect()
    };
    let mut web = after("web_1");
    web.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        web,
        [
            ("db_1".to_string(), StartAfter::Ready),
            ("log_1".to_string(), StartAfter::Started),
            ("log_2".to_string(), StartAfter::Started),
            ("seed_1".to_string(), StartAfter::Completed),
        ]
    );
    assert_eq!(
        after("seed_1"),
        [
            ("log_1".to_string(), StartAfter::Started),
            ("log_2".to_string(), StartAfter::Started)
        ]
    );
    let order = crate::order::start_order(&lab).expect("no cycle");
    let names: Vec<&str> = order
        .iter()
        .map(|i| lab.nodes[*i].name.value.as_str())
        .collect();
    assert_eq!(names.last(), Some(&"web_1"), "{names:?}");
}

#[test]
fn depends_on_problems_are_reported_at_the_users_lines() {
    for (compose, expected) in [
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            "compose.yaml:7:17: the nodes' start order has a cycle: a_1 after b_1 after a_1",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [nope]\n",
            "compose.yaml:4:18: service a: depends_on nope: no such service",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on:\n      b: {condition: service_healthy}\n  b:\n    image: busybox\n",
            "compose.yaml:5:10: service a: depends_on b with condition service_healthy, but b has no healthcheck",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on:\n      b: {condition: service_finished}\n  b:\n    image: busybox\n",
            "compose.yaml:5:22: service a: depends_on b: unknown condition `service_finished`",
        ),
    ] {
        let c = convert(&input(compose, &[]));
        assert!(
            c.errors.iter().any(|e| e.starts_with(expected)),
            "{expected}\n{:#?}",
            c.errors
        );
        assert!(c.lab_text.is_none());
    }
    // An absent service that is not required is noted, not an error.
    let c = convert(&input(
        "services:\n  a:\n    image: busybox\n    depends_on:\n      b: {required: false}\n",
        &[],
    ));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert!(
        c.notes.iter().any(|n| n.contains("not required")),
        "{:?}",
        c.notes
    );
}

#[test]
fn scale_overrides_a_services_replicas_and_names_unknown_services() {
    let compose = "services:\n  n:\n    image: alpine\n    scale: 2\n    x-network:\n      links:\n        - {bridge: s1, ip: 10.0.0.10/24, mac: '02:00:00:00:00:10'}\n";
    let mut i = input(compose, &[]);
    i.scale.insert("n".into(), 4);
    let (lab, _) = lab_of(convert(&i));
    let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.value.as_str()).collect();
    assert_eq!(names, ["n_1", "n_2", "n_3", "n_4"]);
    let n4 = lab.node("n_4").expect("n_4");
    assert_eq!(n4.interfaces[0].ipv4[0].value.to_string(), "10.0.0.13/24");
    assert_eq!(
        n4.interfaces[0].mac.map(|m| m.to_string()).as_deref(),
        Some("02:00:00:00:00:13")
    );
    i.scale.clear();
    i.scale.insert("m".into(), 1);
    assert_eq!(
        convert(&i).errors,
        ["--scale m: no service called m (services: n)"]
    );
}
