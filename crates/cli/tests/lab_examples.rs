//! The example labs come up on the real kernel and carry traffic as their
//! files say. Needs root.

mod common;
use common::*;

#[test]
fn triangle_routes_between_all_loopbacks() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = LabGuard::up(tmp.path(), &examples().join("triangle.yaml"), "triangle");
    let loopbacks = [
        ("r1", "10.255.0.1"),
        ("r2", "10.255.0.2"),
        ("r3", "10.255.0.3"),
    ];
    for (from, src) in loopbacks {
        for (to, dst) in loopbacks {
            if from != to {
                lab.ping(from, dst, &["-I", src]);
            }
        }
    }
}

#[test]
fn lan_hosts_reach_each_other_and_the_router() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = LabGuard::up(tmp.path(), &examples().join("lan.yaml"), "lan");
    let hosts: Vec<(String, String)> = (1..=5)
        .map(|i| (format!("h{i}"), format!("192.168.50.{}", i + 1)))
        .collect();
    for (h, _) in &hosts {
        lab.ping(h, "192.168.50.1", &[]);
        lab.ping(h, "198.51.100.2", &[]);
        for (other, addr) in &hosts {
            if h != other {
                lab.ping(h, addr, &[]);
            }
        }
    }
}

#[test]
fn dualstack_chain_passes_v4_and_v6_end_to_end() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = LabGuard::up(tmp.path(), &examples().join("dualstack.yaml"), "dualstack");
    lab.ping("h1", "10.1.2.2", &[]);
    lab.ping("h2", "10.1.1.2", &[]);
    lab.ping("h1", "2001:db8:2::2", &[]);
    lab.ping("h2", "2001:db8:1::2", &[]);
    // The 9000-byte MTU of the middle link carries a jumbo frame unfragmented.
    lab.ping("r1", "10.1.12.2", &["-M", "do", "-s", "8972"]);
    let (code, out, _) = lab.exec("r1", &["cat", "/sys/class/net/eth1/mtu"]);
    assert_eq!((code, out.trim()), (0, "9000"));
}
