//! Container nodes and `warren run` on the real kernel, with a busybox root
//! filesystem the test builds from Debian's busybox-static. Needs root.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).expect("meta");
        if meta.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.push((p, meta.len()));
        }
    }
    out.sort();
    out
}

#[test]
fn container_nodes_are_wired_into_the_lab_and_leave_their_image_unchanged() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = busybox_root(tmp.path());
    let before = snapshot(&root);
    let file = write_lab(
        tmp.path(),
        "ct-lab",
        &format!(
            "name: ct-lab
nodes:
  client: {{}}
  web:
    kind: container
    image: {root}
    cmd: [httpd, -f, -p, \"80\", -h, /www]
    env: {{GREETING: hi}}
    exec: [\"echo changed > /www/index.html\", \"touch /new-file\"]
    ready: {{exec: [wget, -qO-, \"http://127.0.0.1/\"], timeout: 10s}}
links:
  - endpoints: [client:eth0, web:eth0]
    ipv4: [10.70.0.1/24, 10.70.0.2/24]
",
            root = root.display()
        ),
    );
    let lab = LabGuard::up(tmp.path(), &file, "ct-lab");
    lab.ping("client", "10.70.0.2", &[]);
    let (code, out, err) = lab.exec("client", &["wget", "-qO-", "http://10.70.0.2/"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "changed\n",
        "the node's exec commands ran inside the container"
    );
    // Inside: its own pid namespace, host name, lab hosts file, environment, interface.
    let (code, out, _) = lab.exec(
        "web",
        &["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; grep client /etc/hosts; echo $GREETING; ip -o -4 addr show eth0"],
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "httpd -f -p 80 -h /www", "{out}");
    assert_eq!(lines[1], "web");
    assert!(lines[2].starts_with("10.70.0.1"), "{out}");
    assert_eq!(lines[3], "hi");
    assert!(lines[4].contains("10.70.0.2/24"), "{out}");
    // `-t` gives the command a terminal of its own inside the container.
    let (code, out, _) = lab.exec(
        "web",
        &["-t", "--", "sh", "-c", "tty; test -t 0 && echo terminal"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("/dev/pts/0") && out.contains("terminal"),
        "{out:?}"
    );
    drop(lab);
    assert_eq!(snapshot(&root), before, "the image directory was changed");
    let exits: Vec<_> = walk(&tmp.path().join("results/ct-lab"))
        .into_iter()
        .filter(|p| p.ends_with("logs/web.exit"))
        .collect();
    assert_eq!(exits.len(), 1, "the container's exit status is recorded");
}

#[test]
fn warren_run_passes_stdin_stdout_and_the_exit_code() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = busybox_root(tmp.path());
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::write(shared.join("in.txt"), "from the host\n").expect("write");
    let out = output_with_stdin(
        warren(tmp.path())
            .args(["run", "--rm", "--name", "t1", "-e", "A=b", "-v"])
            .arg(format!("{}:/data:ro", shared.display()))
            .arg("--rootfs")
            .arg(&root)
            .args(["sh", "-c", "tr a-z A-Z; cat /data/in.txt; echo $A; hostname; touch /data/x 2>/dev/null || echo read-only; ip -o link | wc -l; exit 7"]),
        b"shout\n",
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SHOUT\nfrom the host\nb\nt1\nread-only\n1\n",
        "only lo in a network of its own"
    );
    let out = run(
        tmp.path(),
        &[
            "run",
            "-u",
            "nobody",
            "--rootfs",
            root.to_str().expect("path"),
            "id",
            "-u",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534");
    assert!(
        !Path::new("/run/warren/run").exists(),
        "state of finished containers is removed"
    );
    let out = run(
        tmp.path(),
        &[
            "run",
            "--rootfs",
            root.to_str().expect("path"),
            "/no/such/program",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("running /no/such/program"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn registry_images_run_as_lab_nodes_and_with_warren_run() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = registry_env(&tmp.path().join("store"));
    let with_env = |args: &[&str]| {
        let mut c = warren(tmp.path());
        c.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        c.output().expect("warren runs")
    };
    // `alpine` means docker.io/library/alpine:latest, served by the mirror.
    let out = with_env(&[
        "run",
        "--rm",
        "alpine",
        "sh",
        "-c",
        "echo from $(hostname); exit 4",
    ]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("from run-"));
    let file = write_lab(
        tmp.path(),
        "ct-reg",
        "name: ct-reg
nodes:
  a: {kind: container, image: busybox, cmd: [sleep, '3600']}
  b: {kind: container, image: 'busybox:latest', cmd: [sleep, '3600']}
links:
  - endpoints: [a:eth0, b:eth0]
    ipv4: [10.72.0.1/24, 10.72.0.2/24]
",
    );
    let out = with_env(&["up", "-q", file.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = lab_netns("ct-reg");
    let ping = run(
        tmp.path(),
        &[
            "exec",
            "ct-reg",
            "a",
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "10.72.0.2",
        ],
    );
    let down = run(tmp.path(), &["down", "ct-reg"]);
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert!(down.status.success());
    assert_gone("ct-reg", &held);
    // Both nodes and `warren run` share one stored copy of the image.
    let out = with_env(&["image", "ls", "--json"]);
    let images: serde_json::Value = serde_json::from_slice(&out.stdout).expect("image ls --json");
    let busybox: Vec<_> = images
        .as_array()
        .expect("list")
        .iter()
        .filter(|i| i.to_string().contains("busybox"))
        .collect();
    assert_eq!(busybox.len(), 1, "{images}");
}
