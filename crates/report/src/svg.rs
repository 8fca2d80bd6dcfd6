//! The topology as an inline SVG: nodes shaped by kind (a box for netns,
//! a rounded box for a container, a rounded box with a heavy border for a
//! system node, a 3D box for a vm), networks as dashed ellipses, and
//! edges labelled with the interface and addresses at each end. Impaired
//! edges are dashed orange with their impairments written on them; edges
//! and nodes a fault hits are red with a marker.
//!
//! Every shape carries its name in a data attribute (`data-node`,
//! `data-network`, `data-link`, `data-capture`), so a page's script (the
//! live view) and tests find them without guessing at coordinates.

use crate::html::esc;
use crate::layout::{self, Point};
use crate::topology::{EdgeKind, Topology};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Width the layout aims for.
const WIDTH: f64 = 1000.0;
const NODE_H: f64 = 44.0;

/// The drawing. `counters` maps a capture (a link's or network's name) to
/// the text shown beside it, such as `1234 frames`; the live view rewrites
/// those texts.
pub fn topology(t: &Topology, counters: &BTreeMap<String, String>) -> String {
    let n = t.nodes.len();
    let vertex = |name: &str, net: bool| -> Option<usize> {
        if net {
            t.networks
                .iter()
                .position(|x| x.name == name)
                .map(|i| n + i)
        } else {
            t.nodes.iter().position(|x| x.name == name)
        }
    };
    let pairs: Vec<(usize, usize, usize)> = t
        .edges
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let a = vertex(&e.from.node, false)?;
            let b = match &e.to {
                EdgeKind::Link(end) => vertex(&end.node, false)?,
                EdgeKind::Member(net) => vertex(net, true)?,
            };
            Some((i, a, b))
        })
        .collect();
    // Links carry labels at both ends and a counter: give them more room
    // than network memberships, which are labelled at one end.
    let edges: Vec<(usize, usize, f64)> = pairs
        .iter()
        .map(|&(i, a, b)| {
            let stretch = if matches!(t.edges[i].to, EdgeKind::Link(_)) {
                1.6
            } else {
                1.0
            };
            (a, b, stretch)
        })
        .collect();
    let (pos, height) = layout::layout(n + t.networks.len(), &edges, WIDTH);
    let width = pos
        .iter()
        .map(|p| p.x + layout::MIN_GAP)
        .fold(WIDTH, f64::max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"topology of {}\">",
        esc(&t.name)
    );
    // Which way each vertex's edges leave it, so end labels can go on
    // the side with fewer of them.
    let mut dirs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); pos.len()];
    for &(_, a, b) in &pairs {
        let (dx, dy) = (pos[b].x - pos[a].x, pos[b].y - pos[a].y);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        dirs[a].push((dx / len, dy / len));
        dirs[b].push((-dx / len, -dy / len));
    }
    // Edges first, so shapes cover their ends.
    for &(i, a, b) in &pairs {
        let at = |v: usize| EndAt {
            at: pos[v],
            dirs: &dirs[v],
        };
        edge(&mut s, t, i, &at(a), &at(b), counters);
    }
    for (node, p) in t.nodes.iter().zip(&pos) {
        let w = box_width(&node.name);
        let (x, y) = (p.x - w / 2.0, p.y - NODE_H / 2.0);
        let mut class = format!("node {}", esc(&node.kind));
        if node.faulted {
            class.push_str(" faulted");
        }
        let _ = write!(
            s,
            "<g class=\"{class}\" data-node=\"{}\" data-kind=\"{}\">",
            esc(&node.name),
            esc(&node.kind)
        );
        match node.kind.as_str() {
            "vm" => {
                // A box with depth: top and right faces behind the front.
                let d = 8.0;
                let _ = write!(
                    s,
                    "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\"/>\
                     <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{NODE_H}\"/>",
                    x,
                    y,
                    x + d,
                    y - d,
                    x + w + d,
                    y - d,
                    x + w + d,
                    y + NODE_H - d,
                    x + w,
                    y + NODE_H,
                    x + w,
                    y
                );
            }
            kind => {
                let r = if kind == "netns" { 0 } else { 10 };
                let _ = write!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{NODE_H}\" rx=\"{r}\"/>"
                );
            }
        }
        let _ = write!(
            s,
            "<text class=\"name\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"kind\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            p.x,
            p.y - 3.0,
            esc(&node.name),
            p.x,
            p.y + 13.0,
            esc(&node.kind)
        );
        if node.faulted {
            let _ = write!(
                s,
                "<text class=\"fault\" x=\"{:.1}\" y=\"{:.1}\" fill=\"#cf222e\">⚡ fault</text>",
                x + w + 4.0,
                y
            );
        }
        s.push_str("<title>");
        s.push_str(&esc(&format!("{} ({})", node.name, node.kind)));
        s.push_str("</title></g>\n");
    }
    for (net, p) in t.networks.iter().zip(&pos[n..]) {
        let rx = box_width(&net.name).max(
            net.prefixes
                .iter()
                .map(|p| box_width(p))
                .fold(0.0, f64::max),
        ) / 2.0
            + 6.0;
        let ry = 18.0 + 7.0 * f64::from(u32::try_from(net.prefixes.len()).unwrap_or(0));
        let _ = write!(
            s,
            "<g class=\"network\" data-network=\"{}\"><ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{rx:.1}\" ry=\"{ry:.1}\"/>\
             <text class=\"name\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            esc(&net.name),
            p.x,
            p.y,
            p.x,
            p.y - ry + 20.0,
            esc(&net.name)
        );
        for (k, prefix) in net.prefixes.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let y = p.y - ry + 35.0 + 14.0 * k as f64;
            let _ = write!(
                s,
                "<text class=\"kind\" x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
                p.x,
                esc(prefix)
            );
        }
        let _ = write!(
            s,
            "<text class=\"counter\" data-capture=\"{}\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            esc(&net.name),
            p.x,
            p.y + ry + 14.0,
            esc(counters.get(&net.name).map_or("", String::as_str))
        );
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// A standalone page of the drawing alone (`warren graph --format html`).
pub fn page(t: &Topology) -> String {
    let body = format!(
        "<h1>{}</h1>\n{}<p>Boxes: netns; rounded: container; heavy rounded: system; 3D: vm; \
         dashed ellipses: networks. Dashed orange: impaired. Red with ⚡: a fault hits it.</p>\n",
        esc(&t.name),
        topology(t, &BTreeMap::new())
    );
    crate::html::page(&format!("warren graph: {}", t.name), &body, "")
}

fn as_refs<'a>(lines: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    lines.iter().map(|(c, t)| (*c, t.as_str())).collect()
}

/// How far along an edge (direction `ux`, `uy`) from the centre of node
/// `node` a label of `lines` must be to clear the node's box.
fn clear(node: &str, ux: f64, uy: f64, lines: &[(&str, String)]) -> f64 {
    let (hw, hh) = (box_width(node) / 2.0, NODE_H / 2.0);
    let to_border = (hw / ux.abs().max(1e-9)).min(hh / uy.abs().max(1e-9));
    let widest = lines
        .iter()
        .map(|(_, t)| t.chars().count())
        .max()
        .unwrap_or(0);
    let half_text = f64::from(u32::try_from(widest).unwrap_or(0)) * 3.4;
    to_border + half_text * ux.abs() * ux.abs() + 8.0 * uy.abs() + 8.0
}

/// The drawing as a standalone SVG file (`warren graph --format svg`):
/// the same picture with the style sheet inside it.
pub fn file(t: &Topology) -> String {
    let svg = topology(t, &BTreeMap::new());
    let (open, rest) = svg.split_once('\n').unwrap_or((&svg, ""));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{open}\n<style>{}</style>\n{rest}",
        crate::html::STYLE
    )
}

/// Width of a node's box for its name.
fn box_width(text: &str) -> f64 {
    let chars = f64::from(u32::try_from(text.chars().count()).unwrap_or(u32::MAX));
    (chars * 7.5 + 24.0).max(80.0)
}

/// A vertex an edge ends at, and the directions all its edges leave it in.
struct EndAt<'a> {
    at: Point,
    dirs: &'a [(f64, f64)],
}

/// Which side of an edge (1: along the normal `n`, -1: against it) a
/// label at a vertex goes, for an edge leaving in direction `d`: the side
/// with less of the vertex's other edges near it; `default` on a tie.
fn side(d: (f64, f64), n: (f64, f64), dirs: &[(f64, f64)], default: f64) -> f64 {
    let crowd = |sd: f64| -> f64 {
        dirs.iter()
            .filter(|o| (o.0 - d.0).abs() + (o.1 - d.1).abs() > 1e-6)
            .filter(|o| o.0 * d.0 + o.1 * d.1 > 0.0)
            .map(|o| (o.0 * n.0 + o.1 * n.1) * sd)
            .filter(|v| *v > 0.0)
            .sum()
    };
    let (plus, minus) = (crowd(1.0), crowd(-1.0));
    if (plus - minus).abs() < 1e-9 {
        default
    } else if plus < minus {
        1.0
    } else {
        -1.0
    }
}

fn edge(
    s: &mut String,
    t: &Topology,
    i: usize,
    from: &EndAt<'_>,
    to: &EndAt<'_>,
    counters: &BTreeMap<String, String>,
) {
    let (a, b) = (from.at, to.at);
    let e = &t.edges[i];
    let mut class = String::from("edge");
    let link = matches!(e.to, EdgeKind::Link(_));
    class.push_str(if link { " link" } else { " member" });
    if !e.impair.is_empty() {
        class.push_str(" impaired");
    }
    if e.faulted {
        class.push_str(" faulted");
    }
    let _ = write!(
        s,
        "<g class=\"{class}\" data-link=\"{}\" data-capture=\"{}\">\
         <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
        esc(&e.id),
        esc(&e.capture),
        a.x,
        a.y,
        b.x,
        b.y
    );
    // Labels sit beside the line, on the side its normal points to, and
    // grow away from it: anchored at their start on the right of a steep
    // line, at their end on its left, centred on a flat one.
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (nx, ny) = if uy > 0.0 || (uy == 0.0 && ux < 0.0) {
        (uy, -ux)
    } else {
        (-uy, ux)
    };
    // `side` 1 is the normal's side, -1 the other: by default the two
    // ends' labels go on opposite sides, so they cannot collide on a short
    // edge, unless other edges crowd that side (see [`side`]). Lines
    // keep their order and the block grows away from the line (or from
    // the node, `down` false growing upwards).
    let block = |s: &mut String, f: f64, side: f64, down: bool, lines: &[(&str, &str)]| {
        let (nx, ny) = (nx * side, ny * side);
        let anchor = if nx > 0.35 {
            "start"
        } else if nx < -0.35 {
            "end"
        } else {
            "middle"
        };
        let lines: Vec<_> = lines.iter().filter(|(_, b)| !b.is_empty()).collect();
        let (x, mut y) = (a.x + dx * f + nx * 10.0, a.y + dy * f + ny * 10.0 + 4.0);
        if !down {
            #[allow(clippy::cast_precision_loss)]
            let rows = lines.len().saturating_sub(1) as f64;
            y -= 14.0 * rows;
        }
        for (class, body) in lines {
            let _ = write!(
                s,
                "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
                esc(body)
            );
            y += 14.0;
        }
    };
    // An end's block grows away from its node; on a nearly flat edge,
    // away from the line.
    let away = |towards: f64, side: f64| {
        if uy.abs() > 0.3 {
            towards > 0.0
        } else {
            ny * side >= 0.0
        }
    };
    // An end's label: the interface, then each address on its own line.
    let end_lines = |end: &crate::topology::End| -> Vec<(&'static str, String)> {
        std::iter::once(&end.iface)
            .chain(&end.addresses)
            .map(|t| ("end", t.clone()))
            .collect()
    };
    let from_lines = end_lines(&e.from);
    let near = (clear(&e.from.node, ux, uy, &from_lines) / len).min(0.4);
    let sd = side((ux, uy), (nx, ny), from.dirs, 1.0);
    block(s, near, sd, away(uy, sd), &as_refs(&from_lines));
    let mut middle = vec![("impair", e.impair.as_str())];
    if let EdgeKind::Link(end) = &e.to {
        let lines = end_lines(end);
        let near = (clear(&end.node, ux, uy, &lines) / len).min(0.4);
        let sd = side((-ux, -uy), (nx, ny), to.dirs, -1.0);
        block(s, 1.0 - near, sd, away(-uy, sd), &as_refs(&lines));
        middle.push((
            "counter",
            counters.get(&e.capture).map_or("", String::as_str),
        ));
    }
    if e.faulted {
        middle.push(("fault", "⚡ fault"));
    }
    block(s, 0.5, 1.0, ny >= 0.0, &middle);
    let _ = writeln!(s, "<title>{}</title></g>", esc(&e.id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Faults;

    #[test]
    fn every_node_link_and_network_is_drawn_with_its_labels() {
        let lab = serde_json::json!({
            "name": "t",
            "nodes": [
                {"name": "r1", "kind": "netns", "interfaces": [{"name": "eth1", "ipv4": ["10.0.12.1/24"]}]},
                {"name": "dut", "kind": "vm", "interfaces": [{"name": "eth1"}, {"name": "lan"}]},
                {"name": "os", "kind": "system", "interfaces": [{"name": "lan"}]},
            ],
            "links": [{"name": "r1.eth1-dut.eth1", "endpoints": ["r1:eth1", "dut:eth1"], "impair": {"delay": "20ms"}}],
            "networks": [{"name": "lan", "members": ["dut:lan", "os:lan"], "ipv4": "192.168.9.0/24"}],
        });
        let t = Topology::from_lab_json(&lab, Faults::All);
        let counters = BTreeMap::from([("lan".to_string(), "7 frames".to_string())]);
        let svg = topology(&t, &counters);
        for node in ["r1", "dut", "os"] {
            assert_eq!(svg.matches(&format!("data-node=\"{node}\"")).count(), 1);
        }
        assert!(svg.contains("class=\"node vm\""));
        assert!(svg.contains("<polygon"));
        assert!(svg.contains("class=\"node system\""));
        assert!(svg.contains("data-network=\"lan\""));
        assert!(svg.contains("class=\"edge link impaired\" data-link=\"r1.eth1-dut.eth1\""));
        assert!(svg.contains(">delay 20ms</text>"));
        assert!(svg.contains(">eth1</text>"));
        assert!(svg.contains(">10.0.12.1/24</text>"));
        assert!(svg.contains("data-link=\"lan/os:lan\""));
        assert!(svg.contains(">192.168.9.0/24</text>"));
        assert!(svg.contains(">7 frames</text>"));
        let f = file(&t);
        assert!(
            f.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg class=\"topology\"")
        );
        assert!(f.contains("<style>") && f.trim_end().ends_with("</svg>"));
    }
}
