//! `warren console NAME NODE [-c CMD]` and `warren vm NAME NODE ACTION`.

use crate::Failure;
use crate::args::{ConsoleArgs, VmArgs};
use std::time::Duration;
use warren_lab::proto::Request;
use warren_lab::state::{self, LabState};

fn running(name: &str) -> Result<(std::path::PathBuf, LabState), Failure> {
    let dir = state::lab_dir(name);
    match LabState::read(&dir).map_err(Failure::error)? {
        Some(st) if st.supervisor_alive() => Ok((dir, st)),
        _ => Err(Failure::Error(miette::miette!(
            "no lab called {name} is running"
        ))),
    }
}

pub fn run(args: &ConsoleArgs) -> Result<(), Failure> {
    let (dir, st) = running(&args.name)?;
    if let Some([src, dst]) = args.upload.as_deref() {
        return upload(args, &dir, src, dst);
    }
    if let Some(command) = &args.command {
        let timeout = args.timeout.unwrap_or(30);
        let request = Request::ConsoleRun {
            node: args.node.clone(),
            command: command.clone(),
            timeout_secs: timeout,
        };
        let v = warren_lab::client::call(&dir, request, Duration::from_secs(timeout + 5))
            .map_err(Failure::error)?;
        print!("{}", v["output"].as_str().unwrap_or_default());
        let code = v["code"].as_i64().unwrap_or(1);
        return match code {
            0 => Ok(()),
            c => Err(Failure::Exit(u8::try_from(c.clamp(1, 255)).unwrap_or(1))),
        };
    }
    let Some(socket) = st.consoles.get(&args.node) else {
        return Err(Failure::Error(miette::miette!(
            "lab {} has no vm or system node called {} (only those have a console)",
            args.name,
            args.node
        )));
    };
    eprintln!(
        "attached to the console of {} in lab {}; Ctrl-] detaches",
        args.node, args.name
    );
    warren_runtime::console::attach(socket, warren_runtime::console::DETACH_KEY)
        .map_err(Failure::error)?;
    Ok(())
}

/// `--upload SRC DST [--mode MODE]`: the file through the console's shell.
fn upload(args: &ConsoleArgs, dir: &std::path::Path, src: &str, dst: &str) -> Result<(), Failure> {
    let data =
        std::fs::read(src).map_err(|e| Failure::Error(miette::miette!("reading {src}: {e}")))?;
    if let Some(mode) = &args.mode {
        warren_lab::supervisor::decode::parse_mode(mode)
            .map_err(|e| Failure::Error(miette::miette!("--mode: {e}")))?;
    }
    let timeout = args.timeout.unwrap_or(60 + data.len() as u64 / 100);
    let request = Request::console_upload(&args.node, dst, &data, args.mode.clone(), timeout);
    let v = warren_lab::client::call(dir, request, Duration::from_secs(timeout + 5))
        .map_err(Failure::error)?;
    let done: warren_lab::Uploaded = serde_json::from_value(v)
        .map_err(|e| Failure::Error(miette::miette!("the supervisor's answer: {e}")))?;
    println!("{src} -> {}:{dst}: {done}", args.node);
    Ok(())
}

pub fn vm(args: &VmArgs) -> Result<(), Failure> {
    let (dir, _) = running(&args.name)?;
    let request = Request::Vm {
        node: args.node.clone(),
        action: args.action.clone(),
    };
    warren_lab::client::call(&dir, request, Duration::from_secs(30)).map_err(Failure::error)?;
    println!("{} of {}: {}", args.node, args.name, args.action);
    Ok(())
}
