use crate::model::{Attachment, NodeKind};
use crate::{Lab, Severity, load};

fn ok(text: &str) -> Lab {
    let l = load(text, "t");
    let errors: Vec<String> = l
        .diagnostics
        .0
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    l.lab.expect("a lab")
}

/// The problems of a file: (severity is error, line, column, message).
fn problems(text: &str) -> Vec<(bool, usize, usize, String)> {
    load(text, "t")
        .diagnostics
        .0
        .iter()
        .map(|d| {
            let (line, col) = crate::span::line_col(text, d.span.map_or(0, |s| s.start));
            (d.severity == Severity::Error, line, col, d.message.clone())
        })
        .collect()
}

const INHERIT: &str = r#"name: inh
topology:
  defaults:
    kind: linux
    image: img/default
    env: {A: defaults, B: defaults}
    exec: ["echo defaults"]
    binds: [/d:/etc/x, /d2:/etc/y]
  kinds:
    linux:
      image: img/kind
      env: {B: kind}
      exec: ["echo kind"]
  groups:
    routers:
      image: img/group
      binds: [/g:/etc/x]
      cap-add: [SYS_ADMIN]
  nodes:
    r1:
      group: routers
      env: {C: node}
      exec: ["echo node"]
    h1: {}
    h2:
      image: img/own
      privileged: false
      cmd: sh -c 'sleep 1000'
"#;

#[test]
fn nodes_inherit_from_group_kind_and_defaults_as_containerlab_does() {
    let lab = ok(INHERIT);
    let r1 = lab.node("r1").unwrap();
    assert_eq!(r1.kind, NodeKind::Container);
    let c = r1.container.as_ref().unwrap();
    assert_eq!(
        c.image, "img/group",
        "the group wins over kind and defaults"
    );
    assert_eq!(
        r1.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [("A", "defaults"), ("B", "kind"), ("C", "node")]
    );
    let exec: Vec<String> = r1.exec.iter().map(|c| c.argv()[2].clone()).collect();
    assert_eq!(exec, ["echo defaults", "echo kind", "echo node"]);
    let binds: Vec<(&str, &str)> = c
        .binds
        .iter()
        .map(|b| (b.source.as_str(), b.target.as_str()))
        .collect();
    assert_eq!(
        binds,
        [("/d2", "/etc/y"), ("/g", "/etc/x")],
        "binds keyed by target"
    );
    assert_eq!(
        c.capabilities,
        ["SYS_ADMIN", "NET_BROADCAST", "IPC_LOCK"],
        "cap-add, then what a privileged node keeps"
    );
    let h1 = lab.node("h1").unwrap().container.as_ref().unwrap();
    assert_eq!(h1.image, "img/kind", "the kind wins over defaults");
    let h2 = lab.node("h2").unwrap().container.as_ref().unwrap();
    assert_eq!(h2.image, "img/own");
    let h2n = lab.node("h2").unwrap();
    assert_eq!(
        h2n.sysctls.get("net.ipv4.ip_forward").map(String::as_str),
        Some("1"),
        "forwarding on, as on a Docker host"
    );
    assert!(
        h2.capabilities.is_empty(),
        "not privileged: the default set"
    );
    assert_eq!(
        h2.cmd.as_deref().unwrap(),
        ["sh", "-c", "sleep 1000"],
        "cmd split as a shell would"
    );
}

#[test]
fn management_network_addresses_nodes_as_containerlab_does() {
    let lab = ok(r#"name: mg
prefix: lab
topology:
  nodes:
    a: {kind: linux, image: i}
    b: {kind: linux, image: i, mgmt-ipv4: 172.20.20.2, mgmt-ipv6: "3fff:172:20:20::99"}
    c: {kind: linux, image: i}
    d: {kind: linux, image: i, network-mode: none}
"#);
    let mgmt = lab
        .networks
        .iter()
        .find(|n| n.name.value == "clab")
        .unwrap();
    let members: Vec<String> = mgmt.members.iter().map(|m| m.value.to_string()).collect();
    assert_eq!(members, ["a:eth0", "b:eth0", "c:eth0"]);
    let addr = |n: &str| {
        let i = lab.node(n).unwrap().interface("eth0").unwrap();
        (i.ipv4[0].value.to_string(), i.ipv6[0].value.to_string())
    };
    assert_eq!(
        addr("a"),
        ("172.20.20.3/24".into(), "3fff:172:20:20::2/64".into())
    );
    assert_eq!(
        addr("b"),
        ("172.20.20.2/24".into(), "3fff:172:20:20::99/64".into())
    );
    assert_eq!(
        addr("c"),
        ("172.20.20.4/24".into(), "3fff:172:20:20::3/64".into())
    );
    assert!(lab.node("d").unwrap().interfaces.is_empty());
    assert_eq!(lab.node("a").unwrap().aliases, ["lab-mg-a"]);
}

#[test]
fn mgmt_subnets_and_network_name_are_taken() {
    let lab = ok(r#"name: mg
mgmt:
  network: mgmt0
  ipv4-subnet: 10.99.0.0/24
  ipv6-subnet: 2001:db8:99::/64
topology:
  nodes:
    a: {kind: linux, image: i}
"#);
    assert_eq!(lab.networks[0].name.value, "mgmt0");
    let i = lab.node("a").unwrap().interface("eth0").unwrap();
    assert_eq!(i.ipv4[0].value.to_string(), "10.99.0.2/24");
    assert_eq!(i.ipv6[0].value.to_string(), "2001:db8:99::2/64");
    assert_eq!(lab.node("a").unwrap().aliases, ["clab-mg-a"]);
}

#[test]
fn a_bridge_node_is_a_lab_network_of_its_link_peers() {
    let lab = ok(r#"name: br
topology:
  nodes:
    h1: {kind: linux, image: i}
    h2: {kind: linux, image: i}
    br-clab: {kind: bridge}
  links:
    - endpoints: ["h1:eth1", "br-clab:eth1"]
      ipv4: ["192.168.9.1/24"]
    - endpoints: ["br-clab:eth2", "h2:eth1"]
"#);
    let br = lab
        .networks
        .iter()
        .find(|n| n.name.value == "br-clab")
        .unwrap();
    let members: Vec<String> = br.members.iter().map(|m| m.value.to_string()).collect();
    assert_eq!(members, ["h1:eth1", "h2:eth1"]);
    assert!(lab.node("br-clab").is_none());
    let i = lab.node("h1").unwrap().interface("eth1").unwrap();
    assert_eq!(i.ipv4[0].value.to_string(), "192.168.9.1/24");
}

#[test]
fn extended_links_veth_macvlan_and_vxlan() {
    let lab = ok(r#"name: ext
topology:
  nodes:
    a: {kind: linux, image: i}
    b: {kind: linux, image: i}
  links:
    - type: veth
      mtu: 9000
      endpoints:
        - node: a
          interface: eth1
          mac: "02:00:00:00:00:01"
          ipv4: 192.168.1.1/24
        - node: b
          interface: eth1
          ipv6: 2001:db8::2/64
    - type: macvlan
      endpoint: {node: a, interface: eth2}
      host-interface: dummy0
      mode: private
    - type: vxlan
      endpoint: {node: b, interface: eth2}
      remote: 198.51.100.7
      vni: 100
      dst-port: 4790
"#);
    let l = &lab.links[0];
    assert_eq!(l.mtu, Some(9000));
    let a1 = lab.node("a").unwrap().interface("eth1").unwrap();
    assert_eq!(a1.mac.unwrap().to_string(), "02:00:00:00:00:01");
    assert_eq!(a1.ipv4[0].value.to_string(), "192.168.1.1/24");
    let b1 = lab.node("b").unwrap().interface("eth1").unwrap();
    assert_eq!(b1.ipv6[0].value.to_string(), "2001:db8::2/64");
    let a2 = lab.node("a").unwrap().interface("eth2").unwrap();
    match &a2.attach {
        Attachment::Macvlan(m) => {
            assert_eq!(m.parent, "dummy0");
            assert_eq!(m.mode.as_deref(), Some("private"));
        }
        other => panic!("{other:?}"),
    }
    let t = &lab.tunnels[0];
    assert_eq!((t.vni, t.dstport), (100, 4790));
    assert_eq!(t.remote.to_string(), "198.51.100.7");
    let net = lab
        .networks
        .iter()
        .find(|n| n.name.value == t.network.value)
        .unwrap();
    assert_eq!(net.members[0].value.to_string(), "b:eth2");
}

#[test]
fn long_and_slashed_interface_names_become_altnames() {
    let lab = ok(r#"name: long
topology:
  nodes:
    a: {kind: linux, image: i}
    b: {kind: linux, image: i}
  links:
    - endpoints: ["a:ethernet-1/1", "b:GigabitEthernet0/0/1"]
"#);
    let a = lab.node("a").unwrap().interface("ethernet-1/1").unwrap();
    assert_eq!(a.name, "e1-1");
    assert_eq!(a.altname.as_deref(), Some("ethernet-1/1"));
    let ep = &lab.links[0].endpoints[1].value;
    assert_eq!(ep.iface, "GE0-0-1");
    assert!(ep.is("b:GigabitEthernet0/0/1") && ep.is("b:GE0-0-1"));
    let plan = crate::plan::plan(&lab).to_string();
    assert!(plan.contains("altname a:e1-1 ethernet-1/1"), "{plan}");
}

#[test]
fn refused_kinds_modes_and_links_are_errors_at_their_place() {
    let text = r#"name: no
topology:
  nodes:
    srl: {kind: nokia_srlinux, image: ghcr.io/nokia/srlinux}
    side: {kind: linux, image: i, network-mode: "container:nope"}
    ext: {kind: ext-container}
    a: {kind: linux, image: i, shm-size: 1g}
  links:
    - endpoints: ["a:eth1", "mgmt-net:veth-a"]
    - endpoints: ["a:eth0", "a:eth2"]
"#;
    let p = problems(text);
    let find = |needle: &str| {
        p.iter()
            .find(|x| x.3.contains(needle))
            .unwrap_or_else(|| panic!("no problem with {needle:?} in {p:#?}"))
            .clone()
    };
    let vendor = find("nokia_srlinux");
    assert_eq!((vendor.0, vendor.1, vendor.2), (true, 4, 17));
    let side = find("container:nope");
    assert_eq!((side.0, side.1), (true, 5));
    assert!(side.3.contains("names no node"), "{side:?}");
    assert_eq!(find("ext-container").1, 6);
    let shm = find("shm-size");
    assert_eq!((shm.0, shm.1), (false, 7), "a warning, not an error");
    assert_eq!(find("mgmt-net links").1, 9);
    assert_eq!(find("management interface").1, 10);
    assert!(load(text, "t").lab.is_none());
}

#[test]
fn unknown_keys_and_missing_images_are_errors() {
    let p = problems("name: x\ntopology:\n  nodes:\n    a: {kind: linux, imgae: i}\n");
    assert!(
        p.iter().any(|x| x.0 && x.3.contains("unknown key `imgae`")),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|x| x.0 && x.3.contains("has no `image`")),
        "{p:#?}"
    );
}

#[test]
fn ports_forward_from_the_host_to_the_management_address() {
    let lab = ok(r#"name: pf
topology:
  nodes:
    web: {kind: linux, image: i, ports: ["8080:80", "127.0.0.1:5353:53/udp"]}
"#);
    assert_eq!(lab.forwards.len(), 2);
    let f = &lab.forwards[1];
    assert_eq!((f.host, f.port, f.iface.as_str()), (5353, 53, "eth0"));
    assert_eq!(f.target.to_string(), "172.20.20.2");
}

#[test]
fn odd_lab_names_run_under_a_warren_name_with_a_warning() {
    let l = load(
        "name: My_Lab\ntopology:\n  nodes:\n    a: {kind: linux, image: i}\n",
        "t",
    );
    let lab = l.lab.expect("valid");
    assert_eq!(lab.name, "my-lab");
    assert_eq!(lab.node("a").unwrap().aliases, ["clab-My_Lab-a"]);
    assert!(
        l.diagnostics
            .0
            .iter()
            .any(|d| d.severity == Severity::Warning)
    );
}

#[test]
fn env_files_fill_env_under_the_nodes_own_env() {
    let text = "name: ef\ntopology:\n  defaults:\n    env-files: [common.env]\n  nodes:\n    a: {kind: linux, image: i, env: {ROLE: node}}\n";
    assert_eq!(super::env_file_names(text), ["common.env"]);
    let l = load(text, "t");
    let e = l
        .diagnostics
        .0
        .iter()
        .find(|d| d.code == "warren::clab-env-file");
    let (line, col) = crate::span::line_col(text, e.expect("unread file").span.unwrap().start);
    assert_eq!((line, col), (4, 17));
    let full = super::with_env_files(
        text,
        &[(
            "common.env".into(),
            "# shared\nROLE=file\nGREETING=\"hello there\"\n".into(),
        )],
    );
    let lab = ok(&full);
    let env = &lab.node("a").unwrap().env;
    assert_eq!(env["ROLE"], "node");
    assert_eq!(env["GREETING"], "hello there");
}

#[test]
fn the_management_interface_comes_first_so_hosts_name_it() {
    let lab = ok(r#"name: mf
topology:
  nodes:
    a: {kind: linux, image: i}
    b: {kind: linux, image: i}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
      ipv4: [192.168.5.1/24, 192.168.5.2/24]
"#);
    let names: Vec<&str> = lab
        .node("a")
        .unwrap()
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["eth0", "eth1"]);
}

#[test]
fn wait_for_stages_startup_delay_and_healthcheck_order_the_starts() {
    use crate::model::{Command, StartAfter};
    let text = r#"name: ord
topology:
  defaults:
    kind: linux
    image: busybox
  kinds:
    linux:
      startup-delay: 1
  nodes:
    web:
      wait-for: [db]
      startup-delay: 3
      stages:
        create:
          wait-for:
            - node: seed
              stage: exit
            - node: log
        configure:
          wait-for:
            - node: log
    db:
      healthcheck:
        test: [CMD-SHELL, "test -e /tmp/up"]
        interval: 2
        retries: 5
        start-period: 4
    seed: {}
    log: {}
"#;
    let lab = ok(text);
    let web = lab.node("web").expect("web");
    let after: Vec<(&str, StartAfter)> = web
        .after
        .iter()
        .map(|a| (a.node.value.as_str(), a.when))
        .collect();
    assert_eq!(
        after,
        [
            ("db", StartAfter::Ready),
            ("seed", StartAfter::Completed),
            ("log", StartAfter::Started)
        ]
    );
    assert_eq!(web.start_delay.map(|d| d.0), Some(3_000_000_000));
    // The kind's delay where the node sets none.
    let db = lab.node("db").expect("db");
    assert_eq!(db.start_delay.map(|d| d.0), Some(1_000_000_000));
    let ready = db.ready.as_ref().expect("the healthcheck is db's ready");
    assert_eq!(ready.exec, Some(Command::Shell("test -e /tmp/up".into())));
    assert_eq!(ready.interval.map(|d| d.0), Some(2_000_000_000));
    assert_eq!(ready.timeout.map(|d| d.0), Some(14_000_000_000));
    let order = crate::order::start_order(&lab).expect("no cycle");
    let names: Vec<&str> = order
        .iter()
        .map(|i| lab.nodes[*i].name.value.as_str())
        .collect();
    assert_eq!(names, ["db", "seed", "log", "web"]);
    // The configure stage's wait is noted at its place, not applied.
    let p = problems(text);
    let noted = p
        .iter()
        .find(|x| x.3.contains("stages.configure.wait-for"))
        .expect("a note");
    assert_eq!((noted.0, noted.1), (false, 19));
}

#[test]
fn a_wait_for_cycle_is_an_error_at_its_line_and_column() {
    let text = "name: cyc\ntopology:\n  nodes:\n    a: {kind: linux, image: i, wait-for: [b]}\n    b: {kind: linux, image: i, wait-for: [a]}\n";
    let p = problems(text);
    let cycle = p
        .iter()
        .find(|x| x.3.contains("cycle"))
        .unwrap_or_else(|| panic!("{p:#?}"));
    assert_eq!(
        cycle.clone(),
        (
            true,
            5,
            43,
            "the nodes' start order has a cycle: a after b after a".to_string()
        )
    );
}

#[test]
fn host_nodes_and_host_ends_are_veths_into_the_host_namespace() {
    let text = r#"name: hst
topology:
  nodes:
    a: {kind: linux, image: i}
    b: {kind: linux, image: i}
    c: {kind: linux, image: i}
    myhost: {kind: host}
  links:
    - endpoints: ["a:eth1", "host:wa-a"]
    - endpoints: ["myhost:wa-b", "b:eth1"]
      ipv4: ["", "192.168.70.2/24"]
    - type: host
      endpoint: {node: c, interface: ethernet-1/1, mac: "02:00:00:70:00:03"}
      host-interface: wa-c
      mtu: 9000
"#;
    let lab = ok(text);
    assert!(lab.node("myhost").is_none(), "a host node is no lab node");
    let noted = problems(&text.replace("myhost: {kind: host}", "myhost: {kind: host, image: i}"));
    assert!(
        noted
            .iter()
            .any(|p| !p.0 && p.1 == 7 && p.3.contains("`image` of a host node")),
        "{noted:#?}"
    );
    let peer = |n: &str, i: &str| match &lab
        .node(n)
        .and_then(|n| n.interface(i))
        .expect("iface")
        .attach
    {
        Attachment::Host { peer } => peer.clone(),
        other => panic!("{n}:{i} is {other:?}"),
    };
    assert_eq!(peer("a", "eth1"), "wa-a");
    assert_eq!(peer("b", "eth1"), "wa-b");
    assert_eq!(peer("c", "ethernet-1/1"), "wa-c");
    let b = lab
        .node("b")
        .and_then(|n| n.interface("eth1"))
        .expect("b:eth1");
    assert_eq!(b.ipv4[0].value.to_string(), "192.168.70.2/24");
    let c = lab
        .node("c")
        .and_then(|n| n.interface("ethernet-1/1"))
        .expect("c");
    assert_eq!(c.mtu, Some(9000));
    let steps: Vec<String> = crate::plan::plan(&lab)
        .steps
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s == "create veth a:eth1 <-> host:wa-a"),
        "{steps:#?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s == "create veth c:e1-1 <-> host:wa-c"),
        "{steps:#?}"
    );
}

#[test]
fn host_end_names_must_be_kernel_names_used_once() {
    let p = problems(
        "name: hst\ntopology:\n  nodes:\n    a: {kind: linux, image: i}\n  links:\n    - endpoints: [\"a:eth1\", \"host:same\"]\n    - endpoints: [\"a:eth2\", \"host:same\"]\n    - endpoints: [\"a:eth3\", \"host:much-too-long-name\"]\n    - endpoints: [\"host:x\", \"host:y\"]\n",
    );
    let find = |needle: &str| {
        p.iter()
            .find(|x| x.3.contains(needle))
            .unwrap_or_else(|| panic!("no problem with {needle:?} in {p:#?}"))
            .clone()
    };
    let twice = find("host interface `same` is also");
    assert_eq!((twice.0, twice.1), (true, 7));
    let long = find("`much-too-long-name` is not a kernel interface name");
    assert_eq!((long.0, long.1), (true, 8));
    assert_eq!(find("two host ends").1, 9);
}

#[test]
fn vendor_kinds_that_are_container_images_run_as_linux_nodes() {
    use crate::model::Command;
    let lab = ok(r#"name: vnd
topology:
  nodes:
    ixia: {kind: keysight_ixia-c-one, image: ghcr.io/open-traffic-generator/ixia-c-one}
    sonic: {kind: sonic-vs, image: docker-sonic-vs, exec: ["echo own"]}
  links:
    - endpoints: ["ixia:eth1", "sonic:eth1"]
"#);
    let ixia = lab.node("ixia").expect("ixia");
    assert_eq!(ixia.kind, NodeKind::Container);
    let probe = ixia.ready.as_ref().and_then(|r| r.exec.clone());
    assert_eq!(
        probe,
        Some(Command::Argv(vec![
            "test".into(),
            "-e".into(),
            "/home/keysight/ixia-c-one/init-done".into()
        ]))
    );
    let sonic = lab.node("sonic").expect("sonic");
    assert_eq!(sonic.kind, NodeKind::Container);
    assert!(
        matches!(&sonic.exec[0], Command::Shell(s) if s.contains("supervisorctl start bgpd")),
        "{:?}",
        sonic.exec
    );
    assert_eq!(sonic.exec[1], Command::Shell("echo own".into()));
}
