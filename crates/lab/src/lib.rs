//! A lab's life: the supervisor that owns it, the plan applied to the
//! kernel with a journal, teardown, the state other warren processes read,
//! and the control protocol with its client.
//!
//! [`Lab`] is the client library: a lab brought up from Rust, driven over
//! the control protocol, and torn down when dropped.

pub mod apply;
pub mod binary;
pub mod captures;
pub mod client;
pub mod commands;
pub mod events;
pub mod faults;
pub mod forward;
pub mod handle;
pub mod helpers;
pub mod images;
pub mod inspect;
pub mod journal;
pub mod kinds;
pub mod lifecycle;
pub mod links;
pub mod members;
pub mod netconf;
pub mod proto;
pub mod provision;
pub mod restart;
pub mod running;
pub mod saved;
pub(crate) mod start_order;
pub mod state;
pub mod steps;
mod streams;
pub mod supervisor;
pub mod tools;
pub mod wires;

pub use handle::{
    Capture, Console, ConsoleMatch, Event, Events, ExecOptions, Lab, LabError, Node, Options,
    Output, Qmp, Scaled, Uploaded,
};
