//! An example of warren's client library ([`warren_lab::Lab`]): the tests
//! in `tests/` bring `lab.yaml` (and a vm lab) up from `cargo test`, drive
//! them over the control protocol and rely on `Drop` for teardown. This
//! library holds what they share: reading a capture.

use std::io::Read;
use warren_capture::{Block, PcapngReader};

/// ICMP echo requests and replies seen in a capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoCount {
    /// Echo requests (type 8).
    pub requests: usize,
    /// Echo replies (type 0).
    pub replies: usize,
}

/// The ICMP type of an Ethernet frame carrying IPv4 ICMP, if it is one.
fn icmp_type(frame: &[u8]) -> Option<u8> {
    let ip = frame.get(14..)?;
    if frame.get(12..14)? != [0x08, 0x00] || ip.get(9)? != &1 {
        return None;
    }
    let header = usize::from(ip.first()? & 0x0f) * 4;
    ip.get(header).copied()
}

/// Counts ICMP echo frames in a pcapng stream of Ethernet frames until it
/// ends or a read fails (a live capture's read timeout ends it).
pub fn count_echoes(stream: impl Read) -> EchoCount {
    let mut count = EchoCount::default();
    for block in PcapngReader::new(stream) {
        let Ok(block) = block else { break };
        if let Block::Packet(p) = block {
            match icmp_type(&p.data) {
                Some(8) => count.requests += 1,
                Some(0) => count.replies += 1,
                _ => {}
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_types_are_read_from_ethernet_frames() {
        let mut frame = vec![0u8; 14 + 20 + 8];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        frame[14 + 9] = 1;
        frame[34] = 8;
        assert_eq!(icmp_type(&frame), Some(8));
        frame[14 + 9] = 6;
        assert_eq!(icmp_type(&frame), None);
        assert_eq!(icmp_type(&frame[..20]), None);
    }
}
