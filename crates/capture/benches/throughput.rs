//! Capture throughput benchmark (issue 6): iperf3 through a veth pair
//! between two private namespaces, without capture, with warren's capture
//! on one veth end, and with tcpdump on the same end, each for SECONDS.
//!
//! ```text
//! cargo bench -p warren-capture --bench throughput -- [SECONDS]
//! WARREN_BENCH_SINK=file WARREN_BENCH_DIR=/big/disk cargo bench ...   # write real files
//! WARREN_BENCH_RATE=2G cargo bench ...                                # iperf3 -b
//! WARREN_BENCH_RING=4x16 cargo bench ...          # ring: 4 MiB blocks x 16
//! WARREN_BENCH_REPEAT=3 cargo bench ...           # rounds; medians printed
//! ```
//!
//! Prints throughput, the ratio to the uncaptured run, frames captured vs
//! the kernel's interface counters (`/proc/thread-self/net/dev` inside the
//! namespace) and drops. Needs root, iperf3 and tcpdump. Every process it
//! starts runs inside its own namespaces and is killed by PID.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warren_capture::{Capture, CaptureOptions, PointSpec};
use warren_kernel::{IpNet, LinkSpec, Netns, OperState, create_netns_many};

fn in_ns(cmd: &mut Command, ns: &Netns) {
    let fd = ns.raw_fd();
    // SAFETY: setns only (async-signal-safe) on an fd open until exec.
    unsafe {
        cmd.pre_exec(move || warren_kernel::enter_netns_raw(fd));
    }
}

/// (rx_packets, tx_packets) of `ifname` inside `ns`.
fn counters(ns: &Netns, ifname: &str) -> (u64, u64) {
    let text = ns
        .run(|| std::fs::read_to_string("/proc/thread-self/net/dev"))
        .expect("entering namespace")
        .expect("reading /proc/thread-self/net/dev");
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == ifname {
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().expect("number"))
                .collect();
            return (f[1], f[9]);
        }
    }
    panic!("{ifname} not in /proc/net/dev");
}

/// Runs the iperf3 client for `secs` and returns receiver bits/s.
fn iperf(na: &Netns, secs: u64, rate: Option<&str>) -> f64 {
    let mut cmd = Command::new("iperf3");
    cmd.args(["-c", "10.0.0.2", "-J", "-t", &secs.to_string()]);
    if let Some(r) = rate {
        cmd.args(["-b", r]);
    }
    in_ns(&mut cmd, na);
    let out = cmd.output().expect("running iperf3 client");
    assert!(
        out.status.success(),
        "iperf3 client failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("iperf3 JSON");
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .expect("bits_per_second in iperf3 output")
}

struct Run {
    label: &'static str,
    bps: f64,
    frames_kernel: u64,
    captured: Option<u64>,
    dropped: Option<u64>,
}

fn gbps(b: f64) -> f64 {
    b / 1e9
}

fn kill(child: &mut Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: signalling a child we spawned and have not reaped yet.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("SECONDS must be a number"))
        .unwrap_or(10);
    let rate = std::env::var("WARREN_BENCH_RATE").ok();
    let to_file = std::env::var("WARREN_BENCH_SINK").is_ok_and(|s| s == "file");
    let mut opts = CaptureOptions::default();
    if let Ok(r) = std::env::var("WARREN_BENCH_RING") {
        let (mib, n) = r.split_once('x').expect("WARREN_BENCH_RING=MIBxCOUNT");
        opts.ring.block_size = mib.parse::<u32>().expect("MiB") << 20;
        opts.ring.block_count = n.parse().expect("count");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the throughput benchmark needs root (namespaces, AF_PACKET)"
    );
    let dir = tempfile::tempdir_in(
        std::env::var_os("WARREN_BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into()),
    )
    .expect("temporary directory");
    let sink = |name: &str| -> PathBuf {
        if to_file {
            dir.path().join(name)
        } else {
            PathBuf::from("/dev/null")
        }
    };

    let mut v = create_netns_many(["bench-a", "bench-b"]).expect("namespaces");
    let (nb, mut rb) = v.pop().expect("two");
    let (na, mut ra) = v.pop().expect("two");
    let net = |s: &str| s.parse::<IpNet>().expect("prefix");
    let mut bt = ra.batch();
    bt.create_veth(
        LinkSpec::new("eth1").netns(&na).ifindex(2).up(),
        LinkSpec::new("eth1").netns(&nb).ifindex(2),
    );
    bt.set_up("lo");
    bt.add_address(2, net("10.0.0.1/24"));
    ra.execute(bt).expect("side a");
    let mut bt = rb.batch();
    bt.set_up("lo");
    bt.set_up(2);
    bt.add_address(2, net("10.0.0.2/24"));
    rb.execute(bt).expect("side b");
    let t = Instant::now();
    while ra.link("eth1").expect("link").expect("eth1").oper_state != OperState::Up {
        assert!(t.elapsed() < Duration::from_secs(5), "eth1 never up");
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut server = Command::new("iperf3");
    server
        .args(["-s", "-B", "10.0.0.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    in_ns(&mut server, &nb);
    let mut server = server.spawn().expect("starting iperf3 server");
    std::thread::sleep(Duration::from_millis(300));

    let repeat: usize = std::env::var("WARREN_BENCH_REPEAT")
        .ok()
        .map(|r| r.parse().expect("WARREN_BENCH_REPEAT must be a number"))
        .unwrap_or(1);
    let measure = |f: &mut dyn FnMut() -> f64| {
        let (r0, t0) = counters(&na, "eth1");
        let bps = f();
        let (r1, t1) = counters(&na, "eth1");
        (bps, (r1 - r0) + (t1 - t0))
    };
    let mut runs = Vec::new();
    let mut points = Vec::new();
    let (mut warren_bytes, mut tcpdump_bytes) = (0, 0);
    // Rounds alternate the three set-ups so host noise hits all alike.
    for _ in 0..repeat {
        // 1. No capture.
        let (bps, k) = measure(&mut || iperf(&na, secs, rate.as_deref()));
        runs.push(Run {
            label: "no capture",
            bps,
            frames_kernel: k,
            captured: None,
            dropped: None,
        });

        // 2. warren capture on a:eth1, both directions.
        let path = sink("warren.pcapng");
        let mut stats = None;
        let (bps, k) = measure(&mut || {
            let cap = Capture::start_file(
                "a-b",
                &[PointSpec::link_end(&na, "eth1", "a:eth1")],
                &path,
                &opts,
            )
            .expect("starting capture");
            let bps = iperf(&na, secs, rate.as_deref());
            stats = Some(cap.stop().expect("stopping capture"));
            bps
        });
        let stats = stats.expect("capture ran");
        warren_bytes = file_len(&path);
        runs.push(Run {
            label: "warren capture",
            bps,
            frames_kernel: k,
            captured: Some(stats.captured()),
            dropped: Some(stats.dropped()),
        });
        println!(
            "(round: warren write queue full {} times)",
            stats.write_waits
        );
        points.extend(stats.points);
        remove(&path, to_file);

        // 3. tcpdump on the same end.
        let path = sink("tcpdump.pcap");
        let mut tcpdump_err = String::new();
        let (bps, k) = measure(&mut || {
            let mut td = Command::new("tcpdump");
            td.args(["-i", "eth1", "-n", "-s", "0", "-B", "8192", "-w"])
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            in_ns(&mut td, &na);
            let mut td = td.spawn().expect("starting tcpdump");
            std::thread::sleep(Duration::from_millis(500));
            let bps = iperf(&na, secs, rate.as_deref());
            std::thread::sleep(Duration::from_millis(200));
            kill(&mut td, libc::SIGINT);
            let out = td.wait_with_output().expect("waiting for tcpdump");
            tcpdump_err = String::from_utf8_lossy(&out.stderr).into_owned();
            bps
        });
        let grab = |what: &str| -> Option<u64> {
            tcpdump_err
                .lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        };
        tcpdump_bytes = file_len(&path);
        runs.push(Run {
            label: "tcpdump",
            bps,
            frames_kernel: k,
            captured: grab("packets captured"),
            dropped: grab("dropped by kernel"),
        });
        remove(&path, to_file);
    }

    kill(&mut server, libc::SIGTERM);
    let _ = server.wait();

    println!(
        "iperf3 TCP a -> b over one veth, {secs} s per run, {repeat} round(s){}, ring {} MiB x {}, sink {}",
        rate.as_deref()
            .map(|r| format!(", rate {r}"))
            .unwrap_or_default(),
        opts.ring.block_size >> 20,
        opts.ring.block_count,
        if to_file {
            dir.path().display().to_string()
        } else {
            "/dev/null".into()
        }
    );
    println!(
        "{:<16} {:>10} {:>14} {:>12} {:>9}",
        "run", "Gbit/s", "kernel frames", "captured", "dropped"
    );
    for r in &runs {
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        println!(
            "{:<16} {:>10.2} {:>14} {:>12} {:>9}",
            r.label,
            gbps(r.bps),
            r.frames_kernel,
            opt(r.captured),
            opt(r.dropped),
        );
    }
    let median = |label: &str| {
        let mut v: Vec<f64> = runs
            .iter()
            .filter(|r| r.label == label)
            .map(|r| r.bps)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median("no capture");
    for label in ["no capture", "warren capture", "tcpdump"] {
        let m = median(label);
        println!(
            "median {label:<16} {:>8.2} Gbit/s  {:>6.1}% of no capture",
            gbps(m),
            100.0 * m / base
        );
    }
    if to_file {
        println!("last file sizes: warren {warren_bytes} B, tcpdump {tcpdump_bytes} B");
    }
    for p in &points {
        println!(
            "warren point {}: captured {} frames, {} bytes, kernel offered {}, dropped {}",
            p.name, p.captured, p.bytes, p.received, p.dropped
        );
    }
    drop((na, nb));
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn remove(p: &Path, to_file: bool) {
    if to_file {
        let _ = std::fs::remove_file(p);
    }
}
