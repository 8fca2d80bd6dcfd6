//! `warren node NAME NODE stop|start|restart [--json]`: stops, starts or
//! restarts one node of a running lab while its links stay.

use crate::Failure;
use crate::args::NodeArgs;
use warren_lab::proto::Request;

/// Long enough for a container's stop grace, its start, its `exec:`
/// commands and its `ready` probe.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

pub fn run(args: &NodeArgs) -> Result<(), Failure> {
    let dir = super::impair::running(&args.name)?;
    let request = Request::Node {
        node: args.node.clone(),
        action: args.action.as_str().to_string(),
    };
    let done = warren_lab::client::call(&dir, request, TIMEOUT).map_err(Failure::error)?;
    if args.json {
        println!("{done}");
        return Ok(());
    }
    let pids = |key: &str| {
        done[key].as_array().map(|a| {
            a.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let mut line = format!("{} of {}: {}", args.node, args.name, args.action.as_str());
    if let Some(p) = pids("stopped").filter(|p| !p.is_empty()) {
        line.push_str(&format!("; stopped pids {p}"));
    }
    if let Some(p) = pids("started").filter(|p| !p.is_empty()) {
        line.push_str(&format!("; running pids {p}"));
    }
    println!("{line}");
    Ok(())
}
