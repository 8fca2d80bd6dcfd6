//! Where an image comes from, as skopeo's transports name it: a registry
//! (`docker://` or no prefix), an OCI layout directory (`oci:DIR[:TAG]`), an
//! OCI layout in a tar file (`oci-archive:FILE[:TAG]`) or a `docker save`
//! tarball (`docker-archive:FILE`). Pure.

use crate::reference::{Reference, ReferenceError};
use std::fmt;
use std::path::{Path, PathBuf};

/// An image's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A registry reference.
    Registry(Reference),
    /// An OCI image layout directory, and the `org.opencontainers.image.ref.name`
    /// of the manifest to use (needed when the layout holds several).
    OciDir {
        /// The directory.
        dir: PathBuf,
        /// The manifest's ref name.
        tag: Option<String>,
    },
    /// A tar file of an OCI image layout.
    OciArchive {
        /// The file.
        file: PathBuf,
        /// The manifest's ref name.
        tag: Option<String>,
    },
    /// A `docker save` tarball (its first image).
    DockerArchive {
        /// The file.
        file: PathBuf,
    },
}

/// The transports a local image is named with.
const OCI: &str = "oci:";
const OCI_ARCHIVE: &str = "oci-archive:";
const DOCKER_ARCHIVE: &str = "docker-archive:";

/// Why a source did not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A local transport without a path.
    #[error("{text:?} names no path: write {transport}PATH")]
    NoPath {
        /// The whole text.
        text: String,
        /// The transport prefix.
        transport: &'static str,
    },
    /// Not a valid registry reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

/// Splits `PATH[:TAG]`: a suffix after the last `:` is a tag when it has no
/// `/` and the whole text is not an existing path.
fn path_and_tag(rest: &str) -> (PathBuf, Option<String>) {
    match rest.rsplit_once(':') {
        Some((path, tag))
            if !tag.contains('/') && !path.is_empty() && !Path::new(rest).exists() =>
        {
            (PathBuf::from(path), Some(tag.to_owned()))
        }
        _ => (PathBuf::from(rest), None),
    }
}

impl Source {
    /// Parses an image name as given on the command line or in a lab file.
    pub fn parse(text: &str) -> Result<Source, SourceError> {
        let local = |transport: &'static str, rest: &str| {
            if rest.is_empty() {
                Err(SourceError::NoPath {
                    text: text.to_owned(),
                    transport,
                })
            } else {
                Ok(())
            }
        };
        if let Some(rest) = text.strip_prefix(OCI_ARCHIVE) {
            local(OCI_ARCHIVE, rest)?;
            let (file, tag) = path_and_tag(rest);
            return Ok(Source::OciArchive { file, tag });
        }
        if let Some(rest) = text.strip_prefix(DOCKER_ARCHIVE) {
            local(DOCKER_ARCHIVE, rest)?;
            return Ok(Source::DockerArchive {
                file: PathBuf::from(rest),
            });
        }
        if let Some(rest) = text.strip_prefix(OCI) {
            local(OCI, rest)?;
            let (dir, tag) = path_and_tag(rest);
            return Ok(Source::OciDir { dir, tag });
        }
        Ok(Source::Registry(text.parse()?))
    }

    /// True for a text that names a local image (`oci:`, `oci-archive:`,
    /// `docker-archive:`) rather than a registry one.
    pub fn is_local(text: &str) -> bool {
        [OCI, OCI_ARCHIVE, DOCKER_ARCHIVE]
            .iter()
            .any(|t| text.starts_with(t))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = |t: &Option<String>| t.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
        match self {
            Source::Registry(r) => write!(f, "{r}"),
            Source::OciDir { dir, tag: t } => write!(f, "{OCI}{}{}", dir.display(), tag(t)),
            Source::OciArchive { file, tag: t } => {
                write!(f, "{OCI_ARCHIVE}{}{}", file.display(), tag(t))
            }
            Source::DockerArchive { file } => write!(f, "{DOCKER_ARCHIVE}{}", file.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        let r = |s: &str| Source::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            r("docker://quay.io/centos/centos:stream9"),
            Source::Registry("quay.io/centos/centos:stream9".parse().unwrap())
        );
        assert_eq!(
            r("debian:bookworm"),
            Source::Registry("docker.io/library/debian:bookworm".parse().unwrap())
        );
        assert_eq!(
            r("oci:/srv/layout:v1"),
            Source::OciDir {
                dir: "/srv/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            r("oci:./layout"),
            Source::OciDir {
                dir: "./layout".into(),
                tag: None
            }
        );
        assert_eq!(
            r("oci-archive:/tmp/a.tar:latest"),
            Source::OciArchive {
                file: "/tmp/a.tar".into(),
                tag: Some("latest".into())
            }
        );
        assert_eq!(
            r("docker-archive:/tmp/x:y.tar"),
            Source::DockerArchive {
                file: "/tmp/x:y.tar".into()
            }
        );
        for s in [
            "oci:/srv/layout:v1",
            "oci-archive:/tmp/a.tar",
            "docker-archive:/x.tar",
        ] {
            assert_eq!(r(s).to_string(), s);
            assert!(Source::is_local(s));
        }
        assert!(!Source::is_local("docker://alpine"));
        for bad in ["oci:", "oci-archive:", "docker-archive:", "docker://"] {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_existing_path_with_a_colon_is_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a:b");
        std::fs::create_dir(&p).unwrap();
        let s = format!("oci:{}", p.display());
        assert_eq!(
            Source::parse(&s).unwrap(),
            Source::OciDir { dir: p, tag: None }
        );
    }
}
