//! Reading lab files from disk and reporting their problems.

use crate::report::{self, Style};
use miette::{Context, IntoDiagnostic};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use warren_topology::{Lab, Loaded};

/// A lab file's text and the names it is known by.
pub struct LabFile {
    /// The path as the user gave it.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The result of parsing and validating it.
    pub loaded: Loaded,
}

impl LabFile {
    /// Reads and validates `path`.
    pub fn read(path: &Path) -> miette::Result<LabFile> {
        LabFile::read_with(path, &crate::compose::Options::default())
    }

    /// Reads and validates `path`; a compose file (or a folder of one, or
    /// any file given with conlink network files or more compose files) is
    /// converted into a lab file first, and `text` is then the converted
    /// lab file.
    pub fn read_with(path: &Path, compose: &crate::compose::Options) -> miette::Result<LabFile> {
        if path.is_dir() {
            let (stem, text) = crate::compose::convert(path, compose)?;
            let loaded = warren_topology::load(&text, &stem);
            return Ok(LabFile {
                path: path.to_path_buf(),
                text,
                loaded,
            });
        }
        let text = std::fs::read_to_string(path)
            .into_diagnostic()
            .wrap_err_with(|| format!("reading lab file {}", path.display()))?;
        let text = with_env_files(path, text)?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("lab");
        // A containerlab topology is read by `load` itself (by its
        // `topology:` key); one named so without that key is a mistake.
        if is_clab_name(path) && !warren_topology::clab::is_clab(&text) {
            return Err(miette::miette!(
                help = "a containerlab topology has `name:` and `topology:` with `nodes:` (docs/containerlab.md)",
                "{} is named as a containerlab topology but has no `topology:`",
                path.display()
            ));
        }
        let (stem, text) = if warren_topology::compose::is_compose(&text) || compose.any() {
            crate::compose::convert(path, compose)?
        } else {
            (stem.to_string(), text)
        };
        let loaded = warren_topology::load(&text, &stem);
        Ok(LabFile {
            path: path.to_path_buf(),
            text,
            loaded,
        })
    }

    /// The path for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Renders every problem for stderr.
    pub fn render_problems(&self) -> String {
        let style = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Style::Fancy
        } else {
            Style::Plain
        };
        report::render(&self.loaded.diagnostics.0, &self.name(), &self.text, style)
    }

    /// The lab, or the rendered problems as an error that exits 1.
    pub fn into_lab(self) -> Result<Lab, crate::Failure> {
        let problems = self.render_problems();
        eprint!("{}", warnings_only(&self, &problems));
        match self.loaded.lab {
            Some(lab) => Ok(lab),
            None => Err(crate::Failure::Invalid {
                report: problems,
                file: self.path.display().to_string(),
                count: self.loaded.diagnostics.0.len(),
            }),
        }
    }
}

/// A containerlab topology with the contents of the `env-files` it names
/// (beside it) appended, so that the lab file carries them; any other file
/// as it is.
fn with_env_files(path: &Path, text: String) -> miette::Result<String> {
    use warren_topology::clab;
    if !clab::is_clab(&text) {
        return Ok(text);
    }
    let names = clab::env_file_names(&text);
    if names.is_empty() {
        return Ok(text);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for name in names {
        let p = dir.join(&name);
        let content = std::fs::read_to_string(&p)
            .into_diagnostic()
            .wrap_err_with(|| format!("reading env file {}", p.display()))?;
        files.push((name, content));
    }
    Ok(clab::with_env_files(&text, &files))
}

/// Whether `path` is named as a containerlab topology (`*.clab.yml`, `*.clab.yaml`).
pub fn is_clab_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".clab.yml") || n.ends_with(".clab.yaml"))
}

/// When the lab is valid, the rendered problems are warnings to show; when
/// it is not, they go out with the error instead.
fn warnings_only<'a>(f: &LabFile, problems: &'a str) -> &'a str {
    if f.loaded.lab.is_some() { problems } else { "" }
}
