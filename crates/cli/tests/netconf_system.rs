//! `netconf: true` (renderer auto) on a system node: warren picks the
//! network tool the image carries (the fixture's debian:systemd, a
//! debootstrap minbase with systemd, has only systemd-networkd), renders
//! the lab's addresses and routes for it, and the node's own networkd
//! brings them up. Needs root and the registry fixture.

mod common;
use common::*;

#[test]
fn renderer_auto_uses_the_tool_the_image_carries() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let file = write_lab(
        tmp.path(),
        "nc-auto",
        "name: nc-auto
nodes:
  h: {}
  os:
    kind: system
    image: debian:systemd
    netconf: true
links:
  - endpoints: [h:eth0, os:eth0]
    ipv4: [10.96.0.1/24, 10.96.0.2/24]
interfaces:
  os:eth0: {routes: ['10.95.0.0/16 via 10.96.0.1']}
",
    );
    up_with(tmp.path(), &file, &env);
    let lab = LabGuard {
        name: "nc-auto".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("nc-auto"),
    };
    let (_, files, _) = lab.exec("os", &["ls", "/etc/systemd/network"]);
    assert!(
        files.lines().any(|l| l == "10-cloud-init-eth0.network"),
        "{files}"
    );
    // networkd inside configures the address and route (give it a moment
    // after boot).
    let mut route = String::new();
    for _ in 0..50 {
        route = lab
            .exec("os", &["ip", "-4", "route", "show", "10.95.0.0/16"])
            .1;
        if route.contains("via 10.96.0.1") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(route.contains("via 10.96.0.1 dev eth0"), "{route}");
    lab.ping("h", "10.96.0.2", &[]);
}
