//! `provision: true`: systemd installed into an OS image that lacks it,
//! once, with the image's own package manager, and the result kept in the
//! image store as a derived layer over the image's layers.
//!
//! The install runs as a container on an overlay of the image, in the
//! host's network namespace (the package manager reaches the image's own
//! package sources), through `warren __container` like any node. Its
//! writable layer, with overlayfs whiteouts as they are, becomes the
//! store's derived layer `<store>/derived/<key>/layer` (see
//! [`warren_image::Store::commit_derived`]), which overlayfs reads as a
//! lower layer the same way. `<key>` hashes the image's layer paths (content-addressed
//! in the store; a directory image's path) and the install script, so a
//! changed image or script provisions anew.

use crate::images::Resolved;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use warren_runtime::container::{ContainerSpec, DEFAULT_CAPABILITIES, Rootfs};

/// Errors provisioning an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The image store could not be opened.
    #[error(transparent)]
    Store(#[from] warren_image::StoreError),
    /// A file or folder of the derived image could not be made.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The install failed; its output is in `log`.
    #[error(
        "installing systemd into {image} failed (exit code {code}: {last}); its output is in {log}"
    )]
    Install {
        /// The image.
        image: String,
        /// The install's exit code (3: no package manager to install with).
        code: String,
        /// The last line of its output.
        last: String,
        /// Where its output is.
        log: PathBuf,
    },
    /// The install succeeded but left no systemd.
    #[error("installing systemd into {image} left no systemd; its output is in {log}")]
    NoInit {
        /// The image.
        image: String,
        /// Where the install's output is.
        log: PathBuf,
    },
}

fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> ProvisionError + 'p {
    move |source| ProvisionError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The install, run by `/bin/sh` in the image. Exit code 3: nothing to
/// install with.
const SCRIPT: &str = r#"set -e
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends systemd systemd-sysv dbus
  apt-get clean
  rm -rf /var/lib/apt/lists/*
elif command -v dnf >/dev/null; then
  dnf install -y systemd
  dnf clean all
elif command -v yum >/dev/null; then
  yum install -y systemd
  yum clean all
elif command -v zypper >/dev/null; then
  zypper --non-interactive install systemd
  zypper clean -a
else
  echo "warren: this image has no apt-get, dnf, yum or zypper to install systemd with" >&2
  exit 3
fi
"#;

/// Whether any of `layers` has systemd (an `/sbin/init` alone may be
/// busybox's or sysvinit's). Each layer is looked at alone, so both sides
/// of a merged `/usr` are (a package installed over a layer whose `/lib`
/// links to `usr/lib` lands in `usr/lib`).
pub fn has_systemd(layers: &[PathBuf]) -> bool {
    const SYSTEMD: [&str; 2] = ["lib/systemd/systemd", "usr/lib/systemd/systemd"];
    layers
        .iter()
        .any(|l| SYSTEMD.iter().any(|i| l.join(i).exists()))
}

/// `image` (named `reference`) with systemd: as it is if it has systemd,
/// else with the derived layer, made now if the store lacks it (the
/// install's output goes to `provision.log` beside it). `program` is this
/// executable, for `warren __container`.
pub fn provisioned(
    reference: &str,
    image: Resolved,
    program: &Path,
) -> Result<Resolved, ProvisionError> {
    if has_systemd(&image.layers) {
        return Ok(image);
    }
    let store = warren_image::Store::open_default()?;
    let mut keyed = String::from(SCRIPT);
    for l in &image.layers {
        keyed.push('\n');
        keyed.push_str(&l.display().to_string());
    }
    let key = warren_image::Digest::of(keyed.as_bytes());
    let layer = match store.derived_layer(&key) {
        Some(l) => l,
        None => install(reference, &image, &store, &key, program)?,
    };
    let mut out = image;
    out.layers.push(layer);
    Ok(out)
}

/// Runs the install into a working folder in the store's `tmp`, then
/// commits its writable layer as the derived layer under `key`.
fn install(
    reference: &str,
    image: &Resolved,
    store: &warren_image::Store,
    key: &warren_image::Digest,
    program: &Path,
) -> Result<PathBuf, ProvisionError> {
    // A prune waits for the install (it empties the store's tmp).
    let _lock = store.lock_shared()?;
    let dir = store.derived_dir(key);
    let tmp =
        store
            .root()
            .join("tmp")
            .join(format!("provision-{}-{}", key.hex(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (upper, work, merged) = (tmp.join("upper"), tmp.join("work"), tmp.join("merged"));
    for p in [&upper, &work, &merged] {
        std::fs::create_dir_all(p).map_err(io_err("creating", p))?;
    }
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let spec = ContainerSpec {
        rootfs: Rootfs::Overlay {
            lowers: image.layers.clone(),
            upper: upper.clone(),
            work,
            merged,
            scratch: None,
        },
        // The host's own network namespace: the package sources are outside.
        netns: Some(PathBuf::from("/proc/self/ns/net")),
        hostname: "provision".into(),
        argv: vec!["/bin/sh".into(), "-c".into(), SCRIPT.into()],
        env: image.env.clone(),
        workdir: "/".into(),
        user: None,
        binds: Vec::new(),
        hosts: "127.0.0.1\tlocalhost\n::1\tlocalhost\n".into(),
        resolv,
        capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        privileged: false,
        system: None,
        console: None,
        notify: None,
        userns: None,
        pidns: None,
        tmpfs: Vec::new(),
        init: false,
    };
    let spec_path = tmp.join("spec.json");
    let text = serde_json::to_vec_pretty(&spec).map_err(io::Error::other);
    std::fs::write(&spec_path, text.map_err(io_err("writing", &spec_path))?)
        .map_err(io_err("writing", &spec_path))?;
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let log = dir.join("provision.log");
    let out = File::create(&log).map_err(io_err("creating", &log))?;
    let err = out.try_clone().map_err(io_err("opening", &log))?;
    let mut cmd = Command::new(program);
    // SAFETY: the hook only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(warren_runtime::pidns::lab_child());
    }
    let status = cmd
        .arg("__container")
        .arg("--spec")
        .arg(&spec_path)
        .arg("--pid-file")
        .arg(tmp.join("init.pid"))
        .arg("--exit-file")
        .arg(tmp.join("exit"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(io_err("running the install for", &dir))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        return Err(ProvisionError::Install {
            image: reference.to_string(),
            code: status
                .code()
                .map_or_else(|| "none".into(), |c| c.to_string()),
            last: last.unwrap_or_default().trim().to_string(),
            log,
        });
    }
    if !has_systemd(std::slice::from_ref(&upper)) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(ProvisionError::NoInit {
            image: reference.to_string(),
            log,
        });
    }
    let layer = store.commit_derived(key, &upper, &image.layers)?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(layer)
}
