//! `warren ps`: labs with state on this host.

use crate::Failure;
use crate::args::PsArgs;

pub fn run(args: &PsArgs) -> Result<(), Failure> {
    let labs = warren_lab::lifecycle::ps().map_err(Failure::error)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&labs).map_err(|e| miette::miette!("{e}"))?
        );
        return Ok(());
    }
    let mut rows = vec![["LAB", "STATUS", "NODES", "PID", "FILE"].map(String::from)];
    for l in &labs {
        rows.push([
            l.lab.clone(),
            l.status.clone(),
            l.nodes.to_string(),
            l.pid.to_string(),
            l.file.clone(),
        ]);
    }
    print!("{}", crate::table::render(&rows));
    Ok(())
}
