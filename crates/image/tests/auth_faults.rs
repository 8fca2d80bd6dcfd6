//! Authentication paths and broken transfers against an in-test registry
//! on 127.0.0.1 that demands basic or bearer auth and injects faults.

mod common;

use common::server::{Auth, Fault, Server, image};
use std::path::Path;
use warren_image::{
    CredentialStore, HttpClient, ProgressMode, PullError, Puller, Reference, RegistriesConfig,
    RegistryError, Store,
};

fn puller(creds: CredentialStore) -> Puller {
    Puller::new(
        Box::new(HttpClient::new(creds)),
        RegistriesConfig::default(),
    )
    .progress(ProgressMode::Hidden)
}

/// Credentials the honest way: a docker config.json on disk.
fn docker_config(dir: &Path, host: &str, user: &str, pass: &str) -> CredentialStore {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let p = dir.join("config.json");
    std::fs::write(
        &p,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    CredentialStore::load(&p).unwrap()
}

fn setup(auth: Auth) -> (Server, Reference, tempfile::TempDir, Store) {
    let (img, blobs) = image(&[("hello", b"hello world")]);
    let srv = Server::start(auth, &img, blobs);
    let r: Reference = format!("{}/test/app:v1", srv.addr).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (srv, r, dir, store)
}

fn unauthorized(e: &PullError) -> bool {
    matches!(
        e,
        PullError::Registry {
            source: RegistryError::Unauthorized { .. },
            ..
        }
    )
}

fn no_partial_blobs(store: &Store) {
    let tmp: Vec<_> = std::fs::read_dir(store.root().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn anonymous() {
    let (srv, r, _d, store) = setup(Auth::None);
    let rep = puller(CredentialStore::empty()).pull(&store, &r).unwrap();
    assert_eq!(
        rep.image.config.config.cmd.as_deref(),
        Some(&["/hello".to_owned()][..])
    );
    assert!(srv.log().iter().all(|l| l.ends_with("auth=-")));
}

#[test]
fn basic_auth() {
    let (srv, r, d, store) = setup(Auth::Basic("alice".into(), "pw".into()));
    let e = puller(CredentialStore::empty())
        .pull(&store, &r)
        .unwrap_err();
    assert!(unauthorized(&e), "{e:?}");
    let wrong = docker_config(d.path(), &srv.addr, "alice", "nope");
    let e = puller(wrong).pull(&store, &r).unwrap_err();
    assert!(unauthorized(&e), "{e:?}");
    let creds = docker_config(d.path(), &format!("http://{}", srv.addr), "alice", "pw");
    let rep = puller(creds).pull(&store, &r).unwrap();
    assert_eq!(rep.downloaded.len(), 2);
    // The blobs reused the scheme without another 401 round trip each.
    let basic = srv
        .log()
        .iter()
        .filter(|l| l.ends_with("auth=Basic"))
        .count();
    assert!(basic >= 3, "{:?}", srv.log());
}

#[test]
fn bearer_token_with_credentials() {
    let (srv, r, d, store) = setup(Auth::Bearer(Some(("bob".into(), "tok".into()))));
    let e = puller(CredentialStore::empty())
        .pull(&store, &r)
        .unwrap_err();
    assert!(
        matches!(
            e,
            PullError::Registry {
                source: RegistryError::Token { status: 401, .. },
                ..
            }
        ),
        "{e:?}"
    );
    let creds = docker_config(d.path(), &srv.addr, "bob", "tok");
    puller(creds).pull(&store, &r).unwrap();
    let log = srv.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("/token") && l.ends_with("auth=Basic")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("/blobs/") && l.ends_with("auth=Bearer")),
        "{log:?}"
    );
}

#[test]
fn bearer_token_anonymous() {
    let (srv, r, _d, store) = setup(Auth::Bearer(None));
    puller(CredentialStore::empty()).pull(&store, &r).unwrap();
    assert!(
        srv.log()
            .iter()
            .any(|l| l.starts_with("/token") && l.ends_with("auth=-"))
    );
}

#[test]
fn interrupted_pull_leaves_no_half_blob() {
    let (srv, r, _d, store) = setup(Auth::None);
    srv.fault(Fault::Truncate(100));
    let e = puller(CredentialStore::empty())
        .pull(&store, &r)
        .unwrap_err();
    assert!(
        matches!(
            e,
            PullError::Download { .. } | PullError::SizeMismatch { .. }
        ),
        "{e:?}"
    );
    no_partial_blobs(&store);
    let layer = common::server::image(&[("hello", b"hello world")]).0.layer;
    assert!(!store.has_blob(&layer));
    // The next pull completes.
    srv.fault(Fault::None);
    let rep = puller(CredentialStore::empty()).pull(&store, &r).unwrap();
    assert!(store.has_blob(&rep.image.layers[0].digest));
}

#[test]
fn digest_mismatch_refused() {
    let (srv, r, _d, store) = setup(Auth::None);
    srv.fault(Fault::Corrupt);
    let e = puller(CredentialStore::empty())
        .pull(&store, &r)
        .unwrap_err();
    assert!(matches!(e, PullError::DigestMismatch { .. }), "{e:?}");
    no_partial_blobs(&store);
    assert_eq!(
        std::fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        1,
        "only the config"
    );
    srv.fault(Fault::WrongManifestDigest);
    let e = puller(CredentialStore::empty())
        .pull(&store, &r)
        .unwrap_err();
    assert!(matches!(e, PullError::DigestMismatch { .. }), "{e:?}");
    // A pinned digest that the served manifest does not have.
    srv.fault(Fault::None);
    let pinned: Reference = format!(
        "{}/test/app:v1@{}",
        srv.addr,
        warren_image::Digest::of(b"x")
    )
    .parse()
    .unwrap();
    assert!(
        puller(CredentialStore::empty())
            .pull(&store, &pinned)
            .is_err()
    );
}

#[test]
fn multi_layer_concurrent_pull_and_layer_order() {
    let lower: &[(&str, &[u8])] = &[("etc/a", b"1"), ("etc/gone", b"x"), ("opt/old", b"o")];
    let middle: &[(&str, &[u8])] = &[("etc/a", b"2"), ("etc/.wh.gone", b"")];
    let upper: &[(&str, &[u8])] = &[("opt/.wh..wh..opq", b""), ("opt/new", b"n")];
    let (img, blobs) = common::server::image_layers(&[lower, middle, upper]);
    let srv = Server::start(Auth::None, &img, blobs);
    let r: Reference = format!("{}/test/app:v1", srv.addr).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let rep = puller(CredentialStore::empty())
        .jobs(3)
        .pull(&store, &r)
        .unwrap();
    assert_eq!(rep.image.layers.len(), 3);
    assert_eq!(rep.downloaded.len(), 4, "config and three layers");
    let dirs = store.rootfs_layers(&rep.image).unwrap();
    assert_eq!(dirs.len(), 3);
    assert_eq!(
        std::fs::read(dirs[0].join("etc/a")).unwrap(),
        b"1",
        "lowest first"
    );
    assert_eq!(std::fs::read(dirs[1].join("etc/a")).unwrap(), b"2");
    assert_eq!(std::fs::read(dirs[2].join("opt/new")).unwrap(), b"n");
    let root = dir.path().join("flat");
    store.flatten(&rep.image, &root).unwrap();
    assert_eq!(std::fs::read(root.join("etc/a")).unwrap(), b"2");
    assert!(!root.join("etc/gone").exists());
    assert!(!root.join("opt/old").exists());
    assert_eq!(std::fs::read(root.join("opt/new")).unwrap(), b"n");
}
