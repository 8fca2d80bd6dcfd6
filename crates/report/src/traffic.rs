//! What a capture file holds, read with warren's own pcapng reader: frames,
//! bytes on the wire, drops the kernel reported in the statistics blocks,
//! and frames per second over the run, drawn as a small bar chart on the
//! timeline's time axis.

use crate::html::esc;
use crate::timeline::Axis;
use std::fmt::Write;
use std::path::Path;
use warren_capture::{Block, PcapngReader, ReadError};

/// One capture file's numbers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Traffic {
    /// Link or network name (the file's stem).
    pub name: String,
    /// The file, relative to the evidence folder.
    pub file: String,
    /// Frames.
    pub frames: u64,
    /// Bytes on the wire (original lengths).
    pub bytes: u64,
    /// Frames the kernel dropped, from the last statistics block of each
    /// interface.
    pub dropped: u64,
    /// Each frame's time, seconds since the epoch, in file order.
    pub times: Vec<f64>,
}

impl Traffic {
    /// Reads the pcapng file at `path`, to be shown as `file`.
    pub fn read(path: &Path, file: &str) -> Result<Traffic, ReadError> {
        let input =
            std::fs::File::open(path).map_err(|source| ReadError::Io { offset: 0, source })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut t = Traffic {
            name,
            file: file.into(),
            ..Traffic::default()
        };
        // Per section: each interface's time resolution and last drop count.
        let mut resolutions: Vec<Option<u8>> = Vec::new();
        let mut drops: Vec<u64> = Vec::new();
        for block in PcapngReader::new(std::io::BufReader::new(input)) {
            let block = match block {
                // A file still being written (a lab kept up) ends in the
                // middle of a block: count what is whole.
                Err(ReadError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    break;
                }
                other => other?,
            };
            match block {
                Block::Section { .. } => {
                    t.dropped += drops.iter().sum::<u64>();
                    resolutions.clear();
                    drops.clear();
                }
                Block::Interface(i) => {
                    resolutions.push(i.tsresol);
                    drops.push(0);
                }
                Block::Packet(p) => {
                    t.frames += 1;
                    t.bytes += u64::from(p.orig_len);
                    let res = usize::try_from(p.interface)
                        .ok()
                        .and_then(|i| resolutions.get(i).copied())
                        .flatten();
                    t.times.push(seconds(p.ts, res));
                }
                Block::Stats(s) => {
                    if let (Some(d), Some(slot)) = (
                        s.dropped,
                        usize::try_from(s.interface)
                            .ok()
                            .and_then(|i| drops.get_mut(i)),
                    ) {
                        *slot = d;
                    }
                }
                _ => {}
            }
        }
        t.dropped += drops.iter().sum::<u64>();
        Ok(t)
    }

    /// Frames per whole second since `t0`, for `span` seconds (frames
    /// before `t0` count in the first second, after the span in the last).
    pub fn per_second(&self, t0: f64, span: f64) -> Vec<u64> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = span.max(0.0).floor() as usize + 1;
        let mut out = vec![0u64; n];
        for &t in &self.times {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = ((t - t0).max(0.0).floor() as usize).min(n - 1);
            out[i] += 1;
        }
        out
    }
}

/// A timestamp in units of `if_tsresol` as seconds: the default is
/// microseconds; a resolution byte with its top bit set is a power of two.
fn seconds(ts: u64, tsresol: Option<u8>) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ts = ts as f64;
    match tsresol {
        None => ts / 1e6,
        Some(r) if r & 0x80 != 0 => ts / 2f64.powi(i32::from(r & 0x7f)),
        Some(r) => ts / 10f64.powi(i32::from(r)),
    }
}

/// A capture's frames per second as bars on `axis`, seconds counted from `t0`.
pub fn chart(t: &Traffic, t0: f64, axis: &Axis) -> String {
    let per = t.per_second(t0, axis.span);
    let peak = per.iter().copied().max().unwrap_or(0).max(1);
    let h = 60.0;
    let mut s = format!(
        "<svg class=\"traffic\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.0} {:.0}\" width=\"{w:.0}\" \
         height=\"{:.0}\" data-capture=\"{}\" data-t0=\"{t0:.6}\" data-peak=\"{peak}\">",
        h + 26.0,
        h + 26.0,
        esc(&t.name),
        w = axis.width
    );
    let _ = write!(
        s,
        "<text class=\"label\" x=\"4\" y=\"14\">{}</text><text class=\"label\" x=\"4\" y=\"30\">peak {peak}/s</text>",
        esc(&t.name)
    );
    let width = axis.scale.max(1.0) - 1.0;
    for (sec, &n) in per.iter().enumerate() {
        if n == 0 {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let (x, bar) = (axis.x(sec as f64), h * n as f64 / peak as f64);
        // The last second is cut at the end of the run.
        let width = width.min(axis.x(axis.span) - x);
        let _ = write!(
            s,
            "<rect data-second=\"{sec}\" data-frames=\"{n}\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bar:.2}\">\
             <title>second {sec}: {n} frames</title></rect>",
            h - bar,
            width.max(1.0)
        );
    }
    axis.ticks(&mut s, h + 2.0);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_capture::pcapng::{InterfaceStats, PacketRecord};
    use warren_capture::{EpbFlags, InterfaceDesc, PcapngWriter};

    #[test]
    fn counts_frames_bytes_and_seconds_of_a_written_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l1.pcapng");
        let file = std::fs::File::create(&path).expect("create");
        let ifc = InterfaceDesc::ethernet("r1:eth1", 65535);
        let mut w = PcapngWriter::new(file, "test", &[ifc]).expect("writer");
        // Nanosecond timestamps: 100.2 s, 100.7 s, 102.1 s.
        let data = [0u8; 1514];
        for (ts_ns, len) in [
            (100_200_000_000u64, 60u32),
            (100_700_000_000, 98),
            (102_100_000_000, 1514),
        ] {
            w.write_packet(&PacketRecord {
                interface: 0,
                ts_ns,
                data: &data[..len as usize],
                orig_len: len,
                flags: EpbFlags::default(),
            })
            .expect("packet");
        }
        w.write_stats(&InterfaceStats {
            interface: 0,
            ts_ns: 103_000_000_000,
            start_ns: 100_000_000_000,
            end_ns: 103_000_000_000,
            received: 3,
            dropped: 4,
            os_dropped: 0,
            delivered: 3,
        })
        .expect("stats");
        drop(w);
        let t = Traffic::read(&path, "capture/l1.pcapng").expect("read");
        assert_eq!(
            (t.name.as_str(), t.frames, t.bytes, t.dropped),
            ("l1", 3, 1672, 4)
        );
        // Cut in the middle of the statistics block, as while it is written.
        let bytes = std::fs::read(&path).expect("read");
        let cut = dir.path().join("cut.pcapng");
        std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("write");
        let c = Traffic::read(&cut, "cut.pcapng").expect("a cut file reads");
        assert_eq!((c.frames, c.bytes, c.dropped), (3, 1672, 0));
        assert_eq!(t.per_second(100.0, 3.0), [2, 0, 1, 0]);
        let axis = Axis::new(3.0, 600.0);
        let svg = chart(&t, 100.0, &axis);
        assert!(svg.contains("data-second=\"0\" data-frames=\"2\""));
        assert!(svg.contains("data-second=\"2\" data-frames=\"1\""));
        assert!(!svg.contains("data-second=\"1\""));
    }

    #[test]
    fn resolutions_other_than_nanoseconds() {
        assert!((seconds(1_500_000, None) - 1.5).abs() < 1e-12);
        assert!((seconds(3, Some(0x81)) - 1.5).abs() < 1e-12);
        assert!((seconds(15, Some(1)) - 1.5).abs() < 1e-12);
    }
}
