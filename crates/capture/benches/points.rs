//! What many idle capture points cost (issue 19): N veth pairs between two
//! private namespaces, one capture per pair on the first end, as a lab
//! captures each link. Two geometries in the same run: the rings labs used
//! before (8 blocks of 2 MiB) and the default (1 MiB); and two ways to
//! start and end: each capture in turn, and all together
//! (`Capture::start_all`, one pool of threads; `Capture::stop_all`); and one
//! capture of all N points, as a network of N members is captured.
//!
//! ```text
//! cargo bench -p warren-capture --bench points -- [N]      (default 200)
//! cargo bench --profile dev -p warren-capture --bench points -- 300
//! ```
//!
//! Prints the time to start the N captures, the memory the host lost
//! meanwhile (`MemAvailable`, host-wide, so other load shows in it), the
//! time to stop them, and the ratios. Needs root.

use std::time::{Duration, Instant};

use warren_capture::{Capture, CaptureOptions, Job, PointSpec, RingConfig, Sink};
use warren_kernel::{LinkSpec, Netns, create_netns_many};

fn mem_available_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("reading /proc/meminfo");
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemAvailable in /proc/meminfo")
}

struct Round {
    start: Duration,
    mem_mib: i64,
    stop: Duration,
}

/// Starts one capture per veth end `p0..pN` in `na`, then stops them all:
/// each in turn, or all together (`Capture::start_all`, `Capture::stop_all`).
fn round(na: &Netns, n: u32, ring: RingConfig, together: bool) -> Round {
    let opts = CaptureOptions {
        ring,
        ..CaptureOptions::default()
    };
    let before = mem_available_kib();
    let t = Instant::now();
    let points = |i: u32| vec![PointSpec::link_end(na, format!("p{i}"), format!("a:p{i}"))];
    let caps: Vec<Capture> = if together {
        let jobs = (0..n)
            .map(|i| Job {
                name: format!("l{i}"),
                points: points(i),
                sink: Sink::Writer(Box::new(std::io::sink())),
            })
            .collect();
        Capture::start_all(jobs, &opts).expect("starting the captures")
    } else {
        (0..n)
            .map(|i| {
                Capture::start(
                    &format!("l{i}"),
                    &points(i),
                    Box::new(std::io::sink()),
                    &opts,
                )
                .expect("starting a capture")
            })
            .collect()
    };
    let start = t.elapsed();
    // Let the rings' memory settle in the counters.
    std::thread::sleep(Duration::from_millis(200));
    let mem_mib = (before as i64 - mem_available_kib() as i64) / 1024;
    let t = Instant::now();
    if together {
        for s in Capture::stop_all(caps) {
            s.expect("stopping a capture");
        }
    } else {
        for c in caps {
            c.stop().expect("stopping a capture");
        }
    }
    Round {
        start,
        mem_mib,
        stop: t.elapsed(),
    }
}

/// One capture of all N points, as a network's capture of its members.
fn one_capture(na: &Netns, n: u32) -> Round {
    let before = mem_available_kib();
    let t = Instant::now();
    let pts: Vec<PointSpec<'_>> = (0..n)
        .map(|i| PointSpec::bridge_port(na, format!("p{i}"), format!("h{i}:eth0")))
        .collect();
    let cap = Capture::start(
        "lan",
        &pts,
        Box::new(std::io::sink()),
        &CaptureOptions::default(),
    )
    .expect("starting the capture");
    let start = t.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let mem_mib = (before as i64 - mem_available_kib() as i64) / 1024;
    let t = Instant::now();
    cap.stop().expect("stopping the capture");
    Round {
        start,
        mem_mib,
        stop: t.elapsed(),
    }
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(200, |a| a.parse().expect("N: number of capture points"));
    let mut v = create_netns_many(["points-a", "points-b"]).expect("namespaces (needs root)");
    let (nb, _rb) = v.pop().expect("b");
    let (na, mut ra) = v.pop().expect("a");
    let mut bt = ra.batch();
    for i in 0..n {
        bt.create_veth(
            LinkSpec::new(format!("p{i}"))
                .netns(&na)
                .ifindex(i + 2)
                .up(),
            LinkSpec::new(format!("q{i}")).netns(&nb).ifindex(i + 2),
        );
    }
    ra.execute(bt).expect("veth pairs");

    let old = RingConfig {
        block_size: 2 << 20,
        block_count: 8,
        ..RingConfig::default()
    };
    let new = RingConfig::default();
    let rows = [
        ("8 x 2 MiB, one by one", round(&na, n, old, false)),
        ("1 MiB, one by one", round(&na, n, new, false)),
        ("1 MiB, together", round(&na, n, new, true)),
        ("1 MiB, one capture of all", one_capture(&na, n)),
    ];
    println!("{n} capture points, one capture each");
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "", "start s", "mem MiB", "stop s"
    );
    for (name, r) in &rows {
        println!(
            "{name:<28} {:>9.3} {:>9} {:>9.3}",
            r.start.as_secs_f64(),
            r.mem_mib,
            r.stop.as_secs_f64()
        );
    }
    let (o, s, t) = (&rows[0].1, &rows[1].1, &rows[2].1);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    println!(
        "old / 1 MiB start: {:.1}x, memory: {:.1}x; one by one / together: start {:.1}x, stop {:.1}x",
        ratio(o.start.as_secs_f64(), s.start.as_secs_f64()),
        ratio(o.mem_mib as f64, s.mem_mib as f64),
        ratio(s.start.as_secs_f64(), t.start.as_secs_f64()),
        ratio(s.stop.as_secs_f64(), t.stop.as_secs_f64()),
    );
    drop((na, nb));
}
