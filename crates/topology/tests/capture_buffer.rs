//! Issue 19: `capture: {buffer: ...}` sets the ring size per capture point.

use warren_topology::model::CaptureMode;

const NODES: &str =
    "nodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth1, b:eth1]\n    name: ab\n";

fn load(capture: &str) -> warren_topology::Loaded {
    warren_topology::load(&format!("name: t\ncapture: {capture}\n{NODES}"), "t")
}

#[test]
fn buffer_takes_binary_units_and_keeps_capturing_everything() {
    for (text, bytes) in [
        ("4M", 4 << 20),
        ("512K", 512 << 10),
        ("1GiB", 1 << 30),
        ("262144", 256 << 10),
    ] {
        let l = load(&format!("{{buffer: {text}}}"));
        let lab = l
            .lab
            .unwrap_or_else(|| panic!("{text}: {:?}", l.diagnostics));
        assert_eq!(lab.capture_buffer, Some(bytes), "{text}");
        assert_eq!(lab.capture, CaptureMode::All);
        assert!(lab.links[0].capture);
    }
}

#[test]
fn buffer_with_only_captures_the_named_links() {
    let lab = load("{buffer: 2M, only: [ab]}").lab.expect("valid");
    assert_eq!(lab.capture_buffer, Some(2 << 20));
    assert_eq!(lab.capture, CaptureMode::Only(vec!["ab".into()]));
}

#[test]
fn no_buffer_means_the_default() {
    assert_eq!(load("all").lab.expect("valid").capture_buffer, None);
}

#[test]
fn bad_buffers_are_errors_at_their_place() {
    for bad in ["100K", "2G", "lots", "0"] {
        let text = format!("name: t\ncapture: {{buffer: {bad}}}\n{NODES}");
        let l = warren_topology::load(&text, "t");
        assert!(l.lab.is_none(), "{bad} accepted");
        let d = &l.diagnostics.0[0];
        assert_eq!(d.code, "warren::bad-value", "{bad}");
        assert_eq!(d.location("t.yaml", &text), "t.yaml:2:19", "{bad}");
    }
    let l = load("{size: 4M}");
    assert!(l.lab.is_none());
    assert_eq!(l.diagnostics.0[0].code, "warren::unknown-key");
}
