//! Drawings of a lab: Graphviz dot and Mermaid flowcharts.
//!
//! Nodes are boxes (vm nodes are 3D boxes, containers rounded), networks are
//! ellipses, and every edge is labelled with the interface names and
//! addresses at its ends.

use crate::model::{Lab, Node, NodeKind};
use std::fmt::Write;

fn addresses(lab: &Lab, node: &str, iface: &str) -> String {
    lab.node(node)
        .and_then(|n| n.interface(iface))
        .map(|i| {
            i.addresses()
                .map(|a| a.value.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn end_label(lab: &Lab, node: &str, iface: &str) -> String {
    let addrs = addresses(lab, node, iface);
    if addrs.is_empty() {
        iface.to_string()
    } else {
        format!("{iface} {addrs}")
    }
}

fn dot_shape(n: &Node) -> &'static str {
    match n.kind {
        NodeKind::Netns => "box",
        NodeKind::Container => "box, style=rounded",
        NodeKind::System => "box, style=\"rounded,bold\"",
        NodeKind::Vm => "box3d",
    }
}

/// A dot string. Backslashes pass through so that labels can use dot's
/// `\n` line breaks; names in a valid lab hold no quotes or backslashes.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The lab as a Graphviz graph.
pub fn to_dot(lab: &Lab) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", quote(&lab.name));
    let _ = writeln!(
        out,
        "  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];"
    );
    for n in &lab.nodes {
        let _ = writeln!(
            out,
            "  {} [shape={}, label={}];",
            quote(&n.name.value),
            dot_shape(n),
            quote(&format!("{}\\n({})", n.name.value, n.kind.as_str()))
        );
    }
    for net in &lab.networks {
        let mut label = net.name.value.clone();
        for p in net.ipv4.iter().chain(&net.ipv6) {
            let _ = write!(label, "\\n{}", p.value);
        }
        let _ = writeln!(
            out,
            "  {} [shape=ellipse, style=dashed, label={}];",
            quote(&format!("net:{}", net.name.value)),
            quote(&label)
        );
    }
    for l in &lab.links {
        let [a, b] = &l.endpoints;
        let _ = writeln!(
            out,
            "  {} -- {} [taillabel={}, headlabel={}];",
            quote(&a.value.node),
            quote(&b.value.node),
            quote(&end_label(lab, &a.value.node, &a.value.iface)),
            quote(&end_label(lab, &b.value.node, &b.value.iface))
        );
    }
    for net in &lab.networks {
        for m in &net.members {
            let _ = writeln!(
                out,
                "  {} -- {} [taillabel={}];",
                quote(&m.value.node),
                quote(&format!("net:{}", net.name.value)),
                quote(&end_label(lab, &m.value.node, &m.value.iface))
            );
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid ids allow letters, digits and underscores only.
fn mermaid_id(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{prefix}_{clean}")
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// The lab as a Mermaid flowchart.
pub fn to_mermaid(lab: &Lab) -> String {
    let mut out = String::from("flowchart LR\n");
    for n in &lab.nodes {
        let id = mermaid_id("n", &n.name.value);
        let text = mermaid_text(&format!("{}<br/>{}", n.name.value, n.kind.as_str()));
        let shape = match n.kind {
            NodeKind::Vm => format!("{id}[[\"{text}\"]]"),
            NodeKind::Container | NodeKind::System => format!("{id}(\"{text}\")"),
            NodeKind::Netns => format!("{id}[\"{text}\"]"),
        };
        let _ = writeln!(out, "  {shape}");
    }
    for net in &lab.networks {
        let id = mermaid_id("net", &net.name.value);
        let mut text = net.name.value.clone();
        for p in net.ipv4.iter().chain(&net.ipv6) {
            let _ = write!(text, "<br/>{}", p.value);
        }
        let _ = writeln!(out, "  {id}((\"{}\"))", mermaid_text(&text));
    }
    for l in &lab.links {
        let [a, b] = &l.endpoints;
        let label = format!(
            "{} — {}",
            end_label(lab, &a.value.node, &a.value.iface),
            end_label(lab, &b.value.node, &b.value.iface)
        );
        let _ = writeln!(
            out,
            "  {} ---|\"{}\"| {}",
            mermaid_id("n", &a.value.node),
            mermaid_text(&label),
            mermaid_id("n", &b.value.node)
        );
    }
    for net in &lab.networks {
        for m in &net.members {
            let _ = writeln!(
                out,
                "  {} ---|\"{}\"| {}",
                mermaid_id("n", &m.value.node),
                mermaid_text(&end_label(lab, &m.value.node, &m.value.iface)),
                mermaid_id("net", &net.name.value)
            );
        }
    }
    out
}
