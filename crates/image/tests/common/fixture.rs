//! The fixture registry for tests: runs `scripts/fixtures/registry.sh` once
//! per test process (cross-process sharing is the script's flock), and
//! fails loudly when the registry or its tools are missing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
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

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("scripts/fixtures/registry.sh").is_file())
        .expect("the workspace has scripts/fixtures/registry.sh")
        .to_owned()
}

fn run(what: &str) -> Fixture {
    let script = repo_root().join("scripts/fixtures/registry.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(what)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "fixture registry ({what}) failed; run scripts/setup as root first.\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("fixture printed no {k}:\n{text}"))
            .to_owned()
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
