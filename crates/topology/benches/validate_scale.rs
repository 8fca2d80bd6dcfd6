//! Validates a generated 2,000-node lab and prints the time, with the bare
//! YAML parse of the same text as the baseline measured in the same run.
//!
//! `cargo bench -p warren-topology --bench validate_scale [-- NODES]`

use std::fmt::Write;
use std::time::{Duration, Instant};

/// A chain of `n` routers with a /30 per link, a loopback and a route per
/// node, plus a LAN of every tenth node with auto-assigned addresses.
fn generate(n: usize) -> String {
    let mut s =
        String::from("name: scale\ndefaults:\n  sysctls: {net.ipv4.ip_forward: 1}\nnodes:\n");
    for i in 0..n {
        let _ = writeln!(s, "  r{i}: {{}}");
    }
    s.push_str("links:\n");
    for i in 1..n {
        let base = (i as u32) * 4;
        let (a, b) = (base + 1, base + 2);
        let _ = writeln!(
            s,
            "  - endpoints: [r{}:e{}, r{i}:w{i}]\n    ipv4: [10.{}.{}.{}/30, 10.{}.{}.{}/30]",
            i - 1,
            i,
            a >> 16,
            (a >> 8) & 255,
            a & 255,
            b >> 16,
            (b >> 8) & 255,
            b & 255
        );
    }
    s.push_str("networks:\n  lan:\n    ipv4: 172.16.0.0/16\n    members: [");
    let members: Vec<String> = (0..n).step_by(10).map(|i| format!("r{i}:lan")).collect();
    s.push_str(&members.join(", "));
    s.push_str("]\ninterfaces:\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "  r{i}:lo: {{ipv4: [192.168.{}.{}/32]}}",
            i / 250,
            i % 250 + 1
        );
    }
    s
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let text = generate(n);
    let loaded = warren_topology::load(&text, "scale");
    assert!(
        loaded.lab.is_some(),
        "the generated lab is valid: {:?}",
        loaded.diagnostics.0.first()
    );
    let parse = best_of(5, || {
        warren_topology::yaml::parse(&text).expect("valid YAML");
    });
    let full = best_of(5, || {
        warren_topology::load(&text, "scale");
    });
    println!(
        "lab: {n} nodes, {} links, {} bytes of YAML",
        n - 1,
        text.len()
    );
    println!(
        "yaml parse only (baseline): {:>9.2} ms",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "parse + resolve + validate: {:>9.2} ms",
        full.as_secs_f64() * 1e3
    );
    println!(
        "ratio validate/parse:       {:>9.2}x",
        full.as_secs_f64() / parse.as_secs_f64()
    );
}
