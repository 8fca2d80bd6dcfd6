//! `warren-capture`: records lab links and networks as pcapng.
//!
//! Owns packet capture only: AF_PACKET TPACKET_V3 rings opened inside a
//! lab namespace ([`ring`]), the pcapng writer ([`pcapng`]) and reader
//! ([`reader`]), and [`Capture`]s writing one file each ([`session`]),
//! served by a few shared poll threads and one writer thread. It
//! creates no interfaces and knows nothing of labs or topology: the caller
//! says which interface of which namespace to capture and what to call it.
//!
//! # Exactly once
//!
//! A point-to-point link is captured on one veth end, both directions
//! ([`PointSpec::link_end`]). A bridged network is captured on every
//! hub-side port, incoming frames only ([`PointSpec::bridge_port`]), so a
//! frame crossing the bridge is recorded once, at the port it entered by.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use warren_capture::{Capture, CaptureOptions, PointSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ns = warren_kernel::Netns::create("r1")?;
//! let points = [PointSpec::link_end(&ns, "eth1", "r1:eth1")];
//! let cap = Capture::start_file(
//!     "r1-r2",
//!     &points,
//!     Path::new("results/lab/run/capture/r1-r2.pcapng"),
//!     &CaptureOptions::default(),
//! )?;
//! // ... traffic ...
//! let stats = cap.stop()?;
//! println!("{} captured, {} dropped", stats.captured(), stats.dropped());
//! # Ok(()) }
//! ```

pub mod pcapng;
mod pool;
pub mod reader;
pub mod ring;
pub mod session;
mod wake;

pub use pcapng::{Direction, EpbFlags, InterfaceDesc, PcapngWriter, Reception};
pub use reader::{Block, PcapngReader, ReadError};
pub use ring::{Ring, RingConfig, RingError, RingStats};
pub use session::{
    Capture, CaptureError, CaptureOptions, CaptureStats, Job, PointSpec, PointStats, Sink,
    StreamEnded, Subscription, View,
};

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From a capture.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// From a ring.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// From reading pcapng.
    #[error(transparent)]
    Read(#[from] ReadError),
}
