//! Pulls from the fixture registry (Debian's docker-registry on 127.0.0.1,
//! started by scripts/fixtures/registry.sh): OCI, Docker schema 2, indexes,
//! mirrors, deduplication, unpacking.

mod common;

use common::fixture;
use std::os::unix::fs::MetadataExt;
use warren_image::{
    CredentialStore, HttpClient, ProgressMode, Puller, Reference, RegistriesConfig, Store,
};

fn puller(regs: RegistriesConfig) -> Puller {
    Puller::new(Box::new(HttpClient::new(CredentialStore::empty())), regs)
        .progress(ProgressMode::Hidden)
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

fn r(s: &str) -> Reference {
    s.parse().unwrap()
}

#[test]
fn pulls_oci_docker_and_indexes() {
    let fx = fixture::busybox();
    let (_d, store) = store();
    let p = puller(RegistriesConfig::default());
    let mut configs = Vec::new();
    for tag in ["latest", "v2s2", "multi", "multi-v2s2"] {
        let reference = r(&format!("{}/library/busybox:{tag}", fx.registry));
        let rep = p
            .pull(&store, &reference)
            .unwrap_or_else(|e| panic!("{tag}: {e:?}"));
        let img = rep.image;
        assert_eq!(img.layers.len(), 1, "{tag}");
        assert_eq!(
            img.config.architecture,
            warren_image::Platform::host().architecture,
            "{tag}"
        );
        assert_eq!(img.config.os, "linux");
        assert_eq!(
            img.config.config.cmd.as_deref(),
            Some(&["sh".to_owned()][..]),
            "{tag}"
        );
        if tag.starts_with("multi") {
            assert!(img.index_digest.is_some(), "{tag} came from an index");
        }
        configs.push(img.layers[0].diff_id.clone());
        assert_eq!(
            store.image(&reference).unwrap().unwrap().manifest_digest,
            img.manifest_digest
        );
    }
    // One layer content for all four.
    assert!(configs.windows(2).all(|w| w[0] == w[1]));
    let images = store.images().unwrap();
    assert_eq!(images.len(), 4);
}

#[test]
fn pulled_twice_stored_once() {
    let fx = fixture::busybox();
    let (_d, store) = store();
    let p = puller(RegistriesConfig::default());
    let a = r(&format!("{}/library/busybox:latest", fx.registry));
    let b = r(&format!("{}/library/alpine:latest", fx.registry));
    let first = p.pull(&store, &a).unwrap();
    assert_eq!(first.downloaded.len(), 2, "config and layer");
    let layer = store.blob_path(&first.image.layers[0].digest);
    let ino = std::fs::metadata(&layer).unwrap().ino();
    let again = p.pull(&store, &a).unwrap();
    assert!(
        again.downloaded.is_empty(),
        "second pull downloaded {:?}",
        again.downloaded
    );
    assert_eq!(again.bytes, 0);
    let other = p.pull(&store, &b).unwrap();
    assert!(other.downloaded.is_empty(), "alpine shares busybox's blobs");
    assert_eq!(std::fs::metadata(&layer).unwrap().ino(), ino);
    let blobs = std::fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 3, "manifest, config, layer");
    // Unpacked once, shared.
    let la = store.rootfs_layers(&first.image).unwrap();
    let lb = store.rootfs_layers(&other.image).unwrap();
    assert_eq!(la, lb);
    assert_eq!(
        std::fs::metadata(&la[0]).unwrap().ino(),
        std::fs::metadata(&lb[0]).unwrap().ino()
    );
    assert_eq!(
        std::fs::read_dir(store.root().join("layers/sha256"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn mirror_serves_docker_hub_names() {
    let fx = fixture::busybox();
    let (_d, store) = store();
    let regs = RegistriesConfig::load(&fx.registries).unwrap();
    let p = puller(regs);
    let rep = p.pull(&store, &r("alpine")).unwrap();
    assert_eq!(rep.endpoint, format!("http://{}", fx.registry));
    assert_eq!(
        rep.image.reference.to_string(),
        "docker.io/library/alpine:latest"
    );
    let bb = p.pull(&store, &r("busybox")).unwrap();
    assert_eq!(bb.image.layers, rep.image.layers);
    // Without the mirror docker.io is not reachable from the test machine,
    // and a mirror that fails falls through to the registry itself.
    let bad: RegistriesConfig =
        serde_json::from_str(r#"{"mirrors":{"docker.io":["http://127.0.0.1:9"]}}"#).unwrap();
    let e = puller(bad).pull(&store, &r("alpine")).unwrap_err();
    let msg = format!("{e}");
    assert!(
        msg.contains("mirrors failed first: http://127.0.0.1:9"),
        "{msg}"
    );
}

#[test]
fn pull_by_digest_and_ensure() {
    let fx = fixture::busybox();
    let (_d, store) = store();
    let p = puller(RegistriesConfig::default());
    let tagged = p
        .pull(
            &store,
            &r(&format!("{}/library/busybox:latest", fx.registry)),
        )
        .unwrap();
    let pinned = r(&format!(
        "{}/library/busybox@{}",
        fx.registry, tagged.image.manifest_digest
    ));
    assert_eq!(
        store.image(&pinned).unwrap().unwrap().manifest_digest,
        tagged.image.manifest_digest
    );
    let (_d2, fresh) = self::store();
    let got = p.pull(&fresh, &pinned).unwrap();
    assert_eq!(got.image.manifest_digest, tagged.image.manifest_digest);
    // ensure: present, so nothing is fetched even from a dead endpoint.
    let dead = puller(RegistriesConfig::default());
    let i = dead.ensure(&fresh, &pinned).unwrap();
    assert_eq!(i.manifest_digest, tagged.image.manifest_digest);
    // A wrong digest is refused by the registry or by us.
    let wrong = r(&format!(
        "{}/library/busybox@sha256:{}",
        fx.registry,
        "0".repeat(64)
    ));
    assert!(p.pull(&fresh, &wrong).is_err());
}

#[test]
fn flatten_and_config() {
    let fx = fixture::busybox();
    let (_d, store) = store();
    let p = puller(RegistriesConfig::default());
    let img = p
        .pull(&store, &r(&format!("{}/library/busybox", fx.registry)))
        .unwrap()
        .image;
    let dest = tempfile::tempdir().unwrap();
    store.flatten(&img, dest.path()).unwrap();
    let sh = dest.path().join("bin/sh");
    assert_eq!(
        std::fs::read_link(&sh).unwrap().to_str(),
        Some("/bin/busybox")
    );
    assert!(dest.path().join("bin/busybox").metadata().unwrap().len() > 1_000_000);
    assert_eq!(
        dest.path().join("tmp").metadata().unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(img.config.config.argv(&[]), ["sh"]);
    assert!(
        img.config
            .config
            .env_pairs()
            .iter()
            .any(|(k, _)| k == "PATH")
    );
    let layers = store.rootfs_layers(&img).unwrap();
    assert!(layers[0].join("bin/busybox").is_file());
}

#[test]
fn remove_and_prune() {
    let fx = fixture::busybox();
    let (_d, store) = store();
    let p = puller(RegistriesConfig::default());
    let a = r(&format!("{}/library/busybox:latest", fx.registry));
    let img = p.pull(&store, &a).unwrap().image;
    store.rootfs_layers(&img).unwrap();
    std::fs::write(store.root().join("tmp/leftover"), b"x").unwrap();
    assert!(store.remove(&a).unwrap());
    assert!(!store.remove(&a).unwrap());
    let rep = store.prune().unwrap();
    assert_eq!(rep.blobs, 3);
    assert_eq!(rep.layers, 1);
    assert_eq!(rep.temporary, 1);
    assert!(store.images().unwrap().is_empty());
}
