//! Attaches the terminal to a VM's console share socket, as
//! `warren console LAB NODE` does; Ctrl-] detaches.
//!
//! `cargo run -p warren-runtime --example vm_console -- STATE/NODE.console`

use warren_runtime::console::{DETACH_KEY, attach as attach_console};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sock = std::env::args_os()
        .nth(1)
        .ok_or("usage: vm_console STATE/NODE.console")?;
    eprintln!("attached; Ctrl-] detaches");
    attach_console(sock.as_ref(), DETACH_KEY)?;
    eprintln!("\r\ndetached");
    Ok(())
}
