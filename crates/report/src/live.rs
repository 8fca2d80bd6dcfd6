//! The live view `warren view` serves: the topology drawing and a script
//! that asks the server for `/state` once a second, then marks each link
//! up or down (and impaired), each node running or stopped, writes each
//! capture's frame counter and appends new events.
//!
//! [`state`] turns the supervisor's `inspect` answer (as JSON) into what
//! the page shows, so the mapping from kernel interfaces to drawn links is
//! pure and tested here; the server only moves bytes.

use crate::html::{esc, page};
use crate::svg;
use crate::topology::{EdgeKind, End, Topology};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Operational states in which an interface carries nothing.
const DOWN_STATES: [&str; 4] = ["down", "lowerlayerdown", "notpresent", "dormant"];

/// What the page shows of the lab now, from an `inspect` answer:
/// `{"status", "nodes": {name: "running"|"stopped"}, "links": {edge id:
/// {"up", "impaired"}}, "captures": {name: {"captured", "dropped"}}}`.
///
/// An edge is down when an interface at one of its ends is down
/// (administratively or without carrier); ends the answer does not list
/// (a vm's NIC, which lives in QEMU) do not count. It is impaired when
/// the lab file impairs it or a kernel qdisc now carries impairments.
pub fn state(topo: &Topology, inspect: &Value) -> Value {
    let mut ifaces: BTreeMap<(String, String), &Value> = BTreeMap::new();
    let mut nodes = Map::new();
    for n in inspect["nodes"].as_array().into_iter().flatten() {
        let name = n["name"].as_str().unwrap_or_default();
        for i in n["interfaces"].as_array().into_iter().flatten() {
            let iname = i["name"].as_str().unwrap_or_default();
            ifaces.insert((name.to_string(), iname.to_string()), i);
        }
        if topo.nodes.iter().any(|t| t.name == name) {
            let word = if n["stopped"].as_bool().unwrap_or(false) {
                "stopped"
            } else {
                "running"
            };
            nodes.insert(name.to_string(), json!(word));
        }
    }
    let iface = |e: &End| ifaces.get(&(e.node.clone(), e.iface.clone())).copied();
    let down = |i: &Value| {
        !i["up"].as_bool().unwrap_or(true)
            || DOWN_STATES.contains(&i["state"].as_str().unwrap_or_default())
    };
    let kernel_impaired = |i: &Value| i["path"].as_str().is_some_and(|p| p.starts_with("kernel-"));
    let mut links = Map::new();
    for e in &topo.edges {
        let mut ends = vec![iface(&e.from)];
        if let EdgeKind::Link(b) = &e.to {
            ends.push(iface(b));
        }
        let ends: Vec<&Value> = ends.into_iter().flatten().collect();
        links.insert(
            e.id.clone(),
            json!({
                "up": !ends.iter().any(|i| down(i)),
                "impaired": !e.impair.is_empty() || ends.iter().any(|i| kernel_impaired(i)),
            }),
        );
    }
    let mut captures = Map::new();
    for c in inspect["captures"].as_array().into_iter().flatten() {
        if let Some(name) = c["name"].as_str() {
            captures.insert(
                name.to_string(),
                json!({ "captured": c["captured"], "dropped": c["dropped"] }),
            );
        }
    }
    json!({
        "status": inspect["status"],
        "nodes": nodes,
        "links": links,
        "captures": captures,
    })
}

/// The script: polls `/state?since=N` (N events already shown) once a
/// second and applies the answer to the drawing; says so when the lab is
/// gone.
const SCRIPT: &str = r#"
let seen = 0;
const q = (sel) => Array.from(document.querySelectorAll(sel));
function apply(s) {
  document.getElementById('status').textContent = s.gone ? 'gone' : s.status;
  for (const g of q('svg.topology [data-link]')) {
    const l = s.links[g.dataset.link];
    if (!l) continue;
    g.classList.toggle('down', !l.up);
    g.classList.toggle('impaired', l.impaired);
    g.dataset.state = l.up ? 'up' : 'down';
  }
  for (const g of q('svg.topology [data-node]')) {
    const n = s.nodes[g.dataset.node];
    if (!n) continue;
    g.classList.toggle('stopped', n === 'stopped');
    g.dataset.state = n;
  }
  for (const t of q('svg.topology .counter')) {
    const c = s.captures[t.dataset.capture || t.closest('[data-capture]').dataset.capture];
    if (c) t.textContent = c.captured + ' frames' + (c.dropped ? ', ' + c.dropped + ' dropped' : '');
  }
  for (const tr of q('#nodes tr[data-node]')) {
    const n = s.nodes[tr.dataset.node];
    if (n) tr.querySelector('.state').textContent = n;
  }
  const list = document.getElementById('events');
  for (const e of s.events) {
    const li = document.createElement('li');
    const when = new Date(e.t * 1000).toISOString().slice(11, 23);
    const rest = Object.entries(e).filter(([k]) => k !== 't' && k !== 'event')
      .map(([k, v]) => k + '=' + (typeof v === 'string' ? v : JSON.stringify(v))).join(' ');
    li.textContent = when + ' ' + e.event + ' ' + rest;
    list.prepend(li);
  }
  seen = s.next;
  document.getElementById('updated').textContent = new Date().toISOString().slice(11, 19);
}
async function tick() {
  try {
    const r = await fetch('/state?since=' + seen, {cache: 'no-store'});
    apply(await r.json());
  } catch (e) {
    document.getElementById('status').textContent = 'server gone';
  }
}
tick();
setInterval(tick, 1000);
"#;

/// The view's page for `topo`.
pub fn page_for(topo: &Topology) -> String {
    let mut b = format!(
        "<h1>warren view: {}</h1>\n<p>Lab <b id=\"status\">…</b>, updated <span id=\"updated\">never</span>. \
         Read only: change the lab with <code>warren link</code>, <code>warren impair</code>, <code>warren node</code>.</p>\n",
        esc(&topo.name)
    );
    // A placeholder per capture, so each counter has its text to rewrite.
    let counters: BTreeMap<String, String> = topo
        .edges
        .iter()
        .map(|e| (e.capture.clone(), "…".to_string()))
        .collect();
    b.push_str(&svg::topology(topo, &counters));
    b.push_str(
        "<p>Red dotted: down. Dashed orange: impaired. Grey node: stopped.</p>\n<h2>Nodes</h2>\n\
         <table id=\"nodes\"><tr><th>node</th><th>kind</th><th>state</th></tr>\n",
    );
    for n in &topo.nodes {
        b.push_str(&format!(
            "<tr data-node=\"{}\"><td>{}</td><td>{}</td><td class=\"state\"></td></tr>\n",
            esc(&n.name),
            esc(&n.name),
            esc(&n.kind)
        ));
    }
    b.push_str("</table>\n<h2>Events</h2>\n<ul id=\"events\"></ul>\n");
    page(&format!("warren view: {}", topo.name), &b, SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Faults;

    fn topo() -> Topology {
        let lab = json!({
            "name": "v",
            "nodes": [
                {"name": "a", "kind": "netns", "interfaces": [{"name": "eth0"}, {"name": "lan"}]},
                {"name": "b", "kind": "netns", "interfaces": [{"name": "eth0"}]},
                {"name": "dut", "kind": "vm", "interfaces": [{"name": "eth0"}]},
            ],
            "links": [
                {"name": "a.eth0-b.eth0", "endpoints": ["a:eth0", "b:eth0"]},
                {"name": "b.x-dut.eth0", "endpoints": ["b:x", "dut:eth0"], "impair": {"delay": "5ms"}},
            ],
            "networks": [{"name": "lan", "members": ["a:lan"]}],
        });
        Topology::from_lab_json(&lab, Faults::All)
    }

    #[test]
    fn links_are_down_when_an_end_is_and_counters_come_along() {
        let inspect = json!({
            "status": "running",
            "nodes": [
                {"name": "a", "interfaces": [
                    {"name": "eth0", "up": false, "state": "down"},
                    {"name": "lan", "up": true, "state": "up", "path": "kernel-tbf"}]},
                {"name": "b", "stopped": true, "interfaces": [
                    {"name": "eth0", "up": true, "state": "lowerlayerdown"},
                    {"name": "x", "up": true, "state": "up"}]},
                {"name": "dut", "interfaces": []},
                {"name": "#hub", "interfaces": []},
            ],
            "captures": [{"name": "a.eth0-b.eth0", "captured": 12, "dropped": 1}],
        });
        let s = state(&topo(), &inspect);
        assert_eq!(
            s["links"]["a.eth0-b.eth0"],
            json!({"up": false, "impaired": false})
        );
        assert_eq!(
            s["links"]["b.x-dut.eth0"],
            json!({"up": true, "impaired": true})
        );
        assert_eq!(
            s["links"]["lan/a:lan"],
            json!({"up": true, "impaired": true})
        );
        assert_eq!(
            s["nodes"],
            json!({"a": "running", "b": "stopped", "dut": "running"})
        );
        assert_eq!(
            s["captures"]["a.eth0-b.eth0"],
            json!({"captured": 12, "dropped": 1})
        );
        assert_eq!(s["status"], "running");
    }

    #[test]
    fn the_page_polls_its_own_server_only() {
        let p = page_for(&topo());
        assert!(p.contains("fetch('/state?since=' + seen"));
        assert!(p.contains("<tr data-node=\"dut\">"));
        // Every link and network has a counter to rewrite.
        assert_eq!(p.matches("class=\"counter\"").count(), 3);
        assert!(!p.contains("src=") && !p.contains("<link"));
    }
}
