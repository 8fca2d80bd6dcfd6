//! Finding the `warren` binary that a library user's process starts as a
//! lab's supervisor. The CLI passes its own executable instead; a program
//! linking this library (a test binary, say) is not warren and cannot be
//! re-executed as one.

use std::path::{Path, PathBuf};

/// The environment variable that names the warren binary.
pub const WARREN_BIN: &str = "WARREN_BIN";

/// The warren binary could not be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "no warren binary found (looked at {}); build it (`cargo build -p warren-cli`) or name it in ${WARREN_BIN}",
    tried.join(", ")
)]
pub struct NotFound {
    /// Every place looked at, in order.
    pub tried: Vec<String>,
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The warren binary: `$WARREN_BIN` when set (and then only it), else a
/// `warren` next to the current executable or one folder up (a test binary
/// in `target/debug/deps/` finds `target/debug/warren`), else the first
/// `warren` on `PATH`. The build next door comes before `PATH` so that a
/// workspace's tests run the warren built with them, not an older one
/// installed on the host.
pub fn warren() -> Result<PathBuf, NotFound> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os(WARREN_BIN) {
        let p = PathBuf::from(p);
        if executable(&p) {
            return Ok(p);
        }
        tried.push(format!("${WARREN_BIN}={}", p.display()));
        return Err(NotFound { tried });
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .into_iter()
        .flat_map(|dir| {
            let up = dir.parent().map(|d| d.join("warren"));
            std::iter::once(dir.join("warren")).chain(up)
        });
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("warren"));
    for candidate in beside.chain(on_path) {
        if executable(&candidate) {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(NotFound { tried })
}
