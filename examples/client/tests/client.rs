//! warren's client library from `cargo test`: `lab.yaml` (and a vm lab)
//! brought up with `Lab::up_with`, driven over the control protocol —
//! exec, capture, impair, fault, events, console, QMP — and torn down by
//! `Drop`, after which nothing of the lab is left. Needs root, like every
//! test that builds labs on the real kernel, and the warren binary built
//! next to this test (`cargo build -p warren-cli`; `cargo nextest run
//! --workspace` builds it) or named in `$WARREN_BIN`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use warren_client_example::{EchoCount, count_echoes};
use warren_lab::client::ClientError;
use warren_lab::{ExecOptions, Lab, LabError, Options};

use warren_fixtures::require_root;

fn options(name: &str, results: &Path) -> Options {
    Options {
        name: Some(name.into()),
        results: Some(results.to_path_buf()),
        // A lab a crashed earlier run of this test left is replaced.
        replace: true,
        ..Options::default()
    }
}

/// The network namespaces a process holds open (`net:[inode]`).
fn held_netns(pid: i32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("net:["))
        .collect()
}

/// Whether any process still refers to one of `netns`.
fn still_held(netns: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = p.path();
        let links = std::fs::read_dir(path.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|fd| fd.path())
            .chain([path.join("ns/net")]);
        for l in links.filter_map(|l| std::fs::read_link(l).ok()) {
            let l = l.display().to_string();
            if netns.contains(&l) {
                out.insert(l);
            }
        }
    }
    out
}

/// Asserts that lab `name`, whose supervisor was `pid` holding `netns`, is
/// gone: no state folder, no supervisor, no namespace held by anyone.
fn assert_gone(name: &str, pid: i32, netns: &BTreeSet<String>) {
    assert!(
        !Path::new(&format!("/run/warren/{name}")).exists(),
        "the state folder of lab {name} is left"
    );
    assert!(
        matches!(Lab::attach(name), Err(LabError::NotRunning(_))),
        "lab {name} still answers"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("__supervise"),
        "the supervisor (pid {pid}) still runs"
    );
    // The kernel frees namespaces once their last holder has exited.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !still_held(netns).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(still_held(netns), BTreeSet::new(), "namespaces still held");
}

fn remote_code(e: &LabError) -> Option<&str> {
    match e {
        LabError::Control(ClientError::Remote(r)) => Some(r.code.as_str()),
        _ => None,
    }
}

/// Mean RTT in ms of `ping -c N` output.
fn mean_rtt(out: &str) -> f64 {
    let rtts: Vec<f64> = out
        .split("time=")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(!rtts.is_empty(), "no replies in:\n{out}");
    rtts.iter().sum::<f64>() / rtts.len() as f64
}

#[test]
fn a_lab_driven_from_rust_pings_captures_impairs_faults_and_is_gone_after_drop() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.yaml");
    let lab = Lab::up_with(&file, &options("wclient", tmp.path())).expect("lab up");
    assert_eq!(lab.name(), "wclient");
    assert!(lab.results_dir().starts_with(tmp.path().join("wclient")));

    let info = lab.inspect().expect("inspect");
    let pid = info.supervisor_pid;
    let netns = held_netns(pid);
    assert_eq!(netns.len(), 3, "one namespace per node: {netns:?}");
    let h1 = info.nodes.iter().find(|n| n.name == "h1").expect("h1");
    assert!(
        h1.interfaces
            .iter()
            .any(|i| i.name == "eth1" && i.addresses.contains(&"10.78.1.2/24".to_string())),
        "{h1:?}"
    );

    // Ping across the router while the wired link is captured live.
    let capture = lab.capture("r1:eth2").expect("capture");
    let ping = lab
        .node("h1")
        .exec(&["ping", "-c3", "-i0.2", "-W2", "10.78.2.2"])
        .expect("exec ping");
    assert!(
        ping.success(),
        "{}{}",
        ping.stdout_text(),
        ping.stderr_text()
    );
    assert!(
        ping.stdout_text().contains("3 received"),
        "{}",
        ping.stdout_text()
    );
    capture
        .set_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    assert_eq!(
        count_echoes(capture),
        EchoCount {
            requests: 3,
            replies: 3
        }
    );

    // stdin, environment, stderr and the exit code come through.
    let opts = ExecOptions {
        env: [("GREETING".to_string(), "world".to_string())].into(),
        stdin: Some("hello\n".into()),
        timeout: None,
    };
    let out = lab
        .node("h2")
        .exec_with(
            &[
                "sh",
                "-c",
                "read x; echo \"$x $GREETING $WARREN_NODE\"; echo oops >&2; exit 7",
            ],
            &opts,
        )
        .expect("exec sh");
    assert_eq!(
        (
            out.status,
            out.stdout_text().as_str(),
            out.stderr_text().as_str()
        ),
        (7, "hello world h2\n", "oops\n")
    );
    // A timeout kills the command.
    let started = Instant::now();
    let slow = lab
        .node("h1")
        .exec_with(
            &["sleep", "30"],
            &ExecOptions {
                timeout: Some(Duration::from_secs(1)),
                ..ExecOptions::default()
            },
        )
        .expect("exec sleep");
    assert!(slow.timed_out && slow.status == 137, "{slow:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = lab.node("nope").exec(&["true"]).expect_err("no such node");
    assert_eq!(remote_code(&err), Some("not-found"), "{err}");

    // Impairments at run time: 100 ms on r1's egress to h2.
    lab.impair("r1:eth2", [("delay", "100ms")]).expect("impair");
    let slow = lab
        .node("h1")
        .exec(&["ping", "-c2", "-i0.2", "10.78.2.2"])
        .expect("ping");
    let rtt = mean_rtt(&slow.stdout_text());
    assert!(
        (100.0..150.0).contains(&rtt),
        "rtt {rtt} ms with 100 ms delay"
    );
    lab.impair("r1:eth2", Vec::<(String, String)>::new())
        .expect("clear");
    let fast = lab
        .node("h1")
        .exec(&["ping", "-c2", "-i0.2", "10.78.2.2"])
        .expect("ping");
    assert!(
        mean_rtt(&fast.stdout_text()) < 50.0,
        "{}",
        fast.stdout_text()
    );

    // The named fault cuts r1:eth2 for 2 s; pings fail meanwhile.
    std::thread::scope(|s| {
        let fired = s.spawn(|| {
            let t = Instant::now();
            lab.fault("cut").map(|()| t.elapsed())
        });
        // Ping until one fails: the cut starts as soon as the request lands.
        let mut failed = None;
        while failed.is_none() && !fired.is_finished() {
            let ping = lab
                .node("h1")
                .exec(&["ping", "-c1", "-W1", "10.78.2.2"])
                .expect("ping");
            failed = (!ping.success()).then_some(ping.status);
        }
        assert_eq!(failed, Some(1), "no ping failed during the cut");
        let took = fired.join().expect("fault thread").expect("fault");
        assert!(
            took >= Duration::from_secs(2),
            "fault returned after {took:?}"
        );
    });
    let after = lab
        .node("h1")
        .exec(&["ping", "-c1", "-W2", "10.78.2.2"])
        .expect("ping");
    assert!(
        after.success(),
        "ping after the cut: {}",
        after.stdout_text()
    );
    let err = lab.fault("nope").expect_err("no such fault");
    assert_eq!(remote_code(&err), Some("not-found"), "{err}");

    // The events stream replays the fault's two actions.
    let events: Vec<_> = lab
        .events()
        .expect("events")
        .idle_timeout(Duration::from_secs(1))
        .expect("timeout")
        .collect::<Result<_, _>>()
        .expect("events parse");
    let cut: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "fault" && e.fields["fault"] == "cut")
        .filter(|e| e.fields["trigger"] == "request")
        .filter_map(|e| e.fields["action"].as_str())
        .collect();
    assert_eq!(cut, ["link r1:eth2 down", "link r1:eth2 up"], "{events:?}");

    drop(lab);
    assert_gone("wclient", pid, &netns);
}

#[test]
fn a_vm_is_driven_over_its_console_and_qmp_from_rust() {
    require_root();
    let fixture = warren_fixtures::dut();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("vm.yaml");
    let text = format!(
        "nodes:
  left: {{}}
  dut:
    kind: vm
    kernel: {k}
    initrd: {i}
    append: console=ttyS0 dut_name=dut dut_ip0=10.79.1.1/24
    accel: tcg
    memory: 256
    ready: {{console: 'DUT-READY', timeout: 90s}}
links:
  - endpoints: [left:eth0, dut:eth0]
    ipv4: [10.79.1.2/24, ~]
",
        k = fixture.join("vmlinuz").display(),
        i = fixture.join("initrd.gz").display()
    );
    std::fs::write(&file, text).expect("write lab");
    let lab = Lab::up_with(&file, &options("wclientvm", tmp.path())).expect("lab up");
    let pid = lab.inspect().expect("inspect").supervisor_pid;
    let netns = held_netns(pid);

    let console = lab.console("dut");
    console.send("\n").expect("send");
    console
        .expect("dut# ", Duration::from_secs(20))
        .expect("prompt");
    console.send("uname -s\n").expect("send");
    let m = console
        .expect(r"(Linux)\r?\n", Duration::from_secs(20))
        .expect("uname");
    assert_eq!(m.groups, [Some("Linux".to_string())]);
    assert!(m.before.contains("uname -s"), "the echo comes first: {m:?}");
    let err = console
        .expect("never-printed", Duration::from_secs(1))
        .expect_err("times out");
    assert_eq!(remote_code(&err), Some("timeout"), "{err}");
    assert_eq!(
        console
            .run("echo hi; false", Duration::from_secs(20))
            .expect("run"),
        (1, "hi".to_string())
    );

    // The DUT answers on its NIC, a tap in the left node.
    let ping = lab
        .node("left")
        .exec(&["ping", "-c1", "-W5", "10.79.1.1"])
        .expect("ping");
    assert!(ping.success(), "{}", ping.stdout_text());
    let err = lab.node("dut").exec(&["true"]).expect_err("vm exec");
    assert_eq!(remote_code(&err), Some("bad-request"), "{err}");

    let qmp = lab.qmp("dut");
    let status = qmp.execute("query-status", None).expect("query-status");
    assert_eq!(status["status"], "running", "{status}");
    qmp.execute("stop", None).expect("stop");
    assert_eq!(
        qmp.execute("query-status", None).expect("status")["status"],
        "paused"
    );
    qmp.execute("cont", None).expect("cont");
    let err = qmp.execute("no-such-command", None).expect_err("unknown");
    assert_eq!(remote_code(&err), Some("qmp"), "{err}");

    drop(lab);
    assert_gone("wclientvm", pid, &netns);
}
