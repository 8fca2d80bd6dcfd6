//! QEMU start to the DUT's ready banner under TCG: warren's `Vm::start` +
//! `wait_ready` against a bare `qemu-system-x86_64` started by hand with the
//! same kernel, initramfs and command line (serial on stdout), alternating,
//! in the same run. Prints each run and the medians; the difference is what
//! warren adds (paused start, socket connects, `cont`, the console reader).
//!
//! `cargo bench -p warren-runtime --bench vm_boot` (RUNS=N to change the
//! number of runs, default 5). Builds the DUT fixture with
//! scripts/fixtures/dut.sh (cached).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warren_runtime::vm::{Accel, Boot, Vm, VmConfig};

const APPEND: &str = "console=ttyS0 quiet panic=-1 dut_name=bench dut_nics=0";
const BANNER: &str = "=== DUT-READY bench";

fn fixture() -> PathBuf {
    warren_fixtures::dut().to_path_buf()
}

/// Bare QEMU, serial on a pipe (`-serial stdio`), or on a unix socket
/// (`server=on,wait=on`, the same chardev type warren uses) when `sock`.
fn bare(dir: &Path, sock: Option<&Path>) -> Duration {
    let serial = match sock {
        Some(p) => format!(
            "chardev:s0 -chardev socket,id=s0,path={},server=on,wait=on",
            p.display()
        ),
        None => "stdio".to_owned(),
    };
    let t0 = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-machine", "pc", "-accel", "tcg", "-m", "256", "-smp", "1"])
        .arg("-kernel")
        .arg(dir.join("vmlinuz"))
        .arg("-initrd")
        .arg(dir.join("initrd.gz"))
        .args(["-append", APPEND, "-serial"])
        .args(serial.split(' '))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let out: Box<dyn std::io::Read> = match sock {
        Some(p) => Box::new(connect(p)),
        None => Box::new(child.stdout.take().expect("stdout")),
    };
    let mut lines = BufReader::new(out).split(b'\n');
    let took = loop {
        let line = lines.next().expect("banner before EOF").expect("read");
        if String::from_utf8_lossy(&line).contains(BANNER) {
            break t0.elapsed();
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn connect(p: &Path) -> std::os::unix::net::UnixStream {
    for _ in 0..5000 {
        if let Ok(s) = std::os::unix::net::UnixStream::connect(p) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no serial socket {}", p.display())
}

fn warren(dir: &Path, state: &Path) -> (Duration, Duration) {
    let mut cfg = VmConfig::new(
        "bench",
        Boot::Kernel {
            kernel: dir.join("vmlinuz"),
            initrd: Some(dir.join("initrd.gz")),
            append: APPEND.into(),
        },
        state,
        state,
    );
    cfg.accel = Accel::Tcg;
    let t0 = Instant::now();
    let vm = Vm::start(cfg).expect("Vm::start");
    let started = t0.elapsed();
    vm.wait_ready(BANNER, Duration::from_secs(60))
        .expect("banner");
    let took = t0.elapsed();
    vm.stop(Duration::from_secs(5)).expect("stop");
    (took, started)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = fixture();
    let state = std::env::temp_dir().join(format!("wvm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&state).expect("state dir");
    let sock = state.join("bare.serial");
    let (mut b, mut bs, mut w, mut s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let tb = bare(&dir, None);
        let tbs = bare(&dir, Some(&sock));
        let _ = std::fs::remove_file(&sock);
        let (tw, ts) = warren(&dir, &state);
        println!(
            "run {i}: bare (stdio) {:.3} s   bare (socket) {:.3} s   warren {:.3} s (Vm::start returned after {:.1} ms)",
            tb.as_secs_f64(),
            tbs.as_secs_f64(),
            tw.as_secs_f64(),
            ts.as_secs_f64() * 1e3
        );
        b.push(tb);
        bs.push(tbs);
        w.push(tw);
        s.push(ts);
    }
    let (mb, mbs, mw) = (median(b), median(bs), median(w));
    println!(
        "median: bare (stdio) {:.3} s, bare (socket) {:.3} s, warren {:.3} s; \
         warren adds {:+.1} ms over bare (stdio), {:+.1} ms over bare (socket); Vm::start median {:.1} ms",
        mb.as_secs_f64(),
        mbs.as_secs_f64(),
        mw.as_secs_f64(),
        (mw.as_secs_f64() - mb.as_secs_f64()) * 1e3,
        (mw.as_secs_f64() - mbs.as_secs_f64()) * 1e3,
        median(s).as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&state);
}
