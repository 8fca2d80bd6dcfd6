//! Boots the test DUT under TCG with no NICs and keeps it running until
//! stdin closes (or a line is entered), printing where its console share
//! socket is: try `vm_console` against it.
//!
//! `cargo run -p warren-runtime --example vm_dut -- FIXTURE_DIR [STATE_DIR]`
//! where FIXTURE_DIR is what `scripts/fixtures/dut.sh` prints.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use warren_runtime::vm::{Accel, Boot, Vm, VmConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let fixture = PathBuf::from(args.next().ok_or("usage: vm_dut FIXTURE_DIR [STATE_DIR]")?);
    let state = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("warren-vm-dut"));
    let mut cfg = VmConfig::new(
        "dut",
        Boot::Kernel {
            kernel: fixture.join("vmlinuz"),
            initrd: Some(fixture.join("initrd.gz")),
            append: "console=ttyS0 quiet dut_name=dut dut_nics=0".into(),
        },
        &state,
        &state,
    );
    cfg.accel = Accel::Tcg;
    let t0 = Instant::now();
    let vm = Vm::start(cfg)?;
    let m = vm.wait_ready("=== DUT-READY .*===", Duration::from_secs(60))?;
    println!("{} after {:.2?}", m.matched, t0.elapsed());
    println!("console: {}", vm.console_socket().display());
    println!(
        "logs: {} {}",
        vm.paths().log.display(),
        vm.paths().txt.display()
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let report = vm.stop(Duration::from_secs(5))?;
    println!("stopped: {:?}", report);
    Ok(())
}
