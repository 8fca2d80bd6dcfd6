//! The content-addressed store: verified blobs, image records, and layers
//! unpacked once each. Every write lands in `tmp/` first and is renamed into
//! place only when complete and verified, so an interrupted pull or unpack
//! never leaves a half blob or half layer in use.
//!
//! Layout under the root (`$WARREN_STORE`, else `/var/lib/warren` as root
//! and `$XDG_DATA_HOME/warren` or `~/.local/share/warren` otherwise):
//!
//! ```text
//! blobs/sha256/<hex>        manifests, indexes, configs and layer blobs, by digest
//! layers/sha256/<hex>/      a layer unpacked for overlayfs, by diff id
//! images/<hex>.json         one record per reference (hex = sha256 of the reference)
//! tmp/                      downloads and unpacks in progress
//! lock                      flock: shared while pulling/unpacking, exclusive to prune
//! ```

use crate::config::ImageConfig;
use crate::digest::{Digest, Hashing};
use crate::reference::Reference;
use crate::unpack::{self, UnpackError, UnpackOptions, Whiteouts};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An image in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The reference it was pulled as.
    pub reference: Reference,
    /// The digest of its image manifest.
    pub manifest_digest: Digest,
    /// The digest of the index the manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    /// The digest of its configuration blob.
    pub config_digest: Digest,
    /// Its layers, lowest first.
    pub layers: Vec<Layer>,
    /// Its configuration.
    pub config: ImageConfig,
    /// When it was pulled, in seconds since the epoch.
    pub pulled: u64,
}

impl Image {
    /// The total compressed size of its layers, in bytes.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// The image id docker shows: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// Digest of the blob as stored (compressed).
    pub digest: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Media type from the manifest.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
}

impl Layer {
    /// The layers of `manifest`, each paired with its uncompressed digest
    /// from `config` (the two lists are in the same order).
    pub fn of_manifest(manifest: &crate::manifest::Manifest, config: &ImageConfig) -> Vec<Layer> {
        manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(l, diff_id)| Layer {
                digest: l.digest.clone(),
                diff_id: diff_id.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
            })
            .collect()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    reference: String,
    manifest_digest: Digest,
    #[serde(default)]
    index_digest: Option<Digest>,
    config_digest: Digest,
    layers: Vec<Layer>,
    pulled: u64,
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem call failed.
    #[error("{step} {path}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An image record or config blob is not valid JSON.
    #[error("reading {path}: corrupt JSON")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A blob an image needs is not in the store.
    #[error("blob {digest} of image {image} is missing from the store; pull the image again")]
    BlobMissing {
        /// The image.
        image: String,
        /// The blob.
        digest: Digest,
    },
    /// Written content does not match its digest.
    #[error("content written for {expected} has digest {actual}")]
    Digest {
        /// The digest asked for.
        expected: Digest,
        /// The digest of what was written.
        actual: Digest,
    },
    /// The image's config lists a different number of diff ids than layers.
    #[error("image {image} has {layers} layers but its config lists {diff_ids} diff ids")]
    LayerCount {
        /// The image.
        image: String,
        /// Layers in the manifest.
        layers: usize,
        /// Diff ids in the config.
        diff_ids: usize,
    },
    /// Unpacking a layer failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
}

fn io_err(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io { step, path, source }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name for a temporary file or directory in this process.
fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}.{}.{n}.{t}", std::process::id())
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Blobs removed.
    pub blobs: usize,
    /// Unpacked layer directories removed.
    pub layers: usize,
    /// Temporary files and directories removed.
    pub temporary: usize,
    /// Derived layers removed: made over layers no longer in the store, or
    /// left unfinished.
    pub derived: usize,
    /// Bytes freed by removing blobs.
    pub bytes: u64,
}

/// A lock on the store, released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// A blob being written to `tmp/`; dropped without [`Store::commit_blob`],
/// the temporary file is deleted.
#[derive(Debug)]
pub struct PendingBlob {
    path: PathBuf,
    writer: Option<Hashing<File>>,
}

impl PendingBlob {
    /// The writer; bytes are hashed as they pass.
    pub fn writer(&mut self) -> &mut Hashing<File> {
        self.writer
            .as_mut()
            .expect("a pending blob has a writer until committed")
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.as_ref().map_or(0, Hashing::count)
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The default root: `$WARREN_STORE`, else `/var/lib/warren` as root,
    /// else `$XDG_DATA_HOME/warren` or `~/.local/share/warren`.
    pub fn default_root() -> PathBuf {
        if let Some(p) = std::env::var_os("WARREN_STORE") {
            return PathBuf::from(p);
        }
        if rustix::process::geteuid().is_root() {
            return PathBuf::from("/var/lib/warren");
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("warren")
    }

    /// Opens the store at [`Store::default_root`].
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(&Self::default_root())
    }

    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in ["blobs/sha256", "layers/sha256", "images", "tmp"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_err("creating", &p))?;
        }
        Ok(Store {
            root: root.to_owned(),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self, op: rustix::fs::FlockOperation) -> Result<StoreLock, StoreError> {
        let p = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("opening", &p))?;
        rustix::fs::flock(&f, op).map_err(|e| StoreError::Io {
            step: "locking",
            path: p,
            source: e.into(),
        })?;
        Ok(StoreLock { _file: f })
    }

    /// Takes the store lock shared (pulls and unpacks hold it so that
    /// `prune` does not remove what they are writing).
    pub fn lock_shared(&self) -> Result<StoreLock, StoreError> {
        self.lock(rustix::fs::FlockOperation::LockShared)
    }

    /// Takes the store lock exclusively.
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        self.lock(rustix::fs::FlockOperation::LockExclusive)
    }

    /// Where the blob `digest` is (or would be) stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a whole blob (manifests, configs).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        fs::read(&p).map_err(io_err("reading blob", &p))
    }

    /// Starts writing a blob into `tmp/`.
    pub fn begin_blob(&self) -> Result<PendingBlob, StoreError> {
        let path = self.root.join("tmp").join(unique("blob"));
        let f = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("creating", &path))?;
        Ok(PendingBlob {
            path,
            writer: Some(Hashing::new(f)),
        })
    }

    /// Verifies a pending blob against `expected`, syncs it and renames it
    /// into place. On a mismatch the temporary file is deleted.
    pub fn commit_blob(
        &self,
        mut pending: PendingBlob,
        expected: &Digest,
    ) -> Result<PathBuf, StoreError> {
        let w = pending
            .writer
            .take()
            .expect("a pending blob has a writer until committed");
        let (file, actual) = w.finish();
        if &actual != expected {
            let _ = fs::remove_file(&pending.path);
            return Err(StoreError::Digest {
                expected: expected.clone(),
                actual,
            });
        }
        self.place_blob(&pending.path, file, expected)
    }

    /// Commits a pending blob under the digest of what was written, for
    /// content that names no digest beforehand (a file in a local archive).
    pub fn commit_blob_as_written(
        &self,
        mut pending: PendingBlob,
    ) -> Result<(Digest, PathBuf), StoreError> {
        let w = pending
            .writer
            .take()
            .expect("a pending blob has a writer until committed");
        let (file, digest) = w.finish();
        let path = self.place_blob(&pending.path, file, &digest)?;
        Ok((digest, path))
    }

    /// Syncs a complete temporary blob and renames it into place.
    fn place_blob(
        &self,
        tmp: &Path,
        mut file: File,
        digest: &Digest,
    ) -> Result<PathBuf, StoreError> {
        // A failure leaves the file in tmp/, which prune clears.
        file.flush().map_err(io_err("writing", tmp))?;
        file.sync_data().map_err(io_err("syncing", tmp))?;
        let dest = self.blob_path(digest);
        let r = fs::rename(tmp, &dest).map_err(io_err("storing blob", &dest));
        if r.is_err() {
            let _ = fs::remove_file(tmp);
        }
        r?;
        Ok(dest)
    }

    /// Stores `bytes` as a blob after checking them against `expected`.
    pub fn put_blob(&self, bytes: &[u8], expected: &Digest) -> Result<PathBuf, StoreError> {
        if self.has_blob(expected) {
            return Ok(self.blob_path(expected));
        }
        let mut p = self.begin_blob()?;
        let path = p.path.clone();
        p.writer()
            .write_all(bytes)
            .map_err(io_err("writing", &path))?;
        self.commit_blob(p, expected)
    }

    fn record_path(&self, reference: &Reference) -> PathBuf {
        self.root.join("images").join(format!(
            "{}.json",
            Digest::of(reference.to_string().as_bytes()).hex()
        ))
    }

    /// Records `image` under its reference (replacing an older record).
    pub fn save_image(&self, image: &Image) -> Result<(), StoreError> {
        let rec = Record {
            reference: image.reference.to_string(),
            manifest_digest: image.manifest_digest.clone(),
            index_digest: image.index_digest.clone(),
            config_digest: image.config_digest.clone(),
            layers: image.layers.clone(),
            pulled: image.pulled,
        };
        let json = serde_json::to_vec_pretty(&rec).map_err(|source| StoreError::Corrupt {
            path: self.record_path(&image.reference),
            source,
        })?;
        let tmp = self.root.join("tmp").join(unique("record"));
        fs::write(&tmp, json).map_err(io_err("writing", &tmp))?;
        let dest = self.record_path(&image.reference);
        fs::rename(&tmp, &dest).map_err(io_err("storing image record", &dest))
    }

    fn load_record(&self, path: &Path) -> Result<Option<Image>, StoreError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", path)(e)),
        };
        let rec: Record = serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
            path: path.to_owned(),
            source,
        })?;
        let Ok(reference) = rec.reference.parse::<Reference>() else {
            return Ok(None);
        };
        let cpath = self.blob_path(&rec.config_digest);
        let cbytes = match fs::read(&cpath) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::BlobMissing {
                    image: rec.reference,
                    digest: rec.config_digest,
                });
            }
            Err(e) => return Err(io_err("reading", &cpath)(e)),
        };
        let config: ImageConfig =
            serde_json::from_slice(&cbytes).map_err(|source| StoreError::Corrupt {
                path: cpath,
                source,
            })?;
        Ok(Some(Image {
            reference,
            manifest_digest: rec.manifest_digest,
            index_digest: rec.index_digest,
            config_digest: rec.config_digest,
            layers: rec.layers,
            config,
            pulled: rec.pulled,
        }))
    }

    /// The stored image for `reference`. A reference with a digest matches
    /// any record of the same repository whose manifest or index has it.
    pub fn image(&self, reference: &Reference) -> Result<Option<Image>, StoreError> {
        if let Some(d) = reference.digest() {
            return Ok(self.images()?.into_iter().find(|i| {
                i.reference.registry() == reference.registry()
                    && i.reference.repository() == reference.repository()
                    && (&i.manifest_digest == d || i.index_digest.as_ref() == Some(d))
            }));
        }
        self.load_record(&self.record_path(reference))
    }

    /// Every stored image, sorted by reference.
    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
            let ent = ent.map_err(io_err("listing", &dir))?;
            let p = ent.path();
            if p.extension().is_some_and(|e| e == "json")
                && let Some(i) = self.load_record(&p)?
            {
                out.push(i);
            }
        }
        out.sort_by_key(|i| i.reference.to_string());
        Ok(out)
    }

    /// Forgets the image `reference` (its blobs stay until `prune`).
    /// Returns whether there was one.
    pub fn remove(&self, reference: &Reference) -> Result<bool, StoreError> {
        let path = match self.image(reference)? {
            Some(i) => self.record_path(&i.reference),
            None => return Ok(false),
        };
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("removing", &path)(e)),
        }
    }

    /// Removes blobs and unpacked layers no image refers to, and leftovers
    /// of interrupted pulls. Waits for running pulls to finish.
    pub fn prune(&self) -> Result<PruneReport, StoreError> {
        let _lock = self.lock_exclusive()?;
        let mut keep_blobs = std::collections::HashSet::new();
        let mut keep_layers = std::collections::HashSet::new();
        for i in self.images()? {
            keep_blobs.insert(i.manifest_digest.hex().to_owned());
            keep_blobs.insert(i.config_digest.hex().to_owned());
            if let Some(d) = &i.index_digest {
                keep_blobs.insert(d.hex().to_owned());
            }
            for l in &i.layers {
                keep_blobs.insert(l.digest.hex().to_owned());
                keep_layers.insert(l.diff_id.hex().to_owned());
            }
        }
        let mut report = PruneReport::default();
        let blobs = self.root.join("blobs/sha256");
        for ent in fs::read_dir(&blobs).map_err(io_err("listing", &blobs))? {
            let ent = ent.map_err(io_err("listing", &blobs))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if !keep_blobs.contains(&name) {
                let size = ent.metadata().map_or(0, |m| m.len());
                fs::remove_file(ent.path()).map_err(io_err("removing", &ent.path()))?;
                report.blobs += 1;
                report.bytes += size;
            }
        }
        let layers = self.root.join("layers/sha256");
        for ent in fs::read_dir(&layers).map_err(io_err("listing", &layers))? {
            let ent = ent.map_err(io_err("listing", &layers))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if !keep_layers.contains(&name) {
                unpack::remove_tree(&ent.path()).map_err(io_err("removing", &ent.path()))?;
                report.layers += 1;
            }
        }
        let tmp = self.root.join("tmp");
        for ent in fs::read_dir(&tmp).map_err(io_err("listing", &tmp))? {
            let ent = ent.map_err(io_err("listing", &tmp))?;
            unpack::remove_tree(&ent.path()).map_err(io_err("removing", &ent.path()))?;
            report.temporary += 1;
        }
        let derived = self.root.join("derived");
        for ent in fs::read_dir(&derived).into_iter().flatten() {
            let ent = ent.map_err(io_err("listing", &derived))?;
            let lowers = fs::read_to_string(ent.path().join("lowers")).ok();
            let whole = lowers.is_some_and(|l| l.lines().all(|p| Path::new(p).is_dir()))
                && ent.path().join("done").exists();
            if !whole {
                unpack::remove_tree(&ent.path()).map_err(io_err("removing", &ent.path()))?;
                report.derived += 1;
            }
        }
        Ok(report)
    }

    /// Where a layer made over other layers (systemd installed by a lab's
    /// `provision: true`) is kept under `key`: `<root>/derived/<key>`, with
    /// `layer/` (an overlayfs upper directory, whiteouts as they are),
    /// `lowers` (the layers it was made over, one path a line) and `done`.
    /// Whoever makes one may keep notes (a log) beside them.
    pub fn derived_dir(&self, key: &Digest) -> PathBuf {
        self.root.join("derived").join(key.hex())
    }

    /// The complete derived layer under `key`, if there is one.
    pub fn derived_layer(&self, key: &Digest) -> Option<PathBuf> {
        let dir = self.derived_dir(key);
        dir.join("done").exists().then(|| dir.join("layer"))
    }

    /// Keeps `upper` (moved, so on the store's filesystem) as the derived
    /// layer under `key`, made over `lowers`; returns it. A complete one
    /// made meanwhile by someone else wins, and `upper` is removed.
    /// [`Store::prune`] removes it once one of `lowers` is gone.
    pub fn commit_derived(
        &self,
        key: &Digest,
        upper: &Path,
        lowers: &[PathBuf],
    ) -> Result<PathBuf, StoreError> {
        let _lock = self.lock_shared()?;
        let dir = self.derived_dir(key);
        let layer = dir.join("layer");
        if dir.join("done").exists() {
            unpack::remove_tree(upper).map_err(io_err("removing", upper))?;
            return Ok(layer);
        }
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        // What an interrupted commit left.
        if layer.exists() {
            unpack::remove_tree(&layer).map_err(io_err("removing", &layer))?;
        }
        fs::rename(upper, &layer).map_err(io_err("keeping", &layer))?;
        let list: String = lowers
            .iter()
            .map(|l| format!("{}\n", l.display()))
            .collect();
        let path = dir.join("lowers");
        fs::write(&path, list).map_err(io_err("writing", &path))?;
        let done = dir.join("done");
        fs::write(&done, "").map_err(io_err("writing", &done))?;
        Ok(layer)
    }

    /// Where the layer with `diff_id` is unpacked for overlayfs.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    /// The image's layers as directories for overlayfs `lowerdir`, lowest
    /// first, unpacking each layer not yet unpacked (once per diff id,
    /// shared between images; several layers unpack in parallel).
    ///
    /// Whiteouts are in overlayfs format: char device 0/0 for deleted files
    /// and the opaque xattr (`trusted.overlay.opaque=y` as root,
    /// `user.overlay.opaque=y` otherwise, for overlay's `userxattr`) on
    /// opaque directories. Overlay's `lowerdir=` lists the top layer first,
    /// so reverse this list when building the option.
    pub fn rootfs_layers(&self, image: &Image) -> Result<Vec<PathBuf>, StoreError> {
        let _lock = self.lock_shared()?;
        let opts = UnpackOptions::for_current_user(Whiteouts::Overlay);
        let name = image.reference.to_string();
        // Up to four layers at a time, each with its own writer threads.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: std::sync::Mutex<Vec<Option<Result<PathBuf, StoreError>>>> =
            std::sync::Mutex::new((0..image.layers.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..image.layers.len().min(4) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(l) = image.layers.get(i) else { break };
                        let r = self.unpack_layer_dir(&name, l, &opts);
                        if let Ok(mut v) = results.lock() {
                            v[i] = Some(r);
                        }
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        results
            .into_iter()
            .map(|r| r.expect("every layer was unpacked by some thread"))
            .collect()
    }

    fn unpack_layer_dir(
        &self,
        image: &str,
        layer: &Layer,
        opts: &UnpackOptions,
    ) -> Result<PathBuf, StoreError> {
        let dest = self.layer_dir(&layer.diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let blob = self.blob_path(&layer.digest);
        let file = match File::open(&blob) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::BlobMissing {
                    image: image.to_owned(),
                    digest: layer.digest.clone(),
                });
            }
            Err(e) => return Err(io_err("opening", &blob)(e)),
        };
        let tmp = self
            .root
            .join("tmp")
            .join(unique(&format!("layer-{}", &layer.diff_id.hex()[..12])));
        fs::create_dir(&tmp).map_err(io_err("creating", &tmp))?;
        let r = unpack::unpack_layer_checked(
            image,
            &layer.digest.to_string(),
            io::BufReader::with_capacity(1 << 20, file),
            &tmp,
            opts,
            &layer.diff_id,
        );
        if let Err(e) = r {
            let _ = unpack::remove_tree(&tmp);
            return Err(e.into());
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(dest),
            Err(_) if dest.is_dir() => {
                // Another process unpacked it first.
                let _ = unpack::remove_tree(&tmp);
                Ok(dest)
            }
            Err(e) => {
                let _ = unpack::remove_tree(&tmp);
                Err(io_err("storing unpacked layer", &dest)(e))
            }
        }
    }

    /// Applies all the image's layers, lowest first, into `dest` (created if
    /// missing), whiteouts applied by deletion: one plain directory tree for
    /// rootless or non-overlay use.
    pub fn flatten(&self, image: &Image, dest: &Path) -> Result<(), StoreError> {
        let _lock = self.lock_shared()?;
        fs::create_dir_all(dest).map_err(io_err("creating", dest))?;
        let opts = UnpackOptions::for_current_user(Whiteouts::Apply);
        let name = image.reference.to_string();
        for l in &image.layers {
            let blob = self.blob_path(&l.digest);
            let file = match File::open(&blob) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StoreError::BlobMissing {
                        image: name,
                        digest: l.digest.clone(),
                    });
                }
                Err(e) => return Err(io_err("opening", &blob)(e)),
            };
            unpack::unpack_layer_checked(
                &name,
                &l.digest.to_string(),
                io::BufReader::with_capacity(1 << 20, file),
                dest,
                &opts,
                &l.diff_id,
            )?;
        }
        Ok(())
    }
}
