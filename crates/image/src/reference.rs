//! Docker-style image references: `alpine`, `debian:bookworm`,
//! `ghcr.io/org/app:1.2`, `127.0.0.1:5000/x@sha256:…`. Pure.
//!
//! Normalisation follows docker: a first component with a `.` or `:`, or
//! `localhost`, names a registry; otherwise the registry is `docker.io`, and
//! single-component names on docker.io get `library/`. No tag and no digest
//! means `:latest`. skopeo's and podman's `docker://` transport prefix is
//! accepted and dropped: it names the registry transport, which is the only
//! one a [`Reference`] stands for (local archives are [`crate::source`]).

use crate::digest::Digest;
use std::fmt;
use std::str::FromStr;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The transport prefix skopeo and podman write before registry references.
pub const DOCKER_TRANSPORT: &str = "docker://";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference did not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("empty image reference")]
    Empty,
    /// A repository path component has characters docker does not allow.
    #[error(
        "invalid repository {repository:?} in image reference {text:?}: use lower-case letters, digits and separators . _ __ -"
    )]
    Repository {
        /// The whole reference.
        text: String,
        /// The repository part.
        repository: String,
    },
    /// The tag is not `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag {tag:?} in image reference {text:?}")]
    Tag {
        /// The whole reference.
        text: String,
        /// The tag part.
        tag: String,
    },
    /// The digest is not `sha256:<64 hex>`.
    #[error("invalid digest in image reference {text:?}")]
    Digest {
        /// The whole reference.
        text: String,
        /// The cause.
        #[source]
        source: crate::digest::DigestError,
    },
    /// The registry host is malformed.
    #[error("invalid registry {registry:?} in image reference {text:?}")]
    Registry {
        /// The whole reference.
        text: String,
        /// The registry part.
        registry: String,
    },
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            if h.starts_with('[') && !h.ends_with(']') {
                (r, None)
            } else {
                (h, Some(p))
            }
        }
        _ => (r, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.parse::<u16>().is_err())
    {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

impl Reference {
    /// Builds a reference from parts, without validation beyond the types.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Self {
        Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        }
    }

    /// The registry, e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one (`latest` is filled in when the
    /// reference had neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same image pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The short form docker prints: `alpine:latest` for docker.io/library/alpine:latest.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let stripped = full
            .strip_prefix("docker.io/library/")
            .or_else(|| full.strip_prefix("docker.io/"));
        stripped.map(str::to_owned).unwrap_or(full)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.strip_prefix(DOCKER_TRANSPORT).unwrap_or(text);
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (
                n,
                Some(
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::Digest {
                            text: text.to_owned(),
                            source,
                        })?,
                ),
            ),
            None => (text, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(ReferenceError::Tag {
                text: text.to_owned(),
                tag: t.to_owned(),
            });
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
        };
        if !valid_registry(&registry) {
            return Err(ReferenceError::Registry {
                text: text.to_owned(),
                registry,
            });
        }
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_owned(),
            _ => registry,
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(ReferenceError::Repository {
                text: text.to_owned(),
                repository,
            });
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:4b0c8f22dd00339e247360574de699855648c93031d53d849dfb9dc07b235c91";

    #[test]
    fn table() {
        let ok = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io/library/alpine:3.20"),
            ("library/alpine", "docker.io/library/alpine:latest"),
            ("docker.io/alpine", "docker.io/library/alpine:latest"),
            (
                "index.docker.io/library/alpine:edge",
                "docker.io/library/alpine:edge",
            ),
            ("user/app", "docker.io/user/app:latest"),
            ("ghcr.io/org/team/app:v1.2_3", "ghcr.io/org/team/app:v1.2_3"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:x", "localhost:5000/app:x"),
            (
                "127.0.0.1:5000/library/busybox",
                "127.0.0.1:5000/library/busybox:latest",
            ),
            ("[::1]:5000/busybox:1", "[::1]:5000/busybox:1"),
            ("docker://alpine", "docker.io/library/alpine:latest"),
            (
                "docker://quay.io/centos/centos:stream9",
                "quay.io/centos/centos:stream9",
            ),
            ("a.b-c/d__e/f-g.h_i", "a.b-c/d__e/f-g.h_i:latest"),
            (
                &format!("alpine@{D}"),
                &format!("docker.io/library/alpine@{D}"),
            ),
            (
                &format!("alpine:3@{D}"),
                &format!("docker.io/library/alpine:3@{D}"),
            ),
        ];
        for (input, want) in ok {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), want, "{input}");
            // Display round-trips.
            assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
        }
        let bad = [
            "",
            "Alpine",
            "alpine:",
            "alpine:-x",
            "alpine@sha256:1234",
            "a//b",
            "a/",
            "foo..bar/x",
            "x_-y",
            "host:notaport/x",
            "/alpine",
            "docker://",
            "oci:/srv/x",
        ];
        for input in bad {
            assert!(input.parse::<Reference>().is_err(), "{input:?} parsed");
        }
    }

    #[test]
    fn parts() {
        let r: Reference = "127.0.0.1:5000/library/busybox:v2s2".parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.tag(), Some("v2s2"));
        assert_eq!(r.manifest_key(), "v2s2");
        let r: Reference = format!("busybox@{D}").parse().unwrap();
        assert_eq!(r.manifest_key(), D);
        assert_eq!(r.familiar(), format!("busybox@{D}"));
        let r: Reference = "user/app:1".parse().unwrap();
        assert_eq!(r.familiar(), "user/app:1");
    }
}
