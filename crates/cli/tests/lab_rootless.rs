//! Rootless labs: an unprivileged user (uid 65534) builds a netns lab inside
//! a user namespace warren creates, uses it, and removes it. The test runs
//! as root to switch to that user.

mod common;
use common::*;
use std::path::Path;

const UID: &str = "65534";

fn ok_nobody(cwd: &Path, args: &[&str]) -> String {
    let out = as_nobody(cwd, args);
    assert!(
        out.status.success(),
        "warren {args:?} as uid {UID} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Takes the lab down as the user if an assertion fails half-way.
struct DownOnDrop(std::path::PathBuf);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = as_nobody(&self.0, &["down", "rootless"]);
    }
}

#[test]
fn an_unprivileged_user_runs_and_removes_a_lab() {
    require_root();
    let tmp = tempdir_for_anyone();
    let lab = "rootless";
    let file = write_lab(
        tmp.path(),
        lab,
        "name: rootless\nnodes:\n  a: {}\n  r: {sysctls: {net.ipv6.conf.all.forwarding: 1, net.ipv4.ip_forward: 1}}\n  b: {}\n\
         links:\n  - endpoints: [a:eth0, r:eth0]\n    ipv4: [10.5.1.2/24, 10.5.1.1/24]\n    ipv6: [2001:db8:51::2/64, 2001:db8:51::1/64]\n\
         networks:\n  lan:\n    members: [r:lan, b:eth0]\n    ipv4: 10.5.2.0/24\n    ipv6: 2001:db8:52::/64\n\
         interfaces:\n  a:eth0: {routes: [default via 10.5.1.1, default via 2001:db8:51::1]}\n  b:eth0: {routes: [default via 10.5.2.1, default via 2001:db8:52::1]}\n",
    );
    let state = Path::new("/tmp/warren-65534").join(lab);
    ok_nobody(tmp.path(), &["up", "-q", file.to_str().expect("path")]);
    let _cleanup = DownOnDrop(tmp.path().to_path_buf());
    let st: serde_json::Value = serde_json::from_slice(
        &std::fs::read(state.join("state.json")).expect("state in the fallback folder"),
    )
    .expect("json");
    assert_eq!(st["rootless"], true);
    let sup = st["supervisor"]["pid"].as_i64().expect("pid");
    // The supervisor runs as the user, in a user namespace of its own.
    let status = std::fs::read_to_string(format!("/proc/{sup}/status")).expect("status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains(UID)),
        "{status}"
    );
    let own_userns = std::fs::read_link(format!("/proc/{sup}/ns/user")).expect("userns");
    assert_ne!(
        own_userns,
        std::fs::read_link("/proc/self/ns/user").expect("userns")
    );
    let held: std::collections::BTreeSet<String> = st["netns"]
        .as_object()
        .expect("netns")
        .values()
        .filter_map(|fd| std::fs::read_link(format!("/proc/{sup}/fd/{}", fd.as_i64()?)).ok())
        .map(|l| l.display().to_string())
        .collect();
    assert_eq!(held.len(), 4, "three nodes and the hub");
    for target in ["10.5.2.2", "2001:db8:52::2"] {
        let out = ok_nobody(
            tmp.path(),
            &["exec", lab, "a", "--", "ping", "-c", "1", "-W", "2", target],
        );
        assert!(out.contains("1 received"), "{out}");
    }
    let out = ok_nobody(tmp.path(), &["inspect", lab, "--json"]);
    assert!(out.contains("10.5.2.2/24"), "{out}");
    ok_nobody(tmp.path(), &["down", lab]);
    assert!(!state.exists(), "rootless state left behind");
    let mut still = held.clone();
    for _ in 0..200 {
        still = held.intersection(&referenced_netns()).cloned().collect();
        if still.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(still.is_empty(), "namespaces left: {still:?}");
    let out = ok_nobody(tmp.path(), &["down", lab]);
    assert!(out.contains("nothing to do"), "{out}");
}
