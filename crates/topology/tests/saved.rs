//! A lab saved by `up` (`lab.json`) reads back as the lab that was saved:
//! the same resolved form and the same kernel plan, for every example and
//! for a lab that uses the forms the examples leave out.

use warren_topology::{Lab, load};

/// Every key whose absence or shape the saved form has to carry: altnames
/// of long interface names, macvlans, tunnels, forwards, impairments,
/// captures of some links, every test step and fault form.
const EVERYTHING: &str = r#"name: everything
capture: [r1.eth1-r2.eth1]
seed: 7
defaults: {sysctls: {net.ipv4.ip_forward: 1}}
nodes:
  r1:
    exec: ["echo hi", [ip, link]]
    env: {A: b}
    ready: {exec: [true], timeout: 5s, interval: 250ms}
  r2: {}
  c: {kind: container, image: busybox, cmd: [sleep, inf], binds: ["/tmp:/mnt:ro"], capabilities: [NET_ADMIN], privileged: true}
  s: {kind: system, image: debian:systemd, provision: true, netconf: {renderer: networkd}}
  v: {kind: vm, kernel: vmlinuz, initrd: initrd.gz, memory: 256M, ready: {console: READY}}
links:
  - endpoints: [r1:eth1, r2:eth1]
    ipv4: [10.0.12.1/30, 10.0.12.2/30]
    ipv6: ["2001:db8:12::1/64", ~]
    mtu: 9000
    mac: [02:00:00:00:01:02, ~]
  - endpoints: [r2:a-very-long-interface-name, v:eth0]
    impair: {delay: 20ms, jitter: 5ms, loss: 0.5%, rate: 10mbit}
networks:
  lan:
    members: [r1:lan, c:eth0, s:eth0]
    ipv4: 192.168.50.0/24
    ipv6: 2001:db8:50::/64
    impair: {duplicate: 1%}
interfaces:
  r1:lo: {ipv4: [10.255.0.1/32]}
  c:eth0: {routes: [10.0.12.0/30 via 192.168.50.1, {to: default, via: "2001:db8:50::1", metric: 100}], ethtool: ["-K tx off"]}
  r2:mv0: {macvlan: {parent: eth0, mode: bridge}}
tunnels:
  - {network: lan, remote: 198.51.100.20, vni: 5001, dstport: 8472}
forwards:
  - {host: 18080, to: c:eth0, port: 80, proto: udp}
tests:
  - name: ping
    ping: {from: r1, to: r2:eth1, count: 2}
  - parallel:
      - name: http
        http: {from: r1, url: "http://192.168.50.2/", status: 200, body: hi}
      - name: exec
        exec: {node: r1, cmd: "true", stdout: ""}
  - name: wait
    wait: {exec: {node: r1, cmd: [true]}, retries: 3, interval: 100ms}
  - name: console
    console: {node: v, run: uname, stdout: Linux}
  - name: fire
    fault: flap
  - name: frames
    capture: {link: r1.eth1-r2.eth1, filter: icmp, count: ">= 1"}
faults:
  - {name: flap, link: r1:eth1, down: 2s}
  - {at: 1s, impair: {loss: 10%}, on: r1:eth1, for: 3s}
  - {at: 2s, node: r2, down: 1s}
"#;

fn round_trip(text: &str, stem: &str) {
    let loaded = load(text, stem);
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{stem}: {:?}", loaded.diagnostics));
    let json = serde_json::to_string(&lab).expect("serializes");
    let back = Lab::from_saved(&json).unwrap_or_else(|e| panic!("{stem}: {e}\n{json}"));
    assert_eq!(
        serde_json::to_value(&back).expect("serializes"),
        serde_json::to_value(&lab).expect("serializes"),
        "{stem}"
    );
    // Spans (which a saved lab has none of) aside, the same plan.
    let plan = |l: &Lab| serde_json::to_value(warren_topology::plan::plan(l)).expect("json");
    assert_eq!(plan(&back), plan(&lab), "{stem}: the kernel plan");
    let ends = |l: &Lab| -> Vec<_> {
        l.links
            .iter()
            .flat_map(|k| k.endpoints.iter().map(|e| e.value.clone()))
            .chain(
                l.networks
                    .iter()
                    .flat_map(|n| n.members.iter().map(|e| e.value.clone())),
            )
            .collect()
    };
    assert_eq!(ends(&back), ends(&lab), "{stem}: endpoints with altnames");
}

#[test]
fn a_lab_with_every_form_reads_back_as_saved() {
    round_trip(EVERYTHING, "everything");
    let lab = load(EVERYTHING, "everything").lab.expect("valid");
    let back = Lab::from_saved(&serde_json::to_string(&lab).expect("json")).expect("reads");
    // The long name's altname, which `node:iface` does not carry, is back.
    let long = &back.links[1].endpoints[0].value;
    assert_eq!(long.altname.as_deref(), Some("a-very-long-interface-name"));
    assert!(long.is("r2:a-very-long-interface-name"));
}

#[test]
fn every_example_reads_back_as_saved() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(root).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
            round_trip(&text, stem);
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} examples");
}

#[test]
fn a_containerlab_topology_reads_back_as_saved() {
    // (linux-bridge.clab.yml needs the env file the CLI reads beside it.)
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clab/frr-ring/frr-ring.clab.yml"
    );
    round_trip(&std::fs::read_to_string(file).expect("read"), "frr-ring");
}

#[test]
fn a_saved_lab_that_is_not_one_is_refused() {
    let err = Lab::from_saved(r#"{"name": "x"}"#).expect_err("no nodes");
    assert!(err.to_string().contains("missing field"), "{err}");
}
