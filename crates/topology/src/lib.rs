//! warren's lab file model: YAML parsed with spans, decoded into typed
//! records, resolved (defaults, interfaces, addresses) and validated, with
//! every problem reported at once at its place in the file.
//!
//! This crate is pure: it reads the text it is given and nothing else. No
//! filesystem, no clock, no syscalls; the binary does the I/O.
#![forbid(unsafe_code)]

pub mod clab;
pub mod compose;
mod decode;
pub mod diag;
pub mod graph;
pub mod ifname;
pub mod model;
mod node_index;
pub mod order;
pub mod plan;
pub mod raw;
pub mod resolve;
pub mod schema;
pub mod span;
pub mod steps;
mod validate;
pub mod values;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use model::Lab;
pub use span::{Span, Spanned};

/// The outcome of loading a lab file: the resolved lab when it has no
/// errors, and every problem found either way.
#[derive(Debug)]
pub struct Loaded {
    /// The lab, when the file has no errors.
    pub lab: Option<Lab>,
    /// Every problem, in file order.
    pub diagnostics: Diagnostics,
}

/// Parses, resolves and validates a lab file. `stem` (the file name
/// without its extension) names the lab when the file does not.
pub fn load(text: &str, stem: &str) -> Loaded {
    let mut cx = decode::Cx::new(text);
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(d) => {
            cx.push(d);
            return finish(cx, None);
        }
    };
    let is_clab = clab::is_clab_root(&root);
    let decoded = if is_clab {
        clab::lab(&mut cx, &root)
    } else {
        raw::lab(&mut cx, &root)
    };
    let Some((raw, fields)) = decoded else {
        return finish(cx, None);
    };
    let tests = fields
        .get("tests")
        .map(|t| steps::tests(&mut cx, t))
        .unwrap_or_default();
    let faults = fields
        .get("faults")
        .map(|f| steps::faults(&mut cx, f))
        .unwrap_or_default();
    let capture_names = raw.capture_names.clone();
    let mut lab = resolve::resolve(&mut cx, raw, stem);
    if is_clab {
        clab::management_first(&mut lab);
    }
    lab.tests = tests;
    lab.faults = faults;
    validate::validate(&mut cx, &lab);
    validate::capture_names(&mut cx, &lab, &capture_names);
    finish(cx, Some(lab))
}

fn finish(cx: decode::Cx<'_>, lab: Option<Lab>) -> Loaded {
    let mut diagnostics = cx.diags;
    diagnostics.sort();
    let lab = if diagnostics.has_errors() { None } else { lab };
    Loaded { lab, diagnostics }
}
