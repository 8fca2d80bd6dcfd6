//! A minimal pcapng reader (pure): enough to check warren's own files and
//! tcpdump's in tests and in `warren inspect`. Handles both byte orders and
//! several sections; skips block types it does not know.
//!
//! Timestamps are returned raw, in units of the interface's `if_tsresol`
//! (see [`InterfaceBlock::tsresol`]); warren always writes nanoseconds.

use std::io::{self, Read};

use crate::pcapng::{BT_EPB, BT_IDB, BT_ISB, BT_SHB, BYTE_ORDER_MAGIC, EpbFlags};

/// Errors while reading a pcapng stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("reading pcapng block at byte {offset}")]
    Io {
        /// Offset of the block.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A block is malformed.
    #[error("malformed pcapng block of type {block_type:#x} at byte {offset}: {what}")]
    Malformed {
        /// Offset of the block.
        offset: u64,
        /// Its type.
        block_type: u32,
        /// What is wrong.
        what: &'static str,
    },
}

/// A section header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionBlock {
    /// Whether the section is big-endian.
    pub big_endian: bool,
    /// `shb_userappl`.
    pub application: Option<String>,
}

/// An interface description block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceBlock {
    /// Link type.
    pub linktype: u16,
    /// Snap length.
    pub snaplen: u32,
    /// `if_name`.
    pub name: Option<String>,
    /// `if_description`.
    pub description: Option<String>,
    /// Raw `if_tsresol` byte; `None` means the default (6, microseconds).
    pub tsresol: Option<u8>,
}

/// An enhanced packet block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketBlock {
    /// IDB index in the section.
    pub interface: u32,
    /// Timestamp in the interface's resolution.
    pub ts: u64,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
    /// `epb_flags`, when present.
    pub flags: Option<EpbFlags>,
}

/// An interface statistics block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsBlock {
    /// IDB index in the section.
    pub interface: u32,
    /// Timestamp in the interface's resolution.
    pub ts: u64,
    /// `isb_starttime`.
    pub start: Option<u64>,
    /// `isb_endtime`.
    pub end: Option<u64>,
    /// `isb_ifrecv`.
    pub received: Option<u64>,
    /// `isb_ifdrop`.
    pub dropped: Option<u64>,
    /// `isb_usrdeliv`.
    pub delivered: Option<u64>,
}

/// One block of a pcapng stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Block {
    /// A new section began (interface numbering restarts).
    Section {
        /// Big-endian section.
        big_endian: bool,
        /// `shb_userappl`.
        application: Option<String>,
    },
    /// An interface description.
    Interface(InterfaceBlock),
    /// An enhanced packet.
    Packet(PacketBlock),
    /// Interface statistics.
    Stats(StatsBlock),
    /// Any other block, skipped.
    Other {
        /// Its type.
        block_type: u32,
    },
}

/// Iterates over the blocks of a pcapng stream.
#[derive(Debug)]
pub struct PcapngReader<R: Read> {
    input: R,
    big_endian: bool,
    offset: u64,
    done: bool,
}

impl<R: Read> PcapngReader<R> {
    /// Reads from `input` (the first block must be a section header).
    pub fn new(input: R) -> Self {
        PcapngReader {
            input,
            big_endian: false,
            offset: 0,
            done: false,
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u64_split(&self, b: &[u8], at: usize) -> u64 {
        (u64::from(self.u32_at(b, at)) << 32) | u64::from(self.u32_at(b, at + 4))
    }

    fn u64_at(&self, b: &[u8], at: usize) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        if self.big_endian {
            u64::from_be_bytes(v)
        } else {
            u64::from_le_bytes(v)
        }
    }

    /// Options from `body[at..]`: (code, value) pairs until `opt_endofopt`.
    fn options<'b>(&self, body: &'b [u8], mut at: usize) -> Vec<(u16, &'b [u8])> {
        let mut out = Vec::new();
        while at + 4 <= body.len() {
            let code = self.u16_at(body, at);
            let len = usize::from(self.u16_at(body, at + 2));
            at += 4;
            if code == 0 || at + len > body.len() {
                break;
            }
            out.push((code, &body[at..at + len]));
            at += len + (4 - len % 4) % 4;
        }
        out
    }

    fn read_block(&mut self) -> Result<Option<Block>, ReadError> {
        let offset = self.offset;
        let io = |source| ReadError::Io { offset, source };
        let mut head = [0u8; 8];
        // Distinguish a clean end of stream from a truncated block.
        let mut got = 0;
        while got < head.len() {
            match self.input.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        let raw_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let mut len_bytes = [head[4], head[5], head[6], head[7]];
        if raw_type == BT_SHB {
            let mut bom = [0u8; 4];
            self.input.read_exact(&mut bom).map_err(io)?;
            self.big_endian = u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC;
            if !self.big_endian && u32::from_le_bytes(bom) != BYTE_ORDER_MAGIC {
                return Err(ReadError::Malformed {
                    offset,
                    block_type: raw_type,
                    what: "bad byte-order magic",
                });
            }
            let len = self.u32_at(&len_bytes, 0) as usize;
            let malformed = |what| ReadError::Malformed {
                offset,
                block_type: raw_type,
                what,
            };
            if len < 28 || !len.is_multiple_of(4) {
                return Err(malformed("bad section header length"));
            }
            let mut body = vec![0u8; len - 12];
            self.input.read_exact(&mut body).map_err(io)?;
            self.offset += len as u64;
            // body: bom already consumed; major, minor, section length, options, trailer.
            let opts = self.options(&body[..body.len() - 4], 12);
            let application = opts
                .iter()
                .find(|(c, _)| *c == 4)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
            return Ok(Some(Block::Section {
                big_endian: self.big_endian,
                application,
            }));
        }
        let block_type = self.u32_at(&head, 0);
        if self.big_endian {
            len_bytes.reverse();
        }
        let len = u32::from_le_bytes(len_bytes) as usize;
        let malformed = |what| ReadError::Malformed {
            offset,
            block_type,
            what,
        };
        if len < 12 || !len.is_multiple_of(4) {
            return Err(malformed("bad block length"));
        }
        let mut body = vec![0u8; len - 8];
        self.input.read_exact(&mut body).map_err(io)?;
        self.offset += len as u64;
        let body = &body[..body.len() - 4];
        let block = match block_type {
            BT_IDB => {
                if body.len() < 8 {
                    return Err(malformed("short interface description"));
                }
                let opts = self.options(body, 8);
                let text = |code| {
                    opts.iter()
                        .find(|(c, _)| *c == code)
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                };
                Block::Interface(InterfaceBlock {
                    linktype: self.u16_at(body, 0),
                    snaplen: self.u32_at(body, 4),
                    name: text(2),
                    description: text(3),
                    tsresol: opts
                        .iter()
                        .find(|(c, v)| *c == 9 && !v.is_empty())
                        .map(|(_, v)| v[0]),
                })
            }
            BT_EPB => {
                if body.len() < 20 {
                    return Err(malformed("short enhanced packet"));
                }
                let caplen = self.u32_at(body, 12) as usize;
                if 20 + caplen > body.len() {
                    return Err(malformed("captured length beyond block"));
                }
                let opts_at = 20 + caplen + (4 - caplen % 4) % 4;
                let flags = self
                    .options(body, opts_at)
                    .iter()
                    .find(|(c, v)| *c == 2 && v.len() == 4)
                    .map(|(_, v)| EpbFlags::from_word(self.u32_at(v, 0)));
                Block::Packet(PacketBlock {
                    interface: self.u32_at(body, 0),
                    ts: self.u64_split(body, 4),
                    orig_len: self.u32_at(body, 16),
                    data: body[20..20 + caplen].to_vec(),
                    flags,
                })
            }
            BT_ISB => {
                if body.len() < 12 {
                    return Err(malformed("short interface statistics"));
                }
                let opts = self.options(body, 12);
                let get = |code: u16, split: bool| {
                    opts.iter()
                        .find(|(c, v)| *c == code && v.len() == 8)
                        .map(|(_, v)| {
                            if split {
                                self.u64_split(v, 0)
                            } else {
                                self.u64_at(v, 0)
                            }
                        })
                };
                Block::Stats(StatsBlock {
                    interface: self.u32_at(body, 0),
                    ts: self.u64_split(body, 4),
                    start: get(2, true),
                    end: get(3, true),
                    received: get(4, false),
                    dropped: get(5, false),
                    delivered: get(8, false),
                })
            }
            other => Block::Other { block_type: other },
        };
        Ok(Some(block))
    }
}

impl<R: Read> Iterator for PcapngReader<R> {
    type Item = Result<Block, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_block() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_stream_is_an_error() {
        let mut buf = Vec::new();
        crate::pcapng::encode_shb(&mut buf, "x");
        crate::pcapng::encode_idb(&mut buf, &crate::pcapng::InterfaceDesc::ethernet("a", 64));
        buf.truncate(buf.len() - 3);
        let r: Vec<_> = PcapngReader::new(&buf[..]).collect();
        assert!(r[0].is_ok());
        assert!(matches!(r[1], Err(ReadError::Io { .. })));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn garbage_is_malformed() {
        let buf = [1u8, 0, 0, 0, 5, 0, 0, 0];
        let r: Vec<_> = PcapngReader::new(&buf[..]).collect();
        assert!(matches!(r[0], Err(ReadError::Malformed { .. })));
    }
}
