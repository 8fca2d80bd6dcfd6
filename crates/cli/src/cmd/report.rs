//! `warren report RESULTS_DIR`: makes a run's report.html (again) from its
//! evidence folder; `warren test` writes it the same way after each run.

use crate::Failure;
use crate::args::ReportArgs;
use std::path::{Path, PathBuf};

pub fn run(args: &ReportArgs) -> Result<(), Failure> {
    let html = render(&args.dir)?;
    match args.output.as_deref() {
        Some(p) if p == Path::new("-") => print!("{html}"),
        out => {
            let path = out.map_or_else(|| args.dir.join("report.html"), Path::to_path_buf);
            write(&path, &html)?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// The report of the evidence folder `dir`.
fn render(dir: &Path) -> Result<String, Failure> {
    let evidence = warren_report::Evidence::read(dir).map_err(|e| {
        Failure::Error(Failure::report(e).wrap_err(format!(
            "{} is not a readable evidence folder of a warren run",
            dir.display()
        )))
    })?;
    Ok(warren_report::report::render(&evidence))
}

fn write(path: &Path, html: &str) -> Result<(), Failure> {
    std::fs::write(path, html)
        .map_err(|e| Failure::Error(miette::miette!("writing {}: {e}", path.display())))
}

/// Writes `dir/report.html`; returns its path.
pub fn write_into(dir: &Path) -> Result<PathBuf, Failure> {
    let html = render(dir)?;
    let path = dir.join("report.html");
    write(&path, &html)?;
    Ok(path)
}
