//! The impairment engine of one direction of a wire: pure, deterministic,
//! clock-free. Frames are offered with the current time in nanoseconds and
//! leave at their due time; every random choice comes from the direction's
//! seeded [`Rng`].
//!
//! The model follows netem's: loss (optionally correlated), duplicate,
//! corrupt (one flipped bit), delay with jitter of a chosen distribution,
//! reorder (a frame skips the delay and leaves at once), then a rate limit
//! that serialises frames at `rate` bits per second behind each other, and
//! a queue limit in frames (netem's default 1000 when a delay or rate
//! queues frames).

#![forbid(unsafe_code)]

use crate::rng::Rng;
use std::collections::BinaryHeap;

/// Shape of the delay variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distribution {
    /// Uniform in `delay ± jitter`.
    #[default]
    Uniform,
    /// Normal, standard deviation `jitter`.
    Normal,
    /// Pareto (heavy tail above the delay), scaled by `jitter`.
    Pareto,
    /// A mix: a quarter normal, three quarters Pareto.
    Paretonormal,
}

/// Impairments of one direction. Probabilities are fractions in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Params {
    /// Added delay, nanoseconds.
    pub delay_ns: u64,
    /// Delay variation, nanoseconds.
    pub jitter_ns: u64,
    /// Shape of the variation.
    pub distribution: Distribution,
    /// Share of frames dropped.
    pub loss: f64,
    /// Correlation of each loss decision with the previous one.
    pub loss_correlation: f64,
    /// Share of frames sent twice.
    pub duplicate: f64,
    /// Share of frames sent at once, ahead of delayed ones.
    pub reorder: f64,
    /// Share of frames with one bit flipped.
    pub corrupt: f64,
    /// Rate limit in bits per second; 0 is unlimited.
    pub rate_bps: u64,
    /// Queue limit in frames; 0 is the default (1000).
    pub limit: u32,
}

impl Params {
    /// True when the engine passes every frame through at once, untouched.
    pub fn is_clear(&self) -> bool {
        *self == Params::default()
    }
}

/// Default queue limit, as netem's.
pub const DEFAULT_LIMIT: u32 = 1000;

/// What became of an offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Queued (possibly twice, when duplicated).
    Queued,
    /// Dropped by the loss model.
    Lost,
    /// Dropped because the queue was full.
    Overflow,
}

#[derive(Debug, PartialEq, Eq)]
struct Queued {
    due: u64,
    seq: u64,
    frame: Vec<u8>,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // BinaryHeap is a max-heap: the earliest due (then the first
        // offered) compares greatest.
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames offered.
    pub offered: u64,
    /// Frames dropped by the loss model.
    pub lost: u64,
    /// Frames dropped on a full queue.
    pub overflow: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
    /// Frames sent ahead of the delay.
    pub reordered: u64,
    /// Frames handed out.
    pub sent: u64,
}

/// One direction's engine.
#[derive(Debug)]
pub struct Engine {
    params: Params,
    rng: Rng,
    last_lost: bool,
    queue: BinaryHeap<Queued>,
    seq: u64,
    /// When the rate limiter's line is free again, nanoseconds.
    line_free: u64,
    stats: Stats,
}

impl Engine {
    /// An engine with `params`, drawing from a generator seeded with `seed`.
    pub fn new(params: Params, seed: u64) -> Self {
        Engine {
            params,
            rng: Rng::new(seed),
            last_lost: false,
            queue: BinaryHeap::new(),
            seq: 0,
            line_free: 0,
            stats: Stats::default(),
        }
    }

    /// The impairments in force.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Replaces the impairments; queued frames keep their due times.
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Frames waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True when a frame offered now would pass straight through: nothing
    /// queued and no impairment. The I/O loop then skips the queue.
    pub fn passthrough(&self) -> bool {
        self.queue.is_empty() && self.params.is_clear()
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.unit() < p
    }

    fn lose(&mut self) -> bool {
        let p = self.params.loss;
        if p <= 0.0 {
            return false;
        }
        // A two-state chain whose long-run loss rate stays `p`: after a loss
        // the next frame is lost with p + c(1 - p), after a delivery with
        // p(1 - c). (netem's own correlated draw lowers the mean rate.)
        let c = self.params.loss_correlation.clamp(0.0, 1.0);
        let q = if self.last_lost {
            p + c * (1.0 - p)
        } else {
            p * (1.0 - c)
        };
        self.last_lost = self.rng.unit() < q;
        self.last_lost
    }

    fn jitter(&mut self) -> i64 {
        let j = self.params.jitter_ns as f64;
        if j <= 0.0 {
            return 0;
        }
        let pareto = |rng: &mut Rng| {
            // Pareto with shape 3, mean 1.5: centred so the mean shift is 0.
            let u = 1.0 - rng.unit();
            (u.powf(-1.0 / 3.0) - 1.5) * j
        };
        let x = match self.params.distribution {
            Distribution::Uniform => (self.rng.unit() * 2.0 - 1.0) * j,
            Distribution::Normal => self.rng.normal() * j,
            Distribution::Pareto => pareto(&mut self.rng),
            Distribution::Paretonormal => {
                if self.rng.unit() < 0.25 {
                    self.rng.normal() * j
                } else {
                    pareto(&mut self.rng)
                }
            }
        };
        x as i64
    }

    fn limit(&self) -> usize {
        match self.params.limit {
            0 => DEFAULT_LIMIT as usize,
            n => n as usize,
        }
    }

    fn enqueue(&mut self, now: u64, frame: Vec<u8>, skip_delay: bool) {
        let delay = if skip_delay {
            0
        } else {
            (self.params.delay_ns as i64 + self.jitter()).max(0) as u64
        };
        let mut due = now + delay;
        if self.params.rate_bps > 0 {
            // Serialise behind what is already on the line.
            let start = due.max(self.line_free);
            let bits = (frame.len() as u128) * 8;
            let tx = (bits * 1_000_000_000 / u128::from(self.params.rate_bps)) as u64;
            self.line_free = start + tx;
            due = self.line_free;
        }
        self.seq += 1;
        self.queue.push(Queued {
            due,
            seq: self.seq,
            frame,
        });
    }

    /// Offers `frame` at time `now` (nanoseconds on any monotonic clock).
    pub fn offer(&mut self, now: u64, mut frame: Vec<u8>) -> Verdict {
        self.stats.offered += 1;
        if self.lose() {
            self.stats.lost += 1;
            return Verdict::Lost;
        }
        if self.queue.len() >= self.limit() {
            self.stats.overflow += 1;
            return Verdict::Overflow;
        }
        let dup = self.chance(self.params.duplicate);
        if self.chance(self.params.corrupt) && !frame.is_empty() {
            let bit = self.rng.below(frame.len() as u64 * 8);
            frame[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        let reorder = self.chance(self.params.reorder);
        if reorder {
            self.stats.reordered += 1;
        }
        if dup {
            self.stats.duplicated += 1;
            self.enqueue(now, frame.clone(), false);
        }
        self.enqueue(now, frame, reorder);
        Verdict::Queued
    }

    /// When the next frame is due, if any is queued.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.peek().map(|q| q.due)
    }

    /// The next frame due at or before `now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Vec<u8>> {
        if self.queue.peek()?.due > now {
            return None;
        }
        self.stats.sent += 1;
        self.queue.pop().map(|q| q.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn drain(e: &mut Engine, now: u64) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| e.pop_due(now)).collect()
    }

    #[test]
    fn clear_params_pass_frames_at_once_in_order() {
        let mut e = Engine::new(Params::default(), 1);
        assert!(e.passthrough());
        for i in 0..10u8 {
            assert_eq!(e.offer(5, vec![i]), Verdict::Queued);
        }
        let out = drain(&mut e, 5);
        assert_eq!(out, (0..10u8).map(|i| vec![i]).collect::<Vec<_>>());
    }

    #[test]
    fn delay_holds_frames_until_due() {
        let p = Params {
            delay_ns: 50 * MS,
            ..Params::default()
        };
        let mut e = Engine::new(p, 1);
        e.offer(0, vec![1]);
        assert_eq!(e.next_due(), Some(50 * MS));
        assert!(e.pop_due(50 * MS - 1).is_none());
        assert_eq!(e.pop_due(50 * MS), Some(vec![1]));
    }

    #[test]
    fn jitter_stays_in_bounds_and_varies() {
        let p = Params {
            delay_ns: 50 * MS,
            jitter_ns: 5 * MS,
            ..Params::default()
        };
        let mut e = Engine::new(p, 9);
        let mut dues = Vec::new();
        for i in 0..1000 {
            e.offer(0, vec![0; 10]);
            dues.push(e.next_due().unwrap());
            let _ = drain(&mut e, u64::MAX);
            let _ = i;
        }
        assert!(dues.iter().all(|d| (45 * MS..=55 * MS).contains(d)));
        let mean = dues.iter().sum::<u64>() as f64 / dues.len() as f64;
        assert!((mean - 50e6).abs() < 1e6, "mean {mean}");
        assert!(dues.iter().min() != dues.iter().max());
    }

    #[test]
    fn normal_and_pareto_jitter_centre_on_the_delay() {
        for d in [
            Distribution::Normal,
            Distribution::Pareto,
            Distribution::Paretonormal,
        ] {
            let p = Params {
                delay_ns: 100 * MS,
                jitter_ns: 10 * MS,
                distribution: d,
                ..Params::default()
            };
            let mut e = Engine::new(p, 4);
            let mut sum = 0f64;
            for _ in 0..5000 {
                e.offer(0, vec![0]);
                sum += e.next_due().unwrap() as f64;
                let _ = drain(&mut e, u64::MAX);
            }
            let mean = sum / 5000.0;
            assert!((mean - 100e6).abs() < 2e6, "{d:?}: mean {mean}");
        }
    }

    fn losses(seed: u64, p: Params, n: usize) -> Vec<usize> {
        let mut e = Engine::new(p, seed);
        (0..n)
            .filter(|i| {
                let v = e.offer(0, vec![*i as u8]);
                let _ = drain(&mut e, 0);
                v == Verdict::Lost
            })
            .collect()
    }

    #[test]
    fn loss_is_seeded_and_near_its_rate() {
        let p = Params {
            loss: 0.10,
            ..Params::default()
        };
        let a = losses(42, p, 10_000);
        assert_eq!(a, losses(42, p, 10_000));
        assert_ne!(a, losses(43, p, 10_000));
        assert!((900..1100).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn correlated_loss_comes_in_bursts() {
        let plain = Params {
            loss: 0.10,
            ..Params::default()
        };
        let corr = Params {
            loss_correlation: 0.9,
            ..plain
        };
        let runs = |l: &[usize]| l.windows(2).filter(|w| w[1] == w[0] + 1).count();
        let a = losses(1, plain, 20_000);
        let b = losses(1, corr, 20_000);
        let ra = runs(&a) as f64 / a.len() as f64;
        let rb = runs(&b) as f64 / b.len().max(1) as f64;
        assert!(rb > ra * 2.0, "plain {ra}, correlated {rb}");
        // The long-run rate stays near 10%.
        assert!((1500..2500).contains(&b.len()), "{}", b.len());
    }

    #[test]
    fn duplicate_corrupt_and_reorder() {
        let p = Params {
            duplicate: 1.0,
            ..Params::default()
        };
        let mut e = Engine::new(p, 1);
        e.offer(0, vec![7]);
        assert_eq!(drain(&mut e, 0), vec![vec![7], vec![7]]);

        let p = Params {
            corrupt: 1.0,
            ..Params::default()
        };
        let mut e = Engine::new(p, 1);
        e.offer(0, vec![0; 64]);
        let f = e.pop_due(0).unwrap();
        assert_eq!(f.iter().map(|b| b.count_ones()).sum::<u32>(), 1);

        // Every frame reordered skips the delay; none reordered waits.
        let p = Params {
            delay_ns: 10 * MS,
            reorder: 0.5,
            ..Params::default()
        };
        let mut e = Engine::new(p, 1);
        for i in 0..100u8 {
            e.offer(0, vec![i]);
        }
        let early = drain(&mut e, 0).len() as u64;
        assert_eq!(early, e.stats().reordered);
        assert!((30..70).contains(&early), "{early}");
        assert_eq!(drain(&mut e, 10 * MS).len() as u64, 100 - early);
    }

    #[test]
    fn rate_serialises_frames() {
        // 1000-byte frames at 8 Mbit/s: one per millisecond.
        let p = Params {
            rate_bps: 8_000_000,
            ..Params::default()
        };
        let mut e = Engine::new(p, 1);
        for _ in 0..10 {
            e.offer(0, vec![0; 1000]);
        }
        let mut times = Vec::new();
        while let Some(t) = e.next_due() {
            times.push(t);
            e.pop_due(t);
        }
        assert_eq!(times, (1..=10).map(|i| i * MS).collect::<Vec<_>>());
    }

    #[test]
    fn queue_limit_drops_on_overflow() {
        let p = Params {
            delay_ns: MS,
            limit: 5,
            ..Params::default()
        };
        let mut e = Engine::new(p, 1);
        let v: Vec<_> = (0..8).map(|_| e.offer(0, vec![0])).collect();
        assert_eq!(v.iter().filter(|v| **v == Verdict::Overflow).count(), 3);
        assert_eq!(e.queued(), 5);
    }
}
