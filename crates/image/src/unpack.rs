//! Safe layer unpacking. The tar crate only reads headers and data; every
//! filesystem write is made here, relative to a directory fd, one path
//! component at a time with `O_NOFOLLOW`, so no entry can reach outside the
//! root: absolute paths, `..`, writes through symlinks and hard links to
//! outside are refused with an error naming the image and the entry.
//!
//! Two whiteout treatments: [`Whiteouts::Overlay`] writes them in
//! overlayfs format (char device 0/0 for `.wh.NAME`, the opaque xattr for
//! `.wh..wh..opq`), for a layer directory of its own; [`Whiteouts::Apply`]
//! deletes what they hide, for flattening layers into one directory.

use crate::digest::{Digest, Hashing};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

/// The opaque-directory marker of OCI layers.
const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of OCI whiteout files.
const WHITEOUT: &[u8] = b".wh.";

/// How whiteouts in a layer are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Whiteouts {
    /// Write overlayfs whiteouts: a char device 0/0 for `.wh.NAME`, and the
    /// opaque xattr on the directory of `.wh..wh..opq`.
    Overlay,
    /// Delete the whited-out files and the old contents of opaque directories.
    Apply,
}

/// What unpacking may do.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Whiteout treatment.
    pub whiteouts: Whiteouts,
    /// Set owners, create device nodes, set non-`user.` xattrs. Without it
    /// files belong to the caller, and device nodes are refused.
    pub privileged: bool,
    /// The xattr that marks an opaque directory in [`Whiteouts::Overlay`]:
    /// `trusted.overlay.opaque` for overlay mounted as root,
    /// `user.overlay.opaque` for overlay mounted with `userxattr`.
    pub opaque_xattr: &'static str,
}

impl UnpackOptions {
    /// Options for the current process: privileged when the effective uid is 0,
    /// with the matching opaque xattr.
    pub fn for_current_user(whiteouts: Whiteouts) -> Self {
        let privileged = rustix::process::geteuid().is_root();
        UnpackOptions {
            whiteouts,
            privileged,
            opaque_xattr: if privileged {
                "trusted.overlay.opaque"
            } else {
                "user.overlay.opaque"
            },
        }
    }
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The entry's path is absolute.
    AbsolutePath,
    /// The entry's path has a `..` component.
    DotDot,
    /// A parent of the entry is a symlink; writing would follow it.
    ThroughSymlink {
        /// The symlink, relative to the root.
        symlink: String,
    },
    /// A parent of the entry is neither a directory nor a symlink.
    ThroughNonDirectory {
        /// That parent, relative to the root.
        parent: String,
    },
    /// A hard link whose target is absolute or has `..`.
    HardlinkOutside {
        /// The link target as written.
        target: String,
    },
    /// A hard link whose target does not exist in the root.
    HardlinkMissing {
        /// The link target as written.
        target: String,
    },
    /// A device node, without privilege to create it.
    DeviceNotRoot,
    /// An entry type this unpacker does not write.
    UnsupportedType {
        /// The tar type flag.
        flag: u8,
    },
    /// An overlayfs xattr set by the layer itself.
    OverlayXattr {
        /// The xattr's name.
        name: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::AbsolutePath => write!(f, "absolute path"),
            Refusal::DotDot => write!(f, "path has a '..' component"),
            Refusal::ThroughSymlink { symlink } => {
                write!(f, "it would be written through the symlink {symlink:?}")
            }
            Refusal::ThroughNonDirectory { parent } => {
                write!(f, "its parent {parent:?} is not a directory")
            }
            Refusal::HardlinkOutside { target } => {
                write!(f, "hard link to {target:?}, outside the root")
            }
            Refusal::HardlinkMissing { target } => {
                write!(f, "hard link to {target:?}, which is not in the layer")
            }
            Refusal::DeviceNotRoot => write!(f, "device nodes need root"),
            Refusal::UnsupportedType { flag } => write!(f, "unsupported tar entry type {flag}"),
            Refusal::OverlayXattr { name } => {
                write!(f, "layers may not set the overlayfs xattr {name}")
            }
        }
    }
}

/// Unpacking a layer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// An entry was refused as unsafe.
    #[error("refusing entry {entry:?} of image {image} (layer {layer}): {reason}")]
    Refused {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: String,
        /// The entry's path as written in the tar.
        entry: String,
        /// Why.
        reason: Refusal,
    },
    /// A filesystem call failed for an entry.
    #[error("unpacking entry {entry:?} of image {image} (layer {layer}): {step}")]
    Entry {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: String,
        /// The entry's path.
        entry: String,
        /// The failed step.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The layer could not be read or decompressed, or is not a tar.
    #[error("reading layer {layer} of image {image}")]
    Read {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The destination could not be opened.
    #[error("opening unpack destination {path}")]
    Root {
        /// The destination.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The uncompressed layer's digest differs from the config's diff id.
    #[error(
        "layer {layer} of image {image} unpacks to {actual}, but the image config says {expected}"
    )]
    DiffId {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: String,
        /// The diff id in the config.
        expected: Digest,
        /// The digest of the uncompressed tar.
        actual: Digest,
    },
}

/// Compression of a layer blob, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (any number of members).
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Detects compression from magic bytes.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Returns a reader of the uncompressed tar in `blob`.
pub fn decompress<'a, R: Read + 'a>(blob: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(256 * 1024, blob);
    let c = Compression::detect(r.fill_buf()?);
    Ok(match c {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

/// Unpacks one layer blob (compressed or not) into the directory `root`,
/// and returns the digest of the uncompressed tar (the layer's diff id).
/// `image` and `layer` name the layer in errors. Decompression and hashing
/// run on a second thread, overlapping with the filesystem writes.
pub fn unpack_layer<R: Read + Send>(
    image: &str,
    layer: &str,
    blob: R,
    root: &Path,
    opts: &UnpackOptions,
) -> Result<Digest, UnpackError> {
    let read_err = |source| UnpackError::Read {
        image: image.to_owned(),
        layer: layer.to_owned(),
        source,
    };
    let root_fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Root {
        path: root.to_owned(),
        source: e.into(),
    })?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> Option<Digest> {
            let mut r = match decompress(blob) {
                Ok(r) => Hashing::new(r),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return None;
                }
            };
            loop {
                let mut chunk = vec![0u8; CHUNK];
                match read_full(&mut r, &mut chunk) {
                    Ok(0) => return Some(r.finish().1),
                    Ok(n) => {
                        chunk.truncate(n);
                        if tx.send(Ok(chunk)).is_err() {
                            return None;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return None;
                    }
                }
            }
        });
        let mut archive = tar::Archive::new(ChannelReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        });
        let pool = Pool::start(s, image, layer, opts.privileged);
        let mut u = Unpacker {
            image,
            layer,
            root: root_fd,
            opts,
            created: HashSet::new(),
            dirs: Vec::new(),
            cache: RefCell::new(None),
            pool: Some(pool),
        };
        let result = (|| {
            for entry in archive.entries().map_err(read_err)? {
                let entry = entry.map_err(read_err)?;
                u.entry(entry)?;
            }
            u.finish_dirs()?;
            let mut rest = archive.into_inner();
            io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
            Ok(())
        })();
        // Wait for queued writes even after an error, then let the writers go.
        let flushed = u.flush();
        drop(u);
        let result = result.and(flushed);
        // On an error the archive (and the receiver) is dropped above or
        // here, which stops the producer.
        let digest = producer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        result?;
        digest.ok_or_else(|| {
            read_err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer stream ended early",
            ))
        })
    })
}

/// Size of the chunks passed from the decompressing thread.
const CHUNK: usize = 1 << 20;

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the chunks the decompressing thread sends.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Unpacks a layer and checks its diff id.
pub fn unpack_layer_checked<R: Read + Send>(
    image: &str,
    layer: &str,
    blob: R,
    root: &Path,
    opts: &UnpackOptions,
    diff_id: &Digest,
) -> Result<(), UnpackError> {
    let actual = unpack_layer(image, layer, blob, root, opts)?;
    if &actual != diff_id {
        return Err(UnpackError::DiffId {
            image: image.to_owned(),
            layer: layer.to_owned(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(())
}

struct Unpacker<'a> {
    image: &'a str,
    layer: &'a str,
    root: OwnedFd,
    opts: &'a UnpackOptions,
    /// Paths this layer wrote (for opaque directories in Apply mode).
    created: HashSet<Vec<u8>>,
    /// Directories whose mode and mtime are set at the end.
    dirs: Vec<DirMeta>,
    /// The last directory opened, by path.
    cache: RefCell<Option<CachedDir>>,
    /// Threads writing small files.
    pool: Option<Pool>,
}

/// A directory's path components and an fd open on it.
type CachedDir = (Vec<Vec<u8>>, Arc<OwnedFd>);

struct DirMeta {
    comps: Vec<Vec<u8>>,
    mode: u32,
    mtime: (u64, u32),
    entry: String,
}

/// Splits a tar path into components, refusing absolute paths and `..`.
fn components(raw: &[u8]) -> Result<Vec<Vec<u8>>, Refusal> {
    if raw.starts_with(b"/") {
        return Err(Refusal::AbsolutePath);
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(Refusal::DotDot),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn os(c: &[u8]) -> &OsStr {
    OsStr::from_bytes(c)
}

fn join(c: &[Vec<u8>]) -> Vec<u8> {
    c.join(&b'/')
}

fn io_err(e: Errno) -> io::Error {
    e.into()
}

impl Unpacker<'_> {
    fn refuse(&self, entry: &str, reason: Refusal) -> UnpackError {
        UnpackError::Refused {
            image: self.image.to_owned(),
            layer: self.layer.to_owned(),
            entry: entry.to_owned(),
            reason,
        }
    }

    fn fail(&self, entry: &str, step: &'static str, e: impl Into<io::Error>) -> UnpackError {
        UnpackError::Entry {
            image: self.image.to_owned(),
            layer: self.layer.to_owned(),
            entry: entry.to_owned(),
            step,
            source: e.into(),
        }
    }

    /// Opens the directory `comps` (relative to the root), never following a
    /// symlink; missing directories are created when `create`.
    /// Gives `leaf` in `dir` (a symlink or a node, not followed) its owner,
    /// when privileged, and its mtime; `steps` name the two in errors.
    fn own_and_date(
        &self,
        dir: impl AsFd,
        leaf: &OsStr,
        entry: &str,
        (uid, gid, mtime): (u64, u64, (u64, u32)),
        steps: [&'static str; 2],
    ) -> Result<(), UnpackError> {
        if self.opts.privileged {
            chown_errs(rustix::fs::chownat(
                &dir,
                leaf,
                Some(rustix::fs::Uid::from_raw(uid_u32(uid))),
                Some(rustix::fs::Gid::from_raw(uid_u32(gid))),
                AtFlags::SYMLINK_NOFOLLOW,
            ))
            .map_err(|err| self.fail(entry, steps[0], io_err(err)))?;
        }
        rustix::fs::utimensat(&dir, leaf, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|err| self.fail(entry, steps[1], io_err(err)))?;
        Ok(())
    }

    fn open_dir(
        &self,
        entry: &str,
        comps: &[Vec<u8>],
        create: bool,
    ) -> Result<Arc<OwnedFd>, UnpackError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Start from the last directory opened when it is a prefix: tar
        // entries come grouped by directory.
        let cached = match &*self.cache.borrow() {
            Some((path, fd)) if path.len() <= comps.len() && comps[..path.len()] == path[..] => {
                Some((path.len(), fd.clone()))
            }
            _ => None,
        };
        let (start, mut cur) = match cached {
            Some(c) => c,
            None => (
                0,
                Arc::new(
                    rustix::fs::openat(&self.root, ".", flags, Mode::empty())
                        .map_err(|e| self.fail(entry, "opening the root", io_err(e)))?,
                ),
            ),
        };
        for (i, c) in comps.iter().enumerate().skip(start) {
            let mut attempt = 0;
            let next = loop {
                match rustix::fs::openat(&cur, os(c), flags, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if create && attempt == 0 => {
                        attempt += 1;
                        match rustix::fs::mkdirat(&cur, os(c), Mode::from_raw_mode(0o755)) {
                            Ok(()) | Err(Errno::EXIST) => continue,
                            Err(e) => {
                                return Err(self.fail(
                                    entry,
                                    "creating a parent directory",
                                    io_err(e),
                                ));
                            }
                        }
                    }
                    Err(Errno::LOOP | Errno::NOTDIR) => {
                        let prefix = String::from_utf8_lossy(&join(&comps[..=i])).into_owned();
                        let st = rustix::fs::statat(&cur, os(c), AtFlags::SYMLINK_NOFOLLOW);
                        let is_link = st
                            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                        return Err(self.refuse(
                            entry,
                            if is_link {
                                Refusal::ThroughSymlink { symlink: prefix }
                            } else {
                                Refusal::ThroughNonDirectory { parent: prefix }
                            },
                        ));
                    }
                    Err(e) => {
                        return Err(self.fail(entry, "opening a parent directory", io_err(e)));
                    }
                }
            };
            cur = Arc::new(next);
        }
        *self.cache.borrow_mut() = Some((comps.to_vec(), cur.clone()));
        Ok(cur)
    }

    /// Before anything is removed: finishes queued writes and forgets the
    /// cached directory.
    fn invalidate(&self) -> Result<(), UnpackError> {
        self.cache.borrow_mut().take();
        self.flush()
    }

    fn entry<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_path = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let kind = e.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let comps = components(&raw_path).map_err(|r| self.refuse(&name, r))?;
        // PAX records: xattrs and large ids.
        let mut xattrs = Vec::new();
        let mut uid = e.header().uid().unwrap_or(0);
        let mut gid = e.header().gid().unwrap_or(0);
        let mut mtime = e.header().mtime().unwrap_or(0);
        let mut mtime_nsec = 0u32;
        if let Ok(Some(exts)) = e.pax_extensions() {
            for ext in exts.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((x.to_owned(), ext.value_bytes().to_vec()));
                } else if key == "uid" {
                    uid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(uid);
                } else if key == "gid" {
                    gid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(gid);
                } else if key == "mtime"
                    && let Ok(v) = ext.value()
                {
                    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
                    mtime = secs.parse().unwrap_or(mtime);
                    let digits: String = frac.chars().take(9).collect();
                    mtime_nsec = format!("{digits:0<9}").parse().unwrap_or(0);
                }
            }
        }
        let mtime = (mtime, mtime_nsec.min(999_999_999));
        for (x, _) in &xattrs {
            if x.starts_with("trusted.overlay.") || x.starts_with("user.overlay.") {
                return Err(self.refuse(&name, Refusal::OverlayXattr { name: x.clone() }));
            }
        }
        if !self.opts.privileged {
            xattrs.retain(|(x, _)| x.starts_with("user."));
        }
        let mode = e.header().mode().unwrap_or(0o644) & 0o7777;
        let meta = Meta { uid, gid, xattrs };

        let Some((last, parent_comps)) = comps.split_last() else {
            // The root itself ("./").
            if kind == tar::EntryType::Directory {
                self.dirs.push(DirMeta {
                    comps: Vec::new(),
                    mode,
                    mtime,
                    entry: name.clone(),
                });
                let root = self.open_dir(&name, &[], false)?;
                self.owner_xattrs(&name, &root, &meta)?;
            }
            return Ok(());
        };

        // Whiteouts.
        if last.as_slice() == OPAQUE {
            let dir = self.open_dir(&name, parent_comps, true)?;
            match self.opts.whiteouts {
                Whiteouts::Overlay => {
                    rustix::fs::fsetxattr(&dir, self.opts.opaque_xattr, b"y", XattrFlags::empty())
                        .map_err(|e| self.fail(&name, "marking the directory opaque", io_err(e)))?;
                }
                Whiteouts::Apply => {
                    let prefix = join(parent_comps);
                    let names = list_dir(&dir)
                        .map_err(|e| self.fail(&name, "listing an opaque directory", e))?;
                    for child in names {
                        let mut full = prefix.clone();
                        if !full.is_empty() {
                            full.push(b'/');
                        }
                        full.extend_from_slice(&child);
                        if !self.created.contains(&full) {
                            self.invalidate()?;
                            remove_all_at(&dir, &child)
                                .map_err(|e| self.fail(&name, "emptying an opaque directory", e))?;
                        }
                    }
                }
            }
            return Ok(());
        }
        if let Some(hidden) = last.strip_prefix(WHITEOUT) {
            if hidden.starts_with(WHITEOUT) || hidden.is_empty() {
                // Other `.wh..wh.` markers (aufs) carry nothing for us.
                return Ok(());
            }
            let dir = self.open_dir(&name, parent_comps, true)?;
            self.invalidate()?;
            remove_all_at(&dir, hidden)
                .map_err(|e| self.fail(&name, "removing a whited-out file", e))?;
            if self.opts.whiteouts == Whiteouts::Overlay {
                rustix::fs::mknodat(
                    &dir,
                    os(hidden),
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .map_err(|e| self.fail(&name, "creating an overlay whiteout", io_err(e)))?;
            }
            return Ok(());
        }

        if let Some(pool) = &self.pool
            && pool.is_queued(&comps)
        {
            self.flush()?;
        }
        let dir = self.open_dir(&name, parent_comps, true)?;
        let leaf = os(last);
        let existing = rustix::fs::statat(&dir, leaf, AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_is_dir = existing
            .as_ref()
            .is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
        if existing.is_some() && !(kind == tar::EntryType::Directory && existing_is_dir) {
            self.invalidate()?;
            remove_all_at(&dir, last)
                .map_err(|e| self.fail(&name, "replacing an existing file", e))?;
        }
        self.created.insert(join(&comps));

        match kind {
            tar::EntryType::Directory => {
                if !existing_is_dir {
                    rustix::fs::mkdirat(&dir, leaf, Mode::from_raw_mode(0o700))
                        .map_err(|e| self.fail(&name, "creating the directory", io_err(e)))?;
                }
                let fd = rustix::fs::openat(
                    &dir,
                    leaf,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.fail(&name, "opening the directory", io_err(e)))?;
                self.owner_xattrs(&name, &fd, &meta)?;
                *self.cache.borrow_mut() = Some((comps.clone(), Arc::new(fd)));
                self.dirs.push(DirMeta {
                    comps,
                    mode,
                    mtime,
                    entry: name,
                });
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = e.header().size().unwrap_or(u64::MAX);
                if let Some(pool) = &self.pool
                    && size <= POOL_MAX_FILE
                {
                    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                    e.read_to_end(&mut data)
                        .map_err(|err| self.fail(&name, "reading the file", err))?;
                    let leaf = last.clone();
                    pool.submit(Job {
                        path: comps,
                        dir,
                        leaf,
                        data,
                        meta,
                        mode,
                        mtime,
                        entry: name,
                    });
                } else {
                    write_file(&dir, last, &mut e, &meta, mode, mtime, self.opts.privileged)
                        .map_err(|(step, err)| self.fail(&name, step, err))?;
                }
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        self.fail(
                            &name,
                            "reading the symlink target",
                            io::Error::from(io::ErrorKind::InvalidData),
                        )
                    })?
                    .into_owned();
                rustix::fs::symlinkat(os(&target), &dir, leaf)
                    .map_err(|err| self.fail(&name, "creating the symlink", io_err(err)))?;
                self.own_and_date(
                    &dir,
                    leaf,
                    &name,
                    (uid, gid, mtime),
                    ["setting the symlink's owner", "setting the symlink's mtime"],
                )?;
            }
            tar::EntryType::Link => {
                self.flush()?;
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        self.fail(
                            &name,
                            "reading the link target",
                            io::Error::from(io::ErrorKind::InvalidData),
                        )
                    })?
                    .into_owned();
                let tname = String::from_utf8_lossy(&target).into_owned();
                let tcomps = components(&target).map_err(|_| {
                    self.refuse(
                        &name,
                        Refusal::HardlinkOutside {
                            target: tname.clone(),
                        },
                    )
                })?;
                let Some((tlast, tparent)) = tcomps.split_last() else {
                    return Err(self.refuse(&name, Refusal::HardlinkOutside { target: tname }));
                };
                let tdir = self
                    .open_dir(&name, tparent, false)
                    .map_err(|err| match err {
                        UnpackError::Entry { .. } => self.refuse(
                            &name,
                            Refusal::HardlinkMissing {
                                target: tname.clone(),
                            },
                        ),
                        other => other,
                    })?;
                match rustix::fs::linkat(&tdir, os(tlast), &dir, leaf, AtFlags::empty()) {
                    Ok(()) => {}
                    Err(Errno::NOENT) => {
                        return Err(self.refuse(&name, Refusal::HardlinkMissing { target: tname }));
                    }
                    Err(err) => {
                        return Err(self.fail(&name, "creating the hard link", io_err(err)));
                    }
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if ft != FileType::Fifo && !self.opts.privileged {
                    return Err(self.refuse(&name, Refusal::DeviceNotRoot));
                }
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                rustix::fs::mknodat(
                    &dir,
                    leaf,
                    ft,
                    Mode::from_raw_mode(mode),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|err| self.fail(&name, "creating the node", io_err(err)))?;
                self.own_and_date(
                    &dir,
                    leaf,
                    &name,
                    (uid, gid, mtime),
                    ["setting the node's owner", "setting the node's mtime"],
                )?;
            }
            other => {
                return Err(self.refuse(
                    &name,
                    Refusal::UnsupportedType {
                        flag: other.as_byte(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn owner_xattrs(&self, name: &str, fd: &impl AsFd, meta: &Meta) -> Result<(), UnpackError> {
        owner_xattrs(fd, meta, self.opts.privileged).map_err(|(step, e)| self.fail(name, step, e))
    }

    /// Waits for queued file writes and reports the first that failed.
    fn flush(&self) -> Result<(), UnpackError> {
        match &self.pool {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }

    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        self.flush()?;
        let dirs = std::mem::take(&mut self.dirs);
        for d in dirs.iter().rev() {
            let fd = match self.open_dir(&d.entry, &d.comps, false) {
                Ok(fd) => fd,
                // A later entry of the layer replaced or removed it.
                Err(UnpackError::Refused { .. }) => continue,
                Err(UnpackError::Entry { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .map_err(|e| self.fail(&d.entry, "setting the directory's mode", io_err(e)))?;
            rustix::fs::futimens(&fd, &times(d.mtime))
                .map_err(|e| self.fail(&d.entry, "setting the directory's mtime", io_err(e)))?;
        }
        Ok(())
    }
}

/// Files up to this size are written by the pool; larger ones stream.
const POOL_MAX_FILE: u64 = 1 << 20;
/// Writer threads.
const POOL_THREADS: usize = 3;

/// A small file to write, its parent already resolved (without following
/// symlinks) by the unpacking thread.
struct Job {
    path: Vec<Vec<u8>>,
    dir: Arc<OwnedFd>,
    leaf: Vec<u8>,
    data: Vec<u8>,
    meta: Meta,
    mode: u32,
    mtime: (u64, u32),
    entry: String,
}

#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    done: Condvar,
    errors: Mutex<Vec<UnpackError>>,
}

/// Threads that create small regular files in parallel: file creation on a
/// journaling filesystem waits on the disk, and several in flight overlap.
struct Pool {
    tx: std::sync::mpsc::SyncSender<Job>,
    pending: Arc<Pending>,
    queued: RefCell<HashSet<Vec<Vec<u8>>>>,
}

impl Pool {
    fn start<'scope>(
        s: &'scope std::thread::Scope<'scope, '_>,
        image: &str,
        layer: &str,
        privileged: bool,
    ) -> Pool {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(64);
        let rx = Arc::new(Mutex::new(rx));
        let pending = Arc::new(Pending::default());
        for _ in 0..POOL_THREADS {
            let rx = rx.clone();
            let pending = pending.clone();
            let (image, layer) = (image.to_owned(), layer.to_owned());
            s.spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(r) => match r.recv() {
                            Ok(j) => j,
                            Err(_) => return,
                        },
                        Err(_) => return,
                    };
                    let r = write_file(
                        &job.dir,
                        &job.leaf,
                        &mut &job.data[..],
                        &job.meta,
                        job.mode,
                        job.mtime,
                        privileged,
                    );
                    if let Err((step, source)) = r
                        && let Ok(mut e) = pending.errors.lock()
                    {
                        e.push(UnpackError::Entry {
                            image: image.clone(),
                            layer: layer.clone(),
                            entry: job.entry,
                            step,
                            source,
                        });
                    }
                    if let Ok(mut c) = pending.count.lock() {
                        *c -= 1;
                        pending.done.notify_all();
                    }
                }
            });
        }
        Pool {
            tx,
            pending,
            queued: RefCell::new(HashSet::new()),
        }
    }

    fn submit(&self, job: Job) {
        if let Ok(mut c) = self.pending.count.lock() {
            *c += 1;
        }
        self.queued.borrow_mut().insert(job.path.clone());
        if let Err(std::sync::mpsc::SendError(job)) = self.tx.send(job) {
            // No writer left (they only stop when the pool is dropped).
            if let Ok(mut c) = self.pending.count.lock() {
                *c -= 1;
            }
            if let Ok(mut e) = self.pending.errors.lock() {
                e.push(UnpackError::Entry {
                    image: String::new(),
                    layer: String::new(),
                    entry: job.entry,
                    step: "queueing the file",
                    source: io::Error::other("writer threads stopped"),
                });
            }
        }
    }

    /// Whether `path` or one of its parents is a queued file.
    fn is_queued(&self, path: &[Vec<u8>]) -> bool {
        let q = self.queued.borrow();
        !q.is_empty() && (1..=path.len()).any(|i| q.contains(&path[..i]))
    }

    fn flush(&self) -> Result<(), UnpackError> {
        if let Ok(mut c) = self.pending.count.lock() {
            while *c > 0 {
                c = match self.pending.done.wait(c) {
                    Ok(c) => c,
                    Err(_) => break,
                };
            }
        }
        self.queued.borrow_mut().clear();
        match self.pending.errors.lock() {
            Ok(mut e) if !e.is_empty() => Err(e.remove(0)),
            _ => Ok(()),
        }
    }
}

/// Creates a regular file (never following or replacing anything) and
/// sets its data, owner, xattrs, mode and mtime.
fn write_file(
    dir: &OwnedFd,
    leaf: &[u8],
    data: &mut dyn Read,
    meta: &Meta,
    mode: u32,
    mtime: (u64, u32),
    privileged: bool,
) -> Result<(), (&'static str, io::Error)> {
    let fd = rustix::fs::openat(
        dir,
        os(leaf),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| ("creating the file", io_err(e)))?;
    let mut f = File::from(fd);
    io::copy(data, &mut f).map_err(|e| ("writing the file", e))?;
    owner_xattrs(&f, meta, privileged)?;
    rustix::fs::fchmod(&f, Mode::from_raw_mode(mode))
        .map_err(|e| ("setting the mode", io_err(e)))?;
    rustix::fs::futimens(&f, &times(mtime)).map_err(|e| ("setting the mtime", io_err(e)))?;
    Ok(())
}

fn owner_xattrs(
    fd: &impl AsFd,
    meta: &Meta,
    privileged: bool,
) -> Result<(), (&'static str, io::Error)> {
    if privileged {
        chown_errs(rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(uid_u32(meta.uid))),
            Some(rustix::fs::Gid::from_raw(uid_u32(meta.gid))),
        ))
        .map_err(|e| ("setting the owner", io_err(e)))?;
    }
    for (x, v) in &meta.xattrs {
        match rustix::fs::fsetxattr(fd, x.as_str(), v, XattrFlags::empty()) {
            Ok(()) => {}
            // Filesystems without xattrs, or security modules refusing a
            // label, should not stop an unpack.
            Err(Errno::NOTSUP | Errno::PERM | Errno::ACCESS)
                if !x.starts_with("security.capability") => {}
            Err(e) => return Err(("setting an xattr", io_err(e))),
        }
    }
    Ok(())
}

struct Meta {
    uid: u64,
    gid: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn uid_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX - 1)
}

/// Owners outside a user namespace's mapping cannot be set; keep the file.
fn chown_errs(r: rustix::io::Result<()>) -> rustix::io::Result<()> {
    match r {
        Err(Errno::INVAL) => Ok(()),
        other => other,
    }
}

fn times((mtime, nsec): (u64, u32)) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(0),
        tv_nsec: nsec.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn list_dir(dir: &impl AsFd) -> io::Result<Vec<Vec<u8>>> {
    let fd = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    for ent in rustix::fs::Dir::read_from(&fd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    Ok(out)
}

/// Removes `name` in `dir` and, for a directory, everything below it,
/// never following symlinks. A missing `name` is not an error.
pub(crate) fn remove_all_at(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let sub = rustix::fs::openat(
            dir,
            os(name),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for child in list_dir(&sub)? {
            remove_all_at(&sub, &child)?;
        }
        rustix::fs::unlinkat(dir, os(name), AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, os(name), AtFlags::empty())?;
    }
    Ok(())
}

/// Removes a directory tree at `path` without following symlinks inside it.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no parent"));
    };
    let pfd = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    remove_all_at(&pfd, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_escapes() {
        assert_eq!(components(b"/etc/x"), Err(Refusal::AbsolutePath));
        assert_eq!(components(b"a/../../x"), Err(Refusal::DotDot));
        assert_eq!(
            components(b"./a//b/").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert!(components(b"./").unwrap().is_empty());
    }

    #[test]
    fn detects_compression() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/"), Compression::None);
    }
}
