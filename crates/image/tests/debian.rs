//! The Debian fixture image (debootstrap minbase bookworm, built once and
//! cached by scripts/fixtures/registry.sh): pulled through the docker.io
//! mirror, unpacked for overlayfs and flattened.

mod common;

use std::os::unix::fs::MetadataExt;
use warren_image::{CredentialStore, HttpClient, ProgressMode, Puller, RegistriesConfig, Store};

#[test]
fn debian_bookworm_pulls_and_unpacks() {
    let fx = common::fixture::debian();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let p = Puller::new(
        Box::new(HttpClient::new(CredentialStore::empty())),
        RegistriesConfig::load(&fx.registries).unwrap(),
    )
    .progress(ProgressMode::Hidden);
    let img = p
        .ensure(&store, &"debian:bookworm".parse().unwrap())
        .unwrap();
    assert_eq!(
        img.config.config.cmd.as_deref(),
        Some(&["bash".to_owned()][..])
    );
    assert!(img.size() > 30_000_000, "{}", img.size());

    let layers = store.rootfs_layers(&img).unwrap();
    assert_eq!(layers.len(), 1);
    let v = std::fs::read_to_string(layers[0].join("etc/debian_version")).unwrap();
    assert!(v.starts_with("12."), "{v}");

    let root = dir.path().join("rootfs");
    store.flatten(&img, &root).unwrap();
    assert_eq!(
        std::fs::read_link(root.join("lib")).unwrap().to_str(),
        Some("usr/lib")
    );
    assert!(root.join("usr/bin/bash").is_file());
    // Same tree as GNU tar extracts from the same blob: paths, modes,
    // owners, sizes, link targets and mtimes (nanoseconds from PAX).
    let gnu = dir.path().join("gnu");
    std::fs::create_dir(&gnu).unwrap();
    let blob = store.blob_path(&img.layers[0].digest);
    let st = std::process::Command::new("tar")
        .args(["--numeric-owner", "-xzf"])
        .arg(&blob)
        .arg("-C")
        .arg(&gnu)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(listing(&root), listing(&gnu));
    if rustix::process::geteuid().is_root() {
        let shadow = std::fs::metadata(root.join("etc/shadow")).unwrap();
        assert_eq!(shadow.mode() & 0o7777, 0o640);
        assert_eq!(shadow.gid(), 42, "group shadow kept");
    }
}

fn listing(dir: &std::path::Path) -> String {
    let out = std::process::Command::new("find")
        .arg(".")
        .args(["-printf", "%p %y %m %U %G %s %l %T@\n"])
        .current_dir(dir)
        .output()
        .unwrap();
    let mut lines: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert!(lines.len() > 5000, "{} entries", lines.len());
    lines.join("\n")
}
