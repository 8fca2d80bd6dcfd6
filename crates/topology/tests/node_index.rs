//! `Lab::node` finds nodes through an index (issue 19: a walk per lookup
//! made `up` quadratic at thousands of nodes). The index is a cache: it
//! must agree with `nodes` after they change, after a clone and after a
//! saved-lab round trip.

use std::fmt::Write;
use warren_topology::{Lab, load};

fn chain(n: usize) -> Lab {
    let mut text = String::from("name: chain\nnodes:\n");
    for i in 0..n {
        writeln!(text, "  n{i}: {{}}").unwrap();
    }
    load(&text, "chain").lab.expect("valid")
}

#[test]
fn finds_every_node_and_no_other() {
    let lab = chain(2000);
    for i in 0..2000 {
        let name = format!("n{i}");
        assert_eq!(lab.node(&name).map(|n| &n.name.value), Some(&name));
    }
    assert!(lab.node("n2000").is_none());
    assert!(lab.node("").is_none());
}

#[test]
fn follows_nodes_changed_after_a_lookup() {
    let mut lab = chain(3);
    assert!(lab.node("n1").is_some());
    // Remove n0: every cached position is now off by one.
    let n0 = lab.nodes.remove(0);
    assert!(lab.node("n0").is_none());
    assert_eq!(lab.node("n2").unwrap().name.value, "n2");
    // Add a node and rename another.
    let mut extra = n0.clone();
    extra.name.value = "late".into();
    lab.nodes.push(extra);
    lab.nodes[0].name.value = "renamed".into();
    assert_eq!(lab.node("late").unwrap().name.value, "late");
    assert_eq!(lab.node("renamed").unwrap().name.value, "renamed");
    assert!(lab.node("n1").is_none());
}

#[test]
fn clone_and_saved_round_trip_find_the_same_nodes() {
    let lab = chain(50);
    assert!(lab.node("n7").is_some());
    let mut copy = lab.clone();
    copy.nodes.truncate(10);
    assert!(copy.node("n7").is_some());
    assert!(copy.node("n20").is_none());
    assert!(lab.node("n20").is_some(), "the original keeps its nodes");
    let json = serde_json::to_string(&lab).unwrap();
    assert!(!json.contains("node_index"), "the index is not saved");
    let back = Lab::from_saved(&json).expect("reads back");
    assert_eq!(back.node("n49").unwrap().name.value, "n49");
}
