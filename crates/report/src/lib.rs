//! `warren-report`: pictures of a lab for people.
//!
//! - [`report`]: `report.html`, one self-contained page per test run, made
//!   from the run's evidence folder (`lab.json`, `events.jsonl`,
//!   `steps.json`, `capture/*.pcapng`, `console/*`).
//! - [`topology::Topology`] and [`svg`]: the lab drawn as SVG, nodes shaped
//!   by kind, links and networks labelled with their addresses, laid out by
//!   [`layout`] (a small deterministic force-directed layout computed here,
//!   so no graph library or JavaScript is needed).
//! - [`live`]: the page `warren view` serves; it polls the server for the
//!   lab's state once a second.
//!
//! Pages carry their styles and scripts inline and load nothing from the
//! network. Everything here is pure except [`evidence`], which reads the
//! evidence folder.

pub mod evidence;
pub mod html;
pub mod layout;
pub mod live;
pub mod report;
pub mod svg;
pub mod timeline;
pub mod topology;
pub mod traffic;

pub use evidence::{Evidence, EvidenceError};
pub use topology::Topology;
