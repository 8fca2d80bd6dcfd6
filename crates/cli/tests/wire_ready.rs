//! Issue 19: a link on the user-space wire passes traffic as soon as `up`
//! returns. Its ends are taps, which keep the kernel's `unknown` state
//! while the wire holds them; `up` used to wait for `up` there until its
//! carrier timeout. Needs root.

mod common;
use common::*;

#[test]
fn a_wired_link_passes_traffic_when_up_returns() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        dir.path(),
        "wready",
        "
name: wready
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.62.0.1/24, 10.62.0.2/24]
    impair: {delay: 1ms}
",
    );
    let lab = LabGuard::up(dir.path(), &file, "wready");
    // One echo, no retries: the first frames after `up` must cross the wire.
    lab.ping("a", "10.62.0.2", &["-W", "1"]);
    // Both ends are the wire's taps, with carrier.
    for node in ["a", "b"] {
        let (code, out, err) = lab.exec(node, &["ip", "-o", "link", "show", "eth1"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("LOWER_UP"), "{node}:eth1 has carrier: {out}");
        assert!(out.contains("state UNKNOWN"), "{node}:eth1 is a tap: {out}");
    }
}
