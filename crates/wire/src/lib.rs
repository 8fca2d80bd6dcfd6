//! warren's user-space wire. A link whose impairments the kernel cannot
//! apply (no `netem`) runs through the supervisor: each end is a tap in its
//! node's namespace, and a thread forwards frames both ways through an
//! [`engine::Engine`] per direction.
//!
//! [`engine`] is pure (no I/O, no clock): frames go in with a timestamp and
//! come out at their due time, every random choice drawn from a generator
//! seeded per link and direction, so the same seed drops the same frames.
//! [`forward`] is the I/O loop.

pub mod engine;
pub mod forward;
pub mod rng;

pub use engine::{Distribution, Engine, Params};
pub use forward::{Wire, WireError};
pub use rng::{Rng, seed_for};
