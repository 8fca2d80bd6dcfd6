//! The fixture registry for tests: runs `scripts/fixtures/registry.sh` once
//! per test process (cross-process sharing is the script's flock), and
//! fails loudly when the registry or its tools are missing.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// The fixture registry and the registries file that mirrors docker.io to it.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `127.0.0.1:PORT`.
    pub registry: String,
    /// The warren registries file (docker.io mirrored by `registry`).
    pub registries: PathBuf,
    /// The fixture directory.
    pub dir: PathBuf,
}

fn run(what: &str) -> Fixture {
    let env = warren_fixtures::registry(what);
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the registry fixture printed no {k}: {env:?}"))
    };
    Fixture {
        registry: get("WARREN_FIXTURE_REGISTRY"),
        registries: PathBuf::from(get("WARREN_REGISTRIES")),
        dir: PathBuf::from(get("WARREN_FIXTURE_DIR")),
    }
}

/// The registry with library/busybox (tags latest, v2s2, multi,
/// multi-v2s2) and library/alpine:latest. Does not wait for Debian.
pub fn busybox() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| run("busybox"))
}

/// The registry with library/debian:bookworm and :latest (built once, ~30 s).
pub fn debian() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| run("debian"))
}
