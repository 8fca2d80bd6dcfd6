//! Issue 20: routes in every form `ip route add` takes, and networks in
//! `mode: patch`, as lab files write them.

use warren_topology::plan::{Step, plan};

const LINK: &str = "name: t
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.0.0.1/24, 10.0.0.2/24]
";

fn messages(text: &str) -> Vec<String> {
    let l = warren_topology::load(text, "t");
    l.diagnostics.0.iter().map(|d| d.message.clone()).collect()
}

fn with_routes(routes: &str) -> String {
    format!("{LINK}interfaces:\n  a:eth1:\n    routes: {routes}\n")
}

#[test]
fn every_route_form_plans_as_written() {
    let text = with_routes(
        "[\"default via 10.0.0.2 metric 9\", \"10.1.0.0/16 dev eth1\", \"10.2.0.5\", \
         \"10.3.0.0/16 via 10.9.9.9 onlink\", \"10.4.0.0/16 via 10.0.0.2 src 10.0.0.1\", \
         {to: 10.5.0.0/16, via: 10.8.8.8, onlink: true, metric: 3}]",
    );
    let l = warren_topology::load(&text, "t");
    let lab = l.lab.unwrap_or_else(|| panic!("{:?}", l.diagnostics));
    let routes: Vec<String> = plan(&lab)
        .steps
        .iter()
        .filter(|s| matches!(s, Step::AddRoute { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        routes,
        [
            "route a: default via 10.0.0.2 dev eth1 metric 9",
            "route a: 10.1.0.0/16 dev eth1",
            "route a: 10.2.0.5/32 dev eth1",
            "route a: 10.3.0.0/16 via 10.9.9.9 dev eth1 onlink",
            "route a: 10.4.0.0/16 via 10.0.0.2 dev eth1 src 10.0.0.1",
            "route a: 10.5.0.0/16 via 10.8.8.8 dev eth1 metric 3 onlink",
        ]
    );
}

#[test]
fn a_bad_route_says_what_is_wrong_with_it() {
    for (route, want) in [
        (
            "\"default\"",
            "invalid route: no gateway (`via`) or interface (`dev`)",
        ),
        (
            "\"10.1.0.0/16 dev eth1 onlink\"",
            "invalid route: `onlink` needs a gateway (`via`)",
        ),
        (
            "\"10.1.0.0/16 via 10.0.0.2 src 2001:db8::1\"",
            "invalid route: destination 10.1.0.0/16 and source 2001:db8::1 are of different families",
        ),
        (
            "\"10.1.0.0/16 via 10.0.0.2 table 5\"",
            "invalid route: unknown word `table`",
        ),
        (
            "\"10.1.0.0/16 via 10.0.0.2 src 10.0.0.7\"",
            "route `10.1.0.0/16 via 10.0.0.2 src 10.0.0.7` on a: source 10.0.0.7 is not an address of the node",
        ),
        (
            "\"10.1.0.0/16 via 10.7.0.1\"",
            "route `10.1.0.0/16 via 10.7.0.1` on a: gateway 10.7.0.1 is on none of the node's subnets",
        ),
    ] {
        assert_eq!(
            messages(&with_routes(&format!("[{route}]"))),
            [want],
            "{route}"
        );
    }
}

const PATCH: &str = "name: t
nodes:
  a: {}
  b: {}
  c: {}
networks:
  w:
    mode: patch
";

#[test]
fn a_patch_network_plans_a_mirred_pair_and_no_bridge() {
    let l = warren_topology::load(&format!("{PATCH}    members: [a:eth1, b:eth1]\n"), "t");
    let lab = l.lab.unwrap_or_else(|| panic!("{:?}", l.diagnostics));
    let steps: Vec<String> = plan(&lab).steps.iter().map(ToString::to_string).collect();
    assert!(
        steps.contains(&"patch hub:n0m0 <-> hub:n0m1 (network w, tc mirred)".to_string()),
        "{steps:#?}"
    );
    assert!(!steps.iter().any(|s| s.contains("bridge")), "{steps:#?}");
}

#[test]
fn a_patch_joins_exactly_two_members_and_no_tunnel() {
    assert_eq!(
        messages(&format!("{PATCH}    members: [a:eth1, b:eth1, c:eth1]\n")),
        ["network `w` is a patch with 3 members; a patch joins exactly two"]
    );
    assert_eq!(
        messages(&format!(
            "{PATCH}    members: [a:eth1, b:eth1]\ntunnels:\n  - {{network: w, remote: 192.0.2.1, vni: 5}}\n"
        )),
        ["network `w` is a patch: a tunnel needs a bridge to join"]
    );
    assert_eq!(
        messages(&format!("{PATCH}    members: [a:eth1, b:eth1]\n").replace("patch", "ovs")),
        ["invalid network mode `ovs`"]
    );
}
