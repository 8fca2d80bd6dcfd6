//! What a `system` node's root and cgroups need before it boots: a cgroup
//! of its own in every mounted hierarchy (removed at stop), the node's lab
//! interfaces rendered by its `netconf` renderer into the writable layer,
//! and a root shell on its console.

use crate::journal::Undo;
use std::io;
use std::path::{Path, PathBuf};
use warren_netconf::model::Dns;
use warren_netconf::{Action, LabInterface, NetworkModel, Renderer};
use warren_topology::model::{Attachment, Node};

/// Where the host's cgroup hierarchies that a system container must join
/// are mounted: cgroup2 (hybrid layout or pure v2) and systemd's named v1
/// hierarchy when present.
fn hierarchies() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let hybrid = Path::new("/sys/fs/cgroup/unified");
    if hybrid.join("cgroup.procs").exists() {
        out.push(hybrid.to_path_buf());
    } else if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        out.push(PathBuf::from("/sys/fs/cgroup"));
    }
    let named = Path::new("/sys/fs/cgroup/systemd");
    if named.join("cgroup.procs").exists() {
        out.push(named.to_path_buf());
    }
    out
}

/// `<hierarchy>/warren/<lab>/<node>` in every hierarchy.
fn node_cgroups(lab: &str, node: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join("warren").join(lab).join(node))
        .collect()
}

/// Creates the node's cgroups, each journaled first through `journal`
/// (so that `down` removes them if the supervisor cannot), and returns the
/// `payload` directory in each, the one its init moves into (the cgroup2
/// one first).
pub fn create_cgroups(
    lab: &str,
    node: &str,
    journal: &mut dyn FnMut(&Undo) -> io::Result<()>,
) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in node_cgroups(lab, node) {
        journal(&Undo::Cgroup { path: dir.clone() })?;
        let payload = dir.join("payload");
        std::fs::create_dir_all(&payload)?;
        out.push(payload);
    }
    Ok(out)
}

/// Removes an empty cgroup tree, deepest first (cgroup directories go with
/// rmdir, once no process is in them).
fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Removes a cgroup tree whose processes may still be exiting (killed a
/// moment ago): retries until it is gone or `deadline` passes.
fn remove_until(dir: &Path, deadline: std::time::Instant) {
    while dir.exists() {
        rmdir_tree(dir);
        if !dir.exists() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Removes the node's cgroups (systemd leaves unit cgroups behind), and the
/// lab's and warren's folders when empty. After a failed bring-up the
/// node's processes were killed just before, and may take a moment to go.
pub fn remove_cgroups(lab: &str, node: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for dir in node_cgroups(lab, node) {
        remove_cgroup(&dir, deadline);
    }
}

/// Removes the node cgroup `dir` (retrying until `deadline` while its
/// processes exit), then the lab's and warren's folders above it when
/// empty.
pub fn remove_cgroup(dir: &Path, deadline: std::time::Instant) {
    remove_until(dir, deadline);
    for parent in dir.ancestors().skip(1).take(2) {
        let _ = std::fs::remove_dir(parent);
    }
}

/// What a system node's console shows once the autologin shell has
/// printed its first prompt: `warren console -c` waits for it.
pub const CONSOLE_SHELL_UP: &str = r"(?s)\(automatic login\).*?[#$] ";

/// Makes the getty systemd starts on a container's `/dev/console`
/// (console-getty.service) log root in, as `upper`'s drop-in: `warren
/// console -c` needs a shell at the console, and the console is only
/// reachable through the lab's root-owned state folder.
pub fn console_autologin(upper: &Path) -> io::Result<()> {
    let dir = upper.join("etc/systemd/system/console-getty.service.d");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("warren-autologin.conf"),
        "# Written by warren: a root shell on the node's console.\n[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud - 115200,38400,9600 $TERM\n",
    )
}

/// The renderer a system node's `netconf: {renderer: auto}` picks: the
/// network configuration tool its image carries, in the order a distro
/// prefers them (netplan over NetworkManager over ifupdown over
/// network-scripts over networkd alone). `layers` are the image's layers.
pub fn auto_renderer(layers: &[PathBuf]) -> io::Result<Renderer> {
    let has = |paths: &[&str]| {
        layers
            .iter()
            .any(|l| paths.iter().any(|p| l.join(p).symlink_metadata().is_ok()))
    };
    let choice = [
        (
            Renderer::Netplan,
            &["usr/sbin/netplan", "usr/share/netplan"][..],
        ),
        (
            Renderer::NetworkManager,
            &["usr/sbin/NetworkManager", "sbin/NetworkManager"][..],
        ),
        (Renderer::Eni, &["sbin/ifup", "usr/sbin/ifup"][..]),
        (
            Renderer::Sysconfig,
            &[
                "etc/sysconfig/network-scripts/ifup-eth",
                "usr/libexec/initscripts",
            ][..],
        ),
        (
            Renderer::Networkd,
            &[
                "lib/systemd/systemd-networkd",
                "usr/lib/systemd/systemd-networkd",
            ][..],
        ),
    ]
    .into_iter()
    .find(|(_, paths)| has(paths));
    choice.map(|(r, _)| r).ok_or_else(|| {
        io::Error::other(
            "netconf: renderer auto: the image has no netplan, NetworkManager, ifupdown, network-scripts or systemd-networkd; name a renderer",
        )
    })
}

/// Renders the node's lab interfaces with its `netconf` renderer (`auto`:
/// [`auto_renderer`] over the image's `layers`) into `upper` (the writable
/// layer of its root), and enables systemd-networkd when the files are
/// its own or netplan's (whose default backend it is); the other tools'
/// services come enabled with their packages.
pub fn render_netconf(node: &Node, upper: &Path, layers: &[PathBuf]) -> io::Result<()> {
    let renderer = match node.netconf.as_ref().map(|n| n.renderer.as_str()) {
        None | Some("auto") => auto_renderer(layers)?,
        Some(name) => name.parse().map_err(io::Error::other)?,
    };
    let interfaces: Vec<LabInterface> = node
        .interfaces
        .iter()
        .filter(|i| i.attach != Attachment::Loopback)
        .map(|i| crate::netconf::lab_interface(i, None))
        .collect();
    let model = NetworkModel::from_lab(&interfaces, Dns::default()).map_err(io::Error::other)?;
    let tasks = warren_netconf::render(&model, renderer).map_err(io::Error::other)?;
    for t in tasks {
        let path = upper.join(&t.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match (t.action, t.content) {
            (Action::Delete, _) => {
                let _ = std::fs::remove_file(&path);
            }
            (_, Some(content)) => std::fs::write(&path, content)?,
            (_, None) => {}
        }
        if let Some(mode) = t.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    if !matches!(renderer, Renderer::Networkd | Renderer::Netplan) {
        return Ok(());
    }
    let wants = upper.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants)?;
    let link = wants.join("systemd-networkd.service");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("/lib/systemd/system/systemd-networkd.service", link)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image layer holding `files`.
    fn layer(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        d
    }

    #[test]
    fn auto_renderer_takes_the_tool_the_image_carries() {
        let networkd = "usr/lib/systemd/systemd-networkd";
        for (files, want) in [
            (vec![networkd, "usr/sbin/netplan"], Renderer::Netplan),
            (
                vec![networkd, "usr/sbin/NetworkManager"],
                Renderer::NetworkManager,
            ),
            (vec![networkd, "sbin/ifup"], Renderer::Eni),
            (
                vec!["etc/sysconfig/network-scripts/ifup-eth"],
                Renderer::Sysconfig,
            ),
            (vec![networkd], Renderer::Networkd),
        ] {
            // Split over two layers: any layer counts.
            let (a, b) = files.split_at(1);
            let layers = [layer(a), layer(b)];
            let paths: Vec<PathBuf> = layers.iter().map(|l| l.path().to_path_buf()).collect();
            assert_eq!(auto_renderer(&paths).unwrap(), want, "{files:?}");
        }
        let empty = layer(&["etc/os-release"]);
        let err = auto_renderer(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("name a renderer"), "{err}");
    }
}
