//! `warren down NAME|FILE` and `warren down --all`.

use crate::Failure;
use crate::args::DownArgs;
use std::path::Path;

/// The lab name `down` means: a name as given, or the name a lab file declares.
fn lab_name(target: &str) -> String {
    let path = Path::new(target);
    if path.is_dir() {
        return crate::compose::project_name(path).unwrap_or_else(|_| target.to_string());
    }
    let looks_like_file =
        target.ends_with(".yaml") || target.ends_with(".yml") || target.contains('/');
    if !(looks_like_file && path.is_file()) {
        return target.to_string();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or(target);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if warren_topology::compose::is_compose(&text) {
        return crate::compose::project_name(path).unwrap_or_else(|_| stem.to_string());
    }
    // A topology is read as `up` reads it (with its env files), for the
    // name warren gave it.
    if warren_topology::clab::is_clab(&text)
        && let Ok(f) = crate::labfile::LabFile::read(path)
        && let Some(lab) = f.loaded.lab
    {
        return lab.name;
    }
    // The name even of a file that no longer validates: `name:` if readable, else the stem.
    match warren_topology::load(&text, stem).lab {
        Some(lab) => lab.name,
        None => declared_name(&text).unwrap_or_else(|| stem.to_string()),
    }
}

fn declared_name(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
}

pub fn run(args: &DownArgs) -> Result<(), Failure> {
    let names: Vec<String> = if args.all {
        warren_lab::state::list()
            .map_err(Failure::error)?
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    } else {
        args.target.iter().map(|t| lab_name(t)).collect()
    };
    for name in names {
        let existed = warren_lab::lifecycle::down(&name).map_err(Failure::error)?;
        if existed {
            println!("lab {name} is down");
        } else {
            println!("no lab called {name} is running; nothing to do");
        }
        let volumes = crate::compose::volumes_dir(&name);
        if !args.keep_volumes && volumes.exists() {
            std::fs::remove_dir_all(&volumes).map_err(Failure::error)?;
            println!("removed the volumes of {name} ({})", volumes.display());
        }
    }
    Ok(())
}
