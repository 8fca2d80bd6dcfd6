//! warren's OCI images: a registry client (anonymous, basic and bearer
//! auth, mirrors, plain HTTP for loopback and insecure registries), a
//! content-addressed store, and safe layer unpacking.
//!
//! Owns every filesystem write under the store root and into directories
//! it is asked to unpack into; knows nothing of labs or nodes.
//!
//! ```no_run
//! use warren_image::{Puller, Reference, Store};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open_default()?;
//! let reference: Reference = "alpine".parse()?;
//! let image = Puller::from_env()?.ensure(&store, &reference)?; // pulls if missing
//! let lower = store.rootfs_layers(&image)?;   // lowest first
//! let argv = image.config.config.argv(&[]);    // entrypoint + cmd
//! # let _ = (lower, argv); Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod curated;
pub mod digest;
pub mod load;
pub mod manifest;
pub mod mirror;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod source;
pub mod store;
pub mod unpack;

pub use auth::{CredentialStore, Credentials};
pub use config::{ImageConfig, RunConfig};
pub use curated::{CuratedError, CuratedImage, CuratedImages};
pub use digest::Digest;
pub use load::LoadError;
pub use manifest::Platform;
pub use mirror::RegistriesConfig;
pub use pull::{ProgressMode, PullError, PullReport, Puller};
pub use reference::{Reference, ReferenceError};
pub use registry::{Fetch, HttpClient, RegistryError};
pub use source::{Source, SourceError};
pub use store::{Image, Layer, PruneReport, Store, StoreError};
pub use unpack::{UnpackError, UnpackOptions, Whiteouts};

/// Any error of this crate, for callers that do not care which step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference did not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A pull failed.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unpacking a layer failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// Credentials could not be read.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// Registry settings could not be read.
    #[error(transparent)]
    Mirror(#[from] mirror::MirrorError),
    /// A local image could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
}
