//! Lab files share YAML anchors, aliases and merge keys with compose files,
//! and keep them under top-level `x-` keys; errors inside a merged mapping
//! point at the place it was written.

use warren_topology::span::line_col;

const LAB: &str = "\
name: anchors
x-host: &host
  kind: container
  image: busybox
  cmd: [sleep, '60']
x-env: &env
  env: {ROLE: host}
nodes:
  a:
    <<: [*host, *env]
  b:
    <<: *host
    cmd: [sleep, '90']
links:
  - endpoints: [a:eth0, b:eth0]
";

#[test]
fn merge_keys_fill_nodes_and_own_keys_win() {
    let loaded = warren_topology::load(LAB, "anchors");
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let a = lab.node("a").expect("a");
    let b = lab.node("b").expect("b");
    assert_eq!(a.env.get("ROLE").map(String::as_str), Some("host"));
    let cmd = |n: &warren_topology::model::Node| n.container.as_ref().and_then(|c| c.cmd.clone());
    assert_eq!(cmd(a), Some(vec!["sleep".to_string(), "60".into()]));
    assert_eq!(cmd(b), Some(vec!["sleep".to_string(), "90".into()]));
}

#[test]
fn errors_inside_a_merged_map_point_at_the_anchor() {
    let text = LAB.replace("  image: busybox\n", "  image: busybox\n  colour: red\n");
    let loaded = warren_topology::load(&text, "anchors");
    assert!(loaded.lab.is_none());
    let unknown: Vec<_> = loaded
        .diagnostics
        .0
        .iter()
        .filter(|d| d.code == "warren::unknown-key")
        .collect();
    assert!(!unknown.is_empty(), "{:?}", loaded.diagnostics);
    for d in unknown {
        let span = d.span.expect("a place");
        assert_eq!(line_col(&text, span.start), (5, 3), "{}", d.message);
    }
}

#[test]
fn only_top_level_extension_keys_are_free() {
    let text = LAB.replace(
        "    cmd: [sleep, '90']\n",
        "    cmd: [sleep, '90']\n    x-note: 1\n",
    );
    let loaded = warren_topology::load(&text, "anchors");
    assert!(
        loaded
            .diagnostics
            .0
            .iter()
            .any(|d| d.code == "warren::unknown-key" && d.message.contains("x-note")),
        "an x- key inside a node is an unknown key: {:?}",
        loaded.diagnostics
    );
}
