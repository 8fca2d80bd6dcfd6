//! A lab's life: the supervisor that owns it, the plan applied to the
//! kernel with a journal, teardown, the state other warren processes read,
//! and the control protocol with its client.

pub mod apply;
pub mod captures;
pub mod client;
pub mod faults;
pub mod forward;
pub mod images;
pub mod inspect;
pub mod journal;
pub mod lifecycle;
pub mod nodes;
pub mod proto;
pub mod provision;
pub mod state;
pub mod supervisor;
pub mod system;
pub mod vms;
pub mod wires;
