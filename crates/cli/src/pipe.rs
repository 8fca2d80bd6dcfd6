//! A closed stdout ends a command quietly, as in ripgrep: `warren inspect
//! LAB | head` exits 0 when `head` has read enough, with no panic and no
//! error message.

use std::io;

/// True when the panic is the standard library's report of a print to a
/// closed pipe.
fn is_closed_pipe_panic(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let message = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("");
    message.starts_with("failed printing to stdout") && message.contains("Broken pipe")
}

/// Makes a failed `print!` to a closed stdout exit the process with 0
/// instead of panicking; every other panic is reported as before.
pub fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_closed_pipe_panic(info) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// True when `report` comes from writing to a closed pipe.
pub fn is_closed_pipe(report: &miette::Report) -> bool {
    report.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `bytes` to stdout; a closed pipe ends the command quietly with 0.
pub fn write_stdout(bytes: &[u8]) -> Result<(), crate::Failure> {
    use std::io::Write;
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(crate::Failure::Exit(0)),
        Err(e) => Err(crate::Failure::error(e)),
    }
}
