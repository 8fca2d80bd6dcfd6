//! Compose service keys about a node's process, run as root with the
//! fixture registry: `hostname`, `extra_hosts`, `init`, `tmpfs`,
//! `stop_signal` and `stop_grace_period` (examples/compose/process/).

mod common;

use common::*;
use std::path::Path;

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
        assert_eq!(
            sh(tmp.path(), "plain_1", "cat /proc/1/comm").trim(),
            "sleep"
        );
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

#[test]
fn a_command_that_ends_is_no_error_unless_ready_says_so_and_up_names_the_log() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let service = |name: &str, extra: &str, ip: &str| {
        format!(
            "  {name}:\n    image: busybox\n{extra}    x-network:\n      links:\n        - {{bridge: lan, ip: {ip}/24}}\n"
        )
    };
    let write = |file: &str, services: &str| {
        let p = tmp.path().join(file);
        std::fs::write(&p, format!("name: cl-ends\nservices:\n{services}")).expect("write");
        p.to_str().expect("path").to_string()
    };
    let up = |file: &str| {
        let mut c = warren(tmp.path());
        c.args(["up", "-q", file])
            .envs(env.iter().map(|(k, v)| (k, v)));
        c.output().expect("up")
    };
    // `command: "true"` ends at once: the lab is up, and exec says so.
    let quick = write(
        "quick.yaml",
        &service("quick", "    command: \"true\"\n", "10.78.0.1"),
    );
    must(&up(&quick), "up with a command that ends");
    let held = lab_netns("cl-ends");
    let out = run(tmp.path(), &["exec", "cl-ends", "quick_1", "--", "true"]);
    must(&run(tmp.path(), &["down", "cl-ends"]), "down");
    assert_gone("cl-ends", &held);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(err.contains("node quick_1 has exited"), "{err}");
    assert!(err.contains("logs/quick_1.log"), "{err}");
    // With a healthcheck, the same ending is a failed bring-up that names
    // the exit code and the log, whose output is there.
    let dies = write(
        "dies.yaml",
        &service(
            "dies",
            "    command: sh -c 'echo going away; exit 3'\n    healthcheck:\n      test: [CMD, \"true\"]\n      interval: 200ms\n      retries: 50\n",
            "10.78.0.2",
        ),
    );
    let out = up(&dies);
    assert!(!out.status.success(), "up of a node that dies before ready");
    let err = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("node dies_1 exited before it was ready (exit code 3); its output is in"),
        "{err}"
    );
    let log = err
        .split_whitespace()
        .find(|w| w.ends_with("logs/dies_1.log"))
        .unwrap_or_else(|| panic!("no log path in {err}"));
    let text = std::fs::read_to_string(tmp.path().join(log)).expect("the log named");
    assert!(text.contains("going away"), "{text}");
    assert!(
        !Path::new("/run/warren/cl-ends").exists(),
        "a failed up leaves no state"
    );
}
