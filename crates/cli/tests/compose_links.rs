//! conlink links warren used to refuse, run as root against the real
//! kernel: bridges in `mode: patch` (tc mirred, no bridge) and routes in
//! every form `ip route add` takes, in compose files and lab files alike.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Runs a host program in the lab's hub namespace, through the
/// supervisor's descriptor of it.
fn in_hub(lab: &str, argv: &[&str]) -> String {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("/run/warren/{lab}/state.json")).expect("state"),
    )
    .expect("state is JSON");
    let pid = state["supervisor"]["pid"].as_i64().expect("pid");
    let fd = state["netns"]["#hub"]
        .as_i64()
        .expect("the hub's descriptor");
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/fd/{fd}"))
        .args(argv)
        .output()
        .expect("nsenter runs");
    must(&out, &argv.join(" "))
}

/// Brings the compose file up, runs `body`, and always takes it down and
/// checks nothing is left.
fn with_lab(
    tmp: &Path,
    env: &[(String, String)],
    compose: &Path,
    lab: &str,
    body: impl FnOnce() + std::panic::UnwindSafe,
) {
    let compose = compose.to_str().expect("path");
    must(&with_env(tmp, env, &["up", "-q", compose]), "up");
    let held = lab_netns(lab);
    let result = std::panic::catch_unwind(body);
    must(&run(tmp, &["down", lab]), "down");
    assert_gone(lab, &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_patch_bridge_joins_two_services_with_tc_mirred_and_no_bridge_and_linux_mode_with_one() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/patch/compose.yaml");
    with_lab(tmp.path(), &env, &compose, "cl-patch", || {
        ping(tmp.path(), "cl-patch", "left_1", "10.74.0.2");
        ping(tmp.path(), "cl-patch", "right_1", "10.74.0.1");
        // No bridge in the hub: the two ports redirect to each other.
        let bridges = in_hub("cl-patch", &["ip", "-o", "link", "show", "type", "bridge"]);
        assert_eq!(bridges.trim(), "", "no bridge in a patch's hub");
        for (port, peer) in [("n0m0", "n0m1"), ("n0m1", "n0m0")] {
            let filters = in_hub(
                "cl-patch",
                &["tc", "filter", "show", "dev", port, "ingress"],
            );
            assert!(
                filters.contains(&format!("Redirect to device {peer}")),
                "{port}: {filters}"
            );
        }
        // Frames cross unchanged: each side learns the other's own MAC.
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-patch",
                "left_1",
                "--",
                "ip",
                "neigh",
                "show",
                "10.74.0.2",
            ],
        );
        assert!(must(&out, "ip neigh").contains("02:00:00:74:00:02"));
    });
    // The same file with BRIDGE_MODE=linux (one lab name, so in turn).
    let mut env = env;
    env.push(("BRIDGE_MODE".into(), "linux".into()));
    with_lab(tmp.path(), &env, &compose, "cl-patch", || {
        ping(tmp.path(), "cl-patch", "left_1", "10.74.0.2");
        let bridges = in_hub("cl-patch", &["ip", "-o", "link", "show", "type", "bridge"]);
        assert!(bridges.contains("wire"), "{bridges}");
    });
}

#[test]
fn a_patch_with_three_members_is_refused_naming_why() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let compose = tmp.path().join("compose.yaml");
    std::fs::write(
        &compose,
        "name: cl-patch3
services:
  a: {image: busybox, x-network: {links: [{bridge: w, ip: 10.74.1.1/24}]}}
  b: {image: busybox, scale: 2, x-network: {links: [{bridge: w, ip: 10.74.1.2/24}]}}
x-network:
  bridges:
    - {bridge: w, mode: patch}
",
    )
    .expect("write");
    let out = run(
        tmp.path(),
        &["up", "--dry-run", compose.to_str().expect("path")],
    );
    assert!(!out.status.success());
    // The message as one line, without the report's wrapping.
    let err = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("compose.yaml:7:25: x-network bridges[0]: bridge w is mode patch with 3 members (a_1:eth0, b_1:eth0, b_2:eth0); a patch joins exactly two"),
        "{err}"
    );
}

/// The routes of `node` as `ip route` prints them (one family), without
/// the kernel's own routes to the node's subnets (`connected`).
fn routes(cwd: &Path, lab: &str, node: &str, family: &str, connected: &[&str]) -> Vec<String> {
    let out = run(cwd, &["exec", lab, node, "--", "ip", family, "route"]);
    must(&out, "ip route")
        .lines()
        .filter(|l| !connected.iter().any(|c| l.starts_with(&format!("{c} "))))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn compose_routes_in_every_ip_route_form_land_in_the_kernel() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/routes/compose.yaml");
    with_lab(tmp.path(), &env, &compose, "cl-routes", || {
        assert_eq!(
            routes(tmp.path(), "cl-routes", "host_1", "-4", &["10.71.1.0/24"]),
            [
                "default via 10.71.1.1 dev eth0 metric 20",
                "10.71.2.0/24 via 10.71.1.1 dev eth0 src 10.71.1.10",
                "10.71.3.0/24 dev eth0 scope link",
                "10.71.4.7 dev eth0 scope link metric 7",
                "10.71.5.0/24 via 10.71.9.1 dev eth0 onlink",
                "10.71.6.0/24 dev eth0 scope link",
            ]
        );
        // The default route carries traffic to a subnet no route names.
        let out = run(
            tmp.path(),
            &[
                "exec",
                "cl-routes",
                "host_1",
                "--",
                "ip",
                "route",
                "get",
                "203.0.113.9",
            ],
        );
        assert!(must(&out, "ip route get").contains("via 10.71.1.1"));
        ping(tmp.path(), "cl-routes", "host_1", "10.71.1.1");
    });
}

#[test]
fn lab_file_routes_in_every_ip_route_form_land_in_the_kernel() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab = examples().join("routes.yaml");
    must(
        &run(tmp.path(), &["up", "-q", lab.to_str().expect("path")]),
        "up",
    );
    let held = lab_netns("routes");
    let result = std::panic::catch_unwind(|| {
        let strip = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|l| l.replace(" proto static", "").replace(" pref medium", ""))
                .collect()
        };
        assert_eq!(
            strip(routes(tmp.path(), "routes", "a", "-4", &["10.72.0.0/24"])),
            [
                "default via 10.72.0.2 dev eth1 metric 30",
                "10.72.1.0/24 via 10.72.0.2 dev eth1 src 10.72.0.1",
                "10.72.2.0/24 dev eth1 scope link",
                "10.72.3.9 dev eth1 scope link",
                "10.72.4.0/24 via 10.72.99.1 dev eth1 onlink",
                "10.72.5.0/24 dev eth1 scope link src 10.72.0.1 metric 5",
            ]
        );
        let v6 = strip(routes(
            tmp.path(),
            "routes",
            "a",
            "-6",
            &["2001:db8:72::/64", "fe80::/64"],
        ));
        for want in [
            "2001:db8:72:1::/64 via 2001:db8:72::2 dev eth1 metric 40",
            "2001:db8:72:2::/64 dev eth1 metric 1024",
            "default via 2001:db8:72::2 dev eth1 metric 1024",
        ] {
            assert!(v6.iter().any(|l| l == want), "{want} in {v6:?}");
        }
    });
    must(&run(tmp.path(), &["down", "routes"]), "down");
    assert_gone("routes", &held);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
