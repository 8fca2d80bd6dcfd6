//! `warren scale LAB SERVICE=N…` and `warren up --scale SERVICE=N FILE` on
//! a lab that runs: the compose files are converted again with the new
//! replica counts and the supervisor swaps the lab for the new one,
//! adding and removing replicas while every other node keeps running (as
//! `docker compose up --scale` does).

use crate::Failure;
use crate::args::{LabArgs, ScaleArgs};
use crate::labfile::LabFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warren_lab::proto::Request;
use warren_topology::Lab;

/// Long enough for the stops, pulls already done, starts and readiness.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// What `up` ran a compose lab from, kept in its state folder so that
/// `warren scale` can convert it again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Source {
    file: PathBuf,
    network_files: Vec<PathBuf>,
    compose_files: Vec<PathBuf>,
    env_files: Vec<PathBuf>,
    name: Option<String>,
    scale: BTreeMap<String, u32>,
}

const SOURCE: &str = "compose-source.json";

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Keeps what `up` ran a compose lab from in `dir`; a lab file's lab
/// keeps nothing, so `warren scale` refuses it.
pub(super) fn remember(dir: &Path, args: &LabArgs) {
    let opts = args.compose_options();
    let compose = args.file.is_dir()
        || opts.any()
        || std::fs::read_to_string(&args.file)
            .is_ok_and(|t| warren_topology::compose::is_compose(&t));
    if !compose {
        return;
    }
    let source = Source {
        file: absolute(&args.file),
        network_files: opts.network_files.iter().map(|p| absolute(p)).collect(),
        compose_files: opts.compose_files.iter().map(|p| absolute(p)).collect(),
        env_files: opts.env_files.iter().map(|p| absolute(p)).collect(),
        name: args.name.clone(),
        scale: opts.scale,
    };
    if dir.is_dir()
        && let Ok(json) = serde_json::to_vec_pretty(&source)
    {
        let _ = std::fs::write(dir.join(SOURCE), json);
    }
}

pub fn run(args: &ScaleArgs) -> Result<(), Failure> {
    let dir = super::impair::running(&args.name)?;
    let path = dir.join(SOURCE);
    let mut source: Source = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            miette::miette!(
                "lab {} was not brought up by `warren up` from a compose file ({} is missing)",
                args.name,
                path.display()
            )
        })?;
    source.scale.extend(args.scale.iter().cloned());
    let opts = crate::compose::Options {
        network_files: source.network_files.clone(),
        compose_files: source.compose_files.clone(),
        env_files: source.env_files.clone(),
        create_volumes: true,
        scale: source.scale.clone(),
    };
    let file = LabFile::read_with(&source.file, &opts)?;
    let text = file.text.clone();
    let mut lab = file.into_lab()?;
    lab.rename(&args.name)
        .map_err(|e| Failure::Error(miette::miette!("{e}")))?;
    live(&dir, &lab, &text, args.json)?;
    if let Ok(json) = serde_json::to_vec_pretty(&source) {
        let _ = std::fs::write(&path, json);
    }
    Ok(())
}

/// Pulls what the new lab's nodes lack, then has the supervisor of the
/// lab in `dir` swap to `lab` (its text `text`), and says what changed.
pub(super) fn live(dir: &Path, lab: &Lab, text: &str, json: bool) -> Result<(), Failure> {
    for node in &lab.nodes {
        if let Some(c) = &node.container
            && warren_lab::kinds::info(node.kind).takes_image
            && !warren_lab::images::is_path(&c.image)
        {
            warren_lab::images::resolve(&c.image, false).map_err(Failure::error)?;
        }
    }
    let request = Request::Scale {
        lab: text.to_string(),
    };
    let done = warren_lab::client::call(dir, request, TIMEOUT).map_err(Failure::error)?;
    if json {
        println!("{done}");
        return Ok(());
    }
    let list = |key: &str| {
        done[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let (added, removed) = (list("added"), list("removed"));
    let mut line = format!("lab {} scaled to {} nodes", lab.name, lab.nodes.len());
    if !added.is_empty() {
        line.push_str(&format!("; added {added}"));
    }
    if !removed.is_empty() {
        line.push_str(&format!("; removed {removed}"));
    }
    println!("{line}");
    Ok(())
}
