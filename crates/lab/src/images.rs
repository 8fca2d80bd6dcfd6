//! The images container nodes run: a root filesystem directory given as the
//! image, a registry reference pulled into the image store if missing, or a
//! local image (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! `docker-archive:FILE`) loaded into the store.

use std::path::{Path, PathBuf};

/// Errors resolving an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A directory given as the image does not exist.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] warren_image::ReferenceError),
    /// The image store could not be used.
    #[error(transparent)]
    Store(#[from] warren_image::StoreError),
    /// The image could not be pulled.
    #[error(transparent)]
    Pull(#[from] warren_image::PullError),
    /// The image name is neither a registry reference nor a local transport.
    #[error(transparent)]
    Source(#[from] warren_image::SourceError),
    /// A local image (`oci:`, `oci-archive:`, `docker-archive:`) could not be loaded.
    #[error(transparent)]
    Load(#[from] warren_image::LoadError),
}

/// An image ready to run: its layers (lowest first) and its configuration.
/// `up` resolves it and hands it to the supervisor ([`crate::saved`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// Read-only layers, lowest first.
    pub layers: Vec<PathBuf>,
    /// Entrypoint.
    pub entrypoint: Vec<String>,
    /// Command.
    pub cmd: Vec<String>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub workdir: String,
    /// User.
    pub user: Option<String>,
}

/// The `PATH` given to roots that carry no configuration.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// True for an image written as a path (`/srv/root`, `./root`).
pub fn is_path(reference: &str) -> bool {
    reference.starts_with('/') || reference.starts_with("./") || reference.starts_with("../")
}

/// A root filesystem directory used as a single read-only layer.
pub fn directory(dir: &Path) -> Result<Resolved, ImageError> {
    if !dir.is_dir() {
        return Err(ImageError::NotADirectory(dir.to_path_buf()));
    }
    Ok(Resolved {
        layers: vec![dir.to_path_buf()],
        entrypoint: Vec::new(),
        cmd: vec!["/bin/sh".into()],
        env: vec![("PATH".into(), DEFAULT_PATH.into())],
        workdir: "/".into(),
        user: None,
    })
}

/// Resolves `reference` to something runnable, pulling it if the store
/// lacks it. `progress` shows a bar per layer on a terminal.
pub fn resolve(reference: &str, progress: bool) -> Result<Resolved, ImageError> {
    tracing::debug!(image = reference, "resolving image");
    if is_path(reference) {
        return directory(
            &std::fs::canonicalize(reference).unwrap_or_else(|_| PathBuf::from(reference)),
        );
    }
    let store = warren_image::Store::open_default()?;
    let mode = if progress {
        warren_image::ProgressMode::Auto
    } else {
        warren_image::ProgressMode::Hidden
    };
    // A local archive or layout is loaded into the store each time (its
    // blobs already there are kept), so a rebuilt one is used as it is now.
    let image = match warren_image::Source::parse(reference)? {
        warren_image::Source::Registry(reference) => warren_image::Puller::from_env()?
            .progress(mode)
            .ensure(&store, &reference)?,
        local => warren_image::load::load_source(&store, &local)?
            .expect("a local source is loaded, not pulled"),
    };
    let layers = store.rootfs_layers(&image)?;
    let run = &image.config.config;
    let mut env = run.env_pairs();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    Ok(Resolved {
        layers,
        entrypoint: run.entrypoint.clone().unwrap_or_default(),
        cmd: run.cmd.clone().unwrap_or_default(),
        env,
        workdir: run.working_dir_or_root().to_string(),
        user: run.user.clone().filter(|u| !u.is_empty()),
    })
}
