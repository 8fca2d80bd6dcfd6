//! An index of a lab's nodes by name, so [`crate::Lab::node`] is O(1):
//! a walk over `nodes` per lookup made bring-up quadratic at thousands of
//! nodes.
//!
//! The index is a cache, not part of the model: it is not serialized,
//! a clone starts empty, and since `Lab::nodes` is a public `Vec` that
//! callers may change, every hit is checked against the node it points
//! at and a miss or stale entry falls back to a walk that rebuilds it.

use crate::model::Node;
use std::collections::HashMap;
use std::sync::RwLock;

/// Node name to its position in `Lab::nodes`, built on first use.
#[derive(Default)]
pub(crate) struct NodeIndex(RwLock<HashMap<String, usize>>);

impl NodeIndex {
    /// The node called `name` in `nodes`, the first one if several are.
    pub(crate) fn find<'a>(&self, nodes: &'a [Node], name: &str) -> Option<&'a Node> {
        let hit = |i: usize| nodes.get(i).filter(|n| n.name.value == name);
        let cached = self
            .0
            .read()
            .ok()
            .and_then(|m| m.get(name).copied())
            .and_then(hit);
        if cached.is_some() {
            return cached;
        }
        // Absent or stale: the walk is the truth. Rebuild when it finds
        // what the index missed, so the next lookups are direct again.
        let pos = nodes.iter().position(|n| n.name.value == name)?;
        if let Ok(mut m) = self.0.write() {
            m.clear();
            for (i, n) in nodes.iter().enumerate() {
                m.entry(n.name.value.clone()).or_insert(i);
            }
        }
        Some(&nodes[pos])
    }
}

impl Clone for NodeIndex {
    /// Empty: the clone's nodes may change independently.
    fn clone(&self) -> Self {
        NodeIndex::default()
    }
}

impl std::fmt::Debug for NodeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeIndex")
    }
}
