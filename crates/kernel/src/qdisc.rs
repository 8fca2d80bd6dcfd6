//! Root queueing disciplines on an interface's egress, as netlink requests
//! (pure; [`crate::Rtnl::execute`] sends them): `tbf` for a rate limit,
//! `netem` for delay, loss and the rest where the kernel has it.
//!
//! The option layouts are the kernel's (`include/uapi/linux/pkt_sched.h`):
//! `tbf` takes nested attributes; `netem` takes a `tc_netem_qopt` struct
//! followed by its attributes in one `TCA_OPTIONS`.

use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};

use crate::msg::Batch;

/// `TCA_OPTIONS`.
const TCA_OPTIONS: u16 = 2;
/// `TCA_TBF_PARMS`: `struct tc_tbf_qopt`.
const TCA_TBF_PARMS: u16 = 1;
/// `TCA_TBF_RATE64`: the rate in bytes per second when it exceeds 32 bits.
const TCA_TBF_RATE64: u16 = 4;
/// `TCA_TBF_BURST`: the bucket in bytes.
const TCA_TBF_BURST: u16 = 6;
/// `TC_LINKLAYER_ETHERNET`: rates count frame bytes, no rate table needed.
const TC_LINKLAYER_ETHERNET: u8 = 1;
/// `TCA_NETEM_CORR`: delay, loss and duplicate correlations.
const TCA_NETEM_CORR: u16 = 1;
/// `TCA_NETEM_REORDER`: probability and correlation.
const TCA_NETEM_REORDER: u16 = 3;
/// `TCA_NETEM_CORRUPT`: probability and correlation.
const TCA_NETEM_CORRUPT: u16 = 4;
/// `TCA_NETEM_RATE64`: bytes per second.
const TCA_NETEM_RATE64: u16 = 8;
/// `TCA_NETEM_LATENCY64`: nanoseconds.
const TCA_NETEM_LATENCY64: u16 = 10;
/// `TCA_NETEM_JITTER64`: nanoseconds.
const TCA_NETEM_JITTER64: u16 = 11;

/// A token bucket rate limit (`tbf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfSpec {
    /// Rate in bits per second.
    pub rate_bps: u64,
    /// Bucket size in bytes (frames up to it leave back to back).
    pub burst: u32,
    /// Bytes that may wait in the queue before frames are dropped.
    pub limit: u32,
}

impl TbfSpec {
    /// A rate limit with a bucket of 10 ms of traffic (at least two
    /// full-size frames) and `limit` bytes of queue, or 100 ms of traffic
    /// beyond the bucket when `None`.
    pub fn new(rate_bps: u64, limit: Option<u32>) -> TbfSpec {
        let bytes = rate_bps / 8;
        let burst = u32::try_from((bytes / 100).max(2 * 1514)).unwrap_or(u32::MAX);
        let default_limit = u64::from(burst) + bytes / 10;
        TbfSpec {
            rate_bps,
            burst,
            limit: limit.unwrap_or(u32::try_from(default_limit).unwrap_or(u32::MAX)),
        }
    }

    /// `TCA_OPTIONS` of the qdisc.
    fn options(&self) -> Vec<TcOption> {
        let bytes = self.rate_bps / 8;
        // struct tc_tbf_qopt { tc_ratespec rate, peakrate; u32 limit, buffer, mtu }
        // with struct tc_ratespec { u8 cell_log, linklayer; u16 overhead;
        // i16 cell_align; u16 mpu; u32 rate } (12 bytes).
        let mut parms = vec![0u8; 36];
        parms[1] = TC_LINKLAYER_ETHERNET;
        parms[8..12].copy_from_slice(&u32::try_from(bytes).unwrap_or(u32::MAX).to_ne_bytes());
        parms[24..28].copy_from_slice(&self.limit.to_ne_bytes());
        let mut opts = vec![
            TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, parms)),
            TcOption::Other(DefaultNla::new(
                TCA_TBF_BURST,
                self.burst.to_ne_bytes().to_vec(),
            )),
        ];
        if bytes > u64::from(u32::MAX) {
            opts.push(TcOption::Other(DefaultNla::new(
                TCA_TBF_RATE64,
                bytes.to_ne_bytes().to_vec(),
            )));
        }
        opts
    }
}

/// Network emulation (`netem`), with uniform jitter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetemSpec {
    /// Added delay in nanoseconds.
    pub delay_ns: u64,
    /// Uniform variation of the delay, in nanoseconds.
    pub jitter_ns: u64,
    /// Share of frames dropped, 0 to 1.
    pub loss: f64,
    /// Correlation of successive losses, 0 to 1.
    pub loss_correlation: f64,
    /// Share of frames duplicated, 0 to 1.
    pub duplicate: f64,
    /// Share of frames sent at once, ahead of delayed ones, 0 to 1.
    pub reorder: f64,
    /// Share of frames with a flipped bit, 0 to 1.
    pub corrupt: f64,
    /// Rate in bits per second (0: none).
    pub rate_bps: u64,
    /// Frames that may wait (0: netem's default of 1000).
    pub limit: u32,
}

/// A share (0 to 1) as the kernel's 32-bit probability.
fn probability(p: f64) -> u32 {
    // The float-to-int cast saturates; the clamp keeps NaN and overshoot out.
    (p.clamp(0.0, 1.0) * f64::from(u32::MAX)).round() as u32
}

impl NetemSpec {
    /// The `TCA_OPTIONS` payload: `struct tc_netem_qopt` then attributes.
    fn options(&self) -> Vec<u8> {
        // struct tc_netem_qopt { u32 latency, limit, loss, gap, duplicate, jitter }:
        // latency and jitter in ticks are superseded by the 64-bit attributes.
        let mut buf = Vec::with_capacity(128);
        let limit = if self.limit == 0 { 1000 } else { self.limit };
        for v in [
            0,
            limit,
            probability(self.loss),
            0,
            probability(self.duplicate),
            0,
        ] {
            buf.extend_from_slice(&u32::to_ne_bytes(v));
        }
        let mut attr = |kind: u16, value: &[u8]| {
            let len = 4 + value.len();
            buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(value);
            buf.resize(buf.len() + ((4 - len % 4) % 4), 0);
        };
        let pair = |a: u32, b: u32| [a.to_ne_bytes(), b.to_ne_bytes()].concat();
        attr(
            TCA_NETEM_LATENCY64,
            &i64::try_from(self.delay_ns)
                .unwrap_or(i64::MAX)
                .to_ne_bytes(),
        );
        attr(
            TCA_NETEM_JITTER64,
            &i64::try_from(self.jitter_ns)
                .unwrap_or(i64::MAX)
                .to_ne_bytes(),
        );
        if self.loss_correlation > 0.0 {
            let corr = [0, probability(self.loss_correlation), 0];
            attr(
                TCA_NETEM_CORR,
                &corr
                    .iter()
                    .flat_map(|v| v.to_ne_bytes())
                    .collect::<Vec<_>>(),
            );
        }
        if self.reorder > 0.0 {
            attr(TCA_NETEM_REORDER, &pair(probability(self.reorder), 0));
        }
        if self.corrupt > 0.0 {
            attr(TCA_NETEM_CORRUPT, &pair(probability(self.corrupt), 0));
        }
        if self.rate_bps > 0 {
            attr(TCA_NETEM_RATE64, &(self.rate_bps / 8).to_ne_bytes());
        }
        buf
    }
}

impl<'a> Batch<'a> {
    fn root_qdisc(ifindex: u32, attributes: Vec<TcAttribute>) -> TcMessage {
        let mut m = TcMessage::with_index(i32::try_from(ifindex).unwrap_or(i32::MAX));
        m.header.parent = TcHandle::ROOT;
        m.attributes = attributes;
        m
    }

    /// Puts a `tbf` rate limit at the root of link `ifindex`'s egress,
    /// replacing any root qdisc. `ENOENT` if the kernel has no `tbf`.
    pub fn replace_tbf(&mut self, ifindex: u32, tbf: &TbfSpec) -> &mut Self {
        let m = Self::root_qdisc(
            ifindex,
            vec![
                TcAttribute::Kind("tbf".into()),
                TcAttribute::Options(tbf.options()),
            ],
        );
        let d = format!(
            "setting tbf rate {} bit/s on {}:ifindex {ifindex}",
            tbf.rate_bps,
            self.label()
        );
        self.push(libc::RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, &m, d);
        self
    }

    /// Puts `netem` at the root of link `ifindex`'s egress, replacing any
    /// root qdisc. `ENOENT` if the kernel has no `netem`.
    pub fn replace_netem(&mut self, ifindex: u32, netem: &NetemSpec) -> &mut Self {
        let m = Self::root_qdisc(
            ifindex,
            vec![
                TcAttribute::Kind("netem".into()),
                TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, netem.options())),
            ],
        );
        let d = format!("setting netem on {}:ifindex {ifindex}", self.label());
        self.push(libc::RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, &m, d);
        self
    }

    /// Removes the root qdisc of link `ifindex`'s egress (back to the
    /// interface's default). `ENOENT` or `EINVAL` when there is none.
    pub fn delete_root_qdisc(&mut self, ifindex: u32) -> &mut Self {
        let m = Self::root_qdisc(ifindex, Vec::new());
        let d = format!(
            "removing the root qdisc of {}:ifindex {ifindex}",
            self.label()
        );
        self.push(libc::RTM_DELQDISC, 0, &m, d);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_carries_the_rate_in_bytes_a_burst_and_a_limit() {
        let t = TbfSpec::new(20_000_000, None);
        assert_eq!(t.burst, 25_000);
        assert_eq!(t.limit, 25_000 + 250_000);
        assert_eq!(TbfSpec::new(1_000_000, Some(3000)).burst, 3028);
        let opts = t.options();
        let TcOption::Other(parms) = &opts[0] else {
            panic!("parms")
        };
        assert_eq!(netlink_packet_core::Nla::value_len(parms), 36);
        assert_eq!(opts.len(), 2, "no 64-bit rate below 32 Gbit/s");
        assert_eq!(TbfSpec::new(40_000_000_000, None).options().len(), 3);
        let mut b = Batch::new("r1");
        b.replace_tbf(4, &t).delete_root_qdisc(4);
        let d: Vec<_> = b.descriptions().collect();
        assert_eq!(
            d,
            [
                "setting tbf rate 20000000 bit/s on r1:ifindex 4",
                "removing the root qdisc of r1:ifindex 4"
            ]
        );
    }

    #[test]
    fn netem_options_are_the_struct_then_aligned_attributes() {
        let n = NetemSpec {
            delay_ns: 50_000_000,
            loss: 0.5,
            reorder: 0.25,
            ..NetemSpec::default()
        };
        let o = n.options();
        let u32_at = |i: usize| u32::from_ne_bytes(o[i..i + 4].try_into().expect("4 bytes"));
        assert_eq!(u32_at(4), 1000, "default limit");
        assert_eq!(u32_at(8), u32::MAX / 2 + 1, "half the frames lost");
        // LATENCY64 follows the 24-byte struct: 4-byte header, 8-byte value.
        assert_eq!(u16::from_ne_bytes([o[24], o[25]]), 12);
        assert_eq!(u16::from_ne_bytes([o[26], o[27]]), TCA_NETEM_LATENCY64);
        assert_eq!(
            i64::from_ne_bytes(o[28..36].try_into().expect("8 bytes")),
            50_000_000
        );
        // JITTER64, then REORDER; no CORR, CORRUPT or RATE64.
        assert_eq!(u16::from_ne_bytes([o[38], o[39]]), TCA_NETEM_JITTER64);
        assert_eq!(u16::from_ne_bytes([o[50], o[51]]), TCA_NETEM_REORDER);
        assert_eq!(o.len(), 24 + 12 + 12 + 12);
    }
}
