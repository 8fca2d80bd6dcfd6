//! `warren graph FILE --format dot|mermaid|json`.

use crate::Failure;
use crate::args::{GraphArgs, GraphFormat};
use crate::labfile::LabFile;

pub fn run(args: &GraphArgs) -> Result<(), Failure> {
    let lab = LabFile::read_with(
        &args.file,
        &crate::compose::split_network_files(&args.network_files),
    )?
    .into_lab()?;
    let out = match args.format {
        GraphFormat::Dot => warren_topology::graph::to_dot(&lab),
        GraphFormat::Mermaid => warren_topology::graph::to_mermaid(&lab),
        GraphFormat::Json => {
            let mut s = serde_json::to_string_pretty(&lab)
                .map_err(|e| Failure::Error(miette::miette!("{e}")))?;
            s.push('\n');
            s
        }
    };
    print!("{out}");
    Ok(())
}
