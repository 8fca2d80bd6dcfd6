//! A vm node between two netns nodes: the DUT built by
//! scripts/fixtures/dut.sh boots under QEMU (TCG), each NIC a tap in the
//! peer's namespace, and carries pings across; captures, console and QMP
//! work through the lab. Needs root, QEMU and the DUT fixture.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn count_in(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.matches(needle).count())
        .unwrap_or(0)
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dut_between_two_nodes_routes_is_captured_and_is_driven_over_console_and_qmp() {
    require_root();
    let fixture = dut_fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lab_text = format!(
        "name: vmlab
nodes:
  left: {{}}
  right: {{}}
  dut:
    kind: vm
    kernel: {k}
    initrd: {i}
    append: console=ttyS0 dut_name=dut dut_ip0=10.90.1.1/24 dut_ip1=10.90.2.1/24 dut_fwd=1
    accel: tcg
    memory: 256
    ready: {{console: 'DUT-READY', timeout: 90s}}
links:
  - endpoints: [left:eth0, dut:eth0]
    ipv4: [10.90.1.2/24, ~]
  - endpoints: [dut:eth1, right:eth0]
    ipv4: [~, 10.90.2.2/24]
interfaces:
  left:eth0: {{routes: [default via 10.90.1.1]}}
  right:eth0: {{routes: [default via 10.90.2.1]}}
",
        k = fixture.join("vmlinuz").display(),
        i = fixture.join("initrd.gz").display()
    );
    let file = write_lab(tmp.path(), "vmlab", &lab_text);
    let lab = LabGuard::up(tmp.path(), &file, "vmlab");
    let results = std::fs::read_dir(tmp.path().join("results/vmlab"))
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("run folder");

    // The taps are the peers' interfaces: no bridge, no veth in between.
    let (_, out, _) = lab.exec("left", &["ip", "-d", "-o", "link", "show", "eth0"]);
    assert!(out.contains("tun type tap"), "left:eth0 is a tap: {out}");
    lab.ping("left", "10.90.1.1", &[]);
    lab.ping("right", "10.90.2.1", &[]);
    lab.ping("left", "10.90.2.2", &[]);
    lab.ping("right", "10.90.1.2", &[]);

    // The console log shows the boot; a command run at the console returns
    // its output and exit code.
    let console_log = results.join("console/dut.log");
    assert!(
        count_in(&console_log, "DUT-READY") >= 1,
        "the console log shows the boot"
    );
    let out = ok(
        tmp.path(),
        &["console", "vmlab", "dut", "-c", "ip -o -4 addr"],
    );
    assert!(
        out.contains("10.90.1.1/24") && out.contains("10.90.2.1/24"),
        "{out}"
    );
    let failed = run(
        tmp.path(),
        &["console", "vmlab", "dut", "-c", "ls /nonexistent"],
    );
    assert_ne!(failed.status.code(), Some(0));

    // QMP reset reboots the guest, and it becomes ready again.
    ok(tmp.path(), &["vm", "vmlab", "dut", "reset"]);
    wait_for("the DUT to boot again", Duration::from_secs(90), || {
        count_in(&console_log, "DUT-READY") >= 2
    });
    wait_for("the DUT to route again", Duration::from_secs(30), || {
        lab.exec("left", &["ping", "-c", "1", "-W", "1", "10.90.2.2"])
            .0
            == 0
    });
    let events = std::fs::read_to_string(results.join("events.jsonl")).unwrap_or_default();
    assert!(events.contains("\"RESET\""), "{events}");

    // `warren node` stop pauses the DUT, so nothing crosses it; start
    // boots it again on the same taps.
    ok(tmp.path(), &["node", "vmlab", "dut", "stop"]);
    let (code, _, _) = lab.exec("left", &["ping", "-c", "1", "-W", "1", "10.90.2.2"]);
    assert_ne!(code, 0, "a stopped DUT routes nothing");
    ok(tmp.path(), &["node", "vmlab", "dut", "start"]);
    wait_for(
        "the DUT to boot after start",
        Duration::from_secs(90),
        || count_in(&console_log, "DUT-READY") >= 3,
    );
    wait_for(
        "the DUT to route after start",
        Duration::from_secs(30),
        || {
            lab.exec("left", &["ping", "-c", "1", "-W", "1", "10.90.2.2"])
                .0
                == 0
        },
    );
    let events = std::fs::read_to_string(results.join("events.jsonl")).unwrap_or_default();
    assert!(
        events.contains("\"node-stop\"") && events.contains("\"node-start\""),
        "{events}"
    );

    // Powerdown stops the guest.
    ok(tmp.path(), &["vm", "vmlab", "dut", "powerdown"]);
    wait_for("QEMU to exit on powerdown", Duration::from_secs(60), || {
        std::fs::read_to_string(results.join("events.jsonl"))
            .unwrap_or_default()
            .contains("\"SHUTDOWN\"")
    });
    drop(lab);

    // Each NIC's own dump and the link capture hold the ICMP frames.
    for pcap in [
        "capture/dut-eth0.pcap",
        "capture/dut-eth1.pcap",
        "capture/left.eth0-dut.eth0.pcapng",
    ] {
        let path = results.join(pcap);
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-Y", "icmp.type == 8", "-T", "fields", "-e", "ip.dst"])
            .output()
            .expect("tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().count() >= 2,
            "{pcap}: echo requests expected, got:\n{text}"
        );
    }
    assert!(!Path::new("/run/warren/vmlab").exists());
}

#[test]
fn the_same_kind_of_lab_runs_rootless() {
    require_root();
    let fixture = dut_fixture();
    let tmp = tempdir_for_anyone();
    let text = format!(
        "name: vmroot
nodes:
  left: {{}}
  dut:
    kind: vm
    kernel: {k}
    initrd: {i}
    append: console=ttyS0 dut_ip0=10.94.1.1/24
    accel: tcg
    ready: {{console: 'DUT-READY', timeout: 90s}}
links:
  - endpoints: [left:eth0, dut:eth0]
    ipv4: [10.94.1.2/24, ~]
",
        k = fixture.join("vmlinuz").display(),
        i = fixture.join("initrd.gz").display()
    );
    let file = write_lab(tmp.path(), "vmroot", &text);
    let up = as_nobody(tmp.path(), &["up", "-q", file.to_str().expect("path")]);
    let ping = as_nobody(
        tmp.path(),
        &[
            "exec",
            "vmroot",
            "left",
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "10.94.1.1",
        ],
    );
    let console = as_nobody(
        tmp.path(),
        &["console", "vmroot", "dut", "-c", "ip -o -4 addr"],
    );
    let down = as_nobody(tmp.path(), &["down", "vmroot"]);
    assert!(
        up.status.success(),
        "rootless up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert!(String::from_utf8_lossy(&console.stdout).contains("10.94.1.1/24"));
    assert!(down.status.success());
    assert!(!Path::new("/tmp/warren-65534/vmroot").exists());
}

#[test]
fn two_vms_on_one_link_and_a_vm_on_a_network_reach_each_other() {
    require_root();
    let fixture = dut_fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let vm = |ip0: &str, ip1: &str| {
        format!(
            "{{kind: vm, kernel: {k}, initrd: {i}, accel: tcg, append: 'console=ttyS0 dut_ip0={ip0} dut_ip1={ip1}', ready: {{console: 'DUT-READY', timeout: 90s}}}}",
            k = fixture.join("vmlinuz").display(),
            i = fixture.join("initrd.gz").display()
        )
    };
    let text = format!(
        "name: twovm
nodes:
  v1: {v1}
  v2: {v2}
  h: {{}}
links:
  - [v1:eth0, v2:eth0]
networks:
  lan:
    members: [v1:eth1, h:eth0]
interfaces:
  h:eth0: {{ipv4: [10.96.1.9/24]}}
",
        v1 = vm("10.96.0.1/24", "10.96.1.1/24"),
        v2 = vm("10.96.0.2/24", "10.96.2.1/24")
    );
    let file = write_lab(tmp.path(), "twovm", &text);
    let lab = LabGuard::up(tmp.path(), &file, "twovm");
    let out = ok(
        tmp.path(),
        &["console", "twovm", "v1", "-c", "ping -c 1 -W 2 10.96.0.2"],
    );
    assert!(
        out.contains("1 packets received"),
        "vm to vm over the socket pair: {out}"
    );
    lab.ping("h", "10.96.1.1", &[]);
}
