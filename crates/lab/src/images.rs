//! The images container nodes run: a root filesystem directory given as the
//! image, or (with the image store) a registry reference pulled if missing.

use std::path::{Path, PathBuf};

/// Errors resolving an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A directory given as the image does not exist.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// Registry images need the image store.
    #[error("pulling registry images is not available in this build")]
    NoStore,
}

/// An image ready to run: its layers (lowest first) and its configuration.
#[derive(Debug, Clone)]
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

/// Resolves `reference` to something runnable.
pub fn resolve(reference: &str) -> Result<Resolved, ImageError> {
    if is_path(reference) {
        return directory(
            &std::fs::canonicalize(reference).unwrap_or_else(|_| PathBuf::from(reference)),
        );
    }
    Err(ImageError::NoStore)
}
