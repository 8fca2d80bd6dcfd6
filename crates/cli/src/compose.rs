//! Reading conlink-style compose files and network files from disk and
//! turning them into a lab file through `warren_topology::compose`.

use miette::{IntoDiagnostic, WrapErr};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warren_topology::compose::{self, Input, Source, interpolate};

/// The compose options of `up`, `test` and `graph`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// conlink network files (`--network-file`).
    pub network_files: Vec<PathBuf>,
    /// More compose files merged over the first (`--compose-file`).
    pub compose_files: Vec<PathBuf>,
    /// Files of variables that replace `.env` (`--env-file`).
    pub env_files: Vec<PathBuf>,
    /// Create the folders of named volumes (for `up`, not for `graph`).
    pub create_volumes: bool,
    /// Replica counts by service (`--scale SERVICE=N`).
    pub scale: BTreeMap<String, u32>,
}

/// Where the lab `lab` keeps its named volumes: beside the labs' state
/// folders (`/run/warren-volumes/LAB/NAME` as root), so that they outlive
/// a failed `up` and `warren down` removes them (or `--keep-volumes` keeps them).
pub fn volumes_dir(lab: &str) -> PathBuf {
    let root = warren_lab::state::state_root();
    let mut name = root.file_name().unwrap_or_default().to_os_string();
    name.push("-volumes");
    root.with_file_name(name).join(lab)
}

impl Options {
    /// True when a file is to be read as a compose file even without `services:`.
    pub fn any(&self) -> bool {
        !self.network_files.is_empty() || !self.compose_files.is_empty()
    }
}

/// Splits path options at `:` as conlink and `COMPOSE_FILE` do.
pub fn split_paths(args: &[String]) -> Vec<PathBuf> {
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

/// The compose files a folder stands for, as `docker compose` finds them
/// when run in it: `COMPOSE_FILE` (split at `COMPOSE_PATH_SEPARATOR`,
/// default `:`), else the first of `compose.yaml`, `compose.yml`,
/// `docker-compose.yaml`, `docker-compose.yml` in the folder.
pub fn files_in(dir: &Path) -> miette::Result<Vec<PathBuf>> {
    if let Ok(list) = std::env::var("COMPOSE_FILE") {
        let sep = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
        let files: Vec<PathBuf> = list
            .split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if !files.is_empty() {
            return Ok(files);
        }
    }
    [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yaml",
        "docker-compose.yml",
    ]
    .iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
    .map(|p| vec![p])
    .ok_or_else(|| {
        miette::miette!(
            "{} is a folder with no compose.yaml (or compose.yml, docker-compose.yaml, docker-compose.yml), and COMPOSE_FILE is not set",
            dir.display()
        )
    })
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

/// The project folder: the first compose file's folder, absolute.
fn project_dir(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// The environment for interpolation: the `--env-file`s, else `.env` in
/// the project folder, overridden by the process environment.
fn environment(dir: &Path, env_files: &[PathBuf]) -> miette::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    if env_files.is_empty() {
        if let Ok(t) = std::fs::read_to_string(dir.join(".env")) {
            env = interpolate::parse_env_file(&t);
        }
    } else {
        for f in env_files {
            env.extend(interpolate::parse_env_file(&read(f)?));
        }
    }
    env.extend(std::env::vars());
    Ok(env)
}

/// The compose files of a run: `path` (or the files its folder stands
/// for), then `--compose-file`s, each read.
fn sources(path: &Path, opts: &Options) -> miette::Result<Vec<Source>> {
    let mut files = if path.is_dir() {
        files_in(path)?
    } else {
        vec![path.to_path_buf()]
    };
    files.extend(opts.compose_files.iter().cloned());
    files
        .iter()
        .map(|p| {
            Ok(Source {
                name: p.display().to_string(),
                text: read(p)?,
            })
        })
        .collect()
}

/// The input before the files it names are read, and the project's name.
fn prepare(path: &Path, opts: &Options) -> miette::Result<(Input, compose::Needed, String)> {
    let compose = sources(path, opts)?;
    let first = compose
        .first()
        .map(|s| PathBuf::from(&s.name))
        .unwrap_or_default();
    let dir = project_dir(&first);
    let input = Input {
        name: String::new(),
        compose,
        network_files: Vec::new(),
        env: environment(&dir, &opts.env_files)?,
        env_files: BTreeMap::new(),
        dir: dir.display().to_string(),
        volumes_dir: String::new(),
        scale: opts.scale.clone(),
    };
    let needed = compose::needed(&input);
    // Compose's order: COMPOSE_PROJECT_NAME, then `name:`, then the folder's name.
    let project = input
        .env
        .get("COMPOSE_PROJECT_NAME")
        .filter(|n| !n.is_empty())
        .cloned()
        .or_else(|| needed.name.clone().filter(|n| !n.is_empty()))
        .or_else(|| dir.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .unwrap_or_default();
    Ok((input, needed, lab_name(&project)))
}

/// The project (lab) name of a compose file or folder.
pub fn project_name(path: &Path) -> miette::Result<String> {
    Ok(prepare(path, &Options::default())?.2)
}

/// Converts the compose file at `path` (or the compose files of the folder
/// `path`) with `opts` into a lab file: its name and text. Notes go to stderr.
pub fn convert(path: &Path, opts: &Options) -> miette::Result<(String, String)> {
    let (mut input, needed, name) = prepare(path, opts)?;
    let dir = PathBuf::from(&input.dir);
    for file in &needed.env_files {
        let t = read(&dir.join(file))?;
        input.env_files.insert(file.clone(), t);
    }
    let mut nets: Vec<PathBuf> = opts.network_files.clone();
    if let Some(c) = &needed.conlink {
        // The conlink service's own network files, found through its volumes.
        nets.extend(
            c.network_files
                .iter()
                .filter_map(|(_, host)| host.as_ref())
                .map(|h| dir.join(h)),
        );
    }
    let mut seen = Vec::new();
    for p in nets {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        input.network_files.push(Source {
            name: p.display().to_string(),
            text: read(&p)?,
        });
    }
    input.name = name.clone();
    input.volumes_dir = volumes_dir(&name).display().to_string();
    let out = compose::convert(&input);
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    if opts.create_volumes && out.errors.is_empty() {
        for v in &out.volumes {
            std::fs::create_dir_all(v)
                .into_diagnostic()
                .wrap_err_with(|| format!("creating the volume folder {v}"))?;
        }
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
