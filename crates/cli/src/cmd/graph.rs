//! `warren graph LAB_OR_FILE --format dot|mermaid|svg|html|json`.

use crate::Failure;
use crate::args::{GraphArgs, GraphFormat};
use crate::labfile::LabFile;
use warren_report::topology::{Faults, Topology};

pub fn run(args: &GraphArgs) -> Result<(), Failure> {
    let out = match args.format {
        GraphFormat::Dot => warren_topology::graph::to_dot(&read_lab(args)?),
        GraphFormat::Mermaid => warren_topology::graph::to_mermaid(&read_lab(args)?),
        GraphFormat::Json => {
            let mut s = serde_json::to_string_pretty(&resolved(args)?)
                .map_err(|e| Failure::Error(miette::miette!("{e}")))?;
            s.push('\n');
            s
        }
        GraphFormat::Html => {
            warren_report::svg::page(&Topology::from_lab_json(&resolved(args)?, Faults::All))
        }
        GraphFormat::Svg => {
            warren_report::svg::file(&Topology::from_lab_json(&resolved(args)?, Faults::All))
        }
    };
    print!("{out}");
    Ok(())
}

fn read_lab(args: &GraphArgs) -> Result<warren_topology::Lab, Failure> {
    let compose = crate::compose::Options {
        network_files: crate::compose::split_paths(&args.network_files),
        compose_files: crate::compose::split_paths(&args.compose_files),
        env_files: args.env_files.clone(),
        create_volumes: false,
        scale: std::collections::BTreeMap::new(),
    };
    LabFile::read_with(&args.file, &compose)?.into_lab()
}

/// The resolved lab as JSON: from the file, or, when no such file exists,
/// from the running lab of that name (its run's `lab.json`).
fn resolved(args: &GraphArgs) -> Result<serde_json::Value, Failure> {
    if !args.file.exists()
        && let Some(name) = args.file.to_str()
        && let Ok(lab) = warren_lab::Lab::attach(name)
    {
        let path = lab.results_dir().join("lab.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failure::Error(miette::miette!("reading {}: {e}", path.display())))?;
        return serde_json::from_str(&text)
            .map_err(|e| Failure::Error(miette::miette!("reading {}: {e}", path.display())));
    }
    serde_json::to_value(read_lab(args)?).map_err(|e| Failure::Error(miette::miette!("{e}")))
}
