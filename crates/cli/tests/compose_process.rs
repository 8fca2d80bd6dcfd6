//! Compose service keys about a node's process, run as root with the
//! fixture registry: `hostname`, `extra_hosts`, `init`, `tmpfs`,
//! `stop_signal` and `stop_grace_period` (examples/compose/process/).

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn must(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(cwd: &Path, node: &str, script: &str) -> String {
    must(
        &run(cwd, &["exec", "cl-process", node, "--", "sh", "-c", script]),
        script,
    )
}

/// The zombies among the node's processes, as `pid:command`.
fn zombies(cwd: &Path, node: &str) -> Vec<String> {
    sh(cwd, node, "cat /proc/[0-9]*/stat 2>/dev/null")
        .lines()
        .filter_map(|l| {
            let (pid, rest) = l.split_once(' ')?;
            let (comm, rest) = rest.rsplit_once(") ")?;
            rest.starts_with('Z')
                .then(|| format!("{pid}:{}", comm.trim_start_matches('(')))
        })
        .collect()
}

#[test]
fn hostname_extra_hosts_init_tmpfs_and_stop_signal_reach_the_node() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let compose = examples().join("compose/process/compose.yaml");
    let compose = compose.to_str().expect("path");
    let mut up = warren(tmp.path());
    up.args(["up", "-q", compose])
        .envs(env.iter().map(|(k, v)| (k, v)));
    must(&up.output().expect("up"), "up");
    let held = lab_netns("cl-process");
    let result = std::panic::catch_unwind(|| {
        assert_eq!(sh(tmp.path(), "svc_1", "hostname").trim(), "web.example");
        assert_eq!(sh(tmp.path(), "plain_1", "hostname").trim(), "plain_1");
        let hosts = sh(tmp.path(), "svc_1", "cat /etc/hosts");
        for line in ["198.51.100.7\tdb", "203.0.113.7\tdb", "2001:db8::7\tdb6"] {
            assert!(hosts.lines().any(|l| l == line), "{line:?} in {hosts}");
        }
        // The lab's own entries stay.
        assert!(hosts.contains("10.75.0.11\tplain_1"), "{hosts}");
        let mounts = sh(tmp.path(), "svc_1", "cat /proc/mounts");
        let scratch = mounts
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("/scratch"))
            .unwrap_or_else(|| panic!("no /scratch in {mounts}"));
        assert!(scratch.starts_with("tmpfs /scratch tmpfs"), "{scratch}");
        assert!(scratch.contains("size=1024k"), "{scratch}");
        // pid 1 is the init, not the command; the command's orphan is
        // reaped by it, while `plain` (the command as pid 1) leaves a zombie.
        assert_ne!(sh(tmp.path(), "svc_1", "cat /proc/1/comm").trim(), "sh");
        assert_eq!(sh(tmp.path(), "plain_1", "cat /proc/1/comm").trim(), "sleep");
        std::thread::sleep(std::time::Duration::from_millis(800));
        assert_eq!(zombies(tmp.path(), "svc_1"), Vec::<String>::new());
        let left = zombies(tmp.path(), "plain_1");
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].ends_with(":sleep"), "{left:?}");
    });
    // `down` asks svc with SIGUSR1 (through the init); its trap records it
    // in the named volume, kept for the check.
    must(
        &run(tmp.path(), &["down", "--keep-volumes", "cl-process"]),
        "down",
    );
    assert_gone("cl-process", &held);
    let volume = Path::new("/run/warren-volumes/cl-process");
    let signal = std::fs::read_to_string(volume.join("out/signal"));
    let _ = std::fs::remove_dir_all(volume);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert_eq!(signal.expect("the trap wrote /out/signal").trim(), "USR1");
}
