//! Manifests and indexes, OCI and Docker schema 2, as serde types, and the
//! choice of the host's platform from an index. Pure.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The `Accept` header sent for manifests. Distribution 2.8 answers 404 for
/// an OCI manifest unless its type is listed here.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor: what a manifest says about a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    #[serde(default)]
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An operating system and CPU architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `linux`, …
    pub os: String,
    /// `v7`, `v8`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this program runs on, in OCI names.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            architecture: architecture.to_owned(),
            os: std::env::consts::OS.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Whether an index entry for `other` can run here: same os and
    /// architecture, and the same variant when both name one (arm64
    /// entries without a variant match too).
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema 2; they share this shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The media type, when the manifest states it (umoci 0.4 leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image configuration blob.
    pub config: Descriptor,
    /// Layers, lowest first.
    pub layers: Vec<Descriptor>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The media type, when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// One entry per platform.
    pub manifests: Vec<Descriptor>,
}

impl Index {
    /// The first entry for `platform`.
    pub fn select(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| platform.matches(p))
                && d.media_type != "application/vnd.in-toto+json"
        })
    }

    /// Every platform the index lists, for error messages.
    pub fn platforms(&self) -> Vec<String> {
        self.manifests
            .iter()
            .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
            .collect()
    }
}

/// A parsed manifest document: an image manifest or an index.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Document {
    /// An image manifest.
    Manifest(Manifest),
    /// An index of manifests by platform.
    Index(Index),
}

/// A manifest document that could not be understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("manifest of type {media_type:?} is not valid JSON of that type")]
    Json {
        /// The media type it was served as.
        media_type: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A media type this client does not handle (e.g. Docker schema 1).
    #[error("unsupported manifest type {media_type:?}")]
    Unsupported {
        /// The media type.
        media_type: String,
    },
}

impl Document {
    /// Parses `bytes`, served with `content_type` (the body's own
    /// `mediaType` wins; without either, the presence of `manifests` decides).
    pub fn parse(content_type: &str, bytes: &[u8]) -> Result<Document, ManifestError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
            schema_version: Option<u32>,
        }
        let json = |source| ManifestError::Json {
            media_type: content_type.to_owned(),
            source,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(json)?;
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let mt = probe.media_type.clone().unwrap_or_else(|| ct.to_owned());
        if probe.schema_version == Some(1) {
            return Err(ManifestError::Unsupported {
                media_type: if mt.is_empty() {
                    "schema version 1".to_owned()
                } else {
                    mt
                },
            });
        }
        match mt.as_str() {
            OCI_INDEX | DOCKER_LIST => Ok(Document::Index(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            OCI_MANIFEST | DOCKER_MANIFEST => Ok(Document::Manifest(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            _ if probe.manifests.is_some() => Ok(Document::Index(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            "" | "application/json" | "application/octet-stream" => Ok(Document::Manifest(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            _ => Err(ManifestError::Unsupported { media_type: mt }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umoci_manifest_without_media_type() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:f652d3f2877967719ad12c0ef0c8db13f3b7deb8a8063a400732456b4268a541","size":440},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:75c8a097395b96d39a10c8e6e0fcfc5e1d745d340492605d71352488c23e59f6","size":1088382}]}"#;
        match Document::parse(OCI_MANIFEST, m).unwrap() {
            Document::Manifest(m) => assert_eq!(m.layers.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn index_selects_host() {
        let d = "sha256:75c8a097395b96d39a10c8e6e0fcfc5e1d745d340492605d71352488c23e59f6";
        let e = "sha256:f652d3f2877967719ad12c0ef0c8db13f3b7deb8a8063a400732456b4268a541";
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{e}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let Document::Index(i) = Document::parse(OCI_INDEX, json.as_bytes()).unwrap() else {
            panic!()
        };
        let amd = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        };
        assert_eq!(i.select(&amd).unwrap().digest.to_string(), e);
        let arm = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: None,
        };
        assert_eq!(i.select(&arm).unwrap().digest.to_string(), d);
        assert_eq!(i.platforms(), vec!["linux/arm64/v8", "linux/amd64"]);
    }

    #[test]
    fn schema1_refused() {
        let e = Document::parse("application/json", br#"{"schemaVersion":1,"fsLayers":[]}"#);
        assert!(matches!(e, Err(ManifestError::Unsupported { .. })));
    }
}
