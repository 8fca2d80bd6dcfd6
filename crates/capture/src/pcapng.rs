//! pcapng encoding (pure): section header, interface description, enhanced
//! packet and interface statistics blocks, appended to a `Vec<u8>`, and
//! [`PcapngWriter`] to stream them to any [`Write`].
//!
//! Owns the byte layout only; it does no capture and opens no files. Blocks
//! are written little-endian (the section's byte-order magic says so).
//! Every interface is written with `if_tsresol = 9`: timestamps are
//! nanoseconds since the Unix epoch.
//!
//! Reference: <https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html>.

use std::io::{self, Write};

/// Block type of the section header block.
pub const BT_SHB: u32 = 0x0A0D_0D0A;
/// Block type of the interface description block.
pub const BT_IDB: u32 = 0x0000_0001;
/// Block type of the interface statistics block.
pub const BT_ISB: u32 = 0x0000_0005;
/// Block type of the enhanced packet block.
pub const BT_EPB: u32 = 0x0000_0006;
/// Byte-order magic of a section header.
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Link type Ethernet (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u16 = 1;

const OPT_END: u16 = 0;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;
const ISB_OSDROP: u16 = 7;
const ISB_USRDELIV: u16 = 8;

/// Direction of a packet relative to its interface (`epb_flags` bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received by the interface.
    Inbound,
    /// Sent by the interface.
    Outbound,
}

/// Reception type (`epb_flags` bits 2–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reception {
    /// Addressed to this host.
    Unicast,
    /// A multicast frame.
    Multicast,
    /// A broadcast frame.
    Broadcast,
    /// Seen only because the interface is promiscuous.
    Promiscuous,
}

/// The `epb_flags` option: direction and reception type, each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EpbFlags {
    /// Inbound or outbound, when known.
    pub direction: Option<Direction>,
    /// Unicast, multicast, …, when known.
    pub reception: Option<Reception>,
}

impl EpbFlags {
    /// Encodes the flags word.
    pub fn to_word(self) -> u32 {
        let d = match self.direction {
            None => 0,
            Some(Direction::Inbound) => 1,
            Some(Direction::Outbound) => 2,
        };
        let r = match self.reception {
            None => 0,
            Some(Reception::Unicast) => 1,
            Some(Reception::Multicast) => 2,
            Some(Reception::Broadcast) => 3,
            Some(Reception::Promiscuous) => 4,
        };
        d | (r << 2)
    }

    /// Decodes a flags word (other bits ignored).
    pub fn from_word(w: u32) -> Self {
        let direction = match w & 3 {
            1 => Some(Direction::Inbound),
            2 => Some(Direction::Outbound),
            _ => None,
        };
        let reception = match (w >> 2) & 7 {
            1 => Some(Reception::Unicast),
            2 => Some(Reception::Multicast),
            3 => Some(Reception::Broadcast),
            4 => Some(Reception::Promiscuous),
            _ => None,
        };
        EpbFlags {
            direction,
            reception,
        }
    }

    /// True when neither field is known (the option is then omitted).
    pub fn is_empty(self) -> bool {
        self.direction.is_none() && self.reception.is_none()
    }
}

/// One captured interface, as described in its IDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceDesc {
    /// `if_name`, e.g. `r1:eth1`.
    pub name: String,
    /// `if_description`, free text (the kernel interface actually captured).
    pub description: Option<String>,
    /// Link type; [`LINKTYPE_ETHERNET`] for every warren link.
    pub linktype: u16,
    /// Largest number of bytes kept per packet.
    pub snaplen: u32,
}

impl InterfaceDesc {
    /// An Ethernet interface named `name`.
    pub fn ethernet(name: impl Into<String>, snaplen: u32) -> Self {
        InterfaceDesc {
            name: name.into(),
            description: None,
            linktype: LINKTYPE_ETHERNET,
            snaplen,
        }
    }
}

/// One packet for an EPB.
#[derive(Debug, Clone, Copy)]
pub struct PacketRecord<'a> {
    /// Index of the interface's IDB in the section (0-based).
    pub interface: u32,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// Direction and reception type.
    pub flags: EpbFlags,
}

/// Counters for an ISB, written when a capture ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Index of the interface's IDB.
    pub interface: u32,
    /// When the statistics were taken (ns since the epoch).
    pub ts_ns: u64,
    /// `isb_starttime`: when the capture started.
    pub start_ns: u64,
    /// `isb_endtime`: when the capture ended.
    pub end_ns: u64,
    /// `isb_ifrecv`: packets the capture point saw (written or dropped).
    pub received: u64,
    /// `isb_ifdrop`: packets the kernel dropped because the ring was full.
    pub dropped: u64,
    /// `isb_osdrop`: packets lost after the ring (slow live subscribers
    /// are not counted here; this is for write failures).
    pub os_dropped: u64,
    /// `isb_usrdeliv`: packets written to the file.
    pub delivered: u64,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_ts(buf: &mut Vec<u8>, ts: u64) {
    // pcapng splits a 64-bit timestamp into high and low 32-bit words.
    put_u32(buf, (ts >> 32) as u32);
    put_u32(buf, ts as u32);
}

fn put_opt(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    put_u16(buf, code);
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    put_u16(buf, len);
    buf.extend_from_slice(&value[..usize::from(len)]);
    buf.extend(std::iter::repeat_n(0u8, pad4(usize::from(len))));
}

fn put_ts_opt(buf: &mut Vec<u8>, code: u16, ts: u64) {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
    v[4..].copy_from_slice(&(ts as u32).to_le_bytes());
    put_opt(buf, code, &v);
}

fn put_end(buf: &mut Vec<u8>) {
    put_u16(buf, OPT_END);
    put_u16(buf, 0);
}

/// Starts a block at the end of `buf`; returns its start for [`finish`].
fn begin(buf: &mut Vec<u8>, block_type: u32) -> usize {
    let start = buf.len();
    put_u32(buf, block_type);
    put_u32(buf, 0); // length, patched by `finish`
    start
}

fn finish(buf: &mut Vec<u8>, start: usize) {
    let len = u32::try_from(buf.len() - start + 4).unwrap_or(u32::MAX);
    buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    put_u32(buf, len);
}

/// Appends a section header block naming `application` (`shb_userappl`).
pub fn encode_shb(buf: &mut Vec<u8>, application: &str) {
    let s = begin(buf, BT_SHB);
    put_u32(buf, BYTE_ORDER_MAGIC);
    put_u16(buf, 1);
    put_u16(buf, 0);
    buf.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
    put_opt(buf, SHB_USERAPPL, application.as_bytes());
    put_end(buf);
    finish(buf, s);
}

/// Appends an interface description block with `if_tsresol = 9`.
pub fn encode_idb(buf: &mut Vec<u8>, iface: &InterfaceDesc) {
    let s = begin(buf, BT_IDB);
    put_u16(buf, iface.linktype);
    put_u16(buf, 0);
    put_u32(buf, iface.snaplen);
    put_opt(buf, IF_NAME, iface.name.as_bytes());
    if let Some(d) = &iface.description {
        put_opt(buf, IF_DESCRIPTION, d.as_bytes());
    }
    put_opt(buf, IF_TSRESOL, &[9]);
    put_end(buf);
    finish(buf, s);
}

/// Appends an enhanced packet block.
pub fn encode_epb(buf: &mut Vec<u8>, p: &PacketRecord<'_>) {
    let s = begin(buf, BT_EPB);
    put_u32(buf, p.interface);
    put_ts(buf, p.ts_ns);
    let caplen = u32::try_from(p.data.len()).unwrap_or(u32::MAX);
    put_u32(buf, caplen);
    put_u32(buf, p.orig_len.max(caplen));
    buf.extend_from_slice(p.data);
    buf.extend(std::iter::repeat_n(0u8, pad4(p.data.len())));
    if !p.flags.is_empty() {
        put_opt(buf, EPB_FLAGS, &p.flags.to_word().to_le_bytes());
        put_end(buf);
    }
    finish(buf, s);
}

/// Appends an enhanced packet block whose data is `parts` concatenated
/// (used to re-insert a VLAN tag without copying the frame twice).
pub fn encode_epb_parts(
    buf: &mut Vec<u8>,
    interface: u32,
    ts_ns: u64,
    parts: &[&[u8]],
    orig_len: u32,
    flags: EpbFlags,
) {
    let s = begin(buf, BT_EPB);
    put_u32(buf, interface);
    put_ts(buf, ts_ns);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let caplen = u32::try_from(total).unwrap_or(u32::MAX);
    put_u32(buf, caplen);
    put_u32(buf, orig_len.max(caplen));
    for p in parts {
        buf.extend_from_slice(p);
    }
    buf.extend(std::iter::repeat_n(0u8, pad4(total)));
    if !flags.is_empty() {
        put_opt(buf, EPB_FLAGS, &flags.to_word().to_le_bytes());
        put_end(buf);
    }
    finish(buf, s);
}

/// Appends an interface statistics block.
pub fn encode_isb(buf: &mut Vec<u8>, st: &InterfaceStats) {
    let s = begin(buf, BT_ISB);
    put_u32(buf, st.interface);
    put_ts(buf, st.ts_ns);
    put_ts_opt(buf, ISB_STARTTIME, st.start_ns);
    put_ts_opt(buf, ISB_ENDTIME, st.end_ns);
    put_opt(buf, ISB_IFRECV, &st.received.to_le_bytes());
    put_opt(buf, ISB_IFDROP, &st.dropped.to_le_bytes());
    put_opt(buf, ISB_OSDROP, &st.os_dropped.to_le_bytes());
    put_opt(buf, ISB_USRDELIV, &st.delivered.to_le_bytes());
    put_end(buf);
    finish(buf, s);
}

/// Streams a pcapng section to a [`Write`]: header and interfaces first,
/// then packets, then statistics.
///
/// Buffers one block at a time; wrap the sink in a `BufWriter` for small
/// writes.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    interfaces: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the SHB and one IDB per interface (IDB index = position).
    pub fn new(mut out: W, application: &str, interfaces: &[InterfaceDesc]) -> io::Result<Self> {
        let mut buf = Vec::with_capacity(4096);
        encode_shb(&mut buf, application);
        for i in interfaces {
            encode_idb(&mut buf, i);
        }
        out.write_all(&buf)?;
        buf.clear();
        Ok(PcapngWriter {
            out,
            buf,
            interfaces: u32::try_from(interfaces.len()).unwrap_or(u32::MAX),
        })
    }

    /// Number of interfaces described.
    pub fn interfaces(&self) -> u32 {
        self.interfaces
    }

    /// Writes one packet.
    pub fn write_packet(&mut self, p: &PacketRecord<'_>) -> io::Result<()> {
        self.buf.clear();
        encode_epb(&mut self.buf, p);
        self.out.write_all(&self.buf)
    }

    /// Writes pre-encoded blocks (from the `encode_*` functions).
    pub fn write_raw(&mut self, blocks: &[u8]) -> io::Result<()> {
        self.out.write_all(blocks)
    }

    /// Writes one statistics block.
    pub fn write_stats(&mut self, st: &InterfaceStats) -> io::Result<()> {
        self.buf.clear();
        encode_isb(&mut self.buf, st);
        self.out.write_all(&self.buf)
    }

    /// Flushes the sink.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Returns the sink.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{Block, PcapngReader};

    #[test]
    fn round_trip_all_block_kinds() {
        let ifs = [
            InterfaceDesc::ethernet("r1:eth1", 262_144),
            InterfaceDesc {
                description: Some("hub:r2-eth1".into()),
                ..InterfaceDesc::ethernet("r2:eth1", 1500)
            },
        ];
        let mut w = PcapngWriter::new(Vec::new(), "warren test", &ifs).unwrap();
        let flags = EpbFlags {
            direction: Some(Direction::Outbound),
            reception: None,
        };
        w.write_packet(&PacketRecord {
            interface: 1,
            ts_ns: 1_700_000_000_123_456_789,
            data: &[1, 2, 3, 4, 5],
            orig_len: 60,
            flags,
        })
        .unwrap();
        w.write_packet(&PacketRecord {
            interface: 0,
            ts_ns: 5,
            data: &[9; 8],
            orig_len: 8,
            flags: EpbFlags::default(),
        })
        .unwrap();
        w.write_stats(&InterfaceStats {
            interface: 0,
            ts_ns: 10,
            start_ns: 1,
            end_ns: 10,
            received: 7,
            dropped: 2,
            os_dropped: 0,
            delivered: 5,
        })
        .unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len() % 4, 0);

        let blocks: Vec<Block> = PcapngReader::new(&bytes[..]).map(|b| b.unwrap()).collect();
        assert_eq!(blocks.len(), 6);
        let Block::Section { application, .. } = &blocks[0] else {
            panic!("{:?}", blocks[0])
        };
        assert_eq!(application.as_deref(), Some("warren test"));
        let Block::Interface(i1) = &blocks[2] else {
            panic!()
        };
        assert_eq!(i1.name.as_deref(), Some("r2:eth1"));
        assert_eq!(i1.description.as_deref(), Some("hub:r2-eth1"));
        assert_eq!(i1.tsresol, Some(9));
        assert_eq!(i1.snaplen, 1500);
        let Block::Packet(p) = &blocks[3] else {
            panic!()
        };
        assert_eq!(p.interface, 1);
        assert_eq!(p.ts, 1_700_000_000_123_456_789);
        assert_eq!(p.data, vec![1, 2, 3, 4, 5]);
        assert_eq!(p.orig_len, 60);
        assert_eq!(p.flags, Some(flags));
        let Block::Packet(p) = &blocks[4] else {
            panic!()
        };
        assert_eq!(p.flags, None);
        let Block::Stats(s) = &blocks[5] else {
            panic!()
        };
        assert_eq!(
            (s.received, s.dropped, s.start, s.end, s.delivered),
            (Some(7), Some(2), Some(1), Some(10), Some(5))
        );
    }

    #[test]
    fn flags_word() {
        for d in [None, Some(Direction::Inbound), Some(Direction::Outbound)] {
            for r in [
                None,
                Some(Reception::Unicast),
                Some(Reception::Multicast),
                Some(Reception::Broadcast),
                Some(Reception::Promiscuous),
            ] {
                let f = EpbFlags {
                    direction: d,
                    reception: r,
                };
                assert_eq!(EpbFlags::from_word(f.to_word()), f);
            }
        }
        assert_eq!(
            EpbFlags {
                direction: Some(Direction::Inbound),
                reception: Some(Reception::Broadcast)
            }
            .to_word(),
            0b01101
        );
    }

    #[test]
    fn parts_equal_whole() {
        let f = EpbFlags {
            direction: Some(Direction::Inbound),
            reception: Some(Reception::Unicast),
        };
        let mut a = Vec::new();
        encode_epb(
            &mut a,
            &PacketRecord {
                interface: 0,
                ts_ns: 3,
                data: &[1, 2, 3, 4, 5, 6, 7],
                orig_len: 7,
                flags: f,
            },
        );
        let mut b = Vec::new();
        encode_epb_parts(&mut b, 0, 3, &[&[1, 2], &[3, 4, 5], &[6, 7]], 7, f);
        assert_eq!(a, b);
    }
}
