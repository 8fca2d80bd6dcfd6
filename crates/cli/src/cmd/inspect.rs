//! `warren inspect NAME`: the running lab, read live from the kernel by its supervisor.

use crate::Failure;
use crate::args::InspectArgs;
use std::path::Path;
use std::time::Duration;
use warren_lab::proto::{LabInfo, Request};
use warren_lab::state::{self, LabState};

/// Asks the supervisor in `dir` for the lab's live state.
pub fn fetch(dir: &Path) -> Result<LabInfo, Failure> {
    let v = warren_lab::client::call(dir, Request::Inspect, Duration::from_secs(30))
        .map_err(Failure::error)?;
    serde_json::from_value(v)
        .map_err(|e| Failure::Error(miette::miette!("reading the supervisor's answer: {e}")))
}

/// Prints one line per interface: node, interface, state, MTU, addresses, attachment.
pub fn print_table(info: &LabInfo) {
    let mut rows = vec![
        [
            "NODE",
            "INTERFACE",
            "STATE",
            "MTU",
            "ADDRESSES",
            "ATTACHED TO",
        ]
        .map(String::from),
    ];
    for n in &info.nodes {
        let node = if n.stopped {
            format!("{} (stopped)", n.name)
        } else {
            n.name.clone()
        };
        for i in &n.interfaces {
            rows.push([
                node.clone(),
                i.name.clone(),
                if i.up {
                    i.state.clone()
                } else {
                    "down (admin)".into()
                },
                i.mtu.to_string(),
                i.addresses.join(" "),
                i.attached.clone().unwrap_or_default(),
            ]);
        }
    }
    print!("{}", crate::table::render(&rows));
}

/// One line per container of the nodes' `containers:`, if there are any.
fn print_containers(info: &LabInfo) {
    let mut rows = vec![["CONTAINER", "IMAGE", "STATE", "LOG"].map(String::from)];
    for c in info.nodes.iter().flat_map(|n| &n.containers) {
        let state = match (c.pid, c.exit) {
            (Some(pid), _) => format!("running (pid {pid})"),
            (None, Some(code)) => format!("exited ({code})"),
            (None, None) => "stopped".into(),
        };
        rows.push([c.name.clone(), c.image.clone(), state, c.log.clone()]);
    }
    if rows.len() > 1 {
        print!("{}", crate::table::render(&rows));
    }
}

pub fn run(args: &InspectArgs) -> Result<(), Failure> {
    let dir = state::lab_dir(&args.name);
    match LabState::read(&dir).map_err(Failure::error)? {
        Some(st) if st.supervisor_alive() => {}
        Some(_) => {
            return Err(Failure::Error(miette::miette!(
                "lab {} is not running (its supervisor died); `warren down {}` cleans up",
                args.name,
                args.name
            )));
        }
        None => {
            return Err(Failure::Error(miette::miette!(
                "no lab called {} is running",
                args.name
            )));
        }
    }
    let info = fetch(&dir)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).map_err(|e| miette::miette!("{e}"))?
        );
        return Ok(());
    }
    println!(
        "lab {} ({:?}), supervisor pid {}, file {}\nevidence in {}",
        info.lab, info.status, info.supervisor_pid, info.file, info.results
    );
    print_table(&info);
    for n in &info.nodes {
        for r in &n.routes {
            println!("route {}: {r}", n.name);
        }
    }
    print_containers(&info);
    if !info.captures.is_empty() {
        let mut rows = vec![["CAPTURE", "FRAMES", "DROPPED", "FILE"].map(String::from)];
        for c in &info.captures {
            rows.push([
                c.name.clone(),
                c.captured.to_string(),
                c.dropped.to_string(),
                c.file.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", crate::table::render(&rows));
    }
    Ok(())
}
