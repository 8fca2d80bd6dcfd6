//! Issue 20: a container node's `hostname`, `extra_hosts`, `init`,
//! `tmpfs`, `stop_signal` and `stop_grace_period`, as lab files write
//! them and as compose services map onto them.

use std::collections::BTreeMap;
use warren_topology::compose::{Input, Source, convert};

fn node(keys: &str) -> warren_topology::Loaded {
    warren_topology::load(
        &format!("name: t\nnodes:\n  c:\n    kind: container\n    image: busybox\n{keys}"),
        "t",
    )
}

fn messages(keys: &str) -> Vec<String> {
    node(keys)
        .diagnostics
        .0
        .iter()
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn the_keys_reach_the_container_spec() {
    let l = node(
        "    hostname: web.example\n    extra_hosts: {db: 198.51.100.7, db6: [\"2001:db8::7\", 203.0.113.7]}\n    init: true\n    tmpfs: [/run, \"/tmp:size=1m\"]\n    stop_signal: usr1\n    stop_grace_period: 1m30s\n",
    );
    let lab = l.lab.unwrap_or_else(|| panic!("{:?}", l.diagnostics));
    let c = lab.nodes[0].container.as_ref().expect("container");
    assert_eq!(c.hostname.as_deref(), Some("web.example"));
    let hosts: BTreeMap<String, Vec<String>> = c
        .extra_hosts
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(ToString::to_string).collect()))
        .collect();
    assert_eq!(
        hosts,
        BTreeMap::from([
            ("db".to_string(), vec!["198.51.100.7".to_string()]),
            (
                "db6".to_string(),
                vec!["2001:db8::7".to_string(), "203.0.113.7".to_string()]
            ),
        ])
    );
    assert!(c.init);
    assert_eq!(c.tmpfs, ["/run", "/tmp:size=1m"]);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGUSR1"));
    assert_eq!(
        c.stop_grace_period.map(|d| d.to_std()),
        Some(std::time::Duration::from_secs(90))
    );
}

#[test]
fn bad_values_are_named() {
    assert_eq!(
        messages("    stop_signal: SIGNOPE\n"),
        ["unknown signal `SIGNOPE`"]
    );
    assert_eq!(messages("    tmpfs: [run]\n"), ["invalid tmpfs `run`"]);
    assert_eq!(
        messages("    extra_hosts: {db: not-an-address}\n"),
        ["`not-an-address` is not an IP address"]
    );
    let netns = warren_topology::load("name: t\nnodes:\n  n:\n    init: true\n", "t");
    assert!(netns.lab.is_none(), "init on a netns node is refused");
}

#[test]
fn compose_services_map_the_keys_in_every_form() {
    let compose = "services:
  s:
    image: busybox
    hostname: h.example
    extra_hosts: [\"db:198.51.100.7\", \"db6=2001:db8::7\", \"v6:[2001:db8::8]\"]
    init: true
    tmpfs: /run
    stop_signal: SIGINT
    stop_grace_period: 2s
  m:
    image: busybox
    extra_hosts: {db: 198.51.100.9}
    tmpfs: [/a, /b]
";
    let input = Input {
        name: "t".into(),
        compose: vec![Source {
            name: "compose.yaml".into(),
            text: compose.into(),
        }],
        ..Input::default()
    };
    let out = convert(&input);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(
        out.notes
            .iter()
            .all(|n| !n.contains("extra_hosts") && !n.contains("tmpfs") && !n.contains("hostname")),
        "{:?}",
        out.notes
    );
    let text = out.lab_text.expect("a lab");
    let l = warren_topology::load(&text, "t");
    let lab = l
        .lab
        .unwrap_or_else(|| panic!("{:?}\n{text}", l.diagnostics));
    let s = lab
        .node("s_1")
        .and_then(|n| n.container.as_ref())
        .expect("s_1");
    assert_eq!(s.hostname.as_deref(), Some("h.example"));
    let addr = |c: &warren_topology::model::ContainerSpec, name: &str| -> Vec<String> {
        c.extra_hosts[name]
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(addr(s, "db"), ["198.51.100.7"]);
    assert_eq!(addr(s, "db6"), ["2001:db8::7"]);
    assert_eq!(addr(s, "v6"), ["2001:db8::8"]);
    assert!(s.init);
    assert_eq!(s.tmpfs, ["/run"]);
    assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
    let m = lab
        .node("m_1")
        .and_then(|n| n.container.as_ref())
        .expect("m_1");
    assert_eq!(addr(m, "db"), ["198.51.100.9"]);
    assert_eq!(m.tmpfs, ["/a", "/b"]);
    assert!(!m.init);
}
