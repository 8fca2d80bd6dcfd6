//! Images built locally, loaded into the store: a `docker save` tarball, an
//! OCI image layout in a tar file (`buildah push … oci-archive:`, `skopeo
//! copy … oci-archive:`) or in a directory. Every file of an archive is
//! stored as a blob as it streams past (so stdin works), then the archive's
//! own manifest names the image's config and layers among them. An OCI
//! blob's content must match the digest in its name; a layer is checked
//! against its diff id when it is unpacked, as a pulled one is.

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::manifest::{Descriptor, Document, Manifest, ManifestError, OCI_MANIFEST, Platform};
use crate::reference::{Reference, ReferenceError};
use crate::source::Source;
use crate::store::{Image, Layer, Store, StoreError};
use crate::unpack::{self, Compression};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// The media type of an OCI image config.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation an OCI layout names a manifest with (a tag, or a full reference).
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd and docker put the full image name in.
const IMAGE_NAME: &str = "io.containerd.image.name";

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Reading the input failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Neither a docker-save tarball nor an OCI layout.
    #[error(
        "{input} is neither a `docker save` tarball (no manifest.json) nor an OCI image layout (no index.json)"
    )]
    Format {
        /// The input.
        input: String,
    },
    /// A file the archive's manifest names is not in it.
    #[error("{input} names {path} but does not contain it")]
    Missing {
        /// The input.
        input: String,
        /// The missing file.
        path: String,
    },
    /// An OCI blob whose content does not match its name.
    #[error("{input}: {path} has digest {actual}")]
    Corrupt {
        /// The input.
        input: String,
        /// The blob's path.
        path: String,
        /// The digest of its content.
        actual: Digest,
    },
    /// A JSON file of the archive is malformed.
    #[error("{input}: {path} is not valid")]
    Json {
        /// The input.
        input: String,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest of the archive is malformed.
    #[error("{input}: bad manifest")]
    Manifest {
        /// The input.
        input: String,
        /// The cause.
        #[source]
        source: ManifestError,
    },
    /// No image of the asked name, or several and none asked.
    #[error("{input} has no single image{}; it has: {}", named(.tag), list(.names))]
    Choose {
        /// The input.
        input: String,
        /// The name asked for.
        tag: Option<String>,
        /// The names it has.
        names: Vec<String>,
    },
    /// The config lists a different number of layers.
    #[error("{input}: the image has {layers} layers but its config lists {diff_ids} diff ids")]
    LayerCount {
        /// The input.
        input: String,
        /// Layers in the manifest.
        layers: usize,
        /// Diff ids in the config.
        diff_ids: usize,
    },
    /// The name the image is recorded under is not a valid reference.
    #[error("naming the loaded image")]
    Name(#[from] ReferenceError),
}

/// ` named "TAG"`, or nothing.
fn named(tag: &Option<String>) -> String {
    tag.as_ref()
        .map(|t| format!(" named {t:?}"))
        .unwrap_or_default()
}

/// Names for a message, or `none`.
fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Where an archive's files are: a directory, or blobs already stored by path.
enum Files {
    Dir(PathBuf),
    Stored(HashMap<String, Digest>),
}

/// One image of a `docker save` tarball's manifest.json.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What an archive's index says about the image chosen from it.
struct Chosen {
    manifest: Manifest,
    manifest_digest: Digest,
    /// The name the archive gives it, if any.
    name: Option<String>,
}

/// A file path inside an archive, without `./` and with `..` applied.
fn normal(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

struct Loader<'a> {
    store: &'a Store,
    files: Files,
    input: String,
}

impl Loader<'_> {
    fn missing(&self, path: &str) -> LoadError {
        LoadError::Missing {
            input: self.input.clone(),
            path: path.to_owned(),
        }
    }

    fn has(&self, path: &str) -> bool {
        match &self.files {
            Files::Dir(d) => d.join(path).is_file(),
            Files::Stored(m) => m.contains_key(path),
        }
    }

    /// A small file's bytes.
    fn read(&self, path: &str) -> Result<Vec<u8>, LoadError> {
        match &self.files {
            Files::Dir(d) => {
                let p = d.join(path);
                std::fs::read(&p).map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound => self.missing(path),
                    _ => LoadError::Io {
                        action: "reading",
                        path: p,
                        source,
                    },
                })
            }
            Files::Stored(m) => {
                let d = m.get(path).ok_or_else(|| self.missing(path))?;
                Ok(self.store.read_blob(d)?)
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, LoadError> {
        serde_json::from_slice(&self.read(path)?).map_err(|source| LoadError::Json {
            input: self.input.clone(),
            path: path.to_owned(),
            source,
        })
    }

    /// Stores the file at `path` (if not yet stored) and returns its digest.
    fn blob(&self, path: &str) -> Result<Digest, LoadError> {
        match &self.files {
            Files::Stored(m) => m.get(path).cloned().ok_or_else(|| self.missing(path)),
            Files::Dir(d) => {
                let p = d.join(path);
                let mut f = std::fs::File::open(&p).map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound => self.missing(path),
                    _ => LoadError::Io {
                        action: "opening",
                        path: p.clone(),
                        source,
                    },
                })?;
                let mut pending = self.store.begin_blob()?;
                io::copy(&mut f, pending.writer()).map_err(|source| LoadError::Io {
                    action: "copying",
                    path: p.clone(),
                    source,
                })?;
                Ok(self.store.commit_blob_as_written(pending)?.0)
            }
        }
    }

    /// The OCI blob `d`, stored, its content checked against its name.
    fn oci_blob(&self, d: &Digest) -> Result<(), LoadError> {
        if matches!(self.files, Files::Dir(_)) && self.store.has_blob(d) {
            return Ok(());
        }
        let path = format!("blobs/sha256/{}", d.hex());
        let actual = self.blob(&path)?;
        if &actual != d {
            return Err(LoadError::Corrupt {
                input: self.input.clone(),
                path,
                actual,
            });
        }
        Ok(())
    }

    fn document(&self, d: &Digest, media_type: &str) -> Result<Document, LoadError> {
        self.oci_blob(d)?;
        Document::parse(media_type, &self.store.read_blob(d)?).map_err(|source| {
            LoadError::Manifest {
                input: self.input.clone(),
                source,
            }
        })
    }

    /// The image of an OCI layout: the index entry named `tag`, or the only one.
    fn oci(&self, tag: Option<&str>) -> Result<Chosen, LoadError> {
        let index: crate::manifest::Index = self.json("index.json")?;
        let name_of = |d: &Descriptor| {
            d.annotations
                .get(IMAGE_NAME)
                .or_else(|| d.annotations.get(REF_NAME))
                .cloned()
        };
        let matching: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| match tag {
                Some(t) => {
                    d.annotations.get(REF_NAME).map(String::as_str) == Some(t)
                        || d.annotations.get(IMAGE_NAME).map(String::as_str) == Some(t)
                }
                None => true,
            })
            .collect();
        let [entry] = matching.as_slice() else {
            return Err(LoadError::Choose {
                input: self.input.clone(),
                tag: tag.map(str::to_owned),
                names: index.manifests.iter().filter_map(name_of).collect(),
            });
        };
        let name = name_of(entry);
        let (manifest, manifest_digest) = match self.document(&entry.digest, &entry.media_type)? {
            Document::Manifest(m) => (m, entry.digest.clone()),
            Document::Index(nested) => {
                let platform = Platform::host();
                let e = nested.select(&platform).ok_or_else(|| LoadError::Choose {
                    input: self.input.clone(),
                    tag: Some(platform.to_string()),
                    names: nested.platforms(),
                })?;
                match self.document(&e.digest, &e.media_type)? {
                    Document::Manifest(m) => (m, e.digest.clone()),
                    Document::Index(_) => {
                        return Err(LoadError::Format {
                            input: self.input.clone(),
                        });
                    }
                }
            }
        };
        self.oci_blob(&manifest.config.digest)?;
        for l in &manifest.layers {
            self.oci_blob(&l.digest)?;
        }
        Ok(Chosen {
            manifest,
            manifest_digest,
            name,
        })
    }

    /// The image of a `docker save` tarball: its first, with an OCI manifest
    /// made for it (docker's format has none).
    fn docker(&self) -> Result<Chosen, LoadError> {
        let entries: Vec<DockerEntry> = self.json("manifest.json")?;
        let Some(entry) = entries.first() else {
            return Err(LoadError::Choose {
                input: self.input.clone(),
                tag: None,
                names: Vec::new(),
            });
        };
        let config_digest = self.blob(&entry.config)?;
        let descriptor = |digest: Digest, media_type: String| -> Result<Descriptor, LoadError> {
            let size = std::fs::metadata(self.store.blob_path(&digest))
                .map_err(|source| LoadError::Io {
                    action: "reading",
                    path: self.store.blob_path(&digest),
                    source,
                })?
                .len();
            Ok(Descriptor {
                media_type,
                digest,
                size,
                platform: None,
                annotations: BTreeMap::new(),
            })
        };
        let mut layers = Vec::new();
        for path in &entry.layers {
            let digest = self.blob(path)?;
            let media_type = layer_media_type(&self.store.blob_path(&digest))?;
            layers.push(descriptor(digest, media_type)?);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            config: descriptor(config_digest, OCI_CONFIG.to_owned())?,
            layers,
        };
        let bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
        let manifest_digest = Digest::of(&bytes);
        self.store.put_blob(&bytes, &manifest_digest)?;
        Ok(Chosen {
            manifest,
            manifest_digest,
            name: entry.repo_tags.as_ref().and_then(|t| t.first().cloned()),
        })
    }
}

/// The OCI media type of a layer blob, from its compression.
fn layer_media_type(blob: &Path) -> Result<String, LoadError> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(blob).map_err(|source| LoadError::Io {
        action: "opening",
        path: blob.to_owned(),
        source,
    })?;
    let n = f.read(&mut head).map_err(|source| LoadError::Io {
        action: "reading",
        path: blob.to_owned(),
        source,
    })?;
    let base = "application/vnd.oci.image.layer.v1.tar";
    Ok(match unpack::Compression::detect(&head[..n]) {
        Compression::Gzip => format!("{base}+gzip"),
        Compression::Zstd => format!("{base}+zstd"),
        _ => base.to_owned(),
    })
}

/// The name an image is recorded under: the one asked for, else the
/// archive's own if it is a full reference, else `localhost/<stem>` with
/// the archive's tag (or `latest`).
fn record_name(
    asked: Option<&Reference>,
    archive: Option<&str>,
    stem: &str,
) -> Result<Reference, LoadError> {
    if let Some(r) = asked {
        return Ok(r.clone());
    }
    match archive {
        Some(n) if n.contains('/') || n.contains(':') => Ok(n.parse()?),
        Some(tag) => Ok(format!("localhost/{stem}:{tag}").parse()?),
        None => Ok(format!("localhost/{stem}:latest").parse()?),
    }
}

/// A file or directory name made into a repository name component.
fn stem_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .or_else(|| name.strip_suffix(".tar"))
        .unwrap_or(&name);
    let s: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .collect();
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() { "image".to_owned() } else { s }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records `chosen` in the store under its name.
fn record(
    loader: &Loader<'_>,
    chosen: Chosen,
    asked: Option<&Reference>,
    stem: &str,
) -> Result<Image, LoadError> {
    let config_bytes = loader.store.read_blob(&chosen.manifest.config.digest)?;
    let config: ImageConfig =
        serde_json::from_slice(&config_bytes).map_err(|source| LoadError::Json {
            input: loader.input.clone(),
            path: chosen.manifest.config.digest.to_string(),
            source,
        })?;
    if config.rootfs.diff_ids.len() != chosen.manifest.layers.len() {
        return Err(LoadError::LayerCount {
            input: loader.input.clone(),
            layers: chosen.manifest.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    let layers = Layer::of_manifest(&chosen.manifest, &config);
    let image = Image {
        reference: record_name(asked, chosen.name.as_deref(), stem)?,
        manifest_digest: chosen.manifest_digest,
        index_digest: None,
        config_digest: chosen.manifest.config.digest.clone(),
        layers,
        config,
        pulled: now(),
    };
    loader.store.save_image(&image)?;
    Ok(image)
}

/// Loads a tar stream (a `docker save` tarball or an OCI layout, either
/// possibly gzip- or zstd-compressed) into `store`. `input` names it in
/// messages and gives the fallback name; `name` overrides the archive's
/// own; `tag` picks an image of an OCI layout with several.
pub fn load_tar(
    store: &Store,
    reader: impl Read,
    input: &str,
    name: Option<&Reference>,
    tag: Option<&str>,
) -> Result<Image, LoadError> {
    let _lock = store.lock_shared()?;
    let io_err = |source| LoadError::Io {
        action: "reading",
        path: PathBuf::from(input),
        source,
    };
    let mut archive = tar::Archive::new(unpack::decompress(reader).map_err(io_err)?);
    let mut stored = HashMap::new();
    let mut links = Vec::new();
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let path = normal(&entry.path().map_err(io_err)?);
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let mut pending = store.begin_blob()?;
            io::copy(&mut entry, pending.writer()).map_err(io_err)?;
            stored.insert(path, store.commit_blob_as_written(pending)?.0);
        } else if kind.is_symlink() || kind.is_hard_link() {
            // Old `docker save` links a layer shared by two images.
            if let Some(target) = entry.link_name().map_err(io_err)? {
                let target = if kind.is_symlink() {
                    Path::new(&path)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .join(target)
                } else {
                    target.into_owned()
                };
                links.push((path, normal(&target)));
            }
        }
    }
    for (path, target) in links {
        if let Some(d) = stored.get(&target).cloned() {
            stored.insert(path, d);
        }
    }
    let loader = Loader {
        store,
        files: Files::Stored(stored),
        input: input.to_owned(),
    };
    // docker ≥ 25 writes both; its manifest.json carries the image's name.
    let chosen = if loader.has("manifest.json") {
        loader.docker()?
    } else if loader.has("index.json") {
        loader.oci(tag)?
    } else {
        return Err(LoadError::Format {
            input: input.to_owned(),
        });
    };
    record(&loader, chosen, name, &stem_of(Path::new(input)))
}

/// Loads an OCI layout directory into `store`.
pub fn load_oci_dir(
    store: &Store,
    dir: &Path,
    name: Option<&Reference>,
    tag: Option<&str>,
) -> Result<Image, LoadError> {
    let _lock = store.lock_shared()?;
    let loader = Loader {
        store,
        files: Files::Dir(dir.to_owned()),
        input: dir.display().to_string(),
    };
    if !loader.has("index.json") {
        return Err(LoadError::Format {
            input: loader.input,
        });
    }
    let chosen = loader.oci(tag)?;
    record(&loader, chosen, name, &stem_of(dir))
}

/// Loads a local [`Source`] into `store` (a registry one is pulled, not
/// loaded: this returns `None` for it).
pub fn load_source(store: &Store, source: &Source) -> Result<Option<Image>, LoadError> {
    let open = |file: &Path| {
        std::fs::File::open(file).map_err(|source| LoadError::Io {
            action: "opening",
            path: file.to_owned(),
            source,
        })
    };
    let input = |file: &Path| file.display().to_string();
    Ok(Some(match source {
        Source::Registry(_) => return Ok(None),
        Source::OciDir { dir, tag } => load_oci_dir(store, dir, None, tag.as_deref())?,
        Source::OciArchive { file, tag } => {
            load_tar(store, open(file)?, &input(file), None, tag.as_deref())?
        }
        Source::DockerArchive { file } => load_tar(store, open(file)?, &input(file), None, None)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-layer image's parts: the layer tar, and its config.
    fn parts() -> (Vec<u8>, Vec<u8>, Digest) {
        let mut b = tar::Builder::new(Vec::new());
        let data = b"hello\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "etc/greeting", &data[..]).unwrap();
        let layer = b.into_inner().unwrap();
        let diff = Digest::of(&layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
        )
        .into_bytes();
        (layer, config, diff)
    }

    fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    }

    fn docker_save() -> (Vec<u8>, Digest) {
        let (layer, config, diff) = parts();
        let mut b = tar::Builder::new(Vec::new());
        let cfg = Digest::of(&config);
        add(&mut b, &format!("{}.json", cfg.hex()), &config);
        add(&mut b, "abc/layer.tar", &layer);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_cksum();
        b.append_link(&mut h, "def/layer.tar", "../abc/layer.tar")
            .unwrap();
        let manifest = format!(
            r#"[{{"Config":"{}.json","RepoTags":["lab/dut:1"],"Layers":["def/layer.tar"]}}]"#,
            cfg.hex()
        );
        add(&mut b, "manifest.json", manifest.as_bytes());
        (b.into_inner().unwrap(), diff)
    }

    fn oci_layout(ref_name: &str, corrupt: bool) -> Vec<u8> {
        let (layer, config, _) = parts();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut e, &layer).unwrap();
            e.finish().unwrap()
        };
        let (cd, ld) = (Digest::of(&config), Digest::of(&gz));
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{ld}","size":{}}}]}}"#,
            config.len(),
            gz.len()
        );
        let md = Digest::of(manifest.as_bytes());
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{},"annotations":{{"{REF_NAME}":"{ref_name}"}}}}]}}"#,
            manifest.len()
        );
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add(&mut b, "index.json", index.as_bytes());
        add(
            &mut b,
            &format!("blobs/sha256/{}", md.hex()),
            manifest.as_bytes(),
        );
        add(&mut b, &format!("blobs/sha256/{}", cd.hex()), &config);
        let layer_bytes = if corrupt {
            b"not the layer".to_vec()
        } else {
            gz
        };
        add(
            &mut b,
            &format!("./blobs/sha256/{}", ld.hex()),
            &layer_bytes,
        );
        b.into_inner().unwrap()
    }

    #[test]
    fn a_docker_save_tarball_loads_under_its_repo_tag_and_unpacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tarball, diff) = docker_save();
        let image = load_tar(&store, &tarball[..], "dut.tar", None, None).unwrap();
        assert_eq!(image.reference.to_string(), "docker.io/lab/dut:1");
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers[0].diff_id, diff);
        assert_eq!(image.layers[0].digest, diff, "an uncompressed layer");
        let found = store.image(&image.reference).unwrap().expect("recorded");
        assert_eq!(found.manifest_digest, image.manifest_digest);
        let root = store.rootfs_layers(&found).unwrap();
        assert_eq!(
            std::fs::read_to_string(root[0].join("etc/greeting")).unwrap(),
            "hello\n"
        );
    }

    #[test]
    fn an_oci_archive_loads_gzipped_too_named_by_its_tag_or_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let layout = oci_layout("v2", false);
        let image = load_tar(&store, &layout[..], "/tmp/My Router.tar", None, None).unwrap();
        assert_eq!(image.reference.to_string(), "localhost/my-router:v2");
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut e, &layout).unwrap();
            e.finish().unwrap()
        };
        let asked: Reference = "lab/router:x".parse().unwrap();
        let again = load_tar(&store, &gz[..], "-", Some(&asked), Some("v2")).unwrap();
        assert_eq!(again.reference, asked);
        assert_eq!(again.manifest_digest, image.manifest_digest);
        let e = load_tar(&store, &layout[..], "a.tar", None, Some("v9")).unwrap_err();
        assert!(e.to_string().contains("named \"v9\"; it has: v2"), "{e}");
    }

    #[test]
    fn an_oci_layout_directory_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let layout = dir.path().join("layout");
        tar::Archive::new(&oci_layout("latest", false)[..])
            .unpack(&layout)
            .unwrap();
        let image = load_oci_dir(&store, &layout, None, None).unwrap();
        assert_eq!(image.reference.to_string(), "localhost/layout:latest");
        let src = Source::parse(&format!("oci:{}:latest", layout.display())).unwrap();
        let again = load_source(&store, &src).unwrap().expect("local");
        assert_eq!(again.config_digest, image.config_digest);
    }

    #[test]
    fn bad_archives_say_what_is_wrong_and_record_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = load_tar(&store, &oci_layout("v1", true)[..], "a.tar", None, None).unwrap_err();
        assert!(matches!(e, LoadError::Corrupt { .. }), "{e}");
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "hello.txt", b"hi");
        let e = load_tar(&store, &b.into_inner().unwrap()[..], "b.tar", None, None).unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
        let e = load_tar(&store, &b"not a tar at all"[..], "c.tar", None, None).unwrap_err();
        assert!(
            matches!(e, LoadError::Io { .. } | LoadError::Format { .. }),
            "{e}"
        );
        assert!(store.images().unwrap().is_empty());
    }
}
