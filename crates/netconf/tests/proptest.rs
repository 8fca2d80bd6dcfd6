//! Random metadata never makes `plan` panic, and every failure is one line.

use proptest::prelude::*;
use serde_json::{Value, json};
use warren_netconf::{Error, HostNic, Input, plan};

const MACS: [&str; 3] = [
    "b4:96:91:00:00:00",
    "B4:96:91:00:00:01",
    "b4:96:91:00:00:02",
];

/// Any JSON value, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9./:_ -]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value that is usually of the expected kind and sometimes anything.
fn or_junk(good: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    prop_oneof![40 => good.boxed(), 1 => any_json().boxed(), 1 => Just(Value::Null).boxed()]
}

fn word(options: &'static [&'static str]) -> impl Strategy<Value = Value> {
    or_junk(prop::sample::select(options).prop_map(Value::from))
}

fn interface() -> impl Strategy<Value = Value> {
    or_junk(
        (
            word(&["eth0", "eth1", "eth2"]),
            or_junk(prop::sample::select(&MACS[..]).prop_map(Value::from)),
            word(&["bond0", "bond0", "bond1", ""]),
            or_junk(any::<bool>().prop_map(Value::from)),
        )
            .prop_map(|(name, mac, bond, dhcp)| json!({"name": name, "mac": mac, "bond": bond, "dhcp": dhcp})),
    )
}

fn address() -> impl Strategy<Value = Value> {
    or_junk(
        (
            or_junk(prop::sample::select(&[4, 6, 5][..]).prop_map(Value::from)),
            or_junk(any::<bool>().prop_map(Value::from)),
            or_junk(any::<bool>().prop_map(Value::from)),
            word(&["198.51.100.1", "2001:db8::1"]),
            word(&["255.255.255.0"]),
            word(&["198.51.100.0"]),
            or_junk((0i64..129).prop_map(Value::from)),
        )
            .prop_map(|(af, public, mgmt, address, netmask, gateway, cidr)| {
                json!({"address_family": af, "public": public, "management": mgmt,
                       "address": address, "netmask": netmask, "gateway": gateway, "cidr": cidr})
            }),
    )
}

fn metadata() -> impl Strategy<Value = Value> {
    (
        word(&["host", "a b"]),
        word(&[
            "c3.small.x86",
            "x1.small.x86",
            "baremetal_hua",
            "baremetal_1e",
        ]),
        word(&[
            "debian",
            "ubuntu",
            "centos",
            "rhel",
            "redhatenterpriseserver",
            "alpine",
            "Rocky",
            "gentoo",
        ]),
        word(&["10", "11", "18.04", "22.04", "7", "9", "3"]),
        word(&["rhel_9", "debian_10"]),
        or_junk(
            prop::collection::vec(word(&["10.0.0.0/8", "100.64.0.0/10"]), 0..3)
                .prop_map(Value::from),
        ),
        or_junk(prop::sample::select(vec![
            Value::from(4),
            Value::from(1),
            Value::from("4"),
        ])),
        word(&["bonded", "mlag_ha", "individual", "hybrid"]),
        or_junk(prop::collection::vec(interface(), 1..4).prop_map(Value::from)),
        or_junk(prop::collection::vec(address(), 0..4).prop_map(Value::from)),
    )
        .prop_map(
            |(hostname, plan, distro, version, slug, subnets, mode, agg, ifaces, addrs)| {
                json!({
                    "hostname": hostname, "plan": plan,
                    "operating_system": {"distro": distro, "version": version, "slug": slug},
                    "private_subnets": subnets,
                    "network": {"bonding": {"mode": mode, "link_aggregation": agg},
                                "interfaces": ifaces, "addresses": addrs}
                })
            },
        )
}

fn host_nics() -> Vec<HostNic> {
    MACS.iter()
        .enumerate()
        .map(|(i, mac)| HostNic {
            logicalname: format!("eth{i}"),
            mac: mac.to_lowercase(),
            driver: Some("ixgbe".to_owned()),
            udev: [("ID_NET_NAME_PATH".to_owned(), format!("enp{i}s0"))].into(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn structured_metadata_never_panics(
        md in metadata(),
        os in prop_oneof![
            7 => Just(None),
            2 => prop::sample::select(&["debian 10", "Ubuntu 22.04", "rocky 9", "alpine 3", "n/a"][..]).prop_map(|s| Some(s.to_owned())),
            1 => "[a-zA-Z0-9 /.]{0,14}".prop_map(Some),
        ],
        resolvers in prop::option::of("[0-9.,]{0,20}"),
    ) {
        let nics = host_nics();
        let input = Input {
            metadata: &md,
            operating_system: os.as_deref(),
            nics: &nics,
            resolvers: resolvers.as_deref(),
            host_resolv_conf: None,
        };
        match plan(&input) {
            Ok(tasks) => {
                prop_assert!(!tasks.is_empty());
                for t in tasks {
                    prop_assert!(!t.path.starts_with('/') && !t.path.split('/').any(|c| c == ".."), "{}", t.path);
                }
            }
            // A template error would be a warren bug, not bad metadata.
            Err(e) => prop_assert!(
                !e.to_string().contains('\n') && !matches!(e, Error::Template { .. }),
                "{e}"
            ),
        }
    }

    #[test]
    fn arbitrary_json_never_panics(md in any_json()) {
        let nics = host_nics();
        let input = Input { metadata: &md, operating_system: None, nics: &nics, resolvers: None, host_resolv_conf: None };
        if let Err(e) = plan(&input) {
            prop_assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
