//! Carrying out tasks inside a root filesystem, never outside it.
//!
//! Paths are resolved first, all of them, following symlinks the way the
//! installed system will see them: an absolute link target is taken relative
//! to the rootfs, and a chain that climbs above the rootfs, or is longer than
//! [`MAX_LINKS`], is refused. Only when every task resolves is anything
//! written, so a refused run leaves the rootfs as it was.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use warren_netconf::{Action, Task};

/// How many symlinks one path may go through (upstream gives up at depth 10).
const MAX_LINKS: usize = 10;

/// Mode of the files created (before the umask), as Python's `open` does.
const NEW_FILE_MODE: u32 = 0o644;

/// Why the tasks could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// A path leads outside the rootfs or through too many links.
    #[error("{path}: {reason}")]
    Refused {
        /// The task's path, relative to the rootfs.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// The filesystem said no.
    #[error("{}: {source}", path.display())]
    Io {
        /// The host path being written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Carries out `tasks` in order under `root`, after checking all of them.
pub(crate) fn apply(root: &Path, tasks: &[Task]) -> Result<(), WriteError> {
    let resolved: Vec<PathBuf> = tasks
        .iter()
        .map(|t| check(root, t))
        .collect::<Result<_, _>>()?;
    for (task, path) in tasks.iter().zip(resolved) {
        execute(task, &path).map_err(|source| WriteError::Io { path, source })?;
    }
    Ok(())
}

/// Resolves a task's path and checks that it can be carried out.
fn check(root: &Path, task: &Task) -> Result<PathBuf, WriteError> {
    let refuse = |reason: String| WriteError::Refused {
        path: task.path.clone(),
        reason,
    };
    // A delete removes the link itself, not what it points to.
    let follow_last = task.action != Action::Delete;
    let path = resolve(root, &task.path, follow_last).map_err(refuse)?;
    if follow_last && path.is_dir() {
        return Err(refuse(format!("{} is a directory", path.display())));
    }
    Ok(path)
}

/// Resolves `rel` under `root`, following symlinks inside the rootfs.
fn resolve(root: &Path, rel: &str, follow_last: bool) -> Result<PathBuf, String> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, Path::new(rel));
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    // `pending` is a stack: its last element is the next component.
    while let Some(part) = pending.pop() {
        if part == ".." {
            if done.pop().is_none() {
                return Err("leads outside the root filesystem".to_owned());
            }
            continue;
        }
        let here = under(root, &done).join(&part);
        let is_last = pending.is_empty();
        let is_link = fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink());
        if is_link && (follow_last || !is_last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(format!("more than {MAX_LINKS} symbolic links"));
            }
            let target = fs::read_link(&here).map_err(|e| format!("{}: {e}", here.display()))?;
            if target.is_absolute() {
                done.clear();
            }
            push_components(&mut pending, &target);
        } else {
            done.push(part);
        }
    }
    if done.is_empty() {
        return Err("is the root filesystem itself".to_owned());
    }
    Ok(under(root, &done))
}

/// `root` joined with `parts`.
fn under(root: &Path, parts: &[OsString]) -> PathBuf {
    parts.iter().fold(root.to_path_buf(), |p, c| p.join(c))
}

/// Pushes the components of `path` so that the first is popped first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

fn execute(task: &Task, path: &Path) -> io::Result<()> {
    if task.action == Action::Delete {
        return match fs::symlink_metadata(path) {
            Ok(_) => fs::remove_file(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(task.action == Action::Append)
        .truncate(task.action == Action::Write)
        .mode(NEW_FILE_MODE)
        .open(path)?;
    file.write_all(task.content.as_deref().unwrap_or_default().as_bytes())?;
    if let Some(mode) = task.mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(path: &str, content: &str) -> Task {
        Task {
            path: path.to_owned(),
            action: Action::Write,
            mode: None,
            content: Some(content.to_owned()),
        }
    }

    #[test]
    fn absolute_links_are_rerooted() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc")).unwrap();
        symlink(
            "/run/resolvconf/resolv.conf",
            root.path().join("etc/resolv.conf"),
        )
        .unwrap();
        apply(
            root.path(),
            &[write("etc/resolv.conf", "nameserver 1.1.1.1\n")],
        )
        .unwrap();
        let got = fs::read_to_string(root.path().join("run/resolvconf/resolv.conf")).unwrap();
        assert_eq!(got, "nameserver 1.1.1.1\n");
        assert!(
            fs::symlink_metadata(root.path().join("etc/resolv.conf"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn escaping_chains_are_refused_and_nothing_is_written() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc")).unwrap();
        symlink("../../../../outside", root.path().join("etc/hosts")).unwrap();
        let err = apply(
            root.path(),
            &[write("etc/hostname", "h\n"), write("etc/hosts", "x")],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("outside the root filesystem"),
            "{err}"
        );
        assert!(!root.path().join("etc/hostname").exists());
    }

    #[test]
    fn link_loops_are_refused() {
        let root = tempfile::tempdir().unwrap();
        symlink("b", root.path().join("a")).unwrap();
        symlink("a", root.path().join("b")).unwrap();
        let err = apply(root.path(), &[write("a", "x")]).unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }

    #[test]
    fn delete_removes_the_link_not_its_target() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("target"), "keep").unwrap();
        symlink("/target", root.path().join("link")).unwrap();
        let task = Task {
            path: "link".into(),
            action: Action::Delete,
            mode: None,
            content: None,
        };
        apply(root.path(), &[task.clone(), task]).unwrap();
        assert!(!root.path().join("link").exists());
        assert!(root.path().join("target").exists());
    }

    #[test]
    fn append_and_mode() {
        let root = tempfile::tempdir().unwrap();
        let mut t = write("sbin/x", "a\n");
        t.mode = Some(0o755);
        let mut append = write("etc/modules", "bonding\n");
        append.action = Action::Append;
        fs::create_dir(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/modules"), "loop\n").unwrap();
        apply(root.path(), &[t, append]).unwrap();
        let mode = fs::metadata(root.path().join("sbin/x"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs::read_to_string(root.path().join("etc/modules")).unwrap(),
            "loop\nbonding\n"
        );
    }
}
