//! Inputs into the model: cloud-init v1 and v2 details, errors naming the
//! key, model validation, the Equinix conversion and `--renderer auto`.

use std::path::Path;

use warren_netconf::model::{BondOption, Kind, ParamValue, RouteTo};
use warren_netconf::{
    Error, HostNic, Input, LabInterface, NetworkModel, Renderer, equinix_model,
    parse_network_config,
};

fn err(text: &str) -> String {
    parse_network_config(text)
        .expect_err("should fail")
        .to_string()
}

#[test]
fn v2_with_and_without_the_network_key_and_as_json() {
    let a = parse_network_config("network:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: yes}\n")
        .unwrap();
    let b = parse_network_config("version: 2\nethernets:\n  eth0: {dhcp4: true}\n").unwrap();
    let c =
        parse_network_config(r#"{"version": 2, "ethernets": {"eth0": {"dhcp4": "on"}}}"#).unwrap();
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert!(a.interfaces[0].dhcp4);
}

#[test]
fn v1_netmask_gateway_and_global_route() {
    let m = parse_network_config(
        "version: 1\nconfig:\n- type: physical\n  name: eth0\n  subnets:\n  - type: static\n    address: 198.51.100.5\n    netmask: 255.255.255.192\n    gateway: 198.51.100.1\n- type: route\n  network: 10.0.0.0\n  netmask: 255.0.0.0\n  gateway: 198.51.100.62\n",
    )
    .unwrap();
    let eth0 = &m.interfaces[0];
    assert_eq!(eth0.addresses[0].to_string(), "198.51.100.5/26");
    assert_eq!(eth0.routes[0].to, RouteTo::Default);
    assert_eq!(eth0.routes[1].to_cidr(), "10.0.0.0/8");
}

#[test]
fn v1_bond_params_in_either_spelling() {
    let m = parse_network_config(
        "version: 1\nconfig:\n- {type: physical, name: eth0}\n- type: bond\n  name: bond0\n  bond_interfaces: [eth0]\n  params: {bond-mode: 4, bond_xmit_hash_policy: layer2+3, bond-num-grat-arp: 2}\n",
    )
    .unwrap();
    let Kind::Bond(b) = &m.interfaces[1].kind else {
        panic!("not a bond")
    };
    assert_eq!(
        b.params[&BondOption::Mode],
        ParamValue::Word("802.3ad".into())
    );
    assert_eq!(
        b.params[&BondOption::XmitHashPolicy],
        ParamValue::Word("layer2+3".into())
    );
    assert_eq!(b.params[&BondOption::NumGratArp], ParamValue::Number(2));
}

#[test]
fn v1_spellings_cloud_init_also_reads() {
    let m = parse_network_config(
        "version: 1\nconfig:\n- {type: nameserver, interface: br0, address: [10.0.0.53]}\n- {type: physical, name: eth0}\n- {type: physical, name: eth1}\n- {type: physical, name: eth2}\n- type: bond\n  name: bond0\n  params: {bond-slaves: eth0 eth1, bond-num_unsol_na: 3}\n- type: bridge\n  name: br0\n  params: {bridge_ports: [eth2], bridge_hw: \"02:00:00:00:00:AA\"}\n  subnets: [{type: static, address: 10.0.0.1/24, gateway: 10.0.0.254, metric: 50, routes: [{network: 10.1.0.0/16, gateway: 10.0.0.2, metric: 7}]}]\n",
    )
    .unwrap();
    let Kind::Bond(b) = &m.interfaces[3].kind else {
        panic!("not a bond")
    };
    assert_eq!(b.members, ["eth0", "eth1"]);
    assert_eq!(b.params[&BondOption::NumGratArp], ParamValue::Number(3));
    let br0 = &m.interfaces[4];
    let Kind::Bridge(br) = &br0.kind else {
        panic!("not a bridge")
    };
    assert_eq!(br.members, ["eth2"]);
    assert_eq!(br0.macaddress.as_deref(), Some("02:00:00:00:00:aa"));
    assert_eq!(
        br0.dns.nameservers,
        ["10.0.0.53".parse::<std::net::IpAddr>().unwrap()]
    );
    // The subnet's metric goes to its gateway and to routes without one.
    let metrics: Vec<_> = br0.routes.iter().map(|r| r.metric).collect();
    assert_eq!(metrics, [Some(50), Some(7)]);
}

#[test]
fn errors_name_the_key() {
    for (text, want) in [
        ("version: 3\n", "network config: version: expected 1 or 2"),
        ("ethernets: {}\n", "network config: version: missing"),
        (
            "version: 2\nethernets:\n  eth0: {emit-lldp: true}\n",
            "ethernets.eth0.emit-lldp: not supported",
        ),
        (
            "version: 2\nethernets:\n  eth0: {addresses: [10.0.0.1/33]}\n",
            "ethernets.eth0.addresses: prefix /33",
        ),
        (
            "version: 2\nbonds:\n  bond0: {parameters: {mode: fast}}\n",
            "bonds.bond0.parameters.mode: expected one of",
        ),
        (
            "version: 2\nvlans:\n  v: {id: 5000, link: eth0}\n",
            "vlans.v.id: 5000 is not a VLAN id",
        ),
        (
            "version: 2\nethernets:\n  e: {set-name: x}\n",
            "ethernets.e.set-name: needs a match",
        ),
        (
            "version: 1\nconfig:\n- {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.1, netmask: 255.0.255.0}]}\n",
            "not contiguous",
        ),
        (
            "version: 1\nconfig:\n- {type: route, destination: 10.0.0.0/8, gateway: 198.51.100.1}\n",
            "no interface has an address in the network of 198.51.100.1",
        ),
        (
            "version: 1\nconfig:\n- {type: bond, name: bond0, params: {bond-mii_status: up}}\n",
            "config[0].params.bond-mii_status: a read-only status",
        ),
        (
            "version: 1\nconfig:\n- {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.1/24, broadcast: 10.0.0.128}]}\n",
            "config[0].subnets[0].broadcast: 10.0.0.128 is not the broadcast address of 10.0.0.1/24",
        ),
        (
            "version: 1\nconfig:\n- {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.1/24, ipv6: true}]}\n",
            "config[0].subnets[0].ipv6: contradicts the address",
        ),
        (
            "version: 1\nconfig:\n- {type: physical, name: eth0, subnets: [{type: dhcp, control: auto}, {type: dhcp6, control: manual}]}\n",
            "config[0].subnets[1].control: differs",
        ),
        (
            "version: 2\nethernets:\n  eth0: {routes: [{to: 10.0.0.0/8, on-link: true}]}\n",
            "ethernets.eth0.routes[0].on-link: needs a gateway",
        ),
        (
            "version: 2\nethernets:\n  eth0: {routes: [{to: 10.0.0.0/8, scope: universe}]}\n",
            "ethernets.eth0.routes[0].scope: \"universe\" is not one of global, link, host",
        ),
        (
            "version: 2\nethernets:\n  eth0: {routing-policy: [{from: 10.0.0.0/8, to: \"2001:db8::/32\"}]}\n",
            "ethernets.eth0.routing-policy[0].to: is of a different address family",
        ),
        (
            "version: 2\nethernets:\n  eth0: {dhcp4-overrides: {use-foo: true}}\n",
            "ethernets.eth0.dhcp4-overrides.use-foo: not supported",
        ),
        (
            "version: 2\nethernets:\n  eth0: {link-local: [ipx]}\n",
            "ethernets.eth0.link-local: \"ipx\" is neither ipv4 nor ipv6",
        ),
    ] {
        let got = err(text);
        assert!(got.contains(want), "{text:?}: {got:?} lacks {want:?}");
    }
}

#[test]
fn the_model_is_checked() {
    for (text, want) in [
        (
            "version: 2\nbonds:\n  bond0: {interfaces: [eth9]}\n",
            "interface bond0: member \"eth9\" is not defined",
        ),
        (
            "version: 2\nethernets:\n  eth0: {dhcp4: true}\nbonds:\n  bond0: {interfaces: [eth0]}\n",
            "interface eth0: is a member of bond0 and cannot have addresses",
        ),
        (
            "version: 2\nethernets:\n  eth0: {}\n  eth1: {}\nbonds:\n  bond0: {interfaces: [eth0], parameters: {primary: eth1}}\n",
            "primary \"eth1\" is not a member",
        ),
        (
            "version: 2\nethernets:\n  eth0: {}\nbonds:\n  b0: {interfaces: [eth0]}\n  b1: {interfaces: [eth0]}\n",
            "is a member of both b0 and b1",
        ),
        (
            "version: 2\nvlans:\n  v: {id: 5, link: nowhere}\n",
            "link \"nowhere\" is not defined",
        ),
        (
            "version: 2\nethernets:\n  \"a/b\": {}\n",
            "is not a usable name",
        ),
    ] {
        let got = err(text);
        assert!(got.contains(want), "{text:?}: {got:?} lacks {want:?}");
    }
}

#[test]
fn lab_constructor_matches_by_mac_and_renames() {
    let m = NetworkModel::from_lab(
        &[LabInterface {
            name: "eth0".into(),
            mac: Some("02:AA:00:00:00:01".into()),
            ..LabInterface::default()
        }],
        Default::default(),
    )
    .unwrap();
    let Kind::Physical(p) = &m.interfaces[0].kind else {
        panic!("not physical")
    };
    assert_eq!(p.mac.as_deref(), Some("02:aa:00:00:00:01"));
    assert_eq!(m.interfaces[0].device_name(), Some("eth0"));
    let dup = [
        LabInterface {
            name: "eth0".into(),
            ..LabInterface::default()
        },
        LabInterface {
            name: "eth0".into(),
            ..LabInterface::default()
        },
    ];
    assert!(matches!(
        NetworkModel::from_lab(&dup, Default::default()),
        Err(Error::Model { .. })
    ));
}

#[test]
fn renderer_auto_by_distro() {
    for (distro, version, want) in [
        ("ubuntu", Some("22.04"), Renderer::Netplan),
        ("ubuntu", Some("16.04"), Renderer::Eni),
        ("debian", Some("12"), Renderer::Eni),
        ("rocky", Some("8"), Renderer::Sysconfig),
        ("rhel", Some("9"), Renderer::NetworkManager),
        ("fedora", None, Renderer::NetworkManager),
        ("arch", None, Renderer::Networkd),
    ] {
        assert_eq!(
            Renderer::for_distro(distro, version).unwrap(),
            want,
            "{distro} {version:?}"
        );
    }
    assert!(Renderer::for_distro("plan9", None).is_err());
    assert_eq!("nm".parse::<Renderer>(), Ok(Renderer::NetworkManager));
}

fn case(name: &str) -> (serde_json::Value, Vec<HostNic>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    (
        serde_json::from_str(&read("metadata.json")).unwrap(),
        serde_json::from_str(&read("interfaces.json")).unwrap(),
    )
}

#[test]
fn equinix_bonded_and_individual() {
    let (md, nics) = case("01-debian11-mlag-bonded");
    let input = Input {
        metadata: &md,
        operating_system: None,
        nics: &nics,
        resolvers: Some("198.51.100.53"),
        host_resolv_conf: None,
    };
    let m = equinix_model(&input).unwrap();
    let bond0 = m.get("bond0").expect("bond0");
    let Kind::Bond(b) = &bond0.kind else {
        panic!("bond0 is not a bond")
    };
    assert_eq!(b.members.len(), 2);
    assert!(bond0.addresses.len() >= 2, "{bond0:?}");
    assert!(bond0.routes.iter().any(|r| r.to == RouteTo::Default));
    assert_eq!(
        m.dns.nameservers,
        vec!["198.51.100.53".parse::<std::net::IpAddr>().unwrap()]
    );
    for r in Renderer::ALL {
        warren_netconf::render(&m, r).unwrap_or_else(|e| panic!("{r}: {e}"));
    }

    let (md, nics) = case("02-debian12-individual");
    let input = Input {
        metadata: &md,
        operating_system: None,
        nics: &nics,
        resolvers: Some("198.51.100.53"),
        host_resolv_conf: None,
    };
    let m = equinix_model(&input).unwrap();
    assert_eq!(m.interfaces.len(), 1);
    assert!(!m.interfaces[0].addresses.is_empty());
}

mod never_panics {
    use proptest::prelude::*;
    use warren_netconf::{Renderer, parse_network_config, render};

    /// A half-valid v2 document built from known keys and odd values.
    fn doc() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "dhcp4",
            "dhcp6",
            "accept-ra",
            "mtu",
            "addresses",
            "gateway4",
            "gateway6",
            "set-name",
            "wakeonlan",
            "interfaces",
            "id",
            "link",
            "routes",
            "nameservers",
            "match",
            "parameters",
            "macaddress",
            "optional",
            "critical",
            "link-local",
            "ipv6-privacy",
            "dhcp4-overrides",
            "dhcp6-overrides",
            "routing-policy",
        ]);
        let value = prop::sample::select(vec![
            "true",
            "no",
            "1500",
            "-1",
            "[10.0.0.1/24]",
            "[\"fe80::1/64\"]",
            "eth0",
            "[eth0, eth1]",
            "{macaddress: \"02:00:00:00:00:01\"}",
            "[{to: default, via: 10.0.0.1}]",
            "{mode: 802.3ad}",
            "{addresses: [198.51.100.1], search: [x]}",
            "7",
            "null",
            "{}",
            "[]",
            "\"a/b\"",
            "[ipv4]",
            "{use-dns: false, route-metric: 5, hostname: h}",
            "[{from: 10.0.0.0/8, table: 5, priority: 1}]",
            "[{to: 10.2.0.0/16, via: 10.0.0.1, on-link: true, scope: link, type: blackhole, from: 10.0.0.1}]",
            "\"02:00:00:00:00:09\"",
        ]);
        let section = prop::sample::select(vec!["ethernets", "bonds", "bridges", "vlans"]);
        let name = prop::sample::select(vec!["eth0", "eth1", "bond0", "br0", "v1"]);
        let device = prop::collection::btree_map(key, value, 0..5);
        let devices = prop::collection::btree_map(name, device, 1..4);
        prop::collection::btree_map(section, devices, 0..4).prop_map(|sections| {
            let mut out = String::from("network:\n  version: 2\n");
            for (section, devices) in sections {
                out += &format!("  {section}:\n");
                for (name, kv) in devices {
                    out += &format!("    {name}:\n");
                    for (k, v) in kv {
                        out += &format!("      {k}: {v}\n");
                    }
                    if out.ends_with(":\n") {
                        out.insert_str(out.len() - 1, " {}");
                    }
                }
            }
            out
        })
    }

    proptest! {
        #[test]
        fn parse_and_render_never_panic(text in doc()) {
            if let Ok(model) = parse_network_config(&text) {
                for r in Renderer::ALL {
                    if let Err(e) = render(&model, r) {
                        prop_assert!(!e.to_string().contains('\n'));
                    }
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_network_config(&text);
        }
    }
}

#[test]
fn a_bad_mac_is_refused() {
    let got = err(
        "version: 2\nethernets:\n  e: {match: {macaddress: \"52:54:00:zz:00:01\"}, set-name: e0}\n",
    );
    assert!(got.contains("is not a MAC address"), "{got}");
}

#[test]
fn a_nocloud_seed_carries_meta_user_and_network_config() {
    use warren_netconf::nocloud::{Seed, files};
    let model = NetworkModel::from_lab(
        &[LabInterface {
            name: "eth0".into(),
            mac: Some("02:00:00:00:00:01".into()),
            addresses: vec!["10.0.0.2/24".parse().unwrap()],
            ..LabInterface::default()
        }],
        Default::default(),
    )
    .unwrap();
    let got = files(&Seed {
        instance_id: "lab.vm",
        hostname: "vm",
        network: Some(&model),
        user_data: None,
    })
    .unwrap();
    let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["meta-data", "user-data", "network-config"]);
    assert_eq!(got[0].1, "instance-id: lab.vm\nlocal-hostname: vm\n");
    assert_eq!(got[1].1, "#cloud-config\n{}\n");
    // Version 2 at the top, as NoCloud's network-config has it.
    let net = &got[2].1;
    assert!(
        net.contains("\nversion: 2\nethernets:\n  \"eth0\":\n"),
        "{net}"
    );
    assert!(
        net.contains("match: {macaddress: \"02:00:00:00:00:01\"}"),
        "{net}"
    );
    assert!(net.contains("addresses: [\"10.0.0.2/24\"]"), "{net}");
    let bad = files(&Seed {
        instance_id: "a b",
        hostname: "vm",
        network: None,
        user_data: Some("x"),
    });
    assert!(bad.is_err());
}

/// Every bond and bridge parameter of cloud-init's v1 schema
/// (cloudinit/config/schemas/schema-network-config-v1.json) is known:
/// taken, or refused with its reason, never "not a parameter warren knows".
#[test]
fn every_v1_schema_parameter_is_known() {
    const BOND: &[&str] = &[
        "active_slave",
        "ad_actor_key",
        "ad_actor_sys_prio",
        "ad_actor_system",
        "ad_aggregator",
        "ad_num_ports",
        "ad_partner_key",
        "ad_partner_mac",
        "ad_select",
        "ad_user_port_key",
        "all_slaves_active",
        "arp_all_targets",
        "arp_interval",
        "arp_ip_target",
        "arp_validate",
        "downdelay",
        "fail_over_mac",
        "lacp_rate",
        "lp_interval",
        "mii_status",
        "miimon",
        "min_links",
        "mode",
        "num_grat_arp",
        "num_unsol_na",
        "packets_per_slave",
        "peer_notif_delay",
        "primary",
        "primary_reselect",
        "queue_id",
        "resend_igmp",
        "slaves",
        "tlb_dynamic_lb",
        "updelay",
        "use_carrier",
        "xmit_hash_policy",
    ];
    const BRIDGE: &[&str] = &[
        "ageing",
        "bridgeprio",
        "fd",
        "hello",
        "hw",
        "maxage",
        "maxwait",
        "pathcost",
        "portprio",
        "ports",
        "stp",
        "waitport",
    ];
    for key in BOND {
        let text = format!(
            "version: 1\nconfig:\n- {{type: physical, name: eth0}}\n- {{type: bond, name: bond0, bond_interfaces: [eth0], params: {{bond-{key}: \"1\"}}}}\n"
        );
        if let Err(e) = parse_network_config(&text) {
            let e = e.to_string();
            assert!(!e.contains("warren knows"), "bond-{key}: {e}");
            // A config error names the key (a model error, such as a
            // primary that is no member, names the interface).
            assert!(
                !e.starts_with("network config:") || e.contains(&format!("bond-{key}")),
                "bond-{key}: {e}"
            );
        }
    }
    for key in BRIDGE {
        let text = format!(
            "version: 1\nconfig:\n- {{type: physical, name: eth0}}\n- {{type: bridge, name: br0, bridge_interfaces: [eth0], params: {{bridge_{key}: \"1\"}}}}\n"
        );
        if let Err(e) = parse_network_config(&text) {
            let e = e.to_string();
            assert!(!e.contains("warren knows"), "bridge_{key}: {e}");
            // A config error names the key (a model error, such as a
            // primary that is no member, names the interface).
            assert!(
                !e.starts_with("network config:") || e.contains(&format!("bridge_{key}")),
                "bridge_{key}: {e}"
            );
        }
    }
}
