//! What a drawing of a lab shows, read from the resolved lab as JSON (the
//! run's `lab.json`, or `serde_json::to_value(&lab)`): nodes with their
//! kinds, networks with their prefixes, and edges (links, and network
//! memberships) with the interface names and addresses at their ends,
//! their impairments and whether a fault hits them.
//!
//! Reading the JSON rather than the model keeps one path for a lab file
//! (`warren graph`), a finished run (`warren report`) and a running lab
//! (`warren view`), which all have the same `lab.json`.

use serde_json::Value;
use std::collections::BTreeSet;

/// A lab as it is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The lab's name.
    pub name: String,
    /// Nodes in file order.
    pub nodes: Vec<NodeShape>,
    /// Networks in file order.
    pub networks: Vec<NetShape>,
    /// Links, then network memberships.
    pub edges: Vec<Edge>,
}

/// A node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeShape {
    /// Its name.
    pub name: String,
    /// Its kind: `netns`, `container`, `system` or `vm`.
    pub kind: String,
    /// A fault restarts or stops it.
    pub faulted: bool,
}

/// A network (a bridge in the lab's hub).
#[derive(Debug, Clone, PartialEq)]
pub struct NetShape {
    /// Its name.
    pub name: String,
    /// Its IPv4 and IPv6 prefixes.
    pub prefixes: Vec<String>,
}

/// One end of an edge at a node.
#[derive(Debug, Clone, PartialEq)]
pub struct End {
    /// The node.
    pub node: String,
    /// The interface in the node.
    pub iface: String,
    /// Its addresses with prefix length.
    pub addresses: Vec<String>,
}

/// What an edge joins.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeKind {
    /// A point-to-point link from `from` to this end.
    Link(End),
    /// `from` is a member of this network.
    Member(String),
}

/// A link or a network membership.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The link's name (`r1.eth1-r2.eth1`), or the network member's
    /// `network/node:if`; the key the live view and captures use.
    pub id: String,
    /// The capture this edge's frames are counted in: the link's name, or
    /// the network's.
    pub capture: String,
    /// The node end (the first endpoint of a link).
    pub from: End,
    /// The other end.
    pub to: EdgeKind,
    /// The impairments on it (`delay 20ms loss 1%`), from the lab file; empty when none.
    pub impair: String,
    /// A fault takes it down or impairs it.
    pub faulted: bool,
}

/// Which faults count as having hit the lab.
#[derive(Debug, Clone, Copy)]
pub enum Faults<'a> {
    /// Every fault of the lab file (a drawing of the file).
    All,
    /// Scheduled faults (`at:`) and those named here (fired during a run).
    Fired(&'a BTreeSet<String>),
}

impl Topology {
    /// Reads a resolved lab (`lab.json`).
    pub fn from_lab_json(lab: &Value, faults: Faults<'_>) -> Topology {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let array = |v: &Value| v.as_array().cloned().unwrap_or_default();
        let end = |spec: &str| -> End {
            let (node, if_) = spec.split_once(':').unwrap_or((spec, ""));
            End {
                node: node.into(),
                iface: if_.into(),
                addresses: interface(lab, spec).0,
            }
        };
        let targets = fault_targets(lab, faults);
        let hit = |names: &[&str]| names.iter().any(|n| targets.contains(*n));
        let nodes = array(&lab["nodes"])
            .iter()
            .map(|n| NodeShape {
                name: text(&n["name"]),
                kind: n["kind"].as_str().unwrap_or("netns").to_string(),
                faulted: targets.contains(n["name"].as_str().unwrap_or_default()),
            })
            .collect();
        let mut edges = Vec::new();
        for l in array(&lab["links"]) {
            let ends = strings(&l["endpoints"]);
            let [a, b] = [0, 1].map(|i| ends.get(i).cloned().unwrap_or_default());
            let name = text(&l["name"]);
            let impair = [
                impair_text(&l["impair"]),
                iface_impair(lab, &a),
                iface_impair(lab, &b),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
            edges.push(Edge {
                faulted: hit(&[&name, &a, &b]),
                id: name.clone(),
                capture: name,
                from: end(&a),
                to: EdgeKind::Link(end(&b)),
                impair,
            });
        }
        let mut networks = Vec::new();
        for net in array(&lab["networks"]) {
            let name = text(&net["name"]);
            for m in strings(&net["members"]) {
                let impair = [impair_text(&net["impair"]), iface_impair(lab, &m)]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                edges.push(Edge {
                    id: format!("{name}/{m}"),
                    capture: name.clone(),
                    faulted: hit(&[&name, &m]),
                    from: end(&m),
                    to: EdgeKind::Member(name.clone()),
                    impair,
                });
            }
            let mut prefixes = strings(&net["ipv4"]);
            prefixes.extend(strings(&net["ipv6"]));
            networks.push(NetShape { name, prefixes });
        }
        Topology {
            name: text(&lab["name"]),
            nodes,
            networks,
            edges,
        }
    }
}

/// The addresses and impairments (as text) of interface `node:if`.
fn interface(lab: &Value, spec: &str) -> (Vec<String>, String) {
    let (node, name) = spec.split_once(':').unwrap_or((spec, ""));
    let found = lab["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == node)
        .and_then(|n| {
            n["interfaces"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["name"] == name)
        });
    let Some(i) = found else {
        return (Vec::new(), String::new());
    };
    let mut addrs = strings(&i["ipv4"]);
    addrs.extend(strings(&i["ipv6"]));
    (addrs, impair_text(&i["impair"]))
}

/// A string or an array of strings as a list.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `node:if: loss 1%` when the interface `spec` has impairments of its own.
fn iface_impair(lab: &Value, spec: &str) -> String {
    let text = interface(lab, spec).1;
    if text.is_empty() {
        text
    } else {
        format!("{spec}: {text}")
    }
}

/// `delay 20ms loss 1%` from an `impair:` object, keys in the object's order.
fn impair_text(v: &Value) -> String {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k} {s}"),
                    other => format!("{k} {other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// What the faults that count hit: link names or endpoints, network
/// names, node names.
fn fault_targets(lab: &Value, faults: Faults<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in lab["faults"].as_array().into_iter().flatten() {
        let counts = match faults {
            Faults::All => true,
            Faults::Fired(names) => {
                !f["at"].is_null() || f["name"].as_str().is_some_and(|n| names.contains(n))
            }
        };
        if !counts {
            continue;
        }
        for key in ["link", "on", "node"] {
            if let Some(t) = f[key].as_str() {
                out.insert(t.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lab() -> Value {
        json!({
            "name": "t",
            "nodes": [
                {"name": "r1", "kind": "netns", "interfaces": [
                    {"name": "eth1", "ipv4": ["10.0.12.1/24"], "ipv6": ["2001:db8::1/64"]},
                    {"name": "lan", "impair": {"loss": "1%"}}]},
                {"name": "r2", "kind": "vm", "interfaces": [{"name": "eth1"}]},
            ],
            "links": [{"name": "r1.eth1-r2.eth1", "endpoints": ["r1:eth1", "r2:eth1"],
                       "impair": {"delay": "20ms", "jitter": "5ms"}}],
            "networks": [{"name": "lan", "members": ["r1:lan"], "ipv4": "192.168.1.0/24"}],
            "faults": [
                {"name": "cut", "link": "r1:eth1", "down": "2s"},
                {"name": "boot", "node": "r2"},
            ],
        })
    }

    #[test]
    fn reads_nodes_links_networks_and_their_labels() {
        let t = Topology::from_lab_json(&lab(), Faults::All);
        assert_eq!(t.name, "t");
        assert_eq!(
            t.nodes
                .iter()
                .map(|n| (n.name.as_str(), n.kind.as_str()))
                .collect::<Vec<_>>(),
            [("r1", "netns"), ("r2", "vm")]
        );
        assert_eq!(t.edges.len(), 2);
        let link = &t.edges[0];
        assert_eq!(link.id, "r1.eth1-r2.eth1");
        assert_eq!(link.from.iface, "eth1");
        assert_eq!(link.from.addresses, ["10.0.12.1/24", "2001:db8::1/64"]);
        assert_eq!(link.impair, "delay 20ms jitter 5ms");
        assert!(link.faulted);
        let EdgeKind::Link(b) = &link.to else {
            panic!("a link")
        };
        assert_eq!((b.node.as_str(), b.iface.as_str()), ("r2", "eth1"));
        assert!(b.addresses.is_empty());
        let member = &t.edges[1];
        assert_eq!(member.id, "lan/r1:lan");
        assert_eq!(member.capture, "lan");
        assert_eq!(member.to, EdgeKind::Member("lan".into()));
        assert_eq!(member.impair, "r1:lan: loss 1%");
        assert!(!member.faulted);
        assert_eq!(t.networks[0].prefixes, ["192.168.1.0/24"]);
        assert!(t.nodes[1].faulted);
    }

    #[test]
    fn a_run_marks_only_the_faults_that_fired() {
        let fired = BTreeSet::from(["boot".to_string()]);
        let t = Topology::from_lab_json(&lab(), Faults::Fired(&fired));
        assert!(!t.edges[0].faulted);
        assert!(t.nodes[1].faulted);
        let none = BTreeSet::new();
        let t = Topology::from_lab_json(&lab(), Faults::Fired(&none));
        assert!(!t.nodes[1].faulted);
    }
}
