//! Pulling an image into the store: resolve the reference through mirrors,
//! fetch and verify the manifest (choosing the host platform from an
//! index), the config, then the missing layers concurrently, each streamed
//! through sha256 into `tmp/` and renamed into place once verified.

use crate::auth::{AuthError, CredentialStore};
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::manifest::{Descriptor, Document, ManifestError, Platform};
use crate::mirror::{Endpoint, MirrorError, RegistriesConfig};
use crate::reference::Reference;
use crate::registry::{Fetch, HttpClient, RegistryError};
use crate::store::{Image, Layer, Store, StoreError};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether pulls draw progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressMode {
    /// One bar per layer on stderr when it is a terminal and `CI` is not `true`.
    Auto,
    /// Never.
    Hidden,
}

/// A pull failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The registry (or every mirror and the registry) failed.
    #[error("pulling {reference}{}", tried_suffix(.mirrors_tried))]
    Registry {
        /// The reference.
        reference: String,
        /// Mirrors that failed first, with their errors.
        mirrors_tried: Vec<String>,
        /// The last failure.
        #[source]
        source: RegistryError,
    },
    /// Content did not match its digest.
    #[error("pulling {reference}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// Which content.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A blob was shorter or longer than its descriptor says.
    #[error("pulling {reference}: blob {digest} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The reference.
        reference: String,
        /// The blob.
        digest: Digest,
        /// Size in the descriptor.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// The connection broke while a blob was streaming.
    #[error("pulling {reference}: downloading blob {digest} from {url}")]
    Download {
        /// The reference.
        reference: String,
        /// The blob.
        digest: Digest,
        /// Where from.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The manifest could not be understood.
    #[error("pulling {reference}")]
    Manifest {
        /// The reference.
        reference: String,
        /// The cause.
        #[source]
        source: ManifestError,
    },
    /// An index has no manifest for this platform.
    #[error("pulling {reference}: no image for {platform}; the index has {}", .available.join(", "))]
    NoPlatform {
        /// The reference.
        reference: String,
        /// The platform wanted.
        platform: String,
        /// The platforms listed.
        available: Vec<String>,
    },
    /// An index pointed at another index.
    #[error("pulling {reference}: the index entry for this platform is not an image manifest")]
    NestedIndex {
        /// The reference.
        reference: String,
    },
    /// The config blob is not valid JSON.
    #[error("pulling {reference}: invalid image config")]
    Config {
        /// The reference.
        reference: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The store failed.
    #[error("pulling {reference}")]
    Store {
        /// The reference.
        reference: String,
        /// The cause.
        #[source]
        source: Box<StoreError>,
    },
    /// Credentials could not be read.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Registry settings could not be read.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

fn tried_suffix(t: &[String]) -> String {
    if t.is_empty() {
        String::new()
    } else {
        format!(" (mirrors failed first: {})", t.join("; "))
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullReport {
    /// The image, as now stored.
    pub image: Image,
    /// Blobs downloaded (those already stored are not).
    pub downloaded: Vec<Digest>,
    /// Bytes of blobs downloaded.
    pub bytes: u64,
    /// The endpoint that served it (`http://127.0.0.1:5000`).
    pub endpoint: String,
}

/// Pulls images into a store.
pub struct Puller {
    fetch: Box<dyn Fetch>,
    registries: RegistriesConfig,
    platform: Platform,
    progress: ProgressMode,
    jobs: usize,
}

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller")
            .field("registries", &self.registries)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl Puller {
    /// A puller over `fetch` with `registries` settings, for the host platform.
    pub fn new(fetch: Box<dyn Fetch>, registries: RegistriesConfig) -> Self {
        Puller {
            fetch,
            registries,
            platform: Platform::host(),
            progress: ProgressMode::Auto,
            jobs: 4,
        }
    }

    /// The HTTP client with credentials from the docker config and the
    /// registries file from its default place (see [`RegistriesConfig`]).
    pub fn from_env() -> Result<Self, PullError> {
        let creds = CredentialStore::load_default()?;
        let regs = RegistriesConfig::load_default()?;
        Ok(Puller::new(Box::new(HttpClient::new(creds)), regs))
    }

    /// Chooses another platform from indexes.
    pub fn platform(mut self, p: Platform) -> Self {
        self.platform = p;
        self
    }

    /// Sets whether progress bars are drawn.
    pub fn progress(mut self, mode: ProgressMode) -> Self {
        self.progress = mode;
        self
    }

    /// Sets how many layers download at once (at least 1).
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n.max(1);
        self
    }

    /// The stored image for `reference`, pulled first when missing.
    pub fn ensure(&self, store: &Store, reference: &Reference) -> Result<Image, PullError> {
        let stored = store.image(reference).map_err(|source| PullError::Store {
            reference: reference.to_string(),
            source: Box::new(source),
        })?;
        let complete = stored.filter(|i| {
            i.layers.iter().all(|l| store.has_blob(&l.digest)) && store.has_blob(&i.config_digest)
        });
        match complete {
            Some(i) => {
                tracing::debug!(reference = %reference, "image is in the store");
                Ok(i)
            }
            None => Ok(self.pull(store, reference)?.image),
        }
    }

    /// Pulls `reference` into `store`, downloading only blobs it lacks.
    pub fn pull(&self, store: &Store, reference: &Reference) -> Result<PullReport, PullError> {
        let rname = reference.to_string();
        let st = |source| PullError::Store {
            reference: rname.clone(),
            source: Box::new(source),
        };
        let _lock = store.lock_shared().map_err(st)?;
        let _span = tracing::info_span!("pull", reference = %rname).entered();
        tracing::info!("pulling");
        let repo = reference.repository();
        let key = reference.manifest_key();

        // Manifest, through mirrors first.
        let mut tried = Vec::new();
        let endpoints = self.registries.endpoints(reference.registry());
        let mut found = None;
        for (i, ep) in endpoints.iter().enumerate() {
            match self.fetch.manifest(ep, repo, &key) {
                Ok(m) => {
                    found = Some((ep.clone(), m));
                    break;
                }
                Err(e) if ep.mirror && i + 1 < endpoints.len() => {
                    tracing::debug!(mirror = %ep.base, error = %error_chain(&e), "mirror failed; next");
                    tried.push(format!("{}: {}", ep.base, error_chain(&e)));
                }
                Err(source) => {
                    return Err(PullError::Registry {
                        reference: rname,
                        mirrors_tried: tried,
                        source,
                    });
                }
            }
        }
        let (ep, fetched) =
            found.expect("the last endpoint is the registry itself, whose error returns above");
        let digest = Digest::of(&fetched.bytes);
        if let Some(want) = reference.digest()
            && want != &digest
        {
            return Err(PullError::DigestMismatch {
                reference: rname,
                what: "the manifest".to_owned(),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
        if let Some(h) = &fetched.header_digest
            && h.starts_with("sha256:")
            && h != &digest.to_string()
        {
            return Err(PullError::DigestMismatch {
                reference: rname,
                what: "the manifest (Docker-Content-Digest)".to_owned(),
                expected: h.clone(),
                actual: digest.to_string(),
            });
        }
        let doc = Document::parse(&fetched.content_type, &fetched.bytes).map_err(|source| {
            PullError::Manifest {
                reference: rname.clone(),
                source,
            }
        })?;
        let mut downloaded = Vec::new();
        let mut bytes = 0u64;
        let (manifest, manifest_digest, manifest_bytes, index) = match doc {
            Document::Manifest(m) => (m, digest, fetched.bytes, None),
            Document::Index(idx) => {
                let Some(entry) = idx.select(&self.platform) else {
                    return Err(PullError::NoPlatform {
                        reference: rname,
                        platform: self.platform.to_string(),
                        available: idx.platforms(),
                    });
                };
                let m = self
                    .fetch
                    .manifest(&ep, repo, &entry.digest.to_string())
                    .map_err(|source| PullError::Registry {
                        reference: rname.clone(),
                        mirrors_tried: Vec::new(),
                        source,
                    })?;
                let md = Digest::of(&m.bytes);
                if md != entry.digest {
                    return Err(PullError::DigestMismatch {
                        reference: rname,
                        what: "the platform manifest".to_owned(),
                        expected: entry.digest.to_string(),
                        actual: md.to_string(),
                    });
                }
                let ct = if entry.media_type.is_empty() {
                    m.content_type.clone()
                } else {
                    entry.media_type.clone()
                };
                match Document::parse(&ct, &m.bytes).map_err(|source| PullError::Manifest {
                    reference: rname.clone(),
                    source,
                })? {
                    Document::Manifest(man) => (man, md, m.bytes, Some((digest, fetched.bytes))),
                    _ => return Err(PullError::NestedIndex { reference: rname }),
                }
            }
        };

        // Config.
        let cfg_desc = &manifest.config;
        if !store.has_blob(&cfg_desc.digest) {
            let n = self.download(store, &ep, repo, &rname, cfg_desc, None)?;
            downloaded.push(cfg_desc.digest.clone());
            bytes += n;
        }
        let cfg_bytes = store.read_blob(&cfg_desc.digest).map_err(st)?;
        let config: ImageConfig =
            serde_json::from_slice(&cfg_bytes).map_err(|source| PullError::Config {
                reference: rname.clone(),
                source,
            })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(st(StoreError::LayerCount {
                image: rname.clone(),
                layers: manifest.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            }));
        }

        // Layers, concurrently.
        let missing: Vec<&Descriptor> = manifest
            .layers
            .iter()
            .filter(|l| !store.has_blob(&l.digest))
            .collect();
        let bars = self.bars();
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Result<(Digest, u64), PullError>>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..self.jobs.min(missing.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(desc) = missing.get(i) else { break };
                        let bar = bars.as_ref().map(|m| {
                            let b = m.add(ProgressBar::new(desc.size));
                            b.set_style(bar_style());
                            b.set_prefix(desc.digest.hex()[..12].to_owned());
                            b
                        });
                        let r = self
                            .download(store, &ep, repo, &rname, desc, bar.as_ref())
                            .map(|n| (desc.digest.clone(), n));
                        if let Some(b) = bar {
                            b.finish();
                        }
                        let failed = r.is_err();
                        if let Ok(mut v) = results.lock() {
                            v.push(r);
                        }
                        if failed {
                            break;
                        }
                    }
                });
            }
        });
        for r in results.into_inner().unwrap_or_default() {
            let (d, n) = r?;
            downloaded.push(d);
            bytes += n;
        }

        // Manifests last: a record only points at complete content.
        store
            .put_blob(&manifest_bytes, &manifest_digest)
            .map_err(st)?;
        if let Some((d, b)) = &index {
            store.put_blob(b, d).map_err(st)?;
        }
        let layers = Layer::of_manifest(&manifest, &config);
        let image = Image {
            reference: reference.clone(),
            manifest_digest,
            index_digest: index.map(|(d, _)| d),
            config_digest: cfg_desc.digest.clone(),
            layers,
            config,
            pulled: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        store.save_image(&image).map_err(st)?;
        tracing::info!(
            endpoint = %ep.base,
            blobs = downloaded.len(),
            bytes,
            "pulled"
        );
        // A pull by digest is also findable by the reference's tag, if any.
        Ok(PullReport {
            image,
            downloaded,
            bytes,
            endpoint: ep.base,
        })
    }

    fn bars(&self) -> Option<MultiProgress> {
        let on = self.progress == ProgressMode::Auto
            && std::io::stderr().is_terminal()
            && std::env::var("CI").map_or(true, |v| v != "true");
        on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
    }

    /// Streams one blob into the store, verifying size and digest.
    fn download(
        &self,
        store: &Store,
        ep: &Endpoint,
        repo: &str,
        rname: &str,
        desc: &Descriptor,
        bar: Option<&ProgressBar>,
    ) -> Result<u64, PullError> {
        let url = format!("{}/v2/{repo}/blobs/{}", ep.base, desc.digest);
        let st = |source| PullError::Store {
            reference: rname.to_owned(),
            source: Box::new(source),
        };
        let mut blob =
            self.fetch
                .blob(ep, repo, &desc.digest)
                .map_err(|source| PullError::Registry {
                    reference: rname.to_owned(),
                    mirrors_tried: Vec::new(),
                    source,
                })?;
        let mut pending = store.begin_blob().map_err(st)?;
        let mut buf = vec![0u8; 256 * 1024];
        let dl = |source| PullError::Download {
            reference: rname.to_owned(),
            digest: desc.digest.clone(),
            url: url.clone(),
            source,
        };
        loop {
            let n = match blob.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(dl(e)),
            };
            if pending.written() + n as u64 > desc.size {
                return Err(PullError::SizeMismatch {
                    reference: rname.to_owned(),
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: pending.written() + n as u64,
                });
            }
            pending.writer().write_all(&buf[..n]).map_err(dl)?;
            if let Some(b) = bar {
                b.inc(n as u64);
            }
        }
        let written = pending.written();
        if written != desc.size {
            return Err(PullError::SizeMismatch {
                reference: rname.to_owned(),
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: written,
            });
        }
        match store.commit_blob(pending, &desc.digest) {
            Ok(_) => Ok(written),
            Err(StoreError::Digest { expected, actual }) => Err(PullError::DigestMismatch {
                reference: rname.to_owned(),
                what: format!("blob {expected}"),
                expected: expected.to_string(),
                actual: actual.to_string(),
            }),
            Err(e) => Err(st(e)),
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
