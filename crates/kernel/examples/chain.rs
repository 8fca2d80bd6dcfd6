//! Builds an N-node chain and times it, for comparison with `ip -batch`.
//!
//! `cargo run --release -p warren-kernel --example chain -- [N]` (default
//! 1000, needs root). N namespaces `n0..n{N-1}`, `lo` up in each; N-1 veth
//! pairs `n{i}:east <-> n{i+1}:west`, all up, with 10.x.y.z/30 on each end (two
//! addresses per link). Prints the time to build and the time to drop.
//! Everything is held by fd: nothing is left behind when it exits.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Instant;

use warren_kernel::{IpNet, KernelError, LinkSpec, Netns, error_chain};

/// ifindex of the `west` end (towards n{i-1}) in every namespace.
const L: u32 = 2;
/// ifindex of the `east` end (towards n{i+1}) in every namespace.
const R: u32 = 3;

fn addr(link: u32, host: u32) -> IpNet {
    let a = Ipv4Addr::from(0x0a00_0000 + link * 4 + host);
    IpNet::new(IpAddr::V4(a), 30).expect("/30 is valid")
}

fn run(n: usize) -> Result<(), KernelError> {
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    let t0 = Instant::now();
    let nss = Netns::create_many((0..n).map(|i| format!("n{i}")))?;
    let t_ns = t0.elapsed();

    // All veths in one batch on n0's socket, each end directly in its
    // namespace, the `east` end created up, fixed ifindexes.
    let t1 = Instant::now();
    {
        let mut batch = nss[0].batch();
        for pair in nss.windows(2) {
            batch.create_veth(
                LinkSpec::new("east").netns(&pair[0]).ifindex(R).up(),
                LinkSpec::new("west").netns(&pair[1]).ifindex(L),
            );
        }
        nss[0].execute(batch)?;
    }
    let t_links = t1.elapsed();

    // Per namespace: lo up, `west` up, one address per end.
    let t2 = Instant::now();
    for (i, ns) in nss.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let mut b = ns.batch();
        b.set_up(1);
        if i > 0 {
            b.set_up(L);
            b.add_address(L, addr(i - 1, 2));
        }
        if i + 1 < n32 {
            b.add_address(R, addr(i, 1));
        }
        ns.execute(b)?;
    }
    let t_addr = t2.elapsed();
    let build = t0.elapsed();

    // Spot check: the last namespace has its address.
    if let Some(ns) = nss.last() {
        let addrs = ns.addresses()?;
        assert!(
            n < 2 || addrs.iter().any(|a| a.addr == addr(n32 - 2, 2)),
            "last node lacks its address"
        );
    }

    let t3 = Instant::now();
    drop(nss);
    let dropped = t3.elapsed();
    println!(
        "chain N={n}: build {:.3}s (netns+sockets {:.3}s, veths {:.3}s, up+addresses {:.3}s), drop {:.3}s",
        build.as_secs_f64(),
        t_ns.as_secs_f64(),
        t_links.as_secs_f64(),
        t_addr.as_secs_f64(),
        dropped.as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let n = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    match run(n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chain: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
