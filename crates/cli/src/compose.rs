//! Reading conlink-style compose files and network files from disk and
//! turning them into a lab file through `warren_topology::compose`.

use miette::{IntoDiagnostic, WrapErr};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warren_topology::compose::{self, Input, Source, interpolate};

/// Splits `--network-file` values at `:` as conlink does.
pub fn split_network_files(args: &[String]) -> Vec<PathBuf> {
    args.iter()
        .flat_map(|a| a.split(':'))
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn read(path: &Path) -> miette::Result<String> {
    std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("reading {}", path.display()))
}

/// A lab name from a compose project name: lower case, other characters
/// turned into `-`, at most 12 bytes.
fn lab_name(project: &str) -> String {
    let mut s: String = project
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_start_matches('-').chars().take(12).collect();
    if s.is_empty() { "compose".into() } else { s }
}

/// The environment for interpolation: `.env` beside the compose file,
/// overridden by the process environment.
fn environment(dir: &Path) -> BTreeMap<String, String> {
    let mut env = std::fs::read_to_string(dir.join(".env"))
        .map(|t| interpolate::parse_env_file(&t))
        .unwrap_or_default();
    env.extend(std::env::vars());
    env
}

/// The project (lab) name of a compose file: its `name:`, else its folder's name.
pub fn project_name(path: &Path, text: &str) -> String {
    let dir = path.parent().unwrap_or(Path::new("."));
    let text = interpolate::interpolate(text, &environment(dir)).unwrap_or_default();
    let declared = text
        .lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .filter(|v| !v.is_empty());
    let dir = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent()?.file_name()?.to_str().map(str::to_string));
    lab_name(&declared.or(dir).unwrap_or_default())
}

/// Converts the compose file at `path` (text `text`) and `network_files`
/// into a lab file: its name and text. Notes go to stderr.
pub fn convert(
    path: &Path,
    text: &str,
    network_files: &[PathBuf],
) -> miette::Result<(String, String)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let env = environment(dir);
    let mut env_files = BTreeMap::new();
    for name in compose::env_file_names(text, &env) {
        let t = read(&dir.join(&name))?;
        env_files.insert(name, t);
    }
    let mut nets = Vec::new();
    for p in network_files {
        nets.push(Source {
            name: p.display().to_string(),
            text: read(p)?,
        });
    }
    let name = project_name(path, text);
    let input = Input {
        name: name.clone(),
        compose: Some(Source {
            name: path.display().to_string(),
            text: text.to_string(),
        }),
        network_files: nets,
        env,
        env_files,
    };
    let out = compose::convert(&input);
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    match out.lab_text {
        Some(t) if out.errors.is_empty() => Ok((name, t)),
        _ => Err(miette::miette!(
            "{} cannot run:\n  {}",
            path.display(),
            out.errors.join("\n  ")
        )),
    }
}
