//! `warren validate FILE...`: every problem of every file, exit 1 if any is an error.

use crate::Failure;
use crate::args::ValidateArgs;
use crate::labfile::LabFile;
use crate::report::JsonDiagnostic;
use serde::Serialize;

#[derive(Serialize)]
struct FileResult<'a> {
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lab: Option<&'a str>,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

pub fn run(args: &ValidateArgs) -> Result<(), Failure> {
    let files: Vec<LabFile> = args
        .files
        .iter()
        .map(|p| LabFile::read(p))
        .collect::<miette::Result<_>>()?;
    let invalid = files.iter().filter(|f| f.loaded.lab.is_none()).count();
    if args.json {
        let results: Vec<FileResult<'_>> = files
            .iter()
            .map(|f| FileResult {
                file: f.name(),
                valid: f.loaded.lab.is_some(),
                lab: f.loaded.lab.as_ref().map(|l| l.name.as_str()),
                diagnostics: f
                    .loaded
                    .diagnostics
                    .0
                    .iter()
                    .map(|d| JsonDiagnostic::new(d, &f.text))
                    .collect(),
            })
            .collect();
        let out = serde_json::to_string_pretty(&results)
            .map_err(|e| Failure::Error(miette::miette!("{e}")))?;
        println!("{out}");
    } else {
        for f in &files {
            eprint!("{}", f.render_problems());
            match &f.loaded.lab {
                Some(lab) => println!(
                    "{}: valid lab `{}` ({} nodes, {} links, {} networks)",
                    f.name(),
                    lab.name,
                    lab.nodes.len(),
                    lab.links.len(),
                    lab.networks.len()
                ),
                None => {
                    let n = f.loaded.diagnostics.0.len();
                    eprintln!(
                        "error: {} is not a valid lab file ({n} problem{})",
                        f.name(),
                        if n == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
    if invalid > 0 {
        Err(Failure::Exit(1))
    } else {
        Ok(())
    }
}
