//! Layer unpacking against hand-built layers, malicious ones included.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use warren_image::Digest;
use warren_image::unpack::{Refusal, UnpackError, UnpackOptions, Whiteouts, unpack_layer};

enum E<'a> {
    File(&'a str, &'a [u8]),
    FileMode(&'a str, &'a [u8], u32, u64),
    Dir(&'a str),
    DirMode(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Xattr(&'a str, &'a str, &'a [u8]),
}

fn header(path: &str, kind: tar::EntryType, size: u64, mode: u32, uid: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    // Written raw so that hostile paths (`..`, absolute) survive.
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_mtime(1_700_000_000);
    h
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(p, data) => {
                let mut h = header(p, tar::EntryType::Regular, data.len() as u64, 0o644, 0);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            E::FileMode(p, data, mode, uid) => {
                let mut h = header(p, tar::EntryType::Regular, data.len() as u64, *mode, *uid);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            E::Dir(p) => {
                let mut h = header(p, tar::EntryType::Directory, 0, 0o755, 0);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::DirMode(p, mode) => {
                let mut h = header(p, tar::EntryType::Directory, 0, *mode, 0);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::Symlink(p, t) | E::Hardlink(p, t) => {
                let kind = if matches!(e, E::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(p, kind, 0, 0o777, 0);
                let ln = &mut h.as_old_mut().linkname;
                ln.fill(0);
                ln[..t.len()].copy_from_slice(t.as_bytes());
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::Char(p, maj, min) => {
                let mut h = header(p, tar::EntryType::Char, 0, 0o666, 0);
                h.set_device_major(*maj).unwrap();
                h.set_device_minor(*min).unwrap();
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::Xattr(p, name, value) => {
                let key = format!("SCHILY.xattr.{name}");
                b.append_pax_extensions([(key.as_str(), *value)]).unwrap();
                let mut h = header(p, tar::EntryType::Regular, 1, 0o644, 0);
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn opts(whiteouts: Whiteouts, privileged: bool) -> UnpackOptions {
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

fn unpack(root: &Path, tar: &[u8], o: &UnpackOptions) -> Result<Digest, UnpackError> {
    unpack_layer("test/evil:1", "sha256:layer", tar, root, o)
}

fn refused(entries: &[E]) -> (Refusal, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let e = unpack(&root, &tar_of(entries), &opts(Whiteouts::Apply, is_root())).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("test/evil:1"), "error names the image: {msg}");
    match e {
        UnpackError::Refused { reason, entry, .. } => {
            assert!(msg.contains(&entry), "error names the entry: {msg}");
            (reason, entry, dir)
        }
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn refuses_dotdot() {
    let (r, entry, dir) = refused(&[E::File("../x", b"evil")]);
    assert_eq!(r, Refusal::DotDot);
    assert_eq!(entry, "../x");
    assert!(!dir.path().join("x").exists());
    let (r, _, _) = refused(&[E::Dir("a"), E::File("a/../../x", b"evil")]);
    assert_eq!(r, Refusal::DotDot);
}

#[test]
fn refuses_absolute() {
    let (r, entry, _) = refused(&[E::File("/etc/warren-evil", b"evil")]);
    assert_eq!(r, Refusal::AbsolutePath);
    assert_eq!(entry, "/etc/warren-evil");
    assert!(!Path::new("/etc/warren-evil").exists());
}

#[test]
fn refuses_write_through_symlink() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_owned();
    let (r, entry, _) = refused(&[E::Symlink("link", &target), E::File("link/pwned", b"evil")]);
    assert_eq!(
        r,
        Refusal::ThroughSymlink {
            symlink: "link".into()
        }
    );
    assert_eq!(entry, "link/pwned");
    assert!(!outside.path().join("pwned").exists());
    // Relative escape, deeper path, and a directory entry through the link.
    let (r, _, dir) = refused(&[
        E::Dir("a"),
        E::Symlink("a/up", "../.."),
        E::File("a/up/pwned", b"evil"),
    ]);
    assert_eq!(
        r,
        Refusal::ThroughSymlink {
            symlink: "a/up".into()
        }
    );
    assert!(!dir.path().join("pwned").exists());
    let (r, _, _) = refused(&[E::Symlink("l", &target), E::Dir("l/sub")]);
    assert!(matches!(r, Refusal::ThroughSymlink { .. }));
    assert!(!outside.path().join("sub").exists());
    // Even a link pointing inside the root is not followed.
    let (r, _, _) = refused(&[
        E::Dir("real"),
        E::Symlink("l", "real"),
        E::File("l/f", b"x"),
    ]);
    assert!(matches!(r, Refusal::ThroughSymlink { .. }));
}

#[test]
fn refuses_hardlink_outside() {
    let (r, entry, _) = refused(&[E::Hardlink("h", "../../etc/passwd")]);
    assert_eq!(
        r,
        Refusal::HardlinkOutside {
            target: "../../etc/passwd".into()
        }
    );
    assert_eq!(entry, "h");
    let (r, _, _) = refused(&[E::Hardlink("h", "/etc/passwd")]);
    assert!(matches!(r, Refusal::HardlinkOutside { .. }));
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"s").unwrap();
    let target = outside.path().to_str().unwrap().to_owned();
    let (r, _, _) = refused(&[E::Symlink("l", &target), E::Hardlink("h", "l/secret")]);
    assert!(matches!(r, Refusal::ThroughSymlink { .. }));
    let (r, _, _) = refused(&[E::Hardlink("h", "missing")]);
    assert!(matches!(r, Refusal::HardlinkMissing { .. }));
}

#[test]
fn refuses_device_nodes_unprivileged() {
    let dir = tempfile::tempdir().unwrap();
    let e = unpack(
        dir.path(),
        &tar_of(&[E::Char("dev/null", 1, 3)]),
        &opts(Whiteouts::Apply, false),
    )
    .unwrap_err();
    assert!(
        matches!(&e, UnpackError::Refused { reason: Refusal::DeviceNotRoot, entry, .. } if entry == "dev/null"),
        "{e:?}"
    );
    assert!(!dir.path().join("dev/null").exists());
}

#[test]
fn device_nodes_as_root() {
    assert!(
        is_root(),
        "this test needs root (device nodes); run the suite as root"
    );
    let dir = tempfile::tempdir().unwrap();
    unpack(
        dir.path(),
        &tar_of(&[E::Char("dev/null", 1, 3)]),
        &opts(Whiteouts::Apply, true),
    )
    .unwrap();
    let m = fs::symlink_metadata(dir.path().join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
}

#[test]
fn refuses_overlay_xattrs_from_layers() {
    let (r, _, _) = refused(&[E::Xattr("f", "trusted.overlay.opaque", b"y")]);
    assert!(matches!(r, Refusal::OverlayXattr { .. }));
}

fn lower() -> Vec<u8> {
    tar_of(&[
        E::Dir("a"),
        E::File("a/b", b"b"),
        E::File("a/c", b"c"),
        E::Dir("d"),
        E::File("d/old", b"old"),
        E::Dir("d/sub"),
        E::File("d/sub/deep", b"deep"),
        E::File("f", b"f"),
        E::File("g", b"file then dir"),
        E::Dir("h"),
        E::File("h/x", b"dir then file"),
    ])
}

fn upper() -> Vec<u8> {
    tar_of(&[
        E::Dir("a"),
        E::File("a/.wh.b", b""),
        E::Dir("d"),
        E::File("d/new", b"new"),
        E::File("d/.wh..wh..opq", b""),
        E::File(".wh.f", b""),
        E::Dir("g"),
        E::File("g/inside", b"i"),
        E::File("h", b"now a file"),
    ])
}

#[test]
fn whiteouts_applied_when_flattening() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(Whiteouts::Apply, is_root());
    unpack(dir.path(), &lower(), &o).unwrap();
    unpack(dir.path(), &upper(), &o).unwrap();
    let p = dir.path();
    assert!(!p.join("a/b").exists());
    assert_eq!(fs::read(p.join("a/c")).unwrap(), b"c");
    let mut d: Vec<_> = fs::read_dir(p.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    d.sort();
    assert_eq!(d, ["new"], "opaque dir keeps only this layer's entries");
    assert!(!p.join("f").exists());
    assert!(!p.join(".wh.f").exists());
    assert_eq!(fs::read(p.join("g/inside")).unwrap(), b"i");
    assert_eq!(fs::read(p.join("h")).unwrap(), b"now a file");
}

#[test]
fn whiteouts_in_overlay_format() {
    let dir = tempfile::tempdir().unwrap();
    let o = UnpackOptions::for_current_user(Whiteouts::Overlay);
    unpack(dir.path(), &upper(), &o).unwrap();
    let p = dir.path();
    for w in ["a/b", "f"] {
        let m = fs::symlink_metadata(p.join(w)).unwrap();
        assert!(m.file_type().is_char_device(), "{w} is a whiteout");
        assert_eq!(m.rdev(), 0, "{w} is 0/0");
    }
    let fd = rustix::fs::open(
        p.join("d"),
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut v = [0u8; 8];
    let n = rustix::fs::fgetxattr(&fd, o.opaque_xattr, &mut v).unwrap();
    assert_eq!(&v[..n], b"y");
    assert!(!p.join("d/.wh..wh..opq").exists());
    assert_eq!(fs::read(p.join("d/new")).unwrap(), b"new");
}

#[test]
fn gzip_zstd_and_plain_agree() {
    use std::io::Write;
    let tar = lower();
    let plain_id = Digest::of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    // Two gzip members: MultiGzDecoder must read both.
    let (h1, h2) = tar.split_at(1024);
    let mut multi = Vec::new();
    for part in [h1, h2] {
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(part).unwrap();
        multi.extend(g.finish().unwrap());
    }
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let o = opts(Whiteouts::Apply, is_root());
    for (name, blob) in [
        ("plain", &tar),
        ("gzip", &gz),
        ("multi-gzip", &multi),
        ("zstd", &zst),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let id = unpack(dir.path(), blob, &o).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id, plain_id, "{name}: diff id is the digest of the tar");
        assert_eq!(
            fs::read(dir.path().join("d/sub/deep")).unwrap(),
            b"deep",
            "{name}"
        );
    }
}

#[test]
fn diff_id_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let e = warren_image::unpack::unpack_layer_checked(
        "img",
        "sha256:l",
        &lower()[..],
        dir.path(),
        &opts(Whiteouts::Apply, is_root()),
        &Digest::of(b"something else"),
    )
    .unwrap_err();
    assert!(matches!(e, UnpackError::DiffId { .. }), "{e:?}");
}

#[test]
fn owners_modes_links_xattrs() {
    let dir = tempfile::tempdir().unwrap();
    let root = is_root();
    let tar = tar_of(&[
        E::DirMode("ro", 0o555),
        E::FileMode("ro/suid", b"#!", 0o4755, if root { 1234 } else { 0 }),
        E::Hardlink("ro/again", "ro/suid"),
        E::Symlink("abs", "/etc/passwd"),
        E::Xattr("x", "user.warren", b"v"),
    ]);
    unpack(dir.path(), &tar, &opts(Whiteouts::Apply, root)).unwrap();
    let p = dir.path();
    let m = fs::metadata(p.join("ro/suid")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(m.mtime(), 1_700_000_000);
    if root {
        assert_eq!(m.uid(), 1234);
    }
    assert_eq!(
        fs::metadata(p.join("ro")).unwrap().permissions().mode() & 0o7777,
        0o555
    );
    assert_eq!(fs::metadata(p.join("ro/again")).unwrap().ino(), m.ino());
    assert_eq!(
        fs::read_link(p.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    let fd = rustix::fs::open(
        p.join("x"),
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut v = [0u8; 8];
    match rustix::fs::fgetxattr(&fd, "user.warren", &mut v) {
        Ok(n) => assert_eq!(&v[..n], b"v"),
        Err(rustix::io::Errno::NOTSUP) => {} // tmpfs without user xattrs
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn later_entries_replace_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let tar = tar_of(&[
        E::Dir("a"),
        E::File("a/f", b"x"),
        E::Symlink("a", "elsewhere"),
        E::File("dup", b"first"),
        E::File("dup", b"second"),
    ]);
    unpack(dir.path(), &tar, &opts(Whiteouts::Apply, is_root())).unwrap();
    assert_eq!(
        fs::read_link(dir.path().join("a")).unwrap(),
        Path::new("elsewhere")
    );
    assert_eq!(fs::read(dir.path().join("dup")).unwrap(), b"second");
}
