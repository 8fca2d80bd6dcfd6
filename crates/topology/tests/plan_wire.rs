//! Impaired links are planned as user-space wires (two taps), others as
//! veth pairs.

use warren_topology::plan::{Step, plan};

const LAB: &str = "
nodes: {a: {}, b: {}, c: {}}
links:
  - endpoints: [a:eth1, b:eth1]
  - endpoints: [a:eth2, c:eth2]
    impair: {delay: 10ms}
  - endpoints: [b:eth3, c:eth3]
interfaces:
  b:eth3: {mac: \"02:00:00:00:00:03\", impair: {loss: 1%}}
";

#[test]
fn impaired_links_become_wires() {
    let lab = warren_topology::load(LAB, "w").lab.expect("valid lab");
    let p = plan(&lab);
    let mut veths = Vec::new();
    let mut wires = Vec::new();
    for s in &p.steps {
        match s {
            Step::CreateVeth { what, .. } => veths.push(what.clone()),
            Step::CreateWire { a, b, link, what } => {
                wires.push((link.clone(), what.clone()));
                if a.ifname == "eth3" {
                    assert!(a.mac.is_some(), "the planned MAC goes to the tap");
                }
                assert_ne!(a.ns, b.ns);
            }
            _ => {}
        }
    }
    assert_eq!(veths, ["a:eth1 <-> b:eth1"]);
    assert_eq!(
        wires.iter().map(|w| w.1.as_str()).collect::<Vec<_>>(),
        ["a:eth2 <-> c:eth2", "b:eth3 <-> c:eth3"]
    );
    assert!(
        p.to_string().contains("create wire a:eth2 <-> c:eth2"),
        "{p}"
    );
}
