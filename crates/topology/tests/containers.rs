//! A node's `containers:` in lab files, and the compose `network_mode` and
//! containerlab `network-mode: container:` forms that map onto it.

use warren_topology::compose::{self, Input, Source};
use warren_topology::model::PidMode;

/// The lab of `text`, or its diagnostics as `line:col message` lines.
fn load(text: &str) -> Result<warren_topology::Lab, Vec<String>> {
    let loaded = warren_topology::load(text, "t");
    match loaded.lab {
        Some(lab) if !loaded.diagnostics.has_errors() => Ok(lab),
        _ => Err(loaded
            .diagnostics
            .0
            .iter()
            .map(|d| {
                let at = d.span.map_or("?".into(), |s| {
                    let before = &text[..s.start];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("{line}:{col}")
                });
                format!("{at} {}", d.message)
            })
            .collect()),
    }
}

#[test]
fn a_node_holds_containers_with_their_own_settings() {
    let lab = load(
        "name: t\nnodes:\n  a:\n    env: {N: a}\n    containers:\n      - name: web\n        image: busybox\n        cmd: httpd -f\n        env: {ROLE: server}\n        binds: ['www:/www:ro']\n        ready: {exec: [wget, -qO-, 'http://127.0.0.1/']}\n      - {name: gen, image: alpine, pid: node, capabilities: [NET_RAW]}\n",
    )
    .expect("valid");
    let a = lab.node("a").expect("a");
    let names: Vec<&str> = a.containers.iter().map(|m| m.name.value.as_str()).collect();
    assert_eq!(names, ["web", "gen"]);
    let web = a.member("web").expect("web");
    assert_eq!(web.container.image, "busybox");
    assert_eq!(
        web.container.cmd.as_deref(),
        Some(&["httpd".to_string(), "-f".into()][..])
    );
    assert_eq!(web.env.get("ROLE").map(String::as_str), Some("server"));
    assert!(!web.env.contains_key("N"), "the node's env is its own");
    assert!(web.container.binds[0].readonly);
    assert!(web.ready.as_ref().is_some_and(|r| r.exec.is_some()));
    assert_eq!(web.pid, PidMode::Own);
    let gen_ = a.member("gen").expect("gen");
    assert_eq!(gen_.pid, PidMode::Node);
    assert_eq!(gen_.container.capabilities, ["NET_RAW"]);
}

#[test]
fn container_mistakes_are_reported_at_their_place() {
    let text = "name: t\nnodes:\n  a:\n    containers:\n      - {name: web, image: busybox}\n      - {name: web, image: busybox}\n      - {name: 'bad name', image: busybox}\n      - {image: busybox}\n      - {name: noimg}\n      - {name: c, image: busybox, ready: {console: login}}\n      - {name: d, image: busybox, pid: host}\n  v:\n    kind: vm\n    kernel: k\n    containers: [{name: x, image: busybox}]\n";
    let errors = load(text).expect_err("invalid");
    let has = |at: &str, what: &str| {
        assert!(
            errors.iter().any(|e| e.starts_with(at) && e.contains(what)),
            "no `{what}` at {at} in {errors:#?}"
        );
    };
    has("6:16 ", "two containers called `web`");
    has("7:16 ", "container name `bad name`");
    has("8:9 ", "has no `name`");
    has("9:16 ", "`a/noimg` needs an `image`");
    has("10:42 ", "no console");
    has("11:40 ", "invalid pid `host`");
    has("15:5 ", "`containers` does not apply to vm nodes");
}

#[test]
fn a_test_step_may_run_in_a_container_and_an_unknown_one_is_named() {
    let base = "name: t\nnodes:\n  a:\n    containers: [{name: web, image: busybox}]\ntests:\n  - name: t1\n    exec: {node: ";
    if let Err(e) = load(&format!("{base}a/web, cmd: [true]}}\n")) {
        panic!("{e:#?}");
    }
    let errors = load(&format!("{base}a/wbe, cmd: [true]}}\n")).expect_err("unknown container");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("7:18 ") && e.contains("no container called `a/wbe`")),
        "{errors:#?}"
    );
    let errors = load(&format!("{base}b/web, cmd: [true]}}\n")).expect_err("unknown node");
    assert!(
        errors.iter().any(|e| e.contains("no node called `b`")),
        "{errors:#?}"
    );
}

fn compose(text: &str) -> compose::Converted {
    compose::convert(&Input {
        name: "p".into(),
        compose: vec![Source {
            name: "compose.yaml".into(),
            text: text.into(),
        }],
        network_files: Vec::new(),
        env: Default::default(),
        env_files: Default::default(),
        dir: String::new(),
        volumes_dir: String::new(),
        scale: Default::default(),
    })
}

#[test]
fn compose_network_mode_service_and_container_become_containers_of_that_node() {
    let c = compose(
        "services:\n  node0:\n    image: busybox\n    command: sleep 3600\n    container_name: holder\n    x-network:\n      links:\n        - {bridge: s, dev: eth0, ip: 10.5.0.1/24}\n  web:\n    image: busybox\n    network_mode: service:node0\n    command: httpd -f\n    environment: [ROLE=web]\n    healthcheck: {test: [CMD, wget, -qO-, 'http://127.0.0.1/']}\n  gen:\n    image: alpine\n    network_mode: container:holder\n",
    );
    assert!(c.errors.is_empty(), "{:#?}", c.errors);
    let text = c.lab_text.expect("a lab");
    let lab = load(&text).unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
    assert!(
        lab.node("web_1").is_none() && lab.node("gen_1").is_none(),
        "{text}"
    );
    let holder = lab.node("node0_1").expect("node0_1");
    let mut names: Vec<&str> = holder
        .containers
        .iter()
        .map(|m| m.name.value.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["gen_1", "web_1"], "{text}");
    let web = holder.member("web_1").expect("web_1");
    assert_eq!(
        web.container.cmd.as_deref(),
        Some(&["httpd".to_string(), "-f".into()][..])
    );
    assert_eq!(web.env.get("ROLE").map(String::as_str), Some("web"));
    assert!(
        web.ready.as_ref().is_some_and(|r| r.exec.is_some()),
        "healthcheck is its ready"
    );
    assert_eq!(
        holder.member("gen_1").expect("gen_1").container.image,
        "alpine"
    );
}

#[test]
fn compose_network_mode_mistakes_are_errors_at_their_place() {
    let c = compose(
        "services:\n  a:\n    image: busybox\n  b:\n    image: busybox\n    network_mode: service:nope\n  c:\n    image: busybox\n    network_mode: container:ghost\n  d:\n    image: busybox\n    network_mode: service:d\n",
    );
    let has = |at: &str, what: &str| {
        assert!(
            c.errors.iter().any(|e| e.contains(at) && e.contains(what)),
            "no `{what}` at {at} in {:#?}",
            c.errors
        );
    };
    has("compose.yaml:6:", "no service called nope");
    has("compose.yaml:9:", "no container called ghost");
    has("compose.yaml:12:", "names the service itself");
    let c = compose(
        "services:\n  a:\n    image: busybox\n  b:\n    image: busybox\n    network_mode: service:a\n    x-network:\n      links:\n        - {bridge: s, dev: eth0}\n",
    );
    assert!(
        c.errors
            .iter()
            .any(|e| e.contains("service b has network_mode service:a")),
        "{:#?}",
        c.errors
    );
}

#[test]
fn clab_network_mode_container_makes_the_node_a_container_of_its_host() {
    let text = "name: cm\ntopology:\n  nodes:\n    node0: {kind: linux, image: busybox, cmd: sleep 3600}\n    web:\n      kind: linux\n      image: busybox\n      cmd: httpd -f\n      env: {ROLE: web}\n      network-mode: container:node0\n    node1: {kind: linux, image: busybox}\n  links:\n    - endpoints: [node0:eth1, node1:eth1]\n";
    let loaded = warren_topology::load(text, "cm");
    let lab = loaded
        .lab
        .unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics.0));
    assert!(lab.node("web").is_none(), "web is no node of its own");
    let host = lab.node("node0").expect("node0");
    let web = host.member("web").expect("web runs in node0");
    assert_eq!(
        web.container.cmd.as_deref(),
        Some(&["httpd".to_string(), "-f".into()][..])
    );
    assert_eq!(web.env.get("ROLE").map(String::as_str), Some("web"));
    assert!(
        host.interface("eth0").is_some() && host.interface("eth1").is_some(),
        "the host keeps its management interface and links"
    );
    let chained = "name: cm\ntopology:\n  nodes:\n    a: {kind: linux, image: busybox}\n    b: {kind: linux, image: busybox, network-mode: 'container:a'}\n    c: {kind: linux, image: busybox, network-mode: 'container:b'}\n";
    let loaded = warren_topology::load(chained, "cm");
    assert!(loaded.lab.is_none());
    let d = loaded
        .diagnostics
        .0
        .iter()
        .find(|d| d.message.contains("itself shares"))
        .unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics.0));
    let at = d.span.expect("a place").start;
    assert_eq!(chained[..at].matches('\n').count() + 1, 6, "{d:?}");
}
