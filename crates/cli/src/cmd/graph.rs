//! `warren graph FILE --format dot|mermaid|json`.

use crate::Failure;
use crate::args::{GraphArgs, GraphFormat};
use crate::labfile::LabFile;

pub fn run(args: &GraphArgs) -> Result<(), Failure> {
    let compose = crate::compose::Options {
        network_files: crate::compose::split_paths(&args.network_files),
        compose_files: crate::compose::split_paths(&args.compose_files),
        env_files: args.env_files.clone(),
        create_volumes: false,
    };
    let lab = LabFile::read_with(&args.file, &compose)?.into_lab()?;
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
