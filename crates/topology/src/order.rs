//! Start order: the nodes' `after:` lists checked (known nodes, no cycles)
//! and turned into the order bring-up starts the nodes in.
//!
//! containerlab's `wait-for`, `stages` and `startup-delay` and compose's
//! `depends_on` are read into the same `after:` and `start_delay:`, so
//! every format has one ordering, checked here and planned by the lab
//! crate's bring-up.

use crate::decode::Cx;
use crate::diag::did_you_mean;
use crate::model::{Lab, NodeKind, StartAfter};

/// Reports `after:` entries naming no node, the node itself, or asking a
/// node that never ends for `completed`, and every cycle (once, at the
/// entry that closes it).
pub(crate) fn validate(cx: &mut Cx<'_>, lab: &Lab) {
    let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.value.as_str()).collect();
    let mut usable = true;
    for n in &lab.nodes {
        for a in &n.after {
            let Some(other) = lab.node(&a.node.value) else {
                let mut d = crate::Diagnostic::error(
                    "warren::unknown-reference",
                    a.node.span,
                    format!(
                        "node {} starts after `{}`, which is no node",
                        n.name.value, a.node.value
                    ),
                    "unknown node",
                );
                if let Some(s) = did_you_mean(&a.node.value, names.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                cx.push(d);
                usable = false;
                continue;
            };
            if other.name.value == n.name.value {
                cx.error(
                    "warren::start-cycle",
                    a.node.span,
                    format!("node {} starts after itself", n.name.value),
                    "a cycle",
                );
                usable = false;
            } else if a.when == StartAfter::Completed && other.kind != NodeKind::Container {
                cx.error(
                    "warren::bad-value",
                    a.node.span,
                    format!(
                        "node {} waits for {} to complete, but a {} node does not end on its own",
                        n.name.value,
                        other.name.value,
                        other.kind.as_str()
                    ),
                    "completed needs a container node",
                );
            }
        }
    }
    if usable && let Err(cycle) = start_order(lab) {
        let last = &lab.nodes[cycle[cycle.len() - 2]];
        let closing = &lab.nodes[cycle[cycle.len() - 1]].name.value;
        let entry = last.after.iter().find(|a| a.node.value == *closing);
        let path: Vec<&str> = cycle
            .iter()
            .map(|i| lab.nodes[*i].name.value.as_str())
            .collect();
        cx.error(
            "warren::start-cycle",
            entry.map_or(last.name.span, |a| a.node.span),
            format!(
                "the nodes' start order has a cycle: {}",
                path.join(" after ")
            ),
            "closes the cycle",
        );
    }
}

/// The nodes' indexes in the order they start: each after every node its
/// `after:` names, in file order otherwise. A cycle gives its nodes'
/// indexes, the first repeated at the end (`a` after `b` after `a`).
pub fn start_order(lab: &Lab) -> Result<Vec<usize>, Vec<usize>> {
    let index = |name: &str| lab.nodes.iter().position(|n| n.name.value == name);
    let deps: Vec<Vec<usize>> = lab
        .nodes
        .iter()
        .map(|n| {
            n.after
                .iter()
                .filter_map(|a| index(&a.node.value))
                .collect()
        })
        .collect();
    let mut order = Vec::with_capacity(lab.nodes.len());
    let mut placed = vec![false; lab.nodes.len()];
    // Every node before `from` is placed: the search starts there, which
    // keeps a lab without `after:` linear (from 0 it was quadratic).
    let mut from = 0;
    while order.len() < lab.nodes.len() {
        while placed.get(from) == Some(&true) {
            from += 1;
        }
        // The first node in file order whose every dependency has started.
        let next =
            (from..lab.nodes.len()).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(cycle(&deps, &placed)),
        }
    }
    Ok(order)
}

/// A cycle among the unplaced nodes (every one of which waits for another
/// unplaced one): follow first unplaced dependencies until a node repeats.
fn cycle(deps: &[Vec<usize>], placed: &[bool]) -> Vec<usize> {
    let mut path: Vec<usize> = Vec::new();
    let mut at = placed.iter().position(|p| !p).unwrap_or(0);
    loop {
        if let Some(start) = path.iter().position(|&p| p == at) {
            let mut c = path.split_off(start);
            c.push(at);
            return c;
        }
        path.push(at);
        match deps[at].iter().find(|&&d| !placed[d]) {
            Some(&d) => at = d,
            None => return path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> crate::Loaded {
        crate::load(text, "t")
    }

    fn names(lab: &Lab, order: &[usize]) -> Vec<String> {
        order
            .iter()
            .map(|i| lab.nodes[*i].name.value.clone())
            .collect()
    }

    #[test]
    fn nodes_start_after_what_they_name_and_in_file_order_otherwise() {
        let lab = load(
            "name: t\nnodes:\n  web: {after: [db, cache]}\n  db: {after: {init: completed}}\n  cache: {}\n  init: {kind: container, image: busybox}\n  other: {}\n",
        )
        .lab
        .expect("valid");
        let order = start_order(&lab).expect("no cycle");
        assert_eq!(names(&lab, &order), ["cache", "init", "db", "web", "other"]);
        let web = lab.node("web").expect("web");
        assert_eq!(web.after[0].when, StartAfter::Ready);
        let db = lab.node("db").expect("db");
        assert_eq!(db.after[0].when, StartAfter::Completed);
    }

    #[test]
    fn a_cycle_is_an_error_at_the_entry_that_closes_it() {
        let text =
            "name: t\nnodes:\n  a: {after: [b]}\n  b: {after: [c]}\n  c: {after: [a]}\n  d: {}\n";
        let loaded = load(text);
        assert!(loaded.lab.is_none());
        let d = loaded
            .diagnostics
            .0
            .iter()
            .find(|d| d.code == "warren::start-cycle")
            .expect("a cycle error");
        assert_eq!(
            d.message,
            "the nodes' start order has a cycle: a after b after c after a"
        );
        let span = d.span.expect("a place");
        assert_eq!(&text[span.start..span.end], "a");
        // The `a` inside `c`'s list, on line 5.
        assert_eq!(text[..span.start].lines().count(), 5);
    }

    #[test]
    fn unknown_and_self_references_and_completed_on_a_netns_node_are_errors() {
        for (text, code, message) in [
            (
                "name: t\nnodes:\n  a: {after: [bb]}\n  b: {}\n",
                "warren::unknown-reference",
                "node a starts after `bb`, which is no node",
            ),
            (
                "name: t\nnodes:\n  a: {after: [a]}\n",
                "warren::start-cycle",
                "node a starts after itself",
            ),
            (
                "name: t\nnodes:\n  a: {after: {b: completed}}\n  b: {}\n",
                "warren::bad-value",
                "node a waits for b to complete, but a netns node does not end on its own",
            ),
            (
                "name: t\ndefaults: {after: [b]}\nnodes:\n  a: {}\n  b: {}\n",
                "warren::bad-value",
                "`after` belongs on a node, not in `defaults`",
            ),
            (
                "name: t\nnodes:\n  a: {after: {b: healthy}}\n  b: {}\n",
                "warren::bad-value",
                "",
            ),
        ] {
            let loaded = load(text);
            assert!(loaded.lab.is_none(), "{text}");
            let found = loaded
                .diagnostics
                .0
                .iter()
                .any(|d| d.code == code && d.message.contains(message));
            assert!(found, "{text}: {:?}", loaded.diagnostics);
        }
    }

    #[test]
    fn start_delay_is_inherited_from_defaults() {
        let lab = load(
            "name: t\ndefaults: {start_delay: 2s}\nnodes:\n  a: {}\n  b: {start_delay: 500ms}\n",
        )
        .lab
        .expect("valid");
        assert_eq!(
            lab.node("a").and_then(|n| n.start_delay),
            Some(crate::values::Duration(2_000_000_000))
        );
        assert_eq!(
            lab.node("b").and_then(|n| n.start_delay),
            Some(crate::values::Duration(500_000_000))
        );
    }
}
